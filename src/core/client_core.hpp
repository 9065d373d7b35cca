// core/client_core.hpp — relink's client connection core: a pure, single-threaded, sans-IO state machine that
// decides every connection state, reason, channel state, timer, heartbeat, retry and queued send.
//
// It never does I/O, never reads a clock, never logs and never locks. Every input takes the current time
// `now`; outputs are pulled by the driver:
//
//   * poll_action()   — what the driver must do: open a transport, send a message on it, close it;
//   * poll_event()    — what the app must be told (state changes, members, messages, completions ...);
//   * next_deadline() — the earliest time at which handle_timeout() has something to do.
//
// Contract (the same for the real driver and for tests on a virtual clock): after any input, drain
// poll_action() until empty, then poll_event() until empty, then arm the one timer to next_deadline().
// handle_timeout(now) does nothing if nothing is due, so early wake-ups are harmless. Transports are named by
// the TransportId the core chose in OpenTransport; reports about a transport the core already let go of are
// ignored, so a late callback from an old connection can never disturb the current one.
//
// It is the facade of two parts it owns by value: the link (core/link.hpp: attempts, backoff, heartbeat, silence)
// and the session content (core/session_content.hpp: channels, operations, de-duplication). It keeps the connection
// state machine itself: the state, reason and phase, the endings, and the order in which equal deadlines fire.
//
// docs/state-machine.md describes the states, the transition table and every decision taken here.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "core/actions.hpp"
#include "core/link.hpp"
#include "core/profile_rules.hpp"
#include "core/session_content.hpp"
#include "protocol/messages.hpp"
#include "relink/events.hpp"
#include "relink/metrics.hpp"
#include "relink/timings.hpp"
#include "relink/types.hpp"

namespace relink::core {

using relink::OpId;

struct Config {
    Profile profile{Profile::rtm};
    Timings timings{timings_for(Profile::rtm)};
    std::string app_id;
    std::size_t max_queued_operations{1024};  ///< bound of the outbound queue (sends, publishes, ...)
    std::uint64_t seed{0};                    ///< seed of the jitter; give every client its own
    /// Mixed into the instance tag (the prefix of every message id). The server de-duplicates message ids per user,
    /// so two instances of one user must never share a tag: the Client sets this from a random source always, so
    /// that a fixed `seed` (a test, an app restarted with one) fixes the jitter but not the message ids. The
    /// simulation leaves it 0 and stays deterministic.
    std::uint64_t instance_salt{0};
    /// A recovery key taken by an earlier process of this user (recovery_key()): the first login() recovers the
    /// session it names instead of starting a new one (docs/reliability.md, "Recovery keys"). Used once: a later
    /// login() starts a fresh session.
    std::optional<std::string> recover_key;
};

/// Builds a config with the profile's default timings.
[[nodiscard]] Config make_config(Profile profile, std::string app_id, std::uint64_t seed = 0);

// The actions (OpenTransport, SendFrame, CloseTransport) and TimePoint / TransportId are in core/actions.hpp.

// -------------------------------------------------------------------------------------------- events
// The events are the public ones of relink/events.hpp.
using relink::AttemptFailed;
using relink::AttemptFailure;
using relink::AttemptFinished;
using relink::AttemptSteps;
using relink::ChannelStateChanged;
using relink::ClientMetrics;
using relink::ConnectionLost;
using relink::ConnectionStateChanged;
using relink::ConnectionStatus;
using relink::ContinuityReport;
using relink::Event;
using relink::Histogram;
using relink::JoinSuccess;
using relink::LinkQuality;
using relink::LinkQualityChanged;
using relink::MemberJoined;
using relink::MemberLeft;
using relink::MessageReceived;
using relink::OperationCompleted;
using relink::OpKind;
using relink::RejoinSuccess;
using relink::StreamAdded;
using relink::StreamRemoved;
using relink::TokenExpired;
using relink::TokenPrivilegeWillExpire;

/// The result of an API call that completes later: an operation id, or an error at once.
struct OpResult {
    OpId op{0};
    std::error_code error;
    explicit operator bool() const noexcept { return !error; }
};

/// Counters of input the core ignored, for diagnostics and tests.
struct Diagnostics {
    std::uint64_t stale_transport_reports{0};  ///< reports about a transport the core no longer uses
    std::uint64_t unexpected_messages{0};      ///< server messages that cannot happen in this state
    std::uint64_t duplicate_messages{0};       ///< messages at or below the last position seen (dropped) ...
    std::uint64_t duplicate_message_ids{0};    ///< ... or whose (sender, message id) was delivered already (dropped)
};

class ClientCore {
public:
    /// @throws std::invalid_argument when the config's timings do not validate().
    explicit ClientCore(Config config);

