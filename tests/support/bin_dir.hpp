// tests/support/bin_dir.hpp — where the tests find the programs they start (relinkd, the examples, the demo):
// beside themselves. Every executable of a build tree goes to <build>/bin (CMAKE_RUNTIME_OUTPUT_DIRECTORY), so the
// directory of the running test binary is that of the relinkd built with it (token_test.cpp finds relink-token
// the same way). Not from the RELINK_BIN_DIR / RELINK_EXAMPLE_* macros the targets define: an absolute path
// compiled into a test would make its preprocessed text, and so its ccache key, differ in every checkout, and a
// fresh clone would recompile these (large) tests in every tree (docs/testing.md).
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

namespace relink::test {

/// The directory of the running executable (empty if /proc/self/exe cannot be read).
inline std::filesystem::path bin_dir() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path{} : self.parent_path();
}

/// The program `name` built in the same tree as the running test.
inline std::string built_program(const std::string& name) {
    return (bin_dir() / name).string();
}

}  // namespace relink::test
