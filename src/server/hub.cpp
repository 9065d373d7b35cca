// relinkd's sans-IO hub (see hub.hpp and docs/server.md).
#include "server/hub.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/overloaded.hpp"

namespace relink::server {
namespace {

using detail::Overloaded;

std::error_code err(errc code) {
    return make_error_code(code);
}

/// A token bucket: `rate` tokens per second, at most `burst`, starting full.
struct Bucket {
    double tokens{0};
    TimePoint last{};
    bool primed{false};

    bool take(TimePoint now, double rate, double burst) {
        if (!primed) {
            tokens = burst;
            last = now;
            primed = true;
        }
        const double elapsed = std::chrono::duration<double>(now - last).count();
        tokens = std::min(burst, tokens + std::max(0.0, elapsed) * rate);
        last = now;
        if (tokens < 1.0) {
            return false;
        }
        tokens -= 1.0;
        return true;
    }
};

/// What a deadline is for: one per (kind, key); updating a deadline replaces the old one.
enum class TimerKind : std::uint8_t { presence, token_expiry, retain, keep_alive, login_grace };

struct TimerKey {
    TimerKind kind{TimerKind::presence};
    std::string key;  ///< session key, or the connection id in decimal
    friend bool operator<(const TimerKey& a, const TimerKey& b) {
        return std::tie(a.kind, a.key) < std::tie(b.kind, b.key);
    }
};

/// Deadlines ordered by time, each findable by its key: O(log n) to set, clear and find the earliest.
class Deadlines {
public:
    void set(const TimerKey& key, TimePoint at) {
        clear(key);
        by_key_.emplace(key, at);
        by_time_.emplace(at, key);
    }
    void clear(const TimerKey& key) {
        auto it = by_key_.find(key);
        if (it == by_key_.end()) {
            return;
        }
        by_time_.erase({it->second, it->first});
        by_key_.erase(it);
    }
    [[nodiscard]] std::optional<TimePoint> earliest() const {
        return by_time_.empty() ? std::nullopt : std::optional<TimePoint>(by_time_.begin()->first);
    }
    /// Removes and returns the earliest deadline at or before `now`.
    std::optional<TimerKey> pop_due(TimePoint now) {
        if (by_time_.empty() || by_time_.begin()->first > now) {
            return std::nullopt;
        }
        TimerKey key = by_time_.begin()->second;
        by_key_.erase(key);
        by_time_.erase(by_time_.begin());
        return key;
    }

private:
    std::map<TimerKey, TimePoint> by_key_;
    std::set<std::pair<TimePoint, TimerKey>> by_time_;
};

std::string session_key(const std::string& app, const std::string& user) {
    return app + '\n' + user;
}
std::string channel_key(const std::string& app, const std::string& channel) {
    return app + '\n' + channel;
}

}  // namespace

struct Hub::State {
    struct Conn {
        std::string peer_address;
        TimePoint last_rx{};
        std::optional<std::string> session;  ///< session key once logged in
        bool closed{false};                  ///< a CloseConnection was issued: ignore what still arrives
    };
    struct StoredMessage {
        TimePoint at;
        proto::Message message;
    };
    struct Session {
        std::string app;
        std::string user;
        Profile profile{Profile::rtm};
        std::optional<ConnId> conn;
        TimePoint last_rx{};
        bool present{false};
        std::string resume_token;
        std::string instance_id;
        std::map<std::string, std::set<std::string>> channels;  ///< channel → own streams
        std::vector<std::string> allowed_channels;              ///< from the token; empty = any
        proto::Attributes attributes;
        std::deque<proto::Message> peer_log;  ///< recent peer messages to this user, for resume
        std::uint64_t peer_seq{0};
        std::map<std::string, TimePoint> seen_ids;  ///< client message id → when first seen
        std::deque<std::pair<TimePoint, std::string>> seen_order;
        Bucket sends;
        std::string peer_address;
    };
    struct ChannelData {
        std::set<std::string> members;  ///< user ids
        std::deque<StoredMessage> history;
        std::uint64_t seq{0};
    };

