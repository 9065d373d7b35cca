// relinkd-bench — what an idle TLS session costs relinkd, and how fast it logs clients in (issue 3).
//
// A program, not a Google Benchmark: it drives a separate relinkd process over loopback TLS. For each session
// count N of --sessions it
//   1. starts a fresh relinkd (`--listen 127.0.0.1:0 --write-ca TMP --app bench:secret --threads 1
//      --time-scale 1000`, admin API on loopback), reads its listening line;
//   2. logs 16 warm-up clients in and out (so OpenSSL's and Beast's one-time initialisation is not counted per
//      session), then reads relinkd's VmRSS from /proc/PID/status: the baseline;
//   3. opens N WebSocket-over-TLS sessions from this process on --threads io threads, at most --concurrency at a
//      time in flight (async Beast; each client verifies relinkd's certificate against the written CA and host
//      name 127.0.0.1), each sending one `login` (profile rtm, a minted token, one channel per --channel-size
//      users) and waiting for `login_ok`: logins per second and handshake / login latency percentiles;
//   4. lets the N sessions idle for --idle-seconds, sending nothing at all: with --time-scale 1000 relinkd's
//      keep-alive timeout is 6000 s and its presence, token-warning and login-grace timers are as far away, so no
//      client has to ping and the sessions are truly idle (pings would wake every TLS session up once a second);
//   5. reads relinkd's VmRSS again and reports (RSS_after - RSS_baseline) / N, checks relinkd's own count of
//      connections and sessions on /metrics, and measures this process's memory per client session too;
//   6. stops relinkd by its PID (SIGTERM: drain; bounded wait; SIGKILL fallback) and closes every client.
// relinkd's per-address login rate limit (20/s, bursts of 40) is respected, not bypassed: each client binds a
// source address of its own in 127.1.0.0/16, --per-address clients per address.
//
// Every wait is bounded. Figures, the command and their analysis: docs/benchmarks.md.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>

#include "common/admin_metrics.hpp"
#include "common/command_line.hpp"
#include "common/listening_line.hpp"
#include "common/proc.hpp"
#include "common/stats.hpp"
#include "protocol/codec.hpp"
#include "support/child_process.hpp"
#include "token/token.hpp"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace proto = relink::proto;
using tcp = boost::asio::ip::tcp;
using relink::bench::heap_in_use;
using relink::bench::load_average;
using relink::bench::Memory;
using relink::bench::read_cpu_us;
using relink::bench::read_memory;
using relink::bench::read_metrics;
using relink::bench::self_cpu_us;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kApp = "bench";
constexpr const char* kSecret = "secret";
constexpr const char* kAdminSecret = "bench-admin";
constexpr std::size_t kWarmupSessions = 16;

// ------------------------------------------------------------------------------------------- options

struct Options {
    std::string relinkd;
    std::vector<std::size_t> sessions{1000, 10000};
    unsigned threads{2};                  ///< this process's io threads
    std::size_t concurrency{32};          ///< sessions connecting / logging in at once
    std::size_t channel_size{100};        ///< users per channel; 0 = log in without a channel
    std::size_t per_address{30};          ///< clients per source address (relinkd allows bursts of 40 logins)
    unsigned idle_seconds{5};             ///< how long the sessions idle before RSS is read
    double time_scale{1000};              ///< relinkd's --time-scale
    unsigned relinkd_threads{1};          ///< relinkd's --threads
    std::vector<std::string> extra_args;  ///< more relinkd flags (--relinkd-arg, repeatable)
    std::string json_file;
};

/// The command line (src/cli/command_line.hpp's rules: one line and exit status 2 for a bad flag).
Options parse_options(int argc, char** argv) {
    namespace cl = relink::bench::command_line;
    Options options;
    options.relinkd = (std::filesystem::path(argv[0]).parent_path() / "relinkd").string();
    CLI::App app(
        "relinkd-bench: relinkd's memory per idle TLS session and its logins per second, measured against "
        "a relinkd child process over loopback TLS.",
        "relinkd-bench");
    relink::command_line::prepare(app);
    app.footer("docs/benchmarks.md says what is measured and how; a value of --relinkd-arg may begin with --.");
    // A repeated single-value flag: the last one wins (--relinkd-arg is repeatable).
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--relinkd", options.relinkd, "the relinkd to start (default: the one next to relinkd-bench)")
        ->type_name("PATH");
    cl::add_list<std::size_t>(
        app, "--sessions", options.sessions, "idle session counts, one relinkd each", "N[,N]", "1000,10000",
        [](const std::size_t& n) { return n > 0 ? std::string() : "'0' is not a session count of at least 1"; });
    app.add_option("--threads", options.threads, "this process's io threads")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(1, 64));
    app.add_option("--concurrency", options.concurrency, "sessions connecting and logging in at once")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    app.add_option("--channel-size", options.channel_size, "users per channel; 0 = log in without a channel")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--per-address", options.per_address,
                   "clients per source address (relinkd allows bursts of 40 logins per address)")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>(1));
    app.add_option("--idle-seconds", options.idle_seconds, "how long the sessions idle before RSS is read")
        ->type_name("S")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(0, 3600));
    app.add_option("--time-scale", options.time_scale, "relinkd's --time-scale (1000: no timer fires while idle)")
        ->type_name("F")
        ->capture_default_str();
    app.add_option("--relinkd-threads", options.relinkd_threads, "relinkd's --threads")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(1, 64));
    app.add_option("--relinkd-arg", options.extra_args, "another relinkd flag, as is (repeatable)")
        ->type_name("ARG")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->allow_extra_args(false);
    app.add_option("--json", options.json_file, "write the results as JSON")->type_name("FILE");
    cl::parse(app, argc, argv, {"--relinkd-arg"});
    return options;
}