    // ---- API inputs. Each returns at once; outcomes arrive as events. ----

    /// Starts the session (DISCONNECTED → CONNECTING). `channels` are joined as part of the login: this is how
    /// the rtc profiles' join() starts a session.
    std::error_code login(TimePoint now, std::string user_id, std::string token,
                          std::vector<std::string> channels = {});
    /// Ends the session from any state but DISCONNECTED; every pending operation fails with LOGGED_OUT.
    std::error_code logout(TimePoint now);
    /// Joins a channel. rtc / rtc-web: without a session, starts one (like the vendors' joinChannel) — use
    /// join_session() for that, since a session needs credentials.
    std::error_code join(TimePoint now, const std::string& channel);
    std::error_code join_session(TimePoint now, std::string user_id, std::string token, const std::string& channel);
    /// Leaves a channel. rtc / rtc-web: leaving the last channel ends the session (LEAVE_CHANNEL).
    std::error_code leave(TimePoint now, const std::string& channel);
    std::error_code switch_channel(TimePoint now, const std::string& from, const std::string& to);

    OpResult send_peer_message(TimePoint now, const std::string& to_user, std::string payload,
                               bool store_offline = false);
    OpResult send_channel_message(TimePoint now, const std::string& channel, std::string payload);
    OpResult publish(TimePoint now, const std::string& channel, const std::string& stream);
    OpResult unpublish(TimePoint now, const std::string& channel, const std::string& stream);
    OpResult set_local_user_attributes(TimePoint now, proto::Attributes attributes);
    OpResult get_user_attributes(TimePoint now, const std::string& user_id);
    OpResult renew_token(TimePoint now, std::string token);
    /// Asks the server for a recovery key of this session; it comes in the completion (OperationCompleted::
    /// recovery_key), made from this session's state when the answer arrives. Each key replaces the one before.
    OpResult recovery_key(TimePoint now);
    /// A token for the attempt being opened, from the driver's token provider (asked when an OpenTransport action is
    /// performed). Unlike renew_token() it is no operation and starts nothing: no completion, no Renew request, no
    /// RENEW_TOKEN reconnect — the attempt that logs in with it is the one being opened. Ignored without a session.
    void use_token_for_next_login(std::string token);

    /// The local network changed. While CONNECTED on a link that is up: a suspicion probe (one Ping at once; the
    /// link is dead, and reconnects at once with CLIENT_IP_ADDRESS_CHANGED, unless data arrives within
    /// Link::probe_timeout()); when data answers it, a handover: a second transport (OpenTransport::standby) resumes
    /// the session and only then replaces the old one, with no state change (docs/protocol.md, "Handover").
    /// Otherwise: drop the link and reconnect at once, without backoff.
    void notify_network_changed(TimePoint now);
    /// The app returned to the foreground. While CONNECTED on a link that is up: a suspicion probe (failing:
    /// reconnect at once with INTERRUPTED). While an attempt waits for its backoff delay: that attempt starts now.
    void notify_foreground(TimePoint now);
    /// The app changed the proxy settings: reconnect through the new proxy.
    void notify_proxy_changed(TimePoint now);

    // ---- driver inputs ----

    /// The transport opened; `steps` says what each step took (AttemptSteps, without `login`).
    void on_transport_open(TimePoint now, TransportId transport, const AttemptSteps& steps = {});
    /// The transport failed or closed. `cause` and `detail` say why, as the driver's transport found it; when the
    /// transport was still opening or logging in, the core reports them at once as an AttemptFailed event.
    void on_transport_closed(TimePoint now, TransportId transport, std::error_code error,
                             AttemptFailure cause = AttemptFailure::closed, std::string detail = {},
                             const AttemptSteps& finished_steps = {});
    void on_message(TimePoint now, TransportId transport, proto::ServerMessage message);
    void handle_timeout(TimePoint now);

