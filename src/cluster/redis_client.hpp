// cluster/redis_client.hpp — relinkd's Redis client on Asio. Defines:
//   - RedisReply: an owning copy of one Redis reply (nil, integer, bulk string, status, error, array);
//   - RedisConfig and parse_redis_url("redis://HOST[:PORT][/DB]");
//   - RedisErrc and redis_category(): the client's errors as std::error_code, with readable messages;
//   - RedisClient: commands (pipelined, binary-safe), a deadline per request, a PING for liveness, reconnects with
//     jittered exponential backoff, Lua scripts loaded on every connect and run by EVALSHA (NOSCRIPT handled);
//   - RedisSubscriber: pub/sub on a connection of its own, subscriptions kept across reconnects.
//
// Both classes drive hiredis 0.14's async API (Debian 12's libhiredis) from an Asio executor through an adapter
// over hiredis's event hooks; hiredis itself stays in redis_client.cpp (pimpl), so this header costs Asio's
// any_io_executor header only.
//
// Why two classes: a Redis connection that has sent SUBSCRIBE accepts nothing but (P)SUBSCRIBE, (P)UNSUBSCRIBE,
// PING and QUIT, so pub/sub needs a connection of its own anyway. Its life differs as well: it is "up" once every
// channel is subscribed again (not once scripts are loaded), a reconnect means messages were missed (the owner
// must resynchronise: on_resubscribed), and its liveness probe cannot be PING (hiredis 0.14 never calls the
// callback of a PING sent in subscribed mode: it finds no subscription for the ["pong", ""] reply and hands it to
// the callback of the reply before it, a channel's), so it re-SUBSCRIBEs a private heartbeat channel instead. A
// separate class keeps each one's contract small; an owner that needs both makes both on the same executor. They share
// the connection machinery in the .cpp.
//
// Threading: every member function, and every callback, runs on the executor given at construction (a strand or a
// single-threaded io_context). Callbacks are never invoked from inside a member function: they are posted to the
// executor, in order. Nothing is locked. The logger is the exception: it is called synchronously, from inside the
// client, and must not call back into it.
//
// Signals: hiredis 0.14 writes with write(2), which raises SIGPIPE on a connection the peer has reset; the client
// blocks SIGPIPE on its thread around hiredis's writes (and consumes one raised meanwhile), so the process need not
// ignore SIGPIPE.
//
// Lifetime: stop() (also called by the destructor) is idempotent. After it returns, the only callbacks that still
// run are request handlers completing with operation_aborted (std::errc::operation_canceled, which is the error
// Asio's operation_aborted stands for on POSIX); state, message and resubscribe callbacks never run again. A
// stopped client cannot be started again. Destroy clients before their io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

namespace relink::cluster {

/// The client's durations (not relink::Duration, whose unit is finer: a name of its own keeps the two apart).
using Millis = std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------------------------
// Errors

/// The client's own errors. Error replies from Redis ("ERR ...", "WRONGTYPE ...") are not errors of the request:
/// they arrive as a RedisReply of type error with an empty error_code (RedisReply::is_error()).
enum class RedisErrc {
    redis_unavailable = 1,  ///< not connected (or not ready yet): the request was not sent
    timeout,                ///< no reply within request_timeout; the connection is then dropped and reconnected
    connection_lost,        ///< the connection broke before the reply came; the command may or may not have run
    protocol,               ///< a reply hiredis could not parse, or not the reply the client expected
    reply_error,            ///< an internal command (SELECT, SCRIPT LOAD, SUBSCRIBE) was answered with an error
    unknown_script,         ///< eval() of a name never passed to register_script()
    bad_argument,           ///< an empty command, or too many arguments
    not_started,            ///< a request before start()
    unsupported_command,    ///< a command that changes how the connection answers (SUBSCRIBE, MONITOR, HELLO, ...)
};

[[nodiscard]] const std::error_category& redis_category() noexcept;
[[nodiscard]] std::error_code make_error_code(RedisErrc code) noexcept;

/// The error a request handler gets when stop() ended it (operation_aborted).
[[nodiscard]] std::error_code aborted_error() noexcept;

// ---------------------------------------------------------------------------------------------------------------
// Replies

/// An owning copy of one hiredis reply.
struct RedisReply {
    enum class Type { nil, integer, string, status, error, array };
    Type type{Type::nil};
    long long integer{0};              ///< Type::integer
    std::string text;                  ///< Type::string (binary-safe), status and error
    std::vector<RedisReply> elements;  ///< Type::array

