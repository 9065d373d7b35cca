// bench/relink_bench/scenarios_faults.cpp — the fault scenarios of relink-bench, each with a few clients and
// FaultProxy instances (relink_faultproxy) in front of them: `detect` (silent link → RECONNECTING), `quality` (the
// RTT the client reports behind an added delay; a dead link found by the suspicion probe after a hint), `outage`
// (blackhole for D s, then the NAT forgets the flow), `restart` (relinkd SIGKILLed and restarted in place),
// `dup_login` (two clients of one user, an app that logs back in when kicked) and `backlog` (peer messages to a
// receiver that is away, below and above relinkd's peer-queue cap). docs/performance.md describes each.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "client/client_internals.hpp"
#include "faultproxy/fault_proxy.hpp"
#include "fleet.hpp"

namespace relink::bench {

using namespace std::chrono_literals;
using faultproxy::FaultProxy;
using faultproxy::Mode;

namespace {

std::unique_ptr<FaultProxy> proxy_to(std::uint16_t port) {
    faultproxy::Options po;
    po.upstream_port = port;
    return std::make_unique<FaultProxy>(po);
}

void fail_relinkd(ScenarioResult& r, const std::string& error) {
    r.error = "relinkd: " + error;
    std::fprintf(stderr, "relink-bench: %s: %s\n", r.name.c_str(), r.error.c_str());
}

}  // namespace

// ------------------------------------------------------------------------------------------- detect

std::vector<ScenarioResult> run_detect(const Options& o, Env& env) {
    ScenarioResult r;
    r.name = "detect";
    r.params = {{"runs", o.detect_runs}};
    r.settings = {{"profile", "rtm"},
                  {"fault", "proxy blackhole (no FIN, no RST); healed after detection"},
                  {"last_data",
                   "detect_ms: the client's own, from the reconnect's ContinuityReport (its back time minus its "
                   "outage, which counts from the last data received); detect_proxy_ms: the proxy's last byte to "
                   "the client, sampled every 1 ms (lags when the machine is loaded)"},
                  {"parallel", true},
                  {"load_average_before", load_average()}};
    std::string error;
    auto server = Relinkd::launch(env, {}, error);
    if (!server) {
        fail_relinkd(r, error);
        return {r};
    }
    const auto n = o.detect_runs;
    std::vector<std::unique_ptr<FaultProxy>> proxies;
    for (std::size_t i = 0; i < n; ++i) {
        proxies.push_back(proxy_to(server->port()));
    }
    Fleet fleet(env, o.threads);
    for (std::size_t i = 0; i < n; ++i) {
        fleet.add("d" + std::to_string(i), proxies[i]->port());
    }
    if (!fleet.login_all(0, n, n, 20s)) {
        r.error = "clients did not connect";
        return {r};
    }
    sleep_unless_stopped(1500ms);
    // The sampler: when did each proxy last deliver a byte to its client?
    std::vector<std::atomic<std::int64_t>> last_data(n);
    std::vector<std::uint64_t> last_bytes(n, 0);
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
        while (sampling) {
            const auto now = now_ns();
            for (std::size_t i = 0; i < n; ++i) {
                const auto b = proxies[i]->stats().bytes_to_client;
                if (b != last_bytes[i]) {
                    last_bytes[i] = b;
                    last_data[i] = now;
                }
            }
            std::this_thread::sleep_for(1ms);
        }
    });
    // Each link dies at its own random moment of one second, so the heartbeat phases differ.
    std::mt19937_64 rng(static_cast<std::uint64_t>(now_ns()));
    std::vector<std::pair<int, std::size_t>> order;
    for (std::size_t i = 0; i < n; ++i) {
        order.emplace_back(std::uniform_int_distribution<int>(0, 999)(rng), i);
    }
    std::sort(order.begin(), order.end());
    std::vector<std::int64_t> died(n, 0);
    std::vector<std::int64_t> last(n, 0);
    const auto base = Clock::now();
    for (const auto& [offset, i] : order) {
        std::this_thread::sleep_until(base + std::chrono::milliseconds(offset));
        fleet.probes[i]->fault_at = now_ns();
        proxies[i]->set_mode(Mode::blackhole);
        died[i] = now_ns();
        std::this_thread::sleep_for(2ms);  // let the sampler see a byte that raced the switch
        last[i] = last_data[i].load();
    }
    fleet.wait_all_stamped(&Probe::reconnecting_at, 15s);
    sampling = false;
    sampler.join();
    // Heal, so that each client reconnects and its ContinuityReport says how long ago it last received data.
    for (std::size_t i = 0; i < n; ++i) {
        proxies[i]->set_mode(Mode::pass);
        proxies[i]->reset_all();
        fleet.probes[i]->client->notify_network_changed();
    }
    fleet.wait_all_stamped(&Probe::back_at, 15s);
    std::vector<double> detect_ms;
    std::vector<double> proxy_ms;
    std::vector<double> after_fault_ms;
    std::set<std::string> reasons;
    for (std::size_t i = 0; i < n; ++i) {
        const auto& p = *fleet.probes[i];
        if (p.reconnecting_at == 0) {
            continue;
        }
        if (p.back_at != 0) {
            detect_ms.push_back(ns_to_ms(p.reconnecting_at - (p.back_at - p.back_outage_ns)));
        }
        if (last[i] != 0) {
            proxy_ms.push_back(ns_to_ms(p.reconnecting_at - last[i]));
        }
        after_fault_ms.push_back(ns_to_ms(p.reconnecting_at - died[i]));
        reasons.insert(std::string(to_string(static_cast<ConnectionReason>(p.reconnecting_reason.load()))));
    }
    add_percentiles(r.metrics, "detect_ms", detect_ms, {"p50", "max"});
    add_percentiles(r.metrics, "detect_proxy_ms", proxy_ms, {"p50", "max"});
    add_percentiles(r.metrics, "detect_after_fault_ms", after_fault_ms, {"p50", "max"});
    r.metrics["detected"] = detect_ms.size();
    r.settings["reasons"] = reasons;
    r.samples["detect_ms"] = thin(detect_ms, 0);
    r.samples["detect_proxy_ms"] = thin(proxy_ms, 0);
    if (detect_ms.size() < n) {
        r.error = std::to_string(n - detect_ms.size()) + " of " + std::to_string(n) + " silent links not detected";
    }
    fleet.shutdown();
    proxies.clear();
    server->terminate();
    server->wait_exit(8s);
    return {r};
}

