// A deployment of several relinkd hubs sharing one in-memory store, on the virtual clock, with real client cores:
// every cross-node case of docs/cluster.md exactly (resume on another node, a node killed, a duplicate login across
// nodes with the kick-loop cool-down, a drain, admin kick and listings across nodes), peer messages to an away user
// (on one node and across nodes), resume tokens that survive a lost LoginOk, and what positions in a LoginOk mean.
#include <algorithm>

#include "common/overloaded.hpp"
#include "core/harness.hpp"
#include "protocol/codec.hpp"
#include "server/cluster_world.hpp"

namespace relink::test {
namespace {

using detail::Overloaded;
using server::HubConfig;

/// UID2 on node 2 and UID1 on node 1 (0-based: nodes 1 and 0), both in "ch"; three nodes unless said otherwise.
struct Deployment {
    explicit Deployment(Profile profile, HubConfig config = {}, std::size_t nodes = 3)
        : world(cluster_world(nodes, std::move(config))), cluster(&world->server()) {
        world->add_client("UID2", exact_config(profile, 2));
        world->add_client("UID1", exact_config(profile, 1));
        cluster->route("UID2", nodes > 1 ? 1 : 0);
        cluster->route("UID1", 0);
        login_and_join(*world, "UID2", "ch");
        world->run_until(at_ms(1000));
        login_and_join(*world, "UID1", "ch");
    }

    /// The member events `who` saw from `from` on.
    [[nodiscard]] std::vector<std::string> members_seen_by(const std::string& who, TimePoint from) const {
        return timeline(
            *world,
            [&](const sim::Record& r) {
                return r.client == who && (std::holds_alternative<core::MemberJoined>(r.event) ||
                                           std::holds_alternative<core::MemberLeft>(r.event));
            },
            from);
    }
    [[nodiscard]] std::vector<std::string> payloads_received_by(const std::string& who, bool backfilled) const {
        std::vector<std::string> got;
        for (const auto& [at, m] : events_of<core::MessageReceived>(*world, who)) {
            if (m.backfilled == backfilled) {
                got.push_back(m.payload);
            }
        }
        return got;
    }
    void send_peer(const std::string& from, const std::string& to, const std::string& payload) {
        ASSERT_TRUE(world->call(
            from, [&](core::ClientCore& c, TimePoint now) { return c.send_peer_message(now, to, payload); }));
    }
    void send_channel(const std::string& from, const std::string& payload) {
        ASSERT_TRUE(world->call(
            from, [&](core::ClientCore& c, TimePoint now) { return c.send_channel_message(now, "ch", payload); }));
    }

    std::unique_ptr<World> world;
    sim::HubServer* cluster{nullptr};
};

// ============================================================================ resume on another node

TEST(Cluster, AResumeOnAnotherNodeIsSilentWithBackfillAndTheOldNodeClosesItsTransportWithoutAWord) {
    Deployment d(Profile::rtm);
    auto& world = *d.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::blackhole);  // UID1's link to node 1 dies silently; node 1 still holds it
    const TimePoint t3 = world.now();
    world.run_until(t3 + 2s);
    d.send_peer("UID2", "UID1", "p1");  // both sent while UID1 is away, from node 2
    d.send_channel("UID2", "c1");
    world.run_until(t3 + 3s);
    ASSERT_EQ(d.cluster->hub(0).metrics().connections_open, 1U);  // node 1 has not noticed yet

    d.cluster->route("UID1", 2);  // the load balancer sends the next connection to node 3
    world.set_link("UID1", LinkMode::pass);
    world.reset_connection("UID1");
    world.run_until(t3 + 10s);

    EXPECT_EQ(d.cluster->node_of("UID1"), std::optional<std::size_t>(2));
    EXPECT_TRUE(d.members_seen_by("UID2", t3).empty()) << joined(d.members_seen_by("UID2", t3));
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.backfilled, 2U);
    EXPECT_EQ(reports[0].second.dropped, 0U);
    EXPECT_EQ(d.payloads_received_by("UID1", /*backfilled=*/true), (std::vector<std::string>{"p1", "c1"}));
    EXPECT_EQ(d.cluster->hub(2).metrics().resumes, 1U);
    EXPECT_EQ(d.cluster->hub(0).metrics().connections_open, 0U);  // the stale transport went at once
    EXPECT_EQ(d.cluster->hub(0).metrics().kicks, 0U);

    // Live traffic crosses nodes in both directions afterwards.
    d.send_channel("UID2", "c2");
    d.send_peer("UID1", "UID2", "p2");
    world.run_until(t3 + 11s);
    EXPECT_EQ(d.payloads_received_by("UID1", false), std::vector<std::string>{"c2"});
    EXPECT_EQ(d.payloads_received_by("UID2", false), std::vector<std::string>{"p2"});
}

// ============================================================================ a node killed

class ClusterNodeDeath : public ::testing::TestWithParam<std::pair<Profile, long long>> {};

TEST_P(ClusterNodeDeath, ItsUsersLeaveAtTheProfileTimeoutAfterTheNodesLastHeartbeat) {
    const auto [profile, presence_s] = GetParam();
    Deployment d(profile);
    auto& world = *d.world;
    world.run_until(at_ms(5500));                 // node 1's last heartbeat is at 5000 ms
    world.set_link("UID1", LinkMode::blackhole);  // and UID1 cannot come back anywhere
    d.cluster->kill(world.now(), 0);
    world.run_until(at_ms(5000) + std::chrono::seconds(presence_s) + 10s);
    // Seen by UID2 (node 2) one one-way latency (50 ms) after the store reaped the session.
    const std::vector<std::string> want{ms_text(at_ms(5050) + std::chrono::seconds(presence_s)) +
                                        " UID2 member_left ch UID1 DROPPED"};
    EXPECT_EQ(d.members_seen_by("UID2", at_ms(5500)), want) << joined(d.members_seen_by("UID2", at_ms(5500)));
    EXPECT_EQ(world.server().members("ch"), std::set<std::string>{"UID2"});
    EXPECT_EQ(d.cluster->store().stats().nodes_dead, 1U);
    EXPECT_EQ(d.cluster->store().stats().presence_timeouts, 1U);
}

