// The store of a node whose deployment shares its state in Redis (cluster/redis_store.hpp, docs/cluster.md).
#include "cluster/redis_store.hpp"

#include <deque>
#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/encoding.hpp"
#include "common/overloaded.hpp"

namespace relink::cluster {

extern const char* const kRedisStoreLua;  // redis_store.lua, embedded by the build (redis_store_lua.cpp.in)

namespace {

using detail::Overloaded;
using nlohmann::json;

std::int64_t ms(Duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// The codes the script answers with, by their names there.
std::error_code code_named(const std::string& name) {
    static const std::map<std::string, errc> kCodes{
        {"banned_by_server", errc::banned_by_server},
        {"remote_login", errc::remote_login},
        {"not_logged_in", errc::not_logged_in},
        {"rejected_by_server", errc::rejected_by_server},
        {"limit_exceeded", errc::limit_exceeded},
        {"not_joined", errc::not_joined},
        {"rate_limited", errc::rate_limited},
        {"peer_offline", errc::peer_offline},
        {"invalid_channel_name", errc::invalid_channel_name},
        {"recovery_expired", errc::recovery_expired},
        {"recovery_used", errc::recovery_used},
        {"recovery_invalid", errc::recovery_invalid},
    };
    auto it = kCodes.find(name);
    return make_error_code(it == kCodes.end() ? errc::protocol_error : it->second);
}

std::uint64_t epoch_of(const json& value) {
    try {
        return value.is_string() ? std::stoull(value.get<std::string>()) : value.get<std::uint64_t>();
    } catch (const std::exception&) {
        return 0;
    }
}

json position_json(const proto::StreamPosition& p) {
    return json{{"epoch", std::to_string(p.epoch)}, {"seq", p.seq}};
}

/// Lua's cjson writes an empty list as {}: every list read here accepts both.
const json& array_of(const json& object, const char* key) {
    static const json kEmpty = json::array();
    auto it = object.find(key);
    return it == object.end() || it->empty() ? kEmpty : *it;
}

std::string payload_of(const json& m) {
    auto bytes = encoding::base64url_decode(m.value("p", std::string{}));
    return bytes ? std::move(*bytes) : std::string{};
}

proto::Message message_of(const json& m, bool backfilled) {
    proto::Message out;
    out.from = m.value("f", std::string{});
    if (m.contains("c") && m["c"].is_string()) {
        out.channel = m["c"].get<std::string>();
    }
    out.message_id = m.value("i", std::string{});
    out.payload = payload_of(m);
    out.position = {epoch_of(m.value("e", json(0))), m.value("s", std::uint64_t{0})};
    out.backfilled = backfilled;
    return out;
}

proto::ChannelSnapshot snapshot_of(const json& s) {
    proto::ChannelSnapshot out;
    out.channel = s.value("channel", std::string{});
    if (s.contains("error")) {
        out.error = code_named(s["error"].get<std::string>());
    }
    for (const auto& member : array_of(s, "members")) {
        proto::Member m{member.value("user", std::string{}), {}};
        for (const auto& stream : array_of(member, "streams")) {
            m.streams.push_back(stream.get<std::string>());
        }
        out.members.push_back(std::move(m));
    }
    out.position = {epoch_of(s.value("epoch", json(0))), s.value("seq", std::uint64_t{0})};
    return out;
}

std::optional<proto::CloseReason> close_reason_named(const json& r) {
    if (!r.is_string()) {
        return std::nullopt;
    }
    const auto name = r.get<std::string>();
    if (name == "remote_login") {
        return proto::CloseReason::remote_login;
    }
    if (name == "banned") {
        return proto::CloseReason::banned;
    }
    return proto::CloseReason::kicked;
}

std::optional<MemberLeftCause> cause_named(const std::string& name) {
    if (name == "quit") {
        return MemberLeftCause::quit;
    }
    if (name == "dropped") {
        return MemberLeftCause::dropped;
    }
    if (name == "kicked") {
        return MemberLeftCause::kicked;
    }
    return std::nullopt;
}

std::string cause_name(MemberLeftCause cause) {
    switch (cause) {
        case MemberLeftCause::quit: return "quit";
        case MemberLeftCause::dropped: return "dropped";
        case MemberLeftCause::kicked: return "kicked";
    }
    return "quit";
}

/// What a login agreed that the script applies: the session's presence timeout and the login's backfill.
json agreed_json(const proto::Negotiated& agreed) {
    return {{"presence_timeout", ms(agreed.presence_timeout)},
            {"backfill_window", ms(agreed.backfill_window)},
            {"backfill_count", agreed.backfill_count}};
}

/// The script's name and arguments for a command.
std::pair<std::string, json> encode(const Command& command) {
    json a{{"app", command.app}, {"user", command.user}, {"gen", command.gen}};
    const std::string name = std::visit(Overloaded{
                                            [&](const Login& op) {
                                                const proto::Login& m = op.request;
                                                json request{{"instance", m.instance_id},
                                                             {"profile", std::string(to_string(m.profile))},
                                                             {"attributes", json::object()},
                                                             {"channels", json::array()}};
                                                if (m.resume_token) {
                                                    request["resume_token"] = *m.resume_token;
                                                }
                                                if (m.last_peer_seen) {
                                                    request["last_peer_seen"] = position_json(*m.last_peer_seen);
                                                }
                                                for (const auto& [k, v] : m.attributes) {
                                                    request["attributes"][k] = v;
                                                }
                                                for (const auto& channel : m.channels) {
                                                    json c{{"channel", channel.channel}, {"streams", channel.streams}};
                                                    if (!is_valid_channel_name(channel.channel)) {
                                                        c["invalid"] =
                                                            true;  // the rule lives in C++ only (common/types.cpp)
                                                    }
                                                    if (channel.last_seen) {
                                                        c["last_seen"] = position_json(*channel.last_seen);
                                                    }
                                                    request["channels"].push_back(std::move(c));
                                                }
                                                a["request"] = std::move(request);
                                                a["allowed"] = op.allowed_channels;
                                                a["new_resume_token"] = op.new_resume_token;
                                                a["peer_address"] = op.peer_address;
                                                if (op.timings) {  // absent: the script takes the profile's
                                                    a["timings"] = agreed_json(*op.timings);
                                                }
                                                if (op.recovery_secret) {
                                                    a["recovery"] = *op.recovery_secret;
                                                }
                                                return "login";
                                            },
                                            [&](const Join& op) {
                                                a["channel"] = op.channel;
                                                return "join";
                                            },
                                            [&](const Leave& op) {
                                                a["channel"] = op.channel;
                                                return "leave";
                                            },
                                            [&](const SetStream& op) {
                                                a["channel"] = op.channel;
                                                a["stream"] = op.stream;
                                                a["on"] = op.on;
                                                return "set_stream";
                                            },
                                            [&](const Send& op) {
                                                const proto::SendMessage& m = op.message;
                                                a["id"] = m.message_id;
                                                a["payload"] = encoding::base64url_encode(m.payload);
                                                a["within_rate"] = op.within_rate;
                                                if (m.to_channel) {
                                                    a["channel"] = *m.to_channel;
                                                } else {
                                                    a["to"] = m.to_user.value_or(std::string{});
                                                    a["store_offline"] = m.store_offline;
                                                }
                                                return "send";
                                            },
                                            [&](const SetAttributes& op) {
                                                a["attributes"] = json::object();
                                                for (const auto& [k, v] : op.attributes) {
                                                    a["attributes"][k] = v;
                                                }
                                                return "set_attributes";
                                            },
                                            [&](const GetAttributes& op) {
                                                a["target"] = op.user;
                                                return "get_attributes";
                                            },
                                            [&](const End& op) {
                                                a["cause"] = cause_name(op.cause);
                                                a["forget"] = op.forget;
                                                return "end";
                                            },
                                            [&](const Detach& op) {
                                                a["presence_left"] = ms(op.presence_left);
                                                return "detach";
                                            },
                                            [&](const Kick& op) {
                                                a["ban"] = op.ban;
                                                a["ban_for"] = ms(op.ban_for);
                                                return "kick";
                                            },
                                            [&](const IssueRecovery& op) {
                                                a["secret"] = op.secret;
                                                return "issue_recovery";
                                            },
                                        },
                                        command.op);
    return {name, std::move(a)};
}

/// The Result of a command from the script's reply.
Result decode_result(const Operation& op, const json& r) {
    if (r.contains("error")) {
        return {code_named(r["error"].get<std::string>()), {}};
    }
    return std::visit(
        Overloaded{
            [&](const Login&) -> Result {
                LoginResult out;
                out.gen = r.value("gen", Gen{0});
                out.resumed = r.value("resumed", false);
                out.displaced = r.value("displaced", false);
                out.resume_token = r.value("token", std::string{});
                for (const auto& s : array_of(r, "channels")) {
                    out.channels.push_back(snapshot_of(s));
                    out.event_seqs.push_back(s.value("ev", std::uint64_t{0}));
                }
                for (const auto& m : array_of(r, "backfill")) {
                    out.backfill.push_back(message_of(m, true));
                }
                out.dropped = r.value("dropped", std::uint64_t{0});
                out.peer_position = {epoch_of(r.value("epoch", json(0))), r.value("peer_seq", std::uint64_t{0})};
                return {{}, std::move(out)};
            },
            [&](const Join&) -> Result {
                const json snapshot = r.value("snapshot", json::object());
                return {{}, JoinResult{snapshot_of(snapshot), snapshot.value("ev", std::uint64_t{0})}};
            },
            [&](const Send&) -> Result {
                return {{}, SendResult{r.value("duplicate", false), r.value("away", false), r.value("offline", false)}};
            },
            [&](const GetAttributes&) -> Result {
                AttributesResult out;
                if (auto it = r.find("attributes"); it != r.end() && it->is_object()) {
                    for (const auto& [k, v] : it->items()) {
                        out.attributes[k] = v.get<std::string>();
                    }
                }
                return {{}, std::move(out)};
            },
            [&](const auto&) -> Result { return {}; },
        },
        op);
}

}  // namespace

struct RedisStore::State : std::enable_shared_from_this<RedisStore::State> {
    RedisStoreConfig config;
    RedisLink* link{nullptr};
    ResultHandler on_result;
    EventsHandler on_events;
    std::deque<Event> events;
    StoreStats counters;
    bool reachable{true};
    bool stopped{false};

