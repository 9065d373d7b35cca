// tests/core/transition_table_test.cpp — docs/state-machine.md's transition tables, cell by cell.
//
// 1. kConnectionTable and kChannelTable are the documented tables as data. The doc and this file are checked
//    against each other: every transition the core can be driven to must be in the table, and every row of the
//    table must be reachable.
// 2. Named cell tests: for every allowed (from, to, reason) of the connection table, in every profile where it
//    applies, a hand-fed ClientCore (the Rig below: the test plays driver and server) is driven into the from-state,
//    the trigger is applied, and the one resulting connection_state_changed is asserted exactly — previous, state,
//    reason — at its exact time on the virtual clock.
// 3. The explorer: a breadth-first search, per profile, over sequences of every kind of input (each API call with
//    valid and invalid arguments, each server message including unexpected ones, transport reports for the current
//    and for stale transports, the timer at its next deadline, an early wake-up, a long silent wait). It collects
//    every (previous, state, reason) the core emits, then: one test per forbidden (from, to) cell asserts it was never
//    observed; one test per profile asserts observed ⊆ documented, another documented ⊆ observed; and every path
//    checks the invariants (seq + 1 per event, `previous` is the last state, never two identical consecutive
//    (state, reason) pairs, channel events follow the channel table).
//
// Standard script of the named tests (jitter off, so every time is exact): login() at 0 ms, transport open at
// 100 ms, LoginOk at 200 ms → CONNECTED at 200 ms. A silent link goes INTERRUPTED at 200 + 4000 = 4200 ms; the
// first retry opens a transport 300 ms later (4500 ms), which opens at 4600 ms and logs in at 4700 ms. A transport
// that fails while CONNECTED at 1000 ms is retried at 1300 ms (hidden: no state change), opens at 1400 ms.
#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "harness.hpp"

