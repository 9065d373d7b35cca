// server/listener.hpp — relinkd's driver: the Beast WebSocket-over-TLS listener around the sans-IO hub.
//
// run_server() owns everything with a lifetime: the io_context and its threads, the TLS context, the hub with
// its strand and its one timer, the accept loop, the admin API and the signal handling. Per connection:
// TCP → TLS handshake → HTTP upgrade on "/" → WebSocket read loop; decoded frames go to the hub, the hub's
// actions come back as frames and closes. docs/server.md describes the behaviour an operator sees.
//
// This header stays free of Asio and Beast so that only listener.cpp and admin.cpp pay for them.
#pragma once

#include <functional>
#include <memory>

#include "server/hub.hpp"
#include "server/options.hpp"

namespace spdlog {
class logger;
}

namespace relink::server {

/// Serialized access to the hub for other drivers of it (the admin API).
///
/// @par Thread safety
/// run() may be called from any thread; the task runs later on the hub's strand, never inline.
class HubAccess {
public:
    using Task = std::function<void(Hub& hub, TimePoint now)>;
    virtual ~HubAccess() = default;
    /// Runs `task` on the hub's strand with the current time; the hub's actions are dispatched and its timer is
    /// re-armed right after, as after any other input.
    virtual void run(Task task) = 0;
};

/// The hub's clock: steady_clock::now() as a hub TimePoint (same clock, nanoseconds).
[[nodiscard]] TimePoint hub_now() noexcept;

/// Runs relinkd with validated options until SIGTERM/SIGINT has drained it. Prints the listening line on stdout
/// once ready. Returns the process exit status: 0 after a drain, 2 (after one line on stderr) when the
/// configuration turns out unusable at start (unreadable certificate, address in use, unwritable --write-ca).
int run_server(const Options& options, const std::shared_ptr<spdlog::logger>& log);

}  // namespace relink::server
