// The test kit (relink/testing.hpp): production relink::Client objects on relink::testing::World's virtual clock,
// through its network faults and server actions, with the callbacks running inside advance() on the test's thread.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "relink/testing.hpp"

namespace relink {
namespace {

using namespace std::chrono_literals;
using testing::World;

/// Every connection state change of a client, as "STATE REASON" at its virtual time.
struct StateLog {
    explicit StateLog(Client& client, const World& world) {
        client.on_connection_state_changed([this, &world](const ConnectionStateChanged& e) {
            changes.push_back(std::string(to_string(e.state)) + " " + std::string(to_string(e.reason)));
            times.push_back(world.now());
            threads.push_back(std::this_thread::get_id());
        });
    }
    std::vector<std::string> changes;
    std::vector<std::chrono::milliseconds> times;
    std::vector<std::thread::id> threads;
};

ClientConfig config_for(const std::string& user) {
    ClientConfig config;
    config.user_id = user;
    config.seed = 7;
    return config;
}

TEST(TestingWorld, LoginRunsOnTheVirtualClockAndCallbacksRunInsideAdvance) {
    World world;
    auto client = world.make_client(config_for("alice"));
    StateLog log(*client, world);
    ASSERT_FALSE(client->login());
    EXPECT_EQ(client->connection_state(), ConnectionState::connecting);  // the core's answer, at once
    EXPECT_TRUE(log.changes.empty());                                    // callbacks never run inside a call
    world.advance(1s);
    ASSERT_EQ(log.changes, (std::vector<std::string>{"CONNECTING LOGIN", "CONNECTED LOGIN_SUCCESS"}));
    EXPECT_EQ(log.times[0], 0ms);
    // Connection (2 × 50 ms) and login round trip (2 × 50 ms) on the default latency, exactly.
    EXPECT_EQ(log.times[1], 200ms);
    EXPECT_EQ(log.threads[1], std::this_thread::get_id());
    EXPECT_EQ(world.now(), 1000ms);
}

/// A client of `world` logged in (CONNECTED), with its state log.
struct Online {
    Online(World& world, const std::string& user, ClientConfig config = {}) {
        config.user_id = user;
        config.seed = 7;
        client = world.make_client(std::move(config));
        log = std::make_unique<StateLog>(*client, world);
        EXPECT_FALSE(client->login());
        EXPECT_TRUE(world.advance_until([&] { return client->connection_state() == ConnectionState::connected; }, 1s));
        log->changes.clear();
        log->times.clear();
    }
    std::unique_ptr<Client> client;
    std::unique_ptr<StateLog> log;
};

TEST(TestingWorld, BlackholeIsNoticedByTheSilenceTimerAndRestoreReconnects) {
    World world;
    Online alice(world, "alice");
    const auto cut = world.now();
    world.blackhole();
    world.advance(10s);
    ASSERT_EQ(alice.log->changes, std::vector<std::string>{"RECONNECTING INTERRUPTED"});
    // The silence timer runs from the last data received (a heartbeat answer at most 1 s + 100 ms before the cut).
    EXPECT_GT(alice.log->times[0], cut + 2800ms);
    EXPECT_LE(alice.log->times[0], cut + 4000ms);
    world.restore();
    ASSERT_TRUE(
        world.advance_until([&] { return alice.client->connection_state() == ConnectionState::connected; }, 30s));
    EXPECT_EQ(alice.log->changes.back(), "CONNECTED LOGIN_SUCCESS");
}

TEST(TestingWorld, ResetReconnectsWithoutAVisibleChangeAndReportsTheContinuity) {
    World world;
    Online alice(world, "alice");
    std::vector<ContinuityReport> reports;
    alice.client->on_continuity([&](const ContinuityReport& r) { reports.push_back(r); });
    world.reset();
    world.advance(5s);
    EXPECT_TRUE(alice.log->changes.empty());
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].resumed);
    EXPECT_FALSE(reports[0].server_restarted);
}

