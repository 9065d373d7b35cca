// tests/support/child_process.hpp — one child process of a test or a benchmark (relinkd, redis-server, mosquitto,
// relink-token, an example program), written once for all of them: started by vfork + exec with its standard
// streams where the caller says (a pipe the parent reads, a file, /dev/null), stopped and reaped by its PID, every
// wait bounded. The destructor kills (SIGKILL) and reaps a child that is still running.
//
// The child holds none of the parent's other descriptors (a benchmark's sockets are not close-on-exec: a child
// holding one would keep a connection open that the parent closed), starts with no signal blocked, and with
// `die_with_parent` is killed by the kernel if the process that started it dies without its destructors running
// (a crash, a sanitizer abort, a ctest timeout). Waiting for the exit is an event (a pidfd) where the kernel has
// one. ChildProcess::kill_all() kills every child still alive from a signal handler (a benchmark's second Ctrl-C).
// Header-only: tests and benchmarks include it through the `tests/` include directory.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace relink::test {

/// The text of a file, or only its last `tail_bytes` bytes (a child's log, for a failure message); empty when it
/// cannot be read.
inline std::string file_text(const std::filesystem::path& path, std::size_t tail_bytes = std::string::npos) {
    std::ifstream in(path, std::ios::binary);
    std::string all{std::istreambuf_iterator<char>(in), {}};
    return all.size() > tail_bytes ? all.substr(all.size() - tail_bytes) : all;
}

/// What to start and where its standard streams go.
struct ChildSpec {
    std::vector<std::string> argv;         ///< argv[0] is the program's path (no PATH search)
    std::vector<std::string> environment;  ///< "NAME=VALUE" entries added to this process's environment
    bool stdin_pipe{false};                ///< a pipe the parent writes (write(), close_stdin()); else /dev/null
    bool stdout_pipe{true};                ///< a pipe the parent reads (read_line(), output()); else stdout_file
    std::filesystem::path stdout_file;     ///< without stdout_pipe: this file (empty: /dev/null)
    std::filesystem::path stderr_file;     ///< this file; empty: stderr goes where stdout goes
    bool append{false};                    ///< open the files with O_APPEND rather than truncating them
    bool die_with_parent{false};           ///< PR_SET_PDEATHSIG: SIGKILL when the starting thread dies
};

class ChildProcess {
public:
    using Clock = std::chrono::steady_clock;

    /// Starts the child; nullptr (with the reason in `error`, when given) if it cannot be started. A program that
    /// cannot be executed is started and exits at once with status 127.
    static std::unique_ptr<ChildProcess> start(ChildSpec spec, std::string* error = nullptr) {
        auto child = std::unique_ptr<ChildProcess>(new ChildProcess);
        if (!child->spawn(std::move(spec), error)) {
            return nullptr;
        }
        return child;
    }

    /// The status of a child run to its end with its output captured (stdout, and stderr when the spec sends it
    /// to the same place): `status` is nullopt when it did not exit within `timeout` (it is then killed).
    struct Run {
        std::optional<int> status;
        std::string output;
    };
    static Run run(ChildSpec spec, std::chrono::milliseconds timeout) {
        Run result;
        spec.stdout_pipe = true;
        auto child = start(std::move(spec));
        if (!child) {
            return result;
        }
        const auto deadline = Clock::now() + timeout;
        child->read_to_end(timeout);
        result.status = child->wait_exit(std::max(left_until(deadline), std::chrono::milliseconds(100)));
        result.output = child->output();
        return result;
    }

