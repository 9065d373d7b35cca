// The make-before-break handover on the virtual clock, against relinkd's real hub (docs/protocol.md, "Handover"):
// after notify_network_changed() on a link that answers its probe, a second transport on the new network resumes
// the session and only then replaces the old one. Every branch: the old link alive (no state change, nothing seen
// by the peer, every message in flight delivered exactly once and in order, both ways), the old link dead (today's
// reconnect), the new path failing (the old link kept, the attempt's failure reported), the old link dying during
// the handover (the standby goes on as the reconnect), a hint during a reconnect and during a drain (no handover),
// and a handover to another node of a cluster.
//
// Set-up: UID2 (the peer) and UID1 (the mover) in channel "ch", profile rtm, one-way latency 50 ms; at 5000 ms UID1's
// device moves to a new network (30 ms) while its connection stays on the old one.
#include <algorithm>

#include "harness.hpp"

namespace relink::test {
namespace {

/// The hub's settings, with a message rate that lets 200 messages a second through (the default is 50 per session).
inline sim::HubServerConfig fast_server(std::size_t nodes = 1) {
    sim::HubServerConfig server;
    server.nodes = nodes;
    server.hub.limits.messages_per_second = 1000.0;
    server.hub.limits.message_burst = 1000.0;
    return server;
}

struct Handover {
    explicit Handover(sim::HubServerConfig server = fast_server()) : world(std::move(server)) {
        world.add_client("UID2", exact_config(Profile::rtm, 2), 50ms);
        world.add_client("UID1", exact_config(Profile::rtm, 1), 50ms);
        login_and_join(world, "UID2", "ch");
        world.run_until(at_ms(1000));
        login_and_join(world, "UID1", "ch");
        world.run_until(at_ms(5000));
        old_transport = world.transports("UID1").at(0);
    }

    [[nodiscard]] std::vector<std::string> states(const std::string& who, TimePoint from = at_ms(5000)) const {
        return timeline(
            world,
            [&](const sim::Record& r) {
                return r.client == who && (std::holds_alternative<core::ConnectionStateChanged>(r.event) ||
                                           std::holds_alternative<core::ChannelStateChanged>(r.event));
            },
            from);
    }

    /// What `who` saw of other members since 5000 ms (joins, leaves, streams).
    [[nodiscard]] std::vector<std::string> membership(const std::string& who) const {
        return timeline(
            world,
            [&](const sim::Record& r) {
                return r.client == who && r.at >= at_ms(5000) &&
                       (std::holds_alternative<core::MemberJoined>(r.event) ||
                        std::holds_alternative<core::MemberLeft>(r.event) ||
                        std::holds_alternative<core::StreamAdded>(r.event) ||
                        std::holds_alternative<core::StreamRemoved>(r.event));
            },
            at_ms(5000));
    }

    /// The payloads `who` received, channel messages or peer messages, in order of delivery.
    [[nodiscard]] std::vector<std::string> received(const std::string& who, bool channel) const {
        std::vector<std::string> out;
        for (const auto& [at, m] : events_of<core::MessageReceived>(world, who)) {
            if (m.channel.has_value() == channel) {
                out.push_back(m.payload);
            }
        }
        return out;
    }

    /// The OpenTransport actions of UID1 since `from`.
    [[nodiscard]] std::vector<core::OpenTransport> opens(TimePoint from = at_ms(5000)) const {
        std::vector<core::OpenTransport> out;
        for (const auto& record : world.actions()) {
            if (record.client == "UID1" && record.at >= from) {
                if (const auto* open = std::get_if<core::OpenTransport>(&record.action)) {
                    out.push_back(*open);
                }
            }
        }
        return out;
    }

