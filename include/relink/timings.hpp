// relink/timings.hpp — every duration that shapes a profile's timeline, in one overridable struct.
//
// `timings_for(profile)` gives a profile's defaults (docs/state-machine.md); `scaled(f)` multiplies every duration by
// one factor so that the 20-minute timeline can run in milliseconds (tests, demos, `--time-scale`). A zero
// duration means "never" where the field says so.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <chrono>
#include <cstddef>
#include <system_error>

#include "relink/types.hpp"

namespace relink {

/// relink's duration type: nanoseconds, so that heavily scaled timelines keep their precision.
using Duration = std::chrono::nanoseconds;

/// The timings of one profile. Client-side fields drive the client's state machine. The server-side fields (the
/// heartbeat interval, presence timeout and backfill) are asked for at every login: the server takes each within
/// its own bounds and answers with the values both ends then use (AgreedTimings, docs/protocol.md).
struct Timings {
    // --- client side ---
    Duration login_timeout{std::chrono::seconds(12)};     ///< first login must succeed within this
    Duration interrupted_after{std::chrono::seconds(4)};  ///< no data received for this long → INTERRUPTED
    Duration lost_after{};     ///< after entering RECONNECTING → LOST + connection_lost; 0 = never
    Duration give_up_after{};  ///< after entering RECONNECTING → FAILED JOIN_FAILED; 0 = never
    Duration heartbeat_interval{std::chrono::seconds(1)};  ///< a ping is sent this long after the last send
    Duration attempt_timeout{std::chrono::seconds(5)};     ///< one reconnect attempt (transport + login)
    /// The first retry of an outage waits U(0, backoff_initial] (full jitter); later ones the backoff's base delay.
    Duration backoff_initial{std::chrono::milliseconds(300)};
    double backoff_multiplier{1.6};  ///< base delay grows by this per failed attempt
    /// Each later delay is base × U(1 − j, 1 + j); 0 turns every random draw off (the first retry then waits
    /// exactly backoff_initial, a probe exactly retry_probe_interval): exact timelines in tests.
    double backoff_jitter{0.2};
    Duration backoff_max{std::chrono::seconds(8)};  ///< cap of the base delay
    /// After an attempt refused at once (nothing listens on the server's port: a server restarting), the next
    /// attempt is a cheap probe after retry_probe_interval × U(1 − j, 1 + j) instead of the next backoff delay ...
    Duration retry_probe_interval{std::chrono::milliseconds(100)};
    /// ... while within this long of the outage's first refusal; then the backoff goes on where it was.
    /// 0 = no probes.
    Duration retry_probe_window{std::chrono::seconds(2)};
    Duration stable_after{std::chrono::seconds(10)};        ///< connected this long → the backoff starts over
    Duration message_timeout{std::chrono::seconds(60)};     ///< a send not acknowledged in this time fails
    Duration leave_timeout{std::chrono::seconds(2)};        ///< rtc-web DISCONNECTING waits this long for the ack
    Duration token_warning_lead{std::chrono::seconds(30)};  ///< token_privilege_will_expire this long ahead
    // --- asked for at login; the server's answer is what applies (AgreedTimings) ---
    Duration presence_timeout{std::chrono::seconds(30)};  ///< peers see the user drop after this silence
    Duration backfill_window{std::chrono::seconds(30)};   ///< channel history kept for backfill
    std::size_t backfill_count{32};                       ///< at most this many backfilled per channel

    /// Every duration multiplied by `factor` (> 0); the multiplier, jitter and counts are kept.
    /// @param factor e.g. 0.001 to run the 20-minute rtc timeline in 1.2 s
    /// @return a scaled copy; this object is unchanged
    [[nodiscard]] Timings scaled(double factor) const;
};

/// The server-side timings in force for a session: what the client asked for (Timings), each held to the server's
/// bounds, as the server answered the login. Reported with every CONNECTED (ConnectionStateChanged::timings) and
/// after every reconnect (ContinuityReport::timings).
struct AgreedTimings {
    /// The client pings an idle link this often: the server's answer, unless that is so rare that the client's own
    /// silence detector (`interrupted_after`) would fire on a healthy link; then the client keeps its own.
    Duration heartbeat_interval{};
    Duration presence_timeout{};    ///< peers see the user drop (DROPPED) after this long without data from it
    Duration backfill_window{};     ///< channel messages this recent come back after a reconnect ...
    std::size_t backfill_count{0};  ///< ... at most this many per channel
    /// At least one value differs from what this client asked for: the server held it to its bound (or, a server
    /// that does not take requests, used its own setting). The values above are the ones in force.
    bool clamped{false};
};

/// The default timings of a profile (docs/state-machine.md, "Profiles at a glance").
/// @param profile the profile
/// @return its timings: rtc has lost_after 10 s and give_up_after 20 min, room give_up_after 5 min; presence 30 s
///         (rtm), 20 s (rtc), 10 s (rtc-web), 90 s (room); backfill only in rtm
/// @par Thread safety
/// The functions of this header are pure: safe to call from any thread.
[[nodiscard]] Timings timings_for(Profile profile);

/// Checks that a Timings is usable (positive thresholds, multiplier ≥ 1, jitter in [0, 1), ...); returns
/// errc::invalid_argument otherwise.
/// @param timings the timings to check (Client's constructor throws std::invalid_argument for ones that fail)
/// @return no error, or errc::invalid_argument
[[nodiscard]] std::error_code validate(const Timings& timings);

}  // namespace relink
