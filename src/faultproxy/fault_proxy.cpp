// faultproxy/fault_proxy.cpp — the proxy's Asio driver: one io_context on one thread, an accept loop, and per
// connection a Session with two pumps (client → upstream, upstream → client).
//
// Everything runs on the I/O thread, so no state here needs a lock; the public setters post a task and wait for
// it, and the only state read from other threads is atomic (the mode mirror and the counters) or, for the
// upstream's name, behind a mutex. A Session lives while the proxy's table holds it or one of its operations is
// pending (handlers hold shared_from_this()).
//
// A pump: read (at most 16 KiB) → queue the chunk stamped with its due time (read time + delay) → write it once
// it is due, the mode lets it through and the direction's token bucket has the bytes. The queue is bounded by
// Options::max_buffered_bytes: a full queue stops the reads, so TCP flow control pushes back on the sender.
#include "faultproxy/fault_proxy.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace relink::faultproxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

std::string_view to_string(Mode mode) noexcept {
    switch (mode) {
        case Mode::pass: return "pass";
        case Mode::stall: return "stall";
        case Mode::blackhole: return "blackhole";
        case Mode::reset: return "reset";
        case Mode::refuse: return "refuse";
    }
    return "?";
}

namespace {

/// Asio opens sockets without SOCK_CLOEXEC: a child that the process starts later (a test starting relinkd) would
/// inherit every proxied connection, and a reset or close by the proxy would not reach the peer while the child
/// holds a duplicate (docs/reliability.md, finding 5).
template <class Socket>
void mark_close_on_exec(Socket& socket) {
    if (socket.is_open()) {
        const int fd = socket.native_handle();
        const int flags = ::fcntl(fd, F_GETFD);
        if (flags >= 0) {
            ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
}

constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::size_t kMaxBurst = 64 * 1024;
constexpr auto kAcceptRetry = std::chrono::milliseconds(10);

/// The two directions of a connection; also the index of the proxy's token buckets.
enum Direction : std::size_t { kToUpstream = 0, kToClient = 1 };

#if defined(SO_REUSEPORT)
/// SO_REUSEPORT as an Asio SettableSocketOption (Asio has none). It lets a bound, non-listening socket keep the
/// proxy's port reserved while the acceptor is closed in `refuse` mode.
class ReusePort {
public:
    explicit ReusePort(bool on) : value_(on ? 1 : 0) {}
    template <class Protocol>
    int level(const Protocol&) const {
        return SOL_SOCKET;
    }
    template <class Protocol>
    int name(const Protocol&) const {
        return SO_REUSEPORT;
    }
    template <class Protocol>
    const void* data(const Protocol&) const {
        return &value_;
    }
    template <class Protocol>
    std::size_t size(const Protocol&) const {
        return sizeof(value_);
    }

private:
    int value_;
};
#endif

/// Resolves an upstream to the endpoints a connection tries in order; throws std::system_error when it does not
/// resolve. It blocks (a resolver may ask DNS), so it runs on the caller's thread, never on the I/O thread.
std::vector<tcp::endpoint> resolve_upstream(asio::io_context& io, const std::string& host, std::uint16_t port) {
    error_code ec;
    tcp::resolver resolver(io);
    const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        throw std::system_error(ec ? std::error_code(ec) : std::make_error_code(std::errc::address_not_available),
                                "fault proxy: cannot resolve upstream " + host);
    }
    std::vector<tcp::endpoint> endpoints;
    for (const auto& entry : results) {
        endpoints.push_back(entry.endpoint());
    }
    return endpoints;
}

/// RST instead of FIN: SO_LINGER with a zero timeout, then close.
void reset_socket(tcp::socket& socket) {
    if (!socket.is_open()) {
        return;
    }
    error_code ignored;
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
}

/// Orderly close: the kernel still sends what it holds, then FIN.
void close_socket(tcp::socket& socket) {
    error_code ignored;
    socket.close(ignored);
}

/// A token bucket in bytes: `rate` per second, holding at most `capacity` (50 ms worth, 1 byte to 64 KiB).
class TokenBucket {
public:
    [[nodiscard]] bool limited() const { return rate_ > 0; }
    [[nodiscard]] std::size_t capacity() const { return capacity_; }

    void set_rate(std::size_t bytes_per_second, Clock::time_point now) {
        refill(now);
        const bool was_limited = limited();
        rate_ = bytes_per_second;
        capacity_ = std::clamp<std::size_t>(rate_ / 20, 1, kMaxBurst);
        tokens_ = was_limited ? std::min(tokens_, static_cast<double>(capacity_)) : static_cast<double>(capacity_);
    }
    /// Whole bytes that may be sent now.
    [[nodiscard]] std::size_t available(Clock::time_point now) {
        refill(now);
        return static_cast<std::size_t>(tokens_);
    }
    void take(std::size_t bytes) { tokens_ -= static_cast<double>(bytes); }
    /// Gives back tokens taken for bytes a short write did not send.
    void refund(std::size_t bytes) {
        if (limited()) {
            tokens_ = std::min(static_cast<double>(capacity_), tokens_ + static_cast<double>(bytes));
        }
    }
    /// How long until `bytes` (≤ capacity) are available, rounded up so that a timer never wakes too early.
    [[nodiscard]] Clock::duration time_until(std::size_t bytes, Clock::time_point now) {
        refill(now);
        const double missing = static_cast<double>(bytes) - tokens_;
        if (missing <= 0) {
            return Clock::duration::zero();
        }
        const double seconds = missing / static_cast<double>(rate_);
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)) +
               std::chrono::microseconds(1);
    }

private:
    void refill(Clock::time_point now) {
        if (limited() && now > last_) {
            const double elapsed = std::chrono::duration<double>(now - last_).count();
            tokens_ = std::min(static_cast<double>(capacity_), tokens_ + elapsed * static_cast<double>(rate_));
        }
        last_ = now;
    }

