// The reconnect backoff (behaviour.md section 2: "capped exponential backoff with jitter, never a fixed interval:
// thousands of clients must not reconnect in lock-step"), proven twice: on core::Backoff directly, and through
// ClientCore on the virtual clock, where a client's link is set to LinkMode::refuse so that every attempt fails
// one RTT after it starts. A refused attempt is followed by probes (retry_probe_interval apart, for
// retry_probe_window from the outage's first refusal) before the backoff goes on: the tests of the probes pin that
// schedule; the tests of the sequence itself (when it continues, when it starts over) turn the probes off
// (sequence_config()), so that every refused attempt takes the next backoff step, as any other failure does.
//
// World set-up of the exact tests: profile rtm, jitter off, one-way latency 50 ms. login() at 0 ms opens a
// transport (open at 100 ms), the login reaches the server at 150 ms and LoginOk comes back at 200 ms: CONNECTED
// at 200 ms. set_link(refuse) resets the open connection; the client hears of it one latency later. Each later
// attempt is refused one RTT (100 ms) after it started, so attempt k+1 starts at attempt k + 100 ms + delay k+1.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "harness.hpp"

namespace relink::test {
namespace {

constexpr auto kInitial = 300ms;
constexpr double kMultiplier = 1.6;
constexpr auto kMax = 8s;
constexpr auto kRtt = 100ms;

/// The n-th (0-based) un-jittered delay of the default backoff, computed exactly in integers:
/// 300 ms × 1.6^n = 300'000'000 ns × 16^n / 10^n (exact for n ≤ 8), capped at 8 s.
Duration exact_base(int n) {
    if (n >= 8) {
        return kMax;
    }
    long long ns = 300'000'000;
    for (int i = 0; i < n; ++i) {
        ns = ns * 16 / 10;
    }
    return std::min<Duration>(Duration(ns), kMax);
}

/// Jitter off and no probes after refused attempts: every refused attempt takes the next backoff step, so that the
/// tests of the sequence itself (when it continues, when it starts over) see it whole.
core::Config sequence_config() {
    core::Config config = exact_config(Profile::rtm);
    config.timings.retry_probe_window = Duration::zero();
    return config;
}

core::Backoff default_backoff(double jitter) {
    return core::Backoff(kInitial, kMultiplier, jitter, kMax);
}

// ================================================================================= core::Backoff directly

TEST(BackoffUnit, ExactSequenceWithJitterOff) {
    auto backoff = default_backoff(0.0);
    std::mt19937_64 rng(1);
    const std::vector<Duration> want{300ms,        480ms, 768ms, 1228800us, 1966080us, 3145728us,
                                     5033164800ns, 8s,    8s,    8s,        8s,        8s};
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(backoff.step(), i);
        EXPECT_EQ(backoff.peek_base(), want[i]) << "step " << i;
        EXPECT_EQ(backoff.next(rng), want[i]) << "step " << i;
        EXPECT_EQ(exact_base(static_cast<int>(i)), want[i]);
    }
    EXPECT_EQ(backoff.step(), want.size());
    // With jitter off the engine is never drawn from.
    std::mt19937_64 fresh(1);
    EXPECT_EQ(rng(), fresh());
}

TEST(BackoffUnit, LongOutagesStayAtTheCapWithoutOverflow) {
    auto backoff = default_backoff(0.0);
    std::mt19937_64 rng(1);
    for (int i = 0; i < 5000; ++i) {
        const Duration d = backoff.next(rng);
        ASSERT_GT(d, 0ns) << i;
        ASSERT_LE(d, kMax) << i;
    }
    EXPECT_EQ(backoff.next(rng), kMax);
    EXPECT_EQ(backoff.peek_base(), kMax);
}

TEST(BackoffUnit, ResetStartsTheSequenceOver) {
    auto backoff = default_backoff(0.0);
    std::mt19937_64 rng(1);
    (void)backoff.next(rng);
    (void)backoff.next(rng);
    (void)backoff.next(rng);
    EXPECT_EQ(backoff.peek_base(), exact_base(3));
    backoff.reset();
    EXPECT_EQ(backoff.step(), 0U);
    EXPECT_EQ(backoff.next(rng), 300ms);
    EXPECT_EQ(backoff.next(rng), 480ms);
}

// The first delay is full jitter, initial × (1 − U[0, 1)) in (0, initial]; every later one is base × U(1 − j, 1 + j).
// Over 10,000 seeds and the first 12 steps: each draw lies in its band, the mean of each step is within 1 % of the
// band's middle (base / 2 for the first, base for the others; the standard error of the mean is ≈ 0.12 % of the
// base for ± 20 % and ≈ 0.6 % of the middle for full jitter, so this is a loose bound; the seeds are fixed, so it
// is deterministic), the draws spread over nearly the whole band, and they are not all equal.
TEST(BackoffUnit, JitteredDelaysStayInTheBandAndAverageToTheBase) {
    constexpr double kJitter = 0.2;
    constexpr int kSeeds = 10'000;
    constexpr int kSteps = 12;
    std::vector<double> sum(kSteps, 0.0);
    std::vector<long long> low(kSteps, std::numeric_limits<long long>::max());
    std::vector<long long> high(kSteps, 0);
    std::vector<std::set<long long>> distinct(kSteps);
    for (int seed = 0; seed < kSeeds; ++seed) {
        auto backoff = default_backoff(kJitter);
        std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
        for (int n = 0; n < kSteps; ++n) {
            const long long base = exact_base(n).count();
            const long long d = backoff.next(rng).count();
            const double low_factor = n == 0 ? 0.0 : 1.0 - kJitter;
            const double high_factor = n == 0 ? 1.0 : 1.0 + kJitter;
            ASSERT_GT(d, 0) << "seed " << seed << " step " << n;
            ASSERT_GE(d, static_cast<long long>(std::floor(static_cast<double>(base) * low_factor)))
                << "seed " << seed << " step " << n;
            ASSERT_LE(d, static_cast<long long>(std::ceil(static_cast<double>(base) * high_factor)))
                << "seed " << seed << " step " << n;
            sum[n] += static_cast<double>(d);
            low[n] = std::min(low[n], d);
            high[n] = std::max(high[n], d);
            distinct[n].insert(d);
        }
    }
    for (int n = 0; n < kSteps; ++n) {
        SCOPED_TRACE("step " + std::to_string(n));
        const double base = static_cast<double>(exact_base(n).count());
        const double mean = sum[n] / kSeeds;
        if (n == 0) {
            EXPECT_NEAR(mean / (base / 2), 1.0, 0.03);  // full jitter: the middle of (0, base]
            EXPECT_LT(static_cast<double>(low[n]), base * 0.01);
            EXPECT_GT(static_cast<double>(high[n]), base * 0.99);
            continue;
        }
        EXPECT_NEAR(mean / base, 1.0, 0.01);
        EXPECT_LT(static_cast<double>(low[n]), base * 0.81);  // the band is used, not just its middle
        EXPECT_GT(static_cast<double>(high[n]), base * 1.19);
        EXPECT_GT(distinct[n].size(), static_cast<std::size_t>(kSeeds * 99 / 100));
    }
}

// The first delay is drawn over the whole of (0, initial] (full jitter), one draw from the engine, whatever the
// jitter setting (as long as it is not 0): a fleet that loses its server at one instant spreads its first retries
// over 300 ms, not over the 120 ms of ± 20 %.
TEST(BackoffUnit, TheFirstDelayIsFullJitterWithinTheInitialDelay) {
    std::set<Duration::rep> firsts;
    int below_half = 0;
    for (std::uint64_t seed = 0; seed < 100; ++seed) {
        auto b = default_backoff(0.2);
        std::mt19937_64 rng(seed);
        const Duration d = b.next(rng);
        EXPECT_GT(d, 0ns) << seed;
        EXPECT_LE(d, kInitial) << seed;
        below_half += d < kInitial / 2 ? 1 : 0;
        firsts.insert(d.count());
        // Exactly one draw (the exact timelines replay the engine's sequence): the engine is one value on.
        std::mt19937_64 replay(seed);
        (void)replay();
        EXPECT_EQ(rng(), replay()) << "the first delay takes one draw";
    }
    EXPECT_EQ(firsts.size(), 100U);
    EXPECT_GT(below_half, 30);  // the lower half of the band is used as much as the upper (50 expected)
    EXPECT_LT(below_half, 70);
}

TEST(BackoffUnit, SameSeedSameSequence) {
    auto a = default_backoff(0.2);
    auto b = default_backoff(0.2);
    std::mt19937_64 ra(42);
    std::mt19937_64 rb(42);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(a.next(ra), b.next(rb));
    }
}

