// core/link.hpp — the link part of the client core: the one transport the session uses at a time and the attempts
// that open it. A plain, sans-IO value owned by ClientCore; it reads no clock and performs nothing.
//
// It owns:
//   * the transport and its stage (none → opening → logging_in → up), the transport ids it hands out, the attempt
//     number, the attempt's deadline and start, and the last failed attempt;
//   * the login request on the current transport (its request id, when it was sent) and the resume token;
//   * the retry schedule: the backoff (reset after a stable connected period), the probes after refused attempts
//     (within the outage's probe window) and the time of the next attempt;
//   * liveness: the last data received and the last frame sent, the heartbeat interval in force and the timings the
//     last login agreed, and from them the heartbeat and silence deadlines;
//   * the link's quality: the heartbeats in flight, the round-trip time they measure (smoothed as TCP does), the
//     heartbeats missed, and the suspicion probe's deadline.
//
// Why the split is here: everything above is about *a* connection and would be the same for any session content;
// it never decides a connection state, a reason or a channel state. ClientCore keeps the state machine (which phase
// the session is in, which timer fires first, how a failure ends or continues the session) and asks the link for
// its deadlines; the link hands back the actions and events it produces (OpenTransport, CloseTransport,
// AttemptFailed) instead of queueing them, so that ClientCore keeps one ordered queue of each. The random engine is
// ClientCore's and is passed in, so the jitter draws stay in the one sequence the exact timelines replay.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>

#include "core/actions.hpp"
#include "core/backoff.hpp"
#include "protocol/messages.hpp"
#include "relink/events.hpp"
#include "relink/timings.hpp"

namespace relink::core {

class Link {
public:
    /// Where the current transport is: none, opening (OpenTransport sent), logging in (Login sent), or up.
    enum class Stage : std::uint8_t { none, opening, logging_in, up };

    /// `timings` must be valid (ClientCore checks them first).
    explicit Link(const Timings& timings);

    [[nodiscard]] Stage stage() const noexcept { return stage_; }
    [[nodiscard]] bool up() const noexcept { return stage_ == Stage::up; }
    /// An attempt is in progress: the transport is being opened or is logging in.
    [[nodiscard]] bool attempting() const noexcept { return stage_ == Stage::opening || stage_ == Stage::logging_in; }
    [[nodiscard]] TransportId transport() const noexcept { return transport_; }

    // ---- attempts ----

    /// The attempts of this login or of this outage, counted from 1; 0 while none is counted.
    [[nodiscard]] std::uint32_t attempt() const noexcept { return attempt_; }
    void reset_attempts() noexcept { attempt_ = 0; }
    /// Starts the next attempt on a new transport: returns the action that opens it.
    [[nodiscard]] OpenTransport start_attempt(TimePoint now);
    /// Records that the attempt in progress failed and returns the event to report, or none when no attempt is in
    /// progress (a link that was up broke: its attempt had succeeded).
    [[nodiscard]] std::optional<AttemptFailed> attempt_failed(AttemptFailure cause, std::string detail);
    /// The last attempt that failed since the last successful login (or forget_failure()).
    [[nodiscard]] const std::optional<AttemptFailed>& last_failure() const noexcept { return last_failure_; }
    void forget_failure() noexcept { last_failure_.reset(); }
    void forget_attempt_start() noexcept { attempt_started_.reset(); }
    /// The steps the attempt in progress finished, as the driver timed them (on open, or on a failure before it).
    void set_steps(const AttemptSteps& steps) { steps_ = steps; }
    /// What the attempt in progress did, as it ends now: failed with `cause`, or logged in (`resumed`: its session
    /// resumed). `answered`: the server answered the login (accepted or refused), which ends the login step.
    [[nodiscard]] AttemptFinished finish_attempt(TimePoint now, std::optional<AttemptFailure> cause, bool resumed,
                                                 bool answered) const;
    void cancel_attempt_deadline() noexcept { attempt_deadline_.reset(); }

    /// Drops the transport (whatever its stage); returns the action that closes it when `close` and there was one.
    [[nodiscard]] std::optional<CloseTransport> drop(bool close);

    // ---- a standby transport (a handover: docs/protocol.md, "Handover") ----