TEST(TestingWorld, LatencyShapesEveryRoundTrip) {
    World world;
    world.set_latency(500ms);
    auto client = world.make_client(config_for("alice"));
    StateLog log(*client, world);
    ASSERT_FALSE(client->login());
    world.advance(3s);
    ASSERT_EQ(log.changes.size(), 2U);
    EXPECT_EQ(log.times[1], 2000ms);  // connection 2 × 500 ms, login round trip 2 × 500 ms
}

TEST(TestingWorld, ARefusedNetworkFailsTheFirstLoginAtItsTimeout) {
    World world;
    world.set_network(testing::Network::refused);
    auto client = world.make_client(config_for("alice"));
    StateLog log(*client, world);
    std::vector<AttemptFailure> causes;
    client->on_attempt_failed([&](const AttemptFailed& e) { causes.push_back(e.cause); });
    ASSERT_FALSE(client->login());
    world.advance(13s);
    ASSERT_EQ(log.changes, (std::vector<std::string>{"CONNECTING LOGIN", "DISCONNECTED LOGIN_TIMEOUT"}));
    EXPECT_EQ(log.times[1], 12000ms);
    ASSERT_FALSE(causes.empty());
    EXPECT_EQ(causes.front(), AttemptFailure::refused);
}

TEST(TestingWorld, KickAbortsAndABanRefusesTheNextLogin) {
    World world;
    Online alice(world, "alice");
    world.kick("alice", /*ban=*/true);
    world.advance(1s);
    ASSERT_EQ(alice.log->changes, std::vector<std::string>{"ABORTED BANNED_BY_SERVER"});
    ASSERT_FALSE(alice.client->logout());
    ASSERT_FALSE(alice.client->login());
    world.advance(1s);
    EXPECT_EQ(alice.log->changes.back(), "ABORTED BANNED_BY_SERVER");
}

TEST(TestingWorld, AShortLivedTokenWarnsThenExpiresAndARenewedOneReconnectsAfterABlip) {
    World world;
    ClientConfig config;
    config.token = world.token_valid_for(60s);
    Online alice(world, "alice", config);
    int warnings = 0;
    int expiries = 0;
    alice.client->on_token_privilege_will_expire([&](const TokenPrivilegeWillExpire&) { ++warnings; });
    alice.client->on_token_expired([&](const TokenExpired&) { ++expiries; });
    world.advance(35s);
    EXPECT_EQ(warnings, 1);
    EXPECT_EQ(expiries, 0);
    world.advance(25s);
    EXPECT_EQ(expiries, 1);
    // rtm: the session outlives its token, but a reconnect needs a valid one. After a blip the SDK keeps trying
    // with the expired token (refused), shows the outage after the silence threshold, and waits for a new token.
    EXPECT_EQ(alice.client->connection_state(), ConnectionState::connected);
    world.reset();
    // Each refusal is an answer from the server: the silence threshold runs from the last one.
    ASSERT_TRUE(
        world.advance_until([&] { return alice.client->connection_state() == ConnectionState::reconnecting; }, 30s));
    EXPECT_EQ(alice.log->changes, std::vector<std::string>{"RECONNECTING INTERRUPTED"});
    ASSERT_FALSE(alice.client->renew_token(world.token_valid_for(1h)));
    ASSERT_TRUE(
        world.advance_until([&] { return alice.client->connection_state() == ConnectionState::connected; }, 10s));
    EXPECT_NE(std::find(alice.log->changes.begin(), alice.log->changes.end(), "RECONNECTING RENEW_TOKEN"),
              alice.log->changes.end());
}

TEST(TestingWorld, ARestartedServerLosesTheSessionAndTheClientLogsInAgain) {
    World world;
    Online alice(world, "alice");
    std::vector<ContinuityReport> reports;
    alice.client->on_continuity([&](const ContinuityReport& r) { reports.push_back(r); });
    world.restart_server();
    world.advance(10s);
    EXPECT_EQ(alice.client->connection_state(), ConnectionState::connected);
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_FALSE(reports[0].resumed);
    EXPECT_TRUE(reports[0].server_restarted);
}

