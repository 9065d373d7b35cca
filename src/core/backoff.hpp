// core/backoff.hpp — capped exponential backoff with jitter, as a plain delay generator (no clock).
//
// The n-th delay handed out since the last reset() is
//     n = 0:  initial × (1 − U[0, 1))                           full jitter: anywhere in (0, initial]
//     n ≥ 1:  min(max, initial × multiplier^n) × U(1 − jitter, 1 + jitter)
// The first retry of an outage is the one a whole fleet takes together (they all lost the server at one instant):
// full jitter spreads it over the whole of (0, initial] (a band 2.5× wider than ±20 % at the defaults) and halves
// its mean, so a server that is back at once is found sooner and by fewer clients per millisecond. Later retries
// are already spread by the earlier draws and keep ± jitter around the exponential base (docs/decisions.md,
// "Reconnecting"). With jitter 0 nothing is drawn: every delay is its base. The random source is a seeded engine
// owned by the caller, so tests replay exact sequences.
#pragma once

#include <cstdint>
#include <random>

#include "relink/timings.hpp"

namespace relink::core {

class Backoff {
public:
    Backoff(Duration initial, double multiplier, double jitter, Duration max) noexcept;

    /// The next delay; advances the sequence.
    [[nodiscard]] Duration next(std::mt19937_64& rng);
    /// The un-jittered base of the next delay (what next() would return with jitter 0; the first delay's upper bound).
    [[nodiscard]] Duration peek_base() const noexcept;
    /// Starts the sequence over (after a stable connected period).
    void reset() noexcept { step_ = 0; }
    /// How many delays were handed out since the last reset.
    [[nodiscard]] std::uint32_t step() const noexcept { return step_; }

private:
    Duration initial_;
    double multiplier_;
    double jitter_;
    Duration max_;
    std::uint32_t step_{0};
};

}  // namespace relink::core
