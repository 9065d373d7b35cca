// bench/relink_bench/server.hpp — the world around the clients: relinkd as a child process (started and stopped by
// PID, readiness from its listening line), the run's temporary directory with one certificate that every relinkd
// of the run serves (so a restarted server is trusted at once and TLS sessions can resume), the TLS handshake
// counts of relinkd's /metrics (the /proc and /metrics readers are bench/common/'s); and a Deployment: one relinkd, or
// a cluster of relinkd nodes on a redis-server child (tests/support/redis_process.hpp), with Redis's own counters
// (INFO) to measure what the cluster costs it. No Asio: plain POSIX, so this file compiles fast.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "common/admin_metrics.hpp"
#include "common/proc.hpp"

namespace relink::test {
class ChildProcess;  // tests/support/child_process.hpp
class RedisServer;   // tests/support/redis_process.hpp
}  // namespace relink::test

namespace relink::bench {

constexpr const char* kApp = "bench";
constexpr const char* kSecret = "bench-secret";
constexpr const char* kAdminSecret = "bench-admin";

/// The run's shared state for servers: a temporary directory (removed at the end), the certificate and key every
/// relinkd serves, and what this relinkd build supports.
struct Env {
    std::string relinkd;
    std::filesystem::path dir;
    std::string cert_file;  ///< PEM certificate (also the clients' CA: it is self-signed)
    std::string key_file;
    unsigned relinkd_threads{1};
    std::vector<std::string> extra_args;    ///< --relinkd-arg
    std::chrono::seconds start_within{10};  ///< --relinkd-start-s: a relinkd that does not listen by then failed
    /// relinkd's flag for a TLS session-ticket key file (empty when this build has none), and the file: every
    /// relinkd of the run gets the same key, so tickets issued before a restart still resume after it.
    std::string ticket_flag;
    std::string ticket_file;
    std::string relinkd_help;  ///< `relinkd --help`, read once

