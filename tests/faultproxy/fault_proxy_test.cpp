// tests/faultproxy/fault_proxy_test.cpp — the fault proxy over real loopback sockets.
//
// A tiny echo server (a thread per connection, plain POSIX sockets so this file does not compile Asio) stands
// behind the proxy; the tests connect through the proxy with a non-blocking POSIX client whose every wait is
// bounded by poll(). Timings are compressed; time assertions are lower bounds (plus a large safety bound), never
// exact. Where no event can be awaited (a counter in stats()), the tests poll with a deadline.
#include "faultproxy/fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace relink::faultproxy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// How long a test waits for something that must happen (a generous safety bound, never expected to be reached).
constexpr milliseconds kPromptly = 5s;
/// How long a test watches for something that must *not* happen (silence, no EOF).
constexpr milliseconds kQuietWindow = 300ms;

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(left);
}

/// Polls `condition` every 2 ms until it holds or `timeout` passes (for stats counters, which have no event).
bool eventually(const std::function<bool()>& condition, milliseconds timeout = kPromptly) {
    const auto deadline = Clock::now() + timeout;
    while (!condition()) {
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

/// An owned file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    [[nodiscard]] int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    int fd_{-1};
};

// ---------------------------------------------------------------------------------------------------------------
/// What a bounded read saw.
struct ReadResult {
    enum class Kind { data, timeout, eof, reset, error } kind{Kind::timeout};
    std::string bytes;  // what was read before the read ended (complete for `data`)
    int error{0};       // errno for `reset` and `error`
};

std::string describe(const ReadResult& r) {
    switch (r.kind) {
        case ReadResult::Kind::data: return "data(" + std::to_string(r.bytes.size()) + ")";
        case ReadResult::Kind::timeout: return "timeout after " + std::to_string(r.bytes.size()) + " bytes";
        case ReadResult::Kind::eof: return "eof after " + std::to_string(r.bytes.size()) + " bytes";
        case ReadResult::Kind::reset: return "reset";
        case ReadResult::Kind::error: return std::string("error: ") + std::strerror(r.error);
    }
    return "?";
}

/// A non-blocking TCP client; every operation takes a timeout.
class TestClient {
public:
    /// Connects to 127.0.0.1:port; on failure returns nullopt and sets `error` (errno, ETIMEDOUT on timeout).
    static std::optional<TestClient> connect(std::uint16_t port, int& error, milliseconds timeout = kPromptly) {
        Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) {
            error = errno;
            return std::nullopt;
        }
        const int one = 1;
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const sockaddr_in address = loopback(port);
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
            if (errno != EINPROGRESS) {
                error = errno;
                return std::nullopt;
            }
            pollfd p{fd.get(), POLLOUT, 0};
            if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
                error = ETIMEDOUT;
                return std::nullopt;
            }
            int so_error = 0;
            socklen_t length = sizeof(so_error);
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &length);
            if (so_error != 0) {
                error = so_error;
                return std::nullopt;
            }
        }
        error = 0;
        return TestClient(std::move(fd));
    }

    /// Connects or fails the test.
    static TestClient connect_or_fail(std::uint16_t port) {
        int error = 0;
        auto client = connect(port, error);
        if (!client) {
            throw std::runtime_error(std::string("connect failed: ") + std::strerror(error));
        }
        return std::move(*client);
    }

    /// Sends everything; false on error or timeout.
    bool send_all(const std::string& bytes, milliseconds timeout = kPromptly) {
        const auto deadline = Clock::now() + timeout;
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n = ::send(fd_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return false;
            }
            pollfd p{fd_.get(), POLLOUT, 0};
            if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
                return false;
            }
        }
        return true;
    }

    /// Reads until `count` bytes arrived, EOF, an error or the timeout.
    ReadResult read_exact(std::size_t count, milliseconds timeout = kPromptly) {
        const auto deadline = Clock::now() + timeout;
        ReadResult result;
        char buffer[16 * 1024];
        while (result.bytes.size() < count) {
            const ssize_t n = ::recv(fd_.get(), buffer, std::min(sizeof(buffer), count - result.bytes.size()), 0);
            if (n > 0) {
                result.bytes.append(buffer, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0) {
                result.kind = ReadResult::Kind::eof;
                return result;
            }
            if (errno == ECONNRESET) {
                result.kind = ReadResult::Kind::reset;
                result.error = errno;
                return result;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                result.kind = ReadResult::Kind::error;
                result.error = errno;
                return result;
            }
            pollfd p{fd_.get(), POLLIN, 0};
            if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
                result.kind = ReadResult::Kind::timeout;
                return result;
            }
        }
        result.kind = ReadResult::Kind::data;
        return result;
    }

    /// Waits for the connection to end (EOF or reset), discarding data; the kind seen, or timeout.
    ReadResult::Kind wait_closed(milliseconds timeout = kPromptly) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const ReadResult r = read_exact(1 << 20, milliseconds(remaining_ms(deadline)));
            if (r.kind != ReadResult::Kind::data) {
                return r.kind;
            }
        }
    }

    /// Sends `payload` and reads the same number of bytes back, sending and reading at once (so that a large
    /// payload cannot deadlock on full buffers). nullopt on any failure or timeout.
    std::optional<std::string> echo(const std::string& payload, milliseconds timeout = kPromptly) {
        const auto deadline = Clock::now() + timeout;
        std::size_t sent = 0;
        std::string received;
        char buffer[16 * 1024];
        while (received.size() < payload.size()) {
            pollfd p{fd_.get(), static_cast<short>(POLLIN | (sent < payload.size() ? POLLOUT : 0)), 0};
            if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
                return std::nullopt;
            }
            if ((p.revents & POLLOUT) != 0 && sent < payload.size()) {
                const std::size_t piece = std::min<std::size_t>(payload.size() - sent, 64 * 1024);
                const ssize_t n = ::send(fd_.get(), payload.data() + sent, piece, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    return std::nullopt;
                }
                sent += n > 0 ? static_cast<std::size_t>(n) : 0;
            }
            if ((p.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
                const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                    return std::nullopt;
                }
                received.append(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
            }
        }
        return received;
    }

    void shutdown_send() { ::shutdown(fd_.get(), SHUT_WR); }
    /// Closes with RST (SO_LINGER 0).
    void reset() {
        const linger rst{1, 0};
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
        fd_.reset();
    }
    void close() { fd_.reset(); }

