// bench/relink_bench/common.hpp — what every part of relink-bench shares: the options of a run, the clock, the
// stop flag set by SIGINT, and the scenarios. The statistics and the result of one scenario (the shared JSON format
// of docs/performance.md, also written by peer-bench) are bench/common/'s. No Asio here: only scenarios_*.cpp pay
// for it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/results_json.hpp"
#include "common/stats.hpp"

namespace relink::bench {

/// Set by SIGINT / SIGTERM: every wait of the tool checks it, so the scenario unwinds and every child is stopped.
extern std::atomic<bool> g_stop;

/// Sleeps until `pred()` holds, `timeout` passes or g_stop is set; checks every `step`. True when `pred()` held.
bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
              std::chrono::milliseconds step = std::chrono::milliseconds(5));
/// Sleeps `d` unless g_stop is set meanwhile (checked every 20 ms).
void sleep_unless_stopped(std::chrono::milliseconds d);

/// Everything a run can be told on the command line (main.cpp parses it; `relink-bench --help` lists it).
struct Options {
    std::string relinkd;                 ///< the relinkd binary (default: next to relink-bench)
    std::vector<std::string> scenarios;  ///< in the order given; "all" expands to every scenario
    std::string json_file;               ///< --json FILE
    unsigned threads{2};                 ///< io threads of the clients' shared io_context
    unsigned relinkd_threads{1};         ///< relinkd --threads (1: the comparison with a single-threaded broker)
    unsigned relinkd_start_seconds{10};  ///< how long a relinkd may take to listen (more under valgrind)
    std::size_t concurrency{100};        ///< logins in flight while a fleet ramps up
    std::size_t channel_size{100};       ///< users per channel in connect / idle / storm (0 = no channel)
    std::size_t clients{1000};           ///< connect
    std::vector<std::size_t> idle_sessions{1000};
    unsigned idle_seconds{5};
    std::size_t members{1000};  ///< fanout
    std::size_t messages{100};  ///< fanout
    double rate{50};            ///< fanout: messages per second from the publisher
    std::size_t payload_bytes{64};
    std::vector<std::size_t> storm_clients{1000};
    std::vector<std::string> storm_kinds{"kill", "drain"};
    std::size_t detect_runs{5};
    std::vector<unsigned> quality_delays_ms{10, 25, 50, 100};  ///< quality: one-way delays added by the proxy
    std::size_t quality_runs{3};    ///< quality: clients per delay with the hint, and as many without
    unsigned quality_warm_up_s{8};  ///< quality: heartbeats (RTT samples) before the links die
    std::vector<double> outages{0, 2, 6, 12};
    std::size_t outage_runs{3};
    std::size_t handover_runs{3};  ///< handover: clients per variant
    std::size_t restart_runs{10};
    unsigned restart_delay_ms{0};  ///< between relinkd's death and the start of its replacement
    double dup_seconds{20};
    unsigned relogin_delay_ms{1000};  ///< dup_login: the naive app logs in again this long after ABORTED
    std::size_t backlog_cap{100};
    std::vector<std::size_t> backlog_messages;  ///< default: cap / 2 and 2 × cap
    std::vector<std::string> relinkd_args;      ///< more relinkd flags (--relinkd-arg, repeatable)
    /// --cluster: connect, fanout and cross_node run once per entry, in this order: 0 = one relinkd with
    /// everything in memory, N = N relinkd nodes sharing one redis-server. Empty (no --cluster): once, on one
    /// relinkd, with the params of a run without the flag.
    std::vector<std::size_t> cluster_nodes;
    std::size_t xnode_receivers{10};     ///< cross_node: receivers, all on the node after the sender's
    std::size_t xnode_messages{500};     ///< cross_node: messages sent
    double xnode_rate{100};              ///< cross_node: messages per second (low: latency, not queueing)
    std::size_t overload_clients{2000};  ///< overload: clients arriving (the full run: 10000)
    double overload_rate{1000};          ///< overload: arrivals per second (each retries on its own)
    unsigned overload_hold_s{10};        ///< overload: seconds held once all are in (or the budget ran out)
    bool verbose{false};
};

/// The names `--scenario` accepts, in the order `all` runs them.
const std::vector<std::string>& all_scenarios();

/// The scenarios (scenarios_load.cpp, scenarios_faults.cpp). Each starts and stops its own relinkd(s).
struct Env;  // server.hpp
std::vector<ScenarioResult> run_connect(const Options& o, Env& env);
std::vector<ScenarioResult> run_idle(const Options& o, Env& env);
std::vector<ScenarioResult> run_fanout(const Options& o, Env& env);
std::vector<ScenarioResult> run_cross_node(const Options& o, Env& env);
std::vector<ScenarioResult> run_storm(const Options& o, Env& env);
std::vector<ScenarioResult> run_detect(const Options& o, Env& env);
std::vector<ScenarioResult> run_quality(const Options& o, Env& env);
std::vector<ScenarioResult> run_outage(const Options& o, Env& env);
std::vector<ScenarioResult> run_handover(const Options& o, Env& env);
std::vector<ScenarioResult> run_restart(const Options& o, Env& env);
std::vector<ScenarioResult> run_dup_login(const Options& o, Env& env);
std::vector<ScenarioResult> run_backlog(const Options& o, Env& env);
std::vector<ScenarioResult> run_overload(const Options& o, Env& env);  // scenarios_overload.cpp

// results.cpp
/// The whole document: stack, command, host, started, scenarios.
Json make_document(const std::string& command, const std::string& started, const std::vector<ScenarioResult>& all);
/// Prints one table per scenario entry (params, metrics, notes) to stdout.
void print_results(const std::vector<ScenarioResult>& all);
/// `relink-bench compare A.json B.json`: exit status 0 when both files were read.
int compare_main(const std::string& a_file, const std::string& b_file);
/// "lower" or "higher": which way a metric is better (by its name).
std::string better_direction(const std::string& metric);

// chart.cpp
/// `relink-bench chart A.json [B.json ...] OUT_DIR`: writes the SVG charts; exit status 0 when at least one chart
/// was written.
int chart_main(const std::vector<std::string>& json_files, const std::string& out_dir);

}  // namespace relink::bench
