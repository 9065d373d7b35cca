// The deterministic client / network / server simulation (see world.hpp).
#include "sim/world.hpp"

#include <algorithm>
#include <stdexcept>

namespace relink::sim {
namespace {

// A correct simulation reaches quiescence at each instant; this bound turns a livelock bug into an error.
constexpr std::uint64_t kMaxStepsPerRun = 50'000'000;
constexpr int kMaxStepsAtOneInstant = 100'000;

}  // namespace

double ms_since_start(TimePoint t) {
    return std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
}

World::World(HubServerConfig server_config)
    : server_(std::make_unique<HubServer>(
          std::move(server_config),
          ServerOutput{[this](ConnId conn, proto::ServerMessage m) { server_send(conn, std::move(m)); },
                       [this](ConnId conn) { server_close(conn); }})) {}

core::ClientCore& World::add_client(const std::string& name, core::Config config, Duration one_way_latency) {
    if (clients_.count(name) != 0) {
        throw std::invalid_argument("sim: duplicate client name " + name);
    }
    Client c;
    c.core = std::make_unique<core::ClientCore>(std::move(config));
    c.paths.push_back(Path{one_way_latency, LinkMode::pass});
    auto& stored = clients_[name] = std::move(c);
    return *stored.core;
}

void World::add_external_client(const std::string& name, ExternalClient external, Duration one_way_latency) {
    if (clients_.count(name) != 0) {
        throw std::invalid_argument("sim: duplicate client name " + name);
    }
    Client c;
    c.external = std::move(external);
    c.paths.push_back(Path{one_way_latency, LinkMode::pass});
    clients_[name] = std::move(c);
}

void World::perform_external(const std::string& name, core::Action action) {
    if (recording_) {
        actions_.push_back({now_, name, action});
    }
    perform(name, std::move(action));
}

void World::remove_external_client(const std::string& name) {
    auto& c = clients_.at(name);
    c.external = {};
    for (const auto& [id, t] : c.transports) {
        if (t.conn) {
            const ConnId conn = *t.conn;
            conns_.erase(conn);
            schedule(now_ + c.path_of(t).latency, [this, conn] { server_->on_closed(now_, conn); });
        }
    }
    c.transports.clear();
}

core::ClientCore& World::client(const std::string& name) {
    auto& c = clients_.at(name);
    if (!c.core) {
        throw std::logic_error("sim: " + name + " is an external client");
    }
    return *c.core;
}

void World::drive(const std::string& name, const std::function<void(core::ClientCore&, TimePoint)>& fn) {
    auto& c = clients_.at(name);
    if (c.core) {
        fn(*c.core, now_);
        pump(name);
    } else if (c.external.input) {
        c.external.input(fn);
    }
}

std::optional<TimePoint> World::deadline_of(const Client& c) {
    if (c.core) {
        return c.core->next_deadline();
    }
    if (c.external.next_deadline) {
        return c.external.next_deadline();
    }
    return std::nullopt;
}

void World::set_latency(const std::string& name, Duration one_way_latency) {
    auto& c = clients_.at(name);
    c.paths.at(c.current_path).latency = one_way_latency;
}

std::size_t World::switch_network(const std::string& name, LinkMode mode, Duration one_way_latency) {
    auto& c = clients_.at(name);
    c.paths.push_back(Path{one_way_latency, mode});
    c.current_path = c.paths.size() - 1;
    return c.current_path;
}

void World::set_path_link(const std::string& name, std::size_t path, LinkMode mode) {
    clients_.at(name).paths.at(path).mode = mode;
    if (mode == LinkMode::refuse) {
        reset_path(name, path);
    }
}

std::vector<core::TransportId> World::transports(const std::string& name) const {
    std::vector<core::TransportId> out;
    for (const auto& entry : clients_.at(name).transports) {
        out.push_back(entry.first);
    }
    return out;
}

void World::schedule(TimePoint at, std::function<void()> run) {
    queue_.push(Delivery{at, ++order_, std::move(run)});
}

void World::pump(const std::string& name) {
    auto& c = clients_.at(name);
    if (!c.core) {
        return;  // an external client performs its own actions
    }
    while (auto action = c.core->poll_action()) {
        if (recording_) {
            actions_.push_back({now_, name, *action});
        }
        perform(name, std::move(*action));
    }
    while (auto event = c.core->poll_event()) {
        if (recording_) {
            log_.push_back({now_, name, std::move(*event)});
        }
    }
}

void World::perform(const std::string& name, core::Action action) {
    auto& c = clients_.at(name);
    if (auto* open = std::get_if<core::OpenTransport>(&action)) {
        // A standby connection is opened beside the current one; any other open replaces what the client had (a
        // core opens its next attempt only after letting the previous one go).
        const core::TransportId transport = open->transport;
        if (!open->standby) {
            c.transports.clear();
        }
        c.transports[transport] = Transport{c.current_path, std::nullopt, false};
        const Path& path = c.paths.at(c.current_path);
        if (path.mode != LinkMode::pass && path.mode != LinkMode::refuse) {
            return;  // the handshake's packets vanish: the attempt hangs until the core gives up on it
        }
        schedule(now_ + 2 * path.latency, [this, name, transport] {
            auto& client = clients_.at(name);
            Transport* t = client.find(transport);
            if (t == nullptr) {
                return;
            }
            const LinkMode mode = client.path_of(*t).mode;
            if (mode == LinkMode::refuse) {
                client_transport_closed(name, transport, AttemptFailure::refused, "tcp: connection refused");
                return;
            }
            if (mode != LinkMode::pass) {
                return;
            }
            const ConnId conn = ++last_conn_;
            conns_[conn] = {name, transport};
            t->conn = conn;
            t->established = true;
            server_->on_open(now_, conn, name);
            drive(name, [transport](core::ClientCore& core, TimePoint at) { core.on_transport_open(at, transport); });
        });
        return;
    }
    if (auto* frame = std::get_if<core::SendFrame>(&action)) {
        Transport* t = c.find(frame->transport);
        if (t == nullptr || !t->established || !t->conn || !passes_upstream(c.path_of(*t).mode)) {
            return;  // lost on the way
        }
        const ConnId conn = *t->conn;
        const std::size_t path = t->path;
        schedule(now_ + c.path_of(*t).latency, [this, name, conn, path, message = std::move(frame->message)] {
            if (!passes_upstream(clients_.at(name).paths.at(path).mode) || conns_.count(conn) == 0) {
                return;
            }
            server_->on_frame(now_, conn, message);
        });
        return;
    }
    if (auto* close = std::get_if<core::CloseTransport>(&action)) {
        auto it = c.transports.find(close->transport);
        if (it == c.transports.end()) {
            return;  // already gone
        }
        const Transport t = it->second;
        c.transports.erase(it);
        if (t.conn) {
            // A graceful close: frames sent before it still arrive first (same latency, FIFO); the FIN is lost
            // in a blackhole, and then the server only finds out by silence.
            const ConnId conn = *t.conn;
            if (passes_upstream(c.path_of(t).mode)) {
                schedule(now_ + c.path_of(t).latency, [this, conn] {
                    if (conns_.erase(conn) != 0) {
                        server_->on_closed(now_, conn);
                    }
                });
            } else {
                conns_.erase(conn);
            }
        }
    }
}

void World::client_transport_closed(const std::string& name, core::TransportId transport, AttemptFailure cause,
                                    std::string detail) {
    auto& c = clients_.at(name);
    if (c.transports.erase(transport) == 0) {
        return;
    }
    drive(name, [&](core::ClientCore& core, TimePoint t) {
        core.on_transport_closed(t, transport, std::make_error_code(std::errc::connection_reset), cause,
                                 std::move(detail));
    });
}

void World::server_send(ConnId conn, proto::ServerMessage message) {
    auto route = conns_.find(conn);
    if (route == conns_.end()) {
        return;
    }
    const auto [name, transport] = route->second;
    auto& c = clients_.at(name);
    Transport* t = c.find(transport);
    if (t == nullptr || !passes_downstream(c.path_of(*t).mode)) {
        return;
    }
    schedule(now_ + c.path_of(*t).latency,
             [this, name = name, transport = transport, conn, message = std::move(message)] {
                 auto& client = clients_.at(name);
                 Transport* target = client.find(transport);
                 if (target == nullptr || !passes_downstream(client.path_of(*target).mode) || target->conn != conn) {
                     return;
                 }
                 client.last_received = now_;
                 drive(name, [&](core::ClientCore& core, TimePoint at) { core.on_message(at, transport, message); });
             });
}

void World::server_close(ConnId conn) {
    auto route = conns_.find(conn);
    if (route == conns_.end()) {
        return;
    }
    const auto [name, transport] = route->second;
    conns_.erase(route);
    auto& c = clients_.at(name);
    Transport* t = c.find(transport);
    if (t == nullptr || !passes_downstream(c.path_of(*t).mode)) {
        return;  // the FIN is lost; the client finds out by silence
    }
    schedule(now_ + c.path_of(*t).latency,
             [this, name = name, transport = transport] { client_transport_closed(name, transport); });
}

void World::set_link(const std::string& name, LinkMode mode) {
    auto& c = clients_.at(name);
    set_path_link(name, c.current_path, mode);
}

void World::reset_connection(const std::string& name) {
    reset_where(name, [](const Transport&) { return true; });
}

void World::reset_path(const std::string& name, std::size_t path) {
    reset_where(name, [path](const Transport& t) { return t.path == path; });
}

void World::reset_where(const std::string& name, const std::function<bool(const Transport&)>& which) {
    auto& c = clients_.at(name);
    for (const auto& [transport, t] : c.transports) {
        if (!which(t)) {
            continue;
        }
        const Duration latency = c.path_of(t).latency;
        if (t.conn) {
            const ConnId conn = *t.conn;
            conns_.erase(conn);
            schedule(now_ + latency, [this, conn] { server_->on_closed(now_, conn); });
        }
        schedule(now_ + latency, [this, name, id = transport] { client_transport_closed(name, id); });
    }
}

void World::server_kick(const std::string& user, bool ban) {
    server_->kick(now_, user, ban);
}

void World::server_drain(Duration window) {
    server_->drain(now_, window);
}

void World::server_restart() {
    server_->restart(now_);
}

std::optional<TimePoint> World::next_time() const {
    std::optional<TimePoint> earliest;
    const auto consider = [&](std::optional<TimePoint> t) {
        if (t && (!earliest || *t < *earliest)) {
            earliest = t;
        }
    };
    if (!queue_.empty()) {
        consider(queue_.top().at);
    }
    consider(server_->next_deadline());
    for (const auto& [name, c] : clients_) {
        consider(deadline_of(c));
    }
    if (earliest && *earliest < now_) {
        earliest = now_;  // a deadline already due fires now
    }
    return earliest;
}

void World::step(TimePoint at) {
    now_ = at;
    ++steps_;
    int rounds = 0;
    while (!queue_.empty() && queue_.top().at <= now_) {
        if (++rounds > kMaxStepsAtOneInstant) {
            throw std::runtime_error("sim: livelock at one instant");
        }
        Delivery delivery = queue_.top();
        queue_.pop();
        delivery.run();
    }
    if (auto deadline = server_->next_deadline(); deadline && *deadline <= now_) {
        server_->handle_timeout(now_);
    }
    for (auto& [name, c] : clients_) {
        if (auto deadline = deadline_of(c); deadline && *deadline <= now_) {
            drive(name, [](core::ClientCore& core, TimePoint t) { core.handle_timeout(t); });
        }
    }
}

void World::run_until(TimePoint limit) {
    std::uint64_t steps = 0;
    for (;;) {
        const auto next = next_time();
        if (!next || *next > limit) {
            now_ = std::max(now_, limit);
            return;
        }
        if (++steps > kMaxStepsPerRun) {
            throw std::runtime_error("sim: too many steps (livelock?)");
        }
        step(*next);
    }
}

bool World::run_until(const std::function<bool()>& done, TimePoint limit) {
    std::uint64_t steps = 0;
    while (!done()) {
        const auto next = next_time();
        if (!next || *next > limit) {
            now_ = std::max(now_, limit);
            return done();
        }
        if (++steps > kMaxStepsPerRun) {
            throw std::runtime_error("sim: too many steps (livelock?)");
        }
        step(*next);
    }
    return true;
}

}  // namespace relink::sim