    /// From `start`, every 10 ms: UID2 sends a channel message and a peer message to UID1, and every 20 ms UID1 sends
    /// a peer message to UID2; `count` of each of UID2's, count / 2 of UID1's.
    void traffic(TimePoint start, int count) {
        for (int i = 0; i < count; ++i) {
            world.run_until(start + i * 10ms);
            const std::string n = std::to_string(i);
            ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
                return c.send_channel_message(now, "ch", "c" + n);
            }));
            ASSERT_TRUE(world.call(
                "UID2", [&](core::ClientCore& c, TimePoint now) { return c.send_peer_message(now, "UID1", "p" + n); }));
            if (i % 2 == 0) {
                ASSERT_TRUE(world.call("UID1", [&](core::ClientCore& c, TimePoint now) {
                    return c.send_peer_message(now, "UID2", "u" + std::to_string(i / 2));
                }));
            }
        }
    }

    /// `count` channel messages and as many peer messages from UID2 to UID1, all at once.
    void burst(int count) {
        for (int i = 0; i < count; ++i) {
            const std::string n = std::to_string(i);
            ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
                return c.send_channel_message(now, "ch", "c" + n);
            }));
            ASSERT_TRUE(world.call(
                "UID2", [&](core::ClientCore& c, TimePoint now) { return c.send_peer_message(now, "UID1", "p" + n); }));
        }
    }

    /// A handover from the slow old path (50 ms) to a fast new one (5 ms) while 100 channel and 100 peer messages
    /// from UID2 are on their way: the probe is answered at 5150 ms, the standby opens at 5160 ms, the fence's Pong
    /// comes at 5260 ms and the standby's LoginOk at 5270 ms; the messages reach the server from 5225 ms, after the
    /// fence's Ping (5210 ms), so they are on the old link when the session moves.
    void hand_over_with_a_burst_in_flight() {
        world.switch_network("UID1", LinkMode::pass, 5ms);
        world.run_until(at_ms(5050));
        network_changed();
        world.run_until(at_ms(5175));
        burst(100);
    }

    /// Whether UID1 closed the transport it had before the handover (a CloseTransport action of it).
    [[nodiscard]] bool closed_the_old_transport() const {
        return std::any_of(world.actions().begin(), world.actions().end(), [&](const auto& record) {
            const auto* close = std::get_if<core::CloseTransport>(&record.action);
            return record.client == "UID1" && close != nullptr && close->transport == old_transport;
        });
    }

    /// One transport was opened since 5000 ms, as a standby, and it is UID1's only transport now.
    void expect_only_the_standby_left() const {
        const auto standby = opens();
        ASSERT_EQ(standby.size(), 1U);
        EXPECT_TRUE(standby[0].standby);
        EXPECT_EQ(world.transports("UID1"), std::vector<core::TransportId>{standby[0].transport});
    }

    static std::vector<std::string> numbered(const std::string& prefix, int count) {
        std::vector<std::string> out;
        for (int i = 0; i < count; ++i) {
            out.push_back(prefix + std::to_string(i));
        }
        return out;
    }

    void network_changed() {
        world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_network_changed(now); });
    }

    /// Every operation of `who` completed without an error.
    void expect_sends_succeeded(const std::string& who, std::size_t count) const {
        std::size_t ok = 0;
        for (const auto& [at, e] : events_of<core::OperationCompleted>(world, who)) {
            EXPECT_FALSE(e.error) << who << " op " << e.op << ": " << e.error.message();
            ok += e.error ? 0 : 1;
        }
        EXPECT_EQ(ok, count) << who;
    }

    World world;
    core::TransportId old_transport{0};
};

