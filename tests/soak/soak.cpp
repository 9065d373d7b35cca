// tests/soak/soak.cpp — relink-soak, the chaos soak (issue 6, docs/reliability.md): N relink::Client instances of
// all four profiles (on one io_context, relink/asio.hpp) against the relinkd built here (a child process on a fixed
// loopback port, killed and restarted in place), each client behind its own FaultProxy, with seeded random faults
// for --duration seconds and a LEDGER of every message sent and every delivery. Exit status 0 only when every
// invariant held. With --cluster N the server is a deployment of N relinkd nodes on one redis-server (cluster.hpp),
// each client's FaultProxy plays its load balancer, and the server faults are the deployment's (below).
//
// ACCOUNTING RULES (also in docs/reliability.md; "R" is a receiver, "segment" one continuous session of R):
//  - Every send accepted by the SDK (no immediate error) is a ledger entry with a unique id in its payload. It must
//    complete exactly once: OK (the server acknowledged it) or an error. A send that completed with an error is
//    never "lost" (the sender was told). Sends rejected at once are counted but are not in the ledger.
//  - Segments. R's session segment ends when R's session ends (DISCONNECTED, ABORTED, FAILED, or R's channel
//    dropping to DISCONNECTED while the session lives) and, for every R, when relinkd is killed or drained (the
//    server keeps nothing across a restart, by design). A new segment starts at R's next successful login
//    (CONNECTED after CONNECTING) or, after a restart, at R's first ContinuityReport from the new server. A reconnect
//    within the same server (resumed or not, e.g. after the presence timeout) does NOT end a segment.
//  - A message is ACCOUNTABLE to R when, at the send call, R was inside a segment (and, for a channel message, R's
//    channel was CONNECTED; the sender itself is never a receiver) and the send completed OK. Messages still
//    undelivered when R's segment ends are EXCUSED (counted, by cause, never hidden).
//  - SETTLED: R is settled when R is CONNECTED, its path has been healthy (proxy passing without delay/throttle,
//    server up, no intruder) and it has had no state change and no ContinuityReport for the settle time G. At each
//    check while R is settled, every accountable message to R of R's current segment acknowledged more than G ago
//    and not delivered is FLAGGED. After the faults stop, every client is healed and, once all are CONNECTED and
//    every send completed, the final check flags every accountable undelivered message of every open segment.
//  - LOST = per (R, segment): max(0, flagged messages never delivered by the end − the `dropped` counts of R's
//    ContinuityReports in that segment). Must be 0. (A flagged message delivered later is "late", not lost.)
//  - DUPLICATED: a message delivered more than once to the same receiver (any instance, any segment). Must be 0.
//  - OUT OF ORDER: per (sender, receiver, peer or channel), a delivery with a lower per-stream number than one
//    already delivered. Must be 0.
//  - BACKFILL: a channel message flagged `backfilled` must be rtm, acknowledged no earlier than the backfill window
//    (+1 s margin) before its delivery, and at most backfill_count of them per (receiver, channel) per reconnect.
//  - TRANSITIONS: every connection_state_changed must be legal per docs/state-machine.md (transition_table.hpp),
//    its `previous` must be the state last reported, its seq the previous + 1, never the same (state, reason) twice.
//  - STUCK: a client that wants a session and whose path has been healthy for the stuck bound (backoff max ×
//    (1 + jitter) + attempt timeout + login timeout on the time scale, + 5 s) must be CONNECTED with its channel
//    CONNECTED, unless the app (this soak) is logging it back in after ABORTED / FAILED / DISCONNECTED.
//  - RESOURCES: RSS and open fds of relinkd and of this process are sampled each second; the median of the last
//    quarter must stay within 1.5 × the first quarter's + 32 MiB (RSS) and + 64 (fds).
//
// CLUSTER MODE (--cluster N; docs/reliability.md, "Cluster mode"), what differs:
//  - A node killed, drained or cut off from Redis, and Redis killed and restarted WITH its data (append-only file,
//    appendfsync always: nothing acknowledged is missing from it), end NO segment: Redis keeps sessions, queues,
//    histories and message ids, so every acknowledged message must be delivered or counted in `dropped`, and
//    ContinuityReport.server_restarted must not be set.
//  - Redis killed and restarted WITHOUT its data ends every R's segment at the kill (docs/cluster.md: sessions,
//    histories and queues are gone; clients log in afresh, told by server_restarted). R's next segment starts at its
//    first ContinuityReport with server_restarted (or a first login); a report from the new Redis without it, or R
//    CONNECTED at the end outside any segment, is a violation.
//  - R's path is healthy only while Redis is up and R's node is running, usable and not cut off from Redis.
//  - relinkd's RSS and fds are the sum over the nodes, sampled while all of them are up.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "cluster.hpp"
#include "faultproxy/fault_proxy.hpp"
#include "proc_stats.hpp"
#include "relink/asio.hpp"
#include "relink/client.hpp"
#include "support/relinkd_process.hpp"
#include "token/token.hpp"
#include "transition_table.hpp"

namespace relink::soak {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using faultproxy::FaultProxy;
using faultproxy::Mode;
using test::Relinkd;

constexpr const char* kApp = "app";
constexpr const char* kSecret = "secret";

struct Options {
    double duration{120};
    int clients{24};
    std::uint64_t seed{1};
    double scale{0.2};
    double rate{20};  // messages per second, all clients together
    std::string json;
    std::set<std::string> disabled;  // fault kinds left out (--no-fault KIND)
    bool verbose{false};
    bool allow_silent_channel_gap{false};  // for builds before the fix of finding 1 (still counted)
    bool allow_stale_peer_epoch{false};    // for builds before the fix of finding 2 (still counted)
    int cluster{0};                        // > 0: that many relinkd nodes on one redis-server (--cluster N)
    // relinkd's --log-level (debug to chase a finding; a long run at debug fills the disk)
    std::string relinkd_log_level{"warn"};
    std::string client_log;  // every client's debug log, one file (--client-log FILE), to chase a finding
};

/// The deployment faults of --cluster (docs/reliability.md, "Cluster mode"). redis_blip_lose_data is Redis back
/// empty before the nodes fence (finding 7: the nodes keep the old channel positions and drop the new events).
const std::vector<std::string> kClusterFaultKinds = {
    "node_kill",      "node_drain", "redis_kill_keep_data", "redis_kill_lose_data", "redis_blip_lose_data",
    "redis_partition"};

/// Set by SIGINT / SIGTERM: the fault phase ends early and the soak summarizes and cleans up as usual.
std::atomic<bool> g_stop{false};

double secs(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string mint(const std::string& user, std::int64_t ttl_seconds) {
    return token::mint({kApp, user, unix_now() + ttl_seconds, {}}, kSecret);
}

/// A free loopback port (bound and released; relinkd binds it right after).
std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    std::uint16_t port = 0;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        ::close(fd);
    }
    return port;
}

/// One receiver of one message.
struct Recv {
    int client{-1};
    std::uint64_t seg{0};
    bool accountable{false};
    int delivered{0};
    int server_gen_first{-1};  // server generation at the first delivery (duplicates across restarts)
    bool flagged{false};
    bool stale_epoch{false};  // a peer message to a receiver with no peer delivery since the last server restart
    bool settled_out{false};  // excused or flagged: no longer pending
};

/// One message of the ledger.
struct Msg {
    int sender{-1};
    int to_user{-1};  // peer message: the receiver
    int channel{-1};  // channel message: the channel index
    std::uint64_t n{0};
    Clock::time_point sent{};
    Clock::time_point done{};
    int status{0};  // 0 pending, 1 ok, 2 error, 3 rejected at once
    int completions{0};
    std::vector<Recv> recv;
};

struct Slot {
    int index{0};
    std::string user;
    Profile profile{Profile::rtm};
    int channel{0};
    int token_class{0};  // 0 long-lived; 1 short + provider + renew on warning; 2 short, no provider
    std::unique_ptr<FaultProxy> proxy;
    int node{0};  // cluster mode, main thread only: the node the proxy (the client's load balancer) sends it to
    std::unique_ptr<Client> client;
    // --- guarded by Soak::mu_ ---
    ConnectionState state{ConnectionState::disconnected};
    std::optional<ConnectionReason> last_reason;
    std::uint64_t last_seq{0};
    Clock::time_point state_since{};
    Clock::time_point last_continuity{};
    bool channel_connected{false};
    bool peer_since_restart{true};  // a peer message was delivered since the last server restart
    std::uint64_t seg{1};
    bool in_seg{false};
    bool restart_unreported{false};  // relinkd restarted since this client's last ContinuityReport / first login
    std::map<std::uint64_t, std::uint64_t> dropped_by_seg;
    std::map<std::uint64_t, std::string> seg_end_cause;
    std::vector<std::uint64_t> pending;  // ledger ids with an accountable, unsettled Recv for this client
    std::map<std::pair<int, int>, std::uint64_t> last_n;  // (sender, stream) → highest n delivered
    std::map<int, int> backfill_burst;                    // channel → backfilled since the last continuity
    // --- main thread only ---
    bool faulted{false};
    std::string fault_kind;
    Clock::time_point fault_until{};
    Clock::time_point healthy_since{};
    Clock::time_point blocked_until{};
    Clock::time_point next_app_action{};
    bool stuck_reported{false};
    bool renew_wanted{false};  // guarded by mu_
};

class Soak {
public:
    explicit Soak(Options o) : opt_(std::move(o)), rng_(opt_.seed) {}

