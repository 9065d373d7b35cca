// bench/common/admin_metrics.hpp — relinkd's own counters as the benchmarks read them: GET /metrics on its admin
// API (plain HTTP on loopback), every sample by its full name.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace relink::bench {

/// GET /metrics on relinkd's admin API at 127.0.0.1:`admin_port` with `admin_secret` as the bearer token (5 s at
/// most): every sample by its full name (labels included). Empty when the request failed.
std::map<std::string, double> read_metrics(std::uint16_t admin_port, const std::string& admin_secret);

}  // namespace relink::bench