    HubConfig config;
    TokenVerifier verifier;
    std::uint64_t epoch{1};
    std::map<ConnId, Conn> conns;
    std::map<std::string, Session> sessions;                    ///< by session key
    std::map<std::string, ChannelData> channels;                ///< by channel key
    std::map<std::string, std::deque<proto::Message>> offline;  ///< session key → stored peer messages (R-RTM-7)
    std::map<std::string, Bucket> login_buckets;                ///< by peer address
    std::map<std::string, std::pair<std::string, TimePoint>> kicked;  ///< session key → (instance id, until)
    std::map<std::string, TimePoint> banned;                          ///< session key → until
    std::uint64_t resume_counter{0};
    bool draining{false};
    Duration drain_window{};
    Deadlines deadlines;
    std::deque<HubAction> actions;
    Metrics metrics;

    [[nodiscard]] const Timings& timings(Profile p) const { return config.timings.at(p); }

    void send(ConnId conn, proto::ServerMessage message) {
        actions.emplace_back(SendMessage{conn, std::move(message)});
    }

    void close(ConnId conn) {
        auto it = conns.find(conn);
        if (it == conns.end() || it->second.closed) {
            return;
        }
        it->second.closed = true;
        deadlines.clear({TimerKind::keep_alive, std::to_string(conn)});
        deadlines.clear({TimerKind::login_grace, std::to_string(conn)});
        if (it->second.session) {
            auto session = sessions.find(*it->second.session);
            if (session != sessions.end() && session->second.conn == conn) {
                session->second.conn.reset();
            }
        }
        actions.emplace_back(CloseConnection{conn});
    }

    void close_with(ConnId conn, proto::CloseReason reason, Duration within = {}) {
        send(conn, proto::Close{reason, within});
        close(conn);
    }

    void touch_conn(TimePoint now, ConnId conn, Conn& c) {
        c.last_rx = now;
        if (c.session && config.keep_alive_timeout > Duration::zero()) {
            deadlines.set({TimerKind::keep_alive, std::to_string(conn)}, now + config.keep_alive_timeout);
        }
    }

    void touch_session(TimePoint now, const std::string& key, Session& s) {
        s.last_rx = now;
        if (s.present) {
            deadlines.set({TimerKind::presence, key}, now + timings(s.profile).presence_timeout);
        }
    }

    // ------------------------------------------------------------------ membership

    void broadcast(const std::string& app, const std::string& channel, const std::string& except,
                   const proto::ServerMessage& message, bool count_delivery = false) {
        auto data = channels.find(channel_key(app, channel));
        if (data == channels.end()) {
            return;
        }
        for (const auto& member : data->second.members) {
            if (member == except) {
                continue;
            }
            auto session = sessions.find(session_key(app, member));
            if (session != sessions.end() && session->second.present && session->second.conn) {
                send(*session->second.conn, message);
                if (count_delivery) {
                    ++metrics.deliveries;
                }
            }
        }
    }

    void join_channel(Session& s, const std::string& channel, const std::vector<std::string>& streams) {
        channels[channel_key(s.app, channel)].members.insert(s.user);
        auto& own = s.channels[channel];
        own.insert(streams.begin(), streams.end());
        broadcast(s.app, channel, s.user, proto::MemberJoined{channel, s.user});
        for (const auto& stream : own) {
            broadcast(s.app, channel, s.user, proto::StreamChanged{channel, s.user, stream, true});
        }
    }

    void leave_channel(Session& s, const std::string& channel, MemberLeftCause cause) {
        auto own = s.channels.find(channel);
        if (own == s.channels.end()) {
            return;
        }
        for (const auto& stream : own->second) {  // streams end before their member leaves
            broadcast(s.app, channel, s.user, proto::StreamChanged{channel, s.user, stream, false});
        }
        broadcast(s.app, channel, s.user, proto::MemberLeft{channel, s.user, cause});
        const auto key = channel_key(s.app, channel);
        auto data = channels.find(key);
        if (data != channels.end()) {
            data->second.members.erase(s.user);
            if (data->second.members.empty() && data->second.history.empty()) {
                channels.erase(data);
            }
        }
        s.channels.erase(own);
    }

    /// Ends the user's presence: peers see it leave every channel; the session object stays for a while (its
    /// peer log and de-duplication memory), unless `forget` says it may go at once.
    void drop_presence(TimePoint now, const std::string& key, Session& s, MemberLeftCause cause) {
        std::vector<std::string> names;
        for (const auto& [name, streams] : s.channels) {
            names.push_back(name);
        }
        for (const auto& name : names) {
            leave_channel(s, name, cause);
        }
        if (s.present) {
            s.present = false;
            --metrics.sessions;
        }
        s.attributes.clear();
        deadlines.clear({TimerKind::presence, key});
        deadlines.clear({TimerKind::token_expiry, key});
        if (s.conn) {
            const ConnId conn = *s.conn;
            s.conn.reset();
            close(conn);
        }
        deadlines.set({TimerKind::retain, key}, now + config.limits.dedup_window);
    }