INSTANTIATE_TEST_SUITE_P(Profiles, ClusterNodeDeath,
                         ::testing::Values(std::pair{Profile::rtc_web, 10LL}, std::pair{Profile::rtc, 20LL},
                                           std::pair{Profile::rtm, 30LL}, std::pair{Profile::room, 90LL}),
                         [](const ::testing::TestParamInfo<ClusterNodeDeath::ParamType>& param) {
                             std::string name(to_string(param.param.first));
                             name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                             return name + "_" + std::to_string(param.param.second) + "s";
                         });

TEST(Cluster, ClientsOfAKilledNodeResumeSilentlyOnAnotherWithinThePresenceTimeout) {
    Deployment d(Profile::rtc);
    auto& world = *d.world;
    world.run_until(at_ms(5500));
    d.cluster->route("UID1", 2);
    d.cluster->kill(world.now(), 0);  // UID1's transport is reset; it reconnects at once, to node 3
    world.run_until(at_ms(60'000));   // well past the dead node's detection and every presence timeout
    EXPECT_TRUE(d.members_seen_by("UID2", at_ms(5500)).empty()) << joined(d.members_seen_by("UID2", at_ms(5500)));
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);
    EXPECT_EQ(world.server().members("ch"), (std::set<std::string>{"UID1", "UID2"}));
    EXPECT_EQ(d.cluster->store().stats().nodes_dead, 1U);  // declared dead, but its one session had moved
    EXPECT_EQ(d.cluster->store().stats().presence_timeouts, 0U);
}

// ============================================================================ duplicate login across nodes

TEST(Cluster, ADuplicateLoginOnAnotherNodeKicksTheOldInstanceWhichCannotTakeTheIdBackOnAThirdDuringTheCooldown) {
    Deployment d(Profile::rtm);
    auto& world = *d.world;
    world.add_client("UID1-B", exact_config(Profile::rtm, 7));
    d.cluster->route("UID1-B", 1);
    world.run_until(at_ms(5000));
    ASSERT_FALSE(
        world.call("UID1-B", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(6000));
    ASSERT_EQ(world.client("UID1").state(), ConnectionState::aborted);
    ASSERT_EQ(world.client("UID1-B").state(), ConnectionState::connected);
    EXPECT_EQ(d.members_seen_by("UID2", at_ms(5000)),
              (std::vector<std::string>{"5200 UID2 member_left ch UID1 KICKED"}));  // B's login reached node 2 at 5150

    d.cluster->route("UID1", 2);  // instance A comes back through a third node
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(7000));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::aborted);      // refused with REMOTE_LOGIN
    EXPECT_EQ(world.client("UID1-B").state(), ConnectionState::connected);  // not knocked off: no ping-pong

    world.run_until(at_ms(16'000));  // after the 10 s cool-down A may log in again, and then B is kicked
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(17'000));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);
    EXPECT_EQ(world.client("UID1-B").state(), ConnectionState::aborted);
    const auto states = timeline(world, [](const sim::Record& r) {
        return r.client == "UID1" && std::holds_alternative<core::ConnectionStateChanged>(r.event);
    });
    const std::vector<std::string> want{
        "1000 UID1 state CONNECTING LOGIN",         "1200 UID1 state CONNECTED LOGIN_SUCCESS",
        "5200 UID1 state ABORTED REMOTE_LOGIN",     "6000 UID1 state DISCONNECTED LOGOUT",
        "6000 UID1 state CONNECTING LOGIN",         "6200 UID1 state ABORTED REMOTE_LOGIN",
        "16000 UID1 state DISCONNECTED LOGOUT",     "16000 UID1 state CONNECTING LOGIN",
        "16200 UID1 state CONNECTED LOGIN_SUCCESS",
    };
    EXPECT_EQ(states, want) << joined(states);
    EXPECT_EQ(d.cluster->hub(1).metrics().kicks + d.cluster->hub(2).metrics().kicks, 2U);
}

// ============================================================================ drain

TEST(Cluster, ADrainedNodesClientsResumeSilentlyOnTheOthers) {
    Deployment d(Profile::rtm);
    auto& world = *d.world;
    world.run_until(at_ms(5000));
    d.cluster->route("UID1", 1);  // the load balancer stops sending to node 1
    d.cluster->drain_node(world.now(), 0, 2s);
    world.run_until(at_ms(30'000));
    EXPECT_TRUE(d.members_seen_by("UID2", at_ms(5000)).empty()) << joined(d.members_seen_by("UID2", at_ms(5000)));
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(d.cluster->node_of("UID1"), std::optional<std::size_t>(1));
    const auto changes = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_FALSE(changes.empty());
    EXPECT_EQ(changes.back().second.state, ConnectionState::connected);
    EXPECT_LE(changes.back().first, at_ms(7500));  // within the window (+ the round trips of a login)
}

// ============================================================================ admin and listings

TEST(Cluster, AnAdminKickOrBanOnAnyNodeActsOnTheUserWhereverItIsAndListingsShowTheDeployment) {
    Deployment d(Profile::rtm);
    auto& world = *d.world;
    world.run_until(at_ms(3000));
    for (std::size_t node = 0; node < 3; ++node) {
        const auto sessions = d.cluster->hub(node).sessions();
        ASSERT_EQ(sessions.size(), 2U) << node;
        const auto channels = d.cluster->hub(node).channels();
        ASSERT_EQ(channels.size(), 1U) << node;
        EXPECT_EQ(channels[0].members, (std::vector<std::string>{"UID1", "UID2"})) << node;
    }
    EXPECT_FALSE(d.cluster->admin_kick(world.now(), 2, "UID1", /*ban=*/true));  // UID1 is on node 1
    world.run_until(at_ms(4000));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::aborted);
    EXPECT_EQ(d.members_seen_by("UID2", at_ms(3000)),
              (std::vector<std::string>{"3050 UID2 member_left ch UID1 KICKED"}));
    d.cluster->route("UID1", 1);  // a banned user is refused on every node
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    const std::error_code login =
        world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); });
    ASSERT_FALSE(login) << error_name(login);
    world.run_until(at_ms(5000));
    const auto changes = events_of<core::ConnectionStateChanged>(world, "UID1");
    ASSERT_FALSE(changes.empty());
    EXPECT_EQ(changes.back().second.state, ConnectionState::aborted);
    EXPECT_EQ(changes.back().second.reason, ConnectionReason::banned_by_server);
    EXPECT_EQ(d.cluster->hub(0).sessions().size(), 1U);
}

// ============================================================================ peer messages to an away user

class AwayUser : public ::testing::TestWithParam<std::size_t> {};  // the number of nodes

TEST_P(AwayUser, PeerMessagesSentAfter35sAndAfter10MinutesAreDeliveredWhenTheClientReturns) {
    const std::size_t nodes = GetParam();
    Deployment d(Profile::rtm, {}, nodes);
    auto& world = *d.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::blackhole);
    const TimePoint t3 = world.now();
    world.run_until(t3 + 35s);  // past the 30 s presence: UID2 saw UID1 leave; UID1 is away
    ASSERT_EQ(d.members_seen_by("UID2", t3).size(), 1U);
    d.send_peer("UID2", "UID1", "after-35s");
    world.run_until(t3 + 10min);
    d.send_peer("UID2", "UID1", "after-10min");
    world.run_until(t3 + 10min + 1s);
    std::vector<bool> stored;
    for (const auto& [at, e] : events_of<core::OperationCompleted>(world, "UID2")) {
        if (e.kind == core::OpKind::peer_message) {
            EXPECT_FALSE(e.error) << error_name(e.error);
            stored.push_back(e.stored_for_away_user);
        }
    }
    EXPECT_EQ(stored, (std::vector<bool>{true, true}));

    d.cluster->route("UID1", nodes - 1);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 11min);
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);
    EXPECT_EQ(d.payloads_received_by("UID1", /*backfilled=*/true),
              (std::vector<std::string>{"after-35s", "after-10min"}));
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_FALSE(reports[0].second.resumed);  // its presence had ended: peers saw it leave and come back
    EXPECT_EQ(reports[0].second.dropped, 0U);
}

