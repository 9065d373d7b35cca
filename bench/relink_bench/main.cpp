// bench/relink_bench/main.cpp — relink-bench, the load tool of issue 7 (docs/performance.md): the command line,
// SIGINT handling, running the named scenarios against relinkd child processes, the table and the JSON; and the
// two helpers `relink-bench compare A.json B.json` and `relink-bench chart A.json [B.json ...] OUT_DIR`.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "common.hpp"
#include "common/command_line.hpp"
#include "server.hpp"

namespace relink::bench {

std::atomic<bool> g_stop{false};

namespace {

/// What `relink-bench compare` or `relink-bench chart` was asked for (neither: a run of the scenarios).
struct Command {
    std::optional<Options> run;
    std::vector<std::string> compare_files;  ///< compare: A.json B.json
    std::vector<std::string> chart_files;    ///< chart: A.json [B.json ...] OUT_DIR
};

constexpr const char* kFooter =
    "Scenarios (--scenario, in this order for all): connect idle fanout storm detect quality outage restart\n"
    "dup_login backlog cross_node overload handover. Each starts its own relinkd child processes (and a\n"
    "redis-server for --cluster); a value of --relinkd-arg may begin with --. docs/performance.md says what each\n"
    "scenario measures.";

Command parse(int argc, char** argv) {
    namespace cl = relink::bench::command_line;
    Command command;
    Options o;
    o.relinkd = (std::filesystem::path(argv[0]).parent_path() / "relinkd").string();
    CLI::App app(
        "relink-bench: many relink::Client sessions in one process against relinkd, under load and faults; "
        "writes a table and the JSON format shared with peer-bench.",
        "relink-bench");
    relink::command_line::prepare(app);
    // A repeated single-value flag: the last one wins (the repeatable ones say otherwise).
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

    std::vector<std::string> scenarios;
    std::vector<std::string> scenario_names = all_scenarios();
    scenario_names.emplace_back("all");
    app.add_option("--scenario", scenarios, "a scenario to run, or all (repeatable; in the order given)")
        ->type_name("NAME")
        ->default_str("all")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false)
        ->check(relink::command_line::one_of(scenario_names));
    app.add_option("--json", o.json_file, "write the results (the shared format of docs/performance.md)")
        ->type_name("FILE");
    app.add_option("--relinkd", o.relinkd, "the relinkd to start (default: the one next to relink-bench)")
        ->type_name("PATH");
    app.add_option("--threads", o.threads, "client io threads on the shared io_context")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(1, 64));
    app.add_option("--relinkd-threads", o.relinkd_threads, "relinkd --threads")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(1));
    app.add_option("--relinkd-arg", o.relinkd_args,
                   "another relinkd flag, as is (repeatable; e.g. --relinkd-arg --limit\n"
                   "--relinkd-arg drain-logins-per-second=200)")
        ->type_name("ARG")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false);
    app.add_option("--relinkd-start-s", o.relinkd_start_seconds,
                   "seconds a relinkd may take to listen (more under "
                   "valgrind)")
        ->type_name("S")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(1));
    app.add_option("--concurrency", o.concurrency, "first logins in flight while a fleet ramps up")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    app.add_option("--channel-size", o.channel_size, "users per channel in connect, idle, storm; 0 = none")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--clients", o.clients, "connect: clients")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    cl::add_list(app, "--idle-sessions", o.idle_sessions, "idle: session counts (the full run: 1000,10000)", "N[,N]",
                 "1000");
    app.add_option("--idle-seconds", o.idle_seconds, "idle: seconds idle before reading RSS")
        ->type_name("S")
        ->capture_default_str()
        ->check(cl::whole<unsigned>());
    app.add_option("--members", o.members, "fanout: members")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    app.add_option("--messages", o.messages, "fanout: messages published")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--rate", o.rate, "fanout: messages per second")
        ->type_name("R")
        ->capture_default_str()
        ->check(relink::command_line::number_in(0, true, HUGE_VAL));
    app.add_option("--payload-bytes", o.payload_bytes, "fanout: payload size")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    cl::add_list(app, "--storm-clients", o.storm_clients, "storm: fleet sizes (the full run: 1000,5000)", "N[,N]",
                 "1000");
    cl::add_list<std::string>(app, "--storm-kinds", o.storm_kinds, "storm: kill, drain or both", "K[,K]", "kill,drain",
                              [](const std::string& kind) {
                                  return kind == "kill" || kind == "drain" ? std::string()
                                                                           : "'" + kind + "' is not one of kill, drain";
                              });
    app.add_option("--detect-runs", o.detect_runs, "detect: silent links, in parallel")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1, 500));
    cl::add_list<unsigned>(app, "--quality-delays", o.quality_delays_ms,
                           "quality: one-way delays the proxy adds, in ms (a variant without delay is always run)",
                           "MS[,MS]", "10,25,50,100", [](const unsigned& ms) {
                               return ms >= 1 && ms <= 2000 ? std::string()
                                                            : "'" + std::to_string(ms) + "' is not in [1, 2000]";
                           });
    app.add_option("--quality-runs", o.quality_runs, "quality: clients per delay with the hint, and as many without")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1, 100));
    app.add_option("--quality-warm-up", o.quality_warm_up_s, "quality: seconds of heartbeats before the links die")
        ->type_name("S")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(1, 120));
    cl::add_list(app, "--outages,--outage", o.outages, "outage: durations in seconds (--outage: peer-bench's name)",
                 "S[,S]", "0,2,6,12");
    app.add_option("--outage-runs", o.outage_runs, "outage: clients per variant, in parallel")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1, 250));
    app.add_option("--handover-runs", o.handover_runs, "handover: clients per variant, in parallel")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1, 250));
    app.add_option("--restart-runs", o.restart_runs, "restart: restarts")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--restart-delay-ms", o.restart_delay_ms,
                   "restart, storm kill: relinkd dead this long before the restart")
        ->type_name("MS")
        ->capture_default_str()
        ->check(cl::whole<unsigned>());
    app.add_option("--dup-seconds", o.dup_seconds, "dup_login: duration, in (0, 3600]")
        ->type_name("S")
        ->capture_default_str()
        ->check(relink::command_line::number_in(0, false, 3600));
    app.add_option("--relogin-delay-ms", o.relogin_delay_ms, "dup_login: the app logs in again this long after ABORTED")
        ->type_name("MS")
        ->capture_default_str()
        ->check(cl::whole<unsigned>());
    app.add_option("--backlog-cap", o.backlog_cap, "backlog: relinkd --limit peer-queue=N")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    cl::add_list(app, "--backlog-messages", o.backlog_messages, "backlog: messages sent while away", "N[,N]",
                 "cap/2,2*cap");
    cl::add_list<std::size_t>(app, "--cluster", o.cluster_nodes,
                              "connect, fanout, cross_node: once per deployment: 0 = one relinkd, N = N relinkd\n"
                              "nodes on one redis-server, at most 16 (e.g. 0,1,3; default: once, on one relinkd)",
                              "N[,N]", "", [](const std::size_t& nodes) {
                                  return nodes <= 16 ? std::string()
                                                     : "'" + std::to_string(nodes) + "' is more than 16 nodes";
                              });
    app.add_option("--xnode-receivers", o.xnode_receivers, "cross_node: receivers on the node after the sender's")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    app.add_option("--xnode-messages", o.xnode_messages, "cross_node: messages")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--xnode-rate", o.xnode_rate, "cross_node: messages per second")
        ->type_name("R")
        ->capture_default_str()
        ->check(relink::command_line::number_in(0, false, HUGE_VAL));
    app.add_option("--overload-clients", o.overload_clients, "overload: clients arriving (the full run: 10000)")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    app.add_option("--overload-rate", o.overload_rate, "overload: arrivals per second, one core burned meanwhile")
        ->type_name("R")
        ->capture_default_str()
        ->check(relink::command_line::number_in(0, false, HUGE_VAL));
    app.add_option("--overload-hold", o.overload_hold_s, "overload: seconds held once all are in")
        ->type_name("S")
        ->capture_default_str()
        ->check(cl::whole<unsigned>());
    app.add_flag("--verbose", o.verbose, "more progress output");

    std::string compare_a;
    std::string compare_b;
    auto* compare = app.add_subcommand("compare", "A.json B.json: per metric, A, B, A/B and which way is better");
    compare->add_option("A", compare_a, "a result file (relink-bench's or peer-bench's)")
        ->type_name("FILE")
        ->required();
    compare->add_option("B", compare_b, "the result file to compare it with")->type_name("FILE")->required();
    auto* chart = app.add_subcommand("chart", "A.json [B.json ...] OUT_DIR: the SVG charts of docs/performance.md");
    chart->add_option("FILES", command.chart_files, "one or more result files, then the directory for the charts")
        ->option_text(" A.json [B.json ...] OUT_DIR")
        ->expected(2, -1)
        ->required();
    app.footer(kFooter);  // after the subcommands, which would inherit it
    app.require_subcommand(0, 1);

    cl::parse(app, argc, argv, {"--relinkd-arg"});
    if (compare->parsed()) {
        command.compare_files = {compare_a, compare_b};
    }
    if (compare->parsed() || chart->parsed()) {
        return command;
    }
    for (const auto& name : scenarios) {
        if (name == "all") {
            o.scenarios.insert(o.scenarios.end(), all_scenarios().begin(), all_scenarios().end());
        } else {
            o.scenarios.push_back(name);
        }
    }
    if (o.scenarios.empty()) {
        o.scenarios = all_scenarios();
    }
    command.run = std::move(o);
    return command;
}

