// The demo's timeline pieces (examples/demo/timeline*.hpp): the SVG picture is well-formed XML (checked by the small
// parser below: no new dependency) with a lane per client, a band per connection state change and a marker per
// other event, for a synthetic timeline and for the recordings of two real scenarios (one against an embedded
// relinkd, the cluster scene against two embedded nodes on a redis-server); the text table shows every entry in time
// order; the checker accepts a timeline that matches its expectation and says what differed in one that does not.
#include "demo/timeline.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "demo/scenarios.hpp"
#include "demo/timeline_render.hpp"
#include "synthetic_timelines.hpp"

namespace relink::demo {
namespace {

// ------------------------------------------------------------------------------------- a small XML checker

/// An element of a parsed XML document.
struct XmlElement {
    std::string name;
    std::map<std::string, std::string> attributes;  ///< values with their entities decoded
    std::vector<XmlElement> children;
    std::string text;  ///< the character data directly inside, decoded

    /// Every element below this one (at any depth) called `name` whose attribute `attribute` has `value` (any value
    /// when `value` is empty).
    void find_all(const std::string& element, const std::string& attribute, const std::string& value,
                  std::vector<const XmlElement*>& out) const {
        for (const auto& child : children) {
            const auto a = child.attributes.find(attribute);
            if (child.name == element &&
                (attribute.empty() || (a != child.attributes.end() && (value.empty() || a->second == value)))) {
                out.push_back(&child);
            }
            child.find_all(element, attribute, value, out);
        }
    }
    std::vector<const XmlElement*> all(const std::string& element, const std::string& attribute = "",
                                       const std::string& value = "") const {
        std::vector<const XmlElement*> out;
        find_all(element, attribute, value, out);
        return out;
    }
};

/// A strict parser for the XML the demo writes: an optional declaration, comments, one root element, elements with
/// quoted attributes (unique per element), character data, and the five predefined and numeric character
/// references. Anything else (an unclosed or mismatched tag, a bare '<' or '&', text after the root ...) is an
/// error that says where.
class XmlParser {
public:
    explicit XmlParser(const std::string& text) : s_(text) {}

