// A C++17 app test built against the installed relink package's test kit (find_package(relink COMPONENTS
// testing), relink::testing; see tests/package/run.sh), without GoogleTest: it returns non-zero if a check fails.
// A relink::Client made by relink::testing::World logs in, loses its network, reconnects and is kicked, each at
// its exact virtual time, with its callbacks running on this thread inside advance().
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <relink/client.hpp>
#include <relink/testing.hpp>
#include <relink/types.hpp>

int main() {
    using namespace std::chrono_literals;
    int failures = 0;
    const auto check = [&failures](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "package testing consumer: FAILED: %s\n", what);
            ++failures;
        }
    };

    relink::testing::World world;
    relink::ClientConfig config;
    config.user_id = "alice";
    std::unique_ptr<relink::Client> client = world.make_client(config);
    std::vector<std::string> changes;
    bool on_this_thread = true;
    const auto test_thread = std::this_thread::get_id();
    client->on_connection_state_changed([&](const relink::ConnectionStateChanged& e) {
        changes.push_back(std::string(relink::to_string(e.state)) + " " + std::string(relink::to_string(e.reason)));
        on_this_thread = on_this_thread && std::this_thread::get_id() == test_thread;
    });

    check(!client->login(), "login() is accepted");
    check(changes.empty(), "no callback runs inside a call");
    world.advance(1s);
    check(client->connection_state() == relink::ConnectionState::connected, "CONNECTED after 1 s of virtual time");
    world.blackhole();
    world.advance(5s);
    check(client->connection_state() == relink::ConnectionState::reconnecting, "RECONNECTING on a dead network");
    world.restore();
    check(world.advance_until([&] { return client->connection_state() == relink::ConnectionState::connected; }, 30s),
          "CONNECTED again once the network is back");
    world.kick("alice");
    world.advance(1s);
    check(client->connection_state() == relink::ConnectionState::aborted, "ABORTED when kicked");
    const std::vector<std::string> want{"CONNECTING LOGIN", "CONNECTED LOGIN_SUCCESS", "RECONNECTING INTERRUPTED",
                                        "CONNECTED LOGIN_SUCCESS", "ABORTED BANNED_BY_SERVER"};
    check(changes == want, "the callbacks saw every change, in order");
    check(on_this_thread, "the callbacks ran on the test's thread");
    client.reset();
    std::printf("package testing consumer: %zu changes in %lld ms of virtual time, %s\n", changes.size(),
                static_cast<long long>(world.now().count()), failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
