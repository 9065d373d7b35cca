// relinkd as a cluster, end to end: three real relinkd processes (`--cluster redis://… --node-id nK`) sharing one
// real redis-server, real relink::Client instances, each client behind a FaultProxy that plays its load balancer
// (set_upstream() picks the node its next connection goes to). The cases of the cluster spec: a resume on another
// node, a node killed (its clients resume elsewhere; a client that cannot come back is dropped at its presence
// timeout after the node's last heartbeat), a duplicate login across nodes with the kick-loop cool-down, a drain,
// Redis killed and restarted without its data, a node cut off from Redis (it fences and its clients move), and an
// admin kick and ban on one node of a user connected to another. And what those cases turned up: a Redis that lost
// its data must give positions a new epoch, and messages sent while their receiver logs in or resumes must all
// arrive.
//
// tests/server/cluster_test.cpp checks every case at exact times on a virtual clock; these check the same contract
// with real processes on real clocks, on a shared 2-core machine: they assert the ORDER of events and GENEROUS
// bounds, never exact milliseconds. Every wait is bounded; a sleep only lets a period pass when "nothing happens
// during it" is what is tested.
//
// Every node serves the same certificate (made here with the openssl CLI) and the same TLS ticket key file, so a
// client trusts every node and resumes its TLS session on any of them. Durations are scaled by 0.1 on both ends:
// presence timeouts rtm 3 s, rtc 2 s; node heartbeats 100 ms, a node dead after 300 ms silent; the fence after
// 200 ms without Redis; the kick-loop cool-down 1 s.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client/client_harness.hpp"
#include "client/client_internals.hpp"
#include "client/e2e_party.hpp"
#include "faultproxy/fault_proxy.hpp"
#include "relink/client.hpp"
#include "support/redis_process.hpp"
#include "support/relinkd_process.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;
using faultproxy::FaultProxy;
using faultproxy::Mode;
using State = ConnectionState;
using Reason = ConnectionReason;

constexpr double kScale = 0.1;
constexpr const char* kAdminSecret = "adm1n";