// The probe (5050 ms) is answered at 5150 ms; the standby opens on the new network (30 ms) at 5210 ms; the fence's
// Ping on the old link is answered at 5310 ms; the standby's Login is answered at 5370 ms; the server closed the old
// transport when it took the Login (5340 ms), and that end arrives at 5390 ms, after everything the old link still
// carried: the standby becomes the link then. 200 channel and peer messages to UID1, and 100 from it, are on their
// way meanwhile.
TEST(Handover, OldLinkAliveNoStateChangeEveryMessageOnceInOrder) {
    Handover h;
    const std::size_t network = h.world.switch_network("UID1", LinkMode::pass, 30ms);
    h.world.run_until(at_ms(5050));
    h.network_changed();
    h.traffic(at_ms(5000) + 50ms, 200);
    h.world.run_until(at_ms(15'000));

    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    EXPECT_EQ(h.states("UID2"), std::vector<std::string>{}) << joined(h.states("UID2"));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{}) << joined(h.membership("UID2"));
    EXPECT_EQ(h.membership("UID1"), std::vector<std::string>{}) << joined(h.membership("UID1"));
    EXPECT_EQ(h.received("UID1", true), Handover::numbered("c", 200)) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 200)) << joined(h.received("UID1", false));
    EXPECT_EQ(h.received("UID2", false), Handover::numbered("u", 100)) << joined(h.received("UID2", false));
    h.expect_sends_succeeded("UID1", 100);
    h.expect_sends_succeeded("UID2", 400);

    // One standby, on the new network, now the only transport; the old one closed.
    const auto opens = h.opens();
    ASSERT_EQ(opens.size(), 1U);
    EXPECT_TRUE(opens[0].standby);
    EXPECT_EQ(h.world.transports("UID1"), std::vector<core::TransportId>{opens[0].transport});
    EXPECT_NE(opens[0].transport, h.old_transport);
    (void)network;
    const auto reports = events_of<core::ContinuityReport>(h.world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(ms_text(reports[0].first), "5390");
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.outage, Duration::zero());
    EXPECT_EQ(reports[0].second.dropped, 0U);
    EXPECT_TRUE(events_of<core::AttemptFailed>(h.world, "UID1").empty());
    // The standby's attempt is reported like any other when it takes over: it resumed the session, with the LoginOk
    // of 5370 ms (the wait for the old link's end is not the attempt's).
    std::vector<std::pair<TimePoint, core::AttemptFinished>> attempts;
    for (const auto& a : events_of<core::AttemptFinished>(h.world, "UID1")) {
        if (a.first > at_ms(5000)) {
            attempts.push_back(a);
        }
    }
    ASSERT_EQ(attempts.size(), 1U);
    EXPECT_EQ(ms_text(attempts[0].first), "5390");
    EXPECT_TRUE(attempts[0].second.connected);
    EXPECT_TRUE(attempts[0].second.resumed);
    EXPECT_EQ(attempts[0].second.total, 220ms);  // from the standby's open (5150 ms), not from the first login
    EXPECT_EQ(attempts[0].second.steps.login, std::optional<Duration>(60ms));
    EXPECT_EQ(h.world.client("UID1").state(), ConnectionState::connected);
    EXPECT_EQ(h.world.client("UID1").channel_state("ch"), ChannelState::connected);
    // The new link carries the session: its heartbeats are answered, and nothing was lost on the way.
    EXPECT_TRUE(h.world.client("UID1").link_up());
    EXPECT_GE(h.world.last_received("UID1"), at_ms(14'000));
}

// The old network is gone when the hint comes: the probe is not answered, and the client reconnects as before, at
// once when the probe timeout (312.5 ms after three 100 ms round trips ... here 2 × 100 + 4 × 3.9 ms) passes.
TEST(Handover, OldLinkDeadFallsBackToTheReconnect) {
    Handover h;
    h.world.set_path_link("UID1", 0, LinkMode::blackhole);
    h.world.switch_network("UID1", LinkMode::pass, 30ms);
    h.network_changed();
    h.world.run_until(at_ms(8000));
    const auto states = h.states("UID1");
    ASSERT_EQ(states.size(), 4U) << joined(states);
    EXPECT_NE(states[0].find("state RECONNECTING CLIENT_IP_ADDRESS_CHANGED"), std::string::npos) << states[0];
    EXPECT_NE(states[2].find("state CONNECTED"), std::string::npos) << joined(states);
    const auto opens = h.opens();
    ASSERT_EQ(opens.size(), 1U);
    EXPECT_FALSE(opens[0].standby);
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{});  // resumed within the presence timeout
}

// The new network refuses connections: the standby fails, the failure is reported as attempt 1 with its cause, the
// held sends go on the old link, which stays, with no state change.
TEST(Handover, NewPathRefusedKeepsTheOldLink) {
    Handover h;
    h.world.switch_network("UID1", LinkMode::refuse, 30ms);
    h.network_changed();
    h.traffic(at_ms(5000), 50);
    h.world.run_until(at_ms(10'000));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    const auto failures = events_of<core::AttemptFailed>(h.world, "UID1");
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].second.attempt, 1U);
    EXPECT_EQ(failures[0].second.cause, AttemptFailure::refused);
    EXPECT_EQ(ms_text(failures[0].first), "5160");  // probe answered at 5100, refused 2 × 30 ms later
    const auto finished = events_of<core::AttemptFinished>(h.world, "UID1");
    ASSERT_FALSE(finished.empty());
    EXPECT_EQ(finished.back().first, failures[0].first);
    EXPECT_EQ(finished.back().second.cause, std::optional<AttemptFailure>(AttemptFailure::refused));
    EXPECT_EQ(finished.back().second.total, 60ms);
    EXPECT_EQ(h.world.transports("UID1"), std::vector<core::TransportId>{h.old_transport});
    ASSERT_TRUE(h.world.client("UID1").status(h.world.now()).last_failure.has_value());
    EXPECT_EQ(h.received("UID1", true), Handover::numbered("c", 50)) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 50)) << joined(h.received("UID1", false));
    EXPECT_EQ(h.received("UID2", false), Handover::numbered("u", 25)) << joined(h.received("UID2", false));
    h.expect_sends_succeeded("UID1", 25);
}

