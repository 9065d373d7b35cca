// cluster/redis_client.cpp — RedisClient and RedisSubscriber over hiredis 0.14's async API, driven by Asio.
//
// Structure: EventAdapter maps hiredis's event hooks (ev.addRead/delRead/addWrite/delWrite/cleanup) onto
// async_wait on a posix::stream_descriptor that borrows hiredis's socket. Link is the connection machinery both
// classes share: connect with a timeout, the FIFO of requests in flight with their deadlines, teardown,
// reconnect with backoff, the liveness timer and the up/down state. RedisClient::Impl and RedisSubscriber::Impl
// say what a session is (the setup commands, the probe, how a reply is matched to a request).
//
// Rules that keep hiredis 0.14 safe here:
//   - hiredis callbacks (connect, disconnect, reply) only record facts and post work to the executor; nothing
//     user-visible and no redisAsyncFree() runs inside them. redisAsyncFree() from inside a reply callback only
//     flags the context (REDIS_IN_CALLBACK) and frees it after the callback returns; from inside the connect
//     callback it frees the context under redisAsyncHandleWrite's feet; from inside the disconnect callback it is a
//     double free (that callback runs from within the free). Posting avoids all three.
//   - a context we free ourselves is marked `closing` first: its NULL-reply callbacks and its disconnect callback
//     (which redisAsyncFree() runs) are ignored, and we complete its requests ourselves.
//   - a context hiredis frees itself (EOF, I/O error, failed connect) is forgotten inside the callback (`ac` set to
//     null), so it is never freed twice.
//   - requests are matched to replies by our own FIFO (hiredis answers in order), so privdata is only the
//     connection, never a per-request allocation hiredis might never hand back.
//   - in subscribed mode, hiredis 0.14 gives a reply it finds no callback for (a PING's ["pong", ""], a message for
//     a channel just unsubscribed, an UNSUBSCRIBE of a channel it does not know) to the callback of the previous
//     reply (redisProcessCallbacks reuses its `cb` variable across replies). So the subscriber never sends PING
//     or an UNSUBSCRIBE hiredis does not know of, and delivers messages only for channels in its set.
#include "cluster/redis_client.hpp"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <csignal>
#include <ctime>
#include <deque>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "common/encoding.hpp"

namespace relink::cluster {

namespace asio = boost::asio;

// ---------------------------------------------------------------------------------------------------------------
// Errors

namespace {

class RedisCategory final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "relink.redis"; }
    [[nodiscard]] std::string message(int value) const override {
        switch (static_cast<RedisErrc>(value)) {
            case RedisErrc::redis_unavailable: return "redis unavailable: not connected, the request was not sent";
            case RedisErrc::timeout: return "redis request timed out";
            case RedisErrc::connection_lost:
                return "redis connection lost before the reply (the command may or may not have run)";
            case RedisErrc::protocol: return "redis protocol error: unexpected or unparsable reply";
            case RedisErrc::reply_error: return "redis answered a setup command with an error";
            case RedisErrc::unknown_script: return "no script registered under that name";
            case RedisErrc::bad_argument: return "bad redis command: empty or too many arguments";
            case RedisErrc::not_started: return "redis client not started";
            case RedisErrc::unsupported_command:
                return "redis command not supported on this connection (SUBSCRIBE and the like: use RedisSubscriber; "
                       "MONITOR, HELLO, RESET, CLIENT REPLY)";
        }
        return "unknown redis client error";
    }
};

}  // namespace

const std::error_category& redis_category() noexcept {
    static const RedisCategory category;
    return category;
}

std::error_code make_error_code(RedisErrc code) noexcept {
    return {static_cast<int>(code), redis_category()};
}

std::error_code aborted_error() noexcept {
    return std::make_error_code(std::errc::operation_canceled);
}

// ---------------------------------------------------------------------------------------------------------------
// Replies

std::optional<long long> RedisReply::as_int() const noexcept {
    if (type == Type::integer) {
        return integer;
    }
    if (type != Type::string && type != Type::status) {
        return std::nullopt;
    }
    long long value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty()) {
        return std::nullopt;
    }
    return value;
}

std::string RedisReply::describe() const {
    switch (type) {
        case Type::nil: return "nil";
        case Type::integer: return "(integer) " + std::to_string(integer);
        case Type::string: return "\"" + text + "\"";
        case Type::status: return text;
        case Type::error: return "(error) " + text;
        case Type::array: {
            std::string out = "[";
            for (std::size_t i = 0; i < elements.size(); ++i) {
                out += (i == 0 ? "" : ", ") + elements[i].describe();
            }
            return out + "]";
        }
    }
    return "?";
}

namespace {

RedisReply copy_reply(const redisReply& reply) {
    RedisReply out;
    switch (reply.type) {
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::string;
            out.text.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::status;
            out.text.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::error;
            out.text.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::integer;
            out.integer = reply.integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::array;
            out.elements.reserve(reply.elements);
            for (std::size_t i = 0; i < reply.elements; ++i) {
                out.elements.push_back(reply.element[i] != nullptr ? copy_reply(*reply.element[i]) : RedisReply{});
            }
            break;
        default: break;  // REDIS_REPLY_NIL
    }
    return out;
}

std::string sha1_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha1(), nullptr);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): OpenSSL's unsigned char, the same bytes
    return encoding::to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// URLs

