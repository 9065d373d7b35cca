// Integration tests of the client transport (src/client/transport.hpp): the real Transport against the real
// relinkd over loopback TLS, started by PID on an ephemeral port, with the fault proxy (and, for HTTP CONNECT, a
// small tunnelling proxy written here) in between. Every wait is bounded; the tests wait on events (the
// handlers signal a condition variable), and assert steps, codes, order and generous time bounds, never exact ms.
//
// Each test drives its transports from an io_context on a test thread, through a strand, like the client driver.
#include "client/transport.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <istream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "faultproxy/fault_proxy.hpp"
#include "relink/error.hpp"
#include "support/connect_proxy.hpp"
#include "support/plain_http_server.hpp"
#include "support/relinkd_process.hpp"
#include "token/token.hpp"

extern char** environ;

namespace relink::client {
namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using faultproxy::FaultProxy;
using faultproxy::Mode;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kPing = R"({"v":1,"type":"ping"})";
constexpr std::string_view kPong = R"({"v":1,"type":"pong"})";

std::filesystem::path temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "relink-transport-test-XXXXXX").string();
    const char* made = mkdtemp(pattern.data());
    return made != nullptr ? std::filesystem::path(made) : std::filesystem::temp_directory_path();
}

bool starts_with(const std::string& text, std::string_view prefix) {
    return text.compare(0, prefix.size(), prefix) == 0;
}

/// A login frame for user `user` of app "app" with a fresh token (relinkd answers pings only once logged in).
std::string login_frame(const std::string& user) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    const std::string token = token::mint({"app", user, now.count() + 3600, {}}, "secret");
    return R"({"v":1,"type":"login","id":1,"app_id":"app","user_id":")" + user + R"(","token":")" + token +
           R"(","instance_id":"i1","profile":"rtm"})";
}

constexpr std::string_view kLoginOk = R"({"v":1,"type":"login_ok","id":1,)";

// ===================================================================================================== relinkd

using test::ConnectProxy;
using test::PlainHttpServer;
using test::Relinkd;

// ================================================================================================== io thread

/// An io_context run by one test thread; transports live on `strand`.
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

    /// Runs `f` on the strand and waits for it (bounded).
    void run(std::function<void()> f) {
        std::promise<void> done;
        auto result = done.get_future();
        net::post(strand_, [&] {
            f();
            done.set_value();
        });
        ASSERT_EQ(result.wait_for(10s), std::future_status::ready) << "the strand did not run the task";
    }

private:
    net::io_context ioc_;
    net::strand<net::io_context::executor_type> strand_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::thread thread_;
};

// ====================================================================================================== probe

/// One transport and everything its handlers saw. The handlers run on the strand; the test thread waits here.
class Probe {
public:
    struct State {
        std::mutex mutex;
        std::condition_variable changed;
        int opened{0};
        StepTimings timings;
        StepTimings finished;  ///< the steps finished, as on_closed reported them
        std::vector<std::string> messages;
        int closed{0};
        std::error_code error;
        std::optional<AttemptFailure> cause;
        std::string detail;
        Clock::time_point closed_at{};
        bool released{false};  ///< the transport dropped its handlers (it is gone)
        // Read and written on the strand only:
        bool in_call{false};         ///< inside open(), send() or close()
        bool close_returned{false};  ///< close() has returned
        int inline_calls{0};         ///< handlers run inside open(), send() or close()
        int after_close{0};          ///< handlers run after close() returned
    };

    explicit Probe(IoThread& io) : io_(io), state_(std::make_shared<State>()) {}
    ~Probe() { drop(); }
    Probe(const Probe&) = delete;
    Probe& operator=(const Probe&) = delete;

    /// Opens, then runs `then` (if any) in the same strand task.
    void open(TransportOptions options, const std::function<void(Transport&, State&)>& then = {}) {
        opened_at_ = Clock::now();
        io_.run([&] {
            state_->in_call = true;
            transport_ = Transport::open(io_.strand(), std::move(options), handlers());
            if (then) {
                then(*transport_, *state_);
            }
            state_->in_call = false;
        });
    }

    void send(std::string frame) {
        io_.run([&] {
            state_->in_call = true;
            transport_->send(std::move(frame));
            state_->in_call = false;
        });
    }

    void close() {
        io_.run([&] {
            state_->in_call = true;
            transport_->close();
            state_->in_call = false;
            state_->close_returned = true;
        });
    }

    /// Opens and lets go of the handle in the same strand task.
    void open_and_drop(TransportOptions options) {
        io_.run([&] {
            state_->in_call = true;
            Transport::open(io_.strand(), std::move(options), handlers()).reset();
            state_->in_call = false;
            state_->close_returned = true;
        });
    }

    /// Lets go of the handle, on the strand (destroying it closes the transport).
    void drop() {
        io_.run([&] { transport_.reset(); });
    }

    /// Runs `f` on the strand with the transport (for sequences that must not interleave with handlers).
    void with(const std::function<void(Transport&, State&)>& f) {
        io_.run([&] {
            state_->in_call = true;
            f(*transport_, *state_);
            state_->in_call = false;
        });
    }

    /// Waits for on_open (false if the transport closed instead, or on timeout).
    bool wait_open(std::chrono::milliseconds timeout = 10s) {
        return wait(
            timeout, [&] { return state_->opened > 0 || state_->closed > 0; }, [&] { return state_->opened > 0; });
    }
    bool wait_closed(std::chrono::milliseconds timeout = 10s) {
        return wait(timeout, [&] { return state_->closed > 0; });
    }
    /// Waits for `count` messages in all (false if the transport closed before, or on timeout).
    bool wait_messages(std::size_t count, std::chrono::milliseconds timeout = 10s) {
        return wait(
            timeout, [&] { return state_->messages.size() >= count || state_->closed > 0; },
            [&] { return state_->messages.size() >= count; });
    }
    /// Waits until the transport has released its handlers, i.e. the connection object is gone.
    bool wait_released(std::chrono::milliseconds timeout = 10s) {
        return wait(timeout, [&] { return state_->released; });
    }

