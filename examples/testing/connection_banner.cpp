// The example app's connection banner (connection_banner.hpp): relink's states and reasons in the user's words.
#include "connection_banner.hpp"

namespace banner_app {

using relink::ConnectionReason;
using relink::ConnectionState;

ConnectionBanner::ConnectionBanner(relink::Client& client) : client_(client) {
    client_.on_connection_state_changed([this](const relink::ConnectionStateChanged& change) { show(change); });
}

ConnectionBanner::~ConnectionBanner() {
    client_.on_connection_state_changed({});  // no callback reaches a banner that is gone
}

void ConnectionBanner::show(const relink::ConnectionStateChanged& change) {
    state_ = change.state;
    reason_ = change.reason;
    const auto set = [this](std::string text, Tone tone, Action action) {
        text_ = std::move(text);
        tone_ = tone;
        action_ = action;
    };
    switch (change.state) {
        case ConnectionState::connecting: set("Connecting…", Tone::info, Action::none); return;
        case ConnectionState::connected: set("Online", Tone::hidden, Action::none); return;
        case ConnectionState::reconnecting:
            // The app does nothing: relink reconnects by itself and sends what was queued.
            switch (change.reason) {
                case ConnectionReason::client_ip_address_changed:
                    set("Network changed. Reconnecting…", Tone::info, Action::none);
                    return;
                case ConnectionReason::setting_proxy_server:
                    set("Proxy changed. Reconnecting…", Tone::info, Action::none);
                    return;
                case ConnectionReason::renew_token: set("Signing you back in…", Tone::info, Action::none); return;
                case ConnectionReason::keep_alive_timeout:
                    set("The server stopped hearing us. Reconnecting…", Tone::warning, Action::none);
                    return;
                default:  // INTERRUPTED
                    set("Connection lost. Reconnecting…", Tone::warning, Action::none);
                    return;
            }
        case ConnectionState::disconnected:
            switch (change.reason) {
                case ConnectionReason::login_timeout:
                    set("Can't reach the server. Check your connection.", Tone::error, Action::retry);
                    return;
                case ConnectionReason::login_failure:
                    set("Sign-in failed. Try again.", Tone::error, Action::retry);
                    return;
                case ConnectionReason::invalid_token:
                    set("Your session has ended. Please sign in again.", Tone::error, Action::sign_in_again);
                    return;
                default:  // LOGOUT
                    set("Offline", Tone::info, Action::sign_in);
                    return;
            }
        case ConnectionState::aborted:
            if (change.reason == ConnectionReason::remote_login) {
                set("You signed in on another device.", Tone::warning, Action::sign_in_again);
            } else {  // BANNED_BY_SERVER
                set("An administrator signed you out.", Tone::error, Action::contact_support);
            }
            return;
        case ConnectionState::failed:
            if (change.reason == ConnectionReason::invalid_app_id) {
                set("This version of the app can no longer connect. Please update it.", Tone::error,
                    Action::update_app);
            } else {  // REJECTED_BY_SERVER, INVALID_CHANNEL_NAME
                set("The server refused the sign-in.", Tone::error, Action::contact_support);
            }
            return;
        case ConnectionState::disconnecting: set("Signing out…", Tone::info, Action::none); return;
    }
}

}  // namespace banner_app