    std::size_t rate_{0};
    std::size_t capacity_{1};
    double tokens_{0};
    Clock::time_point last_{};
};

struct Counters {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> open{0};
    std::atomic<std::uint64_t> reset{0};
    std::atomic<std::uint64_t> connect_failures{0};
    std::atomic<std::uint64_t> to_upstream{0};
    std::atomic<std::uint64_t> to_client{0};
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> held{0};  // the sum of every live pump's `queued`
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
class FaultProxy::Impl {
public:
    class Session;

    explicit Impl(Options options);
    ~Impl();
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    /// Runs `task` on the I/O thread and waits for it; its exception, if any, is rethrown here.
    template <class Task>
    void run_sync(Task task);

    // Called on the I/O thread only.
    void apply_mode(Mode mode);
    void apply_delay(std::chrono::milliseconds one_way);
    void apply_throttle(std::size_t bytes_per_second);
    void apply_upstream(std::vector<tcp::endpoint> endpoints, std::string host, std::uint16_t port);
    void reset_sessions();
    void remove(std::uint64_t id);
    [[nodiscard]] std::vector<std::shared_ptr<Session>> sessions() const;

    // State shared with the sessions (I/O thread only, except the atomics).
    asio::io_context io_{1};  // first member: destroyed last, after everything that refers to it
    Options options_;
    std::vector<tcp::endpoint> upstream_;  // where connections accepted from now on go (each Session keeps a copy)
    Mode mode_{Mode::pass};
    std::atomic<Mode> mode_mirror_{Mode::pass};
    std::chrono::milliseconds delay_{0};
    std::array<TokenBucket, 2> buckets_{};
    Counters counters_;
    // upstream() reads the name from any thread, and a string cannot be atomic; written on the I/O thread together
    // with upstream_, so a caller that sees the new name knows new connections go there.
    mutable std::mutex upstream_name_mutex_;
    std::pair<std::string, std::uint16_t> upstream_name_;

private:
    void open_listener();
    void close_listener();
    void do_accept();
    void on_accept(const error_code& ec, tcp::socket socket);
    void shutdown();

    tcp::endpoint listen_endpoint_;
    tcp::acceptor acceptor_{io_};
    tcp::socket port_holder_{io_};  // keeps the port reserved while the acceptor is closed (`refuse`)
    asio::steady_timer accept_retry_{io_};
    bool accept_pending_{false};
    bool stopping_{false};
    std::map<std::uint64_t, std::shared_ptr<Session>> sessions_;
    std::uint64_t next_id_{0};
    std::uint16_t port_{0};
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    std::thread thread_;

