// demo/scenarios.cpp — the stage (an embedded relinkd, or two embedded nodes of a cluster on a redis-server child;
// the fault proxy, the clients, the recorder) and the scripts of the demo's scenarios with what each must show.
#include "demo/scenarios.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "faultproxy/fault_proxy.hpp"
#include "relink/client.hpp"
#include "relink/error.hpp"
#include "server/listener.hpp"
#include "server/options.hpp"
#include "server/tls.hpp"
#include "support/redis_process.hpp"
#include "token/token.hpp"

namespace relink::demo {
namespace {

using namespace std::chrono_literals;
using faultproxy::FaultProxy;
using faultproxy::Mode;

constexpr const char* kAppId = "demo";
constexpr const char* kAppSecret = "demo-secret";
/// Added to every wait's spec-time bound: connecting over TLS and scheduling on a loaded machine take real time.
constexpr auto kRealWaitSlack = 5s;

/// Spec seconds from the link's return to CONNECTED: the spec sets no bound; the SDK's next attempt comes within one
/// backoff delay (the hanging attempt is reset when the link returns), and that delay is at most its cap, 8 s, plus
/// 20 % jitter.
constexpr double kBackWithin = 10.0;

/// A scenario's script stopped: what it waited for did not happen in time (the check reports it).
struct ScriptStopped : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string spec_seconds(double seconds) {
    char out[32];
    std::snprintf(out, sizeof out, "%.1f s", seconds);
    return out;
}

/// How a stage's relinkd is deployed.
enum class Deployment {
    /// One embedded relinkd, everything in memory: UID1's proxy and the direct clients all reach it.
    single,
    /// Two embedded relinkd nodes, A and B, of one cluster on a redis-server of the stage's own, serving one
    /// certificate and one TLS ticket key file as a real deployment does. UID1's proxy plays its load balancer and
    /// starts on node A; the direct clients connect to node B.
    cluster,
};

/// Everything one run needs, torn down in reverse: clients, then the proxy, then the nodes, then redis-server and
/// the CA file.
class Stage {
public:
    Stage(const std::string& title, std::vector<std::string> lanes, double time_scale, const RunOptions& options,
          Deployment deployment = Deployment::single)
        : time_scale_(time_scale), extra_real_slack_(options.extra_real_slack), verbose_(options.verbose) {
        server::Options server_options;
        server_options.listen = {"127.0.0.1", 0};
        server_options.apps = {{kAppId, kAppSecret}};
        server_options.threads = 2;
        server_options.time_scale = time_scale;
        if (deployment == Deployment::single) {
            start_node("relinkd", server_options);
            ca_file_ = (dir_.path / "relinkd-ca.pem").string();
            std::ofstream(ca_file_) << nodes_.at("relinkd")->certificate_pem();
            proxy_ = std::make_unique<FaultProxy>("127.0.0.1", nodes_.at("relinkd")->port());
            direct_node_ = "relinkd";
        } else {
            if (!std::filesystem::exists(test::RedisServer::kBinary)) {
                throw std::runtime_error(
                    std::string("the cluster needs redis-server, and ") + test::RedisServer::kBinary +
                    " is not installed (scripts/setup.sh installs it: apt-get install redis-server)");
            }
            redis_ = test::RedisServer::start();
            if (!redis_) {
                throw std::runtime_error(std::string("redis-server (") + test::RedisServer::kBinary +
                                         ") did not start on a loopback port within 10 s");
            }
            // One certificate for both nodes (a client that trusts it trusts the deployment), and one ticket key
            // file (a client that moves resumes its TLS session on the other node too).
            const auto generated = server::generate_self_signed();
            if (!generated.pem) {
                throw std::runtime_error("cannot make the cluster's certificate: " + generated.error);
            }
            ca_file_ = (dir_.path / "cluster-cert.pem").string();
            const std::string key_file = (dir_.path / "cluster-key.pem").string();
            std::ofstream(ca_file_) << generated.pem->certificate_pem;
            std::ofstream(key_file) << generated.pem->private_key_pem;
            server_options.cert_file = ca_file_;
            server_options.key_file = key_file;
            server_options.tls_ticket_key_file = (dir_.path / "tickets.key").string();
            server_options.cluster_url = redis_->url();
            for (const char* node : {"A", "B"}) {
                server_options.node_id = node;
                start_node(node, server_options);
            }
            proxy_ = std::make_unique<FaultProxy>("127.0.0.1", nodes_.at("A")->port());
            direct_node_ = "B";
        }
        timeline_ = std::make_unique<TimelineRecorder>(title, std::move(lanes), time_scale);
    }

    ~Stage() {
        clients_.clear();  // each logs out (or gives up on a dead link) in bounded time
        proxy_.reset();
        for (auto& [name, node] : nodes_) {
            if (node) {
                node->stop();
                node.reset();
            }
        }
        redis_.reset();  // after the nodes, which would otherwise keep reconnecting to it
    }

    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;