private:
    explicit TestClient(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
};

// ---------------------------------------------------------------------------------------------------------------
/// A loopback echo server: a thread per connection echoes everything and closes after the client's FIN. It
/// counts what it saw, so tests can tell whether something reached the upstream side. With a greeting it first
/// sends that on every connection, so that behind a proxy switching upstreams a client can tell which server it
/// reached.
class EchoServer {
public:
    explicit EchoServer(std::string greeting = {})
        : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), greeting_(std::move(greeting)) {
        const int one = 1;
        ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in address = loopback(0);
        if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
            ::listen(listener_.get(), 64) != 0) {
            throw std::system_error(errno, std::generic_category(), "echo server: bind/listen");
        }
        socklen_t length = sizeof(address);
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~EchoServer() {
        stopping_ = true;
        ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept() on Linux
        acceptor_.join();
        {
            std::lock_guard lock(mutex_);
            for (const int fd : open_fds_) {
                ::shutdown(fd, SHUT_RDWR);  // wakes the connection threads
            }
        }
        for (auto& thread : threads_) {
            thread.join();
        }
    }
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] int accepted() const { return accepted_; }
    [[nodiscard]] std::uint64_t bytes_received() const { return bytes_received_; }
    [[nodiscard]] int saw_eof() const { return eofs_; }
    [[nodiscard]] int saw_reset() const { return resets_; }

private:
    void accept_loop() {
        for (;;) {
            const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (stopping_) {
                    return;
                }
                if (errno == EINTR || errno == ECONNABORTED) {
                    continue;
                }
                return;
            }
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            std::lock_guard lock(mutex_);
            if (stopping_) {
                ::close(fd);
                return;
            }
            ++accepted_;
            open_fds_.push_back(fd);
            threads_.emplace_back([this, fd] { serve(fd); });
        }
    }

    void serve(int fd) {
        if (!greeting_.empty()) {
            // Short enough for an empty socket buffer to take at once; a failure shows as a missing greeting.
            (void)::send(fd, greeting_.data(), greeting_.size(), MSG_NOSIGNAL);
        }
        char buffer[16 * 1024];
        for (;;) {
            const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
            if (n == 0) {
                ++eofs_;
                break;
            }
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == ECONNRESET) {
                    ++resets_;
                }
                break;
            }
            bytes_received_ += static_cast<std::uint64_t>(n);
            ssize_t sent = 0;
            while (sent < n) {
                const ssize_t m = ::send(fd, buffer + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
                if (m < 0 && errno == EINTR) {
                    continue;
                }
                if (m <= 0) {
                    break;
                }
                sent += m;
            }
        }
        std::lock_guard lock(mutex_);
        std::erase(open_fds_, fd);
        ::close(fd);
    }

    Fd listener_;
    std::string greeting_;
    std::uint16_t port_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<int> accepted_{0};
    std::atomic<std::uint64_t> bytes_received_{0};
    std::atomic<int> eofs_{0};
    std::atomic<int> resets_{0};
    std::mutex mutex_;
    std::vector<int> open_fds_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

