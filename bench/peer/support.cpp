// bench/peer/support.cpp — peer-bench's shared pieces (support.hpp): the stop flag and its signal handler, child
// processes by PID, the scenario's mosquitto with its generated config and certificate, Paho clients that log
// their connection events.
#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include "support/child_process.hpp"
#include "support/redis_process.hpp"  // free_loopback_port

namespace peer {

std::atomic<bool> g_stop{false};

namespace {

extern "C" void on_signal(int) {
    if (g_stop.exchange(true)) {
        _exit(130);  // a second Ctrl-C: the children are already dead, leave now
    }
    relink::test::ChildProcess::kill_all();  // no broker survives us, whatever the unwinding does next
}

}  // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a write to a socket the broker reset must be an error, not the end of the bench
}

void check_stop() {
    if (g_stop.load()) {
        throw Interrupted();
    }
}

void sleep_checked(std::chrono::milliseconds d) {
    const auto deadline = Clock::now() + d;
    for (;;) {
        check_stop();
        const auto left = deadline - Clock::now();
        if (left <= 0ms) {
            return;
        }
        std::this_thread::sleep_for(std::min<Clock::duration>(left, 20ms));
    }
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout, std::chrono::milliseconds step) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) {
            return true;
        }
        check_stop();
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(step);
    }
}

// ---------------------------------------------------------------------------------------------------------------
namespace {

/// `args` with stdin from /dev/null and stdout + stderr to `log_file` (appended) or, without one, to a pipe. The
/// child holds none of the bench's descriptors (a dead broker's clients must see their connections end) and dies
/// with the bench even on SIGKILL (the signal handler kills it too: ChildProcess::kill_all()); nullptr when it cannot
/// be started.
std::unique_ptr<relink::test::ChildProcess> start_child(const std::vector<std::string>& args,
                                                        const std::filesystem::path& log_file) {
    relink::test::ChildSpec spec;
    spec.argv = args;
    if (!log_file.empty()) {
        spec.stdout_pipe = false;
        spec.stdout_file = log_file;
        spec.append = true;
    }
    spec.die_with_parent = true;
    return relink::test::ChildProcess::start(std::move(spec));
}

}  // namespace

Child::Child(const std::vector<std::string>& args, const std::filesystem::path& log_file)
    : child_(start_child(args, log_file)) {
    if (!child_) {
        throw std::runtime_error("cannot start " + args.front() + " (log " + log_file.string() + ")");
    }
    pid_ = child_->pid();
}

Child::~Child() = default;  // the child process: SIGKILL and a bounded wait if still running

bool Child::signal_and_wait(int sig, std::chrono::milliseconds timeout) {
    child_->signal(sig);
    return child_->wait_exit(timeout).has_value();
}

bool Child::exited() {
    return !child_->running();
}

std::optional<std::string> run_capture(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    auto child = start_child(args, {});
    if (!child) {
        return std::nullopt;
    }
    const auto deadline = Clock::now() + timeout;
    const bool eof = child->read_to_end(timeout);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const auto status = child->wait_exit(eof ? std::max<std::chrono::milliseconds>(left, 100ms) : 0ms);
    std::string out = child->output();
    child.reset();  // SIGKILL and reap if it is still running
    if (!status || *status < 0) {
        return std::nullopt;  // timed out, or ended by a signal
    }
    if (*status != 0) {
        out = "exit " + std::to_string(*status) + ": " + out;
    }
    return out;
}

std::uint64_t raise_nofile_limit() {
    return relink::bench::raise_nofile(std::numeric_limits<std::uint64_t>::max());
}

std::uint16_t free_port() {
    const auto port = relink::test::free_loopback_port();
    if (port == 0) {
        throw std::runtime_error("no free port on 127.0.0.1");
    }
    return port;
}

bool tcp_connect_ok(std::uint16_t port, std::chrono::milliseconds timeout) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        if (poll(&pfd, 1, static_cast<int>(timeout.count())) > 0) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            ok = err == 0;
        }
    }
    ::close(fd);
    return ok;
}