    /// A client for `lane`, logged in as `user` through the fault proxy when `behind_proxy`, else straight to the
    /// server (node B in a cluster), trusting only the served certificate, on the run's time scale.
    Client& add_client(const std::string& lane, const std::string& user, Profile profile, bool behind_proxy,
                       std::string detail, std::optional<Timings> timings = std::nullopt) {
        ClientConfig config;
        const std::uint16_t port = behind_proxy ? proxy_->port() : nodes_.at(direct_node_)->port();
        config.url = "wss://127.0.0.1:" + std::to_string(port) + "/";
        config.app_id = kAppId;
        config.user_id = user;
        config.token = token::mint({kAppId, user, unix_now() + 3600, {}}, kAppSecret);
        config.profile = profile;
        config.timings = std::move(timings);
        config.time_scale = time_scale_;
        config.tls.ca_file = ca_file_;
        config.tls.use_system_store = false;
        if (verbose_) {
            config.log_level = LogLevel::debug;
            config.log_handler = [this, lane](LogLevel, std::string_view line) {
                std::fprintf(stderr, "[%s %+.2f s] %.*s\n", lane.c_str(), timeline_->spec(Clock::now()),
                             static_cast<int>(line.size()), line.data());
            };
        } else {
            config.log_level = LogLevel::off;
        }
        auto client = std::make_unique<Client>(std::move(config));
        timeline_->attach(lane, *client);
        timeline_->set_detail(lane, std::move(detail));
        auto& slot = clients_[lane];
        slot = std::move(client);
        return *slot;
    }

    Client& client(const std::string& lane) { return *clients_.at(lane); }
    FaultProxy& proxy() { return *proxy_; }
    TimelineRecorder& timeline() { return *timeline_; }
    [[nodiscard]] double time_scale() const { return time_scale_; }
    [[nodiscard]] double extra_real_slack() const { return extra_real_slack_; }

    /// A call that must be accepted at once; otherwise the script stops.
    void call(const std::string& lane, const std::string& what, std::error_code error) {
        if (error) {
            timeline_->note(lane, EventKind::call, what + " -> " + error_name(error));
            throw ScriptStopped(lane + ": " + what + " was refused: " + error_name(error));
        }
    }

    /// Waits for `lane` to observe `text` after what it observed at the previous await, at most `within` spec
    /// seconds (plus a real-time slack); the script stops when it does not.
    std::size_t await(const std::string& lane, const std::string& text, double within) {
        const auto timeout =
            std::chrono::duration_cast<std::chrono::milliseconds>(timeline_->real(within)) + kRealWaitSlack;
        const auto found = timeline_->wait_for(lane, text, cursor_[lane], timeout);
        if (!found) {
            throw ScriptStopped(
                "gave up waiting for " + lane + " to observe \"" + text + "\" (" + spec_seconds(within) + " spec + " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kRealWaitSlack).count()) + " s real)");
        }
        cursor_[lane] = *found + 1;
        return *found;
    }

    /// Lets `spec` seconds of spec time pass (what is observed meanwhile is recorded and checked afterwards).
    void pass(double spec) { std::this_thread::sleep_for(timeline_->real(spec)); }

    /// Waits until `spec` seconds after the mark `name`.
    void pass_until(const std::string& name, double spec) {
        const auto at = timeline_->mark_time(name);
        if (!at) {
            throw ScriptStopped("no mark " + name);
        }
        std::this_thread::sleep_until(*at + timeline_->real(spec));
    }

    /// T3: UID1's link dies silently (the proxy drops every packet; no FIN, no RST).
    void break_link() {
        proxy_->set_mode(Mode::blackhole);
        timeline_->mark("T3", "UID1's link dies silently (proxy: packets dropped, no FIN, no RST)");
    }

    /// The link comes back: new connections pass, and the attempt hanging in a TLS handshake on a dead connection is
    /// reset (as a NAT would), so the SDK's next attempt follows within one backoff delay.
    void repair_link() {
        proxy_->set_mode(Mode::pass);
        proxy_->reset_all();
        timeline_->mark("back", "UID1's link is back");
    }

    /// Cluster: node `name` crashes. Its server is torn down without a drain: its io threads stop where they are and
    /// its sockets are just closed, as the kernel closes a killed process's, so no client gets a Close frame or a
    /// TLS close_notify (UID1's SDK logs "stream truncated"), its listening port refuses, and its heartbeat in
    /// Redis stops without a leave: the other nodes declare it dead once it has been silent long enough.
    void kill_node(const std::string& name, const std::string& mark) {
        auto& node = nodes_.at(name);
        if (!node) {
            throw ScriptStopped("node " + name + " is already down");
        }
        timeline_->mark(mark, "node " + name + " killed (no drain, no Close frame, its heartbeat stops)");
        node.reset();
    }

    /// Cluster: the load balancer (UID1's proxy) sends the connections it accepts from now on to node `name`.
    void balance_to(const std::string& name, const std::string& mark) {
        const auto& node = nodes_.at(name);
        if (!node) {
            throw ScriptStopped("node " + name + " is down");
        }
        proxy_->set_upstream("127.0.0.1", node->port());
        timeline_->mark(mark, "the balancer sends UID1's new connections to node " + name);
    }