TEST(TestingWorld, ADrainBringsTheClientToTheReplacementWithinTheWindowWithoutAVisibleChange) {
    World world;
    Online alice(world, "alice");
    std::vector<ContinuityReport> reports;
    alice.client->on_continuity([&](const ContinuityReport& r) { reports.push_back(r); });
    world.drain(2s);
    world.advance(3s);
    EXPECT_TRUE(alice.log->changes.empty());
    EXPECT_EQ(alice.client->connection_state(), ConnectionState::connected);
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_FALSE(reports[0].resumed);  // the replacement has none of the old sessions
}

TEST(TestingWorld, RefusedLoginsEndTheFirstLoginWithTheServersReason) {
    World world;
    world.refuse_logins("alice", make_error_code(errc::rejected_by_server));
    auto client = world.make_client(config_for("alice"));
    StateLog log(*client, world);
    ASSERT_FALSE(client->login());
    world.advance(1s);
    EXPECT_EQ(log.changes.back(), "FAILED REJECTED_BY_SERVER");
    world.refuse_logins("alice", {});
    ASSERT_FALSE(client->logout());
    ASSERT_FALSE(client->login());
    world.advance(1s);
    EXPECT_EQ(log.changes.back(), "CONNECTED LOGIN_SUCCESS");
}

TEST(TestingWorld, TokensAndAppIdsAreCheckedAsByARealServer) {
    World world;
    ClientConfig invalid = config_for("alice");
    invalid.token = World::invalid_token();
    auto a = world.make_client(invalid);
    ClientConfig expired = config_for("bob");
    expired.token = World::expired_token();
    auto b = world.make_client(expired);
    ClientConfig other_app = config_for("carol");
    other_app.app_id = "another-app";
    auto c = world.make_client(other_app);
    StateLog la(*a, world);
    StateLog lb(*b, world);
    StateLog lc(*c, world);
    for (auto* client : {a.get(), b.get(), c.get()}) {
        ASSERT_FALSE(client->login());
    }
    world.advance(1s);
    EXPECT_EQ(la.changes.back(), "DISCONNECTED INVALID_TOKEN");
    EXPECT_EQ(lb.changes.back(), "DISCONNECTED LOGIN_FAILURE");
    EXPECT_EQ(lc.changes.back(), "FAILED INVALID_APP_ID");
}

TEST(TestingWorld, TwoClientsTalkAndSeeEachOtherThroughTheServer) {
    World world;
    Online alice(world, "alice");
    Online bob(world, "bob");
    std::vector<std::string> bob_got;
    std::vector<std::string> alice_saw_left;
    bob.client->on_message([&](const MessageReceived& m) { bob_got.push_back(m.payload); });
    alice.client->on_member_left([&](const MemberLeft& m) { alice_saw_left.push_back(m.user_id); });
    ASSERT_FALSE(alice.client->join("lobby"));
    ASSERT_FALSE(bob.client->join("lobby"));
    ASSERT_TRUE(world.run_until_idle());
    EXPECT_EQ(world.members("lobby"), (std::set<std::string>{"alice", "bob"}));
    std::error_code delivered = make_error_code(errc::send_timeout);
    ASSERT_FALSE(alice.client->send_peer_message("bob", "hi", [&](std::error_code e) { delivered = e; }));
    ASSERT_TRUE(world.run_until_idle());
    EXPECT_EQ(bob_got, std::vector<std::string>{"hi"});
    EXPECT_FALSE(delivered);
    bob.client.reset();  // logs out: the goodbye goes over the simulated network
    ASSERT_TRUE(world.run_until_idle());
    EXPECT_EQ(alice_saw_left, std::vector<std::string>{"bob"});
    EXPECT_EQ(world.members("lobby"), std::set<std::string>{"alice"});
}

