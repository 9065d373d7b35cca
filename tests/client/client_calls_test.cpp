// relink::Client's session calls against a real relinkd: a call that cannot work fails at once with a clear code
// (behaviour.md section 6), with no race against the calls before it (a leave() right after a join() is fine),
// and the rtc join() with a bad channel name fails the session it would start (FAILED, INVALID_CHANNEL_NAME).
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "relink/client.hpp"
#include "support/relinkd_process.hpp"
#include "token/token.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;

class ClientCallsTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "relink-calls-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        server_ = Relinkd::start(dir_);
        ASSERT_TRUE(server_);
    }
    void TearDown() override {
        client_.reset();
        if (server_) {
            EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
        }
        std::filesystem::remove_all(dir_);
    }

    Client& make(Profile profile) {
        ClientConfig c;
        c.url = server_->url();
        c.app_id = "app";
        c.user_id = "alice";
        const auto now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
        c.token = token::mint({"app", "alice", now.count() + 3600, {}}, "secret");
        c.tls.ca_file = server_->ca_file();
        c.tls.use_system_store = false;
        c.profile = profile;
        c.log_level = LogLevel::off;
        client_ = std::make_unique<Client>(c);
        client_->on_event([this](const Event& e) {
            std::lock_guard lock(mutex_);
            events_.push_back(e);
            changed_.notify_all();
        });
        return *client_;
    }

    bool wait_state(ConnectionState state, std::optional<ConnectionReason> reason = std::nullopt) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 10s, [&] {
            for (const auto& e : events_) {
                const auto* c = std::get_if<ConnectionStateChanged>(&e);
                if (c != nullptr && c->state == state && (!reason || c->reason == *reason)) {
                    return true;
                }
            }
            return false;
        });
    }
    bool wait_channel(const std::string& channel, ChannelState state, std::optional<ChannelReason> reason) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 10s, [&] {
            for (const auto& e : events_) {
                const auto* c = std::get_if<ChannelStateChanged>(&e);
                if (c != nullptr && c->channel == channel && c->state == state && (!reason || c->reason == *reason)) {
                    return true;
                }
            }
            return false;
        });
    }
    void clear_events() {
        std::lock_guard lock(mutex_);
        events_.clear();
    }

    std::filesystem::path dir_;
    std::unique_ptr<Relinkd> server_;
    std::unique_ptr<Client> client_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Event> events_;
};

TEST_F(ClientCallsTest, ChannelCallsThatCannotWorkFailAtOnce) {
    Client& client = make(Profile::rtm);
    EXPECT_EQ(client.join("lobby"), make_error_code(errc::not_logged_in));
    EXPECT_EQ(client.leave("lobby"), make_error_code(errc::not_logged_in));
    EXPECT_EQ(client.switch_channel("lobby", "hall"), make_error_code(errc::not_logged_in));

    ASSERT_FALSE(client.login());
    ASSERT_FALSE(client.join("lobby"));
    EXPECT_EQ(client.channel_state("lobby"), ChannelState::connecting) << "the call moves the mirror at once";
    EXPECT_EQ(client.join("lobby"), make_error_code(errc::already_joined)) << "a second join of a pending channel";
    EXPECT_EQ(client.join("bad/name"), make_error_code(errc::invalid_channel_name));
    ASSERT_TRUE(wait_state(ConnectionState::connected));
    ASSERT_TRUE(wait_channel("lobby", ChannelState::connected, std::nullopt));
    EXPECT_EQ(client.join("lobby"), make_error_code(errc::already_joined));

    // No race: leave() right after join(), before the server has answered.
    ASSERT_FALSE(client.join("hall"));
    EXPECT_FALSE(client.leave("hall"));
    ASSERT_TRUE(wait_channel("hall", ChannelState::disconnected, ChannelReason::left));

    // A channel never joined: refused at once, and reported as a failed leave (the room seeds' LeaveFailed).
    EXPECT_EQ(client.leave("attic"), make_error_code(errc::unknown_channel));
    EXPECT_TRUE(wait_channel("attic", ChannelState::disconnected, ChannelReason::leave_failed));

    EXPECT_EQ(client.switch_channel("attic", "cellar"), make_error_code(errc::not_joined));
    EXPECT_EQ(client.switch_channel("lobby", "lobby"), make_error_code(errc::already_joined));
    EXPECT_EQ(client.switch_channel("lobby", "bad/name"), make_error_code(errc::invalid_channel_name));
    ASSERT_FALSE(client.switch_channel("lobby", "cellar"));
    EXPECT_TRUE(wait_channel("cellar", ChannelState::connected, std::nullopt));
    EXPECT_TRUE(wait_channel("lobby", ChannelState::disconnected, ChannelReason::left));
    EXPECT_FALSE(client.channel_state("lobby"));

    ASSERT_FALSE(client.logout());
    ASSERT_TRUE(wait_state(ConnectionState::disconnected, ConnectionReason::logout));
    EXPECT_FALSE(client.channel_state("cellar")) << "no channel outlives the session";
    // A new session starts with no channel: joining the old one again works.
    clear_events();
    ASSERT_FALSE(client.login());
    ASSERT_FALSE(client.join("cellar"));
    EXPECT_TRUE(wait_channel("cellar", ChannelState::connected, std::nullopt));
}

TEST_F(ClientCallsTest, RtcJoinWithABadChannelNameFailsTheSessionItWouldStart) {
    Client& client = make(Profile::rtc);
    EXPECT_EQ(client.join("bad/name"), make_error_code(errc::invalid_channel_name));
    ASSERT_TRUE(wait_state(ConnectionState::failed, ConnectionReason::invalid_channel_name))
        << "the vendors' joinChannel with a bad name fails the session";
    // In FAILED, join() is refused until leave() has ended the failed session.
    EXPECT_EQ(client.join("room"), make_error_code(errc::not_logged_in));
    clear_events();
    EXPECT_FALSE(client.leave("bad/name"));
    ASSERT_TRUE(wait_state(ConnectionState::disconnected));
    ASSERT_FALSE(client.join("room"));
    EXPECT_TRUE(wait_state(ConnectionState::connected));

    // The rtc seed: joinChannel while already in the channel fails the session, and the call fails at once.
    clear_events();
    EXPECT_EQ(client.join("room"), make_error_code(errc::already_joined));
    EXPECT_TRUE(wait_state(ConnectionState::failed, ConnectionReason::rejected_by_server));
}

}  // namespace
}  // namespace relink::test