    // ---- outputs ----

    [[nodiscard]] std::optional<TimePoint> next_deadline() const;
    [[nodiscard]] std::optional<Action> poll_action();
    [[nodiscard]] std::optional<Event> poll_event();

    // ---- observers ----

    [[nodiscard]] ConnectionState state() const noexcept { return state_; }
    /// The connection status at `now`: state, reason, attempt, time to the next attempt, time in this state and
    /// the last failed attempt since the last successful login.
    [[nodiscard]] ConnectionStatus status(TimePoint now) const;
    [[nodiscard]] std::optional<ChannelState> channel_state(const std::string& channel) const;
    [[nodiscard]] const Config& config() const noexcept { return config_; }
    /// When the current token expires, as the server said at login or renewal (counted from when the request was
    /// sent); none when unknown or without expiry. Kept while reconnecting, so a driver can fetch a fresh token
    /// before an attempt that the old one would not survive.
    [[nodiscard]] std::optional<TimePoint> token_expiry() const noexcept { return token_expiry_; }
    [[nodiscard]] const Diagnostics& diagnostics() const noexcept { return diagnostics_; }
    /// What the app's metrics export: counted from the events this core emitted and the round trips it measured.
    [[nodiscard]] const ClientMetrics& metrics() const noexcept { return metrics_; }
    /// The link's quality at `now` (LinkQuality: round-trip time, missed heartbeats, time since the last data).
    [[nodiscard]] LinkQuality link_quality(TimePoint now) const { return link_.quality(now); }
    /// True while a transport is logged in and usable.
    [[nodiscard]] bool link_up() const noexcept { return link_.up(); }

private:
    /// What the session is doing: nothing (DISCONNECTED / ABORTED / FAILED), its first login, living (CONNECTED
    /// or reconnecting), or leaving gracefully (rtc-web DISCONNECTING).
    enum class Phase : std::uint8_t { idle, first_login, live, leaving };

    /// Every timer of the core. Each has one deadline_of() (the single source of truth for both
    /// next_deadline() and handle_timeout()); equal deadlines fire in this order (a probe before the silence
    /// detector: when both are due, the app's hint is the reason the link is found dead).
    enum class Timer : std::uint8_t {
        login,
        join,
        leave,
        give_up,
        lost,
        probe,
        silence,
        attempt,
        standby,
        retry,
        heartbeat,
        stable,
        token_expiry,
        token_warning,
        operation
    };
    static constexpr Timer kTimerOrder[] = {Timer::login,        Timer::join,          Timer::leave,     Timer::give_up,
                                            Timer::lost,         Timer::silence,       Timer::probe,     Timer::attempt,
                                            Timer::standby,      Timer::retry,         Timer::heartbeat, Timer::stable,
                                            Timer::token_expiry, Timer::token_warning, Timer::operation};

    using Channel = SessionContent::Channel;

    // state changes and events
    void set_state(TimePoint now, ConnectionState state, ConnectionReason reason);
    void set_channel_state(const std::string& name, Channel& channel, ChannelState state, ChannelReason reason,
                           std::error_code error = {});
    void emit(Event event);
    void act(Action action) { actions_.push_back(std::move(action)); }

    /// What this profile does differently (core/profile_rules.hpp).
    [[nodiscard]] const ProfileRules& rules() const noexcept { return rules_for(config_.profile); }
    [[nodiscard]] bool in_outage() const noexcept;

    // the link
    void start_attempt(TimePoint now);
    void schedule_retry(TimePoint now);
    void drop_link(bool close);
    void link_failed(TimePoint now);
    /// Reports that the attempt being opened or logged in failed (only while one is: the link opening / logging in).
    /// The attempt in progress failed (nothing when none is): AttemptFailed, then its AttemptFinished. `answered`:
    /// the server answered its login (a refusal), which ends the login step.
    void attempt_failed(TimePoint now, AttemptFailure cause, std::string detail, bool answered = false);
    void enter_reconnecting(TimePoint now, ConnectionReason reason);
    void reconnect_now(TimePoint now, ConnectionReason reason);
    void send(TimePoint now, proto::ClientMessage message);
    /// Sends a heartbeat Ping (the link counts it in flight until its Pong).
    void send_ping(TimePoint now);
    /// Sends one Ping at once; the link is dead, and reconnects with `reason`, unless data arrives in time.
    void start_probe(TimePoint now, ConnectionReason reason);
    /// Emits LinkQualityChanged when the quality changed meaningfully since the last report (docs/reliability.md).
    void report_quality(TimePoint now);
    [[nodiscard]] proto::Login make_login(proto::RequestId request);