ParsedRedisUrl parse_redis_url(std::string_view url) noexcept {
    try {
        ParsedRedisUrl out;
        auto fail = [&](std::string message) {
            out.error = "bad redis URL \"" + std::string(url) + "\": " + std::move(message);
            return out;
        };
        constexpr std::string_view kScheme = "redis://";
        if (url.substr(0, kScheme.size()) != kScheme) {
            return fail("expected redis://HOST[:PORT][/DB]");
        }
        std::string_view rest = url.substr(kScheme.size());
        if (rest.find_first_of("?#") != std::string_view::npos) {
            return fail("query strings and fragments are not supported");
        }
        if (rest.find('@') != std::string_view::npos) {
            return fail("credentials in the URL are not supported");
        }
        RedisConfig config;
        std::string_view db_text;
        bool has_db = false;
        if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
            db_text = rest.substr(slash + 1);
            rest = rest.substr(0, slash);
            has_db = true;
        }
        std::string_view host;
        std::string_view port_text;
        bool has_port = false;
        if (!rest.empty() && rest.front() == '[') {
            const auto close = rest.find(']');
            if (close == std::string_view::npos) {
                return fail("unterminated [IPv6] host");
            }
            host = rest.substr(1, close - 1);
            const auto after = rest.substr(close + 1);
            if (!after.empty()) {
                if (after.front() != ':') {
                    return fail("unexpected text after the [IPv6] host");
                }
                port_text = after.substr(1);
                has_port = true;
            }
        } else {
            const auto colon = rest.find(':');
            host = rest.substr(0, colon);
            if (colon != std::string_view::npos) {
                port_text = rest.substr(colon + 1);
                has_port = true;
            }
        }
        if (host.empty()) {
            return fail("empty host");
        }
        if (std::any_of(host.begin(), host.end(), [](char ch) { return ch <= ' ' || ch == '\x7f'; })) {
            return fail("white space or a control character in the host");
        }
        config.host = std::string(host);
        if (has_port) {
            unsigned value = 0;
            const auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
            if (port_text.empty() || ec != std::errc{} || ptr != port_text.data() + port_text.size() || value == 0 ||
                value > 65535) {
                return fail("the port must be a number from 1 to 65535");
            }
            config.port = static_cast<std::uint16_t>(value);
        }
        if (has_db && !db_text.empty()) {
            int value = 0;
            const auto [ptr, ec] = std::from_chars(db_text.data(), db_text.data() + db_text.size(), value);
            if (ec != std::errc{} || ptr != db_text.data() + db_text.size() || value < 0 || value > 1'000'000) {
                return fail("the database must be a number from 0 (after the host: redis://HOST:PORT/DB)");
            }
            config.db = value;
        }
        out.config = std::move(config);
        return out;
    } catch (const std::exception& e) {  // std::bad_alloc only
        return ParsedRedisUrl{std::nullopt, std::string("bad redis URL: ") + e.what()};
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The event adapter

namespace {

using Clock = std::chrono::steady_clock;

/// hiredis 0.14 writes with write(2), not send(MSG_NOSIGNAL), and relinkd does not ignore SIGPIPE: a write to a
/// connection the peer has reset could kill the process. While one is alive, SIGPIPE is blocked on this thread
/// and a SIGPIPE raised meanwhile is consumed (libpq's way); the write itself fails with EPIPE, which hiredis
/// handles as a broken connection.
class SigpipeGuard {
public:
    SigpipeGuard() noexcept {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    }
    ~SigpipeGuard() {
        if (!was_pending_) {
            sigset_t pending;
            sigpending(&pending);
            if (sigismember(&pending, SIGPIPE) == 1) {
                const timespec now{};
                sigtimedwait(&pipe_, nullptr, &now);
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeGuard(const SigpipeGuard&) = delete;
    SigpipeGuard& operator=(const SigpipeGuard&) = delete;

private:
    sigset_t pipe_{};
    sigset_t old_{};
    bool was_pending_{false};
};

/// hiredis's event hooks on Asio: each add* arms one async_wait on the borrowed socket (at most one per direction
/// at a time), each del* only clears the wish (a wait that completes unwanted does nothing), cleanup() (the last
/// hook hiredis calls, before it closes the socket) detaches from the socket without closing it.
class EventAdapter : public std::enable_shared_from_this<EventAdapter> {
public:
    EventAdapter(const asio::any_io_executor& executor, redisAsyncContext* ac) : ac_(ac), descriptor_(executor) {}

    /// Borrows the context's socket and installs the hooks; false (and `error`) when Asio cannot register it.
    bool attach(std::string& error) {
        boost::system::error_code ec;
        descriptor_.assign(ac_->c.fd, ec);
        if (ec) {
            error = ec.message();
            return false;
        }
        ac_->ev.data = this;
        ac_->ev.addRead = [](void* self) { static_cast<EventAdapter*>(self)->add(kRead); };
        ac_->ev.delRead = [](void* self) { static_cast<EventAdapter*>(self)->want_read_ = false; };
        ac_->ev.addWrite = [](void* self) { static_cast<EventAdapter*>(self)->add(kWrite); };
        ac_->ev.delWrite = [](void* self) { static_cast<EventAdapter*>(self)->want_write_ = false; };
        ac_->ev.cleanup = [](void* self) { static_cast<EventAdapter*>(self)->cleanup(); };
        return true;
    }

    ~EventAdapter() {
        if (descriptor_.is_open()) {  // never attached to a live context's hooks: give the socket back unclosed
            (void)descriptor_.release();
        }
    }
    EventAdapter(const EventAdapter&) = delete;
    EventAdapter& operator=(const EventAdapter&) = delete;

private:
    static constexpr bool kRead = true;
    static constexpr bool kWrite = false;

    void add(bool read) {
        if (!alive_) {
            return;
        }
        (read ? want_read_ : want_write_) = true;
        bool& armed = read ? read_armed_ : write_armed_;
        if (armed) {
            return;
        }
        armed = true;
        const auto what = read ? asio::posix::descriptor_base::wait_read : asio::posix::descriptor_base::wait_write;
        descriptor_.async_wait(what, [self = shared_from_this(), read](const boost::system::error_code& ec) {
            (read ? self->read_armed_ : self->write_armed_) = false;
            if (ec || !self->alive_ || !(read ? self->want_read_ : self->want_write_)) {
                return;
            }
            // May run any hiredis callback, and may free the context (then cleanup() ran: alive_ is false).
            if (read) {
                redisAsyncHandleRead(self->ac_);
            } else {
                const SigpipeGuard no_sigpipe;
                redisAsyncHandleWrite(self->ac_);
            }
            if (self->alive_ && (read ? self->want_read_ : self->want_write_)) {
                self->add(read);
            }
        });
    }

    void cleanup() {
        alive_ = false;
        want_read_ = false;
        want_write_ = false;
        ac_ = nullptr;
        boost::system::error_code ec;
        descriptor_.cancel(ec);
        (void)descriptor_.release();  // deregisters from the reactor; hiredis closes the socket itself
    }

    redisAsyncContext* ac_;
    asio::posix::stream_descriptor descriptor_;
    bool alive_{true};
    bool want_read_{false};
    bool want_write_{false};
    bool read_armed_{false};
    bool write_armed_{false};
};

// ---------------------------------------------------------------------------------------------------------------
// Link: the connection machinery shared by RedisClient and RedisSubscriber

struct Pending {
    RedisHandler handler;
    Clock::time_point deadline;
    bool internal{false};  ///< the client's own (setup, probe): never run after stop()
};

class Link;

/// One hiredis connection (one attempt). Owned by its Link; outlives its hiredis context.
struct Conn {
    std::uint64_t id{0};
    Link* owner{nullptr};
    redisAsyncContext* ac{nullptr};  ///< null once freed (by us or by hiredis)
    std::shared_ptr<EventAdapter> adapter;
    bool connected{false};  ///< TCP connected (hiredis's connect callback said so)
    bool closing{false};    ///< we are freeing it: ignore its callbacks
    std::deque<Pending> pending;
};

void on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata);
void on_connect_cb(const redisAsyncContext* ac, int status);
void on_disconnect_cb(const redisAsyncContext* ac, int status);

std::string context_error(const redisAsyncContext* ac, const char* fallback) {
    if (ac != nullptr && ac->errstr != nullptr && ac->errstr[0] != '\0') {
        return ac->errstr;
    }
    return fallback;
}

class Link : public std::enable_shared_from_this<Link> {
public:
    Link(asio::any_io_executor executor, RedisConfig config, std::string name)
        : config_(std::move(config)),
          executor_(std::move(executor)),
          name_(std::move(name)),
          retry_timer_(executor_),
          connect_timer_(executor_),
          deadline_timer_(executor_),
          probe_timer_(executor_),
          resolver_(executor_),
          rng_(std::random_device{}()) {}

    virtual ~Link() { close_context(); }
    Link(const Link&) = delete;
    Link& operator=(const Link&) = delete;

    void start() {
        if (started_ || stopped_) {
            return;
        }
        started_ = true;
        connect_now();
    }

    void stop() {
        if (stopped_) {
            return;
        }
        stopped_ = true;
        up_ = false;
        retry_timer_.cancel();
        resolver_.cancel();
        connect_timer_.cancel();
        deadline_timer_.cancel();
        probe_timer_.cancel();
        std::deque<Pending> pending;
        if (conn_) {
            pending.swap(conn_->pending);
        }
        close_context();
        conn_.reset();
        for (auto& p : pending) {
            complete(std::move(p), aborted_error(), {});
        }
    }

    // Called by the hiredis callbacks (inside hiredis): record, post, return.
    void hiredis_connected(Conn& conn, int status) {
        if (status == REDIS_OK) {
            conn.connected = true;
            post_if_current(conn.id, [this] { begin_session(); });
            return;
        }
        std::string why = context_error(conn.ac, "connect failed");
        conn.ac = nullptr;  // hiredis frees it when this callback returns
        post_if_current(conn.id, [this, why = std::move(why)] {
            ++stats_.errors;
            log("connect to " + where() + " failed: " + why);
            drop();
        });
    }

    void hiredis_disconnected(Conn& conn, int status) {
        std::string why = status == REDIS_OK ? "closed" : context_error(conn.ac, "connection error");
        conn.ac = nullptr;  // hiredis frees it when this callback returns
        conn.connected = false;
        post_if_current(conn.id, [this, why = std::move(why)] {
            ++stats_.errors;
            log("connection to " + where() + " lost: " + why);
            drop();
        });
    }

    virtual void hiredis_reply(Conn& conn, const redisReply& reply) = 0;

    bool connected() const noexcept { return up_; }
    RedisStats stats() const noexcept { return stats_; }
    std::optional<std::chrono::microseconds> last_rtt() const noexcept { return rtt_; }
    const asio::any_io_executor& executor() const noexcept { return executor_; }
    void set_logger(RedisLogger logger) { logger_ = std::move(logger); }
    void set_state_callback(std::function<void(bool)> callback) { state_cb_ = std::move(callback); }

protected:
    /// TCP is connected: send the session's setup; call session_up() once it is ready.
    virtual void begin_session() = 0;
    /// Send the liveness probe (with a Pending whose handler calls probe_answered()).
    virtual void send_probe() = 0;
    /// The session came up (first = the first time ever).
    virtual void session_started(bool /*first*/) {}

    [[nodiscard]] bool current(std::uint64_t id) const noexcept { return !stopped_ && conn_ && conn_->id == id; }
    [[nodiscard]] std::uint64_t conn_id() const noexcept { return conn_ ? conn_->id : 0; }
    [[nodiscard]] bool session_open() const noexcept { return !stopped_ && conn_ && conn_->ac && conn_->connected; }

    void log(const std::string& line) const {
        if (logger_) {
            logger_("redis " + name_ + ": " + line);
        }
    }
    [[nodiscard]] std::string where() const { return config_.host + ":" + std::to_string(config_.port); }

    /// Posts `fn` to run if the connection `id` is still the current one then.
    template <typename Fn>
    void post_if_current(std::uint64_t id, Fn fn) {
        asio::post(executor_, [weak = weak_from_this(), id, fn = std::move(fn)]() mutable {
            const auto self = weak.lock();
            if (self && self->current(id)) {
                fn();
            }
        });
    }

    /// Posts a callback of the owner's (state, message, ...): it does not run once stopped.
    void post_event(std::function<void()> fn) {
        asio::post(executor_, [weak = weak_from_this(), fn = std::move(fn)] {
            const auto self = weak.lock();
            if (self && !self->stopped_ && fn) {
                fn();
            }
        });
    }

    /// Completes a request (posted). Once stopped, the owner's handlers get operation_aborted instead and the
    /// client's own are dropped.
    void complete(Pending p, std::error_code ec, RedisReply reply) {
        asio::post(executor_, [weak = weak_from_this(), p = std::move(p), ec, reply = std::move(reply)]() mutable {
            const auto self = weak.lock();
            if (!self || self->stopped_) {
                if (!p.internal && p.handler) {
                    p.handler(aborted_error(), {});
                }
                return;
            }
            if (p.handler) {
                p.handler(ec, std::move(reply));
            }
        });
    }

    /// Writes one command on the current connection (no Pending: the caller pushes what it expects).
    bool write_command(const std::vector<std::string>& argv) {
        if (!session_open() || argv.empty() || argv.size() > static_cast<std::size_t>(INT_MAX)) {
            return false;
        }
        std::vector<const char*> args;
        std::vector<std::size_t> lengths;
        args.reserve(argv.size());
        lengths.reserve(argv.size());
        for (const auto& a : argv) {
            args.push_back(a.data());
            lengths.push_back(a.size());
        }
        return redisAsyncCommandArgv(conn_->ac, on_reply_cb, conn_.get(), static_cast<int>(argv.size()), args.data(),
                                     lengths.data()) == REDIS_OK;
    }

    void expect(RedisHandler handler, bool internal) {
        conn_->pending.push_back(Pending{std::move(handler), Clock::now() + config_.request_timeout, internal});
        arm_deadline();
    }

    /// The first pending request of `conn`, removed (nullopt when nothing is pending: a reply nobody asked for).
    std::optional<Pending> pop_pending(Conn& conn) {
        if (conn.pending.empty()) {
            return std::nullopt;
        }
        Pending p = std::move(conn.pending.front());
        conn.pending.pop_front();
        return p;
    }

    /// The session is ready: report up, start probing.
    void session_up() {
        const bool first = stats_.connects == 0;
        up_ = true;
        ++stats_.connects;
        if (!first) {
            ++stats_.reconnects;
        }
        attempt_ = 0;
        log("up (" + where() + ")");
        post_event([this] {
            if (state_cb_) {
                state_cb_(true);
            }
        });
        session_started(first);
        arm_probe();
    }

    void probe_answered(std::uint64_t id, Clock::time_point sent, std::error_code ec) {
        if (!current(id)) {
            return;
        }
        probe_outstanding_ = false;
        if (!ec) {
            rtt_ = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent);
        }
    }

    /// Drops the current connection (its requests complete with connection_lost), reports down, retries later.
    void drop() {
        std::deque<Pending> pending;
        if (conn_) {
            pending.swap(conn_->pending);
        }
        close_context();
        conn_.reset();
        probe_outstanding_ = false;
        for (auto& p : pending) {
            complete(std::move(p), make_error_code(RedisErrc::connection_lost), {});
        }
        if (up_) {
            up_ = false;
            ++stats_.disconnects;
            post_event([this] {
                if (state_cb_) {
                    state_cb_(false);
                }
            });
        }
        schedule_retry();
    }

    /// A setup step failed: count it, say why, drop the connection.
    void fail_session(const std::string& why) {
        ++stats_.errors;
        log("setup on " + where() + " failed: " + why);
        drop();
    }

private:
    /// One connection attempt: the host as an address, the next address a name resolved to last time, or a new
    /// resolution (asynchronous: hiredis 0.14 would block the executor in getaddrinfo). connect_timeout covers the
    /// resolution and the TCP connect.
    void connect_now() {
        if (stopped_) {
            return;
        }
        ++stats_.connect_attempts;
        const auto attempt = ++attempt_id_;
        connect_timer_.expires_after(config_.connect_timeout);
        connect_timer_.async_wait([weak = weak_from_this(), attempt](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (ec || !self || self->stopped_ || attempt != self->attempt_id_) {
                return;
            }
            if (self->resolving_) {
                self->resolving_ = false;
                ++self->attempt_id_;  // the resolver's late answer is ignored
                self->resolver_.cancel();
                ++self->stats_.timeouts;
                self->log("resolving " + self->config_.host + " timed out");
                self->schedule_retry();
            } else if (self->conn_ && !self->conn_->connected) {
                ++self->stats_.timeouts;
                self->log("connect to " + self->where() + " timed out");
                self->drop();
            }
        });

        boost::system::error_code not_an_address;
        (void)asio::ip::make_address(config_.host, not_an_address);
        if (!not_an_address) {
            connect_to(config_.host);
            return;
        }
        if (next_address_ < addresses_.size()) {
            connect_to(addresses_[next_address_++]);
            return;
        }
        resolving_ = true;
        resolver_.async_resolve(
            config_.host, std::to_string(config_.port),
            [weak = weak_from_this(), attempt](const boost::system::error_code& ec,
                                               const asio::ip::tcp::resolver::results_type& results) {
                const auto self = weak.lock();
                if (!self || self->stopped_ || attempt != self->attempt_id_) {
                    return;
                }
                self->resolving_ = false;
                if (ec || results.empty()) {
                    ++self->stats_.errors;
                    self->log("cannot resolve " + self->config_.host + ": " +
                              (ec ? ec.message() : std::string("no address")));
                    self->schedule_retry();
                    return;
                }
                self->addresses_.clear();
                for (const auto& entry : results) {
                    auto address = entry.endpoint().address().to_string();
                    if (std::find(self->addresses_.begin(), self->addresses_.end(), address) ==
                        self->addresses_.end()) {
                        self->addresses_.push_back(std::move(address));
                    }
                }
                self->next_address_ = 0;
                self->connect_to(self->addresses_[self->next_address_++]);
            });
    }

    void connect_to(const std::string& address) {
        const std::string target = address == config_.host ? where() : where() + " (" + address + ")";
        redisAsyncContext* ac = redisAsyncConnect(address.c_str(), config_.port);
        if (ac == nullptr) {
            ++stats_.errors;
            log("connect to " + target + " failed: out of memory");
            schedule_retry();
            return;
        }
        if (ac->err != 0) {
            const std::string why = context_error(ac, "connect failed");
            redisAsyncFree(ac);
            ++stats_.errors;
            log("connect to " + target + " failed: " + why);
            schedule_retry();
            return;
        }
        auto conn = std::make_unique<Conn>();
        conn->id = ++next_conn_id_;
        conn->owner = this;
        conn->ac = ac;
        conn->adapter = std::make_shared<EventAdapter>(executor_, ac);
        std::string why;
        if (!conn->adapter->attach(why)) {
            redisAsyncFree(ac);
            ++stats_.errors;
            log("connect to " + target + " failed: " + why);
            schedule_retry();
            return;
        }
        ac->data = conn.get();
        redisAsyncSetDisconnectCallback(ac, on_disconnect_cb);
        conn_ = std::move(conn);
        // Installing the connect callback asks for the first write event (hooks must be in place already).
        redisAsyncSetConnectCallback(ac, on_connect_cb);
    }

    void schedule_retry() {
        if (stopped_) {
            return;
        }
        const auto delay = next_backoff();
        log("reconnecting in " + std::to_string(delay.count()) + " ms");
        retry_timer_.expires_after(delay);
        retry_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (!ec && self && !self->stopped_ && !self->conn_) {
                self->connect_now();
            }
        });
    }

    Millis next_backoff() {
        const double initial = static_cast<double>(std::max<Millis::rep>(config_.backoff_initial.count(), 1));
        const double cap = static_cast<double>(std::max<Millis::rep>(config_.backoff_max.count(), 1));
        const double base = std::min(cap, initial * std::pow(2.0, std::min(attempt_, 30)));
        ++attempt_;
        std::uniform_real_distribution<double> jitter(0.8, 1.2);
        const double ms = std::clamp(base * jitter(rng_), 1.0, cap);
        return Millis(static_cast<Millis::rep>(ms));
    }

    void arm_deadline() {
        if (deadline_armed_ || !conn_ || conn_->pending.empty()) {
            return;
        }
        deadline_armed_ = true;
        deadline_timer_.expires_at(conn_->pending.front().deadline);
        deadline_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (!self) {
                return;
            }
            self->deadline_armed_ = false;
            if (!ec) {
                self->check_deadline();
            }
        });
    }

    // Every request has the same timeout and the FIFO is in send order, so the front has the earliest deadline.
    void check_deadline() {
        if (stopped_ || !conn_ || conn_->pending.empty()) {
            return;
        }
        if (conn_->pending.front().deadline > Clock::now()) {
            arm_deadline();
            return;
        }
        ++stats_.timeouts;
        log("no reply from " + where() + " within " + std::to_string(config_.request_timeout.count()) +
            " ms: dropping the connection");
        auto p = pop_pending(*conn_);
        complete(std::move(*p), make_error_code(RedisErrc::timeout), {});
        drop();
    }

    void arm_probe() {
        if (config_.ping_interval.count() <= 0) {
            return;
        }
        probe_timer_.expires_after(config_.ping_interval);
        probe_timer_.async_wait([weak = weak_from_this(), id = conn_id()](const boost::system::error_code& ec) {
            const auto self = weak.lock();
            if (ec || !self || !self->current(id) || !self->up_) {
                return;
            }
            if (!self->probe_outstanding_) {
                self->probe_outstanding_ = true;
                self->send_probe();
            }
            self->arm_probe();
        });
    }

    void close_context() {
        if (conn_ && conn_->ac != nullptr) {
            conn_->closing = true;
            redisAsyncContext* ac = conn_->ac;
            conn_->ac = nullptr;
            redisAsyncFree(ac);  // runs its callbacks with NULL (ignored: closing) and the cleanup hook
        }
    }