double ms(std::chrono::nanoseconds d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

/// A profile's default timings on the tests' time scale.
Timings scaled(Profile profile) {
    return timings_for(profile).scaled(kScale);
}

/// Member events (joined or left) about `user` in `events` from index `from` on, as text (for failure messages).
std::vector<std::string> member_events_about(Recorder& events, const std::string& user, std::size_t from) {
    std::vector<std::string> out;
    for (const auto& e : events.all<MemberJoined>(from)) {
        if (e.user_id == user) {
            out.push_back("joined " + e.channel);
        }
    }
    for (const auto& e : events.all<MemberLeft>(from)) {
        if (e.user_id == user) {
            out.push_back("left " + e.channel + " " + std::string(to_string(e.cause)));
        }
    }
    return out;
}

/// True while the child `pid` has not exited (it is not reaped: Relinkd still waits for it itself).
bool still_running(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

std::string tail(const std::string& text, std::size_t bytes) {
    return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

/// The fixture: a redis-server, three relinkd nodes on it (each in its own directory, all serving one certificate
/// and one ticket key file, each with the admin API), load balancers (fault proxies) and clients.
class ClusterE2e : public ::testing::Test {
protected:
    static constexpr int kNodes = 3;

    void SetUp() override {
        dir_ = temp_dir();
        cert_file_ = (dir_ / "cert.pem").string();
        key_file_ = (dir_ / "key.pem").string();
        ticket_file_ = (dir_ / "tickets.key").string();
        const std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost"
            " -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
            " -addext basicConstraints=critical,CA:TRUE,pathlen:0"
            " -addext keyUsage=critical,digitalSignature,keyCertSign -addext extendedKeyUsage=serverAuth"
            " -keyout '" +
            key_file_ + "' -out '" + cert_file_ + "' >'" + (dir_ / "openssl.log").string() + "' 2>&1";
        ASSERT_EQ(std::system(command.c_str()), 0) << "openssl could not make a certificate";
        redis_ = RedisServer::start();
        ASSERT_TRUE(redis_) << "redis-server did not start";
        nodes_.resize(kNodes);
        down_.assign(kNodes, false);
    }

    void TearDown() override {
        parties_.clear();  // the clients log out (bounded) before their servers go
        proxies_.clear();
        for (std::size_t i = 0; i < nodes_.size(); ++i) {  // empty when SetUp failed early
            auto& node = nodes_[i];
            const auto k = static_cast<int>(i + 1);
            if (!node) {
                continue;
            }
            if (!down_[i]) {
                EXPECT_EQ(node->stop(), 0) << "n" << k << " did not stop cleanly";
            }
            if (HasFailure() || e2e_verbose()) {
                std::fprintf(stderr, "---- n%d stderr (last 8000 bytes)\n%s\n", k,
                             tail(node->stderr_text(), 8000).c_str());
            }
        }
        nodes_.clear();
        redis_proxies_.clear();
        redis_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    /// Starts node `k` (1-based) on `redis_url` (default: the redis-server), failing the test when it does not start.
    void start_node(int k, const std::string& redis_url = {}) {
        const auto node_dir = dir_ / ("n" + std::to_string(k));
        std::filesystem::create_directories(node_dir);
        Relinkd::LaunchOptions options;
        options.ca_file = (node_dir / "ca.pem").string();  // --write-ca: the served certificate, cert_file_
        options.admin_secret = kAdminSecret;
        options.extra = {"--cert",
                         cert_file_,
                         "--key",
                         key_file_,
                         "--tls-ticket-key-file",
                         ticket_file_,
                         "--cluster",
                         redis_url.empty() ? redis_->url() : redis_url,
                         "--node-id",
                         "n" + std::to_string(k),
                         "--time-scale",
                         std::to_string(kScale)};
        auto node = Relinkd::launch(node_dir, options);
        ASSERT_TRUE(node) << "n" << k << " did not start: " << tail(read_file(node_dir / "relinkd.stderr"), 4000);
        nodes_[static_cast<std::size_t>(k - 1)] = std::move(node);
    }

    void start_cluster() {
        for (int k = 1; k <= kNodes; ++k) {
            ASSERT_NO_FATAL_FAILURE(start_node(k));
        }
    }

    Relinkd& node(int k) { return *nodes_.at(static_cast<std::size_t>(k - 1)); }
    std::uint16_t port(int k) { return node(k).port(); }

    /// SIGKILL node `k`: a crash, no drain, no goodbye.
    void kill_node(int k) {
        ASSERT_TRUE(node(k).kill_now()) << "n" << k << " did not die";
        down_[static_cast<std::size_t>(k - 1)] = true;
    }

    /// Cuts the link `lb` carries for UID1 (a dead link: it cannot come back anywhere), kills n1, and sets
    /// `after_kill_ms` to how long after the kill `watcher` saw member_left(UID1, DROPPED) (events from `mark` on).
    void kill_node_one_and_time_the_drop(FaultProxy& lb, Party& watcher, std::size_t mark, double& after_kill_ms) {
        lb.set_mode(Mode::blackhole);
        ASSERT_NO_FATAL_FAILURE(kill_node(1));
        const auto killed = Clock::now();
        const auto left = watcher.events.wait_index<MemberLeft>(
            [](const MemberLeft& e) { return e.user_id == "UID1" && e.cause == MemberLeftCause::dropped; }, mark, 10s);
        ASSERT_TRUE(left) << "UID2 never saw member_left(UID1, DROPPED)";
        after_kill_ms = ms(watcher.events.at(*left) - killed);
    }

    /// A load balancer (fault proxy) whose connections go to node `k` until set_upstream() says otherwise.
    FaultProxy& balancer(int k) {
        proxies_.push_back(std::make_unique<FaultProxy>("127.0.0.1", port(k)));
        return *proxies_.back();
    }

    /// A client of app "app" as `user` to 127.0.0.1:`to_port` (a node or a balancer), trusting the shared
    /// certificate, on the tests' time scale.
    ClientConfig config(const std::string& user, Profile profile, std::uint16_t to_port) const {
        ClientConfig c;
        c.url = "wss://127.0.0.1:" + std::to_string(to_port) + "/";
        c.app_id = "app";
        c.user_id = user;
        c.token = mint_token(user);
        c.profile = profile;
        c.time_scale = kScale;
        c.tls.ca_file = cert_file_;
        c.tls.use_system_store = false;
        return c;
    }

    /// The sends of `sent` (payloads, in order) as `receiver` got them: each acknowledged one delivered exactly once
    /// (a copy is a failure) or counted lost. `delivered`: the acknowledged payloads that arrived, in sent order.
    struct Ledger {
        int acknowledged{0};
        int lost{0};
        std::vector<std::string> delivered;
    };
    Ledger account(Party& receiver, const std::vector<std::string>& sent) {
        Ledger ledger;
        for (const auto& payload : sent) {
            const auto results = done_.results()[payload];
            EXPECT_EQ(results.size(), 1U) << payload;
            if (results.size() != 1U || results.front()) {
                continue;  // refused (rate limit): the sender knows
            }
            ++ledger.acknowledged;
            const auto got =
                receiver.events.count<MessageReceived>([&](const MessageReceived& m) { return m.payload == payload; });
            if (got == 0) {
                ++ledger.lost;  // must be counted in a continuity report
            } else if (got != 1) {
                ADD_FAILURE() << payload << " was acknowledged and delivered " << got << " times";
            } else {
                ledger.delivered.push_back(payload);
            }
        }
        return ledger;
    }

    Party& party(ClientConfig c, std::string label = {}) {
        if (label.empty()) {
            label = c.user_id;
        }
        parties_.push_back(std::make_unique<Party>(std::move(c), std::move(label)));
        return *parties_.back();
    }

    /// rtm: logs `p` in and joins `channel`; rtc: joins it (which starts the session). Returns when it is JOINED.
    static void enter(Party& p, const std::string& channel) {
        if (p.profile == Profile::rtm || p.profile == Profile::room) {
            ASSERT_FALSE(p->login()) << p.name;
        }
        ASSERT_FALSE(p->join(channel)) << p.name;
        ASSERT_TRUE(p.events.wait_index<ChannelStateChanged>(
            [&](const ChannelStateChanged& e) { return e.channel == channel && e.reason == ChannelReason::joined; }, 0,
            10s))
            << p.name << " did not join " << channel;
        ASSERT_EQ(p->connection_state(), State::connected) << p.name;
    }

    /// Waits (bounded) until `observer` saw member_joined(`user`) in some channel from index `from` on.
    static void await_joined(Party& observer, const std::string& user, std::size_t from = 0) {
        ASSERT_TRUE(observer.events.wait_index<MemberJoined>([&](const MemberJoined& e) { return e.user_id == user; },
                                                             from, 10s))
            << observer.name << " did not see " << user << " join";
    }

    HttpResponse admin(int k, const std::string& method, const std::string& target, const std::string& body = {}) {
        return http_request(node(k).admin_port(), method, target, std::string("Bearer ") + kAdminSecret, body);
    }

    /// The value of a metric of node `k` (GET /metrics); nullopt when it cannot be read.
    std::optional<double> metric(int k, const std::string& name) {
        const auto response = admin(k, "GET", "/metrics");
        if (response.status != 200) {
            return std::nullopt;
        }
        std::istringstream lines(response.body);
        for (std::string line; std::getline(lines, line);) {
            if (line.rfind(name + " ", 0) == 0) {
                return std::stod(line.substr(name.size() + 1));
            }
        }
        return std::nullopt;
    }

    /// Waits (bounded, polling every 20 ms) until node `k`'s metric `name` equals `value`.
    bool wait_metric(int k, const std::string& name, double value, std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            if (metric(k, name) == value) {
                return true;
            }
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    /// Waits (bounded, polling every 20 ms) until node `k` logged a line containing `text`.
    bool wait_log(int k, const std::string& text, std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            if (node(k).stderr_text().find(text) != std::string::npos) {
                return true;
            }
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    static std::string read_file(const std::filesystem::path& path) {
        std::ifstream in(path);
        return {std::istreambuf_iterator<char>(in), {}};
    }

    /// The link of `lb` comes back, its new connections going to node `k`; the attempt hanging on a dead
    /// connection is reset (as a NAT would), so the client's next attempt follows within one backoff delay.
    void reroute(FaultProxy& lb, int k) {
        lb.set_upstream("127.0.0.1", port(k));
        lb.set_mode(Mode::pass);
        lb.reset_all();
    }

    std::filesystem::path dir_;
    std::string cert_file_;
    std::string key_file_;
    std::string ticket_file_;
    std::unique_ptr<RedisServer> redis_;
    std::vector<std::unique_ptr<FaultProxy>> redis_proxies_;  // between a node and Redis
    std::vector<std::unique_ptr<Relinkd>> nodes_;
    std::vector<bool> down_;  // killed: nothing to stop
    /// Outlives the clients: a client may still complete an operation while it is destroyed.
    Completions done_;
    std::vector<std::unique_ptr<FaultProxy>> proxies_;
    std::vector<std::unique_ptr<Party>> parties_;
};

bool no_error(const std::vector<std::error_code>& results) {
    return results == std::vector<std::error_code>{std::error_code{}};
}

/// The ContinuityReport of the reconnect after index `from` (waited for, bounded).
std::optional<ContinuityReport> report_after(Party& p, std::size_t from, std::chrono::milliseconds timeout = 10s) {
    const auto at = p.events.wait_index<ContinuityReport>({}, from, timeout);
    if (!at) {
        return std::nullopt;
    }
    return p.events.all<ContinuityReport>(*at).front();
}

/// Every connection state `p` went through after index `from` is one of `allowed`.
void expect_states_among(Party& p, std::size_t from, const std::set<std::string>& allowed) {
    for (const auto& state : p.events.states(from)) {
        EXPECT_TRUE(allowed.count(state) == 1) << p.name << " went " << state;
    }
}

// ============================================================================ resume on another node

// UID1 (through its balancer, on n1) loses its link silently; UID2 (on n2) sends it a peer message and a channel
// message meanwhile; the balancer sends UID1's next connection to n3: UID1 resumes there silently, both messages
// come as backfill, UID2 sees no member event, and messages cross nodes both ways afterwards.
TEST_F(ClusterE2e, AResumeOnAnotherNodeIsSilentAndBackfillsWhatWasSentMeanwhile) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    const Timings t = scaled(Profile::rtm);
    Party& uid2 = party(config("UID2", Profile::rtm, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "ch"));
    FaultProxy& lb = balancer(1);
    Party& uid1 = party(config("UID1", Profile::rtm, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    lb.set_mode(Mode::blackhole);
    const auto t3 = Clock::now();
    const auto interrupted = uid1.events.wait_state(State::reconnecting, Reason::interrupted, uid1_mark, 10s);
    ASSERT_TRUE(interrupted) << "UID1 did not notice the silence";
    ASSERT_FALSE(uid2->send_peer_message("UID1", "p1", done_.expect("p1")));
    ASSERT_FALSE(uid2->send_channel_message("ch", "c1", done_.expect("c1")));
    ASSERT_TRUE(done_.wait_total(2, 5s));
    EXPECT_TRUE(no_error(done_.results()["p1"]));
    EXPECT_TRUE(no_error(done_.results()["c1"]));

    reroute(lb, 3);
    const auto back = uid1.events.wait_state(State::connected, Reason::login_success, *interrupted, 10s);
    ASSERT_TRUE(back) << "UID1 did not come back";
    EXPECT_LT(ms(uid1.events.at(*back) - t3), ms(t.presence_timeout)) << "not back within the presence timeout";
    EXPECT_EQ(uid1.events.states(uid1_mark),
              (std::vector<std::string>{"RECONNECTING INTERRUPTED", "CONNECTED LOGIN_SUCCESS"}));
    const auto report = report_after(uid1, uid1_mark, 2s);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->resumed);
    EXPECT_EQ(report->backfilled, 2U);
    EXPECT_EQ(report->dropped, 0U);
    ASSERT_TRUE(uid1.events.wait_count<MessageReceived>(2, {}, 5s));
    auto backfilled = payloads(uid1.events, [](const MessageReceived& m) { return m.backfilled; });
    std::sort(backfilled.begin(), backfilled.end());
    EXPECT_EQ(backfilled, (std::vector<std::string>{"c1", "p1"}));
    EXPECT_EQ(metric(3, "relink_reconnects_total"), 1.0) << "the resume did not happen on n3";
    EXPECT_EQ(uid1->channel_state("ch"), ChannelState::connected) << "still a member of its channel";

    // Live traffic crosses nodes both ways afterwards (n3 ↔ n2).
    ASSERT_FALSE(uid2->send_channel_message("ch", "c2", done_.expect("c2")));
    ASSERT_FALSE(uid1->send_peer_message("UID2", "p2", done_.expect("p2")));
    ASSERT_FALSE(uid1->send_channel_message("ch", "c3", done_.expect("c3")));
    EXPECT_TRUE(uid1.events.wait_index<MessageReceived>(
        [](const MessageReceived& m) { return m.payload == "c2" && !m.backfilled; }, uid1_mark, 5s));
    EXPECT_TRUE(uid2.events.wait_index<MessageReceived>(
        [](const MessageReceived& m) { return m.payload == "p2" && !m.channel; }, uid2_mark, 5s));
    EXPECT_TRUE(uid2.events.wait_index<MessageReceived>(
        [](const MessageReceived& m) { return m.payload == "c3" && m.channel == "ch"; }, uid2_mark, 5s));
    ASSERT_TRUE(done_.wait_total(5, 5s));
    for (const auto* label : {"c2", "p2", "c3"}) {
        EXPECT_TRUE(no_error(done_.results()[label])) << label;
    }

    // Past the presence timeout counted from the break: had n1 kept UID1's session, UID2 would have seen
    // member_left(UID1, DROPPED) by now.
    std::this_thread::sleep_until(t3 + t.presence_timeout + 1s);
    EXPECT_TRUE(member_events_about(uid2.events, "UID1", uid2_mark).empty()) << uid2.events.dump();
    EXPECT_EQ(uid1.events.states(*back).size(), 1U) << "UID1 changed state again";
}

// ============================================================================ recovery on another node

// UID1 (through its balancer, on n1) takes a recovery key and then goes silent for good, as a process the OS killed
// would (its balancer blackholes it until the end); UID2 (on n2) sends it a peer message and a channel message; a
// new Client of UID1 with the key logs in on n3: the session is recovered there silently (UID2 sees no member
// event), both messages come as backfill, and the report says recovered. The same key again is refused as used.
TEST_F(ClusterE2e, ARecoveryKeyTakenOnOneNodeRecoversTheSessionOnAnotherFromANewClient) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    Party& uid2 = party(config("UID2", Profile::rtm, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "ch"));
    FaultProxy& lb = balancer(1);
    Party& uid1 = party(config("UID1", Profile::rtm, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    auto key_taken = std::make_shared<std::promise<std::pair<std::error_code, std::string>>>();
    auto key_future = key_taken->get_future();
    ASSERT_FALSE(uid1->recovery_key([key_taken](std::error_code error, const std::string& key) {
        key_taken->set_value({error, key});
    }));
    ASSERT_EQ(key_future.wait_for(5s), std::future_status::ready) << "no recovery key";
    const auto [key_error, key] = key_future.get();
    ASSERT_FALSE(key_error) << key_error.message();
    const auto uid2_mark = uid2.events.size();

    lb.set_mode(Mode::blackhole);  // UID1's process is gone: nothing of it reaches a node again
    ASSERT_FALSE(uid2->send_peer_message("UID1", "p1", done_.expect("p1")));
    ASSERT_FALSE(uid2->send_channel_message("ch", "c1", done_.expect("c1")));
    ASSERT_TRUE(done_.wait_total(2, 5s));

    ClientConfig recovering = config("UID1", Profile::rtm, port(3));
    recovering.recover_key = key;
    Party& uid1b = party(recovering, "UID1-new");
    ASSERT_FALSE(uid1b->login());
    const auto back = uid1b.events.wait_state(State::connected, Reason::login_success, 0, 10s);
    ASSERT_TRUE(back) << "the new client did not recover: " << uid1b.events.dump();
    const auto report = report_after(uid1b, 0, 5s);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->recovered);
    EXPECT_TRUE(report->resumed);
    EXPECT_EQ(report->backfilled, 2U);
    ASSERT_TRUE(uid1b.events.wait_count<MessageReceived>(2, {}, 5s));
    auto backfilled = payloads(uid1b.events, [](const MessageReceived& m) { return m.backfilled; });
    std::sort(backfilled.begin(), backfilled.end());
    EXPECT_EQ(backfilled, (std::vector<std::string>{"c1", "p1"}));
    EXPECT_TRUE(uid1b.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.channel == "ch" && e.reason == ChannelReason::joined; }, 0, 5s));
    // Live traffic from the recovered client reaches UID2, who saw no member event about UID1.
    ASSERT_FALSE(uid1b->send_channel_message("ch", "c2", done_.expect("c2")));
    EXPECT_TRUE(uid2.events.wait_index<MessageReceived>([](const MessageReceived& m) { return m.payload == "c2"; },
                                                        uid2_mark, 5s));
    EXPECT_TRUE(member_events_about(uid2.events, "UID1", uid2_mark).empty()) << uid2.events.dump();

    // The same key from yet another client (on n2): refused, used once already.
    ClientConfig replay = config("UID1", Profile::rtm, port(2));
    replay.recover_key = key;
    Party& uid1c = party(replay, "UID1-replay");
    ASSERT_FALSE(uid1c->login());
    EXPECT_TRUE(uid1c.events.wait_state(State::disconnected, Reason::recovery_refused, 0, 10s)) << uid1c.events.dump();
    EXPECT_TRUE(uid1c.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) { return e.error == errc::recovery_used; }, 0, 5s));
    EXPECT_EQ(uid1b->connection_state(), State::connected);
}

// ============================================================================ a node killed

// The balancer already sends new connections to n2 when n1 is killed: UID1's connection is reset with n1, it
// reconnects at once to n2 and resumes silently; UID2 (on n3) sees nothing, also once n1 is declared dead.
TEST_F(ClusterE2e, ClientsOfAKilledNodeResumeSilentlyOnAnother) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    const Timings t = scaled(Profile::rtc);
    Party& uid2 = party(config("UID2", Profile::rtc, port(3)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "call"));
    FaultProxy& lb = balancer(1);
    Party& uid1 = party(config("UID1", Profile::rtc, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "call"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    lb.set_upstream("127.0.0.1", port(2));
    ASSERT_NO_FATAL_FAILURE(kill_node(1));
    const auto killed = Clock::now();
    const auto report = report_after(uid1, uid1_mark, 10s);
    ASSERT_TRUE(report) << "UID1 did not reconnect";
    EXPECT_TRUE(report->resumed) << "the session did not survive its node";
    EXPECT_LT(ms(Clock::now() - killed), ms(t.presence_timeout)) << "not back within the presence timeout";
    EXPECT_EQ(uid1->connection_state(), State::connected);
    expect_states_among(uid1, uid1_mark, {"RECONNECTING INTERRUPTED", "CONNECTED REJOIN_SUCCESS"});
    EXPECT_EQ(metric(2, "relink_reconnects_total"), 1.0) << "the resume did not happen on n2";

    // n1 is declared dead by a survivor (after 300 ms of silence); its one session had moved: nobody is reaped.
    const auto deadline = Clock::now() + 5s;
    while (metric(2, "relink_cluster_nodes_declared_dead_total").value_or(0) +
                   metric(3, "relink_cluster_nodes_declared_dead_total").value_or(0) <
               1 &&
           Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_GE(metric(2, "relink_cluster_nodes_declared_dead_total").value_or(0) +
                  metric(3, "relink_cluster_nodes_declared_dead_total").value_or(0),
              1.0)
        << "no node declared n1 dead";
    std::this_thread::sleep_until(killed + t.presence_timeout + 1s);  // past UID1's presence timeout on n1
    EXPECT_TRUE(member_events_about(uid2.events, "UID1", uid2_mark).empty()) << uid2.events.dump();
    EXPECT_EQ(metric(2, "relink_cluster_reaped_sessions_total").value_or(-1) +
                  metric(3, "relink_cluster_reaped_sessions_total").value_or(-1),
              0.0);

    // UID1 (n2) and UID2 (n3) still talk.
    ASSERT_FALSE(uid1->send_channel_message("call", "still here", done_.expect("m")));
    EXPECT_TRUE(uid2.events.wait_index<MessageReceived>(
        [](const MessageReceived& m) { return m.payload == "still here"; }, uid2_mark, 5s));
}

// n1 is killed while UID1's link is dead (it cannot come back anywhere): UID2 (on n2) sees member_left(UID1,
// DROPPED) once, the presence timeout (rtc: 20 s, scaled 2 s) after n1's last heartbeat, which is about the kill.
TEST_F(ClusterE2e, UsersOfAKilledNodeAreDroppedAtTheirPresenceTimeout) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    const Timings t = scaled(Profile::rtc);
    Party& uid2 = party(config("UID2", Profile::rtc, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "call"));
    FaultProxy& lb = balancer(1);
    Party& uid1 = party(config("UID1", Profile::rtc, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "call"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    double after_kill = 0;
    ASSERT_NO_FATAL_FAILURE(kill_node_one_and_time_the_drop(lb, uid2, uid2_mark, after_kill));
    std::printf("member_left(UID1, DROPPED) %.0f ms after the kill (presence timeout %.0f ms)\n", after_kill,
                ms(t.presence_timeout));
    EXPECT_GE(after_kill, 0.8 * ms(t.presence_timeout)) << "dropped before its presence timeout";
    EXPECT_LE(after_kill, ms(t.presence_timeout) + 3000) << "dropped long after its presence timeout";
    std::this_thread::sleep_for(500ms);  // nothing more about UID1, not even late
    EXPECT_EQ(member_events_about(uid2.events, "UID1", uid2_mark).size(), 1U) << uid2.events.dump();
    for (const auto& state : uid1.events.states(uid1_mark)) {
        EXPECT_EQ(state.rfind("CONNECTED", 0), std::string::npos) << "UID1 came back through a dead link: " << state;
    }
    EXPECT_GE(metric(2, "relink_cluster_reaped_sessions_total").value_or(0) +
                  metric(3, "relink_cluster_reaped_sessions_total").value_or(0),
              1.0);
}

// The same with a presence timeout the client asked for: UID1 asks for 5 s (0.5 s scaled) instead of rtc's 20 s
// (2 s); the node that agreed it is killed, and the survivors drop UID1 after the agreed timeout, which Redis keeps
// with the session.
TEST_F(ClusterE2e, UsersOfAKilledNodeAreDroppedAtTheTimeoutTheirLoginAgreed) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    Party& uid2 = party(config("UID2", Profile::rtc, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "call"));
    FaultProxy& lb = balancer(1);
    ClientConfig asking = config("UID1", Profile::rtc, lb.port());
    Timings timings = timings_for(Profile::rtc);
    timings.presence_timeout = 5s;
    asking.timings = timings;
    Party& uid1 = party(asking);
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "call"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid2_mark = uid2.events.size();

    double after_kill = 0;
    ASSERT_NO_FATAL_FAILURE(kill_node_one_and_time_the_drop(lb, uid2, uid2_mark, after_kill));
    std::printf("member_left(UID1, DROPPED) %.0f ms after the kill (agreed presence timeout 500 ms)\n", after_kill);
    EXPECT_GE(after_kill, 0.6 * 500) << "dropped before the agreed timeout";
    EXPECT_LE(after_kill, 1600) << "the profile's timeout (2 s here), not the agreed one";
}

// ============================================================================ duplicate login across nodes

// alice logs in on n1 (instance A) and again on n2 (instance B): A goes ABORTED REMOTE_LOGIN and bob (n3) sees
// member_left(alice, KICKED). A's app logs in again at once, through n3: refused (ABORTED REMOTE_LOGIN) within the
// kick-loop cool-down (1 s scaled), and B is not knocked off; after the cool-down A may take the id back.
TEST_F(ClusterE2e, ADuplicateLoginOnAnotherNodeKicksTheFirstWhichCannotTakeItBackDuringTheCooldown) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    const auto cooldown = std::chrono::duration_cast<std::chrono::milliseconds>(10s * kScale);
    Party& bob = party(config("bob", Profile::rtm, port(3)));
    ASSERT_NO_FATAL_FAILURE(enter(bob, "ch"));
    FaultProxy& lb = balancer(1);
    Party& a = party(config("alice", Profile::rtm, lb.port()), "alice-A");
    ASSERT_NO_FATAL_FAILURE(enter(a, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(bob, "alice"));
    const auto bob_mark = bob.events.size();

    Party& b = party(config("alice", Profile::rtm, port(2)), "alice-B");
    ASSERT_FALSE(b->login());
    ASSERT_TRUE(b.events.wait_state(State::connected, Reason::login_success, 0, 10s)) << "B did not log in";
    const auto aborted = a.events.wait_state(State::aborted, Reason::remote_login, 0, 5s);
    ASSERT_TRUE(aborted) << "A was not ABORTED REMOTE_LOGIN";
    const auto kicked_at = a.events.at(*aborted);

    // A's app logs in again at once (what it was told is checked after); the balancer sends it to n3.
    lb.set_upstream("127.0.0.1", port(3));
    const auto relogin_mark = a.events.size();
    ASSERT_FALSE(a->logout());
    ASSERT_FALSE(a->login());
    const auto relogin_at = Clock::now();
    EXPECT_TRUE(a.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.channel == "ch" && e.reason == ChannelReason::kicked_out &&
                   e.error == make_error_code(errc::remote_login);
        },
        0, 2s));
    EXPECT_TRUE(bob.events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "alice" && e.cause == MemberLeftCause::kicked; }, bob_mark, 5s));
    // The precondition of what follows, not the contract: the new login reaches n3 well within the cool-down.
    ASSERT_LT(ms(relogin_at - kicked_at), 0.6 * ms(cooldown)) << "the test was too slow to log in within the cool-down";
    const auto refused = a.events.wait_state(State::aborted, Reason::remote_login, relogin_mark, 5s);
    ASSERT_TRUE(refused) << "A's login within the cool-down was not refused";
    EXPECT_EQ(a.events.states(relogin_mark),
              (std::vector<std::string>{"DISCONNECTED LOGOUT", "CONNECTING LOGIN", "ABORTED REMOTE_LOGIN"}));
    EXPECT_GE(metric(3, "relink_login_failures_total").value_or(0), 1.0) << "the refused login did not reach n3";

    std::this_thread::sleep_until(kicked_at + 2 * cooldown);  // nobody logs in again, nobody is kicked again
    EXPECT_EQ(b.events.states(), (std::vector<std::string>{"CONNECTING LOGIN", "CONNECTED LOGIN_SUCCESS"}));
    EXPECT_EQ(b->connection_state(), State::connected);
    EXPECT_EQ(a->connection_state(), State::aborted);

    // After the cool-down A may take its id back (on n3), and then B is kicked: once per cool-down, no ping-pong.
    const auto b_mark = b.events.size();
    const auto again_mark = a.events.size();
    ASSERT_FALSE(a->logout());
    ASSERT_FALSE(a->login());
    EXPECT_TRUE(a.events.wait_state(State::connected, Reason::login_success, again_mark, 10s));
    EXPECT_TRUE(b.events.wait_state(State::aborted, Reason::remote_login, b_mark, 5s));
}

