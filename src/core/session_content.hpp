// core/session_content.hpp — the session content part of the client core: what a session holds and carries over
// from one link to the next. A plain, sans-IO value owned by ClientCore; it reads no clock and performs nothing.
//
// It owns:
//   * the channels: their states, the other members and their streams, this client's own streams, the last
//     position seen in each, the Join in flight and the deadline of a first join, and the Leave requests in flight;
//   * the queue of operations (sends, publishes, attributes, renewals): ids, deadlines, which are in flight on the
//     current transport, and their completions (each exactly once);
//   * this client's attributes and the last position seen in its peer-message stream (what a login carries to
//     resume);
//   * the de-duplication of delivered messages: by stream position, and by (sender, message id) within a bounded
//     window of the newest ones.
//
// Why the split is here: all of this is what the session is *about*, and it outlives any one transport — a link
// that breaks forgets only its requests in flight (forget_requests()). It never decides a connection state and
// never sends: ClientCore keeps the state machine, numbers the requests, sends them on the link, and decides the
// channel states (the transitions depend on the profile and the phase). Events (members, streams, completions) are
// appended to the caller's queue in the order they happen, so ClientCore keeps one ordered queue of events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <unordered_set>

#include "core/actions.hpp"
#include "core/recovery_key.hpp"
#include "protocol/messages.hpp"
#include "relink/events.hpp"
#include "relink/types.hpp"

namespace relink::core {

class SessionContent {
public:
    /// Where events go, in order (ClientCore's queue).
    using Events = std::deque<Event>;

    /// How many delivered (sender, message id) pairs a client remembers. The copies it must catch are the re-sends
    /// of messages whose acknowledgement died with a server: sent again right after the senders reconnect, so they
    /// arrive within the newest few hundred messages. Bounded so a busy receiver's memory stays small (~25 KB at
    /// most).
    static constexpr std::size_t kRecentMessageIds = 256;

    struct Channel {
        ChannelState state{ChannelState::connecting};
        ChannelReason reason{ChannelReason::joining};
        bool ever_joined{false};
        std::optional<proto::RequestId> pending_join;          ///< Join in flight on the current transport
        std::optional<TimePoint> join_deadline;                ///< a first join must succeed by then
        std::map<std::string, std::set<std::string>> members;  ///< other members → their streams
        std::set<std::string> own_streams;
        std::optional<proto::StreamPosition> last_seen;
    };

    struct Operation {
        OpId id{0};
        OpKind kind{OpKind::peer_message};
        proto::ClientMessage message;  ///< request id refreshed on each send
        TimePoint deadline;
        bool sent_once{false};
        TimePoint sent_at{};                        ///< when it was last sent
        std::optional<proto::RequestId> in_flight;  ///< request id on the current transport
    };

    /// What became of a received message (accept()).
    enum class Arrival : std::uint8_t {
        deliver,             ///< new: hand it to the app
        unknown_channel,     ///< for a channel this client is not in (e.g. racing its leave()): dropped
        duplicate_position,  ///< at or below the last position seen in its stream: dropped
        duplicate_id,        ///< its (sender, message id) was delivered already: dropped
    };

    explicit SessionContent(std::size_t max_queued_operations) : max_queued_operations_(max_queued_operations) {}

    /// A new session (login()): no channels, attributes or peer position yet. The operation ids go on (an id is never
    /// reused by one client), and so does the de-duplication window.
    void start_session();

    // ---- channels ----

    [[nodiscard]] std::map<std::string, Channel>& channels() noexcept { return channels_; }
    [[nodiscard]] const std::map<std::string, Channel>& channels() const noexcept { return channels_; }
    /// The earliest deadline of a first join, if any.
    [[nodiscard]] std::optional<TimePoint> earliest_join_deadline() const;
    /// The link that carried the requests is gone: no operation, Join or Leave is in flight any more. Operations are
    /// sent again after the next login with the same client message id; the next login carries the channels.
    void forget_requests();
    /// A Leave was sent with `request`: its reply is expected and means nothing more.
    void expect_leave_reply(proto::RequestId request) { pending_leaves_.insert(request); }
    /// True (once) when `request` is a Leave in flight.
    [[nodiscard]] bool leave_replied(proto::RequestId request) { return pending_leaves_.erase(request) != 0; }
    /// The channel's members and streams become the snapshot's (`own_user` excluded); what changed is reported:
    /// a member who left loses its streams first, then leaves (the order peers see live).
    void apply_snapshot(const proto::ChannelSnapshot& snapshot, Channel& channel, const std::string& own_user,
                        Events& out);
    /// Live membership changes in a channel that has been joined; false when the change cannot happen here
    /// (unknown channel or member, a stream that is already there or gone).
    [[nodiscard]] bool member_joined(const proto::MemberJoined& m, const std::string& own_user, Events& out);
    [[nodiscard]] bool member_left(const proto::MemberLeft& m, Events& out);
    [[nodiscard]] bool stream_changed(const proto::StreamChanged& m, Events& out);

