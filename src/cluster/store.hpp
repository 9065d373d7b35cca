// cluster/store.hpp — the boundary between relinkd's hub and the state its nodes share: sessions and resume
// tokens, presence and its deadlines, channel members and their streams, channel history, peer queues, message-id
// de-duplication, kick cool-downs, bans and the nodes themselves (docs/cluster.md).
//
// The hub keeps what belongs to one connection (sockets' ids, keep-alive, login grace, rate limits, token-expiry
// timers) and asks the Store for everything else with Commands. A Command is one atomic step on the shared state;
// its Result goes back to the node that issued it, and the Events it causes go to the nodes that must act on them
// (a channel's subscribers, or the node that owns a session). Two implementations:
//   - MemoryStore (cluster/memory_store.hpp): everything in this process, answered at once. The single-node default,
//     and, shared by several hubs on one virtual clock, the reference model of the cluster's protocol.
//   - the Redis store: the same commands as Lua scripts on one Redis primary, answered asynchronously.
//
// Sans-IO like the hub: no sockets, no clock (every call takes `now`), no threads, no logging.
//
// Fencing. Every session has a generation (`gen`) that grows at each login. A node acts on a session only under the
// gen it was given; a command carrying an older gen changes nothing and answers `stale`, so a node that lost a
// session (taken over elsewhere, kicked, or cut off and declared dead) cannot change it any more.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "protocol/messages.hpp"
#include "relink/timings.hpp"

namespace relink::cluster {

using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
using NodeId = std::string;
using CommandId = std::uint64_t;
using Gen = std::uint64_t;

/// A session is one (app, user). Keys never contain '\n' (user ids and app ids exclude it).
[[nodiscard]] inline std::string session_key(const std::string& app, const std::string& user) {
    return app + '\n' + user;
}
/// Whether two secrets are equal, in time that depends on their lengths only (not on where they differ).
[[nodiscard]] inline bool secrets_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    }
    return diff == 0;
}
[[nodiscard]] inline std::string channel_key(const std::string& app, const std::string& channel) {
    return app + '\n' + channel;
}