// ------------------------------------------------------------------------------------------- quality

namespace {

/// What the client's suspicion probe waits for an answer (docs/reliability.md, "Link quality and the suspicion
/// probe"): 2·SRTT + 4·RTTVAR, at least 300 ms, 1 s before the first sample, at most half the silence threshold.
double probe_timeout_ms(const LinkQuality& q, double silence_ms) {
    const auto ms = [](Duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    const double wanted = q.rtt_samples == 0 ? 1000.0 : std::max(2 * ms(q.rtt) + 4 * ms(q.rtt_var), 300.0);
    return std::min(wanted, silence_ms / 2);
}

}  // namespace

std::vector<ScenarioResult> run_quality(const Options& o, Env& env) {
    using Ms = std::chrono::duration<double, std::milli>;
    constexpr double kSilenceMs = 4000;  // rtm: no data for 4 s → RECONNECTING
    std::vector<ScenarioResult> out;
    std::string error;
    auto server = Relinkd::launch(env, {}, error);
    // Variant 0 has no added delay: its RTT is the loopback's and relinkd's own, subtracted from the others'.
    std::vector<unsigned> delays{0};
    delays.insert(delays.end(), o.quality_delays_ms.begin(), o.quality_delays_ms.end());
    const auto per = o.quality_runs * 2;  // per delay: half get the hint after their link dies, half do not
    const auto n = delays.size() * per;
    auto settings = Json{{"profile", "rtm"},
                         {"fault", "proxy blackhole (no FIN, no RST) at a random moment of one second"},
                         {"hint", "notify_network_changed() right after the blackhole, on half the clients"},
                         {"warm_up_s", o.quality_warm_up_s},
                         {"load_average_before", load_average()}};
    if (!server) {
        ScenarioResult r;
        r.name = "quality";
        r.settings = settings;
        fail_relinkd(r, error);
        return {r};
    }
    std::vector<std::unique_ptr<FaultProxy>> proxies;
    Fleet fleet(env, o.threads);
    for (std::size_t i = 0; i < n; ++i) {
        proxies.push_back(proxy_to(server->port()));
        proxies.back()->set_delay(std::chrono::milliseconds(delays[i / per]));
        fleet.add("q" + std::to_string(i), proxies.back()->port());
    }
    std::printf("quality: %zu clients, one-way delays", n);
    for (const auto d : delays) {
        std::printf(" %u", d);
    }
    std::printf(" ms, %.0f s of heartbeats\n", static_cast<double>(o.quality_warm_up_s));
    const bool connected = fleet.login_all(0, n, n, 30s);
    // RTT samples come from the heartbeats (one a second while nothing else is sent).
    sleep_unless_stopped(std::chrono::seconds(o.quality_warm_up_s));
    std::vector<LinkQuality> quality(n);
    for (std::size_t i = 0; i < n; ++i) {
        quality[i] = fleet.probes[i]->client->link_quality();
    }
    // Each link dies at its own random moment of one second, so the heartbeat phases differ.
    std::mt19937_64 rng(static_cast<std::uint64_t>(now_ns()));
    std::vector<std::pair<int, std::size_t>> order;
    for (std::size_t i = 0; i < n; ++i) {
        order.emplace_back(std::uniform_int_distribution<int>(0, 999)(rng), i);
    }
    std::sort(order.begin(), order.end());
    std::vector<std::int64_t> died(n, 0);
    std::vector<double> bound_ms(n, 0);
    const auto base = Clock::now();
    for (const auto& [offset, i] : order) {
        if (!connected) {
            break;
        }
        std::this_thread::sleep_until(base + std::chrono::milliseconds(offset));
        const auto& q = fleet.probes[i]->client->link_quality();
        bound_ms[i] = Ms(q.rtt).count() + probe_timeout_ms(q, kSilenceMs);
        fleet.probes[i]->fault_at = now_ns();
        proxies[i]->set_mode(Mode::blackhole);
        died[i] = now_ns();
        if (i % 2 == 0) {
            fleet.probes[i]->client->notify_network_changed();
        }
    }
    if (connected) {
        fleet.wait_all_stamped(&Probe::reconnecting_at, 15s);
    }
    std::vector<double> base_rtt;
    for (std::size_t i = 0; i < per; ++i) {
        if (quality[i].rtt_samples > 0) {
            base_rtt.push_back(Ms(quality[i].rtt).count());
        }
    }
    const auto base_p50 = percentile(base_rtt, 50);
    for (std::size_t v = 0; v < delays.size(); ++v) {
        ScenarioResult r;
        r.name = "quality";
        r.params = {{"one_way_delay_ms", delays[v]}, {"runs", o.quality_runs}};
        r.settings = settings;
        r.settings["rtt_added_by_the_proxy_ms"] = 2 * delays[v];
        std::vector<double> rtt;
        std::vector<double> rtt_var;
        std::vector<double> added;
        std::vector<double> error_fraction;
        std::vector<double> hint_ms;
        std::vector<double> silence_ms;
        std::vector<double> bounds;
        std::size_t within_bound = 0;
        std::set<std::string> reasons;
        for (std::size_t i = v * per; i < (v + 1) * per; ++i) {
            const auto& q = quality[i];
            if (q.rtt_samples > 0) {
                rtt.push_back(Ms(q.rtt).count());
                rtt_var.push_back(Ms(q.rtt_var).count());
                if (base_p50 && delays[v] > 0) {
                    added.push_back(Ms(q.rtt).count() - *base_p50);
                    error_fraction.push_back(std::abs(added.back() - 2.0 * delays[v]) / (2.0 * delays[v]));
                }
            }
            const auto& p = *fleet.probes[i];
            if (p.reconnecting_at == 0 || died[i] == 0) {
                continue;
            }
            const double detect = ns_to_ms(p.reconnecting_at - died[i]);
            reasons.insert(std::string(to_string(static_cast<ConnectionReason>(p.reconnecting_reason.load()))));
            if (i % 2 == 0) {
                hint_ms.push_back(detect);
                bounds.push_back(bound_ms[i]);
                within_bound += detect <= bound_ms[i] ? 1 : 0;
            } else {
                silence_ms.push_back(detect);
            }
        }
        add_percentiles(r.metrics, "rtt_ms", rtt, {"p50", "max"});
        add_percentiles(r.metrics, "rtt_var_ms", rtt_var, {"p50"});
        if (delays[v] > 0) {
            add_percentiles(r.metrics, "rtt_added_ms", added, {"p50"});
            add_percentiles(r.metrics, "rtt_error_fraction", error_fraction, {"p50", "max"});
        }
        add_percentiles(r.metrics, "hint_detect_ms", hint_ms, {"p50", "max"});
        add_percentiles(r.metrics, "hint_bound_ms", bounds, {"p50", "max"});
        r.metrics["hint_within_bound"] = within_bound;
        add_percentiles(r.metrics, "silence_detect_ms", silence_ms, {"p50", "max"});
        r.settings["reasons"] = reasons;
        r.samples["hint_detect_ms"] = thin(hint_ms, 0);
        r.samples["silence_detect_ms"] = thin(silence_ms, 0);
        if (!connected) {
            r.error = "clients did not connect";
        } else if (hint_ms.size() + silence_ms.size() < per) {
            r.error = std::to_string(per - hint_ms.size() - silence_ms.size()) + " of " + std::to_string(per) +
                      " dead links not detected";
        }
        out.push_back(r);
    }
    fleet.shutdown();
    proxies.clear();
    server->terminate();
    server->wait_exit(8s);
    return out;
}

// ------------------------------------------------------------------------------------------- outage

std::vector<ScenarioResult> run_outage(const Options& o, Env& env) {
    std::vector<ScenarioResult> out;
    std::string error;
    auto server = Relinkd::launch(env, {}, error);
    for (const auto d : o.outages) {
        if (g_stop) {
            break;
        }
        ScenarioResult r;
        r.name = "outage";
        r.params = {{"outage_s", d}, {"runs", o.outage_runs}};
        r.settings = {{"profile", "rtm"},
                      {"fault", d > 0 ? "proxy blackhole for outage_s, then pass + reset_all()" : "reset_all() only"},
                      {"heal", "proxy back to pass and every flow reset (the NAT forgot it)"},
                      {"runs_per_variant", o.outage_runs},
                      {"load_average_before", load_average()}};
        if (!server) {
            fail_relinkd(r, error);
            out.push_back(r);
            break;
        }
        // Even probes: the app calls notify_network_changed() at the heal; odd: it does not.
        const auto n = o.outage_runs * 2;
        std::vector<std::unique_ptr<FaultProxy>> proxies;
        for (std::size_t i = 0; i < n; ++i) {
            proxies.push_back(proxy_to(server->port()));
        }
        Fleet fleet(env, o.threads);
        for (std::size_t i = 0; i < n; ++i) {
            fleet.add("o" + std::to_string(i), proxies[i]->port());
        }
        std::printf("outage: %.0f s, %zu clients with notify_network_changed() and %zu without\n", d, n / 2, n / 2);
        if (!fleet.login_all(0, n, n, 20s)) {
            r.error = "clients did not connect";
            out.push_back(r);
            continue;
        }
        sleep_unless_stopped(1500ms);
        const auto t0 = now_ns();
        for (std::size_t i = 0; i < n; ++i) {
            fleet.probes[i]->fault_at = t0;
            if (d > 0) {
                proxies[i]->set_mode(Mode::blackhole);
            }
        }
        sleep_unless_stopped(std::chrono::milliseconds(static_cast<std::int64_t>(d * 1000)));
        std::vector<std::int64_t> healed(n, 0);
        for (std::size_t i = 0; i < n; ++i) {
            proxies[i]->set_mode(Mode::pass);
            proxies[i]->reset_all();
            healed[i] = now_ns();
            if (i % 2 == 0) {
                fleet.probes[i]->client->notify_network_changed();
            }
        }
        fleet.wait_all_stamped(&Probe::back_at, 30s);
        std::vector<double> notify_ms;
        std::vector<double> plain_ms;
        std::size_t early = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const auto back = fleet.probes[i]->back_at.load();
            if (back == 0) {
                continue;
            }
            if (back < healed[i]) {
                ++early;  // back before the heal (cannot happen through a blackhole): counted as 0
            }
            (i % 2 == 0 ? notify_ms : plain_ms).push_back(std::max(0.0, ns_to_ms(back - healed[i])));
        }
        add_percentiles(r.metrics, "extra_downtime_ms", plain_ms, {"p50", "max"});
        add_percentiles(r.metrics, "extra_downtime_notify_ms", notify_ms, {"p50", "max"});
        r.samples["extra_downtime_ms"] = thin(plain_ms, 0);
        r.samples["extra_downtime_notify_ms"] = thin(notify_ms, 0);
        if (early > 0) {
            r.notes.push_back(std::to_string(early) + " clients were back before the heal");
        }
        if (notify_ms.size() + plain_ms.size() < n) {
            r.error = std::to_string(n - notify_ms.size() - plain_ms.size()) + " clients not back within 30 s";
        }
        fleet.shutdown();
        proxies.clear();
        out.push_back(r);
    }
    if (server) {
        server->terminate();
        server->wait_exit(8s);
    }
    return out;
}

