// core/profile_rules.hpp — ProfileRules, what the four profiles do differently, written once as a table of data.
//
// The client core follows one state machine for every profile; where the native SDKs a profile imitates behave
// differently (which state a reconnect shows, whether join() starts a session, what a ban or an expired token does),
// the core asks its profile's row here instead of testing the profile by name. docs/state-machine.md and
// docs/migrating.md describe each rule from the app's side.
#pragma once

#include <array>
#include <cstddef>

#include "relink/types.hpp"

namespace relink::core {

struct ProfileRules {
    // ---- the session and its channels ----
    /// join() without a session logs in with that channel (the RTC SDKs' joinChannel); otherwise join() needs one.
    bool join_starts_session;
    /// A join() that starts the session with an invalid channel name fails it (FAILED INVALID_CHANNEL_NAME).
    bool bad_channel_fails_session;
    /// join() of a channel already joined, or the server refusing a join as REJECTED_BY_SERVER, fails the session
    /// (FAILED REJECTED_BY_SERVER).
    bool rejected_join_fails_session;
    /// leave() of the last channel ends the session; in ABORTED / FAILED, leave() of any channel does.
    bool leave_ends_session;
    /// logout() with a live link goes DISCONNECTING until the server acknowledges it (or leave_timeout).
    bool graceful_logout;
    /// A channel joined before keeps taking operations (queued) while it rejoins; otherwise only JOINED / REJOINED do.
    bool channel_operations_while_rejoining;
    /// A first join emits JoinSuccess.
    bool join_success_event;

    // ---- what the app is told ----
    ConnectionState reconnect_state;            ///< shown while the link is being re-established
    ConnectionReason start_reason;              ///< CONNECTING's reason when a session starts
    ConnectionReason first_success_reason;      ///< CONNECTED's reason after the first login
    ConnectionReason reconnect_success_reason;  ///< CONNECTED's reason after a visible outage
    ConnectionReason end_reason;                ///< DISCONNECTED's reason after logout() / the ending leave()
    ConnectionState banned_state;               ///< a kick or a ban: ABORTED or FAILED (BANNED_BY_SERVER)

    // ---- the token ----
    /// A token refused while reconnecting (expired, invalid) keeps the session and its retries, waiting for
    /// renew_token(); otherwise an expired token fails the session (FAILED TOKEN_EXPIRED).
    bool token_refusal_keeps_session;
};

/// Rows in the order of relink::Profile.
inline constexpr std::array<ProfileRules, 4> kProfileRules{{
    // rtm: the messaging SDK
    {.join_starts_session = false,
     .bad_channel_fails_session = false,
     .rejected_join_fails_session = false,
     .leave_ends_session = false,
     .graceful_logout = false,
     .channel_operations_while_rejoining = true,
     .join_success_event = false,
     .reconnect_state = ConnectionState::reconnecting,
     .start_reason = ConnectionReason::login,
     .first_success_reason = ConnectionReason::login_success,
     .reconnect_success_reason = ConnectionReason::login_success,
     .end_reason = ConnectionReason::logout,
     .banned_state = ConnectionState::aborted,
     .token_refusal_keeps_session = true},
    // rtc: the native audio/video SDK
    {.join_starts_session = true,
     .bad_channel_fails_session = true,
     .rejected_join_fails_session = true,
     .leave_ends_session = true,
     .graceful_logout = false,
     .channel_operations_while_rejoining = true,
     .join_success_event = true,
     .reconnect_state = ConnectionState::reconnecting,
     .start_reason = ConnectionReason::connecting,
     .first_success_reason = ConnectionReason::join_success,
     .reconnect_success_reason = ConnectionReason::rejoin_success,
     .end_reason = ConnectionReason::leave_channel,
     .banned_state = ConnectionState::failed,
     .token_refusal_keeps_session = false},
    // rtc-web: the web audio/video SDK
    {.join_starts_session = true,
     .bad_channel_fails_session = true,
     .rejected_join_fails_session = true,
     .leave_ends_session = true,
     .graceful_logout = true,
     .channel_operations_while_rejoining = true,
     .join_success_event = true,
     .reconnect_state = ConnectionState::connecting,
     .start_reason = ConnectionReason::connecting,
     .first_success_reason = ConnectionReason::join_success,
     .reconnect_success_reason = ConnectionReason::rejoin_success,
     .end_reason = ConnectionReason::leave_channel,
     .banned_state = ConnectionState::failed,
     .token_refusal_keeps_session = false},
    // room: the room SDK
    {.join_starts_session = false,
     .bad_channel_fails_session = false,
     .rejected_join_fails_session = false,
     .leave_ends_session = false,
     .graceful_logout = false,
     .channel_operations_while_rejoining = false,
     .join_success_event = false,
     .reconnect_state = ConnectionState::reconnecting,
     .start_reason = ConnectionReason::login,
     .first_success_reason = ConnectionReason::login_success,
     .reconnect_success_reason = ConnectionReason::rejoin_success,
     .end_reason = ConnectionReason::logout,
     .banned_state = ConnectionState::aborted,
     .token_refusal_keeps_session = false},
}};

/// The rules of `profile`.
[[nodiscard]] constexpr const ProfileRules& rules_for(Profile profile) noexcept {
    return kProfileRules[static_cast<std::size_t>(profile)];
}

}  // namespace relink::core