    friend class FaultProxy;
};

// ---------------------------------------------------------------------------------------------------------------
/// One proxied connection: the client's socket, the upstream socket and a pump per direction.
class FaultProxy::Impl::Session : public std::enable_shared_from_this<Session> {
public:
    Session(FaultProxy::Impl& proxy, std::uint64_t id, tcp::socket client)
        : proxy_(proxy),
          id_(id),
          client_(std::move(client)),
          upstream_(proxy.io_),
          upstream_endpoints_(proxy.upstream_),
          connect_timer_(proxy.io_),
          pumps_{Pump(proxy.io_), Pump(proxy.io_)} {}

    /// Starts forwarding (connect upstream first), or, when born in `blackhole`, starts discarding what the
    /// client sends without ever connecting upstream.
    void start(bool dead) {
        if (dead) {
            dead_ = true;
            started_ = true;
            pumps_[kToClient].read_closed = true;  // no upstream: that side has nothing to say
            do_read(kToUpstream);
            return;
        }
        do_connect();
    }

    /// The link died: from now on this connection only discards (see Mode::blackhole).
    void go_dead() {
        if (finished_ || dead_) {
            return;
        }
        dead_ = true;
        for (const Direction d : {kToUpstream, kToClient}) {
            Pump& pump = pumps_[d];
            // Everything queued is lost except what a pending write is sending: that chunk stays queued (the
            // write still uses its bytes) and on_write() drops whatever the write did not send.
            proxy_.counters_.dropped += pump.queued - pump.in_flight;
            pump.queue.erase(pump.queue.begin() + (pump.writing ? 1 : 0), pump.queue.end());
            set_queued(pump, pump.in_flight);
            pump.timer.cancel();
            do_read(d);  // a full queue may have paused the reads; dead connections read without bound
        }
        finish_if_done();  // both sides may have half-closed already (their FINs, still held, are lost now)
    }

    /// Mode, delay or throttle changed: held or waiting chunks are looked at again.
    void kick() {
        for (const Direction d : {kToUpstream, kToClient}) {
            if (pumps_[d].waiting) {
                pumps_[d].timer.cancel();  // on_wait() re-runs do_write()
            } else {
                do_write(d);
            }
        }
    }

    /// RST to both sides (a fault, or a reset seen on one side passed on to the other).
    void abort() { finish(true); }
    /// FIN to both sides.
    void close() { finish(false); }

private:
    enum class End { none, fin, reset };
    struct Chunk {
        std::vector<char> bytes;
        std::size_t offset{0};
        Clock::time_point due;
        End end{End::none};  // the source ended: pass its FIN or reset on after the bytes before it
    };
    struct Pump {
        explicit Pump(asio::io_context& io) : timer(io) {}
        std::deque<Chunk> queue;
        std::size_t queued{0};     // bytes in queue
        std::size_t in_flight{0};  // bytes of the queue's front chunk that the pending write is sending
        bool reading{false};
        bool writing{false};
        bool waiting{false};      // timer armed for a delay or for tokens
        bool read_closed{false};  // EOF or error read from the source
        bool eof_sent{false};     // FIN passed on to the sink
        asio::steady_timer timer;
        std::array<char, kReadSize> buffer{};
    };

    /// Changes a pump's byte count and the proxy's bytes_held with it.
    void set_queued(Pump& pump, std::size_t bytes) {
        proxy_.counters_.held += bytes;
        proxy_.counters_.held -= pump.queued;
        pump.queued = bytes;
    }

    tcp::socket& source(Direction d) { return d == kToUpstream ? client_ : upstream_; }
    tcp::socket& sink(Direction d) { return d == kToUpstream ? upstream_ : client_; }
    std::atomic<std::uint64_t>& delivered(Direction d) {
        return d == kToUpstream ? proxy_.counters_.to_upstream : proxy_.counters_.to_client;
    }