// The new network swallows the connection: the standby times out after the attempt timeout; the old link stays.
TEST(Handover, NewPathHangingTimesOutAndKeepsTheOldLink) {
    Handover h;
    h.world.switch_network("UID1", LinkMode::blackhole, 30ms);
    h.network_changed();
    h.world.run_until(at_ms(30'000));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    const auto failures = events_of<core::AttemptFailed>(h.world, "UID1");
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].second.cause, AttemptFailure::timeout);
    EXPECT_EQ(failures[0].first, at_ms(5100) + h.world.client("UID1").config().timings.attempt_timeout);
    EXPECT_EQ(h.world.transports("UID1"), std::vector<core::TransportId>{h.old_transport});
    EXPECT_TRUE(h.world.client("UID1").link_up());
}

// The old link is reset while the standby is still logging in (its Login goes at 5310 ms on a slow new network):
// the standby goes on as the reconnect, hidden (within the silence threshold), and nothing is lost.
TEST(Handover, OldLinkDyingDuringTheHandoverContinuesOnTheStandby) {
    Handover h;
    h.world.switch_network("UID1", LinkMode::pass, 200ms);
    h.network_changed();  // answered at 5100; the standby opens at 5500; its Login is answered at 5900
    h.traffic(at_ms(5000), 40);
    h.world.run_until(at_ms(5600));
    h.world.reset_path("UID1", 0);
    h.world.run_until(at_ms(15'000));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{});
    EXPECT_EQ(h.received("UID1", true), Handover::numbered("c", 40)) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 40)) << joined(h.received("UID1", false));
    EXPECT_EQ(h.received("UID2", false), Handover::numbered("u", 20)) << joined(h.received("UID2", false));
    h.expect_sends_succeeded("UID1", 20);
    h.expect_only_the_standby_left();
}

// The new network is slower than the old one (100 ms against 50 ms): the server's close of the old transport, when
// it moves the session, reaches the client before the LoginOk on the new one. That close is the move, not an outage:
// the standby logs in as planned, no state change, a report of no outage, nothing lost.
TEST(Handover, OldLinkClosedByTheMoveBeforeTheLoginOkArrives) {
    Handover h;
    h.world.switch_network("UID1", LinkMode::pass, 100ms);
    h.network_changed();
    h.traffic(at_ms(5000), 60);
    h.world.run_until(at_ms(15'000));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{});
    EXPECT_EQ(h.received("UID1", true), Handover::numbered("c", 60)) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 60)) << joined(h.received("UID1", false));
    EXPECT_EQ(h.received("UID2", false), Handover::numbered("u", 30)) << joined(h.received("UID2", false));
    h.expect_sends_succeeded("UID1", 30);
    const auto reports = events_of<core::ContinuityReport>(h.world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.outage, Duration::zero());
    EXPECT_FALSE(h.closed_the_old_transport()) << "the server closed it: the client had nothing left to close";
}

// The old path is slow (50 ms) and the new one fast (5 ms): when the standby's LoginOk comes (5270 ms), the 100
// channel messages UID2 sent just before the session moved are still on their way on the old link, more than the
// backfill's 32. The client reads the old link to its end (the server closes it once everything before the move is
// written) before the new one takes over: each message once, in order, and nothing reported as dropped.
TEST(Handover, OldLinkIsReadToItsEndWhenMoreThanTheBackfillIsInFlight) {
    Handover h;
    h.hand_over_with_a_burst_in_flight();
    h.world.run_until(at_ms(15'000));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{}) << joined(h.membership("UID2"));
    EXPECT_EQ(h.received("UID1", true), Handover::numbered("c", 100)) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 100)) << joined(h.received("UID1", false));
    const auto reports = events_of<core::ContinuityReport>(h.world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.outage, Duration::zero());
    EXPECT_EQ(reports[0].second.dropped, 0U);
    h.expect_only_the_standby_left();
}

