// relink/client.hpp — relink::Client, the SDK an app links: log in, join channels, send messages, and be told
// precisely and on time what state the connection is in and why (docs/state-machine.md).
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
#include "relink/metrics.hpp"
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

/// How many TLS handshakes a client's connections made, and how many of them resumed an earlier session: a
/// reconnect to the same server offers the TLS session (ticket) of the previous connection, which the server
/// accepts instead of a full handshake with its certificate. Read with Client::tls_handshakes().
struct TlsHandshakeCounts {
    std::uint64_t full{0};     ///< full handshakes: the first connection, and any the server did not resume
    std::uint64_t resumed{0};  ///< resumed handshakes (no certificate sent, none verified again)
};

/// An HTTP CONNECT proxy between the client and the server.
struct ProxyOptions {
    std::string host;       ///< the proxy's host name or address
    std::uint16_t port{0};  ///< the proxy's port
};

/// How much the client logs (ClientConfig::log_level): a line is produced when its level is at least the configured
/// one.
enum class LogLevel : std::uint8_t {
    trace,  ///< everything
    debug,  ///< diagnostic detail: each connection attempt, each transport that closes
    info,   ///< one line per connection state change (from → to, reason, attempt, next retry)
    warn,   ///< undecodable frames from the server, TLS and certificate failures (the default level)
    error,  ///< errors only
    off     ///< nothing
};

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
/// Completes recovery_key(): the key on success, empty on error.
using RecoveryKeyCompletion = std::function<void(std::error_code error, const std::string& key)>;

/// Everything a Client needs, fixed when it is made: a Client cannot change its server, app, user or profile.
struct ClientConfig {
    std::string url;                     ///< wss://host[:port]/path
    bool allow_plaintext{false};         ///< permit ws:// (loopback development only)
    std::string app_id;                  ///< the app id the server knows (relinkd --app ID:SECRET)
    std::string user_id;                 ///< this user's id (relink::is_valid_user_id()); the constructor checks it
    std::string token;                   ///< the login token (docs/tokens.md); renew_token() replaces it
    Profile profile{Profile::rtm};       ///< the timeline and behaviour to follow (docs/migrating.md)
    std::optional<Timings> timings;      ///< default: timings_for(profile)
    double time_scale{1.0};              ///< multiplies every duration of the timings (tests, demos)
    TlsOptions tls;                      ///< how the server's certificate is checked
    std::optional<ProxyOptions> proxy;   ///< an HTTP CONNECT proxy; none: connect directly. See set_proxy()
    LogLevel log_level{LogLevel::warn};  ///< lines below this level are not produced
    LogHandler log_handler;              ///< receives the log lines; empty: they go to stderr
    std::size_t max_queued_operations{1024};  ///< sends, publishes ... kept while the link is down
    /// Seed of the backoff jitter. 0 = random per client (the default; use a fixed seed only to reproduce a test).
    /// The instance id and the message ids are random whatever the seed, so clients that share a seed never take
    /// each other's sends for re-sends.
    std::uint64_t seed{0};
    TokenProvider token_provider;  ///< asked for a fresh token before an attempt; may be empty
    /// A recovery key an earlier process of this app stored (Client::recovery_key()): the first login() resumes the
    /// session it names, silently for peers, with backfill from the positions in the key and a ContinuityReport
    /// (`recovered`), as long as that session's presence timeout has not passed. Refused: DISCONNECTED
    /// `RECOVERY_REFUSED` (the channels' JOIN_FAILED error and the attempt's failure say why), and a later login()
    /// starts a fresh session. The key is used once;
    /// give the same user id and a valid token for that user (docs/reliability.md, "Recovery keys").
    std::optional<std::string> recover_key;
};

class Client;

namespace detail {
/// Used by relink/asio.hpp: `io_context` is a boost::asio::io_context* that outlives the client.
std::unique_ptr<Client> make_client_on(ClientConfig config, void* io_context);
/// relink's own tests look inside a Client through it; not part of the API.
struct ClientInternals;
}  // namespace detail