// ------------------------------------------------------------------------------------------- relinkd

/// relinkd as a child process (tests/support/child_process.hpp): stdout on a pipe (the listening line), stderr in a
/// file. Stopped by its PID.
class Relinkd {
public:
    static std::unique_ptr<Relinkd> start(const std::string& program, const std::vector<std::string>& args,
                                          const std::filesystem::path& stderr_file) {
        relink::test::ChildSpec spec;
        spec.argv.push_back(program);
        spec.argv.insert(spec.argv.end(), args.begin(), args.end());
        spec.stderr_file = stderr_file;
        std::string error;
        auto child = relink::test::ChildProcess::start(std::move(spec), &error);
        if (!child) {
            std::cerr << "relinkd-bench: cannot start " << program << ": " << error << "\n";
            return nullptr;
        }
        auto process = std::unique_ptr<Relinkd>(new Relinkd);
        process->child_ = std::move(child);
        process->stderr_file_ = stderr_file;
        return process;
    }

    [[nodiscard]] pid_t pid() const { return child_->pid(); }

    /// One line of stdout, or nullopt on timeout or end of output.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) { return child_->read_line(timeout); }

    /// Whether the process is still running (reaps it if not).
    bool running() { return child_->running(); }

    /// SIGTERM (relinkd drains), at most `grace` for it to exit, then SIGKILL. Returns the exit status
    /// (-signal when killed by one).
    int stop(std::chrono::milliseconds grace) {
        child_->signal(SIGTERM);
        if (const auto status = child_->wait_exit(grace)) {
            return *status;
        }
        std::cerr << "relinkd-bench: relinkd (pid " << pid() << ") still running after SIGTERM; SIGKILL\n";
        return child_->kill_now().value_or(-SIGKILL);
    }

    [[nodiscard]] std::string stderr_tail(std::size_t bytes = 2000) const {
        return relink::test::file_text(stderr_file_, bytes);
    }

private:
    Relinkd() = default;
    std::unique_ptr<relink::test::ChildProcess> child_;
    std::filesystem::path stderr_file_;
};

// ------------------------------------------------------------------------------------------- the clients

class Client;