    /// Sends a channel message from `lane` and notes its acknowledgement (bounded wait).
    void send(const std::string& lane, const std::string& channel, const std::string& text) {
        auto sent = future_of(
            [&](Completion done) { return client(lane).send_channel_message(channel, text, std::move(done)); });
        const auto timeout =
            std::chrono::duration_cast<std::chrono::milliseconds>(timeline_->real(10.0)) + kRealWaitSlack;
        if (sent.wait_for(timeout) != std::future_status::ready) {
            timeline_->note(lane, EventKind::call, "sent \"" + text + "\": no acknowledgement");
            throw ScriptStopped(lane + ": no acknowledgement for \"" + text + "\"");
        }
        const std::error_code error = sent.get();
        timeline_->note(lane, EventKind::call,
                        error ? "send \"" + text + "\" -> " + error_name(error) : "sent \"" + text + "\" (acked)");
    }

private:
    void start_node(const std::string& name, const server::Options& options) {
        std::shared_ptr<spdlog::logger> log;
        const std::string logger_name = name == "relinkd" ? name : "relinkd " + name;
        if (verbose_) {
            log = std::make_shared<spdlog::logger>(logger_name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
            log->set_level(spdlog::level::debug);
        } else {
            log = std::make_shared<spdlog::logger>(logger_name, std::make_shared<spdlog::sinks::null_sink_mt>());
        }
        std::string error;
        auto node = server::Server::start(options, log, error);
        if (!node) {
            throw std::runtime_error("the embedded " + logger_name + " did not start: " + error);
        }
        nodes_[name] = std::move(node);
    }

    /// A private directory for the CA file (and a cluster's key and ticket key files), removed with the stage (also
    /// when the constructor throws).
    struct TempDir {
        TempDir() {
            std::string pattern = (std::filesystem::temp_directory_path() / "relink-demo-ca-XXXXXX").string();
            if (mkdtemp(pattern.data()) == nullptr) {
                throw std::runtime_error("cannot create a temporary directory for the CA file");
            }
            path = pattern;
        }
        ~TempDir() {
            std::error_code ignored;
            std::filesystem::remove_all(path, ignored);
        }
        TempDir(const TempDir&) = delete;
        TempDir& operator=(const TempDir&) = delete;
        std::filesystem::path path;
    };

    double time_scale_;
    double extra_real_slack_;
    bool verbose_;
    TempDir dir_;
    std::string ca_file_;
    std::unique_ptr<test::RedisServer> redis_;  // cluster only; outlives the nodes
    /// "relinkd" alone, or "A" and "B"; a killed node stays in the map, null.
    std::map<std::string, std::unique_ptr<server::Server>> nodes_;
    std::string direct_node_;  // where the clients not behind the proxy connect
    std::unique_ptr<FaultProxy> proxy_;
    std::unique_ptr<TimelineRecorder> timeline_;  // outlives the clients, whose callbacks record into it
    std::map<std::string, std::unique_ptr<Client>> clients_;
    std::map<std::string, std::size_t> cursor_;
};

// ------------------------------------------------------------------------------------------ shared script parts

/// rtc: UID2 joins `channel` straight to the server; then T0: UID1 joins through the proxy; returns when UID1 is
/// CONNECTED and UID2 saw it join (T0 … T2 of the rtc timeline).
void rtc_join_both(Stage& s, const std::string& channel, std::optional<Timings> timings = std::nullopt) {
    s.add_client("UID2", "UID2", Profile::rtc, false, "same channel, direct", timings);
    s.add_client("UID1", "UID1", Profile::rtc, true, "behind the fault proxy", timings);
    s.call("UID2", "join(" + channel + ")", s.client("UID2").join(channel));
    s.await("UID2", "CONNECTED / JOIN_SUCCESS", 12);
    s.timeline().set_origin();
    s.call("UID1", "join(" + channel + ")", s.client("UID1").join(channel));
    s.await("UID1", "CONNECTED / JOIN_SUCCESS", 12);
    s.await("UID2", "member_joined(UID1)", 12);
}

/// rtm: UID2 logs in and joins `channel` straight to the server; then T0: UID1 logs in and joins through the
/// proxy; returns when UID1's channel is joined and UID2 saw it join.
void rtm_login_both(Stage& s, const std::string& channel, const std::string& uid1_detail = "behind the fault proxy",
                    const std::string& uid2_detail = "same channel, direct") {
    s.add_client("UID2", "UID2", Profile::rtm, false, uid2_detail);
    s.add_client("UID1", "UID1", Profile::rtm, true, uid1_detail);
    s.call("UID2", "login()", s.client("UID2").login());
    s.call("UID2", "join(" + channel + ")", s.client("UID2").join(channel));
    s.await("UID2", "CONNECTED / LOGIN_SUCCESS", 12);
    s.timeline().set_origin();
    s.call("UID1", "login()", s.client("UID1").login());
    s.call("UID1", "join(" + channel + ")", s.client("UID1").join(channel));
    s.await("UID1", "CONNECTED / LOGIN_SUCCESS", 12);
    s.await("UID2", "member_joined(UID1)", 12);
}

/// The events an rtc client shows up to T2 (UID1) / before T0 (UID2).
std::vector<ExpectedEvent> rtc_joined(const std::string& channel) {
    return {
        {"UID2", "CONNECTING / CONNECTING", "", std::nullopt},
        {"UID2", "CONNECTED / JOIN_SUCCESS", "", std::nullopt},
        {"UID2", "join_success(" + channel + ")", "", std::nullopt},
        {"UID1", "CONNECTING / CONNECTING", "T0", TimeWindow{"T0", -0.5, 0.5}, "join() called"},
        {"UID1", "CONNECTED / JOIN_SUCCESS", "T1", TimeWindow{"T0", 0.0, 1.0}},
        {"UID1", "join_success(" + channel + ")", "", std::nullopt},
        {"UID1", "member_joined(UID2)", "", std::nullopt},
        {"UID2", "member_joined(UID1)", "T2", TimeWindow{"T0", 0.0, 1.5}, "told UID1 joined"},
    };
}

std::vector<ExpectedEvent> rtm_logged_in() {
    return {
        {"UID2", "CONNECTING / LOGIN", "", std::nullopt},
        {"UID2", "CONNECTED / LOGIN_SUCCESS", "", std::nullopt},
        {"UID1", "CONNECTING / LOGIN", "T0", TimeWindow{"T0", -0.5, 0.5}, "login() called"},
        {"UID1", "CONNECTED / LOGIN_SUCCESS", "T1", TimeWindow{"T0", 0.0, 1.0}},
        {"UID1", "member_joined(UID2)", "", std::nullopt},
        {"UID2", "member_joined(UID1)", "T2", TimeWindow{"T0", 0.0, 1.5}, "told UID1 joined"},
    };
}

ScenarioRun finish(Stage& stage, const Expectation& expectation, double real_slack, const std::string& stopped) {
    ScenarioRun run;
    run.timeline = stage.timeline().snapshot();
    Expectation e = expectation;
    e.real_slack_seconds = real_slack + stage.extra_real_slack();
    run.check = check_timeline(run.timeline, e);
    if (!stopped.empty()) {
        add_check(run.check, false, "the script stopped: " + stopped);
    }
    return run;
}

void append(std::vector<ExpectedEvent>& to, std::vector<ExpectedEvent> more) {
    to.insert(to.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
}

// ---------------------------------------------------------------------------------------------- the scenarios

// rtc, link back after T6: INTERRUPTED at T3 + 4 s (UID2 sees nothing yet), connection_lost + LOST at T4 + 10 s,
// UID2 sees UID1 drop at T3 + 20 s, the link comes back at T3 + 24 s: REJOIN_SUCCESS, and UID2 sees UID1 join again.
ScenarioRun rtc_outage(const Scenario& scenario, double scale, const RunOptions& options) {
    Stage s(scenario.title, {"UID1", "UID2"}, scale, options);
    std::string stopped;
    try {
        rtc_join_both(s, "call");
        s.pass(2.0);  // a healthy idle link: heartbeats keep it CONNECTED
        s.break_link();
        s.await("UID1", "RECONNECTING / INTERRUPTED", 4 + 2);
        s.await("UID1", "RECONNECTING / LOST", 14 + 2);
        s.await("UID2", "member_left(UID1, DROPPED)", 20 + 3);
        s.pass_until("T3", 24.0);
        s.repair_link();
        s.await("UID1", "CONNECTED / REJOIN_SUCCESS", kBackWithin + 2);
        s.await("UID2", "member_joined(UID1)", kBackWithin + 3);
        s.pass(2.0);  // nothing else may follow
    } catch (const ScriptStopped& e) {
        stopped = e.what();
    }
    Expectation expect;
    expect.events = rtc_joined("call");
    append(expect.events,
           {
               {"UID1", "RECONNECTING / INTERRUPTED", "T4", TimeWindow{"T3", 2.8, 4.4},
                "4 s without a word from the server → RECONNECTING"},
               {"UID1", "connection_lost", "T5", TimeWindow{"T4", 10.0, 11.0}, "10 s later: connection_lost"},
               {"UID1", "RECONNECTING / LOST", "", TimeWindow{"T4", 10.0, 11.0}},
               {"UID2", "member_left(UID1, DROPPED)", "T6", TimeWindow{"T3", 19.0, 22.0},
                "20 s of silence: told UID1 left"},
               {"UID1", "CONNECTED / REJOIN_SUCCESS", "", TimeWindow{"back", 0.0, kBackWithin},
                "link back: rejoined by itself"},
               {"UID1", "rejoin_success", "", std::nullopt},
               {"UID1", "continuity: new session, 0 backfilled", "", std::nullopt},
               {"UID2", "member_joined(UID1)", "", TimeWindow{"back", 0.0, kBackWithin + 1.0}, "told UID1 is back"},
           });
    return finish(s, expect, 0.3, stopped);
}

// rtc, the link never comes back: T4 INTERRUPTED, T5 LOST, T6 UID2 sees UID1 drop, T7 = T4 + 20 min FAILED
// JOIN_FAILED; then no more reconnect attempts, and the app leaves.
ScenarioRun rtc_failed(const Scenario& scenario, double scale, const RunOptions& options) {
    Stage s(scenario.title, {"UID1", "UID2"}, scale, options);
    std::string stopped;
    // At this time scale the first login's and one attempt's timeouts (12 s, 5 s) would be 120 ms and 50 ms: too
    // tight for a TLS handshake on a loaded machine. They are not part of this timeline, so they stay longer.
    Timings timings = timings_for(Profile::rtc);
    timings.login_timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(3.0 / scale));
    timings.attempt_timeout = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / scale));
    try {
        rtc_join_both(s, "call", timings);
        s.pass(0.5);  // short: on this scale a busy machine's pause of 40 ms already looks like a silent link
        s.break_link();
        s.await("UID1", "RECONNECTING / INTERRUPTED", 4 + 5);
        s.await("UID1", "RECONNECTING / LOST", 14 + 5);
        s.await("UID2", "member_left(UID1, DROPPED)", 20 + 5);
        s.await("UID1", "FAILED / JOIN_FAILED", 1204 + 60);
        const auto attempts = s.proxy().stats().connections_accepted;
        // The thing shown: nothing happens now. One real second is 100 spec seconds here.
        std::this_thread::sleep_for(1s);
        const auto more = s.proxy().stats().connections_accepted - attempts;
        s.timeline().note("UID1", EventKind::call,
                          more == 0 ? "no reconnect attempt after FAILED"
                                    : std::to_string(more) + " reconnect attempts after FAILED");
        s.call("UID1", "leave(call)", s.client("UID1").leave("call"));
        s.await("UID1", "DISCONNECTED / LEAVE_CHANNEL", 5);
    } catch (const ScriptStopped& e) {
        stopped = e.what();
    }
    Expectation expect;
    expect.events = rtc_joined("call");
    append(expect.events,
           {
               {"UID1", "RECONNECTING / INTERRUPTED", "T4", TimeWindow{"T3", 2.8, 4.4},
                "4 s without a word from the server → RECONNECTING"},
               {"UID1", "connection_lost", "T5", TimeWindow{"T4", 10.0, 11.0}, "10 s later: connection_lost"},
               {"UID1", "RECONNECTING / LOST", "", TimeWindow{"T4", 10.0, 11.0}},
               {"UID2", "member_left(UID1, DROPPED)", "T6", TimeWindow{"T3", 19.0, 22.0},
                "20 s of silence: told UID1 left"},
               {"UID1", "FAILED / JOIN_FAILED", "T7", TimeWindow{"T4", 1200.0, 1212.0},
                "20 min: the SDK gives up → FAILED"},
               {"UID1", "no reconnect attempt after FAILED", "", std::nullopt},
               {"UID1", "DISCONNECTED / LEAVE_CHANNEL", "", std::nullopt, "the app leaves"},
           });
    // UID2 is compared on what the rtc timeline's UID2 column is about: UID1 joining and leaving. Its own link is not
    // part of this timeline, and on this scale (4 s silence = 40 ms, the server's keep-alive = 60 ms) a busy
    // machine's scheduling pauses can show as short outages of UID2 itself (the table and picture show them).
    expect.compared["UID2"] = {EventKind::member};
    expect.events.erase(
        std::remove_if(expect.events.begin(), expect.events.end(),
                       [](const ExpectedEvent& e) { return e.lane == "UID2" && e.text.rfind("member_", 0) != 0; }),
        expect.events.end());
    return finish(s, expect, 0.5, stopped);
}

