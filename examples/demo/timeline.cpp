// demo/timeline.cpp — recording the clients' events on one clock, and checking a recording against the spec.
#include "demo/timeline.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <utility>
#include <variant>

#include "relink/error.hpp"

namespace relink::demo {
namespace {

std::string str(std::string_view text) {
    return std::string(text);
}

std::string format_seconds(double seconds) {
    char out[32];
    std::snprintf(out, sizeof out, "%.2f s", seconds);
    return out;
}

/// "T3 + 4.00 s", "T0 - 0.50 s".
std::string offset(const std::string& reference, double seconds) {
    return reference + (seconds < 0 ? " - " : " + ") + format_seconds(std::fabs(seconds));
}

/// The kinds a lane's events are compared on when an expectation does not say.
const std::set<EventKind>& default_compared() {
    static const std::set<EventKind> kinds{EventKind::state,  EventKind::connection_lost, EventKind::joined,
                                           EventKind::member, EventKind::message,         EventKind::continuity,
                                           EventKind::call};
    return kinds;
}

}  // namespace

const char* to_string(EventKind kind) noexcept {
    switch (kind) {
        case EventKind::state: return "state";
        case EventKind::connection_lost: return "connection_lost";
        case EventKind::joined: return "joined";
        case EventKind::channel: return "channel";
        case EventKind::member: return "member";
        case EventKind::stream: return "stream";
        case EventKind::message: return "message";
        case EventKind::continuity: return "continuity";
        case EventKind::token: return "token";
        case EventKind::call: return "call";
    }
    return "unknown";
}

std::optional<DescribedEvent> describe_event(const Event& event) {
    return std::visit(
        [](const auto& e) -> std::optional<DescribedEvent> {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, ConnectionStateChanged>) {
                return DescribedEvent{EventKind::state, str(to_string(e.state)) + " / " + str(to_string(e.reason)),
                                      e.state};
            } else if constexpr (std::is_same_v<E, ConnectionLost>) {
                return DescribedEvent{EventKind::connection_lost, "connection_lost", std::nullopt};
            } else if constexpr (std::is_same_v<E, JoinSuccess>) {
                return DescribedEvent{EventKind::joined, "join_success(" + e.channel + ")", std::nullopt};
            } else if constexpr (std::is_same_v<E, RejoinSuccess>) {
                return DescribedEvent{EventKind::joined, "rejoin_success", std::nullopt};
            } else if constexpr (std::is_same_v<E, ChannelStateChanged>) {
                std::string text =
                    "channel " + e.channel + ": " + str(to_string(e.state)) + " / " + str(to_string(e.reason));
                if (e.error) {
                    text += " (" + std::string(error_name(e.error)) + ")";
                }
                return DescribedEvent{EventKind::channel, text, std::nullopt};
            } else if constexpr (std::is_same_v<E, MemberJoined>) {
                return DescribedEvent{EventKind::member, "member_joined(" + e.user_id + ")", std::nullopt};
            } else if constexpr (std::is_same_v<E, MemberLeft>) {
                return DescribedEvent{EventKind::member,
                                      "member_left(" + e.user_id + ", " + str(to_string(e.cause)) + ")", std::nullopt};
            } else if constexpr (std::is_same_v<E, StreamAdded>) {
                return DescribedEvent{EventKind::stream, "stream_added(" + e.user_id + ", " + e.stream + ")",
                                      std::nullopt};
            } else if constexpr (std::is_same_v<E, StreamRemoved>) {
                return DescribedEvent{EventKind::stream, "stream_removed(" + e.user_id + ", " + e.stream + ")",
                                      std::nullopt};
            } else if constexpr (std::is_same_v<E, MessageReceived>) {
                std::string text =
                    e.channel ? "message in " + *e.channel + " from " + e.from : "peer message from " + e.from;
                text += ": \"" + e.payload + "\"";
                if (e.backfilled) {
                    text += " (backfilled)";
                }
                return DescribedEvent{EventKind::message, text, std::nullopt};
            } else if constexpr (std::is_same_v<E, ContinuityReport>) {
                // The outage length varies from run to run, so it is not part of the text the checker compares.
                std::string text = std::string("continuity: ") + (e.resumed ? "session resumed" : "new session") +
                                   ", " + std::to_string(e.backfilled) + " backfilled";
                if (e.dropped != 0) {
                    text += ", " + std::to_string(e.dropped) + " dropped";
                }
                return DescribedEvent{EventKind::continuity, text, std::nullopt};
            } else if constexpr (std::is_same_v<E, TokenPrivilegeWillExpire>) {
                return DescribedEvent{EventKind::token, "token_privilege_will_expire", std::nullopt};
            } else if constexpr (std::is_same_v<E, TokenExpired>) {
                return DescribedEvent{EventKind::token, "token_expired", std::nullopt};
            } else {
                return std::nullopt;  // operation completions: the script notes the outcomes it cares about
            }
        },
        event);
}