// ============================================================================ drain

// SIGTERM to n1 while the balancer already sends new connections to n2: n1 closes UID1's connection with
// Close(draining), UID1 resumes silently on n2, UID2 sees nothing, and n1 exits 0.
TEST_F(ClusterE2e, ADrainedNodesClientsResumeSilentlyOnTheOthers) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    const Timings t = scaled(Profile::rtm);
    Party& uid2 = party(config("UID2", Profile::rtm, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "ch"));
    FaultProxy& lb = balancer(1);
    Party& uid1 = party(config("UID1", Profile::rtm, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    lb.set_upstream("127.0.0.1", port(2));
    const auto drained = Clock::now();
    const auto status = node(1).stop();
    down_[0] = true;
    EXPECT_EQ(status, 0) << "n1 did not drain and exit 0";
    const auto report = report_after(uid1, uid1_mark, 10s);
    ASSERT_TRUE(report) << "UID1 did not reconnect";
    EXPECT_TRUE(report->resumed);
    EXPECT_EQ(report->dropped, 0U);
    EXPECT_EQ(uid1->connection_state(), State::connected);
    expect_states_among(uid1, uid1_mark, {"RECONNECTING INTERRUPTED", "CONNECTED LOGIN_SUCCESS"});
    EXPECT_EQ(metric(2, "relink_reconnects_total"), 1.0) << "the resume did not happen on n2";

    ASSERT_FALSE(uid1->send_channel_message("ch", "from n2", done_.expect("a")));
    ASSERT_FALSE(uid2->send_peer_message("UID1", "to n2", done_.expect("b")));
    EXPECT_TRUE(uid2.events.wait_index<MessageReceived>([](const MessageReceived& m) { return m.payload == "from n2"; },
                                                        uid2_mark, 5s));
    EXPECT_TRUE(uid1.events.wait_index<MessageReceived>([](const MessageReceived& m) { return m.payload == "to n2"; },
                                                        uid1_mark, 5s));
    std::this_thread::sleep_until(drained + t.presence_timeout + 1s);  // past UID1's presence timeout on n1
    EXPECT_TRUE(member_events_about(uid2.events, "UID1", uid2_mark).empty()) << uid2.events.dump();
}

// ============================================================================ Redis restarted

// Redis is killed (-9) and restarted on its port without its data. No node exits; each fences (closes its clients
// with Close(draining), refuses logins) while Redis is away and takes work again when it is back; every client is
// CONNECTED again (a fresh session: the sessions were lost with Redis) and talks in its channel. A peer message
// acknowledged around the outage is delivered, or its loss is reported to the receiver (never lost silently).
TEST_F(ClusterE2e, RedisKilledAndRestartedWithoutItsDataEveryClientComesBack) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    std::vector<Party*> users;
    for (int k = 1; k <= kNodes; ++k) {
        FaultProxy& lb = balancer(k);
        Party& p = party(config("UID" + std::to_string(k), Profile::rtm, lb.port()));
        ASSERT_NO_FATAL_FAILURE(enter(p, "ch"));
        users.push_back(&p);
    }
    ASSERT_NO_FATAL_FAILURE(await_joined(*users[0], "UID3"));
    ASSERT_NO_FATAL_FAILURE(await_joined(*users[1], "UID3"));
    // No channel message before the outage here: one would make this test depend on which node makes the new epoch
    // (see RedisRestartedWithoutItsDataMakesANewEpoch).
    std::vector<std::size_t> marks;
    for (auto* p : users) {
        marks.push_back(p->events.size());
    }

    ASSERT_TRUE(redis_->kill9()) << "redis-server did not die";
    // Peer messages UID1 → UID2 in flight as the nodes lose Redis (kept for UID2 if it is not logged in): each
    // completes once, and one acknowledged must arrive: with Redis gone, no node may acknowledge what it could not
    // store. (Messages sent after the restart, around the logins, are PeerMessagesSentWhileTheReceiverLogsIn...'s.)
    constexpr int kPeerMessages = 3;
    for (int i = 1; i <= kPeerMessages; ++i) {
        const std::string payload = "in-flight-" + std::to_string(i);
        ASSERT_FALSE((*users[0])->send_peer_message("UID2", payload, done_.expect(payload), /*store_offline=*/true));
    }
    for (int k = 1; k <= kNodes; ++k) {
        EXPECT_TRUE(wait_log(k, "Redis unreachable", 5s)) << "n" << k << " did not fence";
    }
    // Redis stays away for 1 s (5 fence delays): no node takes a login meanwhile, so no client reconnects.
    std::this_thread::sleep_for(1s);
    for (std::size_t i = 0; i < users.size(); ++i) {
        EXPECT_EQ(users[i]->events.count<ContinuityReport>({}, marks[i]), 0U)
            << users[i]->name << " logged in while no node could reach Redis";
    }
    ASSERT_TRUE(redis_->restart()) << "redis-server did not restart on its port";
    const auto restarted = Clock::now();

    for (std::size_t i = 0; i < users.size(); ++i) {
        SCOPED_TRACE(users[i]->name);
        const auto report = report_after(*users[i], marks[i], 20s);
        ASSERT_TRUE(report) << "no reconnect after Redis came back";
        EXPECT_TRUE(users[i]->events.wait_until(
            [&](const std::vector<Recorder::Entry>&) { return (*users[i])->connection_state() == State::connected; },
            10s));
        expect_states_among(*users[i], marks[i], {"RECONNECTING INTERRUPTED", "CONNECTED LOGIN_SUCCESS"});
        // The login names the channels (declarative): back in "ch" without a channel event of its own.
        EXPECT_EQ((*users[i])->channel_state("ch"), ChannelState::connected);
    }
    std::printf("every client CONNECTED again %.0f ms after Redis restarted\n", ms(Clock::now() - restarted));
    for (int k = 1; k <= kNodes; ++k) {
        EXPECT_TRUE(still_running(node(k).pid())) << "n" << k << " exited";
        EXPECT_EQ(metric(k, "relink_cluster_redis_up"), 1.0) << "n" << k;
    }

    // The channel works again across the three nodes.
    ASSERT_FALSE((*users[2])->send_channel_message("ch", "after", done_.expect("after")));
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_TRUE(users[i]->events.wait_index<MessageReceived>(
            [](const MessageReceived& m) { return m.payload == "after"; }, marks[i], 5s))
            << users[i]->name << " did not get the message sent after the restart";
    }
    ASSERT_TRUE(done_.wait_total(1 + kPeerMessages, 10s)) << "a send around the outage never completed";
    EXPECT_TRUE(no_error(done_.results()["after"]));
    for (int i = 1; i <= kPeerMessages; ++i) {
        const std::string payload = "in-flight-" + std::to_string(i);
        const auto results = done_.results()[payload];
        ASSERT_EQ(results.size(), 1U) << payload << " completed " << results.size() << " times";
        std::printf("%s: %s\n", payload.c_str(), results.front() ? error_name(results.front()) : "acknowledged");
        if (results.front()) {
            continue;  // refused or failed: the sender knows
        }
        EXPECT_TRUE(users[1]->events.wait_index<MessageReceived>(
            [&](const MessageReceived& m) { return m.payload == payload; }, marks[1], 5s))
            << payload << " was acknowledged but never delivered";
    }
}

