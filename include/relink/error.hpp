// relink/error.hpp — relink's one error vocabulary: the `relink::errc` codes carried in std::error_code on
// every synchronous and asynchronous path, and four coarse conditions that say what the caller should do:
//   transient  — retry later (the SDK may already be retrying for you);
//   fatal      — do not retry with the same inputs (fix the token, the app id, log in again);
//   cancelled  — the operation was ended by something the app did or by the session ending;
//   misuse     — the call was wrong for the current state or its arguments were invalid.
// docs/errors.md lists every code, what to do about it, and the seed systems' numbers.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <system_error>
#include <type_traits>

namespace relink {

/// Every error relink reports. Numbers are stable; 0 is never an error.
enum class errc : int {
    // misuse: the call cannot work in this state or with these arguments
    not_logged_in = 1,      ///< the call needs a live session (DISCONNECTED, ABORTED, FAILED)
    already_logged_in = 2,  ///< login() while a session exists
    invalid_argument = 3,   ///< an argument breaks the input rules (section 6)
    invalid_channel_name = 4,
    invalid_user_id = 5,
    not_joined = 6,         ///< a channel operation on a channel that is not JOINED / REJOINED
    already_joined = 7,     ///< join() of a channel already joined or joining
    payload_too_large = 8,  ///< message payload above 32 KiB
    unknown_channel = 9,    ///< leave() of a channel that is not joined (LEAVE_FAILED)
    // transient: the operation may succeed if tried again later
    queue_full = 20,           ///< the outbound queue is at its bound
    rate_limited = 21,         ///< the server refused: too many messages per second
    send_timeout = 22,         ///< never reached the server within the send timeout: certainly not delivered
    ack_timeout = 23,          ///< sent, but not acknowledged in time: delivery unknown
    network_timeout = 24,      ///< login/join did not complete in time (room seed: 1002053)
    network_interrupted = 25,  ///< the link is down and being re-established (room seed: 1000017)
    login_timeout = 26,        ///< the first login did not succeed within the login timeout
    limit_exceeded = 27,       ///< a server limit (channels per user, members per channel) was reached
    // fatal: do not retry with the same inputs
    invalid_token = 40,  ///< malformed token, bad signature, wrong app or user (room seed: 1002033)
    token_expired = 41,
    invalid_app_id = 42,
    banned_by_server = 43,  ///< kicked or banned by the admin API (room seed: 1002055)
    remote_login = 44,      ///< the same user id logged in elsewhere (room seed: 1002050)
    rejected_by_server = 45,
    login_failure = 46,   ///< the server refused the login for another reason
    peer_offline = 47,    ///< peer message to a user who is not logged in
    gave_up = 48,         ///< the give-up time passed without a successful reconnect
    protocol_error = 49,  ///< the server sent something that breaks the protocol
    // cancelled: ended by the app or by the end of the session
    logged_out = 60,       ///< logout()/leave() ended the session before the operation completed
    session_aborted = 61,  ///< the session went ABORTED before the operation completed
    session_failed = 62,   ///< the session went FAILED before the operation completed
    channel_left = 63,     ///< the channel was left before the operation completed
};

/// What the caller should do about an error (see the file comment).
enum class condition : int {
    transient = 1,
    fatal = 2,
    cancelled = 3,
    misuse = 4,
};

[[nodiscard]] const std::error_category& error_category() noexcept;
[[nodiscard]] const std::error_category& condition_category() noexcept;
[[nodiscard]] std::error_code make_error_code(errc code) noexcept;
[[nodiscard]] std::error_condition make_error_condition(condition cond) noexcept;

/// The canonical UPPER_SNAKE name of a relink error ("NOT_LOGGED_IN"); "OK" for no error; "EXTERNAL" for
/// an error of another category (its message() says more).
[[nodiscard]] const char* error_name(std::error_code code) noexcept;

}  // namespace relink

template <>
struct std::is_error_code_enum<relink::errc> : std::true_type {};
template <>
struct std::is_error_condition_enum<relink::condition> : std::true_type {};
