// bench/relink_bench/server.cpp — relinkd as a child process, the run's certificate, /proc readings and /metrics
// (server.hpp), Deployment and Redis's INFO. Plain POSIX and OpenSSL through relinkd's own certificate generator;
// no Asio.
#include "server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <thread>

#include "common/listening_line.hpp"
#include "common/loopback.hpp"
#include "server/tls.hpp"
#include "support/child_process.hpp"
#include "support/redis_process.hpp"

namespace relink::bench {

using namespace std::chrono_literals;

namespace {

bool write_file(const std::string& path, const std::string& text, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return false;
    }
    const auto n = ::write(fd, text.data(), text.size());
    ::close(fd);
    return n == static_cast<ssize_t>(text.size());
}

/// Runs `program args` with stdout and stderr captured (5 s at most); for `relinkd --help`.
std::string capture_output(const std::string& program, const std::vector<std::string>& args) {
    test::ChildSpec spec;
    spec.argv.push_back(program);
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    return test::ChildProcess::run(std::move(spec), 5s).output;
}

}  // namespace

void kill_registered_children() noexcept {
    test::ChildProcess::kill_all();
}

// ------------------------------------------------------------------------------------------- Env

bool Env::init(const std::string& relinkd_path, unsigned threads, std::vector<std::string> extra, std::string& error) {
    relinkd = relinkd_path;
    relinkd_threads = threads;
    extra_args = std::move(extra);
    if (::access(relinkd.c_str(), X_OK) != 0) {
        error = "relinkd not found or not executable: " + relinkd + " (--relinkd PATH)";
        return false;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "relink-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
        error = "cannot make a temporary directory";
        return false;
    }
    dir = pattern;
    // One certificate for the whole run: a replacement relinkd serves the same one, so clients trust it at once
    // (no CA file rewritten under them) and a TLS session of the old server can resume on the new one.
    const auto generated = relink::server::generate_self_signed();
    if (!generated.pem) {
        error = "cannot generate a certificate: " + generated.error;
        return false;
    }
    cert_file = (dir / "cert.pem").string();
    key_file = (dir / "key.pem").string();
    if (!write_file(cert_file, generated.pem->certificate_pem, 0644) ||
        !write_file(key_file, generated.pem->private_key_pem, 0600)) {
        error = "cannot write the certificate into " + dir.string();
        return false;
    }
    // TLS session resumption across restarts needs one ticket key for every relinkd of the run. Whether this
    // relinkd has such an option is read from its --help (it is being added; without it the ratio is "n/a").
    relinkd_help = capture_output(relinkd, {"--help"});
    std::istringstream words(relinkd_help);
    for (std::string w; words >> w;) {
        if (w.rfind("--", 0) == 0 && w.find("ticket") != std::string::npos) {
            ticket_flag = w.substr(0, w.find_first_of("=[,"));
            break;
        }
    }
    if (!ticket_flag.empty()) {
        // 80 random bytes (the size OpenSSL's ticket-key callback uses: name, HMAC key, AES key); relinkd's
        // documented format wins if it differs — see docs/performance.md.
        std::random_device rd;
        std::string key(80, '\0');
        for (auto& c : key) {
            c = static_cast<char>(rd() & 0xFF);
        }
        ticket_file = (dir / "ticket.key").string();
        if (!write_file(ticket_file, key, 0600)) {
            ticket_flag.clear();
        }
    }
    return true;
}

Env::~Env() {
    if (!dir.empty()) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
}

// ------------------------------------------------------------------------------------------- Relinkd

