// The link part of the client core (see link.hpp and docs/state-machine.md).
#include "core/link.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace relink::core {

Link::Link(const Timings& timings)
    : timings_(timings),
      backoff_(timings.backoff_initial, timings.backoff_multiplier, timings.backoff_jitter, timings.backoff_max),
      heartbeat_interval_(timings.heartbeat_interval) {}

// ============================================================================================ attempts

OpenTransport Link::start_attempt(TimePoint now) {
    ++attempt_;
    transport_ = ++last_transport_id_;
    stage_ = Stage::opening;
    retry_at_.reset();
    attempt_deadline_ = now + timings_.attempt_timeout;
    attempt_started_ = now;
    attempt_began_ = now;
    steps_ = {};
    refused_ = false;
    return OpenTransport{transport_, attempt_};
}

AttemptFinished Link::finish_attempt(TimePoint now, std::optional<AttemptFailure> cause, bool resumed,
                                     bool answered) const {
    AttemptFinished finished;
    finished.attempt = attempt_;
    finished.connected = !cause;
    finished.resumed = !cause && resumed;
    finished.cause = cause;
    finished.total = now - attempt_began_;
    finished.steps = steps_;
    if (stage_ == Stage::logging_in && answered) {
        finished.steps.login = now - login_sent_at_;
    }
    return finished;
}

std::optional<AttemptFailed> Link::attempt_failed(AttemptFailure cause, std::string detail) {
    if (!attempting()) {
        return std::nullopt;  // a link that was up broke: the attempt had succeeded
    }
    refused_ = cause == AttemptFailure::refused;
    last_failure_ = AttemptFailed{attempt_, cause, std::move(detail)};
    return last_failure_;
}

std::optional<CloseTransport> Link::drop(bool close) {
    std::optional<CloseTransport> action;
    if (stage_ != Stage::none && close) {
        action = CloseTransport{transport_};
    }
    stage_ = Stage::none;
    login_request_.reset();
    attempt_deadline_.reset();
    stable_at_.reset();        // a stable period must be unbroken: the backoff goes on where it was
    pings_in_flight_.clear();  // their Pongs, if any, come on a transport we no longer read
    probe_deadline_.reset();
    return action;
}

void Link::adopt_standby(TransportId transport, TimePoint started, TimePoint deadline, const AttemptSteps& steps) {
    ++attempt_;
    transport_ = transport;
    stage_ = Stage::opening;
    retry_at_.reset();
    attempt_deadline_ = deadline;
    attempt_started_ = started;
    attempt_began_ = started;
    steps_ = steps;
    refused_ = false;
}

AttemptFailed Link::standby_failed(AttemptFailure cause, std::string detail) {
    last_failure_ = AttemptFailed{attempt_ + 1, cause, std::move(detail)};
    return *last_failure_;
}

// ============================================================================================ the retry schedule

void Link::schedule_retry(TimePoint now, std::mt19937_64& rng) {
    // A refused attempt costs a SYN and a RST: nothing listens on the port, so the server is down or restarting on
    // this host. While that lasts, the next attempt is a probe one short jittered interval after the refusal,
    // without a backoff step, so that a restarted server is found within about a probe interval of listening.
    // Bounded by the window counted from the outage's first refusal: a server that stays down is then retried on
    // the backoff, which goes on where it was, up to its cap. Any other failure (a timeout, TLS, a refused login)
    // may be the server's load and takes the backoff at once.
    if (std::exchange(refused_, false) && timings_.retry_probe_window > Duration::zero()) {
        if (!probe_until_) {
            probe_until_ = now + timings_.retry_probe_window;
        }
        if (now < *probe_until_) {
            attempt_started_.reset();
            retry_at_ = now + probe_delay(rng);
            return;
        }
    }
    // The backoff delay paces the starts of attempts, as in gRPC's connection backoff: after a link that was up,
    // the next attempt waits the delay from now; after an attempt that failed, the delay counts from that
    // attempt's start. An attempt that hung for longer than the delay (a blackhole, until the attempt timeout or
    // until a reset when the network returns) has waited enough: the next one starts after a short random pause
    // of at most the jitter's share of the delay, so that clients whose attempts failed at one instant do not
    // retry in lock-step, instead of waiting a whole delay more on a network that may be back.
    const Duration delay = backoff_.next(rng);
    const std::optional<TimePoint> started = std::exchange(attempt_started_, std::nullopt);
    if (!started || *started + delay > now) {
        retry_at_ = (started ? *started : now) + delay;
        return;
    }
    const auto pause_max =
        static_cast<Duration::rep>(static_cast<double>(delay.count()) * std::clamp(timings_.backoff_jitter, 0.0, 1.0));
    std::uniform_int_distribution<Duration::rep> pause(0, std::max<Duration::rep>(0, pause_max));
    retry_at_ = now + Duration(pause(rng));
}

Duration Link::probe_delay(std::mt19937_64& rng) const {
    const Duration interval = timings_.retry_probe_interval;
    const double jitter = std::clamp(timings_.backoff_jitter, 0.0, 1.0);
    if (jitter <= 0.0) {
        return interval;
    }
    std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
    const auto drawn = std::llround(static_cast<double>(interval.count()) * factor(rng));
    return Duration(std::max<Duration::rep>(1, static_cast<Duration::rep>(drawn)));
}

void Link::reset_backoff() noexcept {
    backoff_.reset();
    probe_until_.reset();
}

void Link::start_stable_period(TimePoint now) {
    if (timings_.stable_after > Duration::zero()) {
        stable_at_ = now + timings_.stable_after;
    } else {
        reset_backoff();
    }
}

