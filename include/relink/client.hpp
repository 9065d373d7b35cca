// relink/client.hpp — relink::Client, the SDK an app links: log in, join channels, send messages, and be told
// precisely and on time what state the connection is in and why (../shared/spec/behaviour.md).
//
//     relink::ClientConfig config;
//     config.url = "wss://relink.example.com/";
//     config.app_id = "my-app";
//     config.user_id = "alice";
//     config.token = token_from_my_backend();
//     relink::Client client(config);
//     client.on_connection_state_changed([](const relink::ConnectionStateChanged& e) {
//         std::printf("%s (%s)\n", relink::to_string(e.state).data(), relink::to_string(e.reason).data());
//     });
//     client.login();
//     client.join("lobby");
//
// Threading contract (docs/threading.md): every method may be called from any thread, including from inside a
// callback, and returns at once; it never blocks on the network. Callbacks run one at a time, in the order the
// events happened, on one dispatcher thread of the client — never inline inside a call, never under a lock of
// the client. An exception thrown by a callback is caught, logged and dropped. The destructor finishes in bounded
// time; after it returns no callback runs and no thread of the client is left.
//
// Many clients in one process (a load tool, a bot farm): relink/asio.hpp (opt-in, needs Boost.Asio) makes clients
// that run on an io_context the app owns instead of two threads of their own each.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "relink/error.hpp"
#include "relink/events.hpp"
#include "relink/timings.hpp"
#include "relink/types.hpp"

namespace relink {

/// How the client checks the server's certificate. Verification of the chain and the host name is on by default.
struct TlsOptions {
    bool verify_peer{true};       ///< turn off only in tests: without it, anyone on the path can read and write
    std::string ca_file;          ///< PEM bundle of trusted CAs (e.g. relinkd's --write-ca output)
    std::string ca_directory;     ///< OpenSSL hashed directory of trusted CAs
    bool use_system_store{true};  ///< also trust the system's default CAs
};

/// An HTTP CONNECT proxy between the client and the server.
struct ProxyOptions {
    std::string host;
    std::uint16_t port{0};
};

enum class LogLevel : std::uint8_t { trace, debug, info, warn, error, off };

/// Receives the client's log lines (one line each, no newline). Called on the client's threads, never with a
/// token or a payload in the text. Without a handler, lines go to stderr.
using LogHandler = std::function<void(LogLevel level, std::string_view line)>;

/// Asked for a fresh token before a reconnect when the current one has expired or will expire within the expected
/// reconnect horizon. Called on the client's io thread: it must return quickly (return an empty string to keep the
/// current token and let the app call renew_token() later).
using TokenProvider = std::function<std::string()>;

/// Completes an operation: no error on success.
using Completion = std::function<void(std::error_code error)>;
/// Completes get_user_attributes().
using AttributesCompletion = std::function<void(std::error_code error, const Attributes& attributes)>;

struct ClientConfig {
    std::string url;              ///< wss://host[:port]/path
    bool allow_plaintext{false};  ///< permit ws:// (loopback development only)
    std::string app_id;
    std::string user_id;
    std::string token;
    Profile profile{Profile::rtm};
    std::optional<Timings> timings;  ///< default: timings_for(profile)
    double time_scale{1.0};          ///< multiplies every duration of the timings (tests, demos)
    TlsOptions tls;
    std::optional<ProxyOptions> proxy;
    LogLevel log_level{LogLevel::warn};
    LogHandler log_handler;
    std::size_t max_queued_operations{1024};  ///< sends, publishes ... kept while the link is down
    std::uint64_t seed{0};                    ///< jitter seed; 0 = random per client
    TokenProvider token_provider;
};

class Client;

namespace detail {
/// Used by relink/asio.hpp: `io_context` is a boost::asio::io_context* that outlives the client.
std::unique_ptr<Client> make_client_on(ClientConfig config, void* io_context);
}  // namespace detail

/// The realtime connection of one user. See the file comment for the threading contract.
class Client {
public:
    /// @throws std::invalid_argument when the config is unusable (no URL, an invalid user id, bad timings ...).
    explicit Client(ClientConfig config);
    /// Logs out if needed and stops, in bounded time; no callback runs after it returns.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // ---- the session. Each returns an error at once when the call cannot work (invalid argument, a state that
    // does not allow it); otherwise the outcome arrives as state events. ----
    std::error_code login();
    std::error_code logout();
    /// rtc / rtc-web: without a session, starts one (like the vendors' joinChannel).
    std::error_code join(const std::string& channel);
    /// rtc / rtc-web: leaving the last channel ends the session.
    std::error_code leave(const std::string& channel);
    std::error_code switch_channel(const std::string& from, const std::string& to);

