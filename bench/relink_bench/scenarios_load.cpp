// bench/relink_bench/scenarios_load.cpp — the load scenarios of relink-bench: `connect` (cold login + join of a
// fleet), `idle` (memory per idle session, relinkd and client), `fanout` (1 publisher → M members), `cross_node`
// (1 sender → a few receivers on another node of a cluster) and `storm` (a fleet loses relinkd at once: SIGKILL +
// restart, or drain + replacement). connect, fanout and cross_node also run on clusters (--cluster) and measure
// what each login and message costs Redis. docs/performance.md describes each.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "fleet.hpp"

namespace relink::bench {

using namespace std::chrono_literals;

namespace {

std::string channel_for(std::size_t i, std::size_t channel_size) {
    return channel_size == 0 ? std::string() : "room-" + std::to_string(i / channel_size);
}

/// Bounded time for a ramp of n logins: a minute, or 30 ms per login if that is longer (a slow machine finishes).
std::chrono::milliseconds ramp_budget(std::size_t n) {
    return std::max<std::chrono::milliseconds>(60s, std::chrono::milliseconds(30 * n));
}

std::vector<double> ms_between(const Fleet& fleet, const std::atomic<std::int64_t> Probe::*from,
                               const std::atomic<std::int64_t> Probe::*to) {
    std::vector<double> out;
    for (const auto& p : fleet.probes) {
        const auto a = ((*p).*from).load();
        const auto b = ((*p).*to).load();
        if (a != 0 && b != 0 && b >= a) {
            out.push_back(ns_to_ms(b - a));
        }
    }
    return out;
}

void note_relinkd_error(ScenarioResult& r, const std::string& error) {
    r.error = "relinkd: " + error;
    std::fprintf(stderr, "relink-bench: %s: %s\n", r.name.c_str(), r.error.c_str());
}

/// The deployments a scenario that knows clusters runs on: --cluster's list, or one relinkd.
std::vector<std::size_t> deployments_of(const Options& o) {
    return o.cluster_nodes.empty() ? std::vector<std::size_t>{0} : o.cluster_nodes;
}

/// In a run with --cluster, params name the deployment; a run without it keeps the params peer-bench joins on.
void describe_deployment(const Options& o, ScenarioResult& r, std::size_t cluster_nodes) {
    if (!o.cluster_nodes.empty()) {
        r.params["deployment"] = cluster_nodes == 0 ? "single" : "cluster";
        r.params["nodes"] = std::max<std::size_t>(cluster_nodes, 1);
    }
}

std::string deployment_text(std::size_t cluster_nodes) {
    return cluster_nodes == 0 ? std::string("one relinkd") : "cluster of " + std::to_string(cluster_nodes);
}

/// What Redis did over a window of a scenario, less the deployment's own background (node heartbeats, reapers,
/// liveness PINGs) read over an idle window first: what the window's logins or messages cost Redis, measured from
/// its counters (INFO commandstats counts the nodes' calls and every command their scripts make; INFO cpu).
/// Inactive (adds nothing) on a deployment without Redis.
class RedisMeter {
public:
    RedisMeter(const Deployment& deployment, std::chrono::milliseconds idle) : deployment_(deployment) {
        if (!deployment.clustered()) {
            return;
        }
        const auto first = deployment.redis_sample();
        sleep_unless_stopped(idle);
        const auto second = deployment.redis_sample();
        if (first && second && second->at_ns > first->at_ns) {
            const double seconds = static_cast<double>(second->at_ns - first->at_ns) / 1e9;
            for (const auto& [name, calls] : second->calls) {
                const auto before = first->calls.count(name) ? first->calls.at(name) : 0;
                background_[name] = static_cast<double>(calls - before) / seconds;
            }
            background_script_us_ = static_cast<double>(script_usec(*second) - script_usec(*first)) / seconds;
            background_cpu_us_ = (second->cpu_us - first->cpu_us) / seconds;
            active_ = true;
        }
    }
    void begin() {
        if (active_) {
            begin_ = deployment_.redis_sample();
        }
    }
    /// Sets redis_scripts_per_UNIT (EVALSHA: the store commands, one round trip each), redis_commands_per_UNIT
    /// (every command, those inside scripts too), redis_script_wall_us_per_UNIT (wall time Redis spent running the
    /// scripts, their commands included: INFO commandstats times calls by the clock, so a process preempted on a
    /// busy machine counts the wait too), redis_cpu_us_per_UNIT (the whole process: scripts, network, pub/sub) and,
    /// with `memory`, redis_bytes_per_UNIT (used_memory grown); the per-command breakdown and the background go into
    /// settings.
    void end(ScenarioResult& r, const std::string& unit, double count, bool memory = false) {
        const auto end = active_ && begin_ ? deployment_.redis_sample() : std::nullopt;
        if (!end || count <= 0) {
            return;
        }
        const double seconds = static_cast<double>(end->at_ns - begin_->at_ns) / 1e9;
        double scripts = 0;
        double commands = 0;
        Json by_name = Json::object();
        for (const auto& [name, calls] : end->calls) {
            if (name == "info") {  // this meter's own
                continue;
            }
            const auto before = begin_->calls.count(name) ? begin_->calls.at(name) : 0;
            const auto background = background_.count(name) ? background_.at(name) : 0.0;
            const double own = static_cast<double>(calls - before) - background * seconds;
            commands += own;
            scripts += name.rfind("eval", 0) == 0 ? own : 0.0;
            if (std::fabs(own / count) >= 0.005) {
                by_name[name] = std::round(own / count * 100.0) / 100.0;
            }
        }
        r.metrics["redis_scripts_per_" + unit] = number_or_null(scripts / count);
        r.metrics["redis_commands_per_" + unit] = number_or_null(commands / count);
        r.metrics["redis_script_wall_us_per_" + unit] = number_or_null(
            (static_cast<double>(script_usec(*end) - script_usec(*begin_)) - background_script_us_ * seconds) / count);
        r.metrics["redis_cpu_us_per_" + unit] =
            number_or_null((end->cpu_us - begin_->cpu_us - background_cpu_us_ * seconds) / count);
        if (memory) {
            r.metrics["redis_bytes_per_" + unit] = number_or_null(
                (static_cast<double>(end->used_memory) - static_cast<double>(begin_->used_memory)) / count);
        }
        r.settings["redis_commands_per_" + unit + "_by_name"] = by_name;
        double background_commands = 0;
        for (const auto& [name, rate] : background_) {
            background_commands += name == "info" ? 0.0 : rate;
        }
        r.settings["redis_background_per_s"] = {{"commands", number_or_null(background_commands)},
                                                {"cpu_us", number_or_null(background_cpu_us_)},
                                                {"nodes", deployment_.size()}};
    }

private:
    static std::uint64_t script_usec(const RedisSample& sample) {
        std::uint64_t sum = 0;
        for (const auto& [name, usec] : sample.usec) {
            sum += name.rfind("eval", 0) == 0 ? usec : 0;
        }
        return sum;
    }

