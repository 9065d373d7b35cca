// T-RTC of behaviour.md section 3 (seeds 002, 003), reproduced exactly on the virtual clock.
//
// Set-up shared by every case: one-way latency 50 ms for both clients, so a connection takes one RTT to open and
// one RTT to log in. UID2 joins "ch" at 0 ms; UID1 calls join() at T0 = 1000 ms. UID1 sends a heartbeat 1 s after
// its last send and the server answers at once, so pongs reach UID1 at T0 + 1200, T0 + 2200, ... ms. The link is
// blackholed right after the pong at T0 + 5200 ms: T3 = 6200 ms is the last data UID1 received, and the server
// last heard UID1's ping at T3 − 50 ms, so UID2 hears of the drop at exactly T3 + 20 s.
#include "harness.hpp"

namespace relink::test {
namespace {

constexpr long long kT0 = 1000;
constexpr long long kT3 = 6200;
constexpr long long kT4 = kT3 + 4000;
constexpr long long kT5 = kT4 + 10'000;
constexpr long long kT6 = kT3 + 20'000;
constexpr long long kT7 = kT4 + 20 * 60'000;

class TRtc : public ::testing::Test {
protected:
    void SetUp() override {
        world.add_client("UID2", exact_config(Profile::rtc, 2));
        world.add_client("UID1", exact_config(Profile::rtc, 1));
        world.call("UID2",
                   [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID2", "valid", "ch"); });
        world.run_until(at_ms(kT0));
        ASSERT_FALSE(world.call(
            "UID1", [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID1", "valid", "ch"); }));
        world.run_until(at_ms(kT3));
        world.set_link("UID1", LinkMode::blackhole);
    }

    [[nodiscard]] std::vector<std::string> since_t0() const { return timeline(world, {}, at_ms(kT0)); }

    World world;
};

TEST_F(TRtc, NetworkBreaksAndNeverComesBack) {
    world.run_until(at_ms(kT7 + 60 * 60'000));  // one more hour after T7

    const std::vector<std::string> want{
        "1000 UID1 state CONNECTING CONNECTING",  // T0: join() called
        "1000 UID1 channel ch JOINING",
        // T2: the server told UID2 when UID1's login reached it, so with equal latencies UID2 hears of UID1 at
        // the same instant as UID1's own CONNECTED arrives (T2 = T1; the seed's "≈ T1 + one-way delay").
        "1200 UID2 member_joined ch UID1",
        "1200 UID1 state CONNECTED JOIN_SUCCESS",  // T1 = T0 + open (1 RTT) + login (1 RTT)
        "1200 UID1 channel ch JOINED",
        "1200 UID1 join_success ch",
        "1200 UID1 member_joined ch UID2",
        "10200 UID1 state RECONNECTING INTERRUPTED",  // T4 = T3 + 4 s
        "10200 UID1 channel ch REJOINING NETWORK_INTERRUPTED",
        "20200 UID1 connection_lost",  // T5 = T4 + 10 s
        "20200 UID1 state RECONNECTING LOST",
        "26200 UID2 member_left ch UID1 DROPPED",  // T6 = T3 + 20 s
        "1210200 UID1 state FAILED JOIN_FAILED",   // T7 = T4 + 20 min
        "1210200 UID1 channel ch REJOIN_FAILED NETWORK_TIMEOUT",
    };
    EXPECT_EQ(since_t0(), want) << joined(since_t0());
    EXPECT_EQ(kT4, 10200);
    EXPECT_EQ(kT5, 20200);
    EXPECT_EQ(kT6, 26200);
    EXPECT_EQ(kT7, 1210200);

    // No more reconnect attempts after T7 (the last one started before it).
    EXPECT_TRUE(attempts_of(world, "UID1", at_ms(kT7)).empty());
    // Until then it kept trying: the last attempt started within one attempt timeout plus the largest backoff
    // delay (5 s + 8 s) before T7.
    const auto attempts = attempts_of(world, "UID1", at_ms(kT4));
    ASSERT_FALSE(attempts.empty());
    EXPECT_GE(attempts.back(), at_ms(kT7 - 13'000));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::failed);
    EXPECT_FALSE(world.client("UID1").next_deadline().has_value());
}

TEST_F(TRtc, StateEventsCarrySequenceAttemptAndNextRetry) {
    world.run_until(at_ms(kT5));
    const auto changes = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_EQ(changes.size(), 4U);
    for (std::size_t i = 0; i < changes.size(); ++i) {
        EXPECT_EQ(changes[i].second.seq, i + 1);
    }
    // INTERRUPTED: nothing tried yet (the link went silent, it did not fail), first retry after the first
    // backoff delay (300 ms, jitter off).
    EXPECT_EQ(changes[2].second.attempt, 0U);
    EXPECT_EQ(changes[2].second.next_retry, 300ms);
    // LOST at T4 + 10 s: attempt 1 at T4 + 0.3 s hung for the 5 s attempt timeout, longer than the next delay
    // (480 ms), so attempt 2 started when it was abandoned, at T4 + 5.3 s, and is still hanging: no retry is
    // scheduled.
    EXPECT_EQ(changes[3].second.attempt, 2U);
    EXPECT_EQ(changes[3].second.next_retry, 0ms);
    const auto attempts = attempts_of(world, "UID1", at_ms(kT3));
    ASSERT_EQ(attempts.size(), 2U);
    EXPECT_EQ(attempts[0], at_ms(kT4 + 300));
    EXPECT_EQ(attempts[1], at_ms(kT4 + 300 + 5000));
}

TEST_F(TRtc, LinkBackBeforeT6IsInvisibleToPeers) {
    world.run_until(at_ms(kT3 + 12'000));  // between T4 and T6
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(kT3 + 60'000));

    // Attempts: T4+0.3 (hangs, times out at T4+5.3), T4+5.3 (hangs until T4+10.3), T4+10.3: the link is back.
    const long long rejoin = kT4 + 300 + 5000 + 5000 + 200;
    const std::vector<std::string> want{
        "10200 UID1 state RECONNECTING INTERRUPTED",
        "10200 UID1 channel ch REJOINING NETWORK_INTERRUPTED",
        "20200 UID1 connection_lost",
        "20200 UID1 state RECONNECTING LOST",
        std::to_string(rejoin) + " UID1 state CONNECTED REJOIN_SUCCESS",
        std::to_string(rejoin) + " UID1 rejoin_success",
        std::to_string(rejoin) + " UID1 channel ch REJOINED",
        std::to_string(rejoin) + " UID1 continuity outage=" + std::to_string(rejoin - kT3) +
            "ms resumed=true backfilled=0 dropped=0",
    };
    EXPECT_EQ(timeline(world, {}, at_ms(kT3)), want) << joined(timeline(world, {}, at_ms(kT3)));
    EXPECT_LT(rejoin, kT6);
}

TEST_F(TRtc, LinkBackAfterT6RejoinsAndPeersSeeTheUserAgain) {
    world.run_until(at_ms(kT6 + 10'000));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(kT6 + 60'000));

    const auto attempts = attempts_of(world, "UID1", at_ms(kT6 + 10'000));
    ASSERT_FALSE(attempts.empty());
    // The first attempt after the link is back logs in one RTT after the connection opened (one RTT).
    const TimePoint rejoin = attempts.front() + 200ms;
    const std::string t = ms_text(rejoin);
    const auto lines = timeline(world, {}, at_ms(kT6));
    const std::vector<std::string> want{
        "26200 UID2 member_left ch UID1 DROPPED",
        t + " UID2 member_joined ch UID1",  // UID1's login reached the server 50 ms before its reply reached UID1
        t + " UID1 state CONNECTED REJOIN_SUCCESS",
        t + " UID1 rejoin_success",
        t + " UID1 channel ch REJOINED",
        t + " UID1 continuity outage=" + ms_text(rejoin - (at_ms(kT3) - TimePoint{})) +
            "ms resumed=false backfilled=0 dropped=0",
    };
    EXPECT_EQ(lines, want) << joined(lines);
}

}  // namespace
}  // namespace relink::test

namespace relink::test {
namespace {

// The same timeline with every duration (timings on both ends and the network latency) scaled by 1/1000: the
// 20-minute give-up happens 1.2 s after the break, and every event lands at exactly 1/1000 of its time above.
TEST(TRtcScaled, TheWholeTimelineScalesUniformly) {
    constexpr double kScale = 0.001;
    const auto scaled_config = [&](std::uint64_t seed) {
        core::Config config = exact_config(Profile::rtc, seed);
        config.timings = config.timings.scaled(kScale);
        return config;
    };
    sim::HubServerConfig server;
    for (auto& [profile, timings] : server.hub.timings) {
        timings = timings.scaled(kScale);
    }
    // The hub's own durations too, as relinkd's --time-scale scales them (server::make_hub_config).
    const auto scaled = [&](Duration d) { return std::chrono::duration_cast<Duration>(d * kScale); };
    server::TimingBounds& bounds = server.hub.timing_bounds;
    for (Duration* bound : {&bounds.min_heartbeat_interval, &bounds.max_heartbeat_interval,
                            &bounds.min_presence_timeout, &bounds.max_presence_timeout, &bounds.max_backfill_window}) {
        *bound = scaled(*bound);
    }
    server.hub.keep_alive_timeout = scaled(server.hub.keep_alive_timeout);
    server.hub.login_grace = scaled(server.hub.login_grace);
    server.hub.limits.kick_cooldown = scaled(server.hub.limits.kick_cooldown);
    server.hub.limits.dedup_window = scaled(server.hub.limits.dedup_window);
    server.hub.limits.presence_batch_interval = scaled(server.hub.limits.presence_batch_interval);
    World world(server);
    const Duration latency = std::chrono::duration_cast<Duration>(50ms * kScale);
    world.add_client("UID2", scaled_config(2), latency);
    world.add_client("UID1", scaled_config(1), latency);
    world.call("UID2", [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID2", "valid", "ch"); });
    world.run_until(TimePoint{} + 1ms);
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID1", "valid", "ch"); });
    world.run_until(TimePoint{} + 6200us);  // T3 (a pong arrives at exactly 6.2 ms)
    ASSERT_EQ(world.last_received("UID1"), TimePoint{} + 6200us);
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(TimePoint{} + 2s);  // well past T7 (UID2's millisecond heartbeats make each second costly)

    const std::vector<std::string> want{
        "1 UID1 state CONNECTING CONNECTING",
        "1 UID1 channel ch JOINING",
        "1.2 UID2 member_joined ch UID1",
        "1.2 UID1 state CONNECTED JOIN_SUCCESS",
        "1.2 UID1 channel ch JOINED",
        "1.2 UID1 join_success ch",
        "1.2 UID1 member_joined ch UID2",
        "10.2 UID1 state RECONNECTING INTERRUPTED",
        "10.2 UID1 channel ch REJOINING NETWORK_INTERRUPTED",
        "20.2 UID1 connection_lost",
        "20.2 UID1 state RECONNECTING LOST",
        "26.2 UID2 member_left ch UID1 DROPPED",
        "1210.2 UID1 state FAILED JOIN_FAILED",
        "1210.2 UID1 channel ch REJOIN_FAILED NETWORK_TIMEOUT",
    };
    const auto lines = timeline(world, {}, TimePoint{} + 1ms);
    EXPECT_EQ(lines, want) << joined(lines);
}

}  // namespace
}  // namespace relink::test
