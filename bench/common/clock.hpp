// bench/common/clock.hpp — the benchmarks' one clock: nanoseconds on the steady clock. Every latency a benchmark
// reports is a difference of two of these, taken in one process (a fan-out payload carries the sender's value).
#pragma once

#include <chrono>
#include <cstdint>

namespace relink::bench {

using Clock = std::chrono::steady_clock;

/// Nanoseconds on the steady clock.
inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}
inline double ns_to_ms(std::int64_t ns) {
    return static_cast<double>(ns) / 1e6;
}

}  // namespace relink::bench
