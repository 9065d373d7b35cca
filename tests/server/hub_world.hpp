// tests/server/hub_world.hpp — relinkd's real hub as the server of a sim::World, so that real client cores talk
// to the real hub on the virtual clock, and helpers for driving a bare Hub by hand.
//
// Tokens follow the simulation's scheme (sim/fake_server.hpp): "valid", "exp=<virtual ms>", "expired", anything
// else invalid; "only=<channel>" is valid and grants that one channel. The only app is "app".
#pragma once

#include <charconv>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/hub.hpp"
#include "sim/world.hpp"

namespace relink::test {

inline server::TokenCheck sim_token_check(TimePoint now, const std::string& app, const std::string& token) {
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

/// The hub behind the World's network: a minimal driver, like relinkd's, on the virtual clock.
class HubServer final : public sim::SimServer {
public:
    HubServer(server::HubConfig config, sim::ServerOutput output)
        : config_(std::move(config)), output_(std::move(output)) {
        make_hub();
    }

    void on_open(TimePoint now, sim::ConnId conn, const std::string& address) override {
        now_ = now;
        open_.insert(conn);
        hub_->on_open(now, conn, address);
        flush();
    }
    void on_frame(TimePoint now, sim::ConnId conn, const proto::ClientMessage& message) override {
        now_ = now;
        hub_->on_frame(now, conn, message);
        flush();
    }
    void on_closed(TimePoint now, sim::ConnId conn) override {
        now_ = now;
        open_.erase(conn);
        hub_->on_closed(now, conn);
        flush();
    }
    void handle_timeout(TimePoint now) override {
        now_ = now;
        hub_->handle_timeout(now);
        flush();
    }
    [[nodiscard]] std::optional<TimePoint> next_deadline() const override { return hub_->next_deadline(); }
    void kick(TimePoint now, const std::string& user, bool ban) override {
        now_ = now;
        (void)hub_->kick(now, "app", user, ban);
        flush();
    }
    void drain(TimePoint now, Duration window) override {
        now_ = now;
        hub_->drain(now, window);
        flush();
    }
    void restart(TimePoint now) override {
        now_ = now;
        for (const auto conn : std::set<sim::ConnId>(open_)) {
            output_.close(conn);  // a crash: no goodbye
        }
        open_.clear();
        ++config_.epoch;  // like relinkd, which picks a new random epoch at every start
        make_hub();
    }
    [[nodiscard]] std::set<std::string> members(const std::string& channel) const override {
        for (const auto& info : hub_->channels()) {
            if (info.app_id == "app" && info.channel == channel) {
                return {info.members.begin(), info.members.end()};
            }
        }
        return {};
    }

    [[nodiscard]] server::Hub& hub() { return *hub_; }

private:
    void make_hub() {
        hub_ = std::make_unique<server::Hub>(
            config_, [this](const std::string& app, const std::string&, const std::string& token) {
                return sim_token_check(now_, app, token);
            });
    }

    /// Performs the hub's actions; a connection the hub closes is reported closed to it, as a driver would.
    void flush() {
        std::vector<sim::ConnId> closed;
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

    server::HubConfig config_;
    sim::ServerOutput output_;
    std::unique_ptr<server::Hub> hub_;
    std::set<sim::ConnId> open_;
    TimePoint now_{};
};

/// A World whose server is the real hub with `config`; `hub_out` (if given) receives the adapter.
inline std::unique_ptr<sim::World> hub_world(server::HubConfig config = {}, HubServer** hub_out = nullptr) {
    return std::make_unique<sim::World>([&](sim::ServerOutput output) {
        auto server = std::make_unique<HubServer>(config, std::move(output));
        if (hub_out != nullptr) {
            *hub_out = server.get();
        }
        return server;
    });
}

}  // namespace relink::test