/// A payload whose bytes depend on their position, so that loss, duplication or reordering shows.
std::string pattern(std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    }
    return bytes;
}

/// Connects and expects the connection to be reset at once. On loopback the RST can arrive before the client
/// has even seen its connect complete, so a connect failing with ECONNRESET counts as well.
::testing::AssertionResult reset_at_once(std::uint16_t port) {
    int error = 0;
    auto client = TestClient::connect(port, error);
    if (!client) {
        if (error == ECONNRESET) {
            return ::testing::AssertionSuccess();
        }
        return ::testing::AssertionFailure() << "connect failed: " << std::strerror(error);
    }
    const ReadResult::Kind end = client->wait_closed();
    if (end == ReadResult::Kind::reset) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "connection ended with kind " << static_cast<int>(end);
}

/// A port nobody listens on (bound then closed).
std::uint16_t closed_port() {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address = loopback(0);
    ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

class FaultProxyTest : public ::testing::Test {
protected:
    EchoServer server_;
    std::unique_ptr<FaultProxy> proxy_ = std::make_unique<FaultProxy>("127.0.0.1", server_.port());

    [[nodiscard]] std::uint16_t port() const { return proxy_->port(); }
};

// ---------------------------------------------------------------------------------------------------------------
TEST_F(FaultProxyTest, PassForwardsBothWaysIntactAndCounts) {
    ASSERT_NE(port(), 0);
    ASSERT_NE(port(), server_.port());
    EXPECT_EQ(proxy_->mode(), Mode::pass);

    TestClient client = TestClient::connect_or_fail(port());
    EXPECT_EQ(client.echo("hello"), "hello");
    const std::string big = pattern(512 * 1024);  // several reads, more than one socket buffer
    EXPECT_EQ(client.echo(big), big);

    const std::uint64_t total = 5 + big.size();
    ASSERT_TRUE(eventually([&] { return proxy_->stats().bytes_to_client == total; }));
    const Stats stats = proxy_->stats();
    EXPECT_EQ(stats.connections_accepted, 1u);
    EXPECT_EQ(stats.connections_open, 1u);
    EXPECT_EQ(stats.bytes_to_upstream, total);
    EXPECT_EQ(stats.bytes_to_client, total);
    EXPECT_EQ(stats.bytes_dropped, 0u);
    EXPECT_EQ(stats.bytes_held, 0u);
    EXPECT_EQ(stats.connections_reset, 0u);
    EXPECT_EQ(server_.accepted(), 1);
}

TEST_F(FaultProxyTest, PassCarriesHalfCloseAndCloseAndForgetsTheConnection) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("bye"), "bye");
    client.shutdown_send();  // FIN through the proxy → the echo server closes → FIN back
    EXPECT_EQ(client.wait_closed(), ReadResult::Kind::eof);
    EXPECT_TRUE(eventually([&] { return server_.saw_eof() == 1; }));
    EXPECT_TRUE(eventually([&] { return proxy_->stats().connections_open == 0; }));
}

TEST_F(FaultProxyTest, ClientResetIsPassedOnToTheServer) {
    TestClient bystander = TestClient::connect_or_fail(port());
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(bystander.echo("x"), "x");
    ASSERT_EQ(client.echo("y"), "y");
    client.reset();  // RST to the proxy → the proxy resets its upstream connection
    EXPECT_TRUE(eventually([&] { return server_.saw_reset() == 1; }));
    EXPECT_EQ(server_.saw_eof(), 0);
    EXPECT_TRUE(eventually([&] { return proxy_->stats().connections_open == 1; }));
    EXPECT_EQ(bystander.echo("still"), "still");
    EXPECT_EQ(proxy_->stats().connections_reset, 0u);  // passed on, not injected
}

TEST_F(FaultProxyTest, StallHoldsAResetUntilTheLinkRecovers) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("y"), "y");
    proxy_->set_mode(Mode::stall);
    client.reset();
    std::this_thread::sleep_for(kQuietWindow);  // watching for something that must not happen
    EXPECT_EQ(server_.saw_reset(), 0);
    proxy_->set_mode(Mode::pass);
    EXPECT_TRUE(eventually([&] { return server_.saw_reset() == 1; }));
}

