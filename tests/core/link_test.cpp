// The link part of the client core (core/link.hpp) on its own, without a session or a state machine: transport ids
// and attempts, the attempt deadline, heartbeat pacing (a ping a whole interval after the last send, whatever is
// received), the silence deadline (counted from the last data received, whatever is sent), the heartbeat a login
// agrees, and the retry schedule (the backoff, and the probes after refused attempts within their window).
// ClientCore's behaviour with it is proven by the timeline, backoff and liveness tests.
#include "core/link.hpp"

#include <random>
#include <set>

#include <gtest/gtest.h>

namespace relink::core {
namespace {

using namespace std::chrono_literals;

constexpr TimePoint at(Duration d) {
    return TimePoint{} + d;
}

/// rtm's timings without jitter, so that every delay is exact.
Timings exact_timings() {
    Timings t = timings_for(Profile::rtm);
    t.backoff_jitter = 0.0;
    return t;
}

proto::LoginOk answer(Duration heartbeat) {
    proto::LoginOk ok;
    ok.resume_token = "resume-1";
    const Timings asked = exact_timings();
    ok.negotiated = {heartbeat, asked.presence_timeout, asked.backfill_window, asked.backfill_count};
    return ok;
}

/// A link that opened at 0 ms, sent its login at 100 ms and was answered with `ok` at 200 ms.
Link logged_in_link(const proto::LoginOk& ok) {
    Link link(exact_timings());
    (void)link.start_attempt(at(0ms));
    link.opened(at(100ms), 7);
    link.sent(at(100ms));
    link.received(at(200ms));
    link.logged_in(ok);
    return link;
}

TEST(Link, AttemptsOpenNewTransportsAndAreCounted) {
    Link link(exact_timings());
    EXPECT_EQ(link.stage(), Link::Stage::none);
    EXPECT_FALSE(link.drop(true));  // nothing to close
    const OpenTransport first = link.start_attempt(at(0ms));
    EXPECT_EQ(first.transport, 1u);
    EXPECT_EQ(first.attempt, 1u);
    EXPECT_TRUE(link.attempting());
    EXPECT_EQ(link.attempt_deadline(), at(exact_timings().attempt_timeout));
    EXPECT_FALSE(link.heartbeat_deadline());  // nothing to keep alive before the login succeeds

    const auto failed = link.attempt_failed(AttemptFailure::refused, "refused");
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->attempt, 1u);
    ASSERT_TRUE(link.last_failure());
    EXPECT_EQ(link.last_failure()->cause, AttemptFailure::refused);
    const auto close = link.drop(true);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->transport, 1u);
    EXPECT_FALSE(link.attempt_deadline());
    EXPECT_FALSE(link.attempt_failed(AttemptFailure::closed, "late"));  // no attempt in progress: nothing to report

    const OpenTransport second = link.start_attempt(at(1s));
    EXPECT_EQ(second.transport, 2u);
    EXPECT_EQ(second.attempt, 2u);
    link.reset_attempts();
    EXPECT_EQ(link.start_attempt(at(2s)).attempt, 1u);
}

TEST(Link, TheHeartbeatIsPacedBySendsAndSilenceByReceipts) {
    Link link = logged_in_link(answer(1s));
    ASSERT_TRUE(link.up());
    EXPECT_FALSE(link.attempt_deadline());
    EXPECT_FALSE(link.last_failure());
    EXPECT_EQ(link.resume_token(), "resume-1");
    EXPECT_EQ(link.heartbeat_interval(), 1s);
    // A ping is due a whole interval after the last frame sent; data received does not move it.
    EXPECT_EQ(link.heartbeat_deadline(), at(1100ms));
    link.received(at(900ms));
    EXPECT_EQ(link.heartbeat_deadline(), at(1100ms));
    link.sent(at(1100ms));
    EXPECT_EQ(link.heartbeat_deadline(), at(2100ms));
    // Silence counts from the last data received; sending does not prove the link alive.
    const Duration interrupted_after = exact_timings().interrupted_after;
    EXPECT_EQ(link.silence_deadline(), at(900ms) + interrupted_after);
    link.sent(at(2100ms));
    EXPECT_EQ(link.silence_deadline(), at(900ms) + interrupted_after);
    link.received(at(2150ms));
    EXPECT_EQ(link.silence_deadline(), at(2150ms) + interrupted_after);
    // A dropped link has no heartbeat.
    (void)link.drop(true);
    EXPECT_FALSE(link.heartbeat_deadline());
}

