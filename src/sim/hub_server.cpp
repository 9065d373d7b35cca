// The World's server: relinkd's hub on the virtual clock (see hub_server.hpp).
#include "sim/hub_server.hpp"

#include <charconv>
#include <utility>
#include <variant>
#include <vector>

namespace relink::sim {

server::TokenCheck sim_token_check(TimePoint now, const std::string& app, const std::string& token) {
    server::TokenCheck check;
    if (app != "app") {
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
    make_hub();
}

void HubServer::make_hub() {
    hub_ = std::make_unique<server::Hub>(
        config_.hub, [this](const std::string& app, const std::string& user, const std::string& token) {
            server::TokenCheck check = sim_token_check(now_, app, token);
            if (!check.error && config_.refused_users.count(user) != 0) {
                check.error = make_error_code(errc::login_failure);
            } else if (!check.error && config_.rejected_users.count(user) != 0) {
                check.error = make_error_code(errc::rejected_by_server);
            }
            return check;
        });
}

void HubServer::on_open(TimePoint now, ConnId conn, const std::string& address) {
    now_ = now;
    open_.insert(conn);
    hub_->on_open(now, conn, address);
    flush();
}

void HubServer::on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message) {
    now_ = now;
    hub_->on_frame(now, conn, message);
    flush();
}

void HubServer::on_closed(TimePoint now, ConnId conn) {
    now_ = now;
    open_.erase(conn);
    hub_->on_closed(now, conn);
    flush();
}

void HubServer::handle_timeout(TimePoint now) {
    now_ = now;
    hub_->handle_timeout(now);
    flush();
}

void HubServer::kick(TimePoint now, const std::string& user, bool ban) {
    now_ = now;
    (void)hub_->kick(now, "app", user, ban);  // kicking a user without a session only records a ban
    flush();
}

void HubServer::drain(TimePoint now, Duration window) {
    now_ = now;
    hub_->drain(now, window);
    flush();
}

void HubServer::restart(TimePoint now) {
    now_ = now;
    for (const auto conn : std::set<ConnId>(open_)) {
        output_.close(conn);  // a crash: no goodbye
    }
    open_.clear();
    ++config_.hub.epoch;  // like relinkd, which picks a new random epoch at every start
    make_hub();
}

std::set<std::string> HubServer::members(const std::string& channel) const {
    for (const auto& info : hub_->channels()) {
        if (info.app_id == "app" && info.channel == channel) {
            return {info.members.begin(), info.members.end()};
        }
    }
    return {};
}

void HubServer::flush() {
    std::vector<ConnId> closed;
    while (auto action = hub_->poll_action()) {
        if (auto* send = std::get_if<server::SendMessage>(&*action)) {
            output_.send(send->conn, std::move(send->message));
        } else {
            const auto conn = std::get<server::CloseConnection>(*action).conn;
            output_.close(conn);
            closed.push_back(conn);
        }
    }
    for (const auto conn : closed) {
        open_.erase(conn);
        hub_->on_closed(now_, conn);
    }
}

}  // namespace relink::sim
