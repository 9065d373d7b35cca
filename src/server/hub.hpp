// server/hub.hpp — relinkd's sans-IO heart: sessions, presence, channels, history, peer queues, attributes,
// de-duplication, kicks, limits and metrics, for every app the server hosts.
//
// Like the client core, the hub never does I/O, never reads a clock, never logs, never locks. The driver (the
// Beast listener of relinkd, or a test on a virtual clock) reports connections and decoded frames, each input with
// `now`; it pulls the hub's actions (send a message on a connection, close a connection) with poll_action() and
// arms one timer at next_deadline(). handle_timeout(now) does nothing if nothing is due. Tokens are checked by a
// TokenVerifier the driver supplies (it owns the app secrets and the wall clock); the hub only sees the verdict
// and the token's remaining lifetime.
//
// Contract for the driver: after every input, drain poll_action() in order. A SendMessage for a connection is
// written before any later action for it; a CloseConnection comes after the messages queued before it (so a
// Close message reaches the client before the transport closes). A SendToMany (a channel message for several
// members, to be encoded once) is, for each connection it names, a SendMessage at its place in that order.
// Actions for a connection the driver already closed are dropped by the driver.
//
// Thread safety: none. The driver serializes every call (one strand or one mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include "cluster/store.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"
#include "relink/timings.hpp"

namespace relink::server {

using TimePoint = cluster::TimePoint;
using ConnId = std::uint64_t;

/// The verdict on a token presented at login or renewal.
struct TokenCheck {
    std::error_code error;              ///< invalid_app_id, invalid_token, token_expired; empty when valid
    Duration ttl{};                     ///< remaining lifetime; 0 = does not expire
    std::vector<std::string> channels;  ///< channels the token allows; empty = any
};

/// (app id, user id, token) → verdict. Supplied by the driver; must be a pure computation for the hub's purposes
/// (it may read the wall clock to compare the token's expiry).
using TokenVerifier =
    std::function<TokenCheck(const std::string& app_id, const std::string& user_id, const std::string& token)>;

struct Limits {
    std::size_t max_payload_bytes{proto::kMaxPayloadBytes};
    double messages_per_second{50.0};  ///< per session, token bucket ...
    double message_burst{100.0};       ///< ... of this size
    std::size_t max_channels_per_user{32};
    std::size_t max_members_per_channel{10'000};
    double logins_per_second_per_address{20.0};        ///< token bucket per peer address ...
    double login_burst{40.0};                          ///< ... of this size
    std::size_t peer_queue_per_user{256};              ///< peer messages kept for resume; overflow counted as dropped
    std::size_t history_per_channel{256};              ///< channel messages kept (backfill takes the window's newest)
    Duration dedup_window{std::chrono::minutes(5)};    ///< client message ids remembered this long per session
    Duration kick_cooldown{std::chrono::seconds(10)};  ///< a kicked instance may not take the id back sooner
    /// A session whose presence timed out (no logout, kick or ban) stays away this long: peer messages to it are
    /// kept and delivered when its user logs in again (the sender hears "stored for an away user").
    Duration session_lifetime{std::chrono::hours(24)};
    /// A drain spreads its clients' returns over at least (connections / this) seconds, never less than the window
    /// it is given: the logins per second the nodes that take them over can absorb (one relinkd on 2 cores logs in
    /// ~700 a second, resumed TLS included). Not scaled by the time scale: it is a capacity, not a timing.
    double drain_logins_per_second{400.0};
    /// Membership changes announced to a member that asked for batches (its login's `presence_batches`) go out at
    /// most once per this interval per connection: a change that finds the connection quiet goes out at once (with
    /// the other changes the same input causes in that channel), later ones within the interval wait for its end
    /// and go out together, one `Presence` frame per channel. So an isolated change is never delayed, and a storm
    /// of re-joins costs each member a frame per interval instead of one per joiner. 200 ms: a tenth of the shortest
    /// presence timeout a client may ask for (2 s), inside the ±10 % every timeline allows (docs/decisions.md,
    /// "Presence in batches"). 0 = off: one frame per change, as for clients that did not ask.
    Duration presence_batch_interval{std::chrono::milliseconds(200)};

    // Admission control, process-wide (docs/server.md, "Overload"). A login refused by one of these gets
    // Close(busy) with a retry-after before its token is looked at; the sessions already held are not touched.
    /// Logins admitted per second by the whole server: a token bucket ... (one relinkd on 2 cores logs in ~650-700
    /// a second, resumed TLS included; this leaves room for the established sessions' own traffic)
    double server_logins_per_second{500.0};
    double server_login_burst{250.0};  ///< ... of this size
    /// Connections open whose login is not done yet (not sent, queued behind others, or with the store): a login
    /// that finds more than this many others waiting is refused. Under a storm it is the backlog of the hub's queue.
    std::size_t max_logins_in_progress{1000};
    /// The retry-after a refused login is given: the time the login rate needs to admit those already waiting or
    /// told to come back, held within these bounds.
    Duration busy_retry_min{std::chrono::seconds(1)};
    Duration busy_retry_max{std::chrono::seconds(30)};
    /// The bytes all connections' write queues may hold together (the driver's): over it, the slow readers (a queue
    /// over 64 KiB) are closed; over `write_queue_high_water_percent` of it, logins are refused.
    std::size_t write_queue_budget_bytes{256U * 1024U * 1024U};
    double write_queue_high_water_percent{75.0};
    /// TLS + WebSocket handshakes in progress at once (the driver's): at the bound, the driver stops accepting and
    /// new connections wait in the kernel's listen backlog, costing nothing until there is room.
    std::size_t max_handshakes_in_progress{256};
};

/// What a client may ask for at login (docs/server.md, "Agreed timings"): each server-side timing it asks for is
/// clamped into these bounds, and the answer (LoginOk::negotiated) is what both ends use for the session. The
/// defaults a client gets for what it does not ask (HubConfig::timings) are clamped the same way.
struct TimingBounds {
    /// Pings more often than this cost the server for nothing; the minimum is what the client is told to use.
    Duration min_heartbeat_interval{std::chrono::milliseconds(100)};
    /// Pings must come well within the keep-alive timeout (6 s): a third of it leaves room for two lost ones.
    Duration max_heartbeat_interval{std::chrono::seconds(2)};
    /// A presence timeout shorter than a few heartbeats would drop users whose link is merely slow.
    Duration min_presence_timeout{std::chrono::seconds(2)};
    /// How long the server keeps an absent user present (and its session resumable) at most.
    Duration max_presence_timeout{std::chrono::minutes(5)};
    Duration max_backfill_window{std::chrono::minutes(5)};  ///< channel history older than this never comes back
    std::size_t max_backfill_count{256};                    ///< per channel and reconnect (the default history)