    int run();

private:
    // ---------------------------------------------------------------------------------------------- logging
    template <class... A>
    void log(const char* fmt, A... a) {
        std::lock_guard lock(log_mu_);
        std::printf("+%8.3fs ", secs(Clock::now() - start_));
        std::printf(fmt, a...);
        std::printf("\n");
        std::fflush(stdout);
    }
    void violation(const std::string& kind, const std::string& what) {
        ++violations_[kind];
        if (violations_[kind] <= 20) {
            log("VIOLATION %s: %s", kind.c_str(), what.c_str());
        }
    }

    // ---------------------------------------------------------------------------------------------- server
    bool start_server();
    void server_fault(bool kill);
    void end_all_segments(const std::string& cause);  // mu_ held
    void sample_resources();
    std::vector<std::string> relinkd_args() const;

    // ---------------------------------------------------------------------------------------------- cluster
    bool start_cluster();
    void cluster_fault();
    void heal_partition(Clock::time_point now);
    void move_clients_off(int node, Clock::time_point now);
    int pick_node(int except);
    bool node_available(int node, Clock::time_point now) const;
    /// Whether everything behind R's own proxy is up: the server (one node), or R's node and Redis (a cluster).
    bool path_up(const Slot& s, Clock::time_point now) const;

    // ---------------------------------------------------------------------------------------------- clients
    ClientConfig config_for(const Slot& s, std::uint16_t port, bool intruder);
    void make_client(Slot& s);
    void start_session(Slot& s);
    void end_segment(Slot& s, const std::string& cause);  // mu_ held
    void on_state(Slot& s, const ConnectionStateChanged& e);
    void on_channel(Slot& s, const ChannelStateChanged& e);
    void on_message(Slot& s, const MessageReceived& m);
    void on_continuity(Slot& s, const ContinuityReport& r);
    void app_step(Slot& s, Clock::time_point now);

    // ---------------------------------------------------------------------------------------------- traffic
    void send_one();
    void settle_check(bool final_check);
    void stuck_check(Clock::time_point now);

    // ---------------------------------------------------------------------------------------------- faults
    void inject_fault();
    void restore_due(Clock::time_point now);
    void restore(Slot& s, Clock::time_point now);
    double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

    int summarize(double wall);
    std::chrono::milliseconds scaled(Duration d) const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(d * opt_.scale);
    }

    Options opt_;
    std::mt19937_64 rng_;
    Clock::time_point start_{Clock::now()};
    std::mutex log_mu_;
    std::FILE* client_log_{nullptr};  // its lines are written under log_mu_

    std::filesystem::path dir_;
    std::string ca_file_;
    std::uint16_t port_{0};
    std::unique_ptr<Relinkd> server_;
    int server_gen_{0};
    bool server_down_{false};
    Clock::time_point server_up_since_{};
    int restart_failures_{0};
    int drain_bad_exits_{0};

    // cluster mode (--cluster N): the deployment, and what the soak's load balancer knows of it
    std::unique_ptr<Cluster> cluster_;
    bool redis_down_{false};
    int partitioned_{-1};  // the node whose link to Redis is blackholed now
    Clock::time_point partition_until_{};
    std::vector<Clock::time_point> node_usable_from_;  // a node that came back takes clients from then on
    std::vector<std::string> cluster_fault_cycle_;     // the kinds still to come in this cycle
    int redis_restarts_kept_{0}, redis_restarts_lost_{0};
    std::uint64_t restart_reports_missing_{0};  // guarded by mu_: after Redis lost its data, unflagged from it

    boost::asio::io_context io_;
    std::vector<std::unique_ptr<Slot>> slots_;
    int channels_{1};

    // intruder (duplicate login)
    std::unique_ptr<Client> intruder_;
    int intruder_of_{-1};
    Clock::time_point intruder_until_{};

    std::mutex mu_;  // guards the ledger, the counters below and the Slot fields marked so
    std::vector<Msg> ledger_;
    std::map<std::pair<int, int>, std::uint64_t> next_n_;  // (sender, stream) → next number
    std::map<std::string, std::uint64_t> violations_;
    std::map<std::string, std::uint64_t> faults_;
    std::map<std::string, std::uint64_t> send_errors_;
    std::map<std::string, std::uint64_t> rejected_at_once_;
    std::map<std::string, std::uint64_t> excused_;
    std::uint64_t transitions_{0};
    std::uint64_t deliveries_{0};
    std::uint64_t backfilled_deliveries_{0};
    std::uint64_t duplicates_{0};
    std::uint64_t duplicates_across_restart_{0};
    std::uint64_t late_{0};
    std::uint64_t dropped_reported_{0};
    std::uint64_t continuity_reports_{0};
    std::uint64_t restart_reports_flagged_{0};    // first report after a restart, server_restarted set
    std::uint64_t restart_reports_unflagged_{0};  // ... not set (the old server's, handled after the kill)
    std::uint64_t foreign_{0};
    std::uint64_t relogins_{0};
    std::uint64_t stuck_{0};
    int flag_logs_{0};
    std::uint64_t instances_{0};
    Clock::time_point restart_at_{};     // guarded by mu_: when the current relinkd came up (or Redis, emptied)
    Clock::time_point redis_back_at_{};  // guarded by mu_: when Redis last came back without its data
    std::map<std::string, std::uint64_t> states_seen_;

    Series server_rss_, server_fds_, self_rss_, self_fds_;
    std::uint64_t server_rss_start_{0}, server_rss_end_{0}, server_fds_start_{0}, server_fds_end_{0};
    std::uint64_t self_rss_start_{0}, self_rss_end_{0}, self_fds_start_{0}, self_fds_end_{0};
};

// ================================================================================================== server

/// Marks every descriptor above stderr close-on-exec. Asio (the clients' transports and the FaultProxies) opens its
/// sockets without SOCK_CLOEXEC, so a relinkd spawned later would inherit them: its fd count would include the
/// soak's sockets, and a proxy's reset or close would not reach the peer while relinkd holds a duplicate (found by
/// this soak's fd check; docs/reliability.md, "Findings"). A socket opened by an io thread between this and the
/// spawn can still leak into the child: rare, and harmless to the accounting.
void close_on_exec_all() {
    std::error_code ec;
    std::vector<int> fds;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
        fds.push_back(std::atoi(it->path().filename().c_str()));
    }
    for (const int fd : fds) {
        if (fd > 2) {
            const int flags = ::fcntl(fd, F_GETFD);
            if (flags >= 0) {
                ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
            }
        }
    }
}

std::vector<std::string> Soak::relinkd_args() const {
    // Every client connects from 127.0.0.1: lift the per-address login rate so that a restart (all of them at once)
    // is not refused; log only warnings (a 30-minute run at debug fills the disk).
    return {"--time-scale", std::to_string(opt_.scale), "--log-level", opt_.relinkd_log_level,
            "--limit",      "logins-per-second=1000",   "--limit",     "login-burst=1000"};
}

bool Soak::start_server() {
    const auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
        close_on_exec_all();
        Relinkd::LaunchOptions lo;
        lo.port = port_;
        lo.ca_file = ca_file_;
        lo.extra = relinkd_args();
        const auto dir = dir_ / ("relinkd-" + std::to_string(server_gen_ + 1));
        std::filesystem::create_directories(dir);
        auto server = Relinkd::launch(dir, lo);
        if (server) {
            server_ = std::move(server);
            port_ = server_->port();
            ca_file_ = server_->ca_file();
            ++server_gen_;
            server_down_ = false;
            server_up_since_ = Clock::now();
            {
                std::lock_guard lock(mu_);
                restart_at_ = server_up_since_;
            }
            for (auto& s : slots_) {
                s->healthy_since = std::max(s->healthy_since, server_up_since_);
            }
            return true;
        }
        std::this_thread::sleep_for(100ms);  // the port may still be held for a moment
    }
    ++restart_failures_;
    return false;
}

void Soak::server_fault(bool kill) {
    const char* kind = kill ? "server_kill" : "server_drain";
    {
        std::lock_guard lock(mu_);
        ++faults_[kind];
    }
    log("FAULT %s pid %d", kind, static_cast<int>(server_->pid()));
    server_down_ = true;
    if (kill) {
        if (!server_->kill_now()) {
            violation("server_not_killed", "relinkd still there 5 s after SIGKILL");
        }
    } else {
        const auto status = server_->stop(10s);
        if (status != 0) {
            ++drain_bad_exits_;
            violation("drain_exit", "relinkd did not drain and exit 0 on SIGTERM (status " +
                                        (status ? std::to_string(*status) : std::string("timeout")) + ")");
        }
    }
    server_.reset();
    {
        std::lock_guard lock(mu_);
        end_all_segments(kind);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(uniform(100, 1500))));
    if (!start_server()) {
        violation("server_restart", "relinkd could not be restarted on port " + std::to_string(port_));
        return;
    }
    log("server back (generation %d, pid %d)", server_gen_, static_cast<int>(server_->pid()));
}

void Soak::end_all_segments(const std::string& cause) {
    for (auto& s : slots_) {
        end_segment(*s, cause);
        s->peer_since_restart = false;
        s->restart_unreported = true;
    }
}