TEST_P(AwayUser, OverflowOfTheAwayQueueIsReportedToTheReceiverAsDropped) {
    HubConfig config;
    config.limits.peer_queue_per_user = 5;
    Deployment d(Profile::rtm, config, GetParam());
    auto& world = *d.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::blackhole);
    const TimePoint t3 = world.now();
    world.run_until(t3 + 40s);
    for (int i = 1; i <= 8; ++i) {
        d.send_peer("UID2", "UID1", "m" + std::to_string(i));
    }
    world.run_until(t3 + 5min);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 6min);
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(reports[0].second.backfilled, 5U);
    EXPECT_EQ(reports[0].second.dropped, 3U);
    EXPECT_EQ(d.payloads_received_by("UID1", true), (std::vector<std::string>{"m4", "m5", "m6", "m7", "m8"}));
}

TEST_P(AwayUser, AfterTheSessionLifetimeOrALogoutAPeerMessageFailsWithPeerOffline) {
    HubConfig config;
    config.limits.session_lifetime = 2min;
    Deployment d(Profile::rtm, config, GetParam());
    auto& world = *d.world;
    world.run_until(at_ms(5000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(5000) + 31s + 2min);  // presence ran out at ~35 s; the lifetime 2 min later
    d.send_peer("UID2", "UID1", "too-late");
    world.run_until(at_ms(5000) + 3min);
    const auto done = events_of<core::OperationCompleted>(world, "UID2");
    ASSERT_EQ(done.size(), 1U);
    EXPECT_EQ(done[0].second.error, make_error_code(errc::peer_offline));
    EXPECT_FALSE(done[0].second.stored_for_away_user);
}

INSTANTIATE_TEST_SUITE_P(Nodes, AwayUser, ::testing::Values(std::size_t{1}, std::size_t{3}),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                             return std::to_string(param.param) + "_nodes";
                         });

// ============================================================================ by hand: tokens and positions

/// Nodes driven by hand on one shared store: every input at `now`, every action collected per node.
struct HandCluster {
    explicit HandCluster(std::size_t count, HubConfig config = {})
        : store(std::make_shared<cluster::MemoryStore>(server::store_config(config))) {
        for (std::size_t i = 0; i < count; ++i) {
            HubConfig c = config;
            c.node_id = "n" + std::to_string(i + 1);
            nodes.push_back(std::make_unique<server::Hub>(
                c,
                [this](const std::string& app, const std::string&, const std::string& token) {
                    return sim_token_check(now, app, token);
                },
                store));
        }
    }
    void settle() {
        for (auto& node : nodes) {
            node->on_store_events(now);
            while (auto action = node->poll_action()) {
                server::for_each_conn(
                    *action,
                    [&](server::ConnId conn, const proto::ServerMessage& message) { sent.emplace_back(conn, message); },
                    [](server::ConnId) {});
            }
        }
    }
    proto::LoginOk login(std::size_t node, server::ConnId conn, const std::string& user,
                         std::optional<std::string> token, std::vector<proto::ChannelResume> channels = {},
                         std::optional<proto::StreamPosition> last_peer_seen = std::nullopt) {
        nodes[node]->on_open(now, conn, "10.0.0.1");
        proto::Login m;
        m.request_id = ++request;
        m.app_id = "app";
        m.user_id = user;
        m.token = "valid";
        m.instance_id = "instance-" + user;
        m.resume_token = std::move(token);
        m.channels = std::move(channels);
        m.last_peer_seen = last_peer_seen;
        sent.clear();
        nodes[node]->on_frame(now, conn, m);
        settle();
        for (const auto& [c, message] : sent) {
            if (const auto* ok = std::get_if<proto::LoginOk>(&message); ok != nullptr && c == conn) {
                return *ok;
            }
        }
        ADD_FAILURE() << "no LoginOk for " << user;
        return {};
    }
    void close(std::size_t node, server::ConnId conn) {
        nodes[node]->on_closed(now, conn);
        settle();
    }
    void frame(std::size_t node, server::ConnId conn, const proto::ClientMessage& m) {
        nodes[node]->on_frame(now, conn, m);
        settle();
    }
    template <class T>
    [[nodiscard]] std::vector<T> to(server::ConnId conn) const {
        std::vector<T> out;
        for (const auto& [c, m] : sent) {
            if (const auto* t = std::get_if<T>(&m); t != nullptr && c == conn) {
                out.push_back(*t);
            }
        }
        return out;
    }

