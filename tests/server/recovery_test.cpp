// Recovery keys on the virtual clock (docs/reliability.md, "Recovery keys"): a client takes a key, its process dies
// (its connection is reset and it never comes back), and a new client of the same user recovers the session with
// the key within the presence timeout: silently for peers, with backfill and a continuity report. Refused, with
// the reason, after the presence timeout, with another user's key, with an altered or malformed key, with a key
// used once already and with a key a newer one replaced; a refused client can login() again for a fresh session.
// Also across nodes of a cluster (a shared store), and the key's own format.
#include "core/harness.hpp"
#include "core/recovery_key.hpp"
#include "server/cluster_world.hpp"
#include "server/hub_world.hpp"

namespace relink::test {
namespace {

using server::HubConfig;

/// UID2 and UID1 in "ch" (rtm: 30 s presence, backfill 30 s / 32); UID1 takes a recovery key at 2 s.
struct Recovery {
    explicit Recovery(std::size_t nodes = 1)
        : world(nodes == 1 ? hub_world(HubConfig{}, &hub) : cluster_world(nodes)), node_count(nodes) {
        hub = &world->server();
        if (nodes > 1) {
            hub->route("UID2", 1);
            hub->route("UID1", 0);
        }
        world->add_client("UID2", exact_config(Profile::rtm, 2));
        world->add_client("UID1", exact_config(Profile::rtm, 1));
        login_and_join(*world, "UID2", "ch");
        world->run_until(at_ms(1000));
        login_and_join(*world, "UID1", "ch");
        world->run_until(at_ms(2000));
        key = take_key("UID1");
    }

    /// The key `who` gets from recovery_key().
    std::string take_key(const std::string& who) {
        const auto before = events_of<core::OperationCompleted>(*world, who).size();
        EXPECT_TRUE(world->call(who, [](core::ClientCore& c, TimePoint now) { return c.recovery_key(now); }));
        world->run_for(500ms);
        const auto done = events_of<core::OperationCompleted>(*world, who);
        EXPECT_EQ(done.size(), before + 1);
        if (done.size() != before + 1) {
            return {};
        }
        const auto& completed = done.back().second;
        EXPECT_EQ(completed.kind, OpKind::recovery_key);
        EXPECT_FALSE(completed.error) << completed.error.message();
        return completed.recovery_key.value_or(std::string{});
    }

    /// UID1's process dies: its connection is reset (the server sees it close) and it never connects again.
    TimePoint kill_uid1() {
        world->set_link("UID1", LinkMode::refuse);
        world->run_for(200ms);
        return world->now();
    }

    /// A new client `name` (a new process) logs in as `user` with `recover`; the world runs 2 s.
    void recover(const std::string& name, const std::string& user, std::optional<std::string> recover,
                 std::size_t node = 0) {
        core::Config config = exact_config(Profile::rtm, ++seed);  // each process its own instance id
        config.recover_key = std::move(recover);
        world->add_client(name, std::move(config));
        if (node_count > 1) {
            hub->route(name, node);
        }
        ASSERT_FALSE(
            world->call(name, [&](core::ClientCore& c, TimePoint now) { return c.login(now, user, "valid"); }));
        world->run_for(2s);
    }

    [[nodiscard]] std::vector<std::string> members_seen_by(const std::string& who, TimePoint from) const {
        return timeline(
            *world,
            [&](const sim::Record& r) {
                return r.client == who && (std::holds_alternative<core::MemberJoined>(r.event) ||
                                           std::holds_alternative<core::MemberLeft>(r.event));
            },
            from);
    }

    /// The error `name`'s recovery was refused with: the one its channels failed with.
    [[nodiscard]] std::error_code refusal(const std::string& name) const {
        EXPECT_EQ(world->client(name).state(), ConnectionState::disconnected);
        EXPECT_EQ(world->client(name).status(world->now()).reason, ConnectionReason::recovery_refused);
        for (const auto& [at, e] : events_of<core::ChannelStateChanged>(*world, name)) {
            if (e.state == ChannelState::disconnected) {
                return e.error;
            }
        }
        return {};
    }

