// cluster/redis_client_test.cpp — RedisClient and RedisSubscriber against real redis-server children
// (support/redis_process.hpp), directly or through the fault proxy: replies of every type, pipelining, binary
// arguments, deadlines, liveness, reconnects, scripts, pub/sub, stop(), URLs. The io_context runs on the test
// thread; every wait is bounded and waits for an event (a handler, a state change), never for a fixed time.
#include "cluster/redis_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "faultproxy/fault_proxy.hpp"
#include "support/redis_process.hpp"

namespace relink::cluster {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using relink::test::RedisServer;

struct Result {
    std::error_code ec;
    RedisReply reply;
};

class RedisTest : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = RedisServer::start();
        ASSERT_TRUE(server_) << "redis-server did not start";
    }

    void TearDown() override {
        if (HasFailure() && server_) {
            std::cout << "--- redis log ---\n" << server_->log_text() << "\n--- client log ---\n" << log_ << "\n";
        }
    }

    /// A config for the test server (or `port`) with short timeouts.
    RedisConfig config(std::uint16_t port = 0) const {
        RedisConfig c;
        c.host = "127.0.0.1";
        c.port = port != 0 ? port : server_->port();
        c.connect_timeout = 1000ms;
        c.request_timeout = 2000ms;  // generous: sanitizers on a loaded machine
        c.ping_interval = 200ms;
        c.backoff_initial = 50ms;
        c.backoff_max = 400ms;
        return c;
    }

    std::unique_ptr<RedisClient> make_client(RedisConfig c) {
        auto client = std::make_unique<RedisClient>(io_.get_executor(), std::move(c));
        client->set_logger([this](std::string_view line) { log_ += std::string(line) + "\n"; });
        return client;
    }

    /// Runs the io_context until `done()` holds; false if `timeout` passed first.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5000ms) {
        const auto deadline = Clock::now() + timeout;
        while (!done()) {
            const auto now = Clock::now();
            if (now >= deadline) {
                return false;
            }
            io_.run_one_for(deadline - now);
        }
        return true;
    }

    /// Starts `client` and waits until it is up.
    bool start_and_wait(RedisClient& client, std::chrono::milliseconds timeout = 5000ms) {
        client.start();
        return run_until([&] { return client.connected(); }, timeout);
    }

    /// One command, run to completion (at most `timeout`).
    Result call(RedisClient& client, const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 5000ms) {
        std::optional<Result> result;
        client.command(argv, [&](std::error_code ec, RedisReply reply) { result = Result{ec, std::move(reply)}; });
        if (!run_until([&] { return result.has_value(); }, timeout)) {
            ADD_FAILURE() << "no reply within " << timeout.count() << " ms";
            return Result{make_error_code(RedisErrc::timeout), {}};
        }
        return *result;
    }

    Result eval(RedisClient& client, const std::string& name, std::vector<std::string> keys,
                std::vector<std::string> args) {
        std::optional<Result> result;
        client.eval(name, std::move(keys), std::move(args), [&](std::error_code ec, RedisReply reply) {
            result = Result{ec, std::move(reply)};
        });
        EXPECT_TRUE(run_until([&] { return result.has_value(); })) << "no eval reply";
        return result.value_or(Result{make_error_code(RedisErrc::timeout), {}});
    }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    std::unique_ptr<RedisServer> server_;
    std::string log_;
};

std::vector<std::string> cmd(std::initializer_list<std::string> items) {
    return items;
}

// ---------------------------------------------------------------------------------------------------------------
// URLs (no server)

TEST(RedisUrl, ParsesHostPortAndDb) {
    auto parsed = parse_redis_url("redis://10.0.0.7:6380/3");
    ASSERT_TRUE(parsed.config) << parsed.error;
    EXPECT_EQ(parsed.config->host, "10.0.0.7");
    EXPECT_EQ(parsed.config->port, 6380);
    EXPECT_EQ(parsed.config->db, 3);

    parsed = parse_redis_url("redis://cache.internal");
    ASSERT_TRUE(parsed.config) << parsed.error;
    EXPECT_EQ(parsed.config->host, "cache.internal");
    EXPECT_EQ(parsed.config->port, 6379);
    EXPECT_EQ(parsed.config->db, 0);

    parsed = parse_redis_url("redis://[::1]:7000/");
    ASSERT_TRUE(parsed.config) << parsed.error;
    EXPECT_EQ(parsed.config->host, "::1");
    EXPECT_EQ(parsed.config->port, 7000);
}