void Link::stable_reached() noexcept {
    stable_at_.reset();
    reset_backoff();
}

// ============================================================================================ the login

void Link::opened(TimePoint now, proto::RequestId request) {
    stage_ = Stage::logging_in;
    login_request_ = request;
    login_sent_at_ = now;
}

void Link::logged_in(const proto::LoginOk& answer) {
    stage_ = Stage::up;
    login_request_.reset();
    attempt_deadline_.reset();
    attempt_started_.reset();
    retry_at_.reset();
    last_failure_.reset();
    resume_token_ = answer.resume_token;
    // A new connection may be a new path (that is what a network change means): nothing measured on the old one
    // carries over but the time of the last data, which the silence detector counts from anyway.
    pings_in_flight_.clear();
    rtt_samples_ = 0;
    srtt_ = rttvar_ = last_rtt_ = Duration::zero();
    late_heartbeats_ = 0;
    probe_deadline_.reset();
    // The server's answer is what applies: what we asked for within its bounds (its keep-alive timeout is built on
    // them). A heartbeat we cannot use keeps ours: 0, or one so rare that our own silence detector (which only the
    // answers to our pings feed on an idle link) would take a healthy link for a dead one.
    const Timings& asked = timings_;
    const proto::Negotiated& n = answer.negotiated;
    const bool usable = n.heartbeat_interval > Duration::zero() && n.heartbeat_interval < asked.interrupted_after;
    heartbeat_interval_ = usable ? n.heartbeat_interval : asked.heartbeat_interval;
    agreed_ = AgreedTimings{heartbeat_interval_, n.presence_timeout, n.backfill_window, n.backfill_count, false};
    // Compared as they travel, in whole milliseconds rounded up: a value asked with a finer grain is not "clamped".
    const auto differs = [](Duration answered, Duration wanted) {
        return std::chrono::ceil<std::chrono::milliseconds>(answered) !=
               std::chrono::ceil<std::chrono::milliseconds>(wanted);
    };
    agreed_->clamped = differs(n.heartbeat_interval, asked.heartbeat_interval) ||
                       differs(n.presence_timeout, asked.presence_timeout) ||
                       differs(n.backfill_window, asked.backfill_window) || n.backfill_count != asked.backfill_count;
}

// ============================================================================================ deadlines

std::optional<TimePoint> Link::attempt_deadline() const {
    return attempting() ? attempt_deadline_ : std::nullopt;
}

std::optional<TimePoint> Link::retry_deadline() const {
    return stage_ == Stage::none ? retry_at_ : std::nullopt;
}

std::optional<TimePoint> Link::heartbeat_deadline() const {
    return up() ? std::optional<TimePoint>(last_tx_ + heartbeat_interval_) : std::nullopt;
}

std::optional<TimePoint> Link::stable_deadline() const {
    return up() ? stable_at_ : std::nullopt;
}

// ============================================================================================ quality

namespace {
/// Pings in flight are bounded by the silence threshold (the link is dropped after interrupted_after without
/// data, i.e. a few heartbeats); this bound only keeps a broken timing from growing the queue.
constexpr std::size_t kMaxPingsInFlight = 64;

Duration abs_duration(Duration d) {
    return d < Duration::zero() ? -d : d;
}
}  // namespace

void Link::ping_sent(TimePoint now) {
    if (pings_in_flight_.size() == kMaxPingsInFlight) {
        pings_in_flight_.pop_front();
    }
    pings_in_flight_.push_back(now);
}

void Link::pong_received(TimePoint now) {
    if (pings_in_flight_.empty()) {
        return;
    }
    const TimePoint sent = pings_in_flight_.front();
    if (pings_in_flight_.size() > 1) {
        ++late_heartbeats_;  // the next heartbeat was due (and sent) before this answer came
    }
    pings_in_flight_.pop_front();
    const Duration sample = now - sent;
    last_rtt_ = sample;
    // RFC 6298, section 2: the first sample sets SRTT = R and RTTVAR = R / 2; each later one moves
    // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| (with the old SRTT), then SRTT = 7/8 SRTT + 1/8 R.
    if (rtt_samples_ == 0) {
        srtt_ = sample;
        rttvar_ = sample / 2;
    } else {
        rttvar_ = (3 * rttvar_ + abs_duration(srtt_ - sample)) / 4;
        srtt_ = (7 * srtt_ + sample) / 8;
    }
    ++rtt_samples_;
}

std::uint32_t Link::missed_heartbeats() const noexcept {
    return pings_in_flight_.empty() ? 0U : static_cast<std::uint32_t>(pings_in_flight_.size() - 1);
}

LinkQuality Link::quality(TimePoint now) const {
    LinkQuality q;
    q.up = up();
    q.rtt_samples = rtt_samples_;
    q.rtt = srtt_;
    q.rtt_var = rttvar_;
    q.last_rtt = last_rtt_;
    q.missed_heartbeats = missed_heartbeats();
    q.late_heartbeats = late_heartbeats_;
    if (received_any_ && now >= last_rx_) {
        q.since_last_data = now - last_rx_;
    }
    return q;
}

Duration Link::probe_timeout() const noexcept {
    const Duration ceiling = timings_.interrupted_after / 2;
    const Duration wanted =
        rtt_samples_ == 0 ? kNoSampleProbeTimeout : std::max(2 * srtt_ + 4 * rttvar_, kMinProbeTimeout);
    return std::min(wanted, ceiling);
}

}  // namespace relink::core