protected:
    RedisStats stats_;
    RedisConfig config_;
    std::unique_ptr<Conn> conn_;
    bool started_{false};
    bool stopped_{false};
    bool up_{false};

private:
    asio::any_io_executor executor_;
    std::string name_;
    asio::steady_timer retry_timer_;
    asio::steady_timer connect_timer_;
    asio::steady_timer deadline_timer_;
    asio::steady_timer probe_timer_;
    asio::ip::tcp::resolver resolver_;
    std::vector<std::string> addresses_;  ///< what config_.host resolved to, tried in turn
    std::size_t next_address_{0};
    std::uint64_t attempt_id_{0};  ///< connect_now() calls
    bool resolving_{false};
    std::minstd_rand rng_;
    RedisLogger logger_;
    std::function<void(bool)> state_cb_;
    std::optional<std::chrono::microseconds> rtt_;
    std::uint64_t next_conn_id_{0};
    int attempt_{0};
    bool deadline_armed_{false};
    bool probe_outstanding_{false};
};

void on_reply_cb(redisAsyncContext* /*ac*/, void* reply, void* privdata) {
    auto* conn = static_cast<Conn*>(privdata);
    if (reply == nullptr || conn == nullptr || conn->closing || conn->ac == nullptr) {
        return;  // the context is being freed: the Link completes its requests itself
    }
    conn->owner->hiredis_reply(*conn, *static_cast<const redisReply*>(reply));
}