// ------------------------------------------------------------------------------------------- TimelineRecorder

TimelineRecorder::TimelineRecorder(std::string title, std::vector<std::string> lanes, double time_scale)
    : title_(std::move(title)), lanes_(std::move(lanes)), time_scale_(time_scale), origin_(Clock::now()) {}

void TimelineRecorder::set_detail(const std::string& lane, std::string detail) {
    std::lock_guard lock(mutex_);
    details_[lane] = std::move(detail);
}

void TimelineRecorder::set_origin() {
    std::lock_guard lock(mutex_);
    origin_ = Clock::now();
}

void TimelineRecorder::attach(const std::string& lane, Client& client) {
    client.on_event([this, lane](const Event& event) {
        const auto at = Clock::now();
        if (auto described = describe_event(event)) {
            add({lane, at, described->kind, std::move(described->text), described->state});
        }
    });
}

void TimelineRecorder::note(const std::string& lane, EventKind kind, std::string text) {
    add({lane, Clock::now(), kind, std::move(text), std::nullopt});
}

void TimelineRecorder::mark(std::string name, std::string text) {
    std::lock_guard lock(mutex_);
    marks_.push_back({std::move(name), std::move(text), Clock::now()});
    changed_.notify_all();
}

void TimelineRecorder::add(RealEntry entry) {
    std::lock_guard lock(mutex_);
    entries_.push_back(std::move(entry));
    changed_.notify_all();
}

std::optional<std::size_t> TimelineRecorder::wait_for(const std::string& lane, const std::string& text,
                                                      std::size_t from, std::chrono::milliseconds timeout) {
    return wait_until(
        lane, [&text](const TimelineEntry& e) { return e.text == text; }, from, timeout);
}

std::optional<std::size_t> TimelineRecorder::wait_until(const std::string& lane,
                                                        const std::function<bool(const TimelineEntry&)>& match,
                                                        std::size_t from, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::size_t> found;
    changed_.wait_for(lock, timeout, [&] {
        for (std::size_t i = from; i < entries_.size(); ++i) {
            const auto& e = entries_[i];
            if (e.lane == lane &&
                match(TimelineEntry{e.lane, std::chrono::duration<double>(e.at - origin_).count() / time_scale_, e.kind,
                                    e.text, e.state})) {
                found = i;
                return true;
            }
        }
        return false;
    });
    return found;
}

std::size_t TimelineRecorder::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

Clock::time_point TimelineRecorder::time_of(std::size_t index) const {
    std::lock_guard lock(mutex_);
    return entries_.at(index).at;
}

std::optional<Clock::time_point> TimelineRecorder::mark_time(const std::string& name) const {
    std::lock_guard lock(mutex_);
    for (const auto& m : marks_) {
        if (m.name == name) {
            return m.at;
        }
    }
    return std::nullopt;
}

Clock::duration TimelineRecorder::real(double spec_seconds) const {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec_seconds * time_scale_));
}

double TimelineRecorder::spec(Clock::time_point at) const {
    std::lock_guard lock(mutex_);
    return std::chrono::duration<double>(at - origin_).count() / time_scale_;
}

RecordedTimeline TimelineRecorder::snapshot() const {
    std::lock_guard lock(mutex_);
    const auto to_spec = [this](Clock::time_point at) {
        return std::chrono::duration<double>(at - origin_).count() / time_scale_;
    };
    RecordedTimeline out;
    out.title = title_;
    out.lanes = lanes_;
    out.details = details_;
    out.time_scale = time_scale_;
    for (const auto& e : entries_) {
        out.entries.push_back({e.lane, to_spec(e.at), e.kind, e.text, e.state});
    }
    for (const auto& m : marks_) {
        out.marks.push_back({m.name, m.text, to_spec(m.at)});
    }
    std::stable_sort(out.marks.begin(), out.marks.end(),
                     [](const TimelineMark& a, const TimelineMark& b) { return a.at < b.at; });
    out.end = to_spec(Clock::now());
    return out;
}

// --------------------------------------------------------------------------------------------- the checker

void add_check(CheckResult& result, bool held, const std::string& what) {
    result.ok = result.ok && held;
    result.lines.push_back(std::string(held ? "[ ok ] " : "[FAIL] ") + what);
}

