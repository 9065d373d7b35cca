// tests/client/client_harness.hpp — what the relink::Client end-to-end tests share: a Recorder of every event a
// client delivers (with when and on which thread) whose waits are all bounded, the ClientTest fixture (one relinkd
// per test, a config() for a client of it), token minting, and a small blocking HTTP client for relinkd's admin
// API. Real clocks: tests assert the order of events and generous bounds, never exact milliseconds.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/client_core.hpp"
#include "relink/client.hpp"
#include "support/relinkd_process.hpp"
#include "token/token.hpp"

namespace relink {

// gtest prints these by name in failure messages (found by argument-dependent lookup).
inline void PrintTo(ConnectionState state, std::ostream* out) {
    *out << to_string(state);
}
inline void PrintTo(ConnectionReason reason, std::ostream* out) {
    *out << to_string(reason);
}
inline void PrintTo(ChannelState state, std::ostream* out) {
    *out << to_string(state);
}
inline void PrintTo(AttemptFailure cause, std::ostream* out) {
    *out << to_string(cause);
}

}  // namespace relink

namespace relink::test {

using Clock = std::chrono::steady_clock;

/// A fresh private directory under the system's temporary directory (for relinkd's CA file and logs).
inline std::filesystem::path temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "relink-client-test-XXXXXX").string();
    const char* made = mkdtemp(pattern.data());
    return made != nullptr ? std::filesystem::path(made) : std::filesystem::temp_directory_path();
}

/// Unix time in seconds, the clock tokens expire on.
inline std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A token of app "app" (secret "secret", the app every test relinkd serves) for `user`, valid for `ttl`.
inline std::string mint_token(const std::string& user, std::chrono::seconds ttl = std::chrono::hours(1),
                              const std::string& app = "app", const std::string& secret = "secret") {
    return token::mint({app, user, unix_now() + ttl.count(), {}}, secret);
}

/// Every event a client delivered, with when and on which thread; every wait is bounded.
class Recorder {
public:
    struct Entry {
        Clock::time_point at;
        std::thread::id thread;
        Event event;
    };

    void attach(Client& client) {
        client.on_event([this](const Event& event) {
            std::lock_guard lock(mutex_);
            events_.push_back({Clock::now(), std::this_thread::get_id(), event});
            changed_.notify_all();
        });
    }

    /// Waits (at most `timeout`) for a state change to `state` (with `reason`, if given) after the first `from`
    /// events; returns its index in the log.
    std::optional<std::size_t> wait_state(ConnectionState state, std::optional<ConnectionReason> reason,
                                          std::size_t from = 0,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        return wait_index<ConnectionStateChanged>(
            [&](const ConnectionStateChanged& e) { return e.state == state && (!reason || e.reason == *reason); }, from,
            timeout);
    }

    /// Waits (at most `timeout`) for the first event of type E that `match` accepts.
    template <class E>
    std::optional<E> wait_for(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                              const std::function<bool(const E&)>& match = {}) {
        std::unique_lock lock(mutex_);
        std::optional<E> found;
        changed_.wait_for(lock, timeout, [&] {
            for (const auto& r : events_) {
                if (const auto* e = std::get_if<E>(&r.event); e != nullptr && (!match || match(*e))) {
                    found = *e;
                    return true;
                }
            }
            return false;
        });
        return found;
    }

    /// Waits (at most `timeout`) for the first event of type E at or after index `from` that `match` accepts;
    /// returns its index in the log.
    template <class E>
    std::optional<std::size_t> wait_index(const std::function<bool(const E&)>& match = {}, std::size_t from = 0,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        std::optional<std::size_t> found;
        changed_.wait_for(lock, timeout, [&] {
            for (std::size_t i = from; i < events_.size(); ++i) {
                if (const auto* e = std::get_if<E>(&events_[i].event); e != nullptr && (!match || match(*e))) {
                    found = i;
                    return true;
                }
            }
            return false;
        });
        return found;
    }

