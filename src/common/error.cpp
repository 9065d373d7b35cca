// relink's error category, its messages and names, and the mapping of codes to coarse conditions.
#include "relink/error.hpp"

#include <string>

namespace relink {
namespace {

struct ErrorInfo {
    errc code;
    const char* name;
    const char* message;
    condition cond;
};

constexpr ErrorInfo kErrors[] = {
    {errc::not_logged_in, "NOT_LOGGED_IN", "not logged in: the call needs a live session", condition::misuse},
    {errc::already_logged_in, "ALREADY_LOGGED_IN", "already logged in: log out first", condition::misuse},
    {errc::invalid_argument, "INVALID_ARGUMENT", "invalid argument", condition::misuse},
    {errc::invalid_channel_name, "INVALID_CHANNEL_NAME",
     "invalid channel name: 1-64 bytes of letters, digits, space and !#$%&()+-:;<=.>?@[]^_{|}~,", condition::misuse},
    {errc::invalid_user_id, "INVALID_USER_ID",
     "invalid user id: 1-64 bytes of letters, digits, space and !#$%&()+-:;<=.>?@[]^_{|}~, without a leading or "
     "trailing space",
     condition::misuse},
    {errc::not_joined, "NOT_JOINED", "the channel is not joined", condition::misuse},
    {errc::already_joined, "ALREADY_JOINED", "the channel is already joined or being joined", condition::misuse},
    {errc::payload_too_large, "PAYLOAD_TOO_LARGE", "the payload is larger than 32 KiB", condition::misuse},
    {errc::unknown_channel, "UNKNOWN_CHANNEL", "leave of a channel that is not joined", condition::misuse},
    {errc::queue_full, "QUEUE_FULL", "the outbound queue is full", condition::transient},
    {errc::rate_limited, "RATE_LIMITED", "rate limited by the server", condition::transient},
    {errc::send_timeout, "SEND_TIMEOUT", "not sent within the message timeout: not delivered", condition::transient},
    {errc::ack_timeout, "ACK_TIMEOUT", "sent but not acknowledged within the message timeout: delivery unknown",
     condition::transient},
    {errc::network_timeout, "NETWORK_TIMEOUT", "the network did not answer in time", condition::transient},
    {errc::network_interrupted, "NETWORK_INTERRUPTED", "the link is interrupted and being re-established",
     condition::transient},
    {errc::login_timeout, "LOGIN_TIMEOUT", "the login did not succeed within the login timeout", condition::transient},
    {errc::limit_exceeded, "LIMIT_EXCEEDED", "a server limit was reached (channels per user or members per channel)",
     condition::transient},
    {errc::invalid_token, "INVALID_TOKEN", "invalid token: malformed, bad signature, or for another app or user",
     condition::fatal},
    {errc::token_expired, "TOKEN_EXPIRED", "the token has expired", condition::fatal},
    {errc::invalid_app_id, "INVALID_APP_ID", "unknown app id", condition::fatal},
    {errc::banned_by_server, "BANNED_BY_SERVER", "kicked or banned by the server", condition::fatal},
    {errc::remote_login, "REMOTE_LOGIN", "the same user id logged in from another client", condition::fatal},
    {errc::rejected_by_server, "REJECTED_BY_SERVER", "rejected by the server", condition::fatal},
    {errc::login_failure, "LOGIN_FAILURE", "the server refused the login", condition::fatal},
    {errc::peer_offline, "PEER_OFFLINE", "the peer is not logged in", condition::fatal},
    {errc::gave_up, "GAVE_UP", "gave up reconnecting after the profile's give-up time", condition::fatal},
    {errc::protocol_error, "PROTOCOL_ERROR", "the peer broke the protocol", condition::fatal},
    {errc::recovery_expired, "RECOVERY_EXPIRED",
     "recovery refused: the session the key names is over (its presence timed out, or it ended)", condition::fatal},
    {errc::recovery_used, "RECOVERY_USED", "recovery refused: the key was used already (each key recovers once)",
     condition::fatal},
    {errc::recovery_invalid, "RECOVERY_INVALID",
     "recovery refused: the key is malformed, altered, or not the session's latest", condition::fatal},
    {errc::recovery_wrong_user, "RECOVERY_WRONG_USER", "recovery refused: the key names another app or user",
     condition::fatal},
    {errc::logged_out, "LOGGED_OUT", "cancelled: the session was ended by logout or leave", condition::cancelled},
    {errc::session_aborted, "SESSION_ABORTED", "cancelled: the session was aborted (kicked)", condition::cancelled},
    {errc::session_failed, "SESSION_FAILED", "cancelled: the session failed", condition::cancelled},
    {errc::channel_left, "CHANNEL_LEFT", "cancelled: the channel was left", condition::cancelled},
};

const ErrorInfo* find_error(int value) noexcept {
    for (const auto& info : kErrors) {
        if (static_cast<int>(info.code) == value) {
            return &info;
        }
    }
    return nullptr;
}

class ErrorCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "relink"; }
    std::string message(int value) const override {
        const ErrorInfo* info = find_error(value);
        return info != nullptr ? info->message : "unknown relink error " + std::to_string(value);
    }
    std::error_condition default_error_condition(int value) const noexcept override {
        const ErrorInfo* info = find_error(value);
        return info != nullptr ? make_error_condition(info->cond) : std::error_condition(value, *this);
    }
};

class ConditionCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "relink.condition"; }
    std::string message(int value) const override {
        switch (static_cast<condition>(value)) {
            case condition::transient: return "transient: retry later";
            case condition::fatal: return "fatal: do not retry with the same inputs";
            case condition::cancelled: return "cancelled";
            case condition::misuse: return "misuse: the call is wrong for the state or its arguments";
        }
        return "unknown relink condition";
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const ErrorCategory category;
    return category;
}

const std::error_category& condition_category() noexcept {
    static const ConditionCategory category;
    return category;
}

std::error_code make_error_code(errc code) noexcept {
    return {static_cast<int>(code), error_category()};
}

std::error_condition make_error_condition(condition cond) noexcept {
    return {static_cast<int>(cond), condition_category()};
}

const char* error_name(std::error_code code) noexcept {
    if (!code) {
        return "OK";
    }
    if (code.category() != error_category()) {
        return "EXTERNAL";
    }
    const ErrorInfo* info = find_error(code.value());
    return info != nullptr ? info->name : "UNKNOWN";
}

}  // namespace relink