    HubServer* hub{nullptr};
    std::unique_ptr<World> world;
    std::size_t node_count{1};
    std::uint64_t seed{10};
    std::string key;
};

std::vector<std::string> texts(const World& world, const std::string& who) {
    std::vector<std::string> out;
    for (const auto& [at, e] : events_of<core::MessageReceived>(world, who)) {
        out.push_back(e.payload + (e.backfilled ? " (backfilled)" : ""));
    }
    return out;
}

void expect_recovered(Recovery& r, const std::string& name, TimePoint died) {
    auto& world = *r.world;
    EXPECT_EQ(world.client(name).state(), ConnectionState::connected);
    EXPECT_EQ(world.client(name).channel_state("ch"), ChannelState::connected);
    EXPECT_TRUE(r.members_seen_by("UID2", died).empty()) << joined(r.members_seen_by("UID2", died));
    const auto reports = events_of<core::ContinuityReport>(world, name);
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.recovered);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.backfilled, 2U);
    EXPECT_EQ(reports[0].second.dropped, 0U);
    const std::vector<std::string> want{"to you (backfilled)", "to the channel (backfilled)"};
    EXPECT_EQ(texts(world, name), want);
}

/// UID2 sends one peer message to UID1 and one channel message while UID1 is dead.
void send_while_dead(World& world) {
    ASSERT_TRUE(world.call(
        "UID2", [](core::ClientCore& c, TimePoint now) { return c.send_peer_message(now, "UID1", "to you"); }));
    ASSERT_TRUE(world.call("UID2", [](core::ClientCore& c, TimePoint now) {
        return c.send_channel_message(now, "ch", "to the channel");
    }));
    world.run_for(1s);
}

TEST(Recovery, ANewProcessRecoversTheSessionSilentlyWithBackfillAndAReport) {
    Recovery r;
    ASSERT_FALSE(r.key.empty());
    EXPECT_LE(r.key.size(), 100U) << r.key;  // one short channel: a small key
    const TimePoint died = r.kill_uid1();
    send_while_dead(*r.world);
    r.world->run_for(10s);  // well within the 30 s presence
    r.recover("UID1-new", "UID1", r.key);
    expect_recovered(r, "UID1-new", died);
    EXPECT_EQ(r.world->server().members("ch"), (std::set<std::string>{"UID1", "UID2"}));
    // The recovered client goes on as any: its messages reach the peer.
    ASSERT_TRUE(r.world->call(
        "UID1-new", [](core::ClientCore& c, TimePoint now) { return c.send_channel_message(now, "ch", "back"); }));
    r.world->run_for(1s);
    EXPECT_EQ(texts(*r.world, "UID2").back(), "back");
}

