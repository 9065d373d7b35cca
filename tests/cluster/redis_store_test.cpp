// cluster/redis_store_test.cpp — RedisStore (the Lua script of every store command) against a real redis-server,
// checked against the reference model: the same commands, at the same (injected) times, on a MemoryStore and on
// Redis must give the same results and send each node the same events. Two nodes, every command of the store, the
// hard cases (takeover, kick cool-down, the previous resume token, presence deadlines, away users, a dead node,
// fencing of a stale owner). Then what only Redis has: the epoch made at first use, a Redis that lost its scripts.
#include "cluster/redis_store.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "cluster/memory_store.hpp"
#include "cluster/redis_client.hpp"
#include "cluster/redis_link.hpp"
#include "protocol/codec.hpp"
#include "support/redis_process.hpp"

namespace relink::cluster {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using relink::test::RedisServer;

// ------------------------------------------------------------------------------------------- renderings

std::string text(const proto::Message& m) {
    return proto::encode(proto::ServerMessage{m});
}

std::string text(const proto::ChannelSnapshot& s) {
    std::ostringstream out;
    out << s.channel << (s.error ? std::string(" ") + error_name(s.error) : "") << " @" << s.position.epoch << ":"
        << s.position.seq << " [";
    for (const auto& m : s.members) {
        out << m.user_id << "(";
        for (const auto& stream : m.streams) {
            out << stream << ",";
        }
        out << ")";
    }
    return out.str() + "]";
}

std::string text(const Result& r) {
    std::ostringstream out;
    out << (r.error ? error_name(r.error) : "ok");
    if (const auto* l = std::get_if<LoginResult>(&r.value)) {
        out << " gen=" << l->gen << " resumed=" << l->resumed << " displaced=" << l->displaced
            << " token=" << l->resume_token << " dropped=" << l->dropped << " peer=" << l->peer_position.epoch << ":"
            << l->peer_position.seq;
        for (const auto& s : l->channels) {
            out << " {" << text(s) << "}";
        }
        for (const auto seq : l->event_seqs) {
            out << " #" << seq;
        }
        for (const auto& m : l->backfill) {
            out << " " << text(m);
        }
    } else if (const auto* j = std::get_if<JoinResult>(&r.value)) {
        out << " " << text(j->snapshot) << " #" << j->event_seq;
    } else if (const auto* s = std::get_if<SendResult>(&r.value)) {
        out << " duplicate=" << s->duplicate << " away=" << s->stored_for_away_user << " offline=" << s->stored_offline;
    } else if (const auto* a = std::get_if<AttributesResult>(&r.value)) {
        for (const auto& [k, v] : a->attributes) {
            out << " " << k << "=" << v;
        }
    }
    return out.str();
}

std::string text(const Event& e) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, ChannelEvent>) {
                return "channel " + v.channel + " #" + std::to_string(v.seq) + " except " + v.except + " " +
                       proto::encode(v.message);
            } else if constexpr (std::is_same_v<T, PeerEvent>) {
                return "peer " + v.user + " gen " + std::to_string(v.gen) + " " + text(v.message);
            } else {
                return "ended " + v.user + " gen " + std::to_string(v.gen) + " " +
                       (v.reason ? std::to_string(static_cast<int>(*v.reason)) : std::string("silently"));
            }
        },
        e);
}

// ------------------------------------------------------------------------------------------- the twins

StoreConfig twin_config() {
    StoreConfig c;
    c.epoch = 1;  // Redis gets the same one as its seed
    c.limits.peer_queue_per_user = 3;
    c.limits.history_per_channel = 4;
    c.limits.kick_cooldown = 10s;
    c.limits.session_lifetime = 2min;
    c.limits.node_dead_after = 3s;
    return c;
}