    // ---- received messages ----

    /// Whether `message` is new; a new one advances its stream's position and is remembered by (sender, message id).
    [[nodiscard]] Arrival accept(const proto::Message& message);
    /// Remembers (from, message_id) among the newest kRecentMessageIds; false when it is among them already.
    [[nodiscard]] bool remember_message_id(const std::string& from, const std::string& message_id);
    [[nodiscard]] std::size_t remembered_message_ids() const noexcept { return recent_message_order_.size(); }

    // ---- what a login carries ----

    /// Fills in the login's resume positions, channels (with their last positions and own streams) and attributes.
    void fill_login(proto::Login& login) const;
    /// Takes the server's peer-message position after a login: kept unless none is known yet or the server restarted
    /// (another epoch). Returns whether the server restarted.
    [[nodiscard]] bool adopt_peer_position(const proto::StreamPosition& server_position);
    void set_attributes(const proto::Attributes& attributes) { attributes_ = attributes; }
    /// A recovery key's client part: the peer position and each channel's last position and own streams, as the
    /// earlier process had them when it took the key. Channels are added (CONNECTING is the caller's business).
    void adopt_recovery(const RecoveryKeyData& key);
    /// The recovery key for `secret` (the server's part): this session's state now. Nothing when it breaks the
    /// key's bounds (core/recovery_key.hpp).
    [[nodiscard]] std::optional<std::string> recovery_key(const std::string& app_id, const std::string& user_id,
                                                          const std::string& secret) const;

    // ---- operations ----

    [[nodiscard]] std::error_code check_queue_room() const;
    /// The id the next enqueued operation gets.
    [[nodiscard]] OpId next_op_id() const noexcept { return last_op_id_ + 1; }
    /// Takes the next operation id for an operation that completes at once, without a queue entry.
    [[nodiscard]] OpId take_op_id() noexcept { return ++last_op_id_; }
    /// Queues an operation (the caller checked check_queue_room()); returns its id.
    OpId enqueue(OpKind kind, proto::ClientMessage message, TimePoint deadline);
    /// The queue, oldest first; the caller sends what is not in flight.
    [[nodiscard]] std::deque<Operation>& operations() noexcept { return operations_; }
    /// Completes the in-flight operation of `request` with the server's reply; false when none has it.
    [[nodiscard]] bool complete_request(proto::RequestId request, std::error_code error, bool stored_for_away_user,
                                        Events& out);
    /// Completes the in-flight attribute query of `request`; false when none has it.
    [[nodiscard]] bool complete_attributes(proto::RequestId request, proto::Attributes attributes, Events& out);
    /// Completes the in-flight recovery-key request of `request` with the key made from the server's `secret` at
    /// this moment (recovery_key()): the later it is made, the less a recovery delivers again. False when none has it.
    [[nodiscard]] bool complete_recovery_key(proto::RequestId request, const std::string& app_id,
                                             const std::string& user_id, const std::string& secret, Events& out);
    /// Completes the in-flight renewal of `request`; returns when it was sent (its token's time to live counts from
    /// there), none when no renewal has it.
    [[nodiscard]] std::optional<TimePoint> complete_renewal(proto::RequestId request, Events& out);
    /// Fails the queued sends and publishes of `channel`.
    void fail_channel_operations(const std::string& channel, std::error_code error, Events& out);
    /// Fails the queued operations of `kind`, oldest first.
    void fail_operations(OpKind kind, std::error_code error, Events& out);
    /// Fails every queued operation, oldest first.
    void fail_all(std::error_code error, Events& out);
    /// The deadline of the oldest operation.
    [[nodiscard]] std::optional<TimePoint> operation_deadline() const;
    /// The oldest operation's deadline passed: it fails (SEND_TIMEOUT if never sent, ACK_TIMEOUT if sent).
    void expire_oldest(Events& out);

private:
    std::deque<Operation>::iterator complete(std::deque<Operation>::iterator it, std::error_code error, Events& out,
                                             std::optional<proto::Attributes> attributes = std::nullopt,
                                             bool stored_for_away_user = false,
                                             std::optional<std::string> recovery_key = std::nullopt);
    /// A channel this client has joined, if any.
    [[nodiscard]] Channel* joined_channel(const std::string& name);

    std::size_t max_queued_operations_;
    std::map<std::string, Channel> channels_;
    std::set<proto::RequestId> pending_leaves_;  ///< Leave requests in flight: their replies are expected
    proto::Attributes attributes_;
    std::optional<proto::StreamPosition> last_peer_seen_;
    /// (sender, message id) of the newest messages delivered, at most kRecentMessageIds. A server de-duplicates
    /// re-sends, but a send whose acknowledgement died with the server is sent again to the next one, which
    /// remembers no ids and delivers it again under a new position: the receiver drops that second copy here.
    std::unordered_set<std::string> recent_message_ids_;
    std::deque<std::string> recent_message_order_;
    std::deque<Operation> operations_;
    OpId last_op_id_{0};
};

}  // namespace relink::core