    TimePoint now{};
    std::shared_ptr<cluster::MemoryStore> store;
    std::vector<std::unique_ptr<server::Hub>> nodes;
    std::vector<std::pair<server::ConnId, proto::ServerMessage>> sent;
    proto::RequestId request{0};
};

class LostLoginOk : public ::testing::TestWithParam<std::size_t> {};  // the node the retries land on

// The server rotates the resume token at every LoginOk. A client whose link dies right after the server sent one
// never saw the new token and comes back with the one before: that must resume silently, not look like a second
// instance (peers would see member_left KICKED then member_joined).
TEST_P(LostLoginOk, AResumeWithThePreviousTokenStaysSilentUntilTheNewOneIsUsed) {
    HandCluster c(2);
    const std::size_t other = GetParam();
    c.login(0, 1, "UID2", std::nullopt, {{"ch", std::nullopt, {}}});
    const proto::LoginOk first = c.login(0, 2, "UID1", std::nullopt, {{"ch", std::nullopt, {}}});
    c.now += 1s;
    c.close(0, 2);
    const proto::LoginOk lost = c.login(other, 3, "UID1", first.resume_token, {{"ch", std::nullopt, {}}});
    EXPECT_TRUE(lost.resumed);
    c.now += 1s;
    c.close(other, 3);  // the LoginOk above never reached the client
    c.sent.clear();
    const proto::LoginOk again = c.login(0, 4, "UID1", first.resume_token, {{"ch", std::nullopt, {}}});
    EXPECT_TRUE(again.resumed);
    EXPECT_TRUE(c.to<proto::MemberLeft>(1).empty());
    EXPECT_TRUE(c.to<proto::MemberJoined>(1).empty());
    EXPECT_NE(again.resume_token, lost.resume_token);

    // The client uses the newest token: from then on the older ones are refused (a fresh session for peers).
    c.now += 1s;
    c.close(0, 4);
    const proto::LoginOk used = c.login(other, 5, "UID1", again.resume_token, {{"ch", std::nullopt, {}}});
    EXPECT_TRUE(used.resumed);
    c.now += 1s;
    c.close(other, 5);
    const proto::LoginOk stale = c.login(0, 6, "UID1", first.resume_token, {{"ch", std::nullopt, {}}});
    EXPECT_FALSE(stale.resumed);
    const proto::LoginOk stale2 = c.login(0, 7, "UID1", lost.resume_token, {{"ch", std::nullopt, {}}});
    EXPECT_FALSE(stale2.resumed);
}

INSTANTIATE_TEST_SUITE_P(Nodes, LostLoginOk, ::testing::Values(std::size_t{0}, std::size_t{1}),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                             return param.param == 0 ? std::string("same_node") : std::string("other_node");
                         });

// Every position in a LoginOk is the stream's position just before the first message of it that follows as
// backfill (the newest position when none follows), for channels and for the peer stream alike.
TEST(Positions, ChannelAndPeerPositionsInAResumedLoginOkBothPointBeforeTheirBackfill) {
    HandCluster c(2);
    c.login(0, 1, "UID2", std::nullopt, {{"ch", std::nullopt, {}}});
    const proto::LoginOk first = c.login(0, 2, "UID1", std::nullopt, {{"ch", std::nullopt, {}}});
    ASSERT_EQ(first.channels.size(), 1U);
    const proto::StreamPosition channel_seen = first.channels[0].position;
    const proto::StreamPosition peer_seen = first.peer_position;
    c.close(0, 2);
    for (int i = 1; i <= 3; ++i) {
        proto::SendMessage to_channel;
        to_channel.request_id = 100 + static_cast<proto::RequestId>(i);
        to_channel.message_id = "c" + std::to_string(i);
        to_channel.to_channel = "ch";
        c.frame(0, 1, to_channel);
        proto::SendMessage to_peer = to_channel;
        to_peer.request_id += 10;
        to_peer.message_id = "p" + std::to_string(i);
        to_peer.to_channel.reset();
        to_peer.to_user = "UID1";
        c.frame(0, 1, to_peer);
    }
    const proto::LoginOk resumed = c.login(1, 3, "UID1", first.resume_token, {{"ch", channel_seen, {}}}, peer_seen);
    ASSERT_TRUE(resumed.resumed);
    ASSERT_EQ(resumed.backfilled, 6U);
    const auto backfill = c.to<proto::Message>(3);
    ASSERT_EQ(backfill.size(), 6U);
    EXPECT_EQ(resumed.peer_position.seq + 1, backfill[0].position.seq);         // p1 follows the peer position
    EXPECT_EQ(resumed.channels[0].position.seq + 1, backfill[3].position.seq);  // c1 follows the channel's
    EXPECT_EQ(resumed.peer_position, peer_seen);
    EXPECT_EQ(resumed.channels[0].position, channel_seen);
}

// ============================================================================ a store that answers later

namespace async {

/// A Store whose commands take effect, and are answered, only when the test says so (as Redis answers after a round
/// trip), and whose events for this node reach it only when the test says so (as pub/sub delivers them), with the
/// option to lose some. It wraps the deployment's MemoryStore, which the other nodes use directly.
class DeferredStore final : public cluster::Store {
public:
    explicit DeferredStore(std::shared_ptr<cluster::MemoryStore> inner) : inner_(std::move(inner)) {}

