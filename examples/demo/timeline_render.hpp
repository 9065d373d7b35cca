// demo/timeline_render.hpp — the demo's three views of a recorded timeline: a side-by-side text table like the
// timeline tables of docs/state-machine.md (one column per lane, spec time on the left), an SVG picture (one lane per
// client, state bands coloured by state, a marker per event, the script's marks as dashed lines, a time axis in spec
// seconds) and an HTML page that shows the pictures, tables and verdicts together.
//
// Pure functions of plain values (timeline.hpp): the tests render synthetic timelines and parse the SVG.
//
// SVG structure (what tests and stylesheets can rely on): each timeline is a <g class="panel">; each lane a
// <g class="lane" data-lane="NAME"> holding one <rect class="band" data-state="STATE"> per connection state change
// (from that change to the next one, or to the end of the recording) and one <g class="marker" data-kind="KIND">
// per other event; the marks are <g class="mark" data-mark="NAME">; the axis is <g class="axis">.
#pragma once

#include <string>
#include <vector>

#include "demo/timeline.hpp"

namespace relink::demo {

/// One timeline with its verdict and a sentence saying what it shows.
struct TimelinePanel {
    RecordedTimeline timeline;
    CheckResult check;
    std::string description;
};

/// The side-by-side table: a row per entry (label, spec time, real time, one column per lane) and a full-width row
/// per mark, in time order.
[[nodiscard]] std::string render_table(const RecordedTimeline& timeline, const CheckResult& check);

/// An SVG document with the panels stacked, and a legend of the state colours at the bottom.
[[nodiscard]] std::string render_svg(const std::vector<TimelinePanel>& panels);

/// A self-contained HTML page: per panel its title, description, picture (inline SVG), table and checks.
[[nodiscard]] std::string render_html(const std::string& title, const std::string& summary,
                                      const std::vector<TimelinePanel>& panels);

/// The fill colour of a connection state in the picture ("#66bb6a" for CONNECTED ...).
[[nodiscard]] const char* state_colour(ConnectionState state) noexcept;

/// `text` with &, <, >, " and ' escaped for XML (and HTML).
[[nodiscard]] std::string xml_escape(const std::string& text);

}  // namespace relink::demo