std::unique_ptr<Relinkd> Relinkd::launch(const Env& env, const Spec& spec, std::string& error) {
    std::vector<std::string> args{env.relinkd, "--listen", "127.0.0.1:" + std::to_string(spec.port), "--cert",
                                  env.cert_file, "--key", env.key_file, "--app", std::string(kApp) + ":" + kSecret,
                                  "--threads", std::to_string(env.relinkd_threads), "--log-level", "warn",
                                  "--admin-listen", "127.0.0.1:0", "--admin-secret", kAdminSecret,
                                  // Every client connects from 127.0.0.1: the per-address login limit (20/s) would
                                  // refuse a fleet; publishers send faster than the per-session 50/s.
                                  "--limit", "logins-per-second=1000000", "--limit", "login-burst=1000000", "--limit",
                                  "messages-per-second=1000000", "--limit", "message-burst=1000000"};
    if (!env.ticket_flag.empty()) {
        args.insert(args.end(), {env.ticket_flag, env.ticket_file});
    }
    // A relinkd with server-wide admission control (it names the limit in --help) refuses logins beyond ~500 a
    // second: a capacity scenario lifts that too; a relinkd without it would refuse the unknown name.
    if (!spec.admission_defaults && env.relinkd_help.find("server-logins-per-second") != std::string::npos) {
        args.insert(args.end(), {"--limit", "server-logins-per-second=1000000", "--limit", "server-login-burst=1000000",
                                 "--limit", "logins-in-progress=1000000"});
    }
    args.insert(args.end(), env.extra_args.begin(), env.extra_args.end());
    args.insert(args.end(), spec.extra.begin(), spec.extra.end());

    const auto give_up = Clock::now() + spec.bind_retry;
    for (int attempt = 0;; ++attempt) {
        auto server = std::unique_ptr<Relinkd>(new Relinkd);
        server->stderr_file_ = env.dir / (spec.name + ".stderr");
        test::ChildSpec child;
        child.argv = args;
        child.stderr_file = server->stderr_file_;
        child.append = true;
        std::string spawn_error;
        server->child_ = test::ChildProcess::start(std::move(child), &spawn_error);
        if (!server->child_) {
            error = "cannot start " + env.relinkd + ": " + spawn_error;
            return nullptr;
        }
        server->pid_ = server->child_->pid();

        // The listening line, read as soon as it is written (relinkd listens before printing it).
        std::optional<std::string> line;
        const auto deadline = Clock::now() + env.start_within;
        while (!line && Clock::now() < deadline && !g_stop && !server->child_->output_ended()) {
            line = server->child_->read_line(50ms);  // an end of output: it exited before listening (port busy?)
        }
        if (line) {
            server->listening_at_ = now_ns();
            const auto ports = parse_listening_line(*line);
            if (!ports) {
                error = "unexpected listening line from relinkd: " + *line;
                return nullptr;
            }
            server->port_ = ports->port;
            server->admin_port_ = ports->admin_port;
            return server;
        }
        const auto tail = server->stderr_tail(600);
        server.reset();  // SIGKILL + reap
        if (g_stop || Clock::now() >= give_up) {
            error = "relinkd did not listen (attempt " + std::to_string(attempt + 1) + "): " + tail;
            return nullptr;
        }
        std::this_thread::sleep_for(20ms);  // the port may still be held for a moment: try again
    }
}

Relinkd::~Relinkd() = default;  // the child process: SIGKILL if still running, and reap

bool Relinkd::running() {
    return child_->running();
}

std::optional<int> Relinkd::kill_now(std::chrono::milliseconds timeout) {
    return child_->kill_now(timeout);
}

void Relinkd::terminate() {
    child_->signal(SIGTERM);
}

int Relinkd::wait_exit(std::chrono::milliseconds timeout) {
    auto status = child_->wait_exit(timeout);
    if (!status) {
        status = child_->kill_now();
    }
    return status.value_or(-SIGKILL);
}

std::string Relinkd::stderr_tail(std::size_t bytes) const {
    return test::file_text(stderr_file_, bytes);
}

// ------------------------------------------------------------------------------------------- /metrics

std::optional<std::pair<double, double>> tls_handshakes(const std::map<std::string, double>& metrics) {
    std::optional<double> full;
    std::optional<double> resumed;
    for (const auto& [name, value] : metrics) {
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower.find("handshake") == std::string::npos) {
            continue;
        }
        // relinkd: relink_tls_handshakes_total{resumed="true"|"false"}; other spellings matched loosely.
        if (lower.find("resumed=\"true\"") != std::string::npos) {
            resumed = resumed.value_or(0) + value;
        } else if (lower.find("resumed=\"false\"") != std::string::npos) {
            full = full.value_or(0) + value;
        } else if (lower.find("resum") != std::string::npos) {
            resumed = resumed.value_or(0) + value;
        } else if (lower.find("full") != std::string::npos) {
            full = full.value_or(0) + value;
        }
    }
    if (!full || !resumed) {
        return std::nullopt;
    }
    return std::make_pair(*full, *resumed);
}

// ------------------------------------------------------------------------------------------- Redis, Deployment