/// One node's store on Redis, through the real client.
struct RedisNode {
    RedisNode(asio::io_context& ioc, const RedisConfig& redis, const NodeId& id, const StoreConfig& config)
        : client(ioc.get_executor(), redis), subscriber(ioc.get_executor(), redis) {
        link = std::make_unique<ClientLink>(client, subscriber, RedisStore::script(config));
        RedisStoreConfig store_config{config, id, "1", /*inject_time=*/true};
        store = std::make_unique<RedisStore>(
            store_config, *link, [this](CommandId cid, Result r) { results[cid] = std::move(r); }, [] {});
        subscriber.on_message([this](const std::string& channel, const std::string& payload) {
            if (payload.rfind("{\"mark\":", 0) == 0) {
                marks.insert(payload);
                return;
            }
            store->on_message(channel, payload);
        });
        client.start();
        subscriber.start();
    }
    RedisClient client;
    RedisSubscriber subscriber;
    std::unique_ptr<ClientLink> link;
    std::unique_ptr<RedisStore> store;
    std::map<CommandId, Result> results;
    std::set<std::string> marks;
};

class RedisStoreTwins : public ::testing::Test {
protected:
    void SetUp() override {
        redis_ = RedisServer::start();
        ASSERT_TRUE(redis_) << "redis-server did not start";
        RedisConfig c;
        c.host = "127.0.0.1";
        c.port = redis_->port();
        c.request_timeout = Millis(2000);
        memory_ = std::make_unique<MemoryStore>(twin_config());
        for (const char* id : {"n1", "n2"}) {
            nodes_.push_back(std::make_unique<RedisNode>(ioc_, c, id, twin_config()));
        }
        ASSERT_TRUE(run_until([&] {
            return nodes_[0]->client.connected() && nodes_[1]->client.connected() &&
                   nodes_[0]->subscriber.connected() && nodes_[1]->subscriber.connected();
        })) << "no connection to redis-server";
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            sync_events(i, RedisStore::node_channel(name(i)));
        }
    }

    static NodeId name(std::size_t node) { return "n" + std::to_string(node + 1); }

    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() > until) {
                return false;
            }
            ioc_.run_one_for(10ms);
        }
        return true;
    }

    /// Waits until every event published to `channel` so far has reached node `i`'s subscriber: a marker published
    /// after them arrives after them (one connection delivers in order). Publishing until one arrives also proves a
    /// fresh subscription is in place.
    void sync_events(std::size_t i, const std::string& channel) {
        for (int attempt = 0; attempt < 100; ++attempt) {
            const std::string mark = "{\"mark\":" + std::to_string(++marks_) + "}";
            bool published = false;
            nodes_[i]->client.command({"PUBLISH", channel, mark},
                                      [&](std::error_code, RedisReply) { published = true; });
            ASSERT_TRUE(run_until([&] { return published; }));
            if (run_until([&] { return nodes_[i]->marks.count(mark) != 0; }, 200ms)) {
                return;
            }
        }
        FAIL() << "no event reached node " << i << " on " << channel;
    }

    /// Runs `command` for node `i` on both stores at `now_`; expects the same result and the same events per node.
    Result both(std::size_t i, Command command) {
        const CommandId id = ++command_id_;
        const Result expected = *memory_->execute(now_, name(i), id, command);
        (void)nodes_[i]->store->execute(now_, name(i), id, std::move(command));
        EXPECT_TRUE(run_until([&] { return nodes_[i]->results.count(id) != 0; })) << "no reply from Redis";
        const Result got = nodes_[i]->results[id];
        EXPECT_EQ(text(got), text(expected)) << "command " << id;
        compare_events();
        return expected;
    }

    void compare_events() {
        for (std::size_t n = 0; n < nodes_.size(); ++n) {
            sync_events(n, RedisStore::node_channel(name(n)));
            for (const auto& channel : subscribed_[n]) {
                sync_events(n, "rl:ev:" + channel_key("app", channel));
            }
            std::vector<std::string> want;
            for (const auto& e : memory_->take_events(name(n))) {
                want.push_back(text(e));
            }
            std::vector<std::string> got;
            for (const auto& e : nodes_[n]->store->take_events(name(n))) {
                got.push_back(text(e));
            }
            EXPECT_EQ(got, want) << "events of node " << name(n) << " after command " << command_id_;
        }
    }

    /// The deployment's listing (admin API) must be the same from both. `expect_empty`: nothing is present anywhere
    /// (otherwise an empty listing fails: it would make the comparison vacuous).
    void compare_lists(bool expect_empty = false) {
        const auto render = [](const std::vector<Store::SessionView>& sessions,
                               const std::vector<Store::ChannelView>& channels) {
            std::vector<std::string> out;
            for (const auto& s : sessions) {
                std::string line = "session " + s.app + "/" + s.user + " " + std::string(to_string(s.profile)) + " " +
                                   s.node + (s.connected ? " connected" : " away") + " " + s.peer_address;
                for (const auto& c : s.channels) {
                    line += " " + c;
                }
                out.push_back(line);
            }
            for (const auto& c : channels) {
                std::string line = "channel " + c.app + "/" + c.channel + " " + std::to_string(c.messages);
                for (const auto& m : c.members) {
                    line += " " + m;
                }
                out.push_back(line);
            }
            return out;
        };
        std::vector<std::string> want;
        memory_->list(now_, [&](auto s, auto c) { want = render(s, c); });
        std::optional<std::vector<std::string>> got;
        nodes_[1]->store->list(now_, [&](auto s, auto c) { got = render(s, c); });
        ASSERT_TRUE(run_until([&] { return got.has_value(); }));
        EXPECT_EQ(*got, want);
        EXPECT_EQ(want.empty(), expect_empty);
    }

    /// An integer reply of `command` on Redis, sent by node 0's client (nullopt: no reply or not an integer).
    std::optional<long long> redis_int(std::vector<std::string> command) {
        std::optional<long long> out;
        bool done = false;
        nodes_[0]->client.command(std::move(command), [&](std::error_code error, RedisReply reply) {
            if (!error) {
                out = reply.as_int();
            }
            done = true;
        });
        EXPECT_TRUE(run_until([&] { return done; }));
        return out;
    }

    void subscribe(std::size_t i, const std::string& channel) {
        memory_->subscribe(name(i), "app", channel);
        nodes_[i]->store->subscribe(name(i), "app", channel);
        subscribed_[i].insert(channel);
        sync_events(i, "rl:ev:" + channel_key("app", channel));
    }

    void heartbeat(std::size_t i) {
        memory_->heartbeat(now_, name(i));
        nodes_[i]->store->heartbeat(now_, name(i));
    }

    /// Time passes to `at`, a second at a time: the live nodes heartbeat, the memory store fires its deadlines,
    /// Redis's reaper runs (on node 1, as any node's may).
    void advance_to(TimePoint at) {
        while (now_ < at) {
            now_ = std::min(at, now_ + 1s);
            for (const std::size_t node : alive_) {
                heartbeat(node);
            }
            memory_->handle_timeout(now_);
            bool reaped = false;
            nodes_[0]->store->reap(now_, [&](std::optional<Duration>) { reaped = true; });
            ASSERT_TRUE(run_until([&] { return reaped; }));
            compare_events();
        }
    }

    static Command login(const std::string& user, const std::string& token, std::vector<proto::ChannelResume> channels,
                         std::optional<std::string> resume = std::nullopt, std::string instance = {},
                         std::optional<proto::StreamPosition> last_peer_seen = std::nullopt) {
        Login op;
        op.request.app_id = "app";
        op.request.user_id = user;
        op.request.instance_id = instance.empty() ? "instance-" + user : instance;
        op.request.profile = Profile::rtm;
        op.request.resume_token = std::move(resume);
        op.request.channels = std::move(channels);
        op.request.last_peer_seen = last_peer_seen;
        op.request.attributes = {{"mood", "calm"}};
        op.new_resume_token = token;
        op.peer_address = "10.0.0.1";
        return Command{"app", user, 0, std::move(op)};
    }
    static Command op(const std::string& user, Gen gen, Operation operation) {
        return Command{"app", user, gen, std::move(operation)};
    }
    static Command send(const std::string& user, Gen gen, const std::string& id, std::optional<std::string> channel,
                        std::optional<std::string> to, bool within_rate = true, bool store_offline = false) {
        proto::SendMessage m;
        m.message_id = id;
        m.payload = "payload of " + id + " \xff\x01";  // not UTF-8: payloads are bytes
        m.to_channel = std::move(channel);
        m.to_user = std::move(to);
        m.store_offline = store_offline;
        return op(user, gen, Send{m, within_rate});
    }

    asio::io_context ioc_;
    std::unique_ptr<RedisServer> redis_;
    std::unique_ptr<MemoryStore> memory_;
    std::vector<std::unique_ptr<RedisNode>> nodes_;
    std::map<std::size_t, std::set<std::string>> subscribed_;
    std::set<std::size_t> alive_{0, 1};  ///< the nodes that heartbeat
    TimePoint now_{TimePoint{} + 1000s};
    CommandId command_id_{0};
    int marks_{0};
};

