// Liveness and the reconnect triggers on the virtual clock: only data received proves the link alive, a healthy
// idle link never trips the 4 s detector, a repair within 4 s is invisible, and every reason that starts a
// reconnect (network change, proxy change, keep-alive timeout, drain, server restart) or ends a session (ban, token
// expiry, join timeout) behaves exactly as documented.
//
// Set-up: one-way latency 50 ms; UID2 logs in at 0 ms and joins "ch"; UID1 logs in at 1000 ms and joins "ch"
// (JOINED at 1300 ms), in the profile of the test.
#include <algorithm>
#include <set>

#include "harness.hpp"

namespace relink::test {
namespace {

struct Pair {
    explicit Pair(Profile profile, sim::HubServerConfig server = {}, Duration latency = 50ms)
        : world(std::move(server)) {
        world.add_client("UID2", exact_config(profile, 2), latency);
        world.add_client("UID1", exact_config(profile, 1), latency);
        login_and_join(world, "UID2", "ch", latency);
        world.run_until(std::max(world.now(), at_ms(1000)));
        login_and_join(world, "UID1", "ch", latency);
    }

    [[nodiscard]] std::vector<std::string> states(const std::string& who, TimePoint from = {}) const {
        return timeline(
            world,
            [&](const sim::Record& r) {
                return r.client == who && std::holds_alternative<core::ConnectionStateChanged>(r.event);
            },
            from);
    }

