// bench/common/results_json.hpp — the result format relink-bench and peer-bench share (docs/performance.md): one
// ScenarioResult per measurement, its JSON entry in "scenarios", and the timestamp of a run. A comparison joins
// two documents on name + params + metric name.
#pragma once

#include <string>
#include <vector>

#include "stats.hpp"

namespace relink::bench {

/// One entry of "scenarios". `params` identify the measurement (a comparison joins on name + params), `settings`
/// say how it was made, `metrics` are the figures, `samples` the raw series.
struct ScenarioResult {
    std::string name;
    Json params = Json::object();
    Json settings = Json::object();
    Json metrics = Json::object();
    Json samples = Json::object();
    std::vector<std::string> notes;  ///< printed under the table and kept in settings.notes
    std::string error;               ///< non-empty: the scenario did not complete; what is there is partial
};

/// Where a scenario's error goes in its JSON entry: relink-bench keeps it in settings.error, peer-bench in a
/// top-level "error" after the samples (both as their documents have always had it).
enum class ErrorField { in_settings, top_level };

/// The "scenarios" array: name, params, settings (with notes, and the error when `where` says so), metrics,
/// samples (and the top-level error when `where` says so), in that order.
Json scenarios_json(const std::vector<ScenarioResult>& all, ErrorField where);

/// Local time now in ISO 8601 with the offset ("started" of a document).
std::string iso_now();

}  // namespace relink::bench