void Soak::sample_resources() {
    // relinkd: the one server, or the sum over the nodes of a cluster while all of them are up.
    std::vector<pid_t> pids;
    if (cluster_) {
        for (int k = 0; k < cluster_->size(); ++k) {
            pids.push_back(cluster_->node_pid(k));
        }
    } else if (server_ && !server_down_) {
        pids.push_back(server_->pid());
    }
    if (!pids.empty() && std::find(pids.begin(), pids.end(), 0) == pids.end()) {
        std::uint64_t rss = 0, fds = 0;
        bool all_read = true;
        for (const auto pid : pids) {
            const auto one = rss_kib(pid);
            all_read = all_read && one > 0;
            rss += one;
            fds += open_fds(pid);
        }
        if (all_read) {
            server_rss_.samples.push_back(rss);
            server_fds_.samples.push_back(fds);
            if (server_rss_start_ == 0) {
                server_rss_start_ = rss;
                server_fds_start_ = fds;
            }
            server_rss_end_ = rss;
            server_fds_end_ = fds;
        }
    }
    const auto rss = rss_kib(getpid());
    const auto fds = open_fds(getpid());
    self_rss_.samples.push_back(rss);
    self_fds_.samples.push_back(fds);
    if (self_rss_start_ == 0) {
        self_rss_start_ = rss;
        self_fds_start_ = fds;
    }
    self_rss_end_ = rss;
    self_fds_end_ = fds;
}

// ================================================================================================== cluster

bool Soak::start_cluster() {
    const auto dir = dir_ / "cluster";
    std::filesystem::create_directories(dir);
    cluster_ = std::make_unique<Cluster>(Cluster::Config{dir, opt_.cluster, relinkd_args(), close_on_exec_all});
    std::string error;
    if (!cluster_->start(error)) {
        std::fprintf(stderr, "relink-soak: %s\n", error.c_str());
        return false;
    }
    ca_file_ = cluster_->ca_file();
    node_usable_from_.assign(static_cast<std::size_t>(opt_.cluster), Clock::now());
    server_gen_ = 1;
    server_up_since_ = Clock::now();
    {
        std::lock_guard lock(mu_);
        restart_at_ = server_up_since_;
    }
    std::string ports;
    for (int k = 0; k < cluster_->size(); ++k) {
        ports += " " + cluster_->name(k) + ":" + std::to_string(cluster_->port(k));
    }
    log("cluster up: redis-server pid %d port %d, nodes%s", static_cast<int>(cluster_->redis_pid()),
        static_cast<int>(cluster_->redis_port()), ports.c_str());
    return true;
}

bool Soak::node_available(int node, Clock::time_point now) const {
    return cluster_->node_running(node) && node != partitioned_ &&
           now >= node_usable_from_[static_cast<std::size_t>(node)];
}

bool Soak::path_up(const Slot& s, Clock::time_point now) const {
    if (!cluster_) {
        return !server_down_;
    }
    return !redis_down_ && node_available(s.node, now);
}

int Soak::pick_node(int except) {
    const auto now = Clock::now();
    std::vector<int> usable;
    for (int k = 0; k < cluster_->size(); ++k) {
        if (k != except && node_available(k, now)) {
            usable.push_back(k);
        }
    }
    return usable.empty() ? -1 : usable[static_cast<std::size_t>(pick(static_cast<int>(usable.size())))];
}

/// The load balancer takes `node` out: new connections of its clients go to the other nodes. Their open
/// connections stay where they are (a balancer cannot move a live TCP connection) until the node closes them.
void Soak::move_clients_off(int node, Clock::time_point now) {
    int moved = 0;
    for (auto& s : slots_) {
        if (s->node != node) {
            continue;
        }
        const int to = pick_node(node);
        if (to < 0) {
            continue;
        }
        s->proxy->set_upstream("127.0.0.1", cluster_->port(to));
        s->node = to;
        s->healthy_since = std::max(s->healthy_since, now);
        ++moved;
    }
    log("balancer: %d clients of %s go to the other nodes", moved, cluster_->name(node).c_str());
}

/// One deployment fault: the kinds come in a seeded random order, each once per cycle, so that a short run sees
/// every kind. Blocking, like server_fault(), except the partition, which heal_partition() ends.
void Soak::cluster_fault() {
    if (cluster_fault_cycle_.empty()) {
        for (const auto& k : kClusterFaultKinds) {
            if (opt_.disabled.count(k) == 0) {
                cluster_fault_cycle_.emplace_back(k);
            }
        }
        std::shuffle(cluster_fault_cycle_.begin(), cluster_fault_cycle_.end(), rng_);
    }
    const std::string kind = cluster_fault_cycle_.back();
    cluster_fault_cycle_.pop_back();
    {
        std::lock_guard lock(mu_);
        ++faults_[kind];
    }
    if (kind == "node_kill" || kind == "node_drain") {
        const int k = pick_node(-1);
        if (k < 0) {
            return;
        }
        log("FAULT %s %s pid %d", kind.c_str(), cluster_->name(k).c_str(), static_cast<int>(cluster_->node_pid(k)));
        if (kind == "node_kill") {
            if (!cluster_->kill_node(k)) {
                violation("server_not_killed", cluster_->name(k) + " still there 5 s after SIGKILL");
            }
            // The balancer's health check notices within half a second; until then new connections of the node's
            // clients are refused (the proxy resets them) and they back off.
            std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(uniform(0, 500))));
            move_clients_off(k, Clock::now());
        } else {
            move_clients_off(k, Clock::now());  // a rolling restart: out of the balancer, then SIGTERM
            const auto status = cluster_->drain_node(k, 10s);
            if (status != 0) {
                ++drain_bad_exits_;
                violation("drain_exit", cluster_->name(k) + " did not drain and exit 0 on SIGTERM (status " +
                                            (status ? std::to_string(*status) : std::string("timeout")) + ")");
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(uniform(100, 1500))));
        if (!cluster_->start_node(k)) {
            ++restart_failures_;
            violation("server_restart",
                      cluster_->name(k) + " could not be restarted on port " + std::to_string(cluster_->port(k)));
            return;
        }
        ++server_gen_;
        node_usable_from_[static_cast<std::size_t>(k)] = Clock::now() + 1s;  // registered with the others by then
        log("%s back (pid %d)", cluster_->name(k).c_str(), static_cast<int>(cluster_->node_pid(k)));
    } else if (kind.rfind("redis_", 0) == 0 && kind != "redis_partition") {
        const bool keep = kind == "redis_kill_keep_data";
        log("FAULT %s pid %d", kind.c_str(), static_cast<int>(cluster_->redis_pid()));
        redis_down_ = true;
        if (!cluster_->kill_redis()) {
            violation("server_not_killed", "redis-server still there 5 s after SIGKILL");
        }
        if (!keep) {
            // Redis loses every session, queue and history: like a relinkd restart on one node, every receiver's
            // segment ends here, and a new one starts at its first report from the new Redis (server_restarted).
            std::lock_guard lock(mu_);
            end_all_segments(kind);
        }
        // Down for 0.1-1.5 s; without its data, for longer than the nodes' fence delay (2 s, scaled: they close
        // every client and refuse logins) or, the blip, back (empty) before it.
        const double fence_ms = 2000 * opt_.scale;
        const double down_ms = kind == "redis_kill_keep_data"   ? uniform(100, 1500)
                               : kind == "redis_kill_lose_data" ? uniform(fence_ms + 200, fence_ms + 1500)
                                                                : uniform(0, 100);
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(down_ms)));
        if (!cluster_->restart_redis(keep)) {
            ++restart_failures_;
            violation("server_restart", "redis-server could not be restarted");
            return;
        }
        redis_down_ = false;
        ++server_gen_;
        (keep ? redis_restarts_kept_ : redis_restarts_lost_) += 1;
        const auto now = Clock::now();
        if (!keep) {
            std::lock_guard lock(mu_);
            restart_at_ = now;
            redis_back_at_ = now;
        }
        for (auto& s : slots_) {
            s->healthy_since = std::max(s->healthy_since, now);
        }
        log("redis-server back (%s, pid %d)", keep ? "with its data" : "empty",
            static_cast<int>(cluster_->redis_pid()));
    } else if (kind == "redis_partition") {
        const int k = pick_node(-1);
        if (k < 0) {
            return;
        }
        const double length = uniform(1.0, 5.0);
        log("FAULT %s %s for %.2fs", kind.c_str(), cluster_->name(k).c_str(), length);
        cluster_->partition(k, true);
        partitioned_ = k;
        partition_until_ = Clock::now() + std::chrono::milliseconds(static_cast<int>(length * 1000));
        // The balancer sees relink_cluster_redis_up drop to 0 and takes the node out (docs/cluster.md).
        move_clients_off(k, Clock::now());
    }
}

void Soak::heal_partition(Clock::time_point now) {
    cluster_->partition(partitioned_, false);
    // The node reconnects to Redis (backoff 100 ms to 2 s, scaled) before it takes work again.
    node_usable_from_[static_cast<std::size_t>(partitioned_)] = now + 1500ms;
    log("%s reaches Redis again", cluster_->name(partitioned_).c_str());
    partitioned_ = -1;
}

// ================================================================================================== clients