    /// A consistent copy of what was recorded.
    template <class T>
    T read(const std::function<T(const State&)>& f) {
        std::lock_guard lock(state_->mutex);
        return f(*state_);
    }
    int opened() {
        return read<int>([](const State& s) { return s.opened; });
    }
    int closed() {
        return read<int>([](const State& s) { return s.closed; });
    }
    std::error_code error() {
        return read<std::error_code>([](const State& s) { return s.error; });
    }
    std::string detail() {
        return read<std::string>([](const State& s) { return s.detail; });
    }
    std::optional<AttemptFailure> cause() {
        return read<std::optional<AttemptFailure>>([](const State& s) { return s.cause; });
    }
    StepTimings timings() {
        return read<StepTimings>([](const State& s) { return s.timings; });
    }
    StepTimings finished() {
        return read<StepTimings>([](const State& s) { return s.finished; });
    }
    std::vector<std::string> messages() {
        return read<std::vector<std::string>>([](const State& s) { return s.messages; });
    }
    /// From open() to on_closed.
    Clock::duration time_to_close() {
        return read<Clock::duration>([&](const State& s) { return s.closed_at - opened_at_; });
    }
    int inline_calls() {
        return read<int>([](const State& s) { return s.inline_calls; });
    }
    int after_close() {
        return read<int>([](const State& s) { return s.after_close; });
    }

private:
    /// Destroyed with the handlers: tells the test that the transport let go of them.
    struct ReleaseSignal {
        std::shared_ptr<State> state;
        ~ReleaseSignal() {
            std::lock_guard lock(state->mutex);
            state->released = true;
            state->changed.notify_all();
        }
    };

    Transport::Handlers handlers() {
        auto state = state_;
        auto release = std::make_shared<ReleaseSignal>(ReleaseSignal{state_});
        auto check = [](State& s) {
            s.inline_calls += s.in_call ? 1 : 0;
            s.after_close += s.close_returned ? 1 : 0;
        };
        Transport::Handlers h;
        h.on_open = [state, release, check](const StepTimings& timings) {
            std::lock_guard lock(state->mutex);
            check(*state);
            ++state->opened;
            state->timings = timings;
            state->changed.notify_all();
        };
        h.on_message = [state, release, check](std::string frame) {
            std::lock_guard lock(state->mutex);
            check(*state);
            state->messages.push_back(std::move(frame));
            state->changed.notify_all();
        };
        h.on_closed = [state, release, check](std::error_code error, AttemptFailure cause, std::string detail,
                                              const StepTimings& finished) {
            std::lock_guard lock(state->mutex);
            check(*state);
            ++state->closed;
            state->finished = finished;
            state->error = error;
            state->cause = cause;
            state->detail = std::move(detail);
            state->closed_at = Clock::now();
            state->changed.notify_all();
        };
        return h;
    }

    /// Waits until `ready` (bounded), then returns `result` (default: `ready`), both under the lock.
    bool wait(std::chrono::milliseconds timeout, const std::function<bool()>& ready,
              const std::function<bool()>& result = {}) {
        std::unique_lock lock(state_->mutex);
        const bool done = state_->changed.wait_for(lock, timeout, ready);
        return result ? result() : done;
    }

    IoThread& io_;
    std::shared_ptr<State> state_;
    std::shared_ptr<Transport> transport_;  // touched on the strand only
    Clock::time_point opened_at_{};
};

// ========================================================================================= raw WebSocket server

/// A one-connection plaintext WebSocket server that misbehaves on purpose, for what relinkd never does: it answers
/// the upgrade and sends a binary frame (then records the close code the client sends back), or declines the
/// upgrade with 404. Its own thread; test support only.
class RawWsServer {
public:
    enum class Behaviour { binary_frame, decline };

    explicit RawWsServer(Behaviour behaviour)
        : behaviour_(behaviour), acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
            if (!ec) {
                socket_.emplace(std::move(socket));
                net::async_read_until(*socket_, request_, "\r\n\r\n",
                                      [this](boost::system::error_code read_ec, std::size_t) {
                                          if (!read_ec) {
                                              on_request();
                                          }
                                      });
            }
        });
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~RawWsServer() {
        net::post(ioc_, [this] { ioc_.stop(); });
        thread_.join();
    }
    RawWsServer(const RawWsServer&) = delete;
    RawWsServer& operator=(const RawWsServer&) = delete;

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    /// The close code the client sent (binary_frame only); nullopt if none arrived within `timeout`.
    std::optional<int> close_code(std::chrono::milliseconds timeout) {
        if (close_code_future_.wait_for(timeout) != std::future_status::ready) {
            return std::nullopt;
        }
        return close_code_future_.get();
    }