// ================================================================================= through ClientCore

class BackoffWorld : public ::testing::Test {
protected:
    void start(core::Config config) {
        world.add_client("UID1", std::move(config));
        ASSERT_FALSE(
            world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
        world.run_until(at_ms(200));
        ASSERT_EQ(world.client("UID1").state(), ConnectionState::connected);
        ASSERT_TRUE(world.client("UID1").link_up());
    }
    void start_exact() { start(exact_config(Profile::rtm)); }
    void start_sequence() { start(sequence_config()); }

    /// Attempt numbers carried by the OpenTransport actions from `from` on.
    [[nodiscard]] std::vector<std::uint32_t> attempt_numbers(TimePoint from) const {
        std::vector<std::uint32_t> out;
        for (const auto& record : world.actions()) {
            if (record.at >= from) {
                if (const auto* open = std::get_if<core::OpenTransport>(&record.action)) {
                    out.push_back(open->attempt);
                }
            }
        }
        return out;
    }

    World world;
};

// The default schedule of a server that refuses (jitter off). The reset of the open link reaches the client at
// 1050 ms: the first attempt follows the first delay (300 ms: 1350). It is refused at 1450 ms, the outage's first
// refusal, which opens the 2 s probe window (to 3450 ms): each refused attempt is followed by a probe 100 ms after
// the refusal (attempts 200 ms apart: 1550 ... 3350), without a backoff step. The refusal at 3450 ms is past the
// window: the backoff goes on where it was, its second delay (480 ms) counted from the start of the attempt that
// failed (3830), then 768 (4598), 1228.8, 1966.08, 3145.728, 5033.1648 and the 8 s cap.
TEST_F(BackoffWorld, ExactAttemptTimesAfterATransportFailure) {
    start_exact();
    world.run_until(at_ms(1000));
    world.set_link("UID1", LinkMode::refuse);
    world.run_until(at_ms(60'000));

    std::vector<TimePoint> want{at_ms(1350)};
    for (long long probe = 1550; probe <= 3350; probe += 200) {
        want.push_back(at_ms(probe));
    }
    TimePoint t = at_ms(3350);
    for (int n = 1; n < 12; ++n) {
        t += exact_base(n);
        want.push_back(t);
    }
    auto attempts = attempts_of(world, "UID1", at_ms(1000));
    ASSERT_GE(attempts.size(), want.size());
    attempts.resize(want.size());
    std::vector<std::string> got_text;
    std::vector<std::string> want_text;
    for (std::size_t i = 0; i < want.size(); ++i) {
        got_text.push_back(ms_text(attempts[i]));
        want_text.push_back(ms_text(want[i]));
    }
    EXPECT_EQ(got_text, want_text) << joined(got_text);
    // 1350, 1550, ..., 3350 (11 attempts in the first 2.3 s), then 3830, 4598, 5826.8, 7792.88, ...
    EXPECT_EQ(want.size(), 22U);
    EXPECT_EQ(want[10], at_ms(3350));
    EXPECT_EQ(want[11], at_ms(3830));
    EXPECT_EQ(want[12], at_ms(4598));
    EXPECT_EQ(want[13], at_ms(4598) + 1228800us);

    const auto numbers = attempt_numbers(at_ms(1000));
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(numbers[i], i + 1) << "OpenTransport.attempt counts the attempts of the outage, probes included";
    }
    // Once at the cap, attempts start 8 s apart for as long as the outage lasts (rtm never gives up).
    const auto all = attempts_of(world, "UID1", at_ms(1000));
    ASSERT_GT(all.size(), 19U);
    for (std::size_t i = 18; i < all.size(); ++i) {
        EXPECT_EQ(all[i] - all[i - 1], kMax) << i;
    }

    // The state report of the outage: RECONNECTING INTERRUPTED 4 s after the last data (LoginOk at 200 ms).
    const auto changes = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_EQ(changes.size(), 3U);
    EXPECT_EQ(changes[2].first, at_ms(4200));
    EXPECT_EQ(changes[2].second.state, ConnectionState::reconnecting);
    EXPECT_EQ(changes[2].second.reason, ConnectionReason::interrupted);
    // At 4200 ms attempt 12 (started 3830 ms) was refused; attempt 13 is due at 4598 ms.
    EXPECT_EQ(changes[2].second.attempt, 12U);
    EXPECT_EQ(changes[2].second.next_retry, 398ms);
}

// The same outage with jitter on (the default timings): the first retry anywhere in (0, 300 ms] after the reset,
// each probe 100 ms ± 20 % after its refusal while within 2 s of the first refusal, and after the window the
// backoff's bands (480 ms ± 20 %, 768 ms ± 20 % ... counted from attempt starts) up to the 8 s cap ± 20 %.
TEST_F(BackoffWorld, JitteredProbesStayInTheirBandAndWindowThenTheBackoffReachesItsCap) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        World w;
        w.add_client("UID1", core::make_config(Profile::rtm, "app", seed));
        w.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); });
        w.run_until(at_ms(1000));
        w.set_link("UID1", LinkMode::refuse);
        w.run_until(at_ms(120'000));
        const auto attempts = attempts_of(w, "UID1", at_ms(1000));
        ASSERT_GT(attempts.size(), 20U);
        EXPECT_GT(attempts[0] - at_ms(1050), 0ns);
        EXPECT_LE(attempts[0] - at_ms(1050), kInitial);
        const TimePoint window_end = attempts[0] + kRtt + 2s;
        std::size_t i = 1;
        for (; i < attempts.size() && attempts[i - 1] + kRtt < window_end; ++i) {
            const Duration after_refusal = attempts[i] - (attempts[i - 1] + kRtt);
            EXPECT_GE(after_refusal, 80ms) << i;
            EXPECT_LE(after_refusal, 120ms) << i;
        }
        // 2 s of probes 180 to 220 ms apart: 9 to 12 of them.
        EXPECT_GE(i, 10U);
        EXPECT_LE(i, 13U);
        // Then the backoff from its second step on: each attempt starts the next delay after the previous start.
        for (int n = 1; i < attempts.size(); ++i, ++n) {
            const Duration delay = attempts[i] - attempts[i - 1];
            EXPECT_GE(delay, std::chrono::duration_cast<Duration>(exact_base(n) * 0.8) - 10ns) << i;
            EXPECT_LE(delay, std::chrono::duration_cast<Duration>(exact_base(n) * 1.2) + 10ns) << i;
        }
        EXPECT_GE(attempts.back() - attempts[attempts.size() - 2], 6400ms - 10ns) << "a long outage reaches the cap";
    }
}