/// One fleet of clients against one relinkd: the io threads, the shared TLS context, counters and timings.
class Fleet {
public:
    Fleet(const Options& options, const std::string& ca_file, std::uint16_t port, std::size_t count, bool warmup)
        : options_(options),
          tls_(ssl::context::tls_client),
          server_(net::ip::make_address("127.0.0.1"), port),
          count_(count),
          warmup_(warmup),
          clients_(count),
          handshake_us_(count, 0),
          login_us_(count, 0) {
        tls_.set_verify_mode(ssl::verify_peer);
        beast::error_code ec;
        tls_.load_verify_file(ca_file, ec);
        if (ec) {  // every login fails at once, with the reason
            failed_ = count_;
            first_error_ = "cannot load the CA file " + ca_file + ": " + ec.message();
        }
        // Client-side memory is reported too: keep idle client TLS sessions as small as the server's.
        SSL_CTX_set_mode(tls_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        expires_at_ = std::chrono::duration_cast<std::chrono::seconds>(now).count() + 24 * 3600;
    }

    ~Fleet() { shutdown(); }
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;

    /// Starts the io threads and the first `concurrency` clients; the rest start as earlier ones log in.
    void start();
    /// Waits until every client has logged in or failed, or until `deadline`. True when all are done.
    bool wait_logins(Clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        return changed_.wait_until(lock, deadline, [&] { return logged_in_ + failed_ >= count_; });
    }
    /// Waits until every client's connection has ended, or until `deadline`.
    bool wait_ended(Clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        return changed_.wait_until(lock, deadline, [&] { return ended_ >= started_; });
    }
    /// Stops the io threads and drops every client (bounded: nothing here waits on the network).
    void shutdown() {
        ioc_.stop();
        for (auto& thread : threads_) {
            if (thread.joinable()) {
                thread.join();
            }
        }
        threads_.clear();
        clients_.clear();
    }

    std::size_t logged_in() const {
        std::lock_guard lock(mutex_);
        return logged_in_;
    }
    std::size_t failed() const {
        std::lock_guard lock(mutex_);
        return failed_;
    }
    std::size_t ended() const {
        std::lock_guard lock(mutex_);
        return ended_;
    }
    std::string first_error() const {
        std::lock_guard lock(mutex_);
        return first_error_;
    }
    Clock::time_point started_at() const { return started_at_; }
    Clock::time_point last_login_at() const {
        std::lock_guard lock(mutex_);
        return last_login_at_;
    }
    /// Handshake (TCP + TLS + WebSocket upgrade) and handshake + login latencies of the clients that logged in.
    std::vector<std::uint32_t> handshake_latencies() const { return successful(handshake_us_); }
    std::vector<std::uint32_t> login_latencies() const { return successful(login_us_); }

private:
    friend class Client;

    void launch_next();
    void on_login(std::size_t index, bool ok, const std::string& error, std::uint32_t handshake_us,
                  std::uint32_t login_us);
    void on_ended();

    std::vector<std::uint32_t> successful(const std::vector<std::uint32_t>& all) const {
        std::vector<std::uint32_t> out;
        for (std::size_t i = 0; i < all.size(); ++i) {
            if (login_us_[i] != 0) {
                out.push_back(all[i]);
            }
        }
        return out;
    }

    /// The source address of client `index`: 127.1.x.y, `per_address` clients each (127.2.0.1 for warm-ups).
    net::ip::address_v4 source_address(std::size_t index) const {
        if (warmup_) {
            return net::ip::make_address_v4("127.2.0.1");
        }
        const auto k = static_cast<std::uint32_t>(index / options_.per_address);
        return net::ip::address_v4(0x7F010000U + ((k / 250U) << 8U) + (k % 250U) + 1U);
    }

    const Options& options_;
    ssl::context tls_;
    net::io_context ioc_;  // after tls_: destroyed first, with the clients its pending handlers still hold
    tcp::endpoint server_;
    std::size_t count_;
    bool warmup_;
    std::int64_t expires_at_{0};
    std::vector<std::thread> threads_;
    std::atomic<std::size_t> next_{0};
    std::vector<std::shared_ptr<Client>> clients_;  // each slot written once, by whoever launches that client
    std::vector<std::uint32_t> handshake_us_;       // each slot written once, on that client's strand
    std::vector<std::uint32_t> login_us_;
    Clock::time_point started_at_;

    mutable std::mutex mutex_;  // guards what follows
    std::condition_variable changed_;
    std::size_t started_{0};
    std::size_t logged_in_{0};
    std::size_t failed_{0};
    std::size_t ended_{0};
    std::string first_error_;
    Clock::time_point last_login_at_;
};

/// One client session: TCP (from its own source address) → TLS (verified) → WebSocket → login → idle reads.
/// Every handler holds shared_from_this(); the fleet's vector holds each client too, until shutdown.
class Client : public std::enable_shared_from_this<Client> {
public:
    Client(Fleet& fleet, std::size_t index)
        : fleet_(fleet), index_(index), ws_(net::make_strand(fleet.ioc_), fleet.tls_) {}

    void start() {
        net::post(ws_.get_executor(), [self = shared_from_this()] { self->on_start(); });
    }

private:
    void on_start() {
        started_ = Clock::now();
        auto& socket = beast::get_lowest_layer(ws_).socket();
        beast::error_code ec;
        socket.open(tcp::v4(), ec);
        if (!ec) {
            socket.bind(tcp::endpoint(fleet_.source_address(index_), 0), ec);
        }
        if (ec) {
            return fail("socket: " + ec.message(), false);
        }
        socket.set_option(tcp::no_delay(true), ec);
        ws_.next_layer().set_verify_mode(ssl::verify_peer);
        ws_.next_layer().set_verify_callback(ssl::host_name_verification("127.0.0.1"));
        beast::get_lowest_layer(ws_).expires_after(30s);
        beast::get_lowest_layer(ws_).async_connect(fleet_.server_,
                                                   beast::bind_front_handler(&Client::on_connect, shared_from_this()));
    }

    void on_connect(beast::error_code ec) {
        if (ec) {
            return fail("connect: " + ec.message(), false);
        }
        ws_.next_layer().async_handshake(ssl::stream_base::client,
                                         beast::bind_front_handler(&Client::on_tls, shared_from_this()));
    }