    [[nodiscard]] proto::ChannelSnapshot snapshot(const std::string& app, const std::string& channel,
                                                  const std::string& self) const {
        proto::ChannelSnapshot out;
        out.channel = channel;
        auto data = channels.find(channel_key(app, channel));
        out.position = {epoch, data == channels.end() ? 0 : data->second.seq};
        if (data == channels.end()) {
            return out;
        }
        for (const auto& member : data->second.members) {
            if (member == self) {
                continue;
            }
            proto::Member m{member, {}};
            auto session = sessions.find(session_key(app, member));
            if (session != sessions.end()) {
                auto streams = session->second.channels.find(channel);
                if (streams != session->second.channels.end()) {
                    m.streams.assign(streams->second.begin(), streams->second.end());
                }
            }
            out.members.push_back(std::move(m));
        }
        return out;
    }

    [[nodiscard]] std::error_code may_join(const Session& s, const std::string& channel) const {
        if (!is_valid_channel_name(channel)) {
            return err(errc::invalid_channel_name);
        }
        if (!s.allowed_channels.empty() &&
            std::find(s.allowed_channels.begin(), s.allowed_channels.end(), channel) == s.allowed_channels.end()) {
            return err(errc::rejected_by_server);  // the token does not grant this channel
        }
        if (s.channels.count(channel) == 0 && s.channels.size() >= config.limits.max_channels_per_user) {
            return err(errc::limit_exceeded);
        }
        auto data = channels.find(channel_key(s.app, channel));
        if (data != channels.end() && data->second.members.count(s.user) == 0 &&
            data->second.members.size() >= config.limits.max_members_per_channel) {
            return err(errc::limit_exceeded);
        }
        return {};
    }

    // ------------------------------------------------------------------ login

