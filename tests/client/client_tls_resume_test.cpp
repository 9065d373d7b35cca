// TLS session resumption end to end (issue 7): relink::Client keeps the TLS session (TLS 1.3 ticket) relinkd gives
// it and offers it on its next connection, so that a reconnect is a resumed handshake; relinkd counts full and
// resumed handshakes in /metrics and, with --tls-ticket-key-file, keeps its ticket keys across a restart and a
// drain onto a replacement. Also at the transport level (src/client/transport.hpp): a session is offered only to
// the target it came from, and a server that cannot resume it gets a full handshake, verified as strictly as ever.
//
// Real relinkd processes on loopback, stopped by PID; every wait bounded, no sleeps.
#include <array>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "client/client_harness.hpp"
#include "client/transport.hpp"
#include "faultproxy/fault_proxy.hpp"
#include "relink/client.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;
using faultproxy::FaultProxy;
using State = ConnectionState;

constexpr const char* kAdminSecret = "adm1n";
constexpr double kScale = 0.1;

/// relink_tls_handshakes_total{resumed="..."} from a /metrics body; nullopt when the line is missing.
std::optional<std::uint64_t> handshakes_metric(const std::string& metrics, bool resumed) {
    const std::regex line(std::string(R"((?:^|\n)relink_tls_handshakes_total\{resumed=")") +
                          (resumed ? "true" : "false") + R"("\} (\d+))");
    std::smatch match;
    if (!std::regex_search(metrics, match, line)) {
        return std::nullopt;
    }
    return std::stoull(match[1]);
}

/// The log lines of one client, kept for assertions and for failure messages.
class Lines {
public:
    void add(std::string_view line) {
        std::lock_guard lock(mutex_);
        lines_.emplace_back(line);
    }
    std::vector<std::string> all() {
        std::lock_guard lock(mutex_);
        return lines_;
    }
    std::string text() {
        std::string out;
        for (const auto& line : all()) {
            out += "  " + line + "\n";
        }
        return out;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> lines_;
};

/// Relinkd processes of one test sharing one CA file (each new one writes its certificate there, and a client
/// reads the file at every connection) and, when asked, one ticket key file.
class TlsResume : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = temp_dir();
        ca_file_ = (dir_ / "ca.pem").string();
        key_file_ = (dir_ / "keys" / "tickets.key").string();
        std::filesystem::create_directories(dir_ / "keys");
    }
    void TearDown() override {
        client_.reset();
        for (auto& server : servers_) {
            if (server) {
                server->stop();
            }
        }
        servers_.clear();
        std::filesystem::remove_all(dir_);
    }

    /// A relinkd with the admin API on `port` (0: any), writing its certificate to `ca_file` (default: the shared
    /// one). A port just freed by a killed or drained relinkd can be bound again at once (SO_REUSEADDR); a few
    /// attempts cover a slow exit.
    Relinkd* start(std::uint16_t port, std::vector<std::string> extra, std::string ca_file = {}) {
        Relinkd::LaunchOptions options;
        options.port = port;
        options.admin_secret = kAdminSecret;
        options.ca_file = ca_file.empty() ? ca_file_ : ca_file;
        options.extra = std::move(extra);
        options.extra.insert(options.extra.end(), {"--time-scale", std::to_string(kScale)});
        for (int attempt = 0; attempt < 20; ++attempt) {
            const auto dir = dir_ / ("relinkd-" + std::to_string(++launches_));
            std::filesystem::create_directories(dir);
            if (auto server = Relinkd::launch(dir, options)) {
                servers_.push_back(std::move(server));
                return servers_.back().get();
            }
            if (port == 0) {
                break;
            }
        }
        return nullptr;
    }

    std::string metrics(Relinkd& server) {
        return http_request(server.admin_port(), "GET", "/metrics", std::string("Bearer ") + kAdminSecret).body;
    }

    /// An rtm client of 127.0.0.1:`port` trusting the shared CA file, logging at debug level into lines_.
    void make_client(std::uint16_t port) {
        ClientConfig c;
        c.url = "wss://127.0.0.1:" + std::to_string(port) + "/";
        c.app_id = "app";
        c.user_id = "alice";
        c.token = mint_token("alice");
        c.tls.ca_file = ca_file_;
        c.tls.use_system_store = false;
        c.time_scale = kScale;
        c.log_level = LogLevel::debug;
        c.log_handler = [lines = lines_](LogLevel, std::string_view line) { lines->add(line); };
        client_ = std::make_unique<Client>(std::move(c));
        events_.attach(*client_);
    }

    /// Logs the client in and waits for CONNECTED.
    void log_in() {
        ASSERT_FALSE(client_->login());
        ASSERT_TRUE(events_.wait_state(State::connected, std::nullopt, 0, 10s)) << events_.dump() << lines_->text();
    }

    /// Waits for the client's next reconnect after event index `mark` (a continuity report: silent or visible)
    /// and checks it is CONNECTED.
    void expect_reconnected(std::size_t mark) {
        ASSERT_TRUE(events_.wait_index<ContinuityReport>({}, mark, 10s)) << events_.dump() << lines_->text();
        EXPECT_EQ(client_->connection_state(), State::connected) << events_.dump();
    }

    /// Stops the server at `index` (already exited, or SIGKILLed by kill_now()) and forgets it.
    void forget_server(std::size_t index) { servers_.at(index).reset(); }

    std::filesystem::path dir_;
    std::string ca_file_;
    std::string key_file_;
    std::vector<std::unique_ptr<Relinkd>> servers_;
    int launches_{0};
    std::shared_ptr<Lines> lines_ = std::make_shared<Lines>();
    Recorder events_;                 // outlives the client, whose callbacks reach it
    std::unique_ptr<Client> client_;  // destroyed first (TearDown)
};