void on_connect_cb(const redisAsyncContext* ac, int status) {
    auto* conn = static_cast<Conn*>(ac->data);
    if (conn != nullptr && !conn->closing) {
        conn->owner->hiredis_connected(*conn, status);
    }
}

void on_disconnect_cb(const redisAsyncContext* ac, int status) {
    auto* conn = static_cast<Conn*>(ac->data);
    if (conn != nullptr && !conn->closing) {
        conn->owner->hiredis_disconnected(*conn, status);
    }
}

bool starts_with(const std::string& text, std::string_view prefix) {
    return text.rfind(prefix, 0) == 0;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

/// Commands after which replies no longer come one per command, or no longer in RESP2: hiredis 0.14 (pub/sub
/// and MONITOR switch its own bookkeeping; SSUBSCRIBE, which it does not know, ends in an assert) and our FIFO of
/// handlers would lose track. Pub/sub belongs to RedisSubscriber.
bool changes_connection_mode(const std::vector<std::string>& argv) {
    static constexpr std::array<std::string_view, 9> kModal{"SUBSCRIBE",   "PSUBSCRIBE",   "SSUBSCRIBE",
                                                            "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
                                                            "MONITOR",     "HELLO",        "RESET"};
    const std::string_view name = argv.front();
    if (std::any_of(kModal.begin(), kModal.end(), [&](std::string_view m) { return equals_ignoring_case(name, m); })) {
        return true;
    }
    return equals_ignoring_case(name, "CLIENT") && argv.size() > 1 && equals_ignoring_case(argv[1], "REPLY");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// RedisClient

class RedisClient::Impl final : public Link {
public:
    Impl(asio::any_io_executor executor, RedisConfig config) : Link(std::move(executor), std::move(config), "client") {}

    void command(const std::vector<std::string>& argv, RedisHandler handler) {
        if (stopped_) {
            complete(Pending{std::move(handler), {}, false}, aborted_error(), {});
            return;
        }
        if (!started_) {
            complete(Pending{std::move(handler), {}, false}, make_error_code(RedisErrc::not_started), {});
            return;
        }
        if (argv.empty() || argv.size() > static_cast<std::size_t>(INT_MAX)) {
            complete(Pending{std::move(handler), {}, false}, make_error_code(RedisErrc::bad_argument), {});
            return;
        }
        if (changes_connection_mode(argv)) {
            complete(Pending{std::move(handler), {}, false}, make_error_code(RedisErrc::unsupported_command), {});
            return;
        }
        if (!up_ || !write_command(argv)) {
            complete(Pending{std::move(handler), {}, false}, make_error_code(RedisErrc::redis_unavailable), {});
            return;
        }
        expect(std::move(handler), /*internal=*/false);
    }

    std::string register_script(const std::string& name, std::string source) {
        std::string sha = sha1_hex(source);
        scripts_[name] = Script{sha, std::move(source)};
        if (up_) {
            load_script(name, scripts_[name]);
        }
        return sha;
    }

    void eval(const std::string& name, std::vector<std::string> keys, std::vector<std::string> args,
              RedisHandler handler) {
        const auto it = scripts_.find(name);
        if (it == scripts_.end()) {
            complete(Pending{std::move(handler), {}, false}, make_error_code(RedisErrc::unknown_script), {});
            return;
        }
        std::vector<std::string> argv;
        argv.reserve(3 + keys.size() + args.size());
        argv.emplace_back("EVALSHA");
        argv.push_back(it->second.sha);
        argv.push_back(std::to_string(keys.size()));
        std::move(keys.begin(), keys.end(), std::back_inserter(argv));
        std::move(args.begin(), args.end(), std::back_inserter(argv));
        auto retry = [weak = weak_from_this(), name, argv, handler = std::move(handler)](std::error_code ec,
                                                                                         RedisReply reply) mutable {
            if (!ec && reply.is_error() && starts_with(reply.text, "NOSCRIPT")) {
                const auto self = std::dynamic_pointer_cast<Impl>(weak.lock());
                if (self) {
                    const auto script = self->scripts_.find(name);
                    if (script != self->scripts_.end()) {
                        self->log("NOSCRIPT for " + name + ": running it by EVAL");
                        argv[0] = "EVAL";
                        argv[1] = script->second.source;
                        self->command(argv, std::move(handler));
                        return;
                    }
                }
            }
            handler(ec, std::move(reply));
        };
        command(argv, std::move(retry));
    }

    void hiredis_reply(Conn& conn, const redisReply& reply) override {
        auto p = pop_pending(conn);
        if (!p) {
            post_if_current(conn.id, [this] { fail_session("a reply nobody asked for"); });
            return;
        }
        RedisReply copy = copy_reply(reply);
        if (!p->internal && copy.is_error()) {
            ++stats_.reply_errors;
        }
        complete(std::move(*p), {}, std::move(copy));
    }

protected:
    void begin_session() override {
        const auto id = conn_id();
        if (config_.db != 0) {
            send_internal({"SELECT", std::to_string(config_.db)},
                          [this, id](std::error_code ec, const RedisReply& reply) {
                              if (current(id) && !ec && reply.is_error()) {
                                  fail_session("SELECT " + std::to_string(config_.db) + ": " + reply.text);
                              }
                          });
        }
        for (const auto& [name, script] : scripts_) {
            load_script(name, script);
        }
        const auto sent = Clock::now();
        send_internal({"PING"}, [this, id, sent](std::error_code ec, const RedisReply& reply) {
            if (!current(id) || ec) {
                return;
            }
            if (reply.type != RedisReply::Type::status || reply.text != "PONG") {
                fail_session("PING answered " + reply.describe());
                return;
            }
            probe_answered(id, sent, ec);
            session_up();
        });
    }

    void send_probe() override {
        const auto id = conn_id();
        const auto sent = Clock::now();
        send_internal({"PING"}, [this, id, sent](std::error_code ec, const RedisReply& reply) {
            if (!ec && (reply.type != RedisReply::Type::status || reply.text != "PONG")) {
                if (current(id)) {
                    fail_session("PING answered " + reply.describe());
                }
                return;
            }
            probe_answered(id, sent, ec);
        });
    }

private:
    struct Script {
        std::string sha;
        std::string source;
    };

    void send_internal(const std::vector<std::string>& argv, RedisHandler handler) {
        if (!write_command(argv)) {
            return;  // the connection is going away; its loss is being handled
        }
        expect(std::move(handler), /*internal=*/true);
    }

    /// SCRIPT LOAD. A script Redis refuses (it does not compile) is logged and counted, never fatal: one bad
    /// script must not keep the client down. eval() of it then gets Redis's error as its reply (EVAL's).
    void load_script(const std::string& name, const Script& script) {
        const auto id = conn_id();
        send_internal({"SCRIPT", "LOAD", script.source},
                      [this, id, name, sha = script.sha](std::error_code ec, const RedisReply& reply) {
                          if (!current(id) || ec) {
                              return;
                          }
                          if (reply.type == RedisReply::Type::string && reply.text == sha) {
                              return;
                          }
                          ++stats_.reply_errors;
                          log("script " + name + " not loaded: SCRIPT LOAD answered " + reply.describe());
                      });
    }

    std::map<std::string, Script> scripts_;
};

RedisClient::RedisClient(asio::any_io_executor executor, RedisConfig config)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config))) {}