TEST_F(RedisStoreTwins, EveryCommandGivesTheResultsAndEventsOfTheReferenceModel) {
    heartbeat(0);
    heartbeat(1);
    // Logins, channels, streams. (Each result and each node's events are compared inside both(); the expectations
    // written here are the points of the scenario.)
    const Result uid2 = both(0, login("UID2", "t-u2", {{"ch", std::nullopt, {"cam"}}}));
    subscribe(0, "ch");
    const Result uid1 = both(1, login("UID1", "t-u1", {{"ch", std::nullopt, {}}, {"bad\n", std::nullopt, {}}}));
    subscribe(1, "ch");
    const Gen g2 = std::get<LoginResult>(uid2.value).gen;
    Gen g1 = std::get<LoginResult>(uid1.value).gen;
    const proto::StreamPosition peer_seen = std::get<LoginResult>(uid1.value).peer_position;
    const proto::StreamPosition ch_seen = std::get<LoginResult>(uid1.value).channels[0].position;
    both(1, op("UID1", g1, SetStream{"ch", "mic", true}));
    both(1, op("UID1", g1, SetStream{"ch", "mic", true}));  // no change, no event
    both(1, op("UID1", g1, SetStream{"nope", "mic", true}));
    both(1, op("UID1", g1, Join{"ch2"}));
    both(1, op("UID1", g1, Join{"ch2"}));
    both(1, op("UID1", g1, Leave{"ch2"}));
    both(1, op("UID1", g1, Leave{"ch2"}));
    // Messages: channel, duplicate, rate limit, peer, offline, unknown user.
    both(1, send("UID1", g1, "m1", "ch", std::nullopt));
    both(1, send("UID1", g1, "m1", "ch", std::nullopt));
    both(1, send("UID1", g1, "m2", "ch", std::nullopt, /*within_rate=*/false));
    both(1, send("UID1", g1, "m2", "ch", std::nullopt));  // refused by the rate limit: not remembered
    both(1, send("UID1", g1, "m3", "ch2", std::nullopt));
    both(0, send("UID2", g2, "p1", std::nullopt, "UID1"));
    both(0, send("UID2", g2, "p2", std::nullopt, "UID9"));
    both(0, send("UID2", g2, "p3", std::nullopt, "UID9", true, /*store_offline=*/true));
    // Attributes.
    both(1, op("UID1", g1, SetAttributes{{{"a", "b"}}}));
    both(0, op("UID2", g2, GetAttributes{"UID1"}));
    both(0, op("UID2", g2, GetAttributes{"UID9"}));
    compare_lists();
    // Fencing: a node that does not hold the session, or an old generation, changes nothing.
    both(0, op("UID1", g1, SetAttributes{{{"x", "y"}}}));
    both(1, op("UID1", g1 + 1, SetAttributes{{{"x", "y"}}}));

    // UID1's transport closes; its presence runs out 30 s later; meanwhile and after, UID2 writes to it.
    now_ += 1s;
    both(1, op("UID1", g1, Detach{30s}));
    both(0, send("UID2", g2, "p4", std::nullopt, "UID1"));
    advance_to(now_ + 29s);
    advance_to(now_ + 1s);  // DROPPED; UID1 is away
    compare_lists();        // UID1 is away: not listed
    const Result p5 = both(0, send("UID2", g2, "p5", std::nullopt, "UID1"));
    ASSERT_EQ(p5.error, std::error_code{});
    EXPECT_TRUE(std::get<SendResult>(p5.value).stored_for_away_user);
    both(0, send("UID2", g2, "p6", std::nullopt, "UID1"));
    // It comes back on node 1 with its positions: the peer queue of 3 kept p4..p6 (p1 dropped), the channel
    // message is outside the 30 s window.
    now_ += 10s;
    const Result back = both(0, login("UID1", "t-u1b", {{"ch", ch_seen, {}}}, "t-u1", {}, peer_seen));
    subscribe(0, "ch");
    ASSERT_EQ(back.error, std::error_code{});
    EXPECT_FALSE(std::get<LoginResult>(back.value).resumed);
    EXPECT_EQ(std::get<LoginResult>(back.value).backfill.size(), 3U);  // p4, p5, p6
    EXPECT_EQ(std::get<LoginResult>(back.value).dropped,
              1U);  // p1 fell out of the queue (the channel ones were its own)

    // A second instance on node 2 takes over: the first is told REMOTE_LOGIN, and may not come back at once.
    now_ += 1s;
    const Result other = both(1, login("UID1", "t-u1c", {{"ch", std::nullopt, {}}}, std::nullopt, "instance-B"));
    const Gen g1b = std::get<LoginResult>(other.value).gen;
    EXPECT_TRUE(std::get<LoginResult>(other.value).displaced);
    EXPECT_EQ(both(0, login("UID1", "t-u1d", {{"ch", std::nullopt, {}}})).error,  // instance-UID1, in the cool-down
              make_error_code(errc::remote_login));
    now_ += 11s;
    // A lost LoginOk: the previous token still resumes, until the new one is used.
    both(1, op("UID1", g1b, Detach{30s}));
    const Result r1 = both(0, login("UID1", "t-u1e", {{"ch", std::nullopt, {}}}, "t-u1c", "instance-B"));
    both(0, op("UID1", std::get<LoginResult>(r1.value).gen, Detach{30s}));
    const Result r2 = both(1, login("UID1", "t-u1f", {{"ch", std::nullopt, {}}}, "t-u1c", "instance-B"));
    both(1, op("UID1", std::get<LoginResult>(r2.value).gen, Detach{30s}));
    const Result r3 = both(0, login("UID1", "t-u1g", {{"ch", std::nullopt, {}}}, "t-u1f", "instance-B"));
    both(0, op("UID1", std::get<LoginResult>(r3.value).gen, Detach{30s}));
    EXPECT_TRUE(std::get<LoginResult>(r1.value).resumed);
    EXPECT_TRUE(std::get<LoginResult>(r2.value).resumed);  // the same (previous) token again: its LoginOk was lost
    EXPECT_TRUE(std::get<LoginResult>(r3.value).resumed);
    const Result old = both(1, login("UID1", "t-u1h", {{"ch", std::nullopt, {}}}, "t-u1c", "instance-B"));
    EXPECT_FALSE(std::get<LoginResult>(old.value).resumed);  // the client used a newer one since

    // Admin: a ban acts where the user is, and refuses its logins.
    EXPECT_EQ(both(1, op("UID2", 0, Kick{true, 1h})).error, std::error_code{});
    EXPECT_EQ(both(0, login("UID2", "t-u2b", {})).error, make_error_code(errc::banned_by_server));
    both(1, op("UID9", 0, Kick{false, 1h}));

    // Node 2 dies (UID1 is there): its session runs out 30 s after its last heartbeat, once node 1's reaper has
    // declared it dead.
    alive_.erase(1);
    advance_to(now_ + 35s);
    compare_lists(/*expect_empty=*/true);  // no one is present, and an empty channel is not listed
    EXPECT_EQ(memory_->stats().nodes_dead, 1U);
    EXPECT_EQ(nodes_[0]->store->stats().nodes_dead, 1U);
    // Logout forgets everything.
    const Result u3 = both(0, login("UID3", "t-u3", {{"ch", std::nullopt, {}}}));
    both(0, op("UID3", std::get<LoginResult>(u3.value).gen, End{MemberLeftCause::quit, true}));
    both(0, send("UID3", std::get<LoginResult>(u3.value).gen, "x", std::nullopt, "UID1"));
}