TEST(RedisUrl, RejectsBadInputWithAClearMessage) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "expected redis://"},
        {"http://127.0.0.1:6379", "expected redis://"},
        {"redis://", "empty host"},
        {"redis://:6379", "empty host"},
        {"redis://host:", "port"},
        {"redis://host:0", "port"},
        {"redis://host:65536", "port"},
        {"redis://host:99999999999999999999", "port"},
        {"redis://host:12ab", "port"},
        {"redis://host:6379/x", "database"},
        {"redis://host:6379/-1", "database"},
        {"redis://user:pw@host:6379", "credentials"},
        {"redis://host:6379?db=2", "query"},
        {"redis://[::1:6379", "IPv6"},
        {"redis://[::1]x", "IPv6"},
        {std::string("redis://ho\0st:1", 15), "white space"},
    };
    for (const auto& [url, needle] : cases) {
        const auto parsed = parse_redis_url(url);
        EXPECT_FALSE(parsed.config) << url;
        EXPECT_NE(parsed.error.find(needle), std::string::npos) << url << " -> " << parsed.error;
    }
}

TEST(RedisErrors, HaveTheirOwnCategoryAndReadableMessages) {
    const std::error_code ec = RedisErrc::redis_unavailable;
    EXPECT_EQ(ec.category().name(), std::string("relink.redis"));
    EXPECT_NE(ec.message().find("unavailable"), std::string::npos);
    EXPECT_NE(std::error_code(RedisErrc::timeout).message().find("timed out"), std::string::npos);
    EXPECT_EQ(aborted_error(), std::errc::operation_canceled);
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

TEST_F(RedisTest, RepliesOfEveryType) {
    auto client = make_client(config());
    ASSERT_TRUE(start_and_wait(*client));

    auto r = call(*client, cmd({"SET", "k", "v"}));
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.reply.type, RedisReply::Type::status);
    EXPECT_EQ(r.reply.str(), "OK");

    r = call(*client, cmd({"GET", "k"}));
    EXPECT_EQ(r.reply.type, RedisReply::Type::string);
    EXPECT_EQ(r.reply.str(), "v");

    r = call(*client, cmd({"GET", "missing"}));
    EXPECT_TRUE(r.reply.is_nil());

    r = call(*client, cmd({"INCRBY", "n", "41"}));
    EXPECT_EQ(r.reply.type, RedisReply::Type::integer);
    EXPECT_EQ(r.reply.as_int(), 41);
    r = call(*client, cmd({"GET", "n"}));
    EXPECT_EQ(r.reply.as_int(), 41);  // a bulk string holding a number

    r = call(*client, cmd({"RPUSH", "list", "a", "b", "c"}));
    EXPECT_EQ(r.reply.as_int(), 3);
    r = call(*client, cmd({"LRANGE", "list", "0", "-1"}));
    ASSERT_TRUE(r.reply.is_array());
    ASSERT_EQ(r.reply.elements.size(), 3U);
    EXPECT_EQ(r.reply.elements[2].str(), "c");

    r = call(*client, cmd({"EVAL", "return {1, {'x', false}, 'y'}", "0"}));  // nested array, nil inside
    ASSERT_TRUE(r.reply.is_array()) << r.reply.describe();
    ASSERT_EQ(r.reply.elements.size(), 3U);
    EXPECT_EQ(r.reply.elements[0].as_int(), 1);
    ASSERT_TRUE(r.reply.elements[1].is_array());
    EXPECT_EQ(r.reply.elements[1].elements[0].str(), "x");
    EXPECT_TRUE(r.reply.elements[1].elements[1].is_nil());

    r = call(*client, cmd({"INCR", "k"}));  // an error reply is a reply, not a failed request
    EXPECT_FALSE(r.ec);
    EXPECT_TRUE(r.reply.is_error());
    EXPECT_NE(r.reply.str().find("not an integer"), std::string::npos) << r.reply.str();
    EXPECT_FALSE(r.reply.as_int());

    r = call(*client, cmd({"NO-SUCH-COMMAND"}));
    EXPECT_TRUE(r.reply.is_error());
    EXPECT_EQ(client->stats().reply_errors, 2U);
    EXPECT_TRUE(client->connected());  // error replies do not hurt the connection
}

TEST_F(RedisTest, PipelinedCommandsCompleteInOrder) {
    auto client = make_client(config());
    ASSERT_TRUE(start_and_wait(*client));
    constexpr int kCount = 1000;
    std::vector<long long> seen;
    int failures = 0;
    for (int i = 0; i < kCount; ++i) {  // all written before the first reply is read
        client->command(cmd({"INCR", "counter"}), [&](std::error_code ec, const RedisReply& reply) {
            failures += ec ? 1 : 0;
            seen.push_back(reply.as_int().value_or(-1));
        });
    }
    ASSERT_TRUE(run_until([&] { return seen.size() == kCount; }));
    EXPECT_EQ(failures, 0);
    for (int i = 0; i < kCount; ++i) {
        ASSERT_EQ(seen[static_cast<std::size_t>(i)], i + 1) << "at " << i;
    }
}

