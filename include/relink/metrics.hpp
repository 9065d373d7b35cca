// relink/metrics.hpp — a client's counters and histograms, for an app that exports metrics: connection attempts by
// outcome and cause, the duration of each attempt step and of the round trip, state changes, reconnects and
// messages. Client::metrics() returns a snapshot at any time; to_prometheus() writes one in Prometheus' text format.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relink/events.hpp"
#include "relink/timings.hpp"
#include "relink/types.hpp"

namespace relink {

/// Durations counted into buckets, as Prometheus and OpenTelemetry histograms count them.
struct Histogram {
    /// The buckets' upper bounds, ascending (inclusive). Every histogram of ClientMetrics uses kDurationBuckets.
    std::vector<Duration> bounds;
    /// counts[i]: samples in (bounds[i-1], bounds[i]]; counts[bounds.size()]: samples above the last bound. Not
    /// cumulative (Prometheus' buckets are; to_prometheus() adds them up).
    std::vector<std::uint64_t> counts;
    Duration sum{};          ///< of every sample
    std::uint64_t count{0};  ///< samples
    Duration max{};          ///< the largest sample

    /// Counts one sample.
    void record(Duration sample);
};

/// The bounds of every ClientMetrics histogram: 1, 2.5, 5, 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5 and 10 s.
[[nodiscard]] const std::vector<Duration>& duration_buckets();

/// Everything counted since the Client was made (a logout or a new login does not reset it).
struct ClientMetrics {
    std::uint64_t attempts{0};            ///< connection attempts that ended (logged in or failed)
    std::uint64_t attempts_connected{0};  ///< of them, logged in
    std::uint64_t attempts_resumed{0};    ///< of those, resumed the session
    /// Failed attempts by cause, indexed by AttemptFailure's value (to_string() names each).
    std::array<std::uint64_t, static_cast<std::size_t>(AttemptFailure::busy) + 1> attempts_failed{};
    std::uint64_t tls_handshakes{0};          ///< TLS handshakes finished
    std::uint64_t tls_handshakes_resumed{0};  ///< of them, resumed (no full handshake)
    /// Connection state changes, indexed by the new state's ConnectionState value (index 0 is unused).
    std::array<std::uint64_t, static_cast<std::size_t>(ConnectionState::disconnecting) + 1> state_changes{};
    std::uint64_t continuity_reports{0};  ///< reconnects that resumed (visible or hidden): one ContinuityReport each
    std::uint64_t messages_received{0};   ///< channel and peer messages delivered to the app (backfill included)
    std::uint64_t messages_dropped{0};    ///< messages the server reported dropped for this client (ContinuityReport)
    Histogram attempt;                    ///< each attempt, start to end (logged in or failed)
    Histogram dns;                        ///< each step that finished, as in AttemptSteps
    Histogram proxy;
    Histogram tcp;
    Histogram tls;
    Histogram websocket;
    Histogram login;
    Histogram rtt;  ///< every heartbeat's round trip (each sample, not the smoothed value)

    ClientMetrics();
};

/// The snapshot in Prometheus' text exposition format (version 0.0.4): counters named `<prefix>_..._total`,
/// histograms in seconds (`<prefix>_attempt_seconds_bucket{le="0.05"}` ...), failures labelled `cause`, state
/// changes labelled `state`, `extra_labels` (e.g. `app="chat"`, already escaped) added to every sample.
/// @par Thread safety
/// Pure: safe to call from any thread.
[[nodiscard]] std::string to_prometheus(const ClientMetrics& metrics, std::string_view prefix = "relink_client",
                                        std::string_view extra_labels = {});

}  // namespace relink
