// Capped exponential backoff with jitter (see backoff.hpp).
#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace relink::core {

Backoff::Backoff(Duration initial, double multiplier, double jitter, Duration max) noexcept
    : initial_(initial), multiplier_(multiplier), jitter_(jitter), max_(max) {}

Duration Backoff::peek_base() const noexcept {
    // Computed in floating point and capped before converting, so a long outage cannot overflow.
    const double base = static_cast<double>(initial_.count()) * std::pow(multiplier_, static_cast<double>(step_));
    const double capped = std::min(base, static_cast<double>(max_.count()));
    return Duration(static_cast<Duration::rep>(std::llround(capped)));
}

Duration Backoff::next(std::mt19937_64& rng) {
    const Duration base = peek_base();
    ++step_;
    if (jitter_ <= 0.0) {
        return base;
    }
    if (step_ == 1) {
        // Full jitter on the first delay: base × (1 − U[0, 1)) lies in (0, base]; at least 1 ns, never "at once".
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        const auto drawn = std::llround(static_cast<double>(base.count()) * (1.0 - unit(rng)));
        return Duration(std::max<Duration::rep>(1, static_cast<Duration::rep>(drawn)));
    }
    std::uniform_real_distribution<double> factor(1.0 - jitter_, 1.0 + jitter_);
    return Duration(static_cast<Duration::rep>(std::llround(static_cast<double>(base.count()) * factor(rng))));
}

}  // namespace relink::core
