// demo/timeline.hpp — the demo's record of what each client observed, and the comparison with what the documented
// timeline (docs/state-machine.md) says it should observe.
//
// A TimelineRecorder is attached to the demo's relink::Client instances (one lane per client) and records every
// event they deliver, with the steady-clock time it arrived, plus the script's own marks ("T3: the link dies").
// snapshot() turns that into a RecordedTimeline: a plain value whose times are SPEC seconds (real elapsed ÷ the
// run's time scale, from the run's T0), so that a run at time scale 0.1 reads like the timeline tables of
// docs/state-machine.md (section 6). check_timeline() compares a RecordedTimeline with an Expectation (the
// order of events per lane, and time windows in spec seconds). The renderers (timeline_render.hpp) draw it.
//
// Everything except TimelineRecorder is a pure function of plain values, so the tests feed it synthetic timelines.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "relink/client.hpp"

namespace relink::demo {

using Clock = std::chrono::steady_clock;

/// What kind of thing a lane observed. The checker compares, per lane, only the kinds an Expectation names.
enum class EventKind {
    state,            ///< connection_state_changed: starts a state band in the picture
    connection_lost,  ///< connection_lost
    joined,           ///< join_success / rejoin_success
    channel,          ///< channel_state_changed
    member,           ///< member_joined / member_left
    stream,           ///< stream_added / stream_removed
    message,          ///< a channel or peer message
    continuity,       ///< the report after a reconnect
    token,            ///< token_privilege_will_expire / token_expired
    call,             ///< something the script did with this lane's client and what the call returned
};

/// "state", "member", ... (used as a CSS class in the picture).
[[nodiscard]] const char* to_string(EventKind kind) noexcept;

/// One thing a lane observed, `at` spec seconds after the run's T0.
struct TimelineEntry {
    std::string lane;
    double at{0.0};
    EventKind kind{EventKind::state};
    std::string text;                      ///< how the table shows it, and what the checker compares
    std::optional<ConnectionState> state;  ///< kind == state: the new state
};

/// Something the script did that concerns every lane ("the link dies"), `at` spec seconds after T0.
struct TimelineMark {
    std::string name;  ///< what expectations refer to ("T3"); unique per timeline
    std::string text;  ///< what the table and the picture say
    double at{0.0};
};

/// A finished recording: a plain value (the renderers and the checker take nothing else).
struct RecordedTimeline {
    std::string title;
    std::vector<std::string> lanes;              ///< in display order
    std::map<std::string, std::string> details;  ///< lane → what it is ("behind the fault proxy")
    double time_scale{1.0};                      ///< spec seconds = real seconds ÷ time_scale
    std::vector<TimelineEntry> entries;          ///< in the order they were recorded
    std::vector<TimelineMark> marks;             ///< in time order
    double end{0.0};                             ///< spec seconds at which the recording stopped
};

/// The text the timeline shows for a client event, and its kind; nullopt for events the demo does not show
/// (operation completions).
struct DescribedEvent {
    EventKind kind;
    std::string text;
    std::optional<ConnectionState> state;
};
[[nodiscard]] std::optional<DescribedEvent> describe_event(const Event& event);

/// Records the events of several clients on one clock. Thread-safe: the clients' dispatcher threads record while
/// the script waits. It must outlive the clients attached to it.
class TimelineRecorder {
public:
    TimelineRecorder(std::string title, std::vector<std::string> lanes, double time_scale);

    void set_detail(const std::string& lane, std::string detail);
    /// From now on, spec time 0 (the timeline tables' T0). Entries recorded before it get negative times.
    void set_origin();
    /// Records every event `client` delivers in `lane` (sets the client's on_event handler).
    void attach(const std::string& lane, Client& client);
    /// Records an entry of the script's own (kind `call`: what it did with the lane's client and the outcome).
    void note(const std::string& lane, EventKind kind, std::string text);
    /// Records a mark now.
    void mark(std::string name, std::string text);

    /// Waits at most `timeout` (real time) for an entry of `lane` with exactly `text`, at index ≥ `from`; returns
    /// its index.
    std::optional<std::size_t> wait_for(const std::string& lane, const std::string& text, std::size_t from,
                                        std::chrono::milliseconds timeout);
    /// Waits at most `timeout` for an entry of `lane` that `match` accepts, at index ≥ `from`.
    std::optional<std::size_t> wait_until(const std::string& lane,
                                          const std::function<bool(const TimelineEntry&)>& match, std::size_t from,
                                          std::chrono::milliseconds timeout);
    /// How many entries there are now (a `from` for the waits).
    [[nodiscard]] std::size_t size() const;
    /// The real time of the entry at `index`, or of the mark called `name`.
    [[nodiscard]] Clock::time_point time_of(std::size_t index) const;
    [[nodiscard]] std::optional<Clock::time_point> mark_time(const std::string& name) const;
    /// Real time ↔ spec time of this recording.
    [[nodiscard]] Clock::duration real(double spec_seconds) const;
    [[nodiscard]] double spec(Clock::time_point at) const;

    /// The recording so far, its end being now.
    [[nodiscard]] RecordedTimeline snapshot() const;

private:
    struct RealEntry {
        std::string lane;
        Clock::time_point at;
        EventKind kind;
        std::string text;
        std::optional<ConnectionState> state;
    };
    struct RealMark {
        std::string name;
        std::string text;
        Clock::time_point at;
    };
    void add(RealEntry entry);

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::string title_;
    std::vector<std::string> lanes_;
    std::map<std::string, std::string> details_;
    double time_scale_;
    Clock::time_point origin_;
    std::vector<RealEntry> entries_;
    std::vector<RealMark> marks_;
};

// --------------------------------------------------------------------------------------------- expectations

/// Where an expected event must happen: between `min` and `max` spec seconds after `after`, which names a mark or
/// the label of an earlier expected event.
struct TimeWindow {
    std::string after;
    double min{0.0};
    double max{0.0};
};

/// One event a lane must observe.
struct ExpectedEvent {
    std::string lane;
    std::string text;                  ///< exactly as the timeline shows it
    std::string label;                 ///< the timeline table's name for it ("T4"), or empty
    std::optional<TimeWindow> within;  ///< when it must happen, if the timeline says
    /// What the picture says at this event, in words a user understands ("4 s without a word from the server →
    /// RECONNECTING"), or empty. Shown only: the checker ignores it.
    std::string caption{};
};

/// What a run must show. For each lane, the entries of the kinds in `compared[lane]` must be exactly the expected
/// events of that lane, in order (so "UID2 sees nothing" is an expectation too: no member event that is not listed).
struct Expectation {
    std::vector<ExpectedEvent> events;
    std::map<std::string, std::set<EventKind>> compared;
    /// Real-time allowance added to every window (scheduling on a loaded machine), converted to spec seconds with
    /// the run's time scale: late by at most this much, early by at most a fifth of it.
    double real_slack_seconds{0.3};
};

/// The verdict on one recording.
struct CheckResult {
    bool ok{true};
    std::vector<std::string> lines;               ///< one per check, "[ ok ] ..." or "[FAIL] ...", for people
    std::map<std::size_t, std::string> labels;    ///< entry index → the label of the expected event it matched
    std::map<std::size_t, std::string> captions;  ///< entry index → the caption of the expected event it matched
};

[[nodiscard]] CheckResult check_timeline(const RecordedTimeline& timeline, const Expectation& expectation);

/// Adds a line to a result: a check of the script's own (e.g. "no reconnect attempt after T7").
void add_check(CheckResult& result, bool held, const std::string& what);

}  // namespace relink::demo
