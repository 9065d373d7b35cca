// server/admin.hpp — relinkd's admin HTTP API on its own port: list sessions and channels, kick or ban a user,
// /metrics in Prometheus text format, and the health probes /healthz (alive) and /readyz (ready for new clients).
// Every request but the probes needs `Authorization: Bearer <admin secret>`, compared in constant time; without it
// the answer is 401. The probes tell nothing a client of the WebSocket port could not learn, so load balancers and
// orchestrators probe without the secret. docs/server.md has the endpoints with curl examples.
//
// The HTTP side is Beast (admin.cpp); the hub is reached only through HubAccess, so every hub call is
// serialized on the hub's strand like the WebSocket traffic.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/cluster_node.hpp"
#include "server/hub.hpp"
#include "server/options.hpp"

namespace boost::asio {
class io_context;
}
namespace spdlog {
class logger;
}

namespace relink::server {

class HubAccess;

/// Completed TLS handshakes of the WebSocket listener: full ones and those that resumed a session (a ticket).
struct TlsHandshakeMetrics {
    std::uint64_t full{0};
    std::uint64_t resumed{0};
};

/// The listener's load and shedding (docs/server.md, "Overload"): read from atomics, from any thread.
struct LoadMetrics {
    std::uint64_t write_queue_bytes{0};       ///< now: bytes queued for writing on all connections together
    std::uint64_t slow_readers_shed{0};       ///< connections closed because they read too slowly
    std::uint64_t handshakes_in_progress{0};  ///< now: accepted connections whose TLS / WebSocket handshake runs
    std::uint64_t accept_pauses{0};           ///< times accepting paused at the handshake bound
};

/// The admin HTTP server.
///
/// @par Thread safety
/// Construct, start() and stop() from one thread (stop() may be called from any thread once started). The
/// io_context, the HubAccess and the logger must outlive it.
class AdminServer {
public:
    struct Config {
        HostPort listen;
        std::string secret;
        Duration default_ban{std::chrono::hours(24)};  ///< POST /kick with "ban": true and no "ban_seconds"
        Duration request_timeout{std::chrono::seconds(10)};
        /// Read for each GET /metrics, from an io thread; empty: the TLS counters show 0.
        std::function<TlsHandshakeMetrics()> tls_handshakes;
        /// Read for each GET /metrics on the hub's strand; empty or nothing: a single node (no cluster gauges).
        std::function<std::optional<ClusterGauges>()> cluster_gauges;
        /// Read for each GET /metrics, from an io thread; empty: the load gauges show 0.
        std::function<LoadMetrics()> load;
        /// Read for each GET /readyz, from an io thread: why the server should get no new clients now ("draining",
        /// "cut off from Redis"), or empty when it is ready. Empty function: always ready.
        std::function<std::string()> not_ready;
    };
    /// Binds the address; throws boost::system::system_error when it cannot.
    AdminServer(boost::asio::io_context& ioc, Config config, HubAccess& hub, std::shared_ptr<spdlog::logger> log);
    ~AdminServer();
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    /// The bound port (the ephemeral one for port 0).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// The bound address as a URL host ("127.0.0.1", "[::1]").
    [[nodiscard]] std::string url_host() const;
    void start();
    /// Stops accepting; requests in progress finish on their own (bounded by request_timeout).
    void stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/// True when `authorization` is "Bearer <secret>" (scheme case-insensitive). Compares digests of the presented
/// and expected secrets in constant time, so neither the content nor the length of the secret leaks.
[[nodiscard]] bool bearer_matches(std::string_view authorization, std::string_view secret);

/// The hub's metrics and the listener's TLS handshake counts in Prometheus text exposition format (version
/// 0.0.4), with # HELP and # TYPE lines.
[[nodiscard]] std::string metrics_text(const Metrics& metrics, bool draining, const TlsHandshakeMetrics& tls = {},
                                       const std::optional<ClusterGauges>& cluster = std::nullopt,
                                       const LoadMetrics& load = {});

/// GET /sessions and GET /channels bodies: JSON arrays.
[[nodiscard]] std::string sessions_json(const std::vector<SessionInfo>& sessions);
[[nodiscard]] std::string channels_json(const std::vector<ChannelInfo>& channels);

}  // namespace relink::server
