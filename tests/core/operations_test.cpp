// The outbound queue and message delivery (behaviour.md section 4, R-RTM-1…7) on the virtual clock: every send
// completes exactly once, sends made while the link is down are kept and re-sent with the same client message id,
// the server de-duplicates, and nothing is lost silently.
//
// Set-up: rtm, one-way latency 50 ms; UID2 logs in at 0 ms and joins "ch"; UID1 logs in at 1000 ms and joins "ch"
// (JOINED at 1300 ms).
#include "harness.hpp"

namespace relink::test {
namespace {

class Operations : public ::testing::Test {
protected:
    explicit Operations(sim::HubServerConfig server = {}, std::size_t queue_bound = 1024) : world(std::move(server)) {
        auto uid1 = exact_config(Profile::rtm, 1);
        uid1.max_queued_operations = queue_bound;
        world.add_client("UID2", exact_config(Profile::rtm, 2));
        world.add_client("UID1", uid1);
    }

    void SetUp() override {
        login_and_join(world, "UID2", "ch");
        world.run_until(at_ms(1000));
        login_and_join(world, "UID1", "ch");
    }

    core::OpResult say(const std::string& who, const std::string& text) {
        return world.call(who,
                          [&](core::ClientCore& c, TimePoint now) { return c.send_channel_message(now, "ch", text); });
    }
    core::OpResult tell(const std::string& who, const std::string& to, const std::string& text, bool store = false) {
        return world.call(
            who, [&](core::ClientCore& c, TimePoint now) { return c.send_peer_message(now, to, text, store); });
    }

    /// Completions of a client: "<ms> <op> <error name>".
    [[nodiscard]] std::vector<std::string> completions(const std::string& who) const {
        std::vector<std::string> out;
        for (const auto& [at, e] : events_of<core::OperationCompleted>(world, who)) {
            out.push_back(ms_text(at) + " " + std::to_string(e.op) + " " + error_name(e.error));
        }
        return out;
    }
    /// Messages a client received: "<text>[ backfilled]".
    [[nodiscard]] std::vector<std::string> received(const std::string& who) const {
        std::vector<std::string> out;
        for (const auto& [at, e] : events_of<core::MessageReceived>(world, who)) {
            out.push_back(e.payload + (e.backfilled ? " backfilled" : ""));
        }
        return out;
    }