/// The realtime connection of one user. See the file comment for the threading contract.
///
/// Errors: docs/errors.md lists every code a method returns or completes with, and where each arrives. A method
/// that returns an error never calls its completion.
///
/// @par Thread safety
/// Every method may be called from any thread, concurrently, and from inside the client's own callbacks; none blocks
/// on the network. Handlers and completions run one at a time, in event order, on the client's dispatcher thread
/// (relink/asio.hpp: a strand of the app's io_context), never inline inside a call and never under a lock of the
/// client.
class Client {
public:
    /// Makes a client with no session (DISCONNECTED); nothing is sent until login() or join().
    /// @param config the server, app, user, token, profile and options; kept for the client's lifetime
    /// @throws std::invalid_argument when the config cannot work, before anything else; the message names the field
    ///         ("relink::Client: url: ..."): a URL that does not parse or whose scheme is not wss:// (ws:// needs
    ///         allow_plaintext), an empty or invalid app id or user id, no token and no token provider, a CA file
    ///         or directory that cannot be read (or a CA file without a PEM certificate), a proxy without host or
    ///         port, a time scale or timings that cannot work.
    explicit Client(ClientConfig config);
    /// Logs out if needed and stops, in bounded time; no callback runs after it returns.
    ~Client();
    /// Not copyable (nor movable): hold it by value or in a std::unique_ptr.
    Client(const Client&) = delete;
    /// Not copyable (nor movable).
    Client& operator=(const Client&) = delete;

    // ---- the session. Each call returns the client core's answer, decided at the moment of the call under the
    // client's lock (so calls from several threads see each other in order): an error when the call cannot work
    // (invalid argument, a state that does not allow it), otherwise no error and the outcome arrives as events. ----

    /// Starts the session with ClientConfig::user_id and the token: CONNECTING (`LOGIN`; rtc / rtc-web:
    /// `CONNECTING`), then CONNECTED, or DISCONNECTED / ABORTED / FAILED with the reason. The first login is not
    /// retried once the server refuses it or the login timeout (12 s) passes.
    /// @return ALREADY_LOGGED_IN unless the state is DISCONNECTED (after ABORTED or FAILED, logout() first)
    std::error_code login();
    /// Ends the session from any state but DISCONNECTED (ABORTED and FAILED included): DISCONNECTED `LOGOUT` (rtc,
    /// rtc-web: `LEAVE_CHANNEL`; rtc-web with a live link goes DISCONNECTING first, for at most `leave_timeout`).
    /// Every channel goes LEFT; operations still pending complete with LOGGED_OUT.
    /// @return NOT_LOGGED_IN when already DISCONNECTED
    std::error_code logout();
    /// Joins a channel: channel_state_changed JOINING, then JOINED (rtc / rtc-web: and join_success), or
    /// JOIN_FAILED with an error.
    ///
    /// rtc / rtc-web: without a session, starts one (like the vendors' joinChannel): CONNECTING `CONNECTING`, then
    /// CONNECTED `JOIN_SUCCESS`; join() of a channel already joined or being joined ends the session FAILED
    /// `REJECTED_BY_SERVER`. rtm / room: needs a session (a login in progress is enough).
    /// @param channel the channel (room) name, 1–64 bytes (relink::is_valid_channel_name())
    /// @return INVALID_CHANNEL_NAME; NOT_LOGGED_IN without a session (rtm / room), or in ABORTED / FAILED (rtc /
    ///         rtc-web: leave() first); ALREADY_JOINED for a channel joined or being joined (rtc / rtc-web: and the
    ///         session goes FAILED)
    std::error_code join(const std::string& channel);
    /// Leaves a channel: LEFT, or LEAVE_FAILED (UNKNOWN_CHANNEL) for a channel that is not joined. Sends and
    /// publishes still queued for it complete with CHANNEL_LEFT.
    ///
    /// rtc / rtc-web: leaving the last channel ends the session, like logout(); in ABORTED or FAILED, leave() of
    /// any channel does (DISCONNECTED `LEAVE_CHANNEL`).
    /// @param channel the channel to leave
    /// @return NOT_LOGGED_IN without a session; UNKNOWN_CHANNEL for a channel that is not joined (also reported as
    ///         channel_state_changed LEAVE_FAILED)
    std::error_code leave(const std::string& channel);
    /// Leaves `from` and joins `to` (the room SDK's switchRoom): `from` LEFT, `to` JOINING. Never ends the session.
    /// @param from a joined channel
    /// @param to the channel to join instead
    /// @return NOT_LOGGED_IN, INVALID_CHANNEL_NAME (`to`), NOT_JOINED (`from`), ALREADY_JOINED (`to`), in that
    ///         order; on an error nothing changes
    std::error_code switch_channel(const std::string& from, const std::string& to);

    // ---- operations: the core's answer at once — an error (listed in the order they are checked; `done` is then
    // never called) — or no error and later exactly one call of `done` (which may be empty). ----