    /// Waits (at most `timeout`) until `done` holds for the log.
    bool wait_until(const std::function<bool(const std::vector<Entry>&)>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return done(events_); });
    }

    /// Waits (at most `timeout`) until `count` events of type E that `match` accepts were delivered.
    template <class E>
    bool wait_count(std::size_t count, const std::function<bool(const E&)>& match = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        return wait_until([&](const std::vector<Entry>& log) { return count_in<E>(log, match, 0) >= count; }, timeout);
    }

    std::vector<Entry> snapshot() {
        std::lock_guard lock(mutex_);
        return events_;
    }

    [[nodiscard]] std::size_t size() {
        std::lock_guard lock(mutex_);
        return events_.size();
    }

    [[nodiscard]] Clock::time_point at(std::size_t index) {
        std::lock_guard lock(mutex_);
        return events_.at(index).at;
    }

    /// The events of type E from index `from` on, in order.
    template <class E>
    std::vector<E> all(std::size_t from = 0) {
        std::lock_guard lock(mutex_);
        std::vector<E> out;
        for (std::size_t i = from; i < events_.size(); ++i) {
            if (const auto* e = std::get_if<E>(&events_[i].event)) {
                out.push_back(*e);
            }
        }
        return out;
    }

    /// How many events of type E from index `from` on `match` accepts.
    template <class E>
    std::size_t count(const std::function<bool(const E&)>& match = {}, std::size_t from = 0) {
        std::lock_guard lock(mutex_);
        return count_in<E>(events_, match, from);
    }

    /// The connection states and reasons from index `from` on, as "STATE REASON" lines (for EXPECT_EQ).
    std::vector<std::string> states(std::size_t from = 0) {
        std::vector<std::string> out;
        for (const auto& e : all<ConnectionStateChanged>(from)) {
            out.push_back(std::string(to_string(e.state)) + " " + std::string(to_string(e.reason)));
        }
        return out;
    }

    /// The whole log, one event a line with its time relative to the first event (for failure messages).
    std::string dump() {
        std::lock_guard lock(mutex_);
        std::ostringstream out;
        const auto start = events_.empty() ? Clock::now() : events_.front().at;
        for (std::size_t i = 0; i < events_.size(); ++i) {
            out << "  #" << i << " +"
                << std::chrono::duration_cast<std::chrono::milliseconds>(events_[i].at - start).count() << "ms "
                << core::describe(events_[i].event) << "\n";
        }
        return out.str();
    }

private:
    template <class E>
    static std::size_t count_in(const std::vector<Entry>& log, const std::function<bool(const E&)>& match,
                                std::size_t from) {
        std::size_t n = 0;
        for (std::size_t i = from; i < log.size(); ++i) {
            if (const auto* e = std::get_if<E>(&log[i].event); e != nullptr && (!match || match(*e))) {
                ++n;
            }
        }
        return n;
    }

    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Entry> events_;
};

/// One relinkd (default options, its own temporary directory) per test, and configs for clients of it.
class ClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = temp_dir();
        server_ = Relinkd::start(dir_);
        ASSERT_TRUE(server_) << "relinkd did not start";
    }
    void TearDown() override {
        if (server_) {
            EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
        }
        std::filesystem::remove_all(dir_);
    }

    /// A client of app "app" as `user`, to 127.0.0.1:`port` over TLS trusting relinkd's certificate, on a time
    /// scale of 0.1 (the 4 s silence threshold is 400 ms), logging nothing.
    ClientConfig config(const std::string& user, std::uint16_t port) const {
        ClientConfig c;
        c.url = "wss://127.0.0.1:" + std::to_string(port) + "/";
        c.app_id = "app";
        c.user_id = user;
        c.token = mint_token(user);
        c.tls.ca_file = server_->ca_file();
        c.tls.use_system_store = false;
        c.time_scale = 0.1;
        c.log_level = LogLevel::off;
        return c;
    }

    std::filesystem::path dir_;
    std::unique_ptr<Relinkd> server_;
};

/// An HTTP/1.1 response: status 0 when the request could not be made or answered in time.
struct HttpResponse {
    int status{0};
    std::string body;
};

/// One blocking HTTP/1.1 request to 127.0.0.1:`port` (relinkd's admin API), `Connection: close`, every socket call
/// bounded by `timeout` and the whole exchange too.
inline HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                                 const std::string& authorization, const std::string& body = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    HttpResponse response;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return response;
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return response;
    }
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!authorization.empty()) {
        request += "Authorization: " + authorization + "\r\n";
    }
    if (!body.empty() || method == "POST") {
        request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    std::size_t written = 0;
    while (written < request.size()) {
        const auto n = ::send(fd, request.data() + written, request.size() - written, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            return response;
        }
        written += static_cast<std::size_t>(n);
    }
    std::string raw;
    const auto deadline = Clock::now() + timeout;
    char chunk[4096];
    while (Clock::now() < deadline) {
        const auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            break;  // EOF (Connection: close), an error, or the receive timeout
        }
        raw.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    // "HTTP/1.1 200 OK\r\n...headers...\r\n\r\nbody"
    if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) {
        return response;
    }
    response.status = std::atoi(raw.c_str() + 9);
    if (const auto end = raw.find("\r\n\r\n"); end != std::string::npos) {
        response.body = raw.substr(end + 4);
    }
    return response;
}

}  // namespace relink::test
