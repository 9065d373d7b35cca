// tests/server/hub_world.hpp — the hub tests' names for the World's server (sim/hub_server.hpp, where HubServer
// and sim_token_check live since the World's server is relinkd's real hub), and hub_world(), a World on a hub with
// a given configuration that hands out its server.
#pragma once

#include <memory>

#include "sim/hub_server.hpp"
#include "sim/world.hpp"

namespace relink::test {

using sim::HubServer;
using sim::sim_token_check;

/// A World whose server is the hub with `config`; `hub_out` (if given) receives the World's server.
inline std::unique_ptr<sim::World> hub_world(server::HubConfig config = {}, HubServer** hub_out = nullptr) {
    sim::HubServerConfig server;
    server.hub = std::move(config);
    auto world = std::make_unique<sim::World>(std::move(server));
    if (hub_out != nullptr) {
        *hub_out = &world->server();
    }
    return world;
}

}  // namespace relink::test
