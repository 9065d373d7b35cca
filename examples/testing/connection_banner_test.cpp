// The example app's tests: its connection banner (connection_banner.hpp) driven by a real relink::Client on
// relink::testing::World, through every connection state and reason of the rtm profile the app uses. Each scenario
// brings the client where the real world would (a dead network, a kick, a token that expires, ...), on a virtual
// clock: the whole suite takes milliseconds and never touches a socket.
#include "connection_banner.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <relink/error.hpp>
#include <relink/testing.hpp>

namespace banner_app {
namespace {

using namespace std::chrono_literals;
using relink::ConnectionReason;
using relink::ConnectionState;
using relink::testing::Network;
using relink::testing::World;

using StateAndReason = std::pair<ConnectionState, ConnectionReason>;

/// Every (state, reason) any test of this file showed the user: the last test checks that they are all of the
/// profile's.
std::set<StateAndReason>& shown_by_all_tests() {
    static std::set<StateAndReason> shown;
    return shown;
}

/// The app's client and banner in a world, as the app makes them (with the world's server instead of its own).
class BannerTest : public ::testing::Test {
protected:
    explicit BannerTest(relink::testing::WorldOptions options = {}) : world(std::move(options)) {}

    void make(relink::ClientConfig config = {}) {
        config.user_id = "alice";
        config.profile = relink::Profile::rtm;
        config.seed = 1;  // a fixed backoff jitter: the same timeline on every run
        client = world.make_client(std::move(config));
        banner = std::make_unique<ConnectionBanner>(*client);
        // Beside the banner's own handler: every change it was given, for the coverage check.
        client->on_event([this](const relink::Event& event) {
            if (const auto* change = std::get_if<relink::ConnectionStateChanged>(&event)) {
                shown.emplace_back(change->state, change->reason);
                shown_by_all_tests().emplace(change->state, change->reason);
            }
        });
    }

    void log_in() {
        if (!client) {
            make();
        }
        ASSERT_FALSE(client->login());
        ASSERT_TRUE(world.advance_until([&] { return banner->state() == ConnectionState::connected; }, 2s));
    }

    /// Lets time pass until the banner shows `state` (at most `limit`).
    bool until(ConnectionState state, std::chrono::milliseconds limit = 20s) {
        return world.advance_until([&] { return banner->state() == state; }, limit);
    }