// A node says which sessions it holds (reconcile): the script releases exactly the ones the reference model does,
// those the node is counted as holding but does not (absent, or under another generation), and leaves a login on
// its way (generation 0) alone; the released ones leave their channels at their presence timeout from then.
TEST_F(RedisStoreTwins, ReconcileReleasesTheSessionsANodeDoesNotHoldLikeTheReferenceModel) {
    heartbeat(0);
    heartbeat(1);
    const Result a = both(0, login("UA", "t-a", {{"ch", std::nullopt, {}}}));
    subscribe(0, "ch");
    const Result b = both(0, login("UB", "t-b", {{"ch", std::nullopt, {}}}));
    const Result c = both(0, login("UC", "t-c", {{"ch", std::nullopt, {}}}));
    const Result d = both(0, login("UD", "t-d", {{"ch", std::nullopt, {}}}));
    const Result watcher = both(1, login("UW", "t-w", {{"ch", std::nullopt, {}}}));
    subscribe(1, "ch");
    const auto gen = [](const Result& r) { return std::get<LoginResult>(r.value).gen; };
    // Node 1 holds UA as it is, UB under an older generation, UC as a login on its way; UD not at all.
    const std::map<std::string, Gen> held{
        {session_key("app", "UA"), gen(a)}, {session_key("app", "UB"), gen(b) + 7}, {session_key("app", "UC"), 0}};
    memory_->reconcile(now_, name(0), held);
    nodes_[0]->store->reconcile(now_, name(0), held);
    both(1, op("UW", gen(watcher), SetAttributes{{{"k", "v"}}}));  // after the reconcile on Redis (one connection)
    EXPECT_EQ(memory_->stats().reconciled, 2U);
    ASSERT_TRUE(run_until([&] { return nodes_[0]->store->stats().reconciled == 2U; }));
    compare_lists();
    // UB and UD leave at their presence timeout (rtm 30 s) from the reconcile, on both; UA and UC stay.
    advance_to(now_ + 31s);
    compare_lists();
    std::vector<std::string> present;
    for (const auto& view : memory_->sessions()) {
        present.push_back(view.user);
    }
    EXPECT_EQ(present, (std::vector<std::string>{"UA", "UC", "UW"}));
    EXPECT_EQ(both(0, op("UA", gen(a), SetAttributes{{{"x", "y"}}})).error, std::error_code{});
    (void)c;
    (void)d;
}