    /// Every duration multiplied by `factor` (relinkd's --time-scale); the count is kept.
    [[nodiscard]] TimingBounds scaled(double factor) const;
};

/// The timings the server answers a login with: each one the client asked for, else the profile's default
/// (`defaults`), clamped into `bounds`.
[[nodiscard]] proto::Negotiated agree_timings(const Timings& defaults, const proto::TimingsRequest& asked,
                                              const TimingBounds& bounds);

struct HubConfig {
    /// Server-side timings per profile: presence_timeout, backfill_window / count, heartbeat_interval, given to a
    /// client that does not ask for its own (within `timing_bounds` either way), and token_warning_lead.
    /// Default: timings_for(profile).
    std::map<Profile, Timings> timings{{Profile::rtm, timings_for(Profile::rtm)},
                                       {Profile::rtc, timings_for(Profile::rtc)},
                                       {Profile::rtc_web, timings_for(Profile::rtc_web)},
                                       {Profile::room, timings_for(Profile::room)}};
    TimingBounds timing_bounds;
    Limits limits;
    /// A logged-in connection silent this long is closed with KEEP_ALIVE_TIMEOUT (the client's heartbeats stopped
    /// reaching us although it may still hear us). 0 = never.
    Duration keep_alive_timeout{std::chrono::seconds(6)};
    /// A connection that has not logged in within this is closed.
    Duration login_grace{std::chrono::seconds(10)};
    /// The epoch of every position this hub hands out (protocol.md, "Positions"). History lives in memory, so each
    /// start of a server must use a new epoch: a client then tells the new server's messages from the old one's
    /// instead of taking them for duplicates. The hub reads no clock or random source; relinkd picks a random one.
    std::uint64_t epoch{1};
    /// This node's name in a cluster (logs, metrics, the store's bookkeeping).
    cluster::NodeId node_id{"local"};
    /// How often this node tells the store it is alive; 0 = never (a single node, whose store never declares it
    /// dead). A node silent for `node_dead_after` is dead and its users' presence runs out from its last heartbeat.
    Duration node_heartbeat_interval{};
    Duration node_dead_after{};
    /// A login the store could not answer (a cluster's Redis unreachable or too slow: nothing is known to have
    /// happened) is closed with Close(draining, this): the client comes back at a random point within it, as after
    /// a drain, its first login included, instead of being refused.
    Duration store_retry_within{std::chrono::seconds(1)};
    /// Makes a fresh resume token; the hub reads no random source, so relinkd supplies a random one. Default: a
    /// counter (deterministic tests).
    std::function<std::string()> make_resume_token;
};

/// The shared-state settings a HubConfig implies (what every node of a deployment must agree on).
[[nodiscard]] cluster::StoreConfig store_config(const HubConfig& config);

// ------------------------------------------------------------------------------------------- actions

struct SendMessage {
    ConnId conn{0};
    proto::ServerMessage message;
};
/// One message for several connections (a channel message to this node's members in the channel): the driver
/// encodes it once. For each connection it names, it counts as a SendMessage at its place in the order.
struct SendToMany {
    std::vector<ConnId> conns;
    proto::ServerMessage message;
};
struct CloseConnection {
    ConnId conn{0};
};
using HubAction = std::variant<SendMessage, SendToMany, CloseConnection>;

/// Calls send(conn, message) once per connection an action sends to (in order) and close(conn) for a
/// CloseConnection: for drivers that handle one connection at a time (tests, the simulator).
template <class Send, class Close>
void for_each_conn(const HubAction& action, Send&& send, Close&& close) {
    if (const auto* one = std::get_if<SendMessage>(&action)) {
        send(one->conn, one->message);
    } else if (const auto* many = std::get_if<SendToMany>(&action)) {
        for (const ConnId conn : many->conns) {
            send(conn, many->message);
        }
    } else {
        close(std::get<CloseConnection>(action).conn);
    }
}

// ------------------------------------------------------------------------------------------- observers

struct SessionInfo {
    std::string app_id;
    std::string user_id;
    Profile profile{Profile::rtm};
    bool connected{false};  ///< a transport is attached (else the session waits out its presence timeout)
    std::vector<std::string> channels;
    std::string peer_address;
};

struct ChannelInfo {
    std::string app_id;
    std::string channel;
    std::vector<std::string> members;
    std::uint64_t messages{0};  ///< sequence number of the newest message
};

/// Counters since start, for the admin API's Prometheus text (/metrics).
struct Metrics {
    std::uint64_t connections_open{0};
    std::uint64_t sessions{0};  ///< current sessions (present users)
    std::uint64_t logins{0};    ///< successful logins (resumes included)
    std::uint64_t resumes{0};   ///< logins that resumed a session silently
    std::uint64_t login_failures{0};
    std::uint64_t kicks{0};       ///< REMOTE_LOGIN, admin kicks and bans
    std::uint64_t messages{0};    ///< messages accepted (channel + peer)
    std::uint64_t deliveries{0};  ///< messages sent to receivers live
    std::uint64_t backfilled{0};
    std::uint64_t dropped{0};  ///< messages a receiver will never get (reported to it)
    std::uint64_t deduplicated{0};
    std::uint64_t presence_timeouts{0};
    std::uint64_t rate_limited{0};
    std::uint64_t bad_frames{0};
    std::uint64_t stored_for_away{0};     ///< peer messages kept for a user who is away
    std::uint64_t stale_commands{0};      ///< store commands refused because this node no longer held the session
    std::uint64_t event_gaps{0};          ///< channel events that did not reach this node: its members there resumed
    std::uint64_t presence_frames{0};     ///< frames announcing membership changes: singles and `Presence` batches
    std::uint64_t presence_changes{0};    ///< membership changes announced, one per member told
    std::uint64_t logins_in_progress{0};  ///< now: connections open and not logged in yet
    std::uint64_t logins_shed_rate{0};    ///< logins refused with Close(busy): the server-wide login rate
    std::uint64_t logins_shed_in_progress{0};  ///< ... too many logins in progress
    std::uint64_t logins_shed_memory{0};       ///< ... the driver said it is over its memory high-water mark
};

class Hub {
public:
    /// A single node: the hub owns an in-memory store made from `config`.
    Hub(HubConfig config, TokenVerifier verifier);
    /// One node of a deployment whose shared state is `store` (shared with the other nodes' hubs).
    Hub(HubConfig config, TokenVerifier verifier, std::shared_ptr<cluster::Store> store);
    ~Hub();
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    // ---- driver inputs ----
    /// A transport (TLS + WebSocket) is established; `peer_address` is for per-address limits and listings.
    void on_open(TimePoint now, ConnId conn, std::string peer_address);
    void on_frame(TimePoint now, ConnId conn, const proto::ClientMessage& message);
    /// A Ping the driver has already answered with a Pong (relinkd answers them on the connection's own thread, so
    /// that they do not wait behind the hub's work): the same bookkeeping as on_frame(Ping), without the Pong.
    void on_heartbeat(TimePoint now, ConnId conn);
    /// A frame the codec could not decode (or that was too large): an error reply when the request id is known,
    /// else a Close(invalid).
    void on_bad_frame(TimePoint now, ConnId conn, const proto::DecodeError& error);
    void on_closed(TimePoint now, ConnId conn);
    void handle_timeout(TimePoint now);
    /// The result of a command the store could not answer at once (an asynchronous store).
    void on_store_result(TimePoint now, cluster::CommandId id, cluster::Result result);
    /// Acts on the events the store holds for this node (other nodes' doings); the driver calls it whenever the
    /// store may have some (after another hub's input on a shared MemoryStore, or a message from Redis).
    void on_store_events(TimePoint now);