TEST(Link, AHeartbeatTheSilenceDetectorCannotLiveWithIsNotAdopted) {
    const Timings asked = exact_timings();
    for (const Duration unusable : {Duration::zero(), asked.interrupted_after, asked.interrupted_after + 1s}) {
        const Link link = logged_in_link(answer(unusable));
        EXPECT_EQ(link.heartbeat_interval(), asked.heartbeat_interval) << unusable.count();
        ASSERT_TRUE(link.agreed());
        EXPECT_EQ(link.agreed()->heartbeat_interval, asked.heartbeat_interval);
        EXPECT_TRUE(link.agreed()->clamped);  // the server answered something else than asked
    }
    const Link link = logged_in_link(answer(asked.heartbeat_interval));
    ASSERT_TRUE(link.agreed());
    EXPECT_FALSE(link.agreed()->clamped);
}

TEST(Link, RetriesFollowTheBackoffAndResetAfterAStablePeriod) {
    const Timings t = exact_timings();
    std::mt19937_64 rng(1);
    Link link = logged_in_link(answer(1s));
    // After a link that was up, the first delay counts from now.
    (void)link.drop(true);
    link.schedule_retry(at(10s), rng);
    EXPECT_EQ(link.retry_deadline(), at(10s) + t.backoff_initial);
    // After a failed attempt, the next delay counts from that attempt's start.
    (void)link.start_attempt(*link.retry_deadline());
    EXPECT_FALSE(link.retry_deadline());
    const TimePoint started = at(10s) + t.backoff_initial;
    (void)link.drop(false);
    link.schedule_retry(started + 100ms, rng);
    const auto second = std::chrono::duration_cast<Duration>(t.backoff_initial * t.backoff_multiplier);
    EXPECT_EQ(link.retry_deadline(), started + second);
    // An attempt that hung longer than the delay waits only a pause of at most the jitter's share: none here.
    (void)link.start_attempt(started + second);
    (void)link.drop(false);
    link.schedule_retry(started + second + t.attempt_timeout, rng);
    EXPECT_EQ(link.retry_deadline(), started + second + t.attempt_timeout);

    // A login starts a stable period; once it passes the backoff starts over.
    (void)link.start_attempt(*link.retry_deadline());
    link.opened(at(30s), 8);
    link.logged_in(answer(1s));
    link.start_stable_period(at(30s));
    EXPECT_EQ(link.stable_deadline(), at(30s) + t.stable_after);
    link.stable_reached();
    EXPECT_FALSE(link.stable_deadline());
    (void)link.drop(true);
    link.schedule_retry(at(50s), rng);
    EXPECT_EQ(link.retry_deadline(), at(50s) + t.backoff_initial);
}

/// A link that was up and broke at `now`: its first retry is scheduled (the first backoff delay from now).
Link broken_link(const Timings& t, TimePoint now, std::mt19937_64& rng) {
    Link link(t);
    (void)link.start_attempt(at(0ms));
    link.opened(at(100ms), 7);
    link.logged_in(answer(1s));
    (void)link.drop(true);
    link.schedule_retry(now, rng);
    return link;
}

/// Starts the scheduled attempt, fails it with `cause` one `rtt` later and schedules the next; returns its start.
TimePoint fail_next_attempt(Link& link, AttemptFailure cause, Duration rtt, std::mt19937_64& rng) {
    const TimePoint started = *link.retry_deadline();
    (void)link.start_attempt(started);
    EXPECT_TRUE(link.attempt_failed(cause, "failed"));
    (void)link.drop(false);
    link.schedule_retry(started + rtt, rng);
    return started;
}