    std::optional<XmlElement> parse(std::string& error) {
        try {
            skip_misc();
            if (starts_with("<?xml")) {
                skip_past("?>");
                skip_misc();
            }
            XmlElement root = element();
            skip_misc();
            if (pos_ != s_.size()) {
                fail("content after the root element");
            }
            return root;
        } catch (const std::runtime_error& e) {
            error = e.what();
            return std::nullopt;
        }
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(what + " at offset " + std::to_string(pos_) + ": \"" + s_.substr(pos_, 40) + "\"");
    }
    bool starts_with(const char* prefix) const { return s_.compare(pos_, std::strlen(prefix), prefix) == 0; }
    void skip_past(const char* end) {
        const auto at = s_.find(end, pos_);
        if (at == std::string::npos) {
            fail(std::string("no closing ") + end);
        }
        pos_ = at + std::strlen(end);
    }
    void skip_space() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])) != 0) {
            ++pos_;
        }
    }
    /// Whitespace and comments between markup.
    void skip_misc() {
        for (;;) {
            skip_space();
            if (starts_with("<!--")) {
                comment();
            } else {
                return;
            }
        }
    }
    void comment() {
        pos_ += 4;
        const auto end = s_.find("--", pos_);
        if (end == std::string::npos || s_.compare(end, 3, "-->") != 0) {
            fail("a comment with \"--\" inside or not closed");
        }
        pos_ = end + 3;
    }
    static bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':'; }
    static bool name_char(char c) {
        return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.';
    }
    std::string name() {
        if (pos_ >= s_.size() || !name_start(s_[pos_])) {
            fail("a name was expected");
        }
        const auto start = pos_;
        while (pos_ < s_.size() && name_char(s_[pos_])) {
            ++pos_;
        }
        return s_.substr(start, pos_ - start);
    }
    /// Decodes a character reference at pos_ ('&' ... ';').
    std::string reference() {
        const auto end = s_.find(';', pos_);
        if (end == std::string::npos || end - pos_ > 10) {
            fail("a bare '&'");
        }
        const std::string ref = s_.substr(pos_ + 1, end - pos_ - 1);
        pos_ = end + 1;
        static const std::map<std::string, std::string> named{
            {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}};
        if (const auto n = named.find(ref); n != named.end()) {
            return n->second;
        }
        if (ref.size() > 1 && ref[0] == '#') {
            const bool hex = ref[1] == 'x';
            const std::string digits = ref.substr(hex ? 2 : 1);
            if (!digits.empty() && std::all_of(digits.begin(), digits.end(), [hex](char c) {
                    return hex ? std::isxdigit(static_cast<unsigned char>(c)) != 0
                               : std::isdigit(static_cast<unsigned char>(c)) != 0;
                })) {
                return "?";  // a valid numeric reference; its character does not matter here
            }
        }
        fail("an unknown entity &" + ref + ";");
    }
    XmlElement element() {
        if (pos_ >= s_.size() || s_[pos_] != '<') {
            fail("'<' was expected");
        }
        ++pos_;
        XmlElement e;
        e.name = name();
        for (;;) {
            const auto before = pos_;
            skip_space();
            if (starts_with("/>")) {
                pos_ += 2;
                return e;
            }
            if (starts_with(">")) {
                ++pos_;
                break;
            }
            if (pos_ == before) {
                fail("whitespace was expected between attributes");
            }
            const std::string attribute = name();
            skip_space();
            if (pos_ >= s_.size() || s_[pos_] != '=') {
                fail("'=' was expected after attribute " + attribute);
            }
            ++pos_;
            skip_space();
            if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) {
                fail("a quoted value was expected for attribute " + attribute);
            }
            const char quote = s_[pos_++];
            std::string value;
            while (pos_ < s_.size() && s_[pos_] != quote) {
                if (s_[pos_] == '<') {
                    fail("'<' inside an attribute value");
                }
                if (s_[pos_] == '&') {
                    value += reference();
                } else {
                    value += s_[pos_++];
                }
            }
            if (pos_ >= s_.size()) {
                fail("an unclosed attribute value");
            }
            ++pos_;
            if (!e.attributes.emplace(attribute, value).second) {
                fail("attribute " + attribute + " twice");
            }
        }
        // Content: character data, comments and child elements, up to the matching end tag.
        for (;;) {
            if (pos_ >= s_.size()) {
                fail("element <" + e.name + "> is not closed");
            }
            if (starts_with("</")) {
                pos_ += 2;
                const std::string closing = name();
                if (closing != e.name) {
                    fail("</" + closing + "> closes <" + e.name + ">");
                }
                skip_space();
                if (!starts_with(">")) {
                    fail("'>' was expected");
                }
                ++pos_;
                return e;
            }
            if (starts_with("<!--")) {
                comment();
            } else if (starts_with("<![CDATA[")) {
                pos_ += 9;
                const auto end = s_.find("]]>", pos_);
                if (end == std::string::npos) {
                    fail("an unclosed CDATA section");
                }
                e.text += s_.substr(pos_, end - pos_);
                pos_ = end + 3;
            } else if (starts_with("<")) {
                e.children.push_back(element());
            } else if (s_[pos_] == '&') {
                e.text += reference();
            } else {
                if (starts_with("]]>")) {
                    fail("\"]]>\" in character data");
                }
                e.text += s_[pos_++];
            }
        }
    }

    const std::string& s_;
    std::size_t pos_{0};
};

XmlElement parse_svg(const std::string& svg) {
    std::string error;
    auto root = XmlParser(svg).parse(error);
    EXPECT_TRUE(root) << "not well-formed: " << error;
    return root ? *root : XmlElement{};
}