TEST(TestingWorld, AClientMayBeDestroyedInsideItsCallbackAndMayOutliveItsWorld) {
    std::unique_ptr<Client> outlives;
    {
        World world;
        auto client = world.make_client(config_for("alice"));
        client->on_connection_state_changed([&](const ConnectionStateChanged& e) {
            if (e.state == ConnectionState::connected) {
                client.reset();
            }
        });
        ASSERT_FALSE(client->login());
        world.advance(1s);
        EXPECT_EQ(client, nullptr);
        outlives = world.make_client(config_for("bob"));
        ASSERT_FALSE(outlives->login());
        world.advance(1s);
    }
    EXPECT_EQ(outlives->connection_state(), ConnectionState::connected);
    EXPECT_FALSE(outlives->logout());
    outlives.reset();
}

TEST(TestingWorld, AnotherWorldsClientIsNamedInTheError) {
    World world;
    World other;
    auto client = other.make_client(config_for("alice"));
    EXPECT_THROW(world.reset(*client), std::invalid_argument);
}

TEST(TestingWorld, AServerThatStopsHearingTheClientClosesWithKeepAliveTimeout) {
    testing::WorldOptions options;
    options.keep_alive_timeout = 3s;
    World world(options);
    Online alice(world, "alice");
    world.set_network(testing::Network::outbound_lost);
    ASSERT_TRUE(
        world.advance_until([&] { return alice.client->connection_state() == ConnectionState::reconnecting; }, 5s));
    world.restore();  // the reconnect opened at once still hangs; the next attempt gets through
    ASSERT_TRUE(
        world.advance_until([&] { return alice.client->connection_state() == ConnectionState::connected; }, 10s));
    EXPECT_EQ(alice.log->changes,
              (std::vector<std::string>{"RECONNECTING KEEP_ALIVE_TIMEOUT", "CONNECTED LOGIN_SUCCESS"}));
}

TEST(TestingWorld, APeerThatStaysAwayIsSeenToDropAndMessagesToAnOutageAreBackfilled) {
    World world;
    Online alice(world, "alice");
    Online bob(world, "bob");
    std::vector<MessageReceived> bob_got;
    std::vector<MemberLeft> alice_saw_left;
    bob.client->on_message([&](const MessageReceived& m) { bob_got.push_back(m); });
    alice.client->on_member_left([&](const MemberLeft& m) { alice_saw_left.push_back(m); });
    ASSERT_FALSE(alice.client->join("lobby"));
    ASSERT_FALSE(bob.client->join("lobby"));
    ASSERT_TRUE(world.run_until_idle());

    // Bob's network dies for 10 s: the server keeps his session; a message to him waits for his return.
    world.set_network(*bob.client, testing::Network::blackhole);
    world.advance(5s);
    EXPECT_EQ(bob.client->connection_state(), ConnectionState::reconnecting);
    std::error_code delivered = make_error_code(errc::send_timeout);
    ASSERT_FALSE(
        alice.client->send_peer_message("bob", "while you were away", [&](std::error_code e) { delivered = e; }));
    world.advance(5s);
    world.set_network(*bob.client, testing::Network::up);
    ASSERT_TRUE(world.advance_until([&] { return !bob_got.empty(); }, 30s));
    EXPECT_FALSE(delivered);
    EXPECT_EQ(bob_got[0].payload, "while you were away");
    EXPECT_TRUE(bob_got[0].backfilled);
    EXPECT_TRUE(alice_saw_left.empty());

    // Then he stays away past the presence timeout (30 s in rtm): alice sees him drop.
    world.set_network(*bob.client, testing::Network::blackhole);
    ASSERT_TRUE(world.advance_until([&] { return !alice_saw_left.empty(); }, 60s));
    EXPECT_EQ(alice_saw_left[0].user_id, "bob");
    EXPECT_EQ(alice_saw_left[0].cause, MemberLeftCause::dropped);
}

