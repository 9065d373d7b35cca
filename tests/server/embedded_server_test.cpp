// server::Server embedded in the test process (what relinkd runs in its own, and what the demo embeds): it listens
// at once on the URL it reports, serves the certificate it reports, drains on request (clients get Close with
// DRAINING and wait() returns), stops promptly from its destructor with clients connected, and reports an
// unusable configuration as one line instead of starting. Every wait is bounded.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "protocol/codec.hpp"
#include "server/listener.hpp"
#include "server/options.hpp"
#include "server/ws_test_client.hpp"
#include "token/token.hpp"

namespace relink::server {
namespace {

using namespace std::chrono_literals;
using test::WsTestClient;

std::shared_ptr<spdlog::logger> quiet_logger() {
    return std::make_shared<spdlog::logger>("embedded", std::make_shared<spdlog::sinks::null_sink_mt>());
}

Options embedded_options() {
    Options options;
    options.listen = {"127.0.0.1", 0};
    options.apps = {{"app", "secret"}};
    options.threads = 2;
    options.time_scale = 0.1;
    return options;
}

class EmbeddedServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "relink-embedded-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    /// Connects and logs in `user` with the server's own certificate as the only trusted CA.
    std::unique_ptr<WsTestClient> logged_in(const Server& server, const std::string& user) {
        const auto ca = dir_ / "ca.pem";
        std::ofstream(ca) << server.certificate_pem();
        WsTestClient::Config config;
        config.port = server.port();
        config.ca_file = ca.string();
        std::string error;
        auto client = WsTestClient::connect(config, error);
        EXPECT_TRUE(client) << error;
        if (!client) {
            return nullptr;
        }
        proto::Login login;
        login.request_id = 1;
        login.app_id = "app";
        login.user_id = user;
        const auto now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
        login.token = token::mint({"app", user, now.count() + 600, {}}, "secret");
        login.instance_id = "instance-" + user;
        login.profile = Profile::rtm;
        client->send(login);
        EXPECT_TRUE(client->next_of<proto::LoginOk>(5s)) << user << " was not logged in";
        return client;
    }

    std::filesystem::path dir_;
};

TEST_F(EmbeddedServerTest, ServesAtItsUrlWithItsCertificateAndDrainsOnRequest) {
    std::string error;
    auto server = Server::start(embedded_options(), quiet_logger(), error);
    ASSERT_TRUE(server) << error;
    EXPECT_TRUE(error.empty());
    EXPECT_EQ(server->url(), "wss://127.0.0.1:" + std::to_string(server->port()) + "/");
    EXPECT_NE(server->port(), 0);
    EXPECT_TRUE(server->admin_url().empty()) << "no admin API unless asked for";
    EXPECT_NE(server->certificate_pem().find("-----BEGIN CERTIFICATE-----"), std::string::npos);

    auto alice = logged_in(*server, "alice");
    auto bob = logged_in(*server, "bob");
    ASSERT_TRUE(alice && bob);

    const auto drain_started = std::chrono::steady_clock::now();
    server->drain();
    for (auto* client : {alice.get(), bob.get()}) {
        const auto close = client->next_of<proto::Close>(5s);
        ASSERT_TRUE(close) << "no Close from the draining server";
        EXPECT_EQ(close->reason, proto::CloseReason::draining);
    }
    alice.reset();  // the clients go; the server then has nothing left and stops
    bob.reset();
    std::thread waiter([&] { server->wait(); });
    waiter.join();
    EXPECT_LT(std::chrono::steady_clock::now() - drain_started, 5s) << "a drain ends within 5 s";
}

TEST_F(EmbeddedServerTest, DestructorStopsPromptlyWithClientsConnected) {
    std::string error;
    auto server = Server::start(embedded_options(), quiet_logger(), error);
    ASSERT_TRUE(server) << error;
    auto alice = logged_in(*server, "alice");
    ASSERT_TRUE(alice);
    const auto start = std::chrono::steady_clock::now();
    server.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_TRUE(alice->wait_closed(5s)) << "the client saw its connection end";
}

TEST_F(EmbeddedServerTest, ConnectionsThatShareAStrandServeEachOther) {
    // The connections' strands come from a pool of 64 per io thread, handed out in turn: with one io thread the
    // 65th connection gets the first one's strand. The two then talk to each other through the hub, each
    // message delivered to the strand its sender runs on, and both are drained.
    Options options = embedded_options();
    options.threads = 1;
    std::string error;
    auto server = Server::start(options, quiet_logger(), error);
    ASSERT_TRUE(server) << error;
    auto alice = logged_in(*server, "alice");
    ASSERT_TRUE(alice);
    const auto ca = dir_ / "ca.pem";
    WsTestClient::Config config;
    config.port = server->port();
    config.ca_file = ca.string();
    for (int i = 0; i < 63; ++i) {  // accepted, upgraded, then gone: each took the next strand of the pool
        ASSERT_TRUE(WsTestClient::connect(config, error)) << error;
    }
    auto bob = logged_in(*server, "bob");
    ASSERT_TRUE(bob);

    proto::RequestId request_id = 10;
    auto send_and_receive = [&](WsTestClient& from, WsTestClient& to, const std::string& to_user) {
        proto::SendMessage m;
        m.request_id = ++request_id;
        m.message_id = "m" + std::to_string(request_id);
        m.to_user = to_user;
        m.payload = "over a shared strand";
        from.send(m);
        const auto got = to.next_of<proto::Message>(5s);
        ASSERT_TRUE(got) << to_user << " got no message";
        EXPECT_EQ(got->payload, "over a shared strand");
    };
    send_and_receive(*alice, *bob, "bob");
    send_and_receive(*bob, *alice, "alice");

    server->drain();
    for (auto* client : {alice.get(), bob.get()}) {
        const auto close = client->next_of<proto::Close>(5s);
        ASSERT_TRUE(close) << "no Close from the draining server";
        EXPECT_EQ(close->reason, proto::CloseReason::draining);
        EXPECT_TRUE(client->wait_closed(5s));
    }
}

TEST_F(EmbeddedServerTest, AnUnusableConfigurationIsOneLineNotAServer) {
    std::string error;
    auto first = Server::start(embedded_options(), quiet_logger(), error);
    ASSERT_TRUE(first) << error;
    Options taken = embedded_options();
    taken.listen.port = first->port();  // the address is in use
    auto second = Server::start(taken, quiet_logger(), error);
    EXPECT_FALSE(second);
    EXPECT_NE(error.find("cannot listen on 127.0.0.1:" + std::to_string(first->port())), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << "one line";

    Options missing = embedded_options();
    missing.cert_file = (dir_ / "no-such-cert.pem").string();
    missing.key_file = (dir_ / "no-such-key.pem").string();
    EXPECT_FALSE(Server::start(missing, quiet_logger(), error));
    EXPECT_NE(error.find("cannot load --cert"), std::string::npos) << error;
}

}  // namespace
}  // namespace relink::server
