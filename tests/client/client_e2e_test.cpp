// relink::Client end to end, issue 4: the seed timelines of ../shared/spec/behaviour.md section 3 (T-RTC,
// T-RTC-WEB, T-RTM, T-ROOM) and the failure cases around them — duplicate login, admin kick and ban, token expiry
// while reconnecting, invalid app id / token / channel name, a server killed and restarted or drained, and messages
// counted across outages (R-RTM-3 … R-RTM-6) — with real relink::Client instances against a real relinkd over
// loopback TLS, the client under test behind the fault proxy (src/faultproxy), both ends on the same compressed
// time scale (ClientConfig::time_scale, relinkd --time-scale).
//
// Real clocks and a shared 2-core machine: the tests assert the ORDER of events and GENEROUS bounds around each
// threshold, never exact milliseconds (tests/core/timeline_*_test.cpp check the exact times on a virtual clock).
// Every wait is bounded; a sleep only lets a scaled period pass when "nothing happens during it" is what is tested.
//
// How a link breaks here: `blackhole` (packets dropped, no FIN, no RST: the seeds' T3) and, to repair it, `pass`
// plus `reset_all()`: the attempt that hangs in its TLS handshake on a dead connection is reset like a NAT would,
// so the client's next attempt follows within one backoff delay instead of one attempt timeout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client/client_harness.hpp"
#include "client/client_internals.hpp"
#include "client/e2e_party.hpp"
#include "faultproxy/fault_proxy.hpp"
#include "relink/client.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;
using faultproxy::FaultProxy;
using faultproxy::Mode;
using State = ConnectionState;
using Reason = ConnectionReason;

constexpr const char* kAdminSecret = "adm1n";

/// Milliseconds, for readable comparisons and failure messages.
double ms(std::chrono::nanoseconds d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

/// A profile's default timings on a time scale: the thresholds a test waits for.
Timings scaled(Profile profile, double scale) {
    return timings_for(profile).scaled(scale);
}

/// "prefix<first>" … "prefix<last>".
std::vector<std::string> numbered(const std::string& prefix, int first, int last) {
    std::vector<std::string> out;
    for (int i = first; i <= last; ++i) {
        out.push_back(prefix + std::to_string(i));
    }
    return out;
}

/// The fixture: relinkd processes (each with the admin API, in its own directory, sharing one CA file path so that
/// a replacement server is trusted by the clients of the first), and configs for clients of them.
class ClientE2e : public ::testing::Test {
protected:
    void SetUp() override { dir_ = temp_dir(); }

    void TearDown() override {
        for (auto& server : servers_) {
            if (server) {
                EXPECT_EQ(server->stop(), 0) << server->stderr_text();
                if (HasFailure()) {
                    std::fprintf(stderr, "---- relinkd stderr (last 6000 bytes)\n%s\n",
                                 tail(server->stderr_text(), 6000).c_str());
                }
            }
        }
        servers_.clear();
        std::filesystem::remove_all(dir_);
    }

    static std::string tail(const std::string& text, std::size_t bytes) {
        return text.size() <= bytes ? text : text.substr(text.size() - bytes);
    }

    /// Starts a relinkd on `scale` (its durations multiplied like the clients'), with the admin API, listening on
    /// `port` (0: any). The first one started is server(); later ones write their certificate to its CA file, so
    /// that they are trusted by its clients. Returns nullptr (and records nothing) when relinkd does not start.
    Relinkd* try_start_server(double scale, std::vector<std::string> extra = {}, std::uint16_t port = 0) {
        Relinkd::LaunchOptions options;
        options.port = port;
        options.admin_secret = kAdminSecret;
        options.extra = std::move(extra);
        options.extra.insert(options.extra.end(), {"--time-scale", std::to_string(scale)});
        options.ca_file = ca_file_;  // empty for the first: its own directory's
        const auto dir = dir_ / ("relinkd-" + std::to_string(servers_.size()) + "-" + std::to_string(++launches_));
        std::filesystem::create_directories(dir);
        auto server = Relinkd::launch(dir, options);
        if (!server) {
            return nullptr;
        }
        if (servers_.empty()) {
            ca_file_ = server->ca_file();
        }
        servers_.push_back(std::move(server));
        return servers_.back().get();
    }

    /// try_start_server(), failing the test (by an exception: gtest reports it) when relinkd does not start.
    Relinkd& start_server(double scale, std::vector<std::string> extra = {}) {
        Relinkd* server = try_start_server(scale, std::move(extra));
        if (server == nullptr) {
            throw std::runtime_error("relinkd did not start");
        }
        return *server;
    }

    Relinkd& server() { return *servers_.front(); }

    /// A client of app "app" as `user` with `profile`, to 127.0.0.1:`port`, on `scale`.
    ClientConfig config(const std::string& user, Profile profile, double scale, std::uint16_t port) const {
        ClientConfig c;
        c.url = "wss://127.0.0.1:" + std::to_string(port) + "/";
        c.app_id = "app";
        c.user_id = user;
        c.token = mint_token(user);
        c.profile = profile;
        c.time_scale = scale;
        c.tls.ca_file = ca_file_;
        c.tls.use_system_store = false;
        return c;
    }

    static std::unique_ptr<Party> party(ClientConfig config) { return std::make_unique<Party>(std::move(config)); }

    /// POST /kick on the first server's admin API.
    HttpResponse admin_kick(const std::string& user, bool ban, std::optional<double> ban_seconds = std::nullopt) {
        std::string body = R"({"app":"app","user":")" + user + R"(","ban":)" + (ban ? "true" : "false");
        if (ban_seconds) {
            body += R"(,"ban_seconds":)" + std::to_string(*ban_seconds);
        }
        body += "}";
        return http_request(server().admin_port(), "POST", "/kick", std::string("Bearer ") + kAdminSecret, body);
    }

    HttpResponse admin_get(const std::string& target) {
        return http_request(server().admin_port(), "GET", target, std::string("Bearer ") + kAdminSecret);
    }

    /// The link comes back: new connections pass, and the attempt hanging on a dead one is reset.
    static void repair(FaultProxy& proxy) {
        proxy.set_mode(Mode::pass);
        proxy.reset_all();
    }

    /// Asserts that no new connection reaches the proxy for `window`: the client stopped retrying.
    static void expect_no_more_attempts(FaultProxy& proxy, std::chrono::milliseconds window) {
        const auto before = proxy.stats().connections_accepted;
        std::this_thread::sleep_for(window);  // the thing tested: nothing happens meanwhile
        EXPECT_EQ(proxy.stats().connections_accepted, before) << "the client kept trying after giving up";
    }

    /// Waits (bounded) until the wall clock, which tokens expire on, is `margin` past the Unix second `exp`.
    static void wait_wall_clock_past(std::int64_t exp, std::chrono::milliseconds margin) {
        const auto until = std::chrono::system_clock::time_point(std::chrono::seconds(exp)) + margin;
        const auto left = until - std::chrono::system_clock::now();
        if (left > std::chrono::nanoseconds::zero()) {
            std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(left, 10s));
        }
    }

    std::filesystem::path dir_;
    std::string ca_file_;
    std::vector<std::unique_ptr<Relinkd>> servers_;
    int launches_{0};
    /// Completions of the test's operations. A member, not a local of the test, so that it outlives every client
    /// (a client may still complete an operation while it is destroyed: its logout fails what is pending).
    Completions done_;
};

bool is_member_event_of(const Recorder::Entry& entry, const std::string& user) {
    if (const auto* e = std::get_if<MemberJoined>(&entry.event)) {
        return e->user_id == user;
    }
    if (const auto* e = std::get_if<MemberLeft>(&entry.event)) {
        return e->user_id == user;
    }
    return false;
}

/// Member events about `user` in `events` from index `from` on.
std::size_t member_events_about(Recorder& events, const std::string& user, std::size_t from) {
    std::size_t n = 0;
    const auto log = events.snapshot();
    for (std::size_t i = from; i < log.size(); ++i) {
        n += is_member_event_of(log[i], user) ? 1 : 0;
    }
    return n;
}

// =============================================================================================== T-RTC (rtc)

class TRtcE2e : public ClientE2e {
protected:
    /// UID2 joins "call" straight to the server, then UID1 through the proxy; returns when both are CONNECTED and
    /// UID2 has seen UID1 join (T0 … T2 of the table).
    void join_both(double scale) {
        start_server(scale);
        proxy_ = std::make_unique<FaultProxy>("127.0.0.1", server().port());
        uid2_ = party(config("UID2", Profile::rtc, scale, server().port()));
        ASSERT_FALSE((*uid2_)->join("call"));
        ASSERT_TRUE(uid2_->events.wait_state(State::connected, Reason::join_success, 0, 10s));
        uid1_ = party(config("UID1", Profile::rtc, scale, proxy_->port()));
        ASSERT_FALSE((*uid1_)->join("call"));
        ASSERT_TRUE(uid1_->events.wait_state(State::connected, Reason::join_success, 0, 10s));
        EXPECT_EQ(uid1_->events.states(),
                  (std::vector<std::string>{"CONNECTING CONNECTING", "CONNECTED JOIN_SUCCESS"}));
        EXPECT_TRUE(uid1_->events.wait_for<JoinSuccess>(5s, [](const JoinSuccess& e) { return e.channel == "call"; }));
        ASSERT_TRUE(
            uid2_->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, 0, 10s))
            << "T2: UID2 did not see UID1 join";
    }

    void TearDown() override {
        uid1_.reset();
        uid2_.reset();
        proxy_.reset();
        ClientE2e::TearDown();
    }

    std::unique_ptr<FaultProxy> proxy_;
    std::unique_ptr<Party> uid2_;
    std::unique_ptr<Party> uid1_;
};

// T3 … T5, and the link back between T5 and T6: REJOIN_SUCCESS + rejoin_success, and UID2 sees nothing at all.
TEST_F(TRtcE2e, SilentLinkIsInterruptedThenLostAndRejoinsBeforeThePeerNotices) {
    const double scale = 0.2;  // T4 = 0.8 s, T5 = 2.8 s, T6 = 4 s after the break
    const Timings t = scaled(Profile::rtc, scale);
    ASSERT_NO_FATAL_FAILURE(join_both(scale));
    Party& uid1 = *uid1_;
    Party& uid2 = *uid2_;
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    proxy_->set_mode(Mode::blackhole);  // T3
    const auto t3 = Clock::now();
    const auto interrupted = uid1.events.wait_state(State::reconnecting, Reason::interrupted, uid1_mark, 10s);
    ASSERT_TRUE(interrupted) << "T4: no RECONNECTING INTERRUPTED";
    const auto lost_event = uid1.events.wait_index<ConnectionLost>({}, *interrupted, 10s);
    const auto lost = uid1.events.wait_state(State::reconnecting, Reason::lost, *interrupted, 10s);
    ASSERT_TRUE(lost_event) << "T5: no connection_lost";
    ASSERT_TRUE(lost) << "T5: no RECONNECTING LOST";
    EXPECT_LT(*lost_event, *lost) << "connection_lost comes with, and before, RECONNECTING LOST";

    // T4 = T3 + 4 s (counted from the last data received, at most a heartbeat before the break); T5 = T4 + 10 s.
    const double t4 = ms(uid1.events.at(*interrupted) - t3);
    EXPECT_GE(t4, 0.5 * ms(t.interrupted_after));
    EXPECT_LE(t4, ms(t.interrupted_after) + 2000);
    const double t5 = ms(uid1.events.at(*lost) - uid1.events.at(*interrupted));
    EXPECT_GE(t5, 0.9 * ms(t.lost_after));
    EXPECT_LE(t5, ms(t.lost_after) + 1500);

    repair(*proxy_);  // between T5 and T6
    const auto back = uid1.events.wait_state(State::connected, Reason::rejoin_success, *lost, 10s);
    ASSERT_TRUE(back) << "no CONNECTED REJOIN_SUCCESS";
    EXPECT_TRUE(uid1.events.wait_index<RejoinSuccess>({}, *lost, 2s)) << "no rejoin_success";
    EXPECT_LT(ms(uid1.events.at(*back) - t3), ms(t.presence_timeout)) << "the repair came after T6";
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "RECONNECTING LOST", "CONNECTED REJOIN_SUCCESS"}));
    const auto continuity = uid1.events.wait_for<ContinuityReport>(2s);
    ASSERT_TRUE(continuity);
    EXPECT_TRUE(continuity->resumed);

    // Past T6: had the resume not been silent, UID2 would have seen user_offline by now.
    std::this_thread::sleep_until(t3 + t.presence_timeout + 500ms);
    EXPECT_EQ(member_events_about(uid2.events, "UID1", uid2_mark), 0U) << uid2.events.dump();
}