namespace relink::test {
namespace {

using CS = ConnectionState;
using CR = ConnectionReason;
using ChR = ChannelReason;

// ============================================================================================ the documented tables

enum ProfileBits : unsigned {
    kRtm = 1U << 0U,
    kRtc = 1U << 1U,
    kRtcWeb = 1U << 2U,
    kRoom = 1U << 3U,
};
constexpr unsigned kAll = kRtm | kRtc | kRtcWeb | kRoom;
constexpr unsigned kRtcFamily = kRtc | kRtcWeb;  // rtc and rtc-web
constexpr unsigned kRtmRoom = kRtm | kRoom;
constexpr unsigned kWithReconnecting = kRtm | kRtc | kRoom;  // profiles whose outage state is RECONNECTING
constexpr unsigned kTokenFatal = kRtc | kRtcWeb | kRoom;     // profiles where a token problem ends the session

unsigned bit(Profile profile) {
    switch (profile) {
        case Profile::rtm: return kRtm;
        case Profile::rtc: return kRtc;
        case Profile::rtc_web: return kRtcWeb;
        case Profile::room: return kRoom;
    }
    return 0;
}

constexpr Profile kProfiles[] = {Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room};
constexpr CS kStates[] = {CS::disconnected, CS::connecting, CS::connected,    CS::reconnecting,
                          CS::aborted,      CS::failed,     CS::disconnecting};

/// One allowed (from, to, reason) of docs/state-machine.md's connection transition table, and its profiles.
struct Allowed {
    CS from;
    CS to;
    CR reason;
    unsigned profiles;
};

// docs/state-machine.md, "Transition table" — keep the two in the same order.
const std::vector<Allowed> kConnectionTable{
    // DISCONNECTED →
    {CS::disconnected, CS::connecting, CR::login, kRtmRoom},
    {CS::disconnected, CS::connecting, CR::connecting, kRtcFamily},
    {CS::disconnected, CS::failed, CR::invalid_channel_name, kRtcFamily},
    // CONNECTING → (the first login; rtc-web also its automatic reconnect)
    {CS::connecting, CS::disconnected, CR::logout, kRtmRoom},
    {CS::connecting, CS::disconnected, CR::leave_channel, kRtcFamily},
    {CS::connecting, CS::disconnected, CR::login_timeout, kAll},
    {CS::connecting, CS::disconnected, CR::login_failure, kAll},
    {CS::connecting, CS::disconnected, CR::invalid_token, kAll},
    // CONNECTING → DISCONNECTED `RECOVERY_REFUSED` (docs/state-machine.md) is not a row here: it needs a recovery key
    // in the client's configuration, which the explorer's inputs do not reach; tests/server/recovery_test.cpp drives
    // it against the hub.
    {CS::connecting, CS::connecting, CR::client_ip_address_changed, kRtcWeb},
    {CS::connecting, CS::connecting, CR::setting_proxy_server, kRtcWeb},
    {CS::connecting, CS::connecting, CR::keep_alive_timeout, kRtcWeb},
    {CS::connecting, CS::connected, CR::login_success, kRtmRoom},
    {CS::connecting, CS::connected, CR::join_success, kRtcFamily},
    {CS::connecting, CS::connected, CR::rejoin_success, kRtcWeb},
    {CS::connecting, CS::aborted, CR::remote_login, kAll},
    {CS::connecting, CS::aborted, CR::banned_by_server, kRtmRoom},
    {CS::connecting, CS::failed, CR::invalid_app_id, kAll},
    {CS::connecting, CS::failed, CR::invalid_channel_name, kAll},
    {CS::connecting, CS::failed, CR::rejected_by_server, kAll},
    {CS::connecting, CS::failed, CR::banned_by_server, kRtcFamily},
    {CS::connecting, CS::failed, CR::token_expired, kTokenFatal},
    // CONNECTED →
    {CS::connected, CS::disconnected, CR::logout, kRtmRoom},
    {CS::connected, CS::disconnected, CR::leave_channel, kRtcFamily},
    {CS::connected, CS::disconnected, CR::invalid_token, kTokenFatal},
    {CS::connected, CS::connecting, CR::interrupted, kRtcWeb},
    {CS::connected, CS::connecting, CR::client_ip_address_changed, kRtcWeb},
    {CS::connected, CS::connecting, CR::setting_proxy_server, kRtcWeb},
    {CS::connected, CS::connecting, CR::keep_alive_timeout, kRtcWeb},
    {CS::connected, CS::reconnecting, CR::interrupted, kWithReconnecting},
    {CS::connected, CS::reconnecting, CR::client_ip_address_changed, kWithReconnecting},
    {CS::connected, CS::reconnecting, CR::setting_proxy_server, kWithReconnecting},
    {CS::connected, CS::reconnecting, CR::keep_alive_timeout, kWithReconnecting},
    {CS::connected, CS::aborted, CR::remote_login, kAll},
    {CS::connected, CS::aborted, CR::banned_by_server, kRtmRoom},
    {CS::connected, CS::failed, CR::invalid_app_id, kAll},
    {CS::connected, CS::failed, CR::invalid_channel_name, kAll},
    {CS::connected, CS::failed, CR::rejected_by_server, kAll},
    {CS::connected, CS::failed, CR::banned_by_server, kRtcFamily},
    {CS::connected, CS::failed, CR::token_expired, kTokenFatal},
    {CS::connected, CS::disconnecting, CR::leave_channel, kRtcWeb},
    // RECONNECTING →
    {CS::reconnecting, CS::disconnected, CR::logout, kRtmRoom},
    {CS::reconnecting, CS::disconnected, CR::leave_channel, kRtc},
    {CS::reconnecting, CS::disconnected, CR::invalid_token, kRtc | kRoom},
    {CS::reconnecting, CS::connected, CR::login_success, kRtm},
    {CS::reconnecting, CS::connected, CR::rejoin_success, kRtc | kRoom},
    {CS::reconnecting, CS::reconnecting, CR::lost, kRtc},
    {CS::reconnecting, CS::reconnecting, CR::client_ip_address_changed, kWithReconnecting},
    {CS::reconnecting, CS::reconnecting, CR::setting_proxy_server, kWithReconnecting},
    {CS::reconnecting, CS::reconnecting, CR::keep_alive_timeout, kWithReconnecting},
    {CS::reconnecting, CS::reconnecting, CR::renew_token, kRtm},
    {CS::reconnecting, CS::aborted, CR::remote_login, kWithReconnecting},
    {CS::reconnecting, CS::aborted, CR::banned_by_server, kRtmRoom},
    {CS::reconnecting, CS::failed, CR::join_failed, kRtc | kRoom},
    {CS::reconnecting, CS::failed, CR::invalid_app_id, kWithReconnecting},
    {CS::reconnecting, CS::failed, CR::invalid_channel_name, kWithReconnecting},
    {CS::reconnecting, CS::failed, CR::rejected_by_server, kWithReconnecting},
    {CS::reconnecting, CS::failed, CR::banned_by_server, kRtc},
    {CS::reconnecting, CS::failed, CR::token_expired, kRtc | kRoom},
    // ABORTED →, FAILED →
    {CS::aborted, CS::disconnected, CR::logout, kRtmRoom},
    {CS::aborted, CS::disconnected, CR::leave_channel, kRtcFamily},
    {CS::failed, CS::disconnected, CR::logout, kRtmRoom},
    {CS::failed, CS::disconnected, CR::leave_channel, kRtcFamily},
    // DISCONNECTING → (rtc-web only): every way out completes the leave.
    {CS::disconnecting, CS::disconnected, CR::leave_channel, kRtcWeb},
};

bool documented(Profile profile, CS from, CS to, CR reason) {
    return std::any_of(kConnectionTable.begin(), kConnectionTable.end(), [&](const Allowed& a) {
        return a.from == from && a.to == to && a.reason == reason && (a.profiles & bit(profile)) != 0;
    });
}

bool cell_allowed(Profile profile, CS from, CS to) {
    return std::any_of(kConnectionTable.begin(), kConnectionTable.end(), [&](const Allowed& a) {
        return a.from == from && a.to == to && (a.profiles & bit(profile)) != 0;
    });
}

/// docs/state-machine.md, "Channel states": the state each reason goes with, the reasons it may follow
/// (nullopt: the channel was unknown), and its error.
enum class ErrorRule : std::uint8_t { none, any, network_interrupted, kicked, unknown_channel };
struct ChannelRow {
    ChR reason;
    ChannelState state;
    std::vector<std::optional<ChR>> after;
    ErrorRule error;
};
const std::vector<ChannelRow> kChannelTable{
    {ChR::joining, ChannelState::connecting, {std::nullopt}, ErrorRule::none},
    {ChR::joined, ChannelState::connected, {ChR::joining}, ErrorRule::none},
    {ChR::join_failed,
     ChannelState::disconnected,
     {ChR::joining, ChR::joined, ChR::rejoining, ChR::rejoined},
     ErrorRule::any},
    {ChR::rejoining, ChannelState::connecting, {ChR::joined, ChR::rejoined}, ErrorRule::network_interrupted},
    {ChR::rejoined, ChannelState::connected, {ChR::rejoining}, ErrorRule::none},
    {ChR::rejoin_failed, ChannelState::disconnected, {ChR::joined, ChR::rejoining, ChR::rejoined}, ErrorRule::any},
    {ChR::kicked_out,
     ChannelState::disconnected,
     {ChR::joining, ChR::joined, ChR::rejoining, ChR::rejoined},
     ErrorRule::kicked},
    {ChR::left,
     ChannelState::disconnected,
     {ChR::joining, ChR::joined, ChR::rejoining, ChR::rejoined},
     ErrorRule::none},
    {ChR::leave_failed, ChannelState::disconnected, {std::nullopt}, ErrorRule::unknown_channel},
};

// ============================================================================================ profile helpers

bool rtc_family(Profile p) {
    return p == Profile::rtc || p == Profile::rtc_web;
}
CR start_reason(Profile p) {
    return rtc_family(p) ? CR::connecting : CR::login;
}
CR first_success(Profile p) {
    return rtc_family(p) ? CR::join_success : CR::login_success;
}
CR reconnect_success(Profile p) {
    return p == Profile::rtm ? CR::login_success : CR::rejoin_success;
}
CR end_reason(Profile p) {
    return rtc_family(p) ? CR::leave_channel : CR::logout;
}
CS outage_state(Profile p) {
    return p == Profile::rtc_web ? CS::connecting : CS::reconnecting;
}

std::string profile_name(Profile p) {
    std::string name(to_string(p));
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

std::string camel(CS state) {
    std::string out;
    bool upper = true;
    for (const char c : to_string(state)) {
        if (c == '_') {
            upper = true;
            continue;
        }
        out += upper ? c : static_cast<char>(c - 'A' + 'a');
        upper = false;
    }
    return out;
}

std::string triple_text(CS from, CS to, CR reason) {
    return std::string(to_string(from)) + " → " + std::string(to_string(to)) + " " + std::string(to_string(reason));
}

std::error_code ec(errc code) {
    return make_error_code(code);
}

proto::ChannelSnapshot snapshot(std::string channel, std::error_code error, std::vector<proto::Member> members) {
    proto::ChannelSnapshot out;
    out.channel = std::move(channel);
    out.error = error;
    out.members = std::move(members);
    return out;
}

// ============================================================================================ the rig

constexpr proto::RequestId kUnknownRequest = 999'999;

enum class Link : std::uint8_t { none, opening, logging_in, up };

template <class... F>
struct Overload : F... {
    using F::operator()...;
};
template <class... F>
Overload(F...) -> Overload<F...>;

struct Change {
    TimePoint at;
    core::ConnectionStateChanged event;
};

/// A ClientCore driven by hand: the test is its driver (it performs the core's actions by remembering them) and its
/// server (it answers with whatever message the test chooses). Every event is recorded with its virtual time and
/// checked against the invariants on the way.
class Rig {
public:
    explicit Rig(Profile p, const std::function<void(Timings&)>& tweak = {}) : profile(p), core(config(p, tweak)) {}

    static core::Config config(Profile p, const std::function<void(Timings&)>& tweak) {
        core::Config c = exact_config(p);
        if (tweak) {
            tweak(c.timings);
        }
        return c;
    }

    // ---- inputs

    template <class F>
    auto api(F&& fn) {
        if constexpr (std::is_void_v<decltype(fn(core, now))>) {
            fn(core, now);
            drain();
        } else {
            auto result = fn(core, now);
            drain();
            return result;
        }
    }

    /// login() (rtm, room) or join_session(…, "ch") (rtc, rtc-web), at `now`.
    std::error_code start() {
        return api([&](core::ClientCore& c, TimePoint t) {
            return rtc_family(profile) ? c.join_session(t, "UID1", "valid", "ch") : c.login(t, "UID1", "valid");
        });
    }
    std::error_code logout() {
        return api([](core::ClientCore& c, TimePoint t) { return c.logout(t); });
    }
    void open() {
        core.on_transport_open(now, transport);
        drain();
    }
    void open_on(core::TransportId id) {
        core.on_transport_open(now, id);
        drain();
    }
    void transport_closed(std::optional<core::TransportId> id = std::nullopt) {
        const core::TransportId which = id.value_or(transport);
        core.on_transport_closed(now, which, std::make_error_code(std::errc::connection_reset));
        if (which == transport) {
            link = Link::none;
        }
        drain();
    }
    void deliver(proto::ServerMessage message, std::optional<core::TransportId> id = std::nullopt) {
        core.on_message(now, id.value_or(transport), std::move(message));
        drain();
    }
    [[nodiscard]] proto::LoginOk login_ok_message(Duration ttl = {}, std::error_code channel_error = {},
                                                  bool resumed = false) const {
        proto::LoginOk ok;
        ok.request_id = login ? login->request_id : kUnknownRequest;
        ok.resume_token = "resume-1";
        ok.resumed = resumed;
        ok.token_ttl = ttl;
        if (login) {
            for (const auto& channel : login->channels) {
                ok.channels.push_back(snapshot(channel.channel, channel_error, {{"UID2", {"cam2"}}}));
            }
        }
        return ok;
    }
    void login_ok(Duration ttl = {}) { deliver(login_ok_message(ttl)); }
    void refuse(errc code) { deliver(proto::Reply{login ? login->request_id : kUnknownRequest, ec(code)}); }
    void close(proto::CloseReason reason, Duration within = {}) { deliver(proto::Close{reason, within}); }

    /// The driver's timer: fires every deadline up to `t` in order, then the clock stands at `t`.
    void advance_to(TimePoint t) {
        for (int round = 0; round < 1'000'000; ++round) {
            const auto deadline = core.next_deadline();
            if (!deadline || *deadline > t) {
                now = std::max(now, t);
                return;
            }
            now = std::max(now, *deadline);
            core.handle_timeout(now);
            drain();
        }
        violations.push_back("livelock: the deadline does not move at " + ms_text(now));
    }
    void advance(Duration d) { advance_to(now + d); }
    /// One wake-up at the next deadline (nothing if there is none).
    void tick() {
        if (const auto deadline = core.next_deadline()) {
            now = std::max(now, *deadline);
            core.handle_timeout(now);
            drain();
        }
    }
    /// The network stays silent (transports hang): wake up at each deadline until the state changes, or until the
    /// longest timer of the profile (login timeout, give-up, message timeout ...) plus a minute has passed.
    void wait() {
        const Timings& t = core.config().timings;
        const Duration limit = std::max({t.login_timeout, t.give_up_after, t.lost_after, t.message_timeout,
                                         t.leave_timeout, t.stable_after}) +
                               std::chrono::minutes(1);
        const std::size_t before = changes.size();
        const TimePoint end = now + limit;
        for (int round = 0; round < 100'000 && changes.size() == before; ++round) {
            const auto deadline = core.next_deadline();
            if (!deadline || *deadline > end) {
                return;
            }
            now = std::max(now, *deadline);
            core.handle_timeout(now);
            drain();
        }
    }

    // ---- scenario shortcuts of the standard script

    /// start() now, open 100 ms later, LoginOk 100 ms after that: CONNECTED.
    void connect() {
        start();
        advance(100ms);
        open();
        advance(100ms);
        login_ok();
    }
    /// From CONNECTED at 200 ms with a silent link: the outage state (INTERRUPTED) at 4200 ms.
    void interrupt() { advance_to(at_ms(4200)); }
    /// From the outage state entered at 4200 ms: the first retry opens at 4500 ms, its transport at 4600 ms.
    void reconnect_attempt_open() {
        advance_to(at_ms(4600));
        open();
    }
    /// From CONNECTED at 200 ms: the transport fails at 1000 ms (hidden), the retry's transport opens at 1400 ms.
    void hidden_reconnect_open() {
        advance_to(at_ms(1000));
        transport_closed();
        advance_to(at_ms(1400));
        open();
    }

    // ---- outputs

    [[nodiscard]] std::size_t mark() const { return changes.size(); }

    /// Exactly one connection_state_changed since `mark`, and it is (from → to, reason) at `at`.
    [[nodiscard]] ::testing::AssertionResult changed_once(std::size_t since, CS from, CS to, CR reason,
                                                          TimePoint at) const {
        std::ostringstream got;
        for (std::size_t i = since; i < changes.size(); ++i) {
            const auto& c = changes[i];
            got << "\n  " << ms_text(c.at) << " ms: " << triple_text(c.event.previous, c.event.state, c.event.reason);
        }
        const std::string want = ms_text(at) + " ms: " + triple_text(from, to, reason);
        if (changes.size() != since + 1) {
            return ::testing::AssertionFailure()
                   << "want exactly one change, " << want << "; got " << (changes.size() - since) << ":" << got.str();
        }
        const auto& c = changes.back();
        if (c.at != at || c.event.previous != from || c.event.state != to || c.event.reason != reason) {
            return ::testing::AssertionFailure() << "want " << want << "; got" << got.str();
        }
        if (core.state() != to) {
            return ::testing::AssertionFailure()
                   << "state() is " << to_string(core.state()) << ", want " << to_string(to);
        }
        return ::testing::AssertionSuccess();
    }
    [[nodiscard]] ::testing::AssertionResult unchanged_since(std::size_t since) const {
        if (changes.size() == since) {
            return ::testing::AssertionSuccess();
        }
        const auto& c = changes[since];
        return ::testing::AssertionFailure() << "unexpected change at " << ms_text(c.at)
                                             << " ms: " << triple_text(c.event.previous, c.event.state, c.event.reason);
    }
    template <class E>
    [[nodiscard]] std::vector<TimePoint> times_of() const {
        std::vector<TimePoint> out;
        for (const auto& [at, event] : events) {
            if (std::holds_alternative<E>(event)) {
                out.push_back(at);
            }
        }
        return out;
    }
    [[nodiscard]] std::vector<std::string> channel_events() const {
        std::vector<std::string> out;
        for (const auto& [at, event] : events) {
            if (const auto* e = std::get_if<core::ChannelStateChanged>(&event)) {
                out.push_back(ms_text(at) + " " + e->channel + " " + std::string(to_string(e->reason)) +
                              (e->error ? std::string(" ") + error_name(e->error) : std::string()));
            }
        }
        return out;
    }

    Profile profile;
    core::ClientCore core;
    TimePoint now{};

    // The driver's view of the link, learnt from the core's actions.
    Link link{Link::none};
    core::TransportId transport{0};
    std::optional<proto::Login> login;
    std::optional<proto::RequestId> logout_request;
    std::map<std::string, proto::RequestId> join_requests;
    std::optional<proto::RequestId> op_request;
    std::optional<proto::RequestId> get_request;
    std::optional<proto::RequestId> renew_request;
    std::vector<TimePoint> opens;  ///< when each OpenTransport was asked for

    // What the core said.
    bool record{true};
    std::vector<std::pair<TimePoint, core::Event>> events;
    std::vector<Change> changes;

    // Invariants, checked on every event.
    CS last_state{CS::disconnected};
    std::optional<CR> last_reason;
    std::uint64_t last_seq{0};
    std::map<std::string, ChR> channel_reasons;
    std::vector<std::string> violations;

private:
    void drain() {
        while (auto action = core.poll_action()) {
            observe(*action);
        }
        while (auto event = core.poll_event()) {
            observe(std::move(*event));
        }
        if (core.link_up()) {
            link = Link::up;
        } else if (link == Link::up) {
            link = Link::none;
        }
        if (core.state() != last_state) {
            violations.push_back("state() is " + std::string(to_string(core.state())) + " but the last event said " +
                                 std::string(to_string(last_state)));
        }
    }

    void observe(const core::Action& action) {
        if (const auto* open_action = std::get_if<core::OpenTransport>(&action)) {
            transport = open_action->transport;
            link = Link::opening;
            login.reset();
            logout_request.reset();
            join_requests.clear();
            opens.push_back(now);
            return;
        }
        if (const auto* close_action = std::get_if<core::CloseTransport>(&action)) {
            if (close_action->transport == transport) {
                link = Link::none;
            }
            return;
        }
        const auto& frame = std::get<core::SendFrame>(action);
        if (frame.transport != transport) {
            violations.push_back("a frame on transport " + std::to_string(frame.transport) + ", not the current one");
        }
        std::visit(Overload{[&](const proto::Login& m) {
                                login = m;
                                link = Link::logging_in;
                            },
                            [&](const proto::Logout& m) { logout_request = m.request_id; },
                            [&](const proto::Join& m) { join_requests[m.channel] = m.request_id; },
                            [&](const proto::GetAttributes& m) { get_request = op_request = m.request_id; },
                            [&](const proto::RenewToken& m) { renew_request = op_request = m.request_id; },
                            [&](const proto::Ping&) {}, [&](const auto& m) { op_request = m.request_id; }},
                   frame.message);
    }

    void observe(core::Event event) {
        if (const auto* e = std::get_if<core::ConnectionStateChanged>(&event)) {
            check_change(*e);
            changes.push_back({now, *e});
        } else if (const auto* c = std::get_if<core::ChannelStateChanged>(&event)) {
            check_channel(*c);
        }
        if (record) {
            events.emplace_back(now, std::move(event));
        }
    }

    void check_change(const core::ConnectionStateChanged& e) {
        const auto what = [&] { return triple_text(e.previous, e.state, e.reason); };
        if (e.previous != last_state) {
            violations.push_back(what() + ": previous should be " + std::string(to_string(last_state)));
        }
        if (e.state == last_state && last_reason == e.reason) {
            violations.push_back(what() + ": two identical consecutive (state, reason) pairs");
        }
        if (e.seq != last_seq + 1) {
            violations.push_back(what() + ": seq " + std::to_string(e.seq) + " after " + std::to_string(last_seq));
        }
        last_state = e.state;
        last_reason = e.reason;
        last_seq = e.seq;
    }

    void check_channel(const core::ChannelStateChanged& e) {
        const auto what = [&] { return "channel " + e.channel + " " + std::string(to_string(e.reason)); };
        const auto row = std::find_if(kChannelTable.begin(), kChannelTable.end(),
                                      [&](const ChannelRow& r) { return r.reason == e.reason; });
        if (row == kChannelTable.end()) {
            violations.push_back(what() + ": reason missing from the channel table");
            return;
        }
        if (e.state != row->state) {
            violations.push_back(what() + ": state " + std::string(to_string(e.state)));
        }
        const auto known = channel_reasons.find(e.channel);
        const std::optional<ChR> before =
            known == channel_reasons.end() ? std::nullopt : std::optional<ChR>(known->second);
        if (std::find(row->after.begin(), row->after.end(), before) == row->after.end()) {
            violations.push_back(what() + " after " + (before ? std::string(to_string(*before)) : "nothing"));
        }
        bool error_ok = true;
        switch (row->error) {
            case ErrorRule::none: error_ok = !e.error; break;
            case ErrorRule::any: error_ok = static_cast<bool>(e.error); break;
            case ErrorRule::network_interrupted: error_ok = e.error == ec(errc::network_interrupted); break;
            case ErrorRule::kicked:
                error_ok = e.error == ec(errc::remote_login) || e.error == ec(errc::banned_by_server);
                break;
            case ErrorRule::unknown_channel: error_ok = e.error == ec(errc::unknown_channel); break;
        }
        if (!error_ok) {
            violations.push_back(what() + ": error " + error_name(e.error));
        }
        if (e.reason == ChR::leave_failed) {
            return;  // about a channel that is not there: it stays unknown
        }
        if (e.state == ChannelState::disconnected) {
            channel_reasons.erase(e.channel);
        } else {
            channel_reasons[e.channel] = e.reason;
        }
    }
};

// ============================================================================================ named cell tests
//
// Suites by the profiles a row applies to; instances are named after the profile (…/rtm, …/rtc_web).

class Transition : public ::testing::TestWithParam<Profile> {
protected:
    [[nodiscard]] Profile profile() const { return GetParam(); }
};

std::string param_name(const ::testing::TestParamInfo<Profile>& info) {
    return profile_name(info.param);
}

class TransitionAll : public Transition {};
class TransitionReconnecting : public Transition {};  // rtm, rtc, room: the outage state is RECONNECTING
class TransitionRtmRoom : public Transition {};
class TransitionRtcFamily : public Transition {};
class TransitionTokenFatal : public Transition {};  // rtc, rtc-web, room
class TransitionRtcRoom : public Transition {};     // the profiles that give up

INSTANTIATE_TEST_SUITE_P(, TransitionAll,
                         ::testing::Values(Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room), param_name);
INSTANTIATE_TEST_SUITE_P(, TransitionReconnecting, ::testing::Values(Profile::rtm, Profile::rtc, Profile::room),
                         param_name);
INSTANTIATE_TEST_SUITE_P(, TransitionRtmRoom, ::testing::Values(Profile::rtm, Profile::room), param_name);
INSTANTIATE_TEST_SUITE_P(, TransitionRtcFamily, ::testing::Values(Profile::rtc, Profile::rtc_web), param_name);
INSTANTIATE_TEST_SUITE_P(, TransitionTokenFatal, ::testing::Values(Profile::rtc, Profile::rtc_web, Profile::room),
                         param_name);
INSTANTIATE_TEST_SUITE_P(, TransitionRtcRoom, ::testing::Values(Profile::rtc, Profile::room), param_name);

// ---------------------------------------------------------------------------------- DISCONNECTED →

TEST_P(TransitionAll, DisconnectedToConnecting_Login) {
    Rig rig(profile());
    rig.advance_to(at_ms(500));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.start());
    EXPECT_TRUE(rig.changed_once(mark, CS::disconnected, CS::connecting, start_reason(profile()), at_ms(500)));
    EXPECT_EQ(rig.opens, std::vector<TimePoint>{at_ms(500)});
}

TEST_P(TransitionRtcFamily, DisconnectedToFailed_InvalidChannelName) {
    Rig rig(profile());
    rig.advance_to(at_ms(500));
    const auto mark = rig.mark();
    const auto error =
        rig.api([](core::ClientCore& c, TimePoint t) { return c.join_session(t, "UID1", "valid", "a*b"); });
    EXPECT_EQ(error, ec(errc::invalid_channel_name));
    EXPECT_TRUE(rig.changed_once(mark, CS::disconnected, CS::failed, CR::invalid_channel_name, at_ms(500)));
    EXPECT_TRUE(rig.opens.empty()) << "the server is never contacted";
}

TEST_P(TransitionRtmRoom, DisconnectedStaysDisconnected_InvalidChannelNameOnlyFailsTheCall) {
    Rig rig(profile());
    const auto error = rig.api([](core::ClientCore& c, TimePoint t) { return c.login(t, "UID1", "valid", {"a*b"}); });
    EXPECT_EQ(error, ec(errc::invalid_channel_name));
    EXPECT_TRUE(rig.unchanged_since(0));
    EXPECT_TRUE(rig.opens.empty());
}

TEST_P(TransitionAll, DisconnectedStaysDisconnected_BadCallsChangeNothing) {
    Rig rig(profile());
    EXPECT_EQ(rig.logout(), ec(errc::not_logged_in));
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.login(t, " UID1", "valid"); }),
              ec(errc::invalid_user_id));
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch"); }), ec(errc::not_logged_in));
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.leave(t, "ch"); }), ec(errc::not_logged_in));
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_proxy_changed(t); });
    EXPECT_TRUE(rig.unchanged_since(0));
    EXPECT_FALSE(rig.core.next_deadline().has_value());
}