// ---------------------------------------------------------------------------------------------------------------
TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "peer-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
        throw std::runtime_error("mkdtemp failed");
    }
    path_ = tmpl;
    // The same kind of certificate relinkd generates for itself (EC P-256, SAN localhost and 127.0.0.1), so the
    // TLS handshakes cost the same on both stacks.
    const auto out =
        run_capture({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", key().string(), "-out", cert().string(), "-days", "2", "-subj",
                     "/CN=127.0.0.1", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"},
                    30s);
    if (!out || !std::filesystem::exists(cert()) || out->rfind("exit ", 0) == 0) {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
        throw std::runtime_error("openssl could not make a certificate: " + out.value_or("(did not run)"));
    }
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

// ---------------------------------------------------------------------------------------------------------------
std::string mosquitto_binary() {
    for (const char* candidate : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"}) {
        if (access(candidate, X_OK) == 0) {
            return candidate;
        }
    }
    throw std::runtime_error("mosquitto not found (run bench/peer/setup.sh)");
}

std::string mosquitto_version() {
    const auto out = run_capture({mosquitto_binary(), "-h"}, 5s);
    if (out) {
        const auto at = out->find("mosquitto version ");
        if (at != std::string::npos) {
            const auto start = at + std::strlen("mosquitto version ");
            return out->substr(start, out->find_first_of("\r\n", start) - start);
        }
    }
    return "unknown";
}

Broker::Broker(const TempDir& dir, BrokerConfig config, std::uint16_t port)
    : dir_(dir), config_(config), port_(port != 0 ? port : free_port()) {
    conf_file_ = dir_.path() / ("mosquitto-" + std::to_string(port_) + ".conf");
    log_file_ = dir_.path() / ("mosquitto-" + std::to_string(port_) + ".log");
    std::ofstream conf(conf_file_);
    // Only what the bench needs differs from mosquitto's defaults: a TLS listener on loopback, no persistence (a
    // restart starts empty, like relinkd), anonymous clients (the peer has no token), the scenario's queue cap.
    conf << "per_listener_settings false\n"
         << "allow_anonymous true\n"
         << "persistence false\n"
         << "listener " << port_ << " 127.0.0.1\n"
         << "certfile " << dir_.cert().string() << "\n"
         << "keyfile " << dir_.key().string() << "\n"
         << "log_dest stderr\n"
         << "log_type error\nlog_type warning\nlog_type notice\n";
    if (config_.max_queued_messages) {
        conf << "max_queued_messages " << *config_.max_queued_messages << "\n";
    }
    if (geteuid() == 0) {
        // As root mosquitto drops to user `mosquitto`, which could not read the bench's private key; "root" keeps
        // it (the bench's own child, on loopback only).
        conf << "user root\n";
    }
}

Broker::~Broker() {
    stop();
}

std::int64_t Broker::start() {
    child_.reset();
    child_ =
        std::make_unique<Child>(std::vector<std::string>{mosquitto_binary(), "-c", conf_file_.string()}, log_file_);
    const auto deadline = Clock::now() + 10s;
    for (;;) {
        check_stop();
        if (tcp_connect_ok(port_, 100ms)) {
            return now_ns();
        }
        if (child_->exited() || Clock::now() >= deadline) {
            std::ifstream in(log_file_);
            std::string log{std::istreambuf_iterator<char>(in), {}};
            child_.reset();
            throw std::runtime_error("mosquitto did not listen on port " + std::to_string(port_) + ": " + log);
        }
        std::this_thread::sleep_for(1ms);  // connects 1 ms apart: "listening again" within about a millisecond
    }
}

void Broker::kill_now() {
    if (child_) {
        child_->signal_and_wait(SIGKILL, 5s);
        child_.reset();
    }
}

void Broker::stop() {
    if (child_) {
        if (!child_->signal_and_wait(SIGTERM, 5s)) {
            child_->signal_and_wait(SIGKILL, 5s);
        }
        child_.reset();
    }
}

std::size_t Broker::log_count(const std::string& needle) const {
    std::ifstream in(log_file_);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        if (line.find(needle) != std::string::npos) {
            ++n;
        }
    }
    return n;
}

// ---------------------------------------------------------------------------------------------------------------
Json ClientSettings::to_json() const {
    Json j;
    j["mqtt_version"] = "5";
    j["tls"] = "TLS (OpenSSL default, 1.3), server certificate and host name verified";
    j["keepalive_s"] = keepalive_s;
    j["connect_timeout_s"] = connect_timeout_s;
    j["automatic_reconnect"] = auto_reconnect;
    if (auto_reconnect) {
        j["min_retry_interval_s"] = min_retry_s;
        j["max_retry_interval_s"] = max_retry_s;
    }
    j["clean_start"] = clean_start;
    j["session_expiry_interval_s"] = session_expiry_s;
    j["persistence"] = "none";
    return j;
}

