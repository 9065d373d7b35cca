// One-line renderings of core events and actions, for logs, the demo and test failure messages.
#include <sstream>

#include "common/overloaded.hpp"
#include "core/client_core.hpp"

namespace relink::core {
namespace {

using detail::Overloaded;

std::string ms(Duration d) {
    std::ostringstream out;
    out << std::chrono::duration<double, std::milli>(d).count() << "ms";
    return out.str();
}

const char* op_kind_name(OpKind kind) {
    switch (kind) {
        case OpKind::peer_message: return "peer_message";
        case OpKind::channel_message: return "channel_message";
        case OpKind::publish: return "publish";
        case OpKind::unpublish: return "unpublish";
        case OpKind::set_attributes: return "set_attributes";
        case OpKind::get_attributes: return "get_attributes";
        case OpKind::renew_token: return "renew_token";
        case OpKind::recovery_key: return "recovery_key";
    }
    return "unknown";
}

const char* message_name(const proto::ClientMessage& message) {
    return std::visit(
        Overloaded{[](const proto::Login&) { return "Login"; }, [](const proto::Logout&) { return "Logout"; },
                   [](const proto::Join&) { return "Join"; }, [](const proto::Leave&) { return "Leave"; },
                   [](const proto::Publish&) { return "Publish"; },
                   [](const proto::SendMessage&) { return "SendMessage"; },
                   [](const proto::SetAttributes&) { return "SetAttributes"; },
                   [](const proto::GetAttributes&) { return "GetAttributes"; },
                   [](const proto::RenewToken&) { return "RenewToken"; }, [](const proto::Ping&) { return "Ping"; },
                   [](const proto::RecoveryKey&) { return "RecoveryKey"; }},
        message);
}

}  // namespace

std::string describe(const Event& event) {
    std::ostringstream out;
    std::visit(
        Overloaded{
            [&](const ConnectionStateChanged& e) {
                out << "connection_state_changed " << to_string(e.state) << " " << to_string(e.reason)
                    << " seq=" << e.seq << " attempt=" << e.attempt << " next_retry=" << ms(e.next_retry);
                if (e.last_failure) {
                    out << " last_failure=" << to_string(e.last_failure->cause);
                }
            },
            [&](const ConnectionLost&) { out << "connection_lost"; },
            [&](const JoinSuccess& e) { out << "join_success " << e.channel; },
            [&](const RejoinSuccess&) { out << "rejoin_success"; },
            [&](const ChannelStateChanged& e) {
                out << "channel_state_changed " << e.channel << " " << to_string(e.state) << " " << to_string(e.reason)
                    << " error=" << error_name(e.error);
            },
            [&](const MemberJoined& e) { out << "member_joined " << e.channel << " " << e.user_id; },
            [&](const MemberLeft& e) {
                out << "member_left " << e.channel << " " << e.user_id << " " << to_string(e.cause);
            },
            [&](const StreamAdded& e) { out << "stream_added " << e.channel << " " << e.user_id << " " << e.stream; },
            [&](const StreamRemoved& e) {
                out << "stream_removed " << e.channel << " " << e.user_id << " " << e.stream;
            },
            [&](const MessageReceived& e) {
                out << "message from=" << e.from << " channel=" << e.channel.value_or("-") << " text=" << e.payload
                    << (e.backfilled ? " backfilled" : "");
            },
            [&](const ContinuityReport& e) {
                out << "continuity outage=" << ms(e.outage) << " resumed=" << (e.resumed ? "true" : "false")
                    << " backfilled=" << e.backfilled << " dropped=" << e.dropped
                    << (e.server_restarted ? " server_restarted" : "") << (e.recovered ? " recovered" : "");
            },
            [&](const TokenPrivilegeWillExpire&) { out << "token_privilege_will_expire"; },
            [&](const TokenExpired&) { out << "token_expired"; },
            [&](const OperationCompleted& e) {
                out << "operation_completed op=" << e.op << " " << op_kind_name(e.kind) << " " << error_name(e.error);
            },
            [&](const AttemptFailed& e) {
                out << "attempt_failed attempt=" << e.attempt << " " << to_string(e.cause) << " " << e.detail;
            },
            [&](const LinkQualityChanged& e) {
                out << "link_quality rtt=" << ms(e.quality.rtt) << " rtt_var=" << ms(e.quality.rtt_var)
                    << " samples=" << e.quality.rtt_samples << " missed=" << e.quality.missed_heartbeats
                    << " late=" << e.quality.late_heartbeats;
            },
            [&](const AttemptFinished& e) {
                out << "attempt_finished attempt=" << e.attempt << " "
                    << (e.connected ? (e.resumed ? "resumed" : "connected") : std::string(to_string(*e.cause)))
                    << " total=" << ms(e.total);
                const auto step = [&](const char* name, const std::optional<Duration>& d) {
                    if (d) {
                        out << " " << name << "=" << ms(*d);
                    }
                };
                step("dns", e.steps.dns);
                step("proxy", e.steps.proxy);
                step("tcp", e.steps.tcp);
                step("tls", e.steps.tls);
                step("websocket", e.steps.websocket);
                step("login", e.steps.login);
            },
        },
        event);
    return out.str();
}

std::string describe(const Action& action) {
    std::ostringstream out;
    std::visit(
        Overloaded{
            [&](const OpenTransport& a) {
                out << "open transport=" << a.transport << " attempt=" << a.attempt << (a.standby ? " standby" : "");
            },
            [&](const SendFrame& a) { out << "send transport=" << a.transport << " " << message_name(a.message); },
            [&](const CloseTransport& a) { out << "close transport=" << a.transport; }},
        action);
    return out.str();
}

}  // namespace relink::core
