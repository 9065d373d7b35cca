// tests/support/relinkd_process.hpp — a relinkd child process for integration tests: started by PID with its
// stdout on a pipe (for the one listening line) and stderr in a file, stopped by PID (SIGTERM, then SIGKILL);
// every wait bounded. It runs the relinkd built beside the test binary (support/bin_dir.hpp).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "support/bin_dir.hpp"

extern char** environ;

namespace relink::test {

/// relinkd, started by PID with its stdout on a pipe (for the one listening line) and stderr in a file; stopped by
/// PID (SIGTERM, then SIGKILL if it does not exit in time).
class Relinkd {
public:
    using Clock = std::chrono::steady_clock;
    static std::unique_ptr<Relinkd> start(const std::filesystem::path& dir, std::vector<std::string> extra = {}) {
        using namespace std::chrono_literals;
        auto server = std::unique_ptr<Relinkd>(new Relinkd);
        server->dir_ = dir;
        server->ca_file_ = (dir / "ca.pem").string();
        std::vector<std::string> args{built_program("relinkd"),
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--app",
                                      "app:secret",
                                      "--threads",
                                      "1",
                                      "--log-level",
                                      "debug"};
        if (std::find(extra.begin(), extra.end(), "--insecure-plaintext") == extra.end()) {
            args.insert(args.end(), {"--write-ca", server->ca_file_});
        }
        args.insert(args.end(), extra.begin(), extra.end());
        if (!server->spawn(args)) {
            return nullptr;
        }
        const auto line = server->read_line(10s);
        if (!line) {
            return nullptr;
        }
        static const std::regex kListening(R"(\{"event":"listening","url":"wss?://127\.0\.0\.1:(\d+)/"\})");
        std::smatch match;
        if (!std::regex_match(*line, match, kListening)) {
            return nullptr;
        }
        server->port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
        return server;
    }

    /// Like start(), with the options a test of restarts and of the admin API needs (an addition: start() is
    /// unchanged). Listens on 127.0.0.1:`port` (0 = ephemeral; a fixed port restarts a server in place), writes its
    /// certificate to `ca_file` (default `dir`/ca.pem: a replacement server writing to its predecessor's file is
    /// trusted by the clients of the old one, which re-read the file at every connection), and with a non-empty
    /// `admin_secret` serves the admin API on an ephemeral loopback port (admin_port()).
    struct LaunchOptions {
        std::uint16_t port{0};
        std::string ca_file;
        std::string admin_secret;
        std::vector<std::string> extra;
    };
    static std::unique_ptr<Relinkd> launch(const std::filesystem::path& dir, LaunchOptions options) {
        using namespace std::chrono_literals;
        auto server = std::unique_ptr<Relinkd>(new Relinkd);
        server->dir_ = dir;
        server->ca_file_ = options.ca_file.empty() ? (dir / "ca.pem").string() : options.ca_file;
        std::vector<std::string> args{built_program("relinkd"),
                                      "--listen",
                                      "127.0.0.1:" + std::to_string(options.port),
                                      "--app",
                                      "app:secret",
                                      "--threads",
                                      "1",
                                      "--log-level",
                                      "debug",
                                      "--write-ca",
                                      server->ca_file_};
        if (!options.admin_secret.empty()) {
            args.insert(args.end(), {"--admin-listen", "127.0.0.1:0", "--admin-secret", options.admin_secret});
        }
        args.insert(args.end(), options.extra.begin(), options.extra.end());
        if (!server->spawn(args)) {
            return nullptr;
        }
        const auto line = server->read_line(10s);
        if (!line) {
            return nullptr;
        }
        static const std::regex kListening(
            R"(\{"event":"listening","url":"wss://127\.0\.0\.1:(\d+)/"(?:,"node":"[^"]*")?(?:,"admin":"http://127\.0\.0\.1:(\d+)/")?\})");
        std::smatch match;
        if (!std::regex_match(*line, match, kListening)) {
            return nullptr;
        }
        server->port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
        if (match[2].matched) {
            server->admin_port_ = static_cast<std::uint16_t>(std::stoi(match[2]));
        }
        return server;
    }

    /// The admin API's port (launch() with an admin secret); 0 when it has none.
    [[nodiscard]] std::uint16_t admin_port() const { return admin_port_; }
    [[nodiscard]] pid_t pid() const { return pid_; }

    /// SIGKILL (a crash: no drain, no goodbye) and wait for the exit (nullopt if still there after `timeout`).
    std::optional<int> kill_now(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        kill(pid_, SIGKILL);
        return wait_exit(timeout);
    }

    ~Relinkd() {
        if (!exited_) {
            kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds(5));
        }
        if (stdout_fd_ >= 0) {
            ::close(stdout_fd_);
        }
        if (pid_fd_ >= 0) {
            ::close(pid_fd_);
        }
    }
    Relinkd(const Relinkd&) = delete;
    Relinkd& operator=(const Relinkd&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] const std::string& ca_file() const { return ca_file_; }
    [[nodiscard]] std::string url(const std::string& host = "127.0.0.1", const std::string& path = "/") const {
        return "wss://" + host + ":" + std::to_string(port_) + path;
    }

    /// SIGTERM and wait for the exit status (nullopt if still running after `timeout`).
    std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        kill(pid_, SIGTERM);
        return wait_exit(timeout);
    }

    [[nodiscard]] std::string stderr_text() const {
        std::ifstream in(dir_ / "relinkd.stderr");
        return {std::istreambuf_iterator<char>(in), {}};
    }

private:
    Relinkd() = default;

    bool spawn(std::vector<std::string> args) {
        int out[2];
        if (pipe(out) != 0) {
            return false;
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, out[0]);
        posix_spawn_file_actions_addclose(&actions, out[1]);
        const std::string err = (dir_ / "relinkd.stderr").string();
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        if (rc != 0) {
            ::close(out[0]);
            exited_ = true;
            return false;
        }
        stdout_fd_ = out[0];
        // A pidfd turns "the child exited" into an event poll() can wait for.
        pid_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
        return true;
    }

    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        std::string buffered;
        for (;;) {
            if (const auto nl = buffered.find('\n'); nl != std::string::npos) {
                return buffered.substr(0, nl);
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            pollfd pfd{stdout_fd_, POLLIN, 0};
            if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            char chunk[1024];
            const auto n = read(stdout_fd_, chunk, sizeof chunk);
            if (n <= 0) {
                return std::nullopt;
            }
            buffered.append(chunk, static_cast<std::size_t>(n));
        }
    }

    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                return std::nullopt;
            }
            if (pid_fd_ >= 0) {
                pollfd pfd{pid_fd_, POLLIN, 0};
                poll(&pfd, 1, static_cast<int>(left.count()));
            } else {  // no pidfd (old kernel): look again in 10 ms
                poll(nullptr, 0, 10);
            }
        }
    }

    std::filesystem::path dir_;
    std::string ca_file_;
    pid_t pid_{0};
    int stdout_fd_{-1};
    int pid_fd_{-1};
    bool exited_{false};
    std::uint16_t port_{0};
    std::uint16_t admin_port_{0};
};

}  // namespace relink::test