    ~ChildProcess() {
        close_stdin();
        if (!status_ && pid_ > 0) {
            ::kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds(5));
        }
        for (const int fd : {stdout_fd_, pid_fd_}) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }

    /// SIGKILL to every child started here that has not been reaped yet. Async-signal-safe: for a signal handler
    /// that must not leave a child behind (the destructors may never run).
    static void kill_all() noexcept {
        for (auto& slot : live_pids_) {
            const pid_t pid = slot.load();
            if (pid > 0) {
                ::kill(pid, SIGKILL);
            }
        }
    }

    /// Whether it is still running (reaps it if it has exited).
    bool running() {
        reap();
        return !status_;
    }
    /// The exit status once reaped: the exit code, or -signal when a signal ended it.
    [[nodiscard]] std::optional<int> exit_status() const { return status_; }

    /// Sends `number` to the child (nothing once it has been reaped: its PID may be someone else's by then).
    void signal(int number) const {
        if (!status_) {
            ::kill(pid_, number);
        }
    }

    /// Waits at most `timeout` for the exit; its status (see exit_status()), or nullopt if it is still running.
    /// Output on the stdout pipe is read meanwhile, so that a child blocked on a full pipe can still exit.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (!reap()) {
            const auto left = left_until(deadline);
            if (left.count() <= 0) {
                return std::nullopt;
            }
            pollfd fds[2] = {{pid_fd_, POLLIN, 0}, {stdout_fd_, POLLIN, 0}};
            if (pid_fd_ < 0) {  // no pidfd (old kernel): look again in 10 ms
                fds[0].fd = -1;
                ::poll(fds, 2, static_cast<int>(std::min<long>(left.count(), 10)));
            } else {
                ::poll(fds, 2, static_cast<int>(left.count()));
            }
            if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) {
                read_some(std::chrono::milliseconds(0));
            }
        }
        while (read_some(std::chrono::milliseconds(0))) {
        }
        return status_;
    }

    /// SIGTERM, at most `timeout` for the exit, then SIGKILL (and 5 s more). The exit status: -SIGKILL when it
    /// had to be killed; nullopt only if it could not be reaped at all.
    std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        signal(SIGTERM);
        if (auto status = wait_exit(timeout)) {
            return status;
        }
        return kill_now();
    }

    /// SIGKILL (a crash: no goodbye) and wait at most `timeout` for the exit.
    std::optional<int> kill_now(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        signal(SIGKILL);
        return wait_exit(timeout);
    }

    /// Writes `text` to the child's stdin (stdin_pipe); false if it could not all be written.
    bool write(const std::string& text) {
        std::size_t written = 0;
        while (written < text.size() && stdin_fd_ >= 0) {
            const auto n = ::write(stdin_fd_, text.data() + written, text.size() - written);
            if (n <= 0) {
                return false;
            }
            written += static_cast<std::size_t>(n);
        }
        return written == text.size();
    }

    /// End of input for the child.
    void close_stdin() {
        if (stdin_fd_ >= 0) {
            ::close(stdin_fd_);
            stdin_fd_ = -1;
        }
    }

    /// The next line of stdout not yet returned (without its newline); nullopt when none is complete within
    /// `timeout` or the output ended.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            if (const auto nl = output_.find('\n', line_start_); nl != std::string::npos) {
                auto line = output_.substr(line_start_, nl - line_start_);
                line_start_ = nl + 1;
                return line;
            }
            const auto left = left_until(deadline);
            if (left.count() <= 0 || !read_some(left)) {
                if (stdout_fd_ < 0 || left_until(deadline).count() <= 0) {
                    return std::nullopt;
                }
            }
        }
    }

    /// Waits at most `timeout` until the child's stdout contains `text` (searched from its beginning).
    bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (output_.find(text) == std::string::npos) {
            const auto left = left_until(deadline);
            if (left.count() <= 0 || (!read_some(left) && stdout_fd_ < 0)) {
                return output_.find(text) != std::string::npos;
            }
        }
        return true;
    }

    /// Reads stdout until it ends (the child closed it, usually by exiting), at most `timeout`; true if it ended.
    bool read_to_end(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (stdout_fd_ >= 0) {
            const auto left = left_until(deadline);
            if (left.count() <= 0) {
                return false;
            }
            read_some(left);
        }
        return true;
    }

    /// Whether the stdout pipe has ended (the child closed it, usually by exiting) or there is none.
    [[nodiscard]] bool output_ended() const { return stdout_fd_ < 0; }
    /// Everything the child wrote to the stdout pipe so far.
    [[nodiscard]] const std::string& output() const { return output_; }
    /// What read_line() has not returned yet.
    [[nodiscard]] std::string unread_output() const { return output_.substr(line_start_); }

