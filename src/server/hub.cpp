// relinkd's sans-IO hub (see hub.hpp, docs/server.md and docs/cluster.md).
#include "server/hub.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "cluster/deadlines.hpp"
#include "cluster/memory_store.hpp"
#include "common/flat_containers.hpp"
#include "common/overloaded.hpp"
#include "core/recovery_key.hpp"

namespace relink::server {
namespace {

using cluster::channel_key;
using cluster::session_key;
using detail::Overloaded;

std::error_code err(errc code) {
    return make_error_code(code);
}

/// A token bucket: `rate` tokens per second, at most `burst`, starting full.
struct Bucket {
    double tokens{0};
    TimePoint last{};
    bool primed{false};

    /// Refills for the time passed; whether one token is there (without taking it).
    bool ready(TimePoint now, double rate, double burst) {
        if (!primed) {
            tokens = burst;
            last = now;
            primed = true;
        }
        const double elapsed = std::chrono::duration<double>(now - last).count();
        tokens = std::min(burst, tokens + std::max(0.0, elapsed) * rate);
        last = now;
        return tokens >= 1.0;
    }
    bool take(TimePoint now, double rate, double burst) {
        if (!ready(now, rate, burst)) {
            return false;
        }
        tokens -= 1.0;
        return true;
    }
};

/// What a local deadline is for: one per (kind, key); updating a deadline replaces the old one.
enum class TimerKind : std::uint8_t { presence, token_expiry, keep_alive, login_grace, heartbeat, presence_batch };
using TimerKey = std::pair<TimerKind, std::string>;  ///< session key, connection id in decimal, or empty

/// A deadline kept inside the record it is for (a connection's keep-alive, a session's presence), linked into a
/// TimerList: every frame re-arms both, and as entries of the hub's timer maps they cost four heap nodes per
/// connected session (docs/benchmarks.md, "Where the memory goes"). Not copyable: the list points at it.
struct TimerLink {
    TimerLink() = default;
    TimerLink(const TimerLink&) = delete;
    TimerLink& operator=(const TimerLink&) = delete;
    TimerLink(TimerLink&&) = delete;
    TimerLink& operator=(TimerLink&&) = delete;
    ~TimerLink() = default;

    TimePoint at{};
    TimerLink* prev{nullptr};
    TimerLink* next{nullptr};
};

/// Links ordered by time (equal times in the order they were armed). Arming at a time no earlier than the last
/// one's, which is what re-arming with one delay on a clock that does not go back does, is O(1).
class TimerList {
public:
    void arm(TimerLink& link, TimePoint at) {
        disarm(link);
        link.at = at;
        TimerLink* after = tail_;
        while (after != nullptr && after->at > at) {
            after = after->prev;
        }
        link.prev = after;
        link.next = after != nullptr ? after->next : head_;
        (link.next != nullptr ? link.next->prev : tail_) = &link;
        (after != nullptr ? after->next : head_) = &link;
    }
    /// Does nothing if `link` is not armed; an armed link must be in this list.
    void disarm(TimerLink& link) {
        if (link.prev == nullptr && head_ != &link) {
            return;  // not armed (every armed link but the head has a previous one)
        }
        (link.prev != nullptr ? link.prev->next : head_) = link.next;
        (link.next != nullptr ? link.next->prev : tail_) = link.prev;
        link.prev = nullptr;
        link.next = nullptr;
    }
    [[nodiscard]] const TimerLink* head() const noexcept { return head_; }
    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }

private:
    TimerLink* head_{nullptr};
    TimerLink* tail_{nullptr};
};

}  // namespace

proto::Negotiated agree_timings(const Timings& defaults, const proto::TimingsRequest& asked,
                                const TimingBounds& bounds) {
    // max(low, min(value, high)) rather than std::clamp: bounds configured the wrong way round give `low`, not UB.
    const auto within = [](auto value, auto low, auto high) { return std::max(low, std::min(value, high)); };
    proto::Negotiated out;
    out.heartbeat_interval = within(asked.heartbeat_interval.value_or(defaults.heartbeat_interval),
                                    bounds.min_heartbeat_interval, bounds.max_heartbeat_interval);
    out.presence_timeout = within(asked.presence_timeout.value_or(defaults.presence_timeout),
                                  bounds.min_presence_timeout, bounds.max_presence_timeout);
    out.backfill_window =
        within(asked.backfill_window.value_or(defaults.backfill_window), Duration::zero(), bounds.max_backfill_window);
    out.backfill_count = std::min(asked.backfill_count.value_or(defaults.backfill_count), bounds.max_backfill_count);
    return out;
}

cluster::StoreConfig store_config(const HubConfig& config) {
    cluster::StoreConfig out;
    out.timings = config.timings;
    out.epoch = config.epoch;
    const Limits& l = config.limits;
    out.limits.max_channels_per_user = l.max_channels_per_user;
    out.limits.max_members_per_channel = l.max_members_per_channel;
    out.limits.peer_queue_per_user = l.peer_queue_per_user;
    out.limits.history_per_channel = l.history_per_channel;
    out.limits.dedup_window = l.dedup_window;
    out.limits.kick_cooldown = l.kick_cooldown;
    out.limits.session_lifetime = l.session_lifetime;
    out.limits.node_dead_after = config.node_dead_after;
    return out;
}

struct Hub::State {
    /// Its keep-alive deadline is the TimerLink (armed while logged in and keep-alive is on).
    struct Conn : TimerLink {
        ConnId id{0};
        std::string peer_address;
        TimePoint last_rx{};
        /// Its session's key in `locals` once logged in; reset when the session is no longer held here (only the
        /// connection a LocalSession names holds its key).
        const std::string* session{nullptr};
        bool closed{false};         ///< a CloseConnection was issued: ignore what still arrives
        bool login_pending{false};  ///< a Login is with the store: later frames wait for its result
        bool in_progress{false};    ///< counted in logins_in_progress: open, not logged in, not closed
        /// Frames that came while the login was with the store, in order; null while there are none. Nearly
        /// always there are none: a pointer costs a connection 8 bytes where an empty vector costs 24 (and an
        /// empty std::deque allocates ~600 bytes, libstdc++). Made by held_made(), dropped once replayed.
        std::unique_ptr<std::vector<proto::ClientMessage>> held;

        std::vector<proto::ClientMessage>& held_made() {
            if (!held) {
                held = std::make_unique<std::vector<proto::ClientMessage>>();
            }
            return *held;
        }
    };
    /// A session whose transport is on this node. The store holds the rest of it.
    /// Its presence deadline (silent this long with its transport open) is the TimerLink.
    struct LocalSession : TimerLink {
        const std::string* key{nullptr};  ///< its key in `locals`: session_key(app, user)
        Duration presence_timeout{};      ///< agreed at login: silent this long, the user drops
        ConnId conn{0};
        cluster::Gen gen{0};
        /// A sorted vector: a session is in a few channels, and a std::set's node per channel cost twice as much.
        detail::FlatSet<std::string> channels;
        /// The channels its token grants; null = any (most tokens name none: a pointer instead of an empty
        /// vector's 24 bytes). Set by allow().
        std::unique_ptr<std::vector<std::string>> allowed_channels;
        Bucket sends;
        // The small fields together, so that they share one 8-byte slot instead of padding one each.
        Profile profile{Profile::rtm};
        bool presence_batches{false};  ///< its client reads Presence frames (Login::presence_batches)

        /// Takes a token's channel grant (empty = any).
        void allow(const std::vector<std::string>& granted) {
            allowed_channels = granted.empty() ? nullptr : std::make_unique<std::vector<std::string>>(granted);
        }
        [[nodiscard]] bool may_join(const std::string& channel) const {
            return !allowed_channels ||
                   std::find(allowed_channels->begin(), allowed_channels->end(), channel) != allowed_channels->end();
        }