TEST_F(BackoffWorld, TheFirstRetryIsJitteredThroughTheCore) {
    std::set<Duration::rep> first_delays;
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        World w;
        w.add_client("UID1", core::make_config(Profile::rtm, "app", seed));
        w.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); });
        w.run_until(at_ms(1000));
        w.set_link("UID1", LinkMode::refuse);
        w.run_until(at_ms(3000));
        const auto attempts = attempts_of(w, "UID1", at_ms(1000));
        ASSERT_FALSE(attempts.empty());
        // Full jitter: anywhere in (0, 300 ms], not around 300 ms.
        const Duration delay = attempts.front() - at_ms(1050);
        EXPECT_GT(delay, 0ms) << seed;
        EXPECT_LE(delay, kInitial) << seed;
        first_delays.insert(delay.count());
    }
    EXPECT_EQ(first_delays.size(), 20U);
}

// A connected period shorter than stable_after (10 s) does not reset the backoff: the next outage continues the
// sequence (probes off: sequence_config()). Refused at 1000 ms: attempts at 1350 (300), 1830 (480); the link passes
// again at 2500 ms, so the third attempt (2598, 768 ms after the second started) logs in at 2798 ms. Refused again 5 s
// later (7798 ms; heard at 7848 ms): the next delay is the 4th of the sequence, 1228.8 ms.
TEST_F(BackoffWorld, AFlapShorterThanStableAfterContinuesTheSequence) {
    start_sequence();
    world.run_until(at_ms(1000));
    world.set_link("UID1", LinkMode::refuse);
    world.run_until(at_ms(2500));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(2798));
    ASSERT_TRUE(world.client("UID1").link_up());
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(1000)), (std::vector<TimePoint>{at_ms(1350), at_ms(1830), at_ms(2598)}));
    // The outage lasted less than interrupted_after: the app saw no state change at all.
    EXPECT_EQ(events_of<core::ConnectionStateChanged>(world, "UID1").size(), 2U);

    world.run_until(at_ms(2798 + 5000));
    world.set_link("UID1", LinkMode::refuse);
    world.run_until(at_ms(12'000));
    const auto attempts = attempts_of(world, "UID1", at_ms(2798 + 5000));
    ASSERT_GE(attempts.size(), 2U);
    EXPECT_EQ(attempts[0], at_ms(7848) + 1228800us);
    EXPECT_EQ(attempts[1], attempts[0] + 1966080us);
}

// Connected for longer than stable_after: the sequence starts over at 300 ms (probes off: sequence_config()).
TEST_F(BackoffWorld, AConnectedPeriodLongerThanStableAfterStartsTheSequenceOver) {
    start_sequence();
    world.run_until(at_ms(1000));
    world.set_link("UID1", LinkMode::refuse);
    world.run_until(at_ms(2500));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(2998 + 12'000));  // stable at 2998 + 10 s
    ASSERT_TRUE(world.client("UID1").link_up());
    world.set_link("UID1", LinkMode::refuse);
    world.run_until(at_ms(20'000));
    const auto attempts = attempts_of(world, "UID1", at_ms(2998 + 12'000));
    ASSERT_GE(attempts.size(), 3U);
    const TimePoint heard = at_ms(2998 + 12'000 + 50);
    EXPECT_EQ(attempts[0], heard + 300ms);
    EXPECT_EQ(attempts[1], attempts[0] + 480ms);
    EXPECT_EQ(attempts[2], attempts[1] + 768ms);
}

// The stable timer must only reset the backoff after stable_after of a *working* link (probes off:
// sequence_config()). Here the link is connected
// at 200 ms (stable deadline 10 200 ms) and refused at 9000 ms (heard at 9050 ms), 8.85 s into the connected
// period: the sequence must continue (300, 480, 768, 1228.8 ...). The last pong arrived at 8200 ms, so the state
// stays CONNECTED until 12 200 ms (an outage shorter than interrupted_after is invisible), and a stable deadline
// left armed would fire at 10 200 ms in the middle of the outage and reset the sequence to 300 ms. (Found by this
// test; fixed in the core by commit 6179ff7, "the backoff resets only after an unbroken stable period".)
TEST_F(BackoffWorld, StableTimerDoesNotResetTheBackoffWhileTheLinkIsDown) {
    start_sequence();
    world.run_until(at_ms(9000));
    world.set_link("UID1", LinkMode::refuse);
    world.run_until(at_ms(12'000));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);
    world.run_until(at_ms(20'000));
    const auto attempts = attempts_of(world, "UID1", at_ms(9000));
    ASSERT_GE(attempts.size(), 4U);
    EXPECT_EQ(attempts[0], at_ms(9350));
    EXPECT_EQ(attempts[1], at_ms(9830));
    EXPECT_EQ(attempts[2], at_ms(10'598));
    EXPECT_EQ(attempts[3], at_ms(10'598) + 1228800us) << "the backoff was reset during the outage";
}

// notify_network_changed() while CONNECTED probes the link; when the probe finds it dead (no data within the probe
// timeout: 1 s here, before any round trip was measured), the link is dropped and the reconnect starts at that
// virtual instant, without backoff.
TEST_F(BackoffWorld, NetworkChangeWhileConnectedReconnectsAtOnceWhenTheProbeFindsTheLinkDead) {
    start_exact();
    world.run_until(at_ms(1000));
    world.set_link("UID1", LinkMode::blackhole);  // the old network is gone ...
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_network_changed(now); });
    world.run_until(at_ms(1500));
    world.set_link("UID1", LinkMode::pass);  // ... and the new one works
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(1000)), std::vector<TimePoint>{});
    world.run_until(at_ms(3000));
    EXPECT_EQ(attempts_of(world, "UID1", at_ms(1000)), std::vector<TimePoint>{at_ms(2000)});
    const auto lines = timeline(world, only("UID1"), at_ms(1000));
    const std::vector<std::string> want{
        "2000 UID1 state RECONNECTING CLIENT_IP_ADDRESS_CHANGED",
        "2200 UID1 state CONNECTED LOGIN_SUCCESS",
        // the outage counts from the last data received: LoginOk at 200 ms (the first pong was due at 1200 ms)
        "2200 UID1 continuity outage=2000ms resumed=true backfilled=0 dropped=0",
    };
    EXPECT_EQ(lines, want) << joined(lines);
}

TEST_F(BackoffWorld, NetworkChangeDuringALongBackoffWaitSkipsTheWait) {
    start_sequence();  // probes off: the sequence climbs from the first refusal on
    world.run_until(at_ms(1000));
    world.set_link("UID1", LinkMode::refuse);
    // Let the sequence climb to the cap: the 8th attempt (22 671.77 ms) starts after an 8 s delay, and so will
    // the 9th (30 771.77 ms).
    world.run_until(at_ms(23'000));
    auto attempts = attempts_of(world, "UID1", at_ms(1000));
    ASSERT_GE(attempts.size(), 8U);
    const TimePoint last = attempts.back();
    // Mid-wait: the next attempt is seconds away. The network changes and the link works again.
    world.run_until(last + kRtt + 2s);
    const TimePoint changed = world.now();
    ASSERT_TRUE(world.client("UID1").next_deadline().has_value());
    ASSERT_GT(*world.client("UID1").next_deadline(), changed + 1s);
    world.set_link("UID1", LinkMode::pass);
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_network_changed(now); });
    attempts = attempts_of(world, "UID1", changed);
    ASSERT_EQ(attempts.size(), 1U);
    EXPECT_EQ(attempts[0], changed);
    world.run_until(changed + 1s);
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);
    const auto changes = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_GE(changes.size(), 2U);
    EXPECT_EQ(changes[changes.size() - 2].first, changed);
    EXPECT_EQ(changes[changes.size() - 2].second.reason, ConnectionReason::client_ip_address_changed);
    EXPECT_EQ(changes.back().first, changed + 200ms);
    EXPECT_EQ(changes.back().second.state, ConnectionState::connected);
}

TEST_F(BackoffWorld, NetworkChangeDuringTheFirstLoginRetriesAtOnce) {
    world.add_client("UID1", exact_config(Profile::rtm));
    world.set_link("UID1", LinkMode::blackhole);
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); });
    world.run_until(at_ms(1500));  // the attempt hangs in the blackhole
    world.set_link("UID1", LinkMode::pass);
    world.call("UID1", [](core::ClientCore& c, TimePoint now) { c.notify_network_changed(now); });
    EXPECT_EQ(attempts_of(world, "UID1"), (std::vector<TimePoint>{at_ms(0), at_ms(1500)}));
    world.run_until(at_ms(2000));
    const auto lines = timeline(world, only("UID1"));
    const std::vector<std::string> want{
        "0 UID1 state CONNECTING LOGIN",
        "1700 UID1 state CONNECTED LOGIN_SUCCESS",
    };
    EXPECT_EQ(lines, want) << joined(lines);
}

// ================================================================================= no lock-step

/// Drives one ClientCore by hand (no World: 1,000 of them must be fast) through a login, a transport failure at
/// `fail_at`, and refused attempts (each refused one RTT after it starts); returns the start times of the first
/// `count` attempts after the failure.
std::vector<TimePoint> refused_attempts(std::uint64_t seed, double jitter, int count, TimePoint fail_at) {
    core::Config config = core::make_config(Profile::rtm, "app", seed);
    config.timings.backoff_jitter = jitter;
    core::ClientCore core(config);
    TimePoint now{};
    core::TransportId transport = 0;
    std::optional<proto::RequestId> login_request;
    std::optional<TimePoint> refusal;
    std::vector<TimePoint> attempts;
    const auto drain = [&] {
        while (auto action = core.poll_action()) {
            if (const auto* open = std::get_if<core::OpenTransport>(&*action)) {
                transport = open->transport;
                if (now >= fail_at) {
                    attempts.push_back(now);
                    refusal = now + kRtt;
                }
            } else if (const auto* frame = std::get_if<core::SendFrame>(&*action)) {
                if (const auto* login = std::get_if<proto::Login>(&frame->message)) {
                    login_request = login->request_id;
                }
            }
        }
        while (core.poll_event()) {
        }
    };
    EXPECT_FALSE(core.login(now, "user", "valid"));
    drain();
    core.on_transport_open(now, transport);
    drain();
    proto::LoginOk ok;
    ok.request_id = login_request.value_or(0);
    core.on_message(now, transport, ok);
    drain();
    // Heartbeats go unanswered here; the failure comes before the 4 s silence threshold anyway.
    while (auto deadline = core.next_deadline()) {
        if (*deadline >= fail_at) {
            break;
        }
        now = *deadline;
        core.handle_timeout(now);
        drain();
    }
    now = fail_at;
    core.on_transport_closed(now, transport, std::make_error_code(std::errc::connection_reset));
    drain();
    while (static_cast<int>(attempts.size()) < count) {
        const auto deadline = core.next_deadline();
        if (refusal && (!deadline || *refusal <= *deadline)) {
            now = *refusal;
            refusal.reset();
            core.on_transport_closed(now, transport, std::make_error_code(std::errc::connection_refused));
        } else if (deadline) {
            now = *deadline;
            core.handle_timeout(now);
        } else {
            ADD_FAILURE() << "seed " << seed << ": the core stopped retrying";
            break;
        }
        drain();
    }
    return attempts;
}

/// The most attempts that start within one millisecond bucket, over all clients and attempts.
std::size_t busiest_millisecond(const std::vector<std::vector<TimePoint>>& attempts) {
    std::map<long long, std::size_t> buckets;
    std::size_t busiest = 0;
    for (const auto& client : attempts) {
        for (const TimePoint t : client) {
            const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
            busiest = std::max(busiest, ++buckets[ms]);
        }
    }
    return busiest;
}

// 1,000 clients, each with its own seed, lose the server at the same instant and every attempt fails one RTT
// after it starts. The failures are reported as closed connections (the default cause), not as refusals, so this
// is the backoff alone, without probes: any failure but a refused connection takes the next backoff step.
//
// Criterion (the "no lock-step" requirement of behaviour.md section 2), over the first 5 attempts of each client:
//   1. no two clients ever start an attempt at the same instant (exact virtual time, nanoseconds), and
//   2. the busiest 1 ms bucket holds at most 25 attempt starts. A perfectly even spread of the first retry over
//      its jitter band ((0, 300 ms], full jitter) would put 1000 / 300 ≈ 3.3 clients in each millisecond; of the
//      second (480 ms ± 20 % after it) about 1000 / 192 ≈ 5; 25 is five times that, and 40 times fewer than
//      lock-step, where all 1,000 arrive in the same millisecond.
// The same run with jitter off (the control) must fail both, so the criterion can see lock-step.
TEST(BackoffLockStep, ThousandClientsNeverRetryInLockStep) {
    constexpr int kClients = 1000;
    constexpr int kAttempts = 5;
    const TimePoint fail_at = at_ms(1000);

    std::vector<std::vector<TimePoint>> jittered;
    std::vector<std::vector<TimePoint>> exact;
    for (std::uint64_t seed = 1; seed <= kClients; ++seed) {
        jittered.push_back(refused_attempts(seed, 0.2, kAttempts, fail_at));
        exact.push_back(refused_attempts(seed, 0.0, kAttempts, fail_at));
        ASSERT_EQ(jittered.back().size(), static_cast<std::size_t>(kAttempts));
    }

    std::set<TimePoint> instants;
    for (const auto& client : jittered) {
        for (std::size_t k = 0; k < client.size(); ++k) {
            const bool fresh = instants.insert(client[k]).second;
            EXPECT_TRUE(fresh) << "two clients start an attempt at " << ms_text(client[k]);
            // Every delay is in its band: attempt k starts the first k+1 delays after the failure (each delay
            // counts from the previous attempt's start, so the refusals' round trips are inside the delays).
            Duration low{};
            Duration high{};
            // The first delay is full jitter, (0, base]; the later ones base ± 20 %.
            for (std::size_t n = 0; n <= k; ++n) {
                low +=
                    n == 0 ? Duration(1) : std::chrono::duration_cast<Duration>(exact_base(static_cast<int>(n)) * 0.8);
                high += std::chrono::duration_cast<Duration>(exact_base(static_cast<int>(n)) * (n == 0 ? 1.0 : 1.2));
            }
            // (each delay is rounded to the nanosecond: allow a few ns per delay)
            EXPECT_GE(client[k] - fail_at, low - 10ns);
            EXPECT_LE(client[k] - fail_at, high + 10ns);
        }
    }
    EXPECT_EQ(instants.size(), static_cast<std::size_t>(kClients * kAttempts));
    const std::size_t busiest = busiest_millisecond(jittered);
    EXPECT_LE(busiest, 25U);
    ::testing::Test::RecordProperty("busiest_ms_bucket", static_cast<int>(busiest));  // 16 with these seeds

    // Control: with jitter off every client retries at the same instants.
    EXPECT_EQ(busiest_millisecond(exact), static_cast<std::size_t>(kClients));
    for (const auto& client : exact) {
        EXPECT_EQ(client, exact.front());
    }
}

// The same property in one World, with refusals: 200 clients (fewer, to stay fast in Debug) share one server and
// are all refused at the same instant. Their first 4 attempts are the first retry (full jitter over 300 ms) and
// three probes (each 100 ms ± 20 % after its refusal, so the spread of the first retry carries over and widens by
// 40 ms per probe). Same criterion, scaled: an even spread over 120 ms would give 200 / 120 ≈ 1.7 per ms.
TEST(BackoffLockStep, ClientsOfOneWorldRefusedTogetherSpreadTheirRetries) {
    constexpr int kClients = 200;
    constexpr int kAttempts = 4;
    World world;
    for (int i = 0; i < kClients; ++i) {
        world.add_client("c" + std::to_string(i), core::make_config(Profile::rtm, "app", 1000 + i));
    }
    for (int i = 0; i < kClients; ++i) {
        const std::string name = "c" + std::to_string(i);
        world.call(name, [&](core::ClientCore& c, TimePoint now) { return c.login(now, name, "valid"); });
    }
    world.run_until(at_ms(1000));
    for (int i = 0; i < kClients; ++i) {
        world.set_link("c" + std::to_string(i), LinkMode::refuse);
    }
    world.run_until(at_ms(1050 + 4500));
    std::vector<std::vector<TimePoint>> attempts;
    std::set<TimePoint> instants;
    for (int i = 0; i < kClients; ++i) {
        auto client = attempts_of(world, "c" + std::to_string(i), at_ms(1000));
        ASSERT_GE(client.size(), static_cast<std::size_t>(kAttempts)) << i;
        client.resize(kAttempts);
        for (const TimePoint t : client) {
            EXPECT_TRUE(instants.insert(t).second) << "two clients start an attempt at " << ms_text(t);
        }
        attempts.push_back(std::move(client));
    }
    const std::size_t busiest = busiest_millisecond(attempts);
    EXPECT_LE(busiest, 8U);
    ::testing::Test::RecordProperty("busiest_ms_bucket", static_cast<int>(busiest));  // 5 with these seeds
}

}  // namespace
}  // namespace relink::test
