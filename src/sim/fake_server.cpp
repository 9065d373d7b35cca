// The simulation's stand-in server (see fake_server.hpp).
#include "sim/fake_server.hpp"

#include <algorithm>
#include <charconv>

#include "common/overloaded.hpp"

namespace relink::sim {
namespace {

using detail::Overloaded;

std::error_code err(errc code) {
    return make_error_code(code);
}

}  // namespace

FakeServer::FakeServer(FakeServerConfig config, ServerOutput output)
    : config_(std::move(config)), output_(std::move(output)) {}

std::error_code FakeServer::check_token(TimePoint now, const std::string& token, std::optional<Duration>& ttl) {
    ttl.reset();
    if (token == "valid") {
        return {};
    }
    if (token == "expired") {
        return err(errc::token_expired);
    }
    constexpr std::string_view kExpiry = "exp=";
    if (token.rfind(kExpiry, 0) == 0) {
        long long ms = 0;
        const char* first = token.data() + kExpiry.size();
        const char* last = token.data() + token.size();
        auto [end, ec] = std::from_chars(first, last, ms);
        if (ec == std::errc() && end == last) {
            const TimePoint expiry = TimePoint{} + std::chrono::milliseconds(ms);
            if (expiry <= now) {
                return err(errc::token_expired);
            }
            ttl = expiry - now;
            return {};
        }
    }
    return err(errc::invalid_token);
}

FakeServer::Session* FakeServer::session_of(ConnId conn) {
    auto user = conn_users_.find(conn);
    if (user == conn_users_.end()) {
        return nullptr;
    }
    auto session = sessions_.find(user->second);
    return session != sessions_.end() && session->second.conn == conn ? &session->second : nullptr;
}

void FakeServer::on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message) {
    conn_last_rx_[conn] = now;
    if (const auto* login = std::get_if<proto::Login>(&message)) {
        handle_login(now, conn, *login);
        return;
    }
    Session* session = session_of(conn);
    if (session == nullptr) {
        std::visit(Overloaded{[](const proto::Ping&) {},
                              [&](const auto& m) {
                                  send(conn, proto::Reply{m.request_id, err(errc::not_logged_in)});
                              }},
                   message);
        return;
    }
    session->last_rx = now;
    const std::string user = conn_users_.at(conn);
    std::visit(Overloaded{
                   [&](const proto::Login&) {},
                   [&](const proto::Logout& m) {
                       send(conn, proto::Reply{m.request_id, {}});
                       drop_presence(user, *session, MemberLeftCause::quit);
                       sessions_.erase(user);
                   },
                   [&](const proto::Join& m) {
                       if (session->channels.count(m.channel) != 0) {
                           send(conn, proto::Reply{m.request_id, err(errc::rejected_by_server)});
                           return;
                       }
                       join_channel(now, user, *session, m.channel, {});
                       send(conn, proto::JoinOk{m.request_id, snapshot(m.channel, user)});
                   },
                   [&](const proto::Leave& m) {
                       if (session->channels.count(m.channel) == 0) {
                           send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                           return;
                       }
                       leave_channel(user, *session, m.channel, MemberLeftCause::quit);
                       send(conn, proto::Reply{m.request_id, {}});
                   },
                   [&](const proto::Publish& m) {
                       auto channel = session->channels.find(m.channel);
                       if (channel == session->channels.end()) {
                           send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                           return;
                       }
                       const bool changed =
                           m.unpublish ? channel->second.erase(m.stream) != 0 : channel->second.insert(m.stream).second;
                       if (changed) {
                           broadcast(m.channel, user, proto::StreamChanged{m.channel, user, m.stream, !m.unpublish});
                       }
                       send(conn, proto::Reply{m.request_id, {}});
                   },
                   [&](const proto::SendMessage& m) {
                       if (!seen_message_ids_.emplace(user, m.message_id).second) {
                           ++deduplicated_;  // a re-send after a reconnect: acknowledge, deliver nothing again
                           send(conn, proto::Reply{m.request_id, {}});
                           return;
                       }
                       if (m.to_channel) {
                           if (session->channels.count(*m.to_channel) == 0) {
                               send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                               return;
                           }
                           ChannelData& data = channels_[*m.to_channel];
                           proto::Message out{user, m.to_channel, m.message_id, m.payload, {epoch_, ++data.seq}, false};
                           data.history.push_back({now, out});
                           while (data.history.size() > 256) {
                               data.history.pop_front();
                           }
                           broadcast(*m.to_channel, user, out);
                           send(conn, proto::Reply{m.request_id, {}});
                           return;
                       }
                       const std::string to = m.to_user.value_or("");
                       auto target = sessions_.find(to);
                       if (target != sessions_.end() && target->second.present) {
                           deliver_peer(now, user, to, m);
                       } else if (m.store_offline) {
                           offline_store_[to].push_back(
                               proto::Message{user, std::nullopt, m.message_id, m.payload, {}, false});
                       } else {
                           send(conn, proto::Reply{m.request_id, err(errc::peer_offline)});
                           return;
                       }
                       send(conn, proto::Reply{m.request_id, {}});
                   },
                   [&](const proto::SetAttributes& m) {
                       session->attributes = m.attributes;
                       send(conn, proto::Reply{m.request_id, {}});
                   },
                   [&](const proto::GetAttributes& m) {
                       auto target = sessions_.find(m.user_id);
                       if (target == sessions_.end() || !target->second.present) {
                           send(conn, proto::Reply{m.request_id, err(errc::peer_offline)});
                           return;
                       }
                       send(conn, proto::AttributesReply{m.request_id, m.user_id, target->second.attributes});
                   },
                   [&](const proto::RenewToken& m) {
                       std::optional<Duration> ttl;
                       if (auto e = check_token(now, m.token, ttl)) {
                           send(conn, proto::Reply{m.request_id, e});
                           return;
                       }
                       session->token_expiry = ttl ? std::optional<TimePoint>(now + *ttl) : std::nullopt;
                       send(conn, proto::RenewOk{m.request_id, ttl.value_or(Duration::zero())});
                   },
                   [&](const proto::Ping&) { send(conn, proto::Pong{}); },
               },
               message);
}

