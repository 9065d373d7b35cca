// bench/common/stats.hpp — the statistics every benchmark reports: nearest-rank percentiles, the percentile
// metrics of the shared JSON result format, and thinned sample series. One definition, so a p99 of relink-bench,
// peer-bench, relinkd-bench and relink-capi-bench means the same thing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace relink::bench {

using Json = nlohmann::ordered_json;  // ordered: the JSON and the tables keep the order metrics were added in

/// Percentile (nearest rank: the smallest sample with at least p % of the samples at or below it) of `v`, p in
/// [0, 100]; nullopt when v is empty.
std::optional<double> percentile(std::vector<double> v, double p);
/// A JSON number rounded to three decimals (µs for milliseconds), or null for nullopt / NaN / infinity.
Json number_or_null(std::optional<double> v);
/// Sets metrics[prefix + "_" + w] for each w of "p50", "p90", "p99", "p999", "max" in `which` (rounded by
/// number_or_null); null when there is no sample.
void add_percentiles(Json& metrics, const std::string& prefix, const std::vector<double>& samples,
                     const std::vector<std::string>& which);
/// At most `cap` samples of `v` (0 = all), evenly strided and rounded to three decimals (the JSON stays small; the
/// percentiles use every sample).
std::vector<double> thin(const std::vector<double>& v, std::size_t cap);

}  // namespace relink::bench
