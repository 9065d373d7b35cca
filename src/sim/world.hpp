// sim/world.hpp — a deterministic simulation of clients, a network and a server on a virtual clock.
//
// The World owns one server, relinkd's real hub (sim/hub_server.hpp), and any number of ClientCores, each behind
// its own simulated link with a one-way latency and a fault mode (pass, blackhole, refuse). Time jumps from one
// deadline or delivery to the next, so a 20-minute timeline runs in milliseconds and every event has an exact
// time. Deliveries that fall at the same instant as a timer are processed first: data arriving exactly at a
// deadline arrived in time. Every event of every client is recorded with its time, for the tests and the
// benchmarks.
//
// A client may also be external (add_external_client): a core the World does not own, such as a relink::Client of
// the test kit (relink/testing.hpp) on the World's clock. The World gives it its inputs through ExternalClient,
// which performs what the core produced itself (its actions come back through perform_external()); its events are
// not recorded here.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "core/client_core.hpp"
#include "sim/hub_server.hpp"

namespace relink::sim {

enum class LinkMode : std::uint8_t {
    pass,           ///< frames flow with the link's latency
    blackhole,      ///< every frame is dropped, both ways; new connections hang (no FIN, no RST)
    refuse,         ///< new connections fail at once (RST); open ones are reset too
    drop_inbound,   ///< server → client frames are dropped, client → server ones pass; new connections hang
    drop_outbound,  ///< client → server frames are dropped, server → client ones pass; new connections hang
};

/// Whether frames may flow from the client to the server, and from the server to the client, in a mode.
[[nodiscard]] constexpr bool passes_upstream(LinkMode mode) noexcept {
    return mode == LinkMode::pass || mode == LinkMode::drop_inbound;
}
[[nodiscard]] constexpr bool passes_downstream(LinkMode mode) noexcept {
    return mode == LinkMode::pass || mode == LinkMode::drop_outbound;
}

struct Record {
    TimePoint at;
    std::string client;
    core::Event event;
};

struct ActionRecord {
    TimePoint at;
    std::string client;
    core::Action action;
};

/// How the World drives a core it does not own (see the file comment).
struct ExternalClient {
    /// Gives the core an input at the World's now, then has its actions performed (perform_external()).
    std::function<void(const std::function<void(core::ClientCore&, TimePoint)>&)> input;
    /// The core's next deadline, if any.
    std::function<std::optional<TimePoint>()> next_deadline;
};

class World {
public:
    /// A world whose server is a hub with `server_config` (by default, relinkd's defaults).
    explicit World(HubServerConfig server_config = {});
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    /// Adds a client named `name` (e.g. "UID1") whose link has the given one-way latency.
    core::ClientCore& add_client(const std::string& name, core::Config config,
                                 Duration one_way_latency = std::chrono::milliseconds(50));
    /// Adds a client whose core lives elsewhere (see ExternalClient); its name must be new, like add_client()'s.
    void add_external_client(const std::string& name, ExternalClient external,
                             Duration one_way_latency = std::chrono::milliseconds(50));
    /// Performs an action of an external client's core (its open, send, close), as the World does for its own.
    void perform_external(const std::string& name, core::Action action);
    /// An external client went away: any connection it still has is reset, and it is never driven again. Its name
    /// stays taken.
    void remove_external_client(const std::string& name);
    /// The client's core; for a client added by add_client() only.
    [[nodiscard]] core::ClientCore& client(const std::string& name);
    /// The server, for its observers (members(), and the hub's sessions(), channels(), metrics()).
    [[nodiscard]] HubServer& server() noexcept { return *server_; }
    [[nodiscard]] const HubServer& server() const noexcept { return *server_; }
    [[nodiscard]] TimePoint now() const noexcept { return now_; }

    /// Calls `fn(core, now)` for a client, then lets it act (an API call from the app).
    template <class Fn>
    auto call(const std::string& name, Fn&& fn) {
        auto& c = clients_.at(name);
        if constexpr (std::is_void_v<decltype(fn(*c.core, now_))>) {
            fn(*c.core, now_);
            pump(name);
        } else {
            auto result = fn(*c.core, now_);
            pump(name);
            return result;
        }
    }

