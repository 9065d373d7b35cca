// bench/relink_bench/chart.cpp — `relink-bench chart A.json [B.json ...] OUT_DIR`: SVG charts drawn from the
// results' samples, one series per stack and parameter set, so relink and its peer share one picture:
//   storm_recovery.svg  % of clients connected again vs time since the server was lost (storm);
//   storm_attempts.svg  connection attempts per 100 ms after the loss (how evenly they spread);
//   fanout_latency.svg  the fan-out latency distribution (cumulative: % of deliveries within x ms).
// Plain SVG text, no dependency; docs/performance.md embeds the files.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common.hpp"

namespace relink::bench {

namespace {

struct Series {
    std::string label;
    std::vector<std::pair<double, double>> points;
    bool bars{false};  // drawn as a step line (a histogram)
};

struct Chart {
    std::string title;
    std::string x_label;
    std::string y_label;
    double x_max{1};
    double y_max{100};
    std::vector<Series> series;
    std::vector<std::pair<double, std::string>> markers;  // vertical dashed lines at x, with a label
};

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/// A "nice" tick step for an axis of length `span` with about 6 ticks.
double nice_step(double span) {
    const double raw = span / 6.0;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
        if (raw <= m * magnitude) {
            return m * magnitude;
        }
    }
    return 10 * magnitude;
}

std::string escape(const std::string& s) {
    std::string out;
    for (const char c : s) {
        switch (c) {
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '&': out += "&amp;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string tick_text(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, v >= 100 || v == std::floor(v) ? "%.0f" : "%.1f", v);
    return buffer;
}

std::string render(const Chart& c) {
    const double width = 760;
    const double height = 420;
    const double left = 70;
    const double right = 20;
    const double top = 40;
    const double bottom = 60 + 18.0 * static_cast<double>((c.series.size() + 1) / 2);
    const double plot_w = width - left - right;
    const double plot_h = height - top - 60;
    const double total_h = height - 60 + bottom;
    const auto x_of = [&](double x) { return left + std::clamp(x / c.x_max, 0.0, 1.0) * plot_w; };
    const auto y_of = [&](double y) { return top + plot_h - std::clamp(y / c.y_max, 0.0, 1.0) * plot_h; };
    std::ostringstream svg;
    svg << R"(<svg xmlns="http://www.w3.org/2000/svg" width=")" << width << R"(" height=")" << total_h
        << R"(" font-family="sans-serif" font-size="12">)"
        << "\n";
    svg << R"(<rect width="100%" height="100%" fill="white"/>)"
        << "\n";
    svg << R"(<text x=")" << width / 2 << R"(" y="22" text-anchor="middle" font-size="15">)" << escape(c.title)
        << "</text>\n";
    // Grid and ticks.
    const double xs = nice_step(c.x_max);
    for (double x = 0; x <= c.x_max + 1e-9; x += xs) {
        svg << R"(<line x1=")" << x_of(x) << R"(" y1=")" << top << R"(" x2=")" << x_of(x) << R"(" y2=")" << top + plot_h
            << R"(" stroke="#e5e5e5"/>)"
            << "\n";
        svg << R"(<text x=")" << x_of(x) << R"(" y=")" << top + plot_h + 16 << R"(" text-anchor="middle">)"
            << tick_text(x) << "</text>\n";
    }
    const double ys = nice_step(c.y_max);
    for (double y = 0; y <= c.y_max + 1e-9; y += ys) {
        svg << R"(<line x1=")" << left << R"(" y1=")" << y_of(y) << R"(" x2=")" << left + plot_w << R"(" y2=")"
            << y_of(y) << R"(" stroke="#e5e5e5"/>)"
            << "\n";
        svg << R"(<text x=")" << left - 6 << R"(" y=")" << y_of(y) + 4 << R"(" text-anchor="end">)" << tick_text(y)
            << "</text>\n";
    }
    svg << R"(<rect x=")" << left << R"(" y=")" << top << R"(" width=")" << plot_w << R"(" height=")" << plot_h
        << R"(" fill="none" stroke="#333"/>)"
        << "\n";
    svg << R"(<text x=")" << left + plot_w / 2 << R"(" y=")" << top + plot_h + 36 << R"(" text-anchor="middle">)"
        << escape(c.x_label) << "</text>\n";
    svg << "<text transform=\"translate(18," << top + plot_h / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
        << escape(c.y_label) << "</text>\n";
    for (const auto& [x, label] : c.markers) {
        if (x > c.x_max) {
            continue;
        }
        svg << R"(<line x1=")" << x_of(x) << R"(" y1=")" << top << R"(" x2=")" << x_of(x) << R"(" y2=")" << top + plot_h
            << R"(" stroke="#555" stroke-dasharray="5,4"/>)"
            << "\n";
        // The label on the side of the line with room for it.
        const bool near_right = x_of(x) > left + plot_w * 0.7;
        svg << R"(<text x=")" << x_of(x) + (near_right ? -4 : 4) << R"(" y=")" << top + 14 << R"(" fill="#555")"
            << (near_right ? R"( text-anchor="end")" : "") << ">" << escape(label) << "</text>\n";
    }
    // Series.
    for (std::size_t i = 0; i < c.series.size(); ++i) {
        const auto& s = c.series[i];
        const char* color = kColors[i % (sizeof kColors / sizeof kColors[0])];
        std::ostringstream path;
        bool first = true;
        double prev_y = 0;
        for (const auto& [x, y] : s.points) {
            if (s.bars && !first) {
                path << " L" << x_of(x) << "," << y_of(prev_y);  // a step: hold the previous value to x
            }
            path << (first ? "M" : " L") << x_of(x) << "," << y_of(y);
            first = false;
            prev_y = y;
        }
        svg << R"(<path d=")" << path.str() << R"(" fill="none" stroke=")" << color << R"(" stroke-width="2"/>)"
            << "\n";
        const double lx = left + static_cast<double>(i % 2) * plot_w / 2;
        const double ly = top + plot_h + 54 + 18.0 * static_cast<double>(i / 2);
        svg << R"(<line x1=")" << lx << R"(" y1=")" << ly - 4 << R"(" x2=")" << lx + 24 << R"(" y2=")" << ly - 4
            << R"(" stroke=")" << color << R"(" stroke-width="3"/>)"
            << "\n";
        svg << R"(<text x=")" << lx + 30 << R"(" y=")" << ly << R"(">)" << escape(s.label) << "</text>\n";
    }
    svg << "</svg>\n";
    return svg.str();
}