// The link back after T6: UID2 saw user_offline(UID1, DROPPED) at T6 and sees user_joined(UID1) again.
TEST_F(TRtcE2e, BackAfterThePresenceTimeoutThePeerSeesOfflineThenJoinedAgain) {
    const double scale = 0.1;  // T4 = 0.4 s, T5 = 1.4 s, T6 = 2 s after the break
    const Timings t = scaled(Profile::rtc, scale);
    ASSERT_NO_FATAL_FAILURE(join_both(scale));
    Party& uid1 = *uid1_;
    Party& uid2 = *uid2_;
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    proxy_->set_mode(Mode::blackhole);
    const auto t3 = Clock::now();
    const auto offline = uid2.events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::dropped; }, uid2_mark, 10s);
    ASSERT_TRUE(offline) << "T6: UID2 saw no user_offline(UID1, DROPPED)";
    const double t6 = ms(uid2.events.at(*offline) - t3);
    EXPECT_GE(t6, 0.7 * ms(t.presence_timeout));
    EXPECT_LE(t6, ms(t.presence_timeout) + 2000);
    ASSERT_TRUE(uid1.events.wait_state(State::reconnecting, Reason::lost, uid1_mark, 5s)) << "T5 comes before T6";

    repair(*proxy_);
    const auto back = uid1.events.wait_state(State::connected, Reason::rejoin_success, uid1_mark, 10s);
    ASSERT_TRUE(back) << "no CONNECTED REJOIN_SUCCESS";
    EXPECT_TRUE(uid1.events.wait_index<RejoinSuccess>({}, uid1_mark, 2s));
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "RECONNECTING LOST", "CONNECTED REJOIN_SUCCESS"}));
    const auto continuity = uid1.events.wait_for<ContinuityReport>(2s);
    ASSERT_TRUE(continuity);
    EXPECT_FALSE(continuity->resumed) << "the server had ended the session at T6";
    const auto joined_again =
        uid2.events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, *offline, 5s);
    EXPECT_TRUE(joined_again) << "UID2 did not see user_joined(UID1) again";
    EXPECT_EQ(member_events_about(uid2.events, "UID1", uid2_mark), 2U) << uid2.events.dump();
}

// The link back between T4 and T5: no LOST tier, no connection_lost; the peer sees nothing.
TEST_F(TRtcE2e, BackBeforeTheLostTierShowsNoConnectionLost) {
    const double scale = 0.2;  // T4 = 0.8 s, T5 = 2.8 s after the break
    const Timings t = scaled(Profile::rtc, scale);
    ASSERT_NO_FATAL_FAILURE(join_both(scale));
    Party& uid1 = *uid1_;
    Party& uid2 = *uid2_;
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    proxy_->set_mode(Mode::blackhole);
    const auto interrupted = uid1.events.wait_state(State::reconnecting, Reason::interrupted, uid1_mark, 10s);
    ASSERT_TRUE(interrupted);
    repair(*proxy_);
    const auto back = uid1.events.wait_state(State::connected, Reason::rejoin_success, *interrupted, 10s);
    ASSERT_TRUE(back);
    EXPECT_LT(ms(uid1.events.at(*back) - uid1.events.at(*interrupted)), ms(t.lost_after))
        << "the reconnect took longer than the LOST tier";
    // Past the moment the LOST tier would have fired: it must not.
    std::this_thread::sleep_until(uid1.events.at(*interrupted) + t.lost_after + 300ms);
    EXPECT_EQ(uid1.events.count<ConnectionLost>(), 0U);
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "CONNECTED REJOIN_SUCCESS"}));
    EXPECT_EQ(member_events_about(uid2.events, "UID1", uid2_mark), 0U);
}

// The network never comes back: T4 INTERRUPTED, T5 LOST, T7 = T4 + 20 min FAILED JOIN_FAILED, then no more
// attempts. Time scale 0.005 on both ends (20 min = 6 s), with the login and attempt timeouts left longer than the
// profile's scaled ones (3 s and 1 s instead of 60 ms and 25 ms) so that a loaded machine's TLS handshake still
// fits: they are not part of this timeline.
TEST_F(TRtcE2e, NeverBackRunsToFailedJoinFailedAndStopsRetrying) {
    const double scale = 0.005;
    const Timings t = scaled(Profile::rtc, scale);
    start_server(scale);
    FaultProxy proxy("127.0.0.1", server().port());
    ClientConfig c = config("UID1", Profile::rtc, scale, proxy.port());
    Timings timings = timings_for(Profile::rtc);
    timings.login_timeout = 600s;    // 3 s at this scale
    timings.attempt_timeout = 200s;  // 1 s at this scale
    c.timings = timings;
    auto uid1 = party(c);
    ASSERT_FALSE((*uid1)->join("call"));
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::join_success, 0, 10s));

    proxy.set_mode(Mode::blackhole);
    const auto failed =
        uid1->events.wait_state(State::failed, Reason::join_failed, 0,
                                std::chrono::duration_cast<std::chrono::milliseconds>(t.give_up_after + 15s));
    ASSERT_TRUE(failed) << "no FAILED JOIN_FAILED";
    // On this scale (heartbeat 5 ms, silence 20 ms, the server's keep-alive 30 ms) a loaded machine may show a
    // short outage of its own before the break, even one still under way when it comes. The run that ends in
    // FAILED starts at the last CONNECTED: it enters RECONNECTING (normally INTERRUPTED), may change reason, goes
    // LOST, then FAILED JOIN_FAILED 20 min after entering RECONNECTING.
    const auto log = uid1->events.snapshot();
    std::size_t last_connected = 0;
    for (std::size_t i = 0; i < *failed; ++i) {
        if (const auto* e = std::get_if<ConnectionStateChanged>(&log[i].event); e && e->state == State::connected) {
            last_connected = i;
        }
    }
    const auto run = uid1->events.all<ConnectionStateChanged>(last_connected + 1);
    ASSERT_GE(run.size(), 3U) << uid1->events.dump();
    EXPECT_EQ(run.front().state, State::reconnecting);
    EXPECT_EQ(run.back().state, State::failed);
    EXPECT_EQ(run.back().reason, Reason::join_failed);
    const auto lost_at =
        std::find_if(run.begin(), run.end(), [](const ConnectionStateChanged& e) { return e.reason == Reason::lost; });
    ASSERT_NE(lost_at, run.end()) << "no RECONNECTING LOST before FAILED";
    EXPECT_EQ(lost_at->state, State::reconnecting);
    EXPECT_EQ(std::next(lost_at), std::prev(run.end())) << "FAILED JOIN_FAILED follows RECONNECTING LOST";
    for (const auto& e : run) {
        EXPECT_TRUE(e.state == State::reconnecting || &e == &run.back()) << uid1->events.dump();
    }
    const auto entered = uid1->events.wait_state(State::reconnecting, std::nullopt, last_connected, 0ms);
    ASSERT_TRUE(entered);
    EXPECT_TRUE(uid1->events.wait_index<ConnectionLost>({}, *entered, 0ms));
    const double t7 = ms(uid1->events.at(*failed) - uid1->events.at(*entered));
    EXPECT_GE(t7, 0.9 * ms(t.give_up_after));
    EXPECT_LE(t7, ms(t.give_up_after) + 3000);
    EXPECT_TRUE(uid1->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.channel == "call" && e.reason == ChannelReason::rejoin_failed &&
                   e.error == make_error_code(errc::network_timeout);
        },
        *entered, 1s));
    EXPECT_EQ((*uid1)->connection_state(), State::failed);

    expect_no_more_attempts(proxy, 1500ms);  // ≥ 30 × the scaled backoff cap and the attempt timeout
    // FAILED: the app leaves (the rtc seeds' leaveChannel) and is DISCONNECTED.
    EXPECT_FALSE((*uid1)->leave("call"));
    EXPECT_TRUE(uid1->events.wait_state(State::disconnected, Reason::leave_channel, *failed, 5s));
}

// ========================================================================================= T-RTC-WEB (rtc_web)

// The whole T-RTC-WEB table: join, peer_online, publish → stream_added; the link dies → CONNECTING INTERRUPTED
// (never RECONNECTING); at T5 + 10 s the peer sees stream_removed then peer_leave; the link back → CONNECTED,
// and the peer sees peer_online and stream_added again (the SDK republished on its own); leave() goes through
// DISCONNECTING.
TEST_F(ClientE2e, TRtcWebTimelineReconnectsInConnectingAndRepublishes) {
    const double scale = 0.1;  // interrupted 0.4 s, presence 1 s
    const Timings t = scaled(Profile::rtc_web, scale);
    start_server(scale);
    FaultProxy proxy("127.0.0.1", server().port());
    auto uid2 = party(config("UID2", Profile::rtc_web, scale, server().port()));
    ASSERT_FALSE((*uid2)->join("web"));
    ASSERT_TRUE(uid2->events.wait_state(State::connected, Reason::join_success, 0, 10s));
    auto uid1 = party(config("UID1", Profile::rtc_web, scale, proxy.port()));
    ASSERT_FALSE((*uid1)->join("web"));                                                    // T0
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::join_success, 0, 10s));  // T1
    EXPECT_TRUE(uid1->events.wait_for<JoinSuccess>(5s));
    ASSERT_TRUE(
        uid2->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, 0, 10s))
        << "T2: no peer_online(UID1)";
    Completions& done = done_;
    ASSERT_FALSE((*uid1)->publish("web", "cam", done.expect("publish")));  // T3
    const auto added = uid2->events.wait_index<StreamAdded>(
        [](const StreamAdded& e) { return e.user_id == "UID1" && e.stream == "cam"; }, 0, 10s);
    ASSERT_TRUE(added) << "T4: no stream_added(UID1, cam)";
    // The acknowledgement may still be on its way to UID1 when UID2 hears of the stream: wait for it, or the
    // blackhole below would drop it and the publish would complete only at the leave.
    ASSERT_TRUE(done.wait_total(1, 10s)) << "the publish was not acknowledged";
    const auto uid1_mark = uid1->events.size();
    const auto uid2_mark = uid2->events.size();

    proxy.set_mode(Mode::blackhole);  // T5
    const auto t5 = Clock::now();
    const auto interrupted = uid1->events.wait_state(State::connecting, Reason::interrupted, uid1_mark, 10s);
    ASSERT_TRUE(interrupted) << "T5 + 4 s: no CONNECTING INTERRUPTED";
    const double t_int = ms(uid1->events.at(*interrupted) - t5);
    EXPECT_GE(t_int, 0.5 * ms(t.interrupted_after));
    EXPECT_LE(t_int, ms(t.interrupted_after) + 2000);
    const auto removed = uid2->events.wait_index<StreamRemoved>(
        [](const StreamRemoved& e) { return e.user_id == "UID1" && e.stream == "cam"; }, uid2_mark, 10s);
    const auto left = uid2->events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::dropped; }, uid2_mark, 10s);
    ASSERT_TRUE(removed) << "T5 + 10 s: no stream_removed(UID1, cam)";
    ASSERT_TRUE(left) << "T5 + 10 s: no peer_leave(UID1)";
    EXPECT_LT(*removed, *left) << "stream_removed comes before peer_leave";
    const double t_left = ms(uid2->events.at(*left) - t5);
    EXPECT_GE(t_left, 0.7 * ms(t.presence_timeout));
    EXPECT_LE(t_left, ms(t.presence_timeout) + 2000);

    repair(proxy);  // link back
    const auto back = uid1->events.wait_state(State::connected, Reason::rejoin_success, *interrupted, 10s);
    ASSERT_TRUE(back) << "no CONNECTED after the link came back";
    const auto online =
        uid2->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, *left, 10s);
    const auto republished = uid2->events.wait_index<StreamAdded>(
        [](const StreamAdded& e) { return e.user_id == "UID1" && e.stream == "cam"; }, *left, 10s);
    ASSERT_TRUE(online) << "no peer_online(UID1) after the link came back";
    ASSERT_TRUE(republished) << "the SDK did not republish its stream";
    EXPECT_LT(*online, *republished);
    EXPECT_EQ(uid1->events.states(uid1_mark),
              (std::vector<std::string>{"CONNECTING INTERRUPTED", "CONNECTED REJOIN_SUCCESS"}));
    EXPECT_EQ(uid1->events.count<ConnectionStateChanged>(
                  [](const ConnectionStateChanged& e) { return e.state == State::reconnecting; }),
              0U)
        << "rtc-web never shows RECONNECTING";

    const auto before_leave = uid1->events.size();
    ASSERT_FALSE((*uid1)->leave("web"));
    ASSERT_TRUE(uid1->events.wait_state(State::disconnected, Reason::leave_channel, before_leave, 5s));
    EXPECT_EQ(uid1->events.states(before_leave),
              (std::vector<std::string>{"DISCONNECTING LEAVE_CHANNEL", "DISCONNECTED LEAVE_CHANNEL"}));
    EXPECT_TRUE(uid2->events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::quit; }, *republished, 5s));
    EXPECT_EQ(done.results()["publish"], std::vector<std::error_code>{std::error_code{}});
}