ClientConfig Soak::config_for(const Slot& s, std::uint16_t port, bool intruder) {
    ClientConfig c;
    c.url = "wss://127.0.0.1:" + std::to_string(port) + "/";
    c.app_id = kApp;
    c.user_id = s.user;
    c.profile = s.profile;
    c.time_scale = opt_.scale;
    c.tls.ca_file = ca_file_;
    c.tls.use_system_store = false;
    c.log_level = LogLevel::off;
    if (client_log_) {
        c.log_level = LogLevel::debug;
        c.log_handler = [this, who = s.user + (intruder ? "*" : "")](LogLevel, std::string_view line) {
            std::lock_guard lock(log_mu_);
            std::fprintf(client_log_, "+%8.3fs %s %.*s\n", secs(Clock::now() - start_), who.c_str(),
                         static_cast<int>(line.size()), line.data());
        };
    }
    // Seeded, but different for every Client instance: the SDK derives its message-id prefix (instance tag) from
    // this seed, and relinkd de-duplicates by message id per user, so two instances of one user with the same seed
    // would have their messages acknowledged and silently not delivered (docs/reliability.md, "Findings").
    c.seed = opt_.seed * 1000000 + static_cast<std::uint64_t>(s.index) * 1000 + ++instances_ % 1000 + 1;
    c.token = mint(s.user, s.token_class == 0 || intruder ? 3600 : 30);
    if (s.token_class == 1 && !intruder) {
        const std::string user = s.user;
        c.token_provider = [user] { return mint(user, 30); };
    }
    return c;
}

void Soak::make_client(Slot& s) {
    s.client = relink::make_client(config_for(s, s.proxy->port(), false), io_);
    Slot* sp = &s;
    s.client->on_connection_state_changed([this, sp](const ConnectionStateChanged& e) { on_state(*sp, e); });
    s.client->on_channel_state_changed([this, sp](const ChannelStateChanged& e) { on_channel(*sp, e); });
    s.client->on_message([this, sp](const MessageReceived& m) { on_message(*sp, m); });
    s.client->on_continuity([this, sp](const ContinuityReport& r) { on_continuity(*sp, r); });
    s.client->on_token_privilege_will_expire([this, sp](const TokenPrivilegeWillExpire&) {
        if (sp->token_class == 1) {
            std::lock_guard lock(mu_);
            sp->renew_wanted = true;  // the main loop renews (it owns sp->client)
        }
    });
    s.client->on_token_expired([this, sp](const TokenExpired&) {
        std::lock_guard lock(mu_);
        ++faults_["token_expiry(observed)"];
        if (sp->profile == Profile::rtm) {
            sp->renew_wanted = true;  // R-RTM-9: the app renews; the SDK keeps retrying meanwhile
        }
    });
}

void Soak::start_session(Slot& s) {
    const std::string ch = "ch" + std::to_string(s.channel);
    std::error_code ec;
    if (s.profile == Profile::rtm || s.profile == Profile::room) {
        ec = s.client->login();
        if (!ec) {
            ec = s.client->join(ch);
        }
    } else {
        ec = s.client->join(ch);
    }
    s.healthy_since = std::max(s.healthy_since, Clock::now());
    if (ec) {
        log("start_session %s: %s", s.user.c_str(), ec.message().c_str());
    }
}

void Soak::end_segment(Slot& s, const std::string& cause) {
    s.seg_end_cause[s.seg] = cause;
    ++s.seg;
    s.in_seg = false;
    // Excuse what is still pending for the old segment.
    std::vector<std::uint64_t> keep;
    for (const auto id : s.pending) {
        for (auto& r : ledger_[id].recv) {
            if (r.client == s.index && !r.settled_out) {
                if (r.delivered == 0 && ledger_[id].status != 2) {
                    ++excused_[cause];
                }
                r.settled_out = true;
            }
        }
    }
    s.pending.clear();
    s.last_continuity = Clock::now();
    s.backfill_burst.clear();
}

void Soak::on_state(Slot& s, const ConnectionStateChanged& e) {
    std::lock_guard lock(mu_);
    ++transitions_;
    ++states_seen_[std::string(to_string(e.state)) + " " + std::string(to_string(e.reason))];
    const std::string desc = s.user + " (" + std::string(to_string(s.profile)) + ") " +
                             std::string(to_string(e.previous)) + " -> " + std::string(to_string(e.state)) + " " +
                             std::string(to_string(e.reason));
    if (!transition_allowed(s.profile, e.previous, e.state, e.reason)) {
        violation("illegal_transition", desc);
    }
    if (e.previous != s.state) {
        violation("transition_previous", desc + " but the last reported state was " + std::string(to_string(s.state)));
    }
    if (e.seq != s.last_seq + 1) {
        violation("transition_seq", desc + " seq " + std::to_string(e.seq) + " after " + std::to_string(s.last_seq));
    }
    if (s.last_reason && *s.last_reason == e.reason && s.state == e.state) {
        violation("transition_repeated", desc);
    }
    if (opt_.verbose) {
        log("state %s", desc.c_str());
    }
    s.last_seq = e.seq;
    s.state = e.state;
    s.last_reason = e.reason;
    s.state_since = Clock::now();
    switch (e.state) {
        case ConnectionState::disconnected:
        case ConnectionState::aborted:
        case ConnectionState::failed:
            end_segment(s, std::string("session_end:") + std::string(to_string(e.reason)));
            s.channel_connected = false;
            if (e.reason == ConnectionReason::token_expired) {
                ++faults_["token_expiry(session ended)"];
            }
            break;
        case ConnectionState::connected:
            if (e.previous == ConnectionState::connecting &&
                (e.reason == ConnectionReason::login_success || e.reason == ConnectionReason::join_success)) {
                s.in_seg = true;               // a first login: a new segment
                s.restart_unreported = false;  // a new Client: it has no history to lose
            }
            break;
        default: break;
    }
}

void Soak::on_channel(Slot& s, const ChannelStateChanged& e) {
    std::lock_guard lock(mu_);
    const bool was = s.channel_connected;
    s.channel_connected = e.state == ChannelState::connected;
    if (was && e.state == ChannelState::disconnected && s.state != ConnectionState::disconnected &&
        s.state != ConnectionState::aborted && s.state != ConnectionState::failed) {
        end_segment(s, std::string("channel_end:") + std::string(to_string(e.reason)));
    }
    if (opt_.verbose) {
        log("channel %s %s %s %s", s.user.c_str(), e.channel.c_str(), std::string(to_string(e.state)).c_str(),
            std::string(to_string(e.reason)).c_str());
    }
}

void Soak::on_continuity(Slot& s, const ContinuityReport& r) {
    std::lock_guard lock(mu_);
    ++continuity_reports_;
    dropped_reported_ += r.dropped;
    // Back on a restarted server: a new segment. After Redis lost its data, only at a report from the new Redis
    // (server_restarted): a report the old Redis made, handled after the kill, would open a segment in which the
    // receiver is not yet a member of anything.
    if (!s.in_seg && s.state != ConnectionState::disconnected &&
        (!cluster_ || !s.restart_unreported || r.server_restarted)) {
        s.in_seg = true;
    }
    s.dropped_by_seg[s.seg] += r.dropped;
    // ContinuityReport.server_restarted must never claim a restart that did not happen. (The converse can race: a
    // report from the old server may be handled just after the soak killed it, so a missing flag is only counted.)
    if (r.server_restarted && !s.restart_unreported) {
        violation("restart_report", s.user + ": ContinuityReport.server_restarted without a server restart");
    } else if (!r.server_restarted && s.restart_unreported) {
        ++restart_reports_unflagged_;
        if (cluster_ && Clock::now() > redis_back_at_) {
            // Made by a node on the Redis that came back empty: it must say that the history is gone.
            ++restart_reports_missing_;
            violation("restart_report", s.user + ": the first ContinuityReport after Redis lost its data does not " +
                                            "say server_restarted");
        }
    } else if (r.server_restarted) {
        ++restart_reports_flagged_;
    }
    s.restart_unreported = false;
    s.last_continuity = Clock::now();
    s.backfill_burst.clear();
}

void Soak::on_message(Slot& s, const MessageReceived& m) {
    const auto now = Clock::now();
    std::lock_guard lock(mu_);
    std::uint64_t id = 0;
    if (m.payload.rfind("soak:", 0) != 0 ||
        (id = std::strtoull(m.payload.c_str() + 5, nullptr, 10)) >= ledger_.size()) {
        ++foreign_;
        violation("foreign_message", s.user + " got a message that is not in the ledger");
        return;
    }
    Msg& msg = ledger_[id];
    ++deliveries_;
    if (m.backfilled) {
        ++backfilled_deliveries_;
    }
    const std::string what = "msg " + std::to_string(id) + " " + slots_[static_cast<std::size_t>(msg.sender)]->user +
                             " -> " + s.user + (msg.channel >= 0 ? " (ch" + std::to_string(msg.channel) + ")" : "");
    if (m.from != slots_[static_cast<std::size_t>(msg.sender)]->user || (msg.channel >= 0) != m.channel.has_value() ||
        (m.channel && *m.channel != "ch" + std::to_string(msg.channel))) {
        violation("misrouted", what + " arrived as from " + m.from);
    }
    Recv* r = nullptr;
    for (auto& x : msg.recv) {
        if (x.client == s.index) {
            r = &x;
        }
    }
    if (r == nullptr) {
        violation("misrouted", what + ": not a receiver of it");
        return;
    }
    ++r->delivered;
    if (msg.channel < 0 && msg.sent >= restart_at_) {
        s.peer_since_restart = true;  // sent after the restart: it came through the new server
    }
    if (r->delivered == 1) {
        r->server_gen_first = server_gen_;
        if (r->flagged) {
            ++late_;
        }
    } else {
        ++duplicates_;
        if (r->server_gen_first != server_gen_) {
            ++duplicates_across_restart_;
        }
        violation("duplicate", what + " delivered " + std::to_string(r->delivered) + " times" +
                                   (r->server_gen_first != server_gen_ ? " (across a server restart)" : ""));
    }
    const int stream = msg.channel >= 0 ? 1000 + msg.channel : s.index;
    auto& last = s.last_n[{msg.sender, stream}];
    if (msg.n < last) {
        violation("out_of_order", what + " #" + std::to_string(msg.n) + " after #" + std::to_string(last));
    }
    last = std::max(last, msg.n);
    if (m.backfilled && msg.channel >= 0) {
        if (s.profile != Profile::rtm) {
            violation("backfill", what + " backfilled in profile " + std::string(to_string(s.profile)));
        }
        const auto window = scaled(timings_for(s.profile).backfill_window) + 1s;
        if (msg.status != 0 && msg.done + window < now) {
            violation("backfill", what + " acknowledged " + std::to_string(secs(now - msg.done)) +
                                      " s before its backfill (window " + std::to_string(secs(window)) + " s)");
        }
        if (++s.backfill_burst[msg.channel] > static_cast<int>(timings_for(s.profile).backfill_count)) {
            violation("backfill", what + ": more than backfill_count backfilled in one reconnect");
        }
    }
}