// A Redis that lost its data must give positions a new epoch (redis_store.lua: "a Redis that lost its data makes a
// new one"), so that clients tell the new history from the old. One node here, so that the node that made the first
// epoch makes the second too. UID2 saw "before" (channel seq 1); after Redis comes back empty, the clients log in
// afresh and must be told the history was lost (server_restarted), and "after" must reach UID2.
TEST_F(ClusterE2e, RedisRestartedWithoutItsDataMakesANewEpoch) {
    ASSERT_NO_FATAL_FAILURE(start_node(1));
    Party& uid1 = party(config("UID1", Profile::rtm, port(1)));
    Party& uid2 = party(config("UID2", Profile::rtm, port(1)));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "ch"));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "ch"));
    ASSERT_FALSE(uid1->send_channel_message("ch", "before", done_.expect("before")));
    ASSERT_TRUE(
        uid2.events.wait_index<MessageReceived>([](const MessageReceived& m) { return m.payload == "before"; }, 0, 5s));
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    ASSERT_TRUE(redis_->kill9()) << "redis-server did not die";
    ASSERT_TRUE(wait_log(1, "Redis unreachable", 5s)) << "n1 did not fence";
    ASSERT_TRUE(redis_->restart()) << "redis-server did not restart on its port";
    for (auto [p, mark] : {std::pair{&uid1, uid1_mark}, std::pair{&uid2, uid2_mark}}) {
        SCOPED_TRACE(p->name);
        const auto report = report_after(*p, mark, 10s);
        ASSERT_TRUE(report) << "no reconnect after Redis came back";
        EXPECT_FALSE(report->resumed) << "Redis lost the session";
        EXPECT_TRUE(report->server_restarted) << "the lost history was not reported: the epoch is the old one";
    }
    ASSERT_FALSE(uid1->send_channel_message("ch", "after", done_.expect("after")));
    ASSERT_TRUE(done_.wait_total(2, 5s));
    EXPECT_TRUE(no_error(done_.results()["after"]));
    EXPECT_TRUE(uid2.events.wait_index<MessageReceived>([](const MessageReceived& m) { return m.payload == "after"; },
                                                        uid2_mark, 5s))
        << "\"after\" (seq 1 again) was taken for \"before\" (seq 1 of the same epoch) and dropped";
}

