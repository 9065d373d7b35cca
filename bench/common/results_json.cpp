// bench/common/results_json.cpp — the shared JSON entries of the benchmarks' results (results_json.hpp).
#include "results_json.hpp"

#include <ctime>

namespace relink::bench {

Json scenarios_json(const std::vector<ScenarioResult>& all, ErrorField where) {
    Json list = Json::array();
    for (const auto& r : all) {
        Json s;
        s["name"] = r.name;
        s["params"] = r.params;
        Json settings = r.settings;
        if (!r.notes.empty()) {
            settings["notes"] = r.notes;
        }
        if (!r.error.empty() && where == ErrorField::in_settings) {
            settings["error"] = r.error;
        }
        s["settings"] = settings;
        s["metrics"] = r.metrics;
        s["samples"] = r.samples;
        if (!r.error.empty() && where == ErrorField::top_level) {
            s["error"] = r.error;
        }
        list.push_back(std::move(s));
    }
    return list;
}

std::string iso_now() {
    const std::time_t t = std::time(nullptr);
    std::tm local{};
    localtime_r(&t, &local);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S%z", &local);
    return buffer;
}

}  // namespace relink::bench
