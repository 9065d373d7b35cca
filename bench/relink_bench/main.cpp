// bench/relink_bench/main.cpp — relink-bench, the load tool of issue 7 (docs/performance.md): the command line,
// SIGINT handling, running the named scenarios against relinkd child processes, the table and the JSON; and the
// two helpers `relink-bench compare A.json B.json` and `relink-bench chart A.json [B.json ...] OUT_DIR`.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "common.hpp"
#include "server.hpp"

namespace relink::bench {

std::atomic<bool> g_stop{false};

namespace {

void usage(std::ostream& out) {
    out << "usage: relink-bench [--scenario NAME ...|all] [--json FILE] [options]\n"
           "       relink-bench compare A.json B.json\n"
           "       relink-bench chart A.json [B.json ...] OUT_DIR\n"
           "\n"
           "scenarios: connect idle fanout storm detect outage restart dup_login backlog cross_node overload\n"
           "           (default: all)\n"
           "\n"
           "  --relinkd PATH            the relinkd to start (default: next to relink-bench)\n"
           "  --threads N               client io threads on the shared io_context (2)\n"
           "  --relinkd-threads N       relinkd --threads (1)\n"
           "  --relinkd-arg ARG         another relinkd flag (repeatable)\n"
           "  --relinkd-start-s S       seconds a relinkd may take to listen (10; more under valgrind)\n"
           "  --concurrency N           first logins in flight while a fleet ramps up (100)\n"
           "  --channel-size N          users per channel in connect, idle, storm; 0 = none (100)\n"
           "  --clients N               connect: clients (1000)\n"
           "  --idle-sessions N[,N]     idle: session counts (1000; the full run: 1000,10000)\n"
           "  --idle-seconds S          idle: seconds idle before reading RSS (5)\n"
           "  --members N               fanout: members (1000)\n"
           "  --messages N              fanout: messages published (100)\n"
           "  --rate R                  fanout: messages per second (50)\n"
           "  --payload-bytes N         fanout: payload size (64)\n"
           "  --storm-clients N[,N]     storm: fleet sizes (1000; the full run: 1000,5000)\n"
           "  --storm-kinds K[,K]       storm: kill, drain (both)\n"
           "  --detect-runs N           detect: silent links, in parallel (5)\n"
           "  --outages S[,S]           outage: durations in seconds (0,2,6,12)\n"
           "  --outage-runs N           outage: clients per variant, in parallel (3)\n"
           "  --restart-runs N          restart: restarts (10)\n"
           "  --restart-delay-ms MS     restart, storm kill: relinkd dead this long before the restart (0)\n"
           "  --dup-seconds S           dup_login: duration (20)\n"
           "  --relogin-delay-ms MS     dup_login: the app logs in again this long after ABORTED (1000)\n"
           "  --backlog-cap N           backlog: relinkd --limit peer-queue=N (100)\n"
           "  --backlog-messages N[,N]  backlog: messages sent while away (cap/2 and 2*cap)\n"
           "  --cluster N[,N]           connect, fanout, cross_node: once per deployment: 0 = one relinkd, N = N\n"
           "                            relinkd nodes on one redis-server (e.g. 0,1,3; default: one relinkd)\n"
           "  --xnode-receivers N       cross_node: receivers on the node after the sender's (10)\n"
           "  --xnode-messages N        cross_node: messages (500)\n"
           "  --xnode-rate R            cross_node: messages per second (100)\n"
           "  --overload-clients N      overload: clients arriving (2000; the full run: 10000)\n"
           "  --overload-rate R         overload: arrivals per second, one core burned meanwhile (1000)\n"
           "  --overload-hold S         overload: seconds held once all are in (10)\n"
           "  --json FILE               write the results (the shared format of docs/performance.md)\n"
           "  --verbose                 more progress output\n";
}

template <class T>
bool parse_list(const std::string& text, std::vector<T>& out) {
    out.clear();
    std::stringstream list(text);
    for (std::string item; std::getline(list, item, ',');) {
        try {
            std::size_t used = 0;
            if constexpr (std::is_same_v<T, double>) {
                out.push_back(std::stod(item, &used));
            } else if constexpr (std::is_same_v<T, std::string>) {
                out.push_back(item);
                used = item.size();
            } else {
                out.push_back(static_cast<T>(std::stoull(item, &used)));
            }
            if (used != item.size()) {
                return false;
            }
        } catch (const std::exception&) {
            return false;
        }
    }
    return !out.empty();
}

std::optional<Options> parse(int argc, char** argv) {
    Options o;
    o.relinkd = (std::filesystem::path(argv[0]).parent_path() / "relinkd").string();
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            usage(std::cout);
            std::exit(0);
        }
        if (flag == "--verbose") {
            o.verbose = true;
            continue;
        }
        std::string value;
        if (const auto eq = flag.find('='); eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            std::cerr << "relink-bench: " << flag << " needs a value\n";
            return std::nullopt;
        }
        bool ok = true;
        const auto whole = [&](auto& out) {
            std::vector<std::size_t> one;
            ok = parse_list(value, one) && one.size() == 1;
            if (ok) {
                out = static_cast<std::remove_reference_t<decltype(out)>>(one[0]);
            }
        };
        if (flag == "--scenario") {
            if (value == "all") {
                o.scenarios.insert(o.scenarios.end(), all_scenarios().begin(), all_scenarios().end());
            } else if (std::find(all_scenarios().begin(), all_scenarios().end(), value) != all_scenarios().end()) {
                o.scenarios.push_back(value);
            } else {
                std::cerr << "relink-bench: unknown scenario " << value << "\n";
                return std::nullopt;
            }
        } else if (flag == "--relinkd") {
            o.relinkd = value;
        } else if (flag == "--json") {
            o.json_file = value;
        } else if (flag == "--relinkd-arg") {
            o.relinkd_args.push_back(value);
        } else if (flag == "--threads") {
            whole(o.threads);
            ok = ok && o.threads > 0 && o.threads <= 64;
        } else if (flag == "--relinkd-start-s") {
            whole(o.relinkd_start_seconds);
            ok = ok && o.relinkd_start_seconds > 0;
        } else if (flag == "--relinkd-threads") {
            whole(o.relinkd_threads);
            ok = ok && o.relinkd_threads > 0;
        } else if (flag == "--concurrency") {
            whole(o.concurrency);
            ok = ok && o.concurrency > 0;
        } else if (flag == "--channel-size") {
            whole(o.channel_size);
        } else if (flag == "--clients") {
            whole(o.clients);
            ok = ok && o.clients > 0;
        } else if (flag == "--idle-sessions") {
            ok = parse_list(value, o.idle_sessions);
        } else if (flag == "--idle-seconds") {
            whole(o.idle_seconds);
        } else if (flag == "--members") {
            whole(o.members);
            ok = ok && o.members > 0;
        } else if (flag == "--messages") {
            whole(o.messages);
        } else if (flag == "--rate") {
            std::vector<double> one;
            ok = parse_list(value, one) && one.size() == 1 && one[0] >= 0;
            o.rate = ok ? one[0] : 0;
        } else if (flag == "--payload-bytes") {
            whole(o.payload_bytes);
        } else if (flag == "--storm-clients") {
            ok = parse_list(value, o.storm_clients);
        } else if (flag == "--storm-kinds") {
            ok = parse_list(value, o.storm_kinds) &&
                 std::all_of(o.storm_kinds.begin(), o.storm_kinds.end(),
                             [](const std::string& k) { return k == "kill" || k == "drain"; });
        } else if (flag == "--detect-runs") {
            whole(o.detect_runs);
            ok = ok && o.detect_runs > 0 && o.detect_runs <= 500;
        } else if (flag == "--outages" || flag == "--outage") {  // peer-bench spells it --outage
            ok = parse_list(value, o.outages);
        } else if (flag == "--outage-runs") {
            whole(o.outage_runs);
            ok = ok && o.outage_runs > 0 && o.outage_runs <= 250;
        } else if (flag == "--restart-runs") {
            whole(o.restart_runs);
        } else if (flag == "--restart-delay-ms") {
            whole(o.restart_delay_ms);
        } else if (flag == "--dup-seconds") {
            std::vector<double> one;
            ok = parse_list(value, one) && one.size() == 1 && one[0] > 0 && one[0] <= 3600;
            o.dup_seconds = ok ? one[0] : 0;
        } else if (flag == "--relogin-delay-ms") {
            whole(o.relogin_delay_ms);
        } else if (flag == "--overload-clients") {
            whole(o.overload_clients);
            ok = ok && o.overload_clients > 0;
        } else if (flag == "--overload-rate") {
            std::vector<double> one;
            ok = parse_list(value, one) && one.size() == 1 && one[0] > 0;
            o.overload_rate = ok ? one[0] : 0;
        } else if (flag == "--overload-hold") {
            whole(o.overload_hold_s);
        } else if (flag == "--backlog-cap") {
            whole(o.backlog_cap);
            ok = ok && o.backlog_cap > 0;
        } else if (flag == "--cluster") {
            ok = parse_list(value, o.cluster_nodes) &&
                 std::all_of(o.cluster_nodes.begin(), o.cluster_nodes.end(), [](std::size_t n) { return n <= 16; });
        } else if (flag == "--xnode-receivers") {
            whole(o.xnode_receivers);
            ok = ok && o.xnode_receivers > 0;
        } else if (flag == "--xnode-messages") {
            whole(o.xnode_messages);
        } else if (flag == "--xnode-rate") {
            std::vector<double> one;
            ok = parse_list(value, one) && one.size() == 1 && one[0] > 0;
            o.xnode_rate = ok ? one[0] : 0;
        } else if (flag == "--backlog-messages") {
            ok = parse_list(value, o.backlog_messages);
        } else {
            std::cerr << "relink-bench: unknown flag " << flag << "\n";
            usage(std::cerr);
            return std::nullopt;
        }
        if (!ok) {
            std::cerr << "relink-bench: bad value for " << flag << ": " << value << "\n";
            return std::nullopt;
        }
    }
    if (o.scenarios.empty()) {
        o.scenarios = all_scenarios();
    }
    return o;
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
    if (argc >= 2 && std::strcmp(argv[1], "compare") == 0) {
        if (argc != 4) {
            std::cerr << "usage: relink-bench compare A.json B.json\n";
            return 2;
        }
        return compare_main(argv[2], argv[3]);
    }
    if (argc >= 2 && std::strcmp(argv[1], "chart") == 0) {
        if (argc < 4) {
            std::cerr << "usage: relink-bench chart A.json [B.json ...] OUT_DIR\n";
            return 2;
        }
        return chart_main(std::vector<std::string>(argv + 2, argv + argc - 1), argv[argc - 1]);
    }
    const auto options = parse(argc, argv);
    if (!options) {
        return 2;
    }
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
            } else if (name == "outage") {
                got = run_outage(*options, env);
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
