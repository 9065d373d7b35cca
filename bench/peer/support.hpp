// bench/peer/support.hpp — what peer-bench's scenarios share: the stop flag (SIGINT), child processes started and
// stopped by PID (openssl, mosquitto), the mosquitto broker of a scenario (generated config and self-signed
// certificate in a temp dir, TLS on a loopback port), Paho MQTT C++ clients that record their connection events
// with steady-clock times. The result of one scenario (the JSON format shared with relink-bench) and its statistics
// are bench/common/'s.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

#include "common/clock.hpp"
#include "common/proc.hpp"
#include "common/results_json.hpp"
#include "common/stats.hpp"

namespace relink::test {
class ChildProcess;  // tests/support/child_process.hpp
}

namespace peer {

// The clock, the statistics, the result format and the /proc readers are the ones relink-bench uses (bench/common/).
using relink::bench::add_percentiles;
using relink::bench::Clock;
using relink::bench::Json;
using relink::bench::now_ns;
using relink::bench::ns_to_ms;
using relink::bench::percentile;
using relink::bench::read_memory;
using relink::bench::ScenarioResult;
using relink::bench::thin;
using namespace std::chrono_literals;

/// Set by SIGINT / SIGTERM (whose handler also SIGKILLs every registered child at once). Every wait checks it.
extern std::atomic<bool> g_stop;
/// Thrown by the waits below once g_stop is set, so a scenario unwinds and its destructors stop what it started.
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};
/// Installs the SIGINT / SIGTERM handler.
void install_signal_handlers();
/// Throws Interrupted if g_stop is set.
void check_stop();
/// Sleeps `d` in slices, throwing Interrupted when g_stop is set.
void sleep_checked(std::chrono::milliseconds d);
/// Waits until `pred()` holds (true) or `timeout` passes (false), checking every `step`; throws on g_stop.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = 5ms);

/// A child process (tests/support/child_process.hpp: every other descriptor closed, so it holds none of the bench's
/// sockets, and PR_SET_PDEATHSIG, so it dies with the bench), stopped by PID. Registered for the signal handler.
class Child {
public:
    /// Starts `args` (args[0] a path) with stdout and stderr appended to `log_file`. Throws std::runtime_error.
    Child(const std::vector<std::string>& args, const std::filesystem::path& log_file);
    ~Child();  ///< SIGKILL and a bounded wait if still running
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    [[nodiscard]] pid_t pid() const { return pid_; }
    /// Sends `sig` and waits for the exit (bounded); true when it exited.
    bool signal_and_wait(int sig, std::chrono::milliseconds timeout);
    /// True when it has exited (reaps it).
    bool exited();

private:
    std::unique_ptr<relink::test::ChildProcess> child_;
    pid_t pid_{-1};
};

/// Runs `args` to completion (bounded by `timeout`, then SIGKILL) and returns its stdout and stderr, or nullopt
/// when it could not start, timed out or exited non-zero.
std::optional<std::string> run_capture(const std::vector<std::string>& args, std::chrono::milliseconds timeout);

/// Raises RLIMIT_NOFILE as far as it goes (relink::bench::raise_nofile); returns the soft limit now in force.
std::uint64_t raise_nofile_limit();
/// A TCP port on 127.0.0.1 that was free a moment ago (tests/support's free_loopback_port); throws when there is
/// none.
std::uint16_t free_port();
/// One TCP connect to 127.0.0.1:port (at most `timeout`); true when it was accepted.
bool tcp_connect_ok(std::uint16_t port, std::chrono::milliseconds timeout);

/// A private temp dir with a self-signed certificate for 127.0.0.1 (EC P-256 like relinkd's, made by the openssl
/// command line); removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path cert() const { return path_ / "cert.pem"; }
    [[nodiscard]] std::filesystem::path key() const { return path_ / "key.pem"; }

private:
    std::filesystem::path path_;
};

/// The mosquitto settings a scenario may change; everything else is mosquitto's default.
struct BrokerConfig {
    std::optional<std::size_t> max_queued_messages;  ///< default: mosquitto's (1000)
};

/// One mosquitto on 127.0.0.1:port with TLS (the TempDir's certificate), persistence off, anonymous clients
/// allowed. start() and restart() return when the port accepts a TCP connect.
class Broker {
public:
    Broker(const TempDir& dir, BrokerConfig config, std::uint16_t port = 0);
    ~Broker();
    Broker(const Broker&) = delete;
    Broker& operator=(const Broker&) = delete;
    /// Starts mosquitto and polls TCP connects 1 ms apart (at most 10 s) until one is accepted: returns that
    /// moment (now_ns()). Throws std::runtime_error when it does not listen in time.
    std::int64_t start();
    /// SIGKILL (a crash) and a bounded wait for the exit.
    void kill_now();
    /// SIGTERM, then SIGKILL; bounded.
    void stop();
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] pid_t pid() const { return child_ ? child_->pid() : -1; }
    [[nodiscard]] std::string uri() const { return "ssl://127.0.0.1:" + std::to_string(port_); }
    /// Lines of mosquitto's log (stderr) that contain `needle`, since the first start.
    [[nodiscard]] std::size_t log_count(const std::string& needle) const;