// rtm, back within 30 s: INTERRUPTED at T3 + 4 s; UID2 posts three messages meanwhile; the link is back at
// T3 + 10 s: LOGIN_SUCCESS, the session resumed, the three messages delivered flagged backfilled; UID2 sees nothing
// of UID1's outage, not even past T3 + 30 s.
ScenarioRun rtm_short_outage(const Scenario& scenario, double scale, const RunOptions& options) {
    Stage s(scenario.title, {"UID1", "UID2"}, scale, options);
    std::string stopped;
    try {
        rtm_login_both(s, "ch");
        s.pass(2.0);
        s.break_link();
        s.await("UID1", "RECONNECTING / INTERRUPTED", 4 + 2);
        for (int i = 1; i <= 3; ++i) {
            s.send("UID2", "ch", "while you were away " + std::to_string(i));
        }
        s.pass_until("T3", 10.0);
        s.repair_link();
        s.await("UID1", "CONNECTED / LOGIN_SUCCESS", kBackWithin + 2);
        s.await("UID1", "message in ch from UID2: \"while you were away 3\" (backfilled)", 5);
        s.pass_until("T3", 33.0);  // past the 30 s presence timeout: UID2 must still have seen nothing
    } catch (const ScriptStopped& e) {
        stopped = e.what();
    }
    Expectation expect;
    expect.events = rtm_logged_in();
    append(expect.events,
           {
               {"UID1", "RECONNECTING / INTERRUPTED", "T4", TimeWindow{"T3", 2.8, 4.4},
                "4 s without a word from the server → RECONNECTING"},
               {"UID2", "sent \"while you were away 1\" (acked)", "", std::nullopt},
               {"UID2", "sent \"while you were away 2\" (acked)", "", std::nullopt},
               {"UID2", "sent \"while you were away 3\" (acked)", "", std::nullopt},
               {"UID1", "CONNECTED / LOGIN_SUCCESS", "", TimeWindow{"back", 0.0, kBackWithin}},
               {"UID1", "continuity: session resumed, 3 backfilled", "", std::nullopt,
                "same session: the 3 messages it missed arrive"},
               {"UID1", "message in ch from UID2: \"while you were away 1\" (backfilled)", "", std::nullopt},
               {"UID1", "message in ch from UID2: \"while you were away 2\" (backfilled)", "", std::nullopt},
               {"UID1", "message in ch from UID2: \"while you were away 3\" (backfilled)", "", std::nullopt},
           });
    return finish(s, expect, 0.3, stopped);
}

