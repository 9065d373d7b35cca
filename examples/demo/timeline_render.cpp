// demo/timeline_render.cpp — the text table, the SVG picture and the HTML page of recorded timelines.
#include "demo/timeline_render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <sstream>
#include <utility>

namespace relink::demo {
namespace {

// --------------------------------------------------------------------------------------------- text helpers

/// Display width of UTF-8 text: code points, not bytes (the texts are ASCII but for a few dashes and arrows).
std::size_t display_width(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(
        text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; }));
}

std::string pad(const std::string& text, std::size_t width) {
    const std::size_t w = display_width(text);
    return w >= width ? text : text + std::string(width - w, ' ');
}

std::string format(const char* pattern, double value) {
    char out[64];
    std::snprintf(out, sizeof out, pattern, value);
    return out;
}

std::string lane_header(const RecordedTimeline& timeline, const std::string& lane) {
    const auto detail = timeline.details.find(lane);
    return detail == timeline.details.end() || detail->second.empty() ? lane : lane + " (" + detail->second + ")";
}

/// The rows of a timeline in time order: entries (index ≥ 0) and marks (encoded as -1 - mark index).
std::vector<long> rows_in_time_order(const RecordedTimeline& timeline) {
    std::vector<long> rows;
    for (std::size_t i = 0; i < timeline.entries.size(); ++i) {
        rows.push_back(static_cast<long>(i));
    }
    for (std::size_t i = 0; i < timeline.marks.size(); ++i) {
        rows.push_back(-1 - static_cast<long>(i));
    }
    const auto time_of = [&](long row) {
        return row >= 0 ? timeline.entries[static_cast<std::size_t>(row)].at
                        : timeline.marks[static_cast<std::size_t>(-1 - row)].at;
    };
    // Stable: entries keep the order they were recorded in; a mark goes before entries recorded at the same time.
    std::stable_sort(rows.begin(), rows.end(), [&](long a, long b) {
        const double ta = time_of(a);
        const double tb = time_of(b);
        return ta < tb || (ta == tb && a < 0 && b >= 0);
    });
    return rows;
}

// --------------------------------------------------------------------------------------------- the time axis

/// Spec time → x. Piecewise linear: a gap between consecutive interesting times that is both longer than a minute
/// and longer than 30 % of the whole run (the 20 minutes before FAILED) is drawn as a narrow break, so that the
/// rest keeps a readable scale.
class TimeAxis {
public:
    struct Piece {
        double t0, t1, x0, x1;
        bool compressed;
    };
    static constexpr double kBreakWidth = 46.0;

    TimeAxis(std::vector<double> times, double start, double end, double x0, double x1) {
        end = std::max(end, start + 1e-3);
        times.push_back(start);
        times.push_back(end);
        std::sort(times.begin(), times.end());
        times.erase(std::remove_if(times.begin(), times.end(), [&](double t) { return t < start || t > end; }),
                    times.end());
        times.erase(std::unique(times.begin(), times.end()), times.end());
        // The longest gaps first, each judged against what is left linear once the longer ones are broken.
        std::vector<std::pair<double, double>> candidates;
        for (std::size_t i = 1; i < times.size(); ++i) {
            candidates.emplace_back(times[i - 1], times[i]);
        }
        std::sort(candidates.begin(), candidates.end(),
                  [](const auto& a, const auto& b) { return a.second - a.first > b.second - b.first; });
        double linear = end - start;
        std::vector<std::pair<double, double>> gaps;
        for (const auto& [a, b] : candidates) {
            const double gap = b - a;
            if (gap <= 60.0 || gap <= 0.3 * linear) {
                break;
            }
            gaps.emplace_back(a, b);
            linear -= gap;
        }
        std::sort(gaps.begin(), gaps.end());
        const double width = (x1 - x0) - kBreakWidth * static_cast<double>(gaps.size());
        px_per_second_ = width / std::max(linear, 1e-3);
        double t = start;
        double x = x0;
        for (const auto& [a, b] : gaps) {
            pieces_.push_back({t, a, x, x + (a - t) * px_per_second_, false});
            x = pieces_.back().x1;
            pieces_.push_back({a, b, x, x + kBreakWidth, true});
            x += kBreakWidth;
            t = b;
        }
        pieces_.push_back({t, end, x, x1, false});
    }

