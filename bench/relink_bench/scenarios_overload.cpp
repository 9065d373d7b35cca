// bench/relink_bench/scenarios_overload.cpp — the `overload` scenario of relink-bench: a fleet of clients arrives
// faster than relinkd can log them in while a CPU burner (a child process started and stopped by PID here) holds
// one core. What an overloaded server owes the sessions it already holds: every one stays CONNECTED (no
// RECONNECTING, no hidden reconnect), while new logins slow down and are refused with a retry-after; and its memory
// stays bounded. docs/performance.md describes the run and its figures.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <thread>

#include "fleet.hpp"

namespace relink::bench {

using namespace std::chrono_literals;

namespace {

/// A child process that spins on one core until it is stopped (by PID) or `bound` passes (alarm: it dies even if
/// relink-bench does, and with relink-bench through PR_SET_PDEATHSIG).
class CpuBurner {
public:
    explicit CpuBurner(std::chrono::seconds bound) {
        pid_ = fork();
        if (pid_ == 0) {
            // In the child of a threaded process only async-signal-safe calls: prctl, alarm, a loop.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            alarm(static_cast<unsigned>(bound.count()));
            volatile std::uint64_t spin = 0;
            for (;;) {
                spin = spin + 1;
            }
        }
    }
    ~CpuBurner() { stop(); }
    CpuBurner(const CpuBurner&) = delete;
    CpuBurner& operator=(const CpuBurner&) = delete;

