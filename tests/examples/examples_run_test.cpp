// The examples, run as a user runs them, against an embedded relinkd (server::Server) on loopback with its
// self-signed certificate: `minimal` (arguments from argv, and from the environment) shows CONNECTED, the joined
// channel and a message another client sends; `chat` shows presence and messages, sends the lines typed into it,
// and leaves on /quit. The demo's command line is checked too (--help, bad arguments). Every wait is bounded; a
// child still running at the end is killed.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "../support/bin_dir.hpp"
#include "../support/child_process.hpp"
#include "example_server.hpp"
#include "relink/client.hpp"
#include "server/listener.hpp"
#include "server/options.hpp"
#include "token/token.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kOutputTimeout = 20s;  // generous: a sanitizer build on a busy machine

/// Starts an example program as a user runs it: input typed into a pipe, stdout and stderr read from one pipe,
/// `environment` ("NAME=VALUE") added to ours.
std::unique_ptr<ChildProcess> start_example(const std::string& program, const std::vector<std::string>& args,
                                            const std::vector<std::string>& environment = {}) {
    ChildSpec spec;
    spec.argv.push_back(program);
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.environment = environment;
    spec.stdin_pipe = true;
    std::string error;
    auto child = ChildProcess::start(std::move(spec), &error);
    if (!child) {
        throw std::runtime_error("cannot start " + program + ": " + error);
    }
    return child;
}

/// Another member of the channel, as a test-side relink::Client: what it was told, with bounded waits.
class Peer {
public:
    explicit Peer(const ClientConfig& config) : client_(config) {
        client_.on_event([this](const Event& event) {
            std::lock_guard lock(mutex_);
            if (const auto* m = std::get_if<MessageReceived>(&event)) {
                seen_.push_back("message from " + m->from + ": " + m->payload);
            } else if (const auto* j = std::get_if<MemberJoined>(&event)) {
                seen_.push_back("joined " + j->user_id);
            } else if (const auto* l = std::get_if<MemberLeft>(&event)) {
                seen_.push_back("left " + l->user_id + " " + std::string(to_string(l->cause)));
            } else if (const auto* c = std::get_if<ChannelStateChanged>(&event)) {
                seen_.push_back("channel " + c->channel + " " + std::string(to_string(c->reason)));
            }
            changed_.notify_all();
        });
    }

    Client& client() { return client_; }

    bool wait_for(const std::string& what, std::chrono::milliseconds timeout = kOutputTimeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout,
                                 [&] { return std::find(seen_.begin(), seen_.end(), what) != seen_.end(); });
    }

    std::string seen() {
        std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& s : seen_) {
            out += "  " + s + "\n";
        }
        return out;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> seen_;
    Client client_;  // last: destroyed first, so that no callback reaches the members above once they are gone
};

class ExamplesTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(embedded_.started()); }

    static std::string token_for(const std::string& user) { return ExampleServer::token_for(user); }

    ClientConfig peer_config(const std::string& user) const {
        ClientConfig c;
        c.url = embedded_.url();
        c.app_id = "app";
        c.user_id = user;
        c.token = token_for(user);
        c.tls.ca_file = embedded_.ca_file();
        c.tls.use_system_store = false;
        c.log_level = LogLevel::off;
        return c;
    }

    std::unique_ptr<Peer> peer_in(const std::string& user, const std::string& channel) {
        auto peer = std::make_unique<Peer>(peer_config(user));
        EXPECT_FALSE(peer->client().login());
        EXPECT_FALSE(peer->client().join(channel));
        EXPECT_TRUE(peer->wait_for("channel " + channel + " JOINED")) << peer->seen();
        return peer;
    }

    /// URL APP_ID USER_ID TOKEN CA_FILE CHANNEL, the examples' arguments.
    std::vector<std::string> arguments(const std::string& user, const std::string& channel) const {
        return {embedded_.url(), "app", user, token_for(user), embedded_.ca_file(), channel};
    }

    ExampleServer embedded_{"examples-test"};
};

