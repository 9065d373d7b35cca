// The World's server: relinkd's hub on the virtual clock (see hub_server.hpp).
#include "sim/hub_server.hpp"

#include <charconv>
#include <utility>
#include <variant>
#include <vector>

namespace relink::sim {

server::TokenCheck sim_token_check(TimePoint now, const std::string& app, const std::string& token,
                                   const std::string& known_app) {
    server::TokenCheck check;
    if (app != known_app) {
        check.error = make_error_code(errc::invalid_app_id);
    } else if (token == "valid") {
    } else if (token == "expired") {
        check.error = make_error_code(errc::token_expired);
    } else if (token.rfind("only=", 0) == 0) {
        check.channels = {token.substr(5)};
    } else if (token.rfind("exp=", 0) == 0) {
        long long ms = 0;
        const auto [end, ec] = std::from_chars(token.data() + 4, token.data() + token.size(), ms);
        const TimePoint expiry = TimePoint{} + std::chrono::milliseconds(ms);
        if (ec != std::errc() || end != token.data() + token.size()) {
            check.error = make_error_code(errc::invalid_token);
        } else if (expiry <= now) {
            check.error = make_error_code(errc::token_expired);
        } else {
            check.ttl = expiry - now;
        }
    } else {
        check.error = make_error_code(errc::invalid_token);
    }
    return check;
}

HubServer::HubServer(HubServerConfig config, ServerOutput output)
    : config_(std::move(config)), output_(std::move(output)) {
    make_nodes();
}

void HubServer::make_nodes() {
    store_ = std::make_shared<cluster::MemoryStore>(server::store_config(config_.hub));
    nodes_.clear();
    dead_.clear();
    for (std::size_t i = 0; i < std::max<std::size_t>(1, config_.nodes); ++i) {
        server::HubConfig node = config_.hub;
        if (config_.nodes > 1) {
            node.node_id = "n" + std::to_string(i + 1);
        }
        nodes_.push_back(std::make_unique<server::Hub>(
            node,
            [this](const std::string& app, const std::string& user, const std::string& token) {
                server::TokenCheck check = sim_token_check(now_, app, token, config_.app_id);
                if (const auto refusal = config_.login_errors.find(user);
                    !check.error && refusal != config_.login_errors.end()) {
                    check.error = refusal->second;
                } else if (!check.error && config_.refused_users.count(user) != 0) {
                    check.error = make_error_code(errc::login_failure);
                } else if (!check.error && config_.rejected_users.count(user) != 0) {
                    check.error = make_error_code(errc::rejected_by_server);
                }
                return check;
            },
            store_));
    }
}

std::size_t HubServer::first_live() const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (live(i)) {
            return i;
        }
    }
    return 0;
}

void HubServer::on_open(TimePoint now, ConnId conn, const std::string& address) {
    now_ = now;
    const auto route = routes_.find(address);
    const std::size_t node = route == routes_.end() ? 0 : route->second;
    if (!live(node)) {
        output_.close(conn);  // nothing listens there any more: refused
        return;
    }
    open_[conn] = {node, address};
    nodes_[node]->on_open(now, conn, address);
    flush();
}

void HubServer::on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message) {
    now_ = now;
    if (auto it = open_.find(conn); it != open_.end()) {
        nodes_[it->second.first]->on_frame(now, conn, message);
    }
    flush();
}

void HubServer::on_closed(TimePoint now, ConnId conn) {
    now_ = now;
    if (auto it = open_.find(conn); it != open_.end()) {
        const std::size_t node = it->second.first;
        open_.erase(it);
        nodes_[node]->on_closed(now, conn);
    }
    flush();
}

void HubServer::handle_timeout(TimePoint now) {
    now_ = now;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (live(i)) {
            nodes_[i]->handle_timeout(now);
        }
    }
    flush();
}

std::optional<TimePoint> HubServer::next_deadline() const {
    std::optional<TimePoint> earliest;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (const auto at = live(i) ? nodes_[i]->next_deadline() : std::nullopt; at && (!earliest || *at < *earliest)) {
            earliest = at;
        }
    }
    return earliest;
}

void HubServer::refuse_logins(const std::string& user, std::error_code error) {
    if (error) {
        config_.login_errors[user] = error;
    } else {
        config_.login_errors.erase(user);
    }
}

void HubServer::kick(TimePoint now, const std::string& user, bool ban) {
    (void)admin_kick(now, first_live(), user, ban);  // kicking a user without a session only records a ban
}

std::error_code HubServer::admin_kick(TimePoint now, std::size_t node, const std::string& user, bool ban) {
    now_ = now;
    const std::error_code error = nodes_.at(node)->kick(now, config_.app_id, user, ban);
    flush();
    return error;
}

void HubServer::drain(TimePoint now, Duration window) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (live(i)) {
            drain_node(now, i, window);
        }
    }
}

void HubServer::drain_node(TimePoint now, std::size_t node, Duration window) {
    now_ = now;
    nodes_.at(node)->drain(now, window);
    flush();
}

void HubServer::kill(TimePoint now, std::size_t node) {
    now_ = now;
    dead_.insert(node);
    for (auto it = open_.begin(); it != open_.end();) {
        if (it->second.first == node) {
            output_.close(it->first);  // reset by the kernel of the dead process: no goodbye
            it = open_.erase(it);
        } else {
            ++it;
        }
    }
    flush();
}

void HubServer::restart(TimePoint now) {
    now_ = now;
    for (const auto& [conn, where] : std::map(open_)) {
        output_.close(conn);  // a crash: no goodbye
    }
    open_.clear();
    ++config_.hub.epoch;  // like relinkd, which picks a new random epoch at every start
    make_nodes();
}

void HubServer::route(const std::string& client, std::size_t node) {
    routes_[client] = node;
}

std::optional<std::size_t> HubServer::node_of(const std::string& client) const {
    for (const auto& [conn, where] : open_) {
        if (where.second == client) {
            return where.first;
        }
    }
    return std::nullopt;
}

std::set<std::string> HubServer::members(const std::string& channel) const {
    for (const auto& info : store_->channels()) {
        if (info.app == config_.app_id && info.channel == channel) {
            return {info.members.begin(), info.members.end()};
        }
    }
    return {};
}

void HubServer::flush() {
    // Until every live node is quiet: one node's doings may leave events in the store for the others.
    for (int round = 0; round < 10'000; ++round) {
        bool acted = false;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (!live(i)) {
                continue;
            }
            nodes_[i]->on_store_events(now_);
            std::vector<ConnId> closed;
            while (auto action = nodes_[i]->poll_action()) {
                acted = true;
                server::for_each_conn(
                    *action, [&](ConnId conn, const proto::ServerMessage& message) { output_.send(conn, message); },
                    [&](ConnId conn) {
                        output_.close(conn);
                        closed.push_back(conn);
                    });
            }
            for (const auto conn : closed) {
                if (open_.erase(conn) != 0) {
                    nodes_[i]->on_closed(now_, conn);
                }
            }
        }
        if (!acted) {
            return;
        }
    }
}

}  // namespace relink::sim
