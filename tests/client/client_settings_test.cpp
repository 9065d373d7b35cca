// relink::Client's connection settings against a real relinkd over loopback TLS. The token provider (through the
// fault proxy): after an outage, a reconnect never goes out with a token that has expired or is about to (within
// the reconnect horizon, the longer of the attempt timeout and the token warning lead): the provider is asked
// first. The HTTP CONNECT proxy: changing it while connected reconnects through the new path at once, with the
// reason SETTING_PROXY_SERVER. Real clocks: order and generous bounds.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "faultproxy/fault_proxy.hpp"
#include "relink/client.hpp"
#include "support/connect_proxy.hpp"
#include "support/relinkd_process.hpp"
#include "token/token.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// One client behind a fault proxy in front of relinkd, both at 1/10 time (token warning lead: 3 s), whose first
/// token expires `token_seconds` from now; the provider hands out tokens valid for an hour.
class ClientTokenProvider : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "relink-token-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
        server_ = Relinkd::start(dir_, {"--time-scale", "0.1"});
        ASSERT_TRUE(server_);
        proxy_ = std::make_unique<faultproxy::FaultProxy>("127.0.0.1", server_->port());
    }
    void TearDown() override {
        client_.reset();
        proxy_.reset();
        if (server_) {
            EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
        }
        std::filesystem::remove_all(dir_);
    }

    /// Starts the client and waits for CONNECTED; returns the first token's expiry.
    std::chrono::system_clock::time_point start_client(int token_seconds) {
        const std::int64_t expires_at = unix_now() + token_seconds;
        ClientConfig config;
        config.url = "wss://127.0.0.1:" + std::to_string(proxy_->port()) + "/";
        config.app_id = "app";
        config.user_id = "alice";
        config.token = token::mint({"app", "alice", expires_at, {}}, "secret");
        config.tls.ca_file = server_->ca_file();
        config.tls.use_system_store = false;
        config.time_scale = 0.1;
        config.log_level = LogLevel::off;
        config.token_provider = [this] {
            ++provided_;
            return token::mint({"app", "alice", unix_now() + 3600, {}}, "secret");
        };
        client_ = std::make_unique<Client>(config);
        client_->on_event([this](const Event& e) {
            std::lock_guard lock(mutex_);
            events_.push_back(e);
            changed_.notify_all();
        });
        EXPECT_FALSE(client_->login());
        EXPECT_TRUE(wait_state(ConnectionState::connected, 0, 10s));
        return std::chrono::system_clock::time_point(std::chrono::seconds(expires_at));
    }

    bool wait_state(ConnectionState state, std::size_t from, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] {
            for (std::size_t i = from; i < events_.size(); ++i) {
                const auto* c = std::get_if<ConnectionStateChanged>(&events_[i]);
                if (c != nullptr && c->state == state) {
                    return true;
                }
            }
            return false;
        });
    }
    std::size_t mark() {
        std::lock_guard lock(mutex_);
        return events_.size();
    }
    /// Events of type E from index `from` on.
    template <class E>
    int count_from(std::size_t from) {
        std::lock_guard lock(mutex_);
        int n = 0;
        for (std::size_t i = from; i < events_.size(); ++i) {
            n += std::holds_alternative<E>(events_[i]) ? 1 : 0;
        }
        return n;
    }
    /// No login was refused for its token: no state change gives TOKEN_EXPIRED or ends in FAILED.
    void expect_no_refused_login() {
        std::lock_guard lock(mutex_);
        for (const auto& e : events_) {
            if (const auto* c = std::get_if<ConnectionStateChanged>(&e)) {
                EXPECT_NE(c->reason, ConnectionReason::token_expired);
                EXPECT_NE(c->state, ConnectionState::failed);
            }
        }
    }

    std::filesystem::path dir_;
    std::unique_ptr<Relinkd> server_;
    std::unique_ptr<faultproxy::FaultProxy> proxy_;
    std::unique_ptr<Client> client_;
    std::atomic<int> provided_{0};
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Event> events_;
};

