// T-ROOM of behaviour.md section 3 (seed 004): per-room state, all three reconnect cases, and the room reasons
// with their error codes, exactly on the virtual clock.
//
// Set-up: one-way latency 50 ms, room profile (presence 90 s, give-up 5 min). UID2 logs in at 0 ms and joins "r";
// UID1 logs in at 1000 ms and joins "r" (JOINED at 1300 ms). Pongs reach UID1 at 2300, 3300, ... ms; the link dies
// right after the pong at T3 = 10300 ms.
#include "harness.hpp"

namespace relink::test {
namespace {

class TRoom : public ::testing::Test {
protected:
    void SetUp() override {
        world.add_client("UID2", exact_config(Profile::room, 2));
        world.add_client("UID1", exact_config(Profile::room, 1));
        login_and_join(world, "UID2", "r");
        world.run_until(at_ms(1000));
        login_and_join(world, "UID1", "r");
    }

    TimePoint break_link() {
        EXPECT_TRUE(world.run_until([&] { return world.last_received("UID1") >= at_ms(10'000); }, at_ms(12'000)));
        world.set_link("UID1", LinkMode::blackhole);
        return world.now();
    }

    [[nodiscard]] std::vector<std::string> uid2_members(TimePoint from) const {
        return timeline(
            world,
            [](const sim::Record& r) {
                return r.client == "UID2" && (std::holds_alternative<core::MemberJoined>(r.event) ||
                                              std::holds_alternative<core::MemberLeft>(r.event));
            },
            from);
    }

    World world;
};

TEST_F(TRoom, JoinReportsJoiningThenJoined) {
    const std::vector<std::string> want{
        "1000 UID1 state CONNECTING LOGIN", "1200 UID1 state CONNECTED LOGIN_SUCCESS", "1200 UID1 channel r JOINING",
        "1300 UID1 channel r JOINED",       "1300 UID1 member_joined r UID2",
    };
    EXPECT_EQ(timeline(world, only("UID1")), want) << joined(timeline(world, only("UID1")));
}

TEST_F(TRoom, Case1BackWithin90SecondsPeersSeeNothing) {
    const TimePoint t3 = break_link();
    ASSERT_EQ(t3, at_ms(10'300));
    world.run_until(t3 + 60s);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 100s);

    const auto attempts = attempts_of(world, "UID1", t3 + 60s);
    ASSERT_FALSE(attempts.empty());
    const std::string t = ms_text(attempts.front() + 200ms);
    const std::vector<std::string> want{
        "14300 UID1 state RECONNECTING INTERRUPTED",
        "14300 UID1 channel r REJOINING NETWORK_INTERRUPTED",  // [1000017]
        t + " UID1 state CONNECTED REJOIN_SUCCESS",
        t + " UID1 rejoin_success",
        t + " UID1 channel r REJOINED",
        t + " UID1 continuity outage=" + ms_text(attempts.front() + 200ms - (t3 - TimePoint{})) +
            "ms resumed=true backfilled=0 dropped=0",
    };
    EXPECT_EQ(timeline(world, only("UID1"), t3), want) << joined(timeline(world, only("UID1"), t3));
    EXPECT_TRUE(uid2_members(t3).empty()) << joined(uid2_members(t3));
}

TEST_F(TRoom, Case2BackAfter90SecondsPeersSeeLeaveThenJoin) {
    const TimePoint t3 = break_link();
    world.run_until(t3 + 120s);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 200s);

    const auto attempts = attempts_of(world, "UID1", t3 + 120s);
    ASSERT_FALSE(attempts.empty());
    const std::string rejoined = ms_text(attempts.front() + 200ms);
    const std::vector<std::string> peer{
        "100300 UID2 member_left r UID1 DROPPED",  // T3 + 90 s
        rejoined + " UID2 member_joined r UID1",   // with UID1's REJOINED (the seed: ≈ 100 ms after it)
    };
    EXPECT_EQ(uid2_members(t3), peer) << joined(uid2_members(t3));
    const auto channel = events_of<core::ChannelStateChanged>(world, "UID1");
    ASSERT_FALSE(channel.empty());
    EXPECT_EQ(channel.back().second.reason, ChannelReason::rejoined);
    EXPECT_EQ(ms_text(channel.back().first), rejoined);
}

TEST_F(TRoom, Case3NotBackWithin5MinutesFailsAndStopsRetrying) {
    const TimePoint t3 = break_link();
    world.run_until(t3 + 1h);
    const std::vector<std::string> want{
        "14300 UID1 state RECONNECTING INTERRUPTED", "14300 UID1 channel r REJOINING NETWORK_INTERRUPTED",
        "314300 UID1 state FAILED JOIN_FAILED",                 // T4 + 5 min
        "314300 UID1 channel r REJOIN_FAILED NETWORK_TIMEOUT",  // [1002053]
    };
    EXPECT_EQ(timeline(world, only("UID1"), t3), want) << joined(timeline(world, only("UID1"), t3));
    EXPECT_EQ(uid2_members(t3), std::vector<std::string>{"100300 UID2 member_left r UID1 DROPPED"});
    EXPECT_TRUE(attempts_of(world, "UID1", at_ms(314'300)).empty());
}

TEST_F(TRoom, ChannelOperationsOnlyInJoinedOrRejoined) {
    const TimePoint t3 = break_link();
    world.run_until(t3 + 5s);  // REJOINING
    auto& uid1 = world.client("UID1");
    EXPECT_EQ(uid1.publish(world.now(), "r", "cam").error, make_error_code(errc::not_joined));
    EXPECT_EQ(uid1.send_channel_message(world.now(), "r", "hi").error, make_error_code(errc::not_joined));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 30s);
    ASSERT_EQ(uid1.channel_state("r"), ChannelState::connected);  // REJOINED
    EXPECT_TRUE(uid1.publish(world.now(), "r", "cam"));
}

TEST_F(TRoom, LoginTimeoutFailsThePendingRoomWithNetworkTimeout) {
    world.add_client("UID3", exact_config(Profile::room, 3));
    world.set_link("UID3", LinkMode::blackhole);
    ASSERT_FALSE(world.call("UID3", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID3", "valid"); }));
    ASSERT_FALSE(world.call("UID3", [](core::ClientCore& c, TimePoint now) { return c.join(now, "r"); }));
    const TimePoint start = world.now();
    world.run_until(start + 60s);
    const std::string t0 = ms_text(start);
    const std::string t12 = ms_text(start + 12s);
    const std::vector<std::string> want{
        t0 + " UID3 state CONNECTING LOGIN", t0 + " UID3 channel r JOINING",
        t12 + " UID3 state DISCONNECTED LOGIN_TIMEOUT",
        t12 + " UID3 channel r JOIN_FAILED NETWORK_TIMEOUT",  // [1002053]
    };
    EXPECT_EQ(timeline(world, only("UID3")), want) << joined(timeline(world, only("UID3")));
}

TEST_F(TRoom, KickedOutByDuplicateUserAndByTheServer) {
    world.add_client("UID1-other", exact_config(Profile::room, 3));
    world.run_until(at_ms(5000));
    ASSERT_FALSE(
        world.call("UID1-other", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(6000));
    const std::vector<std::string> duplicate{"5200 UID1 state ABORTED REMOTE_LOGIN",
                                             "5200 UID1 channel r KICKED_OUT REMOTE_LOGIN"};  // [1002050]
    EXPECT_EQ(timeline(world, only("UID1"), at_ms(5000)), duplicate);

    world.server_kick("UID2", /*ban=*/false);
    world.run_until(at_ms(7000));
    const std::vector<std::string> kicked{"6050 UID2 state ABORTED BANNED_BY_SERVER",
                                          "6050 UID2 channel r KICKED_OUT BANNED_BY_SERVER"};  // [1002055]
    EXPECT_EQ(timeline(world, only("UID2"), at_ms(6000)), kicked) << joined(timeline(world, only("UID2"), at_ms(6000)));
}

TEST_F(TRoom, LeaveSwitchAndLeaveFailed) {
    world.run_until(at_ms(5000));
    ASSERT_FALSE(
        world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.switch_channel(now, "r", "r2"); }));
    world.run_until(at_ms(5500));
    EXPECT_EQ(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.leave(now, "nope"); }),
              make_error_code(errc::unknown_channel));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.leave(now, "r2"); }));
    world.run_until(at_ms(6000));
    const std::vector<std::string> want{
        "5000 UID1 channel r LEFT",    "5000 UID1 channel r2 JOINING",
        "5100 UID1 channel r2 JOINED", "5500 UID1 channel nope LEAVE_FAILED UNKNOWN_CHANNEL",
        "5500 UID1 channel r2 LEFT",
    };
    EXPECT_EQ(timeline(world, only("UID1"), at_ms(5000)), want) << joined(timeline(world, only("UID1"), at_ms(5000)));
    EXPECT_EQ(uid2_members(at_ms(5000)), std::vector<std::string>{"5100 UID2 member_left r UID1 QUIT"});
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);  // room: leaving rooms keeps the login
}

}  // namespace
}  // namespace relink::test