    void on_tls(beast::error_code ec) {
        if (ec) {
            return fail("TLS handshake: " + ec.message(), false);
        }
        beast::get_lowest_layer(ws_).expires_never();
        auto timeout = websocket::stream_base::timeout::suggested(beast::role_type::client);
        timeout.handshake_timeout = 30s;
        ws_.set_option(timeout);
        ws_.async_handshake("127.0.0.1:" + std::to_string(fleet_.server_.port()), "/",
                            beast::bind_front_handler(&Client::on_upgrade, shared_from_this()));
    }

    void on_upgrade(beast::error_code ec) {
        if (ec) {
            return fail("WebSocket handshake: " + ec.message(), false);
        }
        handshake_us_ = micros_since_start();
        open_ = true;
        proto::Login login;
        login.request_id = 1;
        login.app_id = kApp;
        login.user_id = (fleet_.warmup_ ? "warmup-" : "user-") + std::to_string(index_);
        login.token = relink::token::mint({kApp, login.user_id, fleet_.expires_at_, {}}, kSecret);
        login.instance_id = "bench-" + std::to_string(index_);
        login.profile = relink::Profile::rtm;
        if (fleet_.options_.channel_size != 0 && !fleet_.warmup_) {
            login.channels.push_back({"room-" + std::to_string(index_ / fleet_.options_.channel_size), {}, {}});
        }
        do_read();
        write(proto::encode(proto::ClientMessage{std::move(login)}));
    }

    void write(std::string frame) {
        if (writing_) {
            pending_ = std::move(frame);
            return;
        }
        writing_ = true;
        out_ = std::move(frame);
        ws_.text(true);
        ws_.async_write(net::buffer(out_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->writing_ = false;
            std::string().swap(self->out_);
            if (!ec && !self->pending_.empty()) {
                self->write(std::exchange(self->pending_, {}));
            }
        });
    }

    void do_read() { ws_.async_read(buffer_, beast::bind_front_handler(&Client::on_read, shared_from_this())); }

    void on_read(beast::error_code ec, std::size_t bytes) {
        if (ec) {
            open_ = false;
            if (!login_reported_) {
                fail("read before login_ok: " + ec.message(), true);
            }
            return fleet_.on_ended();
        }
        const auto data = buffer_.cdata();
        auto decoded = proto::decode_server(std::string_view(static_cast<const char*>(data.data()), bytes));
        buffer_.consume(buffer_.size());
        if (buffer_.capacity() > 4096) {
            buffer_.shrink_to_fit();  // a large snapshot grew it: idle clients keep a small buffer
        }
        if (!decoded) {
            if (!login_reported_) {
                fail("undecodable frame: " + decoded.error.detail, true);
            }
        } else if (const auto* ok = std::get_if<proto::LoginOk>(&*decoded.message); ok && !login_reported_) {
            login_reported_ = true;
            fleet_.on_login(index_, true, {}, handshake_us_, std::max<std::uint32_t>(1, micros_since_start()));
            if (fleet_.warmup_) {
                write(proto::encode(proto::ClientMessage{proto::Logout{2}}));
            }
        } else if (const auto* reply = std::get_if<proto::Reply>(&*decoded.message)) {
            if (reply->request_id == 1 && !login_reported_) {
                fail("login refused: " + reply->error.message(), true);
            } else if (reply->request_id == 2 && fleet_.warmup_ && !closing_) {
                closing_ = true;  // logged out: close; the read loop ends with error::closed
                ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {});
            }
        }
        do_read();
    }

    /// Reports a failed login once. `counted_end`: the read loop is (or was) running and reports its own end.
    void fail(const std::string& error, bool counted_end) {
        if (!login_reported_) {
            login_reported_ = true;
            fleet_.on_login(index_, false, error, 0, 0);
        }
        if (!counted_end) {
            fleet_.on_ended();
        }
    }

    std::uint32_t micros_since_start() const {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
        return static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 1, UINT32_MAX));
    }

    Fleet& fleet_;
    std::size_t index_;
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
    beast::flat_buffer buffer_;
    std::string out_;
    std::string pending_;
    Clock::time_point started_;
    std::uint32_t handshake_us_{0};
    bool writing_{false};
    bool open_{false};
    bool login_reported_{false};
    bool closing_{false};
};

void Fleet::start() {
    started_at_ = Clock::now();
    if (failed_ != 0) {
        return;
    }
    const auto first = std::min(count_, options_.concurrency);
    for (std::size_t i = 0; i < first; ++i) {
        launch_next();
    }
    for (unsigned i = 0; i < options_.threads; ++i) {
        threads_.emplace_back([this] { ioc_.run(); });
    }
}