TEST_F(ExamplesTest, MinimalLogsInJoinsAndPrintsStateChangesAndMessages) {
    auto minimal = start_example(built_program("relink-example-minimal"), arguments("alice", "lobby"));
    EXPECT_TRUE(minimal->wait_for_output("connection CONNECTING (LOGIN)", kOutputTimeout)) << minimal->output();
    EXPECT_TRUE(minimal->wait_for_output("connection CONNECTED (LOGIN_SUCCESS)", kOutputTimeout)) << minimal->output();
    ASSERT_TRUE(minimal->wait_for_output("channel lobby CONNECTED (JOINED)", kOutputTimeout)) << minimal->output();

    auto bob = peer_in("bob", "lobby");
    ASSERT_TRUE(bob->wait_for("joined alice")) << bob->seen();
    ASSERT_FALSE(bob->client().send_channel_message("lobby", "hello minimal"));
    EXPECT_TRUE(minimal->wait_for_output("message from bob: hello minimal", kOutputTimeout)) << minimal->output();

    minimal->close_stdin();  // "until Enter or end of input"
    EXPECT_EQ(minimal->wait_exit(kOutputTimeout), 0) << minimal->output();
    EXPECT_TRUE(bob->wait_for("left alice QUIT")) << "minimal's client logged out as it ended\n" << bob->seen();
}

TEST_F(ExamplesTest, MinimalTakesItsSettingsFromTheEnvironment) {
    const auto args = arguments("carol", "env-channel");
    auto minimal = start_example(built_program("relink-example-minimal"), {},
                                 {"RELINK_URL=" + args[0], "RELINK_APP_ID=" + args[1], "RELINK_USER_ID=" + args[2],
                                  "RELINK_TOKEN=" + args[3], "RELINK_CA_FILE=" + args[4], "RELINK_CHANNEL=" + args[5]});
    EXPECT_TRUE(minimal->wait_for_output("connection CONNECTED (LOGIN_SUCCESS)", kOutputTimeout)) << minimal->output();
    EXPECT_TRUE(minimal->wait_for_output("channel env-channel CONNECTED (JOINED)", kOutputTimeout))
        << minimal->output();
    minimal->close_stdin();
    EXPECT_EQ(minimal->wait_exit(kOutputTimeout), 0) << minimal->output();
}

TEST_F(ExamplesTest, MinimalShowsARefusedLogin) {
    auto args = arguments("dave", "lobby");
    args[3] = token_for("someone-else");  // a token for another user
    auto minimal = start_example(built_program("relink-example-minimal"), args);
    EXPECT_TRUE(minimal->wait_for_output("connection DISCONNECTED (INVALID_TOKEN)", kOutputTimeout))
        << minimal->output();
    minimal->close_stdin();
    EXPECT_EQ(minimal->wait_exit(kOutputTimeout), 0) << minimal->output();
}

TEST_F(ExamplesTest, ChatSendsWhatIsTypedAndShowsPresenceAndMessages) {
    auto bob = peer_in("bob", "lobby");
    auto chat = start_example(built_program("relink-example-chat"), arguments("alice", "lobby"));
    ASSERT_TRUE(chat->wait_for_output("* connected as alice", kOutputTimeout)) << chat->output();
    ASSERT_TRUE(chat->wait_for_output("* you are in #lobby", kOutputTimeout)) << chat->output();
    EXPECT_TRUE(chat->wait_for_output("* bob is here", kOutputTimeout)) << chat->output();
    ASSERT_TRUE(bob->wait_for("joined alice")) << bob->seen();

    ASSERT_TRUE(chat->write("hello from the chat example\n"));
    EXPECT_TRUE(bob->wait_for("message from alice: hello from the chat example")) << bob->seen();
    ASSERT_FALSE(bob->client().send_channel_message("lobby", "hi alice"));
    EXPECT_TRUE(chat->wait_for_output("<bob> hi alice", kOutputTimeout)) << chat->output();
    ASSERT_FALSE(bob->client().send_peer_message("alice", "just for you"));
    EXPECT_TRUE(chat->wait_for_output("[private] <bob> just for you", kOutputTimeout)) << chat->output();
    ASSERT_TRUE(chat->write("/msg bob and back to you\n"));
    EXPECT_TRUE(bob->wait_for("message from alice: and back to you")) << bob->seen();
    ASSERT_TRUE(chat->write("/who\n"));
    EXPECT_TRUE(chat->wait_for_output("* here with you: bob", kOutputTimeout)) << chat->output();

    ASSERT_TRUE(chat->write("/quit\n"));
    EXPECT_EQ(chat->wait_exit(kOutputTimeout), 0) << chat->output();
    EXPECT_TRUE(bob->wait_for("left alice QUIT")) << bob->seen();
}