void Soak::app_step(Slot& s, Clock::time_point now) {
    ConnectionState state;
    bool renew = false;
    bool channel_ok = false;
    {
        std::lock_guard lock(mu_);
        state = s.state;
        channel_ok = s.channel_connected;
        renew = s.renew_wanted;
        s.renew_wanted = false;
    }
    if (renew) {
        s.client->renew_token(mint(s.user, 30));
    }
    if (now < s.next_app_action || now < s.blocked_until) {
        return;
    }
    if (state == ConnectionState::aborted || state == ConnectionState::failed) {
        log("app: %s is %s, logging out", s.user.c_str(), std::string(to_string(state)).c_str());
        s.client->logout();
        s.next_app_action = now + 300ms;
    } else if (state == ConnectionState::disconnected) {
        {
            std::lock_guard lock(mu_);
            ++relogins_;
        }
        // As an app would: a new Client with a fresh token (renew_token() needs a session; a DISCONNECTED client
        // would log in again with its expired one).
        s.client.reset();
        {
            std::lock_guard lock(mu_);
            s.state = ConnectionState::disconnected;
            s.last_reason.reset();
            s.last_seq = 0;
            s.channel_connected = false;
        }
        make_client(s);
        log("app: %s logs in again", s.user.c_str());
        start_session(s);
        s.next_app_action = now + 2s;
    } else if (state == ConnectionState::connected && !channel_ok && now - s.healthy_since > 3s &&
               s.profile != Profile::rtc && s.profile != Profile::rtc_web) {
        // rtm / room: the channel failed on its own while the session lives: join it again.
        s.client->join("ch" + std::to_string(s.channel));
        s.next_app_action = now + 2s;
    }
}

// ================================================================================================== traffic

void Soak::send_one() {
    const int n = static_cast<int>(slots_.size());
    Slot& from = *slots_[static_cast<std::size_t>(pick(n))];
    const bool channel = pick(10) < 3;
    int to = pick(n - 1);
    if (to >= from.index) {
        ++to;
    }
    std::uint64_t id = 0;
    {
        std::lock_guard lock(mu_);
        id = ledger_.size();
        Msg msg;
        msg.sender = from.index;
        msg.sent = Clock::now();
        if (channel) {
            msg.channel = from.channel;
            for (auto& s : slots_) {
                if (s->index != from.index && s->channel == from.channel) {
                    msg.recv.push_back({s->index, s->seg, s->in_seg && s->channel_connected, 0, -1, false, false});
                }
            }
        } else {
            msg.to_user = to;
            const Slot& r = *slots_[static_cast<std::size_t>(to)];
            msg.recv.push_back({to, r.seg, r.in_seg, 0, -1, false, false});
        }
        msg.n = ++next_n_[{from.index, channel ? 1000 + from.channel : to}];
        for (auto& r : msg.recv) {
            if (r.accountable) {
                slots_[static_cast<std::size_t>(r.client)]->pending.push_back(id);
            } else {
                r.settled_out = true;
            }
        }
        ledger_.push_back(std::move(msg));
    }
    const std::string payload = "soak:" + std::to_string(id);
    auto done = [this, id](std::error_code ec) {
        std::lock_guard lock(mu_);
        Msg& m = ledger_[id];
        if (++m.completions > 1) {
            violation("double_completion", "msg " + std::to_string(id) + " completed twice");
            return;
        }
        m.done = Clock::now();
        m.status = ec ? 2 : 1;
        if (ec) {
            ++send_errors_[ec.message()];
        }
    };
    const std::error_code ec =
        channel ? from.client->send_channel_message("ch" + std::to_string(from.channel), payload, done)
                : from.client->send_peer_message(slots_[static_cast<std::size_t>(to)]->user, payload, done);
    if (ec) {
        std::lock_guard lock(mu_);
        Msg& m = ledger_[id];
        m.status = 3;
        for (auto& r : m.recv) {
            r.settled_out = true;
        }
        ++rejected_at_once_[ec.message()];
    }
}

void Soak::settle_check(bool final_check) {
    const auto now = Clock::now();
    const auto g =
        std::chrono::duration_cast<Clock::duration>(3s + scaled(timings_for(Profile::rtm).interrupted_after));
    std::lock_guard lock(mu_);
    for (auto& sp : slots_) {
        Slot& s = *sp;
        const bool settled = s.in_seg && s.state == ConnectionState::connected && !s.faulted && path_up(s, now) &&
                             now - s.healthy_since >= g && now - s.state_since >= g && now - s.last_continuity >= g;
        if (!settled && !(final_check && s.in_seg)) {
            continue;
        }
        std::vector<std::uint64_t> keep;
        for (const auto id : s.pending) {
            Msg& m = ledger_[id];
            Recv* r = nullptr;
            for (auto& x : m.recv) {
                if (x.client == s.index) {
                    r = &x;
                }
            }
            if (r == nullptr || r->settled_out) {
                continue;
            }
            if (r->delivered > 0 || m.status == 2 || m.status == 3) {
                r->settled_out = true;
                continue;
            }
            if (m.status == 1 && (final_check || now - m.done >= g)) {
                r->flagged = true;
                r->stale_epoch = m.channel < 0 && !s.peer_since_restart;
                r->settled_out = true;
                if (++flag_logs_ <= 50) {
                    log("flagged (not delivered to a settled receiver): msg %llu %s -> %s (%s) %s #%llu, sent +%.3fs, "
                        "acked +%.3fs; receiver seg %llu, last continuity +%.3fs, state since +%.3fs",
                        static_cast<unsigned long long>(id), slots_[static_cast<std::size_t>(m.sender)]->user.c_str(),
                        s.user.c_str(), std::string(to_string(s.profile)).c_str(), m.channel >= 0 ? "channel" : "peer",
                        static_cast<unsigned long long>(m.n), secs(m.sent - start_), secs(m.done - start_),
                        static_cast<unsigned long long>(s.seg), secs(s.last_continuity - start_),
                        secs(s.state_since - start_));
                }
                continue;
            }
            keep.push_back(id);
        }
        s.pending = std::move(keep);
    }
}

void Soak::stuck_check(Clock::time_point now) {
    const Timings t = timings_for(Profile::rtm);
    const auto bound = std::chrono::duration_cast<Clock::duration>(
        scaled(t.backoff_max) * 12 / 10 + scaled(t.attempt_timeout) + scaled(t.login_timeout) + 5s);
    for (auto& sp : slots_) {
        Slot& s = *sp;
        ConnectionState state;
        bool channel_ok = false;
        Clock::time_point since;
        {
            std::lock_guard lock(mu_);
            state = s.state;
            channel_ok = s.channel_connected;
            since = s.state_since;
        }
        if (s.faulted || !path_up(s, now) || now < s.blocked_until) {
            s.stuck_reported = false;
            continue;
        }
        const auto healthy_for = now - std::max(s.healthy_since, since);
        const bool app_busy = state == ConnectionState::disconnected || state == ConnectionState::aborted ||
                              state == ConnectionState::failed;
        const bool ok = state == ConnectionState::connected && channel_ok;
        if (!ok && !app_busy && healthy_for > bound && !s.stuck_reported) {
            s.stuck_reported = true;
            std::lock_guard lock(mu_);
            ++stuck_;
            violation("stuck", s.user + " (" + std::string(to_string(s.profile)) + ") " +
                                   std::string(to_string(state)) + (channel_ok ? "" : ", channel not CONNECTED") +
                                   " for " + std::to_string(secs(healthy_for)) + " s on a healthy path (bound " +
                                   std::to_string(secs(bound)) + " s)");
        }
        if (ok) {
            s.stuck_reported = false;
        }
    }
}

// ================================================================================================== faults

