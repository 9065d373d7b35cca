// A deployment of several relinkd hubs sharing one in-memory store, on the virtual clock, with real client cores:
// every cross-node case of docs/cluster.md exactly (resume on another node, a node killed, a duplicate login across
// nodes with the kick-loop cool-down, a drain, admin kick and listings across nodes), peer messages to an away user
// (on one node and across nodes), resume tokens that survive a lost LoginOk, and what positions in a LoginOk mean.
#include <algorithm>

#include "core/harness.hpp"
#include "server/cluster_world.hpp"

namespace relink::test {
namespace {

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
                if (auto* send = std::get_if<server::SendMessage>(&*action)) {
                    sent.emplace_back(send->conn, send->message);
                }
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

}  // namespace
}  // namespace relink::test
