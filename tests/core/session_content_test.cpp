// The session content part of the client core (core/session_content.hpp) on its own, without a link or a state
// machine: the de-duplication of delivered messages (by stream position, and by (sender, message id) in a bounded
// window that forgets the oldest first), operations that complete exactly once, and the membership events a
// snapshot produces. ClientCore's behaviour with it is proven by the timeline and operations tests.
#include "core/session_content.hpp"

#include <string>
#include <variant>

#include <gtest/gtest.h>

namespace relink::core {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kQueueBound = 8;

proto::Message peer_message(std::string from, std::string message_id, std::uint64_t epoch, std::uint64_t seq) {
    proto::Message m;
    m.from = std::move(from);
    m.message_id = std::move(message_id);
    m.position = {epoch, seq};
    return m;
}

proto::SendMessage channel_send(const std::string& channel) {
    proto::SendMessage m;
    m.to_channel = channel;
    m.payload = "x";
    return m;
}

/// The operation completions among `events`, as "<op> <error name>".
std::vector<std::string> completions(const SessionContent::Events& events) {
    std::vector<std::string> out;
    for (const auto& event : events) {
        if (const auto* done = std::get_if<OperationCompleted>(&event)) {
            out.push_back(std::to_string(done->op) + " " + std::string(error_name(done->error)));
        }
    }
    return out;
}

/// Puts every queued operation in flight on the current transport, with request ids from 100 up.
void send_all(SessionContent& content, TimePoint now) {
    proto::RequestId request = 100;
    for (auto& op : content.operations()) {
        op.in_flight = request++;
        op.sent_once = true;
        op.sent_at = now;
    }
}

// ---------------------------------------------------------------------------------------- de-duplication

TEST(SessionContentDedup, TheWindowEvictsTheOldestIdAtItsBound) {
    SessionContent content(kQueueBound);
    const std::size_t bound = SessionContent::kRecentMessageIds;
    for (std::size_t i = 0; i < bound; ++i) {
        ASSERT_TRUE(content.remember_message_id("UID1", "m" + std::to_string(i))) << i;
    }
    EXPECT_EQ(content.remembered_message_ids(), bound);
    EXPECT_FALSE(content.remember_message_id("UID1", "m0"));  // still inside the window: a copy
    // One more: the window stays at its bound and forgets the oldest id, m0, and only it.
    EXPECT_TRUE(content.remember_message_id("UID1", "m" + std::to_string(bound)));
    EXPECT_EQ(content.remembered_message_ids(), bound);
    EXPECT_FALSE(content.remember_message_id("UID1", "m1"));
    // m0 was forgotten: taken as new, it pushes out the oldest, m1, and only it.
    EXPECT_TRUE(content.remember_message_id("UID1", "m0"));
    EXPECT_FALSE(content.remember_message_id("UID1", "m2"));
    EXPECT_TRUE(content.remember_message_id("UID1", "m1"));  // pushes out m2
    EXPECT_FALSE(content.remember_message_id("UID1", "m3"));
    EXPECT_FALSE(content.remember_message_id("UID1", "m0"));
    EXPECT_EQ(content.remembered_message_ids(), bound);
}

TEST(SessionContentDedup, AnIdIsTheSendersOwn) {
    SessionContent content(kQueueBound);
    EXPECT_TRUE(content.remember_message_id("UID1", "abc-1"));
    EXPECT_TRUE(content.remember_message_id("UID2", "abc-1"));  // another sender's id: another message
    EXPECT_FALSE(content.remember_message_id("UID2", "abc-1"));
}

TEST(SessionContentDedup, PositionsThenIdsDecideWhatIsDelivered) {
    SessionContent content(kQueueBound);
    EXPECT_EQ(content.accept(peer_message("UID1", "a-1", 1, 5)), SessionContent::Arrival::deliver);
    EXPECT_EQ(content.accept(peer_message("UID1", "a-1", 1, 5)), SessionContent::Arrival::duplicate_position);
    EXPECT_EQ(content.accept(peer_message("UID1", "a-2", 1, 4)), SessionContent::Arrival::duplicate_position);
    // The same send again under a new position (a restarted server, another epoch): caught by its id.
    EXPECT_EQ(content.accept(peer_message("UID1", "a-1", 2, 1)), SessionContent::Arrival::duplicate_id);
    EXPECT_EQ(content.accept(peer_message("UID1", "a-2", 2, 2)), SessionContent::Arrival::deliver);
    // Without a message id only the position counts.
    EXPECT_EQ(content.accept(peer_message("UID1", "", 2, 3)), SessionContent::Arrival::deliver);

    proto::Message in_channel = peer_message("UID1", "a-3", 1, 1);
    in_channel.channel = "ch";
    EXPECT_EQ(content.accept(in_channel), SessionContent::Arrival::unknown_channel);
    content.channels()["ch"];
    EXPECT_EQ(content.accept(in_channel), SessionContent::Arrival::deliver);
    EXPECT_EQ(content.accept(in_channel), SessionContent::Arrival::duplicate_position);
}

// ---------------------------------------------------------------------------------------- operations

TEST(SessionContentOperations, EachCompletesExactlyOnce) {
    SessionContent content(kQueueBound);
    SessionContent::Events events;
    const TimePoint t0{};
    const OpId first = content.enqueue(OpKind::peer_message, proto::SendMessage{}, t0 + 60s);
    const OpId second = content.enqueue(OpKind::peer_message, proto::SendMessage{}, t0 + 61s);
    EXPECT_EQ(first, 1u);
    EXPECT_EQ(second, 2u);
    send_all(content, t0);  // first is request 100, second 101

    EXPECT_TRUE(content.complete_request(101, {}, false, events));
    EXPECT_FALSE(content.complete_request(101, {}, false, events));  // a second reply completes nothing
    EXPECT_EQ(completions(events), std::vector<std::string>{"2 OK"});

    content.fail_all(make_error_code(errc::logged_out), events);
    content.fail_all(make_error_code(errc::logged_out), events);
    EXPECT_FALSE(content.complete_request(100, {}, false, events));
    EXPECT_EQ(completions(events), (std::vector<std::string>{"2 OK", "1 LOGGED_OUT"}));
    EXPECT_FALSE(content.operation_deadline());
}

TEST(SessionContentOperations, ARequestOfABrokenLinkCompletesNothing) {
    SessionContent content(kQueueBound);
    SessionContent::Events events;
    const TimePoint t0{};
    (void)content.enqueue(OpKind::peer_message, proto::SendMessage{}, t0 + 60s);
    (void)content.enqueue(OpKind::peer_message, proto::SendMessage{}, t0 + 61s);
    send_all(content, t0);
    content.forget_requests();  // the link broke: the operations wait for the next one
    EXPECT_FALSE(content.complete_request(100, {}, false, events));
    EXPECT_TRUE(events.empty());
    // The oldest expires first: it was sent, so its outcome is unknown (ACK_TIMEOUT).
    EXPECT_EQ(content.operation_deadline(), t0 + 60s);
    content.expire_oldest(events);
    EXPECT_EQ(content.operation_deadline(), t0 + 61s);
    EXPECT_EQ(completions(events), std::vector<std::string>{"1 ACK_TIMEOUT"});
}

TEST(SessionContentOperations, NeverSentExpiresAsASendTimeout) {
    SessionContent content(kQueueBound);
    SessionContent::Events events;
    (void)content.enqueue(OpKind::channel_message, channel_send("ch"), TimePoint{} + 60s);
    content.expire_oldest(events);
    EXPECT_EQ(completions(events), std::vector<std::string>{"1 SEND_TIMEOUT"});
}

TEST(SessionContentOperations, TheQueueHasABoundAndIdsAreNeverReused) {
    SessionContent content(2);
    SessionContent::Events events;
    EXPECT_FALSE(content.check_queue_room());
    (void)content.enqueue(OpKind::peer_message, proto::SendMessage{}, TimePoint{});
    (void)content.enqueue(OpKind::peer_message, proto::SendMessage{}, TimePoint{});
    EXPECT_EQ(content.check_queue_room(), make_error_code(errc::queue_full));
    EXPECT_EQ(content.take_op_id(), 3u);  // an operation that completes at once still has its own id
    content.fail_all(make_error_code(errc::logged_out), events);
    content.start_session();
    EXPECT_FALSE(content.check_queue_room());
    EXPECT_EQ(content.next_op_id(), 4u);
}

TEST(SessionContentOperations, LeavingAChannelFailsOnlyItsOperations) {
    SessionContent content(kQueueBound);
    SessionContent::Events events;
    (void)content.enqueue(OpKind::channel_message, channel_send("a"), TimePoint{});
    (void)content.enqueue(OpKind::channel_message, channel_send("b"), TimePoint{});
    (void)content.enqueue(OpKind::publish, proto::Publish{0, "a", "cam", false}, TimePoint{});
    (void)content.enqueue(OpKind::peer_message, proto::SendMessage{}, TimePoint{});
    content.fail_channel_operations("a", make_error_code(errc::channel_left), events);
    EXPECT_EQ(completions(events), (std::vector<std::string>{"1 CHANNEL_LEFT", "3 CHANNEL_LEFT"}));
    EXPECT_EQ(content.operations().size(), 2u);
}

TEST(SessionContentOperations, ARenewalCompletesWithWhenItWasSent) {
    SessionContent content(kQueueBound);
    SessionContent::Events events;
    const TimePoint sent = TimePoint{} + 3s;
    (void)content.enqueue(OpKind::renew_token, proto::RenewToken{0, "t"}, sent + 60s);
    send_all(content, sent);
    EXPECT_FALSE(content.complete_attributes(100, {}, events));  // not an attribute query
    EXPECT_EQ(content.complete_renewal(100, events), sent);
    EXPECT_FALSE(content.complete_renewal(100, events));
    EXPECT_EQ(completions(events), std::vector<std::string>{"1 OK"});
}

// ---------------------------------------------------------------------------------------- channels

TEST(SessionContentChannels, ASnapshotReportsWhoLeftStreamsFirst) {
    SessionContent content(kQueueBound);
    SessionContent::Events events;
    auto& channel = content.channels()["ch"];
    channel.ever_joined = true;
    channel.members = {{"UID2", {"cam"}}, {"UID3", {}}};
    proto::ChannelSnapshot snapshot;
    snapshot.channel = "ch";
    snapshot.members = {{"ME", {"mic"}}, {"UID3", {"screen"}}, {"UID4", {}}};
    snapshot.position = {1, 7};
    content.apply_snapshot(snapshot, channel, "ME", events);

    std::vector<std::string> seen;
    for (const auto& event : events) {
        std::visit(
            [&](const auto& e) {
                using E = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<E, StreamRemoved>) {
                    seen.push_back("stream_removed " + e.user_id + " " + e.stream);
                } else if constexpr (std::is_same_v<E, StreamAdded>) {
                    seen.push_back("stream_added " + e.user_id + " " + e.stream);
                } else if constexpr (std::is_same_v<E, MemberLeft>) {
                    seen.push_back("member_left " + e.user_id);
                } else if constexpr (std::is_same_v<E, MemberJoined>) {
                    seen.push_back("member_joined " + e.user_id);
                }
            },
            event);
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"stream_removed UID2 cam", "member_left UID2", "stream_added UID3 screen",
                                              "member_joined UID4"}));
    EXPECT_EQ(channel.last_seen, (proto::StreamPosition{1, 7}));
    EXPECT_EQ(channel.members.count("ME"), 0u);  // never a member of its own channel

    // Live changes: each once.
    events.clear();
    EXPECT_FALSE(content.member_joined(proto::MemberJoined{"ch", "UID4"}, "ME", events));  // already there
    EXPECT_FALSE(content.member_joined(proto::MemberJoined{"ch", "ME"}, "ME", events));
    EXPECT_TRUE(content.stream_changed(proto::StreamChanged{"ch", "UID4", "cam", true}, events));
    EXPECT_FALSE(content.stream_changed(proto::StreamChanged{"ch", "UID4", "cam", true}, events));
    EXPECT_TRUE(content.member_left(proto::MemberLeft{"ch", "UID4", MemberLeftCause::dropped}, events));
    EXPECT_FALSE(content.member_left(proto::MemberLeft{"ch", "UID4", MemberLeftCause::dropped}, events));
    EXPECT_EQ(events.size(), 3u);  // stream added, stream removed, member left
}

TEST(SessionContentChannels, ALoginCarriesWhatTheSessionResumes) {
    SessionContent content(kQueueBound);
    content.set_attributes({{"k", "v"}});
    auto& channel = content.channels()["ch"];
    channel.last_seen = proto::StreamPosition{1, 9};
    channel.own_streams = {"cam"};
    EXPECT_FALSE(content.adopt_peer_position({1, 3}));  // the first position is taken
    EXPECT_FALSE(content.adopt_peer_position({1, 8}));  // the same server: ours is kept
    EXPECT_TRUE(content.adopt_peer_position({2, 0}));   // another epoch: the server restarted

    proto::Login login;
    content.fill_login(login);
    EXPECT_EQ(login.last_peer_seen, (proto::StreamPosition{2, 0}));
    ASSERT_EQ(login.channels.size(), 1u);
    EXPECT_EQ(login.channels[0].channel, "ch");
    EXPECT_EQ(login.channels[0].last_seen, (proto::StreamPosition{1, 9}));
    EXPECT_EQ(login.channels[0].streams, std::vector<std::string>{"cam"});
    EXPECT_EQ(login.attributes, (proto::Attributes{{"k", "v"}}));
}

}  // namespace
}  // namespace relink::core
