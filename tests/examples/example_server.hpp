// tests/examples/example_server.hpp — what every example test runs its programs against: an embedded relinkd
// (server::Server) on a loopback port with its self-signed certificate written to a temp directory, one app
// ("app", secret "secret"), and tokens for it. Stopped, and the directory removed, when it goes out of scope.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "server/listener.hpp"
#include "server/options.hpp"
#include "token/token.hpp"

namespace relink::test {

class ExampleServer {
public:
    /// Starts the server; check started() (a gtest failure names the error otherwise).
    explicit ExampleServer(const std::string& name) {
        std::string pattern = (std::filesystem::temp_directory_path() / ("relink-" + name + "-XXXXXX")).string();
        if (mkdtemp(pattern.data()) == nullptr) {
            ADD_FAILURE() << "mkdtemp failed for " << pattern;
            return;
        }
        dir_ = pattern;
        server::Options options;
        options.listen = {"127.0.0.1", 0};
        options.apps = {{"app", "secret"}};
        options.threads = 2;
        std::string error;
        server_ = server::Server::start(
            options, std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::null_sink_mt>()), error);
        if (!server_) {
            ADD_FAILURE() << "the embedded relinkd did not start: " << error;
            return;
        }
        ca_file_ = (dir_ / "ca.pem").string();
        std::ofstream(ca_file_) << server_->certificate_pem();
    }
    ~ExampleServer() {
        server_.reset();
        if (!dir_.empty()) {
            std::filesystem::remove_all(dir_);
        }
    }
    ExampleServer(const ExampleServer&) = delete;
    ExampleServer& operator=(const ExampleServer&) = delete;

    [[nodiscard]] bool started() const noexcept { return server_ != nullptr; }
    [[nodiscard]] server::Server& server() { return *server_; }
    /// The server's wss:// URL.
    [[nodiscard]] std::string url() const { return server_->url(); }
    /// The PEM file of the server's certificate, for the clients to trust.
    [[nodiscard]] const std::string& ca_file() const noexcept { return ca_file_; }

    /// A token of the app for `user`, valid for an hour.
    [[nodiscard]] static std::string token_for(const std::string& user) {
        const auto now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        return token::mint({"app", user, now + 3600, {}}, "secret");
    }

private:
    std::filesystem::path dir_;
    std::unique_ptr<server::Server> server_;
    std::string ca_file_;
};

}  // namespace relink::test