double number(const XmlElement& e, const std::string& attribute) {
    const auto a = e.attributes.find(attribute);
    return a == e.attributes.end() ? std::nan("") : std::strtod(a->second.c_str(), nullptr);
}

/// The picture of `timeline` has one lane per lane of the timeline, one band per connection state change of that
/// lane (in order, with the state's name), and one marker per other entry; every band lies inside the picture.
void expect_picture_of(const RecordedTimeline& timeline, const CheckResult& check) {
    const std::string svg = render_svg({TimelinePanel{timeline, check, "what it shows"}});
    const XmlElement root = parse_svg(svg);
    ASSERT_EQ(root.name, "svg");
    EXPECT_EQ(root.attributes.at("xmlns"), "http://www.w3.org/2000/svg");
    const double width = number(root, "width");
    ASSERT_EQ(root.all("g", "class", "panel").size(), 1U);
    const auto lanes = root.all("g", "class", "lane");
    ASSERT_EQ(lanes.size(), timeline.lanes.size()) << "a lane per client";
    for (std::size_t l = 0; l < lanes.size(); ++l) {
        const std::string& lane = timeline.lanes[l];
        EXPECT_EQ(lanes[l]->attributes.at("data-lane"), lane);
        std::vector<std::string> states;
        std::size_t others = 0;
        for (const auto& e : timeline.entries) {
            if (e.lane == lane && e.state) {
                states.emplace_back(to_string(*e.state));
            } else if (e.lane == lane) {
                ++others;
            }
        }
        const auto bands = lanes[l]->all("rect", "class", "band");
        std::vector<std::string> band_states;
        for (const auto* band : bands) {
            band_states.push_back(band->attributes.at("data-state"));
            const double x = number(*band, "x");
            const double w = number(*band, "width");
            EXPECT_TRUE(std::isfinite(x) && std::isfinite(w)) << lane;
            EXPECT_GT(w, 0.0) << lane;
            EXPECT_GE(x, 0.0) << lane;
            EXPECT_LE(x + w, width + 0.5) << lane;
        }
        EXPECT_EQ(band_states, states) << "a band per state change of " << lane;
        EXPECT_EQ(lanes[l]->all("g", "class", "marker").size(), others) << "a marker per other event of " << lane;
    }
    EXPECT_EQ(root.all("g", "class", "mark").size(), timeline.marks.size());
    EXPECT_EQ(root.all("g", "class", "axis").size(), 1U);
}