TEST_F(RedisTest, ArgumentsAreBinarySafe) {
    auto client = make_client(config());
    ASSERT_TRUE(start_and_wait(*client));
    std::string value("a\0b\r\n$3\r\n\xff\x00 end", 15);
    const std::string key("key with spaces\0and nul", 23);
    auto r = call(*client, {"SET", key, value});
    EXPECT_EQ(r.reply.str(), "OK");
    r = call(*client, {"GET", key});
    EXPECT_EQ(r.reply.str(), value);
    EXPECT_EQ(r.reply.str().size(), 15U);
    r = call(*client, {"STRLEN", key});
    EXPECT_EQ(r.reply.as_int(), 15);
    r = call(*client, {"SET", "", ""});  // empty arguments are arguments
    EXPECT_EQ(r.reply.str(), "OK");
    r = call(*client, {"GET", ""});
    EXPECT_EQ(r.reply.type, RedisReply::Type::string);
    EXPECT_EQ(r.reply.str(), "");
}

TEST_F(RedisTest, SelectsTheConfiguredDatabase) {
    auto url = parse_redis_url(server_->url() + "/3");
    ASSERT_TRUE(url.config) << url.error;
    auto in_db3 = make_client(*url.config);
    auto in_db0 = make_client(config());
    ASSERT_TRUE(start_and_wait(*in_db3));
    ASSERT_TRUE(start_and_wait(*in_db0));
    EXPECT_EQ(call(*in_db3, cmd({"SET", "only-in-3", "1"})).reply.str(), "OK");
    EXPECT_TRUE(call(*in_db0, cmd({"GET", "only-in-3"})).reply.is_nil());
    EXPECT_EQ(call(*in_db0, cmd({"SELECT", "3"})).reply.str(), "OK");
    EXPECT_EQ(call(*in_db0, cmd({"GET", "only-in-3"})).reply.str(), "1");
}

TEST_F(RedisTest, BadRequestsFailWithoutTouchingTheConnection) {
    auto client = make_client(config());
    auto r = call(*client, cmd({"PING"}));
    EXPECT_EQ(r.ec, RedisErrc::not_started);
    ASSERT_TRUE(start_and_wait(*client));
    r = call(*client, {});
    EXPECT_EQ(r.ec, RedisErrc::bad_argument);
    r = eval(*client, "never-registered", {}, {});
    EXPECT_EQ(r.ec, RedisErrc::unknown_script);
    for (const auto& modal : std::vector<std::vector<std::string>>{{"subscribe", "ch"},
                                                                   {"PSUBSCRIBE", "*"},
                                                                   {"SSUBSCRIBE", "ch"},
                                                                   {"UNSUBSCRIBE"},
                                                                   {"MONITOR"},
                                                                   {"HELLO", "3"},
                                                                   {"RESET"},
                                                                   {"client", "reply", "off"}}) {
        r = call(*client, modal);
        EXPECT_EQ(r.ec, RedisErrc::unsupported_command) << modal[0];
    }
    EXPECT_EQ(call(*client, cmd({"CLIENT", "SETNAME", "relink"})).reply.str(), "OK");
    EXPECT_EQ(call(*client, cmd({"PING"})).reply.str(), "PONG");
}

// ---------------------------------------------------------------------------------------------------------------
// Deadlines and liveness

TEST_F(RedisTest, StalledLinkTimesOutTheRequestAndReconnects) {
    faultproxy::Options options;
    options.upstream_port = server_->port();
    faultproxy::FaultProxy proxy(options);
    auto c = config(proxy.port());
    c.request_timeout = 200ms;
    c.ping_interval = 0ms;  // only the request's own deadline
    auto client = make_client(c);
    std::vector<bool> states;
    client->on_state([&](bool up) { states.push_back(up); });
    ASSERT_TRUE(start_and_wait(*client));

    proxy.set_mode(faultproxy::Mode::stall);
    std::vector<std::error_code> errors;
    const auto sent = Clock::now();
    Clock::time_point first_done;
    client->command(cmd({"GET", "a"}), [&](std::error_code ec, const RedisReply&) {
        errors.push_back(ec);
        first_done = Clock::now();
    });
    client->command(cmd({"GET", "b"}), [&](std::error_code ec, const RedisReply&) { errors.push_back(ec); });
    ASSERT_TRUE(run_until([&] { return errors.size() == 2; }, 3000ms));
    EXPECT_EQ(errors[0], RedisErrc::timeout);
    EXPECT_EQ(errors[1], RedisErrc::connection_lost);  // behind the timed-out one: dropped with the connection
    const auto waited = first_done - sent;
    EXPECT_GE(waited, 190ms);
    EXPECT_LT(waited, 1500ms);
    EXPECT_EQ(client->stats().timeouts, 1U);
    EXPECT_FALSE(client->connected());

    proxy.set_mode(faultproxy::Mode::pass);
    ASSERT_TRUE(run_until([&] { return client->connected(); }, 5000ms));
    EXPECT_EQ(client->stats().reconnects, 1U);
    EXPECT_EQ(call(*client, cmd({"PING"})).reply.str(), "PONG");
    ASSERT_TRUE(run_until([&] { return states.size() >= 3; }, 1000ms));
    EXPECT_EQ(states, (std::vector<bool>{true, false, true}));
}