    [[nodiscard]] double x(double t) const {
        if (t <= pieces_.front().t0) {
            return pieces_.front().x0;
        }
        for (const auto& p : pieces_) {
            if (t <= p.t1) {
                return p.t1 > p.t0 ? p.x0 + (t - p.t0) / (p.t1 - p.t0) * (p.x1 - p.x0) : p.x0;
            }
        }
        return pieces_.back().x1;
    }

    [[nodiscard]] const std::vector<Piece>& pieces() const { return pieces_; }

    /// A tick step (spec seconds) that puts ticks at least ~64 px apart.
    [[nodiscard]] double tick_step() const {
        for (const double step : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0}) {
            if (step * px_per_second_ >= 64.0) {
                return step;
            }
        }
        return 1200.0;
    }

private:
    std::vector<Piece> pieces_;
    double px_per_second_{1.0};
};

// --------------------------------------------------------------------------------------------- SVG helpers

constexpr double kWidth = 1160.0;
constexpr double kGutter = 190.0;  // lane names
constexpr double kRight = 24.0;
constexpr double kTitleHeight = 30.0;
constexpr double kMarksHeight = 30.0;
constexpr double kLaneHeight = 72.0;
constexpr double kAxisHeight = 40.0;
constexpr double kPanelGap = 18.0;
constexpr double kLegendHeight = 54.0;

std::string num(double value) {
    return format("%.1f", value);
}

const char* kind_colour(EventKind kind) {
    switch (kind) {
        case EventKind::state: return "#263238";
        case EventKind::connection_lost: return "#c62828";
        case EventKind::joined: return "#1b5e20";
        case EventKind::channel: return "#1565c0";
        case EventKind::member: return "#6a1b9a";
        case EventKind::stream: return "#00838f";
        case EventKind::message: return "#37474f";
        case EventKind::continuity: return "#f9a825";
        case EventKind::token: return "#795548";
        case EventKind::call: return "#000000";
    }
    return "#000000";
}

/// A marker shape centred at (x, y) for an event kind.
std::string marker_shape(EventKind kind, double x, double y) {
    const std::string fill = kind_colour(kind);
    std::ostringstream out;
    switch (kind) {
        case EventKind::connection_lost:  // a diamond
            out << "<path d=\"M" << num(x) << " " << num(y - 6) << " L" << num(x + 6) << " " << num(y) << " L" << num(x)
                << " " << num(y + 6) << " L" << num(x - 6) << " " << num(y) << " Z\" fill=\"" << fill
                << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
        case EventKind::message:
        case EventKind::channel:  // a square
            out << "<rect x=\"" << num(x - 4) << "\" y=\"" << num(y - 4) << "\" width=\"8\" height=\"8\" fill=\""
                << fill << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
        case EventKind::call:
        case EventKind::continuity:  // a triangle
            out << "<path d=\"M" << num(x) << " " << num(y - 6) << " L" << num(x + 5.5) << " " << num(y + 4) << " L"
                << num(x - 5.5) << " " << num(y + 4) << " Z\" fill=\"" << fill
                << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
        default:  // a circle
            out << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"4.5\" fill=\"" << fill
                << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
    }
    return out.str();
}

std::string seconds_label(double t) {
    if (std::fabs(t) < 1e-9) {
        return "0";
    }
    return std::fabs(t - std::round(t)) < 1e-6 ? format("%.0f s", t) : format("%.1f s", t);
}

double panel_height(const RecordedTimeline& timeline) {
    return kTitleHeight + kMarksHeight + kLaneHeight * static_cast<double>(timeline.lanes.size()) + kAxisHeight +
           kPanelGap;
}

