// Canonical names of the public enums and the input rules of behaviour.md section 6.
#include "relink/types.hpp"

#include <array>
#include <utility>

namespace relink {
namespace {

constexpr std::array<std::pair<ConnectionReason, std::string_view>, 24> kReasonNames{{
    {ConnectionReason::connecting, "CONNECTING"},
    {ConnectionReason::join_success, "JOIN_SUCCESS"},
    {ConnectionReason::interrupted, "INTERRUPTED"},
    {ConnectionReason::banned_by_server, "BANNED_BY_SERVER"},
    {ConnectionReason::join_failed, "JOIN_FAILED"},
    {ConnectionReason::leave_channel, "LEAVE_CHANNEL"},
    {ConnectionReason::invalid_app_id, "INVALID_APP_ID"},
    {ConnectionReason::invalid_channel_name, "INVALID_CHANNEL_NAME"},
    {ConnectionReason::invalid_token, "INVALID_TOKEN"},
    {ConnectionReason::token_expired, "TOKEN_EXPIRED"},
    {ConnectionReason::rejected_by_server, "REJECTED_BY_SERVER"},
    {ConnectionReason::setting_proxy_server, "SETTING_PROXY_SERVER"},
    {ConnectionReason::renew_token, "RENEW_TOKEN"},
    {ConnectionReason::client_ip_address_changed, "CLIENT_IP_ADDRESS_CHANGED"},
    {ConnectionReason::keep_alive_timeout, "KEEP_ALIVE_TIMEOUT"},
    {ConnectionReason::rejoin_success, "REJOIN_SUCCESS"},
    {ConnectionReason::lost, "LOST"},
    {ConnectionReason::login, "LOGIN"},
    {ConnectionReason::login_success, "LOGIN_SUCCESS"},
    {ConnectionReason::login_failure, "LOGIN_FAILURE"},
    {ConnectionReason::login_timeout, "LOGIN_TIMEOUT"},
    {ConnectionReason::logout, "LOGOUT"},
    {ConnectionReason::remote_login, "REMOTE_LOGIN"},
    {ConnectionReason::recovery_refused, "RECOVERY_REFUSED"},
}};

/// Indexed by the state's number: 0 is no state.
constexpr std::array<std::string_view, 8> kStateNames{"UNKNOWN",      "DISCONNECTED", "CONNECTING", "CONNECTED",
                                                      "RECONNECTING", "FAILED",       "ABORTED",    "DISCONNECTING"};

bool is_allowed_name_char(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ') {
        return true;
    }
    constexpr std::string_view kPunctuation = "!#$%&()+-:;<=.>?@[]^_{|}~,";
    return kPunctuation.find(c) != std::string_view::npos;
}

}  // namespace

std::string_view to_string(ConnectionState state) noexcept {
    const auto index = static_cast<std::size_t>(state);
    return index < kStateNames.size() ? kStateNames[index] : "UNKNOWN";
}

std::string_view to_string(ConnectionReason reason) noexcept {
    for (const auto& [value, name] : kReasonNames) {
        if (value == reason) {
            return name;
        }
    }
    return "UNKNOWN";
}

std::string_view to_string(ChannelState state) noexcept {
    switch (state) {
        case ChannelState::disconnected: return "DISCONNECTED";
        case ChannelState::connecting: return "CONNECTING";
        case ChannelState::connected: return "CONNECTED";
    }
    return "UNKNOWN";
}

std::string_view to_string(ChannelReason reason) noexcept {
    switch (reason) {
        case ChannelReason::joining: return "JOINING";
        case ChannelReason::joined: return "JOINED";
        case ChannelReason::join_failed: return "JOIN_FAILED";
        case ChannelReason::rejoining: return "REJOINING";
        case ChannelReason::rejoined: return "REJOINED";
        case ChannelReason::rejoin_failed: return "REJOIN_FAILED";
        case ChannelReason::kicked_out: return "KICKED_OUT";
        case ChannelReason::left: return "LEFT";
        case ChannelReason::leave_failed: return "LEAVE_FAILED";
    }
    return "UNKNOWN";
}

std::string_view to_string(Profile profile) noexcept {
    switch (profile) {
        case Profile::rtm: return "rtm";
        case Profile::rtc: return "rtc";
        case Profile::rtc_web: return "rtc-web";
        case Profile::room: return "room";
    }
    return "unknown";
}

std::string_view to_string(MemberLeftCause cause) noexcept {
    switch (cause) {
        case MemberLeftCause::quit: return "QUIT";
        case MemberLeftCause::dropped: return "DROPPED";
        case MemberLeftCause::kicked: return "KICKED";
    }
    return "UNKNOWN";
}

std::optional<Profile> profile_from_string(std::string_view name) noexcept {
    for (const Profile p : {Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room}) {
        if (to_string(p) == name) {
            return p;
        }
    }
    return std::nullopt;
}

std::optional<ConnectionState> connection_state_from_string(std::string_view name) noexcept {
    for (std::size_t i = 1; i < kStateNames.size(); ++i) {
        if (kStateNames[i] == name) {
            return static_cast<ConnectionState>(i);
        }
    }
    return std::nullopt;
}

std::optional<ConnectionReason> connection_reason_from_string(std::string_view name) noexcept {
    for (const auto& [value, text] : kReasonNames) {
        if (text == name) {
            return value;
        }
    }
    return std::nullopt;
}

std::optional<MemberLeftCause> member_left_cause_from_string(std::string_view name) noexcept {
    for (const auto c : {MemberLeftCause::quit, MemberLeftCause::dropped, MemberLeftCause::kicked}) {
        if (to_string(c) == name) {
            return c;
        }
    }
    return std::nullopt;
}

bool is_valid_channel_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) {
        return false;
    }
    for (const char c : name) {
        if (!is_allowed_name_char(c)) {
            return false;
        }
    }
    return true;
}

bool is_valid_user_id(std::string_view id) noexcept {
    return is_valid_channel_name(id) && id.front() != ' ' && id.back() != ' ';
}

}  // namespace relink
