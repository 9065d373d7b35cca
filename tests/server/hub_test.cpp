// relinkd's hub on the virtual clock: with real client cores over the simulated network (presence per profile,
// silent resume, backfill window and count, queue overflow, de-duplication, takeover and the kick-loop cool-down,
// token expiry), and driven by hand (bad frames, limits, admin kick and ban, drain, metrics, listings).
#include <algorithm>
#include <set>

#include "cluster/deadlines.hpp"
#include "core/harness.hpp"
#include "server/hub_world.hpp"

namespace relink::test {
namespace {

using server::Hub;
using server::HubConfig;

// ============================================================================ real clients against the hub

struct HubPair {
    /// `uid1_timings` changes the timings UID1 asks for at login (the others are the profile's).
    explicit HubPair(Profile profile, HubConfig config = {}, const std::function<void(Timings&)>& uid1_timings = {})
        : world(hub_world(std::move(config), &hub)) {
        world->add_client("UID2", exact_config(profile, 2));
        core::Config uid1 = exact_config(profile, 1);
        if (uid1_timings) {
            uid1_timings(uid1.timings);
        }
        world->add_client("UID1", std::move(uid1));
        login_and_join(*world, "UID2", "ch");
        world->run_until(at_ms(1000));
        login_and_join(*world, "UID1", "ch");
    }

    /// Blackholes UID1 right after the first frame it receives at or after `after_ms`; returns that instant.
    TimePoint break_link(long long after_ms) {
        EXPECT_TRUE(
            world->run_until([&] { return world->last_received("UID1") >= at_ms(after_ms); }, at_ms(after_ms + 2000)));
        world->set_link("UID1", LinkMode::blackhole);
        return world->now();
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

    HubServer* hub{nullptr};
    std::unique_ptr<World> world;
};

class HubPresence : public ::testing::TestWithParam<std::pair<Profile, long long>> {};

TEST_P(HubPresence, PeersSeeTheUserDropAfterTheProfilesPresenceTimeout) {
    const auto [profile, presence_s] = GetParam();
    HubPair pair(profile);
    const TimePoint t3 = pair.break_link(5000);  // the hub last heard UID1 50 ms before t3
    pair.world->run_until(t3 + std::chrono::seconds(presence_s) + 10s);
    const std::vector<std::string> want{ms_text(t3 + std::chrono::seconds(presence_s)) +
                                        " UID2 member_left ch UID1 DROPPED"};
    EXPECT_EQ(pair.members_seen_by("UID2", t3), want) << joined(pair.members_seen_by("UID2", t3));
    EXPECT_EQ(pair.world->server().members("ch"), std::set<std::string>{"UID2"});
    EXPECT_EQ(pair.hub->hub().metrics().presence_timeouts, 1U);
}

INSTANTIATE_TEST_SUITE_P(Profiles, HubPresence,
                         ::testing::Values(std::pair{Profile::rtc_web, 10LL}, std::pair{Profile::rtc, 20LL},
                                           std::pair{Profile::rtm, 30LL}, std::pair{Profile::room, 90LL}),
                         [](const ::testing::TestParamInfo<HubPresence::ParamType>& param) {
                             std::string name(to_string(param.param.first));
                             name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                             return name + "_" + std::to_string(param.param.second) + "s";
                         });

// ---------------------------------------------------------------------------- agreed timings

/// The timings UID1's first CONNECTED reported.
std::optional<AgreedTimings> connected_timings(const World& world, const std::string& who) {
    for (const auto& [at, e] : events_of<core::ConnectionStateChanged>(world, who)) {
        if (e.state == ConnectionState::connected) {
            return e.timings;
        }
    }
    return std::nullopt;
}

TEST(HubAgreedTimings, AClientAskingForAFiveSecondPresenceIsSeenLeavingAtFiveSeconds) {
    HubPair pair(Profile::rtm, {}, [](Timings& t) { t.presence_timeout = 5s; });
    const auto agreed = connected_timings(*pair.world, "UID1");
    ASSERT_TRUE(agreed);
    EXPECT_EQ(agreed->presence_timeout, 5s);
    EXPECT_EQ(agreed->heartbeat_interval, 1s);
    EXPECT_EQ(agreed->backfill_window, 30s);
    EXPECT_EQ(agreed->backfill_count, 32U);
    EXPECT_FALSE(agreed->clamped);
    const auto others = connected_timings(*pair.world, "UID2");  // its neighbour keeps the profile's 30 s
    ASSERT_TRUE(others);
    EXPECT_EQ(others->presence_timeout, 30s);

    const TimePoint t3 = pair.break_link(5000);  // the hub last heard UID1 50 ms before t3
    pair.world->run_until(t3 + 40s);
    const std::vector<std::string> want{ms_text(t3 + 5s) + " UID2 member_left ch UID1 DROPPED"};
    EXPECT_EQ(pair.members_seen_by("UID2", t3), want) << joined(pair.members_seen_by("UID2", t3));
}

TEST(HubAgreedTimings, APresenceBelowTheServersMinimumIsRaisedToItAndTheClientIsTold) {
    HubPair pair(Profile::rtm, {}, [](Timings& t) { t.presence_timeout = 500ms; });
    const auto agreed = connected_timings(*pair.world, "UID1");
    ASSERT_TRUE(agreed);
    EXPECT_EQ(agreed->presence_timeout, 2s);  // TimingBounds::min_presence_timeout
    EXPECT_TRUE(agreed->clamped);
    const TimePoint t3 = pair.break_link(5000);
    pair.world->run_until(t3 + 40s);
    const std::vector<std::string> want{ms_text(t3 + 2s) + " UID2 member_left ch UID1 DROPPED"};
    EXPECT_EQ(pair.members_seen_by("UID2", t3), want) << joined(pair.members_seen_by("UID2", t3));
}

TEST(HubAgreedTimings, APresenceAboveTheServersMaximumIsLoweredToIt) {
    HubConfig config;
    config.timing_bounds.max_presence_timeout = 45s;
    HubPair pair(Profile::rtm, config, [](Timings& t) { t.presence_timeout = 10min; });
    const auto agreed = connected_timings(*pair.world, "UID1");
    ASSERT_TRUE(agreed);
    EXPECT_EQ(agreed->presence_timeout, 45s);
    EXPECT_TRUE(agreed->clamped);
    const TimePoint t3 = pair.break_link(5000);
    pair.world->run_until(t3 + 120s);
    const std::vector<std::string> want{ms_text(t3 + 45s) + " UID2 member_left ch UID1 DROPPED"};
    EXPECT_EQ(pair.members_seen_by("UID2", t3), want) << joined(pair.members_seen_by("UID2", t3));
}

TEST(HubAgreedTimings, AResumeKeepsTheAgreedPresenceAndTheReportSaysWhatWasAgreed) {
    HubPair pair(Profile::rtc, {}, [](Timings& t) { t.presence_timeout = 12s; });
    const TimePoint t3 = pair.break_link(5000);
    pair.world->run_until(t3 + 7s);  // the next attempt lands within the agreed 12 s (the profile's: 20 s)
    pair.world->set_link("UID1", LinkMode::pass);
    pair.world->run_until(t3 + 60s);
    EXPECT_TRUE(pair.members_seen_by("UID2", t3).empty()) << joined(pair.members_seen_by("UID2", t3));
    const auto reports = events_of<core::ContinuityReport>(*pair.world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.timings.presence_timeout, 12s);
    EXPECT_FALSE(reports[0].second.timings.clamped);
}

TEST(HubAgreedTimings, AHeartbeatTooRareForTheClientsSilenceDetectorIsNotAdopted) {
    HubConfig config;
    config.timing_bounds.min_heartbeat_interval = 5s;  // a server that wants no ping more often than every 5 s ...
    config.timing_bounds.max_heartbeat_interval = 5s;
    config.keep_alive_timeout = 20s;
    HubPair pair(Profile::rtm, config);  // ... and clients that take 4 s of silence for a dead link
    const auto agreed = connected_timings(*pair.world, "UID1");
    ASSERT_TRUE(agreed);
    EXPECT_EQ(agreed->heartbeat_interval, 1s);  // its own: the link stays quiet but healthy
    EXPECT_TRUE(agreed->clamped);
    pair.world->run_for(30s);
    EXPECT_EQ(pair.world->client("UID1").state(), ConnectionState::connected);
    EXPECT_EQ(events_of<core::ConnectionStateChanged>(*pair.world, "UID1").size(), 2U);  // CONNECTING, CONNECTED
}

TEST(HubAgreedTimings, BackfillFollowsTheAgreedWindowAndCount) {
    HubPair pair(Profile::rtm, {}, [](Timings& t) {
        t.backfill_window = 20s;
        t.backfill_count = 5;
    });
    auto& world = *pair.world;
    const TimePoint t3 = pair.break_link(10'000);
    for (int i = 1; i <= 10; ++i) {  // long before the reconnect: outside the agreed 20 s window
        world.run_until(t3 + std::chrono::seconds(i));
        ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
            return c.send_channel_message(now, "ch", "old" + std::to_string(i));
        }));
    }
    for (int i = 1; i <= 8; ++i) {  // within it: only the newest 5 come back
        world.run_until(t3 + 30s + i * 250ms);
        ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
            return c.send_channel_message(now, "ch", "new" + std::to_string(i));
        }));
    }
    world.run_until(t3 + 45s);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 120s);
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(reports[0].second.backfilled, 5U);
    EXPECT_EQ(reports[0].second.dropped, 13U);
}

