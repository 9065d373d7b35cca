// The link part of the client core (core/link.hpp) on its own, without a session or a state machine: transport ids
// and attempts, the attempt deadline, heartbeat pacing (a ping a whole interval after the last send, whatever is
// received), the silence deadline (counted from the last data received, whatever is sent), the heartbeat a login
// agrees, and the retry schedule. ClientCore's behaviour with it is proven by the timeline and liveness tests.
#include "core/link.hpp"

#include <random>

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

}  // namespace
}  // namespace relink::core