// ============================================================================ a login racing messages

// UID1 (on n1) sends peer messages (kept if the receiver is offline) to receivers on n2 around each receiver's first
// login: 5 before its login() and 15 after it, 1 ms apart, so that some reach Redis while n2 is logging the receiver
// in. Every message acknowledged must reach its receiver: before its login as part of it, afterwards live.
TEST_F(ClusterE2e, PeerMessagesSentWhileTheReceiverLogsInOnAnotherNodeAreAllDelivered) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    Party& uid1 = party(config("UID1", Profile::rtm, port(1)));
    ASSERT_FALSE(uid1->login());
    ASSERT_TRUE(uid1.events.wait_state(State::connected, Reason::login_success, 0, 10s));
    constexpr int kReceivers = 10;
    constexpr int kBefore = 5;
    constexpr int kPerReceiver = 20;
    std::vector<Party*> receivers;
    for (int r = 1; r <= kReceivers; ++r) {
        const std::string user = "R" + std::to_string(r);
        Party& receiver = party(config(user, Profile::rtm, port(2)));
        receivers.push_back(&receiver);
        for (int j = 1; j <= kPerReceiver; ++j) {
            if (j == kBefore + 1) {
                ASSERT_FALSE(receiver->login());
            }
            const std::string payload = user + "-" + std::to_string(j);
            ASSERT_FALSE(uid1->send_peer_message(user, payload, done_.expect(payload), /*store_offline=*/true));
            std::this_thread::sleep_for(1ms);
        }
        ASSERT_TRUE(receiver.events.wait_state(State::connected, Reason::login_success, 0, 10s)) << user;
        std::this_thread::sleep_for(300ms);  // UID1's message budget (50 per second) refills
    }
    ASSERT_TRUE(done_.wait_total(kReceivers * kPerReceiver, 10s)) << "a send never completed";
    int acknowledged = 0;
    int lost = 0;
    for (int r = 1; r <= kReceivers; ++r) {
        const std::string user = "R" + std::to_string(r);
        for (int j = 1; j <= kPerReceiver; ++j) {
            const std::string payload = user + "-" + std::to_string(j);
            const auto results = done_.results()[payload];
            ASSERT_EQ(results.size(), 1U) << payload;
            if (results.front()) {
                continue;  // refused (rate limit): the sender knows
            }
            ++acknowledged;
            const bool delivered =
                receivers[static_cast<std::size_t>(r - 1)]
                    ->events
                    .wait_index<MessageReceived>([&](const MessageReceived& m) { return m.payload == payload; }, 0,
                                                 lost == 0 ? 3s : 0ms)
                    .has_value();
            if (!delivered) {
                ++lost;
                ADD_FAILURE() << payload << " was acknowledged but never delivered";
            }
        }
    }
    std::printf("%d messages acknowledged, %d of them never delivered\n", acknowledged, lost);
    EXPECT_GT(acknowledged, kReceivers * kPerReceiver / 2) << "too few sends got through to test anything";
}

