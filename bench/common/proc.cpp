// bench/common/proc.cpp — /proc readers and process limits of the benchmarks (proc.hpp).
#include "proc.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace relink::bench {

Memory read_memory(pid_t pid) {
    std::ifstream in(pid == 0 ? std::string("/proc/self/status") : "/proc/" + std::to_string(pid) + "/status");
    Memory m;
    for (std::string line; std::getline(in, line);) {
        const auto field = [&](const char* name, std::uint64_t& out) {
            if (line.rfind(name, 0) == 0) {
                out = std::strtoull(line.c_str() + std::strlen(name), nullptr, 10) * 1024;
            }
        };
        field("VmRSS:", m.vm_rss);
        field("RssAnon:", m.rss_anon);
        field("RssFile:", m.rss_file);
        field("VmHWM:", m.vm_hwm);
    }
    return m;
}

CpuTimes read_cpu_times(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), {});
    const auto close_paren = all.rfind(')');  // the command name may hold spaces and parentheses
    if (close_paren == std::string::npos) {
        return {};
    }
    std::istringstream fields(all.substr(close_paren + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i) {
        fields >> skip;
    }
    std::uint64_t utime = 0;
    std::uint64_t stime = 0;
    fields >> utime >> stime;
    const auto tick = static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK));
    return {utime * 1'000'000 / tick, stime * 1'000'000 / tick};
}

std::uint64_t read_cpu_us(pid_t pid) {
    const auto times = read_cpu_times(pid);
    return times.user_us + times.system_us;
}

std::uint64_t self_cpu_us() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto us = [](const timeval& t) {
        return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(t.tv_usec);
    };
    return us(usage.ru_utime) + us(usage.ru_stime);
}

std::uint64_t heap_in_use() {
    const auto info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

void trim_heap() {
    malloc_trim(0);
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string one, five, fifteen;
    in >> one >> five >> fifteen;
    return one + " " + five + " " + fifteen;
}

std::string kernel_release() {
    utsname u{};
    return uname(&u) == 0 ? std::string(u.release) : std::string("unknown");
}

std::uint64_t raise_nofile(std::uint64_t needed) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < needed) {
        rlimit wanted = limit;
        wanted.rlim_cur = std::min<rlim_t>(needed, limit.rlim_max);
        if (limit.rlim_max < needed) {
            const rlimit both{needed, needed};  // only a privileged process may raise the hard limit
            if (setrlimit(RLIMIT_NOFILE, &both) == 0) {
                wanted = both;
            }
        }
        setrlimit(RLIMIT_NOFILE, &wanted);
        getrlimit(RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur;
}

}  // namespace relink::bench