    void do_connect() {
        connect_timer_.expires_after(proxy_.options_.connect_timeout);
        connect_timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_connect_timeout(ec); });
        asio::async_connect(
            upstream_, upstream_endpoints_,
            [self = shared_from_this()](const error_code& ec, const tcp::endpoint&) { self->on_connect(ec); });
    }

    void on_connect_timeout(const error_code& ec) {
        if (ec || finished_ || started_) {
            return;
        }
        close_socket(upstream_);  // the connect completes with operation_aborted
    }

    void on_connect(const error_code& ec) {
        if (finished_) {
            return;
        }
        connect_timer_.cancel();
        started_ = true;
        mark_close_on_exec(upstream_);
        if (ec) {
            ++proxy_.counters_.connect_failures;
            if (!dead_) {
                abort();  // as close as the proxy gets to "connection refused" once the client is connected
                return;
            }
            close_socket(upstream_);
            pumps_[kToClient].read_closed = true;
            do_read(kToUpstream);
            finish_if_done();
            return;
        }
        error_code ignored;
        client_.set_option(tcp::no_delay(true), ignored);  // forward each chunk when it is due, not when Nagle says
        upstream_.set_option(tcp::no_delay(true), ignored);
        do_read(kToUpstream);
        do_read(kToClient);
    }

    void do_read(Direction d) {
        Pump& pump = pumps_[d];
        if (finished_ || !started_ || pump.reading || pump.read_closed) {
            return;
        }
        if (!dead_ && pump.queued >= proxy_.options_.max_buffered_bytes) {
            return;  // resumed by on_write() once the queue drains
        }
        pump.reading = true;
        source(d).async_read_some(
            asio::buffer(pump.buffer),
            [self = shared_from_this(), d](const error_code& ec, std::size_t n) { self->on_read(d, ec, n); });
    }

    void on_read(Direction d, const error_code& ec, std::size_t n) {
        Pump& pump = pumps_[d];
        pump.reading = false;
        if (finished_) {
            return;
        }
        if (dead_) {
            proxy_.counters_.dropped += n;
            if (ec) {
                // The peer closed or reset its side; a dead link passes nothing on. Keep the socket after a FIN
                // (the peer may only have half-closed), drop it after an error.
                pump.read_closed = true;
                if (ec != asio::error::eof) {
                    close_socket(source(d));
                }
                finish_if_done();
                return;
            }
            do_read(d);
            return;
        }
        if (ec) {
            // A FIN travels as a half-close, anything else (ECONNRESET, …) as a reset of both sides; either one in
            // order after the bytes before it, so a delay or a stall holds it too.
            pump.read_closed = true;
            pump.queue.push_back(
                Chunk{{}, 0, Clock::now() + proxy_.delay_, ec == asio::error::eof ? End::fin : End::reset});
            do_write(d);
            return;
        }
        pump.queue.push_back(
            Chunk{std::vector<char>(pump.buffer.begin(), pump.buffer.begin() + static_cast<std::ptrdiff_t>(n)), 0,
                  Clock::now() + proxy_.delay_, End::none});
        set_queued(pump, pump.queued + n);
        do_write(d);
        do_read(d);
    }

    void do_write(Direction d) {
        Pump& pump = pumps_[d];
        if (finished_ || dead_ || pump.writing || pump.waiting || pump.queue.empty()) {
            return;
        }
        if (proxy_.mode_ == Mode::stall) {
            return;  // kick() resumes when the mode changes
        }
        Chunk& chunk = pump.queue.front();
        const auto now = Clock::now();
        if (chunk.due > now) {
            wait_until(d, chunk.due);
            return;
        }
        if (chunk.end == End::reset) {
            abort();
            return;
        }
        if (chunk.end == End::fin) {
            error_code ignored;
            sink(d).shutdown(tcp::socket::shutdown_send, ignored);
            pump.eof_sent = true;
            pump.queue.pop_front();
            finish_if_done();
            return;
        }
        std::size_t n = chunk.bytes.size() - chunk.offset;
        TokenBucket& bucket = proxy_.buckets_[d];
        if (bucket.limited()) {
            n = std::min(n, bucket.capacity());
            if (bucket.available(now) < n) {
                wait_until(d, now + bucket.time_until(n, now));
                return;
            }
            bucket.take(n);
        }
        // One write_some at a time (not the composed async_write): after a switch to `blackhole` or `stall` no
        // further send starts, so at most the one already pending can still deliver.
        pump.writing = true;
        pump.in_flight = n;
        sink(d).async_write_some(asio::buffer(chunk.bytes.data() + chunk.offset, n),
                                 [self = shared_from_this(), d](const error_code& ec, std::size_t written) {
                                     self->on_write(d, ec, written);
                                 });
    }

    void wait_until(Direction d, Clock::time_point when) {
        Pump& pump = pumps_[d];
        pump.waiting = true;
        pump.timer.expires_at(when);
        pump.timer.async_wait([self = shared_from_this(), d](const error_code&) { self->on_wait(d); });
    }

    void on_wait(Direction d) {
        pumps_[d].waiting = false;
        do_write(d);
    }

    void on_write(Direction d, const error_code& ec, std::size_t written) {
        Pump& pump = pumps_[d];
        const std::size_t requested = std::exchange(pump.in_flight, 0);
        pump.writing = false;
        delivered(d) += written;  // bytes the sink's kernel took: counted even if the connection is gone now
        proxy_.buckets_[d].refund(requested - written);
        if (finished_) {
            return;
        }
        if (dead_) {
            proxy_.counters_.dropped += requested - written;
            pump.queue.clear();  // the chunk this write was sending; go_dead() dropped the others
            set_queued(pump, 0);
            return;
        }
        if (ec) {
            abort();  // the sink reset (or failed): reset the source too
            return;
        }
        Chunk& chunk = pump.queue.front();
        chunk.offset += written;
        set_queued(pump, pump.queued - written);
        if (chunk.offset == chunk.bytes.size()) {
            pump.queue.pop_front();
        }
        do_read(d);
        do_write(d);
    }

    void finish_if_done() {
        const bool done = dead_ ? pumps_[kToUpstream].read_closed && pumps_[kToClient].read_closed
                                : pumps_[kToUpstream].eof_sent && pumps_[kToClient].eof_sent;
        if (done) {
            finish(false);
        }
    }

    void finish(bool with_reset) {
        if (finished_) {
            return;
        }
        finished_ = true;
        const auto self = shared_from_this();  // the table may hold the last reference
        proxy_.remove(id_);  // first, so that connections_open is down before a peer can see the close
        connect_timer_.cancel();
        for (Pump& pump : pumps_) {
            pump.timer.cancel();
            set_queued(pump, 0);  // the queue itself stays: a pending write may still refer to its chunk
        }
        if (with_reset) {
            reset_socket(client_);
            reset_socket(upstream_);
        } else {
            close_socket(client_);
            close_socket(upstream_);
        }
    }

    FaultProxy::Impl& proxy_;
    std::uint64_t id_;
    tcp::socket client_;
    tcp::socket upstream_;
    // The upstream as it was when the proxy accepted this connection: set_upstream() moves later ones only.
    std::vector<tcp::endpoint> upstream_endpoints_;
    asio::steady_timer connect_timer_;
    std::array<Pump, 2> pumps_;
    bool started_{false};   // connected upstream (or failed), or born dead: the pumps may read
    bool dead_{false};      // blackholed for good
    bool finished_{false};  // sockets closed, out of the proxy's table; pending handlers do nothing
};