void FakeServer::handle_login(TimePoint now, ConnId conn, const proto::Login& login) {
    if (login.app_id != config_.app_id) {
        send(conn, proto::Reply{login.request_id, err(errc::invalid_app_id)});
        return;
    }
    std::optional<Duration> ttl;
    if (auto e = check_token(now, login.token, ttl)) {
        send(conn, proto::Reply{login.request_id, e});
        return;
    }
    if (config_.refused_users.count(login.user_id) != 0) {
        send(conn, proto::Reply{login.request_id, err(errc::login_failure)});
        return;
    }
    if (config_.rejected_users.count(login.user_id) != 0) {
        send(conn, proto::Reply{login.request_id, err(errc::rejected_by_server)});
        return;
    }
    for (const auto& channel : login.channels) {
        if (!is_valid_channel_name(channel.channel)) {
            send(conn, proto::Reply{login.request_id, err(errc::invalid_channel_name)});
            return;
        }
    }
    ++logins_;
    const std::string& user = login.user_id;
    bool resumed = false;
    auto existing = sessions_.find(user);
    if (existing != sessions_.end()) {
        Session& old = existing->second;
        if (old.present && login.resume_token && *login.resume_token == old.resume_token) {
            resumed = true;  // same instance, within presence: silent for peers
            if (old.conn && *old.conn != conn) {
                conn_users_.erase(*old.conn);
                output_.close(*old.conn);
            }
        } else if (old.present) {
            // Another instance (or a stale resume): one session per user, the newcomer wins (REMOTE_LOGIN).
            if (old.conn) {
                send(*old.conn, proto::Close{proto::CloseReason::remote_login, {}});
            }
            drop_presence(user, old, MemberLeftCause::kicked);
        }
    }
    Session& session = sessions_[user];
    const Timings& t = timings(login.profile);
    session.profile = login.profile;
    session.conn = conn;
    conn_users_[conn] = user;
    session.last_rx = now;
    session.present = true;
    session.resume_token = "resume-" + user + "-" + std::to_string(++resume_counter_);
    session.token_expiry = ttl ? std::optional<TimePoint>(now + *ttl) : std::nullopt;
    session.attributes = login.attributes;

    // Make the session's channels and streams what the client says they are.
    std::set<std::string> wanted;
    for (const auto& channel : login.channels) {
        wanted.insert(channel.channel);
    }
    std::vector<std::string> stale;
    for (const auto& [name, streams] : session.channels) {
        if (wanted.count(name) == 0) {
            stale.push_back(name);
        }
    }
    for (const auto& name : stale) {
        leave_channel(user, session, name, MemberLeftCause::quit);
    }
    for (const auto& channel : login.channels) {
        auto joined = session.channels.find(channel.channel);
        if (joined == session.channels.end()) {
            join_channel(now, user, session, channel.channel, channel.streams);
            continue;
        }
        const std::set<std::string> want(channel.streams.begin(), channel.streams.end());
        for (const auto& stream : std::set<std::string>(joined->second)) {
            if (want.count(stream) == 0) {
                joined->second.erase(stream);
                broadcast(channel.channel, user, proto::StreamChanged{channel.channel, user, stream, false});
            }
        }
        for (const auto& stream : want) {
            if (joined->second.insert(stream).second) {
                broadcast(channel.channel, user, proto::StreamChanged{channel.channel, user, stream, true});
            }
        }
    }

    // Backfill: peer messages after the last one seen; channel messages of the window, newest `count`.
    std::vector<proto::Message> backfill;
    std::uint64_t dropped = 0;
    if (login.last_peer_seen && login.last_peer_seen->epoch == epoch_) {
        const std::uint64_t last = login.last_peer_seen->seq;
        if (!session.peer_log.empty() && session.peer_log.front().position.seq > last + 1) {
            dropped += session.peer_log.front().position.seq - last - 1;
        }
        for (const auto& m : session.peer_log) {
            if (m.position.seq > last) {
                backfill.push_back(m);
            }
        }
    }
    if (auto stored = offline_store_.find(user); stored != offline_store_.end()) {
        for (auto m : stored->second) {
            m.position = {epoch_, ++session.peer_seq};
            session.peer_log.push_back(m);
            backfill.push_back(m);
        }
        offline_store_.erase(stored);
    }
    if (t.backfill_count > 0) {
        for (const auto& channel : login.channels) {
            if (!channel.last_seen) {
                continue;
            }
            const auto& history = channels_[channel.channel].history;
            std::vector<proto::Message> missed;
            for (const auto& stored : history) {
                const bool newer =
                    channel.last_seen->epoch != epoch_ || stored.message.position.seq > channel.last_seen->seq;
                if (newer && stored.message.from != user) {
                    missed.push_back(stored.message);
                }
            }
            std::vector<proto::Message> kept;
            for (const auto& stored : history) {
                const bool newer =
                    channel.last_seen->epoch != epoch_ || stored.message.position.seq > channel.last_seen->seq;
                if (newer && stored.message.from != user && stored.at + t.backfill_window >= now) {
                    kept.push_back(stored.message);
                }
            }
            if (kept.size() > t.backfill_count) {
                kept.erase(kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(t.backfill_count));
            }
            dropped += missed.size() - kept.size();
            backfill.insert(backfill.end(), kept.begin(), kept.end());
        }
    }

    proto::LoginOk ok;
    ok.request_id = login.request_id;
    ok.resume_token = session.resume_token;
    ok.resumed = resumed;
    ok.negotiated = {t.heartbeat_interval, t.presence_timeout, t.backfill_window, t.backfill_count};
    ok.token_ttl = ttl.value_or(Duration::zero());
    for (const auto& channel : login.channels) {
        ok.channels.push_back(snapshot(channel.channel, user));
    }
    ok.backfilled = backfill.size();
    ok.dropped = dropped;
    const auto peer_backfill = static_cast<std::uint64_t>(
        std::count_if(backfill.begin(), backfill.end(), [](const proto::Message& m) { return !m.channel; }));
    ok.peer_position = {epoch_, session.peer_seq - peer_backfill};
    send(conn, ok);
    for (auto& m : backfill) {
        m.backfilled = true;
        send(conn, m);
    }
}