RedisClient::~RedisClient() {
    try {
        impl_->stop();
    } catch (...) {  // std::bad_alloc posting the aborted handlers: nothing better to do in a destructor
    }
}

void RedisClient::start() {
    impl_->start();
}
void RedisClient::stop() {
    impl_->stop();
}
void RedisClient::command(const std::vector<std::string>& argv, RedisHandler handler) {
    impl_->command(argv, std::move(handler));
}
std::string RedisClient::register_script(const std::string& name, std::string lua_source) {
    return impl_->register_script(name, std::move(lua_source));
}
void RedisClient::eval(const std::string& name, std::vector<std::string> keys, std::vector<std::string> args,
                       RedisHandler handler) {
    impl_->eval(name, std::move(keys), std::move(args), std::move(handler));
}
bool RedisClient::connected() const noexcept {
    return impl_->connected();
}
void RedisClient::on_state(std::function<void(bool up)> callback) {
    impl_->set_state_callback(std::move(callback));
}
void RedisClient::set_logger(RedisLogger logger) {
    impl_->set_logger(std::move(logger));
}
RedisStats RedisClient::stats() const noexcept {
    return impl_->stats();
}
std::optional<std::chrono::microseconds> RedisClient::last_ping_rtt() const noexcept {
    return impl_->last_rtt();
}
asio::any_io_executor RedisClient::executor() const noexcept {
    return impl_->executor();
}