// rtm, back after 30 s: UID2 sees member_left(UID1, DROPPED) at T3 + 30 s and posts a message; the link is back
// at T3 + 34 s: LOGIN_SUCCESS on a new session, the SDK rejoins the channel by itself (UID2 sees member_joined) and
// the message arrives flagged backfilled.
ScenarioRun rtm_long_outage(const Scenario& scenario, double scale, const RunOptions& options) {
    Stage s(scenario.title, {"UID1", "UID2"}, scale, options);
    std::string stopped;
    try {
        rtm_login_both(s, "ch");
        s.pass(2.0);
        s.break_link();
        s.await("UID1", "RECONNECTING / INTERRUPTED", 4 + 2);
        s.await("UID2", "member_left(UID1, DROPPED)", 30 + 3);
        s.send("UID2", "ch", "posted after UID1 dropped");
        s.pass_until("T3", 34.0);
        s.repair_link();
        s.await("UID1", "CONNECTED / LOGIN_SUCCESS", kBackWithin + 2);
        s.await("UID2", "member_joined(UID1)", kBackWithin + 3);
        s.await("UID1", "message in ch from UID2: \"posted after UID1 dropped\" (backfilled)", 5);
        s.pass(2.0);
    } catch (const ScriptStopped& e) {
        stopped = e.what();
    }
    Expectation expect;
    expect.events = rtm_logged_in();
    append(expect.events,
           {
               {"UID1", "RECONNECTING / INTERRUPTED", "T4", TimeWindow{"T3", 2.8, 4.4},
                "4 s without a word from the server → RECONNECTING"},
               {"UID2", "member_left(UID1, DROPPED)", "T6", TimeWindow{"T3", 29.0, 32.0},
                "30 s of silence: told UID1 left"},
               {"UID2", "sent \"posted after UID1 dropped\" (acked)", "", std::nullopt},
               {"UID1", "CONNECTED / LOGIN_SUCCESS", "", TimeWindow{"back", 0.0, kBackWithin}},
               {"UID1", "continuity: new session, 1 backfilled", "", std::nullopt,
                "new session: rejoins by itself, the missed message arrives"},
               {"UID1", "message in ch from UID2: \"posted after UID1 dropped\" (backfilled)", "", std::nullopt},
               {"UID2", "member_joined(UID1)", "", TimeWindow{"back", 0.0, kBackWithin + 1.0}, "told UID1 is back"},
           });
    return finish(s, expect, 0.3, stopped);
}