// =============================================================================================== T-RTM (rtm)

class TRtmE2e : public ClientE2e {
protected:
    static constexpr double kScale = 0.2;  // interrupted 0.8 s, presence and backfill window 6 s, login 2.4 s

    /// UID2 straight to the server and UID1 through the proxy, both logged in and in channel "ch".
    void login_both() {
        start_server(kScale);
        proxy_ = std::make_unique<FaultProxy>("127.0.0.1", server().port());
        uid2_ = party(config("UID2", Profile::rtm, kScale, server().port()));
        ASSERT_FALSE((*uid2_)->login());
        ASSERT_FALSE((*uid2_)->join("ch"));
        ASSERT_TRUE(uid2_->events.wait_index<ChannelStateChanged>(
            [](const ChannelStateChanged& e) { return e.state == ChannelState::connected; }, 0, 10s));
        uid1_ = party(config("UID1", Profile::rtm, kScale, proxy_->port()));
        ASSERT_FALSE((*uid1_)->login());
        ASSERT_FALSE((*uid1_)->join("ch"));
        ASSERT_TRUE(uid1_->events.wait_state(State::connected, Reason::login_success, 0, 10s));
        EXPECT_EQ(uid1_->events.states(), (std::vector<std::string>{"CONNECTING LOGIN", "CONNECTED LOGIN_SUCCESS"}));
        ASSERT_TRUE(uid1_->events.wait_index<ChannelStateChanged>(
            [](const ChannelStateChanged& e) { return e.state == ChannelState::connected; }, 0, 10s));
        ASSERT_TRUE(
            uid2_->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, 0, 10s));
    }

    void TearDown() override {
        uid1_.reset();
        uid2_.reset();
        proxy_.reset();
        ClientE2e::TearDown();
    }

    std::unique_ptr<FaultProxy> proxy_;
    std::unique_ptr<Party> uid2_;
    std::unique_ptr<Party> uid1_;
};

// Login refused (here: an expired token on the first login): DISCONNECTED LOGIN_FAILURE, and no retry.
TEST_F(TRtmE2e, LoginRefusedIsDisconnectedLoginFailureAndNotRetried) {
    start_server(kScale);
    FaultProxy proxy("127.0.0.1", server().port());
    ClientConfig c = config("UID1", Profile::rtm, kScale, proxy.port());
    c.token = token::mint({"app", "UID1", unix_now() - 10, {}}, "secret");
    auto uid1 = party(c);
    ASSERT_FALSE((*uid1)->login());
    ASSERT_TRUE(uid1->events.wait_state(State::disconnected, Reason::login_failure, 0, 10s));
    EXPECT_EQ(uid1->events.states(), (std::vector<std::string>{"CONNECTING LOGIN", "DISCONNECTED LOGIN_FAILURE"}));
    EXPECT_TRUE(uid1->events.wait_for<TokenExpired>(2s));
    expect_no_more_attempts(proxy, 1000ms);
    EXPECT_EQ(proxy.stats().connections_accepted, 1U);
}

// No successful login within 12 s: DISCONNECTED LOGIN_TIMEOUT, and no retry afterwards.
TEST_F(TRtmE2e, LoginTimeoutIsDisconnectedAndNotRetried) {
    const Timings t = scaled(Profile::rtm, kScale);
    start_server(kScale);
    FaultProxy proxy({.upstream_port = server().port(), .initial_mode = Mode::blackhole});
    auto uid1 = party(config("UID1", Profile::rtm, kScale, proxy.port()));
    const auto start = Clock::now();
    ASSERT_FALSE((*uid1)->login());
    const auto timed_out = uid1->events.wait_state(State::disconnected, Reason::login_timeout, 0, 10s);
    ASSERT_TRUE(timed_out);
    const double elapsed = ms(uid1->events.at(*timed_out) - start);
    EXPECT_GE(elapsed, 0.9 * ms(t.login_timeout));
    EXPECT_LE(elapsed, ms(t.login_timeout) + 2000);
    EXPECT_EQ(uid1->events.states(), (std::vector<std::string>{"CONNECTING LOGIN", "DISCONNECTED LOGIN_TIMEOUT"}));
    expect_no_more_attempts(proxy, 1000ms);
}

// Back within 30 s: CONNECTED LOGIN_SUCCESS, still in the channel, the channel messages sent meanwhile delivered
// as backfill; UID2 sees nothing.
TEST_F(TRtmE2e, ShortOutageIsSilentToThePeerAndBackfillsTheChannel) {
    const Timings t = scaled(Profile::rtm, kScale);
    ASSERT_NO_FATAL_FAILURE(login_both());
    Party& uid1 = *uid1_;
    Party& uid2 = *uid2_;
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    proxy_->set_mode(Mode::blackhole);
    const auto t3 = Clock::now();
    const auto interrupted = uid1.events.wait_state(State::reconnecting, Reason::interrupted, uid1_mark, 10s);
    ASSERT_TRUE(interrupted);
    EXPECT_TRUE(uid1.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.channel == "ch" && e.reason == ChannelReason::rejoining; },
        uid1_mark, 2s));
    Completions& sent = done_;
    for (int i = 1; i <= 3; ++i) {
        ASSERT_FALSE((*uid2_)->send_channel_message("ch", "while-away-" + std::to_string(i),
                                                    sent.expect("m" + std::to_string(i))));
    }
    ASSERT_TRUE(sent.wait_total(3, 5s));
    repair(*proxy_);
    const auto back = uid1.events.wait_state(State::connected, Reason::login_success, *interrupted, 10s);
    ASSERT_TRUE(back);
    EXPECT_LT(ms(uid1.events.at(*back) - t3), ms(t.presence_timeout)) << "not back within 30 s (scaled)";
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "CONNECTED LOGIN_SUCCESS"}));
    ASSERT_TRUE(uid1.events.wait_count<MessageReceived>(3, {}, 5s));
    EXPECT_EQ(payloads(uid1.events, [](const MessageReceived& m) { return m.backfilled && m.channel == "ch"; }),
              numbered("while-away-", 1, 3));
    const auto continuity = uid1.events.wait_for<ContinuityReport>(2s);
    ASSERT_TRUE(continuity);
    EXPECT_TRUE(continuity->resumed);
    EXPECT_EQ(continuity->backfilled, 3U);
    EXPECT_EQ(continuity->dropped, 0U);
    EXPECT_EQ((*uid1_)->channel_state("ch"), ChannelState::connected) << "still a member of its channel";
    std::this_thread::sleep_for(300ms);  // nothing about UID1 reaches UID2, not even late
    EXPECT_EQ(member_events_about(uid2.events, "UID1", uid2_mark), 0U) << uid2.events.dump();
}

// Back after 30 s: UID2 sees member_left(UID1, DROPPED) at 30 s; the SDK logs in again, rejoins the channel on its
// own and re-sets its attributes (UID2 reads them back); UID2 sees member_joined(UID1); backfill is delivered.
TEST_F(TRtmE2e, LongOutageRejoinsResyncsAttributesAndThePeerSeesLeftThenJoined) {
    const Timings t = scaled(Profile::rtm, kScale);
    ASSERT_NO_FATAL_FAILURE(login_both());
    Party& uid1 = *uid1_;
    Party& uid2 = *uid2_;
    Completions& done = done_;
    ASSERT_FALSE((*uid1_)->set_local_user_attributes({{"mood", "curious"}}, done.expect("set")));
    ASSERT_TRUE(done.wait_total(1, 5s));
    ASSERT_EQ(done.results()["set"], std::vector<std::error_code>{std::error_code{}});
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    proxy_->set_mode(Mode::blackhole);
    const auto t3 = Clock::now();
    ASSERT_TRUE(uid1.events.wait_state(State::reconnecting, Reason::interrupted, uid1_mark, 10s));
    const auto left = uid2.events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::dropped; }, uid2_mark, 10s);
    ASSERT_TRUE(left) << "no member_left(UID1, DROPPED)";
    const double t_left = ms(uid2.events.at(*left) - t3);
    EXPECT_GE(t_left, 0.7 * ms(t.presence_timeout));
    EXPECT_LE(t_left, ms(t.presence_timeout) + 2000);
    // Gone for the server: its attributes went with its presence.
    const auto gone = std::make_shared<std::promise<std::error_code>>();  // shared: outlives a late callback
    ASSERT_FALSE(
        (*uid2_)->get_user_attributes("UID1", [gone](std::error_code e, const Attributes&) { gone->set_value(e); }));
    auto gone_result = gone->get_future();
    ASSERT_EQ(gone_result.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(gone_result.get(), make_error_code(errc::peer_offline));
    ASSERT_FALSE((*uid2_)->send_channel_message("ch", "after-drop", done.expect("after-drop")));
    ASSERT_TRUE(done.wait_total(2, 5s));

    repair(*proxy_);
    const auto back = uid1.events.wait_state(State::connected, Reason::login_success, uid1_mark, 10s);
    ASSERT_TRUE(back);
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "CONNECTED LOGIN_SUCCESS"}));
    const auto continuity = uid1.events.wait_for<ContinuityReport>(2s);
    ASSERT_TRUE(continuity);
    EXPECT_FALSE(continuity->resumed);
    EXPECT_TRUE(uid1.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.channel == "ch" && e.reason == ChannelReason::rejoined; },
        uid1_mark, 5s))
        << "the SDK did not rejoin the channel";
    EXPECT_TRUE(
        uid2.events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, *left, 5s))
        << "no member_joined(UID1) after the rejoin";
    ASSERT_TRUE(uid1.events.wait_count<MessageReceived>(1, {}, 5s));
    EXPECT_EQ(payloads(uid1.events, [](const MessageReceived& m) { return m.backfilled; }),
              std::vector<std::string>{"after-drop"});

    const auto read = std::make_shared<std::promise<std::pair<std::error_code, Attributes>>>();
    ASSERT_FALSE((*uid2_)->get_user_attributes("UID1", [read](std::error_code e, const Attributes& a) {
        read->set_value({e, a});
    }));
    auto read_result = read->get_future();
    ASSERT_EQ(read_result.wait_for(5s), std::future_status::ready);
    const auto [error, attributes] = read_result.get();
    EXPECT_FALSE(error) << error_name(error);
    EXPECT_EQ(attributes, (Attributes{{"mood", "curious"}})) << "the attributes were not re-set after the rejoin";
}

// logout(): DISCONNECTED LOGOUT, and UID2 sees member_left(UID1, QUIT) at once.
TEST_F(TRtmE2e, LogoutIsDisconnectedAndThePeerSeesQuitAtOnce) {
    ASSERT_NO_FATAL_FAILURE(login_both());
    const auto uid1_mark = uid1_->events.size();
    const auto uid2_mark = uid2_->events.size();
    const auto start = Clock::now();
    ASSERT_FALSE((*uid1_)->logout());
    ASSERT_TRUE(uid1_->events.wait_state(State::disconnected, Reason::logout, uid1_mark, 5s));
    EXPECT_EQ(uid1_->events.states(uid1_mark), std::vector<std::string>{"DISCONNECTED LOGOUT"});
    const auto left = uid2_->events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::quit; }, uid2_mark, 5s);
    ASSERT_TRUE(left);
    EXPECT_LT(ms(uid2_->events.at(*left) - start), 1000.0) << "at once, not after a presence timeout";
    EXPECT_EQ((*uid1_)->send_channel_message("ch", "x"), make_error_code(errc::not_logged_in));
}