        // The app and the user, from the key (not kept twice).
        [[nodiscard]] std::string app() const { return key->substr(0, key->find('\n')); }
        [[nodiscard]] std::string user() const { return key->substr(key->find('\n') + 1); }
    };
    /// Membership changes on their way to one connection (Limits::presence_batch_interval).
    struct PresenceBatch {
        bool held{false};                     ///< a frame went out less than an interval ago: changes wait here
        std::vector<proto::Presence> frames;  ///< held changes, per channel, in the order of their first change
        /// The Presence action this input queued for the connection (its number since the start), while it is the
        /// connection's last one: the input's further changes in that channel join it.
        std::optional<std::uint64_t> open;
    };
    /// What to do with a command's result when it comes.
    enum class Then : std::uint8_t {
        login,
        reply,           ///< a plain Reply
        join,            ///< JoinOk, and the channel becomes local
        leave,           ///< Reply, and the channel stops being local
        send,            ///< Reply (with `stored`), counted
        get_attributes,  ///< AttributesReply
        recovery_key,    ///< RecoveryKeyOk with the secret the store registered (`subject`)
        none,            ///< nobody waits (detach, end by timer)
        admin,           ///< an admin request's callback
    };
    struct Pending {
        Then then{Then::none};
        ConnId conn{0};
        proto::RequestId request_id{0};
        std::string key;                            ///< the session's key
        std::string subject;                        ///< the channel (join, leave) or the user (get_attributes)
        proto::Login login;                         ///< login: the request, for the reply's shape
        TokenCheck check;                           ///< login: the token's verdict
        std::function<void(std::error_code)> done;  ///< admin: told the outcome
        proto::Negotiated agreed;                   ///< login: the session's timings
    };

    HubConfig config;
    TokenVerifier verifier;
    std::shared_ptr<cluster::Store> store;
    std::map<ConnId, Conn> conns;
    std::map<std::string, LocalSession> locals;  ///< by session key
    /// channel key → local users in it (sorted vectors: one block per channel instead of a node per member)
    std::map<std::string, detail::FlatSet<std::string>> local_members;
    /// channel key → local user → the channel's events that arrived while that user's join was with the store
    std::map<std::string, std::map<std::string, std::vector<cluster::ChannelEvent>>> pending_joins;
    std::map<std::string, std::uint64_t> channel_seqs;  ///< channel key → the last event seq this node saw
    /// channel key → local user → the seq of its join's snapshot, while that is ahead of channel_seqs: the events up
    /// to it are still on their way to this node (Redis answers on one connection and publishes on another); the
    /// node's other members need them, the joiner's snapshot has them
    std::map<std::string, std::map<std::string, std::uint64_t>> join_floors;
    /// session key → peer messages for it that arrived while its login on this node was with the store (a message
    /// sent after the login took effect is addressed to the new generation, and is not in the login's backfill)
    std::map<std::string, std::vector<cluster::PeerEvent>> logging_in;
    /// Connections that closed with a Logout waiting behind their login (the client logged out and hung up before
    /// the LoginOk): when that login takes effect, the session ends as the Logout asked, instead of outliving the
    /// connection by its presence timeout.
    detail::FlatSet<ConnId> logged_out_during_login;
    std::map<std::string, Bucket> login_buckets;  ///< by peer address
    Bucket server_logins;                         ///< every login of this server
    std::size_t logins_in_progress{0};            ///< connections whose Conn::in_progress is set
    /// The instant by which the login rate will have admitted every login told to come back (the retry-afters
    /// handed out): the next refused login's retry-after counts from here, so returns are spread at that rate.
    TimePoint busy_until{};
    bool overloaded{false};  ///< the driver's memory verdict (set_overloaded)
    std::map<cluster::CommandId, Pending> pending;
    cluster::CommandId last_command{0};
    std::uint64_t resume_counter{0};
    bool draining{false};
    Duration drain_window{};
    cluster::Deadlines<TimerKey> deadlines;   ///< every local deadline but the two below
    TimerList keep_alives;                    ///< connections' keep-alive deadlines (Conn)
    std::map<Duration, TimerList> presences;  ///< sessions' presence deadlines (LocalSession), by presence timeout
    std::deque<HubAction> actions;
    std::uint64_t actions_taken{0};  ///< actions the driver polled since the start
    /// connection → its batch of membership changes, from its first change until an interval passes with none
    std::map<ConnId, PresenceBatch> presence_batches;
    std::vector<ConnId> presence_due;  ///< quiet connections that got changes in this input: held at its end
    Metrics metrics;
    Metrics reported;  ///< metrics with the store's counters folded in (what metrics() returns)

    [[nodiscard]] const Timings& timings(Profile p) const { return config.timings.at(p); }

    void send(ConnId conn, proto::ServerMessage message) {
        if (!presence_batches.empty()) {
            before_send(conn, message);
        }
        actions.emplace_back(SendMessage{conn, std::move(message)});
    }

    // ------------------------------------------------------------------ membership changes in batches

    /// Anything else sent to a connection (but a Pong) goes after the membership changes it is owed, so that a
    /// member never hears from a user before it hears that the user joined. A Close drops them instead: the client's
    /// next login gets a snapshot of each channel.
    void before_send(ConnId conn, const proto::ServerMessage& message) {
        auto batch = presence_batches.find(conn);
        if (batch == presence_batches.end()) {
            return;
        }
        if (std::holds_alternative<proto::Pong>(message)) {
            return;  // says nothing about anyone: it may pass held changes (heartbeats must not undo the batching)
        }
        batch->second.open.reset();  // a later change must not join a frame that now precedes this message
        if (batch->second.frames.empty()) {
            return;
        }
        if (std::holds_alternative<proto::Close>(message)) {
            batch->second.frames.clear();
            return;
        }
        emit_presence(conn, batch->second);
    }

    void emit_presence(ConnId conn, PresenceBatch& batch) {
        for (auto& frame : batch.frames) {
            ++metrics.presence_frames;
            metrics.presence_changes += frame.changes.size();
            actions.emplace_back(SendMessage{conn, std::move(frame)});
        }
        batch.frames.clear();
    }

    /// The Presence frame this input queued for the connection, if it is still its last action (and not yet
    /// taken by the driver).
    proto::Presence* open_frame(PresenceBatch& batch) {
        if (!batch.open || *batch.open < actions_taken || *batch.open - actions_taken >= actions.size()) {
            return nullptr;
        }
        auto* action = std::get_if<SendMessage>(&actions[static_cast<std::size_t>(*batch.open - actions_taken)]);
        return action != nullptr ? std::get_if<proto::Presence>(&action->message) : nullptr;
    }

    /// A membership change for a member whose client reads batches. On a quiet connection it goes out at once, in
    /// one frame with the changes for the same channel that follow it in this input; the connection is then held
    /// for an interval (release_presence), during which its changes wait in its batch.
    void queue_presence(ConnId conn, const std::string& channel, proto::PresenceChange change) {
        auto [entry, fresh] = presence_batches.try_emplace(conn);
        PresenceBatch& batch = entry->second;
        if (fresh) {
            presence_due.push_back(conn);
        }
        if (!batch.held) {
            ++metrics.presence_changes;
            if (proto::Presence* open = open_frame(batch);
                open != nullptr && open->channel == channel && open->changes.size() < proto::kMaxPresenceChanges) {
                open->changes.push_back(std::move(change));
                return;
            }
            ++metrics.presence_frames;
            actions.emplace_back(SendMessage{conn, proto::Presence{channel, {std::move(change)}}});
            batch.open = actions_taken + actions.size() - 1;
            return;
        }
        auto& frames = batch.frames;
        auto same = std::find_if(frames.rbegin(), frames.rend(), [&](const auto& f) { return f.channel == channel; });
        if (same == frames.rend() || same->changes.size() >= proto::kMaxPresenceChanges) {
            frames.push_back(proto::Presence{channel, {}});
            same = frames.rbegin();
        }
        same->changes.push_back(std::move(change));
    }

    /// The end of an input: the connections that were quiet and got changes in it are held for an interval.
    void release_presence(TimePoint now) {
        for (const ConnId conn : presence_due) {
            auto batch = presence_batches.find(conn);
            if (batch == presence_batches.end() || batch->second.held) {
                continue;
            }
            batch->second.open.reset();
            batch->second.held = true;
            deadlines.set({TimerKind::presence_batch, std::to_string(conn)},
                          now + config.limits.presence_batch_interval);
        }
        presence_due.clear();
    }

    /// The interval after a connection's last batch: what came meanwhile goes out (and holds it again), or the
    /// connection is quiet again.
    void presence_interval_ended(TimePoint now, const std::string& key) {
        auto batch = presence_batches.find(std::stoull(key));
        if (batch == presence_batches.end()) {
            return;
        }
        if (batch->second.frames.empty()) {
            presence_batches.erase(batch);
            return;
        }
        emit_presence(batch->first, batch->second);
        deadlines.set({TimerKind::presence_batch, key}, now + config.limits.presence_batch_interval);
    }

    void forget_presence(ConnId conn) {
        if (presence_batches.erase(conn) != 0) {
            deadlines.clear({TimerKind::presence_batch, std::to_string(conn)});
        }
    }

    // ------------------------------------------------------------------ the store

