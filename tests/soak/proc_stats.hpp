// tests/soak/proc_stats.hpp — resident memory (VmRSS from /proc/PID/status) and open file descriptors
// (/proc/PID/fd) of a process, and the "bounded, not growing" rule the chaos soak applies to their samples.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace relink::soak {

/// VmRSS of `pid` in KiB; 0 when it cannot be read (the process is gone).
inline std::uint64_t rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::strtoull(line.c_str() + 6, nullptr, 10);
        }
    }
    return 0;
}

/// The number of open file descriptors of `pid`; 0 when it cannot be read.
inline std::uint64_t open_fds(pid_t pid) {
    std::error_code ec;
    std::uint64_t n = 0;
    for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
         it.increment(ec)) {
        ++n;
    }
    return n;
}

/// The median of the samples in [begin, end) of `v` (0 when empty).
inline std::uint64_t median_of(std::vector<std::uint64_t> v) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// A series of samples of one quantity; bounded when the median of the last quarter is at most
/// `factor` × the median of the first quarter + `slack`.
struct Series {
    std::vector<std::uint64_t> samples;

    [[nodiscard]] std::uint64_t first_quarter() const {
        const std::size_t q = std::max<std::size_t>(1, samples.size() / 4);
        return median_of({samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(std::min(q, samples.size()))});
    }
    [[nodiscard]] std::uint64_t last_quarter() const {
        const std::size_t q = std::max<std::size_t>(1, samples.size() / 4);
        return median_of({samples.end() - static_cast<std::ptrdiff_t>(std::min(q, samples.size())), samples.end()});
    }
    [[nodiscard]] bool bounded(double factor, std::uint64_t slack) const {
        if (samples.size() < 8) {
            return true;  // too short to tell
        }
        return static_cast<double>(last_quarter()) <=
               static_cast<double>(first_quarter()) * factor + static_cast<double>(slack);
    }
};

}  // namespace relink::soak