    World world;
    std::unique_ptr<relink::Client> client;
    std::unique_ptr<ConnectionBanner> banner;
    std::vector<StateAndReason> shown;  ///< this test's changes, in order
};

TEST_F(BannerTest, StartsOfflineWithASignInButton) {
    make();
    EXPECT_EQ(banner->text(), "Offline");
    EXPECT_EQ(banner->action(), Action::sign_in);
}

TEST_F(BannerTest, ConnectingThenOnline) {
    make();
    ASSERT_FALSE(client->login());
    world.advance(1ms);  // the callbacks of the call run here, on this thread
    EXPECT_EQ(banner->text(), "Connecting…");
    EXPECT_EQ(banner->reason(), ConnectionReason::login);
    world.advance(1s);
    EXPECT_EQ(banner->text(), "Online");
    EXPECT_EQ(banner->tone(), Tone::hidden);
    EXPECT_EQ(banner->reason(), ConnectionReason::login_success);
}

TEST_F(BannerTest, SignedOut) {
    log_in();
    ASSERT_FALSE(client->logout());
    world.advance(1ms);
    EXPECT_EQ(banner->text(), "Offline");
    EXPECT_EQ(banner->reason(), ConnectionReason::logout);
}

TEST_F(BannerTest, NoNetworkAtSignInTimesOutWithARetryButton) {
    make();
    world.blackhole();
    ASSERT_FALSE(client->login());
    ASSERT_TRUE(until(ConnectionState::disconnected));
    EXPECT_EQ(world.now(), 12s);  // the login timeout, exactly
    EXPECT_EQ(banner->reason(), ConnectionReason::login_timeout);
    EXPECT_EQ(banner->action(), Action::retry);
}

TEST_F(BannerTest, ARefusedSignIn) {
    make();
    world.refuse_logins("alice", relink::make_error_code(relink::errc::login_failure));
    ASSERT_FALSE(client->login());
    ASSERT_TRUE(until(ConnectionState::disconnected));
    EXPECT_EQ(banner->reason(), ConnectionReason::login_failure);
    EXPECT_EQ(banner->text(), "Sign-in failed. Try again.");
}

TEST_F(BannerTest, AnInvalidTokenAsksToSignInAgain) {
    relink::ClientConfig config;
    config.token = World::invalid_token();
    make(config);
    ASSERT_FALSE(client->login());
    ASSERT_TRUE(until(ConnectionState::disconnected));
    EXPECT_EQ(banner->reason(), ConnectionReason::invalid_token);
    EXPECT_EQ(banner->action(), Action::sign_in_again);
}

TEST_F(BannerTest, ADeadNetworkShowsReconnectingAfterTheSilenceAndClearsWhenItReturns) {
    log_in();
    world.blackhole();
    world.advance(2s);
    EXPECT_EQ(banner->text(), "Online");  // 2 s of silence is not an outage yet
    ASSERT_TRUE(until(ConnectionState::reconnecting, 3s));
    EXPECT_EQ(banner->reason(), ConnectionReason::interrupted);
    EXPECT_EQ(banner->tone(), Tone::warning);
    world.restore();
    ASSERT_TRUE(until(ConnectionState::connected));
    EXPECT_EQ(banner->tone(), Tone::hidden);
}

TEST_F(BannerTest, ANetworkChangeOnALiveLinkShowsNothing) {
    log_in();
    client->notify_network_changed();  // the client checks the link at once: it answers
    world.advance(5s);
    EXPECT_EQ(banner->text(), "Online");
    EXPECT_EQ(banner->tone(), Tone::hidden);
}

TEST_F(BannerTest, ANetworkChangeOnADeadLinkReconnectsAtOnce) {
    log_in();
    world.blackhole();
    client->notify_network_changed();  // the client checks the link at once: the old network loses the check ...
    world.advance(100ms);
    world.restore();                                            // ... and the new one works
    ASSERT_TRUE(until(ConnectionState::reconnecting, 1500ms));  // no answer: the link is dead within about a second
    EXPECT_EQ(banner->reason(), ConnectionReason::client_ip_address_changed);
    EXPECT_EQ(banner->text(), "Network changed. Reconnecting…");
    ASSERT_TRUE(until(ConnectionState::connected, 1s));
}

TEST_F(BannerTest, AProxyChangeReconnectsAtOnce) {
    log_in();
    client->set_proxy(relink::ProxyOptions{"proxy.example.com", 3128});
    world.advance(1ms);
    EXPECT_EQ(banner->reason(), ConnectionReason::setting_proxy_server);
    ASSERT_TRUE(until(ConnectionState::connected, 1s));
}

class BannerKeepAliveTest : public BannerTest {
protected:
    BannerKeepAliveTest() : BannerTest(options()) {}
    static relink::testing::WorldOptions options() {
        relink::testing::WorldOptions o;
        o.keep_alive_timeout = 3s;  // the server notices before the client's own silence timer (4 s)
        return o;
    }
};

TEST_F(BannerKeepAliveTest, AServerThatStopsHearingUs) {
    log_in();
    world.set_network(Network::outbound_lost);
    ASSERT_TRUE(until(ConnectionState::reconnecting, 5s));
    EXPECT_EQ(banner->reason(), ConnectionReason::keep_alive_timeout);
    world.restore();
    ASSERT_TRUE(until(ConnectionState::connected, 15s));
}

TEST_F(BannerTest, AnExpiredTokenIsRenewedAfterABlipAndTheBannerSaysSo) {
    relink::ClientConfig config;
    config.token = world.token_valid_for(40s);
    make(config);
    bool expired = false;
    client->on_token_expired([&](const relink::TokenExpired&) { expired = true; });
    log_in();
    ASSERT_TRUE(world.advance_until([&] { return expired; }, 60s));
    // An rtm session outlives its token, until the link blinks: the reconnect needs a valid token.
    world.reset();
    ASSERT_TRUE(until(ConnectionState::reconnecting, 30s));  // the refused attempts go on until the app renews
    ASSERT_FALSE(client->renew_token(world.token_valid_for(1h)));
    world.advance(1ms);
    EXPECT_EQ(banner->reason(), ConnectionReason::renew_token);
    EXPECT_EQ(banner->text(), "Signing you back in…");
    ASSERT_TRUE(until(ConnectionState::connected, 5s));
}

TEST_F(BannerTest, SignedInOnAnotherDevice) {
    log_in();
    relink::ClientConfig other;
    other.user_id = "alice";
    auto second = world.make_client(other);
    ASSERT_FALSE(second->login());
    ASSERT_TRUE(until(ConnectionState::aborted, 2s));
    EXPECT_EQ(banner->reason(), ConnectionReason::remote_login);
    EXPECT_EQ(banner->action(), Action::sign_in_again);
}

TEST_F(BannerTest, KickedByAnAdministrator) {
    log_in();
    world.kick("alice");
    ASSERT_TRUE(until(ConnectionState::aborted, 2s));
    EXPECT_EQ(banner->reason(), ConnectionReason::banned_by_server);
    EXPECT_EQ(banner->action(), Action::contact_support);
}

TEST_F(BannerTest, AnAppIdTheServerNoLongerKnowsAsksForAnUpdate) {
    relink::ClientConfig config;
    config.app_id = "retired-app-id";
    make(config);
    ASSERT_FALSE(client->login());
    ASSERT_TRUE(until(ConnectionState::failed, 2s));
    EXPECT_EQ(banner->reason(), ConnectionReason::invalid_app_id);
    EXPECT_EQ(banner->action(), Action::update_app);
}

TEST_F(BannerTest, RejectedByTheServer) {
    make();
    world.refuse_logins("alice", relink::make_error_code(relink::errc::rejected_by_server));
    ASSERT_FALSE(client->login());
    ASSERT_TRUE(until(ConnectionState::failed, 2s));
    EXPECT_EQ(banner->reason(), ConnectionReason::rejected_by_server);
}

TEST_F(BannerTest, RefusedForAChannelName) {
    make();
    world.refuse_logins("alice", relink::make_error_code(relink::errc::invalid_channel_name));
    ASSERT_FALSE(client->login());
    ASSERT_TRUE(until(ConnectionState::failed, 2s));
    EXPECT_EQ(banner->reason(), ConnectionReason::invalid_channel_name);
    EXPECT_EQ(banner->text(), "The server refused the sign-in.");
}

TEST_F(BannerTest, TheServerRestartingIsInvisibleOnceTheClientIsBack) {
    log_in();
    std::vector<relink::ContinuityReport> reports;
    client->on_continuity([&](const relink::ContinuityReport& r) { reports.push_back(r); });
    world.restart_server();
    world.advance(10s);
    EXPECT_EQ(banner->text(), "Online");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].server_restarted);  // the app would resync its history here
}