TEST_F(FaultProxyTest, BlackholeSilencesOpenConnectionsWithoutClosingThem) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("before"), "before");
    const std::uint64_t received_before = server_.bytes_received();

    proxy_->set_mode(Mode::blackhole);
    EXPECT_EQ(proxy_->mode(), Mode::blackhole);
    ASSERT_TRUE(client.send_all("lost"));
    const ReadResult r = client.read_exact(4, kQuietWindow);
    EXPECT_EQ(r.kind, ReadResult::Kind::timeout) << describe(r);  // silence: no data, no EOF, no reset
    EXPECT_TRUE(eventually([&] { return proxy_->stats().bytes_dropped == 4; }));
    EXPECT_EQ(server_.bytes_received(), received_before);
    EXPECT_EQ(proxy_->stats().connections_open, 1u);

    // Back to pass: the blackholed connection stays dead (its bytes are gone) but is still not closed.
    proxy_->set_mode(Mode::pass);
    ASSERT_TRUE(client.send_all("after"));
    const ReadResult r2 = client.read_exact(5, kQuietWindow);
    EXPECT_EQ(r2.kind, ReadResult::Kind::timeout) << describe(r2);
    EXPECT_EQ(server_.bytes_received(), received_before);

    // A connection opened afterwards works.
    TestClient fresh = TestClient::connect_or_fail(port());
    EXPECT_EQ(fresh.echo("fresh"), "fresh");
}

TEST_F(FaultProxyTest, BlackholeAcceptsNewConnectionsButNeverForwards) {
    proxy_->set_mode(Mode::blackhole);
    TestClient client = TestClient::connect_or_fail(port());  // the TCP handshake succeeds…
    ASSERT_TRUE(client.send_all("client hello"));
    const ReadResult r = client.read_exact(1, kQuietWindow);  // …and then nothing, like a hanging TLS handshake
    EXPECT_EQ(r.kind, ReadResult::Kind::timeout) << describe(r);
    EXPECT_TRUE(eventually([&] { return proxy_->stats().bytes_dropped == 12; }));
    EXPECT_EQ(server_.accepted(), 0);  // never connected upstream
    const Stats stats = proxy_->stats();
    EXPECT_EQ(stats.connections_accepted, 1u);
    EXPECT_EQ(stats.connections_open, 1u);

    proxy_->set_mode(Mode::pass);
    const ReadResult still = client.read_exact(1, 100ms);
    EXPECT_EQ(still.kind, ReadResult::Kind::timeout) << describe(still);  // born dead, stays dead
    TestClient fresh = TestClient::connect_or_fail(port());
    EXPECT_EQ(fresh.echo("works"), "works");
}

TEST_F(FaultProxyTest, BlackholeDoesNotPassClosesOn) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("x"), "x");
    proxy_->set_mode(Mode::blackhole);
    client.close();                             // the client's FIN must not reach the server over a dead link
    std::this_thread::sleep_for(kQuietWindow);  // watching for something that must not happen
    EXPECT_EQ(server_.saw_eof(), 0);
    EXPECT_EQ(server_.saw_reset(), 0);
    EXPECT_EQ(proxy_->stats().connections_open, 1u);  // upstream side still open, waiting for the server
}

TEST_F(FaultProxyTest, BlackholeDropsBytesStillHeldByTheDelay) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("x"), "x");
    proxy_->set_delay(10s);
    ASSERT_TRUE(client.send_all("in flight"));
    ASSERT_TRUE(eventually([&] { return proxy_->stats().bytes_held == 9; }));  // read, in the delay queue
    proxy_->set_mode(Mode::blackhole);
    EXPECT_EQ(proxy_->stats().bytes_dropped, 9u);
    EXPECT_EQ(proxy_->stats().bytes_held, 0u);
    proxy_->set_delay(0ms);
    const ReadResult r = client.read_exact(1, kQuietWindow);
    EXPECT_EQ(r.kind, ReadResult::Kind::timeout) << describe(r);
    EXPECT_EQ(server_.bytes_received(), 1u);
}

TEST_F(FaultProxyTest, StallHoldsBytesAndDeliversThemInOrderAfterwards) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("a"), "a");
    proxy_->set_mode(Mode::stall);
    ASSERT_TRUE(client.send_all("held-1 "));
    ASSERT_TRUE(client.send_all("held-2"));
    EXPECT_TRUE(eventually([&] { return proxy_->stats().bytes_held == 13; }));
    const ReadResult r = client.read_exact(1, kQuietWindow);
    EXPECT_EQ(r.kind, ReadResult::Kind::timeout) << describe(r);
    EXPECT_EQ(server_.bytes_received(), 1u);

    proxy_->set_mode(Mode::pass);
    const ReadResult back = client.read_exact(13);
    EXPECT_EQ(back.kind, ReadResult::Kind::data) << describe(back);
    EXPECT_EQ(back.bytes, "held-1 held-2");
    EXPECT_TRUE(eventually([&] { return proxy_->stats().bytes_held == 0; }));  // byte counters may lag the peer
    EXPECT_EQ(proxy_->stats().bytes_dropped, 0u);
}

