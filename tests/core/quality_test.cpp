// Link quality and the suspicion probe on the virtual clock: the round-trip time of the heartbeats smoothed as TCP
// smooths it (exact figures), missed and late heartbeats, the time since the last data, what a new connection
// starts over, when LinkQualityChanged is reported, and the probe that a network-change hint or a return to the
// foreground sends: a dead link is found within the probe timeout, a live one stays with no state change.
//
// Set-up: one client, UID1, one-way latency 50 ms (a 100 ms round trip), profile rtm, 1 s heartbeat. It logs in at
// 0 ms: the transport opens at 100 ms, the Login goes then, CONNECTED at 200 ms; nothing else is sent, so a Ping
// goes every second from 1100 ms and its Pong arrives 100 ms later.
#include "harness.hpp"

namespace relink::test {
namespace {

struct Solo {
    explicit Solo(Profile profile = Profile::rtm) {
        world.add_client("UID1", exact_config(profile, 1), 50ms);
        EXPECT_FALSE(
            world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
        world.run_until(at_ms(200));
        EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);
    }

    [[nodiscard]] LinkQuality quality() { return world.client("UID1").link_quality(world.now()); }

    /// The times at which UID1 sent a Ping, from `from` on.
    [[nodiscard]] std::vector<TimePoint> pings(TimePoint from = {}) const {
        std::vector<TimePoint> out;
        for (const auto& record : world.actions()) {
            const auto* frame = std::get_if<core::SendFrame>(&record.action);
            if (record.client == "UID1" && record.at >= from && frame != nullptr &&
                std::holds_alternative<proto::Ping>(frame->message)) {
                out.push_back(record.at);
            }
        }
        return out;
    }