    /// Runs a command in the store; its result is handled now (an in-memory store) or when it comes.
    void issue(TimePoint now, cluster::Command command, Pending then) {
        const cluster::CommandId id = ++last_command;
        auto result = store->execute(now, config.node_id, id, std::move(command));
        if (!result) {
            pending.emplace(id, std::move(then));
            return;
        }
        // What the command caused reaches the others before its requester hears back (the order of one node).
        pump(now);
        complete(now, then, std::move(*result));
    }

    [[nodiscard]] cluster::Command command(const LocalSession& s, cluster::Operation op) const {
        return cluster::Command{s.app(), s.user(), s.gen, std::move(op)};
    }

    void pump(TimePoint now) {
        for (auto& event : store->take_events(config.node_id)) {
            std::visit(Overloaded{[&](cluster::ChannelEvent& e) { deliver(now, e); },
                                  [&](cluster::PeerEvent& e) {
                                      const std::string key = session_key(e.app, e.user);
                                      if (auto waiting = logging_in.find(key); waiting != logging_in.end()) {
                                          waiting->second.push_back(std::move(e));  // for the login on its way
                                          return;
                                      }
                                      auto s = locals.find(key);
                                      if (s != locals.end() && s->second.gen == e.gen) {
                                          send(s->second.conn, std::move(e.message));
                                          ++metrics.deliveries;
                                      }
                                  },
                                  [&](cluster::SessionEnded& e) { session_ended(now, e); }},
                       event);
        }
    }

    void deliver(TimePoint now, const cluster::ChannelEvent& e) {
        const std::string ck = channel_key(e.app, e.channel);
        if (auto joining = pending_joins.find(ck); joining != pending_joins.end()) {
            for (auto& [user, buffered] : joining->second) {
                buffered.push_back(e);  // all of them, the joiner's own too: the sequence must have no holes
            }
        }
        if (auto last = channel_seqs.find(ck); last != channel_seqs.end() && e.seq != 0) {
            if (e.seq <= last->second) {
                return;  // seen already
            }
            if (e.seq != last->second + 1) {
                resync(now, ck);  // events were missed on the way here
                return;
            }
            last->second = e.seq;
        }
        auto members = local_members.find(ck);
        if (members == local_members.end()) {
            return;
        }
        auto floors = join_floors.find(ck);
        // A channel message goes out as one action naming every receiver: the driver encodes it once and shares
        // the bytes (relinkd's cost per delivery). Other events go one by one.
        const bool to_many = std::holds_alternative<proto::Message>(e.message);
        std::vector<ConnId> receivers;
        for (const auto& user : members->second) {
            if (user == e.except) {
                continue;
            }
            if (floors != join_floors.end() && e.seq != 0) {
                if (auto floor = floors->second.find(user); floor != floors->second.end() && e.seq <= floor->second) {
                    continue;  // the user's join snapshot has it
                }
            }
            if (auto s = locals.find(session_key(e.app, user)); s != locals.end()) {
                if (to_many) {
                    if (!presence_batches.empty()) {
                        before_send(s->second.conn, e.message);  // its held membership changes go first
                    }
                    receivers.push_back(s->second.conn);
                } else {
                    send_event(s->second, e.channel, e.message);
                }
            }
        }
        if (!receivers.empty()) {
            metrics.deliveries += receivers.size();
            actions.emplace_back(SendToMany{std::move(receivers), e.message});
        }
        if (floors != join_floors.end() && e.seq != 0) {
            std::erase_if(floors->second, [&](const auto& floor) { return floor.second <= e.seq; });
            if (floors->second.empty()) {
                join_floors.erase(floors);
            }
        }
    }

    /// A channel's event to one of its local members: a message, or a membership change (in a batch when the
    /// member's client reads them and batches are on).
    void send_event(const LocalSession& s, const std::string& channel, const proto::ServerMessage& message) {
        if (std::holds_alternative<proto::Message>(message)) {
            send(s.conn, message);
            ++metrics.deliveries;
            return;
        }
        std::optional<proto::PresenceChange> change = proto::presence_change(message);
        if (change && s.presence_batches && config.limits.presence_batch_interval > Duration::zero()) {
            queue_presence(s.conn, channel, std::move(*change));
            return;
        }
        send(s.conn, message);
        if (change) {
            ++metrics.presence_frames;
            ++metrics.presence_changes;
        }
    }

    /// A channel's events did not all reach this node (its Redis subscription was lost for a while, or it came after
    /// a join's first events): its local members' transports close without a word, so that each resumes, on this
    /// node or another, and gets what it missed as a snapshot and backfill instead of never.
    void resync(TimePoint now, const std::string& ck) {
        ++metrics.event_gaps;
        channel_seqs.erase(ck);
        join_floors.erase(ck);
        auto members = local_members.find(ck);
        if (members == local_members.end()) {
            return;
        }
        const std::string app = ck.substr(0, ck.find('\n'));
        for (const auto& user : std::vector<std::string>(members->second.begin(), members->second.end())) {
            const std::string key = session_key(app, user);
            if (auto s = locals.find(key); s != locals.end()) {
                const ConnId conn = s->second.conn;
                detach(now, key);
                close(conn);
            }
        }
    }

    // ------------------------------------------------------------------ joins on their way to the store

    [[nodiscard]] bool listening(const std::string& ck) const {
        return local_members.count(ck) != 0 || pending_joins.count(ck) != 0;
    }

    /// A local user's join of `channel` goes to the store: the node subscribes first, so nothing published after the
    /// join's snapshot can pass it by, and keeps what arrives until the answer says which of it came after.
    void begin_join(const std::string& app, const std::string& user, const std::string& channel) {
        const std::string ck = channel_key(app, channel);
        if (!listening(ck)) {
            store->subscribe(config.node_id, app, channel);
        }
        pending_joins[ck][user].clear();
    }

    /// The join was answered: what arrived meanwhile (to be given to catch_up() if it succeeded).
    std::vector<cluster::ChannelEvent> end_join(const std::string& app, const std::string& user,
                                                const std::string& channel) {
        const std::string ck = channel_key(app, channel);
        std::vector<cluster::ChannelEvent> buffered;
        if (auto joining = pending_joins.find(ck); joining != pending_joins.end()) {
            if (auto entry = joining->second.find(user); entry != joining->second.end()) {
                buffered = std::move(entry->second);
                joining->second.erase(entry);
            }
            if (joining->second.empty()) {
                pending_joins.erase(joining);
            }
        }
        if (!listening(ck)) {
            store->unsubscribe(config.node_id, app, channel);
            channel_seqs.erase(ck);
            join_floors.erase(ck);
        }
        return buffered;
    }

    /// After a successful join's answer (sent already): the channel is local for the user, and the events that came
    /// after its snapshot (`snapshot_seq`) while the join was with the store are delivered to it, in order.
    void catch_up(TimePoint now, LocalSession& s, const std::string& channel, std::uint64_t snapshot_seq,
                  const std::vector<cluster::ChannelEvent>& buffered) {
        add_local_channel(s, channel);
        const std::string ck = channel_key(s.app(), channel);
        const auto [tracked, fresh] = channel_seqs.try_emplace(ck, snapshot_seq);
        std::uint64_t expect = snapshot_seq;
        for (const auto& e : buffered) {
            if (e.seq == 0 || e.seq <= expect) {
                continue;  // the snapshot has it (or it is a repeat)
            }
            if (e.seq != expect + 1) {
                resync(now, ck);  // the subscription was late: what came before it is not here
                return;
            }
            expect = e.seq;
            if (e.except != s.user()) {
                send_event(s, e.channel, e.message);
            }
        }
        if (fresh) {
            tracked->second = expect;
        } else if (tracked->second < expect) {
            // The snapshot is ahead of what reached this node: the events in between are still on their way, and
            // the node's other members need them. Only this user skips them.
            join_floors[ck][s.user()] = expect;
        }
    }

    /// The store ended the session this node held (a kick, a ban, a duplicate login, or a resume elsewhere).
    void session_ended(TimePoint /*now*/, const cluster::SessionEnded& e) {
        const std::string key = session_key(e.app, e.user);
        auto s = locals.find(key);
        if (s == locals.end() || s->second.gen != e.gen) {
            return;
        }
        const ConnId conn = s->second.conn;
        if (e.reason) {
            send(conn, proto::Close{*e.reason, {}});
        }
        forget_local(key);
        close(conn);
    }

    // ------------------------------------------------------------------ local sessions

