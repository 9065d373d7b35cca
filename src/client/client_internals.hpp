// client/client_internals.hpp — detail::ClientInternals, the doors relink's own code has into a relink::Client:
// relink's tests watch the core each public call asks (to show that the call returns the core's exact answer), and
// the test kit (relink/testing.hpp) runs a Client on a host of its own (detail::ClientHost: a virtual clock, a
// simulated network, callbacks run when the host says) instead of the client's threads and sockets.
// Not installed, not part of the API.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "core/client_core.hpp"
#include "relink/client.hpp"

namespace relink::detail {

/// What a hosted Client uses instead of its io thread, its socket transport, its timer and its dispatcher thread.
/// Everything is called on the thread that drives the host (the test's), never concurrently.
class ClientHost {
public:
    ClientHost() = default;
    virtual ~ClientHost() = default;
    ClientHost(const ClientHost&) = delete;
    ClientHost& operator=(const ClientHost&) = delete;

    /// The time the core is given with every input.
    [[nodiscard]] virtual core::TimePoint now() const = 0;
    /// Performs one of the core's actions (open, send on, close a transport), in the order the core produced them.
    virtual void perform(core::Action action) = 0;
    /// Keeps an app callback to run later, in order, when the host runs callbacks (never inside this call).
    virtual void post(std::function<void()> callback) = 0;
    /// The Client is going away: its last actions (the goodbye of its logout) have been performed, and nothing of
    /// it is called from now on.
    virtual void closed() = 0;
};

/// How a host drives the Client it hosts: the inputs of the simulated network and of time.
class HostedClient {
public:
    HostedClient() = default;
    virtual ~HostedClient() = default;
    HostedClient(const HostedClient&) = delete;
    HostedClient& operator=(const HostedClient&) = delete;

    /// Gives the core an input at the host's now (`fn(core, now)`, e.g. a frame that arrived, a timeout) and
    /// performs what it produced: its actions through ClientHost::perform, its events through ClientHost::post.
    virtual void input(const std::function<void(core::ClientCore& core, core::TimePoint now)>& fn) = 0;
    /// When the core next has something to do (handle_timeout()), if ever.
    [[nodiscard]] virtual std::optional<core::TimePoint> next_deadline() = 0;
};

struct ClientInternals {
    /// Called on the calling thread, under the client's lock, just before a public call asks the core: with the
    /// core as it is then and the time the call gives it. A copy of `core` asked the same question at `now`
    /// gives the same answer.
    using CallObserver = std::function<void(const core::ClientCore& core, core::TimePoint now)>;
    /// Installs `observer` (empty: none) for every later public call of `client`.
    static void observe_calls(Client& client, CallObserver observer);
    /// The device moved to another network, as a test sees it: every connection `client` opens from now on (a
    /// handover's standby, any later attempt) goes to `url` instead of the config's (e.g. a second fault proxy in
    /// front of the same server), while the connection it has stays where it is.
    static void route_new_connections(Client& client, std::string url);

    /// A Client on `host`: no thread, no socket, no clock of its own. The constructor's checks of `config` apply
    /// (std::invalid_argument). The returned handle drives it; it expires with the Client.
    struct Hosted {
        std::unique_ptr<Client> client;
        std::weak_ptr<HostedClient> driver;
    };
    static Hosted make_hosted(ClientConfig config, std::shared_ptr<ClientHost> host);
};

}  // namespace relink::detail