private:
    void on_request() {
        std::string request(net::buffers_begin(request_.data()), net::buffers_end(request_.data()));
        if (behaviour_ == Behaviour::decline) {
            out_ = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            net::async_write(*socket_, net::buffer(out_), [](boost::system::error_code, std::size_t) {});
            return;
        }
        static const std::regex kKey(R"(Sec-WebSocket-Key: *([A-Za-z0-9+/=]+))", std::regex::icase);
        std::smatch match;
        if (!std::regex_search(request, match, kKey)) {
            return;
        }
        // RFC 6455 4.2.2: accept = base64(SHA-1(key + GUID)).
        const std::string keyed = match[1].str() + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        unsigned char digest[SHA_DIGEST_LENGTH];
        SHA1(reinterpret_cast<const unsigned char*>(keyed.data()), keyed.size(), digest);
        unsigned char accept[64] = {};
        EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
        out_ =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: " +
            std::string(reinterpret_cast<const char*>(accept)) + "\r\n\r\n";
        out_ += {'\x82', '\x03', 'b', 'i', 'n'};  // FIN + binary opcode, unmasked, 3 bytes of payload
        net::async_write(*socket_, net::buffer(out_), [this](boost::system::error_code ec, std::size_t) {
            if (!ec) {
                read_close();
            }
        });
    }

    // The client's close frame: 0x88, 0x80 | length, a 4-byte mask, then the masked 2-byte code (and reason).
    void read_close() {
        net::async_read(*socket_, frame_, net::transfer_at_least(8), [this](boost::system::error_code ec, std::size_t) {
            const std::string bytes(net::buffers_begin(frame_.data()), net::buffers_end(frame_.data()));
            if (ec || bytes.size() < 8 || static_cast<unsigned char>(bytes[0]) != 0x88) {
                close_code_promise_.set_value(-1);
                return;
            }
            const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
            const int code = ((byte(6) ^ byte(2)) << 8) | (byte(7) ^ byte(3));
            close_code_promise_.set_value(code);
            out_ = std::string("\x88\x02", 2) + static_cast<char>(code >> 8) + static_cast<char>(code & 0xff);
            net::async_write(*socket_, net::buffer(out_), [this](boost::system::error_code, std::size_t) {
                boost::system::error_code ignored;
                socket_->shutdown(tcp::socket::shutdown_both, ignored);
            });
        });
    }

    Behaviour behaviour_;
    net::io_context ioc_;
    tcp::acceptor acceptor_;
    std::optional<tcp::socket> socket_;
    net::streambuf request_;
    net::streambuf frame_;
    std::string out_;
    std::promise<int> close_code_promise_;
    std::future<int> close_code_future_{close_code_promise_.get_future()};
    std::thread thread_;
};

// ====================================================================================================== tests

TEST(TransportUrl, ParsesTheParts) {
    auto url = parse_url("wss://example.com/rtm?v=1");
    ASSERT_TRUE(url.url) << url.error;
    EXPECT_EQ(*url.url, (Url{true, "example.com", 443, "/rtm?v=1"}));
    url = parse_url("WSS://Example.com:8443");
    ASSERT_TRUE(url.url) << url.error;
    EXPECT_EQ(*url.url, (Url{true, "Example.com", 8443, "/"}));
    url = parse_url("ws://127.0.0.1?x=1");
    ASSERT_TRUE(url.url) << url.error;
    EXPECT_EQ(*url.url, (Url{false, "127.0.0.1", 80, "/?x=1"}));
    url = parse_url("wss://[::1]:9000/a/b");
    ASSERT_TRUE(url.url) << url.error;
    EXPECT_EQ(*url.url, (Url{true, "::1", 9000, "/a/b"}));
    url = parse_url("wss://[fe80::1]");
    ASSERT_TRUE(url.url) << url.error;
    EXPECT_EQ(*url.url, (Url{true, "fe80::1", 443, "/"}));
}

TEST(TransportUrl, RefusesMalformedUrls) {
    for (const char* text :
         {"", "example.com", "http://example.com/", "wss://", "wss:///path", "wss://host:/", "wss://host:0/",
          "wss://host:65536/", "wss://host:12x/", "wss://::1/", "wss://[::1/", "wss://[nope]/", "wss://[::1]x/",
          "wss://user@host/", "wss://host/#frag", "wss://ho st/", "wss://h\xc3\xa9/", "wss://host:443:1/"}) {
        const auto parsed = parse_url(text);
        EXPECT_FALSE(parsed.url) << "'" << text << "' parsed";
        EXPECT_FALSE(parsed.error.empty()) << text;
    }
}

class TransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = temp_dir();
        server_ = Relinkd::start(dir_);
        ASSERT_TRUE(server_) << "cannot start relinkd from " << test::bin_dir();
    }

    void TearDown() override {
        if (server_) {
            EXPECT_EQ(server_->stop(), 0) << "relinkd did not exit cleanly";
            if (HasFailure()) {
                std::cerr << "---- relinkd stderr ----\n" << server_->stderr_text() << "------------------------\n";
            }
            server_.reset();
        }
        std::filesystem::remove_all(dir_);
    }

    /// Options for relinkd at `url`, trusting relinkd's CA (and nothing else).
    [[nodiscard]] TransportOptions options(std::string url) const {
        TransportOptions o;
        o.url = std::move(url);
        o.tls.ca_file = server_->ca_file();
        o.tls.use_system_store = false;
        return o;
    }

    /// The usual checks on a probe whose transport has ended: once, never inline, never after close().
    static void expect_well_behaved(Probe& probe) {
        EXPECT_LE(probe.closed(), 1);
        EXPECT_EQ(probe.inline_calls(), 0);
        EXPECT_EQ(probe.after_close(), 0);
    }

    std::filesystem::path dir_;
    std::unique_ptr<Relinkd> server_;
    IoThread io_;
};