    std::optional<cluster::Result> execute(TimePoint now, const cluster::NodeId& node, cluster::CommandId id,
                                           cluster::Command command) override {
        queued_.push_back({now, node, id, std::move(command)});
        return std::nullopt;
    }
    std::vector<cluster::Event> take_events(const cluster::NodeId& node) override {
        std::vector<cluster::Event> out;
        for (auto& e : released_) {
            out.push_back(std::move(e));
        }
        released_.clear();
        (void)node;
        return out;
    }
    void subscribe(const cluster::NodeId& n, const std::string& a, const std::string& c) override {
        inner_->subscribe(n, a, c);
    }
    void unsubscribe(const cluster::NodeId& n, const std::string& a, const std::string& c) override {
        inner_->unsubscribe(n, a, c);
    }
    void heartbeat(TimePoint now, const cluster::NodeId& node) override { inner_->heartbeat(now, node); }
    void leave(TimePoint now, const cluster::NodeId& node) override { inner_->leave(now, node); }
    void reconcile(TimePoint now, const cluster::NodeId& node,
                   const std::map<std::string, cluster::Gen>& held) override {
        inner_->reconcile(now, node, held);
    }
    [[nodiscard]] std::optional<TimePoint> next_deadline() const override { return std::nullopt; }
    void handle_timeout(TimePoint) override {}
    [[nodiscard]] cluster::StoreStats stats() const override { return inner_->stats(); }
    [[nodiscard]] std::vector<SessionView> sessions() const override { return inner_->sessions(); }
    [[nodiscard]] std::vector<ChannelView> channels() const override { return inner_->channels(); }
    void list(TimePoint now, ListHandler done) override { inner_->list(now, std::move(done)); }

    /// Runs the oldest queued command in the shared store; returns its id and result (for Hub::on_store_result).
    std::pair<cluster::CommandId, cluster::Result> run_next() {
        Queued q = std::move(queued_.front());
        queued_.erase(queued_.begin());
        return {q.id, *inner_->execute(q.now, q.node, q.id, std::move(q.command))};
    }
    /// The oldest queued command is lost on its way (Redis unreachable or too slow): it takes no effect, and is
    /// answered as RedisStore answers then.
    std::pair<cluster::CommandId, cluster::Result> fail_next() {
        Queued q = std::move(queued_.front());
        queued_.erase(queued_.begin());
        return {q.id, cluster::Result{make_error_code(errc::network_interrupted), {}}};
    }
    [[nodiscard]] std::size_t queued() const { return queued_.size(); }
    /// Moves the events the shared store holds for `node` to what take_events() gives, losing the channel events
    /// whose 1-based position among them is in `lose`.
    void arrive(const cluster::NodeId& node, const std::set<std::size_t>& lose = {}) {
        std::size_t index = 0;
        for (auto& e : inner_->take_events(node)) {
            if (std::holds_alternative<cluster::ChannelEvent>(e) && lose.count(++index) != 0) {
                continue;
            }
            released_.push_back(std::move(e));
        }
    }

private:
    struct Queued {
        TimePoint now;
        cluster::NodeId node;
        cluster::CommandId id;
        cluster::Command command;
    };
    std::shared_ptr<cluster::MemoryStore> inner_;
    std::vector<Queued> queued_;
    std::vector<cluster::Event> released_;
};

/// Node 1 answers at once (the shared MemoryStore); node 2 through a DeferredStore. Inputs by hand.
struct TwoNodes {
    TwoNodes()
        : shared(std::make_shared<cluster::MemoryStore>(server::store_config(HubConfig{}))),
          deferred(std::make_shared<DeferredStore>(shared)) {
        HubConfig c1;
        c1.node_id = "n1";
        HubConfig c2;
        c2.node_id = "n2";
        const auto verify = [this](const std::string& app, const std::string&, const std::string& token) {
            return sim_token_check(now, app, token);
        };
        n1 = std::make_unique<server::Hub>(c1, verify, shared);
        n2 = std::make_unique<server::Hub>(c2, verify, deferred);
    }
    /// Everything both nodes sent, per connection, in order; node 1's store events are acted on at once.
    void settle() {
        n1->on_store_events(now);
        n2->on_store_events(now);
        for (auto* hub : {n1.get(), n2.get()}) {
            while (auto action = hub->poll_action()) {
                server::for_each_conn(
                    *action,
                    [&](server::ConnId conn, const proto::ServerMessage& message) {
                        sent[conn].push_back(proto::encode(message));
                    },
                    [&](server::ConnId conn) { closed.insert(conn); });
            }
        }
    }
    /// Node 2's oldest command takes effect and is answered.
    void answer() {
        auto [id, result] = deferred->run_next();
        n1->on_store_events(now);  // what it caused for node 1
        settle();
        n2->on_store_result(now, id, std::move(result));
        settle();
    }
    proto::Login login(const std::string& user, std::optional<std::string> token = std::nullopt) {
        proto::Login m;
        m.request_id = ++request;
        m.app_id = "app";
        m.user_id = user;
        m.token = "valid";
        m.instance_id = "instance-" + user;
        m.resume_token = std::move(token);
        m.channels = {{"ch", std::nullopt, {}}};
        return m;
    }
    proto::SendMessage to_channel(const std::string& id) {
        proto::SendMessage m;
        m.request_id = ++request;
        m.message_id = id;
        m.payload = id;
        m.to_channel = "ch";
        return m;
    }
    /// UID2 on node 1 (connection 1) and UID1 on node 2 (connection 2), both in "ch"; returns UID1's resume token.
    std::string two_members() {
        uid1_logging_in();
        answer();
        return resume_token(2);
    }
    /// UID2 on node 1 (connection 1), in "ch"; UID1's login (into "ch") on node 2 (connection 2), with the store.
    void uid1_logging_in() {
        n1->on_open(now, 1, "a");
        n1->on_frame(now, 1, login("UID2"));
        settle();
        n2->on_open(now, 2, "b");
        n2->on_frame(now, 2, login("UID1"));
    }
    /// The resume token of the last LoginOk `conn` got; empty if none.
    [[nodiscard]] std::string resume_token(server::ConnId conn) const {
        std::string token;
        if (auto it = sent.find(conn); it != sent.end()) {
            for (const auto& frame : it->second) {
                if (auto d = proto::decode_server(frame); d.message) {
                    if (const auto* ok = std::get_if<proto::LoginOk>(&*d.message)) {
                        token = ok->resume_token;
                    }
                }
            }
        }
        return token;
    }
    /// The Close that ended what `conn` got, if its last frame is one.
    [[nodiscard]] std::optional<proto::Close> last_close(server::ConnId conn) const {
        auto it = sent.find(conn);
        if (it == sent.end() || it->second.empty()) {
            return std::nullopt;
        }
        const auto decoded = proto::decode_server(it->second.back());
        if (!decoded.message || !std::holds_alternative<proto::Close>(*decoded.message)) {
            return std::nullopt;
        }
        return std::get<proto::Close>(*decoded.message);
    }
    /// The types and payloads of what `conn` got, as short lines.
    [[nodiscard]] std::vector<std::string> got(server::ConnId conn) const {
        std::vector<std::string> out;
        auto it = sent.find(conn);
        if (it == sent.end()) {
            return out;
        }
        for (const auto& frame : it->second) {
            const auto decoded = proto::decode_server(frame);
            if (!decoded.message) {
                continue;
            }
            std::visit(Overloaded{[&](const proto::LoginOk& ok) {
                                      out.push_back(std::string("login_ok") + (ok.resumed ? " resumed" : ""));
                                  },
                                  [&](const proto::Message& m) {
                                      out.push_back("message " + m.payload + (m.backfilled ? " backfilled" : ""));
                                  },
                                  [&](const proto::MemberJoined& m) { out.push_back("joined " + m.user_id); },
                                  [&](const proto::MemberLeft& m) { out.push_back("left " + m.user_id); },
                                  [&](const proto::Reply&) { out.push_back("reply"); },
                                  [&](const auto&) { out.push_back("other"); }},
                       *decoded.message);
        }
        return out;
    }