// ------------------------------------------------------------------------------------------- handover

std::vector<ScenarioResult> run_handover(const Options& o, Env& env) {
    ScenarioResult r;
    r.name = "handover";
    r.params = {{"runs", o.handover_runs}};
    r.settings = {{"profile", "rtm"},
                  {"paths", "two proxies per client: the old network and the new one (new connections take it)"},
                  {"make_before_break", "notify_network_changed() on a working old link: the handover"},
                  {"break_before_make", "the old link reset (reset_all()) and notify_network_changed(): a reconnect"},
                  {"measured", "the hint to the ContinuityReport: the new link logged in and carrying the session"},
                  {"runs_per_variant", o.handover_runs},
                  {"load_average_before", load_average()}};
    std::string error;
    auto server = Relinkd::launch(env, {}, error);
    if (!server) {
        fail_relinkd(r, error);
        return {r};
    }
    // Even probes: make-before-break (the handover); odd: break-before-make (today's reconnect after a reset).
    const auto n = o.handover_runs * 2;
    std::vector<std::unique_ptr<FaultProxy>> old_paths;
    std::vector<std::unique_ptr<FaultProxy>> new_paths;
    for (std::size_t i = 0; i < n; ++i) {
        old_paths.push_back(proxy_to(server->port()));
        new_paths.push_back(proxy_to(server->port()));
    }
    Fleet fleet(env, o.threads);
    for (std::size_t i = 0; i < n; ++i) {
        fleet.add("h" + std::to_string(i), old_paths[i]->port());
    }
    std::printf("handover: %zu clients make-before-break and %zu break-before-make\n", n / 2, n / 2);
    if (!fleet.login_all(0, n, n, 20s)) {
        r.error = "clients did not connect";
        fleet.shutdown();
        server->terminate();
        server->wait_exit(8s);
        return {r};
    }
    sleep_unless_stopped(1500ms);  // round trips measured: the probe's timeout is the steady one
    std::vector<std::int64_t> hinted(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        Probe& p = *fleet.probes[i];
        detail::ClientInternals::route_new_connections(*p.client,
                                                       "wss://127.0.0.1:" + std::to_string(new_paths[i]->port()) + "/");
        hinted[i] = now_ns();
        p.fault_at = hinted[i];
        if (i % 2 == 1) {
            old_paths[i]->reset_all();
        }
        p.client->notify_network_changed();
    }
    fleet.wait_all_stamped(&Probe::back_at, 30s);
    std::vector<double> handover_ms;
    std::vector<double> break_ms;
    std::size_t visible = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const Probe& p = *fleet.probes[i];
        if (i % 2 == 0 && p.reconnecting_at.load() != 0) {
            ++visible;  // a handover must not be seen
        }
        if (const auto back = p.back_at.load(); back != 0) {
            (i % 2 == 0 ? handover_ms : break_ms).push_back(std::max(0.0, ns_to_ms(back - hinted[i])));
        }
    }
    add_percentiles(r.metrics, "handover_ms", handover_ms, {"p50", "max"});
    add_percentiles(r.metrics, "break_before_make_ms", break_ms, {"p50", "max"});
    r.samples["handover_ms"] = thin(handover_ms, 0);
    r.samples["break_before_make_ms"] = thin(break_ms, 0);
    if (visible > 0) {
        r.error = std::to_string(visible) + " handovers showed RECONNECTING";
    } else if (handover_ms.size() + break_ms.size() < n) {
        r.error = std::to_string(n - handover_ms.size() - break_ms.size()) + " clients not on the new path in 30 s";
    }
    fleet.shutdown();
    old_paths.clear();
    new_paths.clear();
    server->terminate();
    server->wait_exit(8s);
    return {r};
}