    /// Sends a message to one user. While the link is down it is queued and sent after the reconnect, once.
    /// @param user_id the receiver
    /// @param payload up to 32 KiB, text or binary
    /// @param done called once: no error when the server acknowledged it; otherwise PEER_OFFLINE, RATE_LIMITED,
    ///        SEND_TIMEOUT, ACK_TIMEOUT or a cancellation (docs/errors.md)
    /// @param store_offline if the receiver is not logged in, keep the message for its next login instead of
    ///        failing with PEER_OFFLINE
    /// @return NOT_LOGGED_IN, INVALID_USER_ID, PAYLOAD_TOO_LARGE, QUEUE_FULL
    std::error_code send_peer_message(const std::string& user_id, std::string payload, Completion done = {},
                                      bool store_offline = false);
    /// Sends a message to the other members of a joined channel. Queued while the link is down (room: accepted only
    /// while the channel is JOINED / REJOINED).
    /// @param channel a joined channel
    /// @param payload up to 32 KiB, text or binary
    /// @param done called once: no error when the server acknowledged it; otherwise NOT_JOINED (the server's
    ///        answer), RATE_LIMITED, SEND_TIMEOUT, ACK_TIMEOUT, CHANNEL_LEFT or a cancellation
    /// @return NOT_LOGGED_IN, INVALID_CHANNEL_NAME, NOT_JOINED (not joined, or room: not JOINED / REJOINED),
    ///         PAYLOAD_TOO_LARGE, QUEUE_FULL
    std::error_code send_channel_message(const std::string& channel, std::string payload, Completion done = {});
    /// Announces a stream in a joined channel: the other members get stream_added (relink carries no media). The
    /// SDK announces it again by itself after a reconnect.
    /// @param channel a joined channel
    /// @param stream the stream's name, by the channel-name rule
    /// @param done called once: no error, or the server's refusal, a timeout or a cancellation
    /// @return NOT_LOGGED_IN, INVALID_CHANNEL_NAME, NOT_JOINED, INVALID_ARGUMENT (bad stream name), QUEUE_FULL
    std::error_code publish(const std::string& channel, const std::string& stream, Completion done = {});
    /// Withdraws a stream announced with publish(): the other members get stream_removed.
    /// @param channel the channel it was published in
    /// @param stream the stream's name
    /// @param done called once: no error, or the server's refusal, a timeout or a cancellation
    /// @return NOT_LOGGED_IN, INVALID_CHANNEL_NAME, NOT_JOINED, QUEUE_FULL, INVALID_ARGUMENT (not published)
    std::error_code unpublish(const std::string& channel, const std::string& stream, Completion done = {});
    /// Replaces this user's attributes. The server keeps them while the user is present; the SDK sets them again
    /// after a reconnect.
    /// @param attributes the complete new set (names to values)
    /// @param done called once: no error, or a timeout or a cancellation
    /// @return NOT_LOGGED_IN, QUEUE_FULL
    std::error_code set_local_user_attributes(Attributes attributes, Completion done = {});
    /// Reads another user's attributes.
    /// @param user_id the user
    /// @param done called once with no error and the attributes, or with an error (PEER_OFFLINE: the user is not
    ///        logged in; a timeout, a cancellation) and no attributes
    /// @return NOT_LOGGED_IN, INVALID_USER_ID, QUEUE_FULL
    std::error_code get_user_attributes(const std::string& user_id, AttributesCompletion done);
    /// Gives the client a new token: presented to the server at once when the link is up, otherwise used by the next
    /// attempt, and the token of every later login() of this client. rtm: while RECONNECTING because of the token,
    /// reconnects at once (RECONNECTING `RENEW_TOKEN`).
    /// @param token the new token
    /// @param done called once: no error when the server accepted it (with the link down: at once); INVALID_TOKEN
    ///        or TOKEN_EXPIRED when it rejected it; a timeout or a cancellation
    /// @return NOT_LOGGED_IN (DISCONNECTED, ABORTED, FAILED, DISCONNECTING), QUEUE_FULL (with the link up)
    std::error_code renew_token(std::string token, Completion done = {});
    /// Asks the server for a recovery key of this session: a short opaque string (base64url, ~100-250 characters)
    /// to store, so that a new process of this app can resume the session with ClientConfig::recover_key if this
    /// one dies or is killed. Take it as late as possible (when the app goes to the background or is about to
    /// end): it holds the positions seen when it is made, and messages this process receives after that are
    /// delivered again to the recovering one. Each key replaces the one before and recovers once; it grants only
    /// this session, only with a valid token of this user, and only until the session's presence times out.
    /// @param done called once: no error and the key, or an error (a timeout, a cancellation, LIMIT_EXCEEDED when
    ///        the session has more channels or streams than a key holds, REJECTED_BY_SERVER when the server turned
    ///        out to be older than recovery keys) and an empty key
    /// @return NOT_LOGGED_IN, QUEUE_FULL, REJECTED_BY_SERVER (the server the session is logged in to is older than
    ///         recovery keys: nothing is sent)
    std::error_code recovery_key(RecoveryKeyCompletion done);