// The timings a login agreed (the hub's answer to its client) go with the session: its presence runs out after its
// own timeout when its node dies (and likewise after a reconcile: the same code), a session whose login carried
// none gets the profile's, and a login's backfill takes its own window and count. Script and model agree.
TEST_F(RedisStoreTwins, ASessionKeepsTheTimingsItsLoginAgreed) {
    heartbeat(0);
    heartbeat(1);
    const auto agreed = [](Command command, Duration presence, std::size_t backfill_count) {
        std::get<Login>(command.op).timings = proto::Negotiated{1s, presence, 30s, backfill_count};
        return command;
    };
    const Result watcher = both(0, login("UW", "t-w", {{"ch", std::nullopt, {}}}));
    subscribe(0, "ch");
    const Result a = both(1, agreed(login("UA", "t-a", {{"ch", std::nullopt, {}}}), 5s, 2));
    both(1, login("UB", "t-b", {{"ch", std::nullopt, {}}}));  // no timings: the profile's 30 s
    both(1, agreed(login("UC", "t-c", {{"ch", std::nullopt, {}}}), 12s, 32));
    const proto::StreamPosition seen = std::get<LoginResult>(a.value).channels.at(0).position;
    const auto present = [&] {
        std::vector<std::string> users;
        for (const auto& view : memory_->sessions()) {
            users.push_back(view.user);
        }
        return users;
    };
    alive_.erase(1);  // node 2 dies: each presence runs out from its last heartbeat, after the session's own timeout
    advance_to(now_ + 6s);
    compare_lists();
    EXPECT_EQ(present(), (std::vector<std::string>{"UB", "UC", "UW"}));
    advance_to(now_ + 7s);
    compare_lists();
    EXPECT_EQ(present(), (std::vector<std::string>{"UB", "UW"}));
    advance_to(now_ + 18s);
    compare_lists();
    EXPECT_EQ(present(), (std::vector<std::string>{"UW"}));
    for (int i = 1; i <= 4; ++i) {
        both(0, send("UW", std::get<LoginResult>(watcher.value).gen, "c" + std::to_string(i), "ch", std::nullopt));
    }
    const Result back = both(0, agreed(login("UA", "t-a2", {{"ch", seen, {}}}), 5s, 2));
    ASSERT_EQ(back.error, std::error_code{});
    EXPECT_EQ(std::get<LoginResult>(back.value).backfill.size(), 2U);  // the agreed count, not the profile's 32
    EXPECT_EQ(std::get<LoginResult>(back.value).dropped, 2U);
}

