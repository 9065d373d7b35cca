// relink::testing::World (relink/testing.hpp): the simulated world of relink's own tests (sim::World, with
// relinkd's hub as its server) hosting production relink::Client objects through the client's one seam for it
// (detail::ClientInternals::make_hosted): each client's host gives it the world's time, performs its actions on the
// simulated network and keeps its callbacks in the world's one queue, which runs between the world's instants.
#include "sim/world.hpp"

#include <deque>
#include <map>
#include <stdexcept>
#include <utility>

#include "client/client_internals.hpp"
#include "relink/error.hpp"
#include "relink/testing.hpp"

namespace relink::testing {
namespace {

constexpr const char* kServerUrl = "wss://relink.test/";

[[nodiscard]] sim::LinkMode link_mode(Network network) {
    switch (network) {
        case Network::up: return sim::LinkMode::pass;
        case Network::blackhole: return sim::LinkMode::blackhole;
        case Network::refused: return sim::LinkMode::refuse;
        case Network::inbound_lost: return sim::LinkMode::drop_inbound;
        case Network::outbound_lost: return sim::LinkMode::drop_outbound;
    }
    return sim::LinkMode::pass;
}

[[nodiscard]] std::chrono::milliseconds since_start(core::TimePoint t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
}

}  // namespace

struct detail::WorldState {
    explicit WorldState(WorldOptions o) : options(std::move(o)), sim(server_config(options)) {
        sim.set_recording(false);  // a test may run for hours of virtual time; the app sees the events itself
    }

    static sim::HubServerConfig server_config(const WorldOptions& options) {
        sim::HubServerConfig config;
        config.app_id = options.app_id;
        config.hub.keep_alive_timeout = options.keep_alive_timeout;
        return config;
    }

    /// Runs the callbacks waiting, in order, including those they cause.
    void run_callbacks() {
        while (!callbacks.empty()) {
            std::function<void()> callback = std::move(callbacks.front());
            callbacks.pop_front();
            callback();  // the client catches what the app's handler throws
        }
    }

    [[nodiscard]] const std::string& name_of(const Client& client) const {
        const auto it = names.find(&client);
        if (it == names.end()) {
            throw std::invalid_argument("relink::testing::World: the client was not made by this world");
        }
        return it->second;
    }

    WorldOptions options;
    sim::World sim;
    Network network{Network::up};
    std::deque<std::function<void()>> callbacks;  ///< every client's, in the order their events happened
    std::map<const Client*, std::string> names;   ///< the live clients and their names in the simulation
    std::uint64_t made{0};
};

namespace {

/// One client's host: the world's clock, network and callback queue. It holds the world weakly: a client that
/// outlives its world keeps the last time it saw and loses what it sends.
class Host final : public relink::detail::ClientHost {
public:
    Host(std::weak_ptr<detail::WorldState> state, std::string name)
        : state_(std::move(state)), name_(std::move(name)) {}

    void attach(const Client* client) { client_ = client; }

    [[nodiscard]] core::TimePoint now() const override {
        if (const auto state = state_.lock()) {
            last_ = state->sim.now();
        }
        return last_;
    }

    void perform(core::Action action) override {
        if (const auto state = state_.lock()) {
            state->sim.perform_external(name_, std::move(action));
        }
    }

    void post(std::function<void()> callback) override {
        if (const auto state = state_.lock()) {
            state->callbacks.push_back(std::move(callback));
        }
    }