void Fleet::launch_next() {
    const auto index = next_.fetch_add(1);
    if (index >= count_) {
        return;
    }
    {
        std::lock_guard lock(mutex_);
        ++started_;
    }
    auto client = std::make_shared<Client>(*this, index);
    clients_[index] = client;
    client->start();
}

void Fleet::on_login(std::size_t index, bool ok, const std::string& error, std::uint32_t handshake_us,
                     std::uint32_t login_us) {
    handshake_us_[index] = handshake_us;
    login_us_[index] = login_us;
    {
        std::lock_guard lock(mutex_);
        if (ok) {
            ++logged_in_;
            last_login_at_ = Clock::now();
        } else {
            ++failed_;
            if (first_error_.empty()) {
                first_error_ = error;
            }
        }
    }
    changed_.notify_all();
    launch_next();
}

void Fleet::on_ended() {
    {
        std::lock_guard lock(mutex_);
        ++ended_;
    }
    changed_.notify_all();
}

// ------------------------------------------------------------------------------------------- one run

struct Percentiles {
    double p50_ms{0};
    double p99_ms{0};
    double max_ms{0};
};

/// p50, p99 and max of latencies in µs, in ms (nearest rank); zeros without a sample.
Percentiles percentiles(const std::vector<std::uint32_t>& us) {
    std::vector<double> ms;
    ms.reserve(us.size());
    for (const auto v : us) {
        ms.push_back(static_cast<double>(v) / 1000.0);
    }
    Percentiles p;
    p.p50_ms = relink::bench::percentile(ms, 50).value_or(0);
    p.p99_ms = relink::bench::percentile(ms, 99).value_or(0);
    p.max_ms = relink::bench::percentile(ms, 100).value_or(0);
    return p;
}

struct RunResult {
    std::size_t sessions{0};
    bool ok{false};
    std::string error;
    std::size_t logged_in{0};
    std::size_t failed{0};
    std::size_t closed_while_idle{0};
    double login_seconds{0};
    double logins_per_second{0};
    Percentiles handshake;
    Percentiles login;
    double relinkd_cpu_us_per_login{0};
    double client_cpu_us_per_login{0};
    Memory relinkd_baseline;
    Memory relinkd_after_login;
    Memory relinkd_after_idle;
    double bytes_per_session{0};       ///< relinkd VmRSS delta / sessions
    double anon_bytes_per_session{0};  ///< relinkd RssAnon delta / sessions
    double metric_connections{-1};
    double metric_sessions{-1};
    double client_rss_bytes_per_session{0};
    double client_heap_bytes_per_session{0};
    int relinkd_exit{0};
};