    void login(TimePoint now, ConnId conn, Conn& c, const proto::Login& m) {
        const auto refuse = [&](errc code) {
            ++metrics.login_failures;
            send(conn, proto::Reply{m.request_id, err(code)});
        };
        if (c.session) {
            refuse(errc::already_logged_in);
            return;
        }
        if (m.version != proto::kProtocolVersion) {
            refuse(errc::protocol_error);
            return;
        }
        if (draining) {
            close_with(conn, proto::CloseReason::draining, drain_window);
            return;
        }
        if (!login_buckets[c.peer_address].take(now, config.limits.logins_per_second_per_address,
                                                config.limits.login_burst)) {
            ++metrics.rate_limited;
            refuse(errc::rate_limited);
            return;
        }
        if (!is_valid_user_id(m.user_id) || !is_valid_user_id(m.app_id)) {
            refuse(m.app_id.empty() || !is_valid_user_id(m.app_id) ? errc::invalid_app_id : errc::invalid_user_id);
            return;
        }
        const TokenCheck check = verifier ? verifier(m.app_id, m.user_id, m.token) : TokenCheck{};
        if (check.error) {
            ++metrics.login_failures;
            send(conn, proto::Reply{m.request_id, check.error});
            return;
        }
        const std::string key = session_key(m.app_id, m.user_id);
        if (auto ban = banned.find(key); ban != banned.end()) {
            if (now < ban->second) {
                refuse(errc::banned_by_server);
                return;
            }
            banned.erase(ban);
        }
        if (auto kick = kicked.find(key); kick != kicked.end()) {
            // Kick-loop suppression: the instance that was just displaced may not take the id straight back.
            if (now < kick->second.second && !m.instance_id.empty() && m.instance_id == kick->second.first) {
                refuse(errc::remote_login);
                return;
            }
            if (now >= kick->second.second) {
                kicked.erase(kick);
            }
        }

        bool resumed = false;
        auto existing = sessions.find(key);
        if (existing != sessions.end()) {
            Session& old = existing->second;
            if (old.present && m.resume_token && *m.resume_token == old.resume_token) {
                resumed = true;  // the same instance within its presence: silent for peers
                if (old.conn && *old.conn != conn) {
                    const ConnId stale = *old.conn;
                    old.conn.reset();
                    close(stale);
                }
            } else if (old.present) {
                // One session per user: the newcomer wins; the old instance is told why and may not come back at
                // once (kick-loop suppression).
                if (old.conn) {
                    send(*old.conn, proto::Close{proto::CloseReason::remote_login, {}});
                }
                ++metrics.kicks;
                if (!old.instance_id.empty() && old.instance_id != m.instance_id) {
                    kicked[key] = {old.instance_id, now + config.limits.kick_cooldown};
                }
                drop_presence(now, key, old, MemberLeftCause::kicked);
            }
        }
        Session& s = sessions[key];
        const Timings& t = timings(m.profile);
        s.app = m.app_id;
        s.user = m.user_id;
        s.profile = m.profile;
        s.conn = conn;
        s.instance_id = m.instance_id;
        s.allowed_channels = check.channels;
        s.peer_address = c.peer_address;
        if (!s.present) {
            s.present = true;
            ++metrics.sessions;
        }
        s.resume_token = "r" + std::to_string(epoch) + "-" + std::to_string(++resume_counter) + "-" + m.instance_id;
        c.session = key;
        deadlines.clear({TimerKind::retain, key});
        deadlines.clear({TimerKind::login_grace, std::to_string(conn)});
        touch_conn(now, conn, c);
        touch_session(now, key, s);
        if (check.ttl > Duration::zero() && m.profile != Profile::rtm) {
            deadlines.set({TimerKind::token_expiry, key}, now + check.ttl);  // rtm sessions outlive their token
        } else {
            deadlines.clear({TimerKind::token_expiry, key});
        }
        s.attributes = m.attributes;
        ++metrics.logins;
        if (resumed) {
            ++metrics.resumes;
        }

        // Make the session's channels and streams what the client says they are.
        std::set<std::string> wanted;
        std::map<std::string, std::error_code> refused;
        for (const auto& channel : m.channels) {
            if (auto e = may_join(s, channel.channel)) {
                refused[channel.channel] = e;
            } else {
                wanted.insert(channel.channel);
            }
        }
        std::vector<std::string> stale;
        for (const auto& [name, streams] : s.channels) {
            if (wanted.count(name) == 0) {
                stale.push_back(name);
            }
        }
        for (const auto& name : stale) {
            leave_channel(s, name, MemberLeftCause::quit);
        }
        for (const auto& channel : m.channels) {
            if (refused.count(channel.channel) != 0) {
                continue;
            }
            auto joined = s.channels.find(channel.channel);
            if (joined == s.channels.end()) {
                join_channel(s, channel.channel, channel.streams);
                continue;
            }
            const std::set<std::string> want(channel.streams.begin(), channel.streams.end());
            for (const auto& stream : std::set<std::string>(joined->second)) {
                if (want.count(stream) == 0) {
                    joined->second.erase(stream);
                    broadcast(s.app, channel.channel, s.user,
                              proto::StreamChanged{channel.channel, s.user, stream, false});
                }
            }
            for (const auto& stream : want) {
                if (joined->second.insert(stream).second) {
                    broadcast(s.app, channel.channel, s.user,
                              proto::StreamChanged{channel.channel, s.user, stream, true});
                }
            }
        }

        // Backfill: peer messages after the last one seen, stored offline messages, and each channel's messages
        // after its last position within the profile's window (the newest `backfill_count`).
        std::vector<proto::Message> backfill;
        std::uint64_t dropped = 0;
        if (m.last_peer_seen && m.last_peer_seen->epoch == epoch) {
            const std::uint64_t last = m.last_peer_seen->seq;
            if (!s.peer_log.empty() && s.peer_log.front().position.seq > last + 1) {
                dropped += s.peer_log.front().position.seq - last - 1;
            }
            for (const auto& msg : s.peer_log) {
                if (msg.position.seq > last) {
                    backfill.push_back(msg);
                }
            }
        }
        const auto peer_position = proto::StreamPosition{epoch, s.peer_seq - backfill.size()};
        if (auto stored = offline.find(key); stored != offline.end()) {
            for (auto msg : stored->second) {
                msg.position = {epoch, ++s.peer_seq};
                s.peer_log.push_back(msg);
                backfill.push_back(msg);
            }
            offline.erase(stored);
            trim_peer_log(s);
        }
        // Channel messages missed while away: the newest `backfill_count` within the window come back (rtm);
        // every other one is counted as dropped, for every profile. rtc, rtc-web and room do not backfill, but
        // they are told how many channel messages they missed: nothing is lost silently (protocol.md).
        for (const auto& channel : m.channels) {
            if (!channel.last_seen || refused.count(channel.channel) != 0) {
                continue;
            }
            auto data = channels.find(channel_key(s.app, channel.channel));
            if (data == channels.end()) {
                continue;
            }
            const bool same_epoch = channel.last_seen->epoch == epoch;
            const auto& history = data->second.history;
            std::vector<proto::Message> kept;
            std::uint64_t missed = 0;
            if (same_epoch && !history.empty() && history.front().message.position.seq > channel.last_seen->seq + 1) {
                // Older than what the history retains: the gap is counted whole. It may include the user's own
                // messages (the history that would tell is gone), so this part is an upper bound.
                missed += history.front().message.position.seq - channel.last_seen->seq - 1;
            }
            for (const auto& stored : history) {
                const bool newer = !same_epoch || stored.message.position.seq > channel.last_seen->seq;
                if (!newer || stored.message.from == s.user) {
                    continue;
                }
                ++missed;
                if (t.backfill_count > 0 && stored.at + t.backfill_window >= now) {
                    kept.push_back(stored.message);
                }
            }
            if (kept.size() > t.backfill_count) {
                kept.erase(kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(t.backfill_count));
            }
            dropped += missed - kept.size();
            backfill.insert(backfill.end(), kept.begin(), kept.end());
        }

        proto::LoginOk ok;
        ok.request_id = m.request_id;
        ok.resume_token = s.resume_token;
        ok.resumed = resumed;
        ok.negotiated = {t.heartbeat_interval, t.presence_timeout, t.backfill_window, t.backfill_count};
        ok.token_ttl = check.ttl;
        for (const auto& channel : m.channels) {
            proto::ChannelSnapshot snap = snapshot(s.app, channel.channel, s.user);
            if (auto e = refused.find(channel.channel); e != refused.end()) {
                snap = proto::ChannelSnapshot{};
                snap.channel = channel.channel;
                snap.error = e->second;
            }
            ok.channels.push_back(std::move(snap));
        }
        ok.backfilled = backfill.size();
        ok.dropped = dropped;
        ok.peer_position = peer_position;
        metrics.backfilled += backfill.size();
        metrics.dropped += dropped;
        send(conn, ok);
        for (auto& msg : backfill) {
            msg.backfilled = true;
            send(conn, msg);
        }
    }