TEST_F(ExamplesTest, ChatWithoutItsSettingsPrintsItsUsage) {
    auto chat =
        start_example(built_program("relink-example-chat"), {}, {"RELINK_APP_ID=", "RELINK_USER_ID=", "RELINK_TOKEN="});
    EXPECT_EQ(chat->wait_exit(kOutputTimeout), 2) << chat->output();
    EXPECT_NE(chat->output().find("usage: relink-example-chat URL APP_ID USER_ID TOKEN"), std::string::npos)
        << chat->output();
}

TEST(DemoCommandLine, HelpListAndBadArguments) {
    {
        auto demo = start_example(built_program("relink-demo"), {"--help"});
        EXPECT_EQ(demo->wait_exit(kOutputTimeout), 0);
        for (const char* flag : {"--out DIR", "--only", "--stretch", "--list", "Exit status"}) {
            EXPECT_NE(demo->output().find(flag), std::string::npos) << flag << " in\n" << demo->output();
        }
    }
    {
        auto demo = start_example(built_program("relink-demo"), {"--list"});
        EXPECT_EQ(demo->wait_exit(kOutputTimeout), 0);
        for (const char* name : {"rtc-outage", "rtc-failed", "rtm-short-outage", "rtm-long-outage",
                                 "rtm-duplicate-login", "cluster-node-killed"}) {
            EXPECT_NE(demo->output().find(name), std::string::npos) << name << " in\n" << demo->output();
        }
    }
    for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
             {"--bogus"}, {"--only", "no-such-scenario"}, {"--stretch", "0"}, {"--stretch", "x"}, {"--out"}}) {
        auto demo = start_example(built_program("relink-demo"), bad);
        EXPECT_EQ(demo->wait_exit(kOutputTimeout), 2) << bad[0] << ": " << demo->output();
        EXPECT_NE(demo->output().find("relink-demo: "), std::string::npos) << demo->output();
    }
}

// One scenario of the demo, for real, as `make demo` runs it (at a third of its speed: a sanitizer build on a busy
// machine keeps within the real-time tolerances): only that scenario is played, it matches the spec, and the files it
// names at the end are there.
TEST(DemoCommandLine, PlaysTheChosenScenarioAndWritesItsPictures) {
    std::string pattern = (std::filesystem::temp_directory_path() / "relink-demo-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    const std::filesystem::path dir = pattern;
    auto demo = start_example(built_program("relink-demo"),
                              {"--only", "rtm-duplicate-login", "--stretch", "3", "--out", dir.string()});
    EXPECT_EQ(demo->wait_exit(60s), 0) << demo->output();
    EXPECT_NE(demo->output().find("1 scenario(s)"), std::string::npos) << demo->output();
    EXPECT_EQ(demo->output().find("rtc-outage"), std::string::npos) << "only the chosen scenario\n" << demo->output();
    EXPECT_NE(demo->output().find("  picture: " + (dir / "timeline.svg").string()), std::string::npos)
        << demo->output();
    for (const char* file : {"timeline.svg", "rtm-duplicate-login.svg", "index.html", "timeline.txt"}) {
        EXPECT_GT(std::filesystem::file_size(dir / file), 100U) << file;
    }
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace relink::test