    void add_local_channel(LocalSession& s, const std::string& channel) {
        if (!s.channels.insert(channel).second) {
            return;
        }
        const std::string ck = channel_key(s.app(), channel);
        if (!listening(ck)) {
            store->subscribe(config.node_id, s.app(), channel);
        }
        local_members[ck].insert(s.user());
    }

    void remove_local_channel(LocalSession& s, const std::string& channel) {
        if (s.channels.erase(channel) == 0) {
            return;
        }
        auto members = local_members.find(channel_key(s.app(), channel));
        if (members == local_members.end()) {
            return;
        }
        members->second.erase(s.user());
        if (auto floors = join_floors.find(members->first); floors != join_floors.end()) {
            floors->second.erase(s.user());
        }
        if (members->second.empty()) {
            const std::string ck = members->first;
            local_members.erase(members);
            if (!listening(ck)) {
                store->unsubscribe(config.node_id, s.app(), channel);
                channel_seqs.erase(ck);
                join_floors.erase(ck);
            }
        }
    }

    /// The session is no longer held here: its channels stop being local, its timers stop.
    void forget_local(const std::string& key) {
        auto s = locals.find(key);
        if (s == locals.end()) {
            return;
        }
        for (const auto& channel : std::vector<std::string>(s->second.channels.begin(), s->second.channels.end())) {
            remove_local_channel(s->second, channel);
        }
        if (auto c = conns.find(s->second.conn);
            c != conns.end() && c->second.session != nullptr && *c->second.session == key) {
            c->second.session = nullptr;
        }
        disarm_presence(s->second);
        deadlines.clear({TimerKind::token_expiry, key});
        locals.erase(s);
    }

    /// The session's transport here is gone: the store counts its presence down from its last data.
    void detach(TimePoint now, const std::string& key) {
        auto s = locals.find(key);
        if (s == locals.end()) {
            return;
        }
        Duration left = s->second.presence_timeout;
        if (auto c = conns.find(s->second.conn); c != conns.end()) {
            left -= now - c->second.last_rx;
        }
        cluster::Command cmd = command(s->second, cluster::Detach{left});
        forget_local(key);
        issue(now, std::move(cmd), {});
    }

    /// Ends the session here and in the store (logout, token expiry, presence timeout with the transport open).
    void end_session(TimePoint now, const std::string& key, MemberLeftCause cause, bool forget, Pending then) {
        auto s = locals.find(key);
        if (s == locals.end()) {
            return;
        }
        const ConnId conn = s->second.conn;
        cluster::Command cmd = command(s->second, cluster::End{cause, forget});
        forget_local(key);
        issue(now, std::move(cmd), std::move(then));
        close(conn);
    }

    // ------------------------------------------------------------------ connections

    void close(ConnId conn) {
        auto it = conns.find(conn);
        if (it == conns.end() || it->second.closed) {
            return;
        }
        it->second.closed = true;
        settle(it->second);
        it->second.held.reset();
        forget_presence(conn);
        keep_alives.disarm(it->second);
        deadlines.clear({TimerKind::login_grace, std::to_string(conn)});
        actions.emplace_back(CloseConnection{conn});
    }

    /// The connection's login is no longer in progress (it logged in, or the connection closed).
    void settle(Conn& c) {
        if (c.in_progress) {
            c.in_progress = false;
            --logins_in_progress;
        }
    }

    void close_with(ConnId conn, proto::CloseReason reason, Duration within = {}) {
        send(conn, proto::Close{reason, within});
        close(conn);
    }

    /// A connection that closes (by us or by the peer) lets its session's presence count down in the store.
    void close_and_detach(TimePoint now, ConnId conn, proto::CloseReason reason, Duration within = {}) {
        auto it = conns.find(conn);
        if (it == conns.end() || it->second.closed) {
            return;
        }
        const std::optional<std::string> key =
            it->second.session != nullptr ? std::optional<std::string>(*it->second.session) : std::nullopt;
        close_with(conn, reason, within);
        if (key) {
            detach(now, *key);
        }
    }

    void touch_conn(TimePoint now, Conn& c) {
        c.last_rx = now;
        if (c.session && config.keep_alive_timeout > Duration::zero()) {
            keep_alives.arm(c, now + config.keep_alive_timeout);
        }
    }

    void touch_session(TimePoint now, LocalSession& s) {
        presences[s.presence_timeout].arm(s, now + s.presence_timeout);
    }

    void disarm_presence(LocalSession& s) {
        if (auto list = presences.find(s.presence_timeout); list != presences.end()) {
            list->second.disarm(s);
            if (list->second.empty()) {
                presences.erase(list);
            }
        }
    }

    // ------------------------------------------------------------------ the local deadlines in order

    /// The earliest local deadline, in the order one timer map of them all would give: by time, then kind, then
    /// key (so a connection's keep-alive compares by its id in decimal, as it did as a map key).
    [[nodiscard]] std::optional<std::pair<TimePoint, TimerKey>> first_timer() const {
        std::optional<std::pair<TimePoint, TimerKey>> best = deadlines.first();
        const auto offer = [&](TimePoint at, TimerKind kind, const std::string& key) {
            if (!best || std::tie(at, kind, key) < std::tie(best->first, best->second.first, best->second.second)) {
                best = std::pair<TimePoint, TimerKey>{at, {kind, key}};
            }
        };
        for (const TimerLink* l = keep_alives.head(); l != nullptr && l->at == keep_alives.head()->at; l = l->next) {
            offer(l->at, TimerKind::keep_alive, std::to_string(static_cast<const Conn*>(l)->id));
        }
        for (const auto& [timeout, list] : presences) {
            for (const TimerLink* l = list.head(); l != nullptr && l->at == list.head()->at; l = l->next) {
                offer(l->at, TimerKind::presence, *static_cast<const LocalSession*>(l)->key);
            }
        }
        return best;
    }

    [[nodiscard]] std::optional<TimePoint> earliest_timer() const {
        std::optional<TimePoint> best = deadlines.earliest();
        const auto offer = [&](const TimerList& list) {
            if (!list.empty() && (!best || list.head()->at < *best)) {
                best = list.head()->at;
            }
        };
        offer(keep_alives);
        for (const auto& [timeout, list] : presences) {
            offer(list);
        }
        return best;
    }

    /// Removes and returns the first local deadline if it is due at `now`.
    std::optional<TimerKey> pop_due_timer(TimePoint now) {
        auto first = first_timer();
        if (!first || first->first > now) {
            return std::nullopt;
        }
        TimerKey& key = first->second;
        if (key.first == TimerKind::keep_alive) {
            keep_alives.disarm(conns.at(std::stoull(key.second)));
        } else if (key.first == TimerKind::presence) {
            disarm_presence(locals.at(key.second));
        } else {
            deadlines.clear(key);
        }
        return std::move(key);
    }

    // ------------------------------------------------------------------ login

    void login(TimePoint now, ConnId conn, Conn& c, const proto::Login& m) {
        if (!admit_login(now, conn, c, m)) {
            return;
        }
        std::optional<TokenCheck> check = verify_login_token(conn, m);
        if (!check) {
            return;
        }
        std::optional<std::string> recovery_secret;
        if (m.recovery) {
            // A recovering login (docs/protocol.md, "Recovery keys"): its token was valid for its app and user; the
            // key must name the same ones, and the store checks (and consumes) its secret.
            auto key = core::decode_recovery_key(*m.recovery);
            if (!key || key->app_id != m.app_id || key->user_id != m.user_id) {
                ++metrics.login_failures;
                send(conn, proto::Reply{m.request_id, err(key ? errc::recovery_wrong_user : errc::recovery_invalid)});
                return;
            }
            recovery_secret = std::move(key->secret);
        }
        const proto::Negotiated agreed = agree_timings(timings(m.profile), m.timings, config.timing_bounds);
        cluster::Login op = store_login(c, m, *check, agreed);
        op.recovery_secret = std::move(recovery_secret);
        op.request.recovery.reset();
        Pending then{Then::login,       conn, m.request_id, session_key(m.app_id, m.user_id), {}, m,
                     std::move(*check), {},   agreed};
        then.login.token.clear();
        then.login.recovery.reset();
        c.login_pending = true;
        for (const auto& channel : m.channels) {
            if (is_valid_channel_name(channel.channel)) {
                begin_join(m.app_id, m.user_id, channel.channel);
            }
        }
        logging_in[then.key];
        issue(now, cluster::Command{m.app_id, m.user_id, 0, std::move(op)}, std::move(then));
    }