std::vector<double> numbers(const Json& j) {
    std::vector<double> out;
    if (j.is_array()) {
        for (const auto& v : j) {
            if (v.is_number()) {
                out.push_back(v.get<double>());
            }
        }
    }
    return out;
}

std::string params_label(const Json& params) {
    std::string out;
    for (const auto& [k, v] : params.items()) {
        out += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    return out;
}

bool write(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::trunc);
    out << text;
    std::cout << "wrote " << file.string() << "\n";
    return static_cast<bool>(out);
}

}  // namespace

int chart_main(const std::vector<std::string>& json_files, const std::string& out_dir) {
    std::vector<Json> docs;
    for (const auto& f : json_files) {
        try {
            std::ifstream in(f);
            docs.push_back(Json::parse(in));
        } catch (const std::exception& e) {
            std::cerr << "relink-bench chart: cannot read " << f << ": " << e.what() << "\n";
            return 2;
        }
    }
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    Chart recovery{"Reconnect storm: clients connected again",
                   "ms since the server was lost",
                   "% of clients connected",
                   1000,
                   100,
                   {},
                   {}};
    Chart attempts{"Reconnect storm: connection attempts per 100 ms",
                   "ms since the server was lost",
                   "attempts per 100 ms",
                   1000,
                   1,
                   {},
                   {}};
    Chart fanout{"Fan-out latency distribution",
                 "latency (ms), publisher send to member callback",
                 "% of deliveries within x",
                 10,
                 100,
                 {},
                 {}};
    bool drain_marker = false;
    double fanout_x = 0;
    for (const auto& doc : docs) {
        const auto stack = doc.value("stack", std::string("?"));
        for (const auto& s : doc.value("scenarios", Json::array())) {
            const auto name = s.value("name", std::string());
            const auto params = s.value("params", Json::object());
            const auto samples = s.value("samples", Json::object());
            if (name == "storm") {
                auto back = numbers(samples.value("recovered_ms", Json::array()));
                std::sort(back.begin(), back.end());
                const double n = params.value("clients", 0.0);
                if (!back.empty() && n > 0) {
                    Series curve{stack + params_label(params), {{0, 0}}, false};
                    // The samples may be thinned: each stands for clients/len of them.
                    const double per = params.value("clients", 0.0) * s["metrics"].value("recovered_fraction", 1.0) /
                                       static_cast<double>(back.size());
                    for (std::size_t i = 0; i < back.size(); ++i) {
                        curve.points.emplace_back(back[i], 100.0 * per * static_cast<double>(i + 1) / n);
                    }
                    recovery.x_max = std::max(recovery.x_max, back.back() * 1.05);
                    recovery.series.push_back(std::move(curve));
                }
                const auto histogram = numbers(samples.value("attempts_per_100ms", Json::array()));
                if (!histogram.empty()) {
                    Series h{stack + params_label(params), {}, true};
                    for (std::size_t b = 0; b < histogram.size(); ++b) {
                        h.points.emplace_back(100.0 * static_cast<double>(b), histogram[b]);
                        attempts.y_max = std::max(attempts.y_max, histogram[b] * 1.1);
                    }
                    h.points.emplace_back(100.0 * static_cast<double>(histogram.size()), histogram.back());
                    attempts.x_max = std::max(attempts.x_max, 100.0 * static_cast<double>(histogram.size()) * 1.05);
                    attempts.series.push_back(std::move(h));
                }
                drain_marker = drain_marker || params.value("kind", std::string()) == "drain";
            } else if (name == "fanout") {
                auto lat = numbers(samples.value("latency_ms", Json::array()));
                if (lat.empty()) {
                    continue;
                }
                std::sort(lat.begin(), lat.end());
                Series cdf{stack + params_label(params), {}, false};
                const std::size_t step = std::max<std::size_t>(1, lat.size() / 400);
                for (std::size_t i = 0; i < lat.size(); i += step) {
                    cdf.points.emplace_back(lat[i],
                                            100.0 * static_cast<double>(i + 1) / static_cast<double>(lat.size()));
                }
                cdf.points.emplace_back(lat.back(), 100.0);
                // The x axis ends a little after the slowest series' 99.9th percentile (the tail beyond is flat).
                fanout_x = std::max(fanout_x, lat[std::min(lat.size() - 1, lat.size() * 999 / 1000)] * 1.2);
                fanout.series.push_back(std::move(cdf));
            }
        }
    }
    if (drain_marker) {
        recovery.markers.emplace_back(2000, "drain spread window (2 s)");
        attempts.markers.emplace_back(2000, "drain spread window");
    }
    fanout.x_max = std::max(1.0, fanout_x);
    fanout.markers.emplace_back(50, "target p99 50 ms");
    int written = 0;
    const std::filesystem::path dir(out_dir);
    if (!recovery.series.empty()) {
        written += write(dir / "storm_recovery.svg", render(recovery)) ? 1 : 0;
    }
    if (!attempts.series.empty()) {
        written += write(dir / "storm_attempts.svg", render(attempts)) ? 1 : 0;
    }
    if (!fanout.series.empty()) {
        written += write(dir / "fanout_latency.svg", render(fanout)) ? 1 : 0;
    }
    if (written == 0) {
        std::cerr << "relink-bench chart: no storm or fanout samples in the input\n";
        return 1;
    }
    return 0;
}

}  // namespace relink::bench