    TimePoint now{TimePoint{} + 1s};
    std::shared_ptr<cluster::MemoryStore> shared;
    std::shared_ptr<DeferredStore> deferred;
    std::unique_ptr<server::Hub> n1;
    std::unique_ptr<server::Hub> n2;
    std::map<server::ConnId, std::vector<std::string>> sent;
    std::set<server::ConnId> closed;
    proto::RequestId request{0};
};

}  // namespace async

// While a login (with channels) is on its way to an asynchronous store, the channel's events reach the node: those
// published before the login's snapshot are not delivered (the snapshot has their effect), those after it are,
// right after the LoginOk, in order; frames the client sent meanwhile wait for the LoginOk; a ping does not.
TEST(AsyncStore, EventsThatRaceALoginAreDeliveredAfterItsAnswerFromItsSnapshotOn) {
    async::TwoNodes t;
    t.uid1_logging_in();  // queued in node 2's store; node 2 has subscribed to "ch"
    t.n2->on_frame(t.now, 2, proto::Ping{});
    t.n2->on_frame(t.now, 2, t.to_channel("from-uid1"));  // waits for the LoginOk
    t.settle();
    EXPECT_EQ(t.got(2), std::vector<std::string>{"other"});  // the pong, at once
    t.n1->on_frame(t.now, 1, t.to_channel("before"));        // UID1 is not a member yet: not for it
    t.settle();
    t.deferred->arrive("n2");
    t.settle();
    t.answer();  // the login takes effect (UID1 joins after "before") and is answered
    t.n1->on_frame(t.now, 1, t.to_channel("after"));  // reaches node 2 ...
    t.settle();
    t.deferred->arrive("n2");  // ... and is delivered live
    t.settle();
    ASSERT_EQ(t.deferred->queued(), 1U);  // the held send went to the store after the LoginOk
    t.answer();
    t.deferred->arrive("n2");
    t.settle();
    EXPECT_EQ(t.got(2), (std::vector<std::string>{"other", "login_ok", "message after", "reply"}));
    EXPECT_EQ(t.got(1), (std::vector<std::string>{"login_ok", "reply", "joined UID1", "reply", "message from-uid1"}));
    EXPECT_TRUE(t.closed.empty());
}

// Events published after a join's snapshot that arrive before its answer are delivered after the JoinOk.
// A login the store could not answer is not refused: the client is told to come back soon (Close draining, within
// the hub's store_retry_within), which a client does even for its first login. The frames it sent meanwhile go with
// the connection.
TEST(AsyncStore, ALoginTheStoreCouldNotAnswerSendsTheClientBackInsteadOfRefusingIt) {
    async::TwoNodes t;
    t.n2->on_open(t.now, 2, "b");
    t.n2->on_frame(t.now, 2, t.login("UID1"));
    t.n2->on_frame(t.now, 2, t.to_channel("held"));
    t.settle();
    auto [id, result] = t.deferred->fail_next();
    t.n2->on_store_result(t.now, id, std::move(result));
    t.settle();
    ASSERT_EQ(t.sent[2].size(), 1U);
    const auto close = t.last_close(2);
    ASSERT_TRUE(close) << t.sent[2][0];
    EXPECT_EQ(close->reason, proto::CloseReason::draining);
    EXPECT_EQ(close->reconnect_within, HubConfig{}.store_retry_within);
    EXPECT_EQ(t.closed, (std::set<server::ConnId>{2}));
    EXPECT_EQ(t.deferred->queued(), 0U) << "the held frame is not sent to the store";
    EXPECT_EQ(t.n2->metrics().login_failures, 1U);
}

// A client that logs out and hangs up while its login is still with the store (the app's logout() right after
// login(), or during a handover's login on the new connection) is logged out: when the login takes effect its
// session ends at once and its peers see it quit, instead of seeing it present until its presence timeout. Without
// the Logout the same close leaves the session to its presence countdown, silently (a resume may follow).
TEST(AsyncStore, ALogoutBehindAPendingLoginOnAConnectionThatClosedEndsTheSession) {
    for (const bool logout : {true, false}) {
        SCOPED_TRACE(logout ? "Login, Logout, close" : "Login, close");
        async::TwoNodes t;
        t.uid1_logging_in();
        if (logout) {
            t.n2->on_frame(t.now, 2, proto::Logout{++t.request});
        }
        t.n2->on_closed(t.now, 2);
        t.settle();
        ASSERT_EQ(t.deferred->queued(), 1U);  // the login, still with the store
        t.answer();
        if (logout) {
            ASSERT_EQ(t.deferred->queued(), 1U);  // the session's end
            t.answer();
        }
        std::vector<std::string> uid1_sessions;
        for (const auto& session : t.shared->sessions()) {
            uid1_sessions.push_back(session.user);
        }
        const auto uid2 = t.got(1);
        if (logout) {
            EXPECT_EQ(uid2, (std::vector<std::string>{"login_ok", "joined UID1", "left UID1"}));
            EXPECT_EQ(std::count(uid1_sessions.begin(), uid1_sessions.end(), "UID1"), 0);
        } else {
            EXPECT_EQ(uid2, (std::vector<std::string>{"login_ok", "joined UID1"}));  // present until its timeout
            EXPECT_EQ(std::count(uid1_sessions.begin(), uid1_sessions.end(), "UID1"), 1);
        }
        EXPECT_TRUE(t.sent[2].empty()) << "nothing is sent to a closed connection";
    }
}