    /// Makes the directory and the certificate; false (with `error`) when that fails.
    bool init(const std::string& relinkd_path, unsigned threads, std::vector<std::string> extra, std::string& error);
    ~Env();
};

/// relinkd as a child process (tests/support/child_process.hpp). Every relinkd of relink-bench: TLS with the run's
/// certificate, loopback only, app `bench`, the admin API on an ephemeral loopback port, login and message rate limits
/// lifted (all clients share 127.0.0.1 and the publishers send faster than an app would; the server-wide login
/// limits too unless the spec keeps them), logs at warn in a file of the run's directory.
class Relinkd {
public:
    struct Spec {
        std::uint16_t port{0};           ///< 0 = ephemeral; a fixed port restarts a server in place
        std::vector<std::string> extra;  ///< scenario flags (e.g. --limit peer-queue=N)
        std::string name{"relinkd"};     ///< stderr goes to DIR/NAME.stderr
        std::chrono::milliseconds bind_retry{std::chrono::seconds(5)};  ///< retry while the port is still busy
        /// Keep relinkd's server-wide admission limits (login rate, logins in progress) at their defaults: the
        /// scenarios about behaviour under load (overload, storm). The others measure capacity and lift them, as
        /// they lift the per-address ones.
        bool admission_defaults{false};
    };
    /// Starts relinkd and waits (10 s at most) for its listening line. nullptr (with `error`) when it does not come.
    static std::unique_ptr<Relinkd> launch(const Env& env, const Spec& spec, std::string& error);
    /// SIGKILL if still running, and reap.
    ~Relinkd();
    Relinkd(const Relinkd&) = delete;
    Relinkd& operator=(const Relinkd&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::uint16_t admin_port() const { return admin_port_; }
    /// now_ns() when the listening line was read: relinkd prints it after its acceptor listens.
    [[nodiscard]] std::int64_t listening_at() const { return listening_at_; }
    [[nodiscard]] std::string url() const { return "wss://127.0.0.1:" + std::to_string(port_) + "/"; }

    /// SIGKILL (a crash) and wait for the exit, at most `timeout`. The exit status (-9), or nullopt.
    std::optional<int> kill_now(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// SIGTERM (relinkd drains: Close(draining) to every client, exit within 5 s); returns at once.
    void terminate();
    /// Waits for the exit, at most `timeout`, then SIGKILL. The exit status (-signal when killed by one).
    int wait_exit(std::chrono::milliseconds timeout);
    bool running();
    [[nodiscard]] std::string stderr_tail(std::size_t bytes = 1500) const;

private:
    Relinkd() = default;
    std::unique_ptr<test::ChildProcess> child_;
    pid_t pid_{0};
    std::uint16_t port_{0};
    std::uint16_t admin_port_{0};
    std::int64_t listening_at_{0};
    std::filesystem::path stderr_file_;
};

/// A launch spec: `port` (0 = ephemeral), the stderr file's `name`, scenario flags.
inline Relinkd::Spec spec_of(std::uint16_t port, std::string name, std::vector<std::string> extra = {}) {
    Relinkd::Spec s;
    s.port = port;
    s.name = std::move(name);
    s.extra = std::move(extra);
    return s;
}

/// The same, with relinkd's admission limits at their defaults (Spec::admission_defaults).
inline Relinkd::Spec spec_under_load(std::uint16_t port, std::string name) {
    Relinkd::Spec s = spec_of(port, std::move(name));
    s.admission_defaults = true;
    return s;
}

/// Redis's counters at one moment (INFO cpu memory commandstats), taken over one plain connection.
struct RedisSample {
    std::int64_t at_ns{0};                       ///< now_ns() when the reply came
    std::map<std::string, std::uint64_t> calls;  ///< per command (lower case, "evalsha", "get" ...), every caller:
                                                 ///< the nodes' own calls and those their scripts make
    std::map<std::string, std::uint64_t> usec;   ///< per command: wall time spent executing it (a script's
                                                 ///< includes the commands it makes)
    double cpu_us{0};                            ///< used_cpu_sys + used_cpu_user (getrusage: µs resolution)
    std::uint64_t used_memory{0};                ///< bytes
};
/// INFO from the redis-server on 127.0.0.1:`port` (5 s at most); nullopt when it did not answer.
std::optional<RedisSample> read_redis_sample(std::uint16_t port);

/// What a scenario's clients connect to: one relinkd with everything in memory (`cluster_nodes` 0), or
/// `cluster_nodes` relinkd nodes (`--cluster redis://... --node-id nK`) sharing one redis-server started for it
/// on a free loopback port. Every process is started and stopped by PID; the destructor kills what is left.
class Deployment {
public:
    /// Starts Redis (when clustered) and the nodes, each waited for (bounded); nullptr with `error` otherwise.
    static std::unique_ptr<Deployment> launch(const Env& env, std::size_t cluster_nodes, const std::string& name,
                                              std::string& error);
    ~Deployment();
    Deployment(const Deployment&) = delete;
    Deployment& operator=(const Deployment&) = delete;

    [[nodiscard]] bool clustered() const { return redis_ != nullptr; }
    [[nodiscard]] std::size_t size() const { return nodes_.size(); }
    /// The port of node `i` modulo the node count: clients i = 0, 1, 2 ... spread over the nodes in turn.
    [[nodiscard]] std::uint16_t port_of(std::size_t i) const { return nodes_[i % nodes_.size()]->port(); }
    /// User + system CPU of every node, summed, in microseconds.
    [[nodiscard]] std::uint64_t relinkd_cpu_us() const;
    /// The same split into user space and kernel.
    [[nodiscard]] CpuTimes relinkd_cpu_times() const;
    /// Redis's counters now; nullopt without Redis or when it did not answer.
    [[nodiscard]] std::optional<RedisSample> redis_sample() const;
    /// SIGTERM to every node (each drains), waits for them (bounded), then stops Redis.
    void stop();

private:
    Deployment() = default;
    std::unique_ptr<test::RedisServer> redis_;
    std::vector<std::unique_ptr<Relinkd>> nodes_;
};

/// Stops every child process still running (relinkd, redis-server), by PID (SIGKILL): ChildProcess::kill_all().
/// For the second SIGINT: async-signal-safe.
void kill_registered_children() noexcept;

/// relinkd's TLS handshake counts (full, resumed) from /metrics when this build exports them
/// (relink_tls_handshakes_total{resumed="false"|"true"}); nullopt otherwise.
std::optional<std::pair<double, double>> tls_handshakes(const std::map<std::string, double>& metrics);

}  // namespace relink::bench