    // ---- operations: an error at once, or later exactly one call of `done` (which may be empty). ----
    std::error_code send_peer_message(const std::string& user_id, std::string payload, Completion done = {},
                                      bool store_offline = false);
    std::error_code send_channel_message(const std::string& channel, std::string payload, Completion done = {});
    std::error_code publish(const std::string& channel, const std::string& stream, Completion done = {});
    std::error_code unpublish(const std::string& channel, const std::string& stream, Completion done = {});
    std::error_code set_local_user_attributes(Attributes attributes, Completion done = {});
    std::error_code get_user_attributes(const std::string& user_id, AttributesCompletion done);
    std::error_code renew_token(std::string token, Completion done = {});

    /// The local network changed (Wi-Fi ↔ cellular ...): reconnect at once.
    void notify_network_changed();
    /// Uses another HTTP CONNECT proxy (or none); reconnects with SETTING_PROXY_SERVER when connected.
    void set_proxy(std::optional<ProxyOptions> proxy);

    // ---- state, readable from any thread ----
    [[nodiscard]] ConnectionState connection_state() const noexcept;
    [[nodiscard]] std::optional<ChannelState> channel_state(const std::string& channel) const;

    // ---- events: one setter each; a setter replaces the previous handler; set them before login(). ----
    void on_connection_state_changed(std::function<void(const ConnectionStateChanged&)> handler);
    void on_connection_lost(std::function<void(const ConnectionLost&)> handler);
    void on_join_success(std::function<void(const JoinSuccess&)> handler);
    void on_rejoin_success(std::function<void(const RejoinSuccess&)> handler);
    void on_channel_state_changed(std::function<void(const ChannelStateChanged&)> handler);
    void on_member_joined(std::function<void(const MemberJoined&)> handler);
    void on_member_left(std::function<void(const MemberLeft&)> handler);
    void on_stream_added(std::function<void(const StreamAdded&)> handler);
    void on_stream_removed(std::function<void(const StreamRemoved&)> handler);
    void on_message(std::function<void(const MessageReceived&)> handler);
    void on_continuity(std::function<void(const ContinuityReport&)> handler);
    void on_token_privilege_will_expire(std::function<void(const TokenPrivilegeWillExpire&)> handler);
    void on_token_expired(std::function<void(const TokenExpired&)> handler);
    /// Every event, after its own handler (for logging, or an app that prefers one switch).
    void on_event(std::function<void(const Event&)> handler);

private:
    class Impl;
    explicit Client(std::shared_ptr<Impl> impl);
    friend std::unique_ptr<Client> detail::make_client_on(ClientConfig config, void* io_context);
    std::shared_ptr<Impl> impl_;
};

/// The futures flavour of an operation: `call` gets a Completion to pass on and returns the call's immediate
/// error. The future is ready at once with that error, or later with the completion's. If the client is destroyed
/// before the operation completes, get() throws std::future_error (broken_promise).
///
///     auto sent = relink::future_of([&](relink::Completion done) {
///         return client.send_peer_message("bob", "hi", std::move(done));
///     });
///     if (sent.wait_for(std::chrono::seconds(5)) == std::future_status::ready && !sent.get()) { /* delivered */ }
template <class Call>
std::future<std::error_code> future_of(Call&& call) {
    auto promise = std::make_shared<std::promise<std::error_code>>();
    auto future = promise->get_future();
    const std::error_code now =
        std::forward<Call>(call)(Completion([promise](std::error_code error) { promise->set_value(error); }));
    if (now) {
        promise->set_value(now);  // the completion is never called when the call fails at once
    }
    return future;
}

/// What get_user_attributes() completes with.
struct AttributesResult {
    std::error_code error;
    Attributes attributes;
};

/// future_of() for get_user_attributes(): `call` gets an AttributesCompletion.
template <class Call>
std::future<AttributesResult> attributes_future_of(Call&& call) {
    auto promise = std::make_shared<std::promise<AttributesResult>>();
    auto future = promise->get_future();
    const std::error_code now =
        std::forward<Call>(call)(AttributesCompletion([promise](std::error_code error, const Attributes& attributes) {
            promise->set_value(AttributesResult{error, attributes});
        }));
    if (now) {
        promise->set_value(AttributesResult{now, {}});
    }
    return future;
}

}  // namespace relink
