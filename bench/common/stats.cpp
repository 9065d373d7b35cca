// bench/common/stats.cpp — percentiles and sample thinning of the benchmarks (stats.hpp).
#include "stats.hpp"

#include <algorithm>
#include <cmath>

namespace relink::bench {

std::optional<double> percentile(std::vector<double> v, double p) {
    if (v.empty()) {
        return std::nullopt;
    }
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

Json number_or_null(std::optional<double> v) {
    if (!v || !std::isfinite(*v)) {
        return nullptr;
    }
    return std::round(*v * 1000.0) / 1000.0;
}

void add_percentiles(Json& metrics, const std::string& prefix, const std::vector<double>& samples,
                     const std::vector<std::string>& which) {
    for (const auto& w : which) {
        std::optional<double> v;
        if (w == "max") {
            v = samples.empty() ? std::nullopt
                                : std::optional<double>(*std::max_element(samples.begin(), samples.end()));
        } else if (w == "p999") {
            v = percentile(samples, 99.9);
        } else {
            v = percentile(samples, std::stod(w.substr(1)));
        }
        metrics[prefix + "_" + w] = number_or_null(v);
    }
}

std::vector<double> thin(const std::vector<double>& v, std::size_t cap) {
    const std::size_t n = cap == 0 ? v.size() : std::min(cap, v.size());
    std::vector<double> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(std::round(v[i * v.size() / n] * 1000.0) / 1000.0);
    }
    return out;
}

}  // namespace relink::bench