void Soak::inject_fault() {
    static const std::vector<std::pair<std::string, int>> kinds = {
        {"blackhole_short", 3}, {"blackhole_long", 3}, {"reset", 2},           {"stall", 1},
        {"delay", 2},           {"throttle", 2},       {"duplicate_login", 1}, {"move", 2}};
    // A kind's weight, 0 when it is left out; `move` (to another node) only in a cluster.
    const auto weight = [this](const std::string& k, int w) {
        return opt_.disabled.count(k) != 0 || (k == "move" && !cluster_) ? 0 : w;
    };
    int total = 0;
    for (const auto& [k, w] : kinds) {
        total += weight(k, w);
    }
    if (total == 0) {
        return;
    }
    int r = pick(total);
    std::string kind;
    for (const auto& [k, w] : kinds) {
        if (weight(k, w) == 0) {
            continue;
        }
        if (r < w) {
            kind = k;
            break;
        }
        r -= w;
    }
    Slot& s = *slots_[static_cast<std::size_t>(pick(static_cast<int>(slots_.size())))];
    const auto now = Clock::now();
    if (s.faulted || now < s.blocked_until) {
        return;  // one fault per client at a time
    }
    const Timings t = timings_for(s.profile);
    const double interrupted = secs(scaled(t.interrupted_after));
    double length = 0;
    if (kind == "blackhole_short") {
        length = uniform(0.05, 0.6) * interrupted;
        s.proxy->set_mode(Mode::blackhole);
    } else if (kind == "blackhole_long") {
        // Past the silence threshold, up to past the presence timeout; room sometimes past its give-up time.
        const double presence = secs(scaled(t.presence_timeout));
        length = uniform(interrupted * 1.2, presence * 1.5 + 1.0);
        if (s.profile == Profile::room && pick(20) == 0) {
            length = secs(scaled(t.give_up_after)) + 3.0;
            kind = "blackhole_past_give_up";
        }
        s.proxy->set_mode(Mode::blackhole);
    } else if (kind == "reset") {
        s.proxy->reset_all();
    } else if (kind == "stall") {
        length = uniform(0.1, 2.0) * interrupted;
        s.proxy->set_mode(Mode::stall);
    } else if (kind == "delay") {
        length = uniform(1.0, 8.0);
        const auto d = std::chrono::milliseconds(static_cast<int>(uniform(5, 150)));
        s.proxy->set_delay(d);
        kind += "(" + std::to_string(d.count()) + "ms)";
    } else if (kind == "throttle") {
        length = uniform(1.0, 8.0);
        const auto bps = static_cast<std::size_t>(uniform(2000, 50000));
        s.proxy->set_throttle(bps);
        kind += "(" + std::to_string(bps) + "B/s)";
    } else if (kind == "move") {
        // The balancer sends the client's connections to another node, and its open one is reset.
        const int to = pick_node(s.node);
        if (to < 0) {
            return;
        }
        kind += "(" + cluster_->name(s.node) + "->" + cluster_->name(to) + ")";
        s.proxy->set_upstream("127.0.0.1", cluster_->port(to));
        s.proxy->reset_all();
        s.node = to;
    } else if (kind == "duplicate_login") {
        if (intruder_ || !path_up(s, now)) {
            return;
        }
        {
            std::lock_guard lock(mu_);
            if (s.state != ConnectionState::connected) {
                return;
            }
        }
        length = uniform(0.5, 3.0);
        // In a cluster the second instance logs in on any node (straight, not through the balancer).
        const int node = cluster_ ? pick_node(-1) : -1;
        if (cluster_ && node < 0) {
            return;
        }
        intruder_ = relink::make_client(config_for(s, cluster_ ? cluster_->port(node) : port_, true), io_);
        intruder_of_ = s.index;
        intruder_until_ = now + std::chrono::milliseconds(static_cast<int>(length * 1000));
        s.blocked_until = intruder_until_ + 500ms;
        if (s.profile == Profile::rtm || s.profile == Profile::room) {
            intruder_->login();
            intruder_->join("ch" + std::to_string(s.channel));
        } else {
            intruder_->join("ch" + std::to_string(s.channel));
        }
    }
    {
        std::lock_guard lock(mu_);
        ++faults_[kind.substr(0, kind.find('('))];
    }
    log("FAULT %s on %s (%s) for %.2fs", kind.c_str(), s.user.c_str(), std::string(to_string(s.profile)).c_str(),
        length);
    const bool instant = kind == "reset" || kind.rfind("move", 0) == 0;
    if (!instant && kind != "duplicate_login") {
        s.faulted = true;
        s.fault_kind = kind;
        s.fault_until = now + std::chrono::milliseconds(static_cast<int>(length * 1000));
    } else if (instant) {
        s.healthy_since = now;
    }
}

void Soak::restore(Slot& s, Clock::time_point now) {
    if (s.fault_kind.rfind("blackhole", 0) == 0) {
        s.proxy->set_mode(Mode::pass);
        s.proxy->reset_all();  // the attempt hanging on a dead connection is reset, like a NAT would
    } else if (s.fault_kind == "stall") {
        s.proxy->set_mode(Mode::pass);
    } else if (s.fault_kind.rfind("delay", 0) == 0) {
        s.proxy->set_delay(0ms);
    } else if (s.fault_kind.rfind("throttle", 0) == 0) {
        s.proxy->set_throttle(0);
    }
    s.faulted = false;
    s.fault_kind.clear();
    s.healthy_since = now;
}

void Soak::restore_due(Clock::time_point now) {
    for (auto& s : slots_) {
        if (s->faulted && now >= s->fault_until) {
            restore(*s, now);
        }
    }
    if (intruder_ && now >= intruder_until_) {
        intruder_->logout();
        intruder_.reset();
        slots_[static_cast<std::size_t>(intruder_of_)]->healthy_since = now;
        intruder_of_ = -1;
    }
}

// ================================================================================================== run