// A login that took effect in the store but whose answer the node never got (the connection to Redis dropped) leaves
// a session the store counts as attached to a node that has no transport for it: its peers would see it present for
// ever. When the node reaches the store again it says which sessions it holds; that one starts its presence
// countdown then, and its peers see it leave (DROPPED) at the profile's timeout, not never.
TEST(AsyncStore, ASessionWhoseLoginAnswerWasLostIsReleasedWhenTheNodeReconciles) {
    async::TwoNodes t;
    t.uid1_logging_in();
    const cluster::CommandId login_id = t.deferred->run_next().first;  // it takes effect ...
    t.n1->on_store_events(t.now);
    t.settle();
    ASSERT_EQ(t.got(1), (std::vector<std::string>{"login_ok", "joined UID1"}));
    t.n2->on_store_result(t.now, login_id, cluster::Result{make_error_code(errc::network_interrupted), {}});  // unseen
    t.settle();
    EXPECT_EQ(t.closed, std::set<server::ConnId>{2});
    t.n2->on_closed(t.now, 2);

    // Without a reconcile, nothing would ever end UID1's presence: n2 holds no transport and sends no detach.
    // UID2 keeps its link alive meanwhile; what it hears of UID1 is what counts.
    auto advance_to = [&](TimePoint until) {
        while (t.now < until) {
            t.now = std::min(until, t.now + 1s);
            t.n1->on_frame(t.now, 1, proto::Ping{});
            t.n1->handle_timeout(t.now);
            t.n2->handle_timeout(t.now);
            t.settle();
        }
    };
    auto about_uid1 = [&] {
        std::vector<std::string> out;
        for (const auto& line : t.got(1)) {
            if (line.find("UID1") != std::string::npos) {
                out.push_back(line);
            }
        }
        return out;
    };
    const TimePoint reconciled_at = t.now + 5s;
    advance_to(reconciled_at);
    t.n2->reconcile(t.now);
    EXPECT_EQ(t.shared->stats().reconciled, 1U);
    const Duration presence = timings_for(Profile::rtm).presence_timeout;
    advance_to(reconciled_at + presence - 1ms);
    EXPECT_EQ(about_uid1(), std::vector<std::string>{"joined UID1"}) << "not before the timeout from the reconcile";
    advance_to(reconciled_at + presence);
    EXPECT_EQ(about_uid1(), (std::vector<std::string>{"joined UID1", "left UID1"}));
    EXPECT_TRUE(t.closed.count(1) == 0) << "UID2's link stayed up";

    // A node that holds its sessions releases none of them.
    t.n1->reconcile(t.now);
    EXPECT_EQ(t.shared->stats().reconciled, 1U);
}

// When a node's event subscription is made again, events published meanwhile are lost and nothing says which: every
// session on the node resumes (Close draining, within store_retry_within), a login on its way too, and the node
// forgets its channel positions, so the numbers of a Redis that lost its data are not taken for old ones. The
// client's resume brings what it missed as backfill; its peers see nothing.
TEST(AsyncStore, EventsLostWithTheSubscriptionMakeEverySessionOfTheNodeResume) {
    async::TwoNodes t;
    const std::string token = t.two_members();
    ASSERT_FALSE(token.empty());
    t.n2->on_open(t.now, 3, "c");
    t.n2->on_frame(t.now, 3, t.login("UID3"));  // on its way to the store
    t.n2->on_open(t.now, 4, "d");               // not logged in: nothing to resume
    t.deferred->arrive("n2");
    t.settle();
    t.n1->on_frame(t.now, 1, t.to_channel("lost"));  // published while n2's subscription is down: never arrives
    t.settle();
    (void)t.shared->take_events("n2");
    const std::size_t uid2_saw = t.got(1).size();

    t.n2->resync_all(t.now);
    t.settle();
    for (const server::ConnId conn : {server::ConnId{2}, server::ConnId{3}}) {
        const auto close = t.last_close(conn);
        ASSERT_TRUE(close) << conn;
        EXPECT_EQ(close->reason, proto::CloseReason::draining);
        EXPECT_EQ(close->reconnect_within, HubConfig{}.store_retry_within);
    }
    EXPECT_EQ(t.closed, (std::set<server::ConnId>{2, 3}));
    EXPECT_EQ(t.sent.count(4), 0U);

    // UID1 comes back and gets what it missed; UID2 saw nothing of it.
    while (t.deferred->queued() > 0) {
        t.answer();
    }
    t.n2->on_closed(t.now, 2);
    t.n2->on_closed(t.now, 3);
    t.n2->on_open(t.now, 5, "b");
    proto::Login again = t.login("UID1", token);
    again.channels[0].last_seen = proto::StreamPosition{1, 0};
    t.n2->on_frame(t.now, 5, again);
    t.answer();
    EXPECT_EQ(t.got(5), (std::vector<std::string>{"login_ok resumed", "message lost backfilled"}));
    std::vector<std::string> about_uid1;
    for (std::size_t i = uid2_saw; i < t.got(1).size(); ++i) {
        if (t.got(1)[i].find("UID1") != std::string::npos) {
            about_uid1.push_back(t.got(1)[i]);
        }
    }
    EXPECT_TRUE(about_uid1.empty()) << about_uid1.front();
}