    /// The checks a login passes before its token is looked at; a login that fails one is answered (or, while
    /// draining, its connection closed) here. Returns whether it goes on.
    bool admit_login(TimePoint now, ConnId conn, const Conn& c, const proto::Login& m) {
        const auto refuse = [&](errc code) {
            ++metrics.login_failures;
            send(conn, proto::Reply{m.request_id, err(code)});
            return false;
        };
        if (c.session || c.login_pending) {
            return refuse(errc::already_logged_in);
        }
        if (m.version != proto::kProtocolVersion) {
            return refuse(errc::protocol_error);
        }
        if (draining) {
            close_with(conn, proto::CloseReason::draining, drain_window);
            return false;
        }
        if (!login_buckets[c.peer_address].take(now, config.limits.logins_per_second_per_address,
                                                config.limits.login_burst)) {
            ++metrics.rate_limited;
            return refuse(errc::rate_limited);
        }
        if (!admit_under_load(now, conn)) {
            return false;
        }
        if (!is_valid_user_id(m.user_id) || !is_valid_user_id(m.app_id)) {
            return refuse(m.app_id.empty() || !is_valid_user_id(m.app_id) ? errc::invalid_app_id
                                                                          : errc::invalid_user_id);
        }
        return true;
    }

    /// The server-wide admission control: a login the server has no room for now is refused with Close(busy) and
    /// a retry-after, before its token is checked or the store is asked (the two costs a storm must not multiply).
    /// The memory verdict first (nothing else helps), then the backlog, then the rate; the per-address bucket has
    /// already run, so one address cannot spend the server's budget. Returns whether the login goes on.
    bool admit_under_load(TimePoint now, ConnId conn) {
        const Limits& l = config.limits;
        // Others waiting: this connection is one of the logins in progress.
        const std::size_t waiting = logins_in_progress > 0 ? logins_in_progress - 1 : 0;
        std::uint64_t* shed = nullptr;
        if (overloaded) {
            shed = &metrics.logins_shed_memory;
        } else if (waiting >= l.max_logins_in_progress) {
            shed = &metrics.logins_shed_in_progress;
        } else if (!server_logins.take(now, l.server_logins_per_second, l.server_login_burst)) {
            shed = &metrics.logins_shed_rate;
        }
        if (shed == nullptr) {
            return true;
        }
        ++*shed;
        close_with(conn, proto::CloseReason::busy, retry_after(now, waiting));
        return false;
    }