// rtm, duplicate login: UID1 logs in on a second device; the first instance goes ABORTED REMOTE_LOGIN, every call
// that needs a login fails at once, and it never logs in again by itself (watched for twice the server's kick
// cool-down) until the app calls logout().
ScenarioRun rtm_duplicate_login(const Scenario& scenario, double scale, const RunOptions& options) {
    Stage s(scenario.title, {"UID1", "UID2", "UID1 #2"}, scale, options);
    std::string stopped;
    try {
        rtm_login_both(s, "ch");
        s.pass(2.0);
        s.add_client("UID1 #2", "UID1", Profile::rtm, false, "same user id, a second device");
        s.timeline().mark("dup", "UID1 logs in on a second device");
        s.call("UID1 #2", "login()", s.client("UID1 #2").login());
        s.call("UID1 #2", "join(ch)", s.client("UID1 #2").join("ch"));
        s.await("UID1", "ABORTED / REMOTE_LOGIN", 5);
        s.await("UID1 #2", "CONNECTED / LOGIN_SUCCESS", 12);
        const auto refused = s.client("UID1").send_channel_message("ch", "still there?");
        s.timeline().note("UID1", EventKind::call,
                          std::string("send_channel_message -> ") + (refused ? error_name(refused) : "accepted"));
        const auto attempts = s.proxy().stats().connections_accepted;
        s.pass(20.0);  // twice the kick cool-down (10 s): no automatic login, no kick ping-pong
        const auto more = s.proxy().stats().connections_accepted - attempts;
        s.timeline().note("UID1", EventKind::call,
                          more == 0 ? "no login attempt in 20 s" : std::to_string(more) + " login attempts in 20 s");
        s.call("UID1", "logout()", s.client("UID1").logout());
        s.await("UID1", "DISCONNECTED / LOGOUT", 5);
        s.pass(2.0);
    } catch (const ScriptStopped& e) {
        stopped = e.what();
    }
    Expectation expect;
    expect.events = rtm_logged_in();
    append(
        expect.events,
        {
            {"UID1 #2", "CONNECTING / LOGIN", "", TimeWindow{"dup", 0.0, 0.5}},
            {"UID1 #2", "CONNECTED / LOGIN_SUCCESS", "", TimeWindow{"dup", 0.0, 1.0}},
            {"UID1", "ABORTED / REMOTE_LOGIN", "", TimeWindow{"dup", 0.0, 1.0}, "kicked by the second login → ABORTED"},
            {"UID2", "member_left(UID1, KICKED)", "", TimeWindow{"dup", 0.0, 1.0}, "told UID1 was kicked"},
            {"UID1 #2", "member_joined(UID2)", "", std::nullopt},
            {"UID2", "member_joined(UID1)", "", TimeWindow{"dup", 0.0, 1.5}},
            {"UID1", "send_channel_message -> NOT_LOGGED_IN", "", std::nullopt},
            {"UID1", "no login attempt in 20 s", "", std::nullopt, "20 s later: still no login attempt"},
            {"UID1", "DISCONNECTED / LOGOUT", "", std::nullopt, "the app logs out"},
        });
    return finish(s, expect, 0.3, stopped);
}

