// server/listener.hpp — relinkd's driver: the Beast WebSocket-over-TLS listener around the sans-IO hub.
//
// Server owns everything with a lifetime: the io_context and its threads, the TLS context, the hub with its
// strand and its one timer, the accept loop, the admin API and (in relinkd) the signal handling. Per connection:
// TCP → TLS handshake → HTTP upgrade on "/" → WebSocket read loop; decoded frames go to the hub, the hub's
// actions come back as frames and closes. docs/server.md describes the behaviour an operator sees.
//
// This header stays free of Asio and Beast so that only listener.cpp and admin.cpp pay for them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

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

/// The apps a server hosts and what verifies their tokens (secrets and public keys): app_key_table(options).
using AppTable = AppKeyTable;

/// How a running server reads its configuration again on SIGHUP: relinkd parses its command line again (which reads
/// the config file again). Empty: SIGHUP is not handled.
using ReadOptionsAgain = std::function<ParsedOptions()>;

/// A running relinkd: the listener, the hub, the admin API and their io threads. relinkd runs one in its process
/// (run_server()); the demo and tests embed one in theirs.
///
/// @par Thread safety
/// All methods may be called from any thread except the io threads of the server itself (the destructor and
/// wait() join them).
class Server {
public:
    /// Starts listening and serving on io threads of its own (Options::threads). Null, with `error` set to one
    /// line, when the configuration is unusable (unreadable certificate, address in use, unwritable --write-ca).
    /// With `handle_signals`, SIGTERM / SIGINT drain it (a second signal stops it at once), and with `reread` too,
    /// SIGHUP reloads it (reload()).
    static std::unique_ptr<Server> start(const Options& options, const std::shared_ptr<spdlog::logger>& log,
                                         std::string& error, bool handle_signals = false, ReadOptionsAgain reread = {});
    /// Stops at once (no drain) and joins the io threads.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// wss://HOST:PORT/ (ws:// with insecure_plaintext), the address clients connect to.
    [[nodiscard]] const std::string& url() const noexcept;
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// http://HOST:PORT/ of the admin API; empty when it is disabled.
    [[nodiscard]] const std::string& admin_url() const noexcept;
    /// The PEM of the certificate served (generated or loaded), for clients to trust; empty in plaintext.
    [[nodiscard]] const std::string& certificate_pem() const noexcept;
    /// This node's name in its deployment (--node-id, or a random one); meaningful when clustered().
    [[nodiscard]] const std::string& node_id() const noexcept;
    /// Started with --cluster: one node of a deployment on Redis.
    [[nodiscard]] bool clustered() const noexcept;
    /// Graceful drain, as on SIGTERM: every client is told to reconnect within the drain window, then the server
    /// stops (once every connection has closed, or after 3 s).
    void drain();
    /// Applies what may change while the server runs, from `options` (a reload): the apps (replace_apps()) and the
    /// TLS session-ticket keys, read again from the key file the server started with. Everything is checked
    /// first: on an error (one line, returned) nothing changes. Other settings differing from the running ones are
    /// logged as needing a restart. Empty string when applied.
    std::string reload(const Options& options);
    /// Replaces the apps table: logins and renewals are verified against `apps` from now on; the sessions of apps no
    /// longer in it are closed with Close(kicked) (Hub::replace_apps). Asynchronous: done on the hub's strand.
    void replace_apps(const AppTable& apps);
    /// Stops at once.
    void stop();
    /// Returns once the server has stopped (drained or stopped).
    void wait();

private:
    class Impl;
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// relinkd --check-config: what can be checked without starting — the certificate and key load and match, an
/// existing ticket key file is readable and well-formed (the options themselves were validated when parsed). An
/// error line, or "" when the configuration is usable. Writes nothing, creates nothing, binds nothing.
[[nodiscard]] std::string check_configuration(const Options& options);

/// Runs relinkd with validated options until SIGTERM/SIGINT has drained it; SIGHUP reloads it with what `reread`
/// gives. Prints the listening line on stdout once ready. Returns the process exit status: 0 after a drain, 2
/// (after one line on stderr) when the configuration turns out unusable at start (unreadable certificate, address in
/// use, unwritable --write-ca).
int run_server(const Options& options, const std::shared_ptr<spdlog::logger>& log, ReadOptionsAgain reread = {});

}  // namespace relink::server