private:
    ChildProcess() = default;

    /// The PIDs of the children alive now, for kill_all(): a fixed table of atomics (constant-initialized), because a
    /// signal handler may do nothing that locks or allocates. A child that finds it full is not listed (its destructor
    /// still runs).
    static inline std::array<std::atomic<pid_t>, 64> live_pids_{};

    static std::chrono::milliseconds left_until(Clock::time_point deadline) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    }

    /// What the child does between vfork() and exec, prepared by the parent: only system calls happen there.
    struct ExecPlan {
        char** argv;
        char** envp;
        int in;
        int out;
        int err;
        bool die_with_parent;
        pid_t parent;
    };

    /// The child's side: its own copy of the signal handlers reset to the defaults, its standard streams, nothing
    /// else of the parent's open, then exec (or exit 127).
    [[noreturn]] static void exec_child(const ExecPlan& plan) noexcept {
        for (int signal = 1; signal < NSIG; ++signal) {
            struct sigaction action {};
            if (::sigaction(signal, nullptr, &action) == 0 && action.sa_handler != SIG_DFL &&
                action.sa_handler != SIG_IGN) {
                action.sa_handler = SIG_DFL;
                action.sa_flags = 0;
                ::sigaction(signal, &action, nullptr);  // the child's own table (no CLONE_SIGHAND): the parent's stays
            }
        }
        if (plan.die_with_parent) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != plan.parent) {
                ::_exit(127);  // the parent is already gone
            }
        }
        if (::dup2(plan.in, STDIN_FILENO) < 0 || ::dup2(plan.out, STDOUT_FILENO) < 0 ||
            ::dup2(plan.err, STDERR_FILENO) < 0) {
            ::_exit(127);
        }
        ::syscall(SYS_close_range, 3U, ~0U, 0U);  // nothing of the parent's but 0, 1 and 2
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(plan.argv[0], plan.argv, plan.envp);
        ::_exit(127);
    }

    /// vfork() in a frame of its own, so that nothing of spawn()'s lives across it (the child shares the stack).
    [[gnu::noinline]] static pid_t vfork_and_exec(const ExecPlan* plan) noexcept {
        const pid_t pid = ::vfork();
        if (pid == 0) {
            exec_child(*plan);
        }
        return pid;
    }

    bool spawn(ChildSpec spec, std::string* error) {
        const auto fail = [&](const std::string& what) {
            if (error != nullptr) {
                *error = what + ": " + std::strerror(errno);
            }
            return false;
        };
        if (spec.argv.empty()) {
            errno = EINVAL;
            return fail("no program");
        }
        // Everything the child needs is prepared before fork(): between fork() and exec() only async-signal-safe
        // calls are allowed (the parent has threads).
        std::vector<char*> argv;
        for (auto& a : spec.argv) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        std::vector<std::string> env_strings;
        for (char** e = environ; *e != nullptr; ++e) {
            env_strings.emplace_back(*e);
        }
        env_strings.insert(env_strings.end(), spec.environment.begin(), spec.environment.end());
        std::vector<char*> envp;
        for (auto& e : env_strings) {
            envp.push_back(e.data());
        }
        envp.push_back(nullptr);
        const int file_flags = O_WRONLY | O_CREAT | O_CLOEXEC | (spec.append ? O_APPEND : O_TRUNC);

        // The descriptors the child's 0, 1 and 2 become; all close-on-exec here, so none stays open twice.
        int in_pipe[2] = {-1, -1};
        int out_pipe[2] = {-1, -1};
        int in = -1;
        int out = -1;
        int err = -1;
        const auto close_all = [&] {
            for (const int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], in, out, err}) {
                if (fd >= 0) {
                    ::close(fd);
                }
            }
        };
        if (spec.stdin_pipe ? ::pipe2(in_pipe, O_CLOEXEC) != 0 : (in = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
            close_all();
            return fail("stdin");
        }
        if (spec.stdout_pipe) {
            if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
                close_all();
                return fail("stdout pipe");
            }
        } else if ((out = spec.stdout_file.empty() ? ::open("/dev/null", O_WRONLY | O_CLOEXEC)
                                                   : ::open(spec.stdout_file.c_str(), file_flags, 0644)) < 0) {
            close_all();
            return fail("open " + spec.stdout_file.string());
        }
        if (!spec.stderr_file.empty() && (err = ::open(spec.stderr_file.c_str(), file_flags, 0644)) < 0) {
            close_all();
            return fail("open " + spec.stderr_file.string());
        }
        // Each of them above 2: in a parent started with a standard stream closed, one may have been given 0, 1 or
        // 2, which the dup2() calls in the child would overwrite (or leave close-on-exec) before it is used.
        for (int* fd : {&in_pipe[0], &in_pipe[1], &out_pipe[0], &out_pipe[1], &in, &out, &err}) {
            if (*fd >= 0 && *fd <= STDERR_FILENO) {
                const int moved = ::fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
                ::close(*fd);
                *fd = moved;
                if (moved < 0) {
                    close_all();
                    return fail("fcntl");
                }
            }
        }
        if (spec.stdin_pipe) {
            ::signal(SIGPIPE, SIG_IGN);  // a write to a child that has exited fails instead of killing the parent
        }
        const int child_in = spec.stdin_pipe ? in_pipe[0] : in;
        const int child_out = spec.stdout_pipe ? out_pipe[1] : out;
        const ExecPlan plan{argv.data(),          envp.data(), child_in, child_out, err >= 0 ? err : child_out,
                            spec.die_with_parent, ::getpid()};

        // vfork(), not fork(): the child borrows the parent's memory until it execs, so nothing is copied. A fork()
        // copies the page tables of the whole process and makes every page copy-on-write; a parent holding a large
        // heap (a benchmark with thousands of clients starting a replacement server) then takes a page fault on each
        // page it writes afterwards, which slowed it for seconds exactly when it was measuring. The child runs with
        // every signal blocked and the parent's handlers reset, so that no handler of the parent's runs in it.
        sigset_t all;
        sigset_t previous;
        sigfillset(&all);
        ::pthread_sigmask(SIG_SETMASK, &all, &previous);
        const pid_t pid = vfork_and_exec(&plan);
        if (pid < 0) {
            ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
            close_all();
            return fail("vfork");
        }
        ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        pid_ = pid;
        if (spec.stdin_pipe) {
            stdin_fd_ = in_pipe[1];
            in_pipe[1] = -1;
        }
        if (spec.stdout_pipe) {
            stdout_fd_ = out_pipe[0];
            out_pipe[0] = -1;
        }
        close_all();
        for (auto& slot : live_pids_) {
            pid_t empty = 0;
            if (slot.compare_exchange_strong(empty, pid_)) {
                break;
            }
        }
        // A pidfd turns "the child exited" into an event poll() can wait for.
        pid_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
        return true;
    }

    /// Reaps the child if it has exited; true once reaped.
    bool reap() {
        if (status_) {
            return true;
        }
        int status = 0;
        pid_t done = 0;
        do {
            done = ::waitpid(pid_, &status, WNOHANG);
        } while (done < 0 && errno == EINTR);
        if (done == pid_) {
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        } else if (done < 0 && errno == ECHILD) {
            status_ = -SIGKILL;  // not our child any more (SIGCHLD ignored, or reaped elsewhere): gone all the same
        }
        if (status_) {
            for (auto& slot : live_pids_) {
                pid_t expected = pid_;
                slot.compare_exchange_strong(expected, 0);
            }
        }
        return status_.has_value();
    }

    /// Reads what the stdout pipe has within `timeout`; false when nothing came. At its end the pipe is closed.
    bool read_some(std::chrono::milliseconds timeout) {
        if (stdout_fd_ < 0) {
            return false;
        }
        pollfd fd{stdout_fd_, POLLIN, 0};
        if (::poll(&fd, 1, static_cast<int>(std::max<long>(timeout.count(), 0))) <= 0) {
            return false;
        }
        char buffer[4096];
        const auto n = ::read(stdout_fd_, buffer, sizeof buffer);
        if (n <= 0) {
            if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                ::close(stdout_fd_);
                stdout_fd_ = -1;
            }
            return false;
        }
        output_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }

    pid_t pid_{-1};
    int stdin_fd_{-1};
    int stdout_fd_{-1};
    int pid_fd_{-1};
    std::string output_;
    std::size_t line_start_{0};
    std::optional<int> status_;
};

}  // namespace relink::test