TEST(HubAgreedTimings, EachAskedValueIsHeldToItsBoundAndWhatIsNotAskedIsTheDefault) {
    const server::TimingBounds bounds;  // 100 ms-2 s heartbeat, 2 s-5 min presence, <= 5 min and 256 backfill
    const Timings defaults = timings_for(Profile::rtc_web);
    const proto::Negotiated none = server::agree_timings(defaults, {}, bounds);
    EXPECT_EQ(none, (proto::Negotiated{1s, 10s, 0s, 0}));
    const proto::Negotiated low = server::agree_timings(defaults, {10ms, 1s, 0s, 0}, bounds);
    EXPECT_EQ(low, (proto::Negotiated{100ms, 2s, 0s, 0}));
    const proto::Negotiated high = server::agree_timings(defaults, {10s, 1h, 1h, 100'000}, bounds);
    EXPECT_EQ(high, (proto::Negotiated{2s, 5min, 5min, 256}));
    const proto::Negotiated within = server::agree_timings(defaults, {500ms, 5s, 1min, 64}, bounds);
    EXPECT_EQ(within, (proto::Negotiated{500ms, 5s, 1min, 64}));
    proto::TimingsRequest only_presence;
    only_presence.presence_timeout = 3s;
    EXPECT_EQ(server::agree_timings(defaults, only_presence, bounds), (proto::Negotiated{1s, 3s, 0s, 0}));
    server::TimingBounds tight = bounds;  // a default outside the bounds is held to them too
    tight.max_presence_timeout = 5s;
    EXPECT_EQ(server::agree_timings(defaults, {}, tight).presence_timeout, 5s);
}

TEST(HubWithClients, AResumeWithinPresenceIsSilentForPeers) {
    HubPair pair(Profile::rtc);
    const TimePoint t3 = pair.break_link(5000);
    pair.world->run_until(t3 + 15s);  // within the 20 s presence; the hub closed the silent connection at 6 s
    pair.world->set_link("UID1", LinkMode::pass);
    pair.world->run_until(t3 + 60s);
    EXPECT_TRUE(pair.members_seen_by("UID2", t3).empty()) << joined(pair.members_seen_by("UID2", t3));
    const auto reports = events_of<core::ContinuityReport>(*pair.world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(pair.hub->hub().metrics().resumes, 1U);
    EXPECT_EQ(pair.world->client("UID1").state(), ConnectionState::connected);
}

TEST(HubWithClients, BackfillFollowsTheWindowAndTheCount) {
    HubPair pair(Profile::rtm);
    auto& world = *pair.world;
    const TimePoint t3 = pair.break_link(10'000);
    for (int i = 1; i <= 10; ++i) {  // long before the reconnect: outside the 30 s window
        world.run_until(t3 + std::chrono::seconds(i));
        ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
            return c.send_channel_message(now, "ch", "old" + std::to_string(i));
        }));
    }
    for (int i = 1; i <= 40; ++i) {  // within the window: only the newest 32 come back
        world.run_until(t3 + 35'000ms + i * 250ms);
        ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
            return c.send_channel_message(now, "ch", "new" + std::to_string(i));
        }));
    }
    world.run_until(t3 + 45s);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 120s);

    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_FALSE(reports[0].second.resumed);  // presence (30 s) had expired
    EXPECT_EQ(reports[0].second.backfilled, 32U);
    EXPECT_EQ(reports[0].second.dropped, 18U);
    std::vector<std::string> got;
    for (const auto& [at, m] : events_of<core::MessageReceived>(world, "UID1")) {
        if (m.backfilled) {
            got.push_back(m.payload);
        }
    }
    std::vector<std::string> want;
    for (int i = 9; i <= 40; ++i) {
        want.push_back("new" + std::to_string(i));
    }
    EXPECT_EQ(got, want);
}

// Profiles without backfill are still told how many channel messages they missed (found by the chaos soak: they
// were neither delivered nor counted). Within the presence (resumed) and after it (not resumed).
class HubMissedChannelMessages : public ::testing::TestWithParam<std::pair<Profile, long long>> {};

TEST_P(HubMissedChannelMessages, AreCountedAsDroppedWhenTheProfileDoesNotBackfill) {
    const auto [profile, outage_s] = GetParam();
    HubPair pair(profile);
    auto& world = *pair.world;
    const TimePoint t3 = pair.break_link(5000);
    for (int i = 1; i <= 7; ++i) {
        world.run_until(t3 + std::chrono::milliseconds(i * 300));
        ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
            return c.send_channel_message(now, "ch", "missed" + std::to_string(i));
        }));
    }
    world.run_until(t3 + std::chrono::seconds(outage_s));
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + std::chrono::seconds(outage_s) + 60s);
    ASSERT_TRUE(world.call(
        "UID2", [&](core::ClientCore& c, TimePoint now) { return c.send_channel_message(now, "ch", "after"); }));
    world.run_until(t3 + std::chrono::seconds(outage_s) + 62s);

    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(reports[0].second.resumed, outage_s < 10);
    EXPECT_EQ(reports[0].second.backfilled, 0U);
    EXPECT_EQ(reports[0].second.dropped, 7U);
    std::vector<std::string> got;
    for (const auto& [at, m] : events_of<core::MessageReceived>(world, "UID1")) {
        got.push_back(m.payload);
    }
    EXPECT_EQ(got, std::vector<std::string>{"after"});
}

