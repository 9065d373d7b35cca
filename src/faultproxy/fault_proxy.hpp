// faultproxy/fault_proxy.hpp — a fault-injecting TCP proxy for relink's tests, demos and benchmarks.
//
// A FaultProxy listens on a loopback port and forwards every connection to an upstream server. At run time it
// can be switched to break the path the way real networks break: stall it, drop everything silently (no FIN, no
// RST), reset every connection, refuse new ones, add latency, limit bandwidth. Point a client at port() instead of
// the server and the client sees exactly what it would see behind a broken network path. The upstream can be
// switched too (set_upstream()), so that in front of a cluster the proxy plays the load balancer and the test picks
// the node each new connection goes to.
//
// docs/fault-proxy.md says what each mode models and how the integration tests use it.
//
// This header stays free of Boost: the proxy's Asio lives in fault_proxy.cpp only (pimpl), so tests and tools
// that use the proxy do not pay for Asio at compile time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace relink::faultproxy {

/// What the proxy does with traffic. Switch with FaultProxy::set_mode() at any time, from any thread.
enum class Mode {
    /// Forwards both directions (with the configured delay and throttle). Connections that were blackholed stay
    /// dead: only connections opened in `pass` (or `stall`, `refuse`) forward.
    pass,
    /// A link that pauses and then recovers: nothing is delivered in either direction, nothing is lost. Bytes are
    /// held (bounded: the proxy stops reading when a direction holds `max_buffered_bytes`, so TCP flow control
    /// pushes back on the sender) and delivered in order once the mode leaves `stall`. New connections are
    /// accepted and connected upstream; their bytes are held too.
    stall,
    /// A link that died silently (packets dropped, no FIN, no RST). Every open connection becomes *dead for good*:
    /// whatever either side sends is read and discarded, nothing is delivered, nothing is closed, and closes or
    /// resets from one side are not passed on to the other. New connections are accepted (the client's TCP
    /// connect succeeds) but never connected upstream, so a TLS handshake hangs. Leaving `blackhole` does not
    /// revive dead connections: their dropped bytes are gone (a TLS stream on them is broken), so the client must
    /// notice the silence and reconnect; connections opened afterwards work.
    blackhole,
    /// Every open connection is reset at once (RST to both sides, SO_LINGER 0); new connections are accepted and
    /// reset immediately, so a connect succeeds and the first read fails with ECONNRESET.
    reset,
    /// New connections are refused: the listening socket is closed, so a connect fails with ECONNREFUSED (the
    /// port stays reserved for the proxy). Open connections keep forwarding as in `pass`.
    refuse,
};

/// "pass", "stall", "blackhole", "reset" or "refuse".
[[nodiscard]] std::string_view to_string(Mode mode) noexcept;

/// Counters since construction. Each field is read atomically, but the fields are not one snapshot. The connection
/// counters change before a peer can observe the event (a client that saw its reset finds it counted); the byte
/// counters count bytes once the receiving side's kernel took them, so they may lag what a peer has read.
struct Stats {
    std::uint64_t connections_accepted{0};  ///< accepted on the listening port (including those reset at once)
    std::uint64_t connections_open{0};      ///< accepted and not finished yet (dead ones included)
    std::uint64_t connections_reset{0};     ///< reset by the proxy: `reset` mode, reset_all(), over max_connections
    std::uint64_t upstream_connect_failures{0};  ///< upstream connects that failed or timed out (client then reset)
    std::uint64_t bytes_to_upstream{0};          ///< delivered to the upstream server
    std::uint64_t bytes_to_client{0};            ///< delivered to clients
    std::uint64_t bytes_dropped{0};              ///< discarded because their connection was blackholed
    std::uint64_t bytes_held{0};  ///< now: read, not delivered yet (held by the delay, `stall` or the throttle)
};