    /// UID1's quality reports as "<ms> rtt=<µs> var=<µs> samples=<n> missed=<n> late=<n>".
    [[nodiscard]] std::vector<std::string> reports() const {
        std::vector<std::string> out;
        for (const auto& [at, e] : events_of<core::LinkQualityChanged>(world, "UID1")) {
            const auto us = [](Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
            out.push_back(ms_text(at) + " rtt=" + std::to_string(us(e.quality.rtt)) + " var=" +
                          std::to_string(us(e.quality.rtt_var)) + " samples=" + std::to_string(e.quality.rtt_samples) +
                          " missed=" + std::to_string(e.quality.missed_heartbeats) +
                          " late=" + std::to_string(e.quality.late_heartbeats));
        }
        return out;
    }

    [[nodiscard]] std::vector<std::string> states(TimePoint from) const {
        return timeline(
            world,
            [](const sim::Record& r) {
                return r.client == "UID1" && std::holds_alternative<core::ConnectionStateChanged>(r.event);
            },
            from);
    }

    void call(void (core::ClientCore::*input)(TimePoint)) {
        world.call("UID1", [input](core::ClientCore& c, TimePoint now) { (c.*input)(now); });
    }

    World world;
};

TEST(LinkQuality, NothingIsMeasuredBeforeTheFirstHeartbeatIsAnswered) {
    Solo solo;
    const LinkQuality q = solo.quality();
    EXPECT_TRUE(q.up);
    EXPECT_EQ(q.rtt_samples, 0U);
    EXPECT_EQ(q.rtt, Duration::zero());
    EXPECT_EQ(q.missed_heartbeats, 0U);
    EXPECT_EQ(q.since_last_data, std::optional<Duration>(0ms));  // the LoginOk arrived at 200 ms
    EXPECT_EQ(solo.reports(), std::vector<std::string>{});
}

TEST(LinkQuality, RoundTripsAreSmoothedAsTcpDoes) {
    Solo solo;
    solo.world.run_until(at_ms(1250));
    EXPECT_EQ(solo.pings(), std::vector<TimePoint>{at_ms(1100)});
    LinkQuality q = solo.quality();
    // The first sample: SRTT = R, RTTVAR = R / 2.
    EXPECT_EQ(q.rtt_samples, 1U);
    EXPECT_EQ(q.rtt, 100ms);
    EXPECT_EQ(q.rtt_var, 50ms);
    EXPECT_EQ(q.last_rtt, 100ms);
    EXPECT_EQ(q.since_last_data, std::optional<Duration>(50ms));

    solo.world.run_until(at_ms(2250));  // R = 100 ms again: RTTVAR = 3/4 × 50 + 1/4 × 0
    q = solo.quality();
    EXPECT_EQ(q.rtt_samples, 2U);
    EXPECT_EQ(q.rtt, 100ms);
    EXPECT_EQ(q.rtt_var, 37'500us);

    solo.world.set_latency("UID1", 150ms);  // a 300 ms round trip from the Ping at 3100 ms on
    solo.world.run_until(at_ms(3450));
    q = solo.quality();  // RTTVAR = 3/4 × 37.5 + 1/4 × |100 − 300| = 78.125; SRTT = 7/8 × 100 + 1/8 × 300 = 125
    EXPECT_EQ(q.rtt_samples, 3U);
    EXPECT_EQ(q.last_rtt, 300ms);
    EXPECT_EQ(q.rtt, 125ms);
    EXPECT_EQ(q.rtt_var, 78'125us);

    solo.world.run_until(at_ms(4450));
    q = solo.quality();  // RTTVAR = 3/4 × 78.125 + 1/4 × 175 = 102.34375; SRTT = 7/8 × 125 + 1/8 × 300 = 146.875
    EXPECT_EQ(q.rtt, 146'875us);
    EXPECT_EQ(q.rtt_var, 102'343'750ns);
    EXPECT_EQ(q.missed_heartbeats, 0U);
    EXPECT_EQ(q.late_heartbeats, 0U);
    EXPECT_EQ(q.since_last_data, std::optional<Duration>(50ms));  // the Pong of 4100 ms arrived at 4400 ms

    // Reported: the first round trip, and the move from 100 to 125 ms at 3400 ms (25 % and 25 ms); not the one
    // from 125 to 146.875 ms at 4400 ms (17.5 %).
    const std::vector<std::string> want{"1200 rtt=100000 var=50000 samples=1 missed=0 late=0",
                                        "3400 rtt=125000 var=78125 samples=3 missed=0 late=0"};
    EXPECT_EQ(solo.reports(), want) << joined(solo.reports());
}

TEST(LinkQuality, UnansweredHeartbeatsCountAsMissedUntilTheSilenceDetectorDropsTheLink) {
    Solo solo;
    solo.world.run_until(at_ms(2250));
    solo.world.set_link("UID1", LinkMode::drop_inbound);  // the Pings go out; nothing comes back
    solo.world.run_until(at_ms(6150));
    EXPECT_EQ(solo.quality().missed_heartbeats, 3U);  // the Pings of 3100, 4100 and 5100 ms by the one of 6100 ms
    EXPECT_EQ(solo.quality().since_last_data, std::optional<Duration>(3950ms));
    solo.world.run_until(at_ms(6300));
    const std::vector<std::string> want{
        "1200 rtt=100000 var=50000 samples=1 missed=0 late=0", "4100 rtt=100000 var=37500 samples=2 missed=1 late=0",
        "5100 rtt=100000 var=37500 samples=2 missed=2 late=0", "6100 rtt=100000 var=37500 samples=2 missed=3 late=0"};
    EXPECT_EQ(solo.reports(), want) << joined(solo.reports());
    // The 4 s ceiling is unchanged: the last data came at 2200 ms.
    EXPECT_EQ(solo.states(at_ms(2250)), std::vector<std::string>{"6200 UID1 state RECONNECTING INTERRUPTED"});
    EXPECT_FALSE(solo.quality().up);
    EXPECT_EQ(solo.quality().missed_heartbeats, 0U);  // nothing is in flight on a link that is gone
}

TEST(LinkQuality, AnAnswerAfterTheNextHeartbeatWasDueIsLateAndReportsComeAtMostOncePerHeartbeat) {
    Solo solo;
    solo.world.run_until(at_ms(2250));
    solo.world.set_latency("UID1", 700ms);  // a 1.4 s round trip: longer than the heartbeat interval
    solo.world.run_until(at_ms(4450));
    EXPECT_EQ(solo.quality().missed_heartbeats, 1U);  // the Ping of 3100 ms, unanswered when the one of 4100 ms went
    solo.world.run_until(at_ms(4550));                // its Pong arrived at 4500 ms
    LinkQuality q = solo.quality();
    EXPECT_EQ(q.missed_heartbeats, 0U);
    EXPECT_EQ(q.late_heartbeats, 1U);
    EXPECT_EQ(q.last_rtt, 1400ms);
    // RTTVAR = 3/4 × 37.5 + 1/4 × 1300 = 353.125; SRTT = 7/8 × 100 + 1/8 × 1400 = 262.5
    EXPECT_EQ(q.rtt, 262'500us);
    EXPECT_EQ(q.rtt_var, 353'125us);
    solo.world.run_until(at_ms(5550));
    EXPECT_EQ(solo.quality().late_heartbeats, 2U);
    EXPECT_EQ(solo.world.client("UID1").state(), ConnectionState::connected);
    // 4500 ms: the answer (missed 1 → 0, SRTT 100 → 262.5 ms) came 400 ms after the report of 4100 ms: held back
    // to the next heartbeat, 5100 ms, whose Ping finds the one of 4100 ms in flight: missed 1 again, as reported,
    // but SRTT has moved: that is reported. At 5500 ms (missed 0) the last report is 400 ms old: held back again.
    const std::vector<std::string> want{"1200 rtt=100000 var=50000 samples=1 missed=0 late=0",
                                        "4100 rtt=100000 var=37500 samples=2 missed=1 late=0",
                                        "5100 rtt=262500 var=353125 samples=3 missed=1 late=1"};
    EXPECT_EQ(solo.reports(), want) << joined(solo.reports());
}

TEST(LinkQuality, ANewConnectionStartsTheRoundTripsOverAndKeepsTheTimeOfTheLastData) {
    Solo solo;
    solo.world.run_until(at_ms(2250));
    ASSERT_EQ(solo.quality().rtt_samples, 2U);
    solo.world.reset_connection("UID1");
    solo.world.run_until(at_ms(3000));
    ASSERT_EQ(solo.world.client("UID1").state(), ConnectionState::connected);
    const LinkQuality q = solo.quality();
    EXPECT_TRUE(q.up);
    EXPECT_EQ(q.rtt_samples, 0U);
    EXPECT_EQ(q.rtt, Duration::zero());
    EXPECT_EQ(q.rtt_var, Duration::zero());
    EXPECT_EQ(q.late_heartbeats, 0U);
    ASSERT_TRUE(q.since_last_data);
    EXPECT_LT(*q.since_last_data, 800ms);  // the new connection's LoginOk
    solo.world.run_until(at_ms(5000));
    EXPECT_GE(solo.quality().rtt_samples, 1U);
    EXPECT_EQ(solo.quality().rtt, 100ms);
    EXPECT_EQ(solo.reports().size(), 2U) << joined(solo.reports());  // each connection's first round trip
}

// ---- the suspicion probe ----
// By 5250 ms five heartbeats were answered in 100 ms: SRTT 100 ms, RTTVAR 15.82 ms, so 2 × SRTT + 4 × RTTVAR =
// 263 ms and the probe timeout is its floor, 300 ms. Without a hint the 4 s detector would fire at 9200 ms.

TEST(SuspicionProbe, ANetworkChangeOnADeadLinkIsFoundWithinTheProbeTimeout) {
    Solo solo;
    solo.world.run_until(at_ms(5250));
    ASSERT_EQ(solo.quality().rtt_samples, 5U);
    EXPECT_EQ(solo.world.client("UID1").link_quality(at_ms(5250)).rtt_var, 15'820'312ns);
    solo.world.set_link("UID1", LinkMode::blackhole);
    solo.call(&core::ClientCore::notify_network_changed);
    EXPECT_EQ(solo.pings(at_ms(5250)), std::vector<TimePoint>{at_ms(5250)});  // one Ping at once
    solo.world.run_until(at_ms(6000));
    const std::vector<std::string> want{"5550 UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED"};
    EXPECT_EQ(solo.states(at_ms(5250)), want) << joined(solo.states(at_ms(5250)));
    // ≤ 1 RTT + the probe timeout after the hint, and at once a new attempt without backoff.
    EXPECT_EQ(attempts_of(solo.world, "UID1", at_ms(5250)), std::vector<TimePoint>{at_ms(5550)});
}

TEST(SuspicionProbe, ANetworkChangeOnALiveLinkKeepsItWithNoStateChange) {
    Solo solo;
    solo.world.run_until(at_ms(5250));
    solo.call(&core::ClientCore::notify_network_changed);
    solo.world.run_until(at_ms(20'000));
    EXPECT_EQ(solo.states(at_ms(5000)), std::vector<std::string>{});
    // The probe's Ping was answered at 5350 ms: the link works, and is replaced make-before-break by a standby
    // transport opened then (open at 5450 ms: the fence's Ping on the old link; logged in at 5650 ms).
    EXPECT_EQ(attempts_of(solo.world, "UID1", at_ms(5000)), std::vector<TimePoint>{at_ms(5350)});
    EXPECT_EQ(solo.world.client("UID1").state(), ConnectionState::connected);
    const std::vector<TimePoint> pings = solo.pings(at_ms(5200));
    ASSERT_GE(pings.size(), 2U);
    EXPECT_EQ(pings[0], at_ms(5250));
    EXPECT_EQ(pings[1], at_ms(5450));
    EXPECT_EQ(solo.quality().rtt, 100ms);
}

TEST(SuspicionProbe, ANetworkChangeDuringAProbeSendsNoSecondPing) {
    Solo solo;
    solo.world.run_until(at_ms(5250));
    solo.world.set_link("UID1", LinkMode::blackhole);
    solo.call(&core::ClientCore::notify_network_changed);
    solo.world.run_until(at_ms(5400));
    solo.call(&core::ClientCore::notify_network_changed);
    EXPECT_EQ(solo.pings(at_ms(5250)), std::vector<TimePoint>{at_ms(5250)});
    solo.world.run_until(at_ms(6000));
    EXPECT_EQ(solo.states(at_ms(5250)),
              std::vector<std::string>{"5550 UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED"});
}

TEST(SuspicionProbe, ALinkThatClosesDuringTheProbeReconnectsAtOnceWithTheHintsReason) {
    Solo solo;
    solo.world.run_until(at_ms(5250));
    solo.call(&core::ClientCore::notify_network_changed);
    solo.world.reset_connection("UID1");  // the RST reaches UID1 at 5300 ms, before the probe's answer (5350 ms)
    solo.world.run_until(at_ms(6000));
    const auto states = solo.states(at_ms(5250));
    ASSERT_FALSE(states.empty());
    EXPECT_EQ(states[0], "5300 UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED") << joined(states);
    EXPECT_EQ(attempts_of(solo.world, "UID1", at_ms(5250)), std::vector<TimePoint>{at_ms(5300)});  // no backoff
    const auto continuity = events_of<core::ContinuityReport>(solo.world, "UID1");
    ASSERT_EQ(continuity.size(), 1U);
    EXPECT_EQ(continuity[0].second.outage, 300ms);  // from the last data (the Pong at 5200 ms) to 5500 ms
}

TEST(SuspicionProbe, BeforeAnyRoundTripIsMeasuredTheProbeWaitsOneSecond) {
    Solo solo;
    solo.world.run_until(at_ms(250));
    solo.world.set_link("UID1", LinkMode::blackhole);
    solo.call(&core::ClientCore::notify_network_changed);
    solo.world.run_until(at_ms(2000));
    EXPECT_EQ(solo.states(at_ms(250)),
              std::vector<std::string>{"1250 UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED"});
}

TEST(SuspicionProbe, TheTimeoutGrowsWithTheRoundTripAndStaysBelowTheSilenceThreshold) {
    Solo solo;
    solo.world.run_until(at_ms(2250));
    solo.world.set_latency("UID1", 400ms);  // 800 ms round trips from the Ping of 3100 ms on
    solo.world.run_until(at_ms(5950));      // answers at 3900, 4900 and 5900 ms
    const LinkQuality q = solo.quality();
    ASSERT_EQ(q.rtt_samples, 5U);
    const Duration want = std::min<Duration>(2 * q.rtt + 4 * q.rtt_var, 2s);
    EXPECT_GT(want, 300ms);
    solo.world.set_link("UID1", LinkMode::blackhole);
    solo.call(&core::ClientCore::notify_network_changed);
    solo.world.run_until(at_ms(9000));
    const auto states = solo.states(at_ms(5950));
    ASSERT_FALSE(states.empty());
    EXPECT_EQ(states[0], ms_text(at_ms(5950) + want) + " UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED");
}

TEST(SuspicionProbe, ReturningToTheForegroundProbesTooAndADeadLinkIsInterrupted) {
    Solo solo;
    solo.world.run_until(at_ms(5250));
    solo.world.set_link("UID1", LinkMode::blackhole);
    solo.call(&core::ClientCore::notify_foreground);
    solo.world.run_until(at_ms(6000));
    EXPECT_EQ(solo.states(at_ms(5250)), std::vector<std::string>{"5550 UID1 state RECONNECTING INTERRUPTED"});
}

TEST(SuspicionProbe, ReturningToTheForegroundOnALiveLinkChangesNothing) {
    Solo solo;
    solo.world.run_until(at_ms(5250));
    solo.call(&core::ClientCore::notify_foreground);
    solo.world.run_until(at_ms(10'000));
    EXPECT_EQ(solo.states(at_ms(5000)), std::vector<std::string>{});
    EXPECT_EQ(solo.pings(at_ms(5250)).front(), at_ms(5250));
}

TEST(SuspicionProbe, ReturningToTheForegroundStartsTheAttemptThatWaitsForItsBackoff) {
    Solo solo;
    solo.world.run_until(at_ms(2250));
    solo.world.set_link("UID1", LinkMode::refuse);  // the link is reset; every attempt is refused at once
    solo.world.run_until(at_ms(60'000));
    const auto& retry = solo.world.client("UID1").status(at_ms(60'000)).next_retry;
    ASSERT_GT(retry, Duration::zero()) << "an attempt waits for its backoff delay";
    solo.world.set_link("UID1", LinkMode::pass);
    solo.call(&core::ClientCore::notify_foreground);
    EXPECT_EQ(attempts_of(solo.world, "UID1", at_ms(60'000)), std::vector<TimePoint>{at_ms(60'000)});
    solo.world.run_until(at_ms(60'300));
    EXPECT_EQ(solo.world.client("UID1").state(), ConnectionState::connected);
}

}  // namespace
}  // namespace relink::test