// ---------------------------------------------------------------------------------------------------------------
FaultProxy::Impl::Impl(Options options) : options_(std::move(options)) {
    upstream_ = resolve_upstream(io_, options_.upstream_host, options_.upstream_port);  // throws
    upstream_name_ = {options_.upstream_host, options_.upstream_port};
    error_code ec;
    tcp::resolver resolver(io_);
    const auto listen = resolver.resolve(options_.listen_host, std::to_string(options_.listen_port),
                                         tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || listen.empty()) {
        throw std::system_error(ec ? std::error_code(ec) : std::make_error_code(std::errc::address_not_available),
                                "fault proxy: cannot resolve listen address " + options_.listen_host);
    }
    listen_endpoint_ = listen.begin()->endpoint();
    open_listener();  // throws
    listen_endpoint_.port(acceptor_.local_endpoint().port());
    port_ = listen_endpoint_.port();
#if defined(SO_REUSEPORT)
    // Best effort: without it, leaving `refuse` still works unless another socket took the port meanwhile.
    port_holder_.open(listen_endpoint_.protocol(), ec);
    mark_close_on_exec(port_holder_);
    if (!ec) {
        port_holder_.set_option(tcp::socket::reuse_address(true), ec);
    }
    if (!ec) {
        port_holder_.set_option(ReusePort(true), ec);
    }
    if (!ec) {
        port_holder_.bind(listen_endpoint_, ec);
    }
    if (ec) {
        close_socket(port_holder_);
    }
#endif
    mode_ = options_.initial_mode;
    mode_mirror_ = mode_;
    if (mode_ == Mode::refuse) {
        close_listener();
    } else {
        do_accept();
    }
    thread_ = std::thread([this] { io_.run(); });
}