// ============================================================================================ relink::Client

// (a) The connection is reset: the client reconnects to the same relinkd with the session of its first
// connection, and both ends count one full and one resumed handshake.
TEST_F(TlsResume, ReconnectAfterAResetIsAResumedHandshake) {
    Relinkd* server = start(0, {});
    ASSERT_NE(server, nullptr);
    FaultProxy proxy("127.0.0.1", server->port());
    make_client(proxy.port());
    ASSERT_NO_FATAL_FAILURE(log_in());
    EXPECT_EQ(client_->tls_handshakes().full, 1U);
    EXPECT_EQ(client_->tls_handshakes().resumed, 0U);

    const auto mark = events_.size();
    proxy.reset_all();
    ASSERT_NO_FATAL_FAILURE(expect_reconnected(mark));
    EXPECT_EQ(client_->tls_handshakes().full, 1U) << lines_->text();
    EXPECT_EQ(client_->tls_handshakes().resumed, 1U) << lines_->text();

    const auto text = metrics(*server);
    EXPECT_EQ(handshakes_metric(text, false), 1U) << text;
    EXPECT_EQ(handshakes_metric(text, true), 1U) << text;
    std::size_t resumed_lines = 0;
    for (const auto& line : lines_->all()) {
        resumed_lines += line.find("open:") != std::string::npos && line.find("(resumed)") != std::string::npos;
    }
    EXPECT_EQ(resumed_lines, 1U) << "the debug line of each open says full or resumed\n" << lines_->text();
}

// (b) relinkd is killed and restarted on the same port with the same ticket key file, then drained and replaced
// the same way: each reconnect is resumed, although each new relinkd has a new (self-signed) certificate. Without
// the key file the next relinkd cannot open the ticket: a full handshake, verified, and the client connects all the
// same.
TEST_F(TlsResume, RestartAndReplacementWithTheSameTicketKeyFileResumeAndWithoutItFallBackToFull) {
    Relinkd* first = start(0, {"--tls-ticket-key-file", key_file_});
    ASSERT_NE(first, nullptr);
    EXPECT_TRUE(std::filesystem::exists(key_file_)) << "relinkd creates a missing key file";
    const auto port = first->port();
    make_client(port);
    ASSERT_NO_FATAL_FAILURE(log_in());
    EXPECT_EQ(client_->tls_handshakes().full, 1U);

    // Killed (no goodbye), restarted with the same key file.
    auto mark = events_.size();
    ASSERT_TRUE(servers_.at(0)->kill_now());
    forget_server(0);
    Relinkd* second = start(port, {"--tls-ticket-key-file", key_file_});
    ASSERT_NE(second, nullptr);
    ASSERT_NO_FATAL_FAILURE(expect_reconnected(mark));
    EXPECT_EQ(client_->tls_handshakes().full, 1U) << lines_->text();
    EXPECT_EQ(client_->tls_handshakes().resumed, 1U) << lines_->text();
    auto text = metrics(*second);
    EXPECT_EQ(handshakes_metric(text, true), 1U) << text;
    EXPECT_EQ(handshakes_metric(text, false), 0U) << text;

    // Drained (SIGTERM, exit 0), replaced with the same key file.
    mark = events_.size();
    EXPECT_EQ(servers_.at(1)->stop(), 0);
    forget_server(1);
    Relinkd* third = start(port, {"--tls-ticket-key-file", key_file_});
    ASSERT_NE(third, nullptr);
    ASSERT_NO_FATAL_FAILURE(expect_reconnected(mark));
    EXPECT_EQ(client_->tls_handshakes().full, 1U) << lines_->text();
    EXPECT_EQ(client_->tls_handshakes().resumed, 2U) << lines_->text();
    text = metrics(*third);
    EXPECT_EQ(handshakes_metric(text, true), 1U) << text;

    // Restarted without the key file: OpenSSL's own random keys cannot open the ticket.
    mark = events_.size();
    ASSERT_TRUE(servers_.at(2)->kill_now());
    forget_server(2);
    Relinkd* fourth = start(port, {});
    ASSERT_NE(fourth, nullptr);
    ASSERT_NO_FATAL_FAILURE(expect_reconnected(mark));
    EXPECT_EQ(client_->tls_handshakes().full, 2U) << lines_->text();
    EXPECT_EQ(client_->tls_handshakes().resumed, 2U) << lines_->text();
    text = metrics(*fourth);
    EXPECT_EQ(handshakes_metric(text, false), 1U) << text;
    EXPECT_EQ(handshakes_metric(text, true), 0U) << text;
}