    /// A refused login's retry-after: when the login rate will have admitted the `waiting` logins in progress and
    /// every login refused before this one, plus this one's own slot; held within [busy_retry_min, busy_retry_max].
    /// The client comes back at a random point in [retry-after, 2 × retry-after], so returns arrive at no more than
    /// the rate the server admits. The horizon never runs beyond now + busy_retry_max: a long storm does not pile
    /// up debt that would keep refusing after it.
    Duration retry_after(TimePoint now, std::size_t waiting) {
        const Limits& l = config.limits;
        const double rate = std::max(1e-3, l.server_logins_per_second);
        const auto per_login = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / rate));
        const auto backlog =
            std::chrono::duration_cast<Duration>(std::chrono::duration<double>(static_cast<double>(waiting) / rate));
        busy_until = std::min(std::max(busy_until, now + backlog) + per_login, now + l.busy_retry_max);
        return std::max(l.busy_retry_min, std::min(busy_until - now, l.busy_retry_max));
    }

    /// The token's verdict, or nothing when it refuses the login (which is answered here).
    std::optional<TokenCheck> verify_login_token(ConnId conn, const proto::Login& m) {
        TokenCheck check = verifier ? verifier(m.app_id, m.user_id, m.token) : TokenCheck{};
        if (check.error) {
            ++metrics.login_failures;
            send(conn, proto::Reply{m.request_id, check.error});
            return std::nullopt;
        }
        return check;
    }

    /// The store's command for an admitted login: the request without its token (verified here; the store never
    /// sees secrets), what the token allows, a fresh resume token and the agreed timings.
    cluster::Login store_login(const Conn& c, const proto::Login& m, const TokenCheck& check,
                               const proto::Negotiated& agreed) {
        cluster::Login op;
        op.request = m;
        op.timings = agreed;
        op.request.token.clear();
        op.allowed_channels = check.channels;
        op.new_resume_token = new_resume_token();
        op.peer_address = c.peer_address;
        return op;
    }

    std::string new_resume_token() {
        return config.make_resume_token
                   ? config.make_resume_token()
                   : "r" + std::to_string(config.epoch) + "-" + config.node_id + "-" + std::to_string(++resume_counter);
    }

    /// What reached this node for a session while its login was with the store.
    struct MeanwhileEvents {
        std::vector<cluster::PeerEvent> peer;
        std::vector<std::vector<cluster::ChannelEvent>> channels;  ///< per requested channel, in request order
    };

    /// Ends the buffering begun by login(): the session's peer messages and each requested channel's events.
    MeanwhileEvents end_login_buffering(const Pending& p) {
        const proto::Login& m = p.login;
        MeanwhileEvents out;
        if (auto waiting = logging_in.find(p.key); waiting != logging_in.end()) {
            out.peer = std::move(waiting->second);
            logging_in.erase(waiting);
        }
        for (const auto& channel : m.channels) {
            out.channels.push_back(is_valid_channel_name(channel.channel)
                                       ? end_join(m.app_id, m.user_id, channel.channel)
                                       : std::vector<cluster::ChannelEvent>{});
        }
        return out;
    }

    void login_done(TimePoint now, const Pending& p, cluster::Result result) {
        auto c = conns.find(p.conn);
        if (c != conns.end()) {
            c->second.login_pending = false;
        }
        MeanwhileEvents meanwhile = end_login_buffering(p);
        const bool open = c != conns.end() && !c->second.closed;
        const bool logged_out = logged_out_during_login.erase(p.conn) != 0;
        if (result.error) {
            login_failed(now, p, result.error, open);
            return;
        }
        auto& r = std::get<cluster::LoginResult>(result.value);
        if (!open) {
            // The transport went while the store logged it in. After a Logout the session ends now (its peers see it
            // quit); otherwise its presence counts down from now, and a resume stays silent.
            issue(now,
                  logged_out ? cluster::Command{p.login.app_id, p.login.user_id, r.gen,
                                                cluster::End{MemberLeftCause::quit, /*forget=*/true}}
                             : cluster::Command{p.login.app_id, p.login.user_id, r.gen,
                                                cluster::Detach{p.agreed.presence_timeout}},
                  {});
            return;
        }
        LocalSession& s = adopt_session(now, p, c->second, r);
        std::vector<std::pair<std::string, std::uint64_t>> joined = joined_channels(r);
        send(p.conn, login_ok(p, r));
        send_backlog(p.conn, r, meanwhile.peer);
        if (!catch_up_channels(now, p, s, joined, meanwhile.channels)) {
            return;  // a gap made it resume
        }
        replay_held(now, p.conn);
    }

    /// The store refused the login, or did not answer (then it may or may not have taken effect: the client comes
    /// back soon, and a resume finds the session if it did, rather than being told its login failed).
    void login_failed(TimePoint now, const Pending& p, std::error_code error, bool open) {
        ++metrics.login_failures;
        if (!open) {
            return;
        }
        if (error == errc::network_interrupted) {
            close_with(p.conn, proto::CloseReason::draining, config.store_retry_within);
            return;
        }
        send(p.conn, proto::Reply{p.login.request_id, error});
        replay_held(now, p.conn);
    }

    /// The logged-in session becomes local on `c`: its record, its connection's and session's timers.
    LocalSession& adopt_session(TimePoint now, const Pending& p, Conn& c, const cluster::LoginResult& r) {
        const proto::Login& m = p.login;
        if (r.displaced) {
            ++metrics.kicks;
        }
        if (auto old = locals.find(p.key); old != locals.end()) {
            // A session this node held under an older gen whose end has not reached us yet (an asynchronous store).
            const ConnId stale = old->second.conn;
            forget_local(p.key);
            close(stale);
        }
        auto& [key, s] = *locals.try_emplace(p.key).first;
        s.key = &key;
        s.profile = m.profile;
        s.presence_timeout = p.agreed.presence_timeout;
        s.conn = p.conn;
        s.gen = r.gen;
        s.allow(p.check.channels);
        s.presence_batches = m.presence_batches;
        c.session = &key;
        settle(c);
        deadlines.clear({TimerKind::login_grace, std::to_string(p.conn)});
        touch_conn(now, c);
        touch_session(now, s);
        if (p.check.ttl > Duration::zero() && m.profile != Profile::rtm) {
            deadlines.set({TimerKind::token_expiry, p.key}, now + p.check.ttl);  // rtm sessions outlive their token
        } else {
            deadlines.clear({TimerKind::token_expiry, p.key});
        }
        ++metrics.logins;
        if (r.resumed) {
            ++metrics.resumes;
        }
        return s;
    }

    /// The channels the login joined, each with the event seq of its snapshot.
    static std::vector<std::pair<std::string, std::uint64_t>> joined_channels(const cluster::LoginResult& r) {
        std::vector<std::pair<std::string, std::uint64_t>> joined;
        for (std::size_t i = 0; i < r.channels.size(); ++i) {
            if (!r.channels[i].error) {
                joined.emplace_back(r.channels[i].channel, i < r.event_seqs.size() ? r.event_seqs[i] : 0);
            }
        }
        return joined;
    }

    /// The answer to the login (the channel snapshots move into it).
    proto::LoginOk login_ok(const Pending& p, cluster::LoginResult& r) {
        proto::LoginOk ok;
        ok.request_id = p.login.request_id;
        ok.resume_token = std::move(r.resume_token);
        ok.resumed = r.resumed;
        ok.negotiated = p.agreed;
        ok.token_ttl = p.check.ttl;
        ok.channels = std::move(r.channels);
        ok.backfilled = r.backfill.size();
        ok.dropped = r.dropped;
        ok.peer_position = r.peer_position;
        ok.recovery_keys = true;
        metrics.backfilled += r.backfill.size();
        metrics.dropped += r.dropped;
        return ok;
    }

    /// After the LoginOk: the backfill, then the peer messages sent after the login took effect (not in it).
    void send_backlog(ConnId conn, cluster::LoginResult& r, std::vector<cluster::PeerEvent>& peer_meanwhile) {
        for (auto& msg : r.backfill) {
            send(conn, std::move(msg));
        }
        for (auto& e : peer_meanwhile) {
            if (e.gen == r.gen) {
                send(conn, std::move(e.message));
                ++metrics.deliveries;
            }
        }
    }

    /// Each joined channel becomes local, with the events that came after its snapshot while the login was with the
    /// store. Returns false when a gap made the session resume (it is no longer local).
    bool catch_up_channels(TimePoint now, const Pending& p, LocalSession& s,
                           const std::vector<std::pair<std::string, std::uint64_t>>& joined,
                           const std::vector<std::vector<cluster::ChannelEvent>>& meanwhile) {
        const auto& requested = p.login.channels;
        for (const auto& [channel, snapshot_seq] : joined) {
            const auto wanted = std::find_if(requested.begin(), requested.end(),
                                             [&](const auto& resume) { return resume.channel == channel; });
            const auto index = static_cast<std::size_t>(wanted - requested.begin());
            catch_up(now, s, channel, snapshot_seq,
                     index < meanwhile.size() ? meanwhile[index] : std::vector<cluster::ChannelEvent>{});
            if (locals.count(p.key) == 0) {
                return false;
            }
        }
        return true;
    }

    /// Frames that came while the login was with the store, in order. A frame may start another login (then the
    /// rest wait again, ahead of anything newer) or close the connection (then the rest are dropped with it).
    void replay_held(TimePoint now, ConnId conn) {
        auto c = conns.find(conn);
        if (c == conns.end() || c->second.login_pending || !c->second.held) {
            return;
        }
        std::vector<proto::ClientMessage> frames = std::move(*c->second.held);
        c->second.held.reset();
        for (std::size_t i = 0; i < frames.size(); ++i) {
            c = conns.find(conn);
            if (c == conns.end() || c->second.closed) {
                return;
            }
            if (c->second.login_pending) {
                auto& held = c->second.held_made();  // only frames of this replay can be there: none came in meanwhile
                held.insert(held.begin(), std::make_move_iterator(frames.begin() + static_cast<std::ptrdiff_t>(i)),
                            std::make_move_iterator(frames.end()));
                return;
            }
            frame(now, conn, frames[i]);
        }
    }

    // ------------------------------------------------------------------ results

    void complete(TimePoint now, const Pending& p, cluster::Result result) {
        if (result.error == errc::not_logged_in && p.then != Then::login && p.then != Then::none &&
            p.then != Then::admin) {
            // This node no longer holds the session (it was declared dead, or the session moved): the store is
            // right, so the transport here goes, silently; the client resumes wherever it lands.
            ++metrics.stale_commands;
            auto s = locals.find(p.key);
            if (s != locals.end()) {
                const ConnId conn = s->second.conn;
                forget_local(p.key);
                close(conn);
            }
        }
        const auto reply = [&](std::error_code e) {
            if (auto c = conns.find(p.conn); c != conns.end() && !c->second.closed) {
                send(p.conn, proto::Reply{p.request_id, e});
            }
        };
        switch (p.then) {
            case Then::login: login_done(now, p, std::move(result)); return;
            case Then::none: return;
            case Then::admin:
                if (!result.error) {
                    ++metrics.kicks;
                }
                if (p.done) {
                    p.done(result.error);
                }
                return;
            case Then::reply: reply(result.error); return;
            case Then::join: {
                const auto split = p.key.find('\n');  // the session may be gone by now: its key still names it
                const auto buffered = end_join(p.key.substr(0, split), p.key.substr(split + 1), p.subject);
                auto s = locals.find(p.key);
                if (result.error) {
                    reply(result.error);
                    return;
                }
                const auto& r = std::get<cluster::JoinResult>(result.value);
                send(p.conn, proto::JoinOk{p.request_id, r.snapshot});
                if (s != locals.end()) {
                    catch_up(now, s->second, p.subject, r.event_seq, buffered);
                }
                return;
            }
            case Then::leave:
                if (!result.error) {
                    if (auto s = locals.find(p.key); s != locals.end()) {
                        remove_local_channel(s->second, p.subject);
                    }
                }
                reply(result.error);
                return;
            case Then::send: {
                // A duplicate costs nothing; anything else the store weighed (accepted or refused) costs a token.
                const auto* r = std::get_if<cluster::SendResult>(&result.value);
                if (result.error == errc::rate_limited) {
                    ++metrics.rate_limited;
                } else if (r == nullptr || !r->duplicate) {
                    if (auto s = locals.find(p.key); s != locals.end()) {
                        (void)s->second.sends.take(now, config.limits.messages_per_second, config.limits.message_burst);
                    }
                }
                if (result.error) {
                    reply(result.error);
                    return;
                }
                if (r->duplicate) {
                    ++metrics.deduplicated;  // a re-send after a reconnect: acknowledged again, delivered once
                } else {
                    ++metrics.messages;
                }
                if (r->stored_for_away_user) {
                    ++metrics.stored_for_away;
                }
                if (auto c = conns.find(p.conn); c != conns.end() && !c->second.closed) {
                    send(p.conn, proto::Reply{p.request_id, {}, r->stored_for_away_user});
                }
                return;
            }
            case Then::recovery_key:
                if (result.error) {
                    reply(result.error);
                    return;
                }
                if (auto c = conns.find(p.conn); c != conns.end() && !c->second.closed) {
                    send(p.conn, proto::RecoveryKeyOk{p.request_id, p.subject});
                }
                return;
            case Then::get_attributes:
                if (result.error) {
                    reply(result.error);
                    return;
                }
                send(p.conn, proto::AttributesReply{p.request_id, p.subject,
                                                    std::get<cluster::AttributesResult>(result.value).attributes});
                return;
        }
    }

    // ------------------------------------------------------------------ requests of a logged-in session

    /// `answered`: a Ping the driver already answered (on_heartbeat): no Pong from here.
    void frame(TimePoint now, ConnId conn, const proto::ClientMessage& message, bool answered = false) {
        auto it = conns.find(conn);
        if (it == conns.end() || it->second.closed) {
            return;
        }
        Conn& c = it->second;
        touch_conn(now, c);
        if (c.login_pending) {
            if (std::holds_alternative<proto::Ping>(message)) {
                if (!answered) {
                    send(conn, proto::Pong{});  // heartbeats are answered at once, whatever waits
                }
            } else {
                c.held_made().push_back(message);
            }
            return;
        }
        if (const auto* m = std::get_if<proto::Login>(&message); m != nullptr && !c.session) {
            login(now, conn, c, *m);
            return;
        }
        auto session = c.session ? locals.find(*c.session) : locals.end();
        if (session == locals.end() || session->second.conn != conn) {
            // Not logged in (or this connection was superseded): every request gets NOT_LOGGED_IN.
            std::visit(Overloaded{[](const proto::Ping&) {},
                                  [&](const auto& r) {
                                      send(conn, proto::Reply{r.request_id, err(errc::not_logged_in)});
                                  }},
                       message);
            return;
        }
        const std::string key = session->first;
        touch_session(now, session->second);
        if (answered) {
            return;
        }
        request(now, conn, key, session->second, message);
    }

    void request(TimePoint now, ConnId conn, const std::string& key, LocalSession& s,
                 const proto::ClientMessage& message) {
        const auto waiting = [&](Then then, proto::RequestId id, std::string subject = {}) {
            return Pending{then, conn, id, key, std::move(subject), {}, {}, {}, {}};
        };
        std::visit(
            Overloaded{
                [&](const proto::Login& m) {
                    send(conn, proto::Reply{m.request_id, err(errc::already_logged_in)});
                },
                [&](const proto::Logout& m) {
                    // The leaver hears first, then its peers: a logout cannot be refused, and its client ends the
                    // session at the reply (peers see it leave in the same instant, after it).
                    send(conn, proto::Reply{m.request_id, {}});
                    end_session(now, key, MemberLeftCause::quit, /*forget=*/true, {});
                },
                [&](const proto::Join& m) {
                    if (s.channels.count(m.channel) != 0) {
                        send(conn, proto::Reply{m.request_id, err(errc::rejected_by_server)});
                        return;
                    }
                    if (!is_valid_channel_name(m.channel)) {
                        send(conn, proto::Reply{m.request_id, err(errc::invalid_channel_name)});
                        return;
                    }
                    if (!s.may_join(m.channel)) {
                        send(conn, proto::Reply{m.request_id, err(errc::rejected_by_server)});  // not in the token
                        return;
                    }
                    begin_join(s.app(), s.user(), m.channel);
                    issue(now, command(s, cluster::Join{m.channel}), waiting(Then::join, m.request_id, m.channel));
                },
                [&](const proto::Leave& m) {
                    if (s.channels.count(m.channel) == 0) {
                        send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                        return;
                    }
                    issue(now, command(s, cluster::Leave{m.channel}), waiting(Then::leave, m.request_id, m.channel));
                },
                [&](const proto::Publish& m) {
                    if (s.channels.count(m.channel) == 0) {
                        send(conn, proto::Reply{m.request_id, err(errc::not_joined)});
                        return;
                    }
                    if (!m.unpublish && !is_valid_channel_name(m.stream)) {
                        send(conn, proto::Reply{m.request_id, err(errc::invalid_argument)});
                        return;
                    }
                    issue(now, command(s, cluster::SetStream{m.channel, m.stream, !m.unpublish}),
                          waiting(Then::reply, m.request_id));
                },
                [&](const proto::SendMessage& m) {
                    if (m.payload.size() > config.limits.max_payload_bytes) {
                        send(conn, proto::Reply{m.request_id, err(errc::payload_too_large)});
                        return;
                    }
                    if (m.message_id.empty() || (m.to_user.has_value() == m.to_channel.has_value())) {
                        send(conn, proto::Reply{m.request_id, err(errc::invalid_argument)});
                        return;
                    }
                    if (m.to_user && !is_valid_user_id(*m.to_user)) {
                        send(conn, proto::Reply{m.request_id, err(errc::invalid_user_id)});
                        return;
                    }
                    const bool within_rate =
                        s.sends.ready(now, config.limits.messages_per_second, config.limits.message_burst);
                    issue(now, command(s, cluster::Send{m, within_rate}), waiting(Then::send, m.request_id));
                },
                [&](const proto::SetAttributes& m) {
                    issue(now, command(s, cluster::SetAttributes{m.attributes}), waiting(Then::reply, m.request_id));
                },
                [&](const proto::GetAttributes& m) {
                    issue(now, command(s, cluster::GetAttributes{m.user_id}),
                          waiting(Then::get_attributes, m.request_id, m.user_id));
                },
                [&](const proto::RenewToken& m) {
                    const TokenCheck check = verifier ? verifier(s.app(), s.user(), m.token) : TokenCheck{};
                    if (check.error) {
                        send(conn, proto::Reply{m.request_id, check.error});
                        return;
                    }
                    s.allow(check.channels);
                    if (check.ttl > Duration::zero() && s.profile != Profile::rtm) {
                        deadlines.set({TimerKind::token_expiry, key}, now + check.ttl);
                    } else {
                        deadlines.clear({TimerKind::token_expiry, key});
                    }
                    send(conn, proto::RenewOk{m.request_id, check.ttl});
                },
                [&](const proto::Ping&) { send(conn, proto::Pong{}); },
                [&](const proto::RecoveryKey& m) {
                    // A fresh secret replaces the session's last one: only the newest key recovers.
                    const std::string secret = new_resume_token();
                    issue(now, command(s, cluster::IssueRecovery{secret}),
                          waiting(Then::recovery_key, m.request_id, secret));
                },
            },
            message);
    }

    // ------------------------------------------------------------------ timers

    void fire(TimePoint now, const TimerKey& timer) {
        const auto& [kind, key] = timer;
        switch (kind) {
            case TimerKind::presence:
                // Silent for the presence timeout with its transport still open (no keep-alive closed it).
                end_session(now, key, MemberLeftCause::dropped, /*forget=*/false, {});
                return;
            case TimerKind::token_expiry: {
                auto s = locals.find(key);
                if (s != locals.end()) {
                    // rtc, rtc-web and room sessions end with their token; rtm sessions do not.
                    send(s->second.conn, proto::Close{proto::CloseReason::token_expired, {}});
                    end_session(now, key, MemberLeftCause::quit, /*forget=*/false, {});
                }
                return;
            }
            case TimerKind::keep_alive:
            case TimerKind::login_grace: {
                const ConnId conn = std::stoull(key);
                close_and_detach(now, conn,
                                 kind == TimerKind::keep_alive ? proto::CloseReason::keep_alive_timeout
                                                               : proto::CloseReason::invalid);
                return;
            }
            case TimerKind::heartbeat:
                store->heartbeat(now, config.node_id);
                deadlines.set({TimerKind::heartbeat, {}}, now + config.node_heartbeat_interval);
                return;
            case TimerKind::presence_batch: presence_interval_ended(now, key); return;
        }
    }
};