/// One panel at vertical offset `top`.
void render_panel(std::ostringstream& out, const TimelinePanel& panel, double top) {
    const RecordedTimeline& tl = panel.timeline;
    std::vector<double> times{0.0};
    double start = 0.0;
    for (const auto& e : tl.entries) {
        times.push_back(e.at);
        start = std::min(start, e.at);
    }
    for (const auto& m : tl.marks) {
        times.push_back(m.at);
        start = std::min(start, m.at);
    }
    const double end = std::max(tl.end, *std::max_element(times.begin(), times.end()));
    const TimeAxis axis(times, start, end, kGutter, kWidth - kRight);
    const double lanes_top = top + kTitleHeight + kMarksHeight;
    const double lanes_bottom = lanes_top + kLaneHeight * static_cast<double>(tl.lanes.size());

    out << "<g class=\"panel\" data-title=\"" << xml_escape(tl.title) << "\">\n";
    out << "<text class=\"title\" x=\"12\" y=\"" << num(top + 19) << "\" font-size=\"15\" font-weight=\"bold\">"
        << xml_escape(tl.title) << "</text>\n";
    out << "<text class=\"subtitle\" x=\"" << num(kWidth - kRight) << "\" y=\"" << num(top + 19)
        << "\" font-size=\"11\" text-anchor=\"end\" fill=\"#555555\">"
        << xml_escape("time scale " + format("%g", tl.time_scale) + ": spec seconds = real ÷ " +
                      format("%g", tl.time_scale) + " · " + (panel.check.ok ? "as specified" : "DIFFERS from the spec"))
        << "</text>\n";

    for (std::size_t l = 0; l < tl.lanes.size(); ++l) {
        const std::string& lane = tl.lanes[l];
        const double y = lanes_top + kLaneHeight * static_cast<double>(l);
        // From the top: two rows of labels (T4 ...), the state band, a row of event markers.
        const double band_top = y + 28;
        const double band_height = 22;
        const double marker_y = band_top + band_height + 8;
        out << "<g class=\"lane\" data-lane=\"" << xml_escape(lane) << "\">\n";
        out << "<rect class=\"lane-background\" x=\"" << num(kGutter) << "\" y=\"" << num(band_top) << "\" width=\""
            << num(kWidth - kRight - kGutter) << "\" height=\"" << num(band_height) << "\" fill=\"#f3f3f3\"/>\n";
        out << "<text class=\"lane-name\" x=\"12\" y=\"" << num(band_top + 10) << "\" font-size=\"13\" "
            << "font-weight=\"bold\">" << xml_escape(lane) << "</text>\n";
        if (const auto detail = tl.details.find(lane); detail != tl.details.end()) {
            out << "<text class=\"lane-detail\" x=\"12\" y=\"" << num(band_top + 23)
                << "\" font-size=\"10\" fill=\"#666666\">" << xml_escape(detail->second) << "</text>\n";
        }
        // State bands: from each change to the next one, or to the end of the recording.
        std::vector<std::size_t> changes;
        for (std::size_t i = 0; i < tl.entries.size(); ++i) {
            if (tl.entries[i].lane == lane && tl.entries[i].kind == EventKind::state && tl.entries[i].state) {
                changes.push_back(i);
            }
        }
        for (std::size_t c = 0; c < changes.size(); ++c) {
            const auto& e = tl.entries[changes[c]];
            const double t1 = c + 1 < changes.size() ? tl.entries[changes[c + 1]].at : end;
            const double x0 = axis.x(e.at);
            const double w = std::max(axis.x(t1) - x0, 1.5);
            const std::string state(to_string(*e.state));
            out << "<rect class=\"band\" data-state=\"" << state << "\" x=\"" << num(x0) << "\" y=\"" << num(band_top)
                << "\" width=\"" << num(w) << "\" height=\"" << num(band_height) << "\" fill=\""
                << state_colour(*e.state) << "\" stroke=\"#ffffff\" stroke-width=\"1\"><title>"
                << xml_escape(lane + ": " + e.text + " from " + format("%+.2f s", e.at)) << "</title></rect>\n";
            // The state and reason when they fit, else the state alone, else nothing (the tooltip says it).
            std::string caption = e.text;
            if (const auto slash = caption.find(" / "); slash != std::string::npos) {
                caption.replace(slash, 3, " · ");
            }
            if (w < 7.3 * static_cast<double>(display_width(caption)) + 8) {
                caption = w >= 7.3 * static_cast<double>(state.size()) + 8 ? state : "";
            }
            if (!caption.empty()) {
                out << "<text class=\"band-label\" x=\"" << num(x0 + 4) << "\" y=\"" << num(band_top + 15)
                    << "\" font-size=\"11\" fill=\"#ffffff\">" << xml_escape(caption) << "</text>\n";
            }
        }
        // Markers for the other events below the band (events at nearly the same time side by side, in order), and
        // the timeline tables' labels (T4 ...) above it, on a second row when crowded.
        std::vector<double> label_row_end{-1e9, -1e9};
        double last_marker_x = -1e9;
        for (std::size_t i = 0; i < tl.entries.size(); ++i) {
            const auto& e = tl.entries[i];
            if (e.lane != lane) {
                continue;
            }
            const double x = axis.x(e.at);
            const auto label = panel.check.labels.find(i);
            const std::string tooltip = (label != panel.check.labels.end() ? label->second + " · " : std::string()) +
                                        lane + " · " + format("%+.2f s", e.at) + " · " + e.text;
            if (e.kind != EventKind::state) {
                const double marker_x = std::max(x, last_marker_x + 11);
                last_marker_x = marker_x;
                out << "<g class=\"marker\" data-kind=\"" << to_string(e.kind) << "\">"
                    << marker_shape(e.kind, marker_x, marker_y) << "<title>" << xml_escape(tooltip) << "</title></g>\n";
            }
            if (label != panel.check.labels.end()) {
                const double width = 7.0 * static_cast<double>(label->second.size());
                const std::size_t row = x - width / 2 > label_row_end[0] + 2 ? 0 : 1;
                label_row_end[row] = x + width / 2;
                const double label_y = row == 0 ? band_top - 4 : band_top - 16;
                out << "<text class=\"event-label\" x=\"" << num(x) << "\" y=\"" << num(label_y)
                    << "\" font-size=\"11\" font-weight=\"bold\" text-anchor=\"middle\">" << xml_escape(label->second)
                    << "<title>" << xml_escape(tooltip) << "</title></text>\n";
            }
        }
        out << "</g>\n";
    }

    // The script's marks: a dashed line across the lanes, the name and text above them (two rows when crowded).
    double mark_row_end[2] = {-1e9, -1e9};
    for (const auto& m : tl.marks) {
        const double x = axis.x(m.at);
        const std::string caption = m.name + ": " + m.text;
        const double width = 6.0 * static_cast<double>(display_width(caption));
        const int row = x > mark_row_end[0] + 6 ? 0 : 1;
        mark_row_end[row] = x + width;
        const double text_y = top + kTitleHeight + (row == 0 ? 11 : 24);
        const bool flip = x + width > kWidth - kRight;  // keep the caption inside the picture
        out << "<g class=\"mark\" data-mark=\"" << xml_escape(m.name) << "\">"
            << "<line x1=\"" << num(x) << "\" y1=\"" << num(text_y + 3) << "\" x2=\"" << num(x) << "\" y2=\""
            << num(lanes_bottom + 4) << "\" stroke=\"#424242\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>"
            << "<text x=\"" << num(flip ? x - 3 : x + 3) << "\" y=\"" << num(text_y) << "\" font-size=\"10.5\""
            << (flip ? " text-anchor=\"end\"" : "") << " fill=\"#212121\">" << xml_escape(caption) << "</text>"
            << "<title>" << xml_escape(caption + " at " + format("%+.2f s", m.at)) << "</title></g>\n";
    }

    // The axis: ticks in spec seconds on the linear pieces, a break symbol on the compressed ones.
    const double axis_y = lanes_bottom + 8;
    out << "<g class=\"axis\">\n";
    out << "<line x1=\"" << num(kGutter) << "\" y1=\"" << num(axis_y) << "\" x2=\"" << num(kWidth - kRight)
        << "\" y2=\"" << num(axis_y) << "\" stroke=\"#424242\" stroke-width=\"1\"/>\n";
    const double step = axis.tick_step();
    double last_label_x = -1e9;
    for (const auto& piece : axis.pieces()) {
        if (piece.compressed) {
            const double mid = (piece.x0 + piece.x1) / 2;
            out << "<rect x=\"" << num(mid - 9) << "\" y=\"" << num(lanes_top - 2) << "\" width=\"18\" height=\""
                << num(lanes_bottom - lanes_top + 14) << "\" fill=\"#ffffff\" fill-opacity=\"0.75\"/>";
            for (const double dx : {-4.0, 4.0}) {
                out << "<line x1=\"" << num(mid + dx - 4) << "\" y1=\"" << num(axis_y + 6) << "\" x2=\""
                    << num(mid + dx + 4) << "\" y2=\"" << num(axis_y - 6) << "\" stroke=\"#424242\"/>";
            }
            out << "<text x=\"" << num(mid) << "\" y=\"" << num(axis_y + 28) << "\" font-size=\"10\" "
                << "text-anchor=\"middle\" fill=\"#555555\">"
                << xml_escape("(" + format("%.0f", piece.t1 - piece.t0) + " s)") << "</text>\n";
            continue;
        }
        for (double t = std::ceil(piece.t0 / step - 1e-9) * step; t <= piece.t1 + 1e-9; t += step) {
            const double x = axis.x(t);
            out << "<line x1=\"" << num(x) << "\" y1=\"" << num(axis_y) << "\" x2=\"" << num(x) << "\" y2=\""
                << num(axis_y + 5) << "\" stroke=\"#424242\"/>";
            if (x - last_label_x >= 40) {
                out << "<text x=\"" << num(x) << "\" y=\"" << num(axis_y + 17)
                    << "\" font-size=\"10\" text-anchor=\"middle\">" << xml_escape(seconds_label(t)) << "</text>";
                last_label_x = x;
            }
            out << "\n";
        }
    }
    out << "<text x=\"12\" y=\"" << num(axis_y + 17)
        << "\" font-size=\"10\" fill=\"#555555\">spec time (T0 = 0)</text>\n";
    out << "</g>\n</g>\n";
}

}  // namespace