// ============================================================================================== T-ROOM (room)

class TRoomE2e : public ClientE2e {
protected:
    /// UID2 and UID1 (through the proxy) logged in and JOINED to room "r".
    void join_both(double scale) {
        start_server(scale);
        proxy_ = std::make_unique<FaultProxy>("127.0.0.1", server().port());
        uid2_ = party(config("UID2", Profile::room, scale, server().port()));
        ASSERT_FALSE((*uid2_)->login());
        ASSERT_FALSE((*uid2_)->join("r"));
        ASSERT_TRUE(uid2_->events.wait_index<ChannelStateChanged>(
            [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s));
        uid1_ = party(config("UID1", Profile::room, scale, proxy_->port()));
        ASSERT_FALSE((*uid1_)->login());
        ASSERT_FALSE((*uid1_)->join("r"));
        const auto joined = uid1_->events.wait_index<ChannelStateChanged>(
            [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s);
        ASSERT_TRUE(joined);
        EXPECT_TRUE(uid1_->events.wait_index<ChannelStateChanged>(
            [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joining; }, 0, 0ms));
        ASSERT_TRUE(
            uid2_->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, 0, 10s));
    }

    /// The channel events of UID1 from index `from` on, as "REASON ERROR" lines.
    std::vector<std::string> room_events(std::size_t from) {
        std::vector<std::string> out;
        for (const auto& e : uid1_->events.all<ChannelStateChanged>(from)) {
            out.push_back(std::string(to_string(e.reason)) + " " + error_name(e.error));
        }
        return out;
    }

    void TearDown() override {
        uid1_.reset();
        uid2_.reset();
        proxy_.reset();
        ClientE2e::TearDown();
    }

    std::unique_ptr<FaultProxy> proxy_;
    std::unique_ptr<Party> uid2_;
    std::unique_ptr<Party> uid1_;
};

// Case 1: back within 90 s → REJOINING then REJOINED, channel operations refused meanwhile, UID2 sees no member
// update.
TEST_F(TRoomE2e, Case1BackWithin90SecondsThePeerSeesNoMemberUpdate) {
    const double scale = 0.05;  // interrupted 0.2 s, presence 4.5 s, give-up 15 s
    const Timings t = scaled(Profile::room, scale);
    ASSERT_NO_FATAL_FAILURE(join_both(scale));
    Party& uid1 = *uid1_;
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2_->events.size();

    proxy_->set_mode(Mode::blackhole);
    const auto t3 = Clock::now();
    const auto interrupted = uid1.events.wait_state(State::reconnecting, Reason::interrupted, uid1_mark, 10s);
    ASSERT_TRUE(interrupted);
    ASSERT_TRUE(uid1.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.reason == ChannelReason::rejoining; }, uid1_mark, 2s));
    // Channel operations only in JOINED / REJOINED: the error comes at once or as the completion.
    Completions& refused = done_;
    const auto at_once = (*uid1_)->send_channel_message("r", "too early", refused.expect("send"));
    if (at_once) {
        EXPECT_EQ(at_once, make_error_code(errc::not_joined));
    } else {
        ASSERT_TRUE(refused.wait_total(1, 2s));
        EXPECT_EQ(refused.results()["send"], std::vector<std::error_code>{make_error_code(errc::not_joined)});
    }

    repair(*proxy_);
    const auto back = uid1.events.wait_state(State::connected, Reason::rejoin_success, *interrupted, 10s);
    ASSERT_TRUE(back);
    EXPECT_LT(ms(uid1.events.at(*back) - t3), ms(t.presence_timeout));
    EXPECT_TRUE(uid1.events.wait_index<RejoinSuccess>({}, *interrupted, 2s));
    ASSERT_TRUE(uid1.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.reason == ChannelReason::rejoined; }, uid1_mark, 2s));
    EXPECT_EQ(room_events(uid1_mark), (std::vector<std::string>{"REJOINING NETWORK_INTERRUPTED", "REJOINED OK"}));
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "CONNECTED REJOIN_SUCCESS"}));
    const auto continuity = uid1.events.wait_for<ContinuityReport>(2s);
    ASSERT_TRUE(continuity);
    EXPECT_TRUE(continuity->resumed);
    EXPECT_FALSE((*uid1_)->send_channel_message("r", "back again"));  // REJOINED: accepted
    std::this_thread::sleep_for(300ms);                               // nothing late either
    EXPECT_EQ(member_events_about(uid2_->events, "UID1", uid2_mark), 0U) << uid2_->events.dump();
}

// Case 2: back after 90 s but within 5 min → UID2 gets member_left(UID1) at T3 + 90 s and member_joined(UID1)
// around UID1's REJOINED.
TEST_F(TRoomE2e, Case2BackAfter90SecondsThePeerSeesLeftThenJoined) {
    const double scale = 0.05;  // interrupted 0.2 s, presence 4.5 s, give-up 15 s
    const Timings t = scaled(Profile::room, scale);
    ASSERT_NO_FATAL_FAILURE(join_both(scale));
    Party& uid1 = *uid1_;
    Party& uid2 = *uid2_;
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    proxy_->set_mode(Mode::blackhole);
    const auto t3 = Clock::now();
    const auto left = uid2.events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::dropped; }, uid2_mark, 10s);
    ASSERT_TRUE(left) << "no member_left(UID1, DROPPED)";
    const double t_left = ms(uid2.events.at(*left) - t3);
    EXPECT_GE(t_left, 0.7 * ms(t.presence_timeout));
    EXPECT_LE(t_left, ms(t.presence_timeout) + 2000);

    repair(*proxy_);
    const auto rejoined = uid1.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.reason == ChannelReason::rejoined; }, uid1_mark, 10s);
    ASSERT_TRUE(rejoined);
    EXPECT_LT(ms(uid1.events.at(*rejoined) - t3), ms(t.give_up_after)) << "not within 5 min (scaled)";
    const auto joined =
        uid2.events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, *left, 5s);
    ASSERT_TRUE(joined) << "no member_joined(UID1)";
    // The seed: ≈ 100 ms after UID1's REJOINED. Two processes' dispatchers: only a generous band holds.
    const double skew = ms(uid2.events.at(*joined) - uid1.events.at(*rejoined));
    EXPECT_GE(skew, -1000.0);
    EXPECT_LE(skew, 1000.0);
    EXPECT_EQ(room_events(uid1_mark), (std::vector<std::string>{"REJOINING NETWORK_INTERRUPTED", "REJOINED OK"}));
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "CONNECTED REJOIN_SUCCESS"}));
    EXPECT_EQ(member_events_about(uid2.events, "UID1", uid2_mark), 2U) << uid2.events.dump();
}

// Case 3: not back within 5 min → REJOIN_FAILED (network timeout), FAILED JOIN_FAILED, no more attempts; UID2 got
// member_left at 90 s.
TEST_F(TRoomE2e, Case3NotBackWithin5MinutesRejoinFailsAndRetryingStops) {
    const double scale = 0.04;  // interrupted 0.16 s, presence 3.6 s, give-up 12 s
    const Timings t = scaled(Profile::room, scale);
    ASSERT_NO_FATAL_FAILURE(join_both(scale));
    Party& uid1 = *uid1_;
    Party& uid2 = *uid2_;
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    proxy_->set_mode(Mode::blackhole);
    const auto t3 = Clock::now();
    const auto interrupted = uid1.events.wait_state(State::reconnecting, Reason::interrupted, uid1_mark, 10s);
    ASSERT_TRUE(interrupted);
    const auto left = uid2.events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::dropped; }, uid2_mark, 10s);
    ASSERT_TRUE(left) << "no member_left(UID1, DROPPED) at 90 s";
    const double t_left = ms(uid2.events.at(*left) - t3);
    EXPECT_GE(t_left, 0.7 * ms(t.presence_timeout));
    EXPECT_LE(t_left, ms(t.presence_timeout) + 2000);

    const auto failed =
        uid1.events.wait_state(State::failed, Reason::join_failed, *interrupted,
                               std::chrono::duration_cast<std::chrono::milliseconds>(t.give_up_after + 10s));
    ASSERT_TRUE(failed) << "no FAILED JOIN_FAILED";
    const double give_up = ms(uid1.events.at(*failed) - uid1.events.at(*interrupted));
    EXPECT_GE(give_up, 0.9 * ms(t.give_up_after));
    EXPECT_LE(give_up, ms(t.give_up_after) + 3000);
    ASSERT_TRUE(uid1.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.reason == ChannelReason::rejoin_failed; }, *interrupted, 2s));
    EXPECT_EQ(room_events(uid1_mark),
              (std::vector<std::string>{"REJOINING NETWORK_INTERRUPTED", "REJOIN_FAILED NETWORK_TIMEOUT"}));
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "FAILED JOIN_FAILED"}));
    expect_no_more_attempts(*proxy_, 1500ms);
    EXPECT_EQ(member_events_about(uid2.events, "UID1", uid2_mark), 1U) << uid2.events.dump();
}

// ============================================================================================ agreed timings

// The presence timeout a client asks for is the one its peers see. relinkd on time scale 0.1: UID1 asks for 5 s
// (0.5 s here) instead of rtm's 30 s (3 s here) and UID2 sees it leave DROPPED after about that once its link goes
// silent; UID3 asks for 1 s, below the server's bound of 2 s (0.2 s here), and is told the bound.
TEST_F(ClientE2e, APeerSeesTheAgreedPresenceTimeoutAndAClampedClientIsToldTheBound) {
    constexpr double kScale = 0.1;
    start_server(kScale);
    FaultProxy proxy("127.0.0.1", server().port());
    const auto asking = [&](const std::string& user, Duration presence, std::uint16_t port) {
        ClientConfig c = config(user, Profile::rtm, kScale, port);
        Timings asked = timings_for(Profile::rtm);
        asked.presence_timeout = presence;
        c.timings = asked;
        return c;
    };
    const auto connected = [](Party& p) {
        return p.events.wait_for<ConnectionStateChanged>(
            10s, [](const ConnectionStateChanged& e) { return e.state == ConnectionState::connected; });
    };
    auto uid2 = party(config("UID2", Profile::rtm, kScale, server().port()));
    ASSERT_FALSE((*uid2)->login());
    ASSERT_FALSE((*uid2)->join("ch"));
    ASSERT_TRUE(uid2->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.state == ChannelState::connected; }, 0, 10s));
    auto uid1 = party(asking("UID1", 5s, proxy.port()));
    ASSERT_FALSE((*uid1)->login());
    ASSERT_FALSE((*uid1)->join("ch"));
    const auto uid1_connected = connected(*uid1);
    ASSERT_TRUE(uid1_connected && uid1_connected->timings);
    EXPECT_EQ(uid1_connected->timings->presence_timeout, 500ms);
    EXPECT_FALSE(uid1_connected->timings->clamped);
    ASSERT_TRUE(
        uid2->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID1"; }, 0, 10s));

    auto uid3 = party(asking("UID3", 1s, server().port()));
    ASSERT_FALSE((*uid3)->login());
    const auto uid3_connected = connected(*uid3);
    ASSERT_TRUE(uid3_connected && uid3_connected->timings);
    EXPECT_EQ(uid3_connected->timings->presence_timeout, 200ms);  // the server's minimum, scaled
    EXPECT_TRUE(uid3_connected->timings->clamped);

    const auto mark = uid2->events.size();
    proxy.set_mode(Mode::blackhole);
    const auto cut = Clock::now();
    const auto left = uid2->events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::dropped; }, mark, 10s);
    ASSERT_TRUE(left) << "no member_left(UID1, DROPPED)" << uid2->events.dump();
    const double t_left = ms(uid2->events.at(*left) - cut);
    EXPECT_GE(t_left, 0.7 * 500) << "before the agreed timeout (the server last heard UID1 within 100 ms of the cut)";
    EXPECT_LE(t_left, 2000) << "the profile's timeout (3 s here), not the agreed one";
}

