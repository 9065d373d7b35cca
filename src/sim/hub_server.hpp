// sim/hub_server.hpp — the server of a sim::World: relinkd's real sans-IO hub (server::Hub) behind a minimal
// driver on the virtual clock (HubServer), the simulation's token scheme (sim_token_check), and what a test may
// add on top of the hub's own configuration (HubServerConfig: users whose logins are refused or rejected, and the
// number of nodes: several hubs on one in-memory store are a cluster, docs/cluster.md).
//
// Tokens in the simulation are plain strings: "valid" (no expiry), "exp=<ms>" (expires when the virtual clock
// reaches that many milliseconds), "expired", "only=<channel>" (valid, grants that one channel), and anything
// else is invalid. The only app id is "app" (HubServerConfig::app_id chooses another). The hub itself is not changed
// for the simulation: refusals are verdicts of the TokenVerifier this driver supplies to it, as relinkd's verifier
// gives its own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/memory_store.hpp"
#include "core/client_core.hpp"
#include "protocol/messages.hpp"
#include "server/hub.hpp"

namespace relink::sim {

using core::TimePoint;
using ConnId = std::uint64_t;

/// The verdict on a simulation token (see above) at virtual time `now`.
[[nodiscard]] server::TokenCheck sim_token_check(TimePoint now, const std::string& app, const std::string& token,
                                                 const std::string& known_app = "app");

/// The hub's configuration, and the test users it turns away at login (their tokens being otherwise valid).
struct HubServerConfig {
    server::HubConfig hub;
    std::set<std::string> refused_users;   ///< logins of these users are refused (LOGIN_FAILURE)
    std::set<std::string> rejected_users;  ///< logins of these users are rejected (REJECTED_BY_SERVER)
    /// Nodes of the deployment, sharing one in-memory store (a cluster on the virtual clock); 1 = relinkd alone.
    std::size_t nodes{1};
    /// The one app the deployment hosts (the test kit lets a test use its app's real id).
    std::string app_id{"app"};
    /// Users whose logins are refused with a chosen error (their tokens being otherwise valid); see also
    /// HubServer::refuse_logins().
    std::map<std::string, std::error_code> login_errors;
};

/// What the server does to the outside world; the World routes these over the simulated network.
struct ServerOutput {
    std::function<void(ConnId, proto::ServerMessage)> send;
    std::function<void(ConnId)> close;
};

/// The hubs behind the World's network: minimal drivers, like relinkd's, on the virtual clock. After every input
/// each node acts on what the shared store holds for it and performs its actions in order, until all are quiet; a
/// connection a hub closes is reported closed to it, as a driver would. With several nodes, a load balancer sends
/// each client's next connection to the node a test chooses (route()), and a node can be killed or drained.
class HubServer {
public:
    HubServer(HubServerConfig config, ServerOutput output);
    // The hubs' verifier refers to this object: it must stay where it is.
    HubServer(const HubServer&) = delete;
    HubServer& operator=(const HubServer&) = delete;

    // network inputs
    /// A connection (transport) was established from `address` (the client's name).
    void on_open(TimePoint now, ConnId conn, const std::string& address);
    void on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message);
    void on_closed(TimePoint now, ConnId conn);
    void handle_timeout(TimePoint now);
    [[nodiscard]] std::optional<TimePoint> next_deadline() const;

    /// From now on, logins of `user` are refused with `error` (none: accepted again). Sessions already open go on.
    void refuse_logins(const std::string& user, std::error_code error);

    // admin, in the only app, through the first live node
    void kick(TimePoint now, const std::string& user, bool ban);
    /// Drains every node (as relinkd on SIGTERM): every client is told to come back within the window, and the
    /// nodes refuse logins from then on. A replacement is restart().
    void drain(TimePoint now, Duration window);
    /// Replaces the deployment by a new one with a new epoch, as a restarted relinkd: all history and sessions are
    /// gone, and the connections still open are dropped without a goodbye (a crash).
    void restart(TimePoint now);

    // the deployment
    /// The node (0-based) that `client`'s next connections go to (default 0).
    void route(const std::string& client, std::size_t node);
    /// SIGKILL of a node: its connections are reset, it never says anything again (no heartbeat, no goodbye).
    void kill(TimePoint now, std::size_t node);
    /// SIGTERM of one node: it drains; the others go on.
    void drain_node(TimePoint now, std::size_t node, Duration window);
    /// The admin API of `node` kicks (or bans) `user`, wherever it is connected.
    std::error_code admin_kick(TimePoint now, std::size_t node, const std::string& user, bool ban);
    /// The node `client`'s open connection is on, if any.
    [[nodiscard]] std::optional<std::size_t> node_of(const std::string& client) const;

    // observers
    /// The members of a channel of the only app.
    [[nodiscard]] std::set<std::string> members(const std::string& channel) const;
    /// A node's hub, for its observers (sessions(), channels(), metrics(), draining()); the first by default.
    [[nodiscard]] server::Hub& hub(std::size_t node = 0) { return *nodes_.at(node); }
    [[nodiscard]] const server::Hub& hub(std::size_t node = 0) const { return *nodes_.at(node); }
    [[nodiscard]] cluster::MemoryStore& store() noexcept { return *store_; }

private:
    void make_nodes();
    void flush();
    [[nodiscard]] std::size_t first_live() const;
    [[nodiscard]] bool live(std::size_t node) const { return dead_.count(node) == 0; }

    HubServerConfig config_;
    ServerOutput output_;
    std::shared_ptr<cluster::MemoryStore> store_;
    std::vector<std::unique_ptr<server::Hub>> nodes_;
    std::set<std::size_t> dead_;
    std::map<std::string, std::size_t> routes_;                   ///< client → node of its next connection
    std::map<ConnId, std::pair<std::size_t, std::string>> open_;  ///< connection → (node, client)
    TimePoint now_{};  ///< the time of the input being handled, for the verifier (which is not given it)
};

}  // namespace relink::sim