TEST_F(RedisTest, BusyRedisTimesOutTheRequestAndTheClientComesBackAfterIt) {
    auto c = config();
    c.request_timeout = 200ms;
    c.ping_interval =
        0ms;  // no PING queued ahead of the GET while the server sleeps: the GET is the one that times out
    auto client = make_client(c);
    auto sleeper_config = config();
    sleeper_config.request_timeout = 5000ms;
    sleeper_config.ping_interval = 0ms;
    auto sleeper = make_client(sleeper_config);
    ASSERT_TRUE(start_and_wait(*client));
    ASSERT_TRUE(start_and_wait(*sleeper));

    std::optional<std::error_code> slept;
    sleeper->command(cmd({"DEBUG", "SLEEP", "2"}), [&](std::error_code ec, const RedisReply&) { slept = ec; });
    // Once the server is asleep (a PING from a third connection goes unanswered), ask on the client's connection.
    ASSERT_TRUE(run_until([&] { return !relink::test::redis_answers_ping(server_->port(), 300ms); }, 2000ms));
    std::optional<std::error_code> got;
    const auto sent = Clock::now();
    client->command(cmd({"GET", "a"}), [&](std::error_code ec, const RedisReply&) { got = ec; });
    ASSERT_TRUE(run_until([&] { return got.has_value(); }, 3000ms));
    EXPECT_EQ(*got, RedisErrc::timeout);
    EXPECT_LT(Clock::now() - sent, 1500ms);
    ASSERT_TRUE(run_until([&] { return slept.has_value(); }, 5000ms));
    EXPECT_FALSE(*slept);
    ASSERT_TRUE(run_until([&] { return client->connected(); }, 5000ms));
    EXPECT_GE(client->stats().timeouts, 1U);
    EXPECT_EQ(call(*client, cmd({"PING"})).reply.str(), "PONG");
}

TEST_F(RedisTest, PingDetectsABlackholedLinkWithNothingPending) {
    faultproxy::Options options;
    options.upstream_port = server_->port();
    faultproxy::FaultProxy proxy(options);
    auto c = config(proxy.port());
    c.ping_interval = 100ms;
    c.request_timeout = 200ms;
    auto client = make_client(c);
    std::vector<bool> states;
    client->on_state([&](bool up) { states.push_back(up); });
    ASSERT_TRUE(start_and_wait(*client));
    ASSERT_TRUE(run_until([&] { return client->last_ping_rtt().has_value(); }, 1000ms));

    proxy.set_mode(faultproxy::Mode::blackhole);
    const auto cut = Clock::now();
    ASSERT_TRUE(run_until([&] { return !client->connected(); }, 3000ms));
    const auto noticed = Clock::now() - cut;
    EXPECT_GE(noticed, 100ms);  // at least the probe's timeout (minus a probe sent just before the cut)
    EXPECT_LT(noticed, 2000ms);
    EXPECT_GE(client->stats().timeouts, 1U);
    EXPECT_EQ(client->stats().disconnects, 1U);

    // Blackholed, new connections connect (to the proxy) but never answer: the setup PING times out, again.
    const auto timeouts = client->stats().timeouts;
    ASSERT_TRUE(run_until([&] { return client->stats().timeouts > timeouts; }, 3000ms));
    EXPECT_FALSE(client->connected());

    proxy.set_mode(faultproxy::Mode::pass);
    ASSERT_TRUE(run_until([&] { return client->connected(); }, 5000ms));
    EXPECT_EQ(call(*client, cmd({"PING"})).reply.str(), "PONG");
    ASSERT_TRUE(run_until([&] { return states.size() >= 3; }, 1000ms));
    EXPECT_EQ(states, (std::vector<bool>{true, false, true}));
}

// ---------------------------------------------------------------------------------------------------------------
// Reconnects

