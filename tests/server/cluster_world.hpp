// tests/server/cluster_world.hpp — several real hubs sharing one cluster::MemoryStore as the server of a
// sim::World: a deployment of relinkd nodes on the virtual clock, with a load balancer that sends each client's
// next connection to the node a test chooses, node kills (SIGKILL: no goodbye, no more heartbeats) and drains.
// Every cross-node timeline then runs exactly, without sockets.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/memory_store.hpp"
#include "server/hub_world.hpp"

namespace relink::test {

/// The nodes' shared settings for cluster tests: heartbeats every second, dead after three missed.
inline server::HubConfig cluster_config(server::HubConfig config = {}) {
    config.node_heartbeat_interval = std::chrono::seconds(1);
    config.node_dead_after = std::chrono::seconds(3);
    return config;
}

class ClusterServer final : public sim::SimServer {
public:
    ClusterServer(std::size_t nodes, server::HubConfig config, sim::ServerOutput output)
        : output_(std::move(output)), store_(std::make_shared<cluster::MemoryStore>(server::store_config(config))) {
        for (std::size_t i = 0; i < nodes; ++i) {
            server::HubConfig node_config = config;
            node_config.node_id = "n" + std::to_string(i + 1);
            nodes_.push_back(std::make_unique<server::Hub>(
                node_config,
                [this](const std::string& app, const std::string&, const std::string& token) {
                    return sim_token_check(now_, app, token);
                },
                store_));
        }
    }

    // ---- the load balancer
    /// The node (0-based) that `client`'s next connections go to.
    void route(const std::string& client, std::size_t node) { routes_[client] = node; }

    // ---- node faults
    /// SIGKILL: the node's connections are reset, it never says anything again (no heartbeat, no goodbye).
    void kill(TimePoint now, std::size_t node) {
        now_ = now;
        dead_.insert(node);
        for (auto it = conn_node_.begin(); it != conn_node_.end();) {
            if (it->second == node) {
                output_.close(it->first);
                it = conn_node_.erase(it);
            } else {
                ++it;
            }
        }
        flush();
    }
    /// SIGTERM: the node drains (every client is told to reconnect within `window`) and leaves the deployment.
    void drain_node(TimePoint now, std::size_t node, Duration window) {
        now_ = now;
        nodes_.at(node)->drain(now, window);
        flush();
    }

    /// The admin API of `node` kicks (or bans) `user`, wherever it is connected.
    std::error_code admin_kick(TimePoint now, std::size_t node, const std::string& user, bool ban) {
        now_ = now;
        const std::error_code error = nodes_.at(node)->kick(now, "app", user, ban);
        flush();
        return error;
    }

    [[nodiscard]] server::Hub& hub(std::size_t node) { return *nodes_.at(node); }
    [[nodiscard]] cluster::MemoryStore& store() { return *store_; }
    /// The node `client`'s open connection is on, if any.
    [[nodiscard]] std::optional<std::size_t> node_of(const std::string& client) const {
        for (const auto& [conn, node] : conn_node_) {
            if (conn_client_.at(conn) == client) {
                return node;
            }
        }
        return std::nullopt;
    }

    // ---- SimServer
    void on_open(TimePoint now, sim::ConnId conn, const std::string& address) override {
        now_ = now;
        const auto route = routes_.find(address);
        const std::size_t node = route == routes_.end() ? 0 : route->second;
        if (dead_.count(node) != 0) {
            output_.close(conn);  // nothing listens there any more: refused
            return;
        }
        conn_node_[conn] = node;
        conn_client_[conn] = address;
        nodes_[node]->on_open(now, conn, address);
        flush();
    }
    void on_frame(TimePoint now, sim::ConnId conn, const proto::ClientMessage& message) override {
        now_ = now;
        if (auto it = conn_node_.find(conn); it != conn_node_.end()) {
            nodes_[it->second]->on_frame(now, conn, message);
        }
        flush();
    }
    void on_closed(TimePoint now, sim::ConnId conn) override {
        now_ = now;
        if (auto it = conn_node_.find(conn); it != conn_node_.end()) {
            const std::size_t node = it->second;
            conn_node_.erase(it);
            nodes_[node]->on_closed(now, conn);
        }
        flush();
    }
    void handle_timeout(TimePoint now) override {
        now_ = now;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (dead_.count(i) == 0) {
                nodes_[i]->handle_timeout(now);
            }
        }
        flush();
    }
    [[nodiscard]] std::optional<TimePoint> next_deadline() const override {
        std::optional<TimePoint> earliest;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (dead_.count(i) != 0) {
                continue;
            }
            if (const auto at = nodes_[i]->next_deadline(); at && (!earliest || *at < *earliest)) {
                earliest = at;
            }
        }
        return earliest;
    }
    /// The admin API of the first live node: it acts on the user wherever it is.
    void kick(TimePoint now, const std::string& user, bool ban) override {
        (void)admin_kick(now, first_live(), user, ban);
    }
    void drain(TimePoint now, Duration window) override { drain_node(now, first_live(), window); }
    void restart(TimePoint /*now*/) override {}  // a cluster outlives its nodes; not modelled here
    [[nodiscard]] std::set<std::string> members(const std::string& channel) const override {
        for (const auto& info : store_->channels()) {
            if (info.app == "app" && info.channel == channel) {
                return {info.members.begin(), info.members.end()};
            }
        }
        return {};
    }

private:
    [[nodiscard]] std::size_t first_live() const {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (dead_.count(i) == 0) {
                return i;
            }
        }
        return 0;
    }

    /// Every live node acts on what the store holds for it and performs its actions, until all are quiet; a
    /// connection a hub closes is reported closed to it, as a driver would.
    void flush() {
        for (int round = 0; round < 1000; ++round) {
            bool acted = false;
            for (std::size_t i = 0; i < nodes_.size(); ++i) {
                if (dead_.count(i) != 0) {
                    continue;
                }
                nodes_[i]->on_store_events(now_);
                std::vector<sim::ConnId> closed;
                while (auto action = nodes_[i]->poll_action()) {
                    acted = true;
                    if (auto* send = std::get_if<server::SendMessage>(&*action)) {
                        output_.send(send->conn, std::move(send->message));
                    } else {
                        const auto conn = std::get<server::CloseConnection>(*action).conn;
                        output_.close(conn);
                        closed.push_back(conn);
                    }
                }
                for (const auto conn : closed) {
                    if (conn_node_.erase(conn) != 0) {
                        nodes_[i]->on_closed(now_, conn);
                    }
                }
            }
            if (!acted) {
                return;
            }
        }
        ADD_FAILURE() << "the cluster's nodes never went quiet";
    }

    sim::ServerOutput output_;
    std::shared_ptr<cluster::MemoryStore> store_;
    std::vector<std::unique_ptr<server::Hub>> nodes_;
    std::set<std::size_t> dead_;
    std::map<std::string, std::size_t> routes_;
    std::map<sim::ConnId, std::size_t> conn_node_;
    std::map<sim::ConnId, std::string> conn_client_;
    TimePoint now_{};
};

/// A World whose server is a deployment of `nodes` hubs on one MemoryStore; `out` receives the deployment.
inline std::unique_ptr<sim::World> cluster_world(std::size_t nodes, server::HubConfig config, ClusterServer** out) {
    return std::make_unique<sim::World>([&](sim::ServerOutput output) {
        auto server = std::make_unique<ClusterServer>(nodes, config, std::move(output));
        *out = server.get();
        return server;
    });
}

}  // namespace relink::test