INSTANTIATE_TEST_SUITE_P(Profiles, HubMissedChannelMessages,
                         ::testing::Values(std::pair{Profile::rtc, 8LL}, std::pair{Profile::rtc_web, 8LL},
                                           std::pair{Profile::room, 8LL}, std::pair{Profile::rtc, 25LL},
                                           std::pair{Profile::room, 100LL}),
                         [](const ::testing::TestParamInfo<HubMissedChannelMessages::ParamType>& param) {
                             std::string name(to_string(param.param.first));
                             name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                             return name + "_outage_" + std::to_string(param.param.second) + "s";
                         });

TEST(HubWithClients, AChannelGapOlderThanTheHistoryIsCountedWhole) {
    HubConfig config;
    config.limits.history_per_channel = 4;
    HubPair pair(Profile::rtm, config);
    auto& world = *pair.world;
    const TimePoint t3 = pair.break_link(10'000);
    for (int i = 1; i <= 10; ++i) {
        world.run_until(t3 + std::chrono::milliseconds(i * 200));
        ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
            return c.send_channel_message(now, "ch", "m" + std::to_string(i));
        }));
    }
    world.run_until(t3 + 8s);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 60s);
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_EQ(reports[0].second.backfilled, 4U);  // the history's 4, all within the window
    EXPECT_EQ(reports[0].second.dropped, 6U);     // 6 fell out of the history
}

TEST(HubWithClients, PeerQueueOverflowIsReportedAsDropped) {
    HubConfig config;
    config.limits.peer_queue_per_user = 5;
    HubPair pair(Profile::rtm, config);
    auto& world = *pair.world;
    const TimePoint t3 = pair.break_link(10'000);
    for (int i = 1; i <= 8; ++i) {
        ASSERT_TRUE(world.call("UID2", [&](core::ClientCore& c, TimePoint now) {
            return c.send_peer_message(now, "UID1", "m" + std::to_string(i));
        }));
    }
    world.run_until(t3 + 10s);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 40s);
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].second.resumed);
    EXPECT_EQ(reports[0].second.backfilled, 5U);
    EXPECT_EQ(reports[0].second.dropped, 3U);
}