// ---------------------------------------------------------------------------------- CONNECTING →

TEST_P(TransitionAll, ConnectingToDisconnected_Logout) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(150));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.logout());
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, end_reason(profile()), at_ms(150)));
    EXPECT_FALSE(rig.core.next_deadline().has_value());
}

TEST_P(TransitionRtcFamily, ConnectingToDisconnected_LeaveOfTheOnlyChannel) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(150));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.leave(t, "ch"); }));
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, CR::leave_channel, at_ms(150)));
}

TEST_P(TransitionAll, ConnectingToDisconnected_LoginTimeout) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(60'000));  // no transport ever opens
    EXPECT_TRUE(rig.changed_once(1, CS::connecting, CS::disconnected, CR::login_timeout, at_ms(12'000)));
    // Decision: within the login timeout, transport failures are retried with backoff (300 ms, 480 ms ... with
    // jitter off), counted from the start of the failed attempt; never after it. Each attempt hangs for the 5 s
    // attempt timeout, longer than the delay, so the next one starts when it is abandoned (jitter off: no pause).
    const std::vector<TimePoint> want{at_ms(0), at_ms(5000), at_ms(10'000)};
    EXPECT_EQ(rig.opens, want);
}

TEST_P(TransitionAll, ConnectingToDisconnected_LoginFailure) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::login_failure);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, CR::login_failure, at_ms(200)));
    // A refused first login is never retried.
    rig.advance_to(at_ms(60'000));
    EXPECT_EQ(rig.opens.size(), 1U);
}

TEST_P(TransitionAll, ConnectingToDisconnected_LoginFailureForAnUnlistedError) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::rate_limited);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, CR::login_failure, at_ms(200)));
}

