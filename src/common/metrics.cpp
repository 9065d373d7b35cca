// common/metrics.cpp — relink/metrics.hpp: the histograms' buckets and the Prometheus text of a ClientMetrics.
#include "relink/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <system_error>
#include <utility>

namespace relink {

namespace {

using namespace std::chrono_literals;

double seconds(Duration d) {
    return std::chrono::duration<double>(d).count();
}

/// A number as Prometheus reads it: the shortest text that gives the same double back ("0.025", "10").
std::string number(double v) {
    std::array<char, 32> buffer{};
    const auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
    return error == std::errc{} ? std::string(buffer.data(), end) : std::string("NaN");
}

/// `{a,b}` from the labels that are not empty, or nothing.
std::string labels(std::string_view extra, std::string_view own = {}) {
    std::string inside(own);
    if (!extra.empty()) {
        inside += inside.empty() ? "" : ",";
        inside += extra;
    }
    return inside.empty() ? std::string() : "{" + inside + "}";
}

}  // namespace

const std::vector<Duration>& duration_buckets() {
    static const std::vector<Duration> kBuckets{1ms,   2500us, 5ms,    10ms,   25ms,   50ms,   100ms,
                                                250ms, 500ms,  1000ms, 2500ms, 5000ms, 10000ms};
    return kBuckets;
}

void Histogram::record(Duration sample) {
    if (counts.size() != bounds.size() + 1) {
        counts.assign(bounds.size() + 1, 0);  // a default-made histogram: one bucket, everything above no bound
    }
    const auto at = std::lower_bound(bounds.begin(), bounds.end(), sample) - bounds.begin();
    ++counts[static_cast<std::size_t>(at)];
    sum += sample;
    ++count;
    max = std::max(max, sample);
}

ClientMetrics::ClientMetrics() {
    for (Histogram* h : {&attempt, &dns, &proxy, &tcp, &tls, &websocket, &login, &rtt}) {
        h->bounds = duration_buckets();
        h->counts.assign(h->bounds.size() + 1, 0);
    }
}

std::string to_prometheus(const ClientMetrics& m, std::string_view prefix, std::string_view extra_labels) {
    const std::string p(prefix);
    std::string out;
    const auto counter = [&](const std::string& name, const std::string& help, std::uint64_t value,
                             std::string_view own_labels = {}, bool header = true) {
        if (header) {
            out += "# HELP " + p + "_" + name + " " + help + "\n# TYPE " + p + "_" + name + " counter\n";
        }
        out += p + "_" + name + labels(extra_labels, own_labels) + " " + std::to_string(value) + "\n";
    };
    const auto histogram = [&](const std::string& name, const std::string& help, const Histogram& h) {
        const std::string full = p + "_" + name + "_seconds";
        out += "# HELP " + full + " " + help + "\n# TYPE " + full + " histogram\n";
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds.size(); ++i) {
            cumulative += i < h.counts.size() ? h.counts[i] : 0;
            out += full + "_bucket" + labels(extra_labels, "le=\"" + number(seconds(h.bounds[i])) + "\"") + " " +
                   std::to_string(cumulative) + "\n";
        }
        out += full + "_bucket" + labels(extra_labels, "le=\"+Inf\"") + " " + std::to_string(h.count) + "\n";
        out += full + "_sum" + labels(extra_labels) + " " + number(seconds(h.sum)) + "\n";
        out += full + "_count" + labels(extra_labels) + " " + std::to_string(h.count) + "\n";
    };

    counter("attempts_total", "Connection attempts that ended, logged in or failed.", m.attempts);
    counter("attempts_connected_total", "Connection attempts that logged in.", m.attempts_connected);
    counter("attempts_resumed_total", "Connection attempts that logged in and resumed the session.",
            m.attempts_resumed);
    for (std::size_t i = 0; i < m.attempts_failed.size(); ++i) {
        const auto cause = to_string(static_cast<AttemptFailure>(i));
        counter("attempts_failed_total", "Connection attempts that failed, by cause.", m.attempts_failed[i],
                "cause=\"" + std::string(cause) + "\"", i == 0);
    }
    counter("tls_handshakes_total", "TLS handshakes finished.", m.tls_handshakes);
    counter("tls_handshakes_resumed_total", "TLS handshakes that resumed an earlier TLS session.",
            m.tls_handshakes_resumed);
    bool first_state = true;
    for (std::size_t i = 1; i < m.state_changes.size(); ++i) {
        const auto state = to_string(static_cast<ConnectionState>(i));
        counter("state_changes_total", "Connection state changes, by the new state.", m.state_changes[i],
                "state=\"" + std::string(state) + "\"", std::exchange(first_state, false));
    }
    counter("continuity_reports_total", "Reconnects that resumed the session, visible or hidden.",
            m.continuity_reports);
    counter("messages_received_total", "Channel and peer messages delivered to the app.", m.messages_received);
    counter("messages_dropped_total", "Messages the server reported dropped for this client.", m.messages_dropped);
    histogram("attempt", "Connection attempts, from start to end.", m.attempt);
    histogram("dns", "Name resolution of each attempt.", m.dns);
    histogram("proxy", "HTTP proxy CONNECT of each attempt.", m.proxy);
    histogram("tcp", "TCP connection of each attempt.", m.tcp);
    histogram("tls", "TLS handshake of each attempt.", m.tls);
    histogram("websocket", "WebSocket upgrade of each attempt.", m.websocket);
    histogram("login", "Login request to the server's answer.", m.login);
    histogram("rtt", "Heartbeat round trips.", m.rtt);
    return out;
}

}  // namespace relink
