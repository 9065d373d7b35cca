// bench/peer/peer_bench.cpp — peer-bench's main: the command line, the run of the chosen scenarios (scenarios.cpp)
// for Eclipse Paho MQTT C++ + mosquitto, the table on stdout and the JSON document shared with relink-bench
// ({"stack": "paho-mosquitto", "versions", "command", "host", "started", "scenarios": [...]}).
//
//   peer-bench --scenario all --json peer.json
//   peer-bench --scenario restart --restart-runs 5 --scenario fanout --members 100 --messages 50 -v
//
// bench/peer/README.md says what each scenario measures and which Paho and mosquitto settings it uses.
#include <MQTTAsync.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/command_line.hpp"
#include "support.hpp"

namespace {

using peer::Json;

const std::vector<std::string>& all_scenarios() {
    static const std::vector<std::string> kAll{"restart", "outage", "detect", "dup_login", "backlog", "idle", "fanout"};
    return kAll;
}

std::string paho_c_version() {
    for (auto* nv = MQTTAsync_getVersionInfo(); nv && nv->name; ++nv) {
        if (std::string(nv->name) == "Version") {
            return nv->value;
        }
    }
    return "unknown";
}

std::string paho_cpp_version() {
    const auto v = mqtt::VERSION;
    return std::to_string((v >> 24) & 0xff) + "." + std::to_string((v >> 16) & 0xff) + "." +
           std::to_string((v >> 8) & 0xff);
}

std::string fmt(const Json& v) {
    if (v.is_null()) {
        return "-";
    }
    if (v.is_number_float()) {
        std::ostringstream out;
        const double d = v.get<double>();
        out << std::fixed << std::setprecision(d >= 1000 || d <= -1000 ? 0 : (d >= 100 || d <= -100 ? 1 : 2)) << d;
        return out.str();
    }
    return v.is_string() ? v.get<std::string>() : v.dump();
}

void print_results(const std::vector<peer::ScenarioResult>& all) {
    std::cout << "\n";
    for (const auto& r : all) {
        std::ostringstream head;
        head << r.name;
        for (const auto& [k, v] : r.params.items()) {
            head << " " << k << "=" << fmt(v);
        }
        std::cout << head.str() << "\n";
        for (const auto& [k, v] : r.metrics.items()) {
            std::cout << "  " << std::left << std::setw(28) << k << std::right << std::setw(14) << fmt(v) << "\n";
        }
        for (const auto& n : r.notes) {
            std::cout << "  note: " << n << "\n";
        }
        if (!r.error.empty()) {
            std::cout << "  ERROR: " << r.error << "\n";
        }
    }
    std::cout << std::flush;
}

/// The command line (src/cli/command_line.hpp's rules). relink-bench's flags without a peer counterpart, and its
/// connect and storm scenarios, are accepted and skipped with a note, so bench/compare.sh can hand one command line
/// to both tools.
peer::Options parse_options(int argc, char** argv) {
    namespace cl = relink::bench::command_line;
    peer::Options o;
    CLI::App app(
        "peer-bench: relink-bench's scenarios for Paho MQTT C++ (MQTT v5, TLS) + mosquitto, through the "
        "fault proxy; writes a table and the JSON format shared with relink-bench.",
        "peer-bench");
    relink::command_line::prepare(app);
    app.footer("bench/peer/README.md says what each scenario measures and which Paho and mosquitto settings it uses.");
    // A repeated single-value flag: the last one wins (the repeatable ones say otherwise).
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

    std::vector<std::string> scenarios;
    std::vector<std::string> accepted = all_scenarios();
    accepted.insert(accepted.end(), {"all", "connect", "storm"});
    app.add_option("--scenario", scenarios,
                   "restart, outage, detect, dup_login, backlog, idle, fanout or all (repeatable;\n"
                   "relink-bench's connect and storm are skipped)")
        ->type_name("NAME")
        ->default_str("all")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false)
        ->check(relink::command_line::one_of(accepted));
    app.add_option("--json", o.json_file, "write the results as JSON (the format shared with relink-bench)")
        ->type_name("FILE");
    app.add_option("--restart-runs", o.restart_runs, "restart: runs per setting")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    cl::add_list<std::string>(app, "--restart-settings", o.restart_settings, "restart: default, fastest or both", "L",
                              "default,fastest", [](const std::string& setting) {
                                  return setting == "default" || setting == "fastest"
                                             ? std::string()
                                             : "'" + setting + "' is not one of default, fastest";
                              });
    app.add_flag("--restart-direct", o.restart_direct,
                 "restart: clients connect to mosquitto directly, not through the proxy");
    cl::add_list(app, "--outage", o.outages, "outage: outage seconds", "LIST", "0,2,6,12");
    app.add_option("--outage-runs", o.outage_runs, "outage: runs per outage")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--detect-runs", o.detect_runs, "detect: runs")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--keepalive", o.keepalive_s, "keepalive of the fault scenarios, seconds")
        ->type_name("S")
        ->capture_default_str();
    app.add_option("--dup-seconds", o.dup_seconds, "dup_login: how long both clients run")
        ->type_name("S")
        ->capture_default_str();
    app.add_option("--backlog-cap", o.backlog_cap, "backlog: mosquitto max_queued_messages")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    cl::add_list(app, "--backlog-messages", o.backlog_messages, "backlog: message counts", "L", "cap/2,2*cap");
    cl::add_list(app, "--idle-sessions", o.idle_sessions, "idle: session counts", "LIST", "1000");
    app.add_option("--idle-seconds", o.idle_seconds, "idle: idle time before measuring")
        ->type_name("S")
        ->capture_default_str()
        ->check(cl::whole<unsigned>());
    app.add_option("--channel-size", o.channel_size,
                   "idle: subscribers per topic (relink-bench's idle: users per channel); 0 = none")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--concurrency", o.concurrency, "connects in flight while a fleet opens")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--members", o.members, "fanout: subscribers")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--messages", o.messages, "fanout: messages published")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--rate", o.rate, "fanout: messages per second")->type_name("R")->capture_default_str();
    app.add_option("--payload-bytes", o.payload_bytes, "fanout, backlog: payload size")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_flag("-v,--verbose", o.verbose, "progress on stderr");
    for (const char* name : {"--relinkd", "--relinkd-arg", "--threads", "--relinkd-threads", "--clients",
                             "--storm-clients", "--storm-kinds", "--restart-delay-ms", "--relogin-delay-ms"}) {
        app.add_option_function<std::vector<std::string>>(
               name,
               [name](const std::vector<std::string>& values) {
                   for (const auto& value : values) {
                       std::cerr << "peer-bench: " << name << " " << value << " is relink-bench's only; ignored\n";
                   }
               },
               "relink-bench's; ignored")
            ->type_name("X")
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
            ->allow_extra_args(false)
            ->group("relink-bench's flags, accepted and ignored");
    }

    cl::parse(app, argc, argv, {"--relinkd-arg"});
    for (const auto& name : scenarios) {
        if (name == "all") {
            o.scenarios.insert(o.scenarios.end(), all_scenarios().begin(), all_scenarios().end());
        } else if (name == "connect" || name == "storm") {
            // relink-bench's own scenarios (logins/s, reconnect storms): compare.sh passes one command line to both
            // tools, so they are skipped here, not an error.
            std::cerr << "peer-bench: scenario " << name << " is relink-bench's only; skipped\n";
        } else {
            o.scenarios.push_back(name);
        }
    }
    if (scenarios.empty()) {  // no --scenario: all (only relink-bench's scenarios named: none)
        o.scenarios = all_scenarios();
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    std::string command;
    for (int i = 0; i < argc; ++i) {
        command += (i ? " " : "") + std::string(argv[i]);
    }
    const peer::Options o = parse_options(argc, argv);
    peer::install_signal_handlers();

    const std::string started = relink::bench::iso_now();
    Json doc;
    doc["stack"] = "paho-mosquitto";
    std::string mosquitto;
    try {
        mosquitto = peer::mosquitto_version();
    } catch (const std::exception& e) {
        std::cerr << "peer-bench: " << e.what() << "\n";
        return 1;
    }
    doc["versions"] = {
        {"paho_mqtt_cpp", paho_cpp_version()}, {"paho_mqtt_c", paho_c_version()}, {"mosquitto", mosquitto}};
    doc["command"] = command;
    doc["host"] = {{"cpus", std::thread::hardware_concurrency()}, {"kernel", relink::bench::kernel_release()}};
    doc["started"] = started;

    std::vector<peer::ScenarioResult> results;
    int status = 0;
    for (const auto& name : o.scenarios) {
        peer::log_verbose(o, "scenario " + name);
        try {
            std::vector<peer::ScenarioResult> got;
            if (name == "restart") {
                got = peer::run_restart(o);
            } else if (name == "outage") {
                got = peer::run_outage(o);
            } else if (name == "detect") {
                got = peer::run_detect(o);
            } else if (name == "dup_login") {
                got = peer::run_dup_login(o);
            } else if (name == "backlog") {
                got = peer::run_backlog(o);
            } else if (name == "idle") {
                got = peer::run_idle(o);
            } else if (name == "fanout") {
                got = peer::run_fanout(o);
            }
            for (auto& r : got) {
                if (!r.error.empty()) {
                    status = 1;
                }
                results.push_back(std::move(r));
            }
        } catch (const peer::Interrupted&) {
            std::cerr << "peer-bench: interrupted; every broker it started is stopped\n";
            status = 130;
            break;
        } catch (const std::exception& e) {
            peer::ScenarioResult r;
            r.name = name;
            r.error = e.what();
            results.push_back(std::move(r));
            status = 1;
        }
    }

    print_results(results);
    doc["scenarios"] = relink::bench::scenarios_json(results, relink::bench::ErrorField::top_level);
    if (!o.json_file.empty()) {
        std::ofstream out(o.json_file);
        out << doc.dump(2) << "\n";
        if (!out) {
            std::cerr << "peer-bench: cannot write " << o.json_file << "\n";
            status = status ? status : 1;
        }
    }
    return status;
}