const char* state_colour(ConnectionState state) noexcept {
    switch (state) {
        case ConnectionState::disconnected: return "#9e9e9e";
        case ConnectionState::connecting: return "#42a5f5";
        case ConnectionState::connected: return "#43a047";
        case ConnectionState::reconnecting: return "#fb8c00";
        case ConnectionState::aborted: return "#8e24aa";
        case ConnectionState::failed: return "#e53935";
        case ConnectionState::disconnecting: return "#78909c";
    }
    return "#000000";
}

std::string xml_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c; break;
        }
    }
    return out;
}

std::string render_table(const RecordedTimeline& timeline, const CheckResult& check) {
    constexpr std::size_t kMaxColumn = 52;
    std::map<std::string, std::size_t> width;
    for (const auto& lane : timeline.lanes) {
        width[lane] =
            std::min<std::size_t>(std::max<std::size_t>(display_width(lane_header(timeline, lane)), 12), kMaxColumn);
    }
    for (const auto& e : timeline.entries) {
        if (auto w = width.find(e.lane); w != width.end()) {
            w->second = std::min(std::max(w->second, display_width(e.text)), kMaxColumn);
        }
    }
    const auto row = [&](const std::string& label, const std::string& spec, const std::string& real,
                         const std::string& lane, const std::string& text) {
        std::string line = "  " + pad(label, 5) + " " + pad(spec, 10) + " " + pad(real, 9) + " ";
        for (std::size_t l = 0; l < timeline.lanes.size(); ++l) {
            const bool last = l + 1 == timeline.lanes.size();
            const std::string cell = timeline.lanes[l] == lane ? text : "";
            line += "| " + (last ? cell : pad(cell, width[timeline.lanes[l]])) + (last ? "" : " ");
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        return line + "\n";
    };

    std::string out;
    std::string header = "  " + pad("", 5) + " " + pad("spec time", 10) + " " + pad("real", 9) + " ";
    for (std::size_t l = 0; l < timeline.lanes.size(); ++l) {
        const bool last = l + 1 == timeline.lanes.size();
        const std::string name = lane_header(timeline, timeline.lanes[l]);
        header += "| " + (last ? name : pad(name, width[timeline.lanes[l]])) + (last ? "" : " ");
    }
    out += header + "\n";
    out += "  " + std::string(std::max<std::size_t>(display_width(header), 60) - 2, '-') + "\n";
    for (const long r : rows_in_time_order(timeline)) {
        if (r < 0) {
            const auto& m = timeline.marks[static_cast<std::size_t>(-1 - r)];
            out += "  " + pad(m.name, 5) + " " + pad(format("%+.2f s", m.at), 10) + " " +
                   pad(format("%+.0f ms", m.at * timeline.time_scale * 1000.0), 9) + " |== " + m.text + " ==\n";
            continue;
        }
        const auto index = static_cast<std::size_t>(r);
        const auto& e = timeline.entries[index];
        const auto label = check.labels.find(index);
        out += row(label != check.labels.end() ? label->second : "", format("%+.2f s", e.at),
                   format("%+.0f ms", e.at * timeline.time_scale * 1000.0), e.lane, e.text);
    }
    return out;
}

std::string render_svg(const std::vector<TimelinePanel>& panels) {
    double height = kLegendHeight + 8;
    for (const auto& p : panels) {
        height += panel_height(p.timeline);
    }
    std::ostringstream out;
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(kWidth) << "\" height=\"" << num(height)
        << "\" viewBox=\"0 0 " << num(kWidth) << " " << num(height) << "\" font-family=\"DejaVu Sans, Helvetica, "
        << "Arial, sans-serif\">\n";
    out << "<!-- Written by relink-demo (examples/demo): what each relink client observed in the demo's scenarios, one "
           "lane per client, state bands coloured by state, a marker per event, times in spec seconds. -->\n";
    out << "<title>relink: what each client observed, in spec time</title>\n";
    out << "<rect x=\"0\" y=\"0\" width=\"" << num(kWidth) << "\" height=\"" << num(height)
        << "\" fill=\"#ffffff\"/>\n";
    double top = 6;
    for (const auto& p : panels) {
        render_panel(out, p, top);
        top += panel_height(p.timeline);
    }
    // Legend: the state colours, then the marker shapes.
    out << "<g class=\"legend\">\n";
    double x = 12;
    const double y = top + 10;
    for (const auto state : {ConnectionState::disconnected, ConnectionState::connecting, ConnectionState::connected,
                             ConnectionState::reconnecting, ConnectionState::aborted, ConnectionState::failed,
                             ConnectionState::disconnecting}) {
        const std::string name(to_string(state));
        out << "<rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"14\" height=\"14\" fill=\""
            << state_colour(state) << "\"/><text x=\"" << num(x + 18) << "\" y=\"" << num(y + 11)
            << "\" font-size=\"11\">" << name << "</text>\n";
        x += 28 + 7.2 * static_cast<double>(name.size());
    }
    x = 12;
    for (const auto kind : {EventKind::connection_lost, EventKind::joined, EventKind::member, EventKind::channel,
                            EventKind::message, EventKind::continuity, EventKind::call}) {
        const std::string name = to_string(kind);
        out << marker_shape(kind, x + 6, y + 31) << "<text x=\"" << num(x + 16) << "\" y=\"" << num(y + 35)
            << "\" font-size=\"11\">" << name << "</text>\n";
        x += 34 + 7.0 * static_cast<double>(name.size());
    }
    out << "</g>\n</svg>\n";
    return out.str();
}

std::string render_html(const std::string& title, const std::string& summary,
                        const std::vector<TimelinePanel>& panels) {
    std::ostringstream out;
    out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << xml_escape(title)
        << "</title>\n<style>\n"
        << "body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 2em; color: #212121; }\n"
        << "section { margin-bottom: 3em; }\n"
        << "pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 12px; }\n"
        << ".ok { color: #2e7d32; } .fail { color: #c62828; }\n"
        << "svg { max-width: 100%; height: auto; }\n"
        << "</style>\n</head>\n<body>\n";
    out << "<h1>" << xml_escape(title) << "</h1>\n<p>" << xml_escape(summary) << "</p>\n";
    for (const auto& p : panels) {
        out << "<section>\n<h2>" << xml_escape(p.timeline.title) << " <span class=\""
            << (p.check.ok ? "ok\">as specified" : "fail\">DIFFERS from the spec") << "</span></h2>\n";
        out << "<p>" << xml_escape(p.description) << "</p>\n";
        std::string svg = render_svg({p});
        if (const auto body = svg.find("<svg"); body != std::string::npos) {
            svg.erase(0, body);  // inline: without the XML declaration
        }
        out << svg;
        out << "<pre>" << xml_escape(render_table(p.timeline, p.check)) << "</pre>\n";
        out << "<pre>";
        for (const auto& line : p.check.lines) {
            out << "<span class=\"" << (line.rfind("[ ok ]", 0) == 0 ? "ok" : "fail") << "\">" << xml_escape(line)
                << "</span>\n";
        }
        out << "</pre>\n</section>\n";
    }
    out << "</body>\n</html>\n";
    return out.str();
}

}  // namespace relink::demo
