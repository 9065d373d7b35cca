// relink/types.hpp — the vocabulary users observe: connection and channel states, the reasons for every
// change, profiles, and the causes of a member leaving. Every enum has a `to_string()` that returns the
// canonical UPPER_SNAKE spelling, used in logs, JSON and the CLI (docs/state-machine.md).
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace relink {

/// The state of the one session a client has with the server (docs/state-machine.md, section 1).
///
/// The numbers are stable and part of the C ABI (relink.h). The five states the native RTC SDKs share keep their
/// numbers there (DISCONNECTED 1 ... FAILED 5), so an app that logs or stores these codes reads them the same after
/// migrating; relink's own states follow. 0 is never a state.
enum class ConnectionState : std::uint8_t {
    disconnected = 1,   ///< initial; after logout; after a login that failed or timed out
    connecting = 2,     ///< login (or join in rtc) in progress; rtc-web also while reconnecting
    connected = 3,      ///< logged in; every API works
    reconnecting = 4,   ///< the link broke and the SDK re-establishes it on its own
    failed = 5,         ///< the SDK gave up or hit an unrecoverable error; the app must log out / leave
    aborted = 6,        ///< kicked (remote login, or banned in rtm/room); calls fail until logout()
    disconnecting = 7,  ///< rtc-web only: a graceful leave() waits for the server's acknowledgement
};

/// Why the connection state changed. The first 17 values keep the native RTC SDK's numbers; the rest are ours
/// (documented in docs/errors.md). `to_string()` gives the canonical name.
///
/// Each value names the state it comes with; docs/errors.md says when the SDK reports it, whether the SDK retries
/// by itself and what the app should do. Profile tags: [rtm] [rtc] [web] (rtc-web) [room].
enum class ConnectionReason : std::uint16_t {
    connecting = 0,                  ///< CONNECTING [rtc] [web]: join() (or login()) started the session
    join_success = 1,                ///< CONNECTED [rtc] [web]: the first login succeeded
    interrupted = 2,                 ///< RECONNECTING ([web] CONNECTING): no data received for interrupted_after
    banned_by_server = 3,            ///< ABORTED [rtm] [room] / FAILED [rtc] [web]: kicked or banned by the admin API
    join_failed = 4,                 ///< FAILED [rtc] [room]: give_up_after passed without a successful reconnect
    leave_channel = 5,               ///< DISCONNECTED [rtc] [web] (and [web] DISCONNECTING): logout() / leave()
    invalid_app_id = 6,              ///< FAILED: the server does not know the app id
    invalid_channel_name = 7,        ///< FAILED: the server refused the login because of a channel name
    invalid_token = 8,               ///< DISCONNECTED: token refused: malformed, bad signature, other app or user
    token_expired = 9,               ///< FAILED [rtc] [web] [room]: the token expired; the server ended the session
    rejected_by_server = 10,         ///< FAILED: login rejected, or [rtc] [web] join() of a joined channel
    setting_proxy_server = 11,       ///< RECONNECTING ([web] CONNECTING): set_proxy() while the session is live
    renew_token = 12,                ///< RECONNECTING [rtm]: renew_token() after the session was refused for its token
    client_ip_address_changed = 13,  ///< RECONNECTING ([web] CONNECTING): notify_network_changed()
    keep_alive_timeout = 14,         ///< RECONNECTING ([web] CONNECTING): the server stopped hearing our heartbeats
    rejoin_success = 15,             ///< CONNECTED [rtc] [web] [room]: a reconnect succeeded; rejoin_success follows
    lost = 16,                       ///< RECONNECTING [rtc]: still no link lost_after after entering RECONNECTING
    // relink's own numbers (rtm / room spellings and reasons the native RTC SDK does not have)
    login = 100,          ///< CONNECTING [rtm] [room]: login() called
    login_success = 101,  ///< CONNECTED [rtm] [room]: the first login succeeded; [rtm] also a reconnect
    login_failure = 102,  ///< DISCONNECTED: the server refused the first login for another reason
    login_timeout = 103,  ///< DISCONNECTED: the first login did not succeed within login_timeout
    logout = 104,         ///< DISCONNECTED [rtm] [room]: the app called logout()
    remote_login = 105,   ///< ABORTED: the same user id logged in from another client instance
    /// DISCONNECTED: the login that presented a recovery key (ClientConfig::recover_key) was refused; the state's error
    /// says why (RECOVERY_EXPIRED, RECOVERY_USED, RECOVERY_INVALID, RECOVERY_WRONG_USER). login() again starts a
    /// fresh session.
    recovery_refused = 106,
};

/// The state of one joined channel (room), reported by channel_state_changed.
enum class ChannelState : std::uint8_t {
    disconnected,  ///< not joined: left, failed, kicked out (a channel in this state is forgotten)
    connecting,    ///< being joined (JOINING) or re-joined after an outage (REJOINING)
    connected,     ///< joined (JOINED, REJOINED): channel operations work
};

/// Why a channel's state changed (docs/state-machine.md, section 5).
enum class ChannelReason : std::uint8_t {
    joining,        ///< CONNECTING: join() or the target of switch_channel()
    joined,         ///< CONNECTED: join succeeded
    join_failed,    ///< DISCONNECTED: token error or network timeout
    rejoining,      ///< CONNECTING: the session went RECONNECTING
    rejoined,       ///< CONNECTED: the session came back and the channel was re-joined
    rejoin_failed,  ///< DISCONNECTED: give-up time passed
    kicked_out,     ///< DISCONNECTED: duplicate user id or kicked by the server's admin API
    left,           ///< DISCONNECTED: leave() or the leave half of switch_channel()
    leave_failed,   ///< DISCONNECTED: leave() of a channel that is not joined
};

/// A set of timings and behaviour switches (docs/state-machine.md, "Profiles at a glance").
enum class Profile : std::uint8_t {
    rtm,      ///< realtime messaging: never gives up, backfill after reconnect
    rtc,      ///< native RTC: 10 s LOST tier, 20 min give-up
    rtc_web,  ///< web RTC: reconnects in CONNECTING, DISCONNECTING on leave
    room,     ///< room SDK: per-room state, 90 s presence, 5 min give-up
};

/// Why a member left a channel, as seen by the other members.
enum class MemberLeftCause : std::uint8_t {
    quit,     ///< logged out or left the channel
    dropped,  ///< the server saw no data from it for the presence timeout
    kicked,   ///< removed by a duplicate login or by the admin API
};

/// The canonical name of a connection state: "DISCONNECTED", "CONNECTING", ... ("UNKNOWN" for a value out of range).
/// @par Thread safety
/// Every function of this header is pure: safe to call from any thread, including from callbacks.
[[nodiscard]] std::string_view to_string(ConnectionState state) noexcept;
/// The canonical name of a connection reason: "INTERRUPTED", "LOGIN_SUCCESS", ... ("UNKNOWN" for a value out of
/// range).
[[nodiscard]] std::string_view to_string(ConnectionReason reason) noexcept;
/// The canonical name of a channel state: "DISCONNECTED", "CONNECTING" or "CONNECTED".
[[nodiscard]] std::string_view to_string(ChannelState state) noexcept;
/// The canonical name of a channel reason: "JOINING", "JOINED", "JOIN_FAILED", ... "LEAVE_FAILED".
[[nodiscard]] std::string_view to_string(ChannelReason reason) noexcept;
/// The name of a profile: "rtm", "rtc", "rtc-web" or "room" (lower case, as on the command line and the wire).
[[nodiscard]] std::string_view to_string(Profile profile) noexcept;
/// The canonical name of a member-left cause: "QUIT", "DROPPED" or "KICKED".
[[nodiscard]] std::string_view to_string(MemberLeftCause cause) noexcept;

/// Parses a profile name as used on the command line and the wire: "rtm", "rtc", "rtc-web", "room".
/// @return the profile, or nothing for any other string (the match is case-sensitive)
[[nodiscard]] std::optional<Profile> profile_from_string(std::string_view name) noexcept;
/// Parses a canonical connection state / reason name (the inverse of to_string()).
/// @return the state, or nothing for a string that is not one of the canonical names
[[nodiscard]] std::optional<ConnectionState> connection_state_from_string(std::string_view name) noexcept;
/// Parses a canonical connection reason name such as "INTERRUPTED" (the inverse of to_string()).
/// @return the reason, or nothing for a string that is not one of the canonical names
[[nodiscard]] std::optional<ConnectionReason> connection_reason_from_string(std::string_view name) noexcept;
/// Parses a canonical member-left cause: "QUIT", "DROPPED" or "KICKED" (the inverse of to_string()).
/// @return the cause, or nothing for any other string
[[nodiscard]] std::optional<MemberLeftCause> member_left_cause_from_string(std::string_view name) noexcept;

/// True for a user id or channel name that is valid: 1–64 bytes of
/// `a-zA-Z0-9`, the punctuation ``!#$%&()+-:;<=.>?@[]^_{|}~,`` and space.
/// @param name a channel name (stream names follow the same rule)
/// @return whether the SDK and the server accept it
[[nodiscard]] bool is_valid_channel_name(std::string_view name) noexcept;
/// Like is_valid_channel_name(), and without a leading or trailing space.
/// @param id a user id
/// @return whether the SDK and the server accept it
[[nodiscard]] bool is_valid_user_id(std::string_view id) noexcept;

}  // namespace relink
