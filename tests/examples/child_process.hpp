// tests/examples/child_process.hpp — runs an example program as a child process with pipes on its stdin and
// stdout (stderr merged into stdout), so that a test can type lines into it and wait for lines out of it. Every
// wait is bounded; the destructor kills and reaps a child that is still running.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace relink::test {

class ChildProcess {
public:
    /// Starts `program` with `args` (without argv[0]); `environment` entries ("NAME=VALUE") are added to ours.
    ChildProcess(const std::string& program, const std::vector<std::string>& args,
                 const std::vector<std::string>& environment = {}) {
        ::signal(SIGPIPE, SIG_IGN);  // a write to a child that has exited fails instead of killing the test
        int to_child[2];
        int from_child[2];
        if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) {
            throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
        }
        // Everything the child needs is prepared before fork(): between fork() and exec() only async-signal-safe
        // calls are allowed (the test process has threads).
        std::vector<std::string> argv_strings{program};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_strings) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        std::vector<std::string> env_strings;
        for (char** e = environ; *e != nullptr; ++e) {
            env_strings.emplace_back(*e);
        }
        env_strings.insert(env_strings.end(), environment.begin(), environment.end());
        std::vector<char*> envp;
        for (auto& e : env_strings) {
            envp.push_back(e.data());
        }
        envp.push_back(nullptr);

        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
        }
        if (pid_ == 0) {
            ::dup2(to_child[0], STDIN_FILENO);
            ::dup2(from_child[1], STDOUT_FILENO);
            ::dup2(from_child[1], STDERR_FILENO);
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        ::close(to_child[0]);
        ::close(from_child[1]);
        stdin_ = to_child[1];
        stdout_ = from_child[0];
        ::fcntl(stdout_, F_SETFL, ::fcntl(stdout_, F_GETFL) | O_NONBLOCK);
    }

    ~ChildProcess() {
        close_stdin();
        if (!status_ && pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        if (stdout_ >= 0) {
            ::close(stdout_);
        }
    }

    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// Writes `text` to the child's stdin.
    bool write(const std::string& text) {
        std::size_t written = 0;
        while (written < text.size() && stdin_ >= 0) {
            const auto n = ::write(stdin_, text.data() + written, text.size() - written);
            if (n <= 0) {
                return false;
            }
            written += static_cast<std::size_t>(n);
        }
        return written == text.size();
    }

    /// End of input for the child.
    void close_stdin() {
        if (stdin_ >= 0) {
            ::close(stdin_);
            stdin_ = -1;
        }
    }

    /// Waits at most `timeout` until the child's output contains `text` (searched from the beginning).
    bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (output_.find(text) == std::string::npos) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !read_some(left)) {
                return output_.find(text) != std::string::npos;
            }
        }
        return true;
    }

    /// Waits at most `timeout` for the child to exit; its exit status, or nullopt (still running, or killed by a
    /// signal: then -signal).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!status_) {
            int status = 0;
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_) {
                status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return std::nullopt;
            }
            read_some(std::chrono::milliseconds(20));  // keep draining its output meanwhile
        }
        while (read_some(std::chrono::milliseconds(0))) {
        }
        return status_;
    }

    /// Everything the child wrote so far.
    [[nodiscard]] const std::string& output() const { return output_; }

private:
    /// Reads what is available within `timeout`; false at end of output or when nothing came.
    bool read_some(std::chrono::milliseconds timeout) {
        if (stdout_ < 0) {
            return false;
        }
        pollfd fd{stdout_, POLLIN, 0};
        if (::poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) {
            return false;
        }
        char buffer[4096];
        const auto n = ::read(stdout_, buffer, sizeof buffer);
        if (n <= 0) {
            return false;
        }
        output_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }

    pid_t pid_{-1};
    int stdin_{-1};
    int stdout_{-1};
    std::string output_;
    std::optional<int> status_;
};

}  // namespace relink::test