double per_session(std::uint64_t after, std::uint64_t before, std::size_t n) {
    return n == 0 ? 0.0 : (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(n);
}

RunResult run_once(const Options& options, std::size_t n, const std::filesystem::path& dir) {
    RunResult result;
    result.sessions = n;
    const auto ca_file = dir / ("ca-" + std::to_string(n) + ".pem");
    std::vector<std::string> args{"--listen",       "127.0.0.1:0",
                                  "--write-ca",     ca_file.string(),
                                  "--app",          std::string(kApp) + ":" + kSecret,
                                  "--admin-listen", "127.0.0.1:0",
                                  "--admin-secret", kAdminSecret,
                                  "--threads",      std::to_string(options.relinkd_threads),
                                  "--time-scale",   std::to_string(options.time_scale),
                                  "--log-level",    "warn"};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    auto relinkd = Relinkd::start(options.relinkd, args, dir / ("relinkd-" + std::to_string(n) + ".log"));
    if (!relinkd) {
        result.error = "cannot start relinkd";
        return result;
    }
    // The listening line; other lines (a wrapper such as heaptrack may print some) are skipped.
    std::optional<std::string> line;
    for (const auto deadline = Clock::now() + 10s; Clock::now() < deadline;) {
        line = relinkd->read_line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
        if (!line || relink::bench::is_listening_line(*line)) {
            break;
        }
    }
    const auto ports = line ? relink::bench::parse_listening_line(*line) : std::nullopt;
    const std::uint16_t port = ports ? ports->port : std::uint16_t{0};
    const std::uint16_t admin_port = ports ? ports->admin_port : std::uint16_t{0};
    if (port == 0 || admin_port == 0) {
        result.error = "no listening line from relinkd; its stderr:\n" + relinkd->stderr_tail();
        relinkd->stop(5s);
        return result;
    }
    std::cout << "\n== " << n << " sessions: relinkd pid " << relinkd->pid() << ", " << *line << "\n";

    // Warm-up: a few sessions log in and out, so one-time initialisation is in the baseline.
    {
        Fleet warmup(options, ca_file.string(), port, kWarmupSessions, true);
        warmup.start();
        warmup.wait_logins(Clock::now() + 30s);
        warmup.wait_ended(Clock::now() + 10s);
        if (warmup.failed() != 0) {
            result.error = "warm-up login failed: " + warmup.first_error();
        }
    }
    if (!result.error.empty()) {
        relinkd->stop(5s);
        return result;
    }
    std::this_thread::sleep_for(500ms);
    result.relinkd_baseline = read_memory(relinkd->pid());
    malloc_trim(0);
    const auto client_rss_before = read_memory(0).vm_rss;
    const auto client_heap_before = heap_in_use();
    const auto relinkd_cpu_before = read_cpu_us(relinkd->pid());
    const auto client_cpu_before = self_cpu_us();
    std::cout << "baseline: relinkd VmRSS " << result.relinkd_baseline.vm_rss / 1024 << " KiB (RssAnon "
              << result.relinkd_baseline.rss_anon / 1024 << " KiB); load average " << load_average() << "\n";

    {
        Fleet fleet(options, ca_file.string(), port, n, false);
        fleet.start();
        // Bounded: a minute, or 20 ms per session if that is longer (a slow machine still finishes).
        const auto budget = std::max<std::chrono::milliseconds>(60s, std::chrono::milliseconds(20 * n));
        const bool all_done = fleet.wait_logins(Clock::now() + budget);
        result.logged_in = fleet.logged_in();
        result.failed = fleet.failed();
        const auto relinkd_cpu = read_cpu_us(relinkd->pid()) - relinkd_cpu_before;
        const auto client_cpu = self_cpu_us() - client_cpu_before;
        if (!all_done) {
            result.error = "only " + std::to_string(result.logged_in + result.failed) + " of " + std::to_string(n) +
                           " logins completed within " + std::to_string(budget.count() / 1000) + " s";
        } else if (result.failed != 0) {
            result.error = std::to_string(result.failed) + " logins failed, the first: " + fleet.first_error();
        }
        if (result.logged_in != 0) {
            result.login_seconds = std::chrono::duration<double>(fleet.last_login_at() - fleet.started_at()).count();
            result.logins_per_second = static_cast<double>(result.logged_in) / result.login_seconds;
            result.relinkd_cpu_us_per_login = static_cast<double>(relinkd_cpu) / static_cast<double>(result.logged_in);
            result.client_cpu_us_per_login = static_cast<double>(client_cpu) / static_cast<double>(result.logged_in);
        }
        std::cout << "logged in: " << result.logged_in << " of " << n << " in " << result.login_seconds << " s"
                  << (result.failed != 0
                          ? " (" + std::to_string(result.failed) + " failed: " + fleet.first_error() + ")"
                          : std::string())
                  << "\n";

        result.relinkd_after_login = read_memory(relinkd->pid());
        const auto ended_before_idle = fleet.ended();
        for (unsigned s = 0; s < options.idle_seconds && relinkd->running(); ++s) {
            std::this_thread::sleep_for(1s);
            const auto now = read_memory(relinkd->pid());
            std::cout << "  idle " << s + 1 << " s: relinkd VmRSS " << now.vm_rss / 1024 << " KiB\n";
        }
        result.relinkd_after_idle = read_memory(relinkd->pid());
        result.closed_while_idle = fleet.ended() - ended_before_idle;
        result.client_rss_bytes_per_session = per_session(read_memory(0).vm_rss, client_rss_before, n);
        result.client_heap_bytes_per_session = per_session(heap_in_use(), client_heap_before, n);
        result.bytes_per_session =
            per_session(result.relinkd_after_idle.vm_rss, result.relinkd_baseline.vm_rss, result.logged_in);
        result.anon_bytes_per_session =
            per_session(result.relinkd_after_idle.rss_anon, result.relinkd_baseline.rss_anon, result.logged_in);
        const auto metrics = read_metrics(admin_port, kAdminSecret);
        if (const auto it = metrics.find("relink_connections"); it != metrics.end()) {
            result.metric_connections = it->second;
        }
        if (const auto it = metrics.find("relink_sessions"); it != metrics.end()) {
            result.metric_sessions = it->second;
        }
        if (result.closed_while_idle != 0 && result.error.empty()) {
            result.error = std::to_string(result.closed_while_idle) + " sessions closed while idle";
        }

        // relinkd drains on SIGTERM (every client is sent close(DRAINING)) and exits within 5 s; then the
        // clients' read loops end. Both waits bounded; the fleet's destructor stops its io threads.
        result.relinkd_exit = relinkd->stop(8s);
        fleet.wait_ended(Clock::now() + 5s);
        fleet.shutdown();  // no client runs any more: the latency vectors can be read without a race
        result.handshake = percentiles(fleet.handshake_latencies());
        result.login = percentiles(fleet.login_latencies());
    }
    malloc_trim(0);
    result.ok = result.error.empty() && result.relinkd_exit == 0;
    if (result.relinkd_exit != 0 && result.error.empty()) {
        result.error = "relinkd exited with status " + std::to_string(result.relinkd_exit);
    }
    return result;
}

// ------------------------------------------------------------------------------------------- output

std::string json_escape(const std::string& s) {
    std::string out;
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buffer[8];
                    std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
                    out += buffer;
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string memory_json(const Memory& m) {
    std::ostringstream out;
    out << "{\"vm_rss\": " << m.vm_rss << ", \"rss_anon\": " << m.rss_anon << ", \"rss_file\": " << m.rss_file
        << ", \"vm_hwm\": " << m.vm_hwm << "}";
    return out.str();
}

void write_json(const std::string& file, const Options& options, const std::string& rlimit,
                const std::string& load_before, const std::vector<RunResult>& results) {
    std::ofstream out(file, std::ios::trunc);
    out << "{\n  \"benchmark\": \"relinkd-bench\",\n";
    out << "  \"machine\": {\"cores\": " << std::thread::hardware_concurrency() << ", \"load_average_before\": \""
        << load_before << "\"},\n";
    out << "  \"settings\": {\"relinkd\": \"" << json_escape(options.relinkd)
        << "\", \"relinkd_threads\": " << options.relinkd_threads << ", \"time_scale\": " << options.time_scale
        << ", \"client_threads\": " << options.threads << ", \"concurrency\": " << options.concurrency
        << ", \"channel_size\": " << options.channel_size << ", \"per_address\": " << options.per_address
        << ", \"idle_seconds\": " << options.idle_seconds << ", \"rlimit_nofile\": \"" << json_escape(rlimit)
        << "\"},\n";
    out << "  \"target_bytes_per_session\": 16384,\n  \"runs\": [\n";
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        out << "    {\"sessions\": " << r.sessions << ", \"ok\": " << (r.ok ? "true" : "false") << ", \"error\": \""
            << json_escape(r.error) << "\", \"logged_in\": " << r.logged_in << ", \"failed\": " << r.failed
            << ", \"closed_while_idle\": " << r.closed_while_idle << ",\n     \"login_seconds\": " << r.login_seconds
            << ", \"logins_per_second\": " << r.logins_per_second
            << ", \"handshake_ms\": {\"p50\": " << r.handshake.p50_ms << ", \"p99\": " << r.handshake.p99_ms
            << ", \"max\": " << r.handshake.max_ms << "}, \"handshake_and_login_ms\": {\"p50\": " << r.login.p50_ms
            << ", \"p99\": " << r.login.p99_ms << ", \"max\": " << r.login.max_ms << "},\n"
            << "     \"relinkd_cpu_us_per_login\": " << r.relinkd_cpu_us_per_login
            << ", \"client_cpu_us_per_login\": " << r.client_cpu_us_per_login
            << ",\n     \"relinkd_baseline\": " << memory_json(r.relinkd_baseline)
            << ",\n     \"relinkd_after_login\": " << memory_json(r.relinkd_after_login)
            << ",\n     \"relinkd_after_idle\": " << memory_json(r.relinkd_after_idle)
            << ",\n     \"relinkd_rss_bytes_per_idle_session\": " << r.bytes_per_session
            << ", \"relinkd_anon_bytes_per_idle_session\": " << r.anon_bytes_per_session << ", \"meets_16k_target\": "
            << (!r.ok                          ? "null"
                : r.bytes_per_session <= 16384 ? "true"
                                               : "false")
            << ",\n     \"metrics\": {\"relink_connections\": " << r.metric_connections
            << ", \"relink_sessions\": " << r.metric_sessions
            << "}, \"client_rss_bytes_per_session\": " << r.client_rss_bytes_per_session
            << ", \"client_heap_bytes_per_session\": " << r.client_heap_bytes_per_session
            << ", \"relinkd_exit\": " << r.relinkd_exit << "}" << (i + 1 < results.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
}

std::string fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

void print_table(const std::vector<RunResult>& results) {
    std::printf("\n%-9s %-9s %-9s %-17s %-17s %-12s %-12s %-11s %-10s %-10s\n", "sessions", "logged", "logins/s",
                "handshake p50/p99", "+login p50/p99", "relinkd RSS", "relinkd RSS", "B/session", "client", "client");
    std::printf("%-9s %-9s %-9s %-17s %-17s %-12s %-12s %-11s %-10s %-10s\n", "", "in", "", "ms", "ms", "base MiB",
                "idle MiB", "(relinkd)", "heap B/s", "RSS B/s");
    for (const auto& r : results) {
        std::printf("%-9zu %-9zu %-9s %-17s %-17s %-12s %-12s %-11s %-10s %-10s\n", r.sessions, r.logged_in,
                    fixed(r.logins_per_second, 0).c_str(),
                    (fixed(r.handshake.p50_ms, 1) + " / " + fixed(r.handshake.p99_ms, 1)).c_str(),
                    (fixed(r.login.p50_ms, 1) + " / " + fixed(r.login.p99_ms, 1)).c_str(),
                    fixed(static_cast<double>(r.relinkd_baseline.vm_rss) / 1048576.0, 1).c_str(),
                    fixed(static_cast<double>(r.relinkd_after_idle.vm_rss) / 1048576.0, 1).c_str(),
                    fixed(r.bytes_per_session, 0).c_str(), fixed(r.client_heap_bytes_per_session, 0).c_str(),
                    fixed(r.client_rss_bytes_per_session, 0).c_str());
    }
    for (const auto& r : results) {
        std::printf(
            "\n%zu sessions: %.0f B (%.1f KiB) of relinkd RSS per idle session (RssAnon: %.0f B): %s; "
            "relinkd %.0f us CPU per login, this process %.0f us; /metrics: %.0f connections, %.0f sessions%s",
            r.sessions, r.bytes_per_session, r.bytes_per_session / 1024.0, r.anon_bytes_per_session,
            !r.ok ? "no verdict: the run did not complete"
            : r.bytes_per_session <= 16384
                ? "meets the 16 KiB target"
                : ("misses the 16 KiB target by " + fixed(r.bytes_per_session / 16384.0, 1) + "x").c_str(),
            r.relinkd_cpu_us_per_login, r.client_cpu_us_per_login, r.metric_connections, r.metric_sessions,
            r.error.empty() ? "" : ("\n  ERROR: " + r.error).c_str());
    }
    if (results.size() >= 2) {
        const auto& a = results.front();
        const auto& b = results.back();
        if (a.ok && b.ok && b.logged_in > a.logged_in) {
            const auto delta_a = per_session(a.relinkd_after_idle.vm_rss, a.relinkd_baseline.vm_rss, 1);
            const auto delta_b = per_session(b.relinkd_after_idle.vm_rss, b.relinkd_baseline.vm_rss, 1);
            std::printf("\nmarginal cost between %zu and %zu sessions: %.0f B per session\n", a.sessions, b.sessions,
                        (delta_b - delta_a) / static_cast<double>(b.logged_in - a.logged_in));
        }
    }
    std::printf("\n");
}

/// Raises RLIMIT_NOFILE (inherited by relinkd) to cover `needed` descriptors if it can; says what it got.
std::string report_nofile(rlim_t needed) {
    relink::bench::raise_nofile(needed);
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    std::ostringstream out;
    out << "soft " << limit.rlim_cur << ", hard " << limit.rlim_max << " (needed " << needed << ")";
    std::cout << "RLIMIT_NOFILE: " << out.str() << (limit.rlim_cur < needed ? ": TOO LOW, logins will fail" : "")
              << "\n";
    return out.str();
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines show up as they happen, even in a pipe
    const auto largest = *std::max_element(options.sessions.begin(), options.sessions.end());
    const auto rlimit = report_nofile(static_cast<rlim_t>(largest + kWarmupSessions + 256));
    const auto load_before = load_average();
    std::cout << "relinkd-bench: " << options.relinkd << ", " << std::thread::hardware_concurrency()
              << " cores, load average " << load_before << "; relinkd --threads " << options.relinkd_threads
              << " --time-scale " << options.time_scale << "; " << options.threads << " client io threads, "
              << options.concurrency << " logins in flight, channels of " << options.channel_size << ", idle "
              << options.idle_seconds << " s\n";

    std::string pattern = (std::filesystem::temp_directory_path() / "relinkd-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
        std::cerr << "relinkd-bench: cannot make a temporary directory\n";
        return 1;
    }
    const std::filesystem::path dir(pattern);

    std::vector<RunResult> results;
    bool all_ok = true;
    for (const auto n : options.sessions) {
        results.push_back(run_once(options, n, dir));
        all_ok = all_ok && results.back().ok;
        if (!results.back().error.empty()) {
            std::cerr << "relinkd-bench: " << n << " sessions: " << results.back().error << "\n";
        }
    }
    print_table(results);
    if (!options.json_file.empty()) {
        write_json(options.json_file, options, rlimit, load_before, results);
        std::cout << "results written to " << options.json_file << "\n";
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return all_ok ? 0 : 1;
}
