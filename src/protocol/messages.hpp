// protocol/messages.hpp — the typed messages client and server exchange, shared by both ends so they cannot
// drift apart. This header is sans-IO (no sockets, no clock, no JSON); the wire codec lives beside it
// (docs/protocol.md). Requests carry a `request_id` and get exactly one reply (`Reply`, or a typed reply such
// as `LoginOk` / `JoinOk` / `AttributesReply` carrying the same id).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "relink/error.hpp"
#include "relink/events.hpp"
#include "relink/timings.hpp"
#include "relink/types.hpp"

namespace relink::proto {

using RequestId = std::uint64_t;
using Attributes = relink::Attributes;

inline constexpr int kProtocolVersion = 1;
inline constexpr std::size_t kMaxPayloadBytes = 32 * 1024;

/// Where a client is in a channel's message stream: the epoch changes when the server lost history.
struct StreamPosition {
    std::uint64_t epoch{0};
    std::uint64_t seq{0};
    friend bool operator==(const StreamPosition&, const StreamPosition&) = default;
};

struct ChannelResume {
    std::string channel;
    std::optional<StreamPosition> last_seen;  ///< absent when nothing was received yet
    std::vector<std::string> streams;         ///< streams this client publishes there (re-published if lost)
    friend bool operator==(const ChannelResume&, const ChannelResume&) = default;
};

// ---------------------------------------------------------------- client → server

/// The server-side timings a client asks for at login (docs/protocol.md, "Agreed timings"). Each one absent is left
/// to the server's default for the profile; the server answers with the values both ends use (LoginOk::negotiated).
struct TimingsRequest {
    std::optional<Duration> heartbeat_interval;  ///< how often the client pings an idle link
    std::optional<Duration> presence_timeout;    ///< silence after which peers see the user drop
    std::optional<Duration> backfill_window;     ///< channel messages this recent come back after a reconnect ...
    std::optional<std::size_t> backfill_count;   ///< ... at most this many per channel
    [[nodiscard]] bool empty() const noexcept {
        return !heartbeat_interval && !presence_timeout && !backfill_window && !backfill_count;
    }
    friend bool operator==(const TimingsRequest&, const TimingsRequest&) = default;
};

struct Login {
    RequestId request_id{0};
    int version{kProtocolVersion};
    std::string app_id;
    std::string user_id;
    std::string token;
    std::string instance_id;  ///< random per client instance: lets the server refuse a kicked instance's comeback
    Profile profile{Profile::rtm};
    std::optional<std::string> resume_token;  ///< present on a reconnect
    std::optional<StreamPosition> last_peer_seen;
    std::vector<ChannelResume> channels;  ///< channels to (re)join with this login
    Attributes attributes;                ///< re-set if the server lost them
    TimingsRequest timings;               ///< empty from a client older than timing agreement
    /// The client reads `Presence` frames (docs/protocol.md, "Presence in batches"). A client older than them
    /// leaves it out and gets one `MemberJoined` / `MemberLeft` / `StreamChanged` frame per change.
    bool presence_batches{false};
    /// A recovery key (RecoveryKeyOk) taken by an earlier process of this user: resume the session it names, once,
    /// like a resume token (docs/protocol.md, "Recovery keys"). A server older than recovery keys ignores it.
    std::optional<std::string> recovery;
    friend bool operator==(const Login&, const Login&) = default;
};

struct Logout {
    RequestId request_id{0};
    friend bool operator==(const Logout&, const Logout&) = default;
};

struct Join {
    RequestId request_id{0};
    std::string channel;
    friend bool operator==(const Join&, const Join&) = default;
};

struct Leave {
    RequestId request_id{0};
    std::string channel;
    friend bool operator==(const Leave&, const Leave&) = default;
};

struct Publish {
    RequestId request_id{0};
    std::string channel;
    std::string stream;
    bool unpublish{false};
    friend bool operator==(const Publish&, const Publish&) = default;
};

struct SendMessage {
    RequestId request_id{0};
    std::string message_id;                 ///< client message id: the server de-duplicates re-sends by it
    std::optional<std::string> to_user;     ///< peer message
    std::optional<std::string> to_channel;  ///< channel message
    std::string payload;
    bool store_offline{false};
    friend bool operator==(const SendMessage&, const SendMessage&) = default;
};

struct SetAttributes {
    RequestId request_id{0};
    Attributes attributes;
    friend bool operator==(const SetAttributes&, const SetAttributes&) = default;
};

struct GetAttributes {
    RequestId request_id{0};
    std::string user_id;
    friend bool operator==(const GetAttributes&, const GetAttributes&) = default;
};

struct RenewToken {
    RequestId request_id{0};
    std::string token;
    friend bool operator==(const RenewToken&, const RenewToken&) = default;
};

struct Ping {
    friend bool operator==(const Ping&, const Ping&) = default;
};

/// Asks for the server's part of a recovery key for this session (answered with RecoveryKeyOk): a single-use secret
/// the server keeps with the session, replacing the one it gave before. Appended last: the types above keep their
/// variant indexes.
struct RecoveryKey {
    RequestId request_id{0};
    friend bool operator==(const RecoveryKey&, const RecoveryKey&) = default;
};

using ClientMessage = std::variant<Login, Logout, Join, Leave, Publish, SendMessage, SetAttributes, GetAttributes,
                                   RenewToken, Ping, RecoveryKey>;

// ---------------------------------------------------------------- server → client

struct Member {
    std::string user_id;
    std::vector<std::string> streams;
    friend bool operator==(const Member&, const Member&) = default;
};

struct ChannelSnapshot {
    std::string channel;
    std::error_code error;        ///< set when the (re)join of this channel failed
    std::vector<Member> members;  ///< everyone else in the channel, with their streams
    StreamPosition position;      ///< the channel's message stream position now: backfill starts after it
    friend bool operator==(const ChannelSnapshot&, const ChannelSnapshot&) = default;
};

/// What the server applies for this session and the client adopts: what the client asked for (Login::timings),
/// within the server's bounds, and the server's defaults for what it did not ask.
struct Negotiated {
    Duration heartbeat_interval{};
    Duration presence_timeout{};
    Duration backfill_window{};
    std::size_t backfill_count{0};
    friend bool operator==(const Negotiated&, const Negotiated&) = default;
};

struct LoginOk {
    RequestId request_id{0};
    std::string resume_token;
    bool resumed{false};  ///< presence was kept: peers saw nothing
    Negotiated negotiated;
    Duration token_ttl{};  ///< time until the token expires; 0 = no expiry
    std::vector<ChannelSnapshot> channels;
    std::uint64_t backfilled{0};   ///< messages that follow as backfill
    std::uint64_t dropped{0};      ///< messages lost for this client (queue overflow, history gap)
    StreamPosition peer_position;  ///< the user's peer-message stream position before the backfill
    /// The server answers RecoveryKey requests (a server older than recovery keys leaves it out: false).
    bool recovery_keys{false};
    friend bool operator==(const LoginOk&, const LoginOk&) = default;
};

/// The reply to any request that has no typed reply; `error` is empty on success.
struct Reply {
    RequestId request_id{0};
    std::error_code error;
    /// A peer message the server kept for a receiver who is away (its presence ran out, its session did not): it
    /// is delivered when the receiver's client comes back ("cached by server").
    bool stored{false};
    friend bool operator==(const Reply&, const Reply&) = default;
};

struct JoinOk {
    RequestId request_id{0};
    ChannelSnapshot snapshot;
    friend bool operator==(const JoinOk&, const JoinOk&) = default;
};

struct AttributesReply {
    RequestId request_id{0};
    std::string user_id;
    Attributes attributes;
    friend bool operator==(const AttributesReply&, const AttributesReply&) = default;
};

struct RenewOk {
    RequestId request_id{0};
    Duration token_ttl{};
    friend bool operator==(const RenewOk&, const RenewOk&) = default;
};

struct MemberJoined {
    std::string channel;
    std::string user_id;
    friend bool operator==(const MemberJoined&, const MemberJoined&) = default;
};

struct MemberLeft {
    std::string channel;
    std::string user_id;
    MemberLeftCause cause{MemberLeftCause::quit};
    friend bool operator==(const MemberLeft&, const MemberLeft&) = default;
};

struct StreamChanged {
    std::string channel;
    std::string user_id;
    std::string stream;
    bool added{true};
    friend bool operator==(const StreamChanged&, const StreamChanged&) = default;
};

/// One membership change of a channel, as a `Presence` frame lists it: what one `MemberJoined`, `MemberLeft` or
/// `StreamChanged` frame would say, without the channel.
struct PresenceChange {
    enum class Kind : std::uint8_t { joined, left, stream_added, stream_removed };
    Kind kind{Kind::joined};
    std::string user_id;
    MemberLeftCause cause{MemberLeftCause::quit};  ///< `left` only
    std::string stream;                            ///< `stream_added` / `stream_removed` only
    friend bool operator==(const PresenceChange&, const PresenceChange&) = default;
};

/// Several membership changes of one channel in one frame, in the order they happened, for a client whose login
/// set `presence_batches`: the server coalesces the changes it would announce to that member within a short interval
/// (docs/protocol.md, "Presence in batches"). The receiver applies them in order, as if each came alone.
struct Presence {
    std::string channel;
    std::vector<PresenceChange> changes;
    friend bool operator==(const Presence&, const Presence&) = default;
};

/// The most changes one `Presence` frame carries (more go in the next frame): at most 64-byte names, a frame of
/// them stays far below the frame limit (kMaxFrameBytes, codec.hpp).
inline constexpr std::size_t kMaxPresenceChanges = 256;

struct Message {
    std::string from;
    std::optional<std::string> channel;  ///< absent for a peer message
    std::string message_id;
    std::string payload;
    StreamPosition position;  ///< in the channel's stream, or the receiver's peer stream
    bool backfilled{false};
    friend bool operator==(const Message&, const Message&) = default;
};

struct Pong {
    friend bool operator==(const Pong&, const Pong&) = default;
};

/// Why the server ends a session, and whether the client should come back.
enum class CloseReason : std::uint8_t {
    remote_login,        ///< never reconnect
    banned,              ///< never reconnect
    kicked,              ///< admin kick: never reconnect automatically
    token_expired,       ///< reconnect only with a fresh token
    keep_alive_timeout,  ///< reconnect at once
    draining,            ///< reconnect within `reconnect_within`
    invalid,             ///< protocol violation: reconnect with backoff
    /// The server is overloaded and refused the login before looking at it: come back no sooner than
    /// `reconnect_within` (the retry-after), at a jittered point after it. Appended last: the values above keep
    /// their numbers.
    busy,
};

/// A drain's window is the time within which its clients are back, logged in: each starts its return at a
/// uniformly random point within this share of it, and the rest is left for the login itself (which takes longest
/// at the end, when the nodes taking them are busiest). A server sizes the window so that the returns, spread over
/// this share, come no faster than it means them to.
inline constexpr double kDrainReturnShare = 0.8;

struct Close {
    CloseReason reason{CloseReason::draining};
    /// draining: be back within this window (returns start within its first kDrainReturnShare); busy: the
    /// retry-after, the earliest return
    Duration reconnect_within{};
    friend bool operator==(const Close&, const Close&) = default;
};

/// The answer to RecoveryKey: the server's part of the key (opaque to the client, which wraps it with its own
/// positions: protocol/recovery_key.hpp).
struct RecoveryKeyOk {
    RequestId request_id{0};
    std::string key;
    friend bool operator==(const RecoveryKeyOk&, const RecoveryKeyOk&) = default;
};

using ServerMessage = std::variant<LoginOk, Reply, JoinOk, AttributesReply, RenewOk, MemberJoined, MemberLeft,
                                   StreamChanged, Message, Pong, Close, Presence, RecoveryKeyOk>;

/// The change a single `MemberJoined`, `MemberLeft` or `StreamChanged` announces (in its channel); nothing for any
/// other message.
[[nodiscard]] inline std::optional<PresenceChange> presence_change(const ServerMessage& message) {
    using Kind = PresenceChange::Kind;
    if (const auto* m = std::get_if<MemberJoined>(&message)) {
        return PresenceChange{Kind::joined, m->user_id, {}, {}};
    }
    if (const auto* m = std::get_if<MemberLeft>(&message)) {
        return PresenceChange{Kind::left, m->user_id, m->cause, {}};
    }
    if (const auto* m = std::get_if<StreamChanged>(&message)) {
        return PresenceChange{m->added ? Kind::stream_added : Kind::stream_removed, m->user_id, {}, m->stream};
    }
    return std::nullopt;
}

/// The single frame that announces `change` in `channel` (what a client without batches receives).
[[nodiscard]] inline ServerMessage single_presence(const std::string& channel, const PresenceChange& change) {
    switch (change.kind) {
        case PresenceChange::Kind::joined: return MemberJoined{channel, change.user_id};
        case PresenceChange::Kind::left: return MemberLeft{channel, change.user_id, change.cause};
        case PresenceChange::Kind::stream_added: return StreamChanged{channel, change.user_id, change.stream, true};
        case PresenceChange::Kind::stream_removed: break;
    }
    return StreamChanged{channel, change.user_id, change.stream, false};
}

}  // namespace relink::proto
