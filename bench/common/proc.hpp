// bench/common/proc.hpp — what the benchmarks read about processes and the host: memory and CPU of a process from
// /proc, this process's heap (glibc), the load average, the kernel release, and the open-files limit they raise
// before opening thousands of sockets.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace relink::bench {

/// Memory figures of a process from /proc/PID/status, in bytes (the file gives kB).
struct Memory {
    std::uint64_t vm_rss{0};
    std::uint64_t rss_anon{0};
    std::uint64_t rss_file{0};
    std::uint64_t vm_hwm{0};
};
/// The memory of `pid` (0 = this process); zeros when unreadable.
Memory read_memory(pid_t pid);
/// CPU a process used in user space and in the kernel, in microseconds (/proc/PID/stat fields 14 and 15).
struct CpuTimes {
    std::uint64_t user_us{0};
    std::uint64_t system_us{0};
};
/// The CPU times of `pid`; zeros when unreadable.
CpuTimes read_cpu_times(pid_t pid);
/// User + system CPU of a process in microseconds; 0 when unreadable.
std::uint64_t read_cpu_us(pid_t pid);
/// User + system CPU of this process in microseconds (getrusage).
std::uint64_t self_cpu_us();
/// Heap bytes in use in this process (mallinfo2: every arena and the mmapped chunks).
std::uint64_t heap_in_use();
/// Gives freed heap back to the kernel before a reading (glibc malloc_trim).
void trim_heap();
/// /proc/loadavg's first three fields.
std::string load_average();
/// The kernel release (uname -r); "unknown" when uname fails.
std::string kernel_release();
/// Raises RLIMIT_NOFILE to cover `needed` if it can (children inherit it): the soft limit up to the hard one, and
/// the hard one too when the process is privileged. Returns the soft limit now in force.
std::uint64_t raise_nofile(std::uint64_t needed);

}  // namespace relink::bench