    /// The local network changed (Wi-Fi ↔ cellular ...): check the link at once, and reconnect if it is dead.
    ///
    /// While CONNECTED on a usable link: a suspicion probe — one heartbeat at once instead of the next one. When the
    /// link answers, the session moves to a new connection make-before-break (a second connection resumes it, then
    /// the old one is closed), with no state change and no message lost, repeated or reordered; if the new
    /// connection fails, the old link stays and the failure is reported as an attempt's (docs/protocol.md,
    /// "Handover"). A link from
    /// which no data arrives within the probe timeout (about two round trips, at least 300 ms, at most half the
    /// silence threshold: see docs/reliability.md) is dead now, not after the 4 s detector: RECONNECTING (rtc-web:
    /// CONNECTING) `CLIENT_IP_ADDRESS_CHANGED` and a new attempt without backoff. While reconnecting: a new attempt
    /// at once with that state and reason; during the first login the attempt starts over; without a session
    /// nothing happens. relink does not watch the network by itself: call this when the system reports a change.
    void notify_network_changed();
    /// The app returned to the foreground. While CONNECTED: a suspicion probe as notify_network_changed() makes (a
    /// suspended app's link may have died unseen); if it fails, RECONNECTING `INTERRUPTED` at once. While an
    /// attempt waits for its backoff delay: that attempt starts now, with no state change. Otherwise nothing.
    void notify_foreground();
    /// Uses another HTTP CONNECT proxy (or none); reconnects with SETTING_PROXY_SERVER when connected.
    /// @param proxy the new proxy; none: connect directly
    void set_proxy(std::optional<ProxyOptions> proxy);

    // ---- state, readable from any thread ----

    /// The current connection state, as the client core last decided it: the state of the latest
    /// connection_state_changed, which may not have reached the handler yet (never an older one). A call that
    /// changes it has changed it when it returns: login() (rtc / rtc-web: a join() that starts the session) to
    /// CONNECTING, logout() to DISCONNECTED (rtc-web with a live link: DISCONNECTING).
    /// @par Thread safety
    /// Any thread; lock-free.
    [[nodiscard]] ConnectionState connection_state() const noexcept;
    /// The state of a channel.
    /// @param channel the channel
    /// @return its state, or none when it is not joined (never joined, left, or failed)
    /// @par Thread safety
    /// Any thread; takes a short internal lock, never held while a callback runs.
    [[nodiscard]] std::optional<ChannelState> channel_state(const std::string& channel) const;
    /// The TLS handshakes of this client's connections so far, counted when a connection opens (TLS and WebSocket
    /// upgrade done): the last handshake was resumed when `resumed` went up. Always zero for ws://. Sessions are
    /// kept per client, offered only to the server (host, port, proxy, trust settings) they came from, and
    /// dropped when they expire or set_proxy() changes the route.
    /// @par Thread safety
    /// Any thread; lock-free.
    [[nodiscard]] TlsHandshakeCounts tls_handshakes() const noexcept;
    /// The connection status now: state, reason, attempt, time to the next attempt, time in this state and the
    /// last failed attempt (cause and detail) since the last successful login. Computed for the moment of the
    /// call, so a "retrying in 3 s…" line drawn from it is always current. The core's answer, like
    /// connection_state(): it may be ahead of the handler, never behind it.
    /// @par Thread safety
    /// Any thread; takes a short internal lock, never held while a callback runs.
    [[nodiscard]] ConnectionStatus status() const;
    /// The link's quality now: the smoothed round-trip time of the heartbeats and its variation, the heartbeats
    /// missed in a row and late, the time since the last data from the server. Computed for the moment of the
    /// call; the round-trip figures are the current connection's (`rtt_samples` is 0 until its first heartbeat is
    /// answered, about one heartbeat interval after it logs in).
    /// @par Thread safety
    /// Any thread; takes a short internal lock, never held while a callback runs.
    [[nodiscard]] LinkQuality link_quality() const;
    /// Counters and histograms since this Client was made (connection attempts by outcome and cause, each attempt
    /// step's duration, heartbeat round trips, state changes, reconnects, messages): a snapshot for an app's
    /// metrics export, e.g. relink::to_prometheus(client.metrics()) on each scrape (relink/metrics.hpp).
    /// @par Thread safety
    /// Any thread; takes a short internal lock, never held while a callback runs.
    [[nodiscard]] ClientMetrics metrics() const;