    World world;
};

TEST_F(Operations, SendCompletesWhenTheServerAcknowledges) {
    world.run_until(at_ms(2000));
    const auto op = say("UID1", "hello");
    ASSERT_TRUE(op);
    world.run_until(at_ms(3000));
    EXPECT_EQ(completions("UID1"), std::vector<std::string>{"2100 " + std::to_string(op.op) + " OK"});
    EXPECT_EQ(received("UID2"), std::vector<std::string>{"hello"});
    const auto messages = events_of<core::MessageReceived>(world, "UID2");
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_EQ(messages[0].first, at_ms(2100));
    EXPECT_EQ(messages[0].second.from, "UID1");
    EXPECT_FALSE(messages[0].second.message_id.empty());
}

TEST_F(Operations, SendsWhileReconnectingAreQueuedAndSentOnceAfterTheReconnect) {
    world.run_until(at_ms(10'000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(15'000));
    ASSERT_EQ(world.client("UID1").state(), ConnectionState::reconnecting);
    std::vector<core::OpId> ops;
    for (const char* text : {"q1", "q2", "q3"}) {
        const auto op = say("UID1", text);
        ASSERT_TRUE(op) << error_name(op.error);
        ops.push_back(op.op);
    }
    const auto peer = tell("UID1", "UID2", "p1");
    ASSERT_TRUE(peer);
    world.run_until(at_ms(20'000));
    EXPECT_TRUE(completions("UID1").empty());  // nothing completes while the link is down
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(60'000));

    ASSERT_EQ(world.client("UID1").state(), ConnectionState::connected);
    const auto back = events_of<core::ConnectionStateChanged>(world, "UID1").back().first;
    const std::string acked = ms_text(back + 100ms);  // sent right after the login, acknowledged one RTT later
    const std::vector<std::string> want{
        acked + " " + std::to_string(ops[0]) + " OK", acked + " " + std::to_string(ops[1]) + " OK",
        acked + " " + std::to_string(ops[2]) + " OK", acked + " " + std::to_string(peer.op) + " OK"};
    EXPECT_EQ(completions("UID1"), want) << joined(completions("UID1"));
    EXPECT_EQ(received("UID2"), (std::vector<std::string>{"q1", "q2", "q3", "p1"}));
}

TEST_F(Operations, AMessageWhoseAckWasLostIsResentWithItsIdAndDeliveredOnce) {
    world.run_until(at_ms(2000));
    const auto op = say("UID1", "once");
    ASSERT_TRUE(op);
    // The message reaches the server at 2050 ms; its acknowledgement is lost, then the connection is reset.
    world.run_until(at_ms(2060));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(2150));  // the acknowledgement would have arrived at 2100 ms
    world.set_link("UID1", LinkMode::pass);
    world.reset_connection("UID1");
    world.run_until(at_ms(10'000));

    EXPECT_EQ(world.client("UID1").state(), ConnectionState::connected);
    // The reset was repaired within the 4 s threshold: no state change at all, only a continuity report.
    EXPECT_EQ(events_of<core::ConnectionStateChanged>(world, "UID1").size(), 2U);
    EXPECT_EQ(events_of<core::ContinuityReport>(world, "UID1").size(), 1U);
    EXPECT_EQ(received("UID2"), std::vector<std::string>{"once"});
    EXPECT_EQ(world.server().hub().metrics().deduplicated, 1U);
    ASSERT_EQ(completions("UID1").size(), 1U);
    EXPECT_NE(completions("UID1")[0].find(" OK"), std::string::npos);
}

TEST_F(Operations, TimeoutsSayWhetherTheMessageCanHaveBeenDelivered) {
    world.run_until(at_ms(10'000));
    const auto sent = say("UID1", "in flight");  // sent at once, the answer is lost
    ASSERT_TRUE(sent);
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(20'000));
    const auto queued = say("UID1", "queued");  // never leaves the client
    ASSERT_TRUE(queued);
    world.run_until(at_ms(100'000));
    const std::vector<std::string> want{"70000 " + std::to_string(sent.op) + " ACK_TIMEOUT",
                                        "80000 " + std::to_string(queued.op) + " SEND_TIMEOUT"};
    EXPECT_EQ(completions("UID1"), want) << joined(completions("UID1"));
}

TEST_F(Operations, PendingOperationsFailOnceWhenTheSessionEnds) {
    world.run_until(at_ms(10'000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(15'000));
    const auto op = say("UID1", "x");
    ASSERT_TRUE(op);
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    world.run_until(at_ms(100'000));
    EXPECT_EQ(completions("UID1"), std::vector<std::string>{"15000 " + std::to_string(op.op) + " LOGGED_OUT"});
}

TEST_F(Operations, PendingOperationsFailWithSessionAbortedOnRemoteLogin) {
    world.run_until(at_ms(10'000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(11'000));
    const auto op = tell("UID1", "UID2", "x");
    ASSERT_TRUE(op);
    world.set_link("UID1", LinkMode::pass);  // the stale connection still looks open to UID1
    world.add_client("UID1-other", exact_config(Profile::rtm, 3));
    ASSERT_FALSE(
        world.call("UID1-other", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(20'000));
    ASSERT_EQ(world.client("UID1").state(), ConnectionState::aborted);
    const auto done = events_of<core::OperationCompleted>(world, "UID1");
    ASSERT_EQ(done.size(), 1U);
    EXPECT_EQ(done[0].second.error, make_error_code(errc::session_aborted));
}

TEST_F(Operations, LeavingAChannelFailsItsQueuedMessages) {
    world.run_until(at_ms(10'000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(15'000));
    const auto op = say("UID1", "x");
    ASSERT_TRUE(op);
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.leave(now, "ch"); }));
    world.run_until(at_ms(16'000));
    EXPECT_EQ(completions("UID1"), std::vector<std::string>{"15000 " + std::to_string(op.op) + " CHANNEL_LEFT"});
}

TEST_F(Operations, PeerOfflineUnlessStored) {
    world.run_until(at_ms(2000));
    const auto offline = tell("UID1", "UID3", "hi");
    const auto stored = tell("UID1", "UID3", "for later", /*store=*/true);
    world.run_until(at_ms(3000));
    EXPECT_EQ(completions("UID1"), (std::vector<std::string>{"2100 " + std::to_string(offline.op) + " PEER_OFFLINE",
                                                             "2100 " + std::to_string(stored.op) + " OK"}));
    world.add_client("UID3", exact_config(Profile::rtm, 3));
    ASSERT_FALSE(world.call("UID3", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID3", "valid"); }));
    world.run_until(at_ms(4000));
    EXPECT_EQ(received("UID3"), std::vector<std::string>{"for later backfilled"});
}

class SmallServerQueue : public Operations {
protected:
    static sim::HubServerConfig server() {
        sim::HubServerConfig config;
        config.hub.limits.peer_queue_per_user = 5;
        return config;
    }
    SmallServerQueue() : Operations(server()) {}
};

TEST_F(SmallServerQueue, PeerMessagesForAReconnectingUserAreDeliveredAfterwardsAndOverflowIsCounted) {
    world.run_until(at_ms(10'000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(12'000));
    for (int i = 1; i <= 8; ++i) {
        ASSERT_TRUE(tell("UID2", "UID1", "m" + std::to_string(i)));
    }
    world.run_until(at_ms(20'000));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(40'000));
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.backfilled, 5U);
    EXPECT_EQ(reports[0].second.dropped, 3U);  // never silent (R-RTM-4)
    EXPECT_EQ(received("UID1"), (std::vector<std::string>{"m4 backfilled", "m5 backfilled", "m6 backfilled",
                                                          "m7 backfilled", "m8 backfilled"}));
}

class TinyClientQueue : public Operations {
protected:
    TinyClientQueue() : Operations({}, 2) {}
};

TEST_F(TinyClientQueue, TheOutboundQueueIsBounded) {
    world.run_until(at_ms(10'000));
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(15'000));
    EXPECT_TRUE(say("UID1", "1"));
    EXPECT_TRUE(say("UID1", "2"));
    EXPECT_EQ(say("UID1", "3").error, make_error_code(errc::queue_full));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(at_ms(60'000));
    EXPECT_EQ(received("UID2"), (std::vector<std::string>{"1", "2"}));
}

TEST_F(Operations, PayloadsAboveThe32KiBLimitAreRefusedAtOnce) {
    world.run_until(at_ms(2000));
    EXPECT_TRUE(say("UID1", std::string(32 * 1024, 'x')));
    EXPECT_EQ(say("UID1", std::string(32 * 1024 + 1, 'x')).error, make_error_code(errc::payload_too_large));
    EXPECT_EQ(tell("UID1", "UID2", std::string(32 * 1024 + 1, 'x')).error, make_error_code(errc::payload_too_large));
}

TEST_F(Operations, MessagesArriveInSendOrderAndAtMostOnce) {
    world.run_until(at_ms(2000));
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(say("UID2", std::to_string(i)));
        ASSERT_TRUE(tell("UID2", "UID1", "p" + std::to_string(i)));
    }
    world.run_until(at_ms(3000));
    std::vector<std::string> want;
    for (int i = 0; i < 20; ++i) {
        want.push_back(std::to_string(i));
        want.push_back("p" + std::to_string(i));
    }
    EXPECT_EQ(received("UID1"), want);
    EXPECT_EQ(world.client("UID1").diagnostics().duplicate_messages, 0U);
}

}  // namespace
}  // namespace relink::test