// A channel whose last member left keeps its history and positions for the session lifetime: a session that went
// away from it and comes back is told exactly what it missed, and the channel's numbers go on where they were. On
// Redis its keys expire then (real time, so checked by their TTL); the reference model forgets the channel then
// (virtual time), and it starts again from 0. Before, neither store ever forgot a channel.
TEST_F(RedisStoreTwins, AnEmptyChannelIsKeptForTheSessionLifetimeThenForgotten) {
    heartbeat(0);
    heartbeat(1);
    const Result uid1 = both(0, login("UID1", "t-u1", {{"ch", std::nullopt, {}}}));
    subscribe(0, "ch");
    const Result uid2 = both(1, login("UID2", "t-u2", {{"ch", std::nullopt, {}}}));
    subscribe(1, "ch");
    const Gen g1 = std::get<LoginResult>(uid1.value).gen;
    const Gen g2 = std::get<LoginResult>(uid2.value).gen;
    const proto::StreamPosition seen = std::get<LoginResult>(uid1.value).channels[0].position;

    // UID1's link goes; UID2 sends two messages and logs out; UID1's presence runs out: the channel is empty.
    both(0, op("UID1", g1, Detach{30s}));
    both(1, send("UID2", g2, "c1", "ch", std::nullopt));
    both(1, send("UID2", g2, "c2", "ch", std::nullopt));
    both(1, op("UID2", g2, End{MemberLeftCause::quit, true}));
    advance_to(now_ + 31s);
    compare_lists(/*expect_empty=*/true);
    const std::string key = "app\nch";
    for (const char* prefix : {"rl:e:", "rl:q:", "rl:h:"}) {
        const auto ttl = redis_int({"PTTL", prefix + key});
        ASSERT_TRUE(ttl.has_value()) << prefix;
        EXPECT_GT(*ttl, 0) << prefix << ": an empty channel's key expires";
        EXPECT_LE(*ttl, 120'000) << prefix << ": after the session lifetime (2 min here)";
    }

    // UID1 comes back a minute later: both messages are older than the 30 s backfill window, so they are counted
    // as missed, exactly, from the history its empty channel kept.
    now_ += 60s;
    const Result back = both(0, login("UID1", "t-u1b", {{"ch", seen, {}}}, "t-u1"));
    ASSERT_EQ(back.error, std::error_code{});
    EXPECT_EQ(std::get<LoginResult>(back.value).dropped, 2U) << "exactly the two messages it missed";
    for (const char* prefix : {"rl:e:", "rl:q:", "rl:h:"}) {
        EXPECT_EQ(redis_int({"PTTL", prefix + key}), -1) << prefix << ": a member again, kept for good";
    }
    const Gen back_gen = std::get<LoginResult>(back.value).gen;
    both(0, send("UID1", back_gen, "c3", "ch", std::nullopt));
    compare_lists();  // the channel's message count went on: 3
    both(0, op("UID1", back_gen, End{MemberLeftCause::quit, true}));

    // The reference model alone from here (Redis expires on its own clock): just before the session lifetime the
    // channel's numbers are still there; just after it, they are gone and a join starts from 0.
    auto join_position = [&](const std::string& user) {
        const Result r =
            *memory_->execute(now_, name(0), ++command_id_, login(user, "t-" + user, {{"ch", std::nullopt, {}}}));
        EXPECT_EQ(r.error, std::error_code{});
        const auto& l = std::get<LoginResult>(r.value);
        const std::uint64_t seq = l.channels.at(0).position.seq;
        const std::uint64_t event_seq = l.event_seqs.at(0);
        (void)memory_->execute(now_, name(0), ++command_id_, op(user, l.gen, End{MemberLeftCause::quit, true}));
        return std::pair{seq, event_seq};
    };
    now_ += 119s;
    memory_->handle_timeout(now_);
    const auto kept = join_position("UID4");
    EXPECT_EQ(kept.first, 3U) << "the channel's message numbers are kept";
    EXPECT_GT(kept.second, 0U);
    now_ += 121s;
    memory_->handle_timeout(now_);
    EXPECT_TRUE(memory_->channels().empty());
    const auto fresh = join_position("UID5");
    EXPECT_EQ(fresh.first, 0U) << "forgotten: its numbers start again";
    EXPECT_EQ(fresh.second, 1U) << "forgotten: only UID5's own join is numbered";
}

// Recovery keys (docs/protocol.md, "Recovery keys"): the script registers a session's recovery secret, resumes the
// session for the login that presents it on another node and consumes it, and refuses a replay, another secret and
// a session that is over, exactly as the reference model does.
TEST_F(RedisStoreTwins, ARecoverySecretResumesOnceOnAnyNodeLikeTheReferenceModel) {
    heartbeat(0);
    heartbeat(1);
    const Result peer = both(1, login("UID2", "t-u2", {{"ch", std::nullopt, {}}}));
    subscribe(1, "ch");
    const Result first = both(0, login("UID1", "t-u1", {{"ch", std::nullopt, {}}}));
    subscribe(0, "ch");
    const Gen g1 = std::get<LoginResult>(first.value).gen;
    EXPECT_EQ(both(0, op("UID1", g1, IssueRecovery{"secret-1"})).error, std::error_code{});
    EXPECT_EQ(both(0, op("UID1", g1, IssueRecovery{"secret-2"})).error, std::error_code{});  // replaces secret-1
    now_ += 1s;
    both(0, op("UID1", g1, Detach{30s}));  // the process died
    const auto recovering = [&](const std::string& token, const std::string& secret,
                                const std::string& instance = "instance-new") {
        Command c = login("UID1", token, {{"ch", std::nullopt, {}}}, std::nullopt, instance);
        std::get<Login>(c.op).recovery_secret = secret;
        return c;
    };
    EXPECT_EQ(both(1, recovering("t-x", "secret-1")).error, make_error_code(errc::recovery_invalid));
    const Result back = both(1, recovering("t-u1b", "secret-2"));
    ASSERT_EQ(back.error, std::error_code{});
    EXPECT_TRUE(std::get<LoginResult>(back.value).resumed);
    EXPECT_FALSE(std::get<LoginResult>(back.value).displaced);
    // The recovering instance again (its LoginOk lost): it resumes. Anyone else with the used key: refused.
    const Result again = both(0, recovering("t-u1c", "secret-2"));
    ASSERT_EQ(again.error, std::error_code{});
    EXPECT_TRUE(std::get<LoginResult>(again.value).resumed);
    EXPECT_EQ(both(1, recovering("t-y", "secret-2", "instance-thief")).error, make_error_code(errc::recovery_used));
    // The session ends (presence runs out after a detach): its secrets go with it.
    const Gen g1b = std::get<LoginResult>(again.value).gen;
    EXPECT_EQ(both(0, op("UID1", g1b, IssueRecovery{"secret-3"})).error, std::error_code{});
    both(0, op("UID1", g1b, Detach{30s}));
    advance_to(now_ + 31s);
    EXPECT_EQ(both(0, recovering("t-z", "secret-3")).error, make_error_code(errc::recovery_expired));
    (void)peer;
}

}  // namespace
}  // namespace relink::cluster