    World world;
};

TEST(Liveness, SendingDoesNotProveTheLinkAliveOnlyReceivingDoes) {
    Pair pair(Profile::rtm);
    auto& world = pair.world;
    ASSERT_TRUE(world.run_until([&] { return world.last_received("UID1") >= at_ms(5000); }, at_ms(7000)));
    const TimePoint last = world.now();
    world.set_link("UID1", LinkMode::drop_inbound);  // UID1 can still send; it hears nothing
    for (int i = 0; i < 60; ++i) {
        world.run_until(last + i * 100ms);
        ASSERT_TRUE(world.call("UID1", [](core::ClientCore& c, TimePoint now) {
            return c.send_channel_message(now, "ch", "still talking");
        }));
    }
    world.run_until(last + 10s);
    const std::vector<std::string> want{ms_text(last + 4s) + " UID1 state RECONNECTING INTERRUPTED"};
    EXPECT_EQ(pair.states("UID1", last), want) << joined(pair.states("UID1", last));
}

class IdleLink : public ::testing::TestWithParam<std::pair<Profile, long long>> {};

TEST_P(IdleLink, AHealthyIdleLinkNeverTripsTheDetector) {
    const auto [profile, latency_ms] = GetParam();
    Pair pair(profile, {}, std::chrono::milliseconds(latency_ms));
    pair.world.run_for(1h);
    EXPECT_EQ(pair.states("UID1").size(), 2U) << joined(pair.states("UID1"));  // CONNECTING, CONNECTED
    EXPECT_EQ(pair.world.client("UID1").state(), ConnectionState::connected);
    EXPECT_EQ(attempts_of(pair.world, "UID1").size(), 1U);
}

INSTANTIATE_TEST_SUITE_P(Profiles, IdleLink,
                         ::testing::Values(std::pair{Profile::rtm, 0LL}, std::pair{Profile::rtc, 50LL},
                                           std::pair{Profile::rtc_web, 500LL}, std::pair{Profile::room, 1000LL}),
                         [](const ::testing::TestParamInfo<IdleLink::ParamType>& param) {
                             std::string name(to_string(param.param.first));
                             name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                             return name + "_latency" + std::to_string(param.param.second) + "ms";
                         });

TEST(Liveness, AConnectionResetRepairedWithin4SecondsShowsNoStateChange) {
    Pair pair(Profile::rtc);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.reset_connection("UID1");  // closed at 5050 ms; first retry 300 ms later; logged in 200 ms after that
    world.run_until(at_ms(10'000));
    EXPECT_EQ(pair.states("UID1").size(), 2U) << joined(pair.states("UID1"));
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(reports[0].first, at_ms(5550));
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(5000)), std::vector<TimePoint>{at_ms(5350)});
    EXPECT_TRUE(timeline(world, only("UID2"), at_ms(5000)).empty())
        << joined(timeline(world, only("UID2"), at_ms(5000)));
}

TEST(Liveness, AnAttemptThatHungLongerThanItsDelayIsFollowedWithoutAnotherDelay) {
    // The backoff paces the starts of attempts (gRPC's connection backoff). Attempts that hang in a blackhole for
    // the 5 s attempt timeout have waited longer than any delay, so each is followed at once (jitter off: no
    // pause), and the one hanging when the network comes back (reset, as a NAT that forgot the flow would) is
    // followed the moment it fails, not one more delay (768 ms) later.
    Pair pair(Profile::rtm);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(17'000));
    const auto hung = attempts_of(world, "UID1", at_ms(5000));
    ASSERT_EQ(hung.size(), 2U);
    EXPECT_EQ(hung[1] - hung[0], 5s);  // the first attempt's timeout, then at once
    world.set_link("UID1", LinkMode::pass);
    world.reset_connection("UID1");  // the hanging attempt fails at 17,050 ms (one-way latency)
    world.run_until(at_ms(20'000));
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(17'000)), std::vector<TimePoint>{at_ms(17'050)});
    const auto states = pair.states("UID1", at_ms(17'000));
    ASSERT_FALSE(states.empty());
    EXPECT_EQ(states.back(), "17250 UID1 state CONNECTED LOGIN_SUCCESS") << joined(states);
}

TEST(Liveness, AttemptsThatFailTogetherAfterHangingAreRetriedApartWithinTheJitterShare) {
    // Clients whose hanging attempts are all reset at one instant (the network is back) retry after a random pause
    // of at most the jitter's share of their delay (20 % of 1,228.8 ms ± 20 %), never in lock-step.
    World world;
    constexpr int kClients = 50;
    for (int i = 0; i < kClients; ++i) {
        const std::string name = "U" + std::to_string(i);
        world.add_client(name, core::make_config(Profile::rtm, "app", 1000 + i));
        world.call(name, [&](core::ClientCore& c, TimePoint now) { return c.login(now, name, "valid"); });
    }
    world.run_until(at_ms(1000));
    for (int i = 0; i < kClients; ++i) {
        world.set_link("U" + std::to_string(i), LinkMode::blackhole);
    }
    // Each client's third attempt hangs at 19 s (the attempts start ~5.2 s, ~10.2 s, ~15.2 s, each hangs 5 s), and
    // its fourth delay (1,228.8 ms ± 20 %) has passed since it started.
    world.run_until(at_ms(19'000));
    for (int i = 0; i < kClients; ++i) {
        const std::string name = "U" + std::to_string(i);
        ASSERT_EQ(attempts_of(world, name, at_ms(1000)).size(), 3U) << name;
        world.set_link(name, LinkMode::pass);
        world.reset_connection(name);
    }
    world.run_until(at_ms(22'000));
    std::set<TimePoint> distinct;
    for (int i = 0; i < kClients; ++i) {
        const std::string name = "U" + std::to_string(i);
        const auto attempts = attempts_of(world, name, at_ms(19'000));
        ASSERT_EQ(attempts.size(), 1U) << name;
        EXPECT_GE(attempts[0], at_ms(19'050)) << name;
        EXPECT_LE(attempts[0], at_ms(19'050) + 1228800us * 1.2 * 0.2) << name;
        distinct.insert(attempts[0]);
        EXPECT_EQ(world.client(name).state(), ConnectionState::connected) << name;
    }
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kClients));
}

TEST(Liveness, AnAttemptRefusedAtOnceIsFollowedByShortProbesThenTheBackoff) {
    // A refused connection fails within one round trip and costs the server nothing (no TLS): nothing listens, so
    // the server is down or restarting. The next attempt is a probe 100 ms after the refusal (jitter off), while
    // within 2 s of the outage's first refusal; so a restarted server is found within ~100 ms of listening. Here:
    // the reset link is heard at 5,050 ms, the first retry follows the first delay (300 ms: 5,350), it is refused
    // at 5,450 (the window runs to 7,450) and the probes start 200 ms apart (RTT + 100 ms) until 7,350; the
    // refusal at 7,450 is past the window and the backoff goes on with its second delay, 480 ms after 7,350.
    Pair pair(Profile::rtm);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::refuse);  // the open link is reset (closed at 5,050 ms), every attempt refused
    world.run_until(at_ms(8700));
    std::vector<TimePoint> want{at_ms(5350)};
    for (long long probe = 5550; probe <= 7350; probe += 200) {
        want.push_back(at_ms(probe));
    }
    want.push_back(at_ms(7830));
    want.push_back(at_ms(8598));
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(5000)), want);
}

// A network change while CONNECTED probes the link; a dead one reconnects at once when the probe timeout passes, not
// when the 4 s detector would. By 5000 ms the heartbeats of 2200, 3200 and 4200 ms were answered in 100 ms: SRTT
// 100 ms, RTTVAR 28.125 ms, so the timeout is 2 × 100 + 4 × 28.125 = 312.5 ms (docs/reliability.md).
TEST(Liveness, NetworkChangeOnADeadLinkReconnectsAtOnceAfterTheProbe) {
    Pair pair(Profile::rtm);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::blackhole);
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_network_changed(now); });
    world.run_until(at_ms(5250));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(6000));
    const std::vector<std::string> want{"5312.5 UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED",
                                        "5512.5 UID1 state CONNECTED LOGIN_SUCCESS"};
    EXPECT_EQ(pair.states("UID1", at_ms(5000)), want) << joined(pair.states("UID1", at_ms(5000)));
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(5000)), std::vector<TimePoint>{at_ms(5000) + 312500us});  // no backoff
}

// The probe is answered (at 5000 ms: data was already on its way), so the link is replaced make-before-break: one
// standby transport at once, and no state change (tests/core/handover_test.cpp has the details).
TEST(Liveness, NetworkChangeOnALiveLinkChangesNothing) {
    Pair pair(Profile::rtm);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_network_changed(now); });
    world.run_until(at_ms(60'000));
    EXPECT_EQ(pair.states("UID1", at_ms(5000)), std::vector<std::string>{});
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(5000)), std::vector<TimePoint>{at_ms(5100)});
}

TEST(Liveness, NetworkChangeWhileReconnectingRetriesAtOnce) {
    Pair pair(Profile::rtc);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(30'000));  // attempts hang in the blackhole
    world.set_link("UID1", LinkMode::pass);
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_network_changed(now); });
    world.run_until(at_ms(31'000));
    const auto states = pair.states("UID1", at_ms(30'000));
    const std::vector<std::string> want{"30000 UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED",
                                        "30200 UID1 state CONNECTED REJOIN_SUCCESS"};
    EXPECT_EQ(states, want) << joined(states);
}

TEST(Liveness, ProxyChangeReconnectsWithItsReason) {
    Pair pair(Profile::rtc);
    pair.world.run_until(at_ms(5000));
    pair.world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_proxy_changed(now); });
    pair.world.run_until(at_ms(6000));
    const std::vector<std::string> want{"5000 UID1 state RECONNECTING SETTING_PROXY_SERVER",
                                        "5200 UID1 state CONNECTED REJOIN_SUCCESS"};
    EXPECT_EQ(pair.states("UID1", at_ms(5000)), want) << joined(pair.states("UID1", at_ms(5000)));
}

TEST(Liveness, ServerKeepAliveTimeoutReconnectsAtOnce) {
    sim::HubServerConfig server;
    server.hub.keep_alive_timeout = 3s;
    Pair pair(Profile::rtc, server);
    auto& world = pair.world;
    ASSERT_TRUE(world.run_until([&] { return world.last_received("UID1") >= at_ms(5000); }, at_ms(7000)));
    const TimePoint t = world.now();                  // the server last heard UID1 50 ms before this
    world.set_link("UID1", LinkMode::drop_outbound);  // UID1's heartbeats stop reaching the server
    world.run_until(t + 2960ms);                      // the server gave up on the connection at t + 2950 ms
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t + 10s);
    // The server closes at t − 50 ms + 3 s; UID1 hears it 50 ms later and reconnects at once.
    const std::vector<std::string> want{ms_text(t + 3s) + " UID1 state RECONNECTING KEEP_ALIVE_TIMEOUT",
                                        ms_text(t + 3s + 200ms) + " UID1 state CONNECTED REJOIN_SUCCESS"};
    EXPECT_EQ(pair.states("UID1", t), want) << joined(pair.states("UID1", t));
    EXPECT_EQ(attempts_of(world, "UID1", t), std::vector<TimePoint>{t + 3s});
}

TEST(Liveness, DrainingServerSpreadsTheReconnectsOverItsWindow) {
    World world;
    constexpr int kClients = 50;
    for (int i = 0; i < kClients; ++i) {
        const std::string name = "U" + std::to_string(i);
        core::Config config = core::make_config(Profile::rtm, "app", 1000 + i);
        world.add_client(name, config);
        world.call(name, [&](core::ClientCore& c, TimePoint now) { return c.login(now, name, "valid"); });
    }
    world.run_until(at_ms(1000));
    // relinkd drains as it stops (it refuses logins from then on) and its clients come back to the replacement
    // started in its place, here at once, as in a rolling restart (docs/server.md, "Drain and shutdown").
    world.server_drain(2s);
    world.server_restart();
    world.run_until(at_ms(10'000));
    std::set<TimePoint> distinct;
    for (int i = 0; i < kClients; ++i) {
        const std::string name = "U" + std::to_string(i);
        const auto attempts = attempts_of(world, name, at_ms(1000));
        ASSERT_EQ(attempts.size(), 1U) << name;
        // Told at 1050 ms (one-way latency) to come back within 2 s.
        EXPECT_GE(attempts[0], at_ms(1050)) << name;
        EXPECT_LE(attempts[0], at_ms(3050)) << name;
        distinct.insert(attempts[0]);
        EXPECT_EQ(world.client(name).state(), ConnectionState::connected);
        // Within 4 s: no state change, only a continuity report; the replacement knows nothing of the session, so
        // it is a new one.
        EXPECT_EQ(events_of<core::ConnectionStateChanged>(world, name).size(), 2U) << name;  // CONNECTING, CONNECTED
        const auto reports = events_of<core::ContinuityReport>(world, name);
        ASSERT_EQ(reports.size(), 1U);
        EXPECT_FALSE(reports[0].second.resumed);
    }
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kClients));  // nobody comes back in lock-step
}

TEST(Liveness, ServerRestartLosesTheSessionAndTheClientRejoins) {
    Pair pair(Profile::rtm);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.server_restart();
    world.run_until(at_ms(20'000));
    EXPECT_EQ(pair.states("UID1", at_ms(5000)).size(), 0U) << joined(pair.states("UID1", at_ms(5000)));
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_FALSE(reports[0].second.resumed);
    EXPECT_EQ(world.server().members("ch"), (std::set<std::string>{"UID1", "UID2"}));
}

TEST(Liveness, BannedUsersAreNeverReconnectedAutomatically) {
    for (const auto& [profile, state] :
         {std::pair{Profile::rtm, ConnectionState::aborted}, std::pair{Profile::room, ConnectionState::aborted},
          std::pair{Profile::rtc, ConnectionState::failed}, std::pair{Profile::rtc_web, ConnectionState::failed}}) {
        Pair pair(profile);
        pair.world.run_until(at_ms(5000));
        pair.world.server_kick("UID1", /*ban=*/true);
        pair.world.run_until(at_ms(3'600'000));
        const std::vector<std::string> want{"5050 UID1 state " + std::string(to_string(state)) + " BANNED_BY_SERVER"};
        EXPECT_EQ(pair.states("UID1", at_ms(5000)), want) << to_string(profile);
        EXPECT_TRUE(attempts_of(pair.world, "UID1", at_ms(5000)).empty()) << to_string(profile);
    }
}

TEST(Liveness, RtcTokenExpiryEndsTheSessionWithTokenExpired) {
    World world;
    world.add_client("UID1", exact_config(Profile::rtc, 1));
    world.call("UID1",
               [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID1", "exp=40000", "ch"); });
    world.run_until(at_ms(60'000));
    const std::vector<std::string> want{
        "0 UID1 state CONNECTING CONNECTING",
        "0 UID1 channel ch JOINING",
        "200 UID1 state CONNECTED JOIN_SUCCESS",
        "200 UID1 channel ch JOINED",
        "200 UID1 join_success ch",
        "9950 UID1 token_privilege_will_expire",  // counted from the login sent at 100 ms: 40050 − 30000 − 100
        "39950 UID1 token_expired",
        "40050 UID1 state FAILED TOKEN_EXPIRED",  // the server ended the session at 40000 ms
        "40050 UID1 channel ch JOIN_FAILED TOKEN_EXPIRED",
    };
    EXPECT_EQ(timeline(world), want) << joined(timeline(world));
}

TEST(Liveness, RenewingTheTokenWhileConnectedMovesItsExpiry) {
    World world;
    world.add_client("UID1", exact_config(Profile::rtc, 1));
    world.call("UID1",
               [](core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID1", "exp=40000", "ch"); });
    world.run_until(at_ms(20'000));
    ASSERT_TRUE(
        world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.renew_token(now, "exp=100000"); }));
    world.run_until(at_ms(200'000));
    const auto lines = timeline(world, {}, at_ms(1000));
    const std::vector<std::string> want{
        "9950 UID1 token_privilege_will_expire",
        "20100 completed 1 OK",
        "69950 UID1 token_privilege_will_expire",  // renewed at 20000 ms: 80000 ms left → 20000 + 80000 − 30000
        "99950 UID1 token_expired",
        "100050 UID1 state FAILED TOKEN_EXPIRED",
        "100050 UID1 channel ch JOIN_FAILED TOKEN_EXPIRED",
    };
    std::vector<std::string> got;
    for (const auto& line : lines) {
        got.push_back(line.find(" completed ") != std::string::npos ? line.substr(0, line.find(' ')) + " completed 1 OK"
                                                                    : line);
    }
    EXPECT_EQ(got, want) << joined(lines);
}

TEST(Liveness, AJoinTheServerNeverAnswersFailsAfterTheLoginTimeout) {
    Pair pair(Profile::room);
    auto& world = pair.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::drop_outbound);  // the Join never reaches the server
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.join(now, "r2"); }));
    world.run_until(at_ms(30'000));
    const auto lines = timeline(
        world,
        [](const sim::Record& r) {
            const auto* e = std::get_if<core::ChannelStateChanged>(&r.event);
            return r.client == "UID1" && e != nullptr && e->channel == "r2";
        },
        at_ms(5000));
    const std::vector<std::string> want{"5000 UID1 channel r2 JOINING",
                                        "17000 UID1 channel r2 JOIN_FAILED NETWORK_TIMEOUT"};
    EXPECT_EQ(lines, want) << joined(lines);
}

}  // namespace
}  // namespace relink::test

namespace relink::test {
namespace {

TEST(Liveness, TheClientBeatsAtLeastAsOftenAsTheServerAsks) {
    sim::HubServerConfig server;
    server.hub.timing_bounds.max_heartbeat_interval = 250ms;  // the client asks for 1 s: LoginOk answers 250 ms
    World world(server);
    world.add_client("UID1", exact_config(Profile::rtm, 1));
    login_and_join(world, "UID1", "ch");
    const auto states = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_FALSE(states.empty());
    ASSERT_TRUE(states.back().second.timings);
    EXPECT_EQ(states.back().second.timings->heartbeat_interval, 250ms);
    EXPECT_TRUE(states.back().second.timings->clamped);  // the client is told it did not get what it asked
    const TimePoint from = world.now() + 1s;
    world.run_until(from + 10s);
    std::size_t pings = 0;
    for (const auto& record : world.actions()) {
        if (const auto* send = std::get_if<core::SendFrame>(&record.action);
            send != nullptr && record.at >= from && std::holds_alternative<proto::Ping>(send->message)) {
            ++pings;
        }
    }
    EXPECT_EQ(pings, 40U);  // one every 250 ms instead of every 1 s
}

}  // namespace
}  // namespace relink::test