int Soak::run() {
    start_ = Clock::now();
    std::string pattern = (std::filesystem::temp_directory_path() / "relink-soak-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
        std::fprintf(stderr, "relink-soak: cannot make a temporary directory\n");
        return 2;
    }
    dir_ = pattern;
    port_ = free_port();
    if (!opt_.client_log.empty()) {
        client_log_ = std::fopen(opt_.client_log.c_str(), "w");
    }
    ca_file_ = (dir_ / "ca.pem").string();
    log("relink-soak: %d clients, %.0f s, seed %llu, time scale %.3f, %.1f msg/s, %s, dir %s", opt_.clients,
        opt_.duration, static_cast<unsigned long long>(opt_.seed), opt_.scale, opt_.rate,
        opt_.cluster > 0 ? ("a cluster of " + std::to_string(opt_.cluster) + " nodes").c_str() : "one relinkd",
        dir_.c_str());
    if (opt_.cluster > 0 ? !start_cluster() : !start_server()) {
        std::fprintf(stderr, "relink-soak: relinkd did not start\n");
        return 2;
    }
    auto work = boost::asio::make_work_guard(io_);
    std::vector<std::thread> io_threads;
    for (int i = 0; i < 2; ++i) {
        io_threads.emplace_back([this] { io_.run(); });
    }
    channels_ = std::max(1, opt_.clients / 8);
    static const Profile kProfiles[] = {Profile::rtm, Profile::rtc, Profile::rtc_web, Profile::room};
    for (int i = 0; i < opt_.clients; ++i) {
        auto s = std::make_unique<Slot>();
        s->index = i;
        char name[16];
        std::snprintf(name, sizeof name, "u%02d", i);
        s->user = name;
        s->profile = kProfiles[i % 4];
        s->channel = i % channels_;
        s->token_class = (i / 4) % 3;
        faultproxy::Options po;
        s->node = cluster_ ? i % cluster_->size() : 0;  // the balancer spreads the clients over the nodes
        po.upstream_port = cluster_ ? cluster_->port(s->node) : port_;
        s->proxy = std::make_unique<FaultProxy>(po);
        slots_.push_back(std::move(s));
    }
    for (auto& s : slots_) {
        make_client(*s);
        start_session(*s);
    }
    // Wait (bounded) for everyone to be in.
    const auto in_deadline = Clock::now() + 30s;
    while (Clock::now() < in_deadline) {
        bool all = true;
        {
            std::lock_guard lock(mu_);
            for (auto& s : slots_) {
                all = all && s->state == ConnectionState::connected && s->channel_connected;
            }
        }
        if (all) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    log("all clients started; faults begin");

    const auto fault_start = Clock::now();
    const auto fault_end = fault_start + std::chrono::milliseconds(static_cast<long>(opt_.duration * 1000));
    auto next_fault = fault_start + 1s;
    auto next_server_fault = fault_start + std::chrono::milliseconds(static_cast<int>(uniform(15000, 30000)));
    bool next_is_kill = true;
    auto next_check = fault_start + 1s;
    double send_credit = 0;
    auto last_tick = Clock::now();
    bool server_faults_on = opt_.disabled.count("server_kill") == 0 || opt_.disabled.count("server_drain") == 0;
    if (cluster_) {
        server_faults_on = false;
        for (const auto& k : kClusterFaultKinds) {
            server_faults_on = server_faults_on || opt_.disabled.count(k) == 0;
        }
        next_server_fault = fault_start + std::chrono::milliseconds(static_cast<int>(uniform(8000, 14000)));
    }
    while (Clock::now() < fault_end && !g_stop.load()) {
        const auto now = Clock::now();
        send_credit += opt_.rate * secs(now - last_tick);
        last_tick = now;
        while (send_credit >= 1) {
            send_one();
            send_credit -= 1;
        }
        restore_due(now);
        if (now >= next_fault) {
            inject_fault();
            next_fault = now + std::chrono::milliseconds(static_cast<int>(
                                   std::exponential_distribution<double>(1.0 / 1.2)(rng_) * 1000 + 50));
        }
        if (partitioned_ >= 0 && now >= partition_until_) {
            heal_partition(now);
        }
        if (cluster_ && server_faults_on && now >= next_server_fault && now + 10s < fault_end && partitioned_ < 0) {
            cluster_fault();  // one deployment fault at a time: the next one waits for a partition to heal
            next_server_fault = Clock::now() + std::chrono::milliseconds(static_cast<int>(uniform(12000, 20000)));
        } else if (!cluster_ && server_faults_on && now >= next_server_fault && now + 10s < fault_end) {
            bool kill = next_is_kill;
            if (opt_.disabled.count(kill ? "server_kill" : "server_drain") != 0) {
                kill = !kill;
            }
            next_is_kill = !kill;
            server_fault(kill);
            next_server_fault = Clock::now() + std::chrono::milliseconds(static_cast<int>(uniform(25000, 45000)));
        }
        for (auto& s : slots_) {
            app_step(*s, now);
        }
        if (now >= next_check) {
            settle_check(false);
            stuck_check(now);
            sample_resources();
            next_check = now + 1s;
        }
        std::this_thread::sleep_for(20ms);
    }

    // ---- quiesce: heal everything, let everyone come back, let every send complete, then the final check.
    log("faults end; healing every path");
    const auto heal = Clock::now();
    for (auto& s : slots_) {
        if (s->faulted) {
            restore(*s, heal);
        }
    }
    if (intruder_) {
        intruder_until_ = heal;
        restore_due(heal);
    }
    if (cluster_) {
        if (partitioned_ >= 0) {
            heal_partition(heal);
        }
        for (int k = 0; k < cluster_->size(); ++k) {
            if (!cluster_->node_running(k) && !cluster_->start_node(k)) {
                ++restart_failures_;
                violation("server_restart", cluster_->name(k) + " could not be restarted for the quiesce");
            }
        }
    } else if (!server_ || server_down_) {
        start_server();
    }
    const auto back_deadline = Clock::now() + 40s;
    while (Clock::now() < back_deadline) {
        const auto now = Clock::now();
        for (auto& s : slots_) {
            app_step(*s, now);
        }
        stuck_check(now);
        bool all = true;
        {
            std::lock_guard lock(mu_);
            for (auto& s : slots_) {
                all = all && s->state == ConnectionState::connected && s->channel_connected && s->in_seg;
            }
        }
        if (all) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    // A last round of traffic on healed paths, then wait for every completion.
    for (int i = 0; i < static_cast<int>(opt_.rate * 2); ++i) {
        send_one();
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(1000 / std::max(1.0, opt_.rate))));
    }
    const auto complete_deadline =
        Clock::now() + scaled(timings_for(Profile::rtm).message_timeout) + 10s;  // every send completes by then
    while (Clock::now() < complete_deadline) {
        bool all = true;
        {
            std::lock_guard lock(mu_);
            for (const auto& m : ledger_) {
                all = all && m.status != 0;
            }
        }
        if (all) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(3s);  // deliveries of the last acknowledged sends
    sample_resources();
    settle_check(true);
    {
        std::lock_guard lock(mu_);
        for (auto& s : slots_) {
            if (s->state == ConnectionState::connected && s->channel_connected) {
                if (cluster_ && !s->in_seg) {
                    // Connected, yet no report from the Redis that came back empty opened its segment.
                    violation("no_segment", s->user + " CONNECTED at the end outside any segment");
                }
                continue;
            }
            const bool app_busy = s->state == ConnectionState::disconnected || s->state == ConnectionState::aborted ||
                                  s->state == ConnectionState::failed;
            const std::string what =
                s->user + " not CONNECTED (with its channel) at the end: " + std::string(to_string(s->state)) + " " +
                (s->last_reason ? std::string(to_string(*s->last_reason)) : std::string());
            if (app_busy) {
                log("note: %s (a legitimate end of session the app was handling)", what.c_str());
            } else {
                ++stuck_;
                violation("stuck", what);
            }
        }
    }
    const double wall = secs(Clock::now() - start_);
    const int rc = summarize(wall);

    // ---- tear down: clients (their logouts go out while the io_context still runs), proxies, the server.
    intruder_.reset();
    for (auto& s : slots_) {
        s->client.reset();
    }
    std::this_thread::sleep_for(300ms);
    for (auto& s : slots_) {
        s->proxy.reset();
    }
    work.reset();
    io_.stop();
    for (auto& t : io_threads) {
        t.join();
    }
    int final_rc = rc;
    if (cluster_) {
        if (const int bad = cluster_->stop_all(); bad > 0) {
            std::printf("%d relinkd nodes did not exit 0 on the final SIGTERM\n", bad);
            final_rc = 1;
        }
    }
    if (server_) {
        const auto status = server_->stop(10s);
        if (status != 0) {
            std::printf("relinkd did not exit 0 on the final SIGTERM\n");
            final_rc = 1;
        }
    }
    std::error_code ec;
    if (final_rc == 0) {
        std::filesystem::remove_all(dir_, ec);
    } else {
        std::printf("relinkd logs kept in %s\n", dir_.c_str());
    }
    if (client_log_) {
        std::fclose(client_log_);  // the clients are gone: nothing logs any more
    }
    return final_rc;
}

int Soak::summarize(double wall) {
    std::lock_guard lock(mu_);
    // Lost: per (receiver, segment), flagged and never delivered, minus the drops it was told about.
    std::map<std::pair<int, std::uint64_t>, std::uint64_t> flagged_missing;
    std::map<std::pair<int, std::uint64_t>, std::uint64_t> flagged_gap;    // channel, non-backfill receiver
    std::map<std::pair<int, std::uint64_t>, std::uint64_t> flagged_stale;  // peer, stale epoch after a restart
    std::uint64_t sent = 0, ok = 0, err = 0, pending = 0, accountable = 0, rejected = 0;
    for (const auto& m : ledger_) {
        if (m.status == 3) {
            ++rejected;
            continue;
        }
        ++sent;
        ok += m.status == 1 ? 1 : 0;
        err += m.status == 2 ? 1 : 0;
        pending += m.status == 0 ? 1 : 0;
        for (const auto& r : m.recv) {
            accountable += r.accountable && m.status == 1 ? 1 : 0;
            if (r.flagged && r.delivered == 0) {
                ++flagged_missing[{r.client, r.seg}];
                if (r.stale_epoch) {
                    ++flagged_stale[{r.client, r.seg}];
                }
                if (m.channel >= 0 &&
                    timings_for(slots_[static_cast<std::size_t>(r.client)]->profile).backfill_count == 0) {
                    ++flagged_gap[{r.client, r.seg}];
                }
            }
        }
    }
    std::uint64_t lost = 0, explained = 0, lost_known = 0, lost_stale = 0;
    std::vector<std::string> lost_detail;
    for (const auto& [key, missing] : flagged_missing) {
        const Slot& s = *slots_[static_cast<std::size_t>(key.first)];
        const auto it = s.dropped_by_seg.find(key.second);
        const std::uint64_t dropped = it == s.dropped_by_seg.end() ? 0 : it->second;
        const std::uint64_t l = missing > dropped ? missing - dropped : 0;
        explained += std::min(missing, dropped);
        if (l > 0) {
            lost += l;
            const std::uint64_t gap = std::min(l, flagged_gap[key]);
            lost_known += gap;
            lost_stale += std::min(l - gap, flagged_stale[key]);
            const auto cause = s.seg_end_cause.find(key.second);
            lost_detail.push_back(s.user + " (" + std::string(to_string(s.profile)) + ") segment " +
                                  std::to_string(key.second) + ": " + std::to_string(missing) + " missing, " +
                                  std::to_string(dropped) + " reported dropped" +
                                  (cause != s.seg_end_cause.end() ? ", segment ended by " + cause->second : ""));
        }
    }
    if (pending > 0) {
        violations_["never_completed"] += pending;
    }
    const std::uint64_t illegal = violations_["illegal_transition"] + violations_["transition_previous"] +
                                  violations_["transition_seq"] + violations_["transition_repeated"];
    const bool mem_ok = server_rss_.bounded(1.5, 32 * 1024) && self_rss_.bounded(1.5, 32 * 1024);
    const bool fds_ok = server_fds_.bounded(1.0, 64) && self_fds_.bounded(1.0, 64);
    std::uint64_t faults_total = 0;
    for (const auto& [k, v] : faults_) {
        faults_total += k.find("observed") == std::string::npos ? v : 0;
    }
    std::uint64_t excused_total = 0;
    for (const auto& [k, v] : excused_) {
        excused_total += v;
    }
    std::uint64_t other_violations = 0;
    for (const auto& [k, v] : violations_) {
        if (k != "illegal_transition" && k != "transition_previous" && k != "transition_seq" &&
            k != "transition_repeated" && k != "duplicate" && k != "stuck") {
            other_violations += v;
        }
    }
    const std::uint64_t lost_counted =
        lost - (opt_.allow_silent_channel_gap ? lost_known : 0) - (opt_.allow_stale_peer_epoch ? lost_stale : 0);
    const bool pass = lost_counted == 0 && duplicates_ == 0 && illegal == 0 && stuck_ == 0 && other_violations == 0 &&
                      mem_ok && fds_ok && restart_failures_ == 0;

    std::ostringstream out;
    out << "\n==================== relink-soak SUMMARY ====================\n";
    out << "command: relink-soak --duration " << opt_.duration << " --clients " << opt_.clients << " --seed "
        << opt_.seed << " --time-scale " << opt_.scale << " --rate " << opt_.rate;
    if (cluster_) {
        out << " --cluster " << opt_.cluster;
    }
    for (const auto& k : opt_.disabled) {
        out << " --no-fault " << k;
    }
    if (opt_.allow_silent_channel_gap) {
        out << " --allow-silent-channel-gap";
    }
    if (opt_.allow_stale_peer_epoch) {
        out << " --allow-stale-peer-epoch";
    }
    out << "\nwall time: " << static_cast<int>(wall) << " s; clients " << opt_.clients
        << " (rtm/rtc/rtc-web/room); server generations " << server_gen_ << "\n";
    if (cluster_) {
        out << "cluster: " << opt_.cluster << " nodes, node starts " << cluster_->node_starts()
            << "; redis-server restarts with its data " << redis_restarts_kept_ << ", without " << redis_restarts_lost_
            << "; first reports from an emptied Redis without server_restarted: " << restart_reports_missing_ << "\n";
    }
    out << "faults injected: " << faults_total << " —";
    for (const auto& [k, v] : faults_) {
        out << " " << k << "=" << v;
    }
    out << "\nmessages sent (accepted): " << sent << " (ok " << ok << ", error " << err << ", never completed "
        << pending << "); rejected at once: " << rejected << "\n";
    out << "send errors:";
    for (const auto& [k, v] : send_errors_) {
        out << " [" << k << "]=" << v;
    }
    out << "\nrejected at once:";
    for (const auto& [k, v] : rejected_at_once_) {
        out << " [" << k << "]=" << v;
    }
    out << "\naccountable deliveries expected: " << accountable << "; delivered: " << deliveries_ << " (backfilled "
        << backfilled_deliveries_ << ")\n";
    out << "reported dropped (ContinuityReport.dropped): " << dropped_reported_ << " in " << continuity_reports_
        << " reports; flagged-missing explained by dropped: " << explained << "\n";
    out << "first reports after a server restart: server_restarted " << restart_reports_flagged_
        << ", not flagged (the old server's, handled after the kill) " << restart_reports_unflagged_ << "\n";
    out << "excused (receiver's segment ended before delivery): " << excused_total << " —";
    std::map<std::string, std::uint64_t> by_kind;
    for (const auto& [k, v] : excused_) {
        by_kind[k] += v;
    }
    for (const auto& [k, v] : by_kind) {
        out << " " << k << "=" << v;
    }
    out << "\nlate (flagged, delivered later): " << late_ << "\n";
    out << "LOST: " << lost << " (of which " << lost_known
        << " look like the FIXED BUG 'silent channel gap' (finding 1 in docs/reliability.md): channel messages a rtc / "
           "rtc-web / room receiver missed during an outage, neither delivered nor counted in "
           "ContinuityReport.dropped"
        << (opt_.allow_silent_channel_gap ? "; tolerated by --allow-silent-channel-gap" : "") << ")\n";
    out << "  of which " << lost_stale
        << " look like the FIXED BUG 'stale peer epoch' (finding 2): peer messages queued for a receiver that had no "
           "peer message since a server restart, missed in an outage resumed on the new server, neither delivered "
           "nor counted"
        << (opt_.allow_stale_peer_epoch ? "; tolerated by --allow-stale-peer-epoch" : "") << "\n";
    out << "  of which " << (lost - lost_known - lost_stale) << " match neither\n";
    for (const auto& d : lost_detail) {
        out << "  lost: " << d << "\n";
    }
    out << "DUPLICATED: " << duplicates_ << " (across a server restart: " << duplicates_across_restart_ << ")\n";
    out << "transitions checked: " << transitions_ << "; ILLEGAL: " << illegal << "\n";
    out << "out of order: " << violations_["out_of_order"] << "; backfill violations: " << violations_["backfill"]
        << "; double completions: " << violations_["double_completion"] << "\n";
    out << "STUCK clients: " << stuck_ << "; app re-logins: " << relogins_ << "\n";
    out << (cluster_ ? "relinkd nodes (sum, while all are up) RSS KiB " : "relinkd RSS KiB ") << server_rss_start_
        << " -> " << server_rss_end_ << " (first/last quarter median " << server_rss_.first_quarter() << "/"
        << server_rss_.last_quarter() << "), fds " << server_fds_start_ << " -> " << server_fds_end_ << " ("
        << server_fds_.first_quarter() << "/" << server_fds_.last_quarter() << ")\n";
    out << "soak process (clients + proxies) RSS KiB " << self_rss_start_ << " -> " << self_rss_end_ << " ("
        << self_rss_.first_quarter() << "/" << self_rss_.last_quarter() << "), fds " << self_fds_start_ << " -> "
        << self_fds_end_ << " (" << self_fds_.first_quarter() << "/" << self_fds_.last_quarter() << ")\n";
    out << "memory bounded: " << (mem_ok ? "yes" : "NO") << "; fds bounded: " << (fds_ok ? "yes" : "NO") << "\n";
    out << "violations:";
    for (const auto& [k, v] : violations_) {
        if (v > 0) {
            out << " " << k << "=" << v;
        }
    }
    out << "\nstate changes seen:";
    for (const auto& [k, v] : states_seen_) {
        out << " [" << k << "]=" << v;
    }
    out << "\nRESULT: " << (pass ? "PASS" : "FAIL") << "\n";
    std::printf("%s", out.str().c_str());
    std::fflush(stdout);

    if (!opt_.json.empty()) {
        std::ofstream j(opt_.json);
        j << "{\"pass\":" << (pass ? "true" : "false") << ",\"duration\":" << opt_.duration
          << ",\"clients\":" << opt_.clients << ",\"cluster_nodes\":" << opt_.cluster << ",\"seed\":" << opt_.seed
          << ",\"time_scale\":" << opt_.scale << ",\"wall_seconds\":" << wall << ",\"faults\":{";
        bool first = true;
        for (const auto& [k, v] : faults_) {
            j << (first ? "" : ",") << "\"" << k << "\":" << v;
            first = false;
        }
        j << "},\"sent\":" << sent << ",\"ok\":" << ok << ",\"errors\":" << err << ",\"never_completed\":" << pending
          << ",\"delivered\":" << deliveries_ << ",\"reported_dropped\":" << dropped_reported_
          << ",\"excused\":" << excused_total << ",\"lost\":" << lost
          << ",\"lost_known_silent_channel_gap\":" << lost_known << ",\"lost_known_stale_peer_epoch\":" << lost_stale
          << ",\"lost_unexplained\":" << (lost - lost_known - lost_stale) << ",\"duplicated\":" << duplicates_
          << ",\"transitions\":" << transitions_ << ",\"illegal_transitions\":" << illegal << ",\"stuck\":" << stuck_
          << ",\"server_rss_kib\":[" << server_rss_start_ << "," << server_rss_end_ << "],\"server_fds\":["
          << server_fds_start_ << "," << server_fds_end_ << "],\"self_rss_kib\":[" << self_rss_start_ << ","
          << self_rss_end_ << "],\"self_fds\":[" << self_fds_start_ << "," << self_fds_end_ << "]}\n";
    }
    return pass ? 0 : 1;
}

int usage() {
    std::fprintf(stderr,
                 "usage: relink-soak [--duration SECONDS] [--clients N] [--seed S] [--time-scale F] [--rate MSG/S]\n"
                 "                   [--json FILE] [--no-fault KIND ...] [--allow-silent-channel-gap]\n"
                 "                   [--allow-stale-peer-epoch] [--verbose] [--cluster NODES]\n"
                 "                   [--relinkd-log-level LEVEL] [--client-log FILE]\n"
                 "fault kinds: blackhole_short blackhole_long reset stall delay throttle duplicate_login\n"
                 "             server_kill server_drain (token expiry comes from the clients' short tokens)\n"
                 "  --cluster: move node_kill node_drain redis_kill_keep_data redis_kill_lose_data\n"
                 "             redis_blip_lose_data redis_partition instead of server_kill server_drain\n");
    return 2;
}

}  // namespace
}  // namespace relink::soak

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    struct sigaction stop {};
    stop.sa_handler = [](int) { relink::soak::g_stop.store(true); };
    sigaction(SIGINT, &stop, nullptr);
    sigaction(SIGTERM, &stop, nullptr);
    relink::soak::Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        if (a == "--verbose") {
            o.verbose = true;
            continue;
        }
        if (a == "--allow-silent-channel-gap") {
            o.allow_silent_channel_gap = true;
            continue;
        }
        if (a == "--allow-stale-peer-epoch") {
            o.allow_stale_peer_epoch = true;
            continue;
        }
        if ((v = value()) == nullptr) {
            return relink::soak::usage();
        }
        if (a == "--duration") {
            o.duration = std::atof(v);
        } else if (a == "--clients") {
            o.clients = std::max(2, std::atoi(v));
        } else if (a == "--seed") {
            o.seed = std::strtoull(v, nullptr, 10);
        } else if (a == "--time-scale") {
            o.scale = std::atof(v);
        } else if (a == "--rate") {
            o.rate = std::atof(v);
        } else if (a == "--json") {
            o.json = v;
        } else if (a == "--no-fault") {
            o.disabled.insert(v);
        } else if (a == "--client-log") {
            o.client_log = v;
        } else if (a == "--relinkd-log-level") {
            o.relinkd_log_level = v;
        } else if (a == "--cluster") {
            o.cluster = std::atoi(v);
            if (o.cluster < 2) {
                return relink::soak::usage();  // a cluster of one has nowhere to move its clients
            }
        } else {
            return relink::soak::usage();
        }
    }
    if (o.duration <= 0 || o.scale <= 0 || o.rate <= 0) {
        return relink::soak::usage();
    }
    relink::soak::Soak soak(o);
    return soak.run();
}
