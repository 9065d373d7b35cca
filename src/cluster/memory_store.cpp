// The shared state of a deployment held in memory (cluster/memory_store.hpp, docs/cluster.md).
#include "cluster/memory_store.hpp"

#include <algorithm>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "cluster/deadlines.hpp"
#include "common/compact_string.hpp"
#include "common/flat_containers.hpp"
#include "common/overloaded.hpp"

namespace relink::cluster {
namespace {

using detail::Overloaded;

std::error_code err(errc code) {
    return make_error_code(code);
}

/// What a store deadline is for: a session's presence running out, a session kept after its presence (for
/// de-duplication, or away), a node's heartbeat running out, or an empty channel's history and positions outliving
/// every session that could come back with one.
enum class DeadlineKind : std::uint8_t { presence, retain, node, channel };
using DeadlineKey = std::pair<DeadlineKind, std::string>;

/// What is kept of a session once its presence is over.
enum class Afterwards : std::uint8_t {
    forget,  ///< nothing (logout, kick, ban)
    retain,  ///< its de-duplication memory and peer log, for the de-duplication window (token expiry)
    away,    ///< as retain, and peer messages to it are kept for its return, for the session lifetime
};

}  // namespace

struct MemoryStore::State {
    struct StoredMessage {
        TimePoint at;
        proto::Message message;
    };
    struct Session {
        const std::string* key{nullptr};  ///< its key in `sessions`: session_key(app, user)
        Duration presence_timeout{};      ///< agreed at its last login: how long its presence outlives its transport
        /// The node of its last login, interned in State::node_names (a pointer instead of a string per session);
        /// null before the first. Read through node_name().
        const NodeId* node{nullptr};
        Gen gen{0};
        TimePoint away_until{};  ///< while `away`, until then (the session lifetime) peer messages to it are kept
        // The small fields together, so that they share one 8-byte slot instead of padding one each.
        Profile profile{Profile::rtm};
        bool present{false};
        bool attached{false};  ///< a transport is open on `node`
        bool away{false};      ///< presence ran out by itself: peer messages are kept for the user's return
        /// These two kept inside the record (common/compact_string.hpp), next to the small fields above so that none
        /// of them is padded: a token of relinkd's 32 hex digits, or an instance tag of 16, is past std::string's 15
        /// inline characters and would cost a heap block each.
        detail::CompactString resume_token;
        detail::CompactString instance_id;  ///< the client's instance tag; empty: none
        /// The secrets a session holds only after a resume or a recovery key: made when one of them is set, so
        /// that a session that has none holds a pointer instead of three empty strings (docs/benchmarks.md,
        /// "Where the memory goes"). Each read as empty while there are none.
        struct Secrets {
            std::string previous_token;   ///< still accepted until the client shows it has `resume_token`
            std::string recovery_secret;  ///< the current recovery key's server part (IssueRecovery); empty: none
            std::string spent_recovery;   ///< the one that recovered the session last: refused as RECOVERY_USED
        };
        std::unique_ptr<Secrets> secrets;  ///< null while all three are empty

        Secrets& secrets_made() {
            if (!secrets) {
                secrets = std::make_unique<Secrets>();
            }
            return *secrets;
        }
        [[nodiscard]] const std::string& previous_token() const { return secrets ? secrets->previous_token : none(); }
        [[nodiscard]] const std::string& recovery_secret() const { return secrets ? secrets->recovery_secret : none(); }
        [[nodiscard]] const std::string& spent_recovery() const { return secrets ? secrets->spent_recovery : none(); }
        /// Keeps `token` as the previous resume token and, for a new session (`keep_recovery` false), forgets its
        /// recovery keys.
        void set_previous_token(std::string token, bool keep_recovery) {
            if (!keep_recovery) {
                secrets.reset();
            }
            if (secrets || !token.empty()) {
                secrets_made().previous_token = std::move(token);
            }
        }
        [[nodiscard]] const NodeId& node_name() const { return node ? *node : none(); }
        static const std::string& none() {
            static const std::string empty;
            return empty;
        }
        std::string peer_address;
        /// channel → own streams. Sorted vectors: a session is in a few channels with few streams, and a
        /// std::map's node per channel (with its empty std::set) cost it twice as much (docs/benchmarks.md).
        detail::FlatMap<std::string, detail::FlatSet<std::string>> channels;
        /// Null while it has none (most sessions): a pointer instead of an empty std::map's 48 bytes.
        std::unique_ptr<proto::Attributes> attributes;
        void set_attributes(const proto::Attributes& a) {
            attributes = a.empty() ? nullptr : std::make_unique<proto::Attributes>(a);
        }
        /// What a session gathers only once messages flow: the peer messages sent to it and the ids of those it
        /// sent. Made on the first of them, kept with the session: an idle session holds a pointer instead of the
        /// ~110 bytes of empty containers and counters (docs/benchmarks.md, "Where the memory goes").
        struct Traffic {
            // Lists, not deques: an empty std::deque allocates ~600 bytes (libstdc++).
            std::list<proto::Message> peer_log;  ///< recent peer messages to this user, for resume
            std::uint64_t peer_seq{0};
            std::uint64_t away_from{0};  ///< peer_seq when the user went away: a new instance gets what came after
            std::map<std::string, TimePoint> seen_ids;                ///< client message id → when first seen
            std::list<std::pair<TimePoint, std::string>> seen_order;  ///< the ids of seen_ids, oldest first
        };
        std::unique_ptr<Traffic> traffic;  ///< null until the first message to or from this session