// ------------------------------------------------------------------------------------------- restart

std::vector<ScenarioResult> run_restart(const Options& o, Env& env) {
    ScenarioResult r;
    r.name = "restart";
    r.params = {{"runs", o.restart_runs}};
    r.settings = {{"profile", "rtm"},
                  {"fault", "relinkd SIGKILLed, restarted on the same port"},
                  {"restart_delay_ms", o.restart_delay_ms},
                  {"listening_again", "relinkd's listening line (printed once its acceptor listens)"},
                  {"client", "a fresh client per run (its backoff starts at the first step)"},
                  {"load_average_before", load_average()}};
    std::string error;
    auto server = Relinkd::launch(env, spec_of(0, "restart"), error);
    if (!server) {
        fail_relinkd(r, error);
        return {r};
    }
    const auto port = server->port();
    Fleet fleet(env, o.threads);
    std::vector<double> reconnect_ms;
    std::vector<double> from_kill_ms;
    std::vector<double> server_start_ms;
    for (std::size_t run = 0; run < o.restart_runs && !g_stop; ++run) {
        if (run > 0) {
            fleet.probes.back()->client.reset();
        }
        auto& p = fleet.add("r" + std::to_string(run), port);
        fleet.start(p);
        if (!wait_for([&] { return p.state.load() == ConnectionState::connected; }, 15s)) {
            r.error = "run " + std::to_string(run) + ": the client did not connect";
            break;
        }
        sleep_unless_stopped(1000ms);
        p.fault_at = now_ns();
        const auto killed_at = now_ns();
        server->kill_now();
        if (o.restart_delay_ms > 0) {
            sleep_unless_stopped(std::chrono::milliseconds(o.restart_delay_ms));
        }
        server = Relinkd::launch(env, spec_of(port, "restart"), error);
        if (!server) {
            fail_relinkd(r, "restart " + std::to_string(run) + ": " + error);
            break;
        }
        if (!wait_for([&] { return p.back_at.load() != 0; }, 20s, 1ms)) {
            r.error = "run " + std::to_string(run) + ": the client was not back within 20 s";
            break;
        }
        reconnect_ms.push_back(ns_to_ms(p.back_at - server->listening_at()));
        from_kill_ms.push_back(ns_to_ms(p.back_at - killed_at));
        server_start_ms.push_back(ns_to_ms(server->listening_at() - killed_at));
    }
    add_percentiles(r.metrics, "reconnect_ms", reconnect_ms, {"p50", "p90", "max"});
    add_percentiles(r.metrics, "reconnect_from_kill_ms", from_kill_ms, {"p50", "max"});
    add_percentiles(r.metrics, "server_start_ms", server_start_ms, {"p50", "max"});
    r.samples["reconnect_ms"] = thin(reconnect_ms, 0);
    r.samples["reconnect_from_kill_ms"] = thin(from_kill_ms, 0);
    fleet.shutdown();
    if (server) {
        server->terminate();
        server->wait_exit(8s);
    }
    return {r};
}