TEST_F(TransportTest, OpensAgainstRelinkdAndTimesEachStep) {
    Probe probe(io_);
    probe.open(options(server_->url()));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    const StepTimings t = probe.timings();
    // An IP literal is not looked up; the other steps each took some time, and none took long; no proxy.
    ASSERT_TRUE(t.dns && t.tcp && t.tls && t.websocket);
    EXPECT_LT(*t.dns, Duration(50ms));
    EXPECT_FALSE(t.proxy);
    EXPECT_FALSE(t.login);  // the core times the login
    for (const Duration d : {*t.tcp, *t.tls, *t.websocket}) {
        EXPECT_GT(d, Duration::zero());
        EXPECT_LT(d, Duration(5s));
    }
    probe.close();
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.closed(), 0);
    expect_well_behaved(probe);
}

/// Heap in use by this process: every glibc arena plus mmapped blocks.
std::size_t heap_in_use() {
    const struct mallinfo2 info = ::mallinfo2();
    return info.uordblks + info.hblkhd;
}

// An open, idle connection's heap: the TLS stream holds no buffers (TlsSocketStream) and the connections share one
// SSL_CTX. With asio::ssl::stream (four 17 KiB buffers for the connection's life) and an SSL_CTX per connection
// this failed at 137 KB per connection; ~46 KB with both changes (debug build, 16 connections to relinkd).
TEST_F(TransportTest, AnIdleConnectionHoldsNoTlsBuffers) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "a sanitizer's allocator: mallinfo2() does not see its heap";
#endif
    // One connection first, kept open: OpenSSL's and Beast's one-time initialisation are not per connection.
    Probe first(io_);
    first.open(options(server_->url()));
    ASSERT_TRUE(first.wait_open()) << first.detail();
    constexpr std::size_t kConnections = 16;
    std::vector<std::unique_ptr<Probe>> probes;
    for (std::size_t i = 0; i < kConnections; ++i) {
        probes.push_back(std::make_unique<Probe>(io_));  // the probes' own heap is outside the measurement
    }
    const std::size_t before = heap_in_use();
    for (auto& probe : probes) {
        probe->open(options(server_->url()));
    }
    for (auto& probe : probes) {
        ASSERT_TRUE(probe->wait_open()) << probe->detail();
    }
    const std::size_t after = heap_in_use();
    const auto per_connection = static_cast<long long>(after - before) / static_cast<long long>(kConnections);
    std::cout << "heap per idle connection: " << per_connection << " B\n";
    EXPECT_LT(per_connection, 64 * 1024) << "an idle connection holds TLS buffers, or a context of its own";
    for (auto& probe : probes) {
        probe->close();
        EXPECT_TRUE(probe->wait_released());
        expect_well_behaved(*probe);
    }
    first.close();
    EXPECT_TRUE(first.wait_released());
}

TEST_F(TransportTest, LogsInThenPingGetsPong) {
    Probe probe(io_);
    probe.open(options(server_->url()));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    probe.send(login_frame("alice"));
    ASSERT_TRUE(probe.wait_messages(1)) << probe.detail();
    EXPECT_TRUE(starts_with(probe.messages()[0], kLoginOk)) << probe.messages()[0];
    probe.send(std::string(kPing));
    ASSERT_TRUE(probe.wait_messages(2)) << probe.detail();
    EXPECT_EQ(probe.messages()[1], kPong);
    probe.close();
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.messages().size(), 2U);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, QueuedFramesGoOutInOrder) {
    Probe probe(io_);
    probe.open(options(server_->url()));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    // Queued back to back in one strand task, written one at a time: the ping is answered only if the login went
    // out before it (relinkd ignores pings before login).
    probe.with([](Transport& transport, Probe::State&) {
        transport.send(login_frame("bob"));
        transport.send(std::string(kPing));
    });
    ASSERT_TRUE(probe.wait_messages(2)) << probe.detail();
    const auto messages = probe.messages();
    EXPECT_TRUE(starts_with(messages[0], kLoginOk)) << messages[0];
    EXPECT_EQ(messages[1], kPong);
    probe.close();
    EXPECT_TRUE(probe.wait_released());
    expect_well_behaved(probe);
}

TEST_F(TransportTest, OpensByHostNameWithSniAndLookup) {
    Probe probe(io_);
    probe.open(options(server_->url("localhost")));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    EXPECT_GT(probe.timings().dns.value_or(Duration::zero()), Duration::zero());  // a name is looked up
    probe.send(login_frame("carol"));
    ASSERT_TRUE(probe.wait_messages(1)) << probe.detail();
    EXPECT_TRUE(starts_with(probe.messages()[0], kLoginOk)) << probe.messages()[0];
    probe.close();
    EXPECT_TRUE(probe.wait_released());
    expect_well_behaved(probe);
}

TEST_F(TransportTest, WrongHostNameFailsAtTls) {
    // relinkd's certificate covers localhost, 127.0.0.1 and ::1; reach the same server as 127.0.0.2.
    faultproxy::Options proxy_options;
    proxy_options.upstream_port = server_->port();
    proxy_options.listen_host = "127.0.0.2";
    FaultProxy proxy(proxy_options);
    Probe probe(io_);
    probe.open(options("wss://127.0.0.2:" + std::to_string(proxy.port()) + "/"));
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_EQ(probe.opened(), 0);
    EXPECT_TRUE(probe.error());
    EXPECT_EQ(probe.detail(), "tls: certificate verify failed: the server's certificate is not valid for '127.0.0.2'");
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.cause(), AttemptFailure::certificate);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, UntrustedCertificateFailsAtTls) {
    Probe probe(io_);
    TransportOptions o = options(server_->url());
    o.tls.ca_file.clear();
    o.tls.use_system_store = true;  // the system's CAs do not know relinkd's self-signed certificate
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_EQ(probe.opened(), 0);
    EXPECT_TRUE(starts_with(probe.detail(), "tls: certificate verify failed: ")) << probe.detail();
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.cause(), AttemptFailure::certificate);
    expect_well_behaved(probe);
}