// ============================================================================================ duplicate login

// The same user id logs in on a second instance: the first goes ABORTED REMOTE_LOGIN (its room KICKED_OUT
// REMOTE_LOGIN), never logs in again by itself, and neither instance changes state again (no kick ping-pong),
// over a window of twice the server's kick-loop cool-down.
TEST_F(ClientE2e, DuplicateLoginAbortsTheFirstInstanceWithoutPingPong) {
    const double scale = 0.1;  // the server's kick cool-down: 1 s
    start_server(scale);
    auto bob = party(config("bob", Profile::rtm, scale, server().port()));
    ASSERT_FALSE((*bob)->login());
    ASSERT_FALSE((*bob)->join("ch"));
    auto first = party(config("alice", Profile::rtm, scale, server().port()));
    ASSERT_FALSE((*first)->login());
    ASSERT_FALSE((*first)->join("ch"));
    ASSERT_TRUE(first->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s));
    ASSERT_TRUE(
        bob->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "alice"; }, 0, 10s));
    const auto bob_mark = bob->events.size();

    auto second = party(config("alice", Profile::rtm, scale, server().port()));
    ASSERT_FALSE((*second)->login());
    ASSERT_TRUE(second->events.wait_state(State::connected, Reason::login_success, 0, 10s));
    const auto aborted = first->events.wait_state(State::aborted, Reason::remote_login, 0, 10s);
    ASSERT_TRUE(aborted) << "the first instance was not ABORTED REMOTE_LOGIN";
    EXPECT_TRUE(first->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.channel == "ch" && e.reason == ChannelReason::kicked_out &&
                   e.error == make_error_code(errc::remote_login);
        },
        0, 2s));
    EXPECT_TRUE(bob->events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "alice" && e.cause == MemberLeftCause::kicked; }, bob_mark, 5s));

    // Every call that needs a login fails, at once.
    EXPECT_EQ((*first)->send_channel_message("ch", "x"), make_error_code(errc::not_logged_in));
    EXPECT_EQ((*first)->send_peer_message("bob", "x"), make_error_code(errc::not_logged_in));
    EXPECT_EQ((*first)->join("other"), make_error_code(errc::not_logged_in));

    std::this_thread::sleep_for(2s);  // 2 × the cool-down: nobody logs in again, nobody is kicked again
    EXPECT_EQ(first->events.states(),
              (std::vector<std::string>{"CONNECTING LOGIN", "CONNECTED LOGIN_SUCCESS", "ABORTED REMOTE_LOGIN"}));
    EXPECT_EQ(second->events.states(), (std::vector<std::string>{"CONNECTING LOGIN", "CONNECTED LOGIN_SUCCESS"}));
    EXPECT_EQ((*first)->connection_state(), State::aborted);
    EXPECT_EQ((*second)->connection_state(), State::connected);
    const auto sessions = admin_get("/sessions?app=app");
    ASSERT_EQ(sessions.status, 200);
    std::size_t alice_sessions = 0;
    for (auto at = sessions.body.find(R"("user":"alice")"); at != std::string::npos;
         at = sessions.body.find(R"("user":"alice")", at + 1)) {
        ++alice_sessions;
    }
    EXPECT_EQ(alice_sessions, 1U) << sessions.body;

    // logout() gets the first instance out of ABORTED; the second stays logged in.
    ASSERT_FALSE((*first)->logout());
    EXPECT_TRUE(first->events.wait_state(State::disconnected, Reason::logout, *aborted, 5s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ((*second)->connection_state(), State::connected);
}

// ============================================================================================== admin API

// POST /kick: an rtm session goes ABORTED BANNED_BY_SERVER (channel KICKED_OUT), does not come back by itself, and
// may log in again after logout() (a kick is not a ban).
TEST_F(ClientE2e, AdminKickAbortsAnRtmSessionWhichMayLogInAgain) {
    const double scale = 0.1;
    start_server(scale);
    auto bob = party(config("bob", Profile::rtm, scale, server().port()));
    ASSERT_FALSE((*bob)->login());
    ASSERT_FALSE((*bob)->join("ch"));
    auto alice = party(config("alice", Profile::rtm, scale, server().port()));
    ASSERT_FALSE((*alice)->login());
    ASSERT_FALSE((*alice)->join("ch"));
    ASSERT_TRUE(alice->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s));
    ASSERT_TRUE(
        bob->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "alice"; }, 0, 10s));
    const auto bob_mark = bob->events.size();

    const auto kicked = admin_kick("alice", /*ban=*/false);
    EXPECT_EQ(kicked.status, 200) << kicked.body;
    const auto aborted = alice->events.wait_state(State::aborted, Reason::banned_by_server, 0, 5s);
    ASSERT_TRUE(aborted);
    EXPECT_TRUE(alice->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.reason == ChannelReason::kicked_out && e.error == make_error_code(errc::banned_by_server);
        },
        0, 2s));
    EXPECT_TRUE(bob->events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "alice" && e.cause == MemberLeftCause::kicked; }, bob_mark, 5s));
    std::this_thread::sleep_for(1s);  // never reconnects on its own
    EXPECT_EQ(alice->events.states(*aborted), std::vector<std::string>{"ABORTED BANNED_BY_SERVER"});
    EXPECT_EQ((*alice)->send_channel_message("ch", "x"), make_error_code(errc::not_logged_in));

    ASSERT_FALSE((*alice)->logout());
    ASSERT_TRUE(alice->events.wait_state(State::disconnected, Reason::logout, *aborted, 5s));
    const auto again = alice->events.size();
    ASSERT_FALSE((*alice)->login());
    EXPECT_TRUE(alice->events.wait_state(State::connected, Reason::login_success, again, 10s));
}

// POST /kick with a ban: a room session goes ABORTED BANNED_BY_SERVER, its room KICKED_OUT BANNED_BY_SERVER; a
// new login is refused (ABORTED BANNED_BY_SERVER) until the ban runs out, then works.
TEST_F(ClientE2e, AdminBanAbortsARoomSessionAndRefusesLoginsUntilItRunsOut) {
    const double scale = 0.1;
    start_server(scale);
    auto carol = party(config("carol", Profile::room, scale, server().port()));
    ASSERT_FALSE((*carol)->login());
    ASSERT_FALSE((*carol)->join("r"));
    ASSERT_TRUE(carol->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s));

    const auto ban_start = Clock::now();
    const auto banned = admin_kick("carol", /*ban=*/true, 1.5);  // seconds of wall time: not scaled
    EXPECT_EQ(banned.status, 200) << banned.body;
    const auto aborted = carol->events.wait_state(State::aborted, Reason::banned_by_server, 0, 5s);
    ASSERT_TRUE(aborted);
    EXPECT_TRUE(carol->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.channel == "r" && e.reason == ChannelReason::kicked_out &&
                   e.error == make_error_code(errc::banned_by_server);
        },
        0, 2s));

    ASSERT_FALSE((*carol)->logout());
    ASSERT_TRUE(carol->events.wait_state(State::disconnected, Reason::logout, *aborted, 5s));
    const auto refused_mark = carol->events.size();
    ASSERT_FALSE((*carol)->login());
    const auto refused = carol->events.wait_state(State::aborted, Reason::banned_by_server, refused_mark, 5s);
    ASSERT_TRUE(refused) << "a banned user's login was not refused";
    EXPECT_EQ(carol->events.states(refused_mark),
              (std::vector<std::string>{"CONNECTING LOGIN", "ABORTED BANNED_BY_SERVER"}));

    ASSERT_FALSE((*carol)->logout());
    ASSERT_TRUE(carol->events.wait_state(State::disconnected, Reason::logout, *refused, 5s));
    std::this_thread::sleep_until(ban_start + 2s);  // the ban runs out
    const auto after = carol->events.size();
    ASSERT_FALSE((*carol)->login());
    EXPECT_TRUE(carol->events.wait_state(State::connected, Reason::login_success, after, 10s));
}

// POST /kick of an rtc session: FAILED BANNED_BY_SERVER (channel KICKED_OUT); leave() then ends it.
TEST_F(ClientE2e, AdminKickFailsAnRtcSession) {
    const double scale = 0.1;
    start_server(scale);
    auto dave = party(config("dave", Profile::rtc, scale, server().port()));
    ASSERT_FALSE((*dave)->join("call"));
    ASSERT_TRUE(dave->events.wait_state(State::connected, Reason::join_success, 0, 10s));
    const auto kicked = admin_kick("dave", /*ban=*/false);
    EXPECT_EQ(kicked.status, 200) << kicked.body;
    const auto failed = dave->events.wait_state(State::failed, Reason::banned_by_server, 0, 5s);
    ASSERT_TRUE(failed);
    EXPECT_TRUE(dave->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.reason == ChannelReason::kicked_out && e.error == make_error_code(errc::banned_by_server);
        },
        0, 2s));
    std::this_thread::sleep_for(500ms);  // not retried
    EXPECT_EQ(dave->events.states(*failed), std::vector<std::string>{"FAILED BANNED_BY_SERVER"});
    ASSERT_FALSE((*dave)->leave("call"));
    EXPECT_TRUE(dave->events.wait_state(State::disconnected, Reason::leave_channel, *failed, 5s));
}

// ========================================================================== token expiry while reconnecting

class TokenE2e : public ClientE2e {
protected:
    static constexpr double kScale = 0.1;

    /// A token of `user` that expires within 2 to 3 s of wall time (tokens expire on whole Unix seconds), and its
    /// expiry.
    static std::pair<std::string, std::int64_t> short_token(const std::string& user) {
        const std::int64_t exp = unix_now() + 3;
        return {token::mint({"app", user, exp, {}}, "secret"), exp};
    }
};

// rtc, no token_provider: the token runs out while RECONNECTING; when the link comes back the server refuses the
// old token and the session ends FAILED TOKEN_EXPIRED (channel JOIN_FAILED TOKEN_EXPIRED), without retrying.
TEST_F(TokenE2e, RtcTokenExpiredWhileReconnectingFailsWithoutAProvider) {
    start_server(kScale);
    FaultProxy proxy("127.0.0.1", server().port());
    ClientConfig c = config("UID1", Profile::rtc, kScale, proxy.port());
    const auto [token, exp] = short_token("UID1");
    c.token = token;
    auto uid1 = party(c);
    ASSERT_FALSE((*uid1)->join("call"));
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::join_success, 0, 10s));
    proxy.set_mode(Mode::blackhole);
    const auto interrupted = uid1->events.wait_state(State::reconnecting, Reason::interrupted, 0, 10s);
    ASSERT_TRUE(interrupted);
    ASSERT_TRUE(uid1->events.wait_for<TokenExpired>(5s)) << "no token_expired while reconnecting";
    EXPECT_EQ((*uid1)->connection_state(), State::reconnecting) << "token_expired alone changes no state";
    wait_wall_clock_past(exp, 300ms);

    repair(proxy);
    const auto failed = uid1->events.wait_state(State::failed, Reason::token_expired, *interrupted, 10s);
    ASSERT_TRUE(failed) << "the reconnect with an expired token did not end FAILED TOKEN_EXPIRED";
    EXPECT_TRUE(uid1->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.channel == "call" && e.reason == ChannelReason::join_failed &&
                   e.error == make_error_code(errc::token_expired);
        },
        *interrupted, 2s));
    expect_no_more_attempts(proxy, 1000ms);
}

// rtc with a token_provider: the reconnect after the token ran out uses the provider's fresh token and succeeds.
TEST_F(TokenE2e, RtcTokenExpiredWhileReconnectingRecoversWithAProvider) {
    start_server(kScale);
    FaultProxy proxy("127.0.0.1", server().port());
    std::atomic<int> provided{0};
    ClientConfig c = config("UID1", Profile::rtc, kScale, proxy.port());
    const auto [token, exp] = short_token("UID1");
    c.token = token;
    c.token_provider = [&provided] {
        ++provided;
        return mint_token("UID1");
    };
    auto uid1 = party(c);
    ASSERT_FALSE((*uid1)->join("call"));
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::join_success, 0, 10s));
    proxy.set_mode(Mode::blackhole);
    const auto interrupted = uid1->events.wait_state(State::reconnecting, Reason::interrupted, 0, 10s);
    ASSERT_TRUE(interrupted);
    wait_wall_clock_past(exp, 300ms);  // the token ran out while reconnecting

    repair(proxy);
    const auto back = uid1->events.wait_state(State::connected, Reason::rejoin_success, *interrupted, 10s);
    ASSERT_TRUE(back) << "no CONNECTED REJOIN_SUCCESS with the provider's token";
    EXPECT_GE(provided.load(), 1);
    EXPECT_LE(provided.load(), 20) << "the provider is asked once per attempt at most";
    EXPECT_EQ(uid1->events.count<ConnectionStateChanged>(
                  [](const ConnectionStateChanged& e) { return e.state == State::failed; }),
              0U);
    std::this_thread::sleep_for(500ms);  // the server does not end the session: its token is the fresh one
    EXPECT_EQ((*uid1)->connection_state(), State::connected);
}

