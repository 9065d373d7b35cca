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

#include "support.hpp"

namespace {

using peer::Json;

const std::vector<std::string>& all_scenarios() {
    static const std::vector<std::string> kAll{"restart", "outage", "detect", "dup_login", "backlog", "idle", "fanout"};
    return kAll;
}

void usage() {
    std::cout
        << R"(peer-bench: relink-bench's scenarios for Paho MQTT C++ (MQTT v5, TLS) + mosquitto, through the fault proxy.

  --scenario NAME        restart, outage, detect, dup_login, backlog, idle, fanout or all (repeatable; default all)
  --json FILE            write the results as JSON (the format shared with relink-bench)
  --restart-runs N       restart: runs per setting (10)
  --restart-settings L   restart: comma list of default,fastest (both)
  --restart-direct       restart: clients connect to mosquitto directly, not through the proxy
  --outage LIST          outage: comma list of outage seconds (0,2,6,12)
  --outage-runs N        outage: runs per outage (3)
  --detect-runs N        detect: runs (5)
  --keepalive S          keepalive of the fault scenarios, seconds (4)
  --dup-seconds S        dup_login: how long both clients run (20)
  --backlog-cap N        backlog: mosquitto max_queued_messages (100)
  --backlog-messages L   backlog: comma list of message counts (cap/2, 2*cap)
  --idle-sessions LIST   idle: comma list of session counts (1000)
  --idle-seconds S       idle: idle time before measuring (5)
  --concurrency N        connects in flight while a fleet opens (50)
  --members N            fanout: subscribers (1000)
  --messages N           fanout: messages published (100)
  --rate R               fanout: messages per second (50)
  --payload-bytes N      fanout, backlog: payload size (64)
  -v, --verbose          progress on stderr
)";
}

template <class T>
std::vector<T> parse_list(const std::string& s) {
    std::vector<T> out;
    std::istringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (!item.empty()) {
            std::istringstream v(item);
            T x{};
            v >> x;
            out.push_back(x);
        }
    }
    return out;
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

}  // namespace

int main(int argc, char** argv) {
    peer::Options o;
    bool scenario_flag = false;  // --scenario given (perhaps only relink-bench's): then no default "all"
    std::string command;
    for (int i = 0; i < argc; ++i) {
        command += (i ? " " : "") + std::string(argv[i]);
    }
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) {
                    throw std::invalid_argument(a + " needs a value");
                }
                return argv[++i];
            };
            if (a == "--scenario") {
                const auto v = value();
                scenario_flag = true;
                if (v == "all") {
                    o.scenarios.insert(o.scenarios.end(), all_scenarios().begin(), all_scenarios().end());
                } else if (std::find(all_scenarios().begin(), all_scenarios().end(), v) != all_scenarios().end()) {
                    o.scenarios.push_back(v);
                } else if (v == "connect" || v == "storm") {
                    // relink-bench's own scenarios (logins/s, reconnect storms): compare.sh passes one command line
                    // to both tools, so they are skipped here, not an error.
                    std::cerr << "peer-bench: scenario " << v << " is relink-bench's only; skipped\n";
                } else {
                    throw std::invalid_argument("unknown scenario " + v);
                }
            } else if (a == "--json") {
                o.json_file = value();
            } else if (a == "--restart-runs") {
                o.restart_runs = std::stoul(value());
            } else if (a == "--restart-settings") {
                o.restart_settings = parse_list<std::string>(value());
                for (const auto& s : o.restart_settings) {
                    if (s != "default" && s != "fastest") {
                        throw std::invalid_argument("--restart-settings takes default and/or fastest");
                    }
                }
            } else if (a == "--restart-direct") {
                o.restart_direct = true;
            } else if (a == "--outage") {
                o.outages = parse_list<double>(value());
            } else if (a == "--outage-runs") {
                o.outage_runs = std::stoul(value());
            } else if (a == "--detect-runs") {
                o.detect_runs = std::stoul(value());
            } else if (a == "--keepalive") {
                o.keepalive_s = std::stoi(value());
            } else if (a == "--dup-seconds") {
                o.dup_seconds = std::stod(value());
            } else if (a == "--backlog-cap") {
                o.backlog_cap = std::stoul(value());
            } else if (a == "--backlog-messages") {
                o.backlog_messages = parse_list<std::size_t>(value());
            } else if (a == "--idle-sessions") {
                o.idle_sessions = parse_list<std::size_t>(value());
            } else if (a == "--idle-seconds") {
                o.idle_seconds = static_cast<unsigned>(std::stoul(value()));
            } else if (a == "--concurrency") {
                o.concurrency = std::stoul(value());
            } else if (a == "--members") {
                o.members = std::stoul(value());
            } else if (a == "--messages") {
                o.messages = std::stoul(value());
            } else if (a == "--rate") {
                o.rate = std::stod(value());
            } else if (a == "--payload-bytes") {
                o.payload_bytes = std::stoul(value());
            } else if (a == "--relinkd" || a == "--relinkd-arg" || a == "--threads" || a == "--relinkd-threads" ||
                       a == "--channel-size" || a == "--clients" || a == "--storm-clients" || a == "--storm-kinds" ||
                       a == "--restart-delay-ms" || a == "--relogin-delay-ms") {
                // relink-bench's flags without a peer counterpart: accepted and ignored, so compare.sh can hand
                // one command line to both tools.
                std::cerr << "peer-bench: " << a << " " << value() << " is relink-bench's only; ignored\n";
            } else if (a == "-v" || a == "--verbose") {
                o.verbose = true;
            } else if (a == "-h" || a == "--help") {
                usage();
                return 0;
            } else {
                throw std::invalid_argument("unknown argument " + a);
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "peer-bench: " << e.what() << " (--help lists the flags)\n";
        return 2;
    }
    if (o.scenarios.empty() && !scenario_flag) {
        o.scenarios = all_scenarios();
    }
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