    void trim_peer_log(Session& s) const {
        while (s.peer_log.size() > config.limits.peer_queue_per_user) {
            s.peer_log.pop_front();  // the gap is reported as dropped at the next resume
        }
    }

    // ------------------------------------------------------------------ requests of a logged-in session

    /// Remembers a client message id; false when it was seen within the de-duplication window.
    bool first_time(TimePoint now, Session& s, const std::string& id) {
        while (!s.seen_order.empty() && s.seen_order.front().first + config.limits.dedup_window <= now) {
            s.seen_ids.erase(s.seen_order.front().second);
            s.seen_order.pop_front();
        }
        if (!s.seen_ids.emplace(id, now).second) {
            return false;
        }
        s.seen_order.emplace_back(now, id);
        return true;
    }

    void request(TimePoint now, ConnId conn, const std::string& key, Session& s, const proto::ClientMessage& message) {
        std::visit(Overloaded{
                       [&](const proto::Login& m) {
                           send(conn, proto::Reply{m.request_id, err(errc::already_logged_in)});
                       },
                       [&](const proto::Logout& m) {
                           send(conn, proto::Reply{m.request_id, {}});
                           drop_presence(now, key, s, MemberLeftCause::quit);
                           deadlines.clear({TimerKind::retain, key});
                           sessions.erase(key);
                       },
                       [&](const proto::Join& m) {
                           if (s.channels.count(m.channel) != 0) {
                               send(conn, proto::Reply{m.request_id, err(errc::rejected_by_server)});
                               return;
                           }
                           if (auto e = may_join(s, m.channel)) {
                               send(conn, proto::Reply{m.request_id, e});
                               return;
                           }
                           join_channel(s, m.channel, {});
                           send(conn, proto::JoinOk{m.request_id, snapshot(s.app, m.channel, s.user)});
                       },
                       [&](const proto::Leave& m) {
                           if (s.channels.count(m.channel) == 0) {
                               send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                               return;
                           }
                           leave_channel(s, m.channel, MemberLeftCause::quit);
                           send(conn, proto::Reply{m.request_id, {}});
                       },
                       [&](const proto::Publish& m) {
                           auto channel = s.channels.find(m.channel);
                           if (channel == s.channels.end()) {
                               send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                               return;
                           }
                           if (!m.unpublish && !is_valid_channel_name(m.stream)) {
                               send(conn, proto::Reply{m.request_id, err(errc::invalid_argument)});
                               return;
                           }
                           const bool changed = m.unpublish ? channel->second.erase(m.stream) != 0
                                                            : channel->second.insert(m.stream).second;
                           if (changed) {
                               broadcast(s.app, m.channel, s.user,
                                         proto::StreamChanged{m.channel, s.user, m.stream, !m.unpublish});
                           }
                           send(conn, proto::Reply{m.request_id, {}});
                       },
                       [&](const proto::SendMessage& m) { send_message(now, conn, s, m); },
                       [&](const proto::SetAttributes& m) {
                           s.attributes = m.attributes;
                           send(conn, proto::Reply{m.request_id, {}});
                       },
                       [&](const proto::GetAttributes& m) {
                           auto target = sessions.find(session_key(s.app, m.user_id));
                           if (target == sessions.end() || !target->second.present) {
                               send(conn, proto::Reply{m.request_id, err(errc::peer_offline)});
                               return;
                           }
                           send(conn, proto::AttributesReply{m.request_id, m.user_id, target->second.attributes});
                       },
                       [&](const proto::RenewToken& m) {
                           const TokenCheck check = verifier ? verifier(s.app, s.user, m.token) : TokenCheck{};
                           if (check.error) {
                               send(conn, proto::Reply{m.request_id, check.error});
                               return;
                           }
                           s.allowed_channels = check.channels;
                           if (check.ttl > Duration::zero() && s.profile != Profile::rtm) {
                               deadlines.set({TimerKind::token_expiry, key}, now + check.ttl);
                           } else {
                               deadlines.clear({TimerKind::token_expiry, key});
                           }
                           send(conn, proto::RenewOk{m.request_id, check.ttl});
                       },
                       [&](const proto::Ping&) { send(conn, proto::Pong{}); },
                   },
                   message);
    }