FaultProxy::Impl::~Impl() {
    asio::post(io_, [this] { shutdown(); });
    thread_.join();
    // shutdown() closed every socket and cancelled every timer, so what io_.stop() left queued is ready and does
    // nothing but release its session (every handler checks stopping_ / finished_ first). Running it here keeps
    // the sessions' destruction on this side of ~io_context; anything left is destroyed with io_ (the first
    // member, destroyed last). A Session's destructor touches nothing but its own members.
    io_.restart();
    io_.poll();
}

template <class Task>
void FaultProxy::Impl::run_sync(Task task) {
    std::promise<void> done;
    auto result = done.get_future();
    asio::post(io_, [&task, &done] {
        try {
            task();
            done.set_value();
        } catch (...) {
            done.set_exception(std::current_exception());
        }
    });
    result.get();
}

void FaultProxy::Impl::open_listener() {
    error_code ec;
    acceptor_.open(listen_endpoint_.protocol(), ec);
    mark_close_on_exec(acceptor_);
    if (!ec) {
        acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    }
#if defined(SO_REUSEPORT)
    if (!ec) {
        acceptor_.set_option(ReusePort(true), ec);
    }
#endif
    if (!ec) {
        acceptor_.bind(listen_endpoint_, ec);
    }
    if (!ec) {
        acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        error_code ignored;
        acceptor_.close(ignored);
        throw std::system_error(std::error_code(ec), "fault proxy: cannot listen on " + options_.listen_host + ":" +
                                                         std::to_string(listen_endpoint_.port()));
    }
}

void FaultProxy::Impl::close_listener() {
    error_code ignored;
    acceptor_.close(ignored);  // connections still in the backlog are reset by the kernel
    accept_retry_.cancel();
}