TEST_F(RedisTest, ReconnectsAfterKill9AndRestartOnTheSamePort) {
    auto client = make_client(config());
    std::vector<bool> states;
    client->on_state([&](bool up) { states.push_back(up); });
    ASSERT_TRUE(start_and_wait(*client));
    EXPECT_EQ(call(*client, cmd({"SET", "before", "1"})).reply.str(), "OK");

    ASSERT_TRUE(server_->kill9());
    ASSERT_TRUE(run_until([&] { return !client->connected(); }, 3000ms));
    EXPECT_GE(client->stats().errors, 1U);

    // Down: requests fail at once, nothing is queued.
    const auto asked = Clock::now();
    const auto r = call(*client, cmd({"GET", "before"}), 1000ms);
    EXPECT_EQ(r.ec, RedisErrc::redis_unavailable);
    EXPECT_NE(r.ec.message().find("unavailable"), std::string::npos);
    EXPECT_LT(Clock::now() - asked, 300ms);  // at once: far below request_timeout (2 s)

    // Refused connects are retried with backoff while the server is gone.
    const auto attempts = client->stats().connect_attempts;
    ASSERT_TRUE(run_until([&] { return client->stats().connect_attempts >= attempts + 2; }, 3000ms));
    EXPECT_FALSE(client->connected());

    ASSERT_TRUE(server_->restart());
    ASSERT_TRUE(run_until([&] { return client->connected(); }, 5000ms));
    const auto stats = client->stats();
    EXPECT_EQ(stats.connects, 2U);
    EXPECT_EQ(stats.reconnects, 1U);
    EXPECT_EQ(stats.disconnects, 1U);
    EXPECT_GE(stats.connect_attempts, 4U);
    EXPECT_TRUE(call(*client, cmd({"GET", "before"})).reply.is_nil());  // a new, empty server
    EXPECT_EQ(call(*client, cmd({"SET", "after", "1"})).reply.str(), "OK");
    ASSERT_TRUE(run_until([&] { return states.size() >= 3; }, 1000ms));
    EXPECT_EQ(states, (std::vector<bool>{true, false, true}));
}

TEST_F(RedisTest, ClosedPortIsRetriedWithBackoffWithoutCrashing) {
    const auto closed = relink::test::free_loopback_port();
    ASSERT_NE(closed, 0);
    auto c = config(closed);
    c.backoff_initial = 50ms;
    c.backoff_max = 200ms;
    auto client = make_client(c);
    client->start();
    const auto started = Clock::now();
    ASSERT_TRUE(run_until([&] { return client->stats().connect_attempts >= 5; }, 5000ms));
    const auto elapsed = Clock::now() - started;
    // Four waits between five attempts: at least 40 + 80 + 160 + 160 ms with the -20 % jitter.
    EXPECT_GE(elapsed, 400ms);
    EXPECT_FALSE(client->connected());
    EXPECT_GE(client->stats().errors, 4U);
    EXPECT_EQ(client->stats().connects, 0U);
    EXPECT_EQ(call(*client, cmd({"PING"})).ec, RedisErrc::redis_unavailable);
    EXPECT_NE(log_.find("failed"), std::string::npos) << log_;
    client->stop();
}

TEST_F(RedisTest, ResolvesAHostName) {
    auto c = config();
    c.host = "localhost";  // resolved by Asio, not by hiredis (which would block the executor)
    auto client = make_client(c);
    ASSERT_TRUE(start_and_wait(*client)) << log_;
    EXPECT_EQ(call(*client, cmd({"PING"})).reply.str(), "PONG");
}

TEST_F(RedisTest, UnresolvableHostIsRetriedWithoutCrashing) {
    auto c = config();
    c.host = "no-such-host.invalid";
    c.connect_timeout = 300ms;
    auto client = make_client(c);
    client->start();
    ASSERT_TRUE(run_until([&] { return client->stats().connect_attempts >= 3; }, 5000ms));
    EXPECT_FALSE(client->connected());
    EXPECT_EQ(call(*client, cmd({"PING"})).ec, RedisErrc::redis_unavailable);
    EXPECT_NE(log_.find("no-such-host.invalid"), std::string::npos) << log_;
    client->stop();
}

TEST_F(RedisTest, ConnectThatNeverCompletesTimesOut) {
    // A listener that never accepts, its accept queue full: the kernel drops further SYNs, so a connect hangs.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listener, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 0), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    std::vector<int> fillers;
    for (int i = 0; i < 3; ++i) {  // fills the queue (backlog 0 holds one) and then some
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        fillers.push_back(fd);
    }
    auto c = config(ntohs(addr.sin_port));
    c.connect_timeout = 300ms;
    auto client = make_client(c);
    client->start();
    const auto started = Clock::now();
    const bool timed_out = run_until([&] { return client->stats().timeouts >= 1; }, 5000ms);
    const auto waited = Clock::now() - started;
    client->stop();
    for (const int fd : fillers) {
        ::close(fd);
    }
    ::close(listener);
    ASSERT_TRUE(timed_out) << log_;
    EXPECT_GE(waited, 250ms);
    EXPECT_LT(waited, 3000ms);
    const std::string expected = "connect to 127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + " timed out";
    EXPECT_NE(log_.find(expected), std::string::npos) << log_;
    EXPECT_FALSE(client->connected());
}

