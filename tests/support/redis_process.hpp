// tests/support/redis_process.hpp — a redis-server child process for integration tests, the chaos soak, relink-bench
// and the demo's cluster scene: /usr/bin/redis-server on a free loopback port, in a temporary directory of its own
// (no persistence unless asked for: an append-only file written before every reply), started by PID and stopped by
// PID (SIGTERM, then SIGKILL), every wait bounded, and killed by the kernel if the test process dies first. kill9()
// crashes it; restart() starts a new one on the same port, with its data (when persistent) or without. Never the
// system service: the port is picked by binding port 0, and a clash (another process took the port before
// redis-server bound it) is retried on another port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "support/child_process.hpp"

namespace relink::test {

/// A free TCP port on 127.0.0.1 right now (bound to port 0 and closed again); 0 on failure.
inline std::uint16_t free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
}

/// True when something on 127.0.0.1:`port` answers PING with +PONG within `timeout` (one blocking exchange).
inline bool redis_answers_ping(std::uint16_t port, std::chrono::milliseconds timeout) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = false;
    const int timeout_ms = static_cast<int>(timeout.count());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (::poll(&pfd, 1, timeout_ms) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
            static constexpr char kPing[] = "*1\r\n$4\r\nPING\r\n";
            if (::send(fd, kPing, sizeof kPing - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof kPing - 1)) {
                pfd = pollfd{fd, POLLIN, 0};
                char buf[16] = {};
                if (::poll(&pfd, 1, timeout_ms) == 1 && ::recv(fd, buf, sizeof buf - 1, 0) >= 7) {
                    ok = std::string(buf, 7) == "+PONG\r\n";
                }
            }
        }
    }
    ::close(fd);
    return ok;
}

/// A redis-server child on 127.0.0.1, in a temporary directory removed at destruction.
class RedisServer {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr const char* kBinary = "/usr/bin/redis-server";

    /// Starts redis-server on a free port and waits (bounded) until it answers PING; nullptr when it cannot. With
    /// `persistent`, it keeps an append-only file with `appendfsync always`: every write is in the file before its
    /// reply goes out, so a kill9() and restart() loses nothing a client was told is stored (`everysec`, the
    /// production setting, allows about a second of changes to be lost, which a test could not tell from a bug).
    static std::unique_ptr<RedisServer> start(std::chrono::milliseconds ready_timeout = std::chrono::seconds(10),
                                              bool persistent = false) {
        auto server = std::unique_ptr<RedisServer>(new RedisServer);
        server->persistent_ = persistent;
        char dir_template[] = "/tmp/relink-redis-XXXXXX";
        if (::mkdtemp(dir_template) == nullptr) {
            return nullptr;
        }
        server->dir_ = dir_template;
        for (int attempt = 0; attempt < 5; ++attempt) {  // another process may take the port first: try another
            server->port_ = free_loopback_port();
            if (server->port_ != 0 && server->launch(ready_timeout)) {
                return server;
            }
        }
        return nullptr;
    }

    ~RedisServer() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] pid_t pid() const { return child_ ? child_->pid() : 0; }
    [[nodiscard]] bool running() const { return child_ && !child_->exit_status(); }
    [[nodiscard]] std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

    /// SIGTERM, then SIGKILL if it has not exited within `timeout`; the exit status (nullopt if it never exited).
    std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        return child_ ? child_->stop(timeout) : std::nullopt;
    }

    /// SIGKILL (a crash: no goodbye to clients, the kernel resets their connections) and wait for the exit.
    std::optional<int> kill9(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        return child_ ? child_->kill_now(timeout) : std::nullopt;
    }

    /// SIGSTOP / SIGCONT: a server that stops answering with its connections open (a hung process).
    void pause() { child_->signal(SIGSTOP); }
    void resume() { child_->signal(SIGCONT); }

    /// Starts a new redis-server on the same port (after stop() or kill9()) and waits until it answers PING. It
    /// loads the data the last one persisted unless `keep_data` is false (its files are removed first); without
    /// persistence it starts empty either way.
    bool restart(std::chrono::milliseconds ready_timeout = std::chrono::seconds(10), bool keep_data = true) {
        stop();
        if (!keep_data) {
            std::error_code ec;
            std::filesystem::remove_all(dir_ / "appendonlydir", ec);
            std::filesystem::remove(dir_ / "dump.rdb", ec);
        }
        return launch(ready_timeout);
    }

    [[nodiscard]] bool persistent() const { return persistent_; }

    [[nodiscard]] std::string log_text() const { return file_text(dir_ / "redis.log"); }

private:
    RedisServer() = default;

    bool launch(std::chrono::milliseconds ready_timeout) {
        ChildSpec spec;
        spec.argv = {kBinary,
                     "--port",
                     std::to_string(port_),
                     "--bind",
                     "127.0.0.1",
                     "--save",
                     "",
                     "--appendonly",
                     persistent_ ? "yes" : "no",
                     "--appendfsync",
                     "always",
                     "--dir",
                     dir_.string(),
                     "--daemonize",
                     "no",
                     "--enable-debug-command",
                     "local"};
        spec.stdout_pipe = false;
        spec.stdout_file = dir_ / "redis.log";  // stderr too
        spec.append = true;
        // If the test process dies without running its destructors (a crash, a sanitizer abort, a ctest timeout),
        // its redis-server dies with it instead of holding a port for ever. The signal follows the forking thread:
        // tests start it from their main thread.
        spec.die_with_parent = true;
        child_ = ChildProcess::start(std::move(spec));
        if (!child_) {
            return false;
        }
        const auto deadline = Clock::now() + ready_timeout;
        while (Clock::now() < deadline) {
            if (child_->wait_exit(std::chrono::milliseconds(0))) {
                return false;  // it exited: most likely the port was taken
            }
            if (redis_answers_ping(port_, std::chrono::milliseconds(500))) {
                return true;
            }
            child_->wait_exit(
                std::chrono::milliseconds(20));  // not listening yet: look again in 20 ms (or at its exit)
        }
        child_->kill_now();
        return false;
    }

    std::filesystem::path dir_;
    std::uint16_t port_{0};
    bool persistent_{false};
    std::unique_ptr<ChildProcess> child_;  ///< the current redis-server (a restart() replaces it)
};

}  // namespace relink::test