TEST_F(FaultProxyTest, ResetResetsOpenConnectionsAndEveryNewOne) {
    TestClient a = TestClient::connect_or_fail(port());
    TestClient b = TestClient::connect_or_fail(port());
    ASSERT_EQ(a.echo("a"), "a");
    ASSERT_EQ(b.echo("b"), "b");

    const auto start = Clock::now();
    proxy_->set_mode(Mode::reset);
    EXPECT_EQ(a.wait_closed(), ReadResult::Kind::reset);
    EXPECT_EQ(b.wait_closed(), ReadResult::Kind::reset);
    EXPECT_LT(Clock::now() - start, kPromptly);
    EXPECT_TRUE(eventually([&] { return server_.saw_reset() == 2; }));  // upstream sides are reset too

    EXPECT_TRUE(reset_at_once(port()));  // accepted by the kernel, then reset
    EXPECT_TRUE(eventually([&] { return proxy_->stats().connections_reset == 3; }));
    EXPECT_EQ(proxy_->stats().connections_open, 0u);

    proxy_->set_mode(Mode::pass);
    TestClient d = TestClient::connect_or_fail(port());
    EXPECT_EQ(d.echo("d"), "d");
}

TEST_F(FaultProxyTest, ResetAllResetsOpenConnectionsAndKeepsTheMode) {
    TestClient a = TestClient::connect_or_fail(port());
    ASSERT_EQ(a.echo("a"), "a");
    proxy_->reset_all();
    EXPECT_EQ(a.wait_closed(), ReadResult::Kind::reset);
    EXPECT_EQ(proxy_->mode(), Mode::pass);
    EXPECT_EQ(proxy_->stats().connections_reset, 1u);
    TestClient b = TestClient::connect_or_fail(port());
    EXPECT_EQ(b.echo("b"), "b");
}

TEST_F(FaultProxyTest, RefuseRefusesNewConnectionsAndKeepsOpenOnesPassing) {
    TestClient open = TestClient::connect_or_fail(port());
    ASSERT_EQ(open.echo("1"), "1");

    proxy_->set_mode(Mode::refuse);
    int error = 0;
    EXPECT_FALSE(TestClient::connect(port(), error));
    EXPECT_EQ(error, ECONNREFUSED) << std::strerror(error);
    EXPECT_EQ(open.echo("2"), "2");

    proxy_->set_mode(Mode::pass);  // listens again, on the same port
    TestClient later = TestClient::connect_or_fail(port());
    EXPECT_EQ(later.echo("3"), "3");
    EXPECT_EQ(open.echo("4"), "4");
}

TEST_F(FaultProxyTest, DelayAddsLatencyEachWayAndKeepsOrder) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("warm"), "warm");
    constexpr milliseconds kDelay = 60ms;
    proxy_->set_delay(kDelay);

    const auto start = Clock::now();
    ASSERT_EQ(client.echo("ping"), "ping");
    const auto round_trip = Clock::now() - start;
    EXPECT_GE(round_trip, 2 * kDelay * 9 / 10);  // lower bound only; the upper bound is echo()'s own timeout

    // Many small chunks in quick succession arrive complete and in order.
    std::string expected;
    for (int i = 0; i < 50; ++i) {
        const std::string piece = "<" + std::to_string(i) + ">";
        expected += piece;
        ASSERT_TRUE(client.send_all(piece));
    }
    const ReadResult r = client.read_exact(expected.size());
    EXPECT_EQ(r.kind, ReadResult::Kind::data) << describe(r);
    EXPECT_EQ(r.bytes, expected);

    proxy_->set_delay(0ms);
    EXPECT_EQ(client.echo("fast"), "fast");
}

TEST_F(FaultProxyTest, ThrottleLimitsTheRate) {
    TestClient client = TestClient::connect_or_fail(port());
    ASSERT_EQ(client.echo("warm"), "warm");
    constexpr std::size_t kRate = 200 * 1000;  // bytes per second and direction; burst = 50 ms = 10,000 bytes
    constexpr std::size_t kBytes = 100 * 1000;
    proxy_->set_throttle(kRate);

    const std::string payload = pattern(kBytes);
    const auto start = Clock::now();
    EXPECT_EQ(client.echo(payload, 20s), payload);
    const auto took = Clock::now() - start;
    // At least (kBytes - burst) / kRate = 450 ms; assert a generous 400 ms lower bound.
    EXPECT_GE(took, 400ms) << std::chrono::duration_cast<milliseconds>(took).count() << " ms";

    proxy_->set_throttle(0);
    const std::string big = pattern(1024 * 1024);
    EXPECT_EQ(client.echo(big), big);  // unlimited again: must finish well within the safety bound
}

