// Failed connection attempts on the virtual clock: every failed attempt reaches the app as an AttemptFailed with its
// cause and detail at the moment the core learns of it (never held until the attempt timer), the state change that
// ends a failed login names the last cause, and ClientCore::status(now) gives state, reason, attempt, time to the
// next retry, time in the state and the last failure, exact at any time. Also what a client does with a server older
// than recovery keys, which would take a key request for an unknown type and close the link.
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/client_core.hpp"
#include "core/harness.hpp"
#include "core/recovery_key.hpp"

namespace relink::test {
namespace {

/// One core driven by hand: the test plays the transport and the server.
class CoreByHand {
public:
    explicit CoreByHand(Profile profile = Profile::rtm, std::uint64_t seed = 1) : core(exact_config(profile, seed)) {}
    explicit CoreByHand(core::Config config) : core(std::move(config)) {}

    /// Drains the actions (remembering the transport and login request) and returns the events.
    std::vector<core::Event> drain() {
        while (auto action = core.poll_action()) {
            if (const auto* open = std::get_if<core::OpenTransport>(&*action)) {
                transport = open->transport;
                ++opened;
            } else if (const auto* frame = std::get_if<core::SendFrame>(&*action)) {
                if (const auto* login = std::get_if<proto::Login>(&frame->message)) {
                    login_request = login->request_id;
                }
            }
        }
        std::vector<core::Event> events;
        while (auto event = core.poll_event()) {
            events.push_back(std::move(*event));
        }
        return events;
    }

    /// Opens the current transport and answers its login with success, at `now`.
    std::vector<core::Event> connect(TimePoint now) {
        core.on_transport_open(now, transport);
        drain();
        proto::LoginOk ok;
        ok.request_id = login_request.value_or(0);
        core.on_message(now, transport, ok);
        return drain();
    }