TEST(TransitionRtm, ConnectingToDisconnected_LoginFailureForAnExpiredToken) {
    Rig rig(Profile::rtm);
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::token_expired);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, CR::login_failure, at_ms(200)));
    EXPECT_EQ(rig.times_of<core::TokenExpired>(), std::vector<TimePoint>{at_ms(200)});
}

TEST_P(TransitionAll, ConnectingToDisconnected_InvalidToken) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_token);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, CR::invalid_token, at_ms(200)));
}

TEST_P(TransitionAll, ConnectingToConnected_FirstLogin) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.login_ok();
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::connected, first_success(profile()), at_ms(200)));
    EXPECT_TRUE(rig.core.link_up());
}

TEST_P(TransitionAll, ConnectingStaysConnecting_TransportFailuresAndDrainingAreRetried) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.close(proto::CloseReason::draining, 1000ms);
    rig.advance_to(at_ms(2000));
    rig.open();
    rig.close(proto::CloseReason::keep_alive_timeout);
    rig.close(proto::CloseReason::invalid);
    rig.transport_closed();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_proxy_changed(t); });
    EXPECT_TRUE(rig.unchanged_since(1)) << "only the initial CONNECTING";
    EXPECT_EQ(rig.core.state(), CS::connecting);
}

TEST_P(TransitionAll, ConnectingToAborted_RemoteLogin) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::remote_login);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::aborted, CR::remote_login, at_ms(200)));
}

TEST_P(TransitionAll, ConnectingToAborted_RemoteLoginClose) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(150));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::remote_login);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::aborted, CR::remote_login, at_ms(150)));
    rig.advance_to(at_ms(60'000));
    EXPECT_EQ(rig.opens.size(), 1U) << "never logs in again by itself";
}

TEST_P(TransitionRtmRoom, ConnectingToAborted_BannedByServer) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::banned_by_server);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::aborted, CR::banned_by_server, at_ms(200)));
}

TEST_P(TransitionRtcFamily, ConnectingToFailed_BannedByServer) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::banned_by_server);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::failed, CR::banned_by_server, at_ms(200)));
}

TEST_P(TransitionAll, ConnectingToFailed_InvalidAppId) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_app_id);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::failed, CR::invalid_app_id, at_ms(200)));
}

TEST_P(TransitionAll, ConnectingToFailed_InvalidChannelName) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_channel_name);  // the server's rule is stricter than the client's
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::failed, CR::invalid_channel_name, at_ms(200)));
}

TEST_P(TransitionAll, ConnectingToFailed_RejectedByServer) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::rejected_by_server);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::failed, CR::rejected_by_server, at_ms(200)));
}

TEST_P(TransitionRtcFamily, ConnectingToFailed_RejectedByServer_JoinOfTheChannelBeingJoined) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(150));
    const auto mark = rig.mark();
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch"); }), ec(errc::already_joined));
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::failed, CR::rejected_by_server, at_ms(150)));
}

TEST_P(TransitionTokenFatal, ConnectingToFailed_TokenExpired) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(200));
    const auto mark = rig.mark();
    rig.refuse(errc::token_expired);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::failed, CR::token_expired, at_ms(200)));
}

TEST_P(TransitionTokenFatal, ConnectingToFailed_TokenExpiredClose) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.advance_to(at_ms(150));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::token_expired);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::failed, CR::token_expired, at_ms(150)));
}

// ---------------------------------------------------------------------------------- CONNECTED →

TEST_P(TransitionAll, ConnectedToConnected_HiddenReconnectEmitsNothing) {
    // The hidden "connected but link down" sub-state: a reconnect within `interrupted_after` shows no change.
    Rig rig(profile());
    rig.connect();
    const auto mark = rig.mark();
    rig.hidden_reconnect_open();
    EXPECT_FALSE(rig.core.link_up());
    EXPECT_EQ(rig.core.state(), CS::connected);
    rig.advance_to(at_ms(1500));
    rig.login_ok();
    rig.advance_to(at_ms(4200));  // the silence detector counts from the last data: LoginOk at 1500 ms
    EXPECT_TRUE(rig.unchanged_since(mark));
    EXPECT_TRUE(rig.core.link_up());
    EXPECT_EQ(rig.times_of<core::ContinuityReport>(), std::vector<TimePoint>{at_ms(1500)});
}

TEST_P(TransitionAll, ConnectedToDisconnected_Logout) {
    Rig rig(profile());
    rig.connect();
    if (profile() == Profile::rtc_web) {
        // rtc-web leaves gracefully (DISCONNECTING) while its link is up; with the link down (the hidden sub-state)
        // there is nobody to wait for, so it goes straight to DISCONNECTED.
        rig.advance_to(at_ms(1000));
        rig.transport_closed();
    }
    rig.advance_to(at_ms(1100));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.logout());
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::disconnected, end_reason(profile()), at_ms(1100)));
    EXPECT_FALSE(rig.core.next_deadline().has_value());
}

TEST_P(TransitionTokenFatal, ConnectedToDisconnected_InvalidToken) {
    Rig rig(profile());
    rig.connect();
    rig.hidden_reconnect_open();
    rig.advance_to(at_ms(1500));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_token);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::disconnected, CR::invalid_token, at_ms(1500)));
}

TEST_P(TransitionReconnecting, ConnectedToReconnecting_Interrupted) {
    Rig rig(profile());
    rig.connect();
    const auto mark = rig.mark();
    rig.advance_to(at_ms(4500));  // heartbeats go out, nothing comes back
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::reconnecting, CR::interrupted, at_ms(4200)));
    EXPECT_EQ(rig.opens.back(), at_ms(4500)) << "first retry after the first backoff delay";
}

TEST_P(TransitionReconnecting, ConnectedToReconnecting_InterruptedAfterTransportFailure) {
    Rig rig(profile());
    rig.connect();
    const auto mark = rig.mark();
    rig.advance_to(at_ms(1000));
    rig.transport_closed();
    rig.advance_to(at_ms(5000));
    // Counted from the last data received (LoginOk at 200 ms), not from the failure.
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::reconnecting, CR::interrupted, at_ms(4200)));
    EXPECT_EQ(rig.opens.back(), at_ms(1300)) << "reconnecting started at once, hidden";
}

// While CONNECTED the hint probes the link (one Ping at once); the rig answers nothing, so the link is dead when the
// probe timeout passes: 1 s, as no round trip was measured yet.
TEST_P(TransitionReconnecting, ConnectedToReconnecting_ClientIpAddressChanged) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    EXPECT_TRUE(rig.unchanged_since(mark)) << "the probe is under way";
    rig.advance_to(at_ms(2000));
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::reconnecting, CR::client_ip_address_changed, at_ms(2000)));
    EXPECT_EQ(rig.opens.back(), at_ms(2000)) << "no backoff";
}

TEST_P(TransitionReconnecting, ConnectedToReconnecting_SettingProxyServer) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_proxy_changed(t); });
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::reconnecting, CR::setting_proxy_server, at_ms(1000)));
    EXPECT_EQ(rig.opens.back(), at_ms(1000));
}

TEST_P(TransitionReconnecting, ConnectedToReconnecting_KeepAliveTimeout) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::keep_alive_timeout);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::reconnecting, CR::keep_alive_timeout, at_ms(1000)));
    EXPECT_EQ(rig.opens.back(), at_ms(1000)) << "reconnect at once";
}

TEST_P(TransitionAll, ConnectedToAborted_RemoteLogin) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::remote_login);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::aborted, CR::remote_login, at_ms(1000)));
    rig.advance_to(at_ms(60'000));
    EXPECT_EQ(rig.opens.size(), 1U) << "never logs in again by itself";
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.send_peer_message(t, "UID2", "hi"); }).error,
              ec(errc::not_logged_in));
}

TEST_P(TransitionAll, ConnectedToAborted_RemoteLoginRefusedReconnect) {
    Rig rig(profile());
    rig.connect();
    rig.hidden_reconnect_open();
    rig.advance_to(at_ms(1500));
    const auto mark = rig.mark();
    rig.refuse(errc::remote_login);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::aborted, CR::remote_login, at_ms(1500)));
}

TEST_P(TransitionRtmRoom, ConnectedToAborted_BannedByServer) {
    for (const auto reason : {proto::CloseReason::banned, proto::CloseReason::kicked}) {
        Rig rig(profile());
        rig.connect();
        rig.advance_to(at_ms(1000));
        const auto mark = rig.mark();
        rig.close(reason);
        EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::aborted, CR::banned_by_server, at_ms(1000)));
    }
}