TEST_F(FaultProxyTest, UpstreamDownResetsTheClient) {
    FaultProxy proxy("127.0.0.1", closed_port());
    EXPECT_TRUE(reset_at_once(proxy.port()));
    EXPECT_TRUE(eventually([&] { return proxy.stats().upstream_connect_failures == 1; }));
    EXPECT_EQ(proxy.stats().connections_open, 0u);
}

TEST_F(FaultProxyTest, OptionsStartRefusingAndCapConnections) {
    FaultProxy refusing(Options{.upstream_port = server_.port(), .initial_mode = Mode::refuse});
    int error = 0;
    EXPECT_FALSE(TestClient::connect(refusing.port(), error));
    EXPECT_EQ(error, ECONNREFUSED);
    refusing.set_mode(Mode::pass);
    TestClient ok = TestClient::connect_or_fail(refusing.port());
    EXPECT_EQ(ok.echo("ok"), "ok");

    FaultProxy capped(Options{.upstream_port = server_.port(), .max_connections = 1});
    TestClient first = TestClient::connect_or_fail(capped.port());
    ASSERT_EQ(first.echo("1"), "1");
    EXPECT_TRUE(reset_at_once(capped.port()));
    EXPECT_EQ(capped.stats().connections_reset, 1u);
}

// A child started while connections are proxied inherits none of the proxy's sockets (Asio opens them without
// SOCK_CLOEXEC; the proxy marks them). The test's own sockets are all close-on-exec, so any socket the child sees
// leaked from the proxy. (Found by the chaos soak: relinkd, started by the test, held the proxy's connections.)
TEST_F(FaultProxyTest, AChildProcessInheritsNoneOfItsSockets) {
    TestClient client = TestClient::connect_or_fail(port());
    EXPECT_EQ(client.echo("hello"), "hello");  // the client side and the upstream side are open now
    FILE* child = ::popen("find /proc/self/fd -lname 'socket:*' 2>/dev/null | wc -l", "r");
    ASSERT_NE(child, nullptr);
    std::array<char, 64> out{};
    const std::size_t n = std::fread(out.data(), 1, out.size() - 1, child);
    ASSERT_EQ(::pclose(child), 0);
    EXPECT_EQ(std::atoi(std::string(out.data(), n).c_str()), 0) << "sockets inherited by a child process";
}

TEST(FaultProxyMode, HasNames) {
    EXPECT_EQ(to_string(Mode::pass), "pass");
    EXPECT_EQ(to_string(Mode::stall), "stall");
    EXPECT_EQ(to_string(Mode::blackhole), "blackhole");
    EXPECT_EQ(to_string(Mode::reset), "reset");
    EXPECT_EQ(to_string(Mode::refuse), "refuse");
}

TEST(FaultProxyConstruction, ThrowsOnAnAddressItCannotListenOn) {
    // 192.0.2.1 (TEST-NET-1) is not a local address: bind fails.
    EXPECT_THROW(FaultProxy(Options{.upstream_port = 9, .listen_host = "192.0.2.1"}), std::system_error);
    // A name with spaces: glibc rejects it without asking DNS, so this cannot hang on a slow resolver.
    EXPECT_THROW(FaultProxy(Options{.upstream_host = "no such host.invalid", .upstream_port = 9}), std::system_error);
}

TEST_F(FaultProxyTest, DestructorWithOpenConnectionsReturnsPromptly) {
    proxy_->set_mode(Mode::blackhole);
    TestClient dead = TestClient::connect_or_fail(port());  // dead, never connected upstream
    ASSERT_TRUE(dead.send_all("dropped"));
    proxy_->set_mode(Mode::pass);
    TestClient passing = TestClient::connect_or_fail(port());
    ASSERT_EQ(passing.echo("p"), "p");
    proxy_->set_delay(10s);  // a chunk held for a long time
    ASSERT_TRUE(passing.send_all("held"));
    TestClient stalled = TestClient::connect_or_fail(port());
    proxy_->set_mode(Mode::stall);
    ASSERT_TRUE(stalled.send_all("stalled"));
    ASSERT_TRUE(eventually([&] { return proxy_->stats().connections_open == 3; }));
    const std::uint16_t proxy_port = port();

    const auto start = Clock::now();
    proxy_.reset();
    EXPECT_LT(Clock::now() - start, 1s);
    // Every connection is closed, and so is the listening port. (FIN, or RST when the proxy's kernel still held
    // bytes the proxy had not read yet: Linux resets a socket closed with unread data.)
    EXPECT_NE(dead.wait_closed(), ReadResult::Kind::timeout);
    EXPECT_NE(passing.wait_closed(), ReadResult::Kind::timeout);
    EXPECT_NE(stalled.wait_closed(), ReadResult::Kind::timeout);
    int error = 0;
    EXPECT_FALSE(TestClient::connect(proxy_port, error));
    EXPECT_EQ(error, ECONNREFUSED);
}