    /// A new transport id for a second connection opened beside the current one (ClientCore keeps its state).
    [[nodiscard]] TransportId next_transport_id() noexcept { return ++last_transport_id_; }
    /// The standby transport, opened at `started`, becomes the transport (the current one is dropped already): it is
    /// the next attempt, opening, with the standby's own deadline. opened() follows when its Login was sent.
    void adopt_standby(TransportId transport, TimePoint started, TimePoint deadline, const AttemptSteps& steps);
    /// A standby transport failed before its login succeeded: the last failure (numbered as the next attempt), the
    /// link itself unchanged.
    [[nodiscard]] AttemptFailed standby_failed(AttemptFailure cause, std::string detail);

    // ---- the retry schedule ----

    /// The next attempt starts `delay` from now (no backoff step).
    void schedule_attempt(TimePoint now, Duration delay) { retry_at_ = now + delay; }
    /// The next attempt starts after the next backoff delay, or after a short probe delay when the attempt that just
    /// ended was refused within the probe window; draws from `rng` (one draw: the probe's jitter; or the backoff's
    /// jitter, then perhaps a pause: see the definition).
    void schedule_retry(TimePoint now, std::mt19937_64& rng);
    void cancel_retry() noexcept { retry_at_.reset(); }
    /// When the next attempt is scheduled, whatever the stage.
    [[nodiscard]] const std::optional<TimePoint>& retry_at() const noexcept { return retry_at_; }
    /// The backoff starts over, and so does the probe window.
    void reset_backoff() noexcept;
    /// A successful login starts a stable period; the backoff resets once it passes (or at once without one).
    void start_stable_period(TimePoint now);
    /// The stable period passed: the backoff starts over.
    void stable_reached() noexcept;
    /// The stable period is broken (it must be unbroken): the backoff goes on where it was.
    void break_stable_period() noexcept { stable_at_.reset(); }

    // ---- the login on the current transport ----

    /// The transport opened: it logs in with request `request`, sent at `now`.
    void opened(TimePoint now, proto::RequestId request);
    [[nodiscard]] const std::optional<proto::RequestId>& login_request() const noexcept { return login_request_; }
    /// When the current login request was sent: a token's time to live counts from there.
    [[nodiscard]] TimePoint login_sent_at() const noexcept { return login_sent_at_; }
    /// The login succeeded: the link is up, the attempt is over, and the server's answer sets the resume token
    /// and the timings in force.
    void logged_in(const proto::LoginOk& answer);
    [[nodiscard]] const std::optional<std::string>& resume_token() const noexcept { return resume_token_; }
    void forget_resume_token() noexcept { resume_token_.reset(); }
    /// The server-side timings the last login agreed.
    [[nodiscard]] const std::optional<AgreedTimings>& agreed() const noexcept { return agreed_; }

    // ---- liveness ----

    /// Data was received from the server: only that proves the link alive; sending does not.
    void received(TimePoint now) noexcept {
        last_rx_ = now;
        received_any_ = true;
        probe_deadline_.reset();  // any data answers a suspicion probe
    }
    /// A frame was sent: the heartbeat waits a whole interval from here.
    void sent(TimePoint now) noexcept { last_tx_ = now; }
    [[nodiscard]] TimePoint last_rx() const noexcept { return last_rx_; }
    [[nodiscard]] Duration heartbeat_interval() const noexcept { return heartbeat_interval_; }

    // ---- deadlines (ClientCore gates them by its phase and state, and orders them) ----

    [[nodiscard]] std::optional<TimePoint> attempt_deadline() const;
    /// The scheduled attempt, while no transport exists.
    [[nodiscard]] std::optional<TimePoint> retry_deadline() const;
    /// A ping is due when nothing was sent for a heartbeat interval on a link that is up.
    [[nodiscard]] std::optional<TimePoint> heartbeat_deadline() const;
    /// The link counts as dead when nothing was received for `interrupted_after`.
    [[nodiscard]] TimePoint silence_deadline() const noexcept { return last_rx_ + timings_.interrupted_after; }
    [[nodiscard]] std::optional<TimePoint> stable_deadline() const;