// As above, but the old path goes silent right after the standby's Login (5262 ms): the old link's end never comes,
// so it is waited for one probe timeout after the LoginOk (5270 ms), then closed. What it still carried is lost,
// and reported: the 68 channel messages older than the backfill's 32 are the report's `dropped`; the peer messages
// all come again in the backfill. Still no state change.
TEST(Handover, OldLinkSilentAfterTheMoveIsWaitedForOneProbeTimeout) {
    Handover h;
    h.hand_over_with_a_burst_in_flight();
    h.world.run_until(at_ms(5262));
    // The probe timeout of the old link (docs/reliability.md): 2 × SRTT + 4 × RTTVAR, at least 300 ms.
    const LinkQuality quality = h.world.client("UID1").link_quality(h.world.now());
    const Duration probe_timeout = std::max<Duration>(2 * quality.rtt + 4 * quality.rtt_var, 300ms);
    h.world.set_path_link("UID1", 0, LinkMode::blackhole);
    h.world.run_until(at_ms(15'000));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{}) << joined(h.membership("UID2"));
    std::vector<std::string> backfilled;
    for (int i = 68; i < 100; ++i) {
        backfilled.push_back("c" + std::to_string(i));
    }
    EXPECT_EQ(h.received("UID1", true), backfilled) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 100)) << joined(h.received("UID1", false));
    const auto reports = events_of<core::ContinuityReport>(h.world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(reports[0].first, at_ms(5270) + probe_timeout);
    EXPECT_EQ(reports[0].second.outage, Duration::zero());
    EXPECT_EQ(reports[0].second.dropped, 68U);
    EXPECT_TRUE(h.closed_the_old_transport());
    h.expect_only_the_standby_left();
}

// A logout while the old link is read to its end (the LoginOk came at 5270 ms, the old link's end comes at 5315 ms):
// the session is on the new link, so the Logout goes there (at the server at 5295 ms), and the peer sees UID1 quit
// at once (5345 ms), not when its presence runs out.
TEST(Handover, ALogoutWhileTheOldLinkIsReadGoesOnTheNewLink) {
    Handover h;
    h.world.switch_network("UID1", LinkMode::pass, 5ms);
    h.world.run_until(at_ms(5050));
    h.network_changed();
    h.world.run_until(at_ms(5290));
    ASSERT_EQ(h.world.transports("UID1").size(), 2U);  // both links: the old one is being read
    EXPECT_FALSE(h.world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    h.world.run_until(at_ms(6000));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{"5345 UID2 member_left ch UID1 QUIT"})
        << joined(h.membership("UID2"));
    EXPECT_EQ(h.world.client("UID1").state(), ConnectionState::disconnected);
}

// A logout while the new link's Login is on its way (sent, not answered yet): the server moves the session to the new
// link when it takes that Login, so the Logout goes after it, on the new link. On the old link it found the session
// gone (the Login arrived first) and the new link closed under it: the peer saw UID1 leave only when its presence
// ran out, tens of seconds later.
TEST(Handover, ALogoutWhileTheNewLinksLoginIsOnItsWayFollowsItThere) {
    Handover h;
    h.world.switch_network("UID1", LinkMode::pass, 5ms);
    h.world.run_until(at_ms(5050));
    h.network_changed();
    const auto standby_login_sent = [&]() -> std::optional<TimePoint> {
        std::set<core::TransportId> standbys;
        for (const auto& open : h.opens()) {
            if (open.standby) {
                standbys.insert(open.transport);
            }
        }
        for (const auto& record : h.world.actions()) {
            const auto* send = std::get_if<core::SendFrame>(&record.action);
            if (record.client == "UID1" && send != nullptr && standbys.count(send->transport) != 0 &&
                std::holds_alternative<proto::Login>(send->message)) {
                return record.at;
            }
        }
        return std::nullopt;
    };
    std::optional<TimePoint> login_sent;
    for (TimePoint t = at_ms(5050); t < at_ms(5500) && !login_sent; t += 1ms) {
        h.world.run_until(t);
        login_sent = standby_login_sent();
    }
    ASSERT_TRUE(login_sent);
    ASSERT_EQ(h.world.transports("UID1").size(), 2U);
    EXPECT_FALSE(h.world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    EXPECT_EQ(h.world.client("UID1").state(), ConnectionState::disconnected);
    h.world.run_until(at_ms(60'000));  // well past the presence timeout
    // The Login and the Logout reach the server 5 ms after they left; the peer hears 50 ms later.
    const auto quit_at = std::chrono::duration_cast<std::chrono::milliseconds>(*login_sent - at_ms(0) + 55ms).count();
    EXPECT_EQ(h.membership("UID2"),
              std::vector<std::string>{std::to_string(quit_at) + " UID2 member_left ch UID1 QUIT"})
        << joined(h.membership("UID2"));
    EXPECT_TRUE(h.world.transports("UID1").empty());
}

// A hint while the session reconnects: no link to keep, so no handover: an attempt at once, as before.
TEST(Handover, DuringAReconnectReconnectsAtOnce) {
    Handover h;
    h.world.set_link("UID1", LinkMode::blackhole);
    h.world.run_until(at_ms(12'000));  // RECONNECTING since 9000-ish; attempts hang
    ASSERT_NE(h.world.client("UID1").state(), ConnectionState::connected);
    h.world.switch_network("UID1", LinkMode::pass, 30ms);
    h.network_changed();
    h.world.run_until(at_ms(13'000));
    const auto opens = h.opens(at_ms(12'000));
    ASSERT_EQ(opens.size(), 1U);
    EXPECT_FALSE(opens[0].standby);
    EXPECT_EQ(attempts_of(h.world, "UID1", at_ms(12'000)), std::vector<TimePoint>{at_ms(12'000)});
    EXPECT_EQ(h.world.client("UID1").state(), ConnectionState::connected);
}

// A drain closes the link (Close(draining)); a hint then finds no link to hand over from and does what it does
// during any reconnect: an attempt at once (decided in docs/decisions.md: the hint is news about the path, and the
// drain's spread is only a schedule).
TEST(Handover, DuringADrainNoHandover) {
    Handover h;
    h.world.server_drain(10s);
    h.world.run_until(at_ms(5200));
    ASSERT_FALSE(h.world.client("UID1").link_up());
    h.world.switch_network("UID1", LinkMode::pass, 30ms);
    h.network_changed();
    h.world.run_until(at_ms(5300));
    for (const auto& open : h.opens()) {
        EXPECT_FALSE(open.standby);
    }
    EXPECT_EQ(attempts_of(h.world, "UID1", at_ms(5200)), std::vector<TimePoint>{at_ms(5200)});
}

// Two nodes sharing a store: the load balancer sends UID1's next connection to node 1. The standby resumes the
// session there (through the store); node 0 closes the old transport when the session moves; the peer, on node 0,
// sees nothing, and every message arrives once, in order.
TEST(Handover, ToAnotherClusterNode) {
    Handover h(fast_server(2));
    ASSERT_EQ(h.world.server().node_of("UID1"), std::optional<std::size_t>(0));
    h.world.server().route("UID1", 1);
    h.world.switch_network("UID1", LinkMode::pass, 30ms);
    h.network_changed();
    h.traffic(at_ms(5000), 100);
    h.world.run_until(at_ms(15'000));
    EXPECT_EQ(h.world.server().node_of("UID1"), std::optional<std::size_t>(1));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    EXPECT_EQ(h.states("UID2"), std::vector<std::string>{}) << joined(h.states("UID2"));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{}) << joined(h.membership("UID2"));
    EXPECT_EQ(h.received("UID1", true), Handover::numbered("c", 100)) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 100)) << joined(h.received("UID1", false));
    EXPECT_EQ(h.received("UID2", false), Handover::numbered("u", 50)) << joined(h.received("UID2", false));
    h.expect_sends_succeeded("UID1", 50);
    h.expect_only_the_standby_left();
}

// The cluster's version of the old link read to its end: node 0 writes what it had for the old transport, then
// closes it when the session moves to node 1 (through the store); 100 channel messages in flight, more than the
// backfill, each arrive once, in order.
TEST(Handover, ToAnotherClusterNodeTheOldLinkIsReadToItsEnd) {
    Handover h(fast_server(2));
    h.world.server().route("UID1", 1);
    h.hand_over_with_a_burst_in_flight();
    h.world.run_until(at_ms(15'000));
    EXPECT_EQ(h.world.server().node_of("UID1"), std::optional<std::size_t>(1));
    EXPECT_EQ(h.states("UID1"), std::vector<std::string>{}) << joined(h.states("UID1"));
    EXPECT_EQ(h.membership("UID2"), std::vector<std::string>{}) << joined(h.membership("UID2"));
    EXPECT_EQ(h.received("UID1", true), Handover::numbered("c", 100)) << joined(h.received("UID1", true));
    EXPECT_EQ(h.received("UID1", false), Handover::numbered("p", 100)) << joined(h.received("UID1", false));
    const auto reports = events_of<core::ContinuityReport>(h.world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(reports[0].second.dropped, 0U);
}

}  // namespace
}  // namespace relink::test
