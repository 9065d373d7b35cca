// bench/relink_bench/results.cpp — the shared JSON document, the tables printed after a run, and
// `relink-bench compare A.json B.json` (one row per metric present in both, with A/B and which way is better).
#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <thread>

#include "common.hpp"
#include "server.hpp"

namespace relink::bench {

using namespace std::chrono_literals;

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout, std::chrono::milliseconds step) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) {
            return true;
        }
        if (g_stop || Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(step);
    }
}

void sleep_unless_stopped(std::chrono::milliseconds d) {
    const auto deadline = Clock::now() + d;
    while (!g_stop && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::min<Clock::duration>(20ms, deadline - Clock::now()));
    }
}

const std::vector<std::string>& all_scenarios() {
    static const std::vector<std::string> kAll{"connect",    "idle",     "fanout",  "storm",     "detect",
                                               "quality",    "outage",   "restart", "dup_login", "backlog",
                                               "cross_node", "overload", "handover"};
    return kAll;
}

Json make_document(const std::string& command, const std::string& started, const std::vector<ScenarioResult>& all) {
    Json doc;
    doc["stack"] = "relink";
    doc["command"] = command;
    doc["host"] = {{"cpus", std::thread::hardware_concurrency()},
                   {"kernel", kernel_release()},
                   {"load_average_at_end", load_average()}};
    doc["started"] = started;
    doc["scenarios"] = scenarios_json(all, ErrorField::in_settings);
    return doc;
}

namespace {

std::string format_value(const Json& v) {
    if (v.is_null()) {
        return "n/a";
    }
    if (v.is_number_float()) {
        char buffer[64];
        const double d = v.get<double>();
        std::snprintf(buffer, sizeof buffer, std::fabs(d) >= 100 ? "%.0f" : (std::fabs(d) >= 1 ? "%.2f" : "%.3f"), d);
        return buffer;
    }
    if (v.is_string()) {
        return v.get<std::string>();
    }
    return v.dump();
}

std::string params_text(const Json& params) {
    std::string out;
    for (const auto& [k, v] : params.items()) {
        out += (out.empty() ? "" : ", ") + k + "=" + format_value(v);
    }
    return out;
}

}  // namespace

void print_results(const std::vector<ScenarioResult>& all) {
    std::printf("\n%-10s %-28s %-34s %s\n", "scenario", "params", "metric", "value");
    std::printf("%s\n", std::string(90, '-').c_str());
    for (const auto& r : all) {
        const auto params = params_text(r.params);
        bool first = true;
        for (const auto& [k, v] : r.metrics.items()) {
            std::printf("%-10s %-28s %-34s %s\n", first ? r.name.c_str() : "", first ? params.c_str() : "", k.c_str(),
                        format_value(v).c_str());
            first = false;
        }
        if (first) {
            std::printf("%-10s %-28s (no metrics)\n", r.name.c_str(), params.c_str());
        }
        for (const auto& n : r.notes) {
            std::printf("%-10s   note: %s\n", "", n.c_str());
        }
        if (!r.error.empty()) {
            std::printf("%-10s   ERROR: %s\n", "", r.error.c_str());
        }
    }
    std::printf("\n");
}

std::string better_direction(const std::string& metric) {
    // A rate ("..._per_s") is better higher; "bytes_per_session" is not a rate, hence the suffix test.
    if (metric.size() >= 6 && metric.compare(metric.size() - 6, 6, "_per_s") == 0) {
        return "higher";
    }
    static const std::vector<std::string> kHigher{"delivered",         "resumed",  "recovered_fraction",
                                                  "kicks_with_reason", "accepted", "logged_in"};
    for (const auto& h : kHigher) {
        if (metric.find(h) != std::string::npos) {
            return "higher";
        }
    }
    return "lower";  // latencies, downtime, bytes, kicks, flaps, losses, failed attempts
}

int compare_main(const std::string& a_file, const std::string& b_file) {
    Json a;
    Json b;
    try {
        std::ifstream ia(a_file);
        a = Json::parse(ia);
        std::ifstream ib(b_file);
        b = Json::parse(ib);
    } catch (const std::exception& e) {
        std::cerr << "relink-bench compare: cannot read " << a_file << " / " << b_file << ": " << e.what() << "\n";
        return 2;
    }
    const auto stack = [](const Json& d, const std::string& file) {
        return d.contains("stack") && d["stack"].is_string() ? d["stack"].get<std::string>() : file;
    };
    const auto name_a = stack(a, "A");
    const auto name_b = stack(b, "B");
    std::printf("A = %s (%s)\nB = %s (%s)\n\n", name_a.c_str(), a_file.c_str(), name_b.c_str(), b_file.c_str());
    std::printf("%-10s %-26s %-34s %12s %12s %9s  %s\n", "scenario", "params", "metric", name_a.c_str(), name_b.c_str(),
                "A/B", "better");
    std::printf("%s\n", std::string(118, '-').c_str());
    std::size_t joined = 0;
    const auto member = [](const Json& j, const char* key, Json fallback) {
        return j.is_object() && j.contains(key) ? j.at(key) : fallback;
    };
    const Json list_a = member(a, "scenarios", Json::array());
    const Json list_b = member(b, "scenarios", Json::array());
    for (const auto& sa : list_a) {
        for (const auto& sb : list_b) {
            // Joined on the name and every param both entries have; a param only one side has (peer-bench's
            // restart "settings", say) does not split them, it is shown with the row instead.
            const Json params_a = member(sa, "params", Json::object());
            const Json params_b = member(sb, "params", Json::object());
            if (member(sa, "name", "") != member(sb, "name", "")) {
                continue;
            }
            bool same = true;
            Json only = Json::object();
            for (const auto& [k, v] : params_a.items()) {
                if (params_b.contains(k)) {
                    same = same && params_b.at(k) == v;
                } else {
                    only["A." + k] = v;
                }
            }
            for (const auto& [k, v] : params_b.items()) {
                if (!params_a.contains(k)) {
                    only["B." + k] = v;
                }
            }
            if (!same) {
                continue;
            }
            ++joined;
            bool first = true;
            Json shown = params_a;
            for (const auto& [k, v] : only.items()) {
                if (k.rfind("B.", 0) == 0) {
                    shown[k] = v;
                }
            }
            const auto params = params_text(shown);
            const Json ma = member(sa, "metrics", Json::object());
            const Json mb = member(sb, "metrics", Json::object());
            for (const auto& [metric, va] : ma.items()) {
                if (!mb.contains(metric)) {
                    continue;
                }
                const auto& vb = mb.at(metric);
                std::string ratio = "n/a";
                if (va.is_number() && vb.is_number() && vb.get<double>() != 0.0) {
                    char buffer[32];
                    std::snprintf(buffer, sizeof buffer, "%.3f", va.get<double>() / vb.get<double>());
                    ratio = buffer;
                }
                std::printf("%-10s %-26s %-34s %12s %12s %9s  %s\n", first ? sa.value("name", "").c_str() : "",
                            first ? params.c_str() : "", metric.c_str(), format_value(va).c_str(),
                            format_value(vb).c_str(), ratio.c_str(), better_direction(metric).c_str());
                first = false;
            }
            if (first) {
                std::printf("%-10s %-26s (no metric in both)\n", sa.value("name", "").c_str(), params.c_str());
            }
        }
    }
    if (joined == 0) {
        std::printf("(no scenario with the same name and params in both files)\n");
    }
    return 0;
}

}  // namespace relink::bench