    [[nodiscard]] bool running() const { return pid_ > 0; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    /// SIGKILL and reap; the CPU it used, in microseconds (0 when it was not running).
    std::uint64_t stop() {
        if (pid_ <= 0) {
            return 0;
        }
        const auto cpu = read_cpu_us(pid_);
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return cpu;
    }

private:
    pid_t pid_{-1};
};

/// The /metrics samples that say something about admission and shedding (their names hold one of these words).
std::map<std::string, double> shedding_metrics(const std::map<std::string, double>& all) {
    std::map<std::string, double> out;
    for (const auto& [name, value] : all) {
        for (const char* word : {"shed", "busy", "in_progress", "write_queue", "accept_pauses"}) {
            if (name.find(word) != std::string::npos) {
                out[name] = value;
                break;
            }
        }
    }
    return out;
}

}  // namespace

std::vector<ScenarioResult> run_overload(const Options& o, Env& env) {
    ScenarioResult r;
    r.name = "overload";
    const std::size_t n = o.overload_clients;
    r.params = {{"clients", n}};
    const auto nofile = raise_nofile(n * 2 + 1024);
    r.settings = {{"tls", true},
                  {"channel_size", o.channel_size},
                  {"arrivals_per_s", o.overload_rate},
                  {"burner", "one child process spinning on a CPU for the whole run"},
                  {"hold_s", o.overload_hold_s},
                  {"relinkd_threads", o.relinkd_threads},
                  {"client_threads", o.threads},
                  {"rlimit_nofile", nofile},
                  {"load_average_before", load_average()}};
    std::string error;
    auto server = Relinkd::launch(env, spec_under_load(0, "overload"), error);
    if (!server) {
        r.error = "relinkd: " + error;
        return {r};
    }
    const auto ramp =
        std::chrono::milliseconds(static_cast<std::int64_t>(1000.0 * static_cast<double>(n) / o.overload_rate));
    const auto budget = ramp + std::chrono::milliseconds(240s);
    CpuBurner burner(std::chrono::duration_cast<std::chrono::seconds>(budget) +
                     std::chrono::seconds(o.overload_hold_s) + 60s);
    if (!burner.running()) {
        r.error = "the CPU burner could not be started";
        return {r};
    }
    sleep_unless_stopped(500ms);
    Fleet fleet(env, o.threads);
    // A session that was CONNECTED and then is not (RECONNECTING, or a reconnect the app does not see, which
    // reports a ContinuityReport): what an overloaded server must never do to the sessions it holds.
    std::atomic<std::uint64_t> lost{0};
    std::atomic<std::uint64_t> lost_visibly{0};
    const std::unique_ptr<std::atomic<bool>[]> counted_lost(new std::atomic<bool>[n] {});
    for (std::size_t i = 0; i < n; ++i) {
        const std::string channel = o.channel_size == 0 ? std::string() : "room-" + std::to_string(i / o.channel_size);
        auto& p = fleet.add("o" + std::to_string(i), server->port(), channel);
        std::atomic<bool>* counted = &counted_lost[i];
        p.on_state = [counted, &lost, &lost_visibly](const ConnectionStateChanged& e) {
            if (e.previous == ConnectionState::connected && e.state != ConnectionState::connected &&
                !counted->exchange(true)) {
                lost.fetch_add(1);
                lost_visibly.fetch_add(1);
            }
        };
    }
    std::printf("overload: %zu clients arriving at %.0f/s, one core burned (pid %d)\n", n, o.overload_rate,
                static_cast<int>(burner.pid()));

    // The sampler: relinkd's RSS and the connected count every 100 ms.
    std::atomic<bool> sampling{true};
    std::uint64_t rss_max = 0;
    std::vector<double> connected_series;
    std::vector<double> rss_series_mib;
    const auto started = now_ns();
    std::thread sampler([&] {
        while (sampling.load() && !g_stop) {
            const auto mem = read_memory(server->pid());
            rss_max = std::max(rss_max, mem.vm_rss);
            rss_series_mib.push_back(static_cast<double>(mem.vm_rss) / 1048576.0);
            connected_series.push_back(static_cast<double>(fleet.count_connected()));
            std::this_thread::sleep_for(100ms);
        }
    });

    // The arrivals: evenly over the ramp, whatever relinkd answers (each client retries on its own).
    const auto ramp_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(ramp).count();
    for (std::size_t i = 0; i < n && !g_stop; ++i) {
        const auto due = started + static_cast<std::int64_t>(static_cast<double>(ramp_ns) * static_cast<double>(i) /
                                                             static_cast<double>(n));
        while (now_ns() < due && !g_stop) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        fleet.start(*fleet.probes[i]);
    }
    const auto all_in = wait_for(
        [&] {
            for (const auto& p : fleet.probes) {
                if (p->state.load() != ConnectionState::connected || (!p->channel.empty() && p->joined_at == 0)) {
                    return false;
                }
            }
            return true;
        },
        budget - ramp, 50ms);
    const auto all_in_at = now_ns();
    // Hold: the sessions stay up, still with the burner, for the heartbeats to prove it.
    sleep_unless_stopped(std::chrono::seconds(o.overload_hold_s));
    sampling = false;
    sampler.join();
    const auto metrics = read_metrics(server->admin_port(), kAdminSecret);
    const auto burner_cpu_us = burner.stop();

    std::uint64_t hidden = 0;
    for (std::size_t i = 0; i < n; ++i) {
        // A ContinuityReport comes after every reconnect, shown to the app or not (never after a first login).
        if (fleet.probes[i]->continuities.load() > 0 && !counted_lost[i].exchange(true)) {
            ++hidden;
        }
    }
    lost += hidden;
    std::vector<double> connect_ms;
    for (const auto& p : fleet.probes) {
        const auto a = p->login_at.load();
        const auto b = p->first_connected_at.load();
        if (a != 0 && b != 0 && b >= a) {
            connect_ms.push_back(ns_to_ms(b - a));
        }
    }
    const auto connected = fleet.count_connected();
    r.metrics["connected_fraction"] = number_or_null(static_cast<double>(connected) / static_cast<double>(n));
    r.metrics["all_connected_s"] = all_in ? number_or_null(static_cast<double>(all_in_at - started) / 1e9) : nullptr;
    add_percentiles(r.metrics, "connect_ms", connect_ms, {"p50", "p99", "max"});
    r.metrics["established_lost"] = lost.load();
    r.metrics["established_lost_visibly"] = lost_visibly.load();
    r.metrics["relinkd_rss_max_mib"] = number_or_null(static_cast<double>(rss_max) / 1048576.0);
    double logins_shed = 0;
    double slow_readers_shed = 0;
    const auto shedding = shedding_metrics(metrics);
    for (const auto& [name, value] : shedding) {
        if (name.find("login") != std::string::npos && name.find("shed") != std::string::npos) {
            logins_shed += value;
        } else if (name.find("slow") != std::string::npos && name.find("shed") != std::string::npos) {
            slow_readers_shed += value;
        }
        r.settings["metric " + name] = value;
    }
    r.metrics["logins_shed"] = shedding.empty() ? Json(nullptr) : Json(logins_shed);
    r.metrics["slow_readers_shed"] = shedding.empty() ? Json(nullptr) : Json(slow_readers_shed);
    if (const auto it = metrics.find("relink_login_failures_total"); it != metrics.end()) {
        r.metrics["login_failures"] = it->second;
    }
    r.settings["burner_cpu_s"] = static_cast<double>(burner_cpu_us) / 1e6;
    r.samples["connected"] = thin(connected_series, 5000);
    r.samples["relinkd_rss_mib"] = thin(rss_series_mib, 5000);
    r.samples["connect_ms"] = thin(connect_ms, 5000);
    if (!all_in) {
        r.notes.push_back("not every client was in within the budget: " + fleet.state_summary());
    }
    std::printf("overload: %zu of %zu connected, %llu established sessions lost, relinkd max %.0f MiB\n", connected, n,
                static_cast<unsigned long long>(lost.load()), static_cast<double>(rss_max) / 1048576.0);
    fleet.shutdown();
    server->terminate();
    server->wait_exit(8s);
    return {r};
}

}  // namespace relink::bench