TEST_F(BannerTest, ARollingDeployIsInvisible) {
    log_in();
    const std::size_t before = shown.size();
    world.drain(2s);
    world.advance(5s);
    EXPECT_EQ(shown.size(), before);  // the client moved to the replacement without a state change
    EXPECT_EQ(banner->text(), "Online");
}

/// Every (state, reason) the rtm profile reports has been shown by one of the tests above. Runs last; when only some
/// tests run (--gtest_filter), it has nothing to check.
TEST(BannerCoverage, EveryStateAndReasonOfTheRtmProfileWasShown) {
    using S = ConnectionState;
    using R = ConnectionReason;
    const std::set<StateAndReason> rtm{
        {S::connecting, R::login},
        {S::connected, R::login_success},
        {S::disconnected, R::logout},
        {S::disconnected, R::login_timeout},
        {S::disconnected, R::login_failure},
        {S::disconnected, R::invalid_token},
        {S::reconnecting, R::interrupted},
        {S::reconnecting, R::client_ip_address_changed},
        {S::reconnecting, R::setting_proxy_server},
        {S::reconnecting, R::keep_alive_timeout},
        {S::reconnecting, R::renew_token},
        {S::aborted, R::remote_login},
        {S::aborted, R::banned_by_server},
        {S::failed, R::invalid_app_id},
        {S::failed, R::invalid_channel_name},
        {S::failed, R::rejected_by_server},
    };
    const auto& run = *::testing::UnitTest::GetInstance();
    if (run.test_to_run_count() != run.total_test_count()) {
        GTEST_SKIP() << "run the whole suite to check the coverage";
    }
    EXPECT_EQ(shown_by_all_tests(), rtm);  // relink/testing.hpp has GoogleTest print states and reasons by name
}

}  // namespace
}  // namespace banner_app