    void send_message(TimePoint now, ConnId conn, Session& s, const proto::SendMessage& m) {
        if (m.payload.size() > config.limits.max_payload_bytes) {
            send(conn, proto::Reply{m.request_id, err(errc::payload_too_large)});
            return;
        }
        if (m.message_id.empty() || (m.to_user.has_value() == m.to_channel.has_value())) {
            send(conn, proto::Reply{m.request_id, err(errc::invalid_argument)});
            return;
        }
        if (!first_time(now, s, m.message_id)) {
            ++metrics.deduplicated;  // a re-send after a reconnect: acknowledge again, deliver nothing again
            send(conn, proto::Reply{m.request_id, {}});
            return;
        }
        if (!s.sends.take(now, config.limits.messages_per_second, config.limits.message_burst)) {
            ++metrics.rate_limited;
            s.seen_ids.erase(m.message_id);  // not accepted: a later re-send must be able to go through
            send(conn, proto::Reply{m.request_id, err(errc::rate_limited)});
            return;
        }
        if (m.to_channel) {
            if (s.channels.count(*m.to_channel) == 0) {
                send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                return;
            }
            ChannelData& data = channels[channel_key(s.app, *m.to_channel)];
            proto::Message out{s.user, m.to_channel, m.message_id, m.payload, {epoch, ++data.seq}, false};
            data.history.push_back({now, out});
            while (data.history.size() > config.limits.history_per_channel) {
                data.history.pop_front();
            }
            ++metrics.messages;
            broadcast(s.app, *m.to_channel, s.user, out, /*count_delivery=*/true);
            send(conn, proto::Reply{m.request_id, {}});
            return;
        }
        const std::string& to = *m.to_user;
        if (!is_valid_user_id(to)) {
            send(conn, proto::Reply{m.request_id, err(errc::invalid_user_id)});
            return;
        }
        const std::string target_key = session_key(s.app, to);
        auto target = sessions.find(target_key);
        if (target != sessions.end() && target->second.present) {
            Session& t = target->second;
            proto::Message out{s.user, std::nullopt, m.message_id, m.payload, {epoch, ++t.peer_seq}, false};
            t.peer_log.push_back(out);
            trim_peer_log(t);
            if (t.conn) {
                send(*t.conn, out);
                ++metrics.deliveries;
            }
        } else if (m.store_offline) {
            auto& stored = offline[target_key];
            stored.push_back(proto::Message{s.user, std::nullopt, m.message_id, m.payload, {}, false});
            while (stored.size() > config.limits.peer_queue_per_user) {
                stored.pop_front();
                ++metrics.dropped;
            }
        } else {
            send(conn, proto::Reply{m.request_id, err(errc::peer_offline)});
            return;
        }
        ++metrics.messages;
        send(conn, proto::Reply{m.request_id, {}});
    }

