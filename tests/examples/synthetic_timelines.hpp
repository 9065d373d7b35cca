// tests/examples/synthetic_timelines.hpp — recorded timelines made up for the tests of the demo's pictures and
// page (timeline_test.cpp, demo_page_test.cpp): the rtc timeline with the link never back (the 20-minute give-up, so
// a cut in the axis), and one with every connection state and marker kind whose check fails.
#pragma once

#include <optional>
#include <string>

#include "demo/timeline.hpp"

namespace relink::demo::synthetic {

inline TimelineEntry state(const std::string& lane, double at, ConnectionState s, const std::string& reason) {
    return {lane, at, EventKind::state, std::string(to_string(s)) + " / " + reason, s};
}
inline TimelineEntry other(const std::string& lane, double at, EventKind kind, const std::string& text) {
    return {lane, at, kind, text, std::nullopt};
}

/// T-RTC, link never back, as the demo would record it (times in spec seconds), plus a lane that saw nothing and
/// a message whose text needs escaping.
inline RecordedTimeline synthetic_rtc() {
    RecordedTimeline t;
    t.title = "T-RTC <synthetic> & \"quoted\"";
    t.lanes = {"UID1", "UID2", "UID3"};
    t.details = {{"UID1", "behind the fault proxy"}, {"UID2", "same channel"}};
    t.time_scale = 0.01;
    using S = ConnectionState;
    t.entries = {
        state("UID2", -0.3, S::connecting, "CONNECTING"),
        state("UID2", -0.1, S::connected, "JOIN_SUCCESS"),
        state("UID1", 0.0, S::connecting, "CONNECTING"),
        state("UID1", 0.3, S::connected, "JOIN_SUCCESS"),
        other("UID1", 0.3, EventKind::joined, "join_success(call)"),
        other("UID2", 0.35, EventKind::member, "member_joined(UID1)"),
        other("UID2", 1.0, EventKind::message, "message in call from UID1: \"<b>&amp;'x'</b>\""),
        state("UID1", 6.0, S::reconnecting, "INTERRUPTED"),
        other("UID1", 16.0, EventKind::connection_lost, "connection_lost"),
        state("UID1", 16.0, S::reconnecting, "LOST"),
        other("UID2", 22.0, EventKind::member, "member_left(UID1, DROPPED)"),
        state("UID1", 1206.0, S::failed, "JOIN_FAILED"),
        other("UID1", 1300.0, EventKind::call, "no reconnect attempt after FAILED"),
        state("UID1", 1300.1, S::disconnected, "LEAVE_CHANNEL"),
    };
    t.marks = {{"T3", "the link dies <silently>", 2.0}};
    t.end = 1302.0;
    return t;
}

inline Expectation synthetic_expectation() {
    Expectation e;
    e.events = {
        {"UID2", "CONNECTING / CONNECTING", "", std::nullopt},
        {"UID2", "CONNECTED / JOIN_SUCCESS", "", std::nullopt},
        {"UID1", "CONNECTING / CONNECTING", "T0", std::nullopt},
        {"UID1", "CONNECTED / JOIN_SUCCESS", "T1", std::nullopt},
        {"UID1", "join_success(call)", "", std::nullopt},
        {"UID2", "member_joined(UID1)", "T2", std::nullopt},
        {"UID2", "message in call from UID1: \"<b>&amp;'x'</b>\"", "", std::nullopt},
        {"UID1", "RECONNECTING / INTERRUPTED", "T4", TimeWindow{"T3", 2.8, 4.4},
         "4 s without a word from the server → RECONNECTING"},
        {"UID1", "connection_lost", "T5", TimeWindow{"T4", 10.0, 11.0}},
        {"UID1", "RECONNECTING / LOST", "", TimeWindow{"T4", 10.0, 11.0}},
        {"UID2", "member_left(UID1, DROPPED)", "T6", TimeWindow{"T3", 19.0, 22.0}},
        {"UID1", "FAILED / JOIN_FAILED", "T7", TimeWindow{"T4", 1200.0, 1210.0}, "20 min: the SDK gives up → FAILED"},
        {"UID1", "no reconnect attempt after FAILED", "", std::nullopt},
        {"UID1", "DISCONNECTED / LEAVE_CHANNEL", "", std::nullopt},
    };
    e.real_slack_seconds = 0.0;  // exact windows: the synthetic times are exact
    return e;
}

/// Every connection state and every marker kind, one panel whose check failed (an expected event not seen), for
/// the pictures' colours, hatches and the page's failure styling.
inline RecordedTimeline synthetic_every_state() {
    RecordedTimeline t;
    t.title = "every state";
    t.lanes = {"UID1", "UID2"};
    t.details = {{"UID1", "a long detail that needs two lines in the gutter"}};
    t.time_scale = 0.1;
    using S = ConnectionState;
    t.entries = {
        state("UID1", 0.0, S::connecting, "LOGIN"),
        state("UID1", 0.4, S::connected, "LOGIN_SUCCESS"),
        other("UID1", 0.5, EventKind::joined, "join_success(ch)"),
        other("UID1", 0.6, EventKind::channel, "channel ch: CONNECTED / JOINED"),
        other("UID1", 1.0, EventKind::stream, "stream_added(UID2, cam)"),
        other("UID1", 1.5, EventKind::token, "token_privilege_will_expire"),
        state("UID1", 3.0, S::reconnecting, "INTERRUPTED"),
        other("UID1", 5.0, EventKind::continuity, "continuity: session resumed, 0 backfilled"),
        state("UID1", 5.0, S::connected, "LOGIN_SUCCESS"),
        state("UID1", 7.0, S::aborted, "REMOTE_LOGIN"),
        other("UID1", 8.0, EventKind::call, "logout()"),
        state("UID1", 8.0, S::disconnecting, "LOGOUT"),
        state("UID1", 9.5, S::disconnected, "LOGOUT"),
        state("UID2", 0.0, S::connecting, "LOGIN"),
        state("UID2", 0.3, S::connected, "LOGIN_SUCCESS"),
        other("UID2", 2.0, EventKind::message, "message in ch from UID1: \"hi\""),
        other("UID2", 7.1, EventKind::member, "member_left(UID1, KICKED)"),
        state("UID2", 9.0, S::failed, "JOIN_FAILED"),
    };
    t.marks = {{"kick", "UID1 is kicked", 7.0}};
    t.end = 11.0;
    return t;
}

inline Expectation synthetic_every_state_expectation() {
    Expectation e;
    e.events = {
        {"UID1", "ABORTED / REMOTE_LOGIN", "T5", TimeWindow{"kick", 0.0, 1.0}, "kicked → ABORTED"},
        {"UID1", "DISCONNECTED / LOGOUT", "", std::nullopt, "the app logs out"},
        {"UID2", "member_left(UID1, KICKED)", "", std::nullopt, "told UID1 was kicked"},
        {"UID2", "never happens", "", std::nullopt, ""},
    };
    e.real_slack_seconds = 0.0;
    return e;
}

}  // namespace relink::demo::synthetic
