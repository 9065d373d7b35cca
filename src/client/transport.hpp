// client/transport.hpp — one WebSocket-over-TLS connection for the client driver: resolve, (HTTP CONNECT proxy),
// TCP connect, TLS handshake with peer and host-name verification, WebSocket upgrade, then text frames both ways.
//
// The driver creates one Transport per OpenTransport action of the core, and reports what happens back to the
// core: opened (with the time each step took), a text frame received, closed (with the error, its cause as an
// AttemptFailure and a short detail).
// Each step has its own timeout. The core owns liveness (heartbeats, the 4 s silence detector), so the transport
// runs no idle pings of its own. Beast is included only in transport.cpp.
//
// TLS session resumption: given a TlsSessionCache, a connection keeps the session (TLS 1.3 ticket) the server
// sends after the handshake and the next connection to the same target offers it, so that a reconnect is a
// resumed handshake (no certificate, no signature, no chain to verify). A server that declines it gets a full
// handshake, verified as always.
//
// The TLS context (an SSL_CTX holding the trust store) is fetched only once the TCP connection (and the proxy
// tunnel) is up: an attempt refused or timed out before that does no TLS work at all. Given a TlsContextHolder, the
// context made for one connection is kept for the next, so that a client retrying through an outage loads its trust
// store once, not once per attempt.
//
// Thread safety: a Transport is used from one strand (the executor given to open()); its handlers run on that
// executor, never inline inside open(), send() or close(). After close() returns, no handler runs any more.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>

#include "relink/events.hpp"
#include "relink/timings.hpp"

struct ssl_session_st;  // OpenSSL's SSL_SESSION, without including OpenSSL here

namespace boost::asio::ssl {
class context;  // without including Asio's SSL here
}  // namespace boost::asio::ssl

namespace relink::client {

/// The TLS session a client got from its server, kept to be offered on its next connection to the same target.
///
/// A resumed session skips the server's certificate: the client trusts the server because it holds the ticket key,
/// on the strength of the verification the first connection did. So the session is offered only to the target it
/// came from: the same host and port (hence the same SNI and the same name verified), the same proxy and the same
/// trust settings (TlsSettings). Looking it up for any other target drops it, as does its expiry (the ticket's
/// lifetime). It holds one session: a client talks to one server at a time, and the newest ticket replaces the
/// older. One cache per relink::Client, never shared between users: a session is its holder's identity to the
/// server's ticket key, and another user's reconnects would be linkable to it.
///
/// Thread safety: every method may be called from any thread (one mutex).
class TlsSessionCache {
public:
    TlsSessionCache() = default;
    ~TlsSessionCache();
    TlsSessionCache(const TlsSessionCache&) = delete;
    TlsSessionCache& operator=(const TlsSessionCache&) = delete;

    /// The session kept for `target` with a reference for the caller (who SSL_SESSION_free()s it), or null when
    /// none is kept, or the one kept is another target's or expired (then it is dropped).
    [[nodiscard]] ssl_session_st* find(const std::string& target);
    /// Keeps `session` for `target`, taking over the caller's reference; drops whatever was kept.
    void keep(const std::string& target, ssl_session_st* session);
    /// Drops the kept session if it is `session` (the server declined it, or it failed verification).
    void forget(const ssl_session_st* session);
    /// Drops the kept session.
    void clear();
    /// True when a session is kept (expired or not).
    [[nodiscard]] bool holds_session() const;

private:
    void drop_locked();
    mutable std::mutex mutex_;
    std::string target_;
    ssl_session_st* session_{nullptr};
};

/// The TLS context (the SSL_CTX with its trust store: the CA file, directory or system bundle, parsed) one client's
/// connections use, kept from one connection attempt to the next. Contexts are shared between the connections with
/// the same trust settings only while one of them holds it (transport.cpp); without a holder, every attempt after a
/// failed one (a refused connection, a timeout: no connection left holding it) would load the trust store again. It
/// holds one context, the one made for the latest settings: a key naming the trust settings and the identity of the
/// CA file and directory on disk, so that a CA file replaced on disk gives another key and is loaded again. One
/// holder per relink::Client, beside its TlsSessionCache.
///
/// Thread safety: every method may be called from any thread (one mutex).
class TlsContextHolder {
public:
    TlsContextHolder() = default;
    ~TlsContextHolder() = default;
    TlsContextHolder(const TlsContextHolder&) = delete;
    TlsContextHolder& operator=(const TlsContextHolder&) = delete;

