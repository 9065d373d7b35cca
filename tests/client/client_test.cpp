// relink::Client end to end: real clients against a real relinkd over loopback TLS, through the fault proxy, on
// compressed timings (time scale 0.1: the 4 s silence threshold is 400 ms). Real clocks: the tests assert the
// order of events and generous bounds, never exact milliseconds (exact times are the virtual-clock tests' job).
#include "relink/client.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client/client_harness.hpp"
#include "client/transport.hpp"
#include "faultproxy/fault_proxy.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;

TEST_F(ClientTest, TwoClientsLogInJoinAndTalk) {
    Recorder alice_events;
    Recorder bob_events;
    Client bob(config("bob", server_->port()));
    bob_events.attach(bob);
    Client alice(config("alice", server_->port()));
    alice_events.attach(alice);

    ASSERT_FALSE(bob.login());
    ASSERT_FALSE(bob.join("ch"));  // right after login(): queued behind it, not refused
    ASSERT_FALSE(alice.login());
    ASSERT_FALSE(alice.join("ch"));
    ASSERT_TRUE(bob_events.wait_state(ConnectionState::connected, ConnectionReason::login_success));
    ASSERT_TRUE(alice_events.wait_state(ConnectionState::connected, ConnectionReason::login_success));
    EXPECT_EQ(bob.connection_state(), ConnectionState::connected);

    std::promise<std::error_code> sent;
    ASSERT_FALSE(alice.send_channel_message("ch", "hello bob", [&](std::error_code e) { sent.set_value(e); }));
    auto result = sent.get_future();
    ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
    EXPECT_FALSE(result.get());
    const auto message = bob_events.wait_for<MessageReceived>();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->from, "alice");
    EXPECT_EQ(message->channel, std::optional<std::string>("ch"));
    EXPECT_EQ(message->payload, "hello bob");

    // Callbacks ran on the client's dispatcher thread, never on this one.
    for (const auto& entry : bob_events.snapshot()) {
        EXPECT_NE(entry.thread, std::this_thread::get_id());
    }
    // A call that cannot work now fails at once with a clear code.
    EXPECT_EQ(alice.login(), make_error_code(errc::already_logged_in));
    EXPECT_EQ(alice.send_channel_message("bad/name", "x"), make_error_code(errc::invalid_channel_name));
}

// Two instances of one user made with the same fixed seed (an app restarted with a fixed seed, a test), the second
// taking the session over: the server de-duplicates message ids per user session, so the second instance's sends
// must not reuse the first one's ids, or they are acknowledged and never delivered (found by the chaos soak).
TEST_F(ClientTest, InstancesWithTheSameSeedNeverShareMessageIds) {
    Recorder bob_events;
    Client bob(config("bob", server_->port()));
    bob_events.attach(bob);
    ASSERT_FALSE(bob.login());
    ASSERT_TRUE(bob_events.wait_state(ConnectionState::connected, ConnectionReason::login_success));
    ClientConfig same_seed = config("alice", server_->port());
    same_seed.seed = 42;
    std::vector<std::unique_ptr<Recorder>> recorders;  // outlive the clients that call them
    std::vector<std::unique_ptr<Client>> instances;
    for (const char* text : {"from the first instance", "from the second instance"}) {
        instances.push_back(std::make_unique<Client>(same_seed));
        Client& alice = *instances.back();
        Recorder& alice_events = *recorders.emplace_back(std::make_unique<Recorder>());
        alice_events.attach(alice);
        ASSERT_FALSE(alice.login());  // the second one displaces the first (REMOTE_LOGIN), same session on the server
        ASSERT_TRUE(alice_events.wait_state(ConnectionState::connected, ConnectionReason::login_success));
        std::promise<std::error_code> sent;
        ASSERT_FALSE(alice.send_peer_message("bob", text, [&](std::error_code e) { sent.set_value(e); }));
        auto result = sent.get_future();
        ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
        EXPECT_FALSE(result.get());
    }
    ASSERT_TRUE(bob_events.wait_count<MessageReceived>(2)) << bob_events.dump();
    const auto messages = bob_events.all<MessageReceived>();
    ASSERT_EQ(messages.size(), 2U);
    EXPECT_EQ(messages[0].payload, "from the first instance");
    EXPECT_EQ(messages[1].payload, "from the second instance");
}

// A child process the app starts while logged in inherits none of the client's sockets (Asio opens them without
// SOCK_CLOEXEC; found by the chaos soak, whose relinkd held the clients' connections open).
TEST_F(ClientTest, AChildProcessInheritsNoneOfItsSockets) {
    Recorder events;
    Client client(config("alice", server_->port()));
    events.attach(client);
    ASSERT_FALSE(client.login());
    ASSERT_TRUE(events.wait_state(ConnectionState::connected, ConnectionReason::login_success));
    FILE* child = ::popen("find /proc/self/fd -lname 'socket:*' 2>/dev/null | wc -l", "r");
    ASSERT_NE(child, nullptr);
    std::array<char, 64> out{};
    const std::size_t n = std::fread(out.data(), 1, out.size() - 1, child);
    ASSERT_EQ(::pclose(child), 0);
    EXPECT_EQ(std::atoi(std::string(out.data(), n).c_str()), 0) << "sockets inherited by a child process";
}

