// client/transport.hpp — one WebSocket-over-TLS connection for the client driver: resolve, (HTTP CONNECT proxy),
// TCP connect, TLS handshake with peer and host-name verification, WebSocket upgrade, then text frames both ways.
//
// The driver creates one Transport per OpenTransport action of the core, and reports what happens back to the
// core: opened (with the time each step took), a text frame received, closed (with the error and a short detail).
// Each step has its own timeout. The core owns liveness (heartbeats, the 4 s silence detector), so the transport
// runs no idle pings of its own. Beast is included only in transport.cpp.
//
// Thread safety: a Transport is used from one strand (the executor given to open()); its handlers run on that
// executor, never inline inside open(), send() or close(). After close() returns, no handler runs any more.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>

#include "relink/timings.hpp"

namespace relink::client {

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
    Duration dns_timeout{std::chrono::seconds(5)};
    Duration connect_timeout{std::chrono::seconds(5)};
    Duration tls_timeout{std::chrono::seconds(5)};
    Duration websocket_timeout{std::chrono::seconds(5)};
};

/// How long each step of opening took (logged at debug level by the driver).
struct StepTimings {
    Duration dns{};
    Duration proxy{};
    Duration tcp{};
    Duration tls{};
    Duration websocket{};
};

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
/// relink::errc::protocol_error for a binary frame) and a detail that starts with the step: "url: ", "dns: ",
/// "tcp: ", "proxy: ", "tls: ", "websocket: ", "read: " or "write: ".
///
/// TlsSettings::verify_peer = false is for tests against self-signed servers only: it accepts any certificate.
class Transport {
public:
    struct Handlers {
        std::function<void(const StepTimings&)> on_open;
        std::function<void(std::string frame)> on_message;
        /// Called once, when the connection failed to open or closed for any reason other than close().
        std::function<void(std::error_code error, std::string detail)> on_closed;
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