    // ------------------------------------------------------------------ timers

    void fire(TimePoint now, const TimerKey& timer) {
        switch (timer.kind) {
            case TimerKind::presence: {
                auto it = sessions.find(timer.key);
                if (it != sessions.end() && it->second.present) {
                    ++metrics.presence_timeouts;
                    drop_presence(now, timer.key, it->second, MemberLeftCause::dropped);
                }
                return;
            }
            case TimerKind::token_expiry: {
                auto it = sessions.find(timer.key);
                if (it != sessions.end() && it->second.present) {
                    // rtc, rtc-web and room sessions end with their token; rtm sessions do not (R-RTM-9).
                    if (it->second.conn) {
                        send(*it->second.conn, proto::Close{proto::CloseReason::token_expired, {}});
                    }
                    drop_presence(now, timer.key, it->second, MemberLeftCause::quit);
                }
                return;
            }
            case TimerKind::retain: {
                auto it = sessions.find(timer.key);
                if (it != sessions.end() && !it->second.present) {
                    sessions.erase(it);  // nothing left to resume or de-duplicate
                }
                return;
            }
            case TimerKind::keep_alive:
            case TimerKind::login_grace: {
                const ConnId conn = std::stoull(timer.key);
                auto it = conns.find(conn);
                if (it != conns.end() && !it->second.closed) {
                    close_with(conn, timer.kind == TimerKind::keep_alive ? proto::CloseReason::keep_alive_timeout
                                                                         : proto::CloseReason::invalid);
                }
                return;
            }
        }
    }
};

Hub::Hub(HubConfig config, TokenVerifier verifier) : state_(std::make_unique<State>()) {
    state_->config = std::move(config);
    state_->epoch = state_->config.epoch;
    state_->verifier = std::move(verifier);
    for (const Profile p : {Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room}) {
        state_->config.timings.try_emplace(p, timings_for(p));
    }
}

Hub::~Hub() = default;

void Hub::on_open(TimePoint now, ConnId conn, std::string peer_address) {
    auto& s = *state_;
    auto [it, inserted] = s.conns.try_emplace(conn);
    if (!inserted) {
        return;  // a driver bug; keep the first
    }
    it->second.peer_address = std::move(peer_address);
    it->second.last_rx = now;
    ++s.metrics.connections_open;
    if (s.draining) {
        s.close_with(conn, proto::CloseReason::draining, s.drain_window);
        return;
    }
    if (s.config.login_grace > Duration::zero()) {
        s.deadlines.set({TimerKind::login_grace, std::to_string(conn)}, now + s.config.login_grace);
    }
}

void Hub::on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message) {
    auto& s = *state_;
    auto it = s.conns.find(conn);
    if (it == s.conns.end() || it->second.closed) {
        return;
    }
    State::Conn& c = it->second;
    s.touch_conn(now, conn, c);
    if (const auto* login = std::get_if<proto::Login>(&message); login != nullptr && !c.session) {
        s.login(now, conn, c, *login);
        return;
    }
    auto session = c.session ? s.sessions.find(*c.session) : s.sessions.end();
    if (session == s.sessions.end() || session->second.conn != conn) {
        // Not logged in (or this connection was superseded): every request gets NOT_LOGGED_IN.
        std::visit(Overloaded{[](const proto::Ping&) {},
                              [&](const auto& m) {
                                  s.send(conn, proto::Reply{m.request_id, err(errc::not_logged_in)});
                              }},
                   message);
        return;
    }
    const std::string key = session->first;
    s.touch_session(now, key, session->second);
    s.request(now, conn, key, session->second, message);
}