TEST(AsyncStore, EventsThatRaceAJoinAreDeliveredAfterTheJoinOk) {
    async::TwoNodes t;
    t.n1->on_open(t.now, 1, "a");
    t.n1->on_frame(t.now, 1, t.login("UID2"));
    t.settle();
    t.n2->on_open(t.now, 2, "b");
    proto::Login bare = t.login("UID1");
    bare.channels.clear();
    t.n2->on_frame(t.now, 2, bare);
    t.answer();
    t.n2->on_frame(t.now, 2, proto::Join{++t.request, "ch"});
    auto [id, result] = t.deferred->run_next();   // the join takes effect; its answer is on its way
    t.n1->on_frame(t.now, 1, t.to_channel("x"));  // after the join's snapshot
    t.settle();
    t.deferred->arrive("n2");  // the event overtakes the answer
    t.settle();
    EXPECT_EQ(t.got(2), std::vector<std::string>{"login_ok"});
    t.n2->on_store_result(t.now, id, std::move(result));
    t.settle();
    EXPECT_EQ(t.got(2), (std::vector<std::string>{"login_ok", "other", "message x"}));  // join_ok, then x
    t.n1->on_frame(t.now, 1, t.to_channel("y"));
    t.settle();
    t.deferred->arrive("n2");
    t.settle();
    EXPECT_EQ(t.got(2), (std::vector<std::string>{"login_ok", "other", "message x", "message y"}));
    EXPECT_TRUE(t.closed.empty());
}

// A peer message sent after a login took effect, whose event reaches the node before the login's answer, is delivered
// right after the LoginOk (it is not in the login's backfill, which was computed before it existed).
TEST(AsyncStore, APeerMessageThatRacesTheReceiversLoginIsDeliveredAfterTheLoginOk) {
    async::TwoNodes t;
    t.uid1_logging_in();
    auto [id, result] = t.deferred->run_next();  // UID1's login takes effect on node 2; its answer is on its way
    proto::SendMessage peer = t.to_channel("p1");
    peer.to_channel.reset();
    peer.to_user = "UID1";
    t.n1->on_frame(t.now, 1, peer);  // acknowledged to UID2 at once
    t.settle();
    t.deferred->arrive("n2");  // the peer event overtakes the answer
    t.settle();
    EXPECT_EQ(t.got(2), std::vector<std::string>{});
    t.n2->on_store_result(t.now, id, std::move(result));
    t.settle();
    EXPECT_EQ(t.got(2), (std::vector<std::string>{"login_ok", "message p1"}));
}

// Redis answers a command on one connection and publishes events on another, so a join's answer can reach the node
// before events published just before the join took effect. The joiner's snapshot has their effect, but the node's
// other members of the channel have not seen them: they must still get them (and the join). The node once moved
// its position in the channel to the joiner's snapshot, and dropped those events as seen for everybody: acknowledged
// channel messages lost silently (relink-soak --cluster, a user logging in while a message was on its way).
TEST(AsyncStore, AJoinAnsweredBeforeEarlierEventsArriveLosesNoneOfThemForTheNodesOtherMembers) {
    async::TwoNodes t;
    t.uid1_logging_in();
    t.answer();
    t.deferred->arrive("n2");
    t.settle();
    t.n2->on_open(t.now, 3, "c");
    t.n2->on_frame(t.now, 3, t.login("UID3"));    // queued in node 2's store
    t.n1->on_frame(t.now, 1, t.to_channel("m"));  // published before UID3's login takes effect
    t.settle();
    t.answer();  // UID3's login takes effect and is answered before "m" reaches node 2
    EXPECT_EQ(t.got(3), std::vector<std::string>{"login_ok"});
    t.deferred->arrive("n2");  // then "m" and "UID3 joined" arrive
    t.settle();
    EXPECT_EQ(t.got(2), (std::vector<std::string>{"login_ok", "message m", "joined UID3"}));
    EXPECT_EQ(t.got(3), std::vector<std::string>{"login_ok"});  // not a member when "m" was sent
    t.n1->on_frame(t.now, 1, t.to_channel("n"));
    t.settle();
    t.deferred->arrive("n2");
    t.settle();
    EXPECT_EQ(t.got(2), (std::vector<std::string>{"login_ok", "message m", "joined UID3", "message n"}));
    EXPECT_EQ(t.got(3), (std::vector<std::string>{"login_ok", "message n"}));
    EXPECT_TRUE(t.closed.empty());
    EXPECT_EQ(t.n2->metrics().event_gaps, 0U);
}

// A channel event that never reaches a node (its subscription was lost for a while) makes that node's members of
// the channel resume, silently, so they get what they missed as backfill instead of never.
TEST(AsyncStore, AMissedChannelEventMakesTheLocalMembersResumeAndBackfillBringsIt) {
    async::TwoNodes t;
    const std::string token = t.two_members();
    ASSERT_FALSE(token.empty());
    t.deferred->arrive("n2");
    t.settle();
    t.n1->on_frame(t.now, 1, t.to_channel("lost"));
    t.n1->on_frame(t.now, 1, t.to_channel("next"));
    t.settle();
    t.deferred->arrive("n2", {1});  // "lost" never arrives; "next" shows the gap
    t.settle();
    EXPECT_EQ(t.closed, std::set<server::ConnId>{2});  // closed without a Close message
    EXPECT_EQ(t.n2->metrics().event_gaps, 1U);
    ASSERT_EQ(t.deferred->queued(), 1U);  // the detach: UID1's presence counts down
    t.answer();
    t.now += 1s;
    t.n2->on_closed(t.now, 2);
    t.n2->on_open(t.now, 3, "b");
    proto::Login again = t.login("UID1", token);
    again.channels[0].last_seen = proto::StreamPosition{1, 0};
    t.n2->on_frame(t.now, 3, again);
    t.answer();
    EXPECT_EQ(t.got(3),
              (std::vector<std::string>{"login_ok resumed", "message lost backfilled", "message next backfilled"}));
    EXPECT_TRUE(t.got(1).size() >= 2U);
    for (const auto& line : t.got(1)) {
        EXPECT_EQ(line.rfind("left", 0), std::string::npos) << "peers saw nothing: " << line;
    }
}

}  // namespace
}  // namespace relink::test
