// tests/fuzz/replay_main.cpp — the main() of the fuzz targets in the ordinary (gcc, no libFuzzer) build: it runs
// every file of the directories (or the files) named on its command line through LLVMFuzzerTestOneInput once, in
// name order, so that the seed corpus and the regressions of tests/fuzz/ are fast CTest entries that need no
// clang. A property that fails aborts the process (FUZZ_CHECK), so the test fails with the input's name printed
// just before. An absent directory is skipped (a target may have no regressions yet); no input at all is a failure.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "fuzz_support.hpp"

namespace {

std::vector<std::filesystem::path> inputs_of(const std::filesystem::path& path) {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
            const std::string name = entry.path().filename().string();
            if (entry.is_regular_file(ec) && !name.starts_with('.') && name != "README.md") {
                out.push_back(entry.path());
            }
        }
        std::sort(out.begin(), out.end());
    } else if (std::filesystem::is_regular_file(path, ec)) {
        out.push_back(path);
    } else {
        std::printf("replay: %s: absent, skipped\n", path.string().c_str());
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t count = 0;
    for (int i = 1; i < argc; ++i) {
        for (const auto& file : inputs_of(argv[i])) {
            std::ifstream in(file, std::ios::binary);
            const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
            if (!in.good() && !in.eof()) {
                std::fprintf(stderr, "replay: cannot read %s\n", file.string().c_str());
                return 1;
            }
            std::fprintf(stderr, "replay: %s\n", file.string().c_str());
            const std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
            LLVMFuzzerTestOneInput(data.data(), data.size());
            ++count;
        }
    }
    std::printf("replay: %zu input(s), every property held\n", count);
    return count > 0 ? 0 : 1;
}