TEST(HubWithClients, AResentMessageIsDeliveredOnce) {
    HubPair pair(Profile::rtm);
    auto& world = *pair.world;
    world.run_until(at_ms(2000));
    ASSERT_TRUE(world.call(
        "UID1", [](core::ClientCore& c, TimePoint now) { return c.send_channel_message(now, "ch", "once"); }));
    world.run_until(at_ms(2060));  // reached the hub at 2050 ms
    world.set_link("UID1", LinkMode::blackhole);
    world.run_until(at_ms(2150));  // its acknowledgement is lost
    world.set_link("UID1", LinkMode::pass);
    world.reset_connection("UID1");
    world.run_until(at_ms(10'000));
    std::vector<std::string> got;
    for (const auto& [at, m] : events_of<core::MessageReceived>(world, "UID2")) {
        got.push_back(m.payload);
    }
    EXPECT_EQ(got, std::vector<std::string>{"once"});
    EXPECT_EQ(pair.hub->hub().metrics().deduplicated, 1U);
}

TEST(HubWithClients, TakeoverKicksTheOldInstanceWhichCannotTakeTheIdBackDuringTheCooldown) {
    HubPair pair(Profile::rtm);
    auto& world = *pair.world;
    world.add_client("UID1-B", exact_config(Profile::rtm, 7));
    world.run_until(at_ms(5000));
    ASSERT_FALSE(
        world.call("UID1-B", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(6000));
    ASSERT_EQ(world.client("UID1").state(), ConnectionState::aborted);
    ASSERT_EQ(world.client("UID1-B").state(), ConnectionState::connected);

    // The app of instance A logs out and straight back in (the seed's warning: this is how kick loops start).
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.logout(now); }));
    ASSERT_FALSE(world.call("UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "valid"); }));
    world.run_until(at_ms(7000));
    EXPECT_EQ(world.client("UID1").state(), ConnectionState::aborted);      // refused with REMOTE_LOGIN
    EXPECT_EQ(world.client("UID1-B").state(), ConnectionState::connected);  // not knocked off: no ping-pong

    // After the cool-down (10 s) the same instance may log in again, and then it is B that is kicked.
    world.run_until(at_ms(16'000));
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
}

TEST(HubWithClients, RtcSessionsEndWithTheirTokenRtmSessionsDoNot) {
    for (const Profile profile : {Profile::rtc, Profile::rtm}) {
        auto world = hub_world();
        world->add_client("UID1", exact_config(profile, 1));
        ASSERT_FALSE(world->call(
            "UID1", [](core::ClientCore& c, TimePoint now) { return c.login(now, "UID1", "exp=40000", {"ch"}); }));
        world->run_until(at_ms(60'000));
        if (profile == Profile::rtc) {
            EXPECT_EQ(world->client("UID1").state(), ConnectionState::failed);
            const auto changes = events_of<core::ConnectionStateChanged>(*world, "UID1");
            ASSERT_FALSE(changes.empty());
            EXPECT_EQ(changes.back().second.reason, ConnectionReason::token_expired);
            EXPECT_EQ(changes.back().first, at_ms(40'050));  // the hub ended it at 40 s; one-way latency later
        } else {
            EXPECT_EQ(world->client("UID1").state(), ConnectionState::connected);  // R-RTM-9
            EXPECT_EQ(events_of<core::TokenExpired>(*world, "UID1").size(), 1U);
        }
    }
}

TEST(HubWithClients, AServerRestartStartsANewEpochAndClientsRejoin) {
    HubPair pair(Profile::rtm);
    auto& world = *pair.world;
    world.run_until(at_ms(5000));
    world.server_restart();
    world.run_until(at_ms(20'000));
    EXPECT_EQ(world.server().members("ch"), (std::set<std::string>{"UID1", "UID2"}));
    for (const char* who : {"UID1", "UID2"}) {
        const auto reports = events_of<core::ContinuityReport>(world, who);
        ASSERT_EQ(reports.size(), 1U) << who;
        EXPECT_FALSE(reports[0].second.resumed) << who;
        EXPECT_TRUE(reports[0].second.server_restarted) << who;  // the app learns the history is gone
    }
    // A later outage on the same server is not a restart.
    const TimePoint t3 = pair.break_link(25'000);
    world.run_until(t3 + 8s);
    world.set_link("UID1", LinkMode::pass);
    world.run_until(t3 + 30s);
    const auto reports = events_of<core::ContinuityReport>(world, "UID1");
    ASSERT_EQ(reports.size(), 2U);
    EXPECT_FALSE(reports[1].second.server_restarted);
}

// A send whose acknowledgement died with the server is sent again to the next server, which remembers no message
// ids and delivers it again under a new epoch: the receiver drops the second copy by its (sender, message id).
// (Seen by the e2e restart tests under load; docs/reliability.md, "at least once across a server restart".)
TEST(HubWithClients, AMessageSentAgainToARestartedServerIsDeliveredOnce) {
    HubPair pair(Profile::rtm);
    auto& world = *pair.world;
    world.run_until(at_ms(5000));
    world.set_link("UID2", LinkMode::drop_inbound);  // UID2's send goes up; its acknowledgement never comes back
    ASSERT_TRUE(world.call(
        "UID2", [](core::ClientCore& c, TimePoint now) { return c.send_channel_message(now, "ch", "once"); }));
    world.run_until(at_ms(5500));
    ASSERT_EQ(events_of<core::MessageReceived>(world, "UID1").size(), 1U);  // delivered, not acknowledged
    world.server_restart();
    world.set_link("UID2", LinkMode::pass);
    world.run_until(at_ms(30'000));
    std::vector<std::string> got;
    for (const auto& [at, m] : events_of<core::MessageReceived>(world, "UID1")) {
        got.push_back(m.payload);
    }
    EXPECT_EQ(got, std::vector<std::string>{"once"});
    EXPECT_EQ(world.client("UID1").diagnostics().duplicate_message_ids, 1U);  // it did come again
    EXPECT_EQ(world.client("UID2").state(), ConnectionState::connected);
}

// ============================================================================ the hub by hand

/// A bare hub driven by hand: every input at `now`, every action collected.
struct HandDriver {
    HandDriver() : HandDriver(HubConfig{}) {}
    explicit HandDriver(HubConfig config)
        : hub(std::move(config), [this](const std::string& app, const std::string&, const std::string& token) {
              return sim_token_check(now, app, token);
          }) {}

    /// Drains the hub's actions into `sent` / `closed`.
    void drain() {
        while (auto action = hub.poll_action()) {
            server::for_each_conn(
                *action,
                [&](server::ConnId conn, const proto::ServerMessage& message) { sent.emplace_back(conn, message); },
                [&](server::ConnId conn) { closed.push_back(conn); });
        }
    }
    void open(server::ConnId conn, const std::string& address = "10.0.0.1") {
        hub.on_open(now, conn, address);
        drain();
    }
    void frame(server::ConnId conn, const proto::ClientMessage& message) {
        hub.on_frame(now, conn, message);
        drain();
    }
    void advance(Duration d) {
        now += d;
        hub.handle_timeout(now);
        drain();
    }
    proto::Login login_message(const std::string& user, const std::string& token = "valid",
                               std::vector<std::string> channels = {}, Profile profile = Profile::rtm) {
        proto::Login login;
        login.request_id = ++request;
        login.app_id = "app";
        login.user_id = user;
        login.token = token;
        login.profile = profile;
        login.instance_id = "instance-" + user;
        for (auto& channel : channels) {
            login.channels.push_back({std::move(channel), std::nullopt, {}});
        }
        return login;
    }
    /// Opens `conn` and logs `user` in on it; returns the reply.
    proto::ServerMessage connect(server::ConnId conn, const std::string& user, std::vector<std::string> channels = {}) {
        open(conn);
        sent.clear();
        frame(conn, login_message(user, "valid", std::move(channels)));
        EXPECT_FALSE(sent.empty());
        return sent.empty() ? proto::ServerMessage{} : sent.front().second;
    }
    /// The messages sent to `conn` since the last clear, of type T.
    template <class T>
    std::vector<T> to(server::ConnId conn) const {
        std::vector<T> out;
        for (const auto& [c, m] : sent) {
            if (c == conn) {
                if (const auto* t = std::get_if<T>(&m)) {
                    out.push_back(*t);
                }
            }
        }
        return out;
    }
    /// The error of the Reply to `id`, or no error when the request got a typed answer (LoginOk, JoinOk ...).
    std::error_code reply_error_or_ok(server::ConnId conn, proto::RequestId id) const {
        for (const auto& reply : to<proto::Reply>(conn)) {
            if (reply.request_id == id) {
                return reply.error;
            }
        }
        return {};
    }
    std::error_code reply_error(server::ConnId conn, proto::RequestId id) const {
        for (const auto& reply : to<proto::Reply>(conn)) {
            if (reply.request_id == id) {
                return reply.error;
            }
        }
        ADD_FAILURE() << "no reply to request " << id;
        return {};
    }

    TimePoint now{};
    Hub hub;
    std::vector<std::pair<server::ConnId, proto::ServerMessage>> sent;
    std::vector<server::ConnId> closed;
    proto::RequestId request{0};
};

class HubByHand : public ::testing::Test, public HandDriver {};

TEST_F(HubByHand, ARequestBeforeLoginGetsNotLoggedIn) {
    open(1);
    frame(1, proto::Join{7, "ch"});
    EXPECT_EQ(reply_error(1, 7), make_error_code(errc::not_logged_in));
    EXPECT_TRUE(closed.empty());
}

TEST_F(HubByHand, BadFramesGetAnErrorReplyOrACloseWithAReason) {
    open(1);
    hub.on_bad_frame(now, 1, proto::DecodeError{make_error_code(errc::protocol_error), "bad type", 9});
    drain();
    EXPECT_EQ(reply_error(1, 9), make_error_code(errc::protocol_error));
    EXPECT_TRUE(closed.empty());
    hub.on_bad_frame(now, 1, proto::DecodeError{make_error_code(errc::protocol_error), "not json", std::nullopt});
    drain();
    ASSERT_EQ(to<proto::Close>(1).size(), 1U);
    EXPECT_EQ(to<proto::Close>(1)[0].reason, proto::CloseReason::invalid);
    EXPECT_EQ(closed, std::vector<server::ConnId>{1});
    EXPECT_EQ(hub.metrics().bad_frames, 2U);
    // Whatever still arrives on the closed connection is ignored.
    sent.clear();
    frame(1, login_message("u"));
    EXPECT_TRUE(sent.empty());
}

TEST_F(HubByHand, TokensForAnotherAppOrExpiredOrTamperedAreRefused) {
    open(1);
    auto login = login_message("u", "expired");
    frame(1, login);
    EXPECT_EQ(reply_error(1, login.request_id), make_error_code(errc::token_expired));
    login = login_message("u", "tampered");
    frame(1, login);
    EXPECT_EQ(reply_error(1, login.request_id), make_error_code(errc::invalid_token));
    login = login_message("u");
    login.app_id = "other";
    frame(1, login);
    EXPECT_EQ(reply_error(1, login.request_id), make_error_code(errc::invalid_app_id));
    EXPECT_EQ(hub.metrics().login_failures, 3U);
    EXPECT_EQ(hub.metrics().logins, 0U);
}

TEST_F(HubByHand, ATokenLimitedToAChannelRefusesOthers) {
    open(1);
    auto login = login_message("u", "only=a", {"a", "b"});
    frame(1, login);
    const auto ok = to<proto::LoginOk>(1);
    ASSERT_EQ(ok.size(), 1U);
    ASSERT_EQ(ok[0].channels.size(), 2U);
    EXPECT_FALSE(ok[0].channels[0].error);
    EXPECT_EQ(ok[0].channels[1].error, make_error_code(errc::rejected_by_server));
}

TEST_F(HubByHand, LoginAttemptsPerAddressAreRateLimited) {
    int limited = 0;
    for (server::ConnId conn = 1; conn <= 60; ++conn) {
        open(conn, "10.9.9.9");
        auto login = login_message("u" + std::to_string(conn));
        frame(conn, login);
        limited += reply_error_or_ok(conn, login.request_id) == make_error_code(errc::rate_limited) ? 1 : 0;
    }
    EXPECT_EQ(limited, 20);  // a burst of 40, refilled at 20/s, and no time passed
    open(100, "10.8.8.8");   // another address is not affected
    auto login = login_message("other");
    frame(100, login);
    EXPECT_EQ(to<proto::LoginOk>(100).size(), 1U);
}

// ---------------------------------------------------------------------------- overload: admission control

/// A hub whose server-wide login rate is 10/s (a burst of `burst`), whose retry-afters are held within
/// [100 ms, 5 s], and whose per-address bucket never gets in the way.
HubConfig overload_config(double burst, std::size_t in_progress = 1000) {
    HubConfig config;
    config.limits.server_logins_per_second = 10;
    config.limits.server_login_burst = burst;
    config.limits.max_logins_in_progress = in_progress;
    config.limits.busy_retry_min = 100ms;
    config.limits.busy_retry_max = 5s;
    config.limits.logins_per_second_per_address = 1000;
    config.limits.login_burst = 1000;
    return config;
}

struct HubOverload : ::testing::Test, HandDriver {
    explicit HubOverload(HubConfig config = overload_config(6)) : HandDriver(std::move(config)) {}
    /// Opens every connection of `conns` first (their logins queue behind each other, as on a busy hub strand), then
    /// logs each in, in order.
    void storm(const std::vector<server::ConnId>& conns) {
        for (const server::ConnId conn : conns) {
            open(conn);
        }
        for (const server::ConnId conn : conns) {
            frame(conn, login_message("u" + std::to_string(conn)));
        }
    }
    /// The retry-after each of `conns` was refused with (0 when it was not refused).
    std::vector<Duration> retry_afters(const std::vector<server::ConnId>& conns) const {
        std::vector<Duration> out;
        for (const server::ConnId conn : conns) {
            const auto closes = to<proto::Close>(conn);
            out.push_back(!closes.empty() && closes[0].reason == proto::CloseReason::busy ? closes[0].reconnect_within
                                                                                          : Duration::zero());
        }
        return out;
    }
};

TEST_F(HubOverload, LoginsOverTheServersRateAreRefusedBusyWithARetryAfterThatGrowsWithTheBacklog) {
    connect(100, "held");  // one token of the burst of 6
    sent.clear();
    storm({1, 2, 3, 4, 5, 6, 7, 8});
    for (const server::ConnId conn : {1, 2, 3, 4, 5}) {
        EXPECT_EQ(to<proto::LoginOk>(conn).size(), 1U) << conn;
    }
    // Refused before the token is looked at: no reply, a Close(busy), the connection closed. The retry-after is
    // the time the rate needs for those still waiting and those told before, plus the login's own slot:
    // login 6 waits behind 7 and 8 (2 × 100 ms) + 100 ms; 7 comes after 6's slot (300 ms) + 100 ms; 8 after 7's.
    EXPECT_EQ(retry_afters({1, 2, 3, 4, 5, 6, 7, 8}),
              (std::vector<Duration>{0ms, 0ms, 0ms, 0ms, 0ms, 300ms, 400ms, 500ms}));
    for (const server::ConnId conn : {6, 7, 8}) {
        EXPECT_TRUE(to<proto::Reply>(conn).empty());
        EXPECT_NE(std::find(closed.begin(), closed.end(), conn), closed.end());
    }
    EXPECT_EQ(hub.metrics().logins_shed_rate, 3U);
    EXPECT_EQ(hub.metrics().logins_shed_in_progress, 0U);
    EXPECT_EQ(hub.metrics().login_failures, 0U);  // busy is not a failed login
    EXPECT_EQ(hub.metrics().logins_in_progress, 0U);

    // The session held is untouched and its heartbeats are answered at once, whatever is refused around it.
    sent.clear();
    frame(100, proto::Ping{});
    EXPECT_EQ(to<proto::Pong>(100).size(), 1U);

    // The bucket refills over (virtual) time: 350 ms later there is room for 3 more; the 4th is told to come back
    // after the last slot handed out (500 ms from the storm) plus its own.
    advance(350ms);
    sent.clear();
    storm({9, 10, 11, 12});
    EXPECT_EQ(retry_afters({9, 10, 11, 12}), (std::vector<Duration>{0ms, 0ms, 0ms, 250ms}));
    EXPECT_EQ(hub.metrics().logins_shed_rate, 4U);
    EXPECT_EQ(hub.metrics().logins, 9U);
}

TEST_F(HubOverload, AHeartbeatTheDriverAnsweredKeepsTheSessionAliveWithoutASecondPong) {
    HubConfig config;
    connect(100, "held");
    sent.clear();
    // relinkd answers pings on the connection's own thread and tells the hub: no Pong from the hub, but the
    // keep-alive (6 s) counts from the heartbeat.
    for (int i = 0; i < 10; ++i) {
        advance(1s);
        hub.on_heartbeat(now, 100);
        drain();
    }
    EXPECT_TRUE(to<proto::Pong>(100).empty());
    EXPECT_TRUE(to<proto::Close>(100).empty());
    advance(config.keep_alive_timeout);
    ASSERT_EQ(to<proto::Close>(100).size(), 1U);
    EXPECT_EQ(to<proto::Close>(100)[0].reason, proto::CloseReason::keep_alive_timeout);
}

struct HubOverloadInProgress : HubOverload {
    HubOverloadInProgress() : HubOverload(overload_config(1000, /*in_progress=*/2)) {}
};

TEST_F(HubOverloadInProgress, ALoginThatFindsTooManyOthersInProgressIsRefusedBusy) {
    storm({1, 2, 3, 4, 5});
    // Login 1 finds 4 others in progress, 2 finds 3, 3 finds 2: refused; 4 and 5 find 1 and 0.
    EXPECT_EQ(retry_afters({1, 2, 3, 4, 5}), (std::vector<Duration>{500ms, 600ms, 700ms, 0ms, 0ms}));
    EXPECT_EQ(to<proto::LoginOk>(4).size(), 1U);
    EXPECT_EQ(to<proto::LoginOk>(5).size(), 1U);
    EXPECT_EQ(hub.metrics().logins_shed_in_progress, 3U);
    EXPECT_EQ(hub.metrics().logins_shed_rate, 0U);
    EXPECT_EQ(hub.metrics().logins_in_progress, 0U);
    open(6);
    open(7);
    EXPECT_EQ(hub.metrics().logins_in_progress, 2U);
    hub.on_closed(now, 7);
    EXPECT_EQ(hub.metrics().logins_in_progress, 1U);
}

TEST_F(HubOverload, TheRetryAfterIsBoundedAndALongStormLeavesNoDebtBehind) {
    storm({1, 2, 3, 4, 5, 6});  // the burst of 6
    sent.clear();
    std::vector<server::ConnId> conns;
    for (server::ConnId conn = 10; conn < 110; ++conn) {
        conns.push_back(conn);
    }
    storm(conns);
    const std::vector<Duration> retries = retry_afters(conns);
    EXPECT_EQ(*std::min_element(retries.begin(), retries.end()), 5s);  // 100 waiting at 10/s: all at the bound
    EXPECT_EQ(hub.metrics().logins_shed_rate, 100U);
    advance(5s);  // the horizon was held to 5 s: now the rate admits again, with a full-ish burst
    sent.clear();
    storm({200});
    EXPECT_EQ(to<proto::LoginOk>(200).size(), 1U);
}

TEST_F(HubOverload, WhileTheDriverIsOverItsMemoryMarkNewLoginsAreRefusedAndSessionsGoOn) {
    connect(100, "held", {"ch"});
    hub.set_overloaded(true);
    sent.clear();
    storm({1});
    ASSERT_EQ(to<proto::Close>(1).size(), 1U);
    EXPECT_EQ(to<proto::Close>(1)[0].reason, proto::CloseReason::busy);
    EXPECT_EQ(to<proto::Close>(1)[0].reconnect_within, 100ms);
    EXPECT_EQ(hub.metrics().logins_shed_memory, 1U);
    frame(100, proto::Ping{});
    EXPECT_EQ(to<proto::Pong>(100).size(), 1U);
    frame(100, proto::Join{77, "other"});
    EXPECT_EQ(to<proto::JoinOk>(100).size(), 1U);
    hub.set_overloaded(false);
    storm({2});
    EXPECT_EQ(to<proto::LoginOk>(2).size(), 1U);
}

TEST_F(HubByHand, AFloodOverTheMessageRateIsRefusedWithRateLimited) {
    connect(1, "u", {"ch"});
    sent.clear();
    int limited = 0;
    for (int i = 0; i < 150; ++i) {
        frame(1, proto::SendMessage{static_cast<proto::RequestId>(1000 + i), "m" + std::to_string(i), std::nullopt,
                                    std::string("ch"), "x", false});
        limited += reply_error(1, static_cast<proto::RequestId>(1000 + i)) == make_error_code(errc::rate_limited);
    }
    EXPECT_EQ(limited, 50);  // a burst of 100
    EXPECT_EQ(hub.metrics().rate_limited, 50U);
    advance(1s);  // 50 more tokens
    sent.clear();
    frame(1, proto::SendMessage{5000, "m-late", std::nullopt, std::string("ch"), "x", false});
    EXPECT_FALSE(reply_error(1, 5000));
}

TEST_F(HubByHand, ChannelsPerUserAndMembersPerChannelAreLimited) {
    HubConfig config;
    config.limits.max_channels_per_user = 2;
    config.limits.max_members_per_channel = 1;
    HandDriver small(config);
    small.connect(1, "u");
    small.connect(2, "v");
    small.frame(1, proto::Join{1, "a"});
    small.frame(1, proto::Join{2, "b"});
    small.frame(1, proto::Join{3, "c"});
    EXPECT_EQ(small.to<proto::JoinOk>(1).size(), 2U);
    EXPECT_EQ(small.reply_error(1, 3), make_error_code(errc::limit_exceeded));
    small.frame(2, proto::Join{4, "a"});
    EXPECT_EQ(small.reply_error(2, 4), make_error_code(errc::limit_exceeded));
}

TEST_F(HubByHand, AConnectionThatNeverLogsInIsClosed) {
    open(1);
    advance(9s);
    EXPECT_TRUE(closed.empty());
    advance(1s);
    EXPECT_EQ(closed, std::vector<server::ConnId>{1});
}

TEST_F(HubByHand, ASilentConnectionIsClosedWithKeepAliveTimeoutButThePresenceLastsItsTimeout) {
    connect(1, "u", {"ch"});
    connect(2, "v", {"ch"});
    sent.clear();
    advance(5s);
    frame(2, proto::Ping{});  // v keeps talking; u went silent at 0 s
    advance(1s);
    ASSERT_EQ(to<proto::Close>(1).size(), 1U);
    EXPECT_EQ(to<proto::Close>(1)[0].reason, proto::CloseReason::keep_alive_timeout);
    hub.on_closed(now, 1);
    EXPECT_TRUE(to<proto::MemberLeft>(2).empty());  // still present (rtm: 30 s)
    for (int i = 0; i < 24; ++i) {
        frame(2, proto::Ping{});
        advance(1s);
    }
    ASSERT_EQ(to<proto::MemberLeft>(2).size(), 1U);  // at 30 s
    EXPECT_EQ(to<proto::MemberLeft>(2)[0].cause, MemberLeftCause::dropped);
}

// The keep-alive and presence deadlines live in the connection's and the session's records (not in the hub's timer
// map): they must fire when and in the order they did there, by time, then kind, then key.
TEST_F(HubByHand, SessionsSilentOnAnOpenTransportDropAtTheirOwnPresenceTimeoutsInTimeOrder) {
    connect(1, "watcher", {"ch"});
    const auto login_with = [&](server::ConnId conn, const std::string& user, Duration presence) {
        open(conn);
        proto::Login login = login_message(user, "valid", {"ch"});
        login.timings = {1s, presence, 30s, 32};  // below the keep-alive's 6 s: the presence deadline ends it
        frame(conn, login);
    };
    login_with(9, "w", 3s);  // armed before u, but u's key comes first: at the same instant u drops first
    login_with(10, "v", 2s);
    login_with(11, "u", 3s);
    login_with(12, "x", 3s);
    sent.clear();
    closed.clear();
    const auto left = [&] {
        std::vector<std::string> users;
        for (const auto& m : to<proto::MemberLeft>(1)) {
            EXPECT_EQ(m.cause, MemberLeftCause::dropped);
            users.push_back(m.user_id);
        }
        return users;
    };
    advance(1s);
    frame(1, proto::Ping{});
    frame(12, proto::Ping{});  // x's presence now runs to 4 s
    advance(999ms);
    EXPECT_TRUE(left().empty());
    advance(1ms);  // 2 s
    EXPECT_EQ(left(), std::vector<std::string>{"v"});
    frame(1, proto::Ping{});
    advance(1s);  // 3 s
    EXPECT_EQ(left(), (std::vector<std::string>{"v", "u", "w"}));
    frame(1, proto::Ping{});
    advance(999ms);
    EXPECT_EQ(left().size(), 3U);
    advance(1ms);  // 4 s
    EXPECT_EQ(left(), (std::vector<std::string>{"v", "u", "w", "x"}));
    EXPECT_EQ(closed, (std::vector<server::ConnId>{10, 11, 9, 12}));
}

TEST_F(HubByHand, ConnectionsSilentSinceTheSameInstantAreClosedAtTheKeepAliveInTheOrderOfTheirIds) {
    connect(9, "a");
    connect(10, "b");
    connect(11, "c");
    closed.clear();
    advance(1s);
    frame(11, proto::Ping{});
    advance(4999ms);
    EXPECT_TRUE(closed.empty());
    advance(1ms);  // 6 s: ties go by the connection id in decimal, as when it was the key of a timer map
    EXPECT_EQ(closed, (std::vector<server::ConnId>{10, 9}));
    advance(1s);
    EXPECT_EQ(closed, (std::vector<server::ConnId>{10, 9, 11}));
    EXPECT_EQ(to<proto::Close>(11).back().reason, proto::CloseReason::keep_alive_timeout);
}

TEST_F(HubByHand, ALoginWithoutTimingsGetsTheServersDefaultsAndTheirPresence) {
    // A client older than timing agreement asks for nothing (login_message sets no timings).
    const proto::ServerMessage reply = connect(1, "u", {"ch"});
    ASSERT_TRUE(std::holds_alternative<proto::LoginOk>(reply));
    EXPECT_EQ(std::get<proto::LoginOk>(reply).negotiated, (proto::Negotiated{1s, 30s, 30s, 32}));
    connect(2, "v", {"ch"});
    sent.clear();
    hub.on_closed(now, 1);
    for (int i = 0; i < 29; ++i) {
        frame(2, proto::Ping{});
        advance(1s);
    }
    EXPECT_TRUE(to<proto::MemberLeft>(2).empty());
    advance(1s);
    ASSERT_EQ(to<proto::MemberLeft>(2).size(), 1U);  // at the profile's 30 s
}

TEST_F(HubByHand, AskedTimingsAreAnsweredWithinTheBounds) {
    open(1);
    sent.clear();
    proto::Login login = login_message("u");
    login.timings = {50ms, 1s, 1h, 1000};
    frame(1, login);
    ASSERT_EQ(to<proto::LoginOk>(1).size(), 1U);
    EXPECT_EQ(to<proto::LoginOk>(1)[0].negotiated, (proto::Negotiated{100ms, 2s, 5min, 256}));
}

TEST_F(HubByHand, AdminKickAndBan) {
    connect(1, "u", {"ch"});
    connect(2, "v", {"ch"});
    sent.clear();
    EXPECT_FALSE(hub.kick(now, "app", "u", /*ban=*/true));
    drain();
    ASSERT_EQ(to<proto::Close>(1).size(), 1U);
    EXPECT_EQ(to<proto::Close>(1)[0].reason, proto::CloseReason::banned);
    ASSERT_EQ(to<proto::MemberLeft>(2).size(), 1U);
    EXPECT_EQ(to<proto::MemberLeft>(2)[0].cause, MemberLeftCause::kicked);
    EXPECT_EQ(hub.metrics().kicks, 1U);
    open(3);
    auto login = login_message("u");
    frame(3, login);
    EXPECT_EQ(reply_error(3, login.request_id), make_error_code(errc::banned_by_server));
    EXPECT_EQ(hub.kick(now, "app", "nobody", false), make_error_code(errc::not_logged_in));
}

TEST_F(HubByHand, ReplacedAppsKickTheSessionsOfARemovedAppAndNoOther) {
    // relinkd's reload: "other" added, then removed again; "app" kept throughout.
    const auto verifier_for = [this](std::set<std::string> apps) {
        return [this, apps](const std::string& app, const std::string&, const std::string& token) {
            return sim_token_check(now, apps.contains(app) ? "app" : app, token);
        };
    };
    hub.replace_apps(now, verifier_for({"app", "other"}), {"app", "other"});
    drain();
    connect(1, "u", {"ch"});
    connect(2, "v", {"ch"});
    open(3);
    auto other_login = login_message("w", "valid", {"ch"});
    other_login.app_id = "other";
    frame(3, other_login);
    ASSERT_EQ(to<proto::LoginOk>(3).size(), 1U) << "an added app logs in";
    sent.clear();
    closed.clear();

    hub.replace_apps(now, verifier_for({"app"}), {"app"});
    drain();
    ASSERT_EQ(to<proto::Close>(3).size(), 1U);
    EXPECT_EQ(to<proto::Close>(3)[0].reason, proto::CloseReason::kicked);
    EXPECT_EQ(closed, std::vector<server::ConnId>{3});
    EXPECT_TRUE(to<proto::Close>(1).empty() && to<proto::Close>(2).empty()) << "the kept app's sessions go on";
    EXPECT_TRUE(to<proto::MemberLeft>(1).empty()) << "other apps' channels are apart";
    EXPECT_EQ(hub.metrics().kicks, 1U);
    open(4);
    auto again = other_login;
    again.request_id = ++request;
    frame(4, again);
    EXPECT_EQ(reply_error(4, again.request_id), make_error_code(errc::invalid_app_id));
    frame(1, proto::Join{++request, "ch2"});
    EXPECT_EQ(to<proto::JoinOk>(1).size(), 1U);
}

TEST_F(HubByHand, DrainTellsEveryoneToComeBackWithinTheWindowAndRefusesNewLogins) {
    connect(1, "u");
    connect(2, "v");
    sent.clear();
    hub.drain(now, 2s);
    drain();
    for (const server::ConnId conn : {1, 2}) {
        ASSERT_EQ(to<proto::Close>(conn).size(), 1U);
        EXPECT_EQ(to<proto::Close>(conn)[0].reason, proto::CloseReason::draining);
        EXPECT_EQ(to<proto::Close>(conn)[0].reconnect_within, 2s);
    }
    EXPECT_TRUE(hub.draining());
    open(3);
    EXPECT_EQ(to<proto::Close>(3).size(), 1U);
}

TEST(HubDrain, TheWindowGrowsWithTheConnectionsSoTheReturnsFitTheLoginRate) {
    server::HubConfig config;
    config.limits.drain_logins_per_second = 10;
    config.limits.logins_per_second_per_address = 1000;
    config.limits.login_burst = 1000;
    HandDriver d(config);
    for (server::ConnId conn = 1; conn <= 50; ++conn) {
        d.connect(conn, "u" + std::to_string(conn));
    }
    d.sent.clear();
    // 50 connections at 10 logins/s: returns over 5 s, not 2, which are the window's first 80 %: 6.25 s.
    d.hub.drain(d.now, 2s);
    d.drain();
    for (server::ConnId conn = 1; conn <= 50; ++conn) {
        ASSERT_EQ(d.to<proto::Close>(conn).size(), 1U);
        EXPECT_EQ(d.to<proto::Close>(conn)[0].reconnect_within, 6250ms);
    }
}

TEST_F(HubByHand, ListingsAndMetrics) {
    connect(1, "u", {"ch"});
    connect(2, "v", {"ch", "other"});
    frame(1, proto::SendMessage{50, "id-1", std::nullopt, std::string("ch"), "hello", false});
    frame(1, proto::SendMessage{51, "id-1", std::nullopt, std::string("ch"), "hello", false});  // a re-send
    const auto sessions = hub.sessions();
    ASSERT_EQ(sessions.size(), 2U);
    EXPECT_EQ(sessions[0].user_id, "u");
    EXPECT_TRUE(sessions[0].connected);
    const auto channels = hub.channels();
    ASSERT_EQ(channels.size(), 2U);
    EXPECT_EQ(channels[0].channel, "ch");
    EXPECT_EQ(channels[0].members, (std::vector<std::string>{"u", "v"}));
    EXPECT_EQ(channels[0].messages, 1U);
    const auto& m = hub.metrics();
    EXPECT_EQ(m.sessions, 2U);
    EXPECT_EQ(m.logins, 2U);
    EXPECT_EQ(m.messages, 1U);
    EXPECT_EQ(m.deliveries, 1U);
    EXPECT_EQ(m.deduplicated, 1U);
    EXPECT_EQ(m.connections_open, 2U);
}

TEST_F(HubByHand, APeerMessageToAnOfflineUserFailsUnlessStored) {
    connect(1, "u");
    frame(1, proto::SendMessage{60, "p-1", std::string("nobody"), std::nullopt, "hi", false});
    EXPECT_EQ(reply_error(1, 60), make_error_code(errc::peer_offline));
    frame(1, proto::SendMessage{61, "p-2", std::string("later"), std::nullopt, "hi", true});
    EXPECT_FALSE(reply_error(1, 61));
    const auto ok = connect(2, "later");
    ASSERT_TRUE(std::holds_alternative<proto::LoginOk>(ok));
    EXPECT_EQ(std::get<proto::LoginOk>(ok).backfilled, 1U);
    const auto messages = to<proto::Message>(2);
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_TRUE(messages[0].backfilled);
    EXPECT_EQ(messages[0].payload, "hi");
}

// A session holds no message state until its first message (the store makes it then): a session that idled still
// de-duplicates what it sends, numbers what it receives from 1 and keeps it for its resume.
TEST_F(HubByHand, AnIdleSessionsFirstMessagesAreDeduplicatedNumberedAndKeptForItsResume) {
    const auto first = connect(1, "u");
    ASSERT_TRUE(std::holds_alternative<proto::LoginOk>(first));
    const auto& u_ok = std::get<proto::LoginOk>(first);
    EXPECT_EQ(u_ok.peer_position.seq, 0U);
    connect(2, "v");
    advance(std::chrono::seconds(1));
    sent.clear();
    frame(2, proto::SendMessage{80, "d-1", std::string("u"), std::nullopt, "once", false});
    frame(2, proto::SendMessage{81, "d-1", std::string("u"), std::nullopt, "once", false});  // a re-send
    EXPECT_FALSE(reply_error(2, 80));
    EXPECT_FALSE(reply_error(2, 81));
    EXPECT_EQ(hub.metrics().deduplicated, 1U);
    const auto live = to<proto::Message>(1);
    ASSERT_EQ(live.size(), 1U);
    EXPECT_EQ(live[0].position.seq, 1U);

    // u resumes on another connection having seen none of it: the message comes again, as backfill.
    open(3);
    sent.clear();
    auto login = login_message("u");
    login.resume_token = u_ok.resume_token;
    login.last_peer_seen = proto::StreamPosition{u_ok.peer_position.epoch, 0};
    frame(3, login);
    const auto ok = to<proto::LoginOk>(3);
    ASSERT_EQ(ok.size(), 1U);
    EXPECT_TRUE(ok[0].resumed);
    EXPECT_EQ(ok[0].backfilled, 1U);
    const auto again = to<proto::Message>(3);
    ASSERT_EQ(again.size(), 1U);
    EXPECT_EQ(again[0].payload, "once");
    EXPECT_TRUE(again[0].backfilled);
}

TEST_F(HubByHand, AChannelMessageIsOneActionForEveryMemberAndAKickAfterItComesAfterIt) {
    connect(1, "u", {"ch"});
    connect(2, "v", {"ch"});
    connect(3, "w", {"ch"});
    sent.clear();
    // By hand, without drain(): the raw actions, in the order the driver gets them.
    hub.on_frame(now, 1, proto::SendMessage{100, "m-1", std::nullopt, std::string("ch"), "hello", false});
    ASSERT_FALSE(hub.kick(now, "app", "v", /*ban=*/false));
    std::vector<server::HubAction> actions;
    while (auto action = hub.poll_action()) {
        actions.push_back(std::move(*action));
    }
    // The message to the other two members is one action, encoded once by the driver; it comes before v's Close
    // and the close of v's connection.
    std::size_t many_at = actions.size();
    std::size_t close_message_at = actions.size();
    std::size_t close_at = actions.size();
    for (std::size_t i = 0; i < actions.size(); ++i) {
        if (const auto* many = std::get_if<server::SendToMany>(&actions[i])) {
            EXPECT_EQ(many_at, actions.size()) << "one SendToMany only";
            many_at = i;
            EXPECT_EQ(many->conns, (std::vector<server::ConnId>{2, 3}));
            ASSERT_TRUE(std::holds_alternative<proto::Message>(many->message));
            EXPECT_EQ(std::get<proto::Message>(many->message).payload, "hello");
        } else if (const auto* one = std::get_if<server::SendMessage>(&actions[i])) {
            EXPECT_FALSE(std::holds_alternative<proto::Message>(one->message)) << "a channel message sent one by one";
            if (one->conn == 2 && std::holds_alternative<proto::Close>(one->message)) {
                close_message_at = i;
            }
        } else if (std::get<server::CloseConnection>(actions[i]).conn == 2) {
            close_at = i;
        }
    }
    ASSERT_LT(many_at, actions.size());
    EXPECT_LT(many_at, close_message_at);
    EXPECT_LT(close_message_at, close_at);
    ASSERT_LT(close_at, actions.size());
    EXPECT_EQ(hub.metrics().deliveries, 2U);
    // for_each_conn: one send per member named, in order.
    std::vector<server::ConnId> receivers;
    server::for_each_conn(
        actions[many_at], [&](server::ConnId conn, const proto::ServerMessage&) { receivers.push_back(conn); },
        [](server::ConnId) {});
    EXPECT_EQ(receivers, (std::vector<server::ConnId>{2, 3}));
}

// ============================================================================ the hub's and the store's timers

TEST(Deadlines, ReplacedClearedAndPoppedInTimeOrderTiesByKeyAlsoAfterAMove) {
    using Key = std::pair<int, std::string>;
    cluster::Deadlines<Key> timers;
    timers.set({1, "b"}, at_ms(300));
    timers.set({1, "a"}, at_ms(300));
    timers.set({2, "c"}, at_ms(100));
    timers.set({2, "c"}, at_ms(200));  // replaces its 100 ms
    timers.set({3, "gone"}, at_ms(50));
    timers.clear({3, "gone"});
    timers.clear({9, "never set"});
    EXPECT_EQ(timers.at({2, "c"}), at_ms(200));
    EXPECT_EQ(timers.at({3, "gone"}), std::nullopt);
    EXPECT_EQ(timers.earliest(), at_ms(200));

    cluster::Deadlines<Key> moved(std::move(timers));  // the time index still points at the keys it holds
    EXPECT_EQ(moved.pop_due(at_ms(199)), std::nullopt);
    std::vector<std::pair<TimePoint, Key>> order;
    while (auto due = moved.pop_due(at_ms(1000))) {
        order.push_back(*due);
    }
    const std::vector<std::pair<TimePoint, Key>> expected{
        {at_ms(200), {2, "c"}}, {at_ms(300), {1, "a"}}, {at_ms(300), {1, "b"}}};
    EXPECT_EQ(order, expected);
    EXPECT_EQ(moved.earliest(), std::nullopt);
    moved.set({1, "a"}, at_ms(400));  // a popped key can be set again
    EXPECT_EQ(moved.at({1, "a"}), at_ms(400));
}

}  // namespace
}  // namespace relink::test
