// tests/soak/cluster.hpp — the deployment that `relink-soak --cluster N` runs its clients against: one redis-server
// (support/redis_process.hpp, persistent, so that it can be restarted with its data or without), N relinkd nodes
// started with `--cluster`, and between each node and Redis a FaultProxy (the node–Redis link, which a partition
// blackholes). Every node serves one certificate (made with the openssl CLI, as the cluster e2e tests do) and one
// TLS ticket key file, so a client trusts and resumes on any node; each node has a fixed loopback port so that it
// restarts in place. Every process is started and stopped by PID; every wait is bounded. The faults themselves,
// their timing and the accounting are the soak's (soak.cpp): this only does what it is told.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "faultproxy/fault_proxy.hpp"
#include "support/redis_process.hpp"
#include "support/relinkd_process.hpp"

namespace relink::soak {

/// One redis-server, N relinkd nodes sharing it, and a FaultProxy on each node's link to Redis.
class Cluster {
public:
    using Clock = std::chrono::steady_clock;

    struct Config {
        std::filesystem::path dir;  ///< certificate, ticket keys and one log directory per node start
        int nodes{3};
        std::vector<std::string> node_args;  ///< extra relinkd arguments of every node (time scale, limits, log)
        std::function<void()> before_spawn;  ///< called before each child is started (close-on-exec of sockets)
    };

    explicit Cluster(Config config) : config_(std::move(config)) {}
    ~Cluster() { stop_all(); }
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    /// Makes the certificate, starts Redis, the node–Redis proxies and every node. False (with `error` set) if any
    /// of it fails.
    bool start(std::string& error) {
        const auto cert = config_.dir / "cert.pem";
        const auto key = config_.dir / "key.pem";
        const std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost"
            " -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
            " -addext basicConstraints=critical,CA:TRUE,pathlen:0"
            " -addext keyUsage=critical,digitalSignature,keyCertSign -addext extendedKeyUsage=serverAuth"
            " -keyout '" +
            key.string() + "' -out '" + cert.string() + "' >'" + (config_.dir / "openssl.log").string() + "' 2>&1";
        if (std::system(command.c_str()) != 0) {
            error = "openssl could not make a certificate";
            return false;
        }
        cert_file_ = cert.string();
        key_file_ = key.string();
        ticket_file_ = (config_.dir / "tickets.key").string();
        run_before_spawn();
        redis_ = test::RedisServer::start(std::chrono::seconds(10), /*persistent=*/true);
        if (!redis_) {
            error = "redis-server did not start";
            return false;
        }
        nodes_.resize(static_cast<std::size_t>(config_.nodes));
        for (int k = 0; k < config_.nodes; ++k) {
            auto& n = nodes_[static_cast<std::size_t>(k)];
            n.redis_link = std::make_unique<faultproxy::FaultProxy>("127.0.0.1", redis_->port());
            n.port = test::free_loopback_port();
            if (!start_node(k)) {  // one at a time: the first one creates the ticket key file
                error = "relinkd node " + name(k) + " did not start";
                return false;
            }
        }
        return true;
    }

    [[nodiscard]] int size() const { return static_cast<int>(nodes_.size()); }
    [[nodiscard]] std::string name(int k) const { return "n" + std::to_string(k + 1); }
    [[nodiscard]] std::uint16_t port(int k) const { return node(k).port; }
    [[nodiscard]] bool node_running(int k) const { return node(k).process != nullptr; }
    [[nodiscard]] pid_t node_pid(int k) const { return node(k).process ? node(k).process->pid() : 0; }
    [[nodiscard]] int node_starts() const { return node_starts_; }
    [[nodiscard]] const std::string& ca_file() const { return cert_file_; }
    [[nodiscard]] bool redis_running() const { return redis_ && redis_->running(); }
    [[nodiscard]] pid_t redis_pid() const { return redis_ ? redis_->pid() : 0; }
    [[nodiscard]] std::uint16_t redis_port() const { return redis_ ? redis_->port() : 0; }