    // ---- quality (docs/reliability.md, "Link quality and the suspicion probe") ----

    /// A Ping was sent on the link that is up. The server answers every Ping with one Pong, in order, on the same
    /// connection, and Pongs carry nothing: the oldest Ping in flight is the one the next Pong answers.
    void ping_sent(TimePoint now);
    /// A Pong arrived: it answers the oldest Ping in flight and gives a round-trip sample (none when no Ping was in
    /// flight: a Pong the server owed to an earlier one we no longer count).
    void pong_received(TimePoint now);
    /// Pings in flight whose next heartbeat was already due: the heartbeats missed in a row.
    [[nodiscard]] std::uint32_t missed_heartbeats() const noexcept;
    /// The Pings sent on this connection and not answered yet (their Pongs come in order).
    [[nodiscard]] std::size_t pings_in_flight() const noexcept { return pings_in_flight_.size(); }
    /// The quality as measured on the current connection, at `now`.
    [[nodiscard]] LinkQuality quality(TimePoint now) const;
    /// How long a suspicion probe waits for any data: 2 × SRTT + 4 × RTTVAR, at least kMinProbeTimeout, at most half
    /// the silence threshold; kNoSampleProbeTimeout (within the same ceiling) before the first sample.
    [[nodiscard]] Duration probe_timeout() const noexcept;
    /// Starts a suspicion probe: the link is dead unless data arrives by `now` + probe_timeout().
    void start_probe(TimePoint now) { probe_deadline_ = now + probe_timeout(); }
    [[nodiscard]] std::optional<TimePoint> probe_deadline() const { return up() ? probe_deadline_ : std::nullopt; }
    void end_probe() noexcept { probe_deadline_.reset(); }

    static constexpr Duration kMinProbeTimeout = std::chrono::milliseconds(300);
    static constexpr Duration kNoSampleProbeTimeout = std::chrono::seconds(1);

private:
    /// retry_probe_interval × U(1 − jitter, 1 + jitter): one draw, none with jitter 0.
    [[nodiscard]] Duration probe_delay(std::mt19937_64& rng) const;

    Timings timings_;  ///< the client's own (ClientCore's config)
    Backoff backoff_;

    Stage stage_{Stage::none};
    TransportId transport_{0};
    TransportId last_transport_id_{0};
    std::uint32_t attempt_{0};
    std::optional<TimePoint> attempt_deadline_;
    std::optional<TimePoint> attempt_started_;  ///< the current attempt's OpenTransport, until its login succeeds
    TimePoint attempt_began_{};                 ///< the current (or last) attempt's OpenTransport, for its report
    AttemptSteps steps_;                        ///< the current attempt's steps, as far as the driver timed them
    std::optional<AttemptFailed> last_failure_;
    std::optional<TimePoint> retry_at_;
    std::optional<TimePoint> stable_at_;    ///< the backoff resets here if still connected
    bool refused_{false};                   ///< the attempt in progress (or just ended) was refused at once
    std::optional<TimePoint> probe_until_;  ///< end of the probe window: the first refusal since the backoff's reset

    std::optional<proto::RequestId> login_request_;
    TimePoint login_sent_at_{};
    std::optional<std::string> resume_token_;

    TimePoint last_rx_{};                  ///< last data received from the server
    TimePoint last_tx_{};                  ///< last frame sent (heartbeat pacing)
    Duration heartbeat_interval_{};        ///< ours until a login agrees one
    std::optional<AgreedTimings> agreed_;  ///< the server-side timings the last login agreed
    bool received_any_{false};             ///< last_rx_ means something: data arrived on some connection

    // quality of the current connection (reset by logged_in())
    std::deque<TimePoint> pings_in_flight_;  ///< send times of the Pings not answered yet, oldest first
    std::uint64_t rtt_samples_{0};
    Duration srtt_{};                   ///< smoothed round-trip time (RFC 6298's SRTT)
    Duration rttvar_{};                 ///< its mean deviation (RTTVAR)
    Duration last_rtt_{};               ///< the latest sample
    std::uint64_t late_heartbeats_{0};  ///< Pongs that arrived after the next heartbeat was due
    std::optional<TimePoint> probe_deadline_;
};

}  // namespace relink::core