PahoClient::PahoClient(const std::string& uri, const std::string& client_id, const TempDir& tls)
    : tls_ca_(tls.cert().string()) {
    // MQTT v5 (create options): the only version whose server DISCONNECT carries a reason code (0x8E session
    // taken over), which is what dup_login asks about. No persistence: nothing on disk, like relink's client.
    client_ = std::make_unique<mqtt::async_client>(uri, client_id, mqtt::create_options(MQTTVERSION_5), nullptr);
    client_->set_connected_handler([this](const std::string& cause) {
        add(Event{Event::Kind::connected, now_ns(), -1, cause});
    });
    client_->set_connection_lost_handler([this](const std::string& cause) {
        add(Event{Event::Kind::lost, now_ns(), -1, cause});
    });
    client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode reason) {
        add(Event{Event::Kind::disconnected, now_ns(), static_cast<int>(reason), {}});
    });
    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
        received_.fetch_add(1);
        if (hook_) {
            hook_(msg);
        }
    });
}

PahoClient::~PahoClient() {
    try {
        if (client_->is_connected()) {
            client_->disconnect(0)->wait_for(std::chrono::milliseconds(2000));
        }
    } catch (const std::exception&) {  // already gone: destroying is all that is left
    }
    client_.reset();
}

mqtt::token_ptr PahoClient::connect_async(const ClientSettings& s) {
    auto ssl = mqtt::ssl_options_builder()
                   .trust_store(tls_ca_)
                   .enable_server_cert_auth(true)
                   .verify(true)  // host name check too, as relink's client does
                   .finalize();
    mqtt::connect_options_builder b;
    b.mqtt_version(MQTTVERSION_5)  // first: it resets the clean flags of the other version
        .clean_start(s.clean_start)
        .keep_alive_interval(std::chrono::seconds(s.keepalive_s))
        .connect_timeout(std::chrono::seconds(s.connect_timeout_s))
        .ssl(std::move(ssl));
    if (s.auto_reconnect) {
        b.automatic_reconnect(std::chrono::seconds(s.min_retry_s), std::chrono::seconds(s.max_retry_s));
    }
    if (s.session_expiry_s > 0) {
        b.properties(mqtt::properties{
            mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int>(s.session_expiry_s))});
    }
    return client_->connect(b.finalize());
}

bool PahoClient::connect(const ClientSettings& s, std::chrono::milliseconds timeout) {
    try {
        auto tok = connect_async(s);
        return tok->wait_for(timeout) && client_->is_connected();
    } catch (const mqtt::exception&) {
        return false;
    }
}

bool PahoClient::subscribe(const std::string& topic, std::chrono::milliseconds timeout) {
    try {
        auto tok = client_->subscribe(topic, 1);
        if (!tok->wait_for(timeout)) {
            return false;
        }
        const auto codes = tok->get_subscribe_response().get_reason_codes();
        return !codes.empty() && static_cast<int>(codes.front()) == 1;
    } catch (const mqtt::exception&) {
        return false;
    }
}

void PahoClient::set_message_hook(std::function<void(const mqtt::const_message_ptr&)> hook) {
    hook_ = std::move(hook);
}

void PahoClient::add(Event e) {
    {
        std::lock_guard lock(mutex_);
        events_.push_back(std::move(e));
    }
    cv_.notify_all();
}

std::vector<Event> PahoClient::events() const {
    std::lock_guard lock(mutex_);
    return events_;
}

std::size_t PahoClient::event_count() const {
    std::lock_guard lock(mutex_);
    return events_.size();
}

std::optional<Event> PahoClient::wait_event(Event::Kind kind, std::size_t from, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
        for (std::size_t i = from; i < events_.size(); ++i) {
            if (events_[i].kind == kind) {
                return events_[i];
            }
        }
        if (g_stop.load()) {
            throw Interrupted();
        }
        if (Clock::now() >= deadline) {
            return std::nullopt;
        }
        cv_.wait_for(lock, 20ms);  // a slice, so g_stop is seen
    }
}

// ---------------------------------------------------------------------------------------------------------------
void log_verbose(const Options& o, const std::string& line) {
    if (o.verbose) {
        std::cerr << "peer-bench: " << line << std::endl;
    }
}

}  // namespace peer
