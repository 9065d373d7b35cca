// relink/events.hpp — everything relink tells the app, as plain values: connection and channel state changes,
// members, streams, messages, continuity reports, token notices and the completion of operations. The same types
// come out of the sans-IO core and reach the app's callbacks.
//
// Public header: C++17, no Boost, no spdlog.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <variant>

#include "relink/timings.hpp"
#include "relink/types.hpp"

namespace relink {

/// A user's attributes: names to values.
using Attributes = std::map<std::string, std::string>;
/// Identifies an operation (a send, publish, attribute call, token renewal) until it completes.
using OpId = std::uint64_t;

struct ConnectionStateChanged {
    ConnectionState previous{ConnectionState::disconnected};
    ConnectionState state{ConnectionState::disconnected};
    ConnectionReason reason{ConnectionReason::login};
    std::uint64_t seq{0};      ///< 1, 2, 3 ... per client
    std::uint32_t attempt{0};  ///< reconnect attempts made in the current outage (0 when none)
    Duration next_retry{};     ///< delay until the next scheduled attempt; 0 when none is scheduled
};
struct ConnectionLost {};
struct JoinSuccess {
    std::string channel;
};
struct RejoinSuccess {};
struct ChannelStateChanged {
    std::string channel;
    ChannelState state{ChannelState::disconnected};
    ChannelReason reason{ChannelReason::left};
    std::error_code error;
};
struct MemberJoined {
    std::string channel;
    std::string user_id;
};
struct MemberLeft {
    std::string channel;
    std::string user_id;
    MemberLeftCause cause{MemberLeftCause::quit};
};
struct StreamAdded {
    std::string channel;
    std::string user_id;
    std::string stream;
};
struct StreamRemoved {
    std::string channel;
    std::string user_id;
    std::string stream;
};
struct MessageReceived {
    std::string from;
    std::optional<std::string> channel;
    std::string message_id;
    std::string payload;
    bool backfilled{false};
};
struct ContinuityReport {
    Duration outage{};    ///< from the last data received before the outage to the successful login
    bool resumed{false};  ///< the server kept the session: peers saw nothing
    std::uint64_t backfilled{0};
    std::uint64_t dropped{0};
};
struct TokenPrivilegeWillExpire {};
struct TokenExpired {};

enum class OpKind : std::uint8_t {
    peer_message,
    channel_message,
    publish,
    unpublish,
    set_attributes,
    get_attributes,
    renew_token
};

struct OperationCompleted {
    OpId op{0};
    OpKind kind{OpKind::peer_message};
    std::error_code error;
    std::optional<Attributes> attributes;  ///< get_attributes: the user's attributes
};

using Event = std::variant<ConnectionStateChanged, ConnectionLost, JoinSuccess, RejoinSuccess, ChannelStateChanged,
                           MemberJoined, MemberLeft, StreamAdded, StreamRemoved, MessageReceived, ContinuityReport,
                           TokenPrivilegeWillExpire, TokenExpired, OperationCompleted>;

}  // namespace relink