TEST(TestingWorld, TheRtcTimelineOfTwentyMinutesRunsInMilliseconds) {
    World world;
    ClientConfig config = config_for("alice");
    config.profile = Profile::rtc;
    auto client = world.make_client(config);
    StateLog log(*client, world);
    int lost = 0;
    client->on_connection_lost([&](const ConnectionLost&) { ++lost; });
    ASSERT_FALSE(client->join("room"));
    world.advance(1s);
    ASSERT_EQ(client->connection_state(), ConnectionState::connected);
    const auto start = std::chrono::steady_clock::now();
    world.blackhole();
    world.advance(25min);
    const auto real = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(log.changes,
              (std::vector<std::string>{"CONNECTING CONNECTING", "CONNECTED JOIN_SUCCESS", "RECONNECTING INTERRUPTED",
                                        "RECONNECTING LOST", "FAILED JOIN_FAILED"}));
    ASSERT_EQ(log.times.size(), 5U);
    EXPECT_EQ(log.times[3] - log.times[2], 10s);    // LOST 10 s into the outage
    EXPECT_EQ(log.times[4] - log.times[2], 20min);  // the give-up
    EXPECT_EQ(lost, 1);
    EXPECT_LT(real, 2s);  // on a virtual clock (about 10 ms here; generous for a loaded machine)
}

TEST(TestingWorld, StatusIsComputedForTheVirtualNow) {
    World world;
    Online alice(world, "alice");
    world.blackhole();
    ASSERT_TRUE(
        world.advance_until([&] { return alice.client->connection_state() == ConnectionState::reconnecting; }, 10s));
    world.advance(1500ms);
    const ConnectionStatus status = alice.client->status();
    EXPECT_EQ(status.state, ConnectionState::reconnecting);
    EXPECT_EQ(status.in_state, 1500ms);
    EXPECT_GE(status.attempt, 1U);
}

TEST(TestingWorld, TheTokenProviderIsAskedOnTheTestsThreadAndKeepsTheSessionGoing) {
    World world;
    ClientConfig config;
    config.token = world.token_valid_for(40s);
    int asked = 0;
    config.token_provider = [&] {
        ++asked;
        return world.token_valid_for(1h);
    };
    Online alice(world, "alice", config);
    world.advance(45s);  // expired: an rtm session goes on ...
    world.reset();       // ... until a reconnect needs a token: the provider gives one, the reconnect is silent
    world.advance(5s);
    EXPECT_GE(asked, 1);
    EXPECT_TRUE(alice.log->changes.empty());
    EXPECT_EQ(alice.client->connection_state(), ConnectionState::connected);
}

/// How many entries a /proc/self directory has (threads: task, open files and sockets: fd).
std::size_t entries(const char* directory) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory)) {
        ++n;
    }
    return n;
}

TEST(TestingWorld, ClientsOfAWorldOpenNoThreadAndNoFileOrSocket) {
    const std::size_t threads = entries("/proc/self/task");
    const std::size_t files = entries("/proc/self/fd");
    World world;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 20; ++i) {
        clients.push_back(world.make_client(config_for("user" + std::to_string(i))));
        ASSERT_FALSE(clients.back()->login());
    }
    world.advance(10s);
    EXPECT_EQ(clients.back()->connection_state(), ConnectionState::connected);
    EXPECT_EQ(entries("/proc/self/task"), threads);
    EXPECT_EQ(entries("/proc/self/fd"), files);
}

TEST(TestingWorld, GoogleTestPrintsStatesAndReasonsByName) {
    EXPECT_EQ(::testing::PrintToString(ConnectionState::reconnecting), "RECONNECTING");
    EXPECT_EQ(::testing::PrintToString(ConnectionReason::keep_alive_timeout), "KEEP_ALIVE_TIMEOUT");
    EXPECT_EQ(::testing::PrintToString(ChannelState::connected), "CONNECTED");
    EXPECT_EQ(::testing::PrintToString(ChannelReason::rejoined), "REJOINED");
    EXPECT_EQ(::testing::PrintToString(MemberLeftCause::dropped), "DROPPED");
    EXPECT_EQ(::testing::PrintToString(AttemptFailure::refused), "REFUSED");
    EXPECT_EQ(::testing::PrintToString(Profile::rtc_web), "rtc-web");
}

}  // namespace
}  // namespace relink