TEST(Link, RefusedAttemptsAreProbedWithinTheWindowThenTheBackoffGoesOn) {
    const Timings t = exact_timings();
    ASSERT_EQ(t.retry_probe_interval, 100ms);
    ASSERT_EQ(t.retry_probe_window, 2s);
    std::mt19937_64 rng(1);
    Link link = broken_link(t, at(10s), rng);
    EXPECT_EQ(link.retry_deadline(), at(10s) + 300ms);  // a broken link is not a refusal: the first delay
    // The first refusal (at 10.4 s) opens the window, to 12.4 s. Each refusal in it: a probe 100 ms later.
    TimePoint started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    EXPECT_EQ(started, at(10'300ms));
    int probes = 0;
    while (*link.retry_deadline() - (started + 100ms) == 100ms) {
        ++probes;
        started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    }
    // Probes at 10.5, 10.7, ..., 12.3 s (10); the refusal at 12.4 s is past the window: the backoff's second delay
    // (the probes took no step) from the start of the attempt that failed.
    EXPECT_EQ(probes, 10);
    EXPECT_EQ(started, at(12'300ms));
    EXPECT_EQ(link.retry_deadline(), started + 480ms);
    // From now on refusals take the backoff, up to its cap.
    for (int n = 0; n < 12; ++n) {
        started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    }
    EXPECT_EQ(link.retry_deadline(), started + t.backoff_max);
}

TEST(Link, OtherFailuresKeepTheBackoff) {
    // A timeout, a TLS or certificate failure, a closed connection, a refused login: the server may be overloaded
    // (and a TLS attempt is not cheap); each takes the next backoff step, even when it fails fast.
    for (const AttemptFailure cause : {AttemptFailure::timeout, AttemptFailure::tls, AttemptFailure::certificate,
                                       AttemptFailure::closed, AttemptFailure::server, AttemptFailure::network,
                                       AttemptFailure::dns, AttemptFailure::http, AttemptFailure::proxy}) {
        const Timings t = exact_timings();
        std::mt19937_64 rng(1);
        Link link = broken_link(t, at(10s), rng);
        TimePoint started = fail_next_attempt(link, cause, 100ms, rng);
        EXPECT_EQ(link.retry_deadline(), started + 480ms) << static_cast<int>(cause);
        started = fail_next_attempt(link, cause, 100ms, rng);
        EXPECT_EQ(link.retry_deadline(), started + 768ms) << static_cast<int>(cause);
    }
}

TEST(Link, AFailureOtherThanARefusalBetweenRefusalsTakesItsBackoffStep) {
    const Timings t = exact_timings();
    std::mt19937_64 rng(1);
    Link link = broken_link(t, at(10s), rng);
    TimePoint started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    EXPECT_EQ(link.retry_deadline(), started + 200ms);  // a probe
    started = fail_next_attempt(link, AttemptFailure::timeout, t.attempt_timeout, rng);
    // Hung longer than the 480 ms delay: only the pause (none with jitter off).
    EXPECT_EQ(link.retry_deadline(), started + t.attempt_timeout);
    // Refused again within the window (opened at 10.4 s, to 12.4 s)? No: 15.6 s is past it.
    started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    EXPECT_EQ(link.retry_deadline(), started + 768ms);
}

TEST(Link, TheProbeWindowStartsOverWithTheBackoff) {
    const Timings t = exact_timings();
    std::mt19937_64 rng(1);
    Link link = broken_link(t, at(10s), rng);
    for (int n = 0; n < 20; ++n) {
        (void)fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    }
    ASSERT_GT(*link.retry_deadline(), at(13s));  // past the window, on the backoff
    // Connected again for the stable period: the backoff and the window start over.
    (void)link.start_attempt(*link.retry_deadline());
    link.opened(at(60s), 9);
    link.logged_in(answer(1s));
    link.start_stable_period(at(60s));
    link.stable_reached();
    (void)link.drop(true);
    link.schedule_retry(at(80s), rng);
    EXPECT_EQ(link.retry_deadline(), at(80s) + 300ms);
    const TimePoint started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    EXPECT_EQ(link.retry_deadline(), started + 200ms) << "a new window";
}

TEST(Link, AProbeWindowOfZeroTurnsTheProbesOff) {
    Timings t = exact_timings();
    t.retry_probe_window = Duration::zero();
    std::mt19937_64 rng(1);
    Link link = broken_link(t, at(10s), rng);
    TimePoint started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    EXPECT_EQ(link.retry_deadline(), started + 480ms);
    started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
    EXPECT_EQ(link.retry_deadline(), started + 768ms);
}

TEST(Link, ProbesAreJitteredWithOneDrawEach) {
    Timings t = timings_for(Profile::rtm);  // jitter 0.2: probes 100 ms ± 20 % after their refusal
    std::set<Duration::rep> delays;
    for (std::uint64_t seed = 1; seed <= 50; ++seed) {
        std::mt19937_64 rng(seed);
        Link link = broken_link(t, at(10s), rng);
        const TimePoint started = fail_next_attempt(link, AttemptFailure::refused, 100ms, rng);
        const Duration delay = *link.retry_deadline() - (started + 100ms);
        EXPECT_GE(delay, 80ms) << seed;
        EXPECT_LE(delay, 120ms) << seed;
        delays.insert(delay.count());
        // Two draws so far (the first delay, the probe): the engine is two values on.
        std::mt19937_64 replay(seed);
        (void)replay();
        (void)replay();
        EXPECT_EQ(rng(), replay()) << seed;
    }
    EXPECT_EQ(delays.size(), 50U);
}

}  // namespace
}  // namespace relink::core