TEST_F(ClientTest, ASilentLinkGoesReconnectingAndComesBack) {
    faultproxy::FaultProxy proxy("127.0.0.1", server_->port());
    Recorder events;
    Client client(config("carol", proxy.port()));
    events.attach(client);
    ASSERT_FALSE(client.login());
    ASSERT_TRUE(events.wait_state(ConnectionState::connected, ConnectionReason::login_success));

    proxy.set_mode(faultproxy::Mode::blackhole);  // packets dropped, nothing closed
    const auto broke = Clock::now();
    const auto interrupted = events.wait_state(ConnectionState::reconnecting, ConnectionReason::interrupted);
    ASSERT_TRUE(interrupted) << "no RECONNECTING INTERRUPTED";
    const auto log = events.snapshot();
    const auto after = log[*interrupted].at - broke;
    // 4 s × 0.1 after the last data received. That was a heartbeat answer shortly before the break (every 100 ms
    // when idle, later on a loaded machine), so only a loose lower bound holds on a real clock: not at once.
    EXPECT_GE(after, 100ms);
    EXPECT_LE(after, 5s);

    proxy.set_mode(faultproxy::Mode::pass);
    const auto back = events.wait_state(ConnectionState::connected, ConnectionReason::login_success, *interrupted);
    ASSERT_TRUE(back) << "not CONNECTED again";
    const auto continuity = events.wait_for<ContinuityReport>();
    ASSERT_TRUE(continuity);
    EXPECT_TRUE(continuity->resumed);  // within relinkd's 30 s presence: peers saw nothing
}

TEST_F(ClientTest, AResetRepairedWithinTheThresholdShowsNoStateChange) {
    faultproxy::FaultProxy proxy("127.0.0.1", server_->port());
    Recorder events;
    ClientConfig c = config("frank", proxy.port());
    c.time_scale = 1.0;  // the full 4 s threshold: a loaded machine's reconnect (~0.3 s) stays far inside it
    Client client(c);
    events.attach(client);
    ASSERT_FALSE(client.login());
    const auto connected = events.wait_state(ConnectionState::connected, ConnectionReason::login_success);
    ASSERT_TRUE(connected);
    proxy.reset_all();  // the transport fails outright; the client reconnects after its first backoff (300 ms ± 20 %)
    const auto continuity = events.wait_for<ContinuityReport>();
    ASSERT_TRUE(continuity) << "no reconnect after the reset";
    EXPECT_TRUE(continuity->resumed);
    // Well within 4 s of silence: no RECONNECTING (or any other change) was shown.
    for (const auto& entry : events.snapshot()) {
        if (const auto* e = std::get_if<ConnectionStateChanged>(&entry.event)) {
            EXPECT_NE(e->state, ConnectionState::reconnecting) << "a repaired reset must be invisible";
        }
    }
    EXPECT_EQ(client.connection_state(), ConnectionState::connected);
}

// A client keeps its TLS context (its trust store, loaded) while it lives: a reconnect through an outage, refused at
// every attempt until the server is back, loads it no more; only the first connection did.
TEST_F(ClientTest, ReconnectsThroughAnOutageLoadTheTrustStoreOnce) {
    faultproxy::FaultProxy proxy("127.0.0.1", server_->port());
    Recorder events;
    const std::uint64_t before = client::tls_contexts_made();
    Client client(config("grace", proxy.port()));
    events.attach(client);
    ASSERT_FALSE(client.login());
    ASSERT_TRUE(events.wait_state(ConnectionState::connected, ConnectionReason::login_success));
    EXPECT_EQ(client::tls_contexts_made() - before, 1U);

    proxy.set_mode(faultproxy::Mode::refuse);  // the server is gone: every new connection is refused
    proxy.reset_all();                         // and the link with it
    ASSERT_TRUE(events.wait_count<AttemptFailed>(
        3, [](const AttemptFailed& e) { return e.cause == AttemptFailure::refused; }, 10s))
        << events.dump();
    proxy.set_mode(faultproxy::Mode::pass);  // back
    ASSERT_TRUE(events.wait_for<ContinuityReport>()) << "no reconnect once the server is back\n" << events.dump();
    EXPECT_EQ(client::tls_contexts_made() - before, 1U) << events.dump();
}

// A network change probes the link (one heartbeat at once): a link that answers stays, with no state change.
TEST_F(ClientTest, NetworkChangeOnALiveLinkKeepsIt) {
    Recorder events;
    Client client(config("gina", server_->port()));
    events.attach(client);
    ASSERT_FALSE(client.login());
    const auto connected = events.wait_state(ConnectionState::connected, ConnectionReason::login_success);
    ASSERT_TRUE(connected);
    ASSERT_TRUE(events.wait_for<LinkQualityChanged>()) << "the first heartbeat's round trip is reported";
    const std::uint64_t before = client.link_quality().rtt_samples;
    client.notify_network_changed();
    // The probe's answer comes within a round trip on loopback; the next heartbeat would be 100 ms later.
    const auto deadline = Clock::now() + 5s;
    while (client.link_quality().rtt_samples == before && Clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);  // a read-only poll: no event reports a sample that changes nothing
    }
    EXPECT_GT(client.link_quality().rtt_samples, before);
    EXPECT_EQ(client.connection_state(), ConnectionState::connected);
    EXPECT_FALSE(events.wait_state(ConnectionState::reconnecting, std::nullopt, *connected, 500ms))
        << "no state change";
}