// The same for channel messages: UID1 (on n1) sends to a channel around the login of a receiver (on n2) that joins
// it in that login, and once more when the receiver is surely a member. Messages sent before the receiver is a
// member are not its to see; from the first it received on, every message acknowledged must reach it (no gap), and
// the last one must. (A message lost at the very start of the membership looks like one sent before it: the test
// cannot tell them apart.)
TEST_F(ClusterE2e, ChannelMessagesSentWhileAMemberLogsInOnAnotherNodeLeaveNoGap) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    Party& uid1 = party(config("UID1", Profile::rtm, port(1)));
    ASSERT_FALSE(uid1->login());
    constexpr int kReceivers = 10;
    constexpr int kBefore = 5;
    constexpr int kPerReceiver = 20;
    for (int r = 1; r <= kReceivers; ++r) {
        ASSERT_FALSE(uid1->join("ch" + std::to_string(r)));
    }
    ASSERT_TRUE(uid1.events.wait_count<ChannelStateChanged>(
        kReceivers, [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 10s));
    std::vector<Party*> receivers;
    for (int r = 1; r <= kReceivers; ++r) {
        const std::string user = "R" + std::to_string(r);
        const std::string channel = "ch" + std::to_string(r);
        Party& receiver = party(config(user, Profile::rtm, port(2)));
        receivers.push_back(&receiver);
        for (int j = 1; j <= kPerReceiver; ++j) {
            if (j == kBefore + 1) {
                ASSERT_FALSE(receiver->login());
                ASSERT_FALSE(receiver->join(channel));
            }
            const std::string payload = user + "-" + std::to_string(j);
            ASSERT_FALSE(uid1->send_channel_message(channel, payload, done_.expect(payload)));
            std::this_thread::sleep_for(1ms);
        }
        ASSERT_TRUE(receiver.events.wait_index<ChannelStateChanged>(
            [](const ChannelStateChanged& e) { return e.reason == ChannelReason::joined; }, 0, 10s))
            << user;
        // One more once the receiver is surely a member: it must arrive, and close the range checked for gaps.
        const std::string last = user + "-" + std::to_string(kPerReceiver + 1);
        ASSERT_FALSE(uid1->send_channel_message(channel, last, done_.expect(last)));
        std::this_thread::sleep_for(300ms);  // UID1's message budget (50 per second) refills
    }
    ASSERT_TRUE(done_.wait_total(kReceivers * (kPerReceiver + 1), 10s)) << "a send never completed";
    int gaps = 0;
    for (int r = 1; r <= kReceivers; ++r) {
        const std::string user = "R" + std::to_string(r);
        Party& receiver = *receivers[static_cast<std::size_t>(r - 1)];
        const std::string last_payload = user + "-" + std::to_string(kPerReceiver + 1);
        ASSERT_TRUE(no_error(done_.results()[last_payload])) << last_payload;
        EXPECT_TRUE(receiver.events.wait_index<MessageReceived>(
            [&](const MessageReceived& m) { return m.payload == last_payload; }, 0, 3s))
            << last_payload << ", sent to a member, never arrived";
        std::set<std::string> got;
        for (const auto& p : payloads(receiver.events, {})) {
            got.insert(p);
        }
        bool seen_first = false;
        for (int j = 1; j <= kPerReceiver + 1; ++j) {
            const std::string payload = user + "-" + std::to_string(j);
            const bool acked = !done_.results()[payload].front();
            if (got.count(payload) == 1) {
                seen_first = true;
            } else if (seen_first && acked) {
                ++gaps;
                ADD_FAILURE() << payload << " was acknowledged, and later ones arrived, but it never did";
            }
        }
    }
    std::printf("%d gaps\n", gaps);
}