// ------------------------------------------------------------------------------------------- dup_login

std::vector<ScenarioResult> run_dup_login(const Options& o, Env& env) {
    ScenarioResult r;
    r.name = "dup_login";
    r.params = {{"seconds", o.dup_seconds}};
    r.settings = {{"profile", "rtm"},
                  {"app", "on ABORTED: logout(), login(), join() again after relogin_delay_ms"},
                  {"relogin_delay_ms", o.relogin_delay_ms},
                  {"load_average_before", load_average()}};
    std::string error;
    auto server = Relinkd::launch(env, {}, error);
    if (!server) {
        fail_relinkd(r, error);
        return {r};
    }
    Fleet fleet(env, o.threads);
    struct Counters {
        std::atomic<std::uint64_t> kicks{0};
        std::atomic<std::uint64_t> with_reason{0};
        std::atomic<std::uint64_t> displacements{0};
        std::atomic<std::uint64_t> refused{0};
    } counters;
    std::vector<std::atomic<std::int64_t>> relogin_due(2);
    for (int k = 0; k < 2; ++k) {
        auto& p = fleet.add("dup-user", server->port(), "dup-room");
        auto* due = &relogin_due[static_cast<std::size_t>(k)];
        const auto delay = static_cast<std::int64_t>(o.relogin_delay_ms) * 1'000'000;
        p.on_state = [&counters, due, delay](const ConnectionStateChanged& e) {
            if (e.state != ConnectionState::aborted) {
                return;
            }
            counters.kicks.fetch_add(1);
            if (e.reason == ConnectionReason::remote_login) {
                counters.with_reason.fetch_add(1);  // the app is told why, in the event itself
            }
            if (e.previous == ConnectionState::connected || e.previous == ConnectionState::reconnecting) {
                counters.displacements.fetch_add(1);  // it had the session and lost it
            } else {
                counters.refused.fetch_add(1);  // its login was refused (kick-loop suppression)
            }
            due->store(now_ns() + delay);
        };
    }
    fleet.start(*fleet.probes[0]);
    wait_for([&] { return fleet.probes[0]->state.load() == ConnectionState::connected; }, 15s);
    sleep_unless_stopped(500ms);
    const auto t0 = Clock::now();
    fleet.start(*fleet.probes[1]);
    std::uint64_t relogins = 0;
    while (!g_stop && Clock::now() - t0 < std::chrono::milliseconds(static_cast<std::int64_t>(o.dup_seconds * 1000))) {
        for (std::size_t k = 0; k < 2; ++k) {
            const auto due = relogin_due[k].load();
            if (due != 0 && now_ns() >= due) {
                relogin_due[k] = 0;
                auto& c = *fleet.probes[k]->client;
                c.logout();
                c.login();
                c.join("dup-room");
                ++relogins;
            }
        }
        std::this_thread::sleep_for(5ms);
    }
    const auto metrics = read_metrics(server->admin_port(), kAdminSecret);
    r.metrics["kicks"] = counters.kicks.load();
    r.metrics["kicks_with_reason"] = counters.with_reason.load();
    r.metrics["flaps"] = counters.displacements.load() > 0 ? counters.displacements.load() - 1 : 0;
    r.metrics["displacements"] = counters.displacements.load();
    r.metrics["refused_relogins"] = counters.refused.load();
    r.metrics["relogins"] = relogins;
    if (const auto it = metrics.find("relink_kicks_total"); it != metrics.end()) {
        r.settings["relinkd_kicks_total"] = it->second;
    }
    r.settings["connected_at_end"] = fleet.count_connected();
    fleet.shutdown();
    server->terminate();
    server->wait_exit(8s);
    return {r};
}