TEST(Recovery, AfterThePresenceTimeoutTheKeyIsRefusedAsExpiredAndAFreshLoginStillWorks) {
    Recovery r;
    const TimePoint died = r.kill_uid1();
    r.world->run_until(died + 31s);  // the 30 s presence ran out: UID2 saw UID1 drop
    r.recover("UID1-new", "UID1", r.key);
    EXPECT_EQ(r.refusal("UID1-new"), make_error_code(errc::recovery_expired));
    // Not wedged: login() again starts a fresh session.
    ASSERT_FALSE(r.world->call(
        "UID1-new", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid", {"ch"}); }));
    r.world->run_for(2s);
    EXPECT_EQ(r.world->client("UID1-new").state(), ConnectionState::connected);
    EXPECT_EQ(r.world->client("UID1-new").channel_state("ch"), ChannelState::connected);
}

TEST(Recovery, AnotherUsersKeyIsRefused) {
    Recovery r;
    r.kill_uid1();
    r.world->add_client("UID3", exact_config(Profile::rtm, 3));
    r.recover("UID3-new", "UID3", r.key);  // UID3's valid token, UID1's key
    EXPECT_EQ(r.refusal("UID3-new"), make_error_code(errc::recovery_wrong_user));
}

TEST(Recovery, AnAlteredOrMalformedKeyIsRefusedAsInvalid) {
    Recovery r;
    const TimePoint died = r.kill_uid1();
    auto data = core::decode_recovery_key(r.key);
    ASSERT_TRUE(data);
    data->secret.back() = static_cast<char>(data->secret.back() ^ 1);  // one bit of the server's secret
    const auto altered = core::encode_recovery_key(*data);
    ASSERT_TRUE(altered);
    r.recover("UID1-altered", "UID1", altered);
    EXPECT_EQ(r.refusal("UID1-altered"), make_error_code(errc::recovery_invalid));
    r.recover("UID1-garbage", "UID1", std::string("not-a-key"));
    EXPECT_EQ(r.world->client("UID1-garbage").state(), ConnectionState::disconnected);
    EXPECT_EQ(r.world->client("UID1-garbage").status(r.world->now()).reason, ConnectionReason::recovery_refused);
    // The refusals changed nothing: the real key still recovers, silently.
    send_while_dead(*r.world);
    r.recover("UID1-new", "UID1", r.key);
    expect_recovered(r, "UID1-new", died);
}

TEST(Recovery, AKeyRecoversOnceAReplayIsRefusedAsUsed) {
    Recovery r;
    const TimePoint died = r.kill_uid1();
    send_while_dead(*r.world);
    r.recover("UID1-new", "UID1", r.key);
    expect_recovered(r, "UID1-new", died);
    r.recover("UID1-replay", "UID1", r.key);
    EXPECT_EQ(r.refusal("UID1-replay"), make_error_code(errc::recovery_used));
    // The recovered session is not disturbed by the refused replay.
    EXPECT_EQ(r.world->client("UID1-new").state(), ConnectionState::connected);
    EXPECT_TRUE(r.members_seen_by("UID2", died).empty()) << joined(r.members_seen_by("UID2", died));
}

TEST(Recovery, ANewerKeyReplacesTheOlderOne) {
    Recovery r;
    const std::string newer = r.take_key("UID1");
    ASSERT_NE(newer, r.key);
    r.kill_uid1();
    r.recover("UID1-old", "UID1", r.key);
    EXPECT_EQ(r.refusal("UID1-old"), make_error_code(errc::recovery_invalid));
    r.recover("UID1-new", "UID1", newer);
    EXPECT_EQ(r.world->client("UID1-new").state(), ConnectionState::connected);
}

TEST(Recovery, AKeySurvivesLinkBlinksOfTheProcessThatTookIt) {
    Recovery r;
    r.world->reset_connection("UID1");  // a blink: UID1 resumes with its resume token
    r.world->run_for(5s);
    ASSERT_EQ(r.world->client("UID1").state(), ConnectionState::connected);
    const TimePoint died = r.kill_uid1();
    send_while_dead(*r.world);
    r.recover("UID1-new", "UID1", r.key);
    expect_recovered(r, "UID1-new", died);
}

TEST(Recovery, TheKeyWorksWhenTheRecoveringLoginLandsOnAnotherNode) {
    Recovery r(3);  // UID1 on node 0, UID2 on node 1
    const TimePoint died = r.kill_uid1();
    send_while_dead(*r.world);
    r.recover("UID1-new", "UID1", r.key, /*node=*/2);
    expect_recovered(r, "UID1-new", died);
    r.recover("UID1-replay", "UID1", r.key, /*node=*/0);
    EXPECT_EQ(r.refusal("UID1-replay"), make_error_code(errc::recovery_used));
}

// ---------------------------------------------------------------------------- the key's format

TEST(RecoveryKeyFormat, RoundTripsAndStaysSmall) {
    core::RecoveryKeyData data;
    data.app_id = "demo";
    data.user_id = "alice";
    data.secret = "0123456789abcdef0123456789abcdef";  // relinkd's: 32 hex digits
    data.last_peer_seen = proto::StreamPosition{(1ULL << 53) - 1, 12};
    data.channels.push_back({"lobby", proto::StreamPosition{(1ULL << 53) - 1, 4711}, {"cam", "mic"}});
    data.channels.push_back({"room-2", std::nullopt, {}});
    data.channels.push_back({"ops", proto::StreamPosition{(1ULL << 53) - 1, 0}, {}});
    const auto key = core::encode_recovery_key(data);
    ASSERT_TRUE(key);
    EXPECT_LE(key->size(), 200U) << *key;
    EXPECT_EQ(key->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    EXPECT_EQ(core::decode_recovery_key(*key), data);
}

TEST(RecoveryKeyFormat, AnythingButAWellFormedKeyOfThisVersionIsRefused) {
    core::RecoveryKeyData data{"app", "UID1", "secret", std::nullopt, {{"ch", std::nullopt, {}}}};
    const auto key = core::encode_recovery_key(data);
    ASSERT_TRUE(key);
    EXPECT_FALSE(core::decode_recovery_key(""));
    EXPECT_FALSE(core::decode_recovery_key(*key + "A"));                       // not base64url of whole bytes
    EXPECT_FALSE(core::decode_recovery_key(key->substr(0, key->size() - 2)));  // truncated
    EXPECT_FALSE(core::decode_recovery_key(*key + "AA"));                      // a trailing byte
    EXPECT_FALSE(core::decode_recovery_key("Ag"));                             // version 2
    data.secret.clear();
    EXPECT_FALSE(core::encode_recovery_key(data));
    data.secret = std::string(65, 's');
    EXPECT_FALSE(core::encode_recovery_key(data));
    data.secret = "s";
    data.channels.assign(core::kRecoveryKeyMaxChannels + 1, proto::ChannelResume{"ch", std::nullopt, {}});
    EXPECT_FALSE(core::encode_recovery_key(data));
}

}  // namespace
}  // namespace relink::test