void FakeServer::join_channel(TimePoint /*now*/, const std::string& user, Session& session, const std::string& channel,
                              const std::vector<std::string>& streams) {
    channels_[channel].members.insert(user);
    auto& own = session.channels[channel];
    own.insert(streams.begin(), streams.end());
    broadcast(channel, user, proto::MemberJoined{channel, user});
    for (const auto& stream : own) {
        broadcast(channel, user, proto::StreamChanged{channel, user, stream, true});
    }
}

void FakeServer::leave_channel(const std::string& user, Session& session, const std::string& channel,
                               MemberLeftCause cause) {
    auto own = session.channels.find(channel);
    if (own == session.channels.end()) {
        return;
    }
    for (const auto& stream : own->second) {
        broadcast(channel, user, proto::StreamChanged{channel, user, stream, false});
    }
    broadcast(channel, user, proto::MemberLeft{channel, user, cause});
    channels_[channel].members.erase(user);
    session.channels.erase(own);
}

void FakeServer::drop_presence(const std::string& user, Session& session, MemberLeftCause cause) {
    std::vector<std::string> names;
    for (const auto& [name, streams] : session.channels) {
        names.push_back(name);
    }
    for (const auto& name : names) {
        leave_channel(user, session, name, cause);
    }
    session.present = false;
    session.attributes.clear();
    if (session.conn) {
        conn_users_.erase(*session.conn);
        output_.close(*session.conn);
        session.conn.reset();
    }
}