        Traffic& traffic_made() {
            if (!traffic) {
                traffic = std::make_unique<Traffic>();
            }
            return *traffic;
        }
        [[nodiscard]] std::uint64_t peer_seq() const { return traffic ? traffic->peer_seq : 0; }
        [[nodiscard]] std::uint64_t away_from() const { return traffic ? traffic->away_from : 0; }

        // The app and the user, from the key (not kept twice).
        [[nodiscard]] std::string app() const { return key->substr(0, key->find('\n')); }
        [[nodiscard]] std::string user() const { return key->substr(key->find('\n') + 1); }
    };
    struct ChannelData {
        std::deque<StoredMessage> history;
        std::uint64_t seq{0};
    };

    StoreConfig config;
    std::map<std::string, Session> sessions;  ///< by session key
    /// channel key → user ids (sorted vectors: one block per channel instead of a node per member)
    std::map<std::string, detail::FlatSet<std::string>> members;
    std::map<std::string, ChannelData> channels;                      ///< channel key → history
    std::map<std::string, std::uint64_t> event_seqs;                  ///< channel key → its last event's seq
    std::map<std::string, std::deque<proto::Message>> offline;        ///< session key → stored peer messages
    std::map<std::string, std::pair<std::string, TimePoint>> kicked;  ///< session key → (instance id, until)
    std::map<std::string, TimePoint> banned;                          ///< session key → until
    std::map<std::string, std::set<NodeId>> subscribers;              ///< channel key → nodes
    std::map<NodeId, TimePoint> nodes;                                ///< node → last heartbeat
    std::map<NodeId, std::vector<Event>> outbox;
    /// Every node name a session has logged in from, for Session::node to point at. Never erased from (a node
    /// that leaves may still be named by sessions), so it is bounded by the nodes ever seen, not by sessions.
    std::set<NodeId> node_names;
    Deadlines<DeadlineKey> deadlines;
    StoreStats counters;

    [[nodiscard]] const Timings& timings(Profile p) const { return config.timings.at(p); }

    /// What a login agreed (the hub's answer to its client), or the profile's defaults for a login that carries none.
    [[nodiscard]] proto::Negotiated agreed(const Login& cmd) const {
        if (cmd.timings) {
            return *cmd.timings;
        }
        const Timings& t = timings(cmd.request.profile);
        return {t.heartbeat_interval, t.presence_timeout, t.backfill_window, t.backfill_count};
    }
    [[nodiscard]] std::uint64_t epoch() const { return config.epoch; }

    // ------------------------------------------------------------------ events

    void to_channel(const std::string& app, const std::string& channel, const std::string& except,
                    proto::ServerMessage message) {
        const std::string key = channel_key(app, channel);
        const std::uint64_t seq = ++event_seqs[key];
        auto subs = subscribers.find(key);
        if (subs == subscribers.end()) {
            return;
        }
        for (const auto& node : subs->second) {
            outbox[node].emplace_back(ChannelEvent{app, channel, except, message, seq});
        }
    }

    [[nodiscard]] std::uint64_t event_seq(const std::string& app, const std::string& channel) const {
        auto it = event_seqs.find(channel_key(app, channel));
        return it == event_seqs.end() ? 0 : it->second;
    }