    /// Sets the mode of the client's current network (the one its new connections take; its only one unless
    /// switch_network() was called).
    void set_link(const std::string& name, LinkMode mode);
    /// Changes the one-way latency of the client's current network: frames sent from now on take `one_way_latency`.
    void set_latency(const std::string& name, Duration one_way_latency);
    /// The client's device moves to another network (a handover's new path): its new connections take a new path
    /// with `mode` and `one_way_latency`, while the connections it has keep theirs. Returns the new path's number
    /// (the first path is 0).
    std::size_t switch_network(const std::string& name, LinkMode mode, Duration one_way_latency);
    /// Sets the mode of one of the client's paths (an old network going dead under its connections).
    void set_path_link(const std::string& name, std::size_t path, LinkMode mode);
    /// The transports the client has open or opening, oldest first.
    [[nodiscard]] std::vector<core::TransportId> transports(const std::string& name) const;
    /// True when no frame, connection or close is on its way anywhere (only timers are left).
    [[nodiscard]] bool network_idle() const noexcept { return queue_.empty(); }
    /// Resets the client's open connection now (an RST both ways), whatever the link mode.
    void reset_connection(const std::string& name);
    /// Resets the client's connections on one path now.
    void reset_path(const std::string& name, std::size_t path);
    /// Server admin actions, at the current time (see HubServer): a drained server refuses logins until it is
    /// restarted (replaced).
    void server_kick(const std::string& user, bool ban);
    void server_drain(Duration window);
    void server_restart();

    void run_until(TimePoint limit);
    void run_for(Duration d) { run_until(now_ + d); }
    /// Runs until `done()` holds after some step, or `limit`; returns whether it held.
    bool run_until(const std::function<bool()>& done, TimePoint limit);

    [[nodiscard]] const std::vector<Record>& log() const noexcept { return log_; }
    [[nodiscard]] const std::vector<ActionRecord>& actions() const noexcept { return actions_; }
    [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
    /// When the client last received a frame from the server (TimePoint{} if never).
    [[nodiscard]] TimePoint last_received(const std::string& name) const { return clients_.at(name).last_received; }
    /// Turns recording of events and actions on or off (benchmarks run long and need no log).
    void set_recording(bool record) noexcept { recording_ = record; }

private:
    /// A network the client's connections go through: its latency and mode.
    struct Path {
        Duration latency{};
        LinkMode mode{LinkMode::pass};
    };
    /// A transport the client has open or opening (a handover has two).
    struct Transport {
        std::size_t path{0};
        std::optional<ConnId> conn;  ///< the server side of it, once established
        bool established{false};
    };
    struct Client {
        std::unique_ptr<core::ClientCore> core;  ///< null for an external client
        ExternalClient external;                 ///< an external client's (empty when removed)
        std::vector<Path> paths;                 ///< never empty
        std::size_t current_path{0};             ///< the path new connections take
        std::map<core::TransportId, Transport> transports;
        TimePoint last_received{};

        [[nodiscard]] const Path& path_of(const Transport& t) const { return paths.at(t.path); }
        [[nodiscard]] Transport* find(core::TransportId id) {
            auto it = transports.find(id);
            return it == transports.end() ? nullptr : &it->second;
        }
    };
    struct Delivery {
        TimePoint at;
        std::uint64_t order;
        std::function<void()> run;
        bool operator>(const Delivery& other) const { return at != other.at ? at > other.at : order > other.order; }
    };

    void schedule(TimePoint at, std::function<void()> run);
    /// Gives a client's core an input at now_ and performs what it produced, whoever owns the core.
    void drive(const std::string& name, const std::function<void(core::ClientCore&, TimePoint)>& fn);
    [[nodiscard]] static std::optional<TimePoint> deadline_of(const Client& c);
    void pump(const std::string& name);
    void perform(const std::string& name, core::Action action);
    void server_send(ConnId conn, proto::ServerMessage message);
    void server_close(ConnId conn);
    /// Resets every connection of the client for which `which(transport)` holds.
    void reset_where(const std::string& name, const std::function<bool(const Transport&)>& which);
    void client_transport_closed(const std::string& name, core::TransportId transport,
                                 AttemptFailure cause = AttemptFailure::closed,
                                 std::string detail = "read: connection reset");
    std::optional<TimePoint> next_time() const;
    void step(TimePoint at);

    TimePoint now_{};
    std::map<std::string, Client> clients_;
    std::unique_ptr<HubServer> server_;
    std::map<ConnId, std::pair<std::string, core::TransportId>> conns_;  ///< server conn → client transport
    ConnId last_conn_{0};
    std::priority_queue<Delivery, std::vector<Delivery>, std::greater<>> queue_;
    std::uint64_t order_{0};
    std::uint64_t steps_{0};
    bool recording_{true};
    std::vector<Record> log_;
    std::vector<ActionRecord> actions_;
};

/// Milliseconds since the start of the virtual clock, for readable assertions and output.
[[nodiscard]] double ms_since_start(TimePoint t);

}  // namespace relink::sim