private:
    const TempDir& dir_;
    BrokerConfig config_;
    std::uint16_t port_;
    std::filesystem::path conf_file_;
    std::filesystem::path log_file_;
    std::unique_ptr<Child> child_;
};

/// "mosquitto version 2.0.11" → "2.0.11" (from `mosquitto -h`); "unknown" when it cannot be read.
std::string mosquitto_version();
/// The mosquitto binary (PATH, then /usr/sbin).
std::string mosquitto_binary();

/// How a Paho client connects. Every field is a Paho setting; the defaults here are Paho's own defaults
/// (MQTTAsync_connectOptions_initializer), except the MQTT version (5) and TLS, which every scenario uses.
struct ClientSettings {
    int keepalive_s{60};           ///< Paho default 60 s
    int connect_timeout_s{30};     ///< Paho default 30 s
    bool auto_reconnect{false};    ///< Paho default off
    int min_retry_s{1};            ///< Paho default 1 s (used only with auto_reconnect)
    int max_retry_s{60};           ///< Paho default 60 s
    bool clean_start{true};        ///< MQTT v5 clean start (Paho's v5 initializer default: true)
    unsigned session_expiry_s{0};  ///< MQTT v5 session expiry; 0 = the session ends with the connection
    [[nodiscard]] Json to_json() const;
};

/// A connection event as Paho reported it, with the steady-clock time the callback ran.
struct Event {
    enum class Kind { connected, lost, disconnected };
    Kind kind;
    std::int64_t t_ns;
    int reason{-1};     ///< disconnected: the MQTT v5 reason code of the server's DISCONNECT
    std::string cause;  ///< connected / lost: Paho's cause string
};

/// A Paho async client (MQTT v5 over TLS, no persistence) with a log of its connection events and a count of the
/// messages it received (plus an optional message hook).
class PahoClient {
public:
    PahoClient(const std::string& uri, const std::string& client_id, const TempDir& tls);
    ~PahoClient();  ///< disconnects (bounded) and destroys the client
    PahoClient(const PahoClient&) = delete;
    PahoClient& operator=(const PahoClient&) = delete;

    /// Starts a connect; returns its token (wait on it with wait_for).
    mqtt::token_ptr connect_async(const ClientSettings& s);
    /// Connects and waits (bounded); true on success.
    bool connect(const ClientSettings& s, std::chrono::milliseconds timeout);
    /// QoS 1 subscription, bounded wait; true when granted QoS ≥ 1.
    bool subscribe(const std::string& topic, std::chrono::milliseconds timeout);
    void set_message_hook(std::function<void(const mqtt::const_message_ptr&)> hook);

    /// Events so far (a copy).
    [[nodiscard]] std::vector<Event> events() const;
    [[nodiscard]] std::size_t event_count() const;
    /// Waits (bounded) for an event of `kind` with index ≥ `from`; returns it.
    std::optional<Event> wait_event(Event::Kind kind, std::size_t from, std::chrono::milliseconds timeout);
    [[nodiscard]] std::uint64_t received() const { return received_.load(); }
    [[nodiscard]] bool is_connected() const { return client_->is_connected(); }
    mqtt::async_client& raw() { return *client_; }

private:
    void add(Event e);
    std::string tls_ca_;
    std::unique_ptr<mqtt::async_client> client_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Event> events_;
    std::atomic<std::uint64_t> received_{0};
    std::function<void(const mqtt::const_message_ptr&)> hook_;
};

/// What every scenario can be told on the command line.
struct Options {
    std::vector<std::string> scenarios;
    std::string json_file;
    std::size_t restart_runs{10};
    std::vector<std::string> restart_settings{"default", "fastest"};
    bool restart_direct{false};  ///< restart: connect to mosquitto itself, not through the proxy
    std::vector<double> outages{0, 2, 6, 12};
    std::size_t outage_runs{3};
    std::size_t detect_runs{5};
    int keepalive_s{4};  ///< detect, outage, restart, dup_login, backlog: the issue's 4 s keepalive
    double dup_seconds{20};
    std::size_t backlog_cap{100};
    std::vector<std::size_t> backlog_messages;  ///< default: cap / 2 and 2 × cap
    std::vector<std::size_t> idle_sessions{1000};
    unsigned idle_seconds{5};
    /// idle: subscribers per topic (`bench/room-N`), as relink-bench's `--channel-size` puts its idle sessions in
    /// channels of that many; 0 = no subscription
    std::size_t channel_size{100};
    std::size_t concurrency{50};  ///< connects in flight while a fleet ramps up
    std::size_t members{1000};
    std::size_t messages{100};
    double rate{50};
    std::size_t payload_bytes{64};
    bool verbose{false};
};

/// The scenarios (scenarios.cpp). Each starts and stops its own broker and proxy.
std::vector<ScenarioResult> run_restart(const Options& o);
std::vector<ScenarioResult> run_outage(const Options& o);
std::vector<ScenarioResult> run_detect(const Options& o);
std::vector<ScenarioResult> run_dup_login(const Options& o);
std::vector<ScenarioResult> run_backlog(const Options& o);
std::vector<ScenarioResult> run_idle(const Options& o);
std::vector<ScenarioResult> run_fanout(const Options& o);

/// Progress line on stderr when --verbose.
void log_verbose(const Options& o, const std::string& line);

}  // namespace peer
