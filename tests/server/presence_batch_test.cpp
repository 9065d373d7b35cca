// Membership changes in batches (Limits::presence_batch_interval, docs/protocol.md "Presence in batches"), on the
// virtual clock: a change to a quiet connection goes out at once, later ones within the interval go out together in
// one Presence frame per channel at its end; anything else sent to the member first flushes what it is owed, so it
// never hears from a user before that user's join; a leave and a join of one user keep their order; an interval
// of 0 and a client that did not ask for batches get one frame per change; and a storm of re-joins costs each member
// far fewer frames, with every client's member list exact in the end.
#include <algorithm>
#include <iostream>
#include <memory>
#include <set>

#include "core/harness.hpp"
#include "server/hub_world.hpp"

namespace relink::test {
namespace {

using server::ConnId;
using server::Hub;
using server::HubConfig;

constexpr Duration kInterval = 200ms;

std::string change_text(const proto::PresenceChange& c) {
    using Kind = proto::PresenceChange::Kind;
    switch (c.kind) {
        case Kind::joined: return "joined " + c.user_id;
        case Kind::left: return "left " + c.user_id + " " + std::string(to_string(c.cause));
        case Kind::stream_added: return "stream_added " + c.user_id + " " + c.stream;
        case Kind::stream_removed: break;
    }
    return "stream_removed " + c.user_id + " " + c.stream;
}

/// A frame as the tests compare it: "<ms> <what>", a batch as "<ms> [<change>, <change> ...]", a single membership
/// frame as "<ms> single <change>".
std::string frame_text(TimePoint at, const proto::ServerMessage& m) {
    std::string out = ms_text(at) + " ";
    if (const auto* batch = std::get_if<proto::Presence>(&m)) {
        out += batch->channel + " [";
        for (std::size_t i = 0; i < batch->changes.size(); ++i) {
            out += (i == 0 ? "" : ", ") + change_text(batch->changes[i]);
        }
        return out + "]";
    }
    if (auto change = proto::presence_change(m)) {
        return out + "single " + change_text(*change);
    }
    if (const auto* message = std::get_if<proto::Message>(&m)) {
        return out + "message from " + message->from;
    }
    return out + std::string(proto::type_name(m));
}

/// A bare hub driven by hand on the virtual clock, recording every frame with the time it was sent.
struct Driver {
    explicit Driver(Duration interval)
        : hub(
              [&] {
                  HubConfig config;
                  config.limits.presence_batch_interval = interval;
                  config.keep_alive_timeout = Duration::zero();  // members quiet for seconds keep their connection
                  return config;
              }(),
              [this](const std::string& app, const std::string&, const std::string& token) {
                  return sim_token_check(now, app, token);
              }) {}

    void drain() {
        while (auto action = hub.poll_action()) {
            server::for_each_conn(
                *action,
                [&](server::ConnId conn, const proto::ServerMessage& message) {
                    sent.push_back({now, conn, message});
                },
                [](server::ConnId) {});
        }
    }
    /// Moves the clock to `t`, firing every deadline on the way at its time.
    void run_to(TimePoint t) {
        while (auto deadline = hub.next_deadline()) {
            if (*deadline > t) {
                break;
            }
            now = std::max(now, *deadline);
            hub.handle_timeout(now);
            drain();
        }
        now = t;
    }
    void frame(ConnId conn, const proto::ClientMessage& message) {
        hub.on_frame(now, conn, message);
        drain();
    }
    /// Opens `conn` and logs `user` in on it, in `channels`; `batches`: its client reads Presence frames.
    void login(ConnId conn, const std::string& user, std::vector<std::string> channels, bool batches = true) {
        hub.on_open(now, conn, "10.0.0." + std::to_string(conn));
        proto::Login login;
        login.request_id = ++request;
        login.app_id = "app";
        login.user_id = user;
        login.token = "valid";
        login.instance_id = "instance-" + user;
        login.presence_batches = batches;
        for (auto& channel : channels) {
            login.channels.push_back({std::move(channel), std::nullopt, {}});
        }
        frame(conn, login);
    }
    /// The frames `conn` received from `from` on, but pongs and replies (unless `all`).
    [[nodiscard]] std::vector<std::string> frames_to(ConnId conn, TimePoint from, bool all = false) const {
        std::vector<std::string> out;
        for (const auto& s : sent) {
            if (s.conn == conn && s.at >= from &&
                (all ||
                 (!std::holds_alternative<proto::Pong>(s.message) && !std::holds_alternative<proto::Reply>(s.message) &&
                  !std::holds_alternative<proto::JoinOk>(s.message)))) {
                out.push_back(frame_text(s.at, s.message));
            }
        }
        return out;
    }

