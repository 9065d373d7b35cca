// bench/peer/scenarios.cpp — peer-bench's scenarios: relink-bench's measurements made on Paho MQTT C++ (MQTT v5
// over TLS) against mosquitto, with the same faults injected through the same FaultProxy. Each scenario starts its
// own mosquitto (support.hpp) and stops it by PID before it returns, also when it throws.
//
//   restart    mosquitto SIGKILLed and restarted on its port: "listening again" → Paho's connected callback
//   outage     blackhole for D s, then pass + reset_all() (a NAT that forgot the flow): heal → connected
//   detect     a silent link (blackhole): the last byte the client received → Paho's connection_lost callback
//   dup_login  two auto-reconnecting clients with one client id for 20 s: kicks, reasons, flaps
//   backlog    a persistent-session QoS 1 subscriber away, N messages published: accepted vs delivered
//   idle       N idle TLS sessions: broker and client RSS per session
//   fanout     1 publisher → M subscribers, QoS 1: deliveries per second and latency
//
// bench/peer/README.md explains each Paho and mosquitto setting used and why.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "faultproxy/fault_proxy.hpp"
#include "support.hpp"

namespace peer {

namespace fp = relink::faultproxy;

namespace {

constexpr int kSessionTakenOver = 0x8E;     // MQTT v5 reason code of a DISCONNECT sent because of a takeover
constexpr std::size_t kPublishWindow = 50;  // unacknowledged QoS 1 publishes; Paho's command buffer holds 100

/// A broker behind a FaultProxy: the clients of the fault scenarios connect to the proxy.
struct Rig {
    explicit Rig(BrokerConfig config = {}) : broker(dir, config) {
        broker.start();
        fp::Options po;
        po.upstream_port = broker.port();
        po.max_connections = 4096;
        proxy = std::make_unique<fp::FaultProxy>(po);
    }
    ~Rig() {
        proxy.reset();  // the proxy first: its connections end before the broker's
        broker.stop();
    }
    Rig(const Rig&) = delete;
    Rig& operator=(const Rig&) = delete;
    [[nodiscard]] std::string proxy_uri() const { return "ssl://127.0.0.1:" + std::to_string(proxy->port()); }