    // the handover (docs/protocol.md, "Handover")
    /// Opens the standby transport beside the link that is up.
    void start_handover(TimePoint now);
    /// The standby transport opened: the old link's outgoing side is fenced (held sends, one Ping whose Pong proves
    /// that the server handled every earlier frame on it), then the standby logs in.
    void fence_old_link(TimePoint now);
    void send_standby_login(TimePoint now);
    void standby_message(TimePoint now, proto::ServerMessage& message);
    /// The standby's LoginOk while the old link is still open: the old link is read to its end (the server closes it
    /// once it has written everything from before the move) before the standby takes over, and whatever the standby
    /// receives meanwhile waits, so each message arrives once and in order however much was in flight.
    void read_old_link_to_end(TimePoint now, proto::LoginOk& m);
    /// The standby becomes the link: the old one is closed (`close_old`, when it did not end by itself), the held
    /// LoginOk and what followed it on the standby are handled, in order.
    void commit_handover(TimePoint now, bool close_old);
    /// How many of the messages the old link delivered after the standby's Login the server counted as dropped: they
    /// were at or before where the standby's delivery begins (each stream's position in `m`).
    [[nodiscard]] std::uint64_t delivered_before_the_move(const proto::LoginOk& m) const;
    /// The standby failed before its LoginOk: reported as a failed attempt, dropped; the link stays as it was.
    void standby_failed(TimePoint now, AttemptFailure cause, std::string detail, bool close);
    void drop_standby(bool close);
    /// The old link died during a handover: the standby goes on as the attempt that reconnects.
    void promote_standby(TimePoint now);
    /// The old link died (`close` it or not) while a standby was on its way: it takes over (hidden, as any
    /// reconnect before the silence threshold).
    void old_link_died(TimePoint now, bool close);
    [[nodiscard]] proto::RequestId next_request_id() noexcept { return ++last_request_id_; }

    // server input
    void handle(TimePoint now, proto::LoginOk& m) { logged_in(now, now, m); }
    /// The LoginOk handled at `now`, answered at `answered_at` (earlier when a handover held it,
    /// read_old_link_to_end()).
    void logged_in(TimePoint now, TimePoint answered_at, proto::LoginOk& m);
    void handle(TimePoint now, proto::Reply& m);
    void handle(TimePoint now, proto::JoinOk& m);
    void handle(TimePoint now, proto::AttributesReply& m);
    void handle(TimePoint now, proto::RenewOk& m);
    void handle(TimePoint now, proto::MemberJoined& m);
    void handle(TimePoint now, proto::MemberLeft& m);
    void handle(TimePoint now, proto::StreamChanged& m);
    void handle(TimePoint now, proto::Presence& m);
    void handle(TimePoint now, proto::Message& m);
    void handle(TimePoint now, proto::Pong& m);
    void handle(TimePoint now, proto::Close& m);
    void handle(TimePoint now, proto::RecoveryKeyOk& m);
    void login_refused(TimePoint now, std::error_code error);
    void channel_joined(const std::string& name, Channel& channel);
    void report_token_expired();
    [[nodiscard]] static std::optional<TimePoint> token_deadline(TimePoint sent_at, Duration ttl);
    void leave_channel(TimePoint now, std::map<std::string, Channel>::iterator it);

    // endings
    void end_session(TimePoint now, ConnectionState state, ConnectionReason reason, std::error_code op_error,
                     ChannelReason channel_reason, std::error_code channel_error);
    void finish_leaving(TimePoint now);