// The trust store is loaded at the TLS step, once TCP is connected (an attempt that fails before does no TLS work):
// a CA file that cannot be loaded fails the attempt there.
TEST_F(TransportTest, MissingCaFileFailsAtTls) {
    Probe probe(io_);
    TransportOptions o = options(server_->url());
    o.tls.ca_file = (dir_ / "no-such-ca.pem").string();
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_TRUE(starts_with(probe.detail(), "tls: cannot load the CA file")) << probe.detail();
    EXPECT_EQ(probe.cause(), AttemptFailure::tls);
    const StepTimings finished = probe.finished();
    EXPECT_TRUE(finished.tcp) << "the CA file is loaded once TCP is connected";
    EXPECT_FALSE(finished.tls);
    expect_well_behaved(probe);
}

// A holder (one per relink::Client) keeps the TLS context from one connection to the next: a reconnect loads no
// trust store, until the CA file changes on disk.
TEST_F(TransportTest, AHolderKeepsTheTlsContextUntilTheCaFileChanges) {
    auto holder = std::make_shared<TlsContextHolder>();
    TransportOptions o = options(server_->url());
    o.tls_context = holder;
    const std::uint64_t before = tls_contexts_made();
    const auto connect_and_close = [&] {
        Probe probe(io_);
        probe.open(o);
        ASSERT_TRUE(probe.wait_open()) << probe.detail();
        probe.close();
        ASSERT_TRUE(probe.wait_released());  // no connection holds the context any more; the holder does
        expect_well_behaved(probe);
    };
    connect_and_close();
    EXPECT_EQ(tls_contexts_made() - before, 1U);
    EXPECT_TRUE(holder->holds_context());
    connect_and_close();
    connect_and_close();
    EXPECT_EQ(tls_contexts_made() - before, 1U) << "a reconnect reloaded the trust store";
    // The same certificate, but another file (size, modification time): loaded again.
    std::ofstream(server_->ca_file(), std::ios::app) << "\n";
    connect_and_close();
    EXPECT_EQ(tls_contexts_made() - before, 2U) << "a CA file changed on disk was not loaded again";
    connect_and_close();
    EXPECT_EQ(tls_contexts_made() - before, 2U);
}

// verify_peer = false exists for tests against self-signed servers only: it accepts any certificate.
// wss:// to a web server that is not relink: it answers the ClientHello in plain HTTP. OpenSSL only says "wrong
// version number"; the transport recognises the HTTP answer, and says so at once.
TEST_F(TransportTest, PlainHttpServerFailsAtTlsAsHttp) {
    PlainHttpServer web;
    Probe probe(io_);
    TransportOptions o = options("wss://127.0.0.1:" + std::to_string(web.port()) + "/");
    o.tls_timeout = 10s;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed(5s));
    EXPECT_EQ(probe.opened(), 0);
    EXPECT_EQ(probe.cause(), AttemptFailure::http) << probe.detail();
    EXPECT_TRUE(starts_with(probe.detail(), "tls: 127.0.0.1:")) << probe.detail();
    EXPECT_NE(probe.detail().find("plain HTTP"), std::string::npos) << probe.detail();
    EXPECT_LT(probe.time_to_close(), 2s);  // the answer, not the timeout
    expect_well_behaved(probe);
}

// ws:// to the same server: the upgrade is refused with its HTTP status.
TEST_F(TransportTest, PlainHttpServerRefusesTheUpgradeAsHttp) {
    PlainHttpServer web;
    Probe probe(io_);
    TransportOptions o;
    o.url = "ws://127.0.0.1:" + std::to_string(web.port()) + "/";
    o.allow_plaintext = true;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed(5s));
    EXPECT_EQ(probe.cause(), AttemptFailure::http) << probe.detail();
    EXPECT_EQ(probe.detail(), "websocket: upgrade to / declined: HTTP 400 Bad Request");
    expect_well_behaved(probe);
}

TEST_F(TransportTest, VerifyPeerOffAcceptsAnyCertificate) {
    Probe probe(io_);
    TransportOptions o = options(server_->url());
    o.tls.ca_file.clear();
    o.tls.verify_peer = false;
    probe.open(o);
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    probe.close();
    EXPECT_TRUE(probe.wait_released());
    expect_well_behaved(probe);
}

TEST_F(TransportTest, PlaintextIsRefusedUnlessAllowed) {
    Probe probe(io_);
    probe.open(options("ws://127.0.0.1:" + std::to_string(server_->port()) + "/"));
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_EQ(probe.error(), make_error_code(errc::invalid_argument));
    EXPECT_TRUE(starts_with(probe.detail(), "url: ws://")) << probe.detail();
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.cause(), AttemptFailure::config);
    expect_well_behaved(probe);  // reported once, and not inside open()
}

