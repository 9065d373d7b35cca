// relink/types.hpp — the vocabulary users observe: connection and channel states, the reasons for every
// change, profiles, and the causes of a member leaving. Every enum has a `to_string()` that returns the
// canonical UPPER_SNAKE spelling of ../shared/spec/behaviour.md, used in logs, JSON and the CLI.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace relink {

/// The state of the one session a client has with the server (behaviour.md section 1).
enum class ConnectionState : std::uint8_t {
    disconnected,   ///< initial; after logout; after a login that failed or timed out
    connecting,     ///< login (or join in rtc) in progress; rtc-web also while reconnecting
    connected,      ///< logged in; every API works
    reconnecting,   ///< the link broke and the SDK re-establishes it on its own
    aborted,        ///< kicked (remote login, or banned in rtm/room); calls fail until logout()
    failed,         ///< the SDK gave up or hit an unrecoverable error; the app must log out / leave
    disconnecting,  ///< rtc-web only: a graceful leave() waits for the server's acknowledgement
};

/// Why the connection state changed. The first 17 values keep the rtc seed's numbers; the rest are ours
/// (documented in docs/errors.md). `to_string()` gives the canonical name.
enum class ConnectionReason : std::uint16_t {
    connecting = 0,
    join_success = 1,
    interrupted = 2,
    banned_by_server = 3,
    join_failed = 4,
    leave_channel = 5,
    invalid_app_id = 6,
    invalid_channel_name = 7,
    invalid_token = 8,
    token_expired = 9,
    rejected_by_server = 10,
    setting_proxy_server = 11,
    renew_token = 12,
    client_ip_address_changed = 13,
    keep_alive_timeout = 14,
    rejoin_success = 15,
    lost = 16,
    // relink's own numbers (rtm / room spellings and reasons the rtc seed does not have)
    login = 100,
    login_success = 101,
    login_failure = 102,
    login_timeout = 103,
    logout = 104,
    remote_login = 105,
};

/// The state of one joined channel (room), reported by channel_state_changed.
enum class ChannelState : std::uint8_t {
    disconnected,
    connecting,
    connected,
};

/// Why a channel's state changed (behaviour.md section 3, T-ROOM).
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

/// A set of timings and behaviour switches (behaviour.md section 2).
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

[[nodiscard]] std::string_view to_string(ConnectionState state) noexcept;
[[nodiscard]] std::string_view to_string(ConnectionReason reason) noexcept;
[[nodiscard]] std::string_view to_string(ChannelState state) noexcept;
[[nodiscard]] std::string_view to_string(ChannelReason reason) noexcept;
[[nodiscard]] std::string_view to_string(Profile profile) noexcept;
[[nodiscard]] std::string_view to_string(MemberLeftCause cause) noexcept;

/// Parses a profile name as used on the command line and the wire: "rtm", "rtc", "rtc-web", "room".
[[nodiscard]] std::optional<Profile> profile_from_string(std::string_view name) noexcept;
/// Parses a canonical connection state / reason name (the inverse of to_string()).
[[nodiscard]] std::optional<ConnectionState> connection_state_from_string(std::string_view name) noexcept;
[[nodiscard]] std::optional<ConnectionReason> connection_reason_from_string(std::string_view name) noexcept;
[[nodiscard]] std::optional<MemberLeftCause> member_left_cause_from_string(std::string_view name) noexcept;

/// True for a user id or channel name that follows behaviour.md section 6: 1–64 bytes of
/// `a-zA-Z0-9`, the punctuation ``!#$%&()+-:;<=.>?@[]^_{|}~,`` and space.
[[nodiscard]] bool is_valid_channel_name(std::string_view name) noexcept;
/// Like is_valid_channel_name(), and without a leading or trailing space.
[[nodiscard]] bool is_valid_user_id(std::string_view id) noexcept;

}  // namespace relink