/// What every node of a deployment must agree on: the same numbers, given to each store implementation.
struct StoreLimits {
    std::size_t max_channels_per_user{32};
    std::size_t max_members_per_channel{10'000};
    std::size_t peer_queue_per_user{256};              ///< peer messages kept per user; overflow counted as dropped
    std::size_t history_per_channel{256};              ///< channel messages kept (backfill takes the window's newest)
    Duration dedup_window{std::chrono::minutes(5)};    ///< client message ids remembered this long per session
    Duration kick_cooldown{std::chrono::seconds(10)};  ///< a kicked instance may not take the id back sooner
    /// A session whose presence timed out (no logout, kick or ban) stays *away* this long: peer messages to it are
    /// kept and delivered when its user logs in again, on any node.
    Duration session_lifetime{std::chrono::hours(24)};
    /// A node whose last heartbeat is older than this is dead: its sessions' presence runs out from that heartbeat.
    /// 0 = nodes are never declared dead (a single node).
    Duration node_dead_after{};
};

/// Everything a store implementation is configured with; every node of a deployment gives it the same.
struct StoreConfig {
    /// Per profile: presence_timeout, backfill_window and backfill_count are the store's business.
    std::map<Profile, Timings> timings{{Profile::rtm, timings_for(Profile::rtm)},
                                       {Profile::rtc, timings_for(Profile::rtc)},
                                       {Profile::rtc_web, timings_for(Profile::rtc_web)},
                                       {Profile::room, timings_for(Profile::room)}};
    StoreLimits limits;
    /// The epoch of every position this store hands out (docs/protocol.md, "Positions"): a store that starts
    /// without the history of an earlier one must use a new epoch.
    std::uint64_t epoch{1};
};

/// How long an empty channel's history and positions (message and event numbers) are kept: as long as a session
/// away from it may come back with a position in it (and be told exactly what it missed), and never less than a
/// minute, so that a join still on its way to the store compares against the event numbers it was sent with. Then
/// the channel is forgotten, and starts again from 0 when someone joins it.
[[nodiscard]] inline Duration empty_channel_kept(const StoreConfig& config) {
    return std::max<Duration>(config.limits.session_lifetime, std::chrono::minutes(1));
}

// ------------------------------------------------------------------------------------------- commands

/// A login (fresh, or a resume with a token) on `node`. The hub has checked the token already.
struct Login {
    proto::Login request;                       ///< without its token
    std::vector<std::string> allowed_channels;  ///< from the token; empty = any
    std::string new_resume_token;               ///< random, made by the hub's driver: the store reads no random source
    std::string peer_address;
    /// The timings the hub agreed with the client: the session's presence timeout from now on (wherever its presence
    /// counts down: a detach, a dead node, a reconcile) and this login's channel backfill. Absent: the profile's.
    std::optional<proto::Negotiated> timings;
    /// A recovering login (docs/protocol.md, "Recovery keys"): the server secret of the key it presented. It resumes
    /// the session silently when that session is present and the secret is its current one, which it consumes; it
    /// is refused (and changes nothing) otherwise: RECOVERY_EXPIRED (no session present), RECOVERY_USED (the secret
    /// recovered once already, unless the login comes from the instance that recovered with it: its LoginOk was lost,
    /// and it resumes), RECOVERY_INVALID (any other secret). Compared in constant time.
    std::optional<std::string> recovery_secret;
};
/// Join a channel (no streams yet).
struct Join {
    std::string channel;
};
struct Leave {
    std::string channel;
};
/// Start or stop publishing a stream in a joined channel.
struct SetStream {
    std::string channel;
    std::string stream;
    bool on{true};
};
/// A channel or peer message, de-duplicated by `message_id` over the sender's de-duplication window.
struct Send {
    proto::SendMessage message;
    bool within_rate{true};  ///< the node's rate limit allows one more: refused (and not remembered) otherwise
};
struct SetAttributes {
    proto::Attributes attributes;
};
struct GetAttributes {
    std::string user;
};
/// The session ends by its own will (logout) or the hub's (token expiry, local presence timeout).
struct End {
    MemberLeftCause cause{MemberLeftCause::quit};
    bool forget{true};  ///< logout: nothing of the session is kept (else it is kept for de-duplication or as away)
};
/// The session's transport on this node closed: presence runs out `presence_left` from now unless it comes back.
struct Detach {
    Duration presence_left{};
};
/// Admin kick or ban, from any node, of the user wherever it is.
struct Kick {
    bool ban{false};
    Duration ban_for{std::chrono::hours(24)};
};

/// Registers `secret` (random, made by the hub's driver) as the session's recovery secret, replacing the one before:
/// a recovery key made from it resumes the session once, from any node, while the session is present.
struct IssueRecovery {
    std::string secret;
};

using Operation =
    std::variant<Login, Join, Leave, SetStream, Send, SetAttributes, GetAttributes, End, Detach, Kick, IssueRecovery>;

struct Command {
    std::string app;
    std::string user;
    Gen gen{0};  ///< the session generation the node acts under (0 for Login and Kick)
    Operation op;
};

// ------------------------------------------------------------------------------------------- results

struct LoginResult {
    Gen gen{0};
    bool resumed{false};
    bool displaced{false};  ///< another instance held the session and was told REMOTE_LOGIN
    std::string resume_token;
    std::vector<proto::ChannelSnapshot> channels;  ///< one per requested channel (with `error` when refused)
    std::vector<std::uint64_t> event_seqs;         ///< per channel: its event sequence at the snapshot (ChannelEvent)
    std::vector<proto::Message> backfill;          ///< in order; `backfilled` is set
    std::uint64_t dropped{0};
    proto::StreamPosition peer_position;  ///< before the backfill (docs/protocol.md, "Positions")
};
struct JoinResult {
    proto::ChannelSnapshot snapshot;
    std::uint64_t event_seq{0};  ///< the channel's event sequence at the snapshot (ChannelEvent::seq)
};
struct SendResult {
    bool duplicate{false};             ///< seen within the window: acknowledged again, delivered nothing again
    bool stored_for_away_user{false};  ///< the receiver is away: kept for its return
    bool stored_offline{false};        ///< the receiver has no session: kept for its next login (store_offline)
};
struct AttributesResult {
    proto::Attributes attributes;
};

/// The answer to a Command: `error` set (and nothing else meaningful) or the operation's result.
struct Result {
    std::error_code error;  ///< errc::stale_session when the node's gen is old; else the operation's refusal
    std::variant<std::monostate, LoginResult, JoinResult, SendResult, AttributesResult> value;
};

// ------------------------------------------------------------------------------------------- events

/// For every local member of a channel but `except`: a member event, a stream change or a message. Every event of
/// a channel has the next `seq` of that channel, so a node sees a missed event as a gap, and a snapshot's
/// `event_seq` tells which events came after it.
struct ChannelEvent {
    std::string app;
    std::string channel;
    std::string except;  ///< the user who caused it
    proto::ServerMessage message;
    std::uint64_t seq{0};
};
/// A peer message for the session (app, user) under `gen`, owned by the receiving node.
struct PeerEvent {
    std::string app;
    std::string user;
    Gen gen{0};
    proto::Message message;
};
/// The session the receiving node owned under `gen` is over there: close its transport, with `reason` first (a
/// kick, a ban, a duplicate login) or without a word (taken over by a resume on another node).
struct SessionEnded {
    std::string app;
    std::string user;
    Gen gen{0};
    std::optional<proto::CloseReason> reason;
};
using Event = std::variant<ChannelEvent, PeerEvent, SessionEnded>;

/// Counters of the shared state itself (the hub adds them to its metrics).
struct StoreStats {
    std::uint64_t sessions{0};           ///< present sessions
    std::uint64_t presence_timeouts{0};  ///< sessions reaped at their deadline
    std::uint64_t nodes_dead{0};         ///< nodes declared dead (their sessions then ran out)
    std::uint64_t stale_commands{0};     ///< commands refused because their gen was old (fenced)
    std::uint64_t reconciled{0};         ///< sessions found attached to a node that did not hold them (reconcile)
};

// ------------------------------------------------------------------------------------------- the boundary

class Store {
public:
    virtual ~Store() = default;

