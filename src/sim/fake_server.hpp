// sim/fake_server.hpp — a scripted, sans-IO stand-in for relinkd used by the core's tests, the virtual-clock
// demo and the core benchmark. It implements the server's half of behaviour.md (presence with the profile's
// timeout, silent resume, channel membership, member / stream events, history backfill, peer queues,
// de-duplication, duplicate-login kicks, admin kick and drain, token expiry) just far enough to drive every
// client timeline exactly. It is not the reference server (that is the hub of issue 3).
//
// Tokens in the simulation are plain strings: "valid" (no expiry), "exp=<ms>" (expires when the virtual clock
// reaches that many milliseconds), "expired", and anything else is invalid. The only app id is "app".
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/client_core.hpp"
#include "protocol/messages.hpp"

namespace relink::sim {

using core::TimePoint;
using ConnId = std::uint64_t;

struct FakeServerConfig {
    std::string app_id{"app"};
    /// Server-side timings per profile (presence, backfill); default: timings_for(profile).
    std::map<Profile, Timings> timings{{Profile::rtm, timings_for(Profile::rtm)},
                                       {Profile::rtc, timings_for(Profile::rtc)},
                                       {Profile::rtc_web, timings_for(Profile::rtc_web)},
                                       {Profile::room, timings_for(Profile::room)}};
    std::size_t peer_queue_limit{64};      ///< per user; older messages are dropped and counted
    Duration keep_alive_close_after{};     ///< close a connection silent this long (KEEP_ALIVE_TIMEOUT); 0 = never
    std::set<std::string> refused_users;   ///< logins of these users are refused (LOGIN_FAILURE)
    std::set<std::string> rejected_users;  ///< logins of these users are rejected (REJECTED_BY_SERVER)
};

/// What the server does to the outside world; the World routes these over the simulated network.
struct ServerOutput {
    std::function<void(ConnId, proto::ServerMessage)> send;
    std::function<void(ConnId)> close;
};

/// The server side of a World: the FakeServer below, or (in the server's tests) relinkd's real hub.
class SimServer {
public:
    virtual ~SimServer() = default;
    /// A connection (transport) was established from `address`.
    virtual void on_open(TimePoint /*now*/, ConnId /*conn*/, const std::string& /*address*/) {}
    virtual void on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message) = 0;
    virtual void on_closed(TimePoint now, ConnId conn) = 0;
    virtual void handle_timeout(TimePoint now) = 0;
    [[nodiscard]] virtual std::optional<TimePoint> next_deadline() const = 0;
    virtual void kick(TimePoint now, const std::string& user, bool ban) = 0;
    virtual void drain(TimePoint now, Duration window) = 0;
    /// Forgets all history and sessions, as a restarted server would (new epoch).
    virtual void restart(TimePoint now) = 0;
    [[nodiscard]] virtual std::set<std::string> members(const std::string& channel) const = 0;
};

class FakeServer final : public SimServer {
public:
    FakeServer(FakeServerConfig config, ServerOutput output);

    // network inputs
    void on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message) override;
    void on_closed(TimePoint now, ConnId conn) override;
    void handle_timeout(TimePoint now) override;
    [[nodiscard]] std::optional<TimePoint> next_deadline() const override;

    // admin
    void kick(TimePoint now, const std::string& user, bool ban) override;
    void drain(TimePoint now, Duration window) override;
    void restart(TimePoint now) override;

    // observers
    [[nodiscard]] bool is_present(const std::string& user) const;
    [[nodiscard]] std::set<std::string> members(const std::string& channel) const override;
    [[nodiscard]] std::size_t logins() const noexcept { return logins_; }
    [[nodiscard]] std::size_t deliveries_deduplicated() const noexcept { return deduplicated_; }

private:
    struct StoredMessage {
        TimePoint at;
        proto::Message message;
    };
    struct Session {
        Profile profile{Profile::rtm};
        std::optional<ConnId> conn;
        TimePoint last_rx{};
        bool present{true};
        std::string resume_token;
        std::map<std::string, std::set<std::string>> channels;  ///< channel → own streams
        proto::Attributes attributes;
        std::deque<proto::Message> peer_log;  ///< recent peer messages, for resume
        std::uint64_t peer_seq{0};
        std::uint64_t peer_dropped{0};
        std::optional<TimePoint> token_expiry;
    };
    struct ChannelData {
        std::set<std::string> members;
        std::deque<StoredMessage> history;
        std::uint64_t seq{0};
    };

    [[nodiscard]] const Timings& timings(Profile profile) const { return config_.timings.at(profile); }
    [[nodiscard]] static std::error_code check_token(TimePoint now, const std::string& token,
                                                     std::optional<Duration>& ttl);
    void handle_login(TimePoint now, ConnId conn, const proto::Login& login);
    void join_channel(TimePoint now, const std::string& user, Session& session, const std::string& channel,
                      const std::vector<std::string>& streams);
    void leave_channel(const std::string& user, Session& session, const std::string& channel, MemberLeftCause cause);
    void drop_presence(const std::string& user, Session& session, MemberLeftCause cause);
    void broadcast(const std::string& channel, const std::string& except, const proto::ServerMessage& message);
    [[nodiscard]] proto::ChannelSnapshot snapshot(const std::string& channel, const std::string& self) const;
    void deliver_peer(TimePoint now, const std::string& from, const std::string& to, const proto::SendMessage& m);
    void send(ConnId conn, proto::ServerMessage message) { output_.send(conn, std::move(message)); }
    Session* session_of(ConnId conn);

    FakeServerConfig config_;
    ServerOutput output_;
    std::uint64_t epoch_{1};
    std::map<std::string, Session> sessions_;  ///< by user id (one app)
    std::map<ConnId, std::string> conn_users_;
    std::map<ConnId, TimePoint> conn_last_rx_;
    std::map<std::string, ChannelData> channels_;
    std::map<std::string, std::deque<proto::Message>> offline_store_;  ///< R-RTM-7 stored peer messages
    std::set<std::pair<std::string, std::string>> seen_message_ids_;   ///< (sender, client message id)
    std::uint64_t resume_counter_{0};
    std::size_t logins_{0};
    std::size_t deduplicated_{0};
};

}  // namespace relink::sim