    /// Tells the node holding the session's transport that the session is over there.
    void end_transport(const Session& s, std::optional<proto::CloseReason> reason) {
        if (s.attached) {
            outbox[s.node_name()].emplace_back(SessionEnded{s.app(), s.user(), s.gen, reason});
        }
    }

    // ------------------------------------------------------------------ membership

    void join_channel(Session& s, const std::string& channel, const std::vector<std::string>& streams) {
        const auto key = channel_key(s.app(), channel);
        members[key].insert(s.user());
        deadlines.clear({DeadlineKind::channel, key});
        auto& own = s.channels[channel];
        own.insert(streams.begin(), streams.end());
        to_channel(s.app(), channel, s.user(), proto::MemberJoined{channel, s.user()});
        for (const auto& stream : own) {
            to_channel(s.app(), channel, s.user(), proto::StreamChanged{channel, s.user(), stream, true});
        }
    }

    void leave_channel(TimePoint now, Session& s, const std::string& channel, MemberLeftCause cause) {
        auto own = s.channels.find(channel);
        if (own == s.channels.end()) {
            return;
        }
        for (const auto& stream : own->second) {  // streams end before their member leaves
            to_channel(s.app(), channel, s.user(), proto::StreamChanged{channel, s.user(), stream, false});
        }
        to_channel(s.app(), channel, s.user(), proto::MemberLeft{channel, s.user(), cause});
        const auto key = channel_key(s.app(), channel);
        if (auto m = members.find(key); m != members.end()) {
            m->second.erase(s.user());
            if (m->second.empty()) {
                // Its positions stay while a session away from it may come back with one (that session is told
                // what it missed) and while a join on its way elsewhere may compare against its event sequence.
                members.erase(m);
                deadlines.set({DeadlineKind::channel, key}, now + empty_channel_kept(config));
            }
        }
        s.channels.erase(own);
    }

    /// Ends the user's presence: peers see it leave every channel; what is kept of the session follows `after`.
    void drop_presence(TimePoint now, const std::string& key, Session& s, MemberLeftCause cause, Afterwards after) {
        std::vector<std::string> names;
        for (const auto& [name, streams] : s.channels) {
            names.push_back(name);
        }
        for (const auto& name : names) {
            leave_channel(now, s, name, cause);
        }
        if (s.present) {
            s.present = false;
            --counters.sessions;
        }
        s.attached = false;
        s.attributes.reset();
        s.resume_token.clear();
        s.secrets.reset();
        deadlines.clear({DeadlineKind::presence, key});
        if (after == Afterwards::forget) {
            deadlines.clear({DeadlineKind::retain, key});
            sessions.erase(key);
            return;
        }
        s.away = after == Afterwards::away;
        s.away_until = now + config.limits.session_lifetime;
        if (s.traffic) {
            s.traffic->away_from = s.traffic->peer_seq;
        }
        const Duration keep =
            s.away ? std::max(config.limits.session_lifetime, config.limits.dedup_window) : config.limits.dedup_window;
        deadlines.set({DeadlineKind::retain, key}, now + keep);
    }

    [[nodiscard]] proto::ChannelSnapshot snapshot(const std::string& app, const std::string& channel,
                                                  const std::string& self) const {
        proto::ChannelSnapshot out;
        out.channel = channel;
        const auto key = channel_key(app, channel);
        auto data = channels.find(key);
        out.position = {epoch(), data == channels.end() ? 0 : data->second.seq};
        auto m = members.find(key);
        if (m == members.end()) {
            return out;
        }
        for (const auto& member : m->second) {
            if (member == self) {
                continue;
            }
            proto::Member entry{member, {}};
            auto session = sessions.find(session_key(app, member));
            if (session != sessions.end()) {
                auto streams = session->second.channels.find(channel);
                if (streams != session->second.channels.end()) {
                    entry.streams.assign(streams->second.begin(), streams->second.end());
                }
            }
            out.members.push_back(std::move(entry));
        }
        return out;
    }