    // operations
    OpResult enqueue(TimePoint now, OpKind kind, proto::ClientMessage message);
    void flush_operations(TimePoint now);
    [[nodiscard]] std::error_code check_session_for_operation() const;
    [[nodiscard]] std::error_code check_channel_operation(const std::string& channel) const;
    [[nodiscard]] std::string instance_id() const;  ///< this client instance's random tag, as 16 hex digits
    [[nodiscard]] std::string next_message_id(OpId op) const;

    // timers
    [[nodiscard]] std::optional<TimePoint> deadline_of(Timer timer) const;
    void fire(TimePoint now, Timer timer);
    void run_due(TimePoint now);

    Config config_;
    std::mt19937_64 rng_;            ///< the one random sequence: the instance tag, then the link's jitter and spreads
    std::uint64_t instance_tag_{0};  ///< random prefix of this client's message ids

    ConnectionState state_{ConnectionState::disconnected};
    ConnectionReason reason_{ConnectionReason::logout};
    Phase phase_{Phase::idle};
    std::uint64_t state_seq_{0};
    std::optional<TimePoint> state_since_;  ///< the latest state change

    std::string user_id_;
    std::string token_;
    bool token_refused_{false};  ///< the last login attempt was refused for the token
    /// The recovery key the first login presents (Config::recover_key), until a login succeeds or is refused.
    std::optional<std::string> recovering_;

    /// The transport and its attempts, the backoff, heartbeat and silence (core/link.hpp).
    Link link_;

    // timers of the state machine
    std::optional<TimePoint> login_deadline_;      ///< first login
    std::optional<TimePoint> outage_since_;        ///< last data received before the current outage
    std::optional<TimePoint> reconnecting_since_;  ///< entered the visible reconnect state
    bool lost_reported_{false};
    std::optional<TimePoint> leave_deadline_;  ///< rtc-web DISCONNECTING
    std::optional<proto::RequestId> logout_request_;
    std::optional<TimePoint> token_expiry_;
    bool token_warned_{false};
    bool token_expired_reported_{false};

    std::optional<LinkQuality> reported_quality_;  ///< the last LinkQualityChanged on this connection
    TimePoint reported_quality_at_{};
    ConnectionReason probe_reason_{ConnectionReason::interrupted};  ///< the reconnect's reason if the probe fails

    /// A second transport opened during a handover while the link stays in use (docs/protocol.md, "Handover").
    struct Standby {
        enum class Stage : std::uint8_t { opening, fencing, logging_in, reading_old_link };
        TransportId transport{0};
        Stage stage{Stage::opening};
        TimePoint started{};
        TimePoint deadline{};        ///< the attempt timeout, counted from its OpenTransport
        std::size_t fence_pongs{0};  ///< Pongs the old link owes up to and including the fence's Ping
        proto::RequestId login_request{0};
        TimePoint login_sent_at{};
        AttemptSteps steps;  ///< as the driver timed them when it opened
        /// A message the old link delivered after the standby's Login: the server may have counted it as dropped.
        struct Delivered {
            std::optional<std::string> channel;  ///< none for a peer message
            proto::StreamPosition position;
        };
        std::vector<Delivered> delivered_on_old_link;
        // reading_old_link: the LoginOk, when it came, and what the standby received after it, in order
        std::optional<proto::LoginOk> login_ok;
        TimePoint login_ok_at{};
        TimePoint read_until{};  ///< the old link's end is waited for at most until then
        std::deque<proto::ServerMessage> held;
    };
    std::optional<Standby> standby_;
    bool server_makes_recovery_keys_{false};  ///< the last LoginOk said so (recovery_key())
    bool handover_wanted_{false};  ///< a network change's probe is out: the data that answers it starts a handover

    /// Channels, operations, attributes, positions and de-duplication (core/session_content.hpp).
    SessionContent content_;
    proto::RequestId last_request_id_{0};  ///< numbers every request, the link's login and the content's alike

    std::deque<Action> actions_;
    std::deque<Event> events_;
    Diagnostics diagnostics_;
    ClientMetrics metrics_;
};

/// A readable one-line rendering of an event / action, for logs, the demo and test failure messages.
[[nodiscard]] std::string describe(const Event& event);
[[nodiscard]] std::string describe(const Action& action);

}  // namespace relink::core