// ---------------------------------------------------------------------------------------------------------------
// Scripts

constexpr const char* kIncrBy = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

TEST_F(RedisTest, ScriptsAreLoadedOnEveryConnectAndNoScriptIsHandled) {
    auto client = make_client(config());
    const std::string sha = client->register_script("incrby", kIncrBy);
    EXPECT_EQ(sha.size(), 40U);
    ASSERT_TRUE(start_and_wait(*client));

    auto exists = [&] {
        const auto r = call(*client, {"SCRIPT", "EXISTS", sha});
        return r.reply.is_array() && !r.reply.elements.empty() && r.reply.elements[0].as_int() == 1;
    };
    EXPECT_TRUE(exists());  // loaded before the client said "up"
    auto r = eval(*client, "incrby", {"n"}, {"5"});
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.reply.as_int(), 5);

    // The server forgets its scripts: the next eval still works (NOSCRIPT, then EVAL), and caches it again.
    EXPECT_EQ(call(*client, cmd({"SCRIPT", "FLUSH"})).reply.str(), "OK");
    EXPECT_FALSE(exists());
    r = eval(*client, "incrby", {"n"}, {"2"});
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.reply.as_int(), 7) << r.reply.describe();
    EXPECT_TRUE(exists());

    // A script that fails is an error reply, not a retry.
    client->register_script("broken", "return redis.call('INCR', KEYS[1])");
    EXPECT_EQ(call(*client, cmd({"SET", "s", "text"})).reply.str(), "OK");
    r = eval(*client, "broken", {"s"}, {});
    EXPECT_FALSE(r.ec);
    EXPECT_TRUE(r.reply.is_error());

    // A script that does not compile: the client stays up (and comes up on every connect); eval gets the error.
    const auto reply_errors = client->stats().reply_errors;
    client->register_script("syntax-error", "return (");
    EXPECT_TRUE(run_until([&] { return client->stats().reply_errors == reply_errors + 1; }));  // SCRIPT LOAD failed
    EXPECT_NE(log_.find("script syntax-error not loaded"), std::string::npos) << log_;
    EXPECT_TRUE(client->connected());

    // A new server (empty script cache): loaded again on the reconnect, before any eval.
    ASSERT_TRUE(server_->kill9());
    ASSERT_TRUE(run_until([&] { return !client->connected(); }, 3000ms));
    ASSERT_TRUE(server_->restart());
    ASSERT_TRUE(run_until([&] { return client->connected(); }, 5000ms));
    EXPECT_TRUE(exists());
    r = eval(*client, "incrby", {"n"}, {"1"});
    EXPECT_EQ(r.reply.as_int(), 1);
    r = eval(*client, "syntax-error", {}, {});
    EXPECT_FALSE(r.ec);
    EXPECT_TRUE(r.reply.is_error());
    EXPECT_NE(r.reply.str().find("ompil"), std::string::npos) << r.reply.str();
}

// ---------------------------------------------------------------------------------------------------------------
// Pub/sub