void FakeServer::broadcast(const std::string& channel, const std::string& except, const proto::ServerMessage& message) {
    auto data = channels_.find(channel);
    if (data == channels_.end()) {
        return;
    }
    for (const auto& member : data->second.members) {
        if (member == except) {
            continue;
        }
        auto session = sessions_.find(member);
        if (session != sessions_.end() && session->second.present && session->second.conn) {
            send(*session->second.conn, message);
        }
    }
}

proto::ChannelSnapshot FakeServer::snapshot(const std::string& channel, const std::string& self) const {
    proto::ChannelSnapshot out;
    out.channel = channel;
    auto data = channels_.find(channel);
    if (data == channels_.end()) {
        out.position = {epoch_, 0};
        return out;
    }
    out.position = {epoch_, data->second.seq};
    for (const auto& member : data->second.members) {
        if (member == self) {
            continue;
        }
        proto::Member m{member, {}};
        auto session = sessions_.find(member);
        if (session != sessions_.end()) {
            auto streams = session->second.channels.find(channel);
            if (streams != session->second.channels.end()) {
                m.streams.assign(streams->second.begin(), streams->second.end());
            }
        }
        out.members.push_back(std::move(m));
    }
    return out;
}

void FakeServer::deliver_peer(TimePoint /*now*/, const std::string& from, const std::string& to,
                              const proto::SendMessage& m) {
    Session& target = sessions_.at(to);
    proto::Message out{from, std::nullopt, m.message_id, m.payload, {epoch_, ++target.peer_seq}, false};
    target.peer_log.push_back(out);
    while (target.peer_log.size() > config_.peer_queue_limit) {
        target.peer_log.pop_front();  // the gap is reported as dropped at the next resume
    }
    if (target.conn) {
        send(*target.conn, out);
    }
}