// rtm, no token_provider (R-RTM-9): token_expired while RECONNECTING, the state stays RECONNECTING and the SDK keeps
// retrying; renew_token() reconnects at once (RECONNECTING RENEW_TOKEN) and the session is back.
TEST_F(TokenE2e, RtmTokenExpiredWhileReconnectingKeepsRetryingUntilRenewed) {
    start_server(kScale);
    FaultProxy proxy("127.0.0.1", server().port());
    ClientConfig c = config("UID1", Profile::rtm, kScale, proxy.port());
    const auto [token, exp] = short_token("UID1");
    c.token = token;
    auto uid1 = party(c);
    ASSERT_FALSE((*uid1)->login());
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::login_success, 0, 10s));
    proxy.set_mode(Mode::blackhole);
    const auto interrupted = uid1->events.wait_state(State::reconnecting, Reason::interrupted, 0, 10s);
    ASSERT_TRUE(interrupted);
    ASSERT_TRUE(uid1->events.wait_for<TokenExpired>(5s)) << "no token_expired while reconnecting";
    wait_wall_clock_past(exp, 300ms);

    const auto mark = uid1->events.size();
    const auto accepted = proxy.stats().connections_accepted;
    repair(proxy);
    // The server refuses the expired token; the SDK keeps trying (new connections keep coming), state unchanged.
    const auto deadline = Clock::now() + 5s;
    while (proxy.stats().connections_accepted < accepted + 3 && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);  // polling a counter (FaultProxy has no event for it), bounded
    }
    EXPECT_GE(proxy.stats().connections_accepted, accepted + 3) << "the SDK stopped retrying";
    EXPECT_EQ(uid1->events.count<ConnectionStateChanged>({}, mark), 0U) << "R-RTM-9: the state does not change";
    EXPECT_EQ((*uid1)->connection_state(), State::reconnecting);

    Completions& renewed = done_;
    ASSERT_FALSE((*uid1)->renew_token(mint_token("UID1"), renewed.expect("renew")));
    const auto renew = uid1->events.wait_state(State::reconnecting, Reason::renew_token, mark, 5s);
    ASSERT_TRUE(renew) << "no RECONNECTING RENEW_TOKEN";
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::login_success, *renew, 10s));
    ASSERT_TRUE(renewed.wait_total(1, 5s));
    EXPECT_EQ(renewed.results()["renew"], std::vector<std::error_code>{std::error_code{}});
}

// rtm with a token_provider: the reconnect after the token ran out uses the provider's token, without the app
// doing anything.
TEST_F(TokenE2e, RtmTokenExpiredWhileReconnectingRecoversWithAProvider) {
    start_server(kScale);
    FaultProxy proxy("127.0.0.1", server().port());
    std::atomic<int> provided{0};
    ClientConfig c = config("UID1", Profile::rtm, kScale, proxy.port());
    const auto [token, exp] = short_token("UID1");
    c.token = token;
    c.token_provider = [&provided] {
        ++provided;
        return mint_token("UID1");
    };
    auto uid1 = party(c);
    ASSERT_FALSE((*uid1)->login());
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::login_success, 0, 10s));
    proxy.set_mode(Mode::blackhole);
    const auto interrupted = uid1->events.wait_state(State::reconnecting, Reason::interrupted, 0, 10s);
    ASSERT_TRUE(interrupted);
    wait_wall_clock_past(exp, 300ms);

    repair(proxy);
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::login_success, *interrupted, 10s));
    EXPECT_GE(provided.load(), 1);
    EXPECT_LE(provided.load(), 20);
}

// Regression (found by this test): rtm, a provider that has no token at first (returns "", which TokenProvider
// allows), so a reconnect is refused for the expired token; then it has a fresh one. The driver used to hand the
// provider's token to core.renew_token(), which restarts the attempt being opened when the session is down because
// of its token, whose OpenTransport asked the provider again: an endless loop on the io thread (201 provider calls
// in 10 ms before the test's provider stopped answering). Now the token goes to the attempt being opened with no
// side effects (ClientCore::use_token_for_next_login): a provider call or two, then CONNECTED LOGIN_SUCCESS.
TEST_F(TokenE2e, RtmProviderWithALateTokenRecoversAfterARefusalWithoutLooping) {
    start_server(kScale);
    FaultProxy proxy("127.0.0.1", server().port());
    std::atomic<bool> ready{false};
    std::atomic<int> provided_after_ready{0};
    ClientConfig c = config("UID1", Profile::rtm, kScale, proxy.port());
    const auto [token, exp] = short_token("UID1");
    c.token = token;
    c.token_provider = [&] {
        if (!ready) {
            return std::string();  // no token yet: keep the current one
        }
        if (++provided_after_ready > 200) {
            return std::string();  // safety valve against the loop this test looks for
        }
        return mint_token("UID1");
    };
    auto uid1 = party(c);
    ASSERT_FALSE((*uid1)->login());
    ASSERT_TRUE(uid1->events.wait_state(State::connected, Reason::login_success, 0, 10s));
    proxy.set_mode(Mode::blackhole);
    const auto interrupted = uid1->events.wait_state(State::reconnecting, Reason::interrupted, 0, 10s);
    ASSERT_TRUE(interrupted);
    wait_wall_clock_past(exp, 300ms);
    const auto accepted = proxy.stats().connections_accepted;
    repair(proxy);
    const auto deadline = Clock::now() + 5s;  // let a reconnect be refused for the expired token
    while (proxy.stats().connections_accepted < accepted + 2 && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ((*uid1)->connection_state(), State::reconnecting);
    ready = true;
    EXPECT_TRUE(uid1->events.wait_state(State::connected, Reason::login_success, *interrupted, 10s));
    EXPECT_LE(provided_after_ready.load(), 5);
}

// ================================================================================================ invalid input

// An unknown app id: FAILED INVALID_APP_ID, not retried.
TEST_F(ClientE2e, InvalidAppIdFails) {
    const double scale = 0.1;
    start_server(scale);
    FaultProxy proxy("127.0.0.1", server().port());
    ClientConfig c = config("alice", Profile::rtm, scale, proxy.port());
    c.app_id = "no-such-app";
    c.token = mint_token("alice", 1h, "no-such-app", "whatever");
    auto alice = party(c);
    ASSERT_FALSE((*alice)->login());
    ASSERT_TRUE(alice->events.wait_state(State::failed, Reason::invalid_app_id, 0, 10s));
    EXPECT_EQ(alice->events.states(), (std::vector<std::string>{"CONNECTING LOGIN", "FAILED INVALID_APP_ID"}));
    expect_no_more_attempts(proxy, 800ms);
    EXPECT_EQ((*alice)->send_peer_message("bob", "x"), make_error_code(errc::not_logged_in));
}

// A malformed token, one signed with another secret and one of another user: DISCONNECTED INVALID_TOKEN each
// time, not retried; in rtc the channel of join() reports JOIN_FAILED INVALID_TOKEN.
TEST_F(ClientE2e, InvalidTokensAreDisconnectedInvalidToken) {
    const double scale = 0.1;
    start_server(scale);
    const std::vector<std::pair<std::string, std::string>> tokens{
        {"malformed", "not-a-token"},
        {"bad signature", token::mint({"app", "alice", unix_now() + 3600, {}}, "another secret")},
        {"another user's", mint_token("mallory")},
    };
    for (const auto& [what, token] : tokens) {
        SCOPED_TRACE(what);
        FaultProxy proxy("127.0.0.1", server().port());
        ClientConfig c = config("alice", Profile::rtm, scale, proxy.port());
        c.token = token;
        auto alice = party(c);
        ASSERT_FALSE((*alice)->login());
        ASSERT_TRUE(alice->events.wait_state(State::disconnected, Reason::invalid_token, 0, 10s));
        EXPECT_EQ(alice->events.states(), (std::vector<std::string>{"CONNECTING LOGIN", "DISCONNECTED INVALID_TOKEN"}));
        expect_no_more_attempts(proxy, 500ms);
    }
    ClientConfig c = config("erin", Profile::rtc, scale, server().port());
    c.token = "not-a-token";
    auto erin = party(c);
    ASSERT_FALSE((*erin)->join("call"));
    ASSERT_TRUE(erin->events.wait_state(State::disconnected, Reason::invalid_token, 0, 10s));
    EXPECT_TRUE(erin->events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.channel == "call" && e.reason == ChannelReason::join_failed &&
                   e.error == make_error_code(errc::invalid_token);
        },
        0, 2s));
}

// A channel name that breaks the naming rule: rtm join() and an rtc join() on a live session fail at once with
// INVALID_CHANNEL_NAME and change nothing; an invalid user id is refused by the constructor.
TEST_F(ClientE2e, InvalidChannelNameFailsTheCallOnALiveSession) {
    const double scale = 0.1;
    start_server(scale);
    auto alice = party(config("alice", Profile::rtm, scale, server().port()));
    ASSERT_FALSE((*alice)->login());
    ASSERT_TRUE(alice->events.wait_state(State::connected, Reason::login_success, 0, 10s));
    auto bob = party(config("bob", Profile::rtc, scale, server().port()));
    ASSERT_FALSE((*bob)->join("call"));
    ASSERT_TRUE(bob->events.wait_for<JoinSuccess>(10s));  // the last event of the join
    // Quality reports (LinkQualityChanged) come with the heartbeats whatever the calls do: they are not counted.
    const auto counted = [](auto& party) {
        return party->events.size() - party->events.template count<LinkQualityChanged>();
    };
    const auto alice_mark = counted(alice);
    const auto bob_mark = counted(bob);

    for (const std::string& bad : std::vector<std::string>{"bad/name", "", std::string(65, 'x'), "tab\there"}) {
        EXPECT_EQ((*alice)->join(bad), make_error_code(errc::invalid_channel_name)) << bad;
        EXPECT_EQ((*bob)->join(bad), make_error_code(errc::invalid_channel_name)) << bad;
    }
    std::this_thread::sleep_for(300ms);  // nothing follows the refused calls
    EXPECT_EQ(counted(alice), alice_mark) << alice->events.dump();
    EXPECT_EQ(counted(bob), bob_mark) << bob->events.dump();
    EXPECT_EQ((*alice)->connection_state(), State::connected);
    EXPECT_EQ((*bob)->connection_state(), State::connected);

    ClientConfig bad_user = config("alice", Profile::rtm, scale, server().port());
    bad_user.user_id = " alice";
    EXPECT_THROW(Client{bad_user}, std::invalid_argument);
}

// rtc and rtc-web: a bad channel name in the join() that starts the session fails the session (FAILED
// INVALID_CHANNEL_NAME, behaviour.md section 1; docs/state-machine.md decision 7) as well as the call, without
// contacting the server.
TEST_F(ClientE2e, InvalidChannelNameInTheJoinThatStartsAnRtcSessionFails) {
    const double scale = 0.1;
    start_server(scale);
    for (const Profile profile : {Profile::rtc, Profile::rtc_web}) {
        SCOPED_TRACE(to_string(profile));
        FaultProxy proxy("127.0.0.1", server().port());
        auto erin = party(config("erin", profile, scale, proxy.port()));
        EXPECT_EQ((*erin)->join("bad/name"), make_error_code(errc::invalid_channel_name));
        EXPECT_TRUE(erin->events.wait_state(State::failed, Reason::invalid_channel_name, 0, 2s));
        EXPECT_EQ((*erin)->connection_state(), State::failed);
        EXPECT_EQ(erin->events.states(), std::vector<std::string>{"FAILED INVALID_CHANNEL_NAME"})
            << "straight from DISCONNECTED, without CONNECTING";
        EXPECT_EQ(proxy.stats().connections_accepted, 0U) << "the server must not be contacted";
    }
}

