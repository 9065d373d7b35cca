// The session content part of the client core (see session_content.hpp and docs/state-machine.md).
#include "core/session_content.hpp"

#include <iterator>
#include <utility>

#include "common/overloaded.hpp"
#include "relink/error.hpp"

namespace relink::core {
namespace {

using detail::Overloaded;

}  // namespace

void SessionContent::start_session() {
    last_peer_seen_.reset();
    attributes_.clear();
    channels_.clear();
}

// ============================================================================================ channels

std::optional<TimePoint> SessionContent::earliest_join_deadline() const {
    std::optional<TimePoint> earliest;
    for (const auto& [name, channel] : channels_) {
        if (channel.join_deadline && (!earliest || *channel.join_deadline < *earliest)) {
            earliest = channel.join_deadline;
        }
    }
    return earliest;
}

void SessionContent::forget_requests() {
    for (auto& op : operations_) {
        op.in_flight.reset();  // re-sent after the next login, with the same client message id
    }
    for (auto& [name, channel] : channels_) {
        channel.pending_join.reset();  // the next login carries the channel
    }
    pending_leaves_.clear();
}

void SessionContent::apply_snapshot(const proto::ChannelSnapshot& snapshot, Channel& channel,
                                    const std::string& own_user, Events& out) {
    // From here on, a reconnect asks for what it missed. An old epoch's position is kept on purpose: the snapshot's
    // position is the channel's current one, after the history the server backfills when it sees an old epoch;
    // the first message of the new epoch replaces it.
    if (!channel.last_seen) {
        channel.last_seen = snapshot.position;
    }
    std::map<std::string, std::set<std::string>> now_members;
    for (const auto& member : snapshot.members) {
        if (member.user_id != own_user) {
            now_members[member.user_id].insert(member.streams.begin(), member.streams.end());
        }
    }
    // Who left while we were away: their streams go first, then the member (the order peers see live).
    for (const auto& [user, streams] : channel.members) {
        if (now_members.count(user) == 0) {
            for (const auto& stream : streams) {
                out.push_back(StreamRemoved{snapshot.channel, user, stream});
            }
            out.push_back(MemberLeft{snapshot.channel, user, MemberLeftCause::quit});
        }
    }
    for (const auto& [user, streams] : now_members) {
        auto old = channel.members.find(user);
        if (old == channel.members.end()) {
            out.push_back(MemberJoined{snapshot.channel, user});
            for (const auto& stream : streams) {
                out.push_back(StreamAdded{snapshot.channel, user, stream});
            }
            continue;
        }
        for (const auto& stream : old->second) {
            if (streams.count(stream) == 0) {
                out.push_back(StreamRemoved{snapshot.channel, user, stream});
            }
        }
        for (const auto& stream : streams) {
            if (old->second.count(stream) == 0) {
                out.push_back(StreamAdded{snapshot.channel, user, stream});
            }
        }
    }
    channel.members = std::move(now_members);
}

SessionContent::Channel* SessionContent::joined_channel(const std::string& name) {
    auto it = channels_.find(name);
    return it != channels_.end() && it->second.ever_joined ? &it->second : nullptr;
}

bool SessionContent::member_joined(const proto::MemberJoined& m, const std::string& own_user, Events& out) {
    Channel* channel = joined_channel(m.channel);
    if (channel == nullptr || m.user_id == own_user || channel->members.count(m.user_id) != 0) {
        return false;
    }
    channel->members[m.user_id];
    out.push_back(MemberJoined{m.channel, m.user_id});
    return true;
}

bool SessionContent::member_left(const proto::MemberLeft& m, Events& out) {
    Channel* channel = joined_channel(m.channel);
    auto member = channel != nullptr ? channel->members.find(m.user_id) : decltype(channel->members)::iterator{};
    if (channel == nullptr || member == channel->members.end()) {
        return false;
    }
    for (const auto& stream : member->second) {
        out.push_back(StreamRemoved{m.channel, m.user_id, stream});  // a member's streams end before the member leaves
    }
    channel->members.erase(member);
    out.push_back(MemberLeft{m.channel, m.user_id, m.cause});
    return true;
}

bool SessionContent::stream_changed(const proto::StreamChanged& m, Events& out) {
    Channel* channel = joined_channel(m.channel);
    auto member = channel != nullptr ? channel->members.find(m.user_id) : decltype(channel->members)::iterator{};
    if (channel == nullptr || member == channel->members.end()) {
        return false;
    }
    const bool changed = m.added ? member->second.insert(m.stream).second : member->second.erase(m.stream) != 0;
    if (!changed) {
        return false;
    }
    if (m.added) {
        out.push_back(StreamAdded{m.channel, m.user_id, m.stream});
    } else {
        out.push_back(StreamRemoved{m.channel, m.user_id, m.stream});
    }
    return true;
}

// ============================================================================================ received messages

SessionContent::Arrival SessionContent::accept(const proto::Message& message) {
    std::optional<proto::StreamPosition>* last = &last_peer_seen_;
    if (message.channel) {
        auto it = channels_.find(*message.channel);
        if (it == channels_.end()) {
            return Arrival::unknown_channel;
        }
        last = &it->second.last_seen;
    }
    if (*last && (*last)->epoch == message.position.epoch && message.position.seq <= (*last)->seq) {
        return Arrival::duplicate_position;  // at most once
    }
    *last = message.position;
    if (!message.message_id.empty() && !remember_message_id(message.from, message.message_id)) {
        return Arrival::duplicate_id;  // at most once across a server restart, too
    }
    return Arrival::deliver;
}

bool SessionContent::remember_message_id(const std::string& from, const std::string& message_id) {
    std::string key = from;
    key += '\n';  // never part of a user id
    key += message_id;
    if (recent_message_ids_.count(key) != 0) {
        return false;
    }
    recent_message_order_.push_back(key);
    recent_message_ids_.insert(std::move(key));
    if (recent_message_order_.size() > kRecentMessageIds) {
        recent_message_ids_.erase(recent_message_order_.front());
        recent_message_order_.pop_front();
    }
    return true;
}

// ============================================================================================ what a login carries

void SessionContent::fill_login(proto::Login& login) const {
    login.last_peer_seen = last_peer_seen_;
    for (const auto& [name, channel] : channels_) {
        proto::ChannelResume resume;
        resume.channel = name;
        resume.last_seen = channel.last_seen;
        resume.streams.assign(channel.own_streams.begin(), channel.own_streams.end());
        login.channels.push_back(std::move(resume));
    }
    login.attributes = attributes_;
}

void SessionContent::adopt_recovery(const RecoveryKeyData& key) {
    last_peer_seen_ = key.last_peer_seen;
    for (const auto& resume : key.channels) {
        Channel& channel = channels_[resume.channel];
        channel.last_seen = resume.last_seen;
        channel.own_streams.insert(resume.streams.begin(), resume.streams.end());
    }
}

std::optional<std::string> SessionContent::recovery_key(const std::string& app_id, const std::string& user_id,
                                                        const std::string& secret) const {
    RecoveryKeyData key;
    key.app_id = app_id;
    key.user_id = user_id;
    key.secret = secret;
    key.last_peer_seen = last_peer_seen_;
    for (const auto& [name, channel] : channels_) {
        key.channels.push_back({name, channel.last_seen, {channel.own_streams.begin(), channel.own_streams.end()}});
    }
    return encode_recovery_key(key);
}

bool SessionContent::adopt_peer_position(const proto::StreamPosition& server_position) {
    // From here on, a reconnect asks for the peer messages it missed. A position of another epoch is the old
    // server's (it lost its history in a restart): the server only backfills after a position of its own epoch,
    // so keeping the old one would lose, silently, what a later outage on this server misses.
    const bool server_restarted = last_peer_seen_ && last_peer_seen_->epoch != server_position.epoch;
    if (!last_peer_seen_ || server_restarted) {
        last_peer_seen_ = server_position;
    }
    return server_restarted;
}

// ============================================================================================ operations

std::error_code SessionContent::check_queue_room() const {
    return operations_.size() >= max_queued_operations_ ? make_error_code(errc::queue_full) : std::error_code{};
}

OpId SessionContent::enqueue(OpKind kind, proto::ClientMessage message, TimePoint deadline) {
    Operation op;
    op.id = ++last_op_id_;
    op.kind = kind;
    op.message = std::move(message);
    op.deadline = deadline;
    operations_.push_back(std::move(op));
    return last_op_id_;
}

std::deque<SessionContent::Operation>::iterator SessionContent::complete(std::deque<Operation>::iterator it,
                                                                         std::error_code error, Events& out,
                                                                         std::optional<proto::Attributes> attributes,
                                                                         bool stored_for_away_user,
                                                                         std::optional<std::string> recovery_key) {
    out.push_back(OperationCompleted{it->id, it->kind, error, std::move(attributes), stored_for_away_user,
                                     std::move(recovery_key)});
    return operations_.erase(it);
}

bool SessionContent::complete_request(proto::RequestId request, std::error_code error, bool stored_for_away_user,
                                      Events& out) {
    for (auto it = operations_.begin(); it != operations_.end(); ++it) {
        if (it->in_flight == request) {
            complete(it, error, out, std::nullopt, stored_for_away_user);
            return true;
        }
    }
    return false;
}

bool SessionContent::complete_attributes(proto::RequestId request, proto::Attributes attributes, Events& out) {
    for (auto it = operations_.begin(); it != operations_.end(); ++it) {
        if (it->in_flight == request && it->kind == OpKind::get_attributes) {
            complete(it, {}, out, std::move(attributes));
            return true;
        }
    }
    return false;
}

bool SessionContent::complete_recovery_key(proto::RequestId request, const std::string& app_id,
                                           const std::string& user_id, const std::string& secret, Events& out) {
    for (auto it = operations_.begin(); it != operations_.end(); ++it) {
        if (it->in_flight == request && it->kind == OpKind::recovery_key) {
            auto key = recovery_key(app_id, user_id, secret);
            if (key) {
                complete(it, {}, out, std::nullopt, false, std::move(key));
            } else {
                complete(it, make_error_code(errc::limit_exceeded), out);  // more than a key can hold
            }
            return true;
        }
    }
    return false;
}

std::optional<TimePoint> SessionContent::complete_renewal(proto::RequestId request, Events& out) {
    for (auto it = operations_.begin(); it != operations_.end(); ++it) {
        if (it->in_flight == request && it->kind == OpKind::renew_token) {
            const TimePoint sent_at = it->sent_at;
            complete(it, {}, out);
            return sent_at;
        }
    }
    return std::nullopt;
}

void SessionContent::fail_channel_operations(const std::string& channel, std::error_code error, Events& out) {
    for (auto op = operations_.begin(); op != operations_.end();) {
        const bool for_channel =
            std::visit(Overloaded{[&](const proto::SendMessage& m) { return m.to_channel == channel; },
                                  [&](const proto::Publish& m) { return m.channel == channel; },
                                  [](const auto&) { return false; }},
                       op->message);
        if (for_channel) {
            op = complete(op, error, out);
        } else {
            ++op;
        }
    }
}

void SessionContent::fail_operations(OpKind kind, std::error_code error, Events& out) {
    for (auto op = operations_.begin(); op != operations_.end();) {
        op = op->kind == kind ? complete(op, error, out) : std::next(op);
    }
}

void SessionContent::fail_all(std::error_code error, Events& out) {
    while (!operations_.empty()) {
        complete(operations_.begin(), error, out);
    }
}

std::optional<TimePoint> SessionContent::operation_deadline() const {
    return operations_.empty() ? std::nullopt : std::optional<TimePoint>(operations_.front().deadline);
}

void SessionContent::expire_oldest(Events& out) {
    auto front = operations_.begin();
    // Never sent: certainly not delivered. Sent but unacknowledged: the outcome is unknown.
    complete(front, make_error_code(front->sent_once ? errc::ack_timeout : errc::send_timeout), out);
}

}  // namespace relink::core