TEST(XmlChecker, AcceptsWellFormedAndRejectsMalformedDocuments) {
    std::string error;
    EXPECT_TRUE(
        XmlParser("<?xml version=\"1.0\"?>\n<!-- c --><a x='1' y=\"&lt;&#38;&#x26;\"><b/>t &amp; u<c></c></a>\n")
            .parse(error))
        << error;
    for (const char* bad : {"<a><b></a></b>", "<a>", "<a x=\"1\" x=\"2\"/>", "<a x=1/>", "<a>&</a>", "<a>&nope;</a>",
                            "<a/><b/>", "<a>x < y</a>", "<a x=\"<\"/>", "text", "<a><!-- -- --></a>", "<a/>trailing",
                            "<a x=\"1\"y=\"2\"/>", "<1a/>"}) {
        error.clear();
        EXPECT_FALSE(XmlParser(bad).parse(error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
}

// ------------------------------------------------------------------------------------ a synthetic timeline

using synthetic::other;
using synthetic::state;
using synthetic::synthetic_expectation;
using synthetic::synthetic_rtc;

TEST(TimelineSvg, SyntheticTimelineIsWellFormedWithALanePerClientAndABandPerStateChange) {
    const RecordedTimeline timeline = synthetic_rtc();
    const CheckResult check = check_timeline(timeline, synthetic_expectation());
    ASSERT_NO_FATAL_FAILURE(expect_picture_of(timeline, check));
    const std::string svg = render_svg({TimelinePanel{timeline, check, ""}});
    EXPECT_NE(svg.find("T-RTC &lt;synthetic&gt; &amp; &quot;quoted&quot;"), std::string::npos) << "escaped title";
    // The timeline tables' labels (T4 ...) are not drawn: the captions are, in plain words, one callout each.
    for (const char* label : {">T0<", ">T4<", ">T5<", ">T6<", ">T7<"}) {
        EXPECT_EQ(svg.find(label), std::string::npos) << label;
    }
    const XmlElement root = parse_svg(svg);
    std::vector<std::string> callouts;
    for (const auto* callout : root.all("g", "class", "callout")) {
        for (const auto* text : callout->all("text")) {
            callouts.push_back(text->text);
        }
    }
    EXPECT_EQ(callouts, (std::vector<std::string>{"4 s without a word from the server → RECONNECTING",
                                                  "20 min: the SDK gives up → FAILED"}));
    // Most of the 20 minutes before FAILED, and of the wait after it, are cut out of the axis, each cut labelled
    // with its length; the give-up itself lies on a linear piece, clear of both cuts.
    const auto cuts = root.all("g", "class", "cut");
    ASSERT_EQ(cuts.size(), 2U);
    const double first_cut = std::strtod(cuts[0]->attributes.at("data-seconds").c_str(), nullptr);
    EXPECT_GT(first_cut, 1100.0);
    EXPECT_LT(first_cut, 1184.0) << "a few seconds on each side stay on the linear scale";
    EXPECT_NE(svg.find(">19 min 37 s<"), std::string::npos) << "the first cut's length, written under it";
    const auto failed = root.all("rect", "data-state", "FAILED");
    ASSERT_EQ(failed.size(), 1U);
    EXPECT_NE(svg.find("class=\"end-of-retries\""), std::string::npos) << "a heavy line where the SDK gave up";
    // DISCONNECTING and FAILED are hatched (told apart from DISCONNECTED and RECONNECTING by more than colour).
    EXPECT_EQ(failed[0]->attributes.at("fill"), "url(#timeline-hatch-failed)");
}

TEST(TimelineSvg, EveryStateHasItsOwnColourAndTheLookalikesAHatch) {
    std::set<std::string> colours;
    for (const auto state : {ConnectionState::disconnected, ConnectionState::connecting, ConnectionState::connected,
                             ConnectionState::reconnecting, ConnectionState::aborted, ConnectionState::failed,
                             ConnectionState::disconnecting}) {
        colours.insert(state_colour(state));
    }
    EXPECT_EQ(colours.size(), 7U);
    const RecordedTimeline timeline = synthetic::synthetic_every_state();
    const CheckResult check = check_timeline(timeline, synthetic::synthetic_every_state_expectation());
    ASSERT_NO_FATAL_FAILURE(expect_picture_of(timeline, check));
    const XmlElement root = parse_svg(render_svg({TimelinePanel{timeline, check, ""}}));
    std::map<std::string, std::string> fill_of;
    for (const auto* band : root.all("rect", "class", "band")) {
        fill_of[band->attributes.at("data-state")] = band->attributes.at("fill");
    }
    EXPECT_EQ(fill_of.size(), 7U) << "every state is drawn";
    EXPECT_EQ(fill_of["DISCONNECTING"], "url(#timeline-hatch-disconnecting)");
    EXPECT_EQ(fill_of["DISCONNECTED"], state_colour(ConnectionState::disconnected));
    EXPECT_EQ(root.all("pattern").size(), 2U);
}

TEST(TimelineSvg, SeveralPanelsStackInOneWellFormedPicture) {
    const RecordedTimeline timeline = synthetic_rtc();
    const CheckResult check = check_timeline(timeline, synthetic_expectation());
    RecordedTimeline empty;
    empty.title = "nothing happened";
    empty.lanes = {"UID1"};
    empty.end = 0.0;
    const XmlElement root = parse_svg(render_svg({{timeline, check, ""}, {empty, CheckResult{}, ""}}));
    EXPECT_EQ(root.all("g", "class", "panel").size(), 2U);
    EXPECT_EQ(root.all("g", "class", "lane").size(), 4U);
    EXPECT_EQ(root.all("rect", "class", "band").size(), 8U);
}

TEST(TimelineHtml, EmbedsThePictureTheTableAndTheChecks) {
    const RecordedTimeline timeline = synthetic_rtc();
    const CheckResult check = check_timeline(timeline, synthetic_expectation());
    const std::string html = render_html("demo <page>", "summary & more", {{timeline, check, "it shows things"}});
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0U);
    EXPECT_NE(html.find("<title>demo &lt;page&gt;</title>"), std::string::npos);
    EXPECT_NE(html.find("<svg class=\"picture\" xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos)
        << "the SVG inline";
    EXPECT_EQ(html.find("<?xml"), std::string::npos) << "no XML declaration inside HTML";
    EXPECT_NE(html.find("it shows things"), std::string::npos);
    EXPECT_NE(html.find("[ ok ] UID1: the 9 expected events"), std::string::npos);
    // For people: the box that says how to read it, and the table and the checks folded away, the names the checks
    // use (T4 ...) explained.
    EXPECT_NE(html.find("<h2>How to read this</h2>"), std::string::npos);
    EXPECT_NE(html.find("<details>\n<summary>Every event, in order"), std::string::npos);
    EXPECT_NE(html.find("<details>\n<summary>The checks against the documented timeline"), std::string::npos);
    EXPECT_NE(html.find("<dt>T4</dt><dd>UID1: RECONNECTING / INTERRUPTED — 4 s without a word from the server → "
                        "RECONNECTING</dd>"),
              std::string::npos);
    EXPECT_NE(html.find("<dt>T3</dt><dd>the link dies &lt;silently&gt;</dd>"), std::string::npos);
    EXPECT_EQ(html.find("<pre>"), std::string::npos) << "no monospace tables";
    // The inline SVG alone is well-formed too.
    const auto begin = html.find("<svg class=\"picture\"");
    const auto end = html.find("</svg>", begin);
    ASSERT_NE(end, std::string::npos);
    parse_svg(html.substr(begin, end + 6 - begin));
}

TEST(TimelineTable, ShowsEveryEntryInTimeOrderInItsLanesColumn) {
    const RecordedTimeline timeline = synthetic_rtc();
    const CheckResult check = check_timeline(timeline, synthetic_expectation());
    const std::string table = render_table(timeline, check);
    EXPECT_NE(table.find("UID1 (behind the fault proxy)"), std::string::npos);
    std::size_t previous = 0;
    for (const char* text : {"CONNECTING / CONNECTING", "CONNECTED / JOIN_SUCCESS", "member_joined(UID1)",
                             "the link dies <silently>", "RECONNECTING / INTERRUPTED", "member_left(UID1, DROPPED)",
                             "FAILED / JOIN_FAILED", "DISCONNECTED / LEAVE_CHANNEL"}) {
        const auto at = table.find(text, previous);
        ASSERT_NE(at, std::string::npos) << text << " (in order) in\n" << table;
        previous = at;
    }
    // UID2's events are in the second column: after UID1's column separator on their line.
    const auto line_start = table.rfind('\n', table.find("member_left(UID1, DROPPED)"));
    const std::string line = table.substr(line_start + 1, table.find('\n', line_start + 1) - line_start - 1);
    EXPECT_EQ(std::count(line.begin(), line.begin() + static_cast<long>(line.find("member_left")), '|'), 2) << line;
    EXPECT_NE(line.find("T6"), std::string::npos) << "the label of the expected event it matched";
    EXPECT_NE(line.find("+22.00 s"), std::string::npos) << line;
    EXPECT_NE(line.find("+220 ms"), std::string::npos) << "real time = spec time × time scale: " << line;
}

// ------------------------------------------------------------------------------------------ the checker

TEST(TimelineCheck, AcceptsATimelineThatMatchesAndLabelsItsEntries) {
    const RecordedTimeline timeline = synthetic_rtc();
    const CheckResult check = check_timeline(timeline, synthetic_expectation());
    EXPECT_TRUE(check.ok) << ::testing::PrintToString(check.lines);
    std::map<std::string, std::string> label_of;
    for (const auto& [index, label] : check.labels) {
        label_of[label] = timeline.entries[index].text;
    }
    EXPECT_EQ(label_of["T4"], "RECONNECTING / INTERRUPTED");
    EXPECT_EQ(label_of["T6"], "member_left(UID1, DROPPED)");
    EXPECT_EQ(label_of["T7"], "FAILED / JOIN_FAILED");
}

TEST(TimelineCheck, AnExtraEventOfAComparedKindIsADifference) {
    RecordedTimeline timeline = synthetic_rtc();
    // UID2 sees UID1 leave before T6: the "UID2 sees nothing yet" of T-RTC is broken.
    timeline.entries.insert(timeline.entries.begin() + 8,
                            other("UID2", 7.0, EventKind::member, "member_left(UID1, QUIT)"));
    const CheckResult check = check_timeline(timeline, synthetic_expectation());
    EXPECT_FALSE(check.ok);
    const std::string all = ::testing::PrintToString(check.lines);
    EXPECT_NE(all.find("[FAIL] UID2: the events differ"), std::string::npos) << all;
    EXPECT_NE(all.find("member_left(UID1, QUIT) at 7.00 s"), std::string::npos) << all;
    EXPECT_NE(all.find("[ ok ] UID1"), std::string::npos) << "only UID2 differs: " << all;
}

TEST(TimelineCheck, AnEventOfAKindNotComparedIsNoDifference) {
    RecordedTimeline timeline = synthetic_rtc();
    timeline.entries.push_back(other("UID1", 6.0, EventKind::channel, "channel call: CONNECTING / REJOINING"));
    EXPECT_TRUE(check_timeline(timeline, synthetic_expectation()).ok);
}

TEST(TimelineCheck, AMissingEventIsADifferenceAndItsWindowCannotHold) {
    RecordedTimeline timeline = synthetic_rtc();
    timeline.entries.erase(std::remove_if(timeline.entries.begin(), timeline.entries.end(),
                                          [](const TimelineEntry& e) { return e.text == "FAILED / JOIN_FAILED"; }),
                           timeline.entries.end());
    const CheckResult check = check_timeline(timeline, synthetic_expectation());
    EXPECT_FALSE(check.ok);
    const std::string all = ::testing::PrintToString(check.lines);
    EXPECT_NE(all.find("T7 UID1 FAILED / JOIN_FAILED: not seen"), std::string::npos) << all;
}

TEST(TimelineCheck, ATimeOutsideItsWindowIsADifferenceAndTheSlackScalesWithTheTimeScale) {
    RecordedTimeline timeline = synthetic_rtc();
    for (auto& e : timeline.entries) {
        if (e.text == "member_left(UID1, DROPPED)") {
            e.at = 2.0 + 23.0;  // T3 + 23 s: 1 s past the window
        }
    }
    Expectation expectation = synthetic_expectation();
    const CheckResult strict = check_timeline(timeline, expectation);
    EXPECT_FALSE(strict.ok);
    const std::string all = ::testing::PrintToString(strict.lines);
    EXPECT_NE(all.find("[FAIL] T6 UID2 member_left(UID1, DROPPED): at T3 + 23.00 s (spec T3 + 19.00 s … T3 + 22.00 s"),
              std::string::npos)
        << all;
    // 20 ms of real slack at time scale 0.01 is 2 spec seconds: enough.
    expectation.real_slack_seconds = 0.02;
    EXPECT_TRUE(check_timeline(timeline, expectation).ok)
        << ::testing::PrintToString(check_timeline(timeline, expectation).lines);
}

TEST(TimelineCheck, ReportsTheScriptsOwnChecks) {
    CheckResult result;
    add_check(result, true, "fine");
    EXPECT_TRUE(result.ok);
    add_check(result, false, "not fine");
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.lines, (std::vector<std::string>{"[ ok ] fine", "[FAIL] not fine"}));
}

// ----------------------------------------------------------------------------------------- a real scenario

// The shortest scenario of the demo, for real (embedded relinkd, fault proxy, three clients), at half speed so
// that a slow build (sanitizers) keeps within its real-time tolerances: its recording is pictured like the
// synthetic one.
TEST(TimelineSvg, ARealScenariosRecordingIsPicturedWithALanePerClientAndABandPerStateChange) {
    const auto& all = scenarios();
    const auto scenario =
        std::find_if(all.begin(), all.end(), [](const Scenario& s) { return s.name == "rtm-duplicate-login"; });
    ASSERT_NE(scenario, all.end());
    RunOptions options;
    options.stretch = 2.0;
    options.extra_real_slack = 1.0;
    const ScenarioRun run = run_scenario(*scenario, options);
    EXPECT_TRUE(run.check.ok) << ::testing::PrintToString(run.check.lines) << "\n"
                              << render_table(run.timeline, run.check);
    ASSERT_EQ(run.timeline.lanes, (std::vector<std::string>{"UID1", "UID2", "UID1 #2"}));
    const auto states_of = [&](const std::string& lane) {
        return std::count_if(run.timeline.entries.begin(), run.timeline.entries.end(),
                             [&](const TimelineEntry& e) { return e.lane == lane && e.state; });
    };
    EXPECT_GE(states_of("UID1"), 4) << "CONNECTING, CONNECTED, ABORTED, DISCONNECTED";
    EXPECT_GE(states_of("UID1 #2"), 2);
    expect_picture_of(run.timeline, run.check);
}

// The cluster scene, for real (redis-server, two embedded nodes, the proxy as UID1's load balancer), at half speed:
// it matches its expectation (UID1 resumes on node B, every message once, UID2 sees nothing of the move), UID1's
// lane shows the interruption and the return, and the picture marks the crash and the switch of the balancer.
TEST(TimelineSvg, TheClusterScenePicturesTheCrashOfANodeAndTheResumeOnTheOther) {
    const auto& all = scenarios();
    const auto scenario =
        std::find_if(all.begin(), all.end(), [](const Scenario& s) { return s.name == "cluster-node-killed"; });
    ASSERT_NE(scenario, all.end());
    RunOptions options;
    options.stretch = 2.0;
    options.extra_real_slack = 1.0;
    const ScenarioRun run = run_scenario(*scenario, options);
    EXPECT_TRUE(run.check.ok) << ::testing::PrintToString(run.check.lines) << "\n"
                              << render_table(run.timeline, run.check);
    ASSERT_EQ(run.timeline.lanes, (std::vector<std::string>{"UID1", "UID2"}));
    std::vector<std::string> uid1_states;
    for (const auto& e : run.timeline.entries) {
        if (e.lane == "UID1" && e.state) {
            uid1_states.push_back(e.text);
        }
    }
    EXPECT_EQ(uid1_states, (std::vector<std::string>{"CONNECTING / LOGIN", "CONNECTED / LOGIN_SUCCESS",
                                                     "RECONNECTING / INTERRUPTED", "CONNECTED / LOGIN_SUCCESS"}));
    std::vector<std::string> marks;
    for (const auto& m : run.timeline.marks) {
        marks.push_back(m.name);
    }
    EXPECT_EQ(marks, (std::vector<std::string>{"crash", "LB"}));
    expect_picture_of(run.timeline, run.check);
    const std::string svg = render_svg({TimelinePanel{run.timeline, run.check, scenario->description}});
    EXPECT_NE(svg.find("node A killed"), std::string::npos);
    EXPECT_NE(svg.find("to node B"), std::string::npos);
}

}  // namespace
}  // namespace relink::demo