// ================================================================================================ transport

namespace net = boost::asio;

/// An io_context on one thread; transports live on its strand.
class IoThread {
public:
    IoThread() : strand_(net::make_strand(ioc_)), work_(net::make_work_guard(ioc_)), thread_([this] { ioc_.run(); }) {}
    ~IoThread() {
        work_.reset();
        ioc_.stop();
        thread_.join();
    }
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;
    [[nodiscard]] net::any_io_executor strand() const { return strand_; }

private:
    net::io_context ioc_;
    net::strand<net::io_context::executor_type> strand_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::thread thread_;
};

/// How one connection attempt ended: opened (resumed or not), or closed with a detail.
struct Attempt {
    bool opened{false};
    bool resumed{false};
    std::string detail;
};

/// Opens one transport to `url` with `cache` and `tls`, waits (bounded) until it opens or fails, then closes it.
Attempt connect_once(IoThread& io, const std::string& url, const client::TlsSettings& tls,
                     const std::shared_ptr<client::TlsSessionCache>& cache) {
    struct Shared {
        std::mutex mutex;
        std::condition_variable changed;
        std::optional<Attempt> result;
    };
    auto shared = std::make_shared<Shared>();
    auto report = [shared](Attempt attempt) {
        std::lock_guard lock(shared->mutex);
        if (!shared->result) {
            shared->result = std::move(attempt);
        }
        shared->changed.notify_all();
    };
    client::TransportOptions options;
    options.url = url;
    options.tls = tls;
    options.tls_sessions = cache;
    std::shared_ptr<client::Transport> transport;
    std::promise<void> opened;
    net::post(io.strand(), [&] {
        transport = client::Transport::open(
            io.strand(), options,
            {[report](const client::StepTimings& timings) {
                 report({true, timings.tls_resumed, {}});
             },
             {},
             [report](std::error_code, AttemptFailure, std::string detail, const client::StepTimings&) {
                 report({false, false, std::move(detail)});
             }});
        opened.set_value();
    });
    EXPECT_EQ(opened.get_future().wait_for(10s), std::future_status::ready);
    Attempt result;
    {
        std::unique_lock lock(shared->mutex);
        if (shared->changed.wait_for(lock, 15s, [&] { return shared->result.has_value(); })) {
            result = *shared->result;
        } else {
            result.detail = "no outcome within 15 s";
        }
    }
    std::promise<void> closed;
    net::post(io.strand(), [&] {
        transport->close();
        transport.reset();
        closed.set_value();
    });
    EXPECT_EQ(closed.get_future().wait_for(10s), std::future_status::ready);
    return result;
}

client::TlsSettings trusting(const std::string& ca_file) {
    client::TlsSettings tls;
    tls.ca_file = ca_file;
    tls.use_system_store = false;
    return tls;
}

