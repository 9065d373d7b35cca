// core/backoff.hpp — capped exponential backoff with jitter, as a plain delay generator (no clock).
//
// The n-th delay handed out since the last reset() is
//     min(max, initial × multiplier^n) × U(1 − jitter, 1 + jitter)
// so the very first retry is jittered too: clients that lose the server at the same instant never retry in
// lock-step. The random source is a seeded engine owned by the caller, so tests replay exact sequences.
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
    /// The un-jittered base of the next delay (what next() would return with jitter 0).
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