// ======================================================================================== the server goes away

class ServerGoneE2e : public ClientE2e {
protected:
    static constexpr double kScale = 0.1;

    /// alice and bob logged in straight to the first server and in channel "ch".
    void login_both() {
        start_server(kScale);
        alice_ = party(config("alice", Profile::rtm, kScale, server().port()));
        bob_ = party(config("bob", Profile::rtm, kScale, server().port()));
        for (auto* p : {alice_.get(), bob_.get()}) {
            ASSERT_FALSE((*p)->login());
            ASSERT_FALSE((*p)->join("ch"));
            ASSERT_TRUE(p->events.wait_index<ChannelStateChanged>(
                [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s));
        }
    }

    /// A replacement relinkd on the first one's port (and CA file), retried while the port is still taken.
    void restart_in_place(std::uint16_t port) {
        const auto deadline = Clock::now() + 5s;
        while (try_start_server(kScale, {}, port) == nullptr) {
            ASSERT_LT(Clock::now(), deadline) << "no relinkd could listen on port " << port << " again";
            std::this_thread::sleep_for(50ms);
        }
    }

    /// Both clients came back to the new server: a new session each (not resumed), CONNECTED, back in "ch" and
    /// able to talk there.
    void expect_both_back(std::size_t alice_mark, std::size_t bob_mark) {
        for (auto [p, mark] : {std::pair{alice_.get(), alice_mark}, std::pair{bob_.get(), bob_mark}}) {
            SCOPED_TRACE(p->name);
            const auto continuity = p->events.wait_index<ContinuityReport>({}, mark, 10s);
            ASSERT_TRUE(continuity) << "no reconnect to the new server";
            const auto report = p->events.all<ContinuityReport>(*continuity).front();
            EXPECT_FALSE(report.resumed) << "a new server cannot resume the old one's session";
            EXPECT_EQ((*p)->connection_state(), State::connected);
            for (const auto& state : p->events.states(mark)) {
                EXPECT_TRUE(state == "RECONNECTING INTERRUPTED" || state == "CONNECTED LOGIN_SUCCESS") << state;
            }
        }
        // Both rejoined "ch" on the new server (declarative login): a message gets through.
        const auto bob_messages = bob_->events.size();
        Completions& sent = done_;
        ASSERT_FALSE((*alice_)->send_channel_message("ch", "on the new server", sent.expect("m")));
        ASSERT_TRUE(sent.wait_total(1, 5s));
        EXPECT_EQ(sent.results()["m"], std::vector<std::error_code>{std::error_code{}});
        EXPECT_TRUE(bob_->events.wait_index<MessageReceived>(
            [](const MessageReceived& m) { return m.payload == "on the new server"; }, bob_messages, 5s));
    }

    void TearDown() override {
        alice_.reset();
        bob_.reset();
        ClientE2e::TearDown();
    }

    std::unique_ptr<Party> alice_;
    std::unique_ptr<Party> bob_;
};

// SIGKILL (no drain, no goodbye), then a new relinkd on the same port: both clients reconnect to it on their own.
TEST_F(ServerGoneE2e, KilledServerRestartedOnTheSamePortClientsReconnect) {
    ASSERT_NO_FATAL_FAILURE(login_both());
    const auto port = server().port();
    const auto alice_mark = alice_->events.size();
    const auto bob_mark = bob_->events.size();
    ASSERT_TRUE(servers_.front()->kill_now());
    servers_.front().reset();  // exited: nothing left to stop
    ASSERT_NO_FATAL_FAILURE(restart_in_place(port));
    expect_both_back(alice_mark, bob_mark);
}

// SIGTERM: the server drains (close(DRAINING): come back elsewhere within the window) and exits 0; a new relinkd
// takes its place and both clients land there, never ABORTED or FAILED.
TEST_F(ServerGoneE2e, DrainedServerClientsMoveToANewServer) {
    ASSERT_NO_FATAL_FAILURE(login_both());
    const auto port = server().port();
    const auto alice_mark = alice_->events.size();
    const auto bob_mark = bob_->events.size();
    const auto stopped = servers_.front()->stop();
    EXPECT_EQ(stopped, 0) << "relinkd did not drain and exit 0";
    servers_.front().reset();
    ASSERT_NO_FATAL_FAILURE(restart_in_place(port));
    expect_both_back(alice_mark, bob_mark);
}

// Regression (found by this test): protocol.md, "Positions": the epoch changes when the server loses history (a
// restart), so a client can tell a gap from a quiet period. Every relinkd used to start at epoch 1, so after a
// restart the new server's channel messages (1:1, 1:2, 1:3) looked like messages already delivered, and the client
// dropped them silently as duplicates (bob received only the old three of six). Now each start of a server has an
// epoch of its own (HubConfig::epoch, random in relinkd).
TEST_F(ServerGoneE2e, MessagesAfterARestartAreNotTakenForDuplicates) {
    ASSERT_NO_FATAL_FAILURE(login_both());
    Completions& sent = done_;
    for (int i = 1; i <= 3; ++i) {
        ASSERT_FALSE((*alice_)->send_channel_message("ch", "old-" + std::to_string(i), sent.expect("old")));
    }
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(3, {}, 5s));
    // Acknowledged before the kill: an unacknowledged send is sent again after the reconnect, and the new server,
    // which remembers no message ids, would deliver it a second time (at least once across a restart).
    ASSERT_TRUE(sent.wait_total(3, 5s));
    const auto port = server().port();
    const auto alice_mark = alice_->events.size();
    const auto bob_mark = bob_->events.size();
    ASSERT_TRUE(servers_.front()->kill_now());
    servers_.front().reset();
    ASSERT_NO_FATAL_FAILURE(restart_in_place(port));
    ASSERT_TRUE(alice_->events.wait_index<ContinuityReport>({}, alice_mark, 10s));
    ASSERT_TRUE(bob_->events.wait_index<ContinuityReport>({}, bob_mark, 10s));
    for (int i = 1; i <= 3; ++i) {
        ASSERT_FALSE((*alice_)->send_channel_message("ch", "new-" + std::to_string(i), sent.expect("new")));
    }
    ASSERT_TRUE(sent.wait_total(6, 5s));
    EXPECT_TRUE(bob_->events.wait_count<MessageReceived>(6, {}, 3s));
    std::vector<std::string> want = numbered("old-", 1, 3);
    for (const auto& m : numbered("new-", 1, 3)) {
        want.push_back(m);
    }
    EXPECT_EQ(payloads(bob_->events, {}), want);
}

// Regression (found by the chaos soak): after a server restart the client kept the old server's last_peer_seen
// (another epoch), so when a later outage on the new server was resumed, the server could not backfill the peer
// messages it had missed (it backfills only after a position of its own epoch): they were lost silently. Now the
// client takes the new server's peer position at login when the epoch changed.
TEST_F(ServerGoneE2e, PeerMessagesMissedInAnOutageAfterARestartAreBackfilled) {
    start_server(kScale);
    const auto port = server().port();
    FaultProxy proxy("127.0.0.1", port);
    alice_ = party(config("alice", Profile::rtm, kScale, port));
    bob_ = party(config("bob", Profile::rtm, kScale, proxy.port()));
    for (auto* p : {alice_.get(), bob_.get()}) {
        ASSERT_FALSE((*p)->login());
        ASSERT_TRUE(p->events.wait_state(State::connected, Reason::login_success, 0, 10s));
    }
    Completions& sent = done_;
    ASSERT_FALSE((*alice_)->send_peer_message("bob", "p1", sent.expect("p")));
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(1, {}, 5s));
    ASSERT_TRUE(sent.wait_total(1, 5s));  // acknowledged before the kill (see above)

    const auto alice_mark = alice_->events.size();
    const auto bob_mark = bob_->events.size();
    ASSERT_TRUE(servers_.front()->kill_now());
    servers_.front().reset();
    ASSERT_NO_FATAL_FAILURE(restart_in_place(port));
    ASSERT_TRUE(alice_->events.wait_index<ContinuityReport>({}, alice_mark, 10s));
    ASSERT_TRUE(bob_->events.wait_index<ContinuityReport>({}, bob_mark, 10s));

    // A short outage on the new server (well within the 3 s presence timeout): resumed, with a backfill.
    const auto before_outage = bob_->events.size();
    proxy.set_mode(Mode::blackhole);
    ASSERT_TRUE(bob_->events.wait_state(State::reconnecting, Reason::interrupted, before_outage, 10s));
    ASSERT_FALSE((*alice_)->send_peer_message("bob", "p2", sent.expect("p")));
    ASSERT_FALSE((*alice_)->send_peer_message("bob", "p3", sent.expect("p")));
    ASSERT_TRUE(sent.wait_total(3, 5s));
    repair(proxy);
    ASSERT_TRUE(bob_->events.wait_state(State::connected, Reason::login_success, before_outage, 10s));
    EXPECT_TRUE(bob_->events.wait_count<MessageReceived>(3, {}, 5s));
    EXPECT_EQ(payloads(bob_->events, {}), (std::vector<std::string>{"p1", "p2", "p3"}));
    EXPECT_EQ(sent.results()["p"], std::vector<std::error_code>(3, std::error_code{}));
}

// ===================================================================================== messages across outages

class MessagesE2e : public ClientE2e {
protected:
    static constexpr double kScale = 0.2;  // interrupted 0.8 s, presence and backfill window 6 s

    /// bob through the proxy, alice straight to the server, both logged in (rtm) and, if `channel`, in "ch".
    void login_both(std::vector<std::string> server_extra = {}, bool channel = true) {
        start_server(kScale, std::move(server_extra));
        proxy_ = std::make_unique<FaultProxy>("127.0.0.1", server().port());
        alice_ = party(config("alice", Profile::rtm, kScale, server().port()));
        bob_ = party(config("bob", Profile::rtm, kScale, proxy_->port()));
        for (auto* p : {alice_.get(), bob_.get()}) {
            ASSERT_FALSE((*p)->login());
            if (channel) {
                ASSERT_FALSE((*p)->join("ch"));
                ASSERT_TRUE(p->events.wait_index<ChannelStateChanged>(
                    [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s));
            } else {
                ASSERT_TRUE(p->events.wait_state(State::connected, Reason::login_success, 0, 10s));
            }
        }
    }

    /// Breaks bob's link and waits until he is RECONNECTING INTERRUPTED; returns the index of that event.
    std::size_t break_bob() {
        const auto mark = bob_->events.size();
        proxy_->set_mode(Mode::blackhole);
        const auto interrupted = bob_->events.wait_state(State::reconnecting, Reason::interrupted, mark, 10s);
        EXPECT_TRUE(interrupted) << "bob did not notice the dead link";
        return interrupted.value_or(mark);
    }

    /// Repairs bob's link and waits until he is CONNECTED again and reported the continuity of the outage.
    std::optional<ContinuityReport> repair_bob(std::size_t from) {
        repair(*proxy_);
        const auto back = bob_->events.wait_state(State::connected, Reason::login_success, from, 10s);
        EXPECT_TRUE(back) << "bob did not come back";
        const auto report = bob_->events.wait_index<ContinuityReport>({}, from, 5s);
        if (!back || !report) {
            return std::nullopt;
        }
        return bob_->events.all<ContinuityReport>(*report).front();
    }

    void TearDown() override {
        alice_.reset();
        bob_.reset();
        proxy_.reset();
        ClientE2e::TearDown();
    }

    std::unique_ptr<FaultProxy> proxy_;
    std::unique_ptr<Party> alice_;
    std::unique_ptr<Party> bob_;
};

// R-RTM-4 and R-RTM-6: 50 numbered peer messages to bob — before, at, during and after his outage, and while he
// reconnects — all arrive exactly once and in order, and the continuity report counts no drop.
TEST_F(MessagesE2e, PeerMessagesAcrossAnOutageArriveExactlyOnceInOrder) {
    ASSERT_NO_FATAL_FAILURE(login_both({}, /*channel=*/false));
    int next = 1;
    const auto send = [&](int count) {
        for (int i = 0; i < count; ++i, ++next) {
            ASSERT_FALSE((*alice_)->send_peer_message("bob", "p" + std::to_string(next),
                                                      done_.expect("p" + std::to_string(next))));
        }
    };
    send(10);  // live
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(10, {}, 5s));
    const auto mark = bob_->events.size();
    proxy_->set_mode(Mode::blackhole);
    send(10);  // the server still writes to bob's dead connection
    const auto interrupted = bob_->events.wait_state(State::reconnecting, Reason::interrupted, mark, 10s);
    ASSERT_TRUE(interrupted);
    send(10);  // bob RECONNECTING
    // Past the server's keep-alive timeout (6 s, scaled): it has closed bob's dead connection.
    std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(6s * kScale) + 200ms);
    send(10);  // the server holds them for bob
    repair(*proxy_);
    send(5);  // while bob reconnects
    ASSERT_TRUE(bob_->events.wait_state(State::connected, Reason::login_success, *interrupted, 10s));
    send(5);  // bob back
    ASSERT_TRUE(done_.wait_total(50, 10s));
    for (const auto& [label, results] : done_.results()) {
        EXPECT_EQ(results, std::vector<std::error_code>{std::error_code{}}) << label;
    }
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(50, {}, 10s));
    std::this_thread::sleep_for(300ms);  // no late duplicate
    EXPECT_EQ(payloads(bob_->events, {}), numbered("p", 1, 50));
    const auto reports = bob_->events.all<ContinuityReport>(mark);
    ASSERT_EQ(reports.size(), 1U);
    EXPECT_TRUE(reports[0].resumed);
    EXPECT_EQ(reports[0].dropped, 0U);
    EXPECT_EQ(reports[0].backfilled,
              bob_->events.count<MessageReceived>([](const MessageReceived& m) { return m.backfilled; }, mark));
}