    /// Runs a script command; `done` gets the parsed reply or a Result with the error.
    void run(const std::string& name, json args, TimePoint now, std::function<void(std::error_code, json)> done) {
        args["node"] = config.node;
        args["epoch_seed"] = config.epoch_seed;
        if (config.inject_time) {
            args["now"] = ms(now.time_since_epoch());
        }
        // The reply may come after the store is gone (the link outlives it): the state is then not touched.
        link->run_script(name, args.dump(),
                         [weak = weak_from_this(), done = std::move(done)](std::error_code error, std::string reply) {
                             auto self = weak.lock();
                             if (!self || self->stopped) {
                                 return;
                             }
                             self->reachable = !error;
                             if (error) {
                                 done(error, {});
                                 return;
                             }
                             json parsed = json::parse(reply, nullptr, /*allow_exceptions=*/false);
                             if (parsed.is_discarded() || !parsed.is_object()) {
                                 done(make_error_code(errc::protocol_error), {});
                                 return;
                             }
                             done({}, std::move(parsed));
                         });
    }

    void push(Event event) {
        events.push_back(std::move(event));
        if (on_events) {
            on_events();
        }
    }
};

RedisStore::RedisStore(RedisStoreConfig config, RedisLink& link, ResultHandler on_result, EventsHandler on_events)
    : state_(std::make_shared<State>()) {
    state_->config = std::move(config);
    state_->link = &link;
    state_->on_result = std::move(on_result);
    state_->on_events = std::move(on_events);
    link.subscribe(node_channel(state_->config.node));
}

RedisStore::~RedisStore() {
    state_->stopped = true;
}

std::string RedisStore::script(const StoreConfig& config) {
    json cfg;
    for (const auto& [profile, t] : config.timings) {
        cfg["timings"][std::string(to_string(profile))] = {{"presence_timeout", ms(t.presence_timeout)},
                                                           {"backfill_window", ms(t.backfill_window)},
                                                           {"backfill_count", t.backfill_count}};
    }
    const StoreLimits& l = config.limits;
    cfg["limits"] = {{"max_channels_per_user", l.max_channels_per_user},
                     {"max_members_per_channel", l.max_members_per_channel},
                     {"peer_queue_per_user", l.peer_queue_per_user},
                     {"history_per_channel", l.history_per_channel},
                     {"dedup_window", ms(l.dedup_window)},
                     {"kick_cooldown", ms(l.kick_cooldown)},
                     {"session_lifetime", ms(l.session_lifetime)},
                     {"node_dead_after", ms(l.node_dead_after)},
                     {"empty_channel_kept", ms(empty_channel_kept(config))}};
    // A Lua long string holds the JSON as it is; its level is chosen so that the text cannot close it.
    std::string level = "=";
    const std::string text = cfg.dump();
    while (text.find(']' + level + ']') != std::string::npos) {
        level += '=';
    }
    return "local CFG = cjson.decode([" + level + "[" + text + "]" + level + "])\n" + kRedisStoreLua;
}

std::string RedisStore::node_channel(const NodeId& node) {
    return "rl:n:" + node;
}

std::optional<Result> RedisStore::execute(TimePoint now, const NodeId& /*node*/, CommandId id, Command command) {
    auto [name, args] = encode(command);
    std::weak_ptr<State> weak = state_;
    state_->run(name, std::move(args), now, [weak, id, op = std::move(command.op)](std::error_code error, json reply) {
        auto s = weak.lock();
        if (!s || !s->on_result) {
            return;
        }
        if (error) {
            // Redis did not answer: nothing is known to have happened. The node says so with a retryable error.
            s->on_result(id, Result{make_error_code(errc::network_interrupted), {}});
            return;
        }
        Result result = decode_result(op, reply);
        if (result.error == errc::not_logged_in) {
            ++s->counters.stale_commands;
        }
        s->on_result(id, std::move(result));
    });
    return std::nullopt;
}

std::vector<Event> RedisStore::take_events(const NodeId& /*node*/) {
    std::vector<Event> out(std::make_move_iterator(state_->events.begin()),
                           std::make_move_iterator(state_->events.end()));
    state_->events.clear();
    return out;
}

void RedisStore::subscribe(const NodeId& /*node*/, const std::string& app, const std::string& channel) {
    state_->link->subscribe("rl:ev:" + channel_key(app, channel));
}

void RedisStore::unsubscribe(const NodeId& /*node*/, const std::string& app, const std::string& channel) {
    state_->link->unsubscribe("rl:ev:" + channel_key(app, channel));
}

void RedisStore::heartbeat(TimePoint now, const NodeId& /*node*/) {
    state_->run("heartbeat", json::object(), now, [](std::error_code, json) {});
}

void RedisStore::leave(TimePoint now, const NodeId& /*node*/) {
    state_->run("leave_node", json::object(), now, [](std::error_code, json) {});
}

void RedisStore::reconcile(TimePoint now, const NodeId& /*node*/, const std::map<std::string, Gen>& held) {
    json args;
    args["held"] = json::object();
    for (const auto& [key, gen] : held) {
        args["held"][key] = gen;
    }
    state_->run("reconcile", std::move(args), now, [weak = std::weak_ptr<State>(state_)](std::error_code, json reply) {
        if (auto s = weak.lock(); s && reply.is_object()) {
            s->counters.reconciled += reply.value("released", std::uint64_t{0});
        }
    });
}

std::optional<TimePoint> RedisStore::next_deadline() const {
    return std::nullopt;  // Redis keeps the deadlines; the driver calls reap()
}

void RedisStore::handle_timeout(TimePoint /*now*/) {}

StoreStats RedisStore::stats() const {
    return state_->counters;
}

std::vector<Store::SessionView> RedisStore::sessions() const {
    return {};  // the admin API lists a Redis deployment with its own query (docs/cluster.md)
}

std::vector<Store::ChannelView> RedisStore::channels() const {
    return {};
}

void RedisStore::list(TimePoint now, ListHandler done) {
    state_->run("list", json::object(), now, [done = std::move(done)](std::error_code error, const json& r) {
        std::vector<SessionView> sessions;
        std::vector<ChannelView> channels;
        if (!error) {
            for (const auto& s : array_of(r, "sessions")) {
                SessionView view;
                view.app = s.value("app", std::string{});
                view.user = s.value("user", std::string{});
                view.profile = profile_from_string(s.value("profile", std::string{})).value_or(Profile::rtm);
                view.node = s.value("node", std::string{});
                view.connected = s.value("attached", false);
                for (const auto& c : array_of(s, "channels")) {
                    view.channels.push_back(c.get<std::string>());
                }
                view.peer_address = s.value("peer_address", std::string{});
                sessions.push_back(std::move(view));
            }
            for (const auto& c : array_of(r, "channels")) {
                ChannelView view;
                view.app = c.value("app", std::string{});
                view.channel = c.value("channel", std::string{});
                for (const auto& m : array_of(c, "members")) {
                    view.members.push_back(m.get<std::string>());
                }
                view.messages = c.value("messages", std::uint64_t{0});
                channels.push_back(std::move(view));
            }
        }
        done(std::move(sessions), std::move(channels));
    });
}

void RedisStore::on_message(const std::string& channel, const std::string& payload) {
    json e = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (e.is_discarded() || !e.is_object()) {
        return;
    }
    try {
        if (channel.rfind("rl:ev:", 0) == 0) {
            const json& m = e.at("m");
            const std::string kind = m.value("k", std::string{});
            const std::string c = m.value("c", std::string{});
            const std::string u = m.value("u", std::string{});
            ChannelEvent out{e.value("a", std::string{}), e.value("c", std::string{}), e.value("x", std::string{}),
                             proto::Pong{}, e.value("n", std::uint64_t{0})};
            if (kind == "joined") {
                out.message = proto::MemberJoined{c, u};
            } else if (kind == "left") {
                out.message =
                    proto::MemberLeft{c, u, cause_named(m.value("cause", "")).value_or(MemberLeftCause::quit)};
            } else if (kind == "stream") {
                out.message = proto::StreamChanged{c, u, m.value("s", std::string{}), m.value("on", false)};
            } else if (kind == "msg") {
                out.message = message_of(m, false);
            } else {
                return;
            }
            state_->push(std::move(out));
            return;
        }
        const std::string kind = e.value("k", std::string{});
        if (kind == "peer") {
            state_->push(PeerEvent{e.value("a", std::string{}), e.value("u", std::string{}), e.value("g", Gen{0}),
                                   message_of(e.at("m"), false)});
        } else if (kind == "end") {
            state_->push(SessionEnded{e.value("a", std::string{}), e.value("u", std::string{}), e.value("g", Gen{0}),
                                      close_reason_named(e.value("r", json()))});
        }
    } catch (const json::exception&) {
        // A message this version does not understand: ignored (a newer node's event, or garbage on the channel).
    }
}

void RedisStore::reap(TimePoint now, std::function<void(std::optional<Duration> next_in)> done) {
    std::weak_ptr<State> weak = state_;
    state_->run("reap", json{{"batch", 100}}, now, [weak, now, done = std::move(done)](std::error_code error, json r) {
        auto s = weak.lock();
        if (!s) {
            return;
        }
        if (error) {
            done(std::nullopt);
            return;
        }
        s->counters.nodes_dead += r.value("dead", std::uint64_t{0});
        s->counters.presence_timeouts += r.value("reaped", std::uint64_t{0});
        if (r.contains("next") && r["next"].is_number()) {
            const auto at = std::chrono::milliseconds(r["next"].get<std::int64_t>());
            const auto base = s->config.inject_time ? std::chrono::milliseconds(ms(now.time_since_epoch()))
                                                    : std::chrono::milliseconds(0);
            done(s->config.inject_time ? std::optional<Duration>(at - base) : std::nullopt);
            return;
        }
        done(std::nullopt);
    });
}

bool RedisStore::reachable() const noexcept {
    return state_->reachable;
}

}  // namespace relink::cluster
