// T-RTM of behaviour.md section 3 (seed 000), every row, exactly on the virtual clock; with R-RTM-3/4/5/8/9.
//
// Set-up: one-way latency 50 ms. UID2 logs in at 0 ms and joins "ch" once connected (200 ms); UID1 logs in at
// 1000 ms, is CONNECTED at 1200 ms and joins "ch" (JOINED at 1300 ms). UID1 then pings 1 s after each send, so
// pongs reach it at 2300, 3300, ... ms. break_link() blackholes UID1 right after the first pong at or after a
// given time: that instant is T3, the last data UID1 received; the server last heard UID1 50 ms earlier.
#include "harness.hpp"

namespace relink::test {
namespace {

class TRtm : public ::testing::Test {
protected:
    void SetUp() override {
        world.add_client("UID2", exact_config(Profile::rtm, 2));
        world.add_client("UID1", exact_config(Profile::rtm, 1));
        ASSERT_FALSE(
            world.call("UID2", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID2", "valid"); }));
        world.run_until(at_ms(200));
        ASSERT_FALSE(world.call("UID2", [](core::ClientCore& c, TimePoint now) { return c.join(now, "ch"); }));
        world.run_until(at_ms(1000));
    }

    void login_uid1(const std::string& token = "valid") {
        ASSERT_FALSE(
            world.call("UID1", [&](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", token); }));
        world.run_until(at_ms(1200));
        ASSERT_EQ(world.client("UID1").state(), ConnectionState::connected);
        ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.join(now, "ch"); }));
        world.run_until(at_ms(1300));
        ASSERT_EQ(world.client("UID1").channel_state("ch"), ChannelState::connected);
    }

    /// Blackholes UID1 right after the first frame it receives at or after `after_ms`; returns T3.
    TimePoint break_link(long long after_ms) {
        EXPECT_TRUE(
            world.run_until([&] { return world.last_received("UID1") >= at_ms(after_ms); }, at_ms(after_ms + 2000)));
        world.set_link("UID1", LinkMode::blackhole);
        return world.now();
    }

    void say(const std::string& who, const std::string& channel, const std::string& text) {
        ASSERT_TRUE(world.call(
            who, [&](core::ClientCore& c, TimePoint now) { return c.send_channel_message(now, channel, text); }));
    }

    [[nodiscard]] std::vector<std::string> uid1_since(TimePoint from) const {
        return timeline(world, only("UID1"), from);
    }

    [[nodiscard]] std::vector<std::string> member_events_of(const std::string& client, TimePoint from) const {
        return timeline(
            world,
            [&](const sim::Record& r) {
                return r.client == client && (std::holds_alternative<core::MemberJoined>(r.event) ||
                                              std::holds_alternative<core::MemberLeft>(r.event));
            },
            from);
    }

    World world;
};

TEST_F(TRtm, LoginGoesConnectingThenConnected) {
    login_uid1();
    const std::vector<std::string> want{
        "1000 UID1 state CONNECTING LOGIN", "1200 UID1 state CONNECTED LOGIN_SUCCESS", "1200 UID1 channel ch JOINING",
        "1300 UID1 channel ch JOINED",      "1300 UID1 member_joined ch UID2",
    };
    EXPECT_EQ(uid1_since(at_ms(0)), want) << joined(uid1_since(at_ms(0)));
    EXPECT_EQ(member_events_of("UID2", at_ms(1000)), std::vector<std::string>{"1300 UID2 member_joined ch UID1"});
}

TEST_F(TRtm, RefusedLoginDisconnectsWithoutRetry) {
    sim::HubServerConfig config;
    config.refused_users = {"UID1"};
    World refusing(config);
    refusing.add_client("UID1", exact_config(Profile::rtm));
    ASSERT_FALSE(
        refusing.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    refusing.run_until(at_ms(3'600'000));
    const std::vector<std::string> want{"0 UID1 state CONNECTING LOGIN", "200 UID1 state DISCONNECTED LOGIN_FAILURE"};
    EXPECT_EQ(timeline(refusing), want) << joined(timeline(refusing));
    EXPECT_EQ(attempts_of(refusing, "UID1").size(), 1U);  // the SDK does not retry
}

TEST_F(TRtm, RejectedLoginFailsWithoutRetry) {
    sim::HubServerConfig config;
    config.rejected_users = {"UID1"};
    World rejecting(config);
    rejecting.add_client("UID1", exact_config(Profile::rtm));
    ASSERT_FALSE(
        rejecting.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    rejecting.run_until(at_ms(3'600'000));
    const std::vector<std::string> want{"0 UID1 state CONNECTING LOGIN", "200 UID1 state FAILED REJECTED_BY_SERVER"};
    EXPECT_EQ(timeline(rejecting), want) << joined(timeline(rejecting));
    EXPECT_EQ(attempts_of(rejecting, "UID1").size(), 1U);  // fatal: the SDK does not retry
}

TEST_F(TRtm, InvalidTokenDisconnectsWithoutRetry) {
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "forged"); }));
    world.run_until(at_ms(3'600'000));
    const std::vector<std::string> want{"1000 UID1 state CONNECTING LOGIN",
                                        "1200 UID1 state DISCONNECTED INVALID_TOKEN"};
    EXPECT_EQ(uid1_since(at_ms(0)), want) << joined(uid1_since(at_ms(0)));
    EXPECT_EQ(attempts_of(world, "UID1").size(), 1U);
}

TEST_F(TRtm, LoginTimesOutAfter12SecondsWithoutRetry) {
    world.set_link("UID1", LinkMode::blackhole);
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(3'600'000));
    const std::vector<std::string> want{"1000 UID1 state CONNECTING LOGIN",
                                        "13000 UID1 state DISCONNECTED LOGIN_TIMEOUT"};
    EXPECT_EQ(uid1_since(at_ms(0)), want) << joined(uid1_since(at_ms(0)));
    // Within the login timeout a hanging connection is retried (5 s attempt timeout; the 300 ms / 480 ms delays
    // count from each attempt's start and have passed, so each retry follows at once, jitter off); after it, never.
    const std::vector<TimePoint> attempts{at_ms(1000), at_ms(6000), at_ms(11'000)};
    EXPECT_EQ(attempts_of(world, "UID1"), attempts);
}

TEST_F(TRtm, SilentLinkReconnectsAfter4SecondsAndRetriesForever) {
    login_uid1();
    const TimePoint t3 = break_link(10'000);
    EXPECT_EQ(t3, at_ms(10'300));
    world.run_until(t3 + std::chrono::hours(3));
    const std::vector<std::string> want{"14300 UID1 state RECONNECTING INTERRUPTED",
                                        "14300 UID1 channel ch REJOINING NETWORK_INTERRUPTED"};
    EXPECT_EQ(uid1_since(t3), want) << joined(uid1_since(t3));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::reconnecting);
    // Still trying in the third hour, at the capped backoff: attempts start 8 s apart (the delay counts from the
    // previous attempt's start; each hangs for the 5 s attempt timeout inside it): 3600 / 8 = 450.
    const auto late = attempts_of(world, "UID1", t3 + std::chrono::hours(2));
    EXPECT_GE(late.size(), 449U);
    EXPECT_LE(late.size(), 451U);
}

TEST_F(TRtm, BackWithin30SecondsIsSilentForPeersAndBackfills) {
    login_uid1();
    const TimePoint t3 = break_link(10'000);  // 10300
    world.run_until(t3 + 1000ms);
    say("UID2", "ch", "c1");
    world.run_until(t3 + 2000ms);
    say("UID2", "ch", "c2");
    world.run_until(t3 + 3000ms);
    ASSERT_TRUE(
        world.call("UID2", [](core::ClientCore& c, TimePoint now) { return c.send_peer_message(now, "UID1", "p1"); }));
    world.run_until(t3 + 12'000ms);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 60'000ms);

    // Attempts at T4 + 0.3 s and T4 + 5.3 s hang in the blackhole (the link is back at 22300 ms, while the second
    // hangs: the simulated blackhole holds an attempt until its timeout); the third, at 24600 ms, gets through.
    const std::vector<std::string> want{
        "14300 UID1 state RECONNECTING INTERRUPTED",
        "14300 UID1 channel ch REJOINING NETWORK_INTERRUPTED",
        "24800 UID1 state CONNECTED LOGIN_SUCCESS",
        "24800 UID1 channel ch REJOINED",
        "24800 UID1 continuity outage=14500ms resumed=true backfilled=3 dropped=0",
        "24800 UID1 message UID2 @peer p1 backfilled",
        "24800 UID1 message UID2 #ch c1 backfilled",
        "24800 UID1 message UID2 #ch c2 backfilled",
    };
    EXPECT_EQ(uid1_since(t3), want) << joined(uid1_since(t3));
    EXPECT_TRUE(member_events_of("UID2", t3).empty()) << joined(member_events_of("UID2", t3));
    EXPECT_EQ(world.server().members("ch"), (std::set<std::string>{"UID1", "UID2"}));
}

TEST_F(TRtm, BackAfter30SecondsRejoinsResetsAttributesAndBackfillsTheWindow) {
    login_uid1();
    ASSERT_TRUE(world.call("UID1", [](core::ClientCore& c, TimePoint now) {
        return c.set_local_user_attributes(now, {{"mood", "ok"}});
    }));
    const TimePoint t3 = break_link(10'000);  // 10400: the attribute request moved the heartbeat phase
    EXPECT_EQ(t3, at_ms(10'400));
    // Ten messages long before the reconnect, then forty within its last 30 s.
    for (int i = 1; i <= 10; ++i) {
        world.run_until(t3 + std::chrono::seconds(i));
        say("UID2", "ch", "old" + std::to_string(i));
    }
    for (int i = 1; i <= 40; ++i) {
        world.run_until(t3 + 35'000ms + i * 250ms);
        say("UID2", "ch", "new" + std::to_string(i));
    }
    world.run_until(t3 + 45'000ms);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 120'000ms);

    const auto attempts = attempts_of(world, "UID1", t3 + 45'000ms);
    ASSERT_FALSE(attempts.empty());
    const TimePoint back = attempts.front() + 200ms;
    const std::string t = ms_text(back);
    std::vector<std::string> want{
        "14400 UID1 state RECONNECTING INTERRUPTED",
        "14400 UID1 channel ch REJOINING NETWORK_INTERRUPTED",
        t + " UID1 state CONNECTED LOGIN_SUCCESS",
        t + " UID1 channel ch REJOINED",
        t + " UID1 continuity outage=" + ms_text(back - (t3 - TimePoint{})) +
            "ms resumed=false backfilled=32 dropped=18",
    };
    for (int i = 9; i <= 40; ++i) {  // the newest 32 of the window
        want.push_back(t + " UID1 message UID2 #ch new" + std::to_string(i) + " backfilled");
    }
    EXPECT_EQ(uid1_since(t3), want) << joined(uid1_since(t3));

    // UID2: member_left at T3 + 30 s (presence timeout), member_joined once UID1's rejoin reached the server.
    const std::vector<std::string> peer{"40400 UID2 member_left ch UID1 DROPPED", t + " UID2 member_joined ch UID1"};
    EXPECT_EQ(member_events_of("UID2", t3), peer) << joined(member_events_of("UID2", t3));

    // The SDK re-set UID1's attributes on the rejoin (R-RTM-8).
    const auto op =
        world.call("UID2", [](core::ClientCore& c, TimePoint now) { return c.get_user_attributes(now, "UID1"); });
    ASSERT_TRUE(op);
    world.run_for(1s);
    const auto done = events_of<core::OperationCompleted>(world, "UID2");
    ASSERT_FALSE(done.empty());
    EXPECT_EQ(done.back().second.op, op.op);
    EXPECT_FALSE(done.back().second.error);
    EXPECT_EQ(done.back().second.attributes, (proto::Attributes{{"mood", "ok"}}));
}

// The driver's token provider hands a token to the attempt being opened (use_token_for_next_login): unlike
// renew_token() it starts nothing — no operation, no RENEW_TOKEN reconnect — so a driver that asks the provider on
// every OpenTransport cannot loop; the next scheduled attempt logs in with it.
TEST_F(TRtm, ATokenForTheNextLoginStartsNothingAndTheNextAttemptUsesIt) {
    login_uid1("exp=61200");
    break_link(35'000);
    world.run_until(at_ms(70'000));
    world.set_link("UID1", LinkMode::pass);  // back, but the token is expired: every login is refused
    world.run_until(at_ms(90'000));
    ASSERT_EQ(world.client("UID1").state(), ConnectionState::reconnecting);
    const auto attempts_before = attempts_of(world, "UID1", at_ms(0)).size();
    world.client("UID1").use_token_for_next_login("valid");
    // Nothing happens at once: no operation completes and no attempt starts before the backoff says so.
    EXPECT_FALSE(world.client("UID1").poll_action());
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(0)).size(), attempts_before);
    world.run_until(at_ms(120'000));

    const auto lines = timeline(
        world,
        [](const sim::Record& r) {
            return r.client == "UID1" && !std::holds_alternative<core::ChannelStateChanged>(r.event) &&
                   !std::holds_alternative<core::MessageReceived>(r.event) &&
                   !std::holds_alternative<core::ContinuityReport>(r.event);
        },
        at_ms(90'000));
    ASSERT_EQ(lines.size(), 1U) << joined(lines);
    EXPECT_NE(lines[0].find("state CONNECTED LOGIN_SUCCESS"), std::string::npos) << lines[0];
    // At the next scheduled attempt, within the backoff cap (8 s ± 20 %) and the attempt itself.
    EXPECT_LE(std::stoi(lines[0]), 90'000 + 9'600 + 200) << lines[0];
}

TEST_F(TRtm, TokenExpiringWhileReconnectingKeepsTheStateAndRenewResumes) {
    login_uid1("exp=61200");
    const TimePoint t3 = break_link(35'000);  // 35300
    world.run_until(at_ms(70'000));
    world.set_link("UID1", LinkMode::pass);  // back, but the token is expired: every login is refused
    world.run_until(at_ms(90'000));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::reconnecting);
    ASSERT_TRUE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.renew_token(now, "valid"); }));
    world.run_until(at_ms(120'000));

    const auto lines = timeline(
        world,
        [](const sim::Record& r) {
            return r.client == "UID1" && !std::holds_alternative<core::OperationCompleted>(r.event) &&
                   !std::holds_alternative<core::ChannelStateChanged>(r.event) &&
                   !std::holds_alternative<core::MessageReceived>(r.event);
        },
        at_ms(2000));
    const std::vector<std::string> want{
        // The client counts the token's lifetime from when it sent the login (1100 ms), so its events come at
        // most one one-way latency early, never late: expiry 61200 ms as the server sees it, 61150 ms here.
        "31150 UID1 token_privilege_will_expire",  // 30 s before expiry, while connected
        "39300 UID1 state RECONNECTING INTERRUPTED",
        "61150 UID1 token_expired",  // R-RTM-9: the state does not change
        "90000 UID1 state RECONNECTING RENEW_TOKEN",
        "90200 UID1 state CONNECTED LOGIN_SUCCESS",
        "90200 UID1 continuity outage=" + ms_text(at_ms(90'200) - (t3 - TimePoint{})) +
            "ms resumed=false backfilled=0 dropped=0",
    };
    EXPECT_EQ(lines, want) << joined(lines);
    // Between the link's return and the renewal it kept retrying (each attempt refused for the token).
    EXPECT_GE(attempts_of(world, "UID1", at_ms(70'000)).size(), 3U);
}

TEST_F(TRtm, SameUserOnAnotherInstanceAbortsAndIsNeverRetried) {
    login_uid1();
    world.add_client("UID1-other", exact_config(Profile::rtm, 3));
    world.run_until(at_ms(5000));
    ASSERT_FALSE(
        world.call("UID1-other", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(3'600'000));

    // The other instance's login reaches the server at 5150 ms; the kick reaches UID1 at 5200 ms.
    const std::vector<std::string> want{"5200 UID1 state ABORTED REMOTE_LOGIN",
                                        "5200 UID1 channel ch KICKED_OUT REMOTE_LOGIN"};
    EXPECT_EQ(uid1_since(at_ms(5000)), want) << joined(uid1_since(at_ms(5000)));
    EXPECT_EQ(world.client("UID1-other").state(), ConnectionState::connected);
    EXPECT_TRUE(attempts_of(world, "UID1", at_ms(5000)).empty());  // never logs in again by itself

    // Every call that needs a login fails at once.
    auto& uid1 = world.client("UID1");
    const TimePoint now = world.now();
    EXPECT_EQ(uid1.send_peer_message(now, "UID2", "x").error, make_error_code(errc::not_logged_in));
    EXPECT_EQ(uid1.send_channel_message(now, "ch", "x").error, make_error_code(errc::not_logged_in));
    EXPECT_EQ(uid1.join(now, "ch"), make_error_code(errc::not_logged_in));
    EXPECT_EQ(uid1.login(now, "UID1", "valid"), make_error_code(errc::already_logged_in));
    EXPECT_FALSE(uid1.logout(now));
    EXPECT_EQ(uid1.state(), ConnectionState::disconnected);
}

TEST_F(TRtm, LogoutDisconnectsAndPeersSeeQuitAtOnce) {
    login_uid1();
    world.run_until(at_ms(5000));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    world.run_until(at_ms(10'000));
    const std::vector<std::string> want{"5000 UID1 state DISCONNECTED LOGOUT", "5000 UID1 channel ch LEFT"};
    EXPECT_EQ(uid1_since(at_ms(5000)), want) << joined(uid1_since(at_ms(5000)));
    EXPECT_EQ(member_events_of("UID2", at_ms(5000)), std::vector<std::string>{"5100 UID2 member_left ch UID1 QUIT"});
    EXPECT_FALSE(world.client("UID1").next_deadline().has_value());
}

}  // namespace
}  // namespace relink::test