    // ---- events: one setter each; a setter replaces the previous handler; set them before login(). ----
    // An empty std::function removes the handler. A setter may be called from any thread, also from a handler: the
    // next event goes to the new handler.

    /// Every change of the connection state (the native SDKs' onConnectionStateChanged).
    void on_connection_state_changed(std::function<void(const ConnectionStateChanged&)> handler);
    /// rtc: the link has been down for `lost_after` in RECONNECTING (the native RTC SDK's onConnectionLost).
    void on_connection_lost(std::function<void(const ConnectionLost&)> handler);
    /// rtc, rtc-web: a channel was joined (the native RTC SDK's onJoinChannelSuccess).
    void on_join_success(std::function<void(const JoinSuccess&)> handler);
    /// rtc, rtc-web, room: a reconnect succeeded (the native RTC SDK's onRejoinChannelSuccess).
    void on_rejoin_success(std::function<void(const RejoinSuccess&)> handler);
    /// A channel's (room's) state changed, with its reason and error (the room SDK's roomStateChanged).
    void on_channel_state_changed(std::function<void(const ChannelStateChanged&)> handler);
    /// Another user joined a channel this client is in.
    void on_member_joined(std::function<void(const MemberJoined&)> handler);
    /// Another user left a channel this client is in (QUIT, DROPPED or KICKED).
    void on_member_left(std::function<void(const MemberLeft&)> handler);
    /// Another member announced a stream.
    void on_stream_added(std::function<void(const StreamAdded&)> handler);
    /// Another member withdrew a stream, or left with it.
    void on_stream_removed(std::function<void(const StreamRemoved&)> handler);
    /// A peer or channel message arrived (live or backfilled).
    void on_message(std::function<void(const MessageReceived&)> handler);
    /// A reconnect completed, visible or not: outage length, resumed or not, backfill and drop counts.
    void on_continuity(std::function<void(const ContinuityReport&)> handler);
    /// The token expires soon (30 s ahead by default): renew it.
    void on_token_privilege_will_expire(std::function<void(const TokenPrivilegeWillExpire&)> handler);
    /// The token has expired.
    void on_token_expired(std::function<void(const TokenExpired&)> handler);
    /// A connection attempt failed, with its cause (DNS, REFUSED, TIMEOUT, TLS, CERTIFICATE, HTTP, PROXY, CLOSED ...)
    /// and a detail for people: reported at once, for every attempt of the first login and of every outage.
    void on_attempt_failed(std::function<void(const AttemptFailed&)> handler);
    /// The link's quality changed meaningfully (LinkQualityChanged says when): for a signal-bars icon or a "poor
    /// connection" hint. Not a state change: the connection state is on_connection_state_changed()'s.
    void on_link_quality_changed(std::function<void(const LinkQualityChanged&)> handler);
    /// A connection attempt ended, logged in or failed: what each step (DNS, proxy, TCP, TLS, WebSocket, login)
    /// took. One per attempt that logged in or failed (an attempt cut short by logout() or by a network change has
    /// none), a failed one's right after its on_attempt_failed().
    void on_attempt_finished(std::function<void(const AttemptFinished&)> handler);
    /// Every event, after its own handler (for logging, or an app that prefers one switch).
    void on_event(std::function<void(const Event&)> handler);

private:
    class Impl;
    explicit Client(std::shared_ptr<Impl> impl);
    friend std::unique_ptr<Client> detail::make_client_on(ClientConfig config, void* io_context);
    friend struct detail::ClientInternals;
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
///
/// @param call invoked once, at once, with the Completion; returns the operation's immediate error
/// @return a future of the operation's outcome: no error on success
/// @par Thread safety
/// Do not wait on the future inside a callback of the same client: the completion cannot run before that callback
/// returns (wait with a timeout if you must).
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
    std::error_code error;  ///< none on success
    Attributes attributes;  ///< the user's attributes; empty on error
};

/// future_of() for get_user_attributes(): `call` gets an AttributesCompletion.
/// @param call invoked once, at once, with the AttributesCompletion; returns the call's immediate error
/// @return a future of the error and, on success, the attributes
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
