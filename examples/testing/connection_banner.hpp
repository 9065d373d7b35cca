// connection_banner.hpp — the example app's view model of its connection banner: what the user reads above the
// chat for each connection state and reason relink reports, and the one action the banner offers. It knows nothing
// of tests: it takes the relink::Client the app uses, and connection_banner_test.cpp gives it one made by
// relink::testing::World (docs/testing-apps.md).
#pragma once

#include <string>

#include <relink/client.hpp>

namespace banner_app {

/// How the banner looks.
enum class Tone { hidden, info, warning, error };
/// The button the banner shows.
enum class Action { none, sign_in, retry, sign_in_again, update_app, contact_support };

/// The banner of one client: updated by the client's connection_state_changed callback.
class ConnectionBanner {
public:
    /// Watches `client` (its on_connection_state_changed handler); `client` must outlive the banner.
    explicit ConnectionBanner(relink::Client& client);
    ~ConnectionBanner();
    ConnectionBanner(const ConnectionBanner&) = delete;
    ConnectionBanner& operator=(const ConnectionBanner&) = delete;

    [[nodiscard]] const std::string& text() const noexcept { return text_; }
    [[nodiscard]] Tone tone() const noexcept { return tone_; }
    [[nodiscard]] Action action() const noexcept { return action_; }
    /// The state and reason the banner shows now (what it was last told).
    [[nodiscard]] relink::ConnectionState state() const noexcept { return state_; }
    [[nodiscard]] relink::ConnectionReason reason() const noexcept { return reason_; }

    /// What the banner shows for a change; public so that the mapping can be read and tested on its own too.
    void show(const relink::ConnectionStateChanged& change);

private:
    relink::Client& client_;
    std::string text_{"Offline"};
    Tone tone_{Tone::info};
    Action action_{Action::sign_in};
    relink::ConnectionState state_{relink::ConnectionState::disconnected};
    relink::ConnectionReason reason_{relink::ConnectionReason::logout};
};

}  // namespace banner_app
