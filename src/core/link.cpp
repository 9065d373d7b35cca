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
    refused_ = false;
    return OpenTransport{transport_, attempt_};
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
    stable_at_.reset();  // a stable period must be unbroken: the backoff goes on where it was
    return action;
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

}  // namespace relink::core