    void closed() override {
        if (const auto state = state_.lock()) {
            state->sim.remove_external_client(name_);
            state->names.erase(client_);
        }
    }

private:
    std::weak_ptr<detail::WorldState> state_;
    std::string name_;
    const Client* client_{nullptr};
    mutable core::TimePoint last_{};
};

}  // namespace

World::World(WorldOptions options) : state_(std::make_shared<detail::WorldState>(std::move(options))) {}

World::~World() = default;

std::unique_ptr<Client> World::make_client(ClientConfig config) {
    detail::WorldState& state = *state_;
    if (config.url.empty()) {
        config.url = kServerUrl;
    }
    if (config.app_id.empty()) {
        config.app_id = state.options.app_id;
    }
    if (config.token.empty() && !config.token_provider) {
        config.token = valid_token();
    }
    // The name the server sees as the connection's address; unique, so two clients of one user stay apart.
    const std::string name = config.user_id + "#" + std::to_string(++state.made);
    auto host = std::make_shared<Host>(state_, name);
    auto hosted = relink::detail::ClientInternals::make_hosted(std::move(config), host);
    host->attach(hosted.client.get());
    sim::ExternalClient external;
    external.input = [driver = hosted.driver](const std::function<void(core::ClientCore&, core::TimePoint)>& fn) {
        if (const auto client = driver.lock()) {
            client->input(fn);
        }
    };
    external.next_deadline = [driver = hosted.driver]() -> std::optional<core::TimePoint> {
        if (const auto client = driver.lock()) {
            return client->next_deadline();
        }
        return std::nullopt;
    };
    state.sim.add_external_client(name, std::move(external), state.options.latency);
    state.sim.set_link(name, link_mode(state.network));
    state.names[hosted.client.get()] = name;
    return std::move(hosted.client);
}

std::string World::valid_token() {
    return "valid";
}

std::string World::token_valid_for(std::chrono::milliseconds ttl) const {
    return "exp=" + std::to_string((now() + ttl).count());
}

std::string World::expired_token() {
    return "expired";
}

std::string World::invalid_token() {
    return "invalid";
}

std::chrono::milliseconds World::now() const {
    return since_start(state_->sim.now());
}

void World::advance(std::chrono::milliseconds duration) {
    (void)advance_until([] { return false; }, duration);
}

bool World::advance_until(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
    detail::WorldState& state = *state_;
    const core::TimePoint until = state.sim.now() + limit;
    state.run_callbacks();
    if (condition()) {
        return true;
    }
    for (;;) {
        // Step the simulation instant by instant until an instant leaves callbacks (or the condition holds), run
        // them before time moves on, and go on.
        const bool stopped = state.sim.run_until([&] { return !state.callbacks.empty() || condition(); }, until);
        state.run_callbacks();
        if (condition()) {
            return true;
        }
        if (!stopped) {
            return false;  // `until` reached
        }
    }
}

bool World::run_until_idle(std::chrono::milliseconds limit) {
    detail::WorldState& state = *state_;
    return advance_until([&] { return state.sim.network_idle() && state.callbacks.empty(); }, limit);
}

void World::set_network(Network network) {
    detail::WorldState& state = *state_;
    state.network = network;
    for (const auto& [client, name] : state.names) {
        state.sim.set_link(name, link_mode(network));
    }
}

void World::set_network(const Client& client, Network network) {
    state_->sim.set_link(state_->name_of(client), link_mode(network));
}

void World::blackhole() {
    set_network(Network::blackhole);
}

void World::restore() {
    set_network(Network::up);
}

void World::reset() {
    for (const auto& [client, name] : state_->names) {
        state_->sim.reset_connection(name);
    }
}

void World::reset(const Client& client) {
    state_->sim.reset_connection(state_->name_of(client));
}

void World::set_latency(std::chrono::milliseconds one_way) {
    detail::WorldState& state = *state_;
    state.options.latency = one_way;
    for (const auto& [client, name] : state.names) {
        state.sim.set_latency(name, one_way);
    }
}

void World::set_latency(const Client& client, std::chrono::milliseconds one_way) {
    state_->sim.set_latency(state_->name_of(client), one_way);
}

void World::kick(const std::string& user_id, bool ban) {
    state_->sim.server_kick(user_id, ban);
}

void World::drain(std::chrono::milliseconds window) {
    state_->sim.server_drain(window);
    state_->sim.server_restart();  // the replacement: it takes the logins the drained server refuses
}

void World::restart_server() {
    state_->sim.server_restart();
}

void World::refuse_logins(const std::string& user_id, std::error_code error) {
    state_->sim.server().refuse_logins(user_id, error);
}

std::set<std::string> World::members(const std::string& channel) const {
    return state_->sim.server().members(channel);
}

}  // namespace relink::testing