// A dead link after the hint is found by the probe, before the silence detector: RECONNECTING
// CLIENT_IP_ADDRESS_CHANGED, and a new attempt at once (no backoff).
TEST_F(ClientTest, NetworkChangeOnADeadLinkReconnectsAtOnceWithItsReason) {
    faultproxy::FaultProxy proxy("127.0.0.1", server_->port());
    Recorder events;
    Client client(config("gina", proxy.port()));
    events.attach(client);
    ASSERT_FALSE(client.login());
    const auto connected = events.wait_state(ConnectionState::connected, ConnectionReason::login_success);
    ASSERT_TRUE(connected);
    proxy.set_mode(faultproxy::Mode::blackhole);
    client.notify_network_changed();
    const auto changed =
        events.wait_state(ConnectionState::reconnecting, ConnectionReason::client_ip_address_changed, *connected);
    ASSERT_TRUE(changed) << "the probe found the dead link (not the silence detector: INTERRUPTED)";
    proxy.set_mode(faultproxy::Mode::pass);
    const auto back = events.wait_state(ConnectionState::connected, ConnectionReason::login_success, *changed);
    ASSERT_TRUE(back);
    const auto log = events.snapshot();
    EXPECT_LT(log[*back].at - log[*changed].at, 5s);  // at once: no backoff delay before the attempt
}

// The round-trip time is what the path adds: 2 × the proxy's one-way delay, plus loopback and scheduling. (20 ms:
// the round trip stays below the heartbeat interval, 100 ms at the tests' time scale, or it would count as missed.)
TEST_F(ClientTest, LinkQualityMeasuresTheRoundTripOfThePath) {
    faultproxy::FaultProxy proxy("127.0.0.1", server_->port());
    proxy.set_delay(20ms);
    Recorder events;
    Client client(config("hana", proxy.port()));
    events.attach(client);
    EXPECT_EQ(client.link_quality().rtt_samples, 0U);
    EXPECT_FALSE(client.link_quality().since_last_data);
    ASSERT_FALSE(client.login());
    ASSERT_TRUE(events.wait_state(ConnectionState::connected, ConnectionReason::login_success));
    const auto report =
        events.wait_for<LinkQualityChanged>(10s, [](const LinkQualityChanged& e) { return e.quality.rtt_samples > 0; });
    ASSERT_TRUE(report) << "the first round trip is reported";
    EXPECT_TRUE(report->quality.up);
    EXPECT_GE(report->quality.rtt, 40ms);
    EXPECT_LT(report->quality.rtt, 400ms);  // generous: a loaded machine
    const LinkQuality now = client.link_quality();
    EXPECT_GE(now.rtt_samples, 1U);
    ASSERT_TRUE(now.since_last_data);
    EXPECT_LT(*now.since_last_data, 5s);
}

TEST_F(ClientTest, CallbacksMayCallTheClientAndThrowWithoutHarm) {
    Recorder events;
    Client client(config("dave", server_->port()));
    events.attach(client);
    std::atomic<int> calls{0};
    client.on_connection_state_changed([&](const ConnectionStateChanged& e) {
        ++calls;
        if (e.state == ConnectionState::connected) {
            EXPECT_FALSE(client.join("from-callback"));  // no deadlock: it only posts
            throw std::runtime_error("an app bug");      // caught, logged, dropped
        }
    });
    ASSERT_FALSE(client.login());
    ASSERT_TRUE(events.wait_state(ConnectionState::connected, std::nullopt));
    const auto joined = events.wait_for<ChannelStateChanged>(10s, [](const ChannelStateChanged& e) {
        return e.channel == "from-callback" && e.state == ChannelState::connected;
    });
    EXPECT_TRUE(joined) << "the join made from inside a callback did not complete";
    EXPECT_EQ(client.channel_state("from-callback"), ChannelState::connected);
    EXPECT_GE(calls.load(), 2);
}

TEST_F(ClientTest, TheDestructorIsBoundedAndNoCallbackRunsAfterIt) {
    std::atomic<bool> destroyed{false};
    std::atomic<int> late{0};
    {
        auto client = std::make_unique<Client>(config("erin", server_->port()));
        client->on_event([&](const Event&) {
            if (destroyed) {
                ++late;
            }
        });
        ASSERT_FALSE(client->login());
        const auto start = Clock::now();
        client.reset();
        destroyed = true;
        EXPECT_LT(Clock::now() - start, 5s);
    }
    std::this_thread::sleep_for(200ms);  // give a stray callback the chance to show itself
    EXPECT_EQ(late.load(), 0);
}

}  // namespace
}  // namespace relink::test