Hub::Hub(HubConfig config, TokenVerifier verifier) : Hub(config, std::move(verifier), nullptr) {}

Hub::Hub(HubConfig config, TokenVerifier verifier, std::shared_ptr<cluster::Store> store)
    : state_(std::make_unique<State>()) {
    auto& s = *state_;
    s.config = std::move(config);
    s.verifier = std::move(verifier);
    for (const Profile p : {Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room}) {
        s.config.timings.try_emplace(p, timings_for(p));
    }
    s.store = store ? std::move(store) : std::make_shared<cluster::MemoryStore>(store_config(s.config));
    if (s.config.node_heartbeat_interval > Duration::zero()) {
        s.deadlines.set({TimerKind::heartbeat, {}}, TimePoint{});  // the first at the driver's first timeout
    }
}

Hub::~Hub() = default;

void Hub::on_open(TimePoint now, ConnId conn, std::string peer_address) {
    auto& s = *state_;
    auto [it, inserted] = s.conns.try_emplace(conn);
    if (!inserted) {
        return;  // a driver bug; keep the first
    }
    it->second.id = conn;
    it->second.peer_address = std::move(peer_address);
    it->second.last_rx = now;
    ++s.metrics.connections_open;
    if (s.draining) {
        s.close_with(conn, proto::CloseReason::draining, s.drain_window);
        return;
    }
    it->second.in_progress = true;
    ++s.logins_in_progress;
    if (s.config.login_grace > Duration::zero()) {
        s.deadlines.set({TimerKind::login_grace, std::to_string(conn)}, now + s.config.login_grace);
    }
}

// Every input that may cause membership changes ends with release_presence(): the connections that were quiet and
// got changes in it are held for an interval from now.

void Hub::on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message) {
    state_->frame(now, conn, message);
    state_->release_presence(now);
}

void Hub::on_heartbeat(TimePoint now, ConnId conn) {
    state_->frame(now, conn, proto::Ping{}, /*answered=*/true);
}

void Hub::on_bad_frame(TimePoint now, ConnId conn, const proto::DecodeError& error) {
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
    s.close_and_detach(now, conn, proto::CloseReason::invalid);
    s.release_presence(now);
}

