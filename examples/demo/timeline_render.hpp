// demo/timeline_render.hpp — the demo's three views of a recorded timeline: a side-by-side text table like the
// timeline tables of docs/state-machine.md (one column per lane, timeline time on the left) for the terminal, an SVG
// picture (one lane per client, a band per connection state in colours that colour-blind readers tell apart too,
// DISCONNECTING and FAILED also hatched; a marker per other event; above the bands, in plain words, what the
// documented timeline says at that moment; the script's actions as dashed lines; a time axis in the seconds an app
// lives through, a long quiet wait squeezed into a labelled break, not to scale) and an HTML page for people: a "how
// to read this" box, then per timeline its picture, with its events (a table) and checks folded away.
//
// Pure functions of plain values (timeline.hpp): the tests render synthetic timelines and parse the SVG.
//
// SVG structure (what tests and stylesheets can rely on): each timeline is a <g class="panel">; each lane a
// <g class="lane" data-lane="NAME"> holding one <rect class="band" data-state="STATE"> per connection state change
// (from that change to the next one, or to the end of the recording) and one <g class="marker" data-kind="KIND">
// per other event; the marks are <g class="mark" data-mark="NAME">; the axis is <g class="axis">, each squeezed
// stretch of it a <g class="cut" data-seconds="S">; after the axis (drawn over its breaks), one
// <g class="callout" data-lane="NAME"> per captioned event.
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

/// An SVG document with the panels stacked (each with its title and verdict), and a legend of the state colours and
/// marker shapes at the bottom.
[[nodiscard]] std::string render_svg(const std::vector<TimelinePanel>& panels);

/// A self-contained HTML page (no script, no external resource): the title and summary, a "how to read this" box
/// with the legend, a list of the panels with their verdicts, and per panel its title, verdict, description,
/// picture (inline SVG) and, folded away (<details>), its events as a table and its checks.
[[nodiscard]] std::string render_html(const std::string& title, const std::string& summary,
                                      const std::vector<TimelinePanel>& panels);

/// The colour of a connection state in the picture ("#009e73" for CONNECTED ...; the Okabe–Ito palette).
[[nodiscard]] const char* state_colour(ConnectionState state) noexcept;

/// `text` with &, <, >, " and ' escaped for XML (and HTML).
[[nodiscard]] std::string xml_escape(const std::string& text);

}  // namespace relink::demo