void FakeServer::on_closed(TimePoint /*now*/, ConnId conn) {
    conn_last_rx_.erase(conn);
    auto user = conn_users_.find(conn);
    if (user == conn_users_.end()) {
        return;
    }
    auto session = sessions_.find(user->second);
    if (session != sessions_.end() && session->second.conn == conn) {
        session->second.conn.reset();  // presence continues until its timeout: a resume stays silent
    }
    conn_users_.erase(user);
}

std::optional<TimePoint> FakeServer::next_deadline() const {
    std::optional<TimePoint> earliest;
    const auto consider = [&](TimePoint t) {
        if (!earliest || t < *earliest) {
            earliest = t;
        }
    };
    for (const auto& [user, session] : sessions_) {
        if (!session.present) {
            continue;
        }
        consider(session.last_rx + timings(session.profile).presence_timeout);
        if (session.token_expiry && session.profile != Profile::rtm && session.conn) {
            consider(*session.token_expiry);
        }
    }
    if (config_.keep_alive_close_after > Duration::zero()) {
        for (const auto& [conn, last] : conn_last_rx_) {
            if (conn_users_.count(conn) != 0) {
                consider(last + config_.keep_alive_close_after);
            }
        }
    }
    return earliest;
}

void FakeServer::handle_timeout(TimePoint now) {
    for (auto& [user, session] : sessions_) {
        if (!session.present) {
            continue;
        }
        if (now >= session.last_rx + timings(session.profile).presence_timeout) {
            drop_presence(user, session, MemberLeftCause::dropped);
            continue;
        }
        // rtc-family and room sessions end when their token expires; rtm sessions do not (R-RTM-9).
        if (session.token_expiry && session.profile != Profile::rtm && session.conn && now >= *session.token_expiry) {
            send(*session.conn, proto::Close{proto::CloseReason::token_expired, {}});
            drop_presence(user, session, MemberLeftCause::quit);
        }
    }
    if (config_.keep_alive_close_after > Duration::zero()) {
        std::vector<ConnId> silent;
        for (const auto& [conn, last] : conn_last_rx_) {
            if (conn_users_.count(conn) != 0 && now >= last + config_.keep_alive_close_after) {
                silent.push_back(conn);
            }
        }
        for (const ConnId conn : silent) {
            send(conn, proto::Close{proto::CloseReason::keep_alive_timeout, {}});
            if (Session* session = session_of(conn)) {
                session->conn.reset();
            }
            conn_users_.erase(conn);
            conn_last_rx_.erase(conn);
            output_.close(conn);
        }
    }
}

void FakeServer::kick(TimePoint /*now*/, const std::string& user, bool ban) {
    auto session = sessions_.find(user);
    if (session == sessions_.end()) {
        return;
    }
    if (session->second.conn) {
        send(*session->second.conn, proto::Close{ban ? proto::CloseReason::banned : proto::CloseReason::kicked, {}});
    }
    drop_presence(user, session->second, MemberLeftCause::kicked);
    sessions_.erase(session);
}

void FakeServer::drain(TimePoint /*now*/, Duration window) {
    for (auto& [user, session] : sessions_) {
        if (session.conn) {
            send(*session.conn, proto::Close{proto::CloseReason::draining, window});
            conn_users_.erase(*session.conn);
            output_.close(*session.conn);
            session.conn.reset();
        }
    }
}

void FakeServer::restart(TimePoint /*now*/) {
    for (const auto& [conn, user] : conn_users_) {
        output_.close(conn);
    }
    conn_users_.clear();
    conn_last_rx_.clear();
    sessions_.clear();
    channels_.clear();
    seen_message_ids_.clear();
    ++epoch_;
}

bool FakeServer::is_present(const std::string& user) const {
    auto session = sessions_.find(user);
    return session != sessions_.end() && session->second.present;
}

std::set<std::string> FakeServer::members(const std::string& channel) const {
    auto data = channels_.find(channel);
    return data == channels_.end() ? std::set<std::string>{} : data->second.members;
}

}  // namespace relink::sim