    core::ClientCore core;
    core::TransportId transport{0};
    std::optional<proto::RequestId> login_request;
    int opened{0};
};

template <class E>
std::vector<E> all_of(const std::vector<core::Event>& events) {
    std::vector<E> out;
    for (const auto& event : events) {
        if (const auto* e = std::get_if<E>(&event)) {
            out.push_back(*e);
        }
    }
    return out;
}

TEST(AttemptFailed, TheTransportsCauseIsReportedAtOnceWithItsDetail) {
    CoreByHand c;
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    ASSERT_EQ(c.opened, 1);
    // The transport fails 20 ms in, long before the attempt timer (5 s): the cause goes out with that input.
    c.core.on_transport_closed(at_ms(20), c.transport, std::make_error_code(std::errc::protocol_error),
                               AttemptFailure::certificate,
                               "tls: certificate verify failed: self-signed certificate (certificate at depth 0)");
    const auto events = c.drain();
    const auto failed = all_of<core::AttemptFailed>(events);
    ASSERT_EQ(failed.size(), 1U);
    EXPECT_EQ(failed[0].attempt, 1U);
    EXPECT_EQ(failed[0].cause, AttemptFailure::certificate);
    EXPECT_EQ(failed[0].detail, "tls: certificate verify failed: self-signed certificate (certificate at depth 0)");
    EXPECT_TRUE(all_of<core::ConnectionStateChanged>(events).empty()) << "the state stays CONNECTING";

    // Without a detail, the error's message is the detail.
    c.core.handle_timeout(at_ms(300));  // the first retry: 300 ms after the first attempt started
    c.drain();
    ASSERT_EQ(c.opened, 2);
    c.core.on_transport_closed(at_ms(310), c.transport, std::make_error_code(std::errc::connection_refused),
                               AttemptFailure::refused);
    const auto second = all_of<core::AttemptFailed>(c.drain());
    ASSERT_EQ(second.size(), 1U);
    EXPECT_EQ(second[0].attempt, 2U);
    EXPECT_EQ(second[0].cause, AttemptFailure::refused);
    EXPECT_EQ(second[0].detail, std::make_error_code(std::errc::connection_refused).message());
}

TEST(AttemptFailed, ALinkThatWasUpIsNoFailedAttempt) {
    CoreByHand c;
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    c.connect(at_ms(100));
    ASSERT_EQ(c.core.state(), ConnectionState::connected);
    c.core.on_transport_closed(at_ms(500), c.transport, std::make_error_code(std::errc::connection_reset),
                               AttemptFailure::closed, "read: connection reset by peer");
    EXPECT_TRUE(all_of<core::AttemptFailed>(c.drain()).empty());
    EXPECT_FALSE(c.core.status(at_ms(500)).last_failure);
    // The reconnect that follows is an attempt: its failure is reported.
    c.core.handle_timeout(at_ms(800));
    c.drain();
    c.core.on_transport_closed(at_ms(850), c.transport, std::make_error_code(std::errc::connection_refused),
                               AttemptFailure::refused, "tcp: cannot connect to 127.0.0.1:1: Connection refused");
    const auto failed = all_of<core::AttemptFailed>(c.drain());
    ASSERT_EQ(failed.size(), 1U);
    EXPECT_EQ(failed[0].attempt, 1U);  // the first attempt of this outage
    EXPECT_EQ(failed[0].cause, AttemptFailure::refused);
}

TEST(AttemptFailed, AStaleTransportsFailureIsNotReported) {
    CoreByHand c;
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    const core::TransportId first = c.transport;
    c.core.notify_network_changed(at_ms(10));  // the attempt starts over on a new transport
    c.drain();
    ASSERT_NE(c.transport, first);
    c.core.on_transport_closed(at_ms(20), first, std::make_error_code(std::errc::connection_reset),
                               AttemptFailure::closed, "read: late");
    EXPECT_TRUE(all_of<core::AttemptFailed>(c.drain()).empty());
}

// A refused port in the simulated world: every attempt of the first login fails with REFUSED one round trip after
// it opened, and the DISCONNECTED LOGIN_TIMEOUT at 12 s names it.
TEST(AttemptFailed, EveryRefusedAttemptIsReportedAndTheLoginTimeoutNamesTheLast) {
    World world;
    world.add_client("UID1", exact_config(Profile::rtm));  // 50 ms one way
    world.set_link("UID1", LinkMode::refuse);
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(20'000));

    const auto opens = attempts_of(world, "UID1");
    const auto failures = events_of<core::AttemptFailed>(world, "UID1");
    ASSERT_GE(opens.size(), 5U);
    ASSERT_EQ(failures.size(), opens.size());
    for (std::size_t i = 0; i < failures.size(); ++i) {
        EXPECT_EQ(failures[i].first, opens[i] + 100ms) << "attempt " << i + 1 << " reported when it failed";
        EXPECT_EQ(failures[i].second.attempt, i + 1);
        EXPECT_EQ(failures[i].second.cause, AttemptFailure::refused);
        EXPECT_EQ(failures[i].second.detail, "tcp: connection refused");
    }
    const auto states = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_EQ(states.size(), 2U);
    EXPECT_FALSE(states[0].second.last_failure) << "a new login starts with no failure";
    EXPECT_EQ(states[1].first, at_ms(12'000));
    EXPECT_EQ(states[1].second.reason, ConnectionReason::login_timeout);
    ASSERT_TRUE(states[1].second.last_failure);
    EXPECT_EQ(states[1].second.last_failure->cause, AttemptFailure::refused);
    EXPECT_EQ(states[1].second.last_failure->attempt, failures.size());
    // The status keeps naming it after the login gave up.
    const auto status = world.client("UID1").status(at_ms(20'000));
    EXPECT_EQ(status.state, ConnectionState::disconnected);
    EXPECT_EQ(status.reason, ConnectionReason::login_timeout);
    EXPECT_EQ(status.in_state, 8000ms);
    EXPECT_EQ(status.next_retry, Duration::zero());
    ASSERT_TRUE(status.last_failure);
    EXPECT_EQ(status.last_failure->cause, AttemptFailure::refused);
}

// A blackhole: the core's own attempt timer is the failure (TIMEOUT). The attempt still open when the login timeout
// passes is cut short: it is not reported, and the DISCONNECTED LOGIN_TIMEOUT names the attempt that did fail.
TEST(AttemptFailed, AHangingAttemptTimesOut) {
    World world;
    world.add_client("UID1", exact_config(Profile::rtm));
    world.set_link("UID1", LinkMode::blackhole);
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(20'000));
    EXPECT_EQ(attempts_of(world, "UID1").size(), 3U);  // at 0, 5 s and 10 s
    const auto failures = events_of<core::AttemptFailed>(world, "UID1");
    ASSERT_EQ(failures.size(), 2U);
    EXPECT_EQ(failures[0].first, at_ms(5000));  // attempt_timeout
    EXPECT_EQ(failures[0].second.cause, AttemptFailure::timeout);
    EXPECT_EQ(failures[0].second.detail, "no connection to the server within 5000 ms");
    EXPECT_EQ(failures[1].first, at_ms(10'000));  // the next attempt started at once: it had waited long enough
    const auto states = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_EQ(states.size(), 2U);
    EXPECT_EQ(states[1].first, at_ms(12'000));
    ASSERT_TRUE(states[1].second.last_failure);
    EXPECT_EQ(states[1].second.last_failure->attempt, 2U);
    EXPECT_EQ(states[1].second.last_failure->cause, AttemptFailure::timeout);
}

// The only attempt is still open when the login timeout passes (its own timeout is longer): that is the cause.
TEST(AttemptFailed, TheLoginTimeoutIsTheCauseWhenNoAttemptFailedBefore) {
    World world;
    core::Config config = exact_config(Profile::rtm);
    config.timings.attempt_timeout = 20s;
    world.add_client("UID1", config);
    world.set_link("UID1", LinkMode::blackhole);
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(30'000));
    const auto failures = events_of<core::AttemptFailed>(world, "UID1");
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].first, at_ms(12'000));
    EXPECT_EQ(failures[0].second.attempt, 1U);
    EXPECT_EQ(failures[0].second.cause, AttemptFailure::timeout);
    EXPECT_EQ(failures[0].second.detail, "the login timeout (12000 ms) passed during the attempt");
    const auto states = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_EQ(states.size(), 2U);
    ASSERT_TRUE(states[1].second.last_failure);
    EXPECT_EQ(states[1].second.last_failure->cause, AttemptFailure::timeout);
}

// The server refused the login: the attempt failed with SERVER, reported before the state change it causes.
TEST(AttemptFailed, ARefusedLoginIsAServerFailureBeforeTheStateChange) {
    sim::HubServerConfig config;
    config.refused_users = {"UID1"};
    World world(config);
    world.add_client("UID1", exact_config(Profile::rtm));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(1000));
    std::vector<std::string> kinds;
    for (const auto& record : world.log()) {
        kinds.push_back(core::describe(record.event).substr(0, core::describe(record.event).find(' ')));
    }
    EXPECT_EQ(kinds, (std::vector<std::string>{"connection_state_changed", "attempt_failed", "attempt_finished",
                                               "connection_state_changed"}));
    const auto failures = events_of<core::AttemptFailed>(world, "UID1");
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].second.cause, AttemptFailure::server);
    EXPECT_EQ(failures[0].second.detail.rfind("the server refused the login: ", 0), 0U) << failures[0].second.detail;
    const auto states = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_TRUE(states.back().second.last_failure);
    EXPECT_EQ(states.back().second.last_failure->cause, AttemptFailure::server);
}

TEST(ConnectionStatus, IsExactAtAnyTime) {
    CoreByHand c;
    const auto fresh = c.core.status(at_ms(0));
    EXPECT_EQ(fresh.state, ConnectionState::disconnected);
    EXPECT_EQ(fresh.attempt, 0U);
    EXPECT_EQ(fresh.next_retry, Duration::zero());
    EXPECT_EQ(fresh.in_state, Duration::zero());  // no change yet
    EXPECT_FALSE(fresh.last_failure);

    ASSERT_FALSE(c.core.login(at_ms(1000), "UID1", "valid"));
    c.drain();
    auto s = c.core.status(at_ms(1040));
    EXPECT_EQ(s.state, ConnectionState::connecting);
    EXPECT_EQ(s.reason, ConnectionReason::login);
    EXPECT_EQ(s.attempt, 1U);
    EXPECT_EQ(s.next_retry, Duration::zero()) << "an attempt is under way: none scheduled";
    EXPECT_EQ(s.in_state, 40ms);

    c.core.on_transport_closed(at_ms(1100), c.transport, std::make_error_code(std::errc::connection_refused),
                               AttemptFailure::refused, "tcp: refused");
    c.drain();
    // A refused attempt is followed by a probe 100 ms after the refusal (jitter off): the countdown is current
    // whenever it is read.
    s = c.core.status(at_ms(1100));
    EXPECT_EQ(s.attempt, 1U);
    EXPECT_EQ(s.next_retry, 100ms);
    ASSERT_TRUE(s.last_failure);
    EXPECT_EQ(s.last_failure->cause, AttemptFailure::refused);
    EXPECT_EQ(s.last_failure->detail, "tcp: refused");
    EXPECT_EQ(c.core.status(at_ms(1150)).next_retry, 50ms);
    EXPECT_EQ(c.core.status(at_ms(1150)).in_state, 150ms);
    EXPECT_EQ(c.core.status(at_ms(1300)).next_retry, Duration::zero()) << "never negative";

    c.core.handle_timeout(at_ms(1200));
    c.drain();
    EXPECT_EQ(c.core.status(at_ms(1200)).attempt, 2U);
    const auto connected = c.connect(at_ms(1400));
    const auto changes = all_of<core::ConnectionStateChanged>(connected);
    ASSERT_EQ(changes.size(), 1U);
    EXPECT_EQ(changes[0].state, ConnectionState::connected);
    EXPECT_FALSE(changes[0].last_failure) << "a successful login clears it";
    s = c.core.status(at_ms(1500));
    EXPECT_EQ(s.state, ConnectionState::connected);
    EXPECT_EQ(s.attempt, 0U);
    EXPECT_EQ(s.in_state, 100ms);
    EXPECT_FALSE(s.last_failure);
}

// RECONNECTING INTERRUPTED after the silence threshold names the failures of the reconnects made before it.
TEST(ConnectionStatus, TheVisibleOutageNamesTheFailuresBeforeIt) {
    World world;
    world.add_client("UID1", exact_config(Profile::rtm));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(1000));
    ASSERT_EQ(world.client("UID1").state(), ConnectionState::connected);
    world.set_link("UID1", LinkMode::refuse);  // the connection is reset; every reconnect is refused
    world.run_until(at_ms(10'000));
    const auto states = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_GE(states.size(), 3U);
    EXPECT_EQ(states[2].second.state, ConnectionState::reconnecting);
    EXPECT_EQ(states[2].second.reason, ConnectionReason::interrupted);
    ASSERT_TRUE(states[2].second.last_failure);
    EXPECT_EQ(states[2].second.last_failure->cause, AttemptFailure::refused);
    const auto status = world.client("UID1").status(world.now());
    EXPECT_EQ(status.state, ConnectionState::reconnecting);
    EXPECT_GE(status.attempt, 2U);
    EXPECT_GT(status.next_retry, Duration::zero());
    ASSERT_TRUE(status.last_failure);
    EXPECT_EQ(status.last_failure->cause, AttemptFailure::refused);
}

// ---------------------------------------------------------------------------- an overloaded server: Close(busy)

/// Runs the core's timers from `from` until it opens its next transport (at most `limit` later); returns when.
std::optional<TimePoint> next_open(CoreByHand& c, TimePoint from, Duration limit) {
    const int before = c.opened;
    TimePoint now = from;
    while (c.opened == before) {
        const auto deadline = c.core.next_deadline();
        if (!deadline || *deadline > from + limit) {
            return std::nullopt;
        }
        now = std::max(now, *deadline);
        c.core.handle_timeout(now);
        c.drain();
    }
    return now;
}

TEST(AttemptFailedBusy, TheFirstLoginComesBackAtAJitteredPointAfterTheRetryAfterAndStaysConnecting) {
    std::set<Duration::rep> waits;
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        SCOPED_TRACE(seed);
        CoreByHand c(Profile::rtm, seed);
        ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
        const auto first = c.drain();
        ASSERT_EQ(all_of<core::ConnectionStateChanged>(first).size(), 1U);  // CONNECTING
        c.core.on_transport_open(at_ms(10), c.transport);
        c.drain();
        c.core.on_message(at_ms(20), c.transport, proto::Close{proto::CloseReason::busy, 2000ms});
        const auto events = c.drain();
        // The app hears "server busy, come back in 2000 ms" as a failed attempt of its own cause; nothing else.
        const auto failed = all_of<core::AttemptFailed>(events);
        ASSERT_EQ(failed.size(), 1U);
        EXPECT_EQ(failed[0].cause, AttemptFailure::busy);
        EXPECT_EQ(failed[0].attempt, 1U);
        EXPECT_NE(failed[0].detail.find("retry after 2000 ms"), std::string::npos) << failed[0].detail;
        EXPECT_TRUE(all_of<core::ConnectionStateChanged>(events).empty());
        const auto status = c.core.status(at_ms(20));
        EXPECT_EQ(status.state, ConnectionState::connecting);
        ASSERT_TRUE(status.last_failure);
        EXPECT_EQ(status.last_failure->cause, AttemptFailure::busy);
        // Not before the retry-after, and within twice it (the backoff's first step, 300 ms, is shorter).
        const auto again = next_open(c, at_ms(20), 10s);
        ASSERT_TRUE(again);
        EXPECT_GE(*again, at_ms(20 + 2000));
        EXPECT_LE(*again, at_ms(20 + 4000));
        waits.insert((*again - at_ms(20)).count());
        EXPECT_EQ(c.core.state(), ConnectionState::connecting);
        // The next attempt is an ordinary one: it logs in.
        const auto connected = all_of<core::ConnectionStateChanged>(c.connect(*again + 10ms));
        ASSERT_EQ(connected.size(), 1U);
        EXPECT_EQ(connected[0].state, ConnectionState::connected);
    }
    EXPECT_GT(waits.size(), 4U) << "the returns are spread, not in lock-step";
}

TEST(AttemptFailedBusy, AnAbsurdRetryAfterIsHonouredOnlyUpToFiveMinutes) {
    // rtc reconnects for 20 minutes: long enough to see where the client puts its next attempt.
    CoreByHand c(Profile::rtc, 3);
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    c.connect(at_ms(10));
    c.core.on_transport_closed(at_ms(1000), c.transport, std::make_error_code(std::errc::connection_reset),
                               AttemptFailure::closed, "reset");
    c.drain();
    const auto open = next_open(c, at_ms(1000), 60s);
    ASSERT_TRUE(open);
    c.core.on_transport_open(*open, c.transport);
    c.drain();
    // The largest value the wire can carry: the client neither waits for it nor overflows its clock doubling it.
    c.core.on_message(*open + 5ms, c.transport, proto::Close{proto::CloseReason::busy, Duration::max()});
    c.drain();
    const auto again = next_open(c, *open + 5ms, 11min);
    ASSERT_TRUE(again);
    EXPECT_GE(*again, *open + 5ms + 5min);
    EXPECT_LE(*again, *open + 5ms + 10min);
}

// ---------------------------------------------------------------------------- a draining server: Close(draining)

TEST(DrainingClose, ReturnsStartWithinTheWindowsFirstEightyPercentSpreadOverIt) {
    // A session that was up, told to come back within 10 s: its return starts in [0, 8 s] (the rest of the window
    // is its login's), at a point of its own, so that returns are spread over those 8 s and none waits longer.
    std::vector<Duration::rep> waits;
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
        SCOPED_TRACE(seed);
        CoreByHand c(Profile::rtm, seed);
        ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
        c.drain();
        c.connect(at_ms(10));
        ASSERT_EQ(c.core.state(), ConnectionState::connected);
        c.core.on_message(at_ms(1000), c.transport, proto::Close{proto::CloseReason::draining, 10s});
        c.drain();
        const auto again = next_open(c, at_ms(1000), 20s);
        ASSERT_TRUE(again);
        EXPECT_LE(*again, at_ms(1000 + 8000));
        waits.push_back((*again - at_ms(1000)).count());
    }
    std::sort(waits.begin(), waits.end());
    // Spread, not bunched at either end: 40 draws from [0, 8 s] land in both its first and its last quarter.
    EXPECT_LT(waits.front(), std::chrono::duration_cast<Duration>(2s).count());
    EXPECT_GT(waits.back(), std::chrono::duration_cast<Duration>(6s).count());
}

TEST(DrainingClose, AnAbsurdWindowIsHonouredOnlyUpToTenMinutes) {
    CoreByHand c(Profile::rtc, 5);
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    c.connect(at_ms(10));
    // The largest value the wire can carry: the client neither parks for it nor overflows its clock.
    c.core.on_message(at_ms(1000), c.transport, proto::Close{proto::CloseReason::draining, Duration::max()});
    c.drain();
    const auto again = next_open(c, at_ms(1000), 11min);
    ASSERT_TRUE(again);
    EXPECT_LE(*again, at_ms(1000) + 8min);  // the first 80 % of the 10-minute cap
}

TEST(AttemptFailedBusy, AReconnectStaysReconnectingAndAShortRetryAfterKeepsTheBackoff) {
    CoreByHand c(Profile::rtc);
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    c.connect(at_ms(10));
    ASSERT_EQ(c.core.state(), ConnectionState::connected);
    // The link drops; after interrupted_after the app sees RECONNECTING; the attempts then meet a busy server.
    c.core.on_transport_closed(at_ms(1000), c.transport, std::make_error_code(std::errc::connection_reset),
                               AttemptFailure::closed, "reset");
    c.drain();
    TimePoint now = at_ms(1000);
    // Each busy refusal is a failed attempt: the state goes where failed attempts take it (RECONNECTING once
    // interrupted_after has passed, by its own timer), never elsewhere; the retry-after (3 s) sets the next one.
    const auto refuse = [&](Duration retry_after) {
        const auto open = next_open(c, now, 60s);
        EXPECT_TRUE(open);
        now = open.value_or(now);
        c.core.on_transport_open(now, c.transport);
        c.drain();
        const auto state_before = c.core.state();
        now += 5ms;
        c.core.on_message(now, c.transport, proto::Close{proto::CloseReason::busy, retry_after});
        const auto events = c.drain();
        EXPECT_TRUE(all_of<core::ConnectionStateChanged>(events).empty());
        EXPECT_EQ(c.core.state(), state_before);
        EXPECT_EQ(all_of<core::AttemptFailed>(events).size(), 1U);
        return c.core.status(now).next_retry;
    };
    for (int refused = 0; refused < 3; ++refused) {
        const Duration wait = refuse(3s);
        EXPECT_GE(wait, 3s) << refused;
        EXPECT_LE(wait, 6s) << refused;
    }
    EXPECT_EQ(c.core.state(), ConnectionState::reconnecting);
    EXPECT_EQ(c.core.status(now).attempt, 3U);  // counted like any failed attempts: the give-up clock is the same
    // A retry-after shorter than the backoff delay does not shorten it.
    EXPECT_GE(refuse(1ms), 100ms);
    EXPECT_EQ(c.core.state(), ConnectionState::reconnecting);
}

TEST(AttemptFailureNames, RoundTrip) {
    for (const auto cause :
         {AttemptFailure::dns, AttemptFailure::refused, AttemptFailure::timeout, AttemptFailure::network,
          AttemptFailure::proxy, AttemptFailure::tls, AttemptFailure::certificate, AttemptFailure::http,
          AttemptFailure::protocol, AttemptFailure::closed, AttemptFailure::server, AttemptFailure::config,
          AttemptFailure::busy}) {
        EXPECT_EQ(attempt_failure_from_string(to_string(cause)), cause) << to_string(cause);
    }
    EXPECT_EQ(to_string(AttemptFailure::certificate), "CERTIFICATE");
    EXPECT_EQ(to_string(static_cast<AttemptFailure>(200)), "UNKNOWN");
    EXPECT_FALSE(attempt_failure_from_string("refused"));
}

}  // namespace
}  // namespace relink::test

// ------------------------------------------------------------------------------------------- what each attempt took

namespace relink::test {
namespace {

AttemptSteps opened_steps() {
    AttemptSteps s;
    s.dns = 1ms;
    s.tcp = 20ms;
    s.tls = 60ms;
    s.websocket = 39ms;
    s.tls_resumed = true;
    return s;
}

TEST(AttemptFinished, ALoginReportsEachStepAndTheLoginsRoundTripBeforeConnected) {
    CoreByHand c;
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    c.core.on_transport_open(at_ms(120), c.transport, opened_steps());
    c.drain();
    proto::LoginOk ok;
    ok.request_id = c.login_request.value_or(0);
    c.core.on_message(at_ms(150), c.transport, ok);
    const auto events = c.drain();
    const auto finished = all_of<AttemptFinished>(events);
    ASSERT_EQ(finished.size(), 1U);
    const AttemptFinished& f = finished[0];
    EXPECT_EQ(f.attempt, 1U);
    EXPECT_TRUE(f.connected);
    EXPECT_FALSE(f.resumed);
    EXPECT_FALSE(f.cause);
    EXPECT_EQ(f.total, 150ms);
    EXPECT_EQ(f.steps.dns, std::optional<Duration>(1ms));
    EXPECT_EQ(f.steps.tcp, std::optional<Duration>(20ms));
    EXPECT_EQ(f.steps.tls, std::optional<Duration>(60ms));
    EXPECT_EQ(f.steps.websocket, std::optional<Duration>(39ms));
    EXPECT_EQ(f.steps.login, std::optional<Duration>(30ms));  // sent on open at 120 ms, answered at 150 ms
    EXPECT_FALSE(f.steps.proxy);
    EXPECT_TRUE(f.steps.tls_resumed);
    // It comes before the CONNECTED it led to.
    const auto at = [&](auto pred) { return std::find_if(events.begin(), events.end(), pred) - events.begin(); };
    EXPECT_LT(at([](const core::Event& e) { return std::holds_alternative<AttemptFinished>(e); }),
              at([](const core::Event& e) {
                  const auto* s = std::get_if<ConnectionStateChanged>(&e);
                  return s != nullptr && s->state == ConnectionState::connected;
              }));

    const ClientMetrics& m = c.core.metrics();
    EXPECT_EQ(m.attempts, 1U);
    EXPECT_EQ(m.attempts_connected, 1U);
    EXPECT_EQ(m.attempts_resumed, 0U);
    EXPECT_EQ(m.tls_handshakes, 1U);
    EXPECT_EQ(m.tls_handshakes_resumed, 1U);
    EXPECT_EQ(m.state_changes[static_cast<std::size_t>(ConnectionState::connecting)], 1U);
    EXPECT_EQ(m.state_changes[static_cast<std::size_t>(ConnectionState::connected)], 1U);
    // 20 ms falls in the (10, 25] ms bucket, 30 ms of login in (25, 50], 150 ms of attempt in (100, 250].
    const auto bucket = [](const Histogram& h, Duration upper) {
        const auto i = std::find(h.bounds.begin(), h.bounds.end(), upper) - h.bounds.begin();
        return h.counts.at(static_cast<std::size_t>(i));
    };
    EXPECT_EQ(bucket(m.tcp, 25ms), 1U);
    EXPECT_EQ(m.tcp.count, 1U);
    EXPECT_EQ(bucket(m.login, 50ms), 1U);
    EXPECT_EQ(bucket(m.attempt, 250ms), 1U);
    EXPECT_EQ(m.attempt.sum, 150ms);
    EXPECT_EQ(m.proxy.count, 0U);
}

TEST(AttemptFinished, AFailureBeforeTheOpenHasTheStepsItFinishedAndFollowsItsAttemptFailed) {
    CoreByHand c;
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    AttemptSteps finished_steps;
    finished_steps.dns = 2ms;  // then the TCP connect was refused
    c.core.on_transport_closed(at_ms(7), c.transport, std::make_error_code(std::errc::connection_refused),
                               AttemptFailure::refused, "tcp: refused", finished_steps);
    const auto events = c.drain();
    ASSERT_GE(events.size(), 2U);
    const auto first = std::find_if(events.begin(), events.end(),
                                    [](const core::Event& e) { return std::holds_alternative<AttemptFailed>(e); });
    ASSERT_NE(first, events.end());
    ASSERT_NE(first + 1, events.end());
    const auto* f = std::get_if<AttemptFinished>(&*(first + 1));
    ASSERT_NE(f, nullptr) << "the AttemptFinished comes right after the AttemptFailed";
    EXPECT_EQ(f->attempt, 1U);
    EXPECT_FALSE(f->connected);
    EXPECT_EQ(f->cause, std::optional<AttemptFailure>(AttemptFailure::refused));
    EXPECT_EQ(f->total, 7ms);
    EXPECT_EQ(f->steps.dns, std::optional<Duration>(2ms));
    EXPECT_FALSE(f->steps.tcp);
    EXPECT_FALSE(f->steps.login);
    EXPECT_EQ(c.core.metrics().attempts_failed[static_cast<std::size_t>(AttemptFailure::refused)], 1U);
    EXPECT_EQ(c.core.metrics().attempts, 1U);
    EXPECT_EQ(c.core.metrics().attempts_connected, 0U);
}

TEST(AttemptFinished, ALoginTheServerRefusedAsBusyEndsTheLoginStepAndAResumeSaysSo) {
    CoreByHand c;
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    c.core.on_transport_open(at_ms(50), c.transport, opened_steps());
    c.drain();
    proto::Close busy;
    busy.reason = proto::CloseReason::busy;
    busy.reconnect_within = 500ms;
    c.core.on_message(at_ms(65), c.transport, busy);
    auto finished = all_of<AttemptFinished>(c.drain());
    ASSERT_EQ(finished.size(), 1U);
    EXPECT_EQ(finished[0].cause, std::optional<AttemptFailure>(AttemptFailure::busy));
    EXPECT_EQ(finished[0].steps.login, std::optional<Duration>(15ms));
    EXPECT_EQ(finished[0].total, 65ms);

    // The next attempt logs in; the link then breaks and the one after resumes the session.
    const auto retry = c.core.next_deadline();
    ASSERT_TRUE(retry);
    c.core.handle_timeout(*retry);
    c.drain();
    ASSERT_EQ(c.opened, 2);
    auto events = c.connect(*retry + 10ms);
    finished = all_of<AttemptFinished>(events);
    ASSERT_EQ(finished.size(), 1U);
    EXPECT_EQ(finished[0].attempt, 2U);
    EXPECT_TRUE(finished[0].connected);
    EXPECT_FALSE(finished[0].steps.tcp);  // this open said nothing of its steps
    EXPECT_EQ(finished[0].steps.login, std::optional<Duration>(0ms));

    const auto broke = *retry + 1s;
    c.core.on_transport_closed(broke, c.transport, std::make_error_code(std::errc::connection_reset));
    EXPECT_TRUE(all_of<AttemptFinished>(c.drain()).empty()) << "a link that was up is not an attempt";
    const auto again = c.core.next_deadline();
    ASSERT_TRUE(again);
    c.core.handle_timeout(*again);
    c.drain();
    c.core.on_transport_open(*again + 5ms, c.transport, opened_steps());
    c.drain();
    proto::LoginOk ok;
    ok.request_id = c.login_request.value_or(0);
    ok.resumed = true;
    c.core.on_message(*again + 9ms, c.transport, ok);
    finished = all_of<AttemptFinished>(c.drain());
    ASSERT_EQ(finished.size(), 1U);
    EXPECT_TRUE(finished[0].connected);
    EXPECT_TRUE(finished[0].resumed);
    EXPECT_EQ(finished[0].attempt, 1U);  // the first of this outage
    const ClientMetrics& m = c.core.metrics();
    EXPECT_EQ(m.attempts, 3U);
    EXPECT_EQ(m.attempts_connected, 2U);
    EXPECT_EQ(m.attempts_resumed, 1U);
    EXPECT_EQ(m.attempts_failed[static_cast<std::size_t>(AttemptFailure::busy)], 1U);
    EXPECT_EQ(m.login.count, 3U);
}

// A server older than recovery keys says nothing of them in its LoginOk. Asked for a key, it would close the link
// (an unknown type) after each reconnect until the request timed out: the client refuses the request at once.
TEST(RecoveryKeysOfAnOlderServer, ARequestIsRefusedAtOnceAndNothingIsSent) {
    CoreByHand c;
    ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
    c.drain();
    c.connect(at_ms(10));
    const auto [op, error] = c.core.recovery_key(at_ms(20));
    EXPECT_EQ(op, 0U);
    EXPECT_EQ(error, make_error_code(errc::rejected_by_server));
    while (auto action = c.core.poll_action()) {
        const auto* frame = std::get_if<core::SendFrame>(&*action);
        EXPECT_FALSE(frame != nullptr && std::holds_alternative<proto::RecoveryKey>(frame->message));
    }
    EXPECT_EQ(c.core.state(), ConnectionState::connected);
}

// Asked before the login is answered, the request waits in the queue; a LoginOk without recovery keys fails it.
// A server that has them gets it.
TEST(RecoveryKeysOfAnOlderServer, ARequestMadeDuringTheLoginFailsWhenTheServerTurnsOutToBeOlder) {
    for (const bool server_has_them : {false, true}) {
        CoreByHand c;
        ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
        c.drain();
        const auto [op, error] = c.core.recovery_key(at_ms(5));
        ASSERT_FALSE(error);
        c.core.on_transport_open(at_ms(10), c.transport);
        c.drain();
        proto::LoginOk ok;
        ok.request_id = c.login_request.value_or(0);
        ok.recovery_keys = server_has_them;
        c.core.on_message(at_ms(20), c.transport, ok);
        bool requested = false;
        while (auto action = c.core.poll_action()) {
            const auto* frame = std::get_if<core::SendFrame>(&*action);
            requested |= frame != nullptr && std::holds_alternative<proto::RecoveryKey>(frame->message);
        }
        std::vector<core::Event> events;
        while (auto event = c.core.poll_event()) {
            events.push_back(std::move(*event));
        }
        const auto completed = all_of<core::OperationCompleted>(events);
        EXPECT_EQ(requested, server_has_them);
        if (server_has_them) {
            EXPECT_TRUE(completed.empty());
        } else {
            ASSERT_EQ(completed.size(), 1U);
            EXPECT_EQ(completed[0].op, op);
            EXPECT_EQ(completed[0].kind, OpKind::recovery_key);
            EXPECT_EQ(completed[0].error, make_error_code(errc::rejected_by_server));
        }
    }
}

// An older server ignores the login's recovery key and starts a new session (not resumed): the report says it was
// not a recovery.
TEST(RecoveryKeysOfAnOlderServer, ALoginWithAKeyThatStartsANewSessionIsNotReportedAsRecovered) {
    core::RecoveryKeyData key;
    key.app_id = "app";
    key.user_id = "UID1";
    key.secret = std::string(22, 'A');
    const auto text = core::encode_recovery_key(key);
    ASSERT_TRUE(text);
    for (const bool resumed : {false, true}) {
        core::Config config = exact_config(Profile::rtm, 1);
        config.app_id = "app";
        config.recover_key = *text;
        CoreByHand c(config);
        ASSERT_FALSE(c.core.login(at_ms(0), "UID1", "valid"));
        c.drain();
        c.core.on_transport_open(at_ms(10), c.transport);
        c.drain();
        proto::LoginOk ok;
        ok.request_id = c.login_request.value_or(0);
        ok.resumed = resumed;
        ok.recovery_keys = resumed;
        c.core.on_message(at_ms(20), c.transport, ok);
        const auto reports = all_of<core::ContinuityReport>(c.drain());
        ASSERT_EQ(reports.size(), 1U);
        EXPECT_EQ(reports[0].recovered, resumed);
        EXPECT_EQ(reports[0].resumed, resumed);
    }
}

TEST(ClientMetricsText, PrometheusCountersAndCumulativeHistogramsWithTheAppsLabels) {
    ClientMetrics m;
    m.attempts = 3;
    m.attempts_failed[static_cast<std::size_t>(AttemptFailure::refused)] = 2;
    m.state_changes[static_cast<std::size_t>(ConnectionState::reconnecting)] = 4;
    m.tcp.record(20ms);
    m.tcp.record(30ms);
    m.tcp.record(1min);  // above every bound
    const std::string text = to_prometheus(m, "app_relink", "app=\"chat\"");
    const auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
    EXPECT_TRUE(has("app_relink_attempts_total{app=\"chat\"} 3")) << text;
    EXPECT_TRUE(has("app_relink_attempts_failed_total{cause=\"REFUSED\",app=\"chat\"} 2"));
    EXPECT_TRUE(has("app_relink_attempts_failed_total{cause=\"DNS\",app=\"chat\"} 0"));
    EXPECT_TRUE(has("app_relink_state_changes_total{state=\"RECONNECTING\",app=\"chat\"} 4"));
    EXPECT_TRUE(has("# TYPE app_relink_tcp_seconds histogram"));
    EXPECT_TRUE(has("app_relink_tcp_seconds_bucket{le=\"0.01\",app=\"chat\"} 0"));
    EXPECT_TRUE(has("app_relink_tcp_seconds_bucket{le=\"0.025\",app=\"chat\"} 1"));
    EXPECT_TRUE(has("app_relink_tcp_seconds_bucket{le=\"0.05\",app=\"chat\"} 2"));  // cumulative
    EXPECT_TRUE(has("app_relink_tcp_seconds_bucket{le=\"10\",app=\"chat\"} 2"));
    EXPECT_TRUE(has("app_relink_tcp_seconds_bucket{le=\"+Inf\",app=\"chat\"} 3"));
    EXPECT_TRUE(has("app_relink_tcp_seconds_sum{app=\"chat\"} 60.05"));
    EXPECT_TRUE(has("app_relink_tcp_seconds_count{app=\"chat\"} 3"));
    // One HELP and one TYPE per metric, however many labelled samples it has.
    std::size_t types = 0;
    for (auto at = text.find("# TYPE app_relink_attempts_failed_total"); at != std::string::npos;
         at = text.find("# TYPE app_relink_attempts_failed_total", at + 1)) {
        ++types;
    }
    EXPECT_EQ(types, 1U);
    // Without labels, no braces.
    EXPECT_NE(to_prometheus(ClientMetrics{}).find("\nrelink_client_attempts_total 0\n"), std::string::npos);
}

}  // namespace
}  // namespace relink::test