// A cluster of two nodes on one Redis. UID1 (behind its load balancer) is on node A, UID2 on node B, both in one
// channel, talking. Node A crashes: UID1's connection ends at once and the SDK starts reconnecting, but as after any
// broken link it reports nothing until 4 s without data (RECONNECTING / INTERRUPTED); its attempts fail while the
// balancer still sends them to the dead node. The balancer's health check gives up on A 5 s after the crash and
// sends UID1 to node B, where it resumes its session silently (CONNECTED / LOGIN_SUCCESS, the states of the cluster
// end-to-end test of a killed node): the message UID2 posted meanwhile arrives once, flagged backfilled, the live
// traffic after it arrives once, and UID2 sees no member event about UID1, not even past the rtm presence timeout
// (30 s) counted from the crash. (A balancer that switches within those 4 s lets UID1 resume before it reports
// anything: then only the continuity report shows the move.)
ScenarioRun cluster_node_killed(const Scenario& scenario, double scale, const RunOptions& options) {
    Stage s(scenario.title, {"UID1", "UID2"}, scale, options, Deployment::cluster);
    std::string stopped;
    const std::string before = "before the crash";
    const std::string meanwhile = "while UID1 moves";
    const std::string after = "after the move";
    try {
        rtm_login_both(s, "ch", "via the balancer: node A, then B", "same channel, on node B");
        s.pass(1.0);
        s.send("UID2", "ch", before);
        s.await("UID1", "message in ch from UID2: \"" + before + "\"", 3);
        s.send("UID1", "ch", "hello from node A");
        s.await("UID2", "message in ch from UID1: \"hello from node A\"", 3);
        s.pass(1.0);
        s.kill_node("A", "crash");
        const auto refused_before = s.proxy().stats().upstream_connect_failures;
        s.send("UID2", "ch", meanwhile);
        s.await("UID1", "RECONNECTING / INTERRUPTED", 4 + 2);
        s.pass_until("crash", 5.0);  // the balancer's health check gives up on A
        const auto refused = s.proxy().stats().upstream_connect_failures - refused_before;
        s.timeline().note("UID1", EventKind::call,
                          refused == 0 ? "no reconnect attempt reached the balancer while it pointed at A"
                                       : "its reconnect attempts fail while the balancer points at A");
        s.balance_to("B", "LB");
        s.await("UID1", "CONNECTED / LOGIN_SUCCESS", kBackWithin + 2);
        s.await("UID1", "message in ch from UID2: \"" + meanwhile + "\" (backfilled)", 3);
        s.send("UID2", "ch", after);
        s.await("UID1", "message in ch from UID2: \"" + after + "\"", 3);
        s.send("UID1", "ch", "hello from node B");
        s.await("UID2", "message in ch from UID1: \"hello from node B\"", 3);
        s.pass_until("crash", 33.0);  // past the presence timeout: UID2 must still have seen nothing of the move
    } catch (const ScriptStopped& e) {
        stopped = e.what();
    }
    Expectation expect;
    expect.events = rtm_logged_in();
    append(expect.events,
           {
               {"UID2", "sent \"" + before + "\" (acked)", "", std::nullopt},
               {"UID1", "message in ch from UID2: \"" + before + "\"", "", std::nullopt},
               {"UID1", "sent \"hello from node A\" (acked)", "", std::nullopt},
               {"UID2", "message in ch from UID1: \"hello from node A\"", "", std::nullopt},
               {"UID2", "sent \"" + meanwhile + "\" (acked)", "", std::nullopt},
               // As after any broken link: 4 s after the last data it received (up to a heartbeat before the crash).
               {"UID1", "RECONNECTING / INTERRUPTED", "", TimeWindow{"crash", 2.8, 4.4},
                "4 s without data → RECONNECTING"},
               {"UID1", "its reconnect attempts fail while the balancer points at A", "", std::nullopt},
               {"UID1", "CONNECTED / LOGIN_SUCCESS", "", TimeWindow{"LB", 0.0, kBackWithin}, "resumed on node B"},
               {"UID1", "continuity: session resumed, 1 backfilled", "", std::nullopt,
                "same session: the message sent meanwhile arrives, once"},
               {"UID1", "message in ch from UID2: \"" + meanwhile + "\" (backfilled)", "", std::nullopt},
               {"UID2", "sent \"" + after + "\" (acked)", "", std::nullopt},
               {"UID1", "message in ch from UID2: \"" + after + "\"", "", std::nullopt},
               {"UID1", "sent \"hello from node B\" (acked)", "", std::nullopt},
               {"UID2", "message in ch from UID1: \"hello from node B\"", "", std::nullopt},
           });
    return finish(s, expect, 0.3, stopped);
}