// ------------------------------------------------------------------------------------------- backlog

std::vector<ScenarioResult> run_backlog(const Options& o, Env& env) {
    std::vector<ScenarioResult> out;
    auto counts = o.backlog_messages;
    if (counts.empty()) {
        counts = {std::max<std::size_t>(1, o.backlog_cap / 2), o.backlog_cap * 2};
    }
    for (const auto n : counts) {
        if (g_stop) {
            break;
        }
        ScenarioResult r;
        r.name = "backlog";
        r.params = {{"messages", n}, {"cap", o.backlog_cap}};
        r.settings = {{"profile", "rtm"},
                      {"away",
                       "receiver behind a blackhole for 7 s (relinkd closes its link after 6 s), the sends "
                       "in the first second; then pass + reset_all() + notify_network_changed()"},
                      {"load_average_before", load_average()}};
        std::string error;
        auto server = Relinkd::launch(
            env, spec_of(0, "backlog", {"--limit", "peer-queue=" + std::to_string(o.backlog_cap)}), error);
        if (!server) {
            fail_relinkd(r, error);
            out.push_back(r);
            continue;
        }
        auto proxy = proxy_to(server->port());
        Fleet fleet(env, o.threads);
        auto& receiver = fleet.add("receiver", proxy->port());
        auto& sender = fleet.add("sender", server->port());
        std::mutex mu;
        std::set<std::string> got;
        std::uint64_t duplicates = 0;
        std::atomic<std::uint64_t> deliveries{0};
        receiver.on_message = [&](const MessageReceived& m) {
            std::lock_guard lock(mu);
            if (!got.insert(m.payload).second) {
                ++duplicates;
            }
            deliveries.fetch_add(1);
        };
        if (!fleet.login_all(0, 2, 2, 20s)) {
            r.error = "clients did not connect";
            out.push_back(r);
            continue;
        }
        sleep_unless_stopped(1500ms);
        receiver.fault_at = now_ns();
        proxy->set_mode(Mode::blackhole);
        const auto away_since = Clock::now();
        sleep_unless_stopped(200ms);
        std::atomic<std::uint64_t> accepted{0};
        std::atomic<std::uint64_t> errors{0};
        std::uint64_t refused = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const auto rc =
                sender.client->send_peer_message("receiver", "bk " + std::to_string(i),
                                                 [&](std::error_code ec) { (ec ? errors : accepted).fetch_add(1); });
            refused += rc ? 1 : 0;
        }
        wait_for([&] { return accepted + errors + refused >= n; }, 30s);
        // Away long enough for relinkd to give up on the dead link (keep-alive timeout 6 s): the messages are
        // then held for a receiver that is gone, not merely unacknowledged on a socket.
        std::this_thread::sleep_until(away_since + 7s);
        proxy->set_mode(Mode::pass);
        proxy->reset_all();
        receiver.client->notify_network_changed();
        wait_for([&] { return receiver.back_at.load() != 0; }, 20s);
        // Then until nothing new has arrived for 2 s (bounded).
        auto last = deliveries.load();
        auto since = Clock::now();
        wait_for(
            [&] {
                if (deliveries.load() != last) {
                    last = deliveries.load();
                    since = Clock::now();
                }
                return Clock::now() - since > 2s;
            },
            20s, 20ms);
        std::uint64_t delivered = 0;
        {
            std::lock_guard lock(mu);
            delivered = got.size();
        }
        const auto dropped = receiver.dropped.load();
        r.metrics["accepted"] = accepted.load();
        r.metrics["delivered"] = delivered;
        r.metrics["reported_dropped"] = dropped;
        const auto lost = static_cast<std::int64_t>(accepted.load()) - static_cast<std::int64_t>(delivered) -
                          static_cast<std::int64_t>(dropped);
        r.metrics["silently_lost"] = lost;
        r.metrics["send_errors"] = errors.load() + refused;
        r.metrics["duplicates"] = duplicates;
        if (receiver.back_at == 0) {
            r.error = "the receiver did not come back";
        }
        fleet.shutdown();
        proxy.reset();
        server->terminate();
        server->wait_exit(8s);
        out.push_back(r);
    }
    return out;
}

}  // namespace relink::bench