TEST_F(RedisTest, SubscriberGetsMessagesAndResubscribesAfterARestart) {
    auto publisher = make_client(config());
    RedisSubscriber subscriber(io_.get_executor(), config());
    subscriber.set_logger([this](std::string_view line) { log_ += std::string(line) + "\n"; });
    std::vector<std::pair<std::string, std::string>> messages;
    int resubscribed = 0;
    std::vector<bool> states;
    subscriber.on_message(
        [&](const std::string& channel, const std::string& payload) { messages.emplace_back(channel, payload); });
    subscriber.on_resubscribed([&] { ++resubscribed; });
    subscriber.on_state([&](bool up) { states.push_back(up); });
    subscriber.subscribe("news");
    subscriber.subscribe("binary");
    subscriber.start();
    ASSERT_TRUE(start_and_wait(*publisher));
    ASSERT_TRUE(run_until([&] { return subscriber.connected(); }));
    EXPECT_EQ(resubscribed, 0);  // the first connect is not a REsubscribe

    EXPECT_EQ(call(*publisher, cmd({"PUBLISH", "news", "hello"})).reply.as_int(), 1);
    const std::string payload("\0\r\nbin", 6);
    EXPECT_EQ(call(*publisher, {"PUBLISH", "binary", payload}).reply.as_int(), 1);
    ASSERT_TRUE(run_until([&] { return messages.size() == 2; }));
    EXPECT_EQ(messages[0], (std::pair<std::string, std::string>{"news", "hello"}));
    EXPECT_EQ(messages[1], (std::pair<std::string, std::string>{"binary", payload}));

    // Subscribed while up: in effect once the server counts the subscriber.
    subscriber.subscribe("late");
    auto subscribers_of = [&](const std::string& channel) {
        const auto r = call(*publisher, {"PUBSUB", "NUMSUB", channel});
        return r.reply.elements.size() == 2 ? r.reply.elements[1].as_int().value_or(-1) : -1;
    };
    ASSERT_TRUE(run_until([&] { return subscribers_of("late") == 1; }));
    EXPECT_EQ(call(*publisher, cmd({"PUBLISH", "late", "x"})).reply.as_int(), 1);
    ASSERT_TRUE(run_until([&] { return messages.size() == 3; }));
    EXPECT_EQ(messages[2].first, "late");

    // Restart: the subscriber comes back with every channel, says so, and messages flow again.
    ASSERT_TRUE(server_->kill9());
    ASSERT_TRUE(run_until([&] { return !subscriber.connected() && !publisher->connected(); }, 3000ms));
    subscriber.subscribe("while-down");  // kept, and subscribed with the others on the reconnect
    ASSERT_TRUE(server_->restart());
    ASSERT_TRUE(run_until([&] { return resubscribed == 1 && publisher->connected(); }, 5000ms));
    EXPECT_TRUE(subscriber.connected());
    EXPECT_EQ(subscribers_of("news"), 1);
    EXPECT_EQ(subscribers_of("late"), 1);
    EXPECT_EQ(subscribers_of("while-down"), 1);
    EXPECT_EQ(call(*publisher, cmd({"PUBLISH", "news", "again"})).reply.as_int(), 1);
    ASSERT_TRUE(run_until([&] { return messages.size() == 4; }));
    EXPECT_EQ(messages[3], (std::pair<std::string, std::string>{"news", "again"}));
    EXPECT_EQ(states, (std::vector<bool>{true, false, true}));
    EXPECT_EQ(subscriber.stats().reconnects, 1U);

    // Unsubscribed: the server stops counting it; other channels still flow.
    subscriber.unsubscribe("news");
    subscriber.unsubscribe("never-subscribed");  // harmless
    ASSERT_TRUE(run_until([&] { return subscribers_of("news") == 0; }));
    EXPECT_EQ(call(*publisher, cmd({"PUBLISH", "news", "unheard"})).reply.as_int(), 0);
    EXPECT_EQ(call(*publisher, cmd({"PUBLISH", "late", "heard"})).reply.as_int(), 1);
    ASSERT_TRUE(run_until([&] { return messages.size() == 5; }));
    EXPECT_EQ(messages[4].second, "heard");
    EXPECT_EQ(subscriber.channels(), (std::vector<std::string>{"binary", "late", "while-down"}));
}

TEST_F(RedisTest, NoMessageIsDeliveredAfterTheSubscriberStops) {
    auto publisher = make_client(config());
    RedisSubscriber subscriber(io_.get_executor(), config());
    int messages = 0;
    bool stopped = false;
    int after_stop = 0;
    subscriber.on_message([&](const std::string&, const std::string&) {
        ++messages;
        after_stop += stopped ? 1 : 0;
    });
    subscriber.subscribe("burst");
    subscriber.start();
    ASSERT_TRUE(start_and_wait(*publisher));
    ASSERT_TRUE(run_until([&] { return subscriber.connected(); }));
    constexpr int kCount = 200;
    int published = 0;
    for (int i = 0; i < kCount; ++i) {
        publisher->command(cmd({"PUBLISH", "burst", std::to_string(i)}),
                           [&](std::error_code ec, const RedisReply&) { published += ec ? 0 : 1; });
    }
    // Stop with messages delivered by the server but not (all) handed to the owner yet.
    ASSERT_TRUE(run_until([&] { return published == kCount || messages > 0; }));
    subscriber.stop();
    stopped = true;
    asio::steady_timer settle(io_, 300ms);
    bool settled = false;
    settle.async_wait([&](boost::system::error_code) { settled = true; });
    ASSERT_TRUE(run_until([&] { return settled && published == kCount; }, 3000ms));
    EXPECT_EQ(after_stop, 0);
    EXPECT_LT(messages, kCount);
    EXPECT_FALSE(subscriber.connected());
}

TEST_F(RedisTest, SubscriberHeartbeatDetectsABlackholedLink) {
    faultproxy::Options options;
    options.upstream_port = server_->port();
    faultproxy::FaultProxy proxy(options);
    auto c = config(proxy.port());
    c.ping_interval = 100ms;
    c.request_timeout = 200ms;
    RedisSubscriber subscriber(io_.get_executor(), c);
    int resubscribed = 0;
    subscriber.on_resubscribed([&] { ++resubscribed; });
    subscriber.subscribe("news");
    subscriber.start();
    ASSERT_TRUE(run_until([&] { return subscriber.connected(); }));
    ASSERT_TRUE(subscriber.last_heartbeat_rtt().has_value());
    proxy.set_mode(faultproxy::Mode::blackhole);
    ASSERT_TRUE(run_until([&] { return !subscriber.connected(); }, 3000ms));
    EXPECT_GE(subscriber.stats().timeouts, 1U);
    proxy.set_mode(faultproxy::Mode::pass);
    ASSERT_TRUE(run_until([&] { return resubscribed == 1; }, 5000ms));
    EXPECT_TRUE(subscriber.connected());
}