    /// Starts node `k` again on its port (after kill_node() or drain_node()); retried for up to 15 s, since the
    /// port may still be held for a moment.
    bool start_node(int k) {
        auto& n = node(k);
        const auto deadline = Clock::now() + std::chrono::seconds(15);
        while (Clock::now() < deadline) {
            const auto dir = config_.dir / (name(k) + "-" + std::to_string(++n.generation));
            std::filesystem::create_directories(dir);
            test::Relinkd::LaunchOptions options;
            options.port = n.port;
            options.ca_file = (dir / "ca.pem").string();  // --write-ca: the served certificate, cert_file_
            options.extra = {"--cert",
                             cert_file_,
                             "--key",
                             key_file_,
                             "--tls-ticket-key-file",
                             ticket_file_,
                             "--cluster",
                             "redis://127.0.0.1:" + std::to_string(n.redis_link->port()),
                             "--node-id",
                             name(k)};
            options.extra.insert(options.extra.end(), config_.node_args.begin(), config_.node_args.end());
            run_before_spawn();
            if (auto process = test::Relinkd::launch(dir, options)) {
                n.process = std::move(process);
                ++node_starts_;
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }

    /// SIGKILL node `k` and wait (5 s) for its exit; false if it is still there.
    bool kill_node(int k) {
        auto& n = node(k);
        const bool gone = n.process->kill_now().has_value();
        n.process.reset();
        return gone;
    }

    /// SIGTERM node `k` (it drains) and wait for its exit; its exit status, nullopt if it did not exit in `timeout`.
    std::optional<int> drain_node(int k, std::chrono::milliseconds timeout) {
        auto& n = node(k);
        const auto status = n.process->stop(timeout);
        n.process.reset();  // SIGKILL if it is still there
        return status;
    }

    /// Blackholes node `k`'s link to Redis (`cut`), or makes it pass again and resets the dead connections (as a
    /// NAT forgetting the flow), so that the node's next connection to Redis works.
    void partition(int k, bool cut) {
        auto& link = *node(k).redis_link;
        if (cut) {
            link.set_mode(faultproxy::Mode::blackhole);
        } else {
            link.set_mode(faultproxy::Mode::pass);
            link.reset_all();
        }
    }

    /// kill -9 of redis-server (waits for its exit); false if it is still there.
    bool kill_redis() { return redis_->kill9().has_value(); }

    /// Starts redis-server again on its port, with the data it had persisted or without.
    bool restart_redis(bool keep_data) {
        run_before_spawn();
        return redis_->restart(std::chrono::seconds(10), keep_data);
    }

    /// SIGTERM to every running node (each must exit 0 within `timeout`); the number that did not. Then Redis.
    int stop_all(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        int bad = 0;
        for (auto& n : nodes_) {
            if (n.process) {
                bad += n.process->stop(timeout) == 0 ? 0 : 1;
                n.process.reset();
            }
        }
        nodes_.clear();
        redis_.reset();
        return bad;
    }

private:
    struct Node {
        std::uint16_t port{0};
        int generation{0};
        std::unique_ptr<faultproxy::FaultProxy> redis_link;
        std::unique_ptr<test::Relinkd> process;  // null while the node is down
    };

    Node& node(int k) { return nodes_.at(static_cast<std::size_t>(k)); }
    [[nodiscard]] const Node& node(int k) const { return nodes_.at(static_cast<std::size_t>(k)); }
    void run_before_spawn() {
        if (config_.before_spawn) {
            config_.before_spawn();
        }
    }

    Config config_;
    std::string cert_file_;
    std::string key_file_;
    std::string ticket_file_;
    std::unique_ptr<test::RedisServer> redis_;
    std::vector<Node> nodes_;
    int node_starts_{0};
};

}  // namespace relink::soak