// R-RTM-4: the server's per-user peer queue (here 16) overflows during the outage: bob gets the newest 16, in
// order, and the continuity report counts the 24 he will never get — nothing is lost silently.
TEST_F(MessagesE2e, PeerQueueOverflowIsReportedAsDropped) {
    ASSERT_NO_FATAL_FAILURE(login_both({"--limit", "peer-queue=16"}, /*channel=*/false));
    const auto interrupted = break_bob();
    for (int i = 1; i <= 40; ++i) {
        ASSERT_FALSE((*alice_)->send_peer_message("bob", "p" + std::to_string(i), done_.expect("p")));
    }
    ASSERT_TRUE(done_.wait_total(40, 10s));
    const auto report = repair_bob(interrupted);
    ASSERT_TRUE(report);
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(16, {}, 5s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(payloads(bob_->events, {}), numbered("p", 25, 40));
    EXPECT_EQ(bob_->events.count<MessageReceived>([](const MessageReceived& m) { return !m.backfilled; }), 0U);
    EXPECT_EQ(report->backfilled, 16U);
    EXPECT_EQ(report->dropped, 24U);
}

// R-RTM-5: 40 channel messages while bob is away: after the reconnect exactly the newest 32 arrive, in order,
// flagged backfilled, and the other 8 are counted as dropped.
TEST_F(MessagesE2e, ChannelBackfillDeliversTheNewest32AndCountsTheRest) {
    ASSERT_NO_FATAL_FAILURE(login_both());
    const auto interrupted = break_bob();
    for (int i = 1; i <= 40; ++i) {
        ASSERT_FALSE((*alice_)->send_channel_message("ch", "c" + std::to_string(i), done_.expect("c")));
    }
    ASSERT_TRUE(done_.wait_total(40, 10s));
    const auto report = repair_bob(interrupted);
    ASSERT_TRUE(report);
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(32, {}, 5s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(payloads(bob_->events, {}), numbered("c", 9, 40));
    EXPECT_EQ(bob_->events.count<MessageReceived>([](const MessageReceived& m) { return m.backfilled; }), 32U);
    EXPECT_TRUE(report->resumed);
    EXPECT_EQ(report->backfilled, 32U);
    EXPECT_EQ(report->dropped, 8U);
}

// R-RTM-5: only the channel messages of the last 30 s before the reconnect are backfilled; older ones are counted
// as dropped.
TEST_F(MessagesE2e, ChannelBackfillCoversOnlyTheLast30Seconds) {
    const Timings t = scaled(Profile::rtm, kScale);
    ASSERT_NO_FATAL_FAILURE(login_both());
    const auto interrupted = break_bob();
    for (int i = 1; i <= 5; ++i) {
        ASSERT_FALSE((*alice_)->send_channel_message("ch", "old" + std::to_string(i), done_.expect("old")));
    }
    ASSERT_TRUE(done_.wait_total(5, 5s));
    std::this_thread::sleep_for(t.backfill_window + 700ms);  // the first five age out of the window
    for (int i = 1; i <= 5; ++i) {
        ASSERT_FALSE((*alice_)->send_channel_message("ch", "new" + std::to_string(i), done_.expect("new")));
    }
    ASSERT_TRUE(done_.wait_total(10, 5s));
    const auto report = repair_bob(interrupted);
    ASSERT_TRUE(report);
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(5, {}, 5s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(payloads(bob_->events, {}), numbered("new", 1, 5));
    EXPECT_EQ(report->backfilled, 5U);
    EXPECT_EQ(report->dropped, 5U);
}

// R-RTM-2, R-RTM-3: sends made just before the link dies (their acknowledgements may be lost), on the dead link
// before bob notices, and while RECONNECTING, each complete exactly once with success, and alice receives each
// exactly once, in order (the server de-duplicates the re-sends).
TEST_F(MessagesE2e, SendsMadeAroundAndDuringAnOutageAreDeliveredOnce) {
    ASSERT_NO_FATAL_FAILURE(login_both());
    const auto alice_mark = alice_->events.size();
    int next = 1;
    const auto send = [&](int count) {
        for (int i = 0; i < count; ++i, ++next) {
            const auto n = std::to_string(next);
            ASSERT_FALSE((*bob_)->send_channel_message("ch", "c" + n, done_.expect("c" + n)));
            ASSERT_FALSE((*bob_)->send_peer_message("alice", "p" + n, done_.expect("p" + n)));
        }
    };
    const auto mark = bob_->events.size();
    send(5);                            // in flight when the link dies: delivered or not, acknowledged or not
    proxy_->set_mode(Mode::blackhole);  // at once
    send(5);                            // written to the dead link: bob does not know yet
    const auto interrupted = bob_->events.wait_state(State::reconnecting, Reason::interrupted, mark, 10s);
    ASSERT_TRUE(interrupted);
    send(5);  // queued while RECONNECTING
    repair(*proxy_);
    ASSERT_TRUE(bob_->events.wait_state(State::connected, Reason::login_success, *interrupted, 10s));
    ASSERT_TRUE(done_.wait_total(30, 10s)) << "some sends never completed";
    std::this_thread::sleep_for(300ms);  // a second completion or a duplicate would show now
    for (const auto& [label, results] : done_.results()) {
        EXPECT_EQ(results, std::vector<std::error_code>{std::error_code{}}) << label << " completed wrongly";
    }
    EXPECT_EQ(done_.results().size(), 30U);
    ASSERT_TRUE(alice_->events.wait_count<MessageReceived>(30, {}, 5s));
    EXPECT_EQ(payloads(
                  alice_->events, [](const MessageReceived& m) { return m.channel.has_value(); }, alice_mark),
              numbered("c", 1, 15));
    EXPECT_EQ(payloads(
                  alice_->events, [](const MessageReceived& m) { return !m.channel.has_value(); }, alice_mark),
              numbered("p", 1, 15));
}

// The make-before-break handover (docs/protocol.md, "Handover") through two fault proxies: bob's link goes through
// the first; after the network change every new connection of his goes through the second (the test hook
// detail::ClientInternals::route_new_connections, standing for the device's new network). While 200 channel and
// 200 peer messages from alice, and 100 peer messages from bob, are in flight, bob is told the network changed:
// his old link answers the probe, so a second connection resumes the session through the second proxy and only
// then is the first one closed. Each message arrives exactly once and in order, every send completes once without
// an error, bob's state never changes, and alice sees nothing of it.
TEST_F(MessagesE2e, NetworkChangeHandsOverToASecondPathMakeBeforeBreak) {
    ASSERT_NO_FATAL_FAILURE(login_both({"--limit", "messages-per-second=100000", "--limit", "message-burst=100000"}));
    ASSERT_TRUE(alice_->events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "bob"; }, 0,
                                                        10s));  // before the mark: only what follows counts
    FaultProxy second("127.0.0.1", server().port());
    const auto bob_mark = bob_->events.size();
    const auto alice_mark = alice_->events.size();
    constexpr int kCount = 200;
    for (int i = 0; i < kCount; ++i) {
        const std::string n = std::to_string(i);
        ASSERT_FALSE((*alice_)->send_channel_message("ch", "c" + n, done_.expect("c" + n)));
        ASSERT_FALSE((*alice_)->send_peer_message("bob", "p" + n, done_.expect("p" + n)));
        if (i % 2 == 0) {
            ASSERT_FALSE((*bob_)->send_peer_message("alice", "u" + std::to_string(i / 2), done_.expect("u" + n)));
        }
        if (i == 40) {
            detail::ClientInternals::route_new_connections(*bob_->client,
                                                           "wss://127.0.0.1:" + std::to_string(second.port()) + "/");
            (*bob_)->notify_network_changed();
        }
        if (i % 10 == 0) {
            std::this_thread::sleep_for(2ms);  // spreads the traffic over the handover (tens of ms on loopback)
        }
    }
    ASSERT_TRUE(done_.wait_total(2 * kCount + kCount / 2, 20s)) << "some sends never completed";
    ASSERT_TRUE(bob_->events.wait_index<ContinuityReport>({}, bob_mark, 10s)) << "no handover";
    ASSERT_TRUE(bob_->events.wait_count<MessageReceived>(2 * kCount, {}, 20s));
    ASSERT_TRUE(alice_->events.wait_count<MessageReceived>(kCount / 2, {}, 20s));
    std::this_thread::sleep_for(300ms);  // a second completion or a duplicate would show now
    for (const auto& [label, results] : done_.results()) {
        EXPECT_EQ(results, std::vector<std::error_code>{std::error_code{}}) << label << " completed wrongly";
    }
    EXPECT_EQ(done_.results().size(), static_cast<std::size_t>(2 * kCount + kCount / 2));
    EXPECT_EQ(payloads(
                  bob_->events, [](const MessageReceived& m) { return m.channel.has_value(); }, bob_mark),
              numbered("c", 0, kCount - 1));
    EXPECT_EQ(payloads(
                  bob_->events, [](const MessageReceived& m) { return !m.channel.has_value(); }, bob_mark),
              numbered("p", 0, kCount - 1));
    EXPECT_EQ(payloads(
                  alice_->events, [](const MessageReceived& m) { return !m.channel.has_value(); }, alice_mark),
              numbered("u", 0, kCount / 2 - 1));
    EXPECT_EQ(bob_->events.states(bob_mark), std::vector<std::string>{}) << "the app saw a state change";
    EXPECT_EQ(member_events_about(alice_->events, "bob", alice_mark), 0U) << alice_->events.dump();
    EXPECT_EQ(bob_->events.all<AttemptFailed>(bob_mark).size(), 0U);
    const auto report = bob_->events.all<ContinuityReport>(bob_mark);
    ASSERT_EQ(report.size(), 1U);
    EXPECT_TRUE(report.front().resumed);
    EXPECT_EQ(report.front().dropped, 0U);
    EXPECT_EQ(report.front().outage, std::chrono::nanoseconds::zero());
    // The session lives on the second path; the first carries nothing any more.
    EXPECT_EQ(second.stats().connections_accepted, 1U);
    EXPECT_EQ(second.stats().connections_open, 1U);
    EXPECT_EQ(proxy_->stats().connections_accepted, 1U);
    const auto deadline = Clock::now() + 10s;
    while (proxy_->stats().connections_open != 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);  // the old connection's close crosses the proxy
    }
    EXPECT_EQ(proxy_->stats().connections_open, 0U) << "the old connection was not closed";
    EXPECT_EQ((*bob_)->connection_state(), State::connected);
}

}  // namespace
}  // namespace relink::test
