// relink/events.hpp — everything relink tells the app, as plain values: connection and channel state changes,
// connection attempts (the failed ones, and what each step of each took), members, streams, messages, continuity
// reports, token notices and the completion of operations; and the connection status an app can read at any time. The
// same types come out of the sans-IO core and reach the app's callbacks.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include "relink/timings.hpp"
#include "relink/types.hpp"

namespace relink {

/// A user's attributes: names to values.
using Attributes = std::map<std::string, std::string>;
/// Identifies an operation (a send, publish, attribute call, token renewal) until it completes.
using OpId = std::uint64_t;

/// Why a connection attempt failed: the step that failed, as a machine-readable code (docs/errors.md, "Why a
/// connection attempt failed"). `to_string()` gives the canonical name ("REFUSED", "CERTIFICATE", ...).
enum class AttemptFailure : std::uint8_t {
    dns,          ///< the server's (or the proxy's) host name could not be resolved, or not in time
    refused,      ///< nothing accepts connections at the server's address and port (TCP connection refused)
    timeout,      ///< no answer in time: TCP connect, TLS handshake, WebSocket upgrade or login
    network,      ///< the local network cannot reach the address (network or host unreachable, no route)
    proxy,        ///< the HTTP CONNECT proxy could not be reached, refused the tunnel or did not answer
    tls,          ///< the TLS handshake failed for another reason than the certificate (protocol, alert, CA files)
    certificate,  ///< the server's certificate is not trusted, or is not valid for the URL's host name
    http,         ///< an HTTP server answered, but not with relink's WebSocket: a plain HTTP server, a wrong path
    protocol,     ///< the server broke relink's protocol (an undecodable or binary frame)
    closed,       ///< the connection closed (reset, or closed by the server) before the login was answered
    server,       ///< the relink server refused the login or closed the attempt (the detail says why)
    config,       ///< a setting cannot be used (a proxy without host or port given to set_proxy())
    /// the relink server is overloaded and refused the login before looking at it; the detail names its
    /// retry-after ("retry after N ms"), and the next attempt waits at least that long. Not a failure of the
    /// client's settings: the login is retried as after any failed attempt.
    busy,
};

/// A connection attempt failed (before or while logging in). Every failed attempt is reported, at once: the first
/// login's retries and the reconnects alike. The connection state changes as before; this says why the attempts
/// fail. Delivered by Client::on_attempt_failed().
struct AttemptFailed {
    std::uint32_t attempt{0};                      ///< which attempt of the login or outage: 1, 2, ...
    AttemptFailure cause{AttemptFailure::closed};  ///< what failed
    std::string detail;                            ///< for people: the step, the address and the error
};

/// How long each step of one connection attempt took. A step the attempt did not reach is empty, and so is `proxy`
/// without a proxy: a failed attempt has the steps it finished, and its `AttemptFinished::total` the time up to the
/// failure.
struct AttemptSteps {
    std::optional<Duration> dns;        ///< resolving the server's (or the proxy's) name; ~0 for an address
    std::optional<Duration> proxy;      ///< the HTTP proxy's CONNECT tunnel, when one is set
    std::optional<Duration> tcp;        ///< the TCP connection
    std::optional<Duration> tls;        ///< the TLS handshake (none for ws://)
    std::optional<Duration> websocket;  ///< the WebSocket upgrade
    std::optional<Duration> login;      ///< from the login request to the server's answer (accepted or refused)
    bool tls_resumed{false};            ///< the TLS handshake resumed an earlier TLS session (no full handshake)
};

/// A connection attempt ended, logged in or failed: what each step took. One per attempt, in order (a failed
/// attempt's comes right after its AttemptFailed), for an app that exports its own metrics or logs slow paths;
/// Client::metrics() keeps the same figures as counters and histograms. Delivered by Client::on_attempt_finished().
struct AttemptFinished {
    std::uint32_t attempt{0};             ///< which attempt of the login or outage: 1, 2, ...
    bool connected{false};                ///< it logged in
    bool resumed{false};                  ///< it logged in and resumed the session (no new session, peers saw nothing)
    std::optional<AttemptFailure> cause;  ///< why it failed (as in AttemptFailed); none when connected
    Duration total{};                     ///< from the attempt's start to its end
    AttemptSteps steps;                   ///< each step's duration
};

/// The connection state changed (docs/state-machine.md, section 1). Exactly one per change, in order; two consecutive
/// events never carry the same (state, reason). Delivered by Client::on_connection_state_changed().
struct ConnectionStateChanged {
    ConnectionState previous{ConnectionState::disconnected};  ///< the state before this change
    ConnectionState state{ConnectionState::disconnected};     ///< the new state; connection_state() returns it now
    ConnectionReason reason{ConnectionReason::login};         ///< why (docs/errors.md, section 2)
    std::uint64_t seq{0};                                     ///< 1, 2, 3 ... per client
    std::uint32_t attempt{0};  ///< reconnect attempts made in the current outage (0 when none)
    Duration next_retry{};     ///< delay until the next scheduled attempt; 0 when none is scheduled
    /// The last attempt that failed since the last successful login (or since login()), if any: a DISCONNECTED
    /// `LOGIN_TIMEOUT` or a FAILED `JOIN_FAILED` names what kept the client from connecting. None on CONNECTED.
    std::optional<AttemptFailed> last_failure;
    /// With CONNECTED: the server-side timings agreed at the login that connected (whether the server held any of
    /// them to its bounds: `clamped`). Empty with every other state.
    std::optional<AgreedTimings> timings;
};
/// rtc: still no link `lost_after` (10 s) after entering RECONNECTING; immediately followed by RECONNECTING `LOST`.
/// The SDK keeps reconnecting.
struct ConnectionLost {};
/// rtc, rtc-web: a join() of a channel succeeded (for the channel that started the session, right after CONNECTED
/// `JOIN_SUCCESS`). Not repeated after a reconnect: see RejoinSuccess.
struct JoinSuccess {
    std::string channel;  ///< the channel joined
};
/// rtc, rtc-web, room: a reconnect succeeded after a visible outage; follows CONNECTED `REJOIN_SUCCESS`.
struct RejoinSuccess {};
/// A channel's (room's) state changed (docs/state-machine.md, section 5; docs/errors.md, section 3).
struct ChannelStateChanged {
    std::string channel;                             ///< the channel (room)
    ChannelState state{ChannelState::disconnected};  ///< its new state; DISCONNECTED means it is no longer joined
    ChannelReason reason{ChannelReason::left};       ///< why
    std::error_code error;  ///< none for JOINING, JOINED, REJOINED, LEFT; otherwise the relink code (docs/errors.md)
};
/// Another user joined a channel this client is in. Also reported for every member already there when this client
/// joins, and after a reconnect for those who joined while it was away.
struct MemberJoined {
    std::string channel;  ///< the channel
    std::string user_id;  ///< who joined
};
/// Another user left a channel this client is in. The user's streams are removed (StreamRemoved) just before.
struct MemberLeft {
    std::string channel;                           ///< the channel
    std::string user_id;                           ///< who left
    MemberLeftCause cause{MemberLeftCause::quit};  ///< QUIT, DROPPED (presence timeout) or KICKED
};
/// Another member of a channel published a stream (an announcement: relink carries no media).
struct StreamAdded {
    std::string channel;  ///< the channel
    std::string user_id;  ///< the member who published it
    std::string stream;   ///< the stream's name
};
/// Another member of a channel withdrew a stream, or left with it.
struct StreamRemoved {
    std::string channel;  ///< the channel
    std::string user_id;  ///< the member who had published it
    std::string stream;   ///< the stream's name
};
/// A peer or channel message. Each message is delivered at most once, in send order per sender.
struct MessageReceived {
    std::string from;                    ///< the sender's user id
    std::optional<std::string> channel;  ///< the channel of a channel message; none for a peer message
    std::string message_id;              ///< the sender's id of the message, unique per sender
    std::string payload;                 ///< up to 32 KiB: UTF-8 text or binary
    bool backfilled{false};              ///< delivered after a reconnect from what the server kept (rtm backfill)
};
/// Sent after every reconnect, visible or not: how long the link was down and what was caught up; and after a first
/// login made with a recovery key, recovered or not.
struct ContinuityReport {
    Duration outage{};            ///< from the last data received before the outage to the successful login
    bool resumed{false};          ///< the server kept the session: peers saw nothing
    std::uint64_t backfilled{0};  ///< messages the server delivers as backfill after this reconnect
    std::uint64_t dropped{0};     ///< messages missed that will not be delivered (window, count or queue limits)
    /// The server lost its history since the last login (it restarted: its positions have a new epoch). What it
    /// held for this user and what was in flight to it when it went away cannot be counted in `dropped`: resync
    /// from your own source of truth if you need every message.
    bool server_restarted{false};
    AgreedTimings timings;  ///< the server-side timings agreed at the login that ended the outage
    /// This client's first login recovered the session of an earlier process with a recovery key
    /// (ClientConfig::recover_key). `outage` is 0: this process cannot know how long the earlier one was gone.
    /// False after a login with a key that started a new session instead: a server older than recovery keys ignores
    /// them (a key it refuses ends the login with RECOVERY_REFUSED instead, and no report).
    bool recovered{false};
};
/// The token expires within `token_warning_lead` (30 s): renew it with Client::renew_token(). Fired while CONNECTED.
struct TokenPrivilegeWillExpire {};
/// The token has expired. rtc, rtc-web, room: unless a new token reaches the server first (Client::renew_token(),
/// ClientConfig::token_provider), the session ends FAILED `TOKEN_EXPIRED`; rtm: the state does not change and the
/// SDK keeps reconnecting and uses a token given to Client::renew_token().
struct TokenExpired {};

/// The kind of operation an OperationCompleted completes.
enum class OpKind : std::uint8_t {
    peer_message,     ///< send_peer_message()
    channel_message,  ///< send_channel_message()
    publish,          ///< publish()
    unpublish,        ///< unpublish()
    set_attributes,   ///< set_local_user_attributes()
    get_attributes,   ///< get_user_attributes()
    renew_token,      ///< renew_token()
    recovery_key      ///< recovery_key()
};

/// An operation completed: exactly once per operation that was accepted. relink::Client hands it to the operation's
/// completion callback; on_event() sees it too.
struct OperationCompleted {
    OpId op{0};                            ///< the operation
    OpKind kind{OpKind::peer_message};     ///< what it was
    std::error_code error;                 ///< none on success; otherwise the relink code (docs/errors.md)
    std::optional<Attributes> attributes;  ///< get_attributes: the user's attributes
    /// peer_message: the receiver is away (its client has been gone longer than the presence timeout, without a
    /// logout): the server keeps the message and delivers it when that client comes back ("cached by server").
    bool stored_for_away_user{false};
    /// recovery_key: the key to store (ClientConfig::recover_key hands it to a new Client; docs/reliability.md,
    /// "Recovery keys").
    std::optional<std::string> recovery_key;
};

/// How good the link is, from what the client measures anyway: the round trips of its heartbeats (a Ping answered by
/// a Pong) and the data it receives. Read it with Client::link_quality() at any time; LinkQualityChanged reports
/// the meaningful changes. The round-trip figures are of the current connection: a new connection starts them over
/// (docs/reliability.md, "Link quality and the suspicion probe").
struct LinkQuality {
    bool up{false};                      ///< a connection is logged in and usable now
    std::uint64_t rtt_samples{0};        ///< heartbeats answered on this connection; the RTT figures mean nothing at 0
    Duration rtt{};                      ///< smoothed round-trip time, as TCP smooths it (RFC 6298 SRTT, gain 1/8)
    Duration rtt_var{};                  ///< its mean deviation (RFC 6298 RTTVAR, gain 1/4): how much the RTT jitters
    Duration last_rtt{};                 ///< the latest round-trip sample
    std::uint32_t missed_heartbeats{0};  ///< heartbeats in a row whose answer had not come when the next was due
    std::uint64_t late_heartbeats{0};    ///< answers on this connection that came after the next heartbeat was due
    /// Time since the last data received from the server, on any connection; none before the first.
    std::optional<Duration> since_last_data;
};

/// The link's quality changed meaningfully: the first round trip measured on a connection, the smoothed RTT moved
/// by at least 25 % and 20 ms since the last report (at most one such report per heartbeat interval), or the
/// number of missed heartbeats changed (a heartbeat missed, or the link answering again).
struct LinkQualityChanged {
    LinkQuality quality;  ///< as Client::link_quality() returned it when the change happened
};

/// Any event, for Client::on_event() and the sans-IO core.
using Event =
    std::variant<ConnectionStateChanged, ConnectionLost, JoinSuccess, RejoinSuccess, ChannelStateChanged, MemberJoined,
                 MemberLeft, StreamAdded, StreamRemoved, MessageReceived, ContinuityReport, TokenPrivilegeWillExpire,
                 TokenExpired, OperationCompleted, AttemptFailed, LinkQualityChanged, AttemptFinished>;

/// The connection as it is now, for a "retrying in 3 s…" line that is always current: read it with
/// Client::status() at any time (each read is computed afresh for the moment it is made).
struct ConnectionStatus {
    ConnectionState state{ConnectionState::disconnected};  ///< the state of the latest change
    ConnectionReason reason{ConnectionReason::logout};     ///< its reason (LOGOUT before any change)
    std::uint32_t attempt{0};  ///< connection attempts made in the current login or outage (0 when none)
    Duration next_retry{};     ///< time left until the next scheduled attempt; 0 when none is scheduled
    Duration in_state{};       ///< time since the latest state change; 0 before the first one
    std::optional<AttemptFailed> last_failure;  ///< as ConnectionStateChanged::last_failure, now
};

/// The canonical name of an attempt failure: "DNS", "REFUSED", "TIMEOUT", "NETWORK", "PROXY", "TLS",
/// "CERTIFICATE", "HTTP", "PROTOCOL", "CLOSED", "SERVER", "CONFIG" or "BUSY" ("UNKNOWN" for a value out of range).
/// @par Thread safety
/// Pure: safe to call from any thread.
[[nodiscard]] std::string_view to_string(AttemptFailure cause) noexcept;
/// Parses a canonical attempt failure name (the inverse of to_string()).
/// @return the cause, or nothing for any other string
[[nodiscard]] std::optional<AttemptFailure> attempt_failure_from_string(std::string_view name) noexcept;

}  // namespace relink
