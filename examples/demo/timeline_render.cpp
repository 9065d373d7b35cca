// demo/timeline_render.cpp — the text table, the SVG picture and the HTML page of recorded timelines.
#include "demo/timeline_render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <optional>
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

/// Spec time → x. Piecewise linear: a gap between consecutive interesting times that is both longer than 40 s and
/// longer than a fifth of what stays linear (most of the 20 minutes before FAILED; the demo's other timelines last
/// under a minute and keep one scale) is squeezed into a short stretch of the axis (a "cut"), so that the rest keeps
/// a readable scale. A few seconds on each side of a cut stay on the linear scale, so that what happens right after
/// it (the give-up) is not pressed against it. The cut is drawn as a break (a zig-zag across the lanes, its length
/// and "not to scale" written under it); the bands keep their colour through it.
class TimeAxis {
public:
    struct Piece {
        double t0, t1, x0, x1;
        bool cut;
    };
    static constexpr double kBreakWidth = 92.0;

    TimeAxis(std::vector<double> times, double start, double end, double x0, double x1) {
        end = std::max(end, start + 1e-3);
        times.push_back(start);
        times.push_back(end);
        std::sort(times.begin(), times.end());
        times.erase(std::remove_if(times.begin(), times.end(), [&](double t) { return t < start || t > end; }),
                    times.end());
        times.erase(std::unique(times.begin(), times.end()), times.end());
        // The longest gaps first, each judged against what is left linear once the longer ones are cut.
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
            if (gap <= 40.0 || gap <= 0.2 * linear) {
                break;
            }
            gaps.emplace_back(a, b);
            linear -= gap;
        }
        // Context kept on each side of a cut: 15 % of what is linear (at least 1 s).
        const double context = std::max(1.0, 0.15 * linear);
        for (auto& [a, b] : gaps) {
            a += context;
            b -= context;
            linear += 2 * context;
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

    /// A tick step (spec seconds) that puts ticks at least ~70 px apart.
    [[nodiscard]] double tick_step() const {
        for (const double step : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0}) {
            if (step * px_per_second_ >= 70.0) {
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

constexpr double kWidth = 1400.0;
constexpr double kGutter = 176.0;  // lane names
constexpr double kRight = 28.0;
constexpr double kTitleHeight = 34.0;
constexpr double kMarksHeight = 36.0;  // two rows of the script's marks
constexpr double kCalloutRow = 16.0;   // a row of callouts above a band
constexpr double kBandHeight = 28.0;
constexpr std::size_t kCalloutRows = 3;
constexpr double kLaneHeight = kCalloutRows * kCalloutRow + 6 + kBandHeight + 24;  // callouts, band, event markers
constexpr double kAxisHeight = 50.0;
constexpr double kPanelGap = 18.0;
constexpr double kLegendHeight = 60.0;
// Average advance of a character of DejaVu Sans, per px of font size (to keep texts inside what they label), and of
// its bold face.
constexpr double kCharWidth = 0.62;
constexpr double kBoldCharWidth = 0.67;

std::string num(double value) {
    return format("%.1f", value);
}

/// The width a text takes at `font_size` px, roughly.
double text_width(const std::string& text, double font_size, bool bold = false) {
    return (bold ? kBoldCharWidth : kCharWidth) * font_size * static_cast<double>(display_width(text));
}

/// Black or white, whichever reads better on the state's colour (WCAG contrast; black on all but the dark blue).
const char* state_text_colour(ConnectionState state) noexcept {
    return state == ConnectionState::disconnecting ? "#ffffff" : "#000000";
}

/// The hatching of the states that must not be told apart by colour alone: DISCONNECTING (white stripes; DISCONNECTED
/// is plain light grey) and FAILED (dark stripes; RECONNECTING is plain orange). Empty for a plain fill.
const char* state_hatch(ConnectionState state) noexcept {
    switch (state) {
        case ConnectionState::disconnecting: return "disconnecting";
        case ConnectionState::failed: return "failed";
        default: return "";
    }
}

/// The fill of a state's band: its colour, or its hatch pattern (defined by pattern_defs with the same prefix).
std::string state_fill(ConnectionState state, const std::string& id_prefix) {
    const std::string hatch = state_hatch(state);
    return hatch.empty() ? std::string(state_colour(state)) : "url(#" + id_prefix + "hatch-" + hatch + ")";
}

/// The <defs> of the hatch patterns, their ids prefixed (several SVGs inline in one page need distinct ids).
std::string pattern_defs(const std::string& id_prefix) {
    std::ostringstream out;
    out << "<defs>";
    for (const auto state : {ConnectionState::disconnecting, ConnectionState::failed}) {
        const bool light = state == ConnectionState::disconnecting;
        out << "<pattern id=\"" << id_prefix << "hatch-" << state_hatch(state)
            << "\" patternUnits=\"userSpaceOnUse\" width=\"8\" height=\"8\" patternTransform=\"rotate("
            << (light ? "45" : "-45") << ")\"><rect width=\"8\" height=\"8\" fill=\"" << state_colour(state)
            << "\"/><line x1=\"2\" y1=\"0\" x2=\"2\" y2=\"8\" stroke=\"" << (light ? "#ffffff" : "#000000")
            << "\" stroke-width=\"2.5\" stroke-opacity=\"" << (light ? "0.5" : "0.3") << "\"/></pattern>";
    }
    out << "</defs>\n";
    return out.str();
}

const char* kind_colour(EventKind kind) {
    switch (kind) {
        case EventKind::state: return "#263238";
        case EventKind::connection_lost: return "#d55e00";
        case EventKind::joined: return "#009e73";
        case EventKind::channel: return "#0072b2";
        case EventKind::member: return "#cc79a7";
        case EventKind::stream: return "#56b4e9";
        case EventKind::message: return "#555555";
        case EventKind::continuity: return "#e69f00";
        case EventKind::token: return "#795548";
        case EventKind::call: return "#000000";
    }
    return "#000000";
}

/// What a marker kind means, for the legends.
const char* kind_meaning(EventKind kind) {
    switch (kind) {
        case EventKind::state: return "connection state";
        case EventKind::connection_lost: return "connection lost";
        case EventKind::joined: return "joined a channel";
        case EventKind::channel: return "channel state";
        case EventKind::member: return "someone joined or left";
        case EventKind::stream: return "stream added or removed";
        case EventKind::message: return "message";
        case EventKind::continuity: return "report after a reconnect";
        case EventKind::token: return "token";
        case EventKind::call: return "what the demo did, and the result";
    }
    return "";
}

/// A marker shape centred at (x, y) for an event kind.
std::string marker_shape(EventKind kind, double x, double y) {
    const std::string fill = kind_colour(kind);
    std::ostringstream out;
    switch (kind) {
        case EventKind::connection_lost:  // a diamond
            out << "<path d=\"M" << num(x) << " " << num(y - 6.5) << " L" << num(x + 6.5) << " " << num(y) << " L"
                << num(x) << " " << num(y + 6.5) << " L" << num(x - 6.5) << " " << num(y) << " Z\" fill=\"" << fill
                << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
        case EventKind::message:
        case EventKind::channel:  // a square
            out << "<rect x=\"" << num(x - 4.5) << "\" y=\"" << num(y - 4.5) << "\" width=\"9\" height=\"9\" fill=\""
                << fill << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
        case EventKind::call:
        case EventKind::continuity:  // a triangle
            out << "<path d=\"M" << num(x) << " " << num(y - 6.5) << " L" << num(x + 6) << " " << num(y + 4.5) << " L"
                << num(x - 6) << " " << num(y + 4.5) << " Z\" fill=\"" << fill
                << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
        default:  // a circle
            out << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"5\" fill=\"" << fill
                << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>";
            break;
    }
    return out.str();
}

/// "0", "12 s", "1.5 s", "20 min", "20 min 5 s".
std::string seconds_label(double t) {
    if (std::fabs(t) < 1e-9) {
        return "0";
    }
    if (std::fabs(t) < 60.0) {
        return std::fabs(t - std::round(t)) < 1e-6 ? format("%.0f s", t) : format("%.1f s", t);
    }
    const double minutes = std::floor(std::fabs(t) / 60.0);
    const double seconds = std::fabs(t) - 60.0 * minutes;
    std::string out = (t < 0 ? "-" : "") + format("%.0f min", minutes);
    if (seconds >= 0.5) {
        out += format(" %.0f s", seconds);
    }
    return out;
}

/// "10×" for time scale 0.1: how much faster than real life the demo played a timeline.
std::string speed_up(double time_scale) {
    return format("%g×", std::round(10.0 / time_scale) / 10.0);
}

/// How the picture is drawn.
struct SvgStyle {
    bool titles{true};      ///< each panel's title and verdict inside the picture (the page has them as headings)
    bool legend{true};      ///< the state colours and marker shapes at the bottom (the page has them in its box)
    std::string id_prefix;  ///< for the ids of the hatch patterns: distinct per SVG inline in one page
};

double panel_height(const RecordedTimeline& timeline, const SvgStyle& style) {
    return (style.titles ? kTitleHeight : 4.0) + kMarksHeight +
           kLaneHeight * static_cast<double>(timeline.lanes.size()) + kAxisHeight + kPanelGap;
}

/// Places texts in rows without overlap where it can: each row keeps the spans already taken.
class RowPlacer {
public:
    explicit RowPlacer(std::size_t rows) : taken_(rows) {}

    /// The first row where [x0, x1] overlaps nothing, or nullopt.
    std::optional<std::size_t> free_row(double x0, double x1) const {
        for (std::size_t row = 0; row < taken_.size(); ++row) {
            if (std::none_of(taken_[row].begin(), taken_[row].end(),
                             [&](const auto& span) { return x0 < span.second + 8 && span.first < x1 + 8; })) {
                return row;
            }
        }
        return std::nullopt;
    }
    void take(std::size_t row, double x0, double x1) { taken_[row].emplace_back(x0, x1); }

    /// A text of `width` for the moment `x`: right of it if that fits in a row, else left of it, else right of it in
    /// the last row. Returns the row and whether the text is left of x (text-anchor end).
    std::pair<std::size_t, bool> place(double x, double width, double left_limit, double right_limit) {
        const bool right_fits = x + width <= right_limit;
        const bool left_fits = x - width >= left_limit;
        if (right_fits) {
            if (const auto row = free_row(x, x + width)) {
                take(*row, x, x + width);
                return {*row, false};
            }
        }
        if (left_fits) {
            if (const auto row = free_row(x - width, x)) {
                take(*row, x - width, x);
                return {*row, true};
            }
        }
        const bool flip = !right_fits;
        take(taken_.size() - 1, flip ? x - width : x, flip ? x : x + width);
        return {taken_.size() - 1, flip};
    }

private:
    std::vector<std::vector<std::pair<double, double>>> taken_;
};

/// `text` in lines of at most `width` characters, broken at spaces (a longer word gets a line of its own).
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
    std::vector<std::string> lines;
    std::istringstream words(text);
    for (std::string word; words >> word;) {
        if (!lines.empty() && display_width(lines.back()) + 1 + display_width(word) <= width) {
            lines.back() += " " + word;
        } else {
            lines.push_back(word);
        }
    }
    return lines;
}

/// One panel at vertical offset `top`.
void render_panel(std::ostringstream& out, const TimelinePanel& panel, double top, const SvgStyle& style) {
    const RecordedTimeline& tl = panel.timeline;
    // The axis keeps its linear scale around the moments the story is about: the script's marks and the events the
    // check labelled or captioned (all events when it did neither). Other events in a long quiet stretch (at 100
    // times the speed, a busy machine's pause can show as a short outage of UID2) do not split it: they are drawn
    // in the squeezed stretch.
    std::vector<double> times{0.0};
    double start = 0.0;
    double last = 0.0;
    const bool story = !panel.check.labels.empty() || !panel.check.captions.empty();
    for (std::size_t i = 0; i < tl.entries.size(); ++i) {
        const double at = tl.entries[i].at;
        start = std::min(start, at);
        last = std::max(last, at);
        if (!story || panel.check.labels.count(i) != 0 || panel.check.captions.count(i) != 0) {
            times.push_back(at);
        }
    }
    for (const auto& m : tl.marks) {
        times.push_back(m.at);
        start = std::min(start, m.at);
        last = std::max(last, m.at);
    }
    const double end = std::max(tl.end, last);
    const double right = kWidth - kRight;
    const TimeAxis axis(times, start, end, kGutter, right);
    // The callouts are drawn last, over the breaks of the axis, and their texts (with a white halo) over every
    // callout's leader line, so that none is hidden.
    std::ostringstream leaders;
    std::ostringstream callouts;
    const double marks_top = top + (style.titles ? kTitleHeight : 4.0);
    const double lanes_top = marks_top + kMarksHeight;
    const double lanes_bottom = lanes_top + kLaneHeight * static_cast<double>(tl.lanes.size());
    const std::string verdict = panel.check.ok ? "as documented" : "DIFFERS from the documented timeline";

    out << "<g class=\"panel\" data-title=\"" << xml_escape(tl.title) << "\">\n";
    if (style.titles) {
        out << "<text class=\"title\" x=\"12\" y=\"" << num(top + 21) << "\" font-size=\"17\" font-weight=\"bold\">"
            << xml_escape(tl.title) << "</text>\n";
        out << "<text class=\"subtitle\" x=\"" << num(right) << "\" y=\"" << num(top + 21)
            << "\" font-size=\"13\" text-anchor=\"end\" fill=\"" << (panel.check.ok ? "#1b5e20" : "#b71c1c") << "\">"
            << xml_escape(verdict) << "</text>\n";
    }

    for (std::size_t l = 0; l < tl.lanes.size(); ++l) {
        const std::string& lane = tl.lanes[l];
        const double y = lanes_top + kLaneHeight * static_cast<double>(l);
        // From the top: rows of callouts, the state band, a row of event markers.
        const double band_top = y + kCalloutRows * kCalloutRow + 6;
        const double marker_y = band_top + kBandHeight + 11;
        out << "<g class=\"lane\" data-lane=\"" << xml_escape(lane) << "\">\n";
        out << "<rect class=\"lane-background\" x=\"" << num(kGutter) << "\" y=\"" << num(band_top) << "\" width=\""
            << num(right - kGutter) << "\" height=\"" << num(kBandHeight) << "\" fill=\"#f4f4f4\"/>\n";
        out << "<text class=\"lane-name\" x=\"12\" y=\"" << num(band_top + 12) << "\" font-size=\"15\" "
            << "font-weight=\"bold\">" << xml_escape(lane) << "</text>\n";
        if (const auto detail = tl.details.find(lane); detail != tl.details.end()) {
            // Within the gutter: on two lines when it is long.
            const auto lines = wrap(detail->second, static_cast<std::size_t>((kGutter - 20) / (kCharWidth * 11.5)));
            for (std::size_t n = 0; n < lines.size() && n < 2; ++n) {
                out << "<text class=\"lane-detail\" x=\"12\" y=\"" << num(band_top + 27 + 13 * static_cast<double>(n))
                    << "\" font-size=\"11.5\" fill=\"#555555\">" << xml_escape(lines[n]) << "</text>\n";
            }
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
                << "\" width=\"" << num(w) << "\" height=\"" << num(kBandHeight) << "\" fill=\""
                << state_fill(*e.state, style.id_prefix) << "\" stroke=\"#ffffff\" stroke-width=\"1\"><title>"
                << xml_escape(lane + ": " + e.text + " from " + seconds_label(e.at)) << "</title></rect>\n";
            // A state the SDK does not leave by itself (it gave up, or was kicked): a heavy line where it begins.
            if (*e.state == ConnectionState::failed || *e.state == ConnectionState::aborted) {
                out << "<line class=\"end-of-retries\" x1=\"" << num(x0) << "\" y1=\"" << num(band_top - 4)
                    << "\" x2=\"" << num(x0) << "\" y2=\"" << num(band_top + kBandHeight + 4)
                    << "\" stroke=\"#000000\" stroke-width=\"3\"/>\n";
            }
            // The state and reason when they fit, else the state alone, else nothing (the tooltip says it).
            std::string caption = e.text;
            if (const auto slash = caption.find(" / "); slash != std::string::npos) {
                caption.replace(slash, 3, " · ");
            }
            // From the band's start, or past the zig-zag of a break it starts in, up to the band's end or the next
            // zig-zag, whichever comes first.
            double label_x = x0 + 5;
            double room_end = x0 + w;
            for (const auto& piece : axis.pieces()) {
                const double zigzag = (piece.x0 + piece.x1) / 2;
                if (!piece.cut || zigzag + 12 < label_x) {
                    continue;
                }
                if (zigzag - 12 <= label_x) {
                    label_x = zigzag + 12;
                    continue;
                }
                room_end = std::min(room_end, zigzag - 12);
                break;
            }
            const double room = room_end - label_x + 5;
            if (room < text_width(caption, 12.5) + 10) {
                caption = room >= text_width(state, 12.5) + 10 ? state : "";
            }
            if (!caption.empty()) {
                out << "<text class=\"band-label\" x=\"" << num(label_x) << "\" y=\"" << num(band_top + 18.5)
                    << "\" font-size=\"12.5\" fill=\"" << state_text_colour(*e.state) << "\">" << xml_escape(caption)
                    << "</text>\n";
            }
        }
        // Markers for the other events below the band (events at nearly the same time side by side, in order), and
        // the callouts (what the documented timeline says at that moment, in plain words) above it.
        RowPlacer callout_rows(kCalloutRows);
        double last_marker_x = -1e9;
        for (std::size_t i = 0; i < tl.entries.size(); ++i) {
            const auto& e = tl.entries[i];
            if (e.lane != lane) {
                continue;
            }
            const double x = axis.x(e.at);
            const auto caption = panel.check.captions.find(i);
            const std::string tooltip =
                lane + " at " + seconds_label(e.at) + ": " + e.text +
                (caption != panel.check.captions.end() ? " (" + caption->second + ")" : std::string());
            if (e.kind != EventKind::state) {
                // Side by side when a few come together; where many crowd (a squeezed stretch of the axis) they
                // stay on their moment and overlap, rather than drift away from it.
                const double pushed = std::max(x, last_marker_x + 13);
                const double marker_x = pushed - x <= 30 ? pushed : x;
                last_marker_x = marker_x;
                out << "<g class=\"marker\" data-kind=\"" << to_string(e.kind) << "\">"
                    << marker_shape(e.kind, marker_x, marker_y) << "<title>" << xml_escape(tooltip) << "</title></g>\n";
            }
            if (caption != panel.check.captions.end()) {
                const auto [row, flip] = callout_rows.place(x, text_width(caption->second, 12.5, true) + 4, 4, right);
                const double text_y = band_top - 6 - kCalloutRow * static_cast<double>(row);
                leaders << "<line class=\"leader\" x1=\"" << num(x) << "\" y1=\"" << num(text_y + 3) << "\" x2=\""
                        << num(x) << "\" y2=\"" << num(band_top) << "\" stroke=\"#000000\" stroke-width=\"1.5\"/>\n";
                callouts << "<g class=\"callout\" data-lane=\"" << xml_escape(lane) << "\"><text x=\""
                         << num(flip ? x - 3 : x + 3) << "\" y=\"" << num(text_y)
                         << "\" font-size=\"12.5\" font-weight=\"bold\" fill=\"#000000\" stroke=\"#ffffff\" "
                         << "stroke-width=\"4\" stroke-linejoin=\"round\" paint-order=\"stroke\""
                         << (flip ? " text-anchor=\"end\"" : "") << ">" << xml_escape(caption->second)
                         << "</text><title>" << xml_escape(tooltip) << "</title></g>\n";
            }
        }
        out << "</g>\n";
    }

    // The script's marks: a dashed line across the lanes, the text above them (two rows when crowded).
    RowPlacer mark_rows(2);
    for (const auto& m : tl.marks) {
        const double x = axis.x(m.at);
        const auto [row, flip] = mark_rows.place(x, text_width(m.text, 12) + 4, kGutter, right);
        const double text_y = marks_top + (row == 0 ? 14 : 30);
        out << "<g class=\"mark\" data-mark=\"" << xml_escape(m.name) << "\">"
            << "<line x1=\"" << num(x) << "\" y1=\"" << num(text_y + 3) << "\" x2=\"" << num(x) << "\" y2=\""
            << num(lanes_bottom + 4) << "\" stroke=\"#333333\" stroke-width=\"1.2\" stroke-dasharray=\"5 4\"/>"
            << "<text x=\"" << num(flip ? x - 4 : x + 4) << "\" y=\"" << num(text_y) << "\" font-size=\"12\""
            << (flip ? " text-anchor=\"end\"" : "") << " font-style=\"italic\" fill=\"#222222\">" << xml_escape(m.text)
            << "</text>"
            << "<title>" << xml_escape(m.text + " at " + seconds_label(m.at)) << "</title></g>\n";
    }

    // The axis: ticks on the linear pieces, a break across the lanes and the axis where time is cut out.
    const double axis_y = lanes_bottom + 8;
    out << "<g class=\"axis\">\n";
    out << "<line x1=\"" << num(kGutter) << "\" y1=\"" << num(axis_y) << "\" x2=\"" << num(right) << "\" y2=\""
        << num(axis_y) << "\" stroke=\"#333333\" stroke-width=\"1\"/>\n";
    const double step = axis.tick_step();
    double last_label_end = -1e9;
    for (const auto& piece : axis.pieces()) {
        if (piece.cut) {
            // Two parallel zig-zags with white between them, from above the first lane to below the axis: the
            // classic sign of a cut axis. The bands run on under it in their colour: the state did not change.
            const double mid = (piece.x0 + piece.x1) / 2;
            std::string path;
            int n = 0;
            for (double yy = lanes_top - 4; yy <= axis_y + 8; yy += 7, ++n) {
                path += (n == 0 ? "M" : " L") + num(mid + ((n % 2) != 0 ? 4 : -4)) + " " + num(yy);
            }
            out << "<g class=\"cut\" data-seconds=\"" << format("%.0f", piece.t1 - piece.t0) << "\">"
                << "<path d=\"" << path << "\" fill=\"none\" stroke=\"#ffffff\" stroke-width=\"8\"/>"
                << "<path d=\"" << path << "\" transform=\"translate(-4.5 0)\" fill=\"none\" stroke=\"#333333\" "
                << "stroke-width=\"1.3\"/>"
                << "<path d=\"" << path << "\" transform=\"translate(4.5 0)\" fill=\"none\" stroke=\"#333333\" "
                << "stroke-width=\"1.3\"/>"
                << "<text x=\"" << num(mid) << "\" y=\"" << num(axis_y + 22) << "\" font-size=\"12\" "
                << "font-weight=\"bold\" text-anchor=\"middle\">" << xml_escape(seconds_label(piece.t1 - piece.t0))
                << "</text><text x=\"" << num(mid) << "\" y=\"" << num(axis_y + 37) << "\" font-size=\"11\" "
                << "text-anchor=\"middle\" fill=\"#444444\">not to scale</text>"
                << "<title>"
                << xml_escape(seconds_label(piece.t1 - piece.t0) + " (from " + seconds_label(piece.t0) + " to " +
                              seconds_label(piece.t1) + ") squeezed into " + num(piece.x1 - piece.x0) +
                              " px: not to scale")
                << "</title></g>\n";
            last_label_end = piece.x1;
            continue;
        }
        for (double t = std::ceil(piece.t0 / step - 1e-9) * step; t <= piece.t1 + 1e-9; t += step) {
            const double x = axis.x(t);
            out << "<line x1=\"" << num(x) << "\" y1=\"" << num(axis_y) << "\" x2=\"" << num(x) << "\" y2=\""
                << num(axis_y + 5) << "\" stroke=\"#333333\"/>";
            const std::string label = seconds_label(t);
            const double half = text_width(label, 11.5) / 2;
            if (x - half >= last_label_end + 10 && x + half <= kWidth) {
                out << "<text x=\"" << num(x) << "\" y=\"" << num(axis_y + 19)
                    << "\" font-size=\"11.5\" text-anchor=\"middle\">" << xml_escape(label) << "</text>";
                last_label_end = x + half;
            }
            out << "\n";
        }
    }
    out << "<text x=\"12\" y=\"" << num(axis_y + 14) << "\" font-size=\"11.5\" fill=\"#444444\">"
        << "time from UID1's start</text>\n";
    out << "<text x=\"12\" y=\"" << num(axis_y + 29) << "\" font-size=\"11.5\" fill=\"#444444\">"
        << xml_escape("(played " + speed_up(tl.time_scale) + " faster)") << "</text>\n";
    out << "</g>\n" << leaders.str() << callouts.str() << "</g>\n";
}

std::string svg_document(const std::vector<TimelinePanel>& panels, const SvgStyle& style) {
    double height = (style.legend ? kLegendHeight : 0.0) + 8;
    for (const auto& p : panels) {
        height += panel_height(p.timeline, style);
    }
    std::ostringstream out;
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(kWidth) << "\" height=\"" << num(height)
        << "\" viewBox=\"0 0 " << num(kWidth) << " " << num(height) << "\" font-family=\"DejaVu Sans, Helvetica, "
        << "Arial, sans-serif\">\n";
    out << "<!-- Written by relink-demo (examples/demo): what each relink client observed in the demo's scenarios, one "
           "lane per client, a band per connection state, a marker per other event, what the documented timeline "
           "says in words above the bands. -->\n";
    out << "<title>relink: what each client observed</title>\n";
    out << pattern_defs(style.id_prefix);
    out << "<rect x=\"0\" y=\"0\" width=\"" << num(kWidth) << "\" height=\"" << num(height)
        << "\" fill=\"#ffffff\"/>\n";
    double top = 4;
    for (const auto& p : panels) {
        render_panel(out, p, top, style);
        top += panel_height(p.timeline, style);
    }
    if (style.legend) {
        // The state colours, then the marker shapes.
        out << "<g class=\"legend\">\n";
        double x = 12;
        const double y = top + 6;
        for (const auto state : {ConnectionState::disconnected, ConnectionState::connecting, ConnectionState::connected,
                                 ConnectionState::reconnecting, ConnectionState::aborted, ConnectionState::failed,
                                 ConnectionState::disconnecting}) {
            const std::string name(to_string(state));
            out << "<rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"26\" height=\"16\" fill=\""
                << state_fill(state, style.id_prefix) << "\" stroke=\"#666666\" stroke-width=\"0.5\"/><text x=\""
                << num(x + 31) << "\" y=\"" << num(y + 12.5) << "\" font-size=\"12.5\">" << name << "</text>\n";
            x += 48 + text_width(name, 12.5);
        }
        x = 12;
        for (const auto kind : {EventKind::connection_lost, EventKind::joined, EventKind::member, EventKind::channel,
                                EventKind::message, EventKind::continuity, EventKind::call}) {
            const std::string name = kind_meaning(kind);
            out << marker_shape(kind, x + 6, y + 34) << "<text x=\"" << num(x + 16) << "\" y=\"" << num(y + 38)
                << "\" font-size=\"12\">" << xml_escape(name) << "</text>\n";
            x += 40 + text_width(name, 12);
        }
        out << "</g>\n";
    }
    out << "</svg>\n";
    return out.str();
}

/// An inline SVG of one state's swatch, for the page's legend.
std::string state_swatch(ConnectionState state) {
    const std::string prefix = "legend-" + std::string(to_string(state)) + "-";
    std::ostringstream out;
    out << "<svg class=\"swatch\" xmlns=\"http://www.w3.org/2000/svg\" width=\"34\" height=\"18\" viewBox=\"0 0 34 "
           "18\" aria-hidden=\"true\">"
        << pattern_defs(prefix) << "<rect x=\"0.5\" y=\"0.5\" width=\"33\" height=\"17\" fill=\""
        << state_fill(state, prefix) << "\" stroke=\"#666666\" stroke-width=\"0.5\"/></svg>";
    return out.str();
}

/// An inline SVG of a marker shape, for the page's legend.
std::string marker_swatch(EventKind kind) {
    return "<svg class=\"swatch\" xmlns=\"http://www.w3.org/2000/svg\" width=\"16\" height=\"16\" viewBox=\"0 0 16 "
           "16\" aria-hidden=\"true\">" +
           marker_shape(kind, 8, 8) + "</svg>";
}

/// What a state means to the app, in a phrase (docs/state-machine.md, section 1).
const char* state_meaning(ConnectionState state) {
    switch (state) {
        case ConnectionState::disconnected: return "no session: not started yet, or the app logged out or left";
        case ConnectionState::connecting: return "the first login is under way";
        case ConnectionState::connected: return "logged in, and the link works";
        case ConnectionState::reconnecting:
            return "the link broke; the SDK is getting it back by itself (the app does nothing)";
        case ConnectionState::aborted: return "kicked (e.g. the same user logged in elsewhere); the SDK does not retry";
        case ConnectionState::failed: return "the SDK gave up; it makes no more attempts";
        case ConnectionState::disconnecting: return "leaving: waiting (at most 2 s) for the server to confirm";
    }
    return "";
}

}  // namespace

const char* state_colour(ConnectionState state) noexcept {
    // The Okabe–Ito palette, which stays distinguishable to readers with any of the common colour-vision
    // deficiencies, and a neutral light grey for "no session" (docs/decisions.md, "The demo page").
    switch (state) {
        case ConnectionState::disconnected: return "#d9d9d9";
        case ConnectionState::connecting: return "#56b4e9";
        case ConnectionState::connected: return "#009e73";
        case ConnectionState::reconnecting: return "#e69f00";
        case ConnectionState::aborted: return "#cc79a7";
        case ConnectionState::failed: return "#d55e00";
        case ConnectionState::disconnecting: return "#0072b2";
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
    return svg_document(panels, SvgStyle{true, true, "timeline-"});
}

std::string render_html(const std::string& title, const std::string& summary,
                        const std::vector<TimelinePanel>& panels) {
    std::ostringstream out;
    out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" << xml_escape(title)
        << "</title>\n<style>\n"
        << "body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 1.5em auto; padding: 0 1.5em;"
           " max-width: 1440px; color: #1a1a1a; line-height: 1.45; }\n"
        << "h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.3em; margin: 0 0 0.3em; }\n"
        << "p, li, dd { max-width: 75em; }\n"
        << ".how-to { border: 2px solid #0072b2; border-radius: 6px; background: #f2f8fc; padding: 0.6em 1.2em;"
           " margin: 1.2em 0 1.6em; }\n"
        << ".how-to h2 { margin-top: 0.4em; }\n"
        << ".how-to ul { padding-left: 1.2em; } .how-to li { margin: 0.35em 0; }\n"
        << ".legend { display: grid; grid-template-columns: repeat(auto-fill, minmax(30em, 1fr)); gap: 0.3em 1.5em;"
           " margin: 0.4em 0 0.6em; padding: 0; list-style: none; }\n"
        << ".legend li { display: flex; align-items: center; gap: 0.5em; margin: 0; }\n"
        << ".swatch { flex: none; vertical-align: middle; }\n"
        << "code, .state { font-family: 'DejaVu Sans Mono', monospace; font-size: 0.92em; }\n"
        << "nav ol { padding-left: 1.4em; } nav li { margin: 0.15em 0; }\n"
        << "section { margin: 2.2em 0 2.8em; border-top: 1px solid #cccccc; padding-top: 1em; }\n"
        << "figure { margin: 0.6em 0; } svg.picture { width: 100%; height: auto; display: block; }\n"
        << ".ok { color: #1b5e20; } .fail { color: #b71c1c; font-weight: bold; }\n"
        << ".verdict { font-size: 0.8em; font-weight: normal; margin-left: 0.6em; }\n"
        << "details { margin: 0.5em 0; } summary { cursor: pointer; font-weight: bold; color: #0b4f7d; }\n"
        << "table.events { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; width: 100%; }\n"
        << "table.events th, table.events td { border-bottom: 1px solid #e3e3e3; padding: 0.25em 0.6em;"
           " text-align: left; vertical-align: top; }\n"
        << "table.events th { background: #f0f0f0; } table.events td.time { white-space: nowrap; }\n"
        << "table.events tr.mark td { background: #fff8e1; font-style: italic; }\n"
        << ".caption { display: block; font-size: 0.9em; font-weight: bold; }\n"
        << ".dot { display: inline-block; width: 0.8em; height: 0.8em; border: 1px solid #666; margin-right: 0.35em;"
           " vertical-align: -0.05em; }\n"
        << "ul.checks { padding-left: 1.2em; font-size: 0.9em; } ul.checks li { margin: 0.2em 0; }\n"
        << "ul.checks li.fail { white-space: pre-wrap; font-family: 'DejaVu Sans Mono', monospace; }\n"
        << "dl.glossary { display: grid; grid-template-columns: max-content 1fr; gap: 0.1em 1em; font-size: 0.9em; }\n"
        << "dl.glossary dt { font-weight: bold; } dl.glossary dd { margin: 0; }\n"
        << "</style>\n</head>\n<body>\n";
    out << "<h1>" << xml_escape(title) << "</h1>\n<p>" << xml_escape(summary) << "</p>\n";

    // How to read the pictures: what is played, what the rows, colours, shapes, lines and the axis mean.
    out << "<aside class=\"how-to\">\n<h2>How to read this</h2>\n<ul>\n"
        << "<li>Each picture is one scenario, played for real on this machine: a relinkd server, two apps "
           "(<b>UID1</b> and <b>UID2</b>) in one channel, and between UID1 and the server a proxy that the demo "
           "uses to break UID1's network.</li>\n"
        << "<li>One row per app. Its coloured bar is the connection state the SDK reports to that app; the words in "
           "it are the state and the reason the SDK gave (<span class=\"state\">RECONNECTING · "
           "INTERRUPTED</span>).</li>\n</ul>\n<ul class=\"legend\">\n";
    for (const auto state : {ConnectionState::connecting, ConnectionState::connected, ConnectionState::reconnecting,
                             ConnectionState::failed, ConnectionState::aborted, ConnectionState::disconnected,
                             ConnectionState::disconnecting}) {
        out << "<li>" << state_swatch(state) << "<span><span class=\"state\">" << to_string(state)
            << "</span>: " << xml_escape(state_meaning(state)) << "</span></li>\n";
    }
    out << "</ul>\n<ul>\n"
        << "<li><b>Bold notes</b> above a bar say in plain words what the documentation promises at that moment, "
           "for example <b>4 s without a word from the server → RECONNECTING</b>. A heavy black line starts a state "
           "the SDK does not leave by itself (it gave up, or the app was kicked).</li>\n"
        << "<li>Dashed lines are what the demo did (<i>UID1's link dies silently</i>). The shapes under a bar are "
           "the other events the app received:</li>\n</ul>\n<ul class=\"legend\">\n";
    for (const auto kind : {EventKind::connection_lost, EventKind::joined, EventKind::member, EventKind::channel,
                            EventKind::message, EventKind::continuity, EventKind::call}) {
        out << "<li>" << marker_swatch(kind) << "<span>" << xml_escape(kind_meaning(kind)) << "</span></li>\n";
    }
    out << "</ul>\n<ul>\n"
        << "<li>Time runs left to right, in the seconds an app would live through, from the moment UID1 starts (0). "
           "The demo plays them faster than real life (10 times; 100 times for the 20-minute give-up). A long quiet "
           "wait is squeezed into a short stretch, <b>not to scale</b>: a zig-zag crosses the picture there and the "
           "length of the wait is written under it; the bars keep going through it.</li>\n"
        << "<li>Hover over anything for its exact time. Each scenario is checked against the documented timeline "
           "(<code>docs/state-machine.md</code>, section 6); under each picture, folded away, are every event in "
           "order and every check.</li>\n"
        << "</ul>\n</aside>\n";

    // A table of contents with the verdicts.
    out << "<nav>\n<h2>The scenarios</h2>\n<ol>\n";
    for (std::size_t n = 0; n < panels.size(); ++n) {
        out << "<li><a href=\"#scenario-" << n + 1 << "\">" << xml_escape(panels[n].timeline.title) << "</a> <span "
            << (panels[n].check.ok ? "class=\"ok\">as documented" : "class=\"fail\">DIFFERS") << "</span></li>\n";
    }
    out << "</ol>\n</nav>\n";

    for (std::size_t n = 0; n < panels.size(); ++n) {
        const auto& p = panels[n];
        const RecordedTimeline& tl = p.timeline;
        out << "<section id=\"scenario-" << n + 1 << "\">\n<h2>" << n + 1 << ". " << xml_escape(tl.title)
            << "<span class=\"verdict "
            << (p.check.ok ? "ok\">as documented" : "fail\">DIFFERS from the documented timeline") << "</span></h2>\n";
        out << "<p>" << xml_escape(p.description) << "</p>\n";
        std::string svg = svg_document({p}, SvgStyle{false, false, "p" + std::to_string(n + 1) + "-"});
        if (const auto body = svg.find("<svg"); body != std::string::npos) {
            svg.erase(0, body);  // inline: without the XML declaration
            svg.insert(4, " class=\"picture\"");
        }
        out << "<figure>\n" << svg << "</figure>\n";

        // Every event in time order: a column per lane, a row per entry or mark, the callouts under their event.
        out << "<details>\n<summary>Every event, in order (" << tl.entries.size() << " events, " << tl.marks.size()
            << " actions of the demo)</summary>\n<table class=\"events\">\n<tr><th>time</th><th>real time</th>";
        for (const auto& lane : tl.lanes) {
            out << "<th>" << xml_escape(lane_header(tl, lane)) << "</th>";
        }
        out << "</tr>\n";
        for (const long r : rows_in_time_order(tl)) {
            if (r < 0) {
                const auto& m = tl.marks[static_cast<std::size_t>(-1 - r)];
                out << "<tr class=\"mark\"><td class=\"time\">" << xml_escape(format("%+.2f s", m.at))
                    << "</td><td class=\"time\">" << xml_escape(format("%+.0f ms", m.at * tl.time_scale * 1000.0))
                    << "</td><td colspan=\"" << tl.lanes.size() << "\">" << xml_escape(m.text) << "</td></tr>\n";
                continue;
            }
            const auto index = static_cast<std::size_t>(r);
            const auto& e = tl.entries[index];
            out << "<tr><td class=\"time\">" << xml_escape(format("%+.2f s", e.at)) << "</td><td class=\"time\">"
                << xml_escape(format("%+.0f ms", e.at * tl.time_scale * 1000.0)) << "</td>";
            for (const auto& lane : tl.lanes) {
                out << "<td>";
                if (lane == e.lane) {
                    if (e.state) {
                        out << "<span class=\"dot\" style=\"background: " << state_colour(*e.state) << "\"></span>";
                    }
                    out << xml_escape(e.text);
                    if (const auto caption = p.check.captions.find(index); caption != p.check.captions.end()) {
                        out << "<span class=\"caption\">" << xml_escape(caption->second) << "</span>";
                    }
                }
                out << "</td>";
            }
            out << "</tr>\n";
        }
        out << "</table>\n</details>\n";

        // The checks, with the names they use explained: the moments of the documented timeline and the demo's
        // actions.
        const auto passed =
            static_cast<std::size_t>(std::count_if(p.check.lines.begin(), p.check.lines.end(),
                                                   [](const std::string& l) { return l.rfind("[ ok ]", 0) == 0; }));
        out << "<details" << (p.check.ok ? "" : " open") << ">\n<summary>The checks against the documented timeline ("
            << passed << " of " << p.check.lines.size() << " passed)</summary>\n";
        out << "<p>Times in the checks count from the moments named below; “spec” is the window the documentation "
               "gives, “allowed” that window widened by the real-time slack a busy machine needs.</p>\n"
            << "<dl class=\"glossary\">\n";
        std::vector<std::pair<double, std::string>> names;
        for (const auto& [index, label] : p.check.labels) {
            const auto caption = p.check.captions.find(index);
            const auto& e = tl.entries[index];
            names.emplace_back(
                e.at, "<dt>" + xml_escape(label) + "</dt><dd>" + xml_escape(e.lane + ": " + e.text) +
                          (caption != p.check.captions.end() ? " — " + xml_escape(caption->second) : std::string()) +
                          "</dd>\n");
        }
        for (const auto& m : tl.marks) {
            names.emplace_back(m.at, "<dt>" + xml_escape(m.name) + "</dt><dd>" + xml_escape(m.text) + "</dd>\n");
        }
        std::stable_sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [at, html] : names) {
            out << html;
        }
        out << "</dl>\n<ul class=\"checks\">\n";
        for (const auto& line : p.check.lines) {
            out << "<li class=\"" << (line.rfind("[ ok ]", 0) == 0 ? "ok" : "fail") << "\">" << xml_escape(line)
                << "</li>\n";
        }
        out << "</ul>\n</details>\n</section>\n";
    }
    out << "</body>\n</html>\n";
    return out.str();
}

}  // namespace relink::demo
