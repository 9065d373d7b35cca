// tests/fuzz/fuzz_support.hpp — what every fuzz target shares (docs/fuzzing.md): the libFuzzer entry point's
// declaration, FUZZ_CHECK (a property that must hold: on failure it prints what and where, then aborts, which
// libFuzzer records as a crash with its input and the replay runner reports as a failed test), and ByteReader, a
// small deterministic reader that turns the fuzzer's bytes into structured values for the targets that build
// their inputs (it replaces clang's FuzzedDataProvider so that the gcc replay build needs nothing from clang).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace relink::fuzz {

[[noreturn]] inline void property_failed(const char* file, int line, const char* condition, std::string_view what) {
    std::fprintf(stderr, "\n%s:%d: fuzz property violated: %s\n  %.*s\n", file, line, condition,
                 static_cast<int>(what.size()), what.data());
    std::fflush(stderr);
    std::abort();
}

/// The fuzzer's bytes as a string (no copy).
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
    return {reinterpret_cast<const char*>(data), size};  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}

/// Reads values off the front of the fuzzer's bytes; once they run out every read returns zero / empty, so any
/// input, however short, gives a complete value.
class ByteReader {
public:
    explicit ByteReader(std::string_view bytes) noexcept : bytes_(bytes) {}

    [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }

    std::uint8_t u8() noexcept {
        if (bytes_.empty()) {
            return 0;
        }
        const auto value = static_cast<std::uint8_t>(bytes_.front());
        bytes_.remove_prefix(1);
        return value;
    }

    bool boolean() noexcept { return (u8() & 1U) != 0; }

    std::uint64_t u64() noexcept {
        std::uint64_t value = 0;
        for (int i = 0; i < 8; ++i) {
            value = value << 8U | u8();
        }
        return value;
    }

    std::int64_t i64() noexcept { return static_cast<std::int64_t>(u64()); }

    /// A value below `bound` (0 when bound is 0).
    std::size_t below(std::size_t bound) noexcept { return bound == 0 ? 0 : u8() % bound; }

    /// A string of up to `max` bytes: a length byte, then that many bytes (fewer if the input ends).
    std::string text(std::size_t max = 32) {
        const std::size_t length = std::min<std::size_t>(u8(), max);
        const std::size_t taken = std::min(length, bytes_.size());
        std::string out{bytes_.substr(0, taken)};
        bytes_.remove_prefix(taken);
        return out;
    }

    /// Everything not read yet.
    std::string rest() {
        std::string out{bytes_};
        bytes_ = {};
        return out;
    }

private:
    std::string_view bytes_;
};

}  // namespace relink::fuzz

/// A property of the code under test: when it does not hold, print `what` (a std::string_view-convertible
/// description) and abort.
#define FUZZ_CHECK(condition, what)                                                  \
    do {                                                                             \
        if (!(condition)) {                                                          \
            ::relink::fuzz::property_failed(__FILE__, __LINE__, #condition, (what)); \
        }                                                                            \
    } while (false)