// ---------------------------------------------------------------------------------------------------------------
// RedisSubscriber

namespace {
constexpr std::string_view kHeartbeatChannel = "__relink:redis-subscriber:heartbeat";
}  // namespace

class RedisSubscriber::Impl final : public Link {
public:
    Impl(asio::any_io_executor executor, RedisConfig config)
        : Link(std::move(executor), std::move(config), "subscriber") {}

    void subscribe(const std::string& channel) {
        if (channel == kHeartbeatChannel || !channels_.insert(channel).second) {
            return;
        }
        if (session_conn_ == conn_id() && session_open()) {
            send_subscription({"SUBSCRIBE", channel}, nullptr);
        }
    }

    void unsubscribe(const std::string& channel) {
        if (channels_.erase(channel) == 0) {
            return;  // hiredis 0.14 has no callback for an UNSUBSCRIBE of a channel it does not know: never send one
        }
        if (session_conn_ == conn_id() && session_open()) {
            send_subscription({"UNSUBSCRIBE", channel}, nullptr);
        }
    }

    std::vector<std::string> channels() const { return {channels_.begin(), channels_.end()}; }
    void set_message_callback(std::function<void(const std::string&, const std::string&)> cb) {
        message_cb_ = std::move(cb);
    }
    void set_resubscribed_callback(std::function<void()> cb) { resubscribed_cb_ = std::move(cb); }