TEST_P(TransitionRtcFamily, ConnectedToFailed_BannedByServer) {
    for (const auto reason : {proto::CloseReason::banned, proto::CloseReason::kicked}) {
        Rig rig(profile());
        rig.connect();
        rig.advance_to(at_ms(1000));
        const auto mark = rig.mark();
        rig.close(reason);
        EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::failed, CR::banned_by_server, at_ms(1000)));
    }
}

TEST_P(TransitionTokenFatal, ConnectedToFailed_TokenExpired) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::token_expired);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::failed, CR::token_expired, at_ms(1000)));
    EXPECT_EQ(rig.times_of<core::TokenExpired>(), std::vector<TimePoint>{at_ms(1000)});
}

TEST_P(TransitionAll, ConnectedToFailed_InvalidAppId) {
    Rig rig(profile());
    rig.connect();
    rig.hidden_reconnect_open();
    rig.advance_to(at_ms(1500));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_app_id);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::failed, CR::invalid_app_id, at_ms(1500)));
}

TEST_P(TransitionAll, ConnectedToFailed_InvalidChannelName) {
    Rig rig(profile());
    rig.connect();
    rig.hidden_reconnect_open();
    rig.advance_to(at_ms(1500));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_channel_name);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::failed, CR::invalid_channel_name, at_ms(1500)));
}

TEST_P(TransitionAll, ConnectedToFailed_RejectedByServer) {
    Rig rig(profile());
    rig.connect();
    rig.hidden_reconnect_open();
    rig.advance_to(at_ms(1500));
    const auto mark = rig.mark();
    rig.refuse(errc::rejected_by_server);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::failed, CR::rejected_by_server, at_ms(1500)));
}

TEST_P(TransitionRtcFamily, ConnectedToFailed_RejectedByServer_JoinOfAJoinedChannel) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch"); }), ec(errc::already_joined));
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::failed, CR::rejected_by_server, at_ms(1000)));
    const std::vector<std::string> channels{"0 ch JOINING", "200 ch JOINED", "1000 ch JOIN_FAILED REJECTED_BY_SERVER"};
    EXPECT_EQ(rig.channel_events(), channels);
}

TEST_P(TransitionRtcFamily, ConnectedToFailed_RejectedByServer_JoinReply) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch2"); }));
    rig.advance_to(at_ms(1100));
    const auto mark = rig.mark();
    rig.deliver(proto::Reply{rig.join_requests.at("ch2"), ec(errc::rejected_by_server)});
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::failed, CR::rejected_by_server, at_ms(1100)));
}

TEST_P(TransitionRtmRoom, ConnectedStaysConnected_JoinOfAJoinedChannelOnlyFailsTheCall) {
    Rig rig(profile());
    rig.connect();
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch"); }));
    const auto mark = rig.mark();
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch"); }), ec(errc::already_joined));
    rig.deliver(proto::Reply{rig.join_requests.at("ch"), ec(errc::rejected_by_server)});
    EXPECT_TRUE(rig.unchanged_since(mark));
    EXPECT_EQ(rig.core.channel_state("ch"), std::nullopt) << "only the channel failed";
}

// ---------------------------------------------------------------------------------- RECONNECTING →

TEST_P(TransitionReconnecting, ReconnectingToConnected_Reconnected) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    EXPECT_EQ(rig.opens.back(), at_ms(4500));
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.login_ok();
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::connected, reconnect_success(profile()), at_ms(4700)));
    EXPECT_EQ(rig.times_of<core::RejoinSuccess>().size(), profile() == Profile::rtm ? 0U : 1U);
}

TEST_P(TransitionReconnecting, ReconnectingToReconnecting_ClientIpAddressChanged) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(5000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::reconnecting, CR::client_ip_address_changed, at_ms(5000)));
    EXPECT_EQ(rig.opens.back(), at_ms(5000));
}

TEST_P(TransitionReconnecting, ReconnectingToReconnecting_SameReasonTwiceEmitsOnce) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(5000));
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    rig.advance_to(at_ms(5100));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    EXPECT_TRUE(rig.unchanged_since(mark)) << "RECONNECTING CLIENT_IP_ADDRESS_CHANGED twice in a row";
    EXPECT_EQ(rig.opens.back(), at_ms(5100)) << "but the attempt starts over";
}

TEST_P(TransitionReconnecting, ReconnectingToReconnecting_SettingProxyServer) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(5000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_proxy_changed(t); });
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::reconnecting, CR::setting_proxy_server, at_ms(5000)));
}

TEST_P(TransitionReconnecting, ReconnectingToReconnecting_KeepAliveTimeout) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4650));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::keep_alive_timeout);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::reconnecting, CR::keep_alive_timeout, at_ms(4650)));
    EXPECT_EQ(rig.opens.back(), at_ms(4650));
}

TEST_P(TransitionReconnecting, ReconnectingToDisconnected_Logout) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(5000));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.logout());
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::disconnected, end_reason(profile()), at_ms(5000)));
    EXPECT_FALSE(rig.core.next_deadline().has_value());
}

TEST_P(TransitionReconnecting, ReconnectingToAborted_RemoteLogin) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::remote_login);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::aborted, CR::remote_login, at_ms(4700)));
}

TEST_P(TransitionRtmRoom, ReconnectingToAborted_BannedByServer) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::banned_by_server);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::aborted, CR::banned_by_server, at_ms(4700)));
}

TEST_P(TransitionReconnecting, ReconnectingToFailed_InvalidAppId) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_app_id);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::failed, CR::invalid_app_id, at_ms(4700)));
}

TEST_P(TransitionReconnecting, ReconnectingToFailed_InvalidChannelName) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_channel_name);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::failed, CR::invalid_channel_name, at_ms(4700)));
}

TEST_P(TransitionReconnecting, ReconnectingToFailed_RejectedByServer) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::rejected_by_server);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::failed, CR::rejected_by_server, at_ms(4700)));
}

TEST_P(TransitionReconnecting, ReconnectingStaysReconnecting_TransientRefusalIsRetried) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::rate_limited);
    rig.advance_to(at_ms(5300));
    EXPECT_TRUE(rig.unchanged_since(mark));
    EXPECT_EQ(rig.opens.back(), at_ms(4980)) << "the second backoff delay, 480 ms after the refused attempt's start";
}

TEST_P(TransitionRtcFamily, ReconnectingToFailed_RejectedByServer_JoinOfAJoinedChannel) {
    // rtc: RECONNECTING; rtc-web: its outage state CONNECTING.
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    const auto mark = rig.mark();
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch"); }), ec(errc::already_joined));
    EXPECT_TRUE(rig.changed_once(mark, outage_state(profile()), CS::failed, CR::rejected_by_server, at_ms(4200)));
}

TEST(TransitionRtc, ReconnectingToReconnecting_Lost) {
    Rig rig(Profile::rtc);
    rig.connect();
    rig.interrupt();
    const auto mark = rig.mark();
    rig.advance_to(at_ms(20'000));
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::reconnecting, CR::lost, at_ms(14'200)));
    EXPECT_EQ(rig.times_of<core::ConnectionLost>(), std::vector<TimePoint>{at_ms(14'200)});
}

TEST(TransitionRtc, ReconnectingToReconnecting_LostCountsFromEnteringReconnecting) {
    // A same-state change of reason (here CLIENT_IP_ADDRESS_CHANGED at 8 s) does not restart the LOST tier.
    Rig rig(Profile::rtc);
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(8000));
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    const auto mark = rig.mark();
    rig.advance_to(at_ms(20'000));
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::reconnecting, CR::lost, at_ms(14'200)));
}

TEST(TransitionRtc, ReconnectingToFailed_BannedByServer) {
    Rig rig(Profile::rtc);
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::banned_by_server);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::failed, CR::banned_by_server, at_ms(4700)));
}

TEST_P(TransitionRtcRoom, ReconnectingToFailed_JoinFailed) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(3 * 60 * 60'000));
    const long long give_up = profile() == Profile::rtc ? 20 * 60'000 : 5 * 60'000;
    ASSERT_FALSE(rig.changes.empty());
    const auto& last = rig.changes.back();
    EXPECT_EQ(last.at, at_ms(4200 + give_up));
    EXPECT_EQ(last.event.previous, CS::reconnecting);
    EXPECT_EQ(last.event.state, CS::failed);
    EXPECT_EQ(last.event.reason, CR::join_failed);
    EXPECT_LE(rig.opens.back(), at_ms(4200 + give_up)) << "no attempt after giving up";
    EXPECT_FALSE(rig.core.next_deadline().has_value());
}

TEST_P(TransitionRtcRoom, ReconnectingToFailed_TokenExpired) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::token_expired);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::failed, CR::token_expired, at_ms(4700)));
}

TEST_P(TransitionRtcRoom, ReconnectingToDisconnected_InvalidToken) {
    Rig rig(profile());
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_token);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::disconnected, CR::invalid_token, at_ms(4700)));
}

TEST(TransitionRtm, ReconnectingToReconnecting_RenewToken) {
    Rig rig(Profile::rtm);
    rig.connect();
    rig.advance_to(at_ms(1000));
    rig.close(proto::CloseReason::token_expired);  // rtm: the session is kept; the link is down (hidden)
    rig.advance_to(at_ms(5500));
    // The Close frame is the last data received: the silence detector counts from it.
    EXPECT_TRUE(rig.changed_once(2, CS::connected, CS::reconnecting, CR::interrupted, at_ms(5000)));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.renew_token(t, "valid-2"); }).error);
    EXPECT_TRUE(rig.changed_once(mark, CS::reconnecting, CS::reconnecting, CR::renew_token, at_ms(5500)));
    EXPECT_EQ(rig.opens.back(), at_ms(5500)) << "the new token is used at once";
}