    const Deployment& deployment_;
    bool active_{false};
    double background_script_us_{0};            ///< per second
    std::map<std::string, double> background_;  ///< calls per second
    double background_cpu_us_{0};               ///< per second
    std::optional<RedisSample> begin_;
};

}  // namespace

// ------------------------------------------------------------------------------------------- connect

namespace {

ScenarioResult connect_once(const Options& o, Env& env, std::size_t cluster_nodes) {
    ScenarioResult r;
    r.name = "connect";
    r.params = {{"clients", o.clients}};
    describe_deployment(o, r, cluster_nodes);
    r.settings = {{"concurrency", o.concurrency},
                  {"channel_size", o.channel_size},
                  {"client_threads", o.threads},
                  {"relinkd_threads", o.relinkd_threads},
                  {"profile", "rtm"},
                  {"load_average_before", load_average()}};
    raise_nofile(o.clients * 2 + 1024);
    std::string error;
    auto deployment = Deployment::launch(env, cluster_nodes, "connect", error);
    if (!deployment) {
        note_relinkd_error(r, error);
        return r;
    }
    RedisMeter redis(*deployment, 2s);
    Fleet fleet(env, o.threads);
    for (std::size_t i = 0; i < o.clients; ++i) {
        fleet.add("c" + std::to_string(i), deployment->port_of(i), channel_for(i, o.channel_size));
    }
    const auto cpu_before = deployment->relinkd_cpu_us();
    redis.begin();
    const auto started = now_ns();
    std::printf("connect: %zu clients, %zu logins in flight, channels of %zu, %s\n", o.clients, o.concurrency,
                o.channel_size, deployment_text(cluster_nodes).c_str());
    const bool all = fleet.login_all(0, o.clients, o.concurrency, ramp_budget(o.clients));
    const auto relinkd_cpu = deployment->relinkd_cpu_us() - cpu_before;
    std::int64_t last = 0;
    std::size_t connected = 0;
    for (const auto& p : fleet.probes) {
        if (p->first_connected_at != 0) {
            ++connected;
            last = std::max<std::int64_t>(last, p->first_connected_at);
        }
    }
    const auto connect_ms = ms_between(fleet, &Probe::login_at, &Probe::first_connected_at);
    const auto join_ms = ms_between(fleet, &Probe::login_at, &Probe::joined_at);
    add_percentiles(r.metrics, "connect_ms", connect_ms, {"p50", "p99", "max"});
    add_percentiles(r.metrics, "join_ms", join_ms, {"p50", "p99"});
    r.metrics["logins_per_s"] = number_or_null(
        connected > 0 && last > started
            ? std::optional<double>(static_cast<double>(connected) / (static_cast<double>(last - started) / 1e9))
            : std::nullopt);
    r.metrics["logged_in"] = connected;
    r.metrics["relinkd_cpu_us_per_login"] = number_or_null(
        connected > 0 ? std::optional<double>(static_cast<double>(relinkd_cpu) / static_cast<double>(connected))
                      : std::nullopt);
    if (deployment->clustered()) {
        // A login here is login + join of one channel; the presence it announces is part of its cost, so the
        // window closes once the announcements have settled.
        fleet.wait_presence_quiet(1000ms, 60s);
        redis.end(r, "login", static_cast<double>(connected), true);
    }
    if (!o.cluster_nodes.empty() && all) {
        // What the sessions cost while they only keep their heartbeat (a ping a second each): relinkd's CPU, and
        // Redis's work beyond the background (a live session should cost it nothing).
        constexpr auto kIdle = 3s;
        const auto idle_cpu_before = deployment->relinkd_cpu_us();
        redis.begin();
        const auto idle_started = now_ns();
        sleep_unless_stopped(kIdle);
        const double session_seconds =
            static_cast<double>(connected) * static_cast<double>(now_ns() - idle_started) / 1e9;
        r.metrics["relinkd_cpu_us_per_idle_session_second"] =
            number_or_null(static_cast<double>(deployment->relinkd_cpu_us() - idle_cpu_before) / session_seconds);
        redis.end(r, "idle_session_second", session_seconds);
    }
    r.samples["connect_ms"] = thin(connect_ms, 5000);
    if (!all) {
        r.error = std::to_string(o.clients - connected) + " of " + std::to_string(o.clients) +
                  " clients did not connect and join in time: " + fleet.state_summary();
    }
    fleet.shutdown();
    deployment->stop();
    return r;
}

}  // namespace

std::vector<ScenarioResult> run_connect(const Options& o, Env& env) {
    std::vector<ScenarioResult> out;
    for (const auto nodes : deployments_of(o)) {
        if (!g_stop) {
            out.push_back(connect_once(o, env, nodes));
        }
    }
    return out;
}

// ------------------------------------------------------------------------------------------- idle

std::vector<ScenarioResult> run_idle(const Options& o, Env& env) {
    std::vector<ScenarioResult> out;
    for (const auto n : o.idle_sessions) {
        if (g_stop) {
            break;
        }
        ScenarioResult r;
        r.name = "idle";
        r.params = {{"sessions", n}};
        const auto nofile = raise_nofile(n + 1024);
        r.settings = {{"tls", true},
                      {"channel_size", o.channel_size},
                      {"idle_seconds", o.idle_seconds},
                      {"heartbeat", "profile default (rtm: a ping per second per session)"},
                      {"rlimit_nofile", nofile},
                      {"relinkd_threads", o.relinkd_threads},
                      {"client_threads", o.threads},
                      {"load_average_before", load_average()}};
        std::string error;
        auto server = Relinkd::launch(env, {}, error);
        if (!server) {
            note_relinkd_error(r, error);
            out.push_back(r);
            continue;
        }
        Fleet fleet(env, o.threads);
        // Warm-up (relinkd-bench's method): 16 clients in and out, so OpenSSL's and Beast's one-time
        // initialisation on both sides is in the baseline, not spread over the sessions.
        for (std::size_t i = 0; i < 16; ++i) {
            fleet.add("warmup-" + std::to_string(i), server->port());
        }
        fleet.login_all(0, 16, 16, 20s);
        fleet.destroy_clients();
        fleet.probes.clear();
        sleep_unless_stopped(1000ms);
        trim_heap();
        const auto server_before = read_memory(server->pid());
        const auto client_rss_before = read_memory(0).vm_rss;
        const auto client_heap_before = heap_in_use();
        std::printf("idle: %zu sessions (relinkd baseline %.1f MiB)\n", n,
                    static_cast<double>(server_before.vm_rss) / 1048576.0);
        for (std::size_t i = 0; i < n; ++i) {
            fleet.add("i" + std::to_string(i), server->port(), channel_for(i, o.channel_size));
        }
        const bool all = fleet.login_all(0, n, o.concurrency, ramp_budget(n));
        fleet.wait_presence_quiet(1000ms, 60s);
        sleep_unless_stopped(std::chrono::seconds(o.idle_seconds));
        const auto connected = fleet.count_connected();
        const auto server_after = read_memory(server->pid());
        trim_heap();
        const auto client_rss_after = read_memory(0).vm_rss;
        const auto client_heap_after = heap_in_use();
        const auto metrics = read_metrics(server->admin_port(), kAdminSecret);
        const auto per = [&](std::uint64_t after, std::uint64_t before, std::size_t count) -> Json {
            if (count == 0) {
                return nullptr;
            }
            return number_or_null((static_cast<double>(after) - static_cast<double>(before)) /
                                  static_cast<double>(count));
        };
        r.metrics["server_bytes_per_session"] = per(server_after.vm_rss, server_before.vm_rss, connected);
        r.metrics["client_bytes_per_session"] = per(client_rss_after, client_rss_before, n);
        r.metrics["client_heap_bytes_per_session"] = per(client_heap_after, client_heap_before, n);
        r.metrics["server_anon_bytes_per_session"] = per(server_after.rss_anon, server_before.rss_anon, connected);
        r.metrics["sessions_connected"] = connected;
        // The marginal cost: what N/2 more sessions add once N stand. The figure above also counts what the baseline
        // left over (free memory the warm-up's closed sessions left in the heap, which the N sessions reuse before
        // the heap grows), which differs from server to server; the increment does not.
        // N/2, at least 100 and at most 1,000: at 10,000 sessions 5,000 more (15,000 on one relinkd, each pinging
        // every second) overload this 2-core machine.
        const std::size_t more = std::clamp<std::size_t>(n / 2, 100, 1000);
        for (std::size_t i = n; i < n + more; ++i) {
            fleet.add("i" + std::to_string(i), server->port(), channel_for(i, o.channel_size));
        }
        const bool all_more = fleet.login_all(n, n + more, o.concurrency, ramp_budget(more));
        fleet.wait_presence_quiet(1000ms, 60s);
        sleep_unless_stopped(std::chrono::seconds(o.idle_seconds));
        const auto connected_more = fleet.count_connected();
        const auto server_more = read_memory(server->pid());
        r.metrics["server_marginal_bytes_per_session"] =
            connected_more > connected ? per(server_more.vm_rss, server_after.vm_rss, connected_more - connected)
                                       : Json(nullptr);
        r.settings["marginal_sessions"] = more;
        r.settings["relinkd_rss_after_more"] = server_more.vm_rss;
        r.settings["relinkd_rss_before"] = server_before.vm_rss;
        r.settings["relinkd_rss_after"] = server_after.vm_rss;
        if (const auto it = metrics.find("relink_sessions"); it != metrics.end()) {
            r.settings["relinkd_metric_sessions"] = it->second;
        }
        if (!all || connected != n) {
            r.error = std::to_string(n - connected) + " of " + std::to_string(n) +
                      " sessions not connected: " + fleet.state_summary();
        } else if (!all_more || connected_more != n + more) {
            r.error = std::to_string(n + more - connected_more) + " of the " + std::to_string(more) +
                      " more sessions not connected: " + fleet.state_summary();
        }
        fleet.shutdown();
        server->terminate();
        server->wait_exit(8s);
        out.push_back(r);
    }
    return out;
}

// ------------------------------------------------------------------------------------------- fanout

namespace {

/// One publisher (on the deployment's first node) and its channel's members: `fanout` spreads the members over the
/// nodes in turn; `cross_node` puts every one on the next node, so each message crosses Redis between two nodes
/// (on a deployment of one node, sender and receivers share it).
struct FanoutShape {
    std::string name;           ///< the scenario
    std::string members_param;  ///< "members" or "receivers"
    std::size_t members{0};
    std::size_t messages{0};
    double rate{0};
    bool members_on_next_node{false};
};

ScenarioResult fanout_once(const Options& o, Env& env, const FanoutShape& shape, std::size_t cluster_nodes) {
    ScenarioResult r;
    r.name = shape.name;
    r.params = {{shape.members_param, shape.members}, {"messages", shape.messages}};
    describe_deployment(o, r, cluster_nodes);
    r.settings = {{"rate_per_s", shape.rate},
                  {"payload_bytes", o.payload_bytes},
                  {"client_threads", o.threads},
                  {"relinkd_threads", o.relinkd_threads},
                  {"clock", "one process, one steady clock: the payload carries the send time"},
                  {"load_average_before", load_average()}};
    raise_nofile(shape.members * 2 + 1024);
    std::string error;
    auto deployment = Deployment::launch(env, cluster_nodes, shape.name, error);
    if (!deployment) {
        note_relinkd_error(r, error);
        return r;
    }
    if (shape.members_on_next_node) {
        r.settings["placement"] = "sender on node 1, receivers on node " + std::to_string(1 % deployment->size() + 1);
    } else {
        r.settings["placement"] = "publisher on node 1, members spread over the nodes in turn";
    }
    RedisMeter redis(*deployment, 2s);
    Fleet fleet(env, o.threads);
    const std::string channel = "fan";
    // Per member: the latencies it saw (written on its callback strand, read after the run under its lock).
    struct Seen {
        std::mutex mu;
        std::vector<double> latency_ms;
        std::int64_t last_at{0};
    };
    std::vector<std::unique_ptr<Seen>> seen;
    std::atomic<std::uint64_t> delivered{0};
    for (std::size_t i = 0; i < shape.members; ++i) {
        auto& p = fleet.add("m" + std::to_string(i), deployment->port_of(shape.members_on_next_node ? 1 : i), channel);
        seen.push_back(std::make_unique<Seen>());
        Seen* s = seen.back().get();
        p.on_message = [s, &delivered](const MessageReceived& m) {
            const auto now = now_ns();
            if (m.payload.rfind("fan ", 0) != 0) {
                return;
            }
            const auto sent = std::strtoll(m.payload.c_str() + 4, nullptr, 10);
            std::lock_guard lock(s->mu);
            s->latency_ms.push_back(ns_to_ms(now - sent));
            s->last_at = now;
            delivered.fetch_add(1);
        };
    }
    auto& publisher = fleet.add("publisher", deployment->port_of(0), channel);
    std::printf("%s: %zu %s joining, %s\n", shape.name.c_str(), shape.members, shape.members_param.c_str(),
                deployment_text(cluster_nodes).c_str());
    const bool all = fleet.login_all(0, fleet.probes.size(), o.concurrency, ramp_budget(shape.members));
    // Every join is announced to every member present: wait until those announcements have been delivered.
    fleet.wait_presence_quiet(1000ms, 120s);
    // Members that did not make it (a first login refused or timed out on a loaded machine) are reported; the
    // fan-out runs to those that joined.
    std::size_t joined = 0;
    for (std::size_t i = 0; i < shape.members; ++i) {
        joined += fleet.probes[i]->joined_at != 0 ? 1 : 0;
    }
    if (!all) {
        r.notes.push_back("not every member joined: " + fleet.state_summary() + "; the fan-out went to the " +
                          std::to_string(joined) + " that did");
    }
    if (publisher.joined_at == 0) {
        r.error = "the publisher did not join: " + fleet.state_summary();
    }
    r.metrics["members_joined"] = joined;
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> failed{0};
    const auto relinkd_cpu_before = deployment->relinkd_cpu_times();
    const auto self_cpu_before = read_cpu_us(getpid());
    redis.begin();
    const auto first_send = now_ns();
    const auto interval = shape.rate > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / shape.rate))
                                         : std::chrono::nanoseconds(0);
    std::printf("%s: publishing %zu messages at %.0f/s to %zu %s\n", shape.name.c_str(), shape.messages, shape.rate,
                shape.members, shape.members_param.c_str());
    for (std::size_t i = 0; i < shape.messages && !g_stop && r.error.empty(); ++i) {
        const auto due = Clock::time_point(std::chrono::nanoseconds(first_send)) + interval * i;
        std::this_thread::sleep_until(due);
        std::string payload = "fan " + std::to_string(now_ns()) + " " + std::to_string(i) + " ";
        if (payload.size() < o.payload_bytes) {
            payload.append(o.payload_bytes - payload.size(), 'x');
        }
        const auto rc = publisher.client->send_channel_message(
            channel, std::move(payload),
            [&accepted, &failed](std::error_code ec) { (ec ? failed : accepted).fetch_add(1); });
        if (rc) {
            failed.fetch_add(1);
        }
    }
    const auto expected = static_cast<std::uint64_t>(shape.messages) * joined;
    // Until everything arrived, or nothing arrived for 5 s (bounded: 120 s).
    auto last_count = delivered.load();
    auto last_progress = Clock::now();
    wait_for(
        [&] {
            const auto d = delivered.load();
            if (d != last_count) {
                last_count = d;
                last_progress = Clock::now();
            }
            return d >= expected || Clock::now() - last_progress > 5s;
        },
        120s, 10ms);
    const auto relinkd_cpu_after = deployment->relinkd_cpu_times();
    const auto relinkd_user = relinkd_cpu_after.user_us - relinkd_cpu_before.user_us;
    const auto relinkd_system = relinkd_cpu_after.system_us - relinkd_cpu_before.system_us;
    const auto relinkd_cpu = relinkd_user + relinkd_system;
    redis.end(r, "message", static_cast<double>(accepted.load()));
    const auto self_cpu = read_cpu_us(getpid()) - self_cpu_before;
    std::vector<double> latency;
    std::int64_t last_delivery = 0;
    for (auto& s : seen) {
        std::lock_guard lock(s->mu);
        latency.insert(latency.end(), s->latency_ms.begin(), s->latency_ms.end());
        last_delivery = std::max(last_delivery, s->last_at);
    }
    r.metrics["delivered_per_s"] = number_or_null(
        last_delivery > first_send
            ? std::optional<double>(static_cast<double>(latency.size()) / (ns_to_ms(last_delivery - first_send) / 1e3))
            : std::nullopt);
    add_percentiles(r.metrics, "latency_ms", latency, {"p50", "p99", "p999", "max"});
    r.metrics["delivered"] = latency.size();
    r.metrics["expected"] = expected;
    r.metrics["accepted"] = accepted.load();
    r.metrics["send_errors"] = failed.load();
    // Where the time goes: both ends share the machine's cores, so a saturated run shows who saturates it.
    if (!latency.empty()) {
        r.metrics["relinkd_cpu_us_per_delivery"] =
            number_or_null(static_cast<double>(relinkd_cpu) / static_cast<double>(latency.size()));
        r.metrics["client_cpu_us_per_delivery"] =
            number_or_null(static_cast<double>(self_cpu) / static_cast<double>(latency.size()));
        // relinkd's own code against the kernel's sends (on loopback a send also runs the receiver's TCP input).
        r.metrics["relinkd_user_us_per_delivery"] =
            number_or_null(static_cast<double>(relinkd_user) / static_cast<double>(latency.size()));
        r.metrics["relinkd_system_us_per_delivery"] =
            number_or_null(static_cast<double>(relinkd_system) / static_cast<double>(latency.size()));
    }
    r.samples["latency_ms"] = thin(latency, 20000);
    if (latency.size() < expected && r.error.empty()) {
        r.notes.push_back(std::to_string(expected - latency.size()) + " deliveries missing at the end");
    }
    fleet.shutdown();
    deployment->stop();
    return r;
}

}  // namespace