/// Where to listen, where to forward, and the proxy's bounds.
struct Options {
    std::string upstream_host{"127.0.0.1"};  ///< host name or address of the server; resolved at construction
    std::uint16_t upstream_port{0};
    std::string listen_host{"127.0.0.1"};  ///< address to listen on
    std::uint16_t listen_port{0};          ///< 0 = an ephemeral port, see FaultProxy::port()
    Mode initial_mode{Mode::pass};
    std::size_t max_connections{1024};            ///< more are accepted and reset at once
    std::size_t max_buffered_bytes{1024 * 1024};  ///< per connection and direction, held for delay or stall
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};  ///< upstream TCP connect
};

/// A fault-injecting TCP proxy with its own I/O thread.
///
/// Per direction, bytes are delivered in the order they were read, each chunk `delay` after it was read, no
/// faster than the throttle allows. A half-close (FIN) or a reset read from one side travels in order after the
/// data before it (so a delay or a stall holds it too) and reaches the other side as a FIN or a reset (RST).
///
/// @par Thread safety
/// Every member function may be called from any thread, concurrently. The setters (set_mode(), set_delay(),
/// set_throttle(), reset_all(), set_upstream()) block until the proxy's I/O thread has applied them (microseconds;
/// the I/O thread never blocks and runs no user code), so when set_mode(Mode::refuse) returns a connect is refused,
/// and when set_mode(Mode::blackhole) returns no further byte gets through. port(), mode(), upstream() and stats()
/// do not wait for the I/O thread.
class FaultProxy {
public:
    /// Resolves the upstream host, starts listening and starts the I/O thread. Throws std::system_error when the
    /// upstream host does not resolve or the listen address cannot be bound.
    explicit FaultProxy(Options options);
    /// Proxy for upstream_host:upstream_port on 127.0.0.1, ephemeral port, default bounds.
    FaultProxy(std::string upstream_host, std::uint16_t upstream_port);
    /// Closes the listening socket and every connection (FIN to both sides; held bytes are discarded) and joins
    /// the I/O thread. Finishes in bounded time: nothing the proxy does blocks.
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    /// The port the proxy listens on (the one chosen by the kernel when Options::listen_port was 0).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// The current mode.
    [[nodiscard]] Mode mode() const noexcept;

    /// Switches the mode (see Mode). Switching to the current mode is harmless; `reset` resets the connections
    /// opened since the last switch too. Throws std::system_error when leaving `refuse` cannot listen again.
    void set_mode(Mode mode);
    /// Adds `one_way` latency to each direction, for bytes read from now on (bytes already held keep their
    /// delivery time). Order is kept; the round trip grows by 2 × one_way. 0 = none.
    void set_delay(std::chrono::milliseconds one_way);
    /// Limits each direction to `bytes_per_second`, shared by all connections like a link's bandwidth (a token
    /// bucket holding 50 ms worth of bytes, at most 64 KiB). Applies at once. 0 = unlimited.
    void set_throttle(std::size_t bytes_per_second);
    /// Resets every open connection now (RST to both sides, dead ones included, whatever their upstream); the mode
    /// is unchanged.
    void reset_all();

    /// Sends the connections the proxy accepts from now on to host:port, like a load balancer switching its
    /// backend; connections accepted before (open, dead or still connecting upstream) stay with the upstream they
    /// had, since a balancer cannot move a live TCP connection. The host is resolved here, on the calling thread
    /// (use a numeric address where a slow resolver would hurt). Throws std::system_error, like the constructor,
    /// when it does not resolve; the upstream is then unchanged.
    ///
    /// "Accepted" is the proxy's accept, which may come a moment after the client's connect returned: a client that
    /// must reach the old upstream should wait until stats().connections_accepted counts it (or for a reply).
    void set_upstream(std::string host, std::uint16_t port);
    /// The upstream that new connections go to: the host as given (not resolved) and the port.
    [[nodiscard]] std::pair<std::string, std::uint16_t> upstream() const;

    [[nodiscard]] Stats stats() const noexcept;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace relink::faultproxy