    /// `allowed`: the channels the session's token grants (empty = any).
    [[nodiscard]] std::error_code may_join(const Session& s, const std::string& channel,
                                           const std::vector<std::string>& allowed) const {
        if (!is_valid_channel_name(channel)) {
            return err(errc::invalid_channel_name);
        }
        if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), channel) == allowed.end()) {
            return err(errc::rejected_by_server);  // the token does not grant this channel
        }
        if (s.channels.count(channel) == 0 && s.channels.size() >= config.limits.max_channels_per_user) {
            return err(errc::limit_exceeded);
        }
        auto m = members.find(channel_key(s.app(), channel));
        if (m != members.end() && m->second.count(s.user()) == 0 &&
            m->second.size() >= config.limits.max_members_per_channel) {
            return err(errc::limit_exceeded);
        }
        return {};
    }

    void trim_peer_log(Session::Traffic& t) const {
        while (t.peer_log.size() > config.limits.peer_queue_per_user) {
            t.peer_log.pop_front();  // the gap is reported as dropped at the next login
        }
    }

    /// Remembers a client message id; false when it was seen within the de-duplication window.
    bool first_time(TimePoint now, Session& s, const std::string& id) const {
        Session::Traffic& t = s.traffic_made();
        while (!t.seen_order.empty() && t.seen_order.front().first + config.limits.dedup_window <= now) {
            t.seen_ids.erase(t.seen_order.front().second);
            t.seen_order.pop_front();
        }
        if (!t.seen_ids.emplace(id, now).second) {
            return false;
        }
        t.seen_order.emplace_back(now, id);
        return true;
    }

    // ------------------------------------------------------------------ login

    Result login(TimePoint now, const NodeId& node, const std::string& key, Login& cmd) {
        proto::Login& m = cmd.request;
        if (auto ban = banned.find(key); ban != banned.end()) {
            if (now < ban->second) {
                return {err(errc::banned_by_server), {}};
            }
            banned.erase(ban);
        }
        if (auto kick = kicked.find(key); kick != kicked.end()) {
            // Kick-loop suppression: the instance that was just displaced may not take the id straight back.
            if (now < kick->second.second && !m.instance_id.empty() && m.instance_id == kick->second.first) {
                return {err(errc::remote_login), {}};
            }
            if (now >= kick->second.second) {
                kicked.erase(kick);
            }
        }

        bool resumed = false;
        bool displaced = false;
        std::string proven_token;  // the token the client showed, if it resumes
        bool recovered = false;    // the login presented the session's current recovery secret
        if (cmd.recovery_secret) {
            auto existing = sessions.find(key);
            if (existing == sessions.end() || !existing->second.present) {
                return {err(errc::recovery_expired), {}};
            }
            Session& old = existing->second;
            if (!old.recovery_secret().empty() && secrets_equal(old.recovery_secret(), *cmd.recovery_secret)) {
                recovered = true;
                old.secrets->spent_recovery = std::move(old.secrets->recovery_secret);  // single use
                old.secrets->recovery_secret.clear();
            } else if (!old.spent_recovery().empty() && secrets_equal(old.spent_recovery(), *cmd.recovery_secret)) {
                // The instance that recovered, trying again (its LoginOk was lost with the link): it resumes, as a
                // resume token's previous value does. Anyone else presenting the used key is refused.
                if (m.instance_id.empty() || m.instance_id != old.instance_id) {
                    return {err(errc::recovery_used), {}};
                }
                recovered = true;
            } else {
                return {err(errc::recovery_invalid), {}};
            }
        }
        if (auto existing = sessions.find(key); existing != sessions.end()) {
            Session& old = existing->second;
            const bool token_matches = recovered || (m.resume_token && !m.resume_token->empty() &&
                                                     (secrets_equal(*m.resume_token, old.resume_token.view()) ||
                                                      secrets_equal(*m.resume_token, old.previous_token())));
            if (old.present && token_matches) {
                resumed = true;  // the same instance within its presence: silent for peers
                proven_token = recovered ? std::string{} : *m.resume_token;  // a recovery shows no token
                end_transport(old, std::nullopt);  // the stale transport, wherever it is, closes without a word
            } else if (old.present) {
                // One session per user: the newcomer wins; the old instance is told why and may not come back at
                // once (kick-loop suppression).
                end_transport(old, proto::CloseReason::remote_login);
                if (!old.instance_id.empty() && old.instance_id != m.instance_id) {
                    kicked[key] = {old.instance_id.str(), now + config.limits.kick_cooldown};
                }
                drop_presence(now, key, old, MemberLeftCause::kicked, Afterwards::retain);
                displaced = true;
            }
        }
        auto& [stored_key, s] = *sessions.try_emplace(key).first;
        s.key = &stored_key;
        const proto::Negotiated t = agreed(cmd);
        s.profile = m.profile;
        s.presence_timeout = t.presence_timeout;
        s.node = &*node_names.insert(node).first;
        ++s.gen;
        s.attached = true;
        s.instance_id = m.instance_id;
        s.peer_address = cmd.peer_address;
        if (!s.present) {
            s.present = true;
            ++counters.sessions;
        }
        // The previous token stays valid until the client shows it has the new one: a LoginOk lost with the link
        // must not turn the next resume into a duplicate login (docs/protocol.md, "Resume tokens").
        // A new session: no key of an earlier one recovers it.
        s.set_previous_token(std::move(proven_token), /*keep_recovery=*/resumed);
        s.resume_token = cmd.new_resume_token;
        deadlines.clear({DeadlineKind::retain, key});
        deadlines.clear({DeadlineKind::presence, key});
        s.set_attributes(m.attributes);

        // Make the session's channels and streams what the client says they are.
        std::set<std::string> wanted;
        std::map<std::string, std::error_code> refused;
        for (const auto& channel : m.channels) {
            if (auto e = may_join(s, channel.channel, cmd.allowed_channels)) {
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
            leave_channel(now, s, name, MemberLeftCause::quit);
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
            for (const auto& stream : std::vector<std::string>(joined->second.begin(), joined->second.end())) {
                if (want.count(stream) == 0) {
                    joined->second.erase(stream);
                    to_channel(s.app(), channel.channel, s.user(),
                               proto::StreamChanged{channel.channel, s.user(), stream, false});
                }
            }
            for (const auto& stream : want) {
                if (joined->second.insert(stream).second) {
                    to_channel(s.app(), channel.channel, s.user(),
                               proto::StreamChanged{channel.channel, s.user(), stream, true});
                }
            }
        }

        LoginResult out;
        out.gen = s.gen;
        out.resumed = resumed;
        out.displaced = displaced;
        out.resume_token = s.resume_token.str();

        // Peer backfill: the messages after the last one this client saw (of this epoch); a client that saw none
        // gets what came since its user went away. Then the messages stored for it while it had no session.
        const std::uint64_t start = m.last_peer_seen && m.last_peer_seen->epoch == epoch() ? m.last_peer_seen->seq
                                    : s.away                                               ? s.away_from()
                                                                                           : s.peer_seq();
        if (s.traffic) {
            const auto& log = s.traffic->peer_log;
            if (!log.empty() && log.front().position.seq > start + 1) {
                out.dropped += log.front().position.seq - start - 1;
            }
            for (const auto& msg : log) {
                if (msg.position.seq > start) {
                    out.backfill.push_back(msg);
                }
            }
        }
        if (auto stored = offline.find(key); stored != offline.end()) {
            Session::Traffic& traffic = s.traffic_made();
            for (auto msg : stored->second) {
                msg.position = {epoch(), ++traffic.peer_seq};
                traffic.peer_log.push_back(msg);
                out.backfill.push_back(msg);
            }
            offline.erase(stored);
            trim_peer_log(traffic);
        }
        s.away = false;
        out.peer_position = {epoch(), out.backfill.empty() ? s.peer_seq() : out.backfill.front().position.seq - 1};

        // Channel messages missed while away: the newest `backfill_count` within the window this login agreed come
        // back (by default rtm only); every other one is counted as dropped, for every profile. rtc, rtc-web and
        // room do not backfill by default, but they are told how many channel messages they missed: nothing is lost
        // silently (protocol.md).
        for (const auto& channel : m.channels) {
            proto::ChannelSnapshot snap = snapshot(s.app(), channel.channel, s.user());
            if (auto e = refused.find(channel.channel); e != refused.end()) {
                snap = proto::ChannelSnapshot{};
                snap.channel = channel.channel;
                snap.error = e->second;
                out.channels.push_back(std::move(snap));
                out.event_seqs.push_back(0);
                continue;
            }
            out.event_seqs.push_back(event_seq(s.app(), channel.channel));
            auto data = channel.last_seen ? channels.find(channel_key(s.app(), channel.channel)) : channels.end();
            if (data != channels.end()) {
                const bool same_epoch = channel.last_seen->epoch == epoch();
                const auto& history = data->second.history;
                std::vector<proto::Message> kept;
                std::uint64_t missed = 0;
                const std::uint64_t first_kept =
                    history.empty() ? data->second.seq + 1 : history.front().message.position.seq;
                if (same_epoch && first_kept > channel.last_seen->seq + 1) {
                    // Older than what the history retains: the gap is counted whole. It may include the user's own
                    // messages (the history that would tell is gone), so this part is an upper bound.
                    missed += first_kept - channel.last_seen->seq - 1;
                }
                for (const auto& stored : history) {
                    const bool newer = !same_epoch || stored.message.position.seq > channel.last_seen->seq;
                    if (!newer || stored.message.from == s.user()) {
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
                out.dropped += missed - kept.size();
                if (!kept.empty()) {
                    snap.position.seq = kept.front().position.seq - 1;  // the position before the backfill
                }
                out.backfill.insert(out.backfill.end(), kept.begin(), kept.end());
            }
            out.channels.push_back(std::move(snap));
        }
        for (auto& msg : out.backfill) {
            msg.backfilled = true;
        }
        return {{}, std::move(out)};
    }

    // ------------------------------------------------------------------ other operations

    Result send(TimePoint now, Session& s, const Send& cmd) {
        const proto::SendMessage& m = cmd.message;
        if (!first_time(now, s, m.message_id)) {
            return {{}, SendResult{true, false, false}};  // acknowledged again, delivered nothing again
        }
        if (!cmd.within_rate) {
            s.traffic->seen_ids.erase(m.message_id);  // not accepted: a later re-send must be able to go through
            return {err(errc::rate_limited), {}};
        }
        if (m.to_channel) {
            if (s.channels.count(*m.to_channel) == 0) {
                return {err(errc::not_joined), {}};
            }
            ChannelData& data = channels[channel_key(s.app(), *m.to_channel)];
            proto::Message out{s.user(), m.to_channel, m.message_id, m.payload, {epoch(), ++data.seq}, false};
            data.history.push_back({now, out});
            while (data.history.size() > config.limits.history_per_channel) {
                data.history.pop_front();
            }
            to_channel(s.app(), *m.to_channel, s.user(), std::move(out));
            return {{}, SendResult{}};
        }
        const std::string target_key = session_key(s.app(), *m.to_user);  // a valid id: the hub checked it
        auto target = sessions.find(target_key);
        if (target != sessions.end() &&
            (target->second.present || (target->second.away && now < target->second.away_until))) {
            Session& t = target->second;
            Session::Traffic& to = t.traffic_made();
            proto::Message out{s.user(), std::nullopt, m.message_id, m.payload, {epoch(), ++to.peer_seq}, false};
            to.peer_log.push_back(out);
            trim_peer_log(to);
            if (t.attached) {
                outbox[t.node_name()].emplace_back(PeerEvent{t.app(), t.user(), t.gen, std::move(out)});
            }
            return {{}, SendResult{false, !t.present, false}};
        }
        if (m.store_offline) {
            auto& stored = offline[target_key];
            stored.push_back(proto::Message{s.user(), std::nullopt, m.message_id, m.payload, {}, false});
            while (stored.size() > config.limits.peer_queue_per_user) {
                stored.pop_front();  // never reported to the receiver: it has no position to compare with
            }
            return {{}, SendResult{false, false, true}};
        }
        return {err(errc::peer_offline), {}};
    }

    /// The session (app, user) as `node` may act on it under `gen`, or nullptr when that node no longer holds it.
    Session* owned(const NodeId& node, const std::string& key, Gen gen) {
        auto it = sessions.find(key);
        if (it == sessions.end() || !it->second.present || !it->second.attached || it->second.node_name() != node ||
            it->second.gen != gen) {
            return nullptr;
        }
        return &it->second;
    }

    Result run(TimePoint now, const NodeId& node, Command& command) {
        const std::string key = session_key(command.app, command.user);
        if (auto* login_cmd = std::get_if<Login>(&command.op)) {
            return login(now, node, key, *login_cmd);
        }
        if (const auto* kick = std::get_if<Kick>(&command.op)) {
            if (kick->ban) {
                banned[key] = now + kick->ban_for;
            }
            auto it = sessions.find(key);
            if (it == sessions.end() || !it->second.present) {
                return {err(errc::not_logged_in), {}};
            }
            end_transport(it->second, kick->ban ? proto::CloseReason::banned : proto::CloseReason::kicked);
            drop_presence(now, key, it->second, MemberLeftCause::kicked, Afterwards::forget);
            return {};
        }
        Session* s = owned(node, key, command.gen);
        if (s == nullptr) {
            ++counters.stale_commands;
            return {err(errc::not_logged_in), {}};
        }
        return std::visit(
            Overloaded{
                [&](const Login&) -> Result { return {}; },  // handled above
                [&](const Kick&) -> Result { return {}; },   // handled above
                [&](const Join& op) -> Result {
                    // The node checked the token's grant (which a renewal may have changed since the login).
                    if (auto e = may_join(*s, op.channel, {})) {
                        return {e, {}};
                    }
                    join_channel(*s, op.channel, {});
                    return {{}, JoinResult{snapshot(s->app(), op.channel, s->user()), event_seq(s->app(), op.channel)}};
                },
                [&](const Leave& op) -> Result {
                    if (s->channels.count(op.channel) == 0) {
                        return {err(errc::not_joined), {}};
                    }
                    leave_channel(now, *s, op.channel, MemberLeftCause::quit);
                    return {};
                },
                [&](const SetStream& op) -> Result {
                    auto channel = s->channels.find(op.channel);
                    if (channel == s->channels.end()) {
                        return {err(errc::not_joined), {}};
                    }
                    const bool changed =
                        op.on ? channel->second.insert(op.stream).second : channel->second.erase(op.stream) != 0;
                    if (changed) {
                        to_channel(s->app(), op.channel, s->user(),
                                   proto::StreamChanged{op.channel, s->user(), op.stream, op.on});
                    }
                    return {};
                },
                [&](const Send& op) -> Result { return send(now, *s, op); },
                [&](const SetAttributes& op) -> Result {
                    s->set_attributes(op.attributes);
                    return {};
                },
                [&](const IssueRecovery& op) -> Result {
                    s->secrets_made().recovery_secret = op.secret;
                    return {};
                },
                [&](const GetAttributes& op) -> Result {
                    auto target = sessions.find(session_key(s->app(), op.user));
                    if (target == sessions.end() || !target->second.present) {
                        return {err(errc::peer_offline), {}};
                    }
                    return {
                        {},
                        AttributesResult{target->second.attributes ? *target->second.attributes : proto::Attributes{}}};
                },
                [&](const End& op) -> Result {
                    if (op.cause == MemberLeftCause::dropped) {
                        ++counters.presence_timeouts;
                    }
                    const Afterwards after = op.forget                              ? Afterwards::forget
                                             : op.cause == MemberLeftCause::dropped ? Afterwards::away
                                                                                    : Afterwards::retain;
                    drop_presence(now, key, *s, op.cause, after);
                    return {};
                },
                [&](const Detach& op) -> Result {
                    s->attached = false;
                    deadlines.set({DeadlineKind::presence, key}, now + std::max(Duration::zero(), op.presence_left));
                    return {};
                },
            },
            command.op);
    }

    // ------------------------------------------------------------------ time

    /// The node holds no transport any more (it died or left): presence runs out from `last_sign_of_life`.
    void release_node(const NodeId& node, TimePoint last_sign_of_life) {
        nodes.erase(node);
        for (auto& [key, s] : sessions) {
            if (s.node_name() == node && s.present && s.attached) {
                // Its transport may be alive, on a node nobody hears any more: presence runs out from the node's
                // last sign of life, exactly as if the transport had closed then.
                s.attached = false;
                deadlines.set({DeadlineKind::presence, key}, last_sign_of_life + s.presence_timeout);
            }
        }
    }

    void fire(TimePoint now, TimePoint at, const DeadlineKey& due) {
        const auto& [kind, key] = due;
        switch (kind) {
            case DeadlineKind::presence: {
                auto it = sessions.find(key);
                if (it != sessions.end() && it->second.present && !it->second.attached) {
                    ++counters.presence_timeouts;
                    drop_presence(now, key, it->second, MemberLeftCause::dropped, Afterwards::away);
                }
                return;
            }
            case DeadlineKind::retain: {
                auto it = sessions.find(key);
                if (it != sessions.end() && !it->second.present) {
                    sessions.erase(it);  // nothing left to resume, de-duplicate or keep for the user's return
                }
                return;
            }
            case DeadlineKind::node: {
                auto it = nodes.find(key);
                if (it != nodes.end()) {
                    ++counters.nodes_dead;
                    release_node(key, at - config.limits.node_dead_after);
                }
                return;
            }
            case DeadlineKind::channel: {
                if (members.count(key) == 0) {
                    channels.erase(key);
                    event_seqs.erase(key);
                }
                return;
            }
        }
    }
};

MemoryStore::MemoryStore(StoreConfig config) : state_(std::make_unique<State>()) {
    state_->config = std::move(config);
    for (const Profile p : {Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room}) {
        state_->config.timings.try_emplace(p, timings_for(p));
    }
}

MemoryStore::~MemoryStore() = default;

std::optional<Result> MemoryStore::execute(TimePoint now, const NodeId& node, CommandId /*id*/, Command command) {
    return state_->run(now, node, command);
}

std::vector<Event> MemoryStore::take_events(const NodeId& node) {
    auto it = state_->outbox.find(node);
    if (it == state_->outbox.end()) {
        return {};
    }
    std::vector<Event> out = std::move(it->second);
    it->second.clear();
    return out;
}

void MemoryStore::subscribe(const NodeId& node, const std::string& app, const std::string& channel) {
    state_->subscribers[channel_key(app, channel)].insert(node);
}

void MemoryStore::unsubscribe(const NodeId& node, const std::string& app, const std::string& channel) {
    auto it = state_->subscribers.find(channel_key(app, channel));
    if (it != state_->subscribers.end()) {
        it->second.erase(node);
        if (it->second.empty()) {
            state_->subscribers.erase(it);
        }
    }
}

void MemoryStore::heartbeat(TimePoint now, const NodeId& node) {
    auto& s = *state_;
    s.nodes[node] = now;
    if (s.config.limits.node_dead_after > Duration::zero()) {
        s.deadlines.set({DeadlineKind::node, node}, now + s.config.limits.node_dead_after);
    }
}

void MemoryStore::leave(TimePoint now, const NodeId& node) {
    auto& s = *state_;
    s.deadlines.clear({DeadlineKind::node, node});
    s.release_node(node, now);
    s.outbox.erase(node);
}

void MemoryStore::reconcile(TimePoint now, const NodeId& node, const std::map<std::string, Gen>& held) {
    auto& state = *state_;
    for (auto& [key, s] : state.sessions) {
        if (s.node_name() != node || !s.present || !s.attached) {
            continue;
        }
        auto it = held.find(key);
        if (it == held.end() || (it->second != 0 && it->second != s.gen)) {
            ++state.counters.reconciled;
            s.attached = false;
            state.deadlines.set({DeadlineKind::presence, key}, now + s.presence_timeout);
        }
    }
}

std::optional<TimePoint> MemoryStore::next_deadline() const {
    return state_->deadlines.earliest();
}

void MemoryStore::handle_timeout(TimePoint now) {
    auto& s = *state_;
    while (auto due = s.deadlines.pop_due(now)) {
        s.fire(now, due->first, due->second);
    }
}

StoreStats MemoryStore::stats() const {
    return state_->counters;
}

std::vector<Store::SessionView> MemoryStore::sessions() const {
    std::vector<SessionView> out;
    for (const auto& [key, s] : state_->sessions) {
        if (!s.present) {
            continue;
        }
        SessionView view{s.app(), s.user(), s.profile, s.node_name(), s.attached, {}, s.peer_address};
        for (const auto& [name, streams] : s.channels) {
            view.channels.push_back(name);
        }
        out.push_back(std::move(view));
    }
    return out;
}

std::vector<Store::ChannelView> MemoryStore::channels() const {
    std::vector<ChannelView> out;
    for (const auto& [key, members] : state_->members) {  // the channels with members: an empty one is no more
        const auto split = key.find('\n');
        ChannelView view{key.substr(0, split), key.substr(split + 1), {members.begin(), members.end()}, 0};
        if (auto data = state_->channels.find(key); data != state_->channels.end()) {
            view.messages = data->second.seq;
        }
        out.push_back(std::move(view));
    }
    return out;
}

void MemoryStore::list(TimePoint /*now*/, ListHandler done) {
    done(sessions(), channels());
}

bool MemoryStore::away(const std::string& app, const std::string& user) const {
    auto it = state_->sessions.find(session_key(app, user));
    return it != state_->sessions.end() && !it->second.present && it->second.away;
}

}  // namespace relink::cluster