ScenarioRun run_scripted(ScenarioRun (*script)(const Scenario&, double, const RunOptions&), const Scenario& scenario,
                         const RunOptions& options) {
    return script(scenario, scenario.time_scale * options.stretch, options);
}

}  // namespace

const std::vector<Scenario>& scenarios() {
    static const std::vector<Scenario> all{
        {"rtc-outage", "rtc profile: UID1's link dies and comes back after 24 s",
         "rtc profile (calls). 2 s after UID1 joined, the proxy starts dropping its packets without a word. After 4 s "
         "without a word from the server UID1 shows RECONNECTING / INTERRUPTED (UID2 sees nothing yet); 10 s later "
         "connection_lost fires (RECONNECTING / LOST); 20 s after the link died UID2 is told UID1 left. The link is "
         "back 24 s after it died: UID1 rejoins by itself (REJOIN_SUCCESS) on a new session, and UID2 is told UID1 "
         "joined again.",
         0.1, [](const Scenario& s, const RunOptions& o) { return run_scripted(&rtc_outage, s, o); }},
        {"rtc-failed", "rtc profile: UID1's link never comes back (the 20-minute give-up)",
         "rtc profile, played 100 times faster so that its 20 minutes pass in 12 s. The link dies for good: "
         "RECONNECTING / INTERRUPTED after 4 s, LOST 10 s later, UID2 is told UID1 left 20 s after the link died, and "
         "20 minutes after RECONNECTING began the SDK gives up (FAILED / JOIN_FAILED) and makes no more attempts; the "
         "app then leaves. Most of the 20 minutes are squeezed into a short stretch of the axis. UID2 is checked "
         "on what it sees of UID1 only: at this speed a busy machine's pauses of a few tens of milliseconds can show "
         "as short outages of UID2's own link.",
         0.01, [](const Scenario& s, const RunOptions& o) { return run_scripted(&rtc_failed, s, o); }},
        {"rtm-short-outage", "rtm profile: UID1 is back within 30 s (backfill)",
         "rtm profile (chat, signalling). UID1's link dies; after 4 s without a word from the server UID1 is "
         "RECONNECTING / INTERRUPTED, and UID2 posts three messages to the channel. The link is back 10 s after it "
         "died: UID1 is CONNECTED / LOGIN_SUCCESS on the same session, and the three messages arrive, flagged "
         "backfilled. UID2 sees nothing of the outage, not even after 30 s.",
         0.1, [](const Scenario& s, const RunOptions& o) { return run_scripted(&rtm_short_outage, s, o); }},
        {"rtm-long-outage", "rtm profile: UID1 is back after 30 s (rejoin)",
         "rtm profile. UID1's link dies; 30 s later UID2 is told UID1 left (member_left, DROPPED) and posts a message. "
         "The link is back 34 s after it died: UID1 logs in on a new session, the SDK rejoins the channel by itself "
         "(UID2 is told UID1 joined) and the message arrives, flagged backfilled.",
         0.1, [](const Scenario& s, const RunOptions& o) { return run_scripted(&rtm_long_outage, s, o); }},
        {"rtm-duplicate-login", "rtm profile: UID1 logs in on a second device",
         "rtm profile. The same user id logs in on another client instance: the first goes ABORTED / REMOTE_LOGIN "
         "(UID2 is told it was kicked, then that the second device joined), its calls fail with NOT_LOGGED_IN, and it "
         "never logs in again by itself until the app calls logout().",
         0.1, [](const Scenario& s, const RunOptions& o) { return run_scripted(&rtm_duplicate_login, s, o); }},
        {"cluster-node-killed", "Cluster: node A is killed, UID1 resumes on node B",
         "rtm profile, two relinkd nodes sharing one redis-server. UID1 reaches node A through a load balancer (the "
         "proxy), UID2 is on node B; they talk in one channel. Node A crashes (no drain, no Close frame) and UID2 "
         "posts a message. UID1's connection ends at once; its reconnect attempts fail while the balancer still "
         "points at A, and after 4 s without data it shows RECONNECTING / INTERRUPTED. 5 s after the crash the "
         "balancer sends UID1 to node B, where it resumes its session (CONNECTED / LOGIN_SUCCESS, session resumed): "
         "the message arrives once, flagged backfilled, and the traffic after it once each way. UID2 sees nothing of "
         "the move, not even after the 30 s in which it would be told that UID1 left.",
         0.1, [](const Scenario& s, const RunOptions& o) { return run_scripted(&cluster_node_killed, s, o); }},
    };
    return all;
}

ScenarioRun run_scenario(const Scenario& scenario, const RunOptions& options) {
    const auto start = Clock::now();
    ScenarioRun run;
    try {
        run = scenario.run(scenario, options);
    } catch (const std::exception& e) {
        run.timeline.title = scenario.title;
        run.timeline.time_scale = scenario.time_scale * options.stretch;
        add_check(run.check, false, std::string("the scenario could not run: ") + e.what());
    }
    run.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return run;
}

}  // namespace relink::demo