extern "C" void on_signal(int) {
    if (g_stop.exchange(true)) {
        // A second signal: stop every relinkd now (kill() is async-signal-safe) and leave.
        kill_registered_children();
        _exit(130);
    }
}

}  // namespace

int main_impl(int argc, char** argv) {
    const auto parsed = parse(argc, argv);
    if (!parsed.compare_files.empty()) {
        return compare_main(parsed.compare_files[0], parsed.compare_files[1]);
    }
    if (!parsed.chart_files.empty()) {
        return chart_main(std::vector<std::string>(parsed.chart_files.begin(), parsed.chart_files.end() - 1),
                          parsed.chart_files.back());
    }
    const auto& options = parsed.run;
    std::string command;
    for (int i = 0; i < argc; ++i) {
        command += (i ? " " : "") + std::string(argv[i]);
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    Env env;
    std::string error;
    if (!env.init(options->relinkd, options->relinkd_threads, options->relinkd_args, error)) {
        std::cerr << "relink-bench: " << error << "\n";
        return 2;
    }
    env.start_within = std::chrono::seconds(options->relinkd_start_seconds);
    const auto started = iso_now();
    std::printf("relink-bench: %u cpus, load average %s, relinkd %s (--threads %u)%s\n",
                std::thread::hardware_concurrency(), load_average().c_str(), options->relinkd.c_str(),
                options->relinkd_threads,
                env.ticket_flag.empty() ? "" : (", TLS ticket key shared via " + env.ticket_flag).c_str());

    std::vector<ScenarioResult> results;
    for (const auto& name : options->scenarios) {
        if (g_stop) {
            break;
        }
        std::printf("== %s\n", name.c_str());
        std::vector<ScenarioResult> got;
        try {
            if (name == "connect") {
                got = run_connect(*options, env);
            } else if (name == "idle") {
                got = run_idle(*options, env);
            } else if (name == "fanout") {
                got = run_fanout(*options, env);
            } else if (name == "storm") {
                got = run_storm(*options, env);
            } else if (name == "detect") {
                got = run_detect(*options, env);
            } else if (name == "quality") {
                got = run_quality(*options, env);
            } else if (name == "outage") {
                got = run_outage(*options, env);
            } else if (name == "handover") {
                got = run_handover(*options, env);
            } else if (name == "restart") {
                got = run_restart(*options, env);
            } else if (name == "dup_login") {
                got = run_dup_login(*options, env);
            } else if (name == "backlog") {
                got = run_backlog(*options, env);
            } else if (name == "cross_node") {
                got = run_cross_node(*options, env);
            } else if (name == "overload") {
                got = run_overload(*options, env);
            }
        } catch (const std::exception& e) {
            ScenarioResult r;
            r.name = name;
            r.error = std::string("exception: ") + e.what();
            got.push_back(r);
        }
        for (auto& r : got) {
            r.settings["load_average_after"] = load_average();
            results.push_back(std::move(r));
        }
    }
    print_results(results);
    if (!options->json_file.empty()) {
        std::ofstream out(options->json_file, std::ios::trunc);
        out << make_document(command, started, results).dump(1) << "\n";
        if (!out) {
            std::cerr << "relink-bench: cannot write " << options->json_file << "\n";
            return 1;
        }
        std::printf("results written to %s\n", options->json_file.c_str());
    }
    if (g_stop) {
        std::printf("interrupted: partial results\n");
        return 130;
    }
    const bool all_ok =
        std::all_of(results.begin(), results.end(), [](const ScenarioResult& r) { return r.error.empty(); });
    return all_ok ? 0 : 1;
}

}  // namespace relink::bench

int main(int argc, char** argv) {
    return relink::bench::main_impl(argc, argv);
}
