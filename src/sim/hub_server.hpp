// sim/hub_server.hpp — the server of a sim::World: relinkd's real sans-IO hub (server::Hub) behind a minimal
// driver on the virtual clock (HubServer), the simulation's token scheme (sim_token_check), and what a test may
// add on top of the hub's own configuration (HubServerConfig: users whose logins are refused or rejected).
//
// Tokens in the simulation are plain strings: "valid" (no expiry), "exp=<ms>" (expires when the virtual clock
// reaches that many milliseconds), "expired", "only=<channel>" (valid, grants that one channel), and anything
// else is invalid. The only app id is "app". The hub itself is not changed for the simulation: refusals are
// verdicts of the TokenVerifier this driver supplies to it, as relinkd's verifier gives its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/client_core.hpp"
#include "protocol/messages.hpp"
#include "server/hub.hpp"

namespace relink::sim {

using core::TimePoint;
using ConnId = std::uint64_t;

/// The verdict on a simulation token (see above) at virtual time `now`.
[[nodiscard]] server::TokenCheck sim_token_check(TimePoint now, const std::string& app, const std::string& token);

/// The hub's configuration, and the test users it turns away at login (their tokens being otherwise valid).
struct HubServerConfig {
    server::HubConfig hub;
    std::set<std::string> refused_users;   ///< logins of these users are refused (LOGIN_FAILURE)
    std::set<std::string> rejected_users;  ///< logins of these users are rejected (REJECTED_BY_SERVER)
};

/// What the server does to the outside world; the World routes these over the simulated network.
struct ServerOutput {
    std::function<void(ConnId, proto::ServerMessage)> send;
    std::function<void(ConnId)> close;
};

/// The hub behind the World's network: a minimal driver, like relinkd's, on the virtual clock. After every input
/// it performs the hub's actions in order; a connection the hub closes is reported closed to it, as a driver would.
class HubServer {
public:
    HubServer(HubServerConfig config, ServerOutput output);
    // The hub's verifier refers to this object: it must stay where it is.
    HubServer(const HubServer&) = delete;
    HubServer& operator=(const HubServer&) = delete;

    // network inputs
    /// A connection (transport) was established from `address`.
    void on_open(TimePoint now, ConnId conn, const std::string& address);
    void on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message);
    void on_closed(TimePoint now, ConnId conn);
    void handle_timeout(TimePoint now);
    [[nodiscard]] std::optional<TimePoint> next_deadline() const { return hub_->next_deadline(); }

    // admin, in the only app ("app")
    void kick(TimePoint now, const std::string& user, bool ban);
    /// Drains the hub (as relinkd on SIGTERM): every client is told to come back within the window, and the hub
    /// refuses logins from then on. A replacement is restart().
    void drain(TimePoint now, Duration window);
    /// Replaces the hub by a new one with a new epoch, as a restarted relinkd: all history and sessions are gone,
    /// and the connections still open are dropped without a goodbye (a crash).
    void restart(TimePoint now);

    // observers
    /// The members of a channel of the only app.
    [[nodiscard]] std::set<std::string> members(const std::string& channel) const;
    /// The hub itself, for its observers (sessions(), channels(), metrics(), draining()).
    [[nodiscard]] server::Hub& hub() noexcept { return *hub_; }
    [[nodiscard]] const server::Hub& hub() const noexcept { return *hub_; }

private:
    void make_hub();
    void flush();

    HubServerConfig config_;
    ServerOutput output_;
    std::unique_ptr<server::Hub> hub_;
    std::set<ConnId> open_;
    TimePoint now_{};  ///< the time of the input being handled, for the verifier (which is not given it)
};

}  // namespace relink::sim