// (c) A session is offered only to the host, port and trust settings it came from: the same relinkd reached under
// another name (localhost instead of 127.0.0.1), or through settings that did not verify it, gets a full handshake
// although it would resume the session (it does, under the right name).
TEST_F(TlsResume, ASessionIsOfferedOnlyToTheNameAndTrustSettingsItCameFrom) {
    Relinkd* server = start(0, {});
    ASSERT_NE(server, nullptr);
    IoThread io;
    auto cache = std::make_shared<client::TlsSessionCache>();
    const auto by_address = "wss://127.0.0.1:" + std::to_string(server->port()) + "/";
    const auto by_name = "wss://localhost:" + std::to_string(server->port()) + "/";

    auto attempt = connect_once(io, by_address, trusting(ca_file_), cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    EXPECT_FALSE(attempt.resumed);
    ASSERT_TRUE(cache->holds_session()) << "the ticket arrives before the upgrade response";
    attempt = connect_once(io, by_address, trusting(ca_file_), cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    EXPECT_TRUE(attempt.resumed) << "same target: resumed";

    attempt = connect_once(io, by_name, trusting(ca_file_), cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    EXPECT_FALSE(attempt.resumed) << "127.0.0.1's session must not be offered to localhost";
    attempt = connect_once(io, by_name, trusting(ca_file_), cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    EXPECT_TRUE(attempt.resumed) << "the server resumes localhost's own session";

    client::TlsSettings unverified;
    unverified.verify_peer = false;
    attempt = connect_once(io, by_name, unverified, cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    EXPECT_FALSE(attempt.resumed) << "a session verified with a CA file is not offered to verify_peer = false";
    attempt = connect_once(io, by_name, trusting(ca_file_), cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    EXPECT_FALSE(attempt.resumed) << "a session of an unverified connection is never offered to a verified one";

    const auto text = metrics(*server);
    EXPECT_EQ(handshakes_metric(text, true), 2U) << text;
    EXPECT_EQ(handshakes_metric(text, false), 4U) << text;
}

// (c) Another server on the same address, with a certificate the client does not trust and other ticket keys: the
// session is offered, the server cannot open it, the handshake is a full one and verification fails it as it
// would without any session; the session is dropped.
TEST_F(TlsResume, AnotherServerOnTheSameAddressCannotUseTheSessionAndFailsVerification) {
    Relinkd* trusted = start(0, {});
    ASSERT_NE(trusted, nullptr);
    const auto port = trusted->port();
    const auto url = "wss://127.0.0.1:" + std::to_string(port) + "/";
    IoThread io;
    auto cache = std::make_shared<client::TlsSessionCache>();
    auto attempt = connect_once(io, url, trusting(ca_file_), cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    ASSERT_TRUE(cache->holds_session());

    ASSERT_TRUE(servers_.at(0)->kill_now());
    forget_server(0);
    // The impostor writes its certificate elsewhere: the client still trusts only the first server's.
    Relinkd* impostor = start(port, {}, (dir_ / "impostor-ca.pem").string());
    ASSERT_NE(impostor, nullptr);
    attempt = connect_once(io, url, trusting(ca_file_), cache);
    EXPECT_FALSE(attempt.opened);
    EXPECT_NE(attempt.detail.find("tls: certificate verify failed"), std::string::npos) << attempt.detail;
    EXPECT_FALSE(cache->holds_session()) << "a session its server no longer answers for is dropped";
    const auto text = metrics(*impostor);
    EXPECT_EQ(handshakes_metric(text, true), 0U) << text;
}

// The cache drops a session when asked for another target, and clear() drops it (set_proxy() does that).
TEST_F(TlsResume, TheCacheKeepsOneSessionForOneTarget) {
    Relinkd* server = start(0, {});
    ASSERT_NE(server, nullptr);
    IoThread io;
    auto cache = std::make_shared<client::TlsSessionCache>();
    const auto url = "wss://127.0.0.1:" + std::to_string(server->port()) + "/";
    ASSERT_TRUE(connect_once(io, url, trusting(ca_file_), cache).opened);
    ASSERT_TRUE(cache->holds_session());
    EXPECT_EQ(cache->find("another target"), nullptr);
    EXPECT_FALSE(cache->holds_session()) << "looking it up for another target dropped it";
    ASSERT_TRUE(connect_once(io, url, trusting(ca_file_), cache).opened);
    ASSERT_TRUE(cache->holds_session());
    cache->clear();
    EXPECT_FALSE(cache->holds_session());
    const auto attempt = connect_once(io, url, trusting(ca_file_), cache);
    ASSERT_TRUE(attempt.opened) << attempt.detail;
    EXPECT_FALSE(attempt.resumed) << "nothing left to offer after clear()";
}

}  // namespace
}  // namespace relink::test