    [[nodiscard]] bool is_nil() const noexcept { return type == Type::nil; }
    [[nodiscard]] bool is_error() const noexcept { return type == Type::error; }
    [[nodiscard]] bool is_array() const noexcept { return type == Type::array; }
    /// The integer of an integer reply, or a bulk string / status that is a whole decimal number ("GET n");
    /// nullopt otherwise.
    [[nodiscard]] std::optional<long long> as_int() const noexcept;
    /// The text of a string, status or error reply; empty for the other types.
    [[nodiscard]] const std::string& str() const noexcept { return text; }
    /// A short human-readable rendering (for logs and test failures): "nil", "(integer) 3", "\"abc\"", ...
    [[nodiscard]] std::string describe() const;
};

// ---------------------------------------------------------------------------------------------------------------
// Configuration

struct RedisConfig {
    /// An IP address, or a name: resolved asynchronously on each round of attempts, its addresses tried in turn.
    std::string host{"127.0.0.1"};
    std::uint16_t port{6379};
    int db{0};                             ///< SELECTed on every connect when not 0
    Millis connect_timeout{Millis(2000)};  ///< TCP connect
    Millis request_timeout{Millis(1000)};  ///< per request, from the moment it is sent
    Millis ping_interval{Millis(1000)};    ///< liveness probe while up; 0 = none
    Millis backoff_initial{Millis(100)};   ///< first retry after a failure (± 20 % jitter)
    Millis backoff_max{Millis(5000)};      ///< doubling stops here (± 20 % jitter, never above)
};

/// A RedisConfig, or the one line that says what is wrong with the URL.
struct ParsedRedisUrl {
    std::optional<RedisConfig> config;
    std::string error;  ///< meaningful only when !config
};

/// Parses "redis://HOST[:PORT][/DB]" (HOST may be "[IPv6]"; PORT defaults to 6379, DB to 0) into a RedisConfig
/// with the default timeouts. Never throws: anything else (another scheme, credentials, a query, an empty host, a
/// port outside 1..65535, a DB that is not a small number) is an error line naming the problem.
[[nodiscard]] ParsedRedisUrl parse_redis_url(std::string_view url) noexcept;

/// Counters since construction.
struct RedisStats {
    std::uint64_t connect_attempts{0};  ///< TCP connects started
    std::uint64_t connects{0};          ///< times the client came up (ready for requests)
    std::uint64_t reconnects{0};        ///< times it came up again after the first time
    std::uint64_t disconnects{0};       ///< times it went down after being up
    std::uint64_t timeouts{0};          ///< requests, PINGs or connects that timed out
    std::uint64_t errors{0};            ///< connection errors: refused, reset, EOF, protocol, failed setup
    std::uint64_t reply_errors{0};      ///< error replies to the owner's requests (as replies), SCRIPT LOAD's
};

using RedisHandler = std::function<void(std::error_code, RedisReply)>;
using RedisLogger = std::function<void(std::string_view)>;

// ---------------------------------------------------------------------------------------------------------------
// RedisClient

/// A self-healing Redis connection for commands and scripts.
///
/// Commands are pipelined: each is written as soon as it is made, and handlers complete in the order the commands
/// were made. A request not answered within request_timeout completes with RedisErrc::timeout, the ones behind it
/// with connection_lost, and the connection is dropped (a stalled connection cannot be trusted to answer in order)
/// and made again. While up, a PING every ping_interval detects a dead link with nothing pending. After any error
/// the client reconnects with jittered exponential backoff; on each connect it SELECTs the db, loads every
/// registered script and PINGs before it reports up. While it is not up, requests fail at once with
/// redis_unavailable: nothing is queued.
///
/// Not for: blocking commands that wait longer than request_timeout (BLPOP ...: the deadline drops the
/// connection), commands that change how the connection answers (pub/sub, MONITOR, HELLO, CLIENT REPLY, RESET:
/// refused with unsupported_command), and connection state set by a command (SELECT, CLIENT SETNAME), which does
/// not survive a reconnect (RedisConfig::db does).
class RedisClient {
public:
    RedisClient(boost::asio::any_io_executor executor, RedisConfig config);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    /// Starts connecting (at once; then retries with backoff forever until stop()). Idempotent.
    void start();
    /// Closes the connection and ends every request in flight with operation_aborted. Idempotent.
    void stop();

