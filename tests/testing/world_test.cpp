// The test kit (relink/testing.hpp): production relink::Client objects on relink::testing::World's virtual clock,
// through its network faults and server actions, with the callbacks running inside advance() on the test's thread.
#include <chrono>
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

}  // namespace
}  // namespace relink