    /// The context kept for `key`, or null when none is kept or the one kept is another key's.
    [[nodiscard]] std::shared_ptr<boost::asio::ssl::context> find(const std::string& key) const;
    /// Keeps `context` for `key`, dropping whatever was kept.
    void keep(std::string key, std::shared_ptr<boost::asio::ssl::context> context);
    /// True when a context is kept.
    [[nodiscard]] bool holds_context() const;

private:
    mutable std::mutex mutex_;
    std::string key_;
    std::shared_ptr<boost::asio::ssl::context> context_;
};

/// Internal, for tests: how many client TLS contexts this process has made (each one loads its trust store).
[[nodiscard]] std::uint64_t tls_contexts_made() noexcept;

struct TlsSettings {
    bool verify_peer{true};       ///< verify the server's certificate chain and host name (never off in prod)
    std::string ca_file;          ///< PEM bundle of trusted CAs
    std::string ca_directory;     ///< OpenSSL hashed CA directory
    bool use_system_store{true};  ///< also trust the system's default CAs
};

struct ProxySettings {
    std::string host;
    std::uint16_t port{0};
};

struct TransportOptions {
    std::string url;  ///< wss://host[:port]/path (ws:// only with allow_plaintext)
    bool allow_plaintext{false};
    TlsSettings tls;
    std::optional<ProxySettings> proxy;  ///< HTTP CONNECT proxy
    /// Where this connection finds a session to resume and keeps the one the server gives; null: every handshake
    /// is a full one.
    std::shared_ptr<TlsSessionCache> tls_sessions;
    /// Keeps the TLS context of this connection for the next one with the same trust settings; null: a context is
    /// kept only while a connection uses it (and shared with the others that use the same settings meanwhile).
    std::shared_ptr<TlsContextHolder> tls_context;
    Duration dns_timeout{std::chrono::seconds(5)};
    Duration connect_timeout{std::chrono::seconds(5)};
    Duration tls_timeout{std::chrono::seconds(5)};
    Duration websocket_timeout{std::chrono::seconds(5)};
};

/// How long each step of opening took: relink::AttemptSteps without `login` (the core times that). A step not
/// finished is empty; reported with the open, and with a failure (the steps it finished).
using StepTimings = AttemptSteps;

/// A server URL split into its parts: wss://host[:port][/path][?query] (or ws://).
struct Url {
    bool tls{true};           ///< wss (true) or ws (false)
    std::string host;         ///< a DNS name, an IPv4 literal, or an IPv6 literal without its brackets
    std::uint16_t port{443};  ///< 443 for wss, 80 for ws unless given
    std::string target{"/"};  ///< path and query sent in the upgrade request; "/" when the URL has none
    friend bool operator==(const Url&, const Url&) = default;
};

/// A Url, or the one line that says what is wrong with the text.
struct ParsedUrl {
    std::optional<Url> url;
    std::string error;  ///< meaningful only when !url
};

/// Parses a server URL. The scheme is case-insensitive; user info ("user@"), fragments, an empty host, a port
/// outside 1..65535 and characters outside the URL alphabet are refused. ws:// parses (Transport::open() refuses it
/// unless TransportOptions::allow_plaintext). A pure function: thread-safe.
[[nodiscard]] ParsedUrl parse_url(std::string_view text);

/// One connection to the server (see the file comment). open() returns a handle: destroying the last copy of it
/// closes the connection like close() does (do that on the strand too). The handlers must not own the handle
/// (that cycle would keep the connection open); capture the driver and an id instead.
///
/// Errors reach on_closed as the underlying code (an Asio/system code such as connection_refused, an OpenSSL or
/// Beast code, std::errc::timed_out for any step's timeout, relink::errc::invalid_argument for a bad URL,
/// relink::errc::protocol_error for a binary frame), the cause for the app (AttemptFailure: DNS, REFUSED, TIMEOUT,
/// NETWORK, PROXY, TLS, CERTIFICATE, HTTP, PROTOCOL, CLOSED or CONFIG) and a detail that starts with the step:
/// "url: ", "dns: ", "tcp: ", "proxy: ", "tls: ", "websocket: ", "read: " or "write: ". Each failure is reported
/// when it happens: a refused connection, a proxy's refusal, a certificate that does not verify or a server that
/// answers TLS in plain HTTP end the attempt at once, never by a timeout.
///
/// TlsSettings::verify_peer = false is for tests against self-signed servers only: it accepts any certificate.
class Transport {
public:
    struct Handlers {
        std::function<void(const StepTimings&)> on_open;
        std::function<void(std::string frame)> on_message;
        /// Called once, when the connection failed to open or closed for any reason other than close().
        /// `finished`: the steps the connection finished opening (all of them once it had opened).
        std::function<void(std::error_code error, AttemptFailure cause, std::string detail,
                           const StepTimings& finished)>
            on_closed;
    };

    /// Starts opening a connection at once. Invalid options (a malformed URL, ws:// without allow_plaintext) are
    /// reported through on_closed, asynchronously, like any other failure.
    [[nodiscard]] static std::shared_ptr<Transport> open(boost::asio::any_io_executor executor,
                                                         TransportOptions options, Handlers handlers);

    virtual ~Transport() = default;
    /// Queues a text frame; frames are written one at a time, in order. Ignored unless open.
    virtual void send(std::string frame) = 0;
    /// Closes the connection: queued frames are flushed, then a WebSocket close, all bounded in time. No handler
    /// runs after close() returns.
    virtual void close() = 0;
};

}  // namespace relink::client