TEST_F(ClientTokenProvider, ATokenAboutToExpireIsReplacedBeforeTheReconnect) {
    // 8 to 9 s to live: no warning at login (the lead is 3 s).
    const auto expiry = start_client(9);
    EXPECT_EQ(provided_, 0) << "a token with seconds to live beyond the lead is kept while connected";
    proxy_->set_mode(faultproxy::Mode::blackhole);
    ASSERT_TRUE(wait_state(ConnectionState::reconnecting, 0, 10s));
    // Back while the token still lives, but within the 3 s lead: the old token would be warned about at once.
    std::this_thread::sleep_until(expiry - 2500ms);
    const std::size_t back = mark();
    proxy_->set_mode(faultproxy::Mode::pass);
    ASSERT_TRUE(wait_state(ConnectionState::connected, back, 15s));
    EXPECT_GE(provided_, 1) << "the provider was not asked before the reconnect";
    // Past the old token's expiry: the session runs on the fresh token, so no warning and no expiry.
    std::this_thread::sleep_until(expiry + 500ms);
    EXPECT_EQ(count_from<TokenPrivilegeWillExpire>(back), 0);
    EXPECT_EQ(count_from<TokenExpired>(back), 0);
    EXPECT_EQ(client_->connection_state(), ConnectionState::connected);
    expect_no_refused_login();
}

TEST_F(ClientTokenProvider, ATokenThatExpiredDuringTheOutageIsNeverUsedToReconnect) {
    const auto expiry = start_client(5);
    proxy_->set_mode(faultproxy::Mode::blackhole);
    ASSERT_TRUE(wait_state(ConnectionState::reconnecting, 0, 10s));
    std::this_thread::sleep_until(expiry + 300ms);  // the outage lasts past the token's expiry
    const std::size_t back = mark();
    proxy_->set_mode(faultproxy::Mode::pass);
    ASSERT_TRUE(wait_state(ConnectionState::connected, back, 15s)) << "no reconnect with a fresh token";
    EXPECT_GE(provided_, 1);
    // The app may hear that its token expired while it was offline; the reconnect itself never used it.
    expect_no_refused_login();
}

TEST(ClientProxySetting, ChangingTheProxyWhileConnectedReconnectsThroughItAtOnce) {
    std::string pattern = (std::filesystem::temp_directory_path() / "relink-proxy-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    const std::filesystem::path dir = pattern;
    auto server = Relinkd::start(dir);
    ASSERT_TRUE(server);
    ConnectProxy proxy(200);

    ClientConfig config;
    config.url = server->url();
    config.app_id = "app";
    config.user_id = "alice";
    config.token = token::mint({"app", "alice", unix_now() + 3600, {}}, "secret");
    config.tls.ca_file = server->ca_file();
    config.tls.use_system_store = false;
    config.log_level = LogLevel::off;

    std::mutex mutex;
    std::condition_variable changed;
    std::vector<ConnectionStateChanged> states;
    auto wait_connected_after = [&](std::size_t from) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, 10s, [&] {
            for (std::size_t i = from; i < states.size(); ++i) {
                if (states[i].state == ConnectionState::connected) {
                    return true;
                }
            }
            return false;
        });
    };
    auto mark = [&] {
        std::lock_guard lock(mutex);
        return states.size();
    };
    {
        Client client(config);
        client.on_connection_state_changed([&](const ConnectionStateChanged& e) {
            std::lock_guard lock(mutex);
            states.push_back(e);
            changed.notify_all();
        });
        ASSERT_FALSE(client.login());
        ASSERT_TRUE(wait_connected_after(0));
        EXPECT_TRUE(proxy.requests().empty()) << "no proxy configured yet";

        const std::size_t before_proxy = mark();
        const auto changed_at = std::chrono::steady_clock::now();
        client.set_proxy(ProxyOptions{"127.0.0.1", proxy.port()});
        ASSERT_TRUE(wait_connected_after(before_proxy));
        // At once: no backoff delay (the first backoff step alone is 300 ms ± 20 %).
        EXPECT_LT(std::chrono::steady_clock::now() - changed_at, 3s);
        {
            std::lock_guard lock(mutex);
            ASSERT_GE(states.size(), before_proxy + 2);
            EXPECT_EQ(states[before_proxy].state, ConnectionState::reconnecting);
            EXPECT_EQ(states[before_proxy].reason, ConnectionReason::setting_proxy_server);
            EXPECT_EQ(states.back().state, ConnectionState::connected);
        }
        EXPECT_EQ(proxy.requests(),
                  std::vector<std::string>{"CONNECT 127.0.0.1:" + std::to_string(server->port()) + " HTTP/1.1"})
            << "the new connection went through the proxy";

        const std::size_t before_direct = mark();
        client.set_proxy(std::nullopt);  // back to a direct connection
        ASSERT_TRUE(wait_connected_after(before_direct));
        {
            std::lock_guard lock(mutex);
            EXPECT_EQ(states[before_direct].reason, ConnectionReason::setting_proxy_server);
        }
        EXPECT_EQ(proxy.requests().size(), 1U) << "the direct connection did not use the proxy";
    }
    EXPECT_EQ(server->stop(), 0) << server->stderr_text();
    std::filesystem::remove_all(dir);
}

