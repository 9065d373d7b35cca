// relink/error.hpp — relink's one error vocabulary: the `relink::errc` codes carried in std::error_code on
// every synchronous and asynchronous path, and four coarse conditions that say what the caller should do:
//   transient  — retry later (the SDK may already be retrying for you);
//   fatal      — do not retry with the same inputs (fix the token, the app id, log in again);
//   cancelled  — the operation was ended by something the app did or by the session ending;
//   misuse     — the call was wrong for the current state or its arguments were invalid.
// docs/errors.md lists every code, what to do about it, and the matching codes of the SDKs relink replaces.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <system_error>
#include <type_traits>

namespace relink {

/// Every error relink reports. Numbers are stable; 0 is never an error. docs/errors.md says, for each, when the SDK
/// reports it, whether the SDK retries by itself and what the app should do.
enum class errc : int {
    // misuse: the call cannot work in this state or with these arguments
    not_logged_in = 1,         ///< the call needs a live session (DISCONNECTED, ABORTED, FAILED)
    already_logged_in = 2,     ///< login() while a session exists
    invalid_argument = 3,      ///< an argument breaks the input rules (docs/errors.md)
    invalid_channel_name = 4,  ///< not 1–64 bytes of the allowed characters (is_valid_channel_name())
    invalid_user_id = 5,       ///< a user id that breaks the channel-name rule or has a leading / trailing space
    not_joined = 6,            ///< a channel operation on a channel that is not JOINED / REJOINED
    already_joined = 7,        ///< join() of a channel already joined or joining
    payload_too_large = 8,     ///< message payload above 32 KiB
    unknown_channel = 9,       ///< leave() of a channel that is not joined (LEAVE_FAILED)
    // transient: the operation may succeed if tried again later
    queue_full = 20,           ///< the outbound queue is at its bound
    rate_limited = 21,         ///< the server refused: too many messages per second
    send_timeout = 22,         ///< never reached the server within the send timeout: certainly not delivered
    ack_timeout = 23,          ///< sent, but not acknowledged in time: delivery unknown
    network_timeout = 24,      ///< login/join did not complete in time (the room SDK's 1002053)
    network_interrupted = 25,  ///< the link is down and being re-established (the room SDK's 1000017)
    login_timeout = 26,        ///< the first login did not succeed within the login timeout
    limit_exceeded = 27,       ///< a server limit (channels per user, members per channel) was reached
    // fatal: do not retry with the same inputs
    invalid_token = 40,       ///< malformed token, bad signature, wrong app or user (the room SDK's 1002033)
    token_expired = 41,       ///< the token has expired (the room SDK has no code)
    invalid_app_id = 42,      ///< the server does not know the app id
    banned_by_server = 43,    ///< kicked or banned by the admin API (the room SDK's 1002055)
    remote_login = 44,        ///< the same user id logged in elsewhere (the room SDK's 1002050)
    rejected_by_server = 45,  ///< the server refused the request (e.g. a join the token does not grant)
    login_failure = 46,       ///< the server refused the login for another reason
    peer_offline = 47,        ///< peer message to a user who is not logged in
    gave_up = 48,             ///< the give-up time passed without a successful reconnect
    protocol_error = 49,      ///< the server sent something that breaks the protocol
    // fatal, recovery keys (docs/reliability.md, "Recovery keys"): the login that presented one failed
    recovery_expired = 50,     ///< the session the recovery key names is over (timed out, logged out, kicked)
    recovery_used = 51,        ///< the recovery key was used already: each key recovers once
    recovery_invalid = 52,     ///< the recovery key is malformed, altered, or not the session's latest key
    recovery_wrong_user = 53,  ///< the recovery key names another app or user than the login
    // cancelled: ended by the app or by the end of the session
    logged_out = 60,       ///< logout()/leave() ended the session before the operation completed
    session_aborted = 61,  ///< the session went ABORTED before the operation completed
    session_failed = 62,   ///< the session went FAILED before the operation completed
    channel_left = 63,     ///< the channel was left before the operation completed
};

/// What the caller should do about an error (see the file comment). Every errc maps to exactly one; compare with
/// `error == relink::condition::transient`.
enum class condition : int {
    transient = 1,  ///< retry later (codes 20–27); the SDK may already be retrying for you
    fatal = 2,      ///< do not retry with the same inputs (codes 40–53)
    cancelled = 3,  ///< ended by the app or by the end of the session (codes 60–63)
    misuse = 4,     ///< the call was wrong for the state or its arguments (codes 1–9)
};

/// The category of relink's error codes: name "relink", a message per code, and the code's condition as its
/// default error condition.
/// @par Thread safety
/// Every function of this header is safe to call from any thread; the categories are immutable singletons.
[[nodiscard]] const std::error_category& error_category() noexcept;
/// The category of relink's conditions (name "relink.condition").
[[nodiscard]] const std::error_category& condition_category() noexcept;
/// Makes a std::error_code of relink's category; found by ADL, so `std::error_code e = relink::errc::...;` works.
/// @param code the relink error
/// @return the error code, whose message() is the code's one-sentence message
[[nodiscard]] std::error_code make_error_code(errc code) noexcept;
/// Makes a std::error_condition of relink's condition category; found by ADL for comparisons such as
/// `error == relink::condition::fatal`.
/// @param cond the condition
/// @return the error condition
[[nodiscard]] std::error_condition make_error_condition(condition cond) noexcept;

/// The canonical UPPER_SNAKE name of a relink error ("NOT_LOGGED_IN"); "OK" for no error; "EXTERNAL" for
/// an error of another category (its message() says more).
[[nodiscard]] const char* error_name(std::error_code code) noexcept;

}  // namespace relink

/// relink::errc converts implicitly to std::error_code.
template <>
struct std::is_error_code_enum<relink::errc> : std::true_type {};
/// relink::condition converts implicitly to std::error_condition.
template <>
struct std::is_error_condition_enum<relink::condition> : std::true_type {};
