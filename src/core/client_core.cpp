// The client connection core (see client_core.hpp and docs/state-machine.md).
#include "core/client_core.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <stdexcept>
#include <utility>

#include "common/encoding.hpp"
#include "common/overloaded.hpp"
#include "relink/error.hpp"

namespace relink::core {
namespace {

using detail::Overloaded;

std::error_code err(errc code) {
    return make_error_code(code);
}

bool is(std::error_code code, errc value) {
    return code == make_error_code(value);
}

std::string in_ms(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

/// The longest "busy, retry after" a client honours: far beyond any server's (relinkd's is at most 30 s by
/// default), short enough that a wrong value never outlasts the give-up timers.
constexpr Duration kMaxBusyRetryAfter = std::chrono::minutes(5);

/// The longest drain window a client honours: a node of 100,000 sessions draining at 400 logins a second needs
/// ~5 minutes; a broken value must not park the client for longer, nor overflow the clock.
constexpr Duration kMaxDrainWindow = std::chrono::minutes(10);

/// The smallest move of the smoothed RTT that LinkQualityChanged reports (with a relative move of 25 %).
constexpr Duration kQualityMinRttChange = std::chrono::milliseconds(20);

const char* close_reason_text(proto::CloseReason reason) {
    switch (reason) {
        case proto::CloseReason::remote_login: return "the user logged in elsewhere";
        case proto::CloseReason::banned: return "banned";
        case proto::CloseReason::kicked: return "kicked";
        case proto::CloseReason::token_expired: return "the token expired";
        case proto::CloseReason::keep_alive_timeout: return "keep-alive timeout";
        case proto::CloseReason::draining: return "the server is draining";
        case proto::CloseReason::invalid: return "protocol violation";
        case proto::CloseReason::busy: return "the server is busy";
    }
    return "unknown reason";
}

}  // namespace

Config make_config(Profile profile, std::string app_id, std::uint64_t seed) {
    Config config;
    config.profile = profile;
    config.timings = timings_for(profile);
    config.app_id = std::move(app_id);
    config.seed = seed;
    return config;
}

ClientCore::ClientCore(Config config)
    : config_(std::move(config)), rng_(config_.seed), link_(config_.timings), content_(config_.max_queued_operations) {
    if (validate(config_.timings)) {
        throw std::invalid_argument("relink: invalid timings (see relink::validate)");
    }
    if (config_.max_queued_operations == 0) {
        throw std::invalid_argument("relink: max_queued_operations must be at least 1");
    }
    instance_tag_ = rng_() ^ config_.instance_salt;
}

// ============================================================================================ profile switches

bool ClientCore::in_outage() const noexcept {
    return phase_ == Phase::live && state_ != ConnectionState::connected;
}

// ============================================================================================ events

void ClientCore::set_state(TimePoint now, ConnectionState state, ConnectionReason reason) {
    if (state == state_ && reason == reason_) {
        return;  // never two identical consecutive (state, reason) pairs
    }
    ConnectionStateChanged event;
    event.previous = state_;
    event.state = state;
    event.reason = reason;
    event.seq = ++state_seq_;
    event.attempt = link_.attempt();
    if (state == ConnectionState::connected) {
        event.timings = link_.agreed();
    }
    const std::optional<TimePoint>& retry_at = link_.retry_at();
    if (retry_at && link_.stage() == Link::Stage::none && *retry_at > now) {
        event.next_retry = *retry_at - now;
    }
    event.last_failure = link_.last_failure();
    state_ = state;
    reason_ = reason;
    state_since_ = now;
    emit(event);
}

void ClientCore::set_channel_state(const std::string& name, Channel& channel, ChannelState state, ChannelReason reason,
                                   std::error_code error) {
    if (channel.state == state && channel.reason == reason) {
        return;
    }
    channel.state = state;
    channel.reason = reason;
    emit(ChannelStateChanged{name, state, reason, error});
}

// ============================================================================================ API inputs

std::error_code ClientCore::login(TimePoint now, std::string user_id, std::string token,
                                  std::vector<std::string> channels) {
    if (phase_ != Phase::idle || state_ != ConnectionState::disconnected) {
        return err(errc::already_logged_in);
    }
    if (!is_valid_user_id(user_id)) {
        return err(errc::invalid_user_id);
    }
    for (const auto& name : channels) {
        if (!is_valid_channel_name(name)) {
            if (rules().bad_channel_fails_session) {
                // The join() that starts an rtc session fails the session (behaviour.md, INVALID_CHANNEL_NAME).
                set_state(now, ConnectionState::failed, ConnectionReason::invalid_channel_name);
            }
            return err(errc::invalid_channel_name);
        }
    }
    user_id_ = std::move(user_id);
    token_ = std::move(token);
    token_refused_ = false;
    token_expiry_.reset();
    token_warned_ = false;
    token_expired_reported_ = false;
    link_.forget_resume_token();
    content_.start_session();
    recovering_.reset();
    std::set<std::string> recovered_channels;
    if (config_.recover_key) {
        // Recovery (docs/reliability.md, "Recovery keys"): the key's channels and positions are what the earlier
        // process had; the server checks the rest. A key that does not parse is sent all the same, and refused.
        recovering_ = std::move(config_.recover_key);
        config_.recover_key.reset();
        if (auto key = decode_recovery_key(*recovering_)) {
            content_.adopt_recovery(*key);
            for (const auto& resume : key->channels) {
                recovered_channels.insert(resume.channel);
            }
        }
    }
    link_.reset_backoff();
    link_.reset_attempts();
    link_.forget_failure();
    phase_ = Phase::first_login;
    login_deadline_ = now + config_.timings.login_timeout;
    set_state(now, ConnectionState::connecting, rules().start_reason);
    for (const auto& name : channels) {
        auto [it, inserted] = content_.channels().try_emplace(name);
        if (inserted) {
            it->second.state = ChannelState::disconnected;
            it->second.join_deadline = login_deadline_;
            set_channel_state(name, it->second, ChannelState::connecting, ChannelReason::joining);
        }
    }
    for (const auto& name : recovered_channels) {  // in the key: adopted with their positions, joined likewise
        auto& channel = content_.channels()[name];
        channel.state = ChannelState::disconnected;
        channel.join_deadline = login_deadline_;
        set_channel_state(name, channel, ChannelState::connecting, ChannelReason::joining);
    }
    start_attempt(now);
    return {};
}

std::error_code ClientCore::logout(TimePoint now) {
    switch (phase_) {
        case Phase::leaving: return {};  // already on its way out
        case Phase::idle:
            if (state_ == ConnectionState::disconnected) {
                return err(errc::not_logged_in);
            }
            // ABORTED / FAILED: nothing is open any more; just acknowledge.
            set_state(now, ConnectionState::disconnected, rules().end_reason);
            return {};
        case Phase::first_login:
        case Phase::live: break;
    }
    if (standby_ && standby_->stage == Standby::Stage::reading_old_link) {
        commit_handover(now, true);  // the session is on the new link already: the Logout goes there
    }
    if (standby_ && standby_->stage == Standby::Stage::logging_in) {
        // The standby's Login is out: the server moves the session to the standby when it takes that Login, if it
        // has not yet, and nothing sent on the old link now can arrive before the move (the fence). So the Logout
        // follows the Login on the standby, and the session ends wherever it is by then; on the old link it would
        // find the session gone (and the closed standby would leave it to its presence timeout) or end it before
        // the Login, which would then begin another. No DISCONNECTING wait: the answer would come on a transport
        // that is not logged in yet (docs/protocol.md, "Handover").
        act(SendFrame{standby_->transport, proto::Logout{next_request_id()}});
        drop_standby(true);
        end_session(now, ConnectionState::disconnected, rules().end_reason, err(errc::logged_out), ChannelReason::left,
                    {});
        return {};
    }
    const bool graceful = rules().graceful_logout && link_.up();
    drop_standby(true);  // no handover for a session on its way out
    if (link_.up()) {
        logout_request_ = next_request_id();
        send(now, proto::Logout{*logout_request_});
    }
    if (graceful) {
        // rtc-web: CONNECTED → DISCONNECTING, then DISCONNECTED when the server acknowledges (or a timeout).
        link_.cancel_retry();
        link_.cancel_attempt_deadline();
        login_deadline_.reset();
        reconnecting_since_.reset();
        link_.break_stable_period();
        phase_ = Phase::leaving;
        leave_deadline_ = now + config_.timings.leave_timeout;
        set_state(now, ConnectionState::disconnecting, ConnectionReason::leave_channel);
        for (auto& [name, channel] : content_.channels()) {
            set_channel_state(name, channel, ChannelState::disconnected, ChannelReason::left);
        }
        content_.channels().clear();
        content_.fail_all(err(errc::logged_out), events_);
        return {};
    }
    end_session(now, ConnectionState::disconnected, rules().end_reason, err(errc::logged_out), ChannelReason::left, {});
    return {};
}

void ClientCore::finish_leaving(TimePoint now) {
    drop_link(true);
    phase_ = Phase::idle;
    leave_deadline_.reset();
    logout_request_.reset();
    set_state(now, ConnectionState::disconnected, ConnectionReason::leave_channel);
}

std::error_code ClientCore::join(TimePoint now, const std::string& channel) {
    if (!is_valid_channel_name(channel)) {
        return err(errc::invalid_channel_name);
    }
    if (phase_ == Phase::idle || phase_ == Phase::leaving) {
        return err(errc::not_logged_in);
    }
    if (content_.channels().count(channel) != 0) {
        if (rules().rejected_join_fails_session) {
            // The rtc seed: joinChannel while already in the channel → FAILED REJECTED_BY_SERVER.
            end_session(now, ConnectionState::failed, ConnectionReason::rejected_by_server, err(errc::session_failed),
                        ChannelReason::join_failed, err(errc::rejected_by_server));
        }
        return err(errc::already_joined);
    }
    auto& record = content_.channels()[channel];
    record.state = ChannelState::disconnected;
    record.join_deadline = now + config_.timings.login_timeout;
    set_channel_state(channel, record, ChannelState::connecting, ChannelReason::joining);
    if (link_.up()) {
        record.pending_join = next_request_id();
        send(now, proto::Join{*record.pending_join, channel});
    }
    // Otherwise the login that (re-)establishes the session carries it, or the Join follows its LoginOk.
    return {};
}

std::error_code ClientCore::join_session(TimePoint now, std::string user_id, std::string token,
                                         const std::string& channel) {
    // Only the rtc profiles' join() starts a session (like the vendors' joinChannel); rtm and room need one.
    if (rules().join_starts_session && phase_ == Phase::idle && state_ == ConnectionState::disconnected) {
        return login(now, std::move(user_id), std::move(token), {channel});
    }
    return join(now, channel);
}

std::error_code ClientCore::leave(TimePoint now, const std::string& channel) {
    if (phase_ == Phase::idle && rules().leave_ends_session &&
        (state_ == ConnectionState::aborted || state_ == ConnectionState::failed)) {
        return logout(now);  // the rtc seeds: after a failure the app calls leaveChannel(), then joins again
    }
    if (phase_ == Phase::idle || phase_ == Phase::leaving) {
        return err(errc::not_logged_in);
    }
    auto it = content_.channels().find(channel);
    if (it == content_.channels().end()) {
        emit(ChannelStateChanged{channel, ChannelState::disconnected, ChannelReason::leave_failed,
                                 err(errc::unknown_channel)});
        return err(errc::unknown_channel);
    }
    if (rules().leave_ends_session && content_.channels().size() == 1) {
        return logout(now);  // leaving the last channel ends an rtc session
    }
    leave_channel(now, it);
    return {};
}

void ClientCore::leave_channel(TimePoint now, std::map<std::string, Channel>::iterator it) {
    const std::string name = it->first;
    // Sends still queued for this channel can no longer be delivered.
    content_.fail_channel_operations(name, err(errc::channel_left), events_);
    if (link_.up()) {
        const auto request = next_request_id();
        content_.expect_leave_reply(request);
        send(now, proto::Leave{request, name});
    }
    set_channel_state(name, it->second, ChannelState::disconnected, ChannelReason::left);
    content_.channels().erase(it);
}

std::error_code ClientCore::switch_channel(TimePoint now, const std::string& from, const std::string& to) {
    if (phase_ == Phase::idle || phase_ == Phase::leaving) {
        return err(errc::not_logged_in);
    }
    if (!is_valid_channel_name(to)) {
        return err(errc::invalid_channel_name);
    }
    auto it = content_.channels().find(from);
    if (it == content_.channels().end()) {
        return err(errc::not_joined);
    }
    if (content_.channels().count(to) != 0) {
        return err(errc::already_joined);
    }
    leave_channel(now, it);
    return join(now, to);
}

std::error_code ClientCore::check_session_for_operation() const {
    if (phase_ == Phase::idle || phase_ == Phase::leaving) {
        return err(errc::not_logged_in);
    }
    return {};
}

std::error_code ClientCore::check_channel_operation(const std::string& channel) const {
    if (auto e = check_session_for_operation()) {
        return e;
    }
    if (!is_valid_channel_name(channel)) {
        return err(errc::invalid_channel_name);  // more telling than NOT_JOINED: no such channel can exist
    }
    auto it = content_.channels().find(channel);
    if (it == content_.channels().end()) {
        return err(errc::not_joined);
    }
    const Channel& record = it->second;
    if (record.state == ChannelState::connected) {
        return {};
    }
    // While the session reconnects, a channel that was joined before is REJOINING; its operations are queued
    // (R-RTM-3) — except in the room profile, which accepts channel operations only in JOINED / REJOINED.
    if (record.state == ChannelState::connecting && record.ever_joined && rules().channel_operations_while_rejoining) {
        return {};
    }
    return err(errc::not_joined);
}

std::string ClientCore::instance_id() const {
    return encoding::to_hex(instance_tag_);
}

std::string ClientCore::next_message_id(OpId op) const {
    return instance_id() + "-" + std::to_string(op);
}

OpResult ClientCore::send_peer_message(TimePoint now, const std::string& to_user, std::string payload,
                                       bool store_offline) {
    if (auto e = check_session_for_operation()) {
        return {0, e};
    }
    if (!is_valid_user_id(to_user)) {
        return {0, err(errc::invalid_user_id)};
    }
    if (payload.size() > proto::kMaxPayloadBytes) {
        return {0, err(errc::payload_too_large)};
    }
    proto::SendMessage message;
    message.message_id = next_message_id(content_.next_op_id());
    message.to_user = to_user;
    message.payload = std::move(payload);
    message.store_offline = store_offline;
    return enqueue(now, OpKind::peer_message, std::move(message));
}

OpResult ClientCore::send_channel_message(TimePoint now, const std::string& channel, std::string payload) {
    if (auto e = check_channel_operation(channel)) {
        return {0, e};
    }
    if (payload.size() > proto::kMaxPayloadBytes) {
        return {0, err(errc::payload_too_large)};
    }
    proto::SendMessage message;
    message.message_id = next_message_id(content_.next_op_id());
    message.to_channel = channel;
    message.payload = std::move(payload);
    return enqueue(now, OpKind::channel_message, std::move(message));
}

OpResult ClientCore::publish(TimePoint now, const std::string& channel, const std::string& stream) {
    if (auto e = check_channel_operation(channel)) {
        return {0, e};
    }
    if (!is_valid_channel_name(stream)) {
        return {0, err(errc::invalid_argument)};
    }
    if (auto e = content_.check_queue_room()) {
        return {0, e};  // checked before anything changes: a refused call has no effect
    }
    content_.channels()[channel].own_streams.insert(stream);
    return enqueue(now, OpKind::publish, proto::Publish{0, channel, stream, false});
}

OpResult ClientCore::unpublish(TimePoint now, const std::string& channel, const std::string& stream) {
    if (auto e = check_channel_operation(channel)) {
        return {0, e};
    }
    if (auto e = content_.check_queue_room()) {
        return {0, e};
    }
    auto& own = content_.channels()[channel].own_streams;
    if (own.erase(stream) == 0) {
        return {0, err(errc::invalid_argument)};
    }
    return enqueue(now, OpKind::unpublish, proto::Publish{0, channel, stream, true});
}

OpResult ClientCore::set_local_user_attributes(TimePoint now, proto::Attributes attributes) {
    if (auto e = check_session_for_operation()) {
        return {0, e};
    }
    if (auto e = content_.check_queue_room()) {
        return {0, e};
    }
    content_.set_attributes(attributes);
    return enqueue(now, OpKind::set_attributes, proto::SetAttributes{0, std::move(attributes)});
}

OpResult ClientCore::get_user_attributes(TimePoint now, const std::string& user_id) {
    if (auto e = check_session_for_operation()) {
        return {0, e};
    }
    if (!is_valid_user_id(user_id)) {
        return {0, err(errc::invalid_user_id)};
    }
    return enqueue(now, OpKind::get_attributes, proto::GetAttributes{0, user_id});
}

OpResult ClientCore::recovery_key(TimePoint now) {
    if (auto e = check_session_for_operation()) {
        return {0, e};
    }
    if (link_.up() && !server_makes_recovery_keys_) {
        // A server older than recovery keys would take the request for an unknown type and close the link, again
        // after each reconnect: refused here instead, at once.
        return {0, err(errc::rejected_by_server)};
    }
    return enqueue(now, OpKind::recovery_key, proto::RecoveryKey{0});
}

OpResult ClientCore::renew_token(TimePoint now, std::string token) {
    if (auto e = check_session_for_operation()) {
        return {0, e};
    }
    if (link_.up()) {
        if (auto e = content_.check_queue_room()) {
            return {0, e};
        }
    }
    token_ = std::move(token);
    token_warned_ = false;
    token_expired_reported_ = false;
    token_expiry_.reset();  // unknown until the server has seen the new token
    if (link_.up()) {
        return enqueue(now, OpKind::renew_token, proto::RenewToken{0, token_});
    }
    // No live link: the next login attempt uses the new token. If the session is down because of its token,
    // that attempt happens now (RENEW_TOKEN).
    const OpId op = content_.take_op_id();
    emit(OperationCompleted{op, OpKind::renew_token, {}, std::nullopt, false, std::nullopt});
    if (in_outage() && token_refused_) {
        reconnect_now(now, ConnectionReason::renew_token);
    }
    return {op, {}};
}

void ClientCore::use_token_for_next_login(std::string token) {
    if (phase_ == Phase::idle || phase_ == Phase::leaving) {
        return;
    }
    token_ = std::move(token);
    token_warned_ = false;
    token_expired_reported_ = false;
    token_expiry_.reset();  // unknown until the server has seen the new token
}

void ClientCore::notify_network_changed(TimePoint now) {
    if (phase_ == Phase::live && state_ == ConnectionState::connected && link_.up()) {
        // The old link may well still work (a second network came up, a VPN toggled): ask it, at once, instead of
        // breaking it. A link that no longer answers reconnects within the probe timeout, not the 4 s detector; one
        // that answers is replaced make-before-break: the data that answers the probe starts the handover.
        if (!standby_) {
            handover_wanted_ = true;
        }
        start_probe(now, ConnectionReason::client_ip_address_changed);
    } else if (phase_ == Phase::first_login) {
        drop_link(true);
        start_attempt(now);
    } else if (phase_ == Phase::live) {
        reconnect_now(now, ConnectionReason::client_ip_address_changed);
    }
}

void ClientCore::notify_foreground(TimePoint now) {
    if (phase_ == Phase::live && state_ == ConnectionState::connected && link_.up()) {
        // A suspended app's link may have died unseen: the OS froze our timers, so the silence detector starts
        // counting only now. One Ping tells within the probe timeout.
        start_probe(now, ConnectionReason::interrupted);
    } else if ((phase_ == Phase::live || phase_ == Phase::first_login) && link_.stage() == Link::Stage::none &&
               link_.retry_at()) {
        // The user is looking: the attempt waiting for its backoff delay starts now (no state change; the backoff
        // still steps if it fails).
        link_.cancel_retry();
        start_attempt(now);
    }
}

void ClientCore::notify_proxy_changed(TimePoint now) {
    if (phase_ == Phase::first_login) {
        drop_link(true);
        start_attempt(now);
    } else if (phase_ == Phase::live) {
        reconnect_now(now, ConnectionReason::setting_proxy_server);
    }
}

// ============================================================================================ the handover
// Make-before-break after a network change (docs/protocol.md, "Handover"; docs/decisions.md). The old link (link_)
// stays the link until the standby's LoginOk: everything it receives meanwhile is handled as always, and positions
// advance; the standby's Login carries the positions as they stand when it is sent, so the server backfills
// whatever the old link had not delivered yet, and the de-duplication by position drops what both deliver.

void ClientCore::start_handover(TimePoint now) {
    Standby standby;
    standby.transport = link_.next_transport_id();
    standby.started = now;
    standby.deadline = now + config_.timings.attempt_timeout;
    standby_ = standby;
    act(OpenTransport{standby.transport, link_.attempt() + 1, true});
}

void ClientCore::fence_old_link(TimePoint now) {
    // From here on sends are held (flush_operations()); one Ping on the old link, and the server, which handles a
    // transport's frames in order and answers each Ping at once, has handled every earlier frame on it when its
    // Pong comes back. Only then may the session move: a send of the old link cannot be handled after the resume.
    standby_->stage = Standby::Stage::fencing;
    send_ping(now);
    standby_->fence_pongs = link_.pings_in_flight();
}

void ClientCore::send_standby_login(TimePoint now) {
    standby_->stage = Standby::Stage::logging_in;
    standby_->login_request = next_request_id();
    standby_->login_sent_at = now;
    act(SendFrame{standby_->transport, make_login(standby_->login_request)});
}

void ClientCore::standby_message(TimePoint now, proto::ServerMessage& message) {
    if (standby_->stage == Standby::Stage::reading_old_link) {
        standby_->held.push_back(std::move(message));  // handled, in order, once the old link has ended
        return;
    }
    if (standby_->stage != Standby::Stage::logging_in) {
        ++diagnostics_.unexpected_messages;  // nothing comes before the Login
        return;
    }
    if (auto* ok = std::get_if<proto::LoginOk>(&message); ok != nullptr && ok->request_id == standby_->login_request) {
        read_old_link_to_end(now, *ok);
        return;
    }
    if (auto* reply = std::get_if<proto::Reply>(&message);
        reply != nullptr && reply->request_id == standby_->login_request && reply->error) {
        standby_failed(now, AttemptFailure::server,
                       std::string("the server refused the login: ") + error_name(reply->error), true);
        return;
    }
    if (auto* close = std::get_if<proto::Close>(&message)) {
        // A busy or draining server, or any other close, on the new path: the old link is kept, as it is.
        if (close->reason == proto::CloseReason::busy) {
            standby_failed(now, AttemptFailure::busy,
                           "the server is busy: retry after " + in_ms(close->reconnect_within), true);
        } else {
            standby_failed(
                now, AttemptFailure::server,
                std::string("the server closed the connection during the login: ") + close_reason_text(close->reason),
                true);
        }
        return;
    }
    ++diagnostics_.unexpected_messages;
}

void ClientCore::read_old_link_to_end(TimePoint now, proto::LoginOk& m) {
    // The session is on the standby now; the server closes the old transport once it has written what it had for it,
    // and that may still be on its way, more of it than the standby's backfill brings again (32 per channel by
    // default, none for some profiles). So the old link is read to its end first: for as long as it goes on
    // delivering, each time for up to a probe timeout, and at most an attempt timeout in all (a path that went bad
    // meanwhile, or a node that is slow to close it, does not hold the session's sends for longer).
    standby_->stage = Standby::Stage::reading_old_link;
    standby_->login_ok = std::move(m);
    standby_->login_ok_at = now;
    standby_->read_until = now + config_.timings.attempt_timeout;
    standby_->deadline = std::min(standby_->read_until, now + link_.probe_timeout());
}

void ClientCore::commit_handover(TimePoint now, bool close_old) {
    // The server counted as dropped whatever was not in the backfill since the Login's positions; what the old link
    // delivered after the Login was sent is part of that, and arrived.
    const std::uint64_t arrived = delivered_before_the_move(*standby_->login_ok);
    Standby standby = std::move(*standby_);
    standby_.reset();
    handover_wanted_ = false;
    // Requests in flight on the old link were handled before the fence; those whose answer has not come are sent
    // again on the new link with the same message ids (the server acknowledges a known id without delivering it
    // again).
    if (auto close = link_.drop(close_old)) {
        act(*close);
    }
    content_.forget_requests();
    link_.adopt_standby(standby.transport, standby.started, standby.deadline, standby.steps);
    link_.opened(standby.login_sent_at, standby.login_request);
    link_.received(now);
    proto::LoginOk& ok = *standby.login_ok;
    ok.dropped -= std::min(ok.dropped, arrived);
    logged_in(now, standby.login_ok_at, ok);  // CONNECTED stays CONNECTED: a ContinuityReport with no outage
    for (auto& message : standby.held) {
        if (link_.transport() != standby.transport || !link_.up()) {
            break;  // something held ended the link (a Close): the rest went with it
        }
        std::visit([&](auto& m) { handle(now, m); }, message);
    }
}

std::uint64_t ClientCore::delivered_before_the_move(const proto::LoginOk& m) const {
    // Each stream's position in the LoginOk is where the standby's delivery begins: the backfill comes after it. A
    // message the old link delivered at or before it is one the server could not send again, and counted as dropped.
    std::uint64_t count = 0;
    for (const auto& delivered : standby_->delivered_on_old_link) {
        std::optional<proto::StreamPosition> begins = m.peer_position;
        if (delivered.channel) {
            const auto snapshot = std::find_if(m.channels.begin(), m.channels.end(),
                                               [&](const auto& c) { return c.channel == *delivered.channel; });
            begins =
                snapshot != m.channels.end() && !snapshot->error ? std::optional(snapshot->position) : std::nullopt;
        }
        if (begins && begins->epoch == delivered.position.epoch && delivered.position.seq <= begins->seq) {
            ++count;
        }
    }
    return count;
}

void ClientCore::standby_failed(TimePoint now, AttemptFailure cause, std::string detail, bool close) {
    AttemptFailed failed = link_.standby_failed(cause, std::move(detail));
    AttemptFinished finished;
    finished.attempt = failed.attempt;
    finished.cause = cause;
    if (standby_) {
        finished.total = now - standby_->started;
        finished.steps = standby_->steps;
        const bool answered = cause == AttemptFailure::server || cause == AttemptFailure::busy;
        if (standby_->stage == Standby::Stage::logging_in && answered) {
            finished.steps.login = now - standby_->login_sent_at;
        }
    }
    emit(std::move(failed));
    emit(std::move(finished));
    drop_standby(close);
    flush_operations(now);  // the held sends go on the old link, which stays
}

void ClientCore::drop_standby(bool close) {
    if (!standby_) {
        return;
    }
    if (close) {
        act(CloseTransport{standby_->transport});
    }
    standby_.reset();
}

void ClientCore::old_link_died(TimePoint now, bool close) {
    if (standby_->stage == Standby::Stage::reading_old_link) {
        commit_handover(now, close);  // the end that was waited for: everything before the move has arrived
        return;
    }
    // Once the standby's Login is out, the old link's end is most likely the server's move of the session (it closes
    // the old transport when it resumes the session on the new one, and that close may overtake the LoginOk): no
    // outage unless the standby then fails too (link_failed() counts it from the last data then).
    if (!outage_since_ && standby_->stage != Standby::Stage::logging_in) {
        outage_since_ = link_.last_rx();
    }
    if (auto close_transport = link_.drop(close)) {
        act(*close_transport);
    }
    handover_wanted_ = false;
    content_.forget_requests();
    promote_standby(now);
}

void ClientCore::promote_standby(TimePoint now) {
    const Standby standby = std::move(*standby_);
    standby_.reset();
    link_.adopt_standby(standby.transport, standby.started, standby.deadline, standby.steps);
    switch (standby.stage) {
        case Standby::Stage::opening: break;  // on_transport_open() logs it in, as any attempt
        case Standby::Stage::fencing:
            // No fence to wait for any more: whatever the old link carried was handled or is lost with it, and is
            // sent again after the login.
            link_.opened(now, next_request_id());
            send(now, make_login(*link_.login_request()));
            break;
        case Standby::Stage::logging_in: link_.opened(standby.login_sent_at, standby.login_request); break;
        case Standby::Stage::reading_old_link: break;  // logged in: commit_handover(), never here (old_link_died())
    }
}

// ============================================================================================ the link
// The link's bookkeeping is Link's (core/link.hpp); here is what its changes mean to the session: the actions and
// events they produce, in order, and what a drop or a failure does to the phase and the visible state.

void ClientCore::start_attempt(TimePoint now) {
    act(link_.start_attempt(now));
}

void ClientCore::schedule_retry(TimePoint now) {
    link_.schedule_retry(now, rng_);
}

void ClientCore::drop_link(bool close) {
    if (auto close_transport = link_.drop(close)) {
        act(*close_transport);
    }
    drop_standby(true);  // a handover needs the old link (old_link_died() is the exception, and runs first)
    handover_wanted_ = false;
    content_.forget_requests();  // what was in flight on it is sent again after the next login
}

void ClientCore::link_failed(TimePoint now) {
    // The link is gone (already dropped). What happens next depends on why it was being used.
    switch (phase_) {
        case Phase::first_login:
        case Phase::live:
            if (phase_ == Phase::live && !outage_since_) {
                outage_since_ = link_.last_rx();
            }
            // Re-connect at once — after the first, jittered, backoff delay. While CONNECTED the state does not
            // change until `interrupted_after` has passed since the last data received.
            schedule_retry(now);
            break;
        case Phase::leaving: finish_leaving(now); break;
        case Phase::idle: break;
    }
}

void ClientCore::attempt_failed(TimePoint now, AttemptFailure cause, std::string detail, bool answered) {
    if (!link_.attempting()) {
        return;  // a link that was up broke: its attempt had succeeded
    }
    AttemptFinished finished = link_.finish_attempt(now, cause, false, answered);
    if (auto failed = link_.attempt_failed(cause, std::move(detail))) {
        emit(std::move(*failed));
        emit(std::move(finished));
    }
}

void ClientCore::emit(Event event) {
    // The metrics count what the app is told, as it is told: one place, so the two cannot disagree.
    std::visit(
        [this](const auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, AttemptFinished>) {
                ++metrics_.attempts;
                if (e.connected) {
                    ++metrics_.attempts_connected;
                    metrics_.attempts_resumed += e.resumed ? 1 : 0;
                } else if (e.cause) {
                    ++metrics_.attempts_failed.at(static_cast<std::size_t>(*e.cause));
                }
                metrics_.attempt.record(e.total);
                const auto step = [](Histogram& h, const std::optional<Duration>& d) {
                    if (d) {
                        h.record(*d);
                    }
                };
                step(metrics_.dns, e.steps.dns);
                step(metrics_.proxy, e.steps.proxy);
                step(metrics_.tcp, e.steps.tcp);
                step(metrics_.tls, e.steps.tls);
                step(metrics_.websocket, e.steps.websocket);
                step(metrics_.login, e.steps.login);
                if (e.steps.tls) {
                    ++metrics_.tls_handshakes;
                    metrics_.tls_handshakes_resumed += e.steps.tls_resumed ? 1 : 0;
                }
            } else if constexpr (std::is_same_v<E, ConnectionStateChanged>) {
                ++metrics_.state_changes.at(static_cast<std::size_t>(e.state));
            } else if constexpr (std::is_same_v<E, ContinuityReport>) {
                ++metrics_.continuity_reports;
                metrics_.messages_dropped += e.dropped;
            } else if constexpr (std::is_same_v<E, MessageReceived>) {
                ++metrics_.messages_received;
            }
        },
        event);
    events_.push_back(std::move(event));
}

void ClientCore::enter_reconnecting(TimePoint now, ConnectionReason reason) {
    reconnecting_since_ = now;
    lost_reported_ = false;
    link_.break_stable_period();
    set_state(now, rules().reconnect_state, reason);
    for (auto& [name, channel] : content_.channels()) {
        if (channel.state == ChannelState::connected) {
            set_channel_state(name, channel, ChannelState::connecting, ChannelReason::rejoining,
                              err(errc::network_interrupted));
        }
    }
}

void ClientCore::reconnect_now(TimePoint now, ConnectionReason reason) {
    if (link_.up() && !outage_since_) {
        outage_since_ = link_.last_rx();
    }
    drop_link(true);
    link_.cancel_retry();
    if (state_ == ConnectionState::connected) {
        enter_reconnecting(now, reason);
    } else {
        set_state(now, rules().reconnect_state, reason);
    }
    start_attempt(now);
}

void ClientCore::send(TimePoint now, proto::ClientMessage message) {
    act(SendFrame{link_.transport(), std::move(message)});
    link_.sent(now);
}

void ClientCore::send_ping(TimePoint now) {
    send(now, proto::Ping{});
    link_.ping_sent(now);
}

void ClientCore::start_probe(TimePoint now, ConnectionReason reason) {
    if (link_.probe_deadline()) {
        return;  // one probe at a time: a second hint during it learns nothing more
    }
    probe_reason_ = reason;
    link_.start_probe(now);
    send_ping(now);
    report_quality(now);  // the Ping may have been due with one in flight: a missed heartbeat
}

void ClientCore::report_quality(TimePoint now) {
    // The rule (docs/decisions.md): a report when the connection's first round trip is measured, when the number of
    // heartbeats missed in a row changes (one missed, or the link answering again), or when the smoothed RTT moved
    // by ≥ 25 % and ≥ 20 ms since the last report; and at most one report per heartbeat interval: a change held
    // back is reported at the next heartbeat or answer after it (each compares with the last report, so nothing is
    // lost), which also keeps a link whose RTT exceeds the heartbeat interval (missed, answered, missed ...) quiet.
    const LinkQuality q = link_.quality(now);
    if (!q.up || (reported_quality_ && now - reported_quality_at_ < link_.heartbeat_interval())) {
        return;
    }
    bool meaningful = false;
    if (!reported_quality_) {
        meaningful = q.rtt_samples > 0 || q.missed_heartbeats > 0;
    } else {
        const LinkQuality& last = *reported_quality_;
        const Duration moved = q.rtt > last.rtt ? q.rtt - last.rtt : last.rtt - q.rtt;
        meaningful = (q.rtt_samples > 0 && last.rtt_samples == 0) || q.missed_heartbeats != last.missed_heartbeats ||
                     (q.rtt_samples > 0 && moved * 4 >= last.rtt && moved >= kQualityMinRttChange);
    }
    if (meaningful) {
        reported_quality_ = q;
        reported_quality_at_ = now;
        emit(LinkQualityChanged{q});
    }
}

proto::Login ClientCore::make_login(proto::RequestId request) {
    proto::Login login;
    login.request_id = request;
    login.app_id = config_.app_id;
    login.user_id = user_id_;
    login.token = token_;
    login.instance_id = instance_id();
    login.profile = config_.profile;
    login.resume_token = link_.resume_token();
    content_.fill_login(login);
    // The server-side timings this client wants; the server answers with what both ends use (handle(LoginOk)).
    const Timings& t = config_.timings;
    login.timings = {t.heartbeat_interval, t.presence_timeout, t.backfill_window, t.backfill_count};
    login.presence_batches = true;  // handle(Presence) below
    login.recovery = recovering_;
    return login;
}

// ============================================================================================ driver inputs

void ClientCore::on_transport_open(TimePoint now, TransportId transport, const AttemptSteps& steps) {
    if (standby_ && transport == standby_->transport) {
        if (standby_->stage == Standby::Stage::opening) {
            standby_->steps = steps;
            fence_old_link(now);
            run_due(now);
        } else {
            ++diagnostics_.stale_transport_reports;
        }
        return;
    }
    if (transport != link_.transport() || link_.stage() != Link::Stage::opening) {
        ++diagnostics_.stale_transport_reports;
        return;
    }
    link_.set_steps(steps);
    link_.opened(now, next_request_id());
    send(now, make_login(*link_.login_request()));
}

void ClientCore::on_transport_closed(TimePoint now, TransportId transport, std::error_code error, AttemptFailure cause,
                                     std::string detail, const AttemptSteps& finished_steps) {
    if (standby_ && transport == standby_->transport) {
        if (standby_->stage == Standby::Stage::reading_old_link) {
            // The new link, logged in, broke while the old one was being read to its end: it takes over all the
            // same (the session is there), and its end is then the link's, as any other.
            commit_handover(now, true);
            on_transport_closed(now, transport, error, cause, std::move(detail), finished_steps);
            return;
        }
        standby_failed(now, cause, detail.empty() ? error.message() : std::move(detail), false);
        run_due(now);
        return;
    }
    if (transport != link_.transport() || link_.stage() == Link::Stage::none) {
        ++diagnostics_.stale_transport_reports;
        return;
    }
    if (standby_ && phase_ == Phase::live && link_.up()) {
        // The old link closed during a handover: the standby goes on, as the attempt that reconnects (hidden).
        old_link_died(now, false);
        run_due(now);
        return;
    }
    if (link_.stage() == Link::Stage::opening) {
        link_.set_steps(finished_steps);  // the steps it finished before it failed
    }
    attempt_failed(now, cause, detail.empty() ? error.message() : std::move(detail));
    if (link_.probe_deadline() && phase_ == Phase::live) {
        // The link closed while a suspicion probe waited for its answer: that is the answer (dead), and the
        // reconnect is the probe's — at once, with the hint's reason — not a silent retry after a backoff delay.
        if (!outage_since_) {
            outage_since_ = link_.last_rx();
        }
        drop_link(false);
        reconnect_now(now, probe_reason_);
        run_due(now);
        return;
    }
    drop_link(false);
    link_failed(now);
    run_due(now);
}

void ClientCore::on_message(TimePoint now, TransportId transport, proto::ServerMessage message) {
    if (standby_ && transport == standby_->transport) {
        standby_message(now, message);
        run_due(now);
        return;
    }
    if (transport != link_.transport() || link_.stage() == Link::Stage::none) {
        ++diagnostics_.stale_transport_reports;
        return;
    }
    if (link_.stage() == Link::Stage::opening) {
        ++diagnostics_.unexpected_messages;  // nothing can arrive before the transport is open
        return;
    }
    link_.received(now);  // only data received proves the link alive; sending does not
    if (standby_ && standby_->stage == Standby::Stage::reading_old_link) {
        if (std::holds_alternative<proto::Close>(message)) {
            commit_handover(now, true);  // about the old transport only: the session is on the standby
            run_due(now);
            return;
        }
        if (!std::holds_alternative<proto::Pong>(message)) {
            // It goes on delivering (a Pong to a heartbeat is not what the wait is for).
            standby_->deadline = std::min(standby_->read_until, now + link_.probe_timeout());
        }
    }
    std::visit([&](auto& m) { handle(now, m); }, message);
    if (handover_wanted_ && phase_ == Phase::live && state_ == ConnectionState::connected && link_.up() &&
        transport == link_.transport()) {
        // The network-change probe is answered: the old link works, so it is replaced make-before-break.
        handover_wanted_ = false;
        start_handover(now);
    }
    run_due(now);
}

// ============================================================================================ server input

void ClientCore::logged_in(TimePoint now, TimePoint answered_at, proto::LoginOk& m) {
    if (link_.stage() != Link::Stage::logging_in || link_.login_request() != m.request_id) {
        ++diagnostics_.unexpected_messages;
        return;
    }
    // The link is up; it takes the resume token and the timings the server answered (Link::logged_in).
    emit(link_.finish_attempt(answered_at, std::nullopt, m.resumed, true));
    link_.logged_in(m);
    reported_quality_.reset();  // a new connection measures, and reports, from scratch
    token_refused_ = false;
    // The TTL is counted from when we sent the request, not from when the answer arrived: the server read it
    // later than that, so the warning and the expiry event are never late (early by at most the latency).
    token_expiry_ = token_deadline(link_.login_sent_at(), m.token_ttl);
    const bool server_restarted = content_.adopt_peer_position(m.peer_position);

    const bool first = phase_ == Phase::first_login;
    const bool visible_outage = in_outage();
    phase_ = Phase::live;
    login_deadline_.reset();
    if (first) {
        set_state(now, ConnectionState::connected, rules().first_success_reason);
    } else if (visible_outage) {
        set_state(now, ConnectionState::connected, rules().reconnect_success_reason);
        if (rules().reconnect_success_reason == ConnectionReason::rejoin_success) {
            emit(RejoinSuccess{});
        }
    }
    link_.reset_attempts();
    reconnecting_since_.reset();
    lost_reported_ = false;
    link_.start_stable_period(now);

    // Channels: the snapshot is authoritative; a channel it lacks is joined now.
    auto& channels = content_.channels();
    for (const auto& snapshot : m.channels) {
        auto it = channels.find(snapshot.channel);
        if (it == channels.end()) {
            ++diagnostics_.unexpected_messages;
            continue;
        }
        Channel& channel = it->second;
        if (snapshot.error) {
            set_channel_state(it->first, channel, ChannelState::disconnected,
                              channel.ever_joined ? ChannelReason::rejoin_failed : ChannelReason::join_failed,
                              snapshot.error);
            channels.erase(it);
            continue;
        }
        channel_joined(it->first, channel);
        content_.apply_snapshot(snapshot, channel, user_id_, events_);
    }
    for (auto& entry : channels) {
        const std::string& name = entry.first;
        const bool in_snapshot = std::any_of(m.channels.begin(), m.channels.end(),
                                             [&](const proto::ChannelSnapshot& s) { return s.channel == name; });
        if (!in_snapshot && !entry.second.pending_join) {
            entry.second.pending_join = next_request_id();
            send(now, proto::Join{*entry.second.pending_join, name});
        }
    }

    server_makes_recovery_keys_ = m.recovery_keys;
    if (!m.recovery_keys) {
        content_.fail_operations(OpKind::recovery_key, err(errc::rejected_by_server), events_);  // see recovery_key()
    }
    // A first login with a recovery key is reported either way: recovered, or (a server older than recovery keys
    // ignores the key) a new session, which the app should know of.
    const bool tried_recovery = recovering_.has_value();
    const bool recovered = tried_recovery && m.resumed;
    recovering_.reset();  // from here on the session resumes with its resume token
    if (!first || tried_recovery) {
        ContinuityReport report;
        report.outage = now - outage_since_.value_or(now);
        report.resumed = m.resumed;
        report.backfilled = m.backfilled;
        report.dropped = m.dropped;
        report.server_restarted = server_restarted;
        report.timings = *link_.agreed();
        report.recovered = recovered;
        emit(report);
    }
    outage_since_.reset();
    flush_operations(now);
}

void ClientCore::channel_joined(const std::string& name, Channel& channel) {
    channel.pending_join.reset();
    channel.join_deadline.reset();
    if (channel.state == ChannelState::connected) {
        return;  // silent resume: nothing to say
    }
    const bool first_time = !channel.ever_joined;
    channel.ever_joined = true;
    set_channel_state(name, channel, ChannelState::connected,
                      first_time ? ChannelReason::joined : ChannelReason::rejoined);
    if (first_time && rules().join_success_event) {
        emit(JoinSuccess{name});
    }
}

void ClientCore::handle(TimePoint now, proto::Reply& m) {
    if (link_.login_request() == m.request_id && link_.stage() == Link::Stage::logging_in) {
        if (m.error) {
            login_refused(now, m.error);
        } else {
            ++diagnostics_.unexpected_messages;  // a login is answered by LoginOk
        }
        return;
    }
    if (!link_.up()) {
        ++diagnostics_.unexpected_messages;
        return;
    }
    if (logout_request_ == m.request_id) {
        if (phase_ == Phase::leaving) {
            finish_leaving(now);
        }
        return;
    }
    if (content_.leave_replied(m.request_id)) {
        return;  // the channel is already gone locally
    }
    auto& channels = content_.channels();
    for (auto it = channels.begin(); it != channels.end(); ++it) {
        if (it->second.pending_join != m.request_id) {
            continue;
        }
        if (!m.error) {
            channel_joined(it->first, it->second);
            return;
        }
        if (rules().rejected_join_fails_session && is(m.error, errc::rejected_by_server)) {
            end_session(now, ConnectionState::failed, ConnectionReason::rejected_by_server, err(errc::session_failed),
                        ChannelReason::join_failed, m.error);
            return;
        }
        set_channel_state(it->first, it->second, ChannelState::disconnected,
                          it->second.ever_joined ? ChannelReason::rejoin_failed : ChannelReason::join_failed, m.error);
        channels.erase(it);
        return;
    }
    if (!content_.complete_request(m.request_id, m.error, m.stored, events_)) {
        ++diagnostics_.unexpected_messages;
    }
}

void ClientCore::handle(TimePoint /*now*/, proto::JoinOk& m) {
    if (!link_.up()) {
        ++diagnostics_.unexpected_messages;
        return;
    }
    for (auto& [name, channel] : content_.channels()) {
        if (channel.pending_join == m.request_id && m.snapshot.channel == name) {
            channel_joined(name, channel);
            content_.apply_snapshot(m.snapshot, channel, user_id_, events_);
            return;
        }
    }
    ++diagnostics_.unexpected_messages;
}

void ClientCore::handle(TimePoint /*now*/, proto::AttributesReply& m) {
    if (!content_.complete_attributes(m.request_id, std::move(m.attributes), events_)) {
        ++diagnostics_.unexpected_messages;
    }
}

void ClientCore::handle(TimePoint /*now*/, proto::RecoveryKeyOk& m) {
    if (!content_.complete_recovery_key(m.request_id, config_.app_id, user_id_, m.key, events_)) {
        ++diagnostics_.unexpected_messages;
    }
}

void ClientCore::handle(TimePoint /*now*/, proto::RenewOk& m) {
    if (const auto sent_at = content_.complete_renewal(m.request_id, events_)) {
        token_expiry_ = token_deadline(*sent_at, m.token_ttl);
        return;
    }
    ++diagnostics_.unexpected_messages;
}

// Membership changes count only on a link that is up, in a channel that has been joined.

void ClientCore::handle(TimePoint /*now*/, proto::MemberJoined& m) {
    if (!link_.up() || !content_.member_joined(m, user_id_, events_)) {
        ++diagnostics_.unexpected_messages;
    }
}

void ClientCore::handle(TimePoint /*now*/, proto::MemberLeft& m) {
    if (!link_.up() || !content_.member_left(m, events_)) {
        ++diagnostics_.unexpected_messages;
    }
}

void ClientCore::handle(TimePoint /*now*/, proto::StreamChanged& m) {
    if (!link_.up() || !content_.stream_changed(m, events_)) {
        ++diagnostics_.unexpected_messages;
    }
}

// A batch is its changes one after the other: the same events, in the same order, as the single frames it replaces.
void ClientCore::handle(TimePoint now, proto::Presence& m) {
    if (!link_.up()) {
        ++diagnostics_.unexpected_messages;
        return;
    }
    for (const auto& change : m.changes) {
        proto::ServerMessage single = proto::single_presence(m.channel, change);
        std::visit([&](auto& one) { handle(now, one); }, single);
    }
}

void ClientCore::handle(TimePoint /*now*/, proto::Message& m) {
    if (!link_.up()) {
        ++diagnostics_.unexpected_messages;
        return;
    }
    switch (content_.accept(m)) {
        case SessionContent::Arrival::deliver: break;
        case SessionContent::Arrival::unknown_channel:
            ++diagnostics_.unexpected_messages;  // e.g. a message racing our leave(): dropped
            return;
        case SessionContent::Arrival::duplicate_position:
            ++diagnostics_.duplicate_messages;  // at most once (R-RTM-6)
            return;
        case SessionContent::Arrival::duplicate_id:
            ++diagnostics_.duplicate_message_ids;  // at most once across a server restart, too
            return;
    }
    if (standby_ && standby_->stage >= Standby::Stage::logging_in) {
        standby_->delivered_on_old_link.push_back({m.channel, m.position});  // see delivered_before_the_move()
    }
    emit(MessageReceived{std::move(m.from), std::move(m.channel), std::move(m.message_id), std::move(m.payload),
                         m.backfilled});
}

void ClientCore::handle(TimePoint now, proto::Pong& /*m*/) {
    if (!link_.up()) {
        ++diagnostics_.unexpected_messages;
        return;
    }
    const auto samples = link_.quality(now).rtt_samples;
    link_.pong_received(now);
    if (const auto q = link_.quality(now); q.rtt_samples > samples) {
        metrics_.rtt.record(q.last_rtt);
    }
    report_quality(now);
    if (standby_ && standby_->stage == Standby::Stage::fencing && --standby_->fence_pongs == 0) {
        send_standby_login(now);  // every frame sent on the old link before the fence was handled
    }
}

void ClientCore::handle(TimePoint now, proto::Close& m) {
    if (m.reason == proto::CloseReason::busy) {
        attempt_failed(now, AttemptFailure::busy, "the server is busy: retry after " + in_ms(m.reconnect_within), true);
    } else {
        attempt_failed(now, AttemptFailure::server,
                       std::string("the server closed the connection during the login: ") + close_reason_text(m.reason),
                       true);
    }
    if (phase_ == Phase::leaving) {
        // The app already left: whatever the server says now (a kick, a ban, an expired token, a drain), the
        // leave is complete. Turning it into ABORTED / FAILED would make the app leave a second time.
        finish_leaving(now);
        return;
    }
    switch (m.reason) {
        case proto::CloseReason::remote_login:
            end_session(now, ConnectionState::aborted, ConnectionReason::remote_login, err(errc::session_aborted),
                        ChannelReason::kicked_out, err(errc::remote_login));
            return;
        case proto::CloseReason::banned:
        case proto::CloseReason::kicked:
            end_session(
                now, rules().banned_state, ConnectionReason::banned_by_server,
                err(rules().banned_state == ConnectionState::failed ? errc::session_failed : errc::session_aborted),
                ChannelReason::kicked_out, err(errc::banned_by_server));
            return;
        case proto::CloseReason::token_expired:
            report_token_expired();
            if (rules().token_refusal_keeps_session) {
                token_refused_ = true;  // R-RTM-9: keep retrying; renew_token() brings a usable token
                drop_link(true);
                link_failed(now);
            } else {
                end_session(now, ConnectionState::failed, ConnectionReason::token_expired, err(errc::session_failed),
                            ChannelReason::join_failed, err(errc::token_expired));
            }
            return;
        case proto::CloseReason::keep_alive_timeout:
            if (phase_ == Phase::live) {
                reconnect_now(now, ConnectionReason::keep_alive_timeout);
            } else {
                drop_link(true);
                link_failed(now);
            }
            return;
        case proto::CloseReason::draining: {
            // Be back within the window the server names: start at a uniformly random point of its first
            // kDrainReturnShare, so that a draining node's clients do not all arrive at the next one together and
            // the last of them still has the rest of the window to log in.
            drop_link(true);
            if (phase_ == Phase::live && !outage_since_) {
                outage_since_ = link_.last_rx();
            }
            if (phase_ == Phase::live || phase_ == Phase::first_login) {
                const Duration window = std::clamp(m.reconnect_within, Duration::zero(), kMaxDrainWindow);
                const auto returns_until =
                    static_cast<Duration::rep>(static_cast<double>(window.count()) * proto::kDrainReturnShare);
                std::uniform_int_distribution<Duration::rep> spread(0, returns_until);
                link_.schedule_attempt(now, Duration(spread(rng_)));
            } else if (phase_ == Phase::leaving) {
                finish_leaving(now);
            }
            return;
        }
        case proto::CloseReason::invalid:
            drop_link(true);
            link_failed(now);
            return;
        case proto::CloseReason::busy:
            // An overloaded server refused the login before looking at it. It is a failed attempt like any other
            // (the state stays, the backoff steps, the give-up clock runs on), except that the next one waits at
            // least the server's retry-after, at a uniformly random point in [retry-after, 2 × retry-after]: the
            // server sized it for the logins it can admit, and the spread keeps the refused from returning together.
            drop_link(true);
            link_failed(now);
            if (link_.retry_at() && m.reconnect_within > Duration::zero()) {
                // The server's word is bounded (kMaxBusyRetryAfter): a broken one must not park the client for
                // years, nor overflow the clock with 2 × its value.
                const Duration::rep after = std::min<Duration>(m.reconnect_within, kMaxBusyRetryAfter).count();
                std::uniform_int_distribution<Duration::rep> spread(after, 2 * after);
                const TimePoint busy_retry = now + Duration(spread(rng_));
                if (*link_.retry_at() < busy_retry) {
                    link_.schedule_attempt(now, busy_retry - now);
                }
            }
            return;
    }
    ++diagnostics_.unexpected_messages;
}

std::optional<TimePoint> ClientCore::token_deadline(TimePoint sent_at, Duration ttl) {
    return ttl > Duration::zero() ? std::optional<TimePoint>(sent_at + ttl) : std::nullopt;
}

void ClientCore::report_token_expired() {
    if (!token_expired_reported_) {
        token_expired_reported_ = true;
        emit(TokenExpired{});
    }
}

void ClientCore::login_refused(TimePoint now, std::error_code error) {
    attempt_failed(now, AttemptFailure::server, std::string("the server refused the login: ") + error_name(error),
                   true);
    drop_link(true);
    const bool first = phase_ == Phase::first_login;
    const auto fail = [&](ConnectionState state, ConnectionReason reason, ChannelReason channel_reason) {
        const errc op_error = state == ConnectionState::aborted  ? errc::session_aborted
                              : state == ConnectionState::failed ? errc::session_failed
                                                                 : errc::not_logged_in;
        end_session(now, state, reason, err(op_error), channel_reason, error);
    };
    if (recovering_ && (is(error, errc::recovery_expired) || is(error, errc::recovery_used) ||
                        is(error, errc::recovery_invalid) || is(error, errc::recovery_wrong_user))) {
        // The session cannot be recovered: the app learns why and may login() again for a fresh one.
        recovering_.reset();
        fail(ConnectionState::disconnected, ConnectionReason::recovery_refused, ChannelReason::join_failed);
    } else if (is(error, errc::invalid_app_id)) {
        fail(ConnectionState::failed, ConnectionReason::invalid_app_id, ChannelReason::join_failed);
    } else if (is(error, errc::invalid_channel_name)) {
        fail(ConnectionState::failed, ConnectionReason::invalid_channel_name, ChannelReason::join_failed);
    } else if (is(error, errc::banned_by_server)) {
        fail(rules().banned_state, ConnectionReason::banned_by_server, ChannelReason::kicked_out);
    } else if (is(error, errc::remote_login)) {
        fail(ConnectionState::aborted, ConnectionReason::remote_login, ChannelReason::kicked_out);
    } else if (is(error, errc::rejected_by_server)) {
        fail(ConnectionState::failed, ConnectionReason::rejected_by_server, ChannelReason::join_failed);
    } else if (is(error, errc::invalid_token) || is(error, errc::token_expired)) {
        const bool expired = is(error, errc::token_expired);
        if (expired) {
            report_token_expired();
        }
        if (rules().token_refusal_keeps_session && !first) {
            token_refused_ = true;  // R-RTM-9: state unchanged, keep retrying; renew_token() resumes at once
            schedule_retry(now);
        } else if (expired && !rules().token_refusal_keeps_session) {
            fail(ConnectionState::failed, ConnectionReason::token_expired, ChannelReason::join_failed);
        } else if (expired) {
            fail(ConnectionState::disconnected, ConnectionReason::login_failure, ChannelReason::join_failed);
        } else {
            fail(ConnectionState::disconnected, ConnectionReason::invalid_token, ChannelReason::join_failed);
        }
    } else if (first) {
        fail(ConnectionState::disconnected, ConnectionReason::login_failure, ChannelReason::join_failed);
    } else {
        // A refusal the server may lift (overload, rate limit): keep the session and retry with backoff.
        schedule_retry(now);
    }
}

// ============================================================================================ endings

void ClientCore::end_session(TimePoint now, ConnectionState state, ConnectionReason reason, std::error_code op_error,
                             ChannelReason channel_reason, std::error_code channel_error) {
    drop_link(true);
    link_.cancel_retry();
    link_.forget_attempt_start();
    login_deadline_.reset();
    reconnecting_since_.reset();
    outage_since_.reset();
    link_.break_stable_period();
    leave_deadline_.reset();
    logout_request_.reset();
    token_expiry_.reset();
    link_.forget_resume_token();
    phase_ = Phase::idle;
    set_state(now, state, reason);
    link_.reset_attempts();
    for (auto& [name, channel] : content_.channels()) {
        ChannelReason why = channel_reason;
        if (why == ChannelReason::rejoin_failed && !channel.ever_joined) {
            why = ChannelReason::join_failed;
        }
        set_channel_state(name, channel, ChannelState::disconnected, why,
                          why == ChannelReason::left ? std::error_code{} : channel_error);
    }
    content_.channels().clear();
    content_.fail_all(op_error, events_);
}

// ============================================================================================ operations

OpResult ClientCore::enqueue(TimePoint now, OpKind kind, proto::ClientMessage message) {
    if (auto e = content_.check_queue_room()) {
        return {0, e};
    }
    const OpId op = content_.enqueue(kind, std::move(message), now + config_.timings.message_timeout);
    flush_operations(now);
    return {op, {}};
}

void ClientCore::flush_operations(TimePoint now) {
    if (!link_.up() || (standby_ && standby_->stage != Standby::Stage::opening)) {
        return;  // during a handover's fence and login, sends wait for the link they will go on
    }
    for (auto& op : content_.operations()) {
        if (op.in_flight) {
            continue;
        }
        const proto::RequestId request = next_request_id();
        std::visit(Overloaded{[&](proto::Ping&) {}, [&](auto& m) { m.request_id = request; }}, op.message);
        op.in_flight = request;
        op.sent_once = true;
        op.sent_at = now;
        send(now, op.message);
    }
}

// ============================================================================================ timers

std::optional<TimePoint> ClientCore::deadline_of(Timer timer) const {
    const Timings& t = config_.timings;
    switch (timer) {
        case Timer::login: return phase_ == Phase::first_login ? login_deadline_ : std::nullopt;
        case Timer::join:
            return phase_ == Phase::live || phase_ == Phase::first_login ? content_.earliest_join_deadline()
                                                                         : std::nullopt;
        case Timer::leave: return phase_ == Phase::leaving ? leave_deadline_ : std::nullopt;
        case Timer::give_up:
            if (in_outage() && reconnecting_since_ && t.give_up_after > Duration::zero()) {
                return *reconnecting_since_ + t.give_up_after;
            }
            return std::nullopt;
        case Timer::lost:
            if (in_outage() && reconnecting_since_ && !lost_reported_ && t.lost_after > Duration::zero()) {
                return *reconnecting_since_ + t.lost_after;
            }
            return std::nullopt;
        case Timer::silence:
            if (phase_ == Phase::live && state_ == ConnectionState::connected) {
                return link_.silence_deadline();
            }
            return std::nullopt;
        case Timer::probe:
            if (phase_ == Phase::live && state_ == ConnectionState::connected) {
                return link_.probe_deadline();
            }
            return std::nullopt;
        case Timer::attempt: return link_.attempt_deadline();
        case Timer::standby:
            return phase_ == Phase::live && standby_ ? std::optional<TimePoint>(standby_->deadline) : std::nullopt;
        case Timer::retry:
            return phase_ == Phase::live || phase_ == Phase::first_login ? link_.retry_deadline() : std::nullopt;
        case Timer::heartbeat: return link_.heartbeat_deadline();
        case Timer::stable: return link_.stable_deadline();
        case Timer::token_expiry:
            if (token_expiry_ && !token_expired_reported_ && phase_ == Phase::live) {
                return token_expiry_;
            }
            return std::nullopt;
        case Timer::token_warning:
            if (token_expiry_ && !token_warned_ && !token_expired_reported_ && phase_ == Phase::live &&
                state_ == ConnectionState::connected) {
                return *token_expiry_ - t.token_warning_lead;
            }
            return std::nullopt;
        case Timer::operation: return content_.operation_deadline();
    }
    return std::nullopt;
}

void ClientCore::fire(TimePoint now, Timer timer) {
    switch (timer) {
        case Timer::login:
            // An attempt still open now is cut short by the login timeout. It is the cause only if no attempt of
            // this login failed before it (one that hangs); otherwise the earlier failure (a refused port, a
            // certificate ...) stays the last one: it is what kept the login from succeeding.
            if (!link_.last_failure()) {
                attempt_failed(
                    now, AttemptFailure::timeout,
                    "the login timeout (" + in_ms(config_.timings.login_timeout) + ") passed during the attempt");
            }
            end_session(now, ConnectionState::disconnected, ConnectionReason::login_timeout, err(errc::login_timeout),
                        ChannelReason::join_failed, err(errc::network_timeout));
            return;
        case Timer::join:
            // A join that the server has not answered within the login timeout fails (room: network timeout).
            for (auto it = content_.channels().begin(); it != content_.channels().end(); ++it) {
                if (it->second.join_deadline && *it->second.join_deadline <= now) {
                    if (link_.up()) {
                        const auto request = next_request_id();
                        content_.expect_leave_reply(request);
                        send(now, proto::Leave{request, it->first});  // in case the server joined us after all
                    }
                    set_channel_state(it->first, it->second, ChannelState::disconnected, ChannelReason::join_failed,
                                      err(errc::network_timeout));
                    content_.channels().erase(it);
                    return;
                }
            }
            return;
        case Timer::leave: finish_leaving(now); return;
        case Timer::give_up:
            end_session(now, ConnectionState::failed, ConnectionReason::join_failed, err(errc::gave_up),
                        ChannelReason::rejoin_failed, err(errc::network_timeout));
            return;
        case Timer::lost:
            lost_reported_ = true;
            emit(ConnectionLost{});
            set_state(now, rules().reconnect_state, ConnectionReason::lost);  // rtc-web never shows RECONNECTING
            return;
        case Timer::silence:
            // No data for `interrupted_after`: the link is dead, whether it went silent or failed outright.
            if (link_.up() && standby_) {
                old_link_died(now, true);  // a handover's standby goes on as the reconnect's attempt
            }
            if (link_.up()) {
                outage_since_ = link_.last_rx();
                drop_link(true);
            }
            if (link_.stage() == Link::Stage::none && !link_.retry_at()) {
                schedule_retry(now);
            }
            enter_reconnecting(now, ConnectionReason::interrupted);
            return;
        case Timer::attempt:
            attempt_failed(now, AttemptFailure::timeout,
                           link_.stage() == Link::Stage::opening
                               ? "no connection to the server within " + in_ms(config_.timings.attempt_timeout)
                               : "no answer to the login within " + in_ms(config_.timings.attempt_timeout));
            drop_link(true);
            link_failed(now);
            return;
        case Timer::standby:
            if (standby_->stage == Standby::Stage::reading_old_link) {
                commit_handover(now, true);  // the old link went quiet before its end: what it still had is lost
                return;
            }
            standby_failed(now, AttemptFailure::timeout,
                           standby_->stage == Standby::Stage::opening
                               ? "no connection to the server within " + in_ms(config_.timings.attempt_timeout)
                           : standby_->stage == Standby::Stage::fencing
                               ? "the old link did not answer the handover's fence within " +
                                     in_ms(config_.timings.attempt_timeout)
                               : "no answer to the login within " + in_ms(config_.timings.attempt_timeout),
                           true);
            return;
        case Timer::retry: start_attempt(now); return;
        case Timer::probe:
            // No data since the suspicion probe's Ping, within its timeout: the link is dead now, not in 4 s.
            link_.end_probe();
            reconnect_now(now, probe_reason_);
            return;
        case Timer::heartbeat:
            send_ping(now);
            report_quality(now);  // a heartbeat missed, if the previous Ping is still in flight
            return;
        case Timer::stable: link_.stable_reached(); return;
        case Timer::token_expiry: report_token_expired(); return;
        case Timer::token_warning:
            token_warned_ = true;
            emit(TokenPrivilegeWillExpire{});
            return;
        case Timer::operation:
            // Never sent: certainly not delivered (SEND_TIMEOUT). Sent but unacknowledged: unknown (ACK_TIMEOUT).
            content_.expire_oldest(events_);
            return;
    }
}

void ClientCore::run_due(TimePoint now) {
    // Each firing changes the state so that its own deadline moves or disappears; the bound is a safety net
    // against a livelock bug, never reached in a correct run.
    for (int round = 0; round < 10000; ++round) {
        bool fired = false;
        for (const Timer timer : kTimerOrder) {
            const auto deadline = deadline_of(timer);
            if (deadline && *deadline <= now) {
                fire(now, timer);
                fired = true;
                break;  // re-evaluate every deadline from the top: the firing may have changed them
            }
        }
        if (!fired) {
            return;
        }
    }
}

void ClientCore::handle_timeout(TimePoint now) {
    run_due(now);
}

std::optional<TimePoint> ClientCore::next_deadline() const {
    std::optional<TimePoint> earliest;
    for (const Timer timer : kTimerOrder) {
        const auto deadline = deadline_of(timer);
        if (deadline && (!earliest || *deadline < *earliest)) {
            earliest = deadline;
        }
    }
    return earliest;
}

std::optional<Action> ClientCore::poll_action() {
    if (actions_.empty()) {
        return std::nullopt;
    }
    Action action = std::move(actions_.front());
    actions_.pop_front();
    return action;
}

std::optional<Event> ClientCore::poll_event() {
    if (events_.empty()) {
        return std::nullopt;
    }
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
}

ConnectionStatus ClientCore::status(TimePoint now) const {
    ConnectionStatus status;
    status.state = state_;
    status.reason = reason_;
    status.attempt = link_.attempt();
    // The scheduled attempt as the retry timer sees it (deadline_of(Timer::retry)).
    if (const auto retry = deadline_of(Timer::retry); retry && *retry > now) {
        status.next_retry = *retry - now;
    }
    if (state_since_ && now > *state_since_) {
        status.in_state = now - *state_since_;
    }
    status.last_failure = link_.last_failure();
    return status;
}

std::optional<ChannelState> ClientCore::channel_state(const std::string& channel) const {
    auto it = content_.channels().find(channel);
    if (it == content_.channels().end()) {
        return std::nullopt;
    }
    return it->second.state;
}

}  // namespace relink::core