CheckResult check_timeline(const RecordedTimeline& timeline, const Expectation& expectation) {
    CheckResult result;
    // Which entry each expected event matched (by index into expectation.events), and where labels are.
    std::vector<std::optional<std::size_t>> matched(expectation.events.size());

    for (const auto& lane : timeline.lanes) {
        const auto compared_it = expectation.compared.find(lane);
        const auto& compared = compared_it != expectation.compared.end() ? compared_it->second : default_compared();
        std::vector<std::size_t> seen;
        for (std::size_t i = 0; i < timeline.entries.size(); ++i) {
            const auto& e = timeline.entries[i];
            if (e.lane == lane && compared.count(e.kind) != 0) {
                seen.push_back(i);
            }
        }
        std::vector<std::size_t> wanted;
        for (std::size_t i = 0; i < expectation.events.size(); ++i) {
            if (expectation.events[i].lane == lane) {
                wanted.push_back(i);
            }
        }
        // Labels and times: each expected event matches the first equal entry after the previous match, so that
        // the windows can still be checked when the sequence has an extra or a missing event.
        std::size_t next = 0;
        for (const std::size_t w : wanted) {
            for (std::size_t s = next; s < seen.size(); ++s) {
                if (timeline.entries[seen[s]].text == expectation.events[w].text) {
                    matched[w] = seen[s];
                    next = s + 1;
                    break;
                }
            }
        }
        std::size_t first_difference = 0;
        while (first_difference < seen.size() && first_difference < wanted.size() &&
               timeline.entries[seen[first_difference]].text == expectation.events[wanted[first_difference]].text) {
            ++first_difference;
        }
        const bool same = first_difference == seen.size() && first_difference == wanted.size();
        std::string kinds;
        if (compared_it != expectation.compared.end()) {
            for (const EventKind kind : compared) {
                kinds += std::string(kinds.empty() ? " (compared: " : ", ") + to_string(kind) + " events";
            }
            kinds += kinds.empty() ? "" : " only)";
        }
        if (same) {
            add_check(
                result, true,
                lane + ": the " + std::to_string(wanted.size()) + " expected events, in the expected order" + kinds);
            continue;
        }
        std::string what = lane + ": the events differ from the expected ones (first difference at #" +
                           std::to_string(first_difference + 1) + ")" + kinds + "\n";
        char row[256];
        std::snprintf(row, sizeof row, "         %-3s %-48s %s\n", "#", "expected", "seen");
        what += row;
        for (std::size_t i = 0; i < std::max(seen.size(), wanted.size()); ++i) {
            const std::string want = i < wanted.size() ? expectation.events[wanted[i]].text : "(nothing)";
            const std::string saw =
                i < seen.size() ? timeline.entries[seen[i]].text + " at " + format_seconds(timeline.entries[seen[i]].at)
                                : "(nothing)";
            std::snprintf(row, sizeof row, "       %s %-3zu %-48s %s\n", i == first_difference ? "->" : "  ", i + 1,
                          want.c_str(), saw.c_str());
            what += row;
        }
        what.pop_back();
        add_check(result, false, what);
    }

    const double late_slack = expectation.real_slack_seconds / timeline.time_scale;
    const double early_slack = late_slack / 5.0;
    const auto time_of_reference = [&](const std::string& name) -> std::optional<double> {
        for (const auto& m : timeline.marks) {
            if (m.name == name) {
                return m.at;
            }
        }
        for (std::size_t i = 0; i < expectation.events.size(); ++i) {
            if (expectation.events[i].label == name && matched[i]) {
                return timeline.entries[*matched[i]].at;
            }
        }
        return std::nullopt;
    };
    for (std::size_t i = 0; i < expectation.events.size(); ++i) {
        const auto& expected = expectation.events[i];
        if (matched[i] && !expected.label.empty()) {
            result.labels[*matched[i]] = expected.label;
        }
        if (matched[i] && !expected.caption.empty()) {
            result.captions[*matched[i]] = expected.caption;
        }
        if (!expected.within) {
            continue;
        }
        const auto& window = *expected.within;
        const std::string name =
            (expected.label.empty() ? "" : expected.label + " ") + expected.lane + " " + expected.text;
        const std::string spec_window = offset(window.after, window.min) + " … " + offset(window.after, window.max);
        const auto reference = time_of_reference(window.after);
        if (!matched[i] || !reference) {
            add_check(result, false,
                      name + ": not seen" + (reference ? "" : " (nor " + window.after + ")") + "; expected at " +
                          spec_window);
            continue;
        }
        const double delta = timeline.entries[*matched[i]].at - *reference;
        const bool held = delta >= window.min - early_slack && delta <= window.max + late_slack;
        char line[512];
        std::snprintf(line, sizeof line, "%s: at %s (spec %s; allowed %s … %s on this time scale)", name.c_str(),
                      offset(window.after, delta).c_str(), spec_window.c_str(),
                      offset(window.after, window.min - early_slack).c_str(),
                      offset(window.after, window.max + late_slack).c_str());
        add_check(result, held, line);
    }
    return result;
}

}  // namespace relink::demo