std::vector<ScenarioResult> run_fanout(const Options& o, Env& env) {
    std::vector<ScenarioResult> out;
    for (const auto nodes : deployments_of(o)) {
        if (!g_stop) {
            out.push_back(fanout_once(o, env, {"fanout", "members", o.members, o.messages, o.rate, false}, nodes));
        }
    }
    return out;
}

std::vector<ScenarioResult> run_cross_node(const Options& o, Env& env) {
    std::vector<ScenarioResult> out;
    for (const auto nodes : deployments_of(o)) {
        if (!g_stop) {
            out.push_back(fanout_once(
                o, env, {"cross_node", "receivers", o.xnode_receivers, o.xnode_messages, o.xnode_rate, true}, nodes));
        }
    }
    return out;
}

// ------------------------------------------------------------------------------------------- storm

namespace {

/// relinkd's count of frames that announced membership changes (singles and batches); absent before batching.
constexpr const char* kPresenceFramesMetric = "relink_presence_frames_total";

/// The share of the drain window the returns start in, as relinkd's --help names it after the rate ("connections /
/// drain-logins-per-second / 0.8"); 1 (the whole window) for a relinkd that does not name it. The sentence is
/// searched, not a column: the name may be quoted or followed by its default in parentheses, and a help laid out by
/// CLI11 may break the line or indent anywhere between the name, the slash and the number.
double drain_share(const std::string& help) {
    constexpr std::string_view kRate = "drain-logins-per-second";
    for (auto at = help.find(kRate); at != std::string::npos; at = help.find(kRate, at + 1)) {
        auto next = at + kRate.size();
        const auto skip = [&] {
            while (next < help.size() && (std::isspace(static_cast<unsigned char>(help[next])) || help[next] == '`')) {
                ++next;
            }
        };
        skip();
        if (next < help.size() && help[next] == '(') {  // "(400)": its default
            next = help.find(')', next);
            if (next == std::string::npos) {
                break;
            }
            ++next;
            skip();
        }
        if (next >= help.size() || help[next] != '/') {
            continue;  // the name in a list of limits, not in the formula
        }
        const char* const number = help.c_str() + next + 1;
        char* end = nullptr;
        const double share = std::strtod(number, &end);  // skips the spaces and line breaks before it
        if (end != number && share > 0) {
            return std::clamp(share, 0.1, 1.0);
        }
    }
    return 1.0;
}

/// The window relinkd's drain gives n clients: 2 s, or n / drain-logins-per-second / share when longer (docs/server.md,
/// "Drain and shutdown"): 400 by default, or what `--relinkd-arg drain-logins-per-second=R` (after `--limit`) set.
double drain_window_ms(const Options& o, const Env& env, std::size_t n) {
    constexpr std::string_view kFlag = "drain-logins-per-second=";
    double rate = 400.0;
    for (const auto& arg : o.relinkd_args) {
        if (arg.rfind(kFlag, 0) == 0) {
            try {
                rate = std::stod(arg.substr(kFlag.size()));
            } catch (const std::exception&) {
                // relinkd refuses a bad value and the scenario reports that; keep the default here
            }
        }
    }
    return std::max(2000.0, static_cast<double>(n) / std::max(rate, 1.0) / drain_share(env.relinkd_help) * 1000.0);
}

ScenarioResult storm_once(const Options& o, Env& env, std::size_t n, const std::string& kind) {
    ScenarioResult r;
    r.name = "storm";
    r.params = {{"clients", n}, {"kind", kind}};
    const auto nofile = raise_nofile(n * 2 + 1024);
    r.settings = {{"channel_size", o.channel_size},
                  {"client_threads", o.threads},
                  {"relinkd_threads", o.relinkd_threads},
                  {"rlimit_nofile", nofile},
                  {"restart_delay_ms", kind == "kill" ? o.restart_delay_ms : 0},
                  {"drain_window_ms", drain_window_ms(o, env, n)},
                  {"tls_ticket_flag", env.ticket_flag.empty() ? Json(nullptr) : Json(env.ticket_flag)},
                  {"load_average_before", load_average()}};
    std::string error;
    auto server = Relinkd::launch(env, spec_under_load(0, "storm-1"), error);
    if (!server) {
        note_relinkd_error(r, error);
        return r;
    }
    const auto port = server->port();
    Fleet fleet(env, o.threads);
    for (std::size_t i = 0; i < n; ++i) {
        fleet.add("s" + std::to_string(i), port, channel_for(i, o.channel_size), true);
    }
    std::printf("storm (%s): %zu clients connecting\n", kind.c_str(), n);
    if (!fleet.login_all(0, n, o.concurrency, ramp_budget(n))) {
        r.error = "not every client connected before the storm: " + fleet.state_summary();
        fleet.shutdown();
        return r;
    }
    fleet.wait_presence_quiet(1000ms, 60s);
    sleep_unless_stopped(1000ms);

    // The fault.
    const auto member_events_before = fleet.member_events.load();
    const auto t0 = now_ns();
    for (auto& p : fleet.probes) {
        p->back_at = 0;
        p->reconnecting_at = 0;
        p->fault_at = t0;
    }
    std::unique_ptr<Relinkd> replacement;
    int old_exit = 0;
    if (kind == "kill") {
        server->kill_now();
        old_exit = -9;
        if (o.restart_delay_ms > 0) {
            sleep_unless_stopped(std::chrono::milliseconds(o.restart_delay_ms));
        }
        replacement = Relinkd::launch(env, spec_under_load(port, "storm-2"), error);
    } else {
        // relinkd drains: every client gets Close(draining) with the spread window and comes back at a random
        // point of it; the replacement binds the port as soon as the old one's acceptor has let it go.
        server->terminate();
        replacement = Relinkd::launch(env, spec_under_load(port, "storm-2"), error);
    }
    const auto up_at = replacement ? replacement->listening_at() : 0;
    if (!replacement) {
        note_relinkd_error(r, "no replacement: " + error);
    }
    // Bounded: 30 s, or 20 ms per client if longer.
    wait_for(
        [&] {
            for (const auto& p : fleet.probes) {
                if (p->back_at == 0) {
                    return false;
                }
            }
            return true;
        },
        std::max<std::chrono::milliseconds>(30s, std::chrono::milliseconds(20 * n)), 10ms);
    if (kind == "drain") {
        old_exit = server->wait_exit(8s);
    }
    std::vector<double> back_ms;
    std::size_t visible = 0;
    for (const auto& p : fleet.probes) {
        if (p->back_at != 0) {
            back_ms.push_back(ns_to_ms(p->back_at - t0));
        }
        visible += p->reconnecting_at != 0 ? 1 : 0;
    }
    std::sort(back_ms.begin(), back_ms.end());
    // 99 % of all clients (not of those that came back).
    const auto need = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(n)));
    r.metrics["recover99_ms"] =
        number_or_null(back_ms.size() >= need && need > 0 ? std::optional<double>(back_ms[need - 1]) : std::nullopt);
    r.metrics["recover50_ms"] = number_or_null(percentile(back_ms, 50));
    r.metrics["recover_max_ms"] = number_or_null(back_ms.empty() ? std::nullopt : std::optional(back_ms.back()));
    r.metrics["recovered_fraction"] = number_or_null(static_cast<double>(back_ms.size()) / static_cast<double>(n));
    r.metrics["server_up_ms"] = number_or_null(up_at != 0 ? std::optional(ns_to_ms(up_at - t0)) : std::nullopt);
    if (kind == "drain") {
        const double window = drain_window_ms(o, env, n);
        const auto in_window = static_cast<std::size_t>(
            std::count_if(back_ms.begin(), back_ms.end(), [window](double ms) { return ms <= window; }));
        r.metrics["recovered_within_window_fraction"] =
            number_or_null(static_cast<double>(in_window) / static_cast<double>(n));
    }
    r.metrics["visible_reconnecting"] = visible;

    // Attempts after the fault: counts, failures and how they spread over time (100 ms buckets).
    std::vector<std::int64_t> starts;
    for (auto& p : fleet.probes) {
        std::lock_guard lock(p->mu);
        for (const auto s : p->attempt_starts) {
            if (s >= t0) {
                starts.push_back(s);
            }
        }
    }
    std::sort(starts.begin(), starts.end());
    r.metrics["attempts"] = starts.size();
    r.metrics["failed_attempts"] = starts.size() >= back_ms.size() ? starts.size() - back_ms.size() : 0;
    Json histogram = Json::array();
    if (!starts.empty()) {
        const auto buckets = static_cast<std::size_t>((starts.back() - t0) / 100'000'000) + 1;
        std::vector<std::uint64_t> counts(buckets, 0);
        for (const auto s : starts) {
            ++counts[static_cast<std::size_t>((s - t0) / 100'000'000)];
        }
        const auto first = static_cast<std::size_t>((starts.front() - t0) / 100'000'000);
        std::uint64_t max = 0;
        for (std::size_t b = first; b < buckets; ++b) {
            max = std::max(max, counts[b]);
        }
        const double mean = static_cast<double>(starts.size()) / static_cast<double>(buckets - first);
        r.metrics["attempts_per_100ms_max"] = max;
        r.metrics["attempts_per_100ms_mean"] = number_or_null(mean);
        r.metrics["attempt_spread_max_over_mean"] = number_or_null(static_cast<double>(max) / mean);
        for (const auto c : counts) {
            histogram.push_back(c);
        }
    }
    // What the re-joins cost in presence: the joins the members were told of (app events), and the frames that
    // carried them when relinkd counts its presence frames (one per event where it does not batch them).
    fleet.wait_presence_quiet(1000ms, 20s);
    r.metrics["member_joined_events_per_rejoin"] =
        number_or_null(static_cast<double>(fleet.member_events.load() - member_events_before) / static_cast<double>(n));
    // TLS resumption, from the replacement's /metrics (its handshakes are the reconnects).
    std::optional<double> resumed_ratio;
    if (replacement) {
        const auto metrics = read_metrics(replacement->admin_port(), kAdminSecret);
        for (const auto& [name, value] : metrics) {
            if (name.find("presence") != std::string::npos) {
                r.settings["metric " + name] = value;
            }
        }
        if (const auto it = metrics.find(kPresenceFramesMetric); it != metrics.end()) {
            r.metrics["presence_frames_per_rejoin"] = number_or_null(it->second / static_cast<double>(n));
        }
        if (const auto hs = tls_handshakes(metrics); hs && hs->first + hs->second > 0) {
            resumed_ratio = hs->second / (hs->first + hs->second);
            r.settings["tls_handshakes_full"] = hs->first;
            r.settings["tls_handshakes_resumed"] = hs->second;
        }
    }
    r.metrics["tls_resumed_ratio"] = number_or_null(resumed_ratio);
    if (!resumed_ratio) {
        r.notes.push_back("TLS resumption: n/a (this relinkd exports no full/resumed handshake counts on /metrics)");
    }
    r.settings["old_relinkd_exit"] = old_exit;
    r.samples["recovered_ms"] = thin(back_ms, 5000);
    r.samples["attempts_per_100ms"] = histogram;
    if (back_ms.size() < n && r.error.empty()) {
        r.error = std::to_string(n - back_ms.size()) + " of " + std::to_string(n) + " clients not back in time";
    }
    fleet.shutdown();
    if (replacement) {
        replacement->terminate();
        replacement->wait_exit(8s);
    }
    return r;
}

}  // namespace

std::vector<ScenarioResult> run_storm(const Options& o, Env& env) {
    std::vector<ScenarioResult> out;
    for (const auto n : o.storm_clients) {
        for (const auto& kind : o.storm_kinds) {
            if (!g_stop) {
                out.push_back(storm_once(o, env, n, kind));
            }
        }
    }
    return out;
}

}  // namespace relink::bench