TEST_F(TransportTest, MalformedUrlIsReportedAsynchronously) {
    Probe probe(io_);
    probe.open(options("wss://[::1/"));
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_EQ(probe.error(), make_error_code(errc::invalid_argument));
    EXPECT_TRUE(starts_with(probe.detail(), "url: ")) << probe.detail();
    EXPECT_EQ(probe.cause(), AttemptFailure::config);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, RefusedConnectionFailsFastAtTcp) {
    faultproxy::Options proxy_options;
    proxy_options.upstream_port = server_->port();
    proxy_options.initial_mode = Mode::refuse;
    FaultProxy proxy(proxy_options);
    Probe probe(io_);
    TransportOptions o = options("wss://127.0.0.1:" + std::to_string(proxy.port()) + "/");
    o.connect_timeout = 10s;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed(5s));
    EXPECT_EQ(probe.error(), std::errc::connection_refused);
    EXPECT_TRUE(starts_with(probe.detail(), "tcp: cannot connect to 127.0.0.1:")) << probe.detail();
    EXPECT_LT(probe.time_to_close(), 2s);  // refused: no waiting for the timeout
    EXPECT_EQ(probe.cause(), AttemptFailure::refused);
    expect_well_behaved(probe);
}

// An attempt refused at TCP does no TLS work: no context is made (no trust store loaded) before TCP is connected.
TEST_F(TransportTest, ARefusedConnectionMakesNoTlsContext) {
    faultproxy::Options proxy_options;
    proxy_options.upstream_port = server_->port();
    proxy_options.initial_mode = Mode::refuse;
    FaultProxy proxy(proxy_options);
    const std::uint64_t before = tls_contexts_made();
    for (int attempt = 0; attempt < 3; ++attempt) {
        Probe probe(io_);
        probe.open(options("wss://127.0.0.1:" + std::to_string(proxy.port()) + "/"));
        ASSERT_TRUE(probe.wait_closed(5s));
        EXPECT_EQ(probe.cause(), AttemptFailure::refused) << probe.detail();
        ASSERT_TRUE(probe.wait_released());
    }
    EXPECT_EQ(tls_contexts_made(), before);
}

TEST_F(TransportTest, BlackholedTlsHandshakeTimesOut) {
    faultproxy::Options proxy_options;
    proxy_options.upstream_port = server_->port();
    proxy_options.initial_mode = Mode::blackhole;  // TCP connects; nothing comes back
    FaultProxy proxy(proxy_options);
    Probe probe(io_);
    TransportOptions o = options("wss://127.0.0.1:" + std::to_string(proxy.port()) + "/");
    o.tls_timeout = 500ms;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed(5s));
    EXPECT_EQ(probe.error(), std::errc::timed_out);
    EXPECT_TRUE(starts_with(probe.detail(), "tls: no handshake with 127.0.0.1:")) << probe.detail();
    EXPECT_NE(probe.detail().find("within 500 ms"), std::string::npos) << probe.detail();
    EXPECT_GE(probe.time_to_close(), 450ms);
    EXPECT_LT(probe.time_to_close(), 500ms + 3s);
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.cause(), AttemptFailure::timeout);
    expect_well_behaved(probe);
}

// The client offers forward-secret AEAD suites only: read from its ClientHello by a listener that answers nothing.
TEST_F(TransportTest, TheClientHelloOffersOnlyForwardSecretAeadSuites) {
    net::io_context listener_io;
    tcp::acceptor acceptor(listener_io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    std::promise<std::vector<std::uint8_t>> hello_promise;
    auto hello_future = hello_promise.get_future();
    std::thread reader([&] {
        // Bounded: the client gives up the handshake after its TLS timeout and closes, which ends the read.
        std::vector<std::uint8_t> bytes;
        boost::system::error_code ec;
        tcp::socket socket = acceptor.accept(ec);
        std::array<std::uint8_t, 4096> chunk{};
        while (!ec && bytes.size() < 16384) {
            const std::size_t got = socket.read_some(net::buffer(chunk), ec);
            bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(got));
            if (bytes.size() >= 5 && bytes.size() >= 5U + ((std::size_t{bytes[3]} << 8U) | bytes[4])) {
                break;  // the first record is complete
            }
        }
        hello_promise.set_value(std::move(bytes));
    });
    Probe probe(io_);
    TransportOptions o = options("wss://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/");
    o.tls_timeout = 1s;
    probe.open(o);
    const bool read = hello_future.wait_for(10s) == std::future_status::ready;
    const bool closed = probe.wait_closed(10s);
    if (!read) {  // the client never connected: a connection of our own, closed at once, ends the thread's accept
        tcp::socket nudge(listener_io);
        boost::system::error_code ignored;
        nudge.connect(acceptor.local_endpoint(), ignored);
    }
    reader.join();  // before any assertion returns: a joinable thread's destructor would end the process
    ASSERT_TRUE(closed);
    ASSERT_TRUE(read);
    const std::vector<std::uint8_t> hello = hello_future.get();

    // record header (5), handshake header (4), client_version (2), random (32), session id, cipher suites
    ASSERT_GE(hello.size(), 5U + 4 + 2 + 32 + 1);
    ASSERT_EQ(hello[0], 0x16) << "a TLS handshake record";
    ASSERT_EQ(hello[5], 0x01) << "a ClientHello";
    std::size_t at = 5 + 4 + 2 + 32;
    at += 1 + hello[at];  // the session id
    ASSERT_GE(hello.size(), at + 2);
    const std::size_t suites_bytes = (std::size_t{hello[at]} << 8U) | hello[at + 1];
    at += 2;
    ASSERT_GE(hello.size(), at + suites_bytes);
    std::vector<std::uint16_t> offered;
    for (std::size_t i = 0; i + 1 < suites_bytes; i += 2) {
        offered.push_back(static_cast<std::uint16_t>((hello[at + i] << 8U) | hello[at + i + 1]));
    }
    const std::vector<std::uint16_t> allowed = {
        0x1301, 0x1302, 0x1303,          // TLS 1.3: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305
        0xc02b, 0xc02f, 0xc02c, 0xc030,  // ECDHE-{ECDSA,RSA}-AES{128,256}-GCM
        0xcca9, 0xcca8,                  // ECDHE-{ECDSA,RSA}-CHACHA20-POLY1305
        0x00ff,                          // the renegotiation-info signalling value, not a suite
    };
    for (const std::uint16_t suite : offered) {
        EXPECT_NE(std::find(allowed.begin(), allowed.end(), suite), allowed.end())
            << "offered suite 0x" << std::hex << suite;
    }
    EXPECT_GE(offered.size(), 9U);  // all of them: TLS 1.3's three and the six TLS 1.2 ones
}