TEST(TransitionRtm, ReconnectingStaysReconnecting_TokenExpired) {
    // R-RTM-9: token_expired while RECONNECTING does not change the state; the SDK keeps retrying.
    Rig rig(Profile::rtm);
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::token_expired);
    rig.advance_to(at_ms(60 * 60'000));
    EXPECT_TRUE(rig.unchanged_since(mark));
    EXPECT_EQ(rig.times_of<core::TokenExpired>(), std::vector<TimePoint>{at_ms(4700)});
    EXPECT_GT(rig.opens.back(), at_ms(59 * 60'000)) << "still retrying an hour later";
    rig.advance_to(at_ms(60 * 60'000 + 1000));
    const auto renew = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { return c.renew_token(t, "valid-2"); });
    EXPECT_TRUE(rig.changed_once(renew, CS::reconnecting, CS::reconnecting, CR::renew_token, rig.now));
}

// ---------------------------------------------------------------------------------- ABORTED →, FAILED →

TEST_P(TransitionAll, AbortedToDisconnected_Logout) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    rig.close(proto::CloseReason::remote_login);
    rig.advance_to(at_ms(2000));
    const auto mark = rig.mark();
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.login(t, "UID1", "valid"); }),
              ec(errc::already_logged_in));
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.join(t, "ch"); }), ec(errc::not_logged_in));
    EXPECT_TRUE(rig.unchanged_since(mark));
    EXPECT_FALSE(rig.logout());
    EXPECT_TRUE(rig.changed_once(mark, CS::aborted, CS::disconnected, end_reason(profile()), at_ms(2000)));
    EXPECT_EQ(rig.logout(), ec(errc::not_logged_in));
}

TEST_P(TransitionAll, FailedToDisconnected_Logout) {
    Rig rig(profile());
    rig.start();
    rig.advance_to(at_ms(100));
    rig.open();
    rig.refuse(errc::invalid_app_id);
    rig.advance_to(at_ms(2000));
    const auto mark = rig.mark();
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.login(t, "UID1", "valid"); }),
              ec(errc::already_logged_in));
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.join_session(t, "UID1", "valid", "ch"); }),
              ec(errc::not_logged_in));  // join_session() starts a session only from DISCONNECTED
    EXPECT_TRUE(rig.unchanged_since(mark));
    EXPECT_FALSE(rig.logout());
    EXPECT_TRUE(rig.changed_once(mark, CS::failed, CS::disconnected, end_reason(profile()), at_ms(2000)));
}

TEST_P(TransitionRtcFamily, FailedToDisconnected_LogoutAfterInvalidChannelName) {
    Rig rig(profile());
    rig.api([](core::ClientCore& c, TimePoint t) { return c.join_session(t, "UID1", "valid", "a*b"); });
    rig.advance_to(at_ms(100));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.logout());
    EXPECT_TRUE(rig.changed_once(mark, CS::failed, CS::disconnected, CR::leave_channel, at_ms(100)));
}

// D2 of docs/state-machine.md (resolved): behaviour.md section 1 says of FAILED "the app must logout()/leave() and
// log in again" (the rtc seeds: leaveChannel() after a failure). In rtc / rtc-web, leave() in FAILED or ABORTED is
// logout(): DISCONNECTED LEAVE_CHANNEL.
TEST_P(TransitionRtcFamily, FailedToDisconnected_Leave) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    rig.close(proto::CloseReason::banned);
    rig.advance_to(at_ms(2000));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.leave(t, "ch"); }));
    EXPECT_TRUE(rig.changed_once(mark, CS::failed, CS::disconnected, CR::leave_channel, at_ms(2000)));
}

TEST_P(TransitionRtcFamily, AbortedToDisconnected_Leave) {
    Rig rig(profile());
    rig.connect();
    rig.advance_to(at_ms(1000));
    rig.close(proto::CloseReason::remote_login);
    rig.advance_to(at_ms(2000));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.leave(t, "ch"); }));
    EXPECT_TRUE(rig.changed_once(mark, CS::aborted, CS::disconnected, CR::leave_channel, at_ms(2000)));
}

// ---------------------------------------------------------------------------------- rtc-web

TEST(TransitionRtcWeb, ConnectedToConnecting_Interrupted) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    const auto mark = rig.mark();
    rig.advance_to(at_ms(4500));
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::connecting, CR::interrupted, at_ms(4200)));
    EXPECT_EQ(rig.opens.back(), at_ms(4500));
}

TEST(TransitionRtcWeb, ConnectedToConnecting_InterruptedAfterTransportFailure) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    const auto mark = rig.mark();
    rig.advance_to(at_ms(1000));
    rig.transport_closed();
    rig.advance_to(at_ms(5000));
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::connecting, CR::interrupted, at_ms(4200)));
}

TEST(TransitionRtcWeb, ConnectedToConnecting_ClientIpAddressChanged) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });  // a probe nobody answers
    rig.advance_to(at_ms(2000));
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::connecting, CR::client_ip_address_changed, at_ms(2000)));
}

TEST(TransitionRtcWeb, ConnectedToConnecting_SettingProxyServer) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_proxy_changed(t); });
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::connecting, CR::setting_proxy_server, at_ms(1000)));
}

TEST(TransitionRtcWeb, ConnectedToConnecting_KeepAliveTimeout) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::keep_alive_timeout);
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::connecting, CR::keep_alive_timeout, at_ms(1000)));
}

TEST(TransitionRtcWeb, ConnectingToConnected_RejoinSuccess) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.login_ok();
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::connected, CR::rejoin_success, at_ms(4700)));
    EXPECT_EQ(rig.times_of<core::RejoinSuccess>(), std::vector<TimePoint>{at_ms(4700)});
}

TEST(TransitionRtcWeb, ConnectingToConnecting_ClientIpAddressChanged) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(5000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::connecting, CR::client_ip_address_changed, at_ms(5000)));
}

TEST(TransitionRtcWeb, ConnectingToConnecting_SettingProxyServer) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(5000));
    const auto mark = rig.mark();
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_proxy_changed(t); });
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::connecting, CR::setting_proxy_server, at_ms(5000)));
}

TEST(TransitionRtcWeb, ConnectingToConnecting_KeepAliveTimeout) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4650));
    const auto mark = rig.mark();
    rig.close(proto::CloseReason::keep_alive_timeout);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::connecting, CR::keep_alive_timeout, at_ms(4650)));
}

TEST(TransitionRtcWeb, ConnectingStaysConnecting_NoLostTierNoGiveUp) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.interrupt();
    const auto mark = rig.mark();
    rig.advance_to(at_ms(3 * 60 * 60'000));
    EXPECT_TRUE(rig.unchanged_since(mark));
    EXPECT_GT(rig.opens.back(), at_ms(3 * 60 * 60'000 - 13'000)) << "retries forever";
}

TEST(TransitionRtcWeb, ConnectingToDisconnected_LeaveDuringTheOutage) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(5000));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.leave(t, "ch"); }));
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, CR::leave_channel, at_ms(5000)));
}

TEST(TransitionRtcWeb, ConnectingToDisconnected_InvalidTokenDuringTheOutage) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.interrupt();
    rig.reconnect_attempt_open();
    rig.advance_to(at_ms(4700));
    const auto mark = rig.mark();
    rig.refuse(errc::invalid_token);
    EXPECT_TRUE(rig.changed_once(mark, CS::connecting, CS::disconnected, CR::invalid_token, at_ms(4700)));
}

TEST(TransitionRtcWeb, ConnectedToDisconnecting_Leave) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.advance_to(at_ms(1000));
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.api([](core::ClientCore& c, TimePoint t) { return c.leave(t, "ch"); }));
    EXPECT_TRUE(rig.changed_once(mark, CS::connected, CS::disconnecting, CR::leave_channel, at_ms(1000)));
    ASSERT_TRUE(rig.logout_request.has_value()) << "a Logout went to the server";
}

TEST(TransitionRtcWeb, DisconnectingToDisconnected_Acknowledged) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.advance_to(at_ms(1000));
    rig.logout();
    rig.advance_to(at_ms(1100));
    const auto mark = rig.mark();
    rig.deliver(proto::Reply{*rig.logout_request, {}});
    EXPECT_TRUE(rig.changed_once(mark, CS::disconnecting, CS::disconnected, CR::leave_channel, at_ms(1100)));
    EXPECT_FALSE(rig.core.next_deadline().has_value());
}

TEST(TransitionRtcWeb, DisconnectingToDisconnected_LeaveTimeout) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.advance_to(at_ms(1000));
    rig.logout();
    const auto mark = rig.mark();
    rig.advance_to(at_ms(10'000));
    EXPECT_TRUE(rig.changed_once(mark, CS::disconnecting, CS::disconnected, CR::leave_channel, at_ms(3000)));
}

TEST(TransitionRtcWeb, DisconnectingToDisconnected_TransportClosedOrServerClose) {
    for (int variant = 0; variant < 4; ++variant) {
        Rig rig(Profile::rtc_web);
        rig.connect();
        rig.advance_to(at_ms(1000));
        rig.logout();
        rig.advance_to(at_ms(1050));
        const auto mark = rig.mark();
        switch (variant) {
            case 0: rig.transport_closed(); break;
            case 1: rig.close(proto::CloseReason::draining, 1000ms); break;
            case 2: rig.close(proto::CloseReason::keep_alive_timeout); break;
            default: rig.close(proto::CloseReason::invalid); break;
        }
        EXPECT_TRUE(rig.changed_once(mark, CS::disconnecting, CS::disconnected, CR::leave_channel, at_ms(1050)))
            << "variant " << variant;
    }
}

TEST(TransitionRtcWeb, DisconnectingStaysDisconnecting_CallsAndNetworkChanges) {
    Rig rig(Profile::rtc_web);
    rig.connect();
    rig.advance_to(at_ms(1000));
    rig.logout();
    const auto mark = rig.mark();
    EXPECT_FALSE(rig.logout()) << "already on its way out";
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.login(t, "UID1", "valid"); }),
              ec(errc::already_logged_in));
    EXPECT_EQ(rig.api([](core::ClientCore& c, TimePoint t) { return c.leave(t, "ch"); }), ec(errc::not_logged_in));
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_network_changed(t); });
    rig.api([](core::ClientCore& c, TimePoint t) { c.notify_proxy_changed(t); });
    rig.login_ok();  // unexpected: ignored
    EXPECT_TRUE(rig.unchanged_since(mark));
}