    /// Sends argv (binary-safe: each argument may hold any bytes) and completes `handler` with the reply.
    void command(const std::vector<std::string>& argv, RedisHandler handler);

    /// Registers (or replaces) a Lua script under `name`. It is loaded (SCRIPT LOAD) on every connect before the
    /// client reports up, and at once when up; a script Redis refuses is logged, not fatal. Returns its SHA1 (hex).
    std::string register_script(const std::string& name, std::string lua_source);
    /// Runs the script `name` by EVALSHA. A NOSCRIPT error (the server lost its script cache: SCRIPT FLUSH, a
    /// restart between connects) is handled: the script is run once more by EVAL, which also caches it again. That
    /// retry is a new request, behind the ones made meanwhile.
    void eval(const std::string& name, std::vector<std::string> keys, std::vector<std::string> args,
              RedisHandler handler);

    /// True while up: connected, db selected, scripts loaded.
    [[nodiscard]] bool connected() const noexcept;
    /// Called (posted) on every change: true when up, false when it goes down.
    void on_state(std::function<void(bool up)> callback);
    void set_logger(RedisLogger logger);
    [[nodiscard]] RedisStats stats() const noexcept;
    /// The round trip of the last PING answered (liveness or connect), nullopt before the first.
    [[nodiscard]] std::optional<std::chrono::microseconds> last_ping_rtt() const noexcept;
    /// The executor everything runs on.
    [[nodiscard]] boost::asio::any_io_executor executor() const noexcept;

    class Impl;

private:
    std::shared_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------------------------
// RedisSubscriber

/// Redis pub/sub on a connection of its own. subscribe() and unsubscribe() work at any time: the set of channels
/// is the subscriber's, and it is subscribed again on every reconnect. Messages published while the subscriber was
/// down are lost: on_resubscribed() tells the owner, after each reconnect, once every channel is subscribed again.
/// Liveness: every ping_interval it re-subscribes a private heartbeat channel and expects the confirmation within
/// request_timeout (see the comment at the top of this file for why not PING). Channels only: no patterns.
class RedisSubscriber {
public:
    RedisSubscriber(boost::asio::any_io_executor executor, RedisConfig config);
    ~RedisSubscriber();
    RedisSubscriber(const RedisSubscriber&) = delete;
    RedisSubscriber& operator=(const RedisSubscriber&) = delete;

    void start();  ///< idempotent
    void stop();   ///< idempotent; no callback runs after it returns

    void subscribe(const std::string& channel);    ///< adds to the set; SUBSCRIBEs now when connected
    void unsubscribe(const std::string& channel);  ///< removes from the set; UNSUBSCRIBEs now when connected
    [[nodiscard]] std::vector<std::string> channels() const;

    void on_message(std::function<void(const std::string& channel, const std::string& payload)> callback);
    /// Called (posted) after every reconnect but the first connect, once all channels are subscribed again.
    void on_resubscribed(std::function<void()> callback);
    /// Called (posted) on every change: true once subscribed (after a connect), false when the connection is lost.
    void on_state(std::function<void(bool up)> callback);
    void set_logger(RedisLogger logger);

    [[nodiscard]] bool connected() const noexcept;
    [[nodiscard]] RedisStats stats() const noexcept;
    /// The round trip of the last heartbeat (or initial SUBSCRIBE) confirmed, nullopt before the first.
    [[nodiscard]] std::optional<std::chrono::microseconds> last_heartbeat_rtt() const noexcept;

    class Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace relink::cluster

template <>
struct std::is_error_code_enum<relink::cluster::RedisErrc> : std::true_type {};