    void hiredis_reply(Conn& conn, const redisReply& reply) override {
        if (reply.type == REDIS_REPLY_ARRAY && reply.elements >= 3 && reply.element[0] != nullptr &&
            reply.element[0]->type == REDIS_REPLY_STRING && reply.element[1] != nullptr &&
            reply.element[1]->type == REDIS_REPLY_STRING) {
            const std::string_view kind(reply.element[0]->str, reply.element[0]->len);
            std::string channel(reply.element[1]->str, reply.element[1]->len);
            if (kind == "message") {
                const redisReply* payload = reply.element[2];
                if (channels_.count(channel) == 0 || payload == nullptr || payload->type != REDIS_REPLY_STRING) {
                    return;  // the heartbeat, or a channel unsubscribed since (see the top of this file)
                }
                post_event([this, channel = std::move(channel), text = std::string(payload->str, payload->len)] {
                    if (message_cb_) {
                        message_cb_(channel, text);
                    }
                });
                return;
            }
            if (kind == "subscribe" || kind == "unsubscribe") {
                if (auto p = pop_pending(conn)) {
                    complete(std::move(*p), {}, copy_reply(reply));
                }
                return;
            }
        }
        // Anything else on a subscribed connection is not something we asked for.
        post_if_current(conn.id, [this, what = copy_reply(reply).describe()] {
            fail_session("unexpected reply on the subscriber connection: " + what);
        });
    }

protected:
    void begin_session() override {
        session_conn_ = conn_id();
        std::vector<std::string> argv{"SUBSCRIBE", std::string(kHeartbeatChannel)};
        argv.insert(argv.end(), channels_.begin(), channels_.end());
        const auto id = conn_id();
        const auto sent = Clock::now();
        send_subscription(argv, [this, id, sent](std::error_code ec, const RedisReply& /*last*/) {
            if (current(id) && !ec) {
                probe_answered(id, sent, ec);
                session_up();
            }
        });
    }