    TempDir dir;
    Broker broker;
    std::unique_ptr<fp::FaultProxy> proxy;
};

/// Watches the proxy's byte counter toward the clients every millisecond and remembers when it last grew: "the
/// last data the client received" (PINGRESP, CONNACK or a message), which Paho itself does not expose.
class RxWatch {
public:
    explicit RxWatch(const fp::FaultProxy& proxy) : proxy_(proxy), thread_([this] { run(); }) {}
    ~RxWatch() {
        stop_ = true;
        thread_.join();
    }
    RxWatch(const RxWatch&) = delete;
    RxWatch& operator=(const RxWatch&) = delete;
    [[nodiscard]] std::int64_t last_change_ns() const { return last_change_ns_.load(); }

private:
    void run() {
        std::uint64_t seen = proxy_.stats().bytes_to_client;
        last_change_ns_ = now_ns();
        while (!stop_) {
            const auto now = proxy_.stats().bytes_to_client;
            if (now != seen) {
                seen = now;
                last_change_ns_ = now_ns();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    const fp::FaultProxy& proxy_;
    std::atomic<bool> stop_{false};
    std::atomic<std::int64_t> last_change_ns_{0};
    std::thread thread_;
};

/// The settings of the fault scenarios: Paho's defaults with automatic reconnect on (its own default intervals,
/// 1 s doubling to 60 s) and the 4 s keepalive.
ClientSettings fault_settings(const Options& o) {
    ClientSettings s;
    s.keepalive_s = o.keepalive_s;
    s.auto_reconnect = true;
    return s;
}

/// Waits (bounded) until `c` is connected, returning false if it is not.
bool ensure_connected(PahoClient& c, std::chrono::milliseconds timeout) {
    return wait_until([&] { return c.is_connected(); }, timeout, std::chrono::milliseconds(2));
}

/// The events from index `from` on, as "T ms:kind" relative to t0 (for --verbose).
std::string describe_events(const std::vector<Event>& events, std::int64_t t0, std::size_t from = 0) {
    std::ostringstream out;
    for (std::size_t i = from; i < events.size(); ++i) {
        const auto& e = events[i];
        out << " " << static_cast<long long>(ns_to_ms(e.t_ns - t0)) << "ms:"
            << (e.kind == Event::Kind::connected ? "connected"
                : e.kind == Event::Kind::lost    ? "lost"
                                                 : "disconnected");
        if (e.kind == Event::Kind::disconnected) {
            out << "(0x" << std::hex << e.reason << std::dec << ")";
        }
    }
    return out.str();
}

/// Opens `n` clients to `uri` with at most `window` connects in flight; returns them (connected or not).
std::vector<std::unique_ptr<PahoClient>> open_fleet(const Options& o, const std::string& uri, const TempDir& dir,
                                                    const std::string& prefix, std::size_t n, const ClientSettings& s,
                                                    std::size_t& connected, std::string& first_error) {
    std::vector<std::unique_ptr<PahoClient>> fleet;
    std::deque<mqtt::token_ptr> in_flight;
    connected = 0;
    auto settle_one = [&] {
        auto tok = in_flight.front();
        in_flight.pop_front();
        try {
            if (tok->wait_for(std::chrono::seconds(30))) {
                ++connected;
            } else if (first_error.empty()) {
                first_error = "connect timed out after 30 s";
            }
        } catch (const std::exception& e) {
            if (first_error.empty()) {
                first_error = e.what();
            }
        }
    };
    for (std::size_t i = 0; i < n; ++i) {
        check_stop();
        try {
            auto client = std::make_unique<PahoClient>(uri, prefix + std::to_string(i), dir);
            auto tok = client->connect_async(s);
            fleet.push_back(std::move(client));
            in_flight.push_back(std::move(tok));
        } catch (const std::exception& e) {  // e.g. out of descriptors: stop opening, measure what we have
            if (first_error.empty()) {
                first_error = "client " + std::to_string(i) + ": " + e.what();
            }
            break;
        }
        while (in_flight.size() >= std::max<std::size_t>(1, o.concurrency)) {
            settle_one();
        }
        if ((i + 1) % 200 == 0) {
            log_verbose(o, prefix + ": " + std::to_string(i + 1) + " opened");
        }
    }
    while (!in_flight.empty()) {
        settle_one();
    }
    return fleet;
}

/// Subscribes each connected client of `fleet` to `topic_of(its index)` at QoS 1, `o.concurrency` at a time;
/// returns how many subscriptions the broker acknowledged.
std::size_t subscribe_fleet(const Options& o, std::vector<std::unique_ptr<PahoClient>>& fleet,
                            const std::function<std::string(std::size_t)>& topic_of) {
    std::size_t subscribed = 0;
    std::deque<mqtt::token_ptr> subs;
    const auto settle_one = [&] {
        try {
            subscribed += subs.front()->wait_for(std::chrono::seconds(30)) ? 1 : 0;
        } catch (const mqtt::exception&) {
        }
        subs.pop_front();
    };
    for (std::size_t i = 0; i < fleet.size(); ++i) {
        check_stop();
        if (!fleet[i]->is_connected()) {
            continue;
        }
        subs.push_back(fleet[i]->raw().subscribe(topic_of(i), 1));
        while (subs.size() >= std::max<std::size_t>(1, o.concurrency)) {
            settle_one();
        }
    }
    while (!subs.empty()) {
        settle_one();
    }
    return subscribed;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
std::vector<ScenarioResult> run_restart(const Options& o) {
    std::vector<ScenarioResult> out;
    for (const auto& which : o.restart_settings) {
        ScenarioResult r;
        r.name = "restart";
        r.params = {{"runs", o.restart_runs}, {"settings", which}};
        ClientSettings s = fault_settings(o);
        if (which == "fastest") {
            // The smallest retry Paho accepts: 0 s (an int count of seconds; 0 is taken as is, and 0 doubled stays
            // 0, so every retry is immediate). The max only caps the doubling and is irrelevant at 0.
            s.min_retry_s = 0;
            s.max_retry_s = 1;
        }
        r.settings = s.to_json();
        r.settings["path"] =
            o.restart_direct ? "client → mosquitto (no proxy)" : "client → FaultProxy (pass) → mosquitto";
        if (o.restart_direct) {
            r.params["path"] = "direct";
        }
        r.settings["restart"] = "SIGKILL, then a new mosquitto on the same port at once (no persistence)";
        r.settings["listening_again"] = "first accepted TCP connect to mosquitto's port, connects polled 1 ms apart";
        std::vector<double> samples;
        try {
            Rig rig;
            PahoClient c(o.restart_direct ? rig.broker.uri() : rig.proxy_uri(), "peer-restart", rig.dir);
            if (!c.connect(s, std::chrono::seconds(15))) {
                throw std::runtime_error("first connect failed");
            }
            for (std::size_t run = 0; run < o.restart_runs; ++run) {
                sleep_checked(std::chrono::milliseconds(500));
                const auto from = c.event_count();
                rig.broker.kill_now();
                const auto t_listen = rig.broker.start();
                const auto ev = c.wait_event(Event::Kind::connected, from, std::chrono::seconds(150));
                if (!ev) {
                    throw std::runtime_error("run " + std::to_string(run) + ": no reconnect within 150 s");
                }
                samples.push_back(ns_to_ms(ev->t_ns - t_listen));
                log_verbose(o, "restart " + which + " run " + std::to_string(run) + ": " +
                                   std::to_string(samples.back()) + " ms;" +
                                   describe_events(c.events(), t_listen, from));
            }
        } catch (const Interrupted&) {
            throw;
        } catch (const std::exception& e) {
            r.error = e.what();
        }
        add_percentiles(r.metrics, "reconnect_ms", samples, {"p50", "p90", "max"});
        r.samples["reconnect_ms"] = samples;
        out.push_back(std::move(r));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
std::vector<ScenarioResult> run_outage(const Options& o) {
    std::vector<ScenarioResult> out;
    for (const double outage_s : o.outages) {
        ScenarioResult r;
        r.name = "outage";
        r.params = {{"outage_s", outage_s}, {"runs", o.outage_runs}};
        const ClientSettings s = fault_settings(o);
        r.settings = s.to_json();
        r.settings["path"] = "client → FaultProxy → mosquitto";
        r.settings["fault"] = outage_s > 0 ? "blackhole for outage_s, then pass + reset_all()" : "reset_all() only";
        std::vector<double> samples;
        std::size_t noticed_during_outage = 0;
        try {
            Rig rig;
            PahoClient c(rig.proxy_uri(), "peer-outage", rig.dir);
            if (!c.connect(s, std::chrono::seconds(15))) {
                throw std::runtime_error("first connect failed");
            }
            for (std::size_t run = 0; run < o.outage_runs; ++run) {
                if (!ensure_connected(c, std::chrono::seconds(150))) {
                    throw std::runtime_error("not connected before run " + std::to_string(run));
                }
                sleep_checked(std::chrono::milliseconds(1000));
                const auto from = c.event_count();
                const auto t_start = now_ns();
                if (outage_s > 0) {
                    rig.proxy->set_mode(fp::Mode::blackhole);
                    sleep_checked(std::chrono::milliseconds(static_cast<long>(outage_s * 1000)));
                    rig.proxy->set_mode(fp::Mode::pass);
                }
                rig.proxy->reset_all();
                const auto t_heal = now_ns();
                const auto lost = c.wait_event(Event::Kind::lost, from, std::chrono::seconds(150));
                if (lost && lost->t_ns < t_heal) {
                    ++noticed_during_outage;
                }
                const auto ev = c.wait_event(Event::Kind::connected, from, std::chrono::seconds(150));
                if (!ev) {
                    throw std::runtime_error("run " + std::to_string(run) + ": not connected 150 s after the heal");
                }
                samples.push_back(ns_to_ms(ev->t_ns - t_heal));
                log_verbose(o, "outage " + std::to_string(outage_s) + " s run " + std::to_string(run) + ": " +
                                   std::to_string(samples.back()) + " ms;" +
                                   describe_events(c.events(), t_start, from));
            }
        } catch (const Interrupted&) {
            throw;
        } catch (const std::exception& e) {
            r.error = e.what();
        }
        add_percentiles(r.metrics, "extra_downtime_ms", samples, {"p50", "max"});
        r.samples["extra_downtime_ms"] = samples;
        r.notes.push_back("connection_lost before the heal in " + std::to_string(noticed_during_outage) + " of " +
                          std::to_string(samples.size()) + " runs");
        out.push_back(std::move(r));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
std::vector<ScenarioResult> run_detect(const Options& o) {
    ScenarioResult r;
    r.name = "detect";
    r.params = {{"runs", o.detect_runs}};
    const ClientSettings s = fault_settings(o);
    r.settings = s.to_json();
    r.settings["path"] = "client → FaultProxy → mosquitto";
    r.settings["fault"] = "blackhole at a random moment 0..keepalive after the connect; no application traffic";
    r.settings["last_data"] = "last growth of the proxy's bytes_to_client, sampled every 1 ms";
    std::vector<double> samples;
    std::vector<double> from_blackhole;
    try {
        Rig rig;
        RxWatch watch(*rig.proxy);
        PahoClient c(rig.proxy_uri(), "peer-detect", rig.dir);
        if (!c.connect(s, std::chrono::seconds(15))) {
            throw std::runtime_error("first connect failed");
        }
        std::mt19937 rng(7);
        std::uniform_int_distribution<int> phase(0, o.keepalive_s * 1000);
        for (std::size_t run = 0; run < o.detect_runs; ++run) {
            if (!ensure_connected(c, std::chrono::seconds(150))) {
                throw std::runtime_error("not connected before run " + std::to_string(run));
            }
            sleep_checked(std::chrono::milliseconds(phase(rng)));
            const auto from = c.event_count();
            rig.proxy->set_mode(fp::Mode::blackhole);
            const auto t_blackhole = now_ns();
            sleep_checked(std::chrono::milliseconds(5));  // the watcher samples every 1 ms
            const auto t_last = watch.last_change_ns();
            const auto lost = c.wait_event(Event::Kind::lost, from, std::chrono::seconds(4 * o.keepalive_s + 30));
            rig.proxy->set_mode(fp::Mode::pass);
            rig.proxy->reset_all();  // a reconnect attempt hanging in the blackhole fails now, not in 30 s
            if (!lost) {
                throw std::runtime_error("run " + std::to_string(run) + ": no connection_lost within " +
                                         std::to_string(4 * o.keepalive_s + 30) + " s");
            }
            samples.push_back(ns_to_ms(lost->t_ns - t_last));
            from_blackhole.push_back(ns_to_ms(lost->t_ns - t_blackhole));
            log_verbose(o, "detect run " + std::to_string(run) + ": " + std::to_string(samples.back()) +
                               " ms after the last data (" + lost->cause + ")");
        }
    } catch (const Interrupted&) {
        throw;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
    add_percentiles(r.metrics, "detect_ms", samples, {"p50", "max"});
    r.samples["detect_ms"] = samples;
    r.samples["detect_after_blackhole_ms"] = from_blackhole;
    return {r};
}

// ---------------------------------------------------------------------------------------------------------------
std::vector<ScenarioResult> run_dup_login(const Options& o) {
    ScenarioResult r;
    r.name = "dup_login";
    r.params = {{"seconds", o.dup_seconds}};
    const ClientSettings s = fault_settings(o);
    r.settings = s.to_json();
    r.settings["path"] = "both clients → FaultProxy (pass) → mosquitto";
    r.settings["client_id"] = "the same for both: peer-dup";
    try {
        Rig rig;
        PahoClient a(rig.proxy_uri(), "peer-dup", rig.dir);
        if (!a.connect(s, std::chrono::seconds(15))) {
            throw std::runtime_error("first client could not connect");
        }
        PahoClient b(rig.proxy_uri(), "peer-dup", rig.dir);
        const auto t0 = now_ns();
        b.connect_async(s);
        sleep_checked(std::chrono::milliseconds(static_cast<long>(o.dup_seconds * 1000)));
        const auto t_end = now_ns();
        // Count within the window only; both clients keep running until they are destroyed below.
        std::size_t kicks = 0, with_reason = 0, disconnects_seen = 0, connects = 0;
        std::map<std::string, std::size_t> causes;
        for (PahoClient* c : {&a, &b}) {
            const auto events = c->events();
            for (const auto& e : events) {
                if (e.t_ns < t0 || e.t_ns > t_end) {
                    continue;
                }
                if (e.kind == Event::Kind::lost) {
                    ++kicks;  // no fault is injected: every lost connection is the other client's doing
                    ++causes[e.cause.empty() ? "(empty cause)" : e.cause];
                } else if (e.kind == Event::Kind::disconnected) {
                    ++disconnects_seen;
                    if (e.reason == kSessionTakenOver) {
                        ++with_reason;
                    }
                } else if (e.kind == Event::Kind::connected) {
                    ++connects;
                }
            }
            log_verbose(o, std::string("dup_login ") + (c == &a ? "A" : "B") + ":" + describe_events(events, t0));
        }
        // A kick Paho reports only through the v5 disconnected callback (no connection_lost) still counts once.
        kicks = std::max(kicks, disconnects_seen);
        r.metrics["kicks"] = kicks;
        r.metrics["kicks_with_reason"] = with_reason;
        r.metrics["flaps"] = kicks > 0 ? kicks - 1 : 0;
        r.samples["connected_events"] = connects;
        r.samples["disconnected_callbacks"] = disconnects_seen;
        Json c = Json::object();
        for (const auto& [cause, n] : causes) {
            c[cause] = n;
        }
        r.samples["connection_lost_causes"] = c;
    } catch (const Interrupted&) {
        throw;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
    return {r};
}

// ---------------------------------------------------------------------------------------------------------------
std::vector<ScenarioResult> run_backlog(const Options& o) {
    std::vector<std::size_t> counts = o.backlog_messages;
    if (counts.empty()) {
        counts = {o.backlog_cap / 2, o.backlog_cap * 2};
    }
    std::vector<ScenarioResult> out;
    for (const std::size_t n : counts) {
        ScenarioResult r;
        r.name = "backlog";
        r.params = {{"messages", n}, {"cap", o.backlog_cap}};
        ClientSettings sub_settings = fault_settings(o);
        sub_settings.clean_start = false;  // a persistent session: the broker queues QoS 1 messages while away
        sub_settings.session_expiry_s = 3600;
        ClientSettings pub_settings;
        r.settings["subscriber"] = sub_settings.to_json();
        r.settings["publisher"] = pub_settings.to_json();
        r.settings["mosquitto"] = {{"max_queued_messages", o.backlog_cap}, {"max_inflight_messages", "20 (default)"}};
        r.settings["path"] = "subscriber → FaultProxy → mosquitto; publisher → mosquitto";
        r.settings["fault"] =
            "blackhole; publish once mosquitto logged the subscriber's keepalive timeout; then pass + reset_all()";
        try {
            Rig rig(BrokerConfig{o.backlog_cap});
            std::mutex mutex;
            std::set<std::uint64_t> seen;
            std::size_t duplicates = 0;
            PahoClient sub(rig.proxy_uri(), "peer-backlog-sub", rig.dir);
            sub.set_message_hook([&](const mqtt::const_message_ptr& m) {
                const auto& p = m->get_payload();
                std::uint64_t id = 0;
                if (p.size() >= sizeof id) {
                    std::memcpy(&id, p.data(), sizeof id);
                }
                std::lock_guard lock(mutex);
                if (!seen.insert(id).second) {
                    ++duplicates;
                }
            });
            if (!sub.connect(sub_settings, std::chrono::seconds(15)) ||
                !sub.subscribe("bench/backlog", std::chrono::seconds(10))) {
                throw std::runtime_error("subscriber could not connect and subscribe");
            }
            PahoClient pub(rig.broker.uri(), "peer-backlog-pub", rig.dir);
            if (!pub.connect(pub_settings, std::chrono::seconds(15))) {
                throw std::runtime_error("publisher could not connect");
            }
            rig.proxy->set_mode(fp::Mode::blackhole);
            // mosquitto drops a silent client after 1.5 × its keepalive and logs it; from then on the subscriber
            // is "away" and its messages are queued for the session, up to max_queued_messages.
            const bool broker_noticed =
                wait_until([&] { return rig.broker.log_count("exceeded timeout") > 0; },
                           std::chrono::seconds(3 * o.keepalive_s + 10), std::chrono::milliseconds(50));
            // Publishes with at most kPublishWindow unacknowledged: Paho refuses (MQTTASYNC_MAX_BUFFERED_MESSAGES)
            // more than maxBufferedMessages (100 by default) commands queued in the client, even while connected.
            std::size_t accepted = 0;
            std::deque<mqtt::delivery_token_ptr> tokens;
            auto settle = [&] {
                try {
                    if (tokens.front()->wait_for(std::chrono::seconds(10))) {
                        ++accepted;
                    }
                } catch (const mqtt::exception&) {  // a PUBACK with a failure reason code: not accepted
                }
                tokens.pop_front();
            };
            for (std::uint64_t id = 1; id <= n; ++id) {
                check_stop();
                std::string payload(o.payload_bytes < 8 ? 8 : o.payload_bytes, 'x');
                std::memcpy(payload.data(), &id, sizeof id);
                tokens.push_back(pub.raw().publish("bench/backlog", payload.data(), payload.size(), 1, false));
                while (tokens.size() >= kPublishWindow) {
                    settle();
                }
            }
            while (!tokens.empty()) {
                settle();
            }
            // Paho may not have noticed the silence yet (it takes about 11 s at a 4 s keepalive), so "back" is the
            // first connected callback after the heal, not is_connected().
            const auto from = sub.event_count();
            rig.proxy->set_mode(fp::Mode::pass);
            rig.proxy->reset_all();
            const auto t_heal = now_ns();
            const auto back = sub.wait_event(Event::Kind::connected, from, std::chrono::seconds(150));
            if (!back) {
                throw std::runtime_error("subscriber not back 150 s after the heal");
            }
            const auto t_back = back->t_ns;
            // Delivered = what arrives until nothing new has come for 3 s (at most 60 s).
            std::size_t last = 0;
            auto last_change = Clock::now();
            wait_until(
                [&] {
                    std::size_t now_seen;
                    {
                        std::lock_guard lock(mutex);
                        now_seen = seen.size();
                    }
                    if (now_seen != last) {
                        last = now_seen;
                        last_change = Clock::now();
                    }
                    return now_seen >= n || Clock::now() - last_change > std::chrono::seconds(3);
                },
                std::chrono::seconds(60), std::chrono::milliseconds(20));
            std::size_t delivered;
            {
                std::lock_guard lock(mutex);
                delivered = seen.size();
            }
            const std::size_t reported_dropped = 0;  // MQTT has no "messages were dropped" signal; Paho reports none
            r.metrics["accepted"] = accepted;
            r.metrics["delivered"] = delivered;
            r.metrics["reported_dropped"] = reported_dropped;
            r.metrics["silently_lost"] = static_cast<long long>(accepted) - static_cast<long long>(delivered) -
                                         static_cast<long long>(reported_dropped);
            r.samples["duplicates"] = duplicates;
            r.samples["reconnect_after_heal_ms"] = ns_to_ms(t_back - t_heal);
            r.samples["broker_log_drop_lines"] = rig.broker.log_count("dropped");
            if (!broker_noticed) {
                r.notes.push_back("mosquitto had not logged the subscriber's timeout before publishing");
            }
            log_verbose(o, "backlog " + std::to_string(n) + ": accepted " + std::to_string(accepted) + ", delivered " +
                               std::to_string(delivered) + "," + describe_events(sub.events(), t_heal, from));
        } catch (const Interrupted&) {
            throw;
        } catch (const std::exception& e) {
            r.error = e.what();
        }
        out.push_back(std::move(r));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
std::vector<ScenarioResult> run_idle(const Options& o) {
    std::vector<ScenarioResult> out;
    const auto nofile = raise_nofile_limit();
    for (const std::size_t n : o.idle_sessions) {
        ScenarioResult r;
        r.name = "idle";
        r.params = {{"sessions", n}};
        const ClientSettings s;  // Paho's defaults: keepalive 60 s, so nothing is sent while idle
        r.settings = s.to_json();
        r.settings["path"] = "clients → mosquitto (no proxy)";
        r.settings["idle_seconds"] = o.idle_seconds;
        r.settings["connects_in_flight"] = o.concurrency;
        r.settings["channel_size"] = o.channel_size;
        r.settings["rlimit_nofile"] = nofile;
        try {
            TempDir dir;
            Broker broker(dir, {});
            broker.start();
            // Warm-up: 16 sessions in and out, so one-time initialisation (OpenSSL, Paho's threads, mosquitto's
            // first allocations) is not counted per session.
            {
                std::size_t ok = 0;
                std::string err;
                auto warm = open_fleet(o, broker.uri(), dir, "peer-warm-", 16, s, ok, err);
            }
            sleep_checked(std::chrono::milliseconds(1000));
            const auto server_base = read_memory(broker.pid()).vm_rss;
            const auto client_base = read_memory(getpid()).vm_rss;
            std::size_t connected = 0;
            std::string first_error;
            const auto t0 = now_ns();
            auto fleet = open_fleet(o, broker.uri(), dir, "peer-idle-", n, s, connected, first_error);
            // Each session subscribes to its room's topic, as relink-bench's idle sessions join channels of
            // `channel_size`: both servers then hold a session's membership as well as its connection.
            const std::size_t subscribed = o.channel_size == 0 ? 0 : subscribe_fleet(o, fleet, [&](std::size_t i) {
                return "bench/room-" + std::to_string(i / o.channel_size);
            });
            const auto t1 = now_ns();
            sleep_checked(std::chrono::seconds(o.idle_seconds));
            const auto server_after = read_memory(broker.pid()).vm_rss;
            const auto client_after = read_memory(getpid()).vm_rss;
            std::size_t still = 0;
            for (const auto& c : fleet) {
                still += c->is_connected() ? 1 : 0;
            }
            if (connected == 0) {
                throw std::runtime_error("no session connected: " + first_error);
            }
            const auto per = [&](std::uint64_t after, std::uint64_t base) {
                return (static_cast<double>(after) - static_cast<double>(base)) / static_cast<double>(connected);
            };
            r.metrics["server_bytes_per_session"] = per(server_after, server_base);
            r.metrics["client_bytes_per_session"] = per(client_after, client_base);
            r.samples["connected"] = connected;
            r.samples["still_connected_after_idle"] = still;
            r.samples["subscribed"] = subscribed;
            r.samples["connect_s"] = ns_to_ms(t1 - t0) / 1000.0;
            r.samples["server_rss_base"] = server_base;
            r.samples["server_rss_after"] = server_after;
            r.samples["client_rss_base"] = client_base;
            r.samples["client_rss_after"] = client_after;
            if (connected < n) {
                r.notes.push_back(std::to_string(connected) + " of " + std::to_string(n) +
                                  " sessions connected; first error: " + first_error);
            }
            // The marginal cost, as relink-bench measures it: what N/2 more sessions (in rooms of their own) add
            // once N stand, free of what the baseline left over.
            const std::size_t more = std::clamp<std::size_t>(n / 2, 100, 1000);  // as relink-bench
            std::size_t connected_more = 0;
            std::string more_error;
            auto fleet_more = open_fleet(o, broker.uri(), dir, "peer-idle-more-", more, s, connected_more, more_error);
            if (o.channel_size != 0) {
                subscribe_fleet(o, fleet_more, [&](std::size_t i) {
                    return "bench/room-" + std::to_string((n + i) / o.channel_size);
                });
            }
            sleep_checked(std::chrono::seconds(o.idle_seconds));
            const auto server_more = read_memory(broker.pid()).vm_rss;
            if (connected_more > 0) {
                r.metrics["server_marginal_bytes_per_session"] =
                    (static_cast<double>(server_more) - static_cast<double>(server_after)) /
                    static_cast<double>(connected_more);
            }
            r.samples["marginal_sessions"] = connected_more;
            r.samples["server_rss_after_more"] = server_more;
            if (connected_more < more) {
                r.notes.push_back(std::to_string(connected_more) + " of " + std::to_string(more) +
                                  " more sessions connected; first error: " + more_error);
            }
            log_verbose(o, "idle " + std::to_string(n) + ": closing");
            fleet_more.clear();
            fleet.clear();
        } catch (const Interrupted&) {
            throw;
        } catch (const std::exception& e) {
            r.error = e.what();
        }
        out.push_back(std::move(r));
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
std::vector<ScenarioResult> run_fanout(const Options& o) {
    ScenarioResult r;
    r.name = "fanout";
    r.params = {{"members", o.members}, {"messages", o.messages}};
    const ClientSettings s;
    r.settings = s.to_json();
    r.settings["qos"] = 1;
    r.settings["rate_per_s"] = o.rate;
    r.settings["payload_bytes"] = o.payload_bytes;
    r.settings["path"] = "publisher and subscribers → mosquitto (no proxy), one process";
    r.settings["connects_in_flight"] = o.concurrency;
    try {
        raise_nofile_limit();
        TempDir dir;
        Broker broker(dir, {});
        broker.start();
        const std::size_t expected = o.members * o.messages;
        std::vector<double> latencies(expected, 0.0);
        std::atomic<std::size_t> next{0};
        std::atomic<std::int64_t> last_delivery{0};
        auto hook = [&](const mqtt::const_message_ptr& m) {
            const auto t = now_ns();
            const auto& p = m->get_payload();
            std::int64_t sent = 0;
            if (p.size() >= sizeof sent) {
                std::memcpy(&sent, p.data(), sizeof sent);
            }
            const auto i = next.fetch_add(1);
            if (i < latencies.size()) {
                latencies[i] = ns_to_ms(t - sent);
            }
            last_delivery = t;
        };
        std::size_t connected = 0;
        std::string first_error;
        // Subscribers: created, hooked and subscribed one window at a time.
        std::vector<std::unique_ptr<PahoClient>> members;
        {
            auto fleet = open_fleet(o, broker.uri(), dir, "peer-fan-", o.members, s, connected, first_error);
            members = std::move(fleet);
        }
        for (auto& m : members) {
            m->set_message_hook(hook);
        }
        const std::size_t subscribed = subscribe_fleet(o, members, [](std::size_t) { return "bench/fanout"; });
        PahoClient pub(broker.uri(), "peer-fan-pub", dir);
        if (!pub.connect(s, std::chrono::seconds(15))) {
            throw std::runtime_error("publisher could not connect");
        }
        log_verbose(o, "fanout: " + std::to_string(subscribed) + " subscribed; publishing");
        const auto interval = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / std::max(o.rate, 0.001)));
        const auto t_first = Clock::now();
        const auto t_first_ns = now_ns();
        std::deque<mqtt::delivery_token_ptr> tokens;
        std::size_t acked = 0;
        auto settle = [&] {
            try {
                acked += tokens.front()->wait_for(std::chrono::seconds(30)) ? 1 : 0;
            } catch (const mqtt::exception&) {
            }
            tokens.pop_front();
        };
        for (std::size_t k = 0; k < o.messages; ++k) {
            check_stop();
            std::this_thread::sleep_until(t_first + interval * static_cast<long>(k));
            std::string payload(std::max<std::size_t>(o.payload_bytes, 16), 'x');
            const std::int64_t t = now_ns();
            std::memcpy(payload.data(), &t, sizeof t);
            const std::uint64_t seq = k;
            std::memcpy(payload.data() + 8, &seq, sizeof seq);
            tokens.push_back(pub.raw().publish("bench/fanout", payload.data(), payload.size(), 1, false));
            while (tokens.size() >= kPublishWindow) {
                settle();
            }
        }
        while (!tokens.empty()) {
            settle();
        }
        const std::size_t want = subscribed * o.messages;
        const double budget_s = static_cast<double>(o.messages) / std::max(o.rate, 0.001) + 60.0;
        const bool all =
            wait_until([&] { return next.load() >= want; },
                       std::chrono::milliseconds(static_cast<long>(budget_s * 1000)), std::chrono::milliseconds(5));
        const std::size_t delivered = std::min(next.load(), latencies.size());
        std::vector<double> lat(latencies.begin(), latencies.begin() + static_cast<long>(delivered));
        const double span_s = static_cast<double>(last_delivery.load() - t_first_ns) / 1e9;
        r.metrics["delivered_per_s"] = span_s > 0 ? static_cast<double>(delivered) / span_s : 0.0;
        add_percentiles(r.metrics, "latency_ms", lat, {"p50", "p99", "p999"});
        r.samples["subscribed"] = subscribed;
        r.samples["publishes_acked"] = acked;
        r.samples["expected_deliveries"] = want;
        r.samples["delivered"] = delivered;
        r.samples["latency_ms"] = thin(lat, 2000);
        if (!all) {
            r.notes.push_back("not every delivery arrived within " + std::to_string(budget_s) + " s");
        }
        if (subscribed < o.members) {
            r.notes.push_back(std::to_string(subscribed) + " of " + std::to_string(o.members) +
                              " members subscribed; first error: " + first_error);
        }
    } catch (const Interrupted&) {
        throw;
    } catch (const std::exception& e) {
        r.error = e.what();
    }
    return {r};
}

}  // namespace peer