TEST_F(FaultProxyTest, SetModeFromOtherThreadsWhileTrafficFlows) {
    EchoServer other;  // a second upstream for set_upstream() to switch to; it echoes the same
    std::atomic<bool> done{false};
    std::atomic<int> echoes{0};
    std::vector<std::thread> traffic;
    for (int t = 0; t < 2; ++t) {
        traffic.emplace_back([&, t] {
            const std::string payload = pattern(static_cast<std::size_t>(2000 + t * 3000));
            while (!done) {
                int error = 0;
                auto client = TestClient::connect(port(), error, 200ms);
                if (!client) {
                    continue;  // refused, or reset during connect
                }
                while (!done) {
                    auto back = client->echo(payload, 200ms);
                    if (!back) {
                        break;  // dead, reset or stalled: open a new connection
                    }
                    if (*back != payload) {
                        ADD_FAILURE() << "corrupted echo";
                        return;
                    }
                    ++echoes;
                }
            }
        });
    }
    std::vector<std::thread> switchers;
    for (int t = 0; t < 2; ++t) {
        switchers.emplace_back([&, t] {
            const Mode modes[] = {Mode::pass,  Mode::stall, Mode::pass,   Mode::blackhole, Mode::pass,
                                  Mode::reset, Mode::pass,  Mode::refuse, Mode::pass};
            for (int round = 0; round < 3; ++round) {
                for (const Mode mode : modes) {
                    proxy_->set_mode(mode);
                    if (t == 1) {
                        proxy_->set_delay(milliseconds(round));
                        proxy_->set_throttle(round == 1 ? 1000 * 1000 : 0);
                        proxy_->reset_all();
                        proxy_->set_upstream("127.0.0.1", round % 2 == 0 ? other.port() : server_.port());
                    }
                    (void)proxy_->stats();
                    (void)proxy_->upstream();
                    std::this_thread::sleep_for(15ms);  // let traffic run in this mode
                }
            }
        });
    }
    for (auto& thread : switchers) {
        thread.join();
    }
    proxy_->set_mode(Mode::pass);
    proxy_->set_throttle(0);
    proxy_->set_delay(0ms);
    done = true;
    for (auto& thread : traffic) {
        thread.join();
    }
    RecordProperty("echoes", echoes.load());
    EXPECT_GT(echoes.load(), 0);
    TestClient client = TestClient::connect_or_fail(port());
    EXPECT_EQ(client.echo("end"), "end");
}

// ---------------------------------------------------------------------------------------------------------------
// set_upstream(): the proxy as a load balancer in front of two nodes, each greeting with its name.
class FaultProxyUpstreamTest : public ::testing::Test {
protected:
    EchoServer node_a_{"node-a;"};
    EchoServer node_b_{"node-b;"};
    FaultProxy proxy_{"127.0.0.1", node_a_.port()};

    /// Connects through the proxy and returns the client with the greeting of the node it reached. Reading the
    /// greeting also proves the proxy accepted the connection and connected it upstream.
    std::pair<TestClient, std::string> connect_via_proxy() {
        TestClient client = TestClient::connect_or_fail(proxy_.port());
        const ReadResult greeting = client.read_exact(7);
        return {std::move(client), greeting.kind == ReadResult::Kind::data ? greeting.bytes : describe(greeting)};
    }
};

TEST_F(FaultProxyUpstreamTest, NewConnectionsGoToTheNewUpstreamAndOpenOnesStay) {
    EXPECT_EQ(proxy_.upstream(), std::make_pair(std::string("127.0.0.1"), node_a_.port()));
    auto [first, first_node] = connect_via_proxy();
    ASSERT_EQ(first_node, "node-a;");

    proxy_.set_upstream("127.0.0.1", node_b_.port());
    EXPECT_EQ(proxy_.upstream(), std::make_pair(std::string("127.0.0.1"), node_b_.port()));
    auto [second, second_node] = connect_via_proxy();
    EXPECT_EQ(second_node, "node-b;");
    EXPECT_EQ(second.echo("to b"), "to b");
    EXPECT_EQ(first.echo("still a"), "still a");  // the open connection was not moved
    EXPECT_EQ(node_a_.bytes_received(), 7u);
    EXPECT_EQ(node_b_.bytes_received(), 4u);

    proxy_.set_upstream("127.0.0.1", node_a_.port());  // and back
    auto [third, third_node] = connect_via_proxy();
    EXPECT_EQ(third_node, "node-a;");
    EXPECT_EQ(third.echo("a again"), "a again");
    EXPECT_EQ(second.echo("still b"), "still b");
    EXPECT_EQ(node_a_.accepted(), 2);
    EXPECT_EQ(node_b_.accepted(), 1);
    EXPECT_EQ(node_b_.bytes_received(), 11u);
    EXPECT_EQ(proxy_.stats().connections_open, 3u);
}

