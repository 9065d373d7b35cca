// tests/support/relinkd_process.hpp — a relinkd child process for integration tests (a support/child_process.hpp
// child): its stdout on a pipe (for the one listening line) and stderr in a file, stopped by PID (SIGTERM, then
// SIGKILL); every wait bounded. It runs the relinkd built beside the test binary (support/bin_dir.hpp).
#pragma once

#include <signal.h>

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
#include "support/child_process.hpp"

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
    [[nodiscard]] pid_t pid() const { return child_->pid(); }

    /// SIGKILL (a crash: no drain, no goodbye) and wait for the exit (nullopt if still there after `timeout`).
    std::optional<int> kill_now(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        return child_->kill_now(timeout);
    }

    ~Relinkd() = default;  // the child process kills and reaps relinkd if it is still running
    Relinkd(const Relinkd&) = delete;
    Relinkd& operator=(const Relinkd&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] const std::string& ca_file() const { return ca_file_; }
    [[nodiscard]] std::string url(const std::string& host = "127.0.0.1", const std::string& path = "/") const {
        return "wss://" + host + ":" + std::to_string(port_) + path;
    }

    /// SIGTERM and wait for the exit status (nullopt if still running after `timeout`).
    std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        child_->signal(SIGTERM);
        return child_->wait_exit(timeout);
    }

    [[nodiscard]] std::string stderr_text() const { return file_text(dir_ / "relinkd.stderr"); }

private:
    Relinkd() = default;

    bool spawn(std::vector<std::string> args) {
        ChildSpec spec;
        spec.argv = std::move(args);
        spec.stderr_file = dir_ / "relinkd.stderr";
        child_ = ChildProcess::start(std::move(spec));
        return child_ != nullptr;
    }

    std::optional<std::string> read_line(std::chrono::milliseconds timeout) { return child_->read_line(timeout); }

    std::filesystem::path dir_;
    std::string ca_file_;
    std::unique_ptr<ChildProcess> child_;
    std::uint16_t port_{0};
    std::uint16_t admin_port_{0};
};

}  // namespace relink::test
