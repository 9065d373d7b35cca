// tests/server/cluster_world.hpp — a deployment of several relinkd hubs sharing one in-memory store as the server
// of a sim::World (sim/hub_server.hpp): node kills, drains and a load balancer on the virtual clock, so every
// cross-node timeline runs exactly, without sockets.
#pragma once

#include <memory>

#include "server/hub_world.hpp"

namespace relink::test {

/// The nodes' shared settings for cluster tests: heartbeats every second, dead after three missed.
inline server::HubConfig cluster_config(server::HubConfig config = {}) {
    config.node_heartbeat_interval = std::chrono::seconds(1);
    config.node_dead_after = std::chrono::seconds(3);
    return config;
}

/// A World whose server is a deployment of `nodes` hubs with `config` (plus cluster_config()'s heartbeats).
inline std::unique_ptr<sim::World> cluster_world(std::size_t nodes, server::HubConfig config = {}) {
    sim::HubServerConfig server;
    server.hub = cluster_config(std::move(config));
    server.nodes = nodes;
    return std::make_unique<sim::World>(std::move(server));
}

}  // namespace relink::test
