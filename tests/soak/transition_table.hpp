// tests/soak/transition_table.hpp — the connection-state transition table of docs/state-machine.md (section 3,
// default timings) as data: for each profile, which (previous state → state, reason) changes are legal. Used by the
// chaos soak (tests/soak/soak.cpp) to check every transition a real client reports, and pinned by
// tests/soak/transition_table_check.cpp (cells per profile, as counted in the doc).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "relink/types.hpp"

namespace relink::soak {

/// Profile bits for one row of the table.
enum ProfileBits : std::uint8_t {
    kRtm = 1,
    kRtc = 2,
    kWeb = 4,
    kRoom = 8,
    kAll = kRtm | kRtc | kWeb | kRoom,
    kRtmRoom = kRtm | kRoom,
    kRtcFamily = kRtc | kWeb,
    kOutage = kRtm | kRtc | kRoom,  ///< the profiles with a RECONNECTING state
    kTokenFatal = kRtc | kWeb | kRoom,
};

inline std::uint8_t profile_bit(Profile profile) {
    switch (profile) {
        case Profile::rtm: return kRtm;
        case Profile::rtc: return kRtc;
        case Profile::rtc_web: return kWeb;
        case Profile::room: return kRoom;
    }
    return 0;
}

/// One allowed (from, to, reason) with the profiles it holds in.
struct TransitionRow {
    ConnectionState from;
    ConnectionState to;
    ConnectionReason reason;
    std::uint8_t profiles;
};

// clang-format off
/// docs/state-machine.md, section 3, row by row (S = state, R = reason).
inline constexpr TransitionRow kTransitionTable[] = {
    // DISCONNECTED →
    {ConnectionState::disconnected, ConnectionState::connecting, ConnectionReason::login, kRtmRoom},
    {ConnectionState::disconnected, ConnectionState::connecting, ConnectionReason::connecting, kRtcFamily},
    {ConnectionState::disconnected, ConnectionState::failed, ConnectionReason::invalid_channel_name, kRtcFamily},
    // CONNECTING →
    {ConnectionState::connecting, ConnectionState::disconnected, ConnectionReason::logout, kRtmRoom},
    {ConnectionState::connecting, ConnectionState::disconnected, ConnectionReason::leave_channel, kRtcFamily},
    {ConnectionState::connecting, ConnectionState::disconnected, ConnectionReason::login_timeout, kAll},
    {ConnectionState::connecting, ConnectionState::disconnected, ConnectionReason::login_failure, kAll},
    {ConnectionState::connecting, ConnectionState::disconnected, ConnectionReason::invalid_token, kAll},
    {ConnectionState::connecting, ConnectionState::connecting, ConnectionReason::client_ip_address_changed, kWeb},
    {ConnectionState::connecting, ConnectionState::connecting, ConnectionReason::setting_proxy_server, kWeb},
    {ConnectionState::connecting, ConnectionState::connecting, ConnectionReason::keep_alive_timeout, kWeb},
    {ConnectionState::connecting, ConnectionState::connected, ConnectionReason::login_success, kRtmRoom},
    {ConnectionState::connecting, ConnectionState::connected, ConnectionReason::join_success, kRtcFamily},
    {ConnectionState::connecting, ConnectionState::connected, ConnectionReason::rejoin_success, kWeb},
    {ConnectionState::connecting, ConnectionState::aborted, ConnectionReason::remote_login, kAll},
    {ConnectionState::connecting, ConnectionState::aborted, ConnectionReason::banned_by_server, kRtmRoom},
    {ConnectionState::connecting, ConnectionState::failed, ConnectionReason::invalid_app_id, kAll},
    {ConnectionState::connecting, ConnectionState::failed, ConnectionReason::invalid_channel_name, kAll},
    {ConnectionState::connecting, ConnectionState::failed, ConnectionReason::rejected_by_server, kAll},
    {ConnectionState::connecting, ConnectionState::failed, ConnectionReason::banned_by_server, kRtcFamily},
    {ConnectionState::connecting, ConnectionState::failed, ConnectionReason::token_expired, kTokenFatal},
    // CONNECTED →
    {ConnectionState::connected, ConnectionState::disconnected, ConnectionReason::logout, kRtmRoom},
    {ConnectionState::connected, ConnectionState::disconnected, ConnectionReason::leave_channel, kRtcFamily},
    {ConnectionState::connected, ConnectionState::disconnected, ConnectionReason::invalid_token, kTokenFatal},
    {ConnectionState::connected, ConnectionState::connecting, ConnectionReason::interrupted, kWeb},
    {ConnectionState::connected, ConnectionState::connecting, ConnectionReason::client_ip_address_changed, kWeb},
    {ConnectionState::connected, ConnectionState::connecting, ConnectionReason::setting_proxy_server, kWeb},
    {ConnectionState::connected, ConnectionState::connecting, ConnectionReason::keep_alive_timeout, kWeb},
    {ConnectionState::connected, ConnectionState::reconnecting, ConnectionReason::interrupted, kOutage},
    {ConnectionState::connected, ConnectionState::reconnecting, ConnectionReason::client_ip_address_changed, kOutage},
    {ConnectionState::connected, ConnectionState::reconnecting, ConnectionReason::setting_proxy_server, kOutage},
    {ConnectionState::connected, ConnectionState::reconnecting, ConnectionReason::keep_alive_timeout, kOutage},
    {ConnectionState::connected, ConnectionState::aborted, ConnectionReason::remote_login, kAll},
    {ConnectionState::connected, ConnectionState::aborted, ConnectionReason::banned_by_server, kRtmRoom},
    {ConnectionState::connected, ConnectionState::failed, ConnectionReason::invalid_app_id, kAll},
    {ConnectionState::connected, ConnectionState::failed, ConnectionReason::invalid_channel_name, kAll},
    {ConnectionState::connected, ConnectionState::failed, ConnectionReason::rejected_by_server, kAll},
    {ConnectionState::connected, ConnectionState::failed, ConnectionReason::banned_by_server, kRtcFamily},
    {ConnectionState::connected, ConnectionState::failed, ConnectionReason::token_expired, kTokenFatal},
    {ConnectionState::connected, ConnectionState::disconnecting, ConnectionReason::leave_channel, kWeb},
    // RECONNECTING → (rtm, rtc, room)
    {ConnectionState::reconnecting, ConnectionState::disconnected, ConnectionReason::logout, kRtmRoom},
    {ConnectionState::reconnecting, ConnectionState::disconnected, ConnectionReason::leave_channel, kRtc},
    {ConnectionState::reconnecting, ConnectionState::disconnected, ConnectionReason::invalid_token, kRtc | kRoom},
    {ConnectionState::reconnecting, ConnectionState::connected, ConnectionReason::login_success, kRtm},
    {ConnectionState::reconnecting, ConnectionState::connected, ConnectionReason::rejoin_success, kRtc | kRoom},
    {ConnectionState::reconnecting, ConnectionState::reconnecting, ConnectionReason::lost, kRtc},
    {ConnectionState::reconnecting, ConnectionState::reconnecting, ConnectionReason::client_ip_address_changed, kOutage},
    {ConnectionState::reconnecting, ConnectionState::reconnecting, ConnectionReason::setting_proxy_server, kOutage},
    {ConnectionState::reconnecting, ConnectionState::reconnecting, ConnectionReason::keep_alive_timeout, kOutage},
    {ConnectionState::reconnecting, ConnectionState::reconnecting, ConnectionReason::renew_token, kRtm},
    {ConnectionState::reconnecting, ConnectionState::aborted, ConnectionReason::remote_login, kOutage},
    {ConnectionState::reconnecting, ConnectionState::aborted, ConnectionReason::banned_by_server, kRtmRoom},
    {ConnectionState::reconnecting, ConnectionState::failed, ConnectionReason::join_failed, kRtc | kRoom},
    {ConnectionState::reconnecting, ConnectionState::failed, ConnectionReason::invalid_app_id, kOutage},
    {ConnectionState::reconnecting, ConnectionState::failed, ConnectionReason::invalid_channel_name, kOutage},
    {ConnectionState::reconnecting, ConnectionState::failed, ConnectionReason::rejected_by_server, kOutage},
    {ConnectionState::reconnecting, ConnectionState::failed, ConnectionReason::banned_by_server, kRtc},
    {ConnectionState::reconnecting, ConnectionState::failed, ConnectionReason::token_expired, kRtc | kRoom},
    // ABORTED, FAILED, DISCONNECTING →
    {ConnectionState::aborted, ConnectionState::disconnected, ConnectionReason::logout, kRtmRoom},
    {ConnectionState::aborted, ConnectionState::disconnected, ConnectionReason::leave_channel, kRtcFamily},
    {ConnectionState::failed, ConnectionState::disconnected, ConnectionReason::logout, kRtmRoom},
    {ConnectionState::failed, ConnectionState::disconnected, ConnectionReason::leave_channel, kRtcFamily},
    {ConnectionState::disconnecting, ConnectionState::disconnected, ConnectionReason::leave_channel, kWeb},
};
// clang-format on

/// Whether `from` → `to` with `reason` is a legal connection-state change in `profile` (default timings).
inline bool transition_allowed(Profile profile, ConnectionState from, ConnectionState to, ConnectionReason reason) {
    const std::uint8_t bit = profile_bit(profile);
    for (const auto& row : kTransitionTable) {
        if (row.from == from && row.to == to && row.reason == reason && (row.profiles & bit) != 0) {
            return true;
        }
    }
    return false;
}

/// How many (from, to) cells have at least one legal reason in `profile` (the doc: rtm 16, rtc 17, rtc-web 15,
/// room 16).
inline int allowed_cells(Profile profile) {
    int cells = 0;
    // The states' numbers: DISCONNECTED 1 ... DISCONNECTING 7 (0 is no state).
    constexpr int kFirstState = static_cast<int>(ConnectionState::disconnected);
    constexpr int kLastState = static_cast<int>(ConnectionState::disconnecting);
    for (int f = kFirstState; f <= kLastState; ++f) {
        for (int t = kFirstState; t <= kLastState; ++t) {
            for (const auto& row : kTransitionTable) {
                if (static_cast<int>(row.from) == f && static_cast<int>(row.to) == t &&
                    (row.profiles & profile_bit(profile)) != 0) {
                    ++cells;
                    break;
                }
            }
        }
    }
    return cells;
}

}  // namespace relink::soak