    /// Runs `command` for `node`. An implementation that can answer at once returns the Result (the events it
    /// caused are already queued); one that cannot returns nothing and the node's driver hands the Result to the
    /// hub later under `id` (Hub::on_store_result).
    virtual std::optional<Result> execute(TimePoint now, const NodeId& node, CommandId id, Command command) = 0;

    /// The events queued for `node` since the last call, oldest first.
    virtual std::vector<Event> take_events(const NodeId& node) = 0;

    /// Channel events reach a node only while it subscribes to the channel (it does while it has local members).
    virtual void subscribe(const NodeId& node, const std::string& app, const std::string& channel) = 0;
    virtual void unsubscribe(const NodeId& node, const std::string& app, const std::string& channel) = 0;

    /// The node is alive. Nodes that stop calling this for `node_dead_after` are declared dead.
    virtual void heartbeat(TimePoint now, const NodeId& node) = 0;
    /// The node leaves cleanly: every session it still holds runs out its presence from its last data.
    virtual void leave(TimePoint now, const NodeId& node) = 0;
    /// The sessions the node really holds a transport for, by session key, with their generation; 0 = a login is on
    /// its way there (leave that session alone). Every other session the store counts as attached to the node starts
    /// its presence countdown now, as if its transport had closed: a command whose outcome the node never learned
    /// (a login answered into a dropped connection, a detach lost with it) cannot keep a user present for ever. A
    /// node calls it whenever it reaches the store again.
    virtual void reconcile(TimePoint now, const NodeId& node, const std::map<std::string, Gen>& held) = 0;

    /// Deadlines the store itself keeps (presence, away sessions, dead nodes), if its implementation keeps time
    /// through the hub; handle_timeout() fires those due.
    [[nodiscard]] virtual std::optional<TimePoint> next_deadline() const = 0;
    virtual void handle_timeout(TimePoint now) = 0;

    [[nodiscard]] virtual StoreStats stats() const = 0;

    /// The deployment's sessions and channels, for the admin API.
    struct SessionView {
        std::string app;
        std::string user;
        Profile profile{Profile::rtm};
        NodeId node;
        bool connected{false};
        std::vector<std::string> channels;
        std::string peer_address;
    };
    struct ChannelView {
        std::string app;
        std::string channel;
        std::vector<std::string> members;
        std::uint64_t messages{0};
    };
    /// The deployment's present sessions and its channels, at once (an in-memory store; a remote one answers with
    /// nothing here: use list()).
    [[nodiscard]] virtual std::vector<SessionView> sessions() const = 0;
    [[nodiscard]] virtual std::vector<ChannelView> channels() const = 0;
    using ListHandler = std::function<void(std::vector<SessionView> sessions, std::vector<ChannelView> channels)>;
    /// The same, whenever the store has them (at once in memory, after a round trip to Redis), sorted by app and
    /// name; an unreachable store gives nothing.
    virtual void list(TimePoint now, ListHandler done) = 0;
};

}  // namespace relink::cluster