// D1 of docs/state-machine.md (resolved): behaviour.md section 3 says leave() in rtc-web goes CONNECTED →
// DISCONNECTING → DISCONNECTED (LEAVE_CHANNEL). A kick, ban or token expiry that reaches the client while it waits
// for the leave's acknowledgement completes the leave; the app, which already left, never has to leave twice.
TEST(TransitionRtcWeb, DisconnectingToDisconnected_ServerCloseCompletesTheLeave) {
    for (const auto reason : {proto::CloseReason::remote_login, proto::CloseReason::banned, proto::CloseReason::kicked,
                              proto::CloseReason::token_expired}) {
        Rig rig(Profile::rtc_web);
        rig.connect();
        rig.advance_to(at_ms(1000));
        rig.logout();
        rig.advance_to(at_ms(1050));
        const auto mark = rig.mark();
        rig.close(reason);
        EXPECT_TRUE(rig.changed_once(mark, CS::disconnecting, CS::disconnected, CR::leave_channel, at_ms(1050)));
    }
}

// D3 of docs/state-machine.md (resolved): behaviour.md section 3 says rtc-web "never shows RECONNECTING". Every
// duration is configurable; with a LOST tier configured (lost_after > 0), the LOST timer keeps the profile's outage
// state: CONNECTING INTERRUPTED → CONNECTING LOST.
TEST(TransitionRtcWeb, LostTierNeverShowsReconnecting) {
    Rig rig(Profile::rtc_web, [](Timings& t) { t.lost_after = std::chrono::seconds(10); });
    rig.connect();
    rig.interrupt();
    rig.advance_to(at_ms(20'000));
    for (const auto& change : rig.changes) {
        EXPECT_NE(change.event.state, CS::reconnecting)
            << ms_text(change.at)
            << " ms: " << triple_text(change.event.previous, change.event.state, change.event.reason);
    }
}

// ============================================================================================ the explorer

struct Input {
    std::string name;
    std::function<void(Rig&)> apply;
    bool token_trouble{false};  ///< the server says the token is bad (a hidden fact the search must keep apart)
};

const char* close_name(proto::CloseReason reason) {
    switch (reason) {
        case proto::CloseReason::remote_login: return "Close(remote_login)";
        case proto::CloseReason::banned: return "Close(banned)";
        case proto::CloseReason::kicked: return "Close(kicked)";
        case proto::CloseReason::token_expired: return "Close(token_expired)";
        case proto::CloseReason::keep_alive_timeout: return "Close(keep_alive_timeout)";
        case proto::CloseReason::draining: return "Close(draining)";
        case proto::CloseReason::invalid: return "Close(invalid)";
        case proto::CloseReason::busy: return "Close(busy)";
    }
    return "Close(?)";
}

std::vector<Input> make_inputs() {
    using C = core::ClientCore;
    std::vector<Input> in;
    const auto api = [&](std::string name, std::function<void(C&, TimePoint)> call) {
        in.push_back({std::move(name), [call](Rig& r) { r.api([&](C& c, TimePoint t) { call(c, t); }); }});
    };
    // ---- API calls, with valid and invalid arguments
    api("login", [](C& c, TimePoint t) { (void)c.login(t, "UID1", "valid"); });
    api("login(ch)", [](C& c, TimePoint t) { (void)c.login(t, "UID1", "valid", {"ch"}); });
    api("login(bad channel)", [](C& c, TimePoint t) { (void)c.login(t, "UID1", "valid", {"a*b"}); });
    api("login(bad user)", [](C& c, TimePoint t) { (void)c.login(t, " UID1", "valid"); });
    api("join_session(ch)", [](C& c, TimePoint t) { (void)c.join_session(t, "UID1", "valid", "ch"); });
    api("join_session(bad)", [](C& c, TimePoint t) { (void)c.join_session(t, "UID1", "valid", "a*b"); });
    api("logout", [](C& c, TimePoint t) { (void)c.logout(t); });
    api("join(ch)", [](C& c, TimePoint t) { (void)c.join(t, "ch"); });
    api("join(ch2)", [](C& c, TimePoint t) { (void)c.join(t, "ch2"); });
    api("join(bad)", [](C& c, TimePoint t) { (void)c.join(t, "a*b"); });
    api("leave(ch)", [](C& c, TimePoint t) { (void)c.leave(t, "ch"); });
    api("leave(ch2)", [](C& c, TimePoint t) { (void)c.leave(t, "ch2"); });
    api("leave(unknown)", [](C& c, TimePoint t) { (void)c.leave(t, "nowhere"); });
    api("switch(ch→ch3)", [](C& c, TimePoint t) { (void)c.switch_channel(t, "ch", "ch3"); });
    api("send_peer", [](C& c, TimePoint t) { (void)c.send_peer_message(t, "UID2", "hi"); });
    api("send_channel(ch)", [](C& c, TimePoint t) { (void)c.send_channel_message(t, "ch", "hi"); });
    api("publish(ch)", [](C& c, TimePoint t) { (void)c.publish(t, "ch", "cam"); });
    api("set_attributes", [](C& c, TimePoint t) { (void)c.set_local_user_attributes(t, {{"k", "v"}}); });
    api("get_attributes", [](C& c, TimePoint t) { (void)c.get_user_attributes(t, "UID2"); });
    api("renew_token", [](C& c, TimePoint t) { (void)c.renew_token(t, "valid-2"); });
    api("notify_network_changed", [](C& c, TimePoint t) { c.notify_network_changed(t); });
    api("notify_proxy_changed", [](C& c, TimePoint t) { c.notify_proxy_changed(t); });
    // ---- the driver: transports (current and stale) and time
    in.push_back({"open", [](Rig& r) { r.open(); }});
    in.push_back({"open(stale)", [](Rig& r) { r.open_on(r.transport - 1); }});
    in.push_back({"open(unknown)", [](Rig& r) { r.open_on(r.transport + 1); }});
    in.push_back({"closed", [](Rig& r) { r.transport_closed(); }});
    in.push_back({"closed(stale)", [](Rig& r) { r.transport_closed(r.transport - 1); }});
    in.push_back({"tick", [](Rig& r) { r.tick(); }});
    in.push_back({"early wake-up", [](Rig& r) { r.advance_to(r.now); }});
    in.push_back({"wait", [](Rig& r) { r.wait(); }});
    // ---- the server: answers, unexpected messages, closes
    in.push_back({"LoginOk", [](Rig& r) { r.login_ok(); }});
    in.push_back({"LoginOk(ttl 40 s)", [](Rig& r) { r.login_ok(std::chrono::seconds(40)); }});
    in.push_back({"LoginOk(resumed)", [](Rig& r) { r.deliver(r.login_ok_message({}, {}, true)); }});
    in.push_back(
        {"LoginOk(channel refused)", [](Rig& r) { r.deliver(r.login_ok_message({}, ec(errc::invalid_token))); }});
    in.push_back({"LoginOk(wrong id)", [](Rig& r) {
                      auto ok = r.login_ok_message();
                      ok.request_id = kUnknownRequest;
                      r.deliver(ok);
                  }});
    for (const errc code : {errc::invalid_app_id, errc::invalid_channel_name, errc::banned_by_server,
                            errc::remote_login, errc::rejected_by_server, errc::invalid_token, errc::token_expired,
                            errc::login_failure, errc::rate_limited}) {
        in.push_back({std::string("refuse(") + error_name(ec(code)) + ")", [code](Rig& r) { r.refuse(code); },
                      code == errc::invalid_token || code == errc::token_expired});
    }
    in.push_back({"Reply(login, ok)", [](Rig& r) {
                      r.deliver(proto::Reply{r.login ? r.login->request_id : kUnknownRequest, {}});
                  }});
    in.push_back({"Reply(logout)", [](Rig& r) {
                      r.deliver(proto::Reply{r.logout_request.value_or(kUnknownRequest), {}});
                  }});
    const auto join_reply = [](Rig& r, const std::string& channel) {
        auto it = r.join_requests.find(channel);
        return it == r.join_requests.end() ? kUnknownRequest : it->second;
    };
    in.push_back({"Reply(join ch2, ok)", [join_reply](Rig& r) { r.deliver(proto::Reply{join_reply(r, "ch2"), {}}); }});
    in.push_back({"Reply(join ch, REJECTED_BY_SERVER)", [join_reply](Rig& r) {
                      r.deliver(proto::Reply{join_reply(r, "ch"), ec(errc::rejected_by_server)});
                  }});
    in.push_back({"Reply(join ch2, REJECTED_BY_SERVER)", [join_reply](Rig& r) {
                      r.deliver(proto::Reply{join_reply(r, "ch2"), ec(errc::rejected_by_server)});
                  }});
    in.push_back({"Reply(join ch2, NOT_JOINED)", [join_reply](Rig& r) {
                      r.deliver(proto::Reply{join_reply(r, "ch2"), ec(errc::not_joined)});
                  }});
    in.push_back({"JoinOk(ch)", [join_reply](Rig& r) {
                      r.deliver(proto::JoinOk{join_reply(r, "ch"), snapshot("ch", {}, {{"UID2", {}}})});
                  }});
    in.push_back({"JoinOk(ch2)", [join_reply](Rig& r) {
                      r.deliver(proto::JoinOk{join_reply(r, "ch2"), snapshot("ch2", {}, {{"UID3", {"cam3"}}})});
                  }});
    in.push_back({"Reply(operation)", [](Rig& r) {
                      r.deliver(proto::Reply{r.op_request.value_or(kUnknownRequest), {}});
                  }});
    in.push_back({"Reply(operation, RATE_LIMITED)", [](Rig& r) {
                      r.deliver(proto::Reply{r.op_request.value_or(kUnknownRequest), ec(errc::rate_limited)});
                  }});
    in.push_back({"AttributesReply", [](Rig& r) {
                      r.deliver(proto::AttributesReply{r.get_request.value_or(kUnknownRequest), "UID2", {{"k", "v"}}});
                  }});
    in.push_back({"RenewOk", [](Rig& r) {
                      r.deliver(proto::RenewOk{r.renew_request.value_or(kUnknownRequest), std::chrono::seconds(40)});
                  }});
    in.push_back({"MemberJoined", [](Rig& r) { r.deliver(proto::MemberJoined{"ch", "UID4"}); }});
    in.push_back({"MemberLeft", [](Rig& r) { r.deliver(proto::MemberLeft{"ch", "UID2", MemberLeftCause::dropped}); }});
    in.push_back({"StreamChanged", [](Rig& r) { r.deliver(proto::StreamChanged{"ch", "UID2", "cam9", true}); }});
    in.push_back({"Message", [](Rig& r) {
                      r.deliver(proto::Message{"UID2", std::string("ch"), "m1", "hi", {1, 1}, false});
                  }});
    in.push_back({"Pong", [](Rig& r) { r.deliver(proto::Pong{}); }});
    for (const auto reason : {proto::CloseReason::remote_login, proto::CloseReason::banned, proto::CloseReason::kicked,
                              proto::CloseReason::token_expired, proto::CloseReason::keep_alive_timeout,
                              proto::CloseReason::draining, proto::CloseReason::invalid}) {
        in.push_back({close_name(reason), [reason](Rig& r) { r.close(reason, 2000ms); },
                      reason == proto::CloseReason::token_expired});
    }
    // ---- the same on a transport the core already let go of
    in.push_back({"stale LoginOk", [](Rig& r) { r.deliver(r.login_ok_message(), r.transport - 1); }});
    in.push_back({"stale refuse(REMOTE_LOGIN)", [](Rig& r) {
                      r.deliver(proto::Reply{r.login ? r.login->request_id : kUnknownRequest, ec(errc::remote_login)},
                                r.transport - 1);
                  }});
    in.push_back({"stale Close(REMOTE_LOGIN)", [](Rig& r) {
                      r.deliver(proto::Close{proto::CloseReason::remote_login, {}}, r.transport - 1);
                  }});
    return in;
}

using Triple = std::tuple<CS, CS, CR>;

struct Exploration {
    std::map<Triple, std::string> observed;  ///< every (previous, state, reason) seen, with the shortest path to it
    std::vector<std::string> violations;     ///< invariant breaches, with their paths
    std::size_t nodes{0};
    std::size_t inputs_applied{0};
};

/// What makes two explored situations "the same" for the search: the visible state and reason, the driver's view
/// of the link, the channels, whether a timer is pending, and the hidden facts that change later transitions (a
/// token problem in the current outage; LOST already reported). The time to the next deadline is left out on
/// purpose: "wait" and "tick" walk the timers, and keeping it multiplies the nodes without finding anything new
/// (checked up to depth 14).
std::string signature(const Rig& r, bool token_trouble, bool lost_reported) {
    std::string s;
    const auto put = [&](int v) { s += static_cast<char>('A' + v); };
    put(static_cast<int>(r.core.state()));
    const int why = r.last_reason ? static_cast<int>(*r.last_reason) : -1;
    put(why < 0 ? 50 : why < 100 ? why : 20 + why - 100);  // 0…16, 20…25 (relink's own), 50 (none)
    put(static_cast<int>(r.link));
    put(r.core.link_up() ? 1 : 0);
    put(token_trouble ? 1 : 0);
    put(lost_reported ? 1 : 0);
    put(r.core.next_deadline() ? 1 : 0);
    static const std::string kChannels[] = {"ch", "ch2", "ch3"};
    for (const std::string& channel : kChannels) {
        const auto state = r.core.channel_state(channel);
        put(state ? static_cast<int>(*state) : 9);
        const auto reason = r.channel_reasons.find(channel);
        put(reason == r.channel_reasons.end() ? 20 : static_cast<int>(reason->second));
    }
    return s;
}

// The deepest row of the table needs 7 inputs (login, open, LoginOk, closed, tick, open, refused: CONNECTED →
// FAILED from a hidden reconnect); 9 leaves two more for anything undocumented beyond it. With the signature above
// the search visits 1–1.5 thousand situations per profile (about half a second in a Debug build);
// kMaxNodes only guards against a signature that stops merging.
constexpr std::size_t kMaxDepth = 9;
constexpr std::size_t kMaxNodes = 40'000;

Exploration run_exploration(Profile profile) {
    struct Node {
        Rig rig;
        std::vector<std::uint16_t> path;
        bool token_trouble{false};
        bool lost_reported{false};
    };
    static const std::vector<Input> inputs = make_inputs();
    const auto path_text = [&](const std::vector<std::uint16_t>& path) {
        std::string out;
        for (const auto i : path) {
            out += (out.empty() ? "" : " → ") + inputs[i].name;
        }
        return out;
    };

    Exploration result;
    std::set<std::string> seen;
    std::deque<Node> queue;
    Node root{Rig(profile), {}, false, false};
    root.rig.record = false;
    seen.insert(signature(root.rig, false, false));
    queue.push_back(std::move(root));
    while (!queue.empty()) {
        Node node = std::move(queue.front());
        queue.pop_front();
        ++result.nodes;
        if (node.path.size() >= kMaxDepth) {
            continue;
        }
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            Node next{node.rig, node.path, node.token_trouble, node.lost_reported};
            next.rig.changes.clear();
            next.rig.violations.clear();
            next.path.push_back(static_cast<std::uint16_t>(i));
            inputs[i].apply(next.rig);
            ++result.inputs_applied;
            for (const auto& change : next.rig.changes) {
                const Triple triple{change.event.previous, change.event.state, change.event.reason};
                if (result.observed.count(triple) == 0) {
                    result.observed.emplace(triple, path_text(next.path));
                }
                if (change.event.reason == CR::lost) {
                    next.lost_reported = true;
                }
                if (change.event.state == CS::connected || change.event.state == CS::disconnected) {
                    next.lost_reported = false;
                    next.token_trouble = false;
                }
            }
            if (inputs[i].token_trouble) {
                next.token_trouble = true;
            }
            for (const auto& violation : next.rig.violations) {
                if (result.violations.size() < 20) {
                    result.violations.push_back(violation + "\n      after: " + path_text(next.path));
                }
            }
            if (seen.size() < kMaxNodes &&
                seen.insert(signature(next.rig, next.token_trouble, next.lost_reported)).second) {
                queue.push_back(std::move(next));
            }
        }
    }
    return result;
}

const Exploration& explored(Profile profile) {
    static std::map<Profile, Exploration> cache;
    auto it = cache.find(profile);
    if (it == cache.end()) {
        it = cache.emplace(profile, run_exploration(profile)).first;
    }
    return it->second;
}

class TransitionExplorer : public Transition {};
INSTANTIATE_TEST_SUITE_P(, TransitionExplorer,
                         ::testing::Values(Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room), param_name);

TEST_P(TransitionExplorer, InvariantsHoldOnEveryPath) {
    const Exploration& e = explored(profile());
    std::string text;
    for (const auto& v : e.violations) {
        text += "\n  " + v;
    }
    EXPECT_TRUE(e.violations.empty()) << text;
    EXPECT_LT(e.nodes, kMaxNodes) << "the search was cut short; raise kMaxNodes";
    RecordProperty("nodes", static_cast<int>(e.nodes));
    RecordProperty("inputs", static_cast<int>(e.inputs_applied));
}

TEST_P(TransitionExplorer, EveryObservedTransitionIsDocumented) {
    for (const auto& [triple, path] : explored(profile()).observed) {
        const auto& [from, to, reason] = triple;
        EXPECT_TRUE(documented(profile(), from, to, reason))
            << "undocumented: " << triple_text(from, to, reason) << "\n  after: " << path;
    }
}

TEST_P(TransitionExplorer, EveryDocumentedTransitionIsReachable) {
    const auto& observed = explored(profile()).observed;
    for (const auto& row : kConnectionTable) {
        if ((row.profiles & bit(profile())) == 0) {
            continue;
        }
        EXPECT_EQ(observed.count({row.from, row.to, row.reason}), 1U)
            << "documented but never reached: " << triple_text(row.from, row.to, row.reason);
    }
}

// One instance per forbidden (from, to) cell of each profile, diagonal included.
struct ForbiddenCell {
    Profile profile;
    CS from;
    CS to;
};

std::vector<ForbiddenCell> forbidden_cells() {
    std::vector<ForbiddenCell> out;
    for (const Profile p : kProfiles) {
        for (const CS from : kStates) {
            for (const CS to : kStates) {
                if (!cell_allowed(p, from, to)) {
                    out.push_back({p, from, to});
                }
            }
        }
    }
    return out;
}

class TransitionForbidden : public ::testing::TestWithParam<ForbiddenCell> {};

TEST_P(TransitionForbidden, NeverObserved) {
    const ForbiddenCell& cell = GetParam();
    for (const auto& [triple, path] : explored(cell.profile).observed) {
        const auto& [from, to, reason] = triple;
        EXPECT_FALSE(from == cell.from && to == cell.to)
            << "forbidden cell reached: " << triple_text(from, to, reason) << "\n  after: " << path;
    }
}

INSTANTIATE_TEST_SUITE_P(, TransitionForbidden, ::testing::ValuesIn(forbidden_cells()),
                         [](const ::testing::TestParamInfo<ForbiddenCell>& cell) {
                             return profile_name(cell.param.profile) + "_" + camel(cell.param.from) + "To" +
                                    camel(cell.param.to);
                         });

TEST(TransitionTable, EveryForbiddenCellHasATestAndEveryRowIsUnique) {
    std::size_t per_profile[4] = {0, 0, 0, 0};
    for (const auto& cell : forbidden_cells()) {
        ++per_profile[static_cast<int>(cell.profile)];
    }
    // 49 cells per profile; rtm and room allow 16 of them, rtc 17, rtc-web 15 (docs/state-machine.md).
    EXPECT_EQ(per_profile[static_cast<int>(Profile::rtm)], 33U);
    EXPECT_EQ(per_profile[static_cast<int>(Profile::rtc)], 32U);
    EXPECT_EQ(per_profile[static_cast<int>(Profile::rtc_web)], 34U);
    EXPECT_EQ(per_profile[static_cast<int>(Profile::room)], 33U);
    std::set<std::tuple<CS, CS, CR>> rows;
    for (const auto& row : kConnectionTable) {
        EXPECT_NE(row.profiles, 0U);
        EXPECT_TRUE(rows.insert({row.from, row.to, row.reason}).second)
            << "duplicate row " << triple_text(row.from, row.to, row.reason);
    }
}

}  // namespace
}  // namespace relink::test