TEST_F(FaultProxyUpstreamTest, AHostThatDoesNotResolveThrowsAndChangesNothing) {
    auto [open, open_node] = connect_via_proxy();
    ASSERT_EQ(open_node, "node-a;");
    // A name with spaces: glibc rejects it without asking DNS, so this cannot hang on a slow resolver.
    EXPECT_THROW(proxy_.set_upstream("no such host.invalid", node_b_.port()), std::system_error);
    EXPECT_EQ(proxy_.upstream(), std::make_pair(std::string("127.0.0.1"), node_a_.port()));
    auto [fresh, fresh_node] = connect_via_proxy();
    EXPECT_EQ(fresh_node, "node-a;");
    EXPECT_EQ(open.echo("ok"), "ok");
    EXPECT_EQ(node_b_.accepted(), 0);
}

TEST_F(FaultProxyUpstreamTest, ModesAndResetAllApplyToConnectionsToEitherUpstream) {
    auto [to_a, a_node] = connect_via_proxy();
    proxy_.set_upstream("127.0.0.1", node_b_.port());
    auto [to_b, b_node] = connect_via_proxy();
    ASSERT_EQ(a_node, "node-a;");
    ASSERT_EQ(b_node, "node-b;");

    // blackhole: both go silent and neither node hears anything; they stay dead after `pass`.
    proxy_.set_mode(Mode::blackhole);
    ASSERT_TRUE(to_a.send_all("lost a"));
    ASSERT_TRUE(to_b.send_all("lost b"));
    EXPECT_TRUE(eventually([&] { return proxy_.stats().bytes_dropped == 12; }));
    const ReadResult silent_a = to_a.read_exact(1, kQuietWindow);
    EXPECT_EQ(silent_a.kind, ReadResult::Kind::timeout) << describe(silent_a);
    const ReadResult silent_b = to_b.read_exact(1, 1ms);  // the quiet window above covered both
    EXPECT_EQ(silent_b.kind, ReadResult::Kind::timeout) << describe(silent_b);
    EXPECT_EQ(node_a_.bytes_received(), 0u);
    EXPECT_EQ(node_b_.bytes_received(), 0u);
    proxy_.set_mode(Mode::pass);

    // reset: open connections to both nodes are reset, on both sides.
    auto [again_b, again_b_node] = connect_via_proxy();
    EXPECT_EQ(again_b_node, "node-b;");
    proxy_.set_upstream("127.0.0.1", node_a_.port());
    auto [again_a, again_a_node] = connect_via_proxy();
    EXPECT_EQ(again_a_node, "node-a;");
    proxy_.set_mode(Mode::reset);
    EXPECT_EQ(again_a.wait_closed(), ReadResult::Kind::reset);
    EXPECT_EQ(again_b.wait_closed(), ReadResult::Kind::reset);
    EXPECT_EQ(to_a.wait_closed(), ReadResult::Kind::reset);  // dead ones too
    EXPECT_EQ(to_b.wait_closed(), ReadResult::Kind::reset);
    EXPECT_TRUE(eventually([&] { return node_a_.saw_reset() == 2 && node_b_.saw_reset() == 2; }));
    EXPECT_TRUE(reset_at_once(proxy_.port()));
    proxy_.set_mode(Mode::pass);

    // reset_all(): the same, without a mode.
    auto [last_a, last_a_node] = connect_via_proxy();
    EXPECT_EQ(last_a_node, "node-a;");
    proxy_.set_upstream("127.0.0.1", node_b_.port());
    auto [last_b, last_b_node] = connect_via_proxy();
    EXPECT_EQ(last_b_node, "node-b;");
    proxy_.reset_all();
    EXPECT_EQ(last_a.wait_closed(), ReadResult::Kind::reset);
    EXPECT_EQ(last_b.wait_closed(), ReadResult::Kind::reset);
    EXPECT_TRUE(eventually([&] { return proxy_.stats().connections_open == 0; }));
    auto [after, after_node] = connect_via_proxy();  // the upstream survived it all
    EXPECT_EQ(after_node, "node-b;");
    EXPECT_EQ(after.echo("end"), "end");
}

}  // namespace
}  // namespace relink::faultproxy