TEST_F(TransportTest, BlackholedUpgradeTimesOut) {
    faultproxy::Options proxy_options;
    proxy_options.upstream_port = server_->port();
    proxy_options.initial_mode = Mode::blackhole;
    FaultProxy proxy(proxy_options);
    Probe probe(io_);
    TransportOptions o = options("ws://127.0.0.1:" + std::to_string(proxy.port()) + "/");
    o.allow_plaintext = true;  // no TLS step: the upgrade is what hangs
    o.websocket_timeout = 500ms;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed(5s));
    EXPECT_EQ(probe.error(), std::errc::timed_out);
    EXPECT_TRUE(starts_with(probe.detail(), "websocket: no upgrade from 127.0.0.1:")) << probe.detail();
    EXPECT_GE(probe.time_to_close(), 450ms);
    EXPECT_LT(probe.time_to_close(), 500ms + 3s);
    EXPECT_EQ(probe.cause(), AttemptFailure::timeout);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, UnresolvableNameFailsAtDns) {
    Probe probe(io_);
    TransportOptions o = options("wss://nonexistent.invalid/");  // .invalid never resolves (RFC 6761)
    o.dns_timeout = 2s;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed(2s + 3s));  // an error, or the DNS timeout if the resolver hangs
    EXPECT_TRUE(starts_with(probe.detail(), "dns: ")) << probe.detail();
    EXPECT_NE(probe.detail().find("nonexistent.invalid"), std::string::npos) << probe.detail();
    EXPECT_EQ(probe.cause(), AttemptFailure::dns);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, ProxyResetGivesOnClosedOnce) {
    FaultProxy proxy("127.0.0.1", server_->port());
    Probe probe(io_);
    probe.open(options("wss://127.0.0.1:" + std::to_string(proxy.port()) + "/"));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    proxy.reset_all();
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_TRUE(probe.error());
    EXPECT_TRUE(starts_with(probe.detail(), "read: ")) << probe.detail();
    probe.send(std::string(kPing));  // ignored: not open any more
    probe.close();                   // harmless after on_closed
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.closed(), 1);
    EXPECT_TRUE(probe.messages().empty());
    EXPECT_EQ(probe.cause(), AttemptFailure::closed);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, ServerStopGivesOnClosedOnce) {
    Probe probe(io_);
    probe.open(options(server_->url()));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    probe.send(login_frame("grace"));
    ASSERT_TRUE(probe.wait_messages(1)) << probe.detail();
    EXPECT_EQ(server_->stop(), 0);
    server_.reset();
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_TRUE(probe.error());
    EXPECT_TRUE(starts_with(probe.detail(), "read: ")) << probe.detail();
    // The server's last word (its `close` message) came before on_closed.
    const auto messages = probe.messages();
    EXPECT_TRUE(starts_with(messages.back(), R"({"v":1,"type":"close","reason":"draining")")) << messages.back();
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.closed(), 1);
    EXPECT_EQ(probe.cause(), AttemptFailure::closed);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, NoHandlerRunsAfterClose) {
    Probe probe(io_);
    probe.open(options(server_->url()));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    // The login goes out before the close frame, so an answer is on its way when close() returns: not delivered.
    probe.with([](Transport& transport, Probe::State& state) {
        transport.send(login_frame("frank"));
        transport.close();
        state.close_returned = true;
        transport.send(std::string(kPing));  // ignored
        transport.close();                   // harmless
    });
    EXPECT_TRUE(probe.wait_released(5s + 2s));  // bounded by the close timer (websocket_timeout)
    EXPECT_TRUE(probe.messages().empty());
    EXPECT_EQ(probe.closed(), 0);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, CloseWhileConnectingEndsAtOnce) {
    faultproxy::Options proxy_options;
    proxy_options.upstream_port = server_->port();
    proxy_options.initial_mode = Mode::blackhole;
    FaultProxy proxy(proxy_options);
    Probe probe(io_);
    TransportOptions o = options("wss://127.0.0.1:" + std::to_string(proxy.port()) + "/");
    o.tls_timeout = 30s;
    probe.open(o);
    // The proxy has no event to wait on: look at its counter every few ms (bounded) until the TCP connect landed.
    const auto deadline = Clock::now() + 5s;
    while (proxy.stats().connections_accepted == 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_EQ(proxy.stats().connections_accepted, 1U);
    probe.close();
    EXPECT_TRUE(probe.wait_released(2s));  // far less than the 30 s TLS timeout
    EXPECT_EQ(probe.closed(), 0);
    EXPECT_EQ(probe.opened(), 0);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, CloseRightAfterOpenRunsNoHandler) {
    const auto close_at_once = [](Transport& transport, Probe::State& state) {
        transport.close();
        state.close_returned = true;
    };
    Probe refused(io_);
    refused.open(options("wss://[::1/"), close_at_once);  // its on_closed is already posted: it must not run
    Probe valid(io_);
    valid.open(options(server_->url()), close_at_once);
    Probe dropped(io_);  // destroying the handle is a close() too
    dropped.open_and_drop(options("ws://127.0.0.1:1/"));
    for (Probe* probe : {&refused, &valid, &dropped}) {
        EXPECT_TRUE(probe->wait_released());
        EXPECT_EQ(probe->closed(), 0);
        EXPECT_EQ(probe->opened(), 0);
        expect_well_behaved(*probe);
    }
}

TEST_F(TransportTest, DroppingTheHandleCloses) {
    Probe probe(io_);
    probe.open(options(server_->url()));
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    probe.drop();
    EXPECT_TRUE(probe.wait_released(5s + 2s));
    EXPECT_EQ(probe.closed(), 0);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, PlaintextWhenAllowed) {
    const auto dir = temp_dir();
    auto plain = Relinkd::start(dir, {"--insecure-plaintext"});
    ASSERT_TRUE(plain);
    Probe probe(io_);
    TransportOptions o;
    o.url = "ws://127.0.0.1:" + std::to_string(plain->port()) + "/";
    o.allow_plaintext = true;
    probe.open(o);
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    EXPECT_FALSE(probe.timings().tls);  // ws:// has no TLS step
    probe.send(login_frame("dave"));
    probe.send(std::string(kPing));
    ASSERT_TRUE(probe.wait_messages(2)) << probe.detail();
    EXPECT_TRUE(starts_with(probe.messages()[0], kLoginOk)) << probe.messages()[0];
    EXPECT_EQ(probe.messages()[1], kPong);
    probe.close();
    EXPECT_TRUE(probe.wait_released());
    expect_well_behaved(probe);
    EXPECT_EQ(plain->stop(), 0);
    std::filesystem::remove_all(dir);
}

TEST_F(TransportTest, OpensThroughHttpConnectProxy) {
    ConnectProxy proxy(200);
    Probe probe(io_);
    TransportOptions o = options(server_->url());
    o.proxy = ProxySettings{"127.0.0.1", proxy.port()};
    probe.open(o);
    ASSERT_TRUE(probe.wait_open()) << probe.detail();
    EXPECT_GT(probe.timings().proxy.value_or(Duration::zero()), Duration::zero());
    EXPECT_EQ(proxy.requests(),
              std::vector<std::string>{"CONNECT 127.0.0.1:" + std::to_string(server_->port()) + " HTTP/1.1"});
    probe.send(login_frame("erin"));
    probe.send(std::string(kPing));
    ASSERT_TRUE(probe.wait_messages(2)) << probe.detail();
    EXPECT_TRUE(starts_with(probe.messages()[0], kLoginOk)) << probe.messages()[0];
    EXPECT_EQ(probe.messages()[1], kPong);
    probe.close();
    EXPECT_TRUE(probe.wait_released());
    expect_well_behaved(probe);
}

TEST_F(TransportTest, ProxyRefusalFailsAtProxy) {
    ConnectProxy proxy(403);
    Probe probe(io_);
    TransportOptions o = options(server_->url());
    o.proxy = ProxySettings{"127.0.0.1", proxy.port()};
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_EQ(probe.error(), std::errc::connection_refused);
    EXPECT_TRUE(starts_with(probe.detail(), "proxy: CONNECT 127.0.0.1:")) << probe.detail();
    EXPECT_NE(probe.detail().find("403"), std::string::npos) << probe.detail();
    EXPECT_EQ(probe.cause(), AttemptFailure::proxy);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, SilentProxyTimesOut) {
    faultproxy::Options proxy_options;
    proxy_options.upstream_port = server_->port();
    proxy_options.initial_mode = Mode::blackhole;  // accepts, never answers the CONNECT
    FaultProxy silent(proxy_options);
    Probe probe(io_);
    TransportOptions o = options(server_->url());
    o.proxy = ProxySettings{"127.0.0.1", silent.port()};
    o.connect_timeout = 500ms;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed(5s));
    EXPECT_EQ(probe.error(), std::errc::timed_out);
    EXPECT_TRUE(starts_with(probe.detail(), "proxy: no answer to CONNECT")) << probe.detail();
    EXPECT_LT(probe.time_to_close(), 500ms + 3s);
    EXPECT_EQ(probe.cause(), AttemptFailure::proxy);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, BinaryFrameClosesWithAnError) {
    RawWsServer server(RawWsServer::Behaviour::binary_frame);
    Probe probe(io_);
    TransportOptions o;
    o.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/";
    o.allow_plaintext = true;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_EQ(probe.opened(), 1);
    EXPECT_TRUE(probe.messages().empty());
    EXPECT_EQ(probe.error(), make_error_code(errc::protocol_error));
    EXPECT_EQ(probe.detail(), "read: binary frame from the server");
    EXPECT_EQ(server.close_code(5s), 1003);  // "unsupported data", sent politely
    EXPECT_TRUE(probe.wait_released());
    EXPECT_EQ(probe.cause(), AttemptFailure::protocol);
    expect_well_behaved(probe);
}

TEST_F(TransportTest, DeclinedUpgradeFailsAtWebsocket) {
    RawWsServer server(RawWsServer::Behaviour::decline);
    Probe probe(io_);
    TransportOptions o;
    o.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/rtm?v=1";
    o.allow_plaintext = true;
    probe.open(o);
    ASSERT_TRUE(probe.wait_closed());
    EXPECT_EQ(probe.opened(), 0);
    EXPECT_EQ(probe.detail(), "websocket: upgrade to /rtm?v=1 declined: HTTP 404 Not Found");
    EXPECT_EQ(probe.cause(), AttemptFailure::http);
    expect_well_behaved(probe);
}

}  // namespace
}  // namespace relink::client
