// Per-profile default timings (behaviour.md section 2) and the uniform time scale.
#include "relink/timings.hpp"

#include <cmath>

#include "relink/error.hpp"

namespace relink {
namespace {

Duration scale(Duration d, double factor) {
    return Duration(static_cast<Duration::rep>(std::llround(static_cast<double>(d.count()) * factor)));
}

}  // namespace

Timings Timings::scaled(double factor) const {
    Timings t = *this;
    for (Duration* d : {&t.login_timeout, &t.interrupted_after, &t.lost_after, &t.give_up_after, &t.heartbeat_interval,
                        &t.attempt_timeout, &t.backoff_initial, &t.backoff_max, &t.retry_probe_interval,
                        &t.retry_probe_window, &t.stable_after, &t.message_timeout, &t.leave_timeout,
                        &t.token_warning_lead, &t.presence_timeout, &t.backfill_window}) {
        *d = scale(*d, factor);
    }
    return t;
}

Timings timings_for(Profile profile) {
    using std::chrono::minutes;
    using std::chrono::seconds;
    Timings t;
    switch (profile) {
        case Profile::rtm: t.presence_timeout = seconds(30); break;
        case Profile::rtc:
            t.lost_after = seconds(10);
            t.give_up_after = minutes(20);
            t.presence_timeout = seconds(20);
            break;
        case Profile::rtc_web: t.presence_timeout = seconds(10); break;
        case Profile::room:
            t.give_up_after = minutes(5);
            t.presence_timeout = seconds(90);
            break;
    }
    if (profile != Profile::rtm) {
        t.backfill_window = Duration::zero();
        t.backfill_count = 0;
    }
    return t;
}

std::error_code validate(const Timings& t) {
    const Duration zero = Duration::zero();
    const bool positive = t.login_timeout > zero && t.interrupted_after > zero && t.heartbeat_interval > zero &&
                          t.attempt_timeout > zero && t.backoff_initial > zero && t.backoff_max > zero &&
                          t.retry_probe_interval > zero && t.message_timeout > zero && t.leave_timeout > zero &&
                          t.presence_timeout > zero;
    const bool non_negative = t.lost_after >= zero && t.give_up_after >= zero && t.stable_after >= zero &&
                              t.token_warning_lead >= zero && t.backfill_window >= zero && t.retry_probe_window >= zero;
    const bool shape = t.backoff_multiplier >= 1.0 && std::isfinite(t.backoff_multiplier) && t.backoff_jitter >= 0.0 &&
                       t.backoff_jitter < 1.0 && t.backoff_initial <= t.backoff_max &&
                       t.heartbeat_interval < t.interrupted_after;
    if (!positive || !non_negative || !shape) {
        return make_error_code(errc::invalid_argument);
    }
    return {};
}

}  // namespace relink