    void send_probe() override {
        const auto id = conn_id();
        const auto sent = Clock::now();
        send_subscription(
            {"SUBSCRIBE", std::string(kHeartbeatChannel)},
            [this, id, sent](std::error_code ec, const RedisReply& /*reply*/) { probe_answered(id, sent, ec); });
    }

    void session_started(bool first) override {
        if (!first) {
            post_event([this] {
                if (resubscribed_cb_) {
                    resubscribed_cb_();
                }
            });
        }
    }

private:
    /// Sends (UN)SUBSCRIBE with its channels and expects one confirmation per channel, in order; `done` runs with
    /// the last one.
    void send_subscription(const std::vector<std::string>& argv,
                           std::function<void(std::error_code, const RedisReply&)> done) {
        if (!write_command(argv)) {
            return;
        }
        const auto id = conn_id();
        const bool subscribing = argv[0] == "SUBSCRIBE";
        for (std::size_t i = 1; i < argv.size(); ++i) {
            const bool last = i + 1 == argv.size();
            expect(
                [this, id, subscribing, done = last ? done : nullptr](std::error_code ec, RedisReply reply) {
                    if (!current(id)) {
                        return;
                    }
                    const bool ok = !ec && reply.is_array() && !reply.elements.empty() &&
                                    reply.elements[0].text == (subscribing ? "subscribe" : "unsubscribe");
                    if (!ec && !ok) {
                        fail_session("unexpected confirmation " + reply.describe());
                        return;
                    }
                    if (done) {
                        done(ec, reply);
                    }
                },
                /*internal=*/true);
        }
    }

    std::set<std::string> channels_;
    std::function<void(const std::string&, const std::string&)> message_cb_;
    std::function<void()> resubscribed_cb_;
    std::uint64_t session_conn_{0};  ///< the connection whose SUBSCRIBE of the whole set was sent
};

RedisSubscriber::RedisSubscriber(asio::any_io_executor executor, RedisConfig config)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(config))) {}
RedisSubscriber::~RedisSubscriber() {
    try {
        impl_->stop();
    } catch (...) {  // std::bad_alloc posting: nothing better to do in a destructor
    }
}
void RedisSubscriber::start() {
    impl_->start();
}
void RedisSubscriber::stop() {
    impl_->stop();
}
void RedisSubscriber::subscribe(const std::string& channel) {
    impl_->subscribe(channel);
}
void RedisSubscriber::unsubscribe(const std::string& channel) {
    impl_->unsubscribe(channel);
}
std::vector<std::string> RedisSubscriber::channels() const {
    return impl_->channels();
}
void RedisSubscriber::on_message(std::function<void(const std::string& channel, const std::string& payload)> callback) {
    impl_->set_message_callback(std::move(callback));
}
void RedisSubscriber::on_resubscribed(std::function<void()> callback) {
    impl_->set_resubscribed_callback(std::move(callback));
}
void RedisSubscriber::on_state(std::function<void(bool up)> callback) {
    impl_->set_state_callback(std::move(callback));
}
void RedisSubscriber::set_logger(RedisLogger logger) {
    impl_->set_logger(std::move(logger));
}
bool RedisSubscriber::connected() const noexcept {
    return impl_->connected();
}
RedisStats RedisSubscriber::stats() const noexcept {
    return impl_->stats();
}
std::optional<std::chrono::microseconds> RedisSubscriber::last_heartbeat_rtt() const noexcept {
    return impl_->last_rtt();
}

}  // namespace relink::cluster