// ---------------------------------------------------------------------------------------------------------------
// Threads: a strand of an io_context run by two threads

TEST_F(RedisTest, RunsOnAStrandOfAnIoContextWithTwoThreads) {
    asio::io_context pool;
    auto strand = asio::make_strand(pool);
    auto pool_work = asio::make_work_guard(pool);
    RedisClient client(strand, config());
    constexpr int kCount = 200;
    std::vector<long long> seen;  // touched on the strand only
    std::promise<void> finished;
    client.on_state([&](bool up) {
        if (!up || !seen.empty()) {
            return;
        }
        for (int i = 0; i < kCount; ++i) {
            client.command(cmd({"INCR", "strand"}), [&](std::error_code ec, const RedisReply& reply) {
                seen.push_back(ec ? -1 : reply.as_int().value_or(-1));
                if (seen.size() == kCount) {
                    client.stop();
                    finished.set_value();
                }
            });
        }
    });
    std::thread a([&] { pool.run(); });
    std::thread b([&] { pool.run(); });
    asio::post(strand, [&] { client.start(); });
    const bool done = finished.get_future().wait_for(10s) == std::future_status::ready;
    asio::post(strand, [&] { client.stop(); });  // in case it did not finish
    pool_work.reset();
    a.join();
    b.join();
    ASSERT_TRUE(done);
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(kCount));
    for (int i = 0; i < kCount; ++i) {
        ASSERT_EQ(seen[static_cast<std::size_t>(i)], i + 1) << "at " << i;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// stop()

TEST_F(RedisTest, StopAbortsRequestsInFlightAndNothingRunsAfterIt) {
    auto c = config();
    c.request_timeout = 5000ms;
    auto client = make_client(c);
    int state_changes = 0;
    client->on_state([&](bool) { ++state_changes; });
    ASSERT_TRUE(start_and_wait(*client));
    ASSERT_TRUE(run_until([&] { return state_changes == 1; }));

    std::vector<std::error_code> results;
    client->command(cmd({"DEBUG", "SLEEP", "1"}),
                    [&](std::error_code ec, const RedisReply&) { results.push_back(ec); });
    for (int i = 0; i < 5; ++i) {
        client->command(cmd({"PING"}), [&](std::error_code ec, const RedisReply&) { results.push_back(ec); });
    }
    client->eval("nothing", {}, {}, [&](std::error_code ec, const RedisReply&) { results.push_back(ec); });  // unknown
    // Let the commands reach the server (it is asleep now), then stop with all of them in flight.
    ASSERT_TRUE(run_until([&] { return results.size() == 1; }, 1000ms));  // the unknown script's failure
    client->stop();
    client->stop();  // idempotent
    EXPECT_FALSE(client->connected());
    client->command(cmd({"PING"}), [&](std::error_code ec, const RedisReply&) { results.push_back(ec); });
    ASSERT_TRUE(run_until([&] { return results.size() == 8; }, 1000ms));
    EXPECT_EQ(results[0], RedisErrc::unknown_script);
    for (std::size_t i = 1; i < results.size(); ++i) {
        EXPECT_EQ(results[i], std::errc::operation_canceled) << i << ": " << results[i].message();
    }
    // Past the server's sleep: no reply, state change or anything else arrives.
    asio::steady_timer past_sleep(io_, 1300ms);
    bool waited = false;
    past_sleep.async_wait([&](boost::system::error_code) { waited = true; });
    ASSERT_TRUE(run_until([&] { return waited; }, 3000ms));
    EXPECT_EQ(results.size(), 8U);
    EXPECT_EQ(state_changes, 1);
}

TEST_F(RedisTest, DestroyingTheClientWithRequestsInFlightAbortsThem) {
    auto client = make_client(config());
    ASSERT_TRUE(start_and_wait(*client));
    std::vector<std::error_code> results;
    for (int i = 0; i < 3; ++i) {
        client->command(cmd({"PING"}), [&](std::error_code ec, const RedisReply&) { results.push_back(ec); });
    }
    client.reset();
    ASSERT_TRUE(run_until([&] { return results.size() == 3; }, 1000ms));
    for (const auto& ec : results) {
        EXPECT_EQ(ec, std::errc::operation_canceled);
    }
}

}  // namespace
}  // namespace relink::cluster