void Hub::on_bad_frame(TimePoint /*now*/, ConnId conn, const proto::DecodeError& error) {
    auto& s = *state_;
    auto it = s.conns.find(conn);
    if (it == s.conns.end() || it->second.closed) {
        return;
    }
    ++s.metrics.bad_frames;
    if (error.request_id) {
        s.send(conn, proto::Reply{*error.request_id, error.code ? error.code : err(errc::protocol_error)});
        return;  // the connection stays: only that request was bad
    }
    s.close_with(conn, proto::CloseReason::invalid);
}

void Hub::on_closed(TimePoint /*now*/, ConnId conn) {
    auto& s = *state_;
    auto it = s.conns.find(conn);
    if (it == s.conns.end()) {
        return;
    }
    if (it->second.session) {
        auto session = s.sessions.find(*it->second.session);
        if (session != s.sessions.end() && session->second.conn == conn) {
            session->second.conn.reset();  // presence goes on until its timeout: a resume stays silent
        }
    }
    s.deadlines.clear({TimerKind::keep_alive, std::to_string(conn)});
    s.deadlines.clear({TimerKind::login_grace, std::to_string(conn)});
    --s.metrics.connections_open;
    s.conns.erase(it);
}

void Hub::handle_timeout(TimePoint now) {
    auto& s = *state_;
    while (auto timer = s.deadlines.pop_due(now)) {
        s.fire(now, *timer);
    }
}

std::error_code Hub::kick(TimePoint now, const std::string& app_id, const std::string& user_id, bool ban,
                          Duration ban_for) {
    auto& s = *state_;
    const std::string key = session_key(app_id, user_id);
    if (ban) {
        s.banned[key] = now + ban_for;
    }
    auto session = s.sessions.find(key);
    if (session == s.sessions.end() || !session->second.present) {
        return err(errc::not_logged_in);
    }
    if (session->second.conn) {
        s.send(*session->second.conn, proto::Close{ban ? proto::CloseReason::banned : proto::CloseReason::kicked, {}});
    }
    ++s.metrics.kicks;
    s.drop_presence(now, key, session->second, MemberLeftCause::kicked);
    s.deadlines.clear({TimerKind::retain, key});
    s.sessions.erase(session);
    return {};
}

void Hub::drain(TimePoint /*now*/, Duration window) {
    auto& s = *state_;
    s.draining = true;
    s.drain_window = window;
    std::vector<ConnId> open;
    for (const auto& [conn, c] : s.conns) {
        if (!c.closed) {
            open.push_back(conn);
        }
    }
    // Spread the returns so that whoever takes them can log them in as they come: a 2 s window is right for a
    // hundred clients and a login storm for ten thousand (docs/performance.md, "storm").
    const auto spread = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
        static_cast<double>(open.size()) / std::max(1.0, s.config.limits.drain_logins_per_second)));
    window = std::max(window, spread);
    s.drain_window = window;
    for (const ConnId conn : open) {
        s.close_with(conn, proto::CloseReason::draining, window);
    }
}

std::optional<TimePoint> Hub::next_deadline() const {
    return state_->deadlines.earliest();
}

std::optional<HubAction> Hub::poll_action() {
    auto& actions = state_->actions;
    if (actions.empty()) {
        return std::nullopt;
    }
    HubAction action = std::move(actions.front());
    actions.pop_front();
    return action;
}

std::vector<SessionInfo> Hub::sessions() const {
    std::vector<SessionInfo> out;
    for (const auto& [key, s] : state_->sessions) {
        if (!s.present) {
            continue;
        }
        SessionInfo info{s.app, s.user, s.profile, s.conn.has_value(), {}, s.peer_address};
        for (const auto& [name, streams] : s.channels) {
            info.channels.push_back(name);
        }
        out.push_back(std::move(info));
    }
    return out;
}

std::vector<ChannelInfo> Hub::channels() const {
    std::vector<ChannelInfo> out;
    for (const auto& [key, data] : state_->channels) {
        const auto split = key.find('\n');
        out.push_back({key.substr(0, split), key.substr(split + 1),
                       std::vector<std::string>(data.members.begin(), data.members.end()), data.seq});
    }
    return out;
}

const Metrics& Hub::metrics() const noexcept {
    return state_->metrics;
}

bool Hub::draining() const noexcept {
    return state_->draining;
}

}  // namespace relink::server