// Channel messages keep flowing (UID2 on n2, one every 3 ms) while UID1 resumes on another node, three times
// (n1 → n3 → n1 → n3). UID1 is a member all along: every message acknowledged must reach it once, live or as
// backfill, or be counted in its continuity report's `dropped` (an outage with more than the profile's backfill
// count, 32 for rtm, of messages drops the oldest, by design): nothing lost silently, nothing twice.
TEST_F(ClusterE2e, ChannelMessagesFlowingWhileAMemberResumesOnAnotherNodeAreAllDelivered) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    Party& uid2 = party(config("UID2", Profile::rtm, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "ch"));
    FaultProxy& lb = balancer(1);
    Party& uid1 = party(config("UID1", Profile::rtm, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid2_mark = uid2.events.size();
    const auto uid1_mark = uid1.events.size();
    constexpr int kRounds = 3;
    constexpr int kPerRound = 60;
    for (int round = 1; round <= kRounds; ++round) {
        const auto mark = uid1.events.size();
        lb.set_mode(Mode::blackhole);
        ASSERT_TRUE(uid1.events.wait_state(State::reconnecting, Reason::interrupted, mark, 10s)) << "round " << round;
        for (int j = 1; j <= kPerRound; ++j) {
            if (j == 10) {
                reroute(lb, round % 2 == 1 ? 3 : 1);
            }
            const std::string payload = "r" + std::to_string(round) + "-" + std::to_string(j);
            ASSERT_FALSE(uid2->send_channel_message("ch", payload, done_.expect(payload)));
            std::this_thread::sleep_for(3ms);
        }
        const auto report = report_after(uid1, mark, 10s);
        ASSERT_TRUE(report) << "round " << round << ": UID1 did not come back";
        EXPECT_TRUE(report->resumed) << "round " << round;
        std::this_thread::sleep_for(1s);  // UID2's message budget (50 per second) refills
    }
    ASSERT_TRUE(done_.wait_total(kRounds * kPerRound, 10s)) << "a send never completed";
    // Every continuity report counts, not only the one of each round's move: a node that joins UID1 to the channel
    // may see a gap in the channel's events (its subscription reached Redis after the resume's script ran) and make
    // UID1 resume once more, silently, and that report carries what the backfill could not.
    std::uint64_t reported_dropped = 0;
    for (const auto& report : uid1.events.all<ContinuityReport>(uid1_mark)) {
        reported_dropped += report.dropped;
    }
    std::vector<std::string> sent;
    for (int round = 1; round <= kRounds; ++round) {
        for (int j = 1; j <= kPerRound; ++j) {
            sent.push_back("r" + std::to_string(round) + "-" + std::to_string(j));
        }
    }
    const Ledger ledger = account(uid1, sent);
    const int acknowledged = ledger.acknowledged;
    const int lost = ledger.lost;
    std::printf("%d messages acknowledged, %d of them not delivered, %llu reported dropped\n", acknowledged, lost,
                static_cast<unsigned long long>(reported_dropped));
    EXPECT_EQ(static_cast<std::uint64_t>(lost), reported_dropped) << "a message was lost silently";
    EXPECT_GT(acknowledged, kRounds * kPerRound / 2) << "too few sends got through to test anything";
    EXPECT_TRUE(member_events_about(uid2.events, "UID1", uid2_mark).empty()) << uid2.events.dump();
}

// ============================================================================ a handover to another node

// The make-before-break handover (docs/protocol.md, "Handover") across nodes, on Redis: UID1 is on n1 through its
// balancer; its device moves to a network whose balancer sends it to n3 (detail::ClientInternals::
// route_new_connections). While UID2 (on n2) sends channel and peer messages, UID1 is told the network changed: the
// old link answers, a second connection resumes the session on n3 through the store, n1 closes the old one when
// the session moves. No state change, UID2 sees nothing, and every acknowledged message reaches UID1 exactly once
// or is counted dropped by a continuity report (a node joining UID1 to the channel may see a gap and make it
// resume once more, silently: see the test above).
TEST_F(ClusterE2e, AHandoverToAnotherNodeIsSilentAndLosesNothing) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    Party& uid2 = party(config("UID2", Profile::rtm, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "ch"));
    FaultProxy& old_path = balancer(1);
    FaultProxy& new_path = balancer(3);
    Party& uid1 = party(config("UID1", Profile::rtm, old_path.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid2_mark = uid2.events.size();
    const auto uid1_mark = uid1.events.size();
    constexpr int kCount = 40;  // channel and peer messages each: within UID2's burst of 100
    for (int j = 1; j <= kCount; ++j) {
        const std::string n = std::to_string(j);
        ASSERT_FALSE(uid2->send_channel_message("ch", "c" + n, done_.expect("c" + n)));
        ASSERT_FALSE(uid2->send_peer_message("UID1", "p" + n, done_.expect("p" + n)));
        if (j == 10) {
            detail::ClientInternals::route_new_connections(*uid1.client,
                                                           "wss://127.0.0.1:" + std::to_string(new_path.port()) + "/");
            uid1->notify_network_changed();
        }
        std::this_thread::sleep_for(3ms);
    }
    ASSERT_TRUE(done_.wait_total(2 * kCount, 10s)) << "a send never completed";
    ASSERT_TRUE(report_after(uid1, uid1_mark, 10s)) << "no handover";
    const auto deadline = Clock::now() + 10s;
    while ((old_path.stats().connections_open != 0 || new_path.stats().connections_open != 1) &&
           Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);  // the old connection's close crosses its balancer
    }
    EXPECT_EQ(old_path.stats().connections_open, 0U) << "the old connection was not closed";
    EXPECT_EQ(new_path.stats().connections_open, 1U) << "UID1 is not on the new path";
    std::this_thread::sleep_for(300ms);  // a late duplicate would show now
    EXPECT_EQ(uid1.events.states(uid1_mark), std::vector<std::string>{}) << "the app saw a state change";
    std::uint64_t reported_dropped = 0;
    for (const auto& report : uid1.events.all<ContinuityReport>(uid1_mark)) {
        EXPECT_TRUE(report.resumed);
        reported_dropped += report.dropped;
    }
    int acknowledged = 0;
    int lost = 0;
    for (const char* kind : {"c", "p"}) {
        std::vector<std::string> sent;
        for (int j = 1; j <= kCount; ++j) {
            sent.push_back(kind + std::to_string(j));
        }
        const Ledger ledger = account(uid1, sent);
        acknowledged += ledger.acknowledged;
        lost += ledger.lost;
        const std::vector<std::string>& expected = ledger.delivered;
        const bool channel = std::string(kind) == "c";
        EXPECT_EQ(
            payloads(
                uid1.events, [&](const MessageReceived& m) { return m.channel.has_value() == channel; }, uid1_mark),
            expected)
            << "out of order";
    }
    std::printf("%d messages acknowledged, %d of them not delivered, %llu reported dropped\n", acknowledged, lost,
                static_cast<unsigned long long>(reported_dropped));
    EXPECT_EQ(static_cast<std::uint64_t>(lost), reported_dropped) << "a message was lost silently";
    EXPECT_GT(acknowledged, kCount) << "too few sends got through to test anything";
    EXPECT_TRUE(member_events_about(uid2.events, "UID1", uid2_mark).empty()) << uid2.events.dump();
}

// ============================================================================ a node cut off from Redis

// n1 reaches Redis through a fault proxy. Its link to Redis goes silent: after 2 s (scaled) n1 fences, closing
// UID1's connection with Close(draining); the balancer sends UID1 to n2, where it resumes silently; UID2 sees
// nothing. When n1's link to Redis is back, n1 takes work again (a new client logs in there).
TEST_F(ClusterE2e, ANodeCutOffFromRedisFencesAndItsClientsResumeOnAnother) {
    redis_proxies_.push_back(std::make_unique<FaultProxy>("127.0.0.1", redis_->port()));
    FaultProxy& n1_redis = *redis_proxies_.back();
    ASSERT_NO_FATAL_FAILURE(start_node(1, "redis://127.0.0.1:" + std::to_string(n1_redis.port())));
    ASSERT_NO_FATAL_FAILURE(start_node(2));
    ASSERT_NO_FATAL_FAILURE(start_node(3));
    const Timings t = scaled(Profile::rtm);
    Party& uid2 = party(config("UID2", Profile::rtm, port(2)));
    ASSERT_NO_FATAL_FAILURE(enter(uid2, "ch"));
    FaultProxy& lb = balancer(1);
    Party& uid1 = party(config("UID1", Profile::rtm, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(uid1, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(uid2, "UID1"));
    const auto uid1_mark = uid1.events.size();
    const auto uid2_mark = uid2.events.size();

    EXPECT_EQ(http_request(node(1).admin_port(), "GET", "/readyz", "", "").status, 200);
    lb.set_upstream("127.0.0.1", port(2));
    n1_redis.set_mode(Mode::blackhole);
    const auto cut = Clock::now();
    EXPECT_TRUE(wait_log(1, "Redis unreachable", 10s)) << "n1 did not fence";
    // A load balancer probing /readyz (no secret) stops sending n1 clients; n2 stays ready.
    const auto not_ready = http_request(node(1).admin_port(), "GET", "/readyz", "", "");
    EXPECT_EQ(not_ready.status, 503);
    EXPECT_EQ(not_ready.body, "not ready: cut off from Redis\n");
    EXPECT_EQ(http_request(node(1).admin_port(), "GET", "/healthz", "", "").status, 200) << "alive all the same";
    EXPECT_EQ(http_request(node(2).admin_port(), "GET", "/readyz", "", "").status, 200);
    const auto report = report_after(uid1, uid1_mark, 10s);
    ASSERT_TRUE(report) << "UID1 did not reconnect";
    EXPECT_TRUE(report->resumed) << "UID1 did not resume on n2";
    EXPECT_EQ(uid1->connection_state(), State::connected);
    expect_states_among(uid1, uid1_mark, {"RECONNECTING INTERRUPTED", "CONNECTED LOGIN_SUCCESS"});
    EXPECT_EQ(metric(2, "relink_reconnects_total"), 1.0) << "the resume did not happen on n2";
    EXPECT_EQ(metric(1, "relink_connections"), 0.0) << "n1 kept a client while fenced";
    ASSERT_FALSE(uid2->send_peer_message("UID1", "to n2", done_.expect("p")));
    EXPECT_TRUE(uid1.events.wait_index<MessageReceived>([](const MessageReceived& m) { return m.payload == "to n2"; },
                                                        uid1_mark, 5s));

    std::this_thread::sleep_until(cut + t.presence_timeout + 1s);  // past UID1's presence timeout on n1
    EXPECT_TRUE(member_events_about(uid2.events, "UID1", uid2_mark).empty()) << uid2.events.dump();
    EXPECT_EQ(uid2.events.states(uid2_mark), std::vector<std::string>{}) << "UID2's session was disturbed";

    // n1's link to Redis is back: it takes work again.
    n1_redis.set_mode(Mode::pass);
    n1_redis.reset_all();
    EXPECT_TRUE(wait_log(1, "is back: taking work again", 10s)) << "n1 did not reopen";
    EXPECT_EQ(http_request(node(1).admin_port(), "GET", "/readyz", "", "").status, 200) << "ready again";
    Party& uid3 = party(config("UID3", Profile::rtm, port(1)));
    ASSERT_NO_FATAL_FAILURE(enter(uid3, "ch"));
    EXPECT_TRUE(
        uid2.events.wait_index<MemberJoined>([](const MemberJoined& e) { return e.user_id == "UID3"; }, uid2_mark, 5s));
}

// ============================================================================ admin API across nodes

// POST /kick on n2's admin API of alice, connected to n1: alice goes ABORTED BANNED_BY_SERVER (channel KICKED_OUT)
// and bob (n3) sees member_left(alice, KICKED).
TEST_F(ClusterE2e, AnAdminKickOnOneNodeAbortsTheUserOnAnother) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    Party& bob = party(config("bob", Profile::rtm, port(3)));
    ASSERT_NO_FATAL_FAILURE(enter(bob, "ch"));
    Party& alice = party(config("alice", Profile::rtm, port(1)));
    ASSERT_NO_FATAL_FAILURE(enter(alice, "ch"));
    ASSERT_NO_FATAL_FAILURE(await_joined(bob, "alice"));
    const auto bob_mark = bob.events.size();

    const auto kicked = admin(2, "POST", "/kick", R"({"app":"app","user":"alice","ban":false})");
    EXPECT_EQ(kicked.status, 200) << kicked.body;
    const auto aborted = alice.events.wait_state(State::aborted, Reason::banned_by_server, 0, 5s);
    ASSERT_TRUE(aborted) << "alice was not kicked";
    EXPECT_TRUE(alice.events.wait_index<ChannelStateChanged>(
        [](const ChannelStateChanged& e) {
            return e.channel == "ch" && e.reason == ChannelReason::kicked_out &&
                   e.error == make_error_code(errc::banned_by_server);
        },
        0, 2s));
    EXPECT_TRUE(bob.events.wait_index<MemberLeft>(
        [](const MemberLeft& e) { return e.user_id == "alice" && e.cause == MemberLeftCause::kicked; }, bob_mark, 5s));
    std::this_thread::sleep_for(500ms);  // it does not come back by itself
    EXPECT_EQ(alice.events.states(*aborted), std::vector<std::string>{"ABORTED BANNED_BY_SERVER"});
}

// POST /kick with a ban on n3 of carol, connected to n1: carol is aborted; her next login, through n2, is refused
// while the ban lasts, and works once it ran out (ban_seconds: wall time, not scaled).
TEST_F(ClusterE2e, AnAdminBanOnOneNodeRefusesTheUserOnAnother) {
    ASSERT_NO_FATAL_FAILURE(start_cluster());
    FaultProxy& lb = balancer(1);
    Party& carol = party(config("carol", Profile::rtm, lb.port()));
    ASSERT_NO_FATAL_FAILURE(enter(carol, "ch"));

    const auto ban_start = Clock::now();
    const auto banned = admin(3, "POST", "/kick", R"({"app":"app","user":"carol","ban":true,"ban_seconds":2})");
    EXPECT_EQ(banned.status, 200) << banned.body;
    const auto aborted = carol.events.wait_state(State::aborted, Reason::banned_by_server, 0, 5s);
    ASSERT_TRUE(aborted) << "carol was not kicked";

    lb.set_upstream("127.0.0.1", port(2));
    ASSERT_FALSE(carol->logout());
    const auto refused_mark = carol.events.size();
    ASSERT_FALSE(carol->login());
    const auto refused = carol.events.wait_state(State::aborted, Reason::banned_by_server, refused_mark, 5s);
    ASSERT_TRUE(refused) << "the banned user's login on n2 was not refused";
    EXPECT_LT(ms(carol.events.at(*refused) - ban_start), 2000.0) << "the refusal came after the ban";

    std::this_thread::sleep_until(ban_start + 2500ms);  // the ban runs out
    ASSERT_FALSE(carol->logout());
    const auto again = carol.events.size();
    ASSERT_FALSE(carol->login());
    EXPECT_TRUE(carol.events.wait_state(State::connected, Reason::login_success, again, 10s));
}

}  // namespace
}  // namespace relink::test