std::optional<RedisSample> read_redis_sample(std::uint16_t port) {
    // One bulk string answers: "$LEN\r\n" then LEN bytes. Its (start, length) once the header is in.
    const auto bulk = [](const std::string& reply) -> std::optional<std::pair<std::size_t, std::size_t>> {
        if (reply.size() > 1 && reply[0] == '$') {
            if (const auto crlf = reply.find("\r\n"); crlf != std::string::npos) {
                return std::make_pair(crlf + 2,
                                      static_cast<std::size_t>(std::strtoull(reply.c_str() + 1, nullptr, 10)));
            }
        }
        return std::nullopt;
    };
    const auto complete = [&](const std::string& reply) {
        const auto b = bulk(reply);
        return b && reply.size() >= b->first + b->second;
    };
    static constexpr char kInfo[] = "*4\r\n$4\r\nINFO\r\n$3\r\ncpu\r\n$6\r\nmemory\r\n$12\r\ncommandstats\r\n";
    const std::string reply = loopback_exchange(port, kInfo, 5s, 1U << 20U, complete);
    if (!complete(reply)) {
        return std::nullopt;
    }
    const auto [body_at, length] = *bulk(reply);
    RedisSample sample;
    sample.at_ns = now_ns();
    std::istringstream lines(reply.substr(body_at, length));
    for (std::string line; std::getline(lines, line);) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        const auto colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        const auto key = line.substr(0, colon);
        const char* value = line.c_str() + colon + 1;
        if (key == "used_cpu_sys" || key == "used_cpu_user") {
            sample.cpu_us += std::strtod(value, nullptr) * 1e6;
        } else if (key == "used_memory") {
            sample.used_memory = std::strtoull(value, nullptr, 10);
        } else if (key.rfind("cmdstat_", 0) == 0) {
            // cmdstat_evalsha:calls=12,usec=...; a subcommand is spelled "config|get"
            if (const char* calls = std::strstr(value, "calls=")) {
                sample.calls[key.substr(8)] = std::strtoull(calls + 6, nullptr, 10);
            }
            if (const char* usec = std::strstr(value, ",usec=")) {
                sample.usec[key.substr(8)] = std::strtoull(usec + 6, nullptr, 10);
            }
        }
    }
    return sample;
}

std::unique_ptr<Deployment> Deployment::launch(const Env& env, std::size_t cluster_nodes, const std::string& name,
                                               std::string& error) {
    auto deployment = std::unique_ptr<Deployment>(new Deployment);
    std::vector<std::string> cluster_flags;
    if (cluster_nodes > 0) {
        deployment->redis_ = test::RedisServer::start();
        if (!deployment->redis_) {
            error = std::string("cannot start ") + test::RedisServer::kBinary + " on a free loopback port";
            return nullptr;
        }
        cluster_flags = {"--cluster", deployment->redis_->url()};
    }
    for (std::size_t i = 0; i < std::max<std::size_t>(cluster_nodes, 1); ++i) {
        auto extra = cluster_flags;
        if (cluster_nodes > 0) {
            extra.insert(extra.end(), {"--node-id", "n" + std::to_string(i + 1)});
        }
        auto node = Relinkd::launch(
            env, spec_of(0, cluster_nodes > 0 ? name + "-n" + std::to_string(i + 1) : name, std::move(extra)), error);
        if (!node) {
            return nullptr;  // the nodes started so far and Redis are stopped by the destructor
        }
        deployment->nodes_.push_back(std::move(node));
    }
    return deployment;
}

Deployment::~Deployment() {
    nodes_.clear();  // SIGKILL and reap what stop() did not stop, before Redis goes
    redis_.reset();  // SIGTERM, then SIGKILL (bounded)
}

std::uint64_t Deployment::relinkd_cpu_us() const {
    const auto times = relinkd_cpu_times();
    return times.user_us + times.system_us;
}

CpuTimes Deployment::relinkd_cpu_times() const {
    CpuTimes sum;
    for (const auto& node : nodes_) {
        const auto times = read_cpu_times(node->pid());
        sum.user_us += times.user_us;
        sum.system_us += times.system_us;
    }
    return sum;
}

std::optional<RedisSample> Deployment::redis_sample() const {
    return redis_ ? read_redis_sample(redis_->port()) : std::nullopt;
}

void Deployment::stop() {
    for (auto& node : nodes_) {
        node->terminate();
    }
    for (auto& node : nodes_) {
        node->wait_exit(8s);
    }
    if (redis_) {
        redis_->stop();
    }
}

}  // namespace relink::bench