    struct Sent {
        TimePoint at;
        ConnId conn;
        proto::ServerMessage message;
    };
    TimePoint now{};
    Hub hub;
    std::vector<Sent> sent;
    proto::RequestId request{0};
};

constexpr std::size_t kMembers = 10;
constexpr std::size_t kJoiners = 5;
constexpr ConnId kFirstJoiner = 100;

/// kMembers members of "ch" who have been quiet for a while; then kJoiners more join 30 ms apart from 10 s on.
std::unique_ptr<Driver> joiners_30ms_apart(Duration interval) {
    auto driver = std::make_unique<Driver>(interval);  // the hub's verifier refers to it: it stays where it is
    Driver& d = *driver;
    for (ConnId m = 1; m <= kMembers; ++m) {
        d.login(m, "m" + std::to_string(m), {"ch"});
    }
    d.run_to(at_ms(10'000));
    for (ConnId j = 0; j < kJoiners; ++j) {
        d.run_to(at_ms(10'000 + 30 * static_cast<long long>(j)));
        d.login(kFirstJoiner + j, "j" + std::to_string(j + 1), {"ch"});
    }
    d.run_to(at_ms(11'000));
    return driver;
}

TEST(HubPresenceBatches, JoinersWithinOneIntervalReachEachMemberInOneFrameAfterTheFirst) {
    const auto driver = joiners_30ms_apart(kInterval);
    const Driver& d = *driver;
    // The first join reaches the quiet members at once; the four that follow within its interval wait for its end
    // and go out together, in the order they joined.
    const std::vector<std::string> member_sees{
        "10000 ch [joined j1]",
        "10200 ch [joined j2, joined j3, joined j4, joined j5]",
    };
    for (ConnId m = 1; m <= kMembers; ++m) {
        EXPECT_EQ(d.frames_to(m, at_ms(10'000)), member_sees) << "m" << m;
    }
    // A joiner hears only of those who joined after its snapshot, the first of them at once.
    EXPECT_EQ(d.frames_to(kFirstJoiner, at_ms(10'000)),
              (std::vector<std::string>{"10000 login_ok", "10030 ch [joined j2]",
                                        "10230 ch [joined j3, joined j4, joined j5]"}));
    EXPECT_EQ(d.frames_to(kFirstJoiner + 3, at_ms(10'000)),
              (std::vector<std::string>{"10090 login_ok", "10120 ch [joined j5]"}));
    EXPECT_EQ(d.frames_to(kFirstJoiner + 4, at_ms(10'000)), (std::vector<std::string>{"10120 login_ok"}));
}

TEST(HubPresenceBatches, TheFramesPerRejoinDropAndTheChangesAnnouncedStayTheSame) {
    const auto presence_after_10s = [](const Driver& d) {
        std::pair<std::uint64_t, std::uint64_t> frames_changes;
        for (const auto& s : d.sent) {
            if (s.at < at_ms(10'000)) {
                continue;
            }
            if (const auto* batch = std::get_if<proto::Presence>(&s.message)) {
                ++frames_changes.first;
                frames_changes.second += batch->changes.size();
            } else if (proto::presence_change(s.message)) {
                ++frames_changes.first;
                ++frames_changes.second;
            }
        }
        return frames_changes;
    };
    const auto batched_driver = joiners_30ms_apart(kInterval);
    const auto singles_driver = joiners_30ms_apart(Duration::zero());
    const Driver& batched = *batched_driver;
    const Driver& singles = *singles_driver;
    // Every join is announced to everyone already there: 10 × 5 + 4 + 3 + 2 + 1 = 60 changes either way.
    EXPECT_EQ(presence_after_10s(singles), (std::pair<std::uint64_t, std::uint64_t>{60, 60}));
    // In batches: 2 frames to each member, 2 to j1, j2 and j3, 1 to j4.
    EXPECT_EQ(presence_after_10s(batched), (std::pair<std::uint64_t, std::uint64_t>{27, 60}));
    // The hub's metrics count the same (the members' own logins at 0 s included: 45 changes, 45 frames singly).
    EXPECT_EQ(singles.hub.metrics().presence_frames, 45U + 60U);
    EXPECT_EQ(singles.hub.metrics().presence_changes, 45U + 60U);
    EXPECT_EQ(batched.hub.metrics().presence_changes, 45U + 60U);
    EXPECT_LT(batched.hub.metrics().presence_frames, 45U + 27U + 1U);
    // Interval 0 sends no batch at all.
    for (const auto& s : singles.sent) {
        EXPECT_FALSE(std::holds_alternative<proto::Presence>(s.message)) << frame_text(s.at, s.message);
    }
}

TEST(HubPresenceBatches, AMessageFromAJoinerIsPrecededByItsJoinAndAPongPassesHeldChanges) {
    Driver d(kInterval);
    d.login(1, "m", {"ch"});
    d.run_to(at_ms(10'000));
    d.login(2, "j1", {"ch"});  // m hears at once, then is held for 200 ms
    d.run_to(at_ms(10'050));
    d.login(3, "j2", {"ch"});  // held
    d.run_to(at_ms(10'060));
    d.frame(1, proto::Ping{});  // the pong says nothing about anyone: the change stays held
    d.run_to(at_ms(10'100));
    d.frame(3, proto::SendMessage{7, "m-1", std::nullopt, "ch", "hello", false});
    d.run_to(at_ms(10'300));
    d.login(4, "j3", {"ch"});  // quiet again since 10 200 (nothing was left then): at once
    d.run_to(at_ms(11'000));
    EXPECT_EQ(d.frames_to(1, at_ms(10'000), /*all=*/true),
              (std::vector<std::string>{"10000 ch [joined j1]", "10060 pong", "10100 ch [joined j2]",
                                        "10100 message from j2", "10300 ch [joined j3]"}));
}

TEST(HubPresenceBatches, ALeaveAndAJoinOfOneUserKeepTheirOrderAndAnOldClientGetsSingleFramesAtOnce) {
    Driver d(kInterval);
    d.login(1, "m", {"ch"});
    d.login(2, "old", {"ch"}, /*batches=*/false);  // a client older than batches
    d.run_to(at_ms(10'000));
    d.login(3, "x", {"ch"});
    d.run_to(at_ms(10'020));
    d.frame(3, proto::Leave{50, "ch"});
    d.run_to(at_ms(10'040));
    d.frame(3, proto::Join{51, "ch"});
    d.run_to(at_ms(10'060));
    d.frame(3, proto::Publish{52, "ch", "cam", false});
    d.run_to(at_ms(10'080));
    d.frame(3, proto::Leave{53, "ch"});  // its stream goes first
    d.run_to(at_ms(11'000));
    EXPECT_EQ(d.frames_to(1, at_ms(10'000)),
              (std::vector<std::string>{"10000 ch [joined x]",
                                        "10200 ch [left x QUIT, joined x, stream_added x cam, stream_removed x cam, "
                                        "left x QUIT]"}));
    EXPECT_EQ(d.frames_to(2, at_ms(10'000)),
              (std::vector<std::string>{"10000 single joined x", "10020 single left x QUIT", "10040 single joined x",
                                        "10060 single stream_added x cam", "10080 single stream_removed x cam",
                                        "10080 single left x QUIT"}));
}

TEST(HubPresenceBatches, ChangesOfOneInputGoOutInOneFrameAndAHeldBatchIsDroppedWithTheConnection) {
    Driver d(kInterval);
    d.login(1, "m", {"ch", "other"});
    d.login(2, "x", {"ch", "other"});
    d.frame(2, proto::Publish{60, "ch", "cam", false});
    d.frame(2, proto::Publish{61, "ch", "mic", false});
    d.run_to(at_ms(10'000));
    d.frame(2, proto::Logout{62});  // one input: both streams end, then x leaves both channels
    d.run_to(at_ms(11'000));
    EXPECT_EQ(d.frames_to(1, at_ms(10'000)),
              (std::vector<std::string>{"10000 ch [stream_removed x cam, stream_removed x mic, left x QUIT]",
                                        "10000 other [left x QUIT]"}));

    d.login(3, "y", {"ch"});  // m hears at once and is held
    d.run_to(at_ms(11'050));
    d.login(4, "z", {"ch"});  // held for m ...
    d.run_to(at_ms(11'100));
    d.hub.kick(d.now, "app", "m", /*ban=*/false);  // ... and dropped with m's connection
    d.drain();
    d.run_to(at_ms(12'000));
    EXPECT_EQ(d.frames_to(1, at_ms(11'000), /*all=*/true),
              (std::vector<std::string>{"11000 ch [joined y]", "11100 close"}));
}

// ============================================================================ a storm of real clients

/// The members each client's events leave it with in `channel` (joins minus leaves, in order).
std::set<std::string> members_seen(const World& world, const std::string& who, const std::string& channel) {
    std::set<std::string> members;
    for (const auto& r : world.log()) {
        if (r.client != who) {
            continue;
        }
        if (const auto* joined = std::get_if<core::MemberJoined>(&r.event); joined && joined->channel == channel) {
            members.insert(joined->user_id);
        } else if (const auto* left = std::get_if<core::MemberLeft>(&r.event); left && left->channel == channel) {
            members.erase(left->user_id);
        }
    }
    return members;
}

struct StormResult {
    server::Metrics metrics;  ///< of the replacement server
    std::size_t logins{0};
};

/// 30 rtm clients in one channel; the server is replaced (a crash and a restart, as after a drain the new server
/// has no sessions): every client logs in again and re-joins, each at its own jittered point of its first retry.
StormResult restart_storm(Duration interval) {
    constexpr int kClients = 30;
    sim::HubServerConfig server;
    server.hub.limits.presence_batch_interval = interval;
    World world(server);
    for (int i = 1; i <= kClients; ++i) {
        world.add_client("U" + std::to_string(i),
                         core::make_config(Profile::rtm, "app", static_cast<std::uint64_t>(i)));
        login_and_join(world, "U" + std::to_string(i), "ch");
    }
    world.run_for(5s);
    world.server_restart();
    world.run_for(10s);
    StormResult out;
    out.metrics = world.server().hub().metrics();
    out.logins = out.metrics.logins;
    for (int i = 1; i <= kClients; ++i) {
        const std::string who = "U" + std::to_string(i);
        EXPECT_EQ(world.client(who).state(), ConnectionState::connected) << who;
        std::set<std::string> others;
        for (int k = 1; k <= kClients; ++k) {
            if (k != i) {
                others.insert("U" + std::to_string(k));
            }
        }
        EXPECT_EQ(members_seen(world, who, "ch"), others) << who;  // every list exact after the storm
    }
    return out;
}

TEST(HubPresenceBatches, AStormOfRejoinsCostsFarFewerFramesAndLeavesEveryMemberListExact) {
    const StormResult singles = restart_storm(Duration::zero());
    const StormResult batched = restart_storm(kInterval);
    ASSERT_EQ(singles.logins, 30U);
    ASSERT_EQ(batched.logins, 30U);
    EXPECT_EQ(singles.metrics.presence_frames, singles.metrics.presence_changes);
    const double per_rejoin_singles = static_cast<double>(singles.metrics.presence_frames) / 30.0;
    const double per_rejoin_batched = static_cast<double>(batched.metrics.presence_frames) / 30.0;
    std::cout << "presence frames per re-join: " << per_rejoin_singles << " one per change, " << per_rejoin_batched
              << " in batches of " << ms_text(TimePoint{} + kInterval)
              << " ms (changes: " << singles.metrics.presence_changes << " / " << batched.metrics.presence_changes
              << ")\n";
    EXPECT_LT(per_rejoin_batched * 3, per_rejoin_singles);
}

}  // namespace
}  // namespace relink::test