void Hub::on_closed(TimePoint now, ConnId conn) {
    auto& s = *state_;
    auto it = s.conns.find(conn);
    if (it == s.conns.end()) {
        return;
    }
    if (it->second.session != nullptr) {
        const std::string key = *it->second.session;  // a copy: detach() erases the session, and its key with it
        s.detach(now, key);                           // presence goes on until its timeout: a resume stays silent
    }
    if (it->second.login_pending && it->second.held &&
        std::any_of(it->second.held->begin(), it->second.held->end(),
                    [](const proto::ClientMessage& m) { return std::holds_alternative<proto::Logout>(m); })) {
        s.logged_out_during_login.insert(conn);  // the login's result ends the session (login_done)
    }
    s.keep_alives.disarm(it->second);
    s.deadlines.clear({TimerKind::login_grace, std::to_string(conn)});
    s.forget_presence(conn);
    --s.metrics.connections_open;
    s.settle(it->second);
    s.conns.erase(conn);
    s.release_presence(now);
}

void Hub::handle_timeout(TimePoint now) {
    auto& s = *state_;
    // The store's deadlines and this node's, in time order (the store's first at the same instant), each batch's
    // events acted on before the next: the order one hub with one timer list would have.
    for (;;) {
        const auto local = s.earliest_timer();
        const auto shared = s.store->next_deadline();
        if (shared && *shared <= now && (!local || *shared <= *local)) {
            s.store->handle_timeout(*shared);
            s.pump(now);
        } else if (local && *local <= now) {
            s.fire(now, *s.pop_due_timer(now));
        } else {
            break;
        }
    }
    s.release_presence(now);
}

void Hub::on_store_result(TimePoint now, cluster::CommandId id, cluster::Result result) {
    auto& s = *state_;
    auto it = s.pending.find(id);
    if (it == s.pending.end()) {
        return;
    }
    State::Pending then = std::move(it->second);
    s.pending.erase(it);
    s.pump(now);
    s.complete(now, then, std::move(result));
    s.release_presence(now);
}

void Hub::on_store_events(TimePoint now) {
    state_->pump(now);
    state_->release_presence(now);
}

void Hub::kick(TimePoint now, const std::string& app_id, const std::string& user_id, bool ban, Duration ban_for,
               std::function<void(std::error_code)> done) {
    State::Pending then;
    then.then = State::Then::admin;
    then.done = std::move(done);
    state_->issue(now, cluster::Command{app_id, user_id, 0, cluster::Kick{ban, ban_for}}, std::move(then));
    state_->release_presence(now);
}

std::error_code Hub::kick(TimePoint now, const std::string& app_id, const std::string& user_id, bool ban,
                          Duration ban_for) {
    std::optional<std::error_code> outcome;
    kick(now, app_id, user_id, ban, ban_for, [&](std::error_code error) { outcome = error; });
    return outcome.value_or(std::error_code{});  // answered at once by the in-memory store
}

void Hub::drain(TimePoint now, Duration window) {
    auto& s = *state_;
    s.draining = true;
    std::vector<ConnId> open;
    for (const auto& [conn, c] : s.conns) {
        if (!c.closed) {
            open.push_back(conn);
        }
    }
    // Spread the returns so that whoever takes them can log them in as they come: a 2 s window is right for a
    // hundred clients and a login storm for ten thousand (docs/performance.md, "storm"). The clients start their
    // returns within the window's first kDrainReturnShare; that part is what the login rate sizes.
    const auto spread = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
        static_cast<double>(open.size()) / std::max(1.0, s.config.limits.drain_logins_per_second) /
        proto::kDrainReturnShare));
    window = std::max(window, spread);
    s.drain_window = window;
    for (const ConnId conn : open) {
        s.close_and_detach(now, conn, proto::CloseReason::draining, window);
    }
    s.release_presence(now);
}

void Hub::reopen() noexcept {
    state_->draining = false;
}

void Hub::replace_apps(TimePoint now, TokenVerifier verifier, const std::set<std::string>& apps) {
    auto& s = *state_;
    s.verifier = std::move(verifier);
    // Logins in flight for a removed app: the client hears the kick now; the session the store makes anyway finds
    // its connection closed and counts down its presence (State::login_done).
    for (const auto& [id, pending] : s.pending) {
        const auto conn = s.conns.find(pending.conn);
        if (pending.then == State::Then::login && !apps.contains(pending.login.app_id) && conn != s.conns.end() &&
            !conn->second.closed) {
            s.close_with(pending.conn, proto::CloseReason::kicked);
        }
    }
    std::vector<std::pair<std::string, std::string>> removed;  // (app, user) of the sessions held here
    for (const auto& [key, session] : s.locals) {
        if (!apps.contains(session.app())) {
            removed.emplace_back(session.app(), session.user());
        }
    }
    // Through the store, like an admin kick: the session ends in the whole deployment and its peers are told.
    for (const auto& [app, user] : removed) {
        State::Pending then;
        then.then = State::Then::admin;
        s.issue(now, cluster::Command{app, user, 0, cluster::Kick{false, {}}}, std::move(then));
    }
    s.release_presence(now);
}

void Hub::set_overloaded(bool overloaded) noexcept {
    state_->overloaded = overloaded;
}

void Hub::resync_all(TimePoint now) {
    auto& s = *state_;
    std::vector<ConnId> affected;
    for (const auto& [conn, c] : s.conns) {
        if (!c.closed && (c.session || c.login_pending)) {
            affected.push_back(conn);
        }
    }
    for (const ConnId conn : affected) {
        s.close_and_detach(now, conn, proto::CloseReason::draining, s.config.store_retry_within);
    }
    s.channel_seqs.clear();  // the next event of a channel, or a join's snapshot, sets each again
    s.join_floors.clear();
    s.release_presence(now);
}

void Hub::reconcile(TimePoint now) {
    auto& s = *state_;
    std::map<std::string, cluster::Gen> held;
    for (const auto& [key, local] : s.locals) {
        held[key] = local.gen;
    }
    for (const auto& [id, pending] : s.pending) {
        if (pending.then == State::Then::login) {
            held[pending.key] = 0;  // its answer may make it this node's: leave it alone
        }
    }
    s.store->reconcile(now, s.config.node_id, held);
    s.release_presence(now);
}

std::optional<TimePoint> Hub::next_deadline() const {
    const auto local = state_->earliest_timer();
    const auto shared = state_->store->next_deadline();
    if (!local || !shared) {
        return local ? local : shared;
    }
    return std::min(*local, *shared);
}

std::optional<HubAction> Hub::poll_action() {
    auto& actions = state_->actions;
    if (actions.empty()) {
        return std::nullopt;
    }
    HubAction action = std::move(actions.front());
    actions.pop_front();
    ++state_->actions_taken;
    return action;
}

namespace {

std::vector<SessionInfo> session_infos(std::vector<cluster::Store::SessionView> views) {
    std::vector<SessionInfo> out;
    for (auto& view : views) {
        out.push_back({std::move(view.app), std::move(view.user), view.profile, view.connected,
                       std::move(view.channels), std::move(view.peer_address)});
    }
    return out;
}

std::vector<ChannelInfo> channel_infos(std::vector<cluster::Store::ChannelView> views) {
    std::vector<ChannelInfo> out;
    for (auto& view : views) {
        out.push_back({std::move(view.app), std::move(view.channel), std::move(view.members), view.messages});
    }
    return out;
}

}  // namespace

std::vector<SessionInfo> Hub::sessions() const {
    return session_infos(state_->store->sessions());
}

std::vector<ChannelInfo> Hub::channels() const {
    return channel_infos(state_->store->channels());
}

void Hub::list(TimePoint now, std::function<void(std::vector<SessionInfo>, std::vector<ChannelInfo>)> done) {
    state_->store->list(now, [done = std::move(done)](std::vector<cluster::Store::SessionView> sessions,
                                                      std::vector<cluster::Store::ChannelView> channels) {
        done(session_infos(std::move(sessions)), channel_infos(std::move(channels)));
    });
}

const Metrics& Hub::metrics() const noexcept {
    auto& s = *state_;
    const cluster::StoreStats stats = s.store->stats();
    s.reported = s.metrics;
    s.reported.sessions = stats.sessions;
    s.reported.presence_timeouts = stats.presence_timeouts;
    s.reported.logins_in_progress = s.logins_in_progress;
    return s.reported;
}

bool Hub::draining() const noexcept {
    return state_->draining;
}

const cluster::NodeId& Hub::node_id() const noexcept {
    return state_->config.node_id;
}

cluster::Store& Hub::store() noexcept {
    return *state_->store;
}

}  // namespace relink::server