TEST(ClientLogSetting, TheHandlerGetsLinesAtItsLevelWithStepTimingsAndNeverATokenOrPayload) {
    std::string pattern = (std::filesystem::temp_directory_path() / "relink-log-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    const std::filesystem::path dir = pattern;
    auto server = Relinkd::start(dir);
    ASSERT_TRUE(server);

    struct Lines {
        std::mutex mutex;
        std::vector<std::pair<LogLevel, std::string>> all;
    };
    auto run = [&](const std::string& user, LogLevel level, Lines& lines) {
        ClientConfig config;
        config.url = server->url();
        config.app_id = "app";
        config.user_id = user;
        config.token = token::mint({"app", user, unix_now() + 3600, {}}, "secret");
        config.tls.ca_file = server->ca_file();
        config.tls.use_system_store = false;
        config.log_level = level;
        config.log_handler = [&lines](LogLevel l, std::string_view line) {
            std::lock_guard lock(lines.mutex);
            lines.all.emplace_back(l, std::string(line));
        };
        std::promise<void> sent;
        auto sent_future = sent.get_future();
        {
            Client client(config);
            ASSERT_FALSE(client.login());
            auto done = future_of([&](Completion c) {
                return client.send_peer_message(user, "payload-that-must-not-be-logged", std::move(c));
            });
            EXPECT_EQ(done.wait_for(10s), std::future_status::ready);
        }
        for (const auto& [l, line] : lines.all) {
            EXPECT_GE(l, level) << line;
            EXPECT_EQ(line.find(config.token), std::string::npos) << "a token in the log: " << line;
            EXPECT_EQ(line.find("payload-that-must-not-be-logged"), std::string::npos) << "a payload: " << line;
        }
    };

    Lines debug_lines;
    run("alice", LogLevel::debug, debug_lines);
    bool saw_state = false;
    bool saw_step_timings = false;
    for (const auto& [level, line] : debug_lines.all) {
        saw_state = saw_state || line.find("state DISCONNECTED -> CONNECTING") != std::string::npos;
        saw_step_timings =
            saw_step_timings || (line.find("open: dns") != std::string::npos && line.find("tls") != std::string::npos);
    }
    EXPECT_TRUE(saw_state) << "state changes are logged at info";
    EXPECT_TRUE(saw_step_timings) << "each attempt's step timings are logged at debug";

    Lines warn_lines;
    run("bob", LogLevel::warn, warn_lines);
    EXPECT_TRUE(warn_lines.all.empty()) << "a clean session logs nothing at warn: " << warn_lines.all.front().second;

    EXPECT_EQ(server->stop(), 0) << server->stderr_text();
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace relink::test
