// The connection-state events of one relink::Client, recorded by its callback and awaited by main() with a bounded
// wait. Shared by the package consumers (main.cpp, asio_main.cpp); public headers only, C++17.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include <relink/client.hpp>
#include <relink/events.hpp>
#include <relink/timings.hpp>
#include <relink/types.hpp>

namespace package_test {

// Every wait of the consumers ends by this deadline: their first login times out after kLoginTimeout.
inline constexpr std::chrono::seconds kWaitLimit{10};
inline constexpr std::chrono::seconds kLoginTimeout{2};

// A client config for a login that cannot succeed: nothing listens on port 1, every connection attempt is refused.
inline relink::ClientConfig closed_port_config() {
    relink::ClientConfig config;
    config.url = "wss://127.0.0.1:1/";
    config.app_id = "package-consumer";
    config.user_id = "alice";
    config.token = "not-a-token";  // never sent: no connection gets that far
    config.profile = relink::Profile::rtm;
    relink::Timings timings = relink::timings_for(relink::Profile::rtm);
    timings.login_timeout = kLoginTimeout;  // the first login gives up sooner than the default 12 s
    config.timings = timings;
    config.log_level = relink::LogLevel::off;  // the refused connections are expected
    return config;
}

inline void print(const relink::ConnectionStateChanged& e) {
    const std::string_view previous = relink::to_string(e.previous);
    const std::string_view state = relink::to_string(e.state);
    const std::string_view reason = relink::to_string(e.reason);
    std::printf("package consumer: state %.*s -> %.*s (%.*s)\n", static_cast<int>(previous.size()), previous.data(),
                static_cast<int>(state.size()), state.data(), static_cast<int>(reason.size()), reason.data());
}

class StateObserver {
public:
    /// The handler to give Client::on_connection_state_changed(); the observer must outlive the client.
    auto handler() {
        return [this](const relink::ConnectionStateChanged& e) {
            const std::lock_guard<std::mutex> lock(mutex_);
            events_.push_back(e);
            changed_.notify_all();
        };
    }

    /// Waits at most kWaitLimit until CONNECTING and then another state (RECONNECTING, DISCONNECTED ...) were
    /// reported; prints the events seen so far. Returns that later event, or nothing on timeout.
    std::optional<relink::ConnectionStateChanged> wait_after_connecting() {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait_for(lock, kWaitLimit, [this] { return after_connecting().has_value(); });
        for (const auto& e : events_) {
            print(e);
        }
        return after_connecting();
    }

private:
    [[nodiscard]] std::optional<relink::ConnectionStateChanged> after_connecting() const {
        bool connecting = false;
        for (const auto& e : events_) {
            if (e.state == relink::ConnectionState::connecting) {
                connecting = true;
            } else if (connecting) {
                return e;
            }
        }
        return std::nullopt;
    }

    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<relink::ConnectionStateChanged> events_;
};

/// 0 when `outcome` is the state after CONNECTING that a refused login leads to; otherwise prints why not, 1.
inline int check_outcome(const std::optional<relink::ConnectionStateChanged>& outcome) {
    if (!outcome) {
        std::fprintf(stderr, "package consumer: FAILED: no CONNECTING and then another state within %lld s\n",
                     static_cast<long long>(kWaitLimit.count()));
        return 1;
    }
    if (outcome->state == relink::ConnectionState::connected) {
        std::fputs("package consumer: FAILED: CONNECTED to a closed port\n", stderr);
        return 1;
    }
    return 0;
}

}  // namespace package_test
