// The C example (examples/c/chat.c, two users in one process over librelink.so) run as a user runs it, against an
// embedded relinkd behind the fault proxy: both log in and join, a line typed is delivered, the proxy resets every
// connection and refuses new ones for a while, both go RECONNECTING and come back CONNECTED, and lines typed during
// and after the outage arrive. Every wait is bounded; the child is killed if still running at the end.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "../support/bin_dir.hpp"
#include "../support/child_process.hpp"
#include "example_server.hpp"
#include "faultproxy/fault_proxy.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kOutputTimeout = 20s;  // generous: a sanitizer build on a busy machine

class CExampleTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(embedded_.started());
        proxy_ = std::make_unique<faultproxy::FaultProxy>("127.0.0.1", embedded_.server().port());
    }

    static std::string token_for(const std::string& user) { return ExampleServer::token_for(user); }

    ExampleServer embedded_{"c-example-test"};
    std::unique_ptr<faultproxy::FaultProxy> proxy_;  // after the server: destroyed before it
};

TEST_F(CExampleTest, ChatsAndSurvivesAnOutageBehindTheFaultProxy) {
    ChildSpec spec;
    spec.argv = {built_program("relink-example-c-chat"),
                 "wss://127.0.0.1:" + std::to_string(proxy_->port()) + "/",
                 "app",
                 token_for("alice"),
                 token_for("bob"),
                 embedded_.ca_file(),
                 "lobby"};
    spec.environment = {"RELINK_TIME_SCALE=0.1"};
    spec.stdin_pipe = true;
    std::string error;
    auto chat = ChildProcess::start(std::move(spec), &error);
    ASSERT_TRUE(chat) << error;

    ASSERT_TRUE(chat->wait_for_output("[alice] channel lobby JOINED", kOutputTimeout)) << chat->output();
    ASSERT_TRUE(chat->wait_for_output("[bob] channel lobby JOINED", kOutputTimeout)) << chat->output();
    ASSERT_TRUE(chat->write("before the outage\n"));
    ASSERT_TRUE(chat->wait_for_output("[bob] message from alice in lobby: before the outage", kOutputTimeout))
        << chat->output();
    ASSERT_TRUE(chat->wait_for_output("[alice] send #1: OK", kOutputTimeout)) << chat->output();

    // The outage: every connection reset, new ones refused, until both clients noticed.
    const auto before_outage = chat->output().size();
    proxy_->set_mode(faultproxy::Mode::refuse);
    proxy_->reset_all();
    ASSERT_TRUE(chat->wait_for_output("[alice] state RECONNECTING", kOutputTimeout)) << chat->output();
    ASSERT_TRUE(chat->wait_for_output("[bob] state RECONNECTING", kOutputTimeout)) << chat->output();
    ASSERT_TRUE(chat->write("during the outage\n"));  // queued by the SDK, sent after the reconnect
    proxy_->set_mode(faultproxy::Mode::pass);

    ASSERT_TRUE(chat->wait_for_output("[bob] message from alice in lobby: during the outage", kOutputTimeout))
        << chat->output();
    ASSERT_TRUE(chat->write("after the outage\n"));
    ASSERT_TRUE(chat->wait_for_output("[bob] message from alice in lobby: after the outage", kOutputTimeout))
        << chat->output();
    // In order: RECONNECTING, then CONNECTED again, for both; the messages after it.
    const std::string after = chat->output().substr(before_outage);
    for (const std::string who : {"[alice]", "[bob]"}) {
        const auto reconnecting = after.find(who + " state RECONNECTING");
        const auto connected = after.find(who + " state CONNECTED", reconnecting);
        ASSERT_NE(reconnecting, std::string::npos) << after;
        ASSERT_NE(connected, std::string::npos) << who << " did not come back:\n" << after;
        EXPECT_LT(connected, after.find("[bob] message from alice in lobby: after the outage")) << after;
    }
    EXPECT_NE(after.find("[alice] back after"), std::string::npos) << after;

    chat->close_stdin();
    ASSERT_TRUE(chat->read_to_end(kOutputTimeout)) << chat->output();
    EXPECT_EQ(chat->wait_exit(5s), 0) << chat->output();
    EXPECT_NE(chat->output().find("[alice] state DISCONNECTED (LOGOUT)"), std::string::npos) << chat->output();
    EXPECT_NE(chat->output().find("[chat] bye"), std::string::npos) << chat->output();
}

}  // namespace
}  // namespace relink::test
