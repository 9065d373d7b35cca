// T-RTC-WEB of behaviour.md section 3 (seed 001), exactly on the virtual clock.
//
// Set-up: one-way latency 50 ms. UID2 joins "ch" at 0 ms; UID1 joins at T0 = 1000 ms (CONNECTED at 1200 ms) and
// publishes "cam" at T3 = 2000 ms. UID1 then pings 1 s after each send, so pongs reach it at 3100, 4100, ... ms;
// the link dies right after the pong at T5 = 5100 ms (the server last heard UID1 at 5050 ms).
#include "harness.hpp"

namespace relink::test {
namespace {

class TRtcWeb : public ::testing::Test {
protected:
    void SetUp() override {
        world.add_client("UID2", exact_config(Profile::rtc_web, 2));
        world.add_client("UID1", exact_config(Profile::rtc_web, 1));
        ASSERT_FALSE(world.call(
            "UID2", [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID2", "valid", "ch"); }));
        world.run_until(at_ms(1000));
        ASSERT_FALSE(world.call(
            "UID1", [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID1", "valid", "ch"); }));
        world.run_until(at_ms(2000));
        ASSERT_TRUE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.publish(now, "ch", "cam"); }));
    }

    TimePoint break_link(long long after_ms) {
        EXPECT_TRUE(
            world.run_until([&] { return world.last_received("UID1") >= at_ms(after_ms); }, at_ms(after_ms + 2000)));
        world.set_link("UID1", LinkMode::blackhole);
        return world.now();
    }

    [[nodiscard]] std::vector<std::string> lines_from(TimePoint from) const {
        return timeline(
            world, [](const sim::Record& r) { return !std::holds_alternative<core::OperationCompleted>(r.event); },
            from);
    }

    World world;
};

TEST_F(TRtcWeb, OutageShowsConnectingAndPeersSeeStreamsAndPresenceGoThenReturn) {
    const TimePoint t5 = break_link(5000);
    ASSERT_EQ(t5, at_ms(5100));
    world.run_until(at_ms(20'000));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(40'000));

    // Attempts at T5 + 4.3 s, T5 + 9.3 s and T5 + 14.3 s hang in the blackhole (the link is back at 20 s, while the
    // third hangs: the simulated blackhole holds an attempt until its 5 s timeout); the one at 24400 ms gets through.
    const std::vector<std::string> want{
        "1000 UID1 state CONNECTING CONNECTING",  // T0
        "1000 UID1 channel ch JOINING",
        "1200 UID2 member_joined ch UID1",         // T2 (peer_online)
        "1200 UID1 state CONNECTED JOIN_SUCCESS",  // T1
        "1200 UID1 channel ch JOINED",
        "1200 UID1 join_success ch",
        "1200 UID1 member_joined ch UID2",
        "2100 UID2 stream_added ch UID1 cam",      // T4 = T3 + one-way latency
        "9100 UID1 state CONNECTING INTERRUPTED",  // T5 + 4 s: this profile never shows RECONNECTING
        "9100 UID1 channel ch REJOINING NETWORK_INTERRUPTED",
        "15100 UID2 stream_removed ch UID1 cam",   // T5 + 10 s: streams first ...
        "15100 UID2 member_left ch UID1 DROPPED",  // ... then peer_leave
        "24600 UID2 member_joined ch UID1",        // link back: peer_online ...
        "24600 UID2 stream_added ch UID1 cam",     // ... and the stream, republished by the SDK
        "24600 UID1 state CONNECTED REJOIN_SUCCESS",
        "24600 UID1 rejoin_success",
        "24600 UID1 channel ch REJOINED",
        "24600 UID1 continuity outage=19500ms resumed=false backfilled=0 dropped=0",
    };
    EXPECT_EQ(lines_from(at_ms(1000)), want) << joined(lines_from(at_ms(1000)));
    EXPECT_TRUE(events_of<core::ConnectionStateChanged>(world, "UID1").size() == 4U);
}

TEST_F(TRtcWeb, LeaveGoesThroughDisconnecting) {
    world.run_until(at_ms(5000));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.leave(now, "ch"); }));
    world.run_until(at_ms(6000));
    const std::vector<std::string> want{
        "5000 UID1 state DISCONNECTING LEAVE_CHANNEL", "5000 UID1 channel ch LEFT",
        "5100 UID1 state DISCONNECTED LEAVE_CHANNEL",  // the server's acknowledgement, one RTT later
        "5100 UID2 stream_removed ch UID1 cam",        "5100 UID2 member_left ch UID1 QUIT",
    };
    EXPECT_EQ(lines_from(at_ms(5000)), want) << joined(lines_from(at_ms(5000)));
}

TEST_F(TRtcWeb, LeaveWithoutAnAcknowledgementEndsAfterTheLeaveTimeout) {
    const TimePoint t5 = break_link(5000);
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.leave(now, "ch"); }));
    world.run_until(t5 + 10'000ms);
    const std::vector<std::string> want{
        "5100 UID1 state DISCONNECTING LEAVE_CHANNEL", "5100 UID1 channel ch LEFT",
        "7100 UID1 state DISCONNECTED LEAVE_CHANNEL",  // leave_timeout = 2 s
    };
    EXPECT_EQ(timeline(world, only("UID1"), t5), want) << joined(timeline(world, only("UID1"), t5));
    EXPECT_FALSE(world.client("UID1").next_deadline().has_value());
}

}  // namespace
}  // namespace relink::test