void FaultProxy::Impl::do_accept() {
    if (stopping_ || accept_pending_ || !acceptor_.is_open()) {
        return;
    }
    accept_pending_ = true;
    acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void FaultProxy::Impl::on_accept(const error_code& ec, tcp::socket socket) {
    accept_pending_ = false;
    if (stopping_) {
        return;
    }
    if (ec) {
        if (ec == asio::error::operation_aborted) {
            do_accept();  // the listener was closed, and maybe opened again meanwhile (refuse → pass)
            return;
        }
        // EMFILE, ECONNABORTED, …: try again shortly rather than spin.
        accept_retry_.expires_after(kAcceptRetry);
        accept_retry_.async_wait([this](const error_code& wait_ec) {
            if (!wait_ec) {
                do_accept();
            }
        });
        return;
    }
    ++counters_.accepted;
    mark_close_on_exec(socket);
    if (mode_ == Mode::reset || mode_ == Mode::refuse || sessions_.size() >= options_.max_connections) {
        // `refuse`: accepted by the kernel just before the listener closed; the nearest thing to a refusal now.
        ++counters_.reset;
        reset_socket(socket);
    } else {
        const std::uint64_t id = next_id_++;
        auto session = std::make_shared<Session>(*this, id, std::move(socket));
        sessions_.emplace(id, session);
        ++counters_.open;
        session->start(mode_ == Mode::blackhole);
    }
    do_accept();
}

auto FaultProxy::Impl::sessions() const -> std::vector<std::shared_ptr<Session>> {
    std::vector<std::shared_ptr<Session>> all;
    all.reserve(sessions_.size());
    for (const auto& [id, session] : sessions_) {
        all.push_back(session);
    }
    return all;
}

void FaultProxy::Impl::remove(std::uint64_t id) {
    if (sessions_.erase(id) > 0) {
        --counters_.open;
    }
}

void FaultProxy::Impl::reset_sessions() {
    for (const auto& session : sessions()) {
        ++counters_.reset;
        session->abort();
    }
}

void FaultProxy::Impl::apply_mode(Mode mode) {
    const Mode old = mode_;
    mode_ = mode;
    mode_mirror_ = mode;
    switch (mode) {
        case Mode::blackhole:
            for (const auto& session : sessions()) {
                session->go_dead();
            }
            break;
        case Mode::reset: reset_sessions(); break;
        case Mode::refuse: close_listener(); break;
        case Mode::pass:
        case Mode::stall: break;
    }
    if (old == Mode::refuse && mode != Mode::refuse) {
        open_listener();  // throws; the mode stays switched, the port stays closed
        do_accept();
    }
    if (old == Mode::stall && mode != Mode::stall) {
        for (const auto& session : sessions()) {
            session->kick();
        }
    }
}

void FaultProxy::Impl::apply_delay(std::chrono::milliseconds one_way) {
    delay_ = std::max(one_way, std::chrono::milliseconds(0));
}

void FaultProxy::Impl::apply_throttle(std::size_t bytes_per_second) {
    const auto now = Clock::now();
    for (TokenBucket& bucket : buckets_) {
        bucket.set_rate(bytes_per_second, now);
    }
    for (const auto& session : sessions()) {
        session->kick();  // a writer waiting for tokens at the old rate
    }
}

void FaultProxy::Impl::apply_upstream(std::vector<tcp::endpoint> endpoints, std::string host, std::uint16_t port) {
    upstream_ = std::move(endpoints);
    const std::lock_guard lock(upstream_name_mutex_);
    upstream_name_ = {std::move(host), port};
}

void FaultProxy::Impl::shutdown() {
    stopping_ = true;
    close_listener();
    close_socket(port_holder_);
    for (const auto& session : sessions()) {
        session->close();
    }
    work_.reset();
    io_.stop();  // bounded: whatever is still queued is destroyed with io_, not run
}

// ---------------------------------------------------------------------------------------------------------------
FaultProxy::FaultProxy(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

FaultProxy::FaultProxy(std::string upstream_host, std::uint16_t upstream_port)
    : FaultProxy(Options{.upstream_host = std::move(upstream_host), .upstream_port = upstream_port}) {}

FaultProxy::~FaultProxy() = default;

std::uint16_t FaultProxy::port() const noexcept {
    return impl_->port_;
}

Mode FaultProxy::mode() const noexcept {
    return impl_->mode_mirror_.load();
}

void FaultProxy::set_mode(Mode mode) {
    impl_->run_sync([this, mode] { impl_->apply_mode(mode); });
}

void FaultProxy::set_delay(std::chrono::milliseconds one_way) {
    impl_->run_sync([this, one_way] { impl_->apply_delay(one_way); });
}

void FaultProxy::set_throttle(std::size_t bytes_per_second) {
    impl_->run_sync([this, bytes_per_second] { impl_->apply_throttle(bytes_per_second); });
}

void FaultProxy::reset_all() {
    impl_->run_sync([this] { impl_->reset_sessions(); });
}

void FaultProxy::set_upstream(std::string host, std::uint16_t port) {
    // Resolved here, not on the I/O thread, which must never block; a failure throws before anything changes.
    auto endpoints = resolve_upstream(impl_->io_, host, port);
    impl_->run_sync(
        [this, &endpoints, &host, port] { impl_->apply_upstream(std::move(endpoints), std::move(host), port); });
}

std::pair<std::string, std::uint16_t> FaultProxy::upstream() const {
    const std::lock_guard lock(impl_->upstream_name_mutex_);
    return impl_->upstream_name_;
}

Stats FaultProxy::stats() const noexcept {
    const Counters& c = impl_->counters_;
    Stats s;
    s.connections_accepted = c.accepted.load();
    s.connections_open = c.open.load();
    s.connections_reset = c.reset.load();
    s.upstream_connect_failures = c.connect_failures.load();
    s.bytes_to_upstream = c.to_upstream.load();
    s.bytes_to_client = c.to_client.load();
    s.bytes_dropped = c.dropped.load();
    s.bytes_held = c.held.load();
    return s;
}

}  // namespace relink::faultproxy