    // ---- admin ----
    /// Ends a user's session with Close(kicked), or Close(banned), which also refuses the user's logins for
    /// `ban_for`. Returns errc::not_logged_in when the user has no session (a ban is recorded all the same).
    std::error_code kick(TimePoint now, const std::string& app_id, const std::string& user_id, bool ban,
                         Duration ban_for = std::chrono::hours(24));
    /// The same with any store: `done` gets the outcome whenever the store has it (at once in memory, after a round
    /// trip to Redis in a cluster). The one to use from a driver; the form above is for the in-memory store.
    void kick(TimePoint now, const std::string& app_id, const std::string& user_id, bool ban, Duration ban_for,
              std::function<void(std::error_code)> done);
    /// Tells every client to reconnect (elsewhere) within `window`, closes every connection, refuses new logins.
    void drain(TimePoint now, Duration window);
    /// Takes work again after a drain that was not the end (a cluster node that was cut off from Redis).
    void reopen() noexcept;
    /// The apps this server hosts changed (relinkd's reload on SIGHUP): `verifier` checks every login and token
    /// renewal from now on, and every session on this node of an app not in `apps` is ended as by an admin kick:
    /// Close(kicked), so that its client stops instead of retrying logins that would be refused INVALID_APP_ID, and
    /// its peers see it leave (kicked). A connection whose login for such an app is with the store is closed with
    /// Close(kicked) too. The sessions of the apps kept go on, whatever their secret now: their tokens were checked
    /// when they logged in.
    void replace_apps(TimePoint now, TokenVerifier verifier, const std::set<std::string>& apps);
    /// The driver's memory verdict (its write queues above their high-water mark, or not): while overloaded, new
    /// logins are refused with Close(busy) and a retry-after; the sessions held go on. No clock, no I/O: a flag.
    void set_overloaded(bool overloaded) noexcept;
    /// Tells the store which sessions this node really holds (and which logins are on their way): any other session
    /// the store has on this node starts its presence countdown. A driver calls it whenever the store is reachable
    /// again, because the outcome of what was in flight when it was lost is unknown (Store::reconcile).
    void reconcile(TimePoint now);
    /// Events for this node may have been lost (its subscription to them was made again: Redis restarted, with or
    /// without its data, or the link blinked). Nothing can tell which, so every session on this node resumes: its
    /// connection is closed with Close(draining, store_retry_within), the client comes back within that window and
    /// gets what it missed as backfill (or learns that Redis lost it), and the node forgets its channel positions.
    /// Connections still logging in go the same way. Peers see nothing.
    void resync_all(TimePoint now);

    // ---- outputs ----
    [[nodiscard]] std::optional<TimePoint> next_deadline() const;
    [[nodiscard]] std::optional<HubAction> poll_action();

    // ---- observers ----
    /// The deployment's sessions and channels, at once: with the in-memory store only (a single node, tests).
    [[nodiscard]] std::vector<SessionInfo> sessions() const;
    [[nodiscard]] std::vector<ChannelInfo> channels() const;
    /// The same with any store, whenever it has them (the admin API); `done` runs on the driver's thread, later for
    /// a remote store.
    void list(TimePoint now, std::function<void(std::vector<SessionInfo>, std::vector<ChannelInfo>)> done);
    [[nodiscard]] const Metrics& metrics() const noexcept;
    [[nodiscard]] bool draining() const noexcept;
    [[nodiscard]] const cluster::NodeId& node_id() const noexcept;
    [[nodiscard]] cluster::Store& store() noexcept;

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace relink::server
