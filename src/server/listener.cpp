// relinkd's driver (server/listener.hpp): WebSocket over TLS around the sans-IO hub (Beast answers the HTTP upgrade;
// relinkd frames its WebSocket itself, protocol/websocket_frames.hpp).
//
// Threads and strands. N threads run one io_context. Each connection's stream carries a strand from a fixed pool
// that the accept loop hands out in turn (Acceptor::strands_), so several connections share each strand: they only
// serialise each other, as Asio's older io_context::strand (a pool of 193) did, and no connection makes a strand of
// its own (two heap blocks each). Nothing here assumes one connection per strand: a connection touches only its own
// state on its strand and reaches others only through the hub, by posts, never by a dispatch that could run inline;
// nothing asks running_in_this_thread() (Acceptor::strands_ has the audit). The hub has one more strand
// (HubService::strand_), outside the pool, on which every hub call happens, so the hub, which is not thread-safe,
// only ever sees one caller. A connection posts its inputs to the hub strand; the hub strand drains the hub's
// actions and posts each to its connection's strand. Both hops are posts to a strand from one strand, which Asio
// runs in order, so the hub's ordering contract (messages before the close that follows them) holds on the wire.
#include "server/listener.hpp"

#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/span.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "net/tls_socket_stream.hpp"
#include "protocol/codec.hpp"
#include "protocol/websocket_frames.hpp"
#include "server/admin.hpp"
#include "server/cluster_node.hpp"
#include "server/tls.hpp"
#include "token/token.hpp"

namespace relink::server {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
/// A connection's strand, from the accept loop's pool (Acceptor::strands_).
using Strand = net::strand<net::io_context::executor_type>;
/// A connection's socket, whose executor type is its strand's (24 bytes) instead of any_io_executor (56): the
/// acceptor makes it so when it accepts onto a strand.
using Socket = tcp::socket::rebind_executor<Strand>::other;
using TlsSocketStream = relink::net::StrandTlsSocketStream;
using Logger = std::shared_ptr<spdlog::logger>;

TimePoint hub_now() noexcept {
    return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

namespace {

/// A frame's byte budget in a connection's outbound queue. A client that reads slower than it is sent to is
/// disconnected when its queue holds more than this (the hub's own queues keep what a resume needs).
constexpr std::size_t kMaxQueuedBytes = 4 * 1024 * 1024;
/// While all write queues together are over their budget, a connection whose own queue holds more than this is
/// a slow reader and is closed on its next frame: a reader that keeps up holds a frame or two, so the ones holding
/// the memory go first and the healthy ones are never touched.
constexpr std::size_t kSlowReaderBytes = 64 * 1024;
/// Connection strands per io thread in the accept loop's pool (Acceptor::strands_ says why this many).
constexpr unsigned kStrandsPerThread = 64;
/// How often a paused accept loop looks whether the handshakes in progress went below their bound.
constexpr auto kAcceptPauseCheck = std::chrono::milliseconds(10);
/// The HTTP upgrade request's header limit.
constexpr std::uint32_t kMaxUpgradeHeaderBytes = 8 * 1024;

std::string_view close_reason_name(proto::CloseReason reason) noexcept {
    switch (reason) {
        case proto::CloseReason::remote_login: return "REMOTE_LOGIN";
        case proto::CloseReason::banned: return "BANNED";
        case proto::CloseReason::kicked: return "KICKED";
        case proto::CloseReason::token_expired: return "TOKEN_EXPIRED";
        case proto::CloseReason::keep_alive_timeout: return "KEEP_ALIVE_TIMEOUT";
        case proto::CloseReason::draining: return "DRAINING";
        case proto::CloseReason::invalid: return "INVALID";
        case proto::CloseReason::busy: return "BUSY";
    }
    return "UNKNOWN";
}

/// A TLS record holds at most this much plaintext (RFC 8446); queued frames are batched into records of this size.
constexpr std::size_t kRecordBytes = 16 * 1024;
/// Frames encrypted into one record at most (small frames; bounds the header array on the stack).
constexpr std::size_t kFramesPerRecord = 64;
// ------------------------------------------------------------------------------------------- connections

/// An encoded frame; a message for many receivers is encoded once and its bytes shared by their queues.
using SharedFrame = std::shared_ptr<const std::string>;

/// A Pong, encoded once: a connection answers its heartbeats itself (Session::on_read).
const SharedFrame& pong_frame() {
    static const SharedFrame frame =
        std::make_shared<const std::string>(proto::encode(proto::ServerMessage{proto::Pong{}}));
    return frame;
}

/// What the hub strand may ask of a connection. Both calls post to the connection's strand and return at once.
class Connection {
public:
    virtual ~Connection() = default;
    /// Queues an encoded frame, shared with the other receivers of the same message (never modified). `close` is set
    /// when the frame is a proto::Close (its reason names the WebSocket close that follows).
    virtual void deliver(SharedFrame frame, std::optional<proto::CloseReason> close) = 0;
    /// Closes the WebSocket once every queued frame is written.
    virtual void close() = 0;
};

// ------------------------------------------------------------------------------------------- the hub service

/// The hub, its strand, its one timer and the registry of connections, all used on the strand only. With
/// --cluster, also the node's link to the deployment's Redis (ClusterNode), whose store the hub uses, and the
/// fence: a node that cannot reach Redis for a while stops taking work and hands its clients to the others.
class HubService final : public HubAccess {
public:
    HubService(net::io_context& ioc, const HubConfig& config, TokenVerifier verifier, Logger log,
               const Options& options)
        : strand_(net::make_strand(ioc)),
          cluster_(make_cluster(config, options)),
          hub_(config, std::move(verifier), cluster_ ? cluster_->store() : nullptr),
          timer_(strand_),
          fence_timer_(strand_),
          fence_after_(scale(std::chrono::seconds(2), options.time_scale)),
          drain_window_(drain_window(options)),
          log_(std::move(log)) {}

    /// Why --cluster cannot be used (a malformed URL); empty when it can, or without --cluster.
    [[nodiscard]] const std::string& cluster_error() const noexcept { return cluster_error_; }
    [[nodiscard]] bool clustered() const noexcept { return cluster_ != nullptr; }
    [[nodiscard]] ClusterNode* cluster() noexcept { return cluster_.get(); }

    /// Arms the hub's timer (its first deadlines exist before any input: a node's heartbeat) and connects to Redis.
    void start() {
        net::post(strand_, [this] {
            if (cluster_) {
                cluster_->start();
            }
            flush();
        });
    }

    /// Registers a new transport and tells the hub; returns its id.
    ConnId open(std::weak_ptr<Connection> conn, std::string peer_address) {
        const ConnId id = next_id_.fetch_add(1) + 1;
        net::post(strand_, [this, id, conn = std::move(conn), peer = std::move(peer_address)]() mutable {
            conns_.emplace(id, std::move(conn));
            hub_.on_open(hub_now(), id, std::move(peer));
            flush();
        });
        return id;
    }

    void frame(ConnId id, proto::ClientMessage message) {
        net::post(strand_, [this, id, message = std::move(message)] {
            if (conns_.contains(id)) {
                hub_.on_frame(hub_now(), id, message);
                flush();
            }
        });
    }

    void bad_frame(ConnId id, proto::DecodeError error) {
        net::post(strand_, [this, id, error = std::move(error)] {
            if (conns_.contains(id)) {
                hub_.on_bad_frame(hub_now(), id, error);
                flush();
            }
        });
    }

    /// A logged-in connection's heartbeat, already answered on the connection's own strand (so a Pong does not wait
    /// behind the logins queued here): the hub only keeps its keep-alive and presence bookkeeping.
    void heartbeat(ConnId id) {
        net::post(strand_, [this, id] {
            if (conns_.contains(id)) {
                hub_.on_heartbeat(hub_now(), id);
            }
        });
    }

    /// The write queues crossed their high-water mark (either way): the hub refuses new logins while above it.
    /// Reads the flag on the strand, so that crossings reported out of order still leave the last word right.
    void memory_changed(const std::atomic<bool>& over_high_water) {
        net::post(strand_, [this, &over_high_water] { hub_.set_overloaded(over_high_water.load()); });
    }

    void closed(ConnId id) {
        net::post(strand_, [this, id] {
            if (conns_.erase(id) != 0) {
                hub_.on_closed(hub_now(), id);
                flush();
            }
            if (conns_.empty() && on_all_closed_) {
                auto done = std::move(on_all_closed_);
                on_all_closed_ = nullptr;
                done();
            }
        });
    }

    void run(Task task) override {
        net::post(strand_, [this, task = std::move(task)] {
            task(hub_, hub_now());
            flush();
        });
    }

    /// Drains the hub (every client gets Close(draining) and its connection is closed); calls `done` on the hub
    /// strand once every connection has reported its close (and, in a cluster, the node has left it).
    void drain(Duration window, std::function<void()> done) {
        net::post(strand_, [this, window, done = std::move(done)]() mutable {
            leaving_ = true;
            hub_.drain(hub_now(), window);
            flush();
            auto finish = [this, done = std::move(done)]() mutable {
                if (cluster_) {
                    cluster_->leave(std::move(done));
                } else {
                    done();
                }
            };
            if (conns_.empty()) {
                finish();
            } else {
                on_all_closed_ = std::move(finish);
            }
        });
    }

    /// The apps changed (a reload): later logins and renewals are checked by `verifier`; sessions of apps not in
    /// `apps` are kicked (Hub::replace_apps).
    void replace_apps(TokenVerifier verifier, std::set<std::string> apps) {
        net::post(strand_, [this, verifier = std::move(verifier), apps = std::move(apps)]() mutable {
            hub_.replace_apps(hub_now(), std::move(verifier), apps);
            flush();
        });
    }

    /// False while a cluster node cannot reach Redis (its logins would fail; it fences itself soon): /readyz. Read
    /// from any thread.
    [[nodiscard]] bool store_reachable() const noexcept { return store_reachable_.load(std::memory_order_relaxed); }

    void stop_timer() {
        net::post(strand_, [this] {
            timer_.cancel();
            fence_timer_.cancel();
            if (cluster_) {
                cluster_->stop();
            }
        });
    }

private:
    /// After every input: dispatch the hub's actions in order, then re-arm the one timer.
    void flush() {
        // A channel message comes as one SendToMany: encoded once, its bytes shared by every receiver's queue. Other
        // events for many members (presence) come one SendMessage per member in a row: a message equal to the one
        // before reuses its frame.
        std::optional<proto::ServerMessage> encoded_message;
        SharedFrame encoded_frame;
        while (auto action = hub_.poll_action()) {
            if (auto* send = std::get_if<SendMessage>(&*action)) {
                if (auto conn = find(send->conn)) {
                    std::optional<proto::CloseReason> close;
                    if (const auto* c = std::get_if<proto::Close>(&send->message)) {
                        close = c->reason;
                    }
                    if (!encoded_message || !(*encoded_message == send->message)) {
                        encoded_frame = std::make_shared<const std::string>(proto::encode(send->message));
                        encoded_message = std::move(send->message);
                    }
                    conn->deliver(encoded_frame, close);
                }
            } else if (auto* many = std::get_if<SendToMany>(&*action)) {
                const auto frame = std::make_shared<const std::string>(proto::encode(many->message));
                for (const ConnId id : many->conns) {
                    if (auto conn = find(id)) {
                        conn->deliver(frame, std::nullopt);
                    }
                }
            } else if (auto conn = find(std::get<CloseConnection>(*action).conn)) {
                conn->close();
            }
        }
        rearm();
    }

    std::shared_ptr<Connection> find(ConnId id) const {
        const auto it = conns_.find(id);
        return it == conns_.end() ? nullptr : it->second.lock();
    }

    void rearm() {
        const auto deadline = hub_.next_deadline();
        if (deadline == armed_) {
            return;
        }
        armed_ = deadline;
        if (!deadline) {
            timer_.cancel();
            return;
        }
        timer_.expires_at(std::chrono::time_point_cast<std::chrono::steady_clock::duration>(*deadline));
        timer_.async_wait([this](beast::error_code ec) {
            if (ec == net::error::operation_aborted) {
                return;
            }
            // An early or stale wake-up is harmless: handle_timeout() does nothing when nothing is due.
            armed_.reset();
            hub_.handle_timeout(hub_now());
            flush();
        });
    }

    std::unique_ptr<ClusterNode> make_cluster(const HubConfig& config, const Options& options) {
        if (options.cluster_url.empty()) {
            return nullptr;
        }
        ClusterNode::Callbacks callbacks;
        callbacks.on_result = [this](cluster::CommandId id, cluster::Result result) {
            // Boxed: GCC 12 at -O2 warns (maybe-uninitialized) about moving the result's variant into the handler.
            auto boxed = std::make_shared<cluster::Result>(std::move(result));
            net::post(strand_, [this, id, boxed] {
                hub_.on_store_result(hub_now(), id, std::move(*boxed));
                flush();
            });
        };
        callbacks.on_events = [this] {
            net::post(strand_, [this] {
                hub_.on_store_events(hub_now());
                flush();
            });
        };
        callbacks.on_redis = [this](bool up) { net::post(strand_, [this, up] { redis_changed(up); }); };
        callbacks.on_events_lost = [this] {
            net::post(strand_, [this] {
                log_->warn(
                    "cluster: the event subscription to Redis was made again; events may have been missed: "
                    "every client of this node resumes");
                hub_.resync_all(hub_now());
                flush();
            });
        };
        ClusterNode::Settings settings{options.cluster_url, config.node_id, store_config(config), options.time_scale};
        return ClusterNode::make(strand_, std::move(settings), std::move(callbacks), cluster_error_);
    }

    /// Redis reachable again, or lost: a node cut off for `fence_after_` closes every connection with
    /// Close(draining) and refuses logins, so its clients resume on the other nodes before those declare it dead;
    /// it takes work again once Redis is back.
    void redis_changed(bool up) {
        store_reachable_.store(up, std::memory_order_relaxed);
        if (up) {
            fence_timer_.cancel();
            // What was in flight when Redis was lost may have taken effect unseen (a login answered into the
            // dropped connection; a detach lost with it), and a node restarted under the same id finds its former
            // sessions: Redis learns which sessions this node really holds.
            hub_.reconcile(hub_now());
            if (fenced_ && !leaving_) {
                fenced_ = false;
                hub_.reopen();
                log_->info("cluster: Redis at {} is back: taking work again", cluster_->redis_address());
            } else {
                log_->info("cluster: connected to Redis at {}", cluster_->redis_address());
            }
            return;
        }
        log_->warn("cluster: lost Redis at {}; fencing this node in {} ms unless it comes back",
                   cluster_->redis_address(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(fence_after_).count());
        fence_timer_.expires_after(fence_after_);
        fence_timer_.async_wait([this](beast::error_code ec) {
            if (ec || (cluster_ && cluster_->up()) || leaving_) {
                return;
            }
            fenced_ = true;
            log_->warn("cluster: Redis unreachable: handing every client over to the other nodes");
            hub_.drain(hub_now(), drain_window_);
            flush();
        });
    }

    net::strand<net::io_context::executor_type> strand_;
    std::string cluster_error_;
    std::unique_ptr<ClusterNode> cluster_;  // before the hub, which shares its store
    Hub hub_;
    net::steady_timer timer_;
    net::steady_timer fence_timer_;
    Duration fence_after_;
    Duration drain_window_;
    bool fenced_{false};
    bool leaving_{false};
    std::optional<TimePoint> armed_;
    std::unordered_map<ConnId, std::weak_ptr<Connection>> conns_;
    std::atomic<ConnId> next_id_{0};
    std::function<void()> on_all_closed_;
    Logger log_;
    std::atomic<bool> store_reachable_{true};  // a cluster node: until its first connection, open() waits anyway
};

// ------------------------------------------------------------------------------------------- a session

/// Completed TLS handshakes, full and resumed (a session ticket accepted), for /metrics.
struct TlsHandshakeCounters {
    std::atomic<std::uint64_t> full{0};
    std::atomic<std::uint64_t> resumed{0};
};

/// The whole server's load, shared by every session and the accept loop, which run on many threads: the bytes in
/// all write queues against their budget, and the handshakes in progress against theirs (docs/server.md,
/// "Overload").
struct ServerLoad {
    explicit ServerLoad(const Limits& limits)
        : budget(limits.write_queue_budget_bytes),
          high_water(static_cast<std::size_t>(static_cast<double>(limits.write_queue_budget_bytes) *
                                              std::clamp(limits.write_queue_high_water_percent, 0.0, 100.0) / 100.0)),
          max_handshakes(limits.max_handshakes_in_progress) {}

    const std::size_t budget;
    const std::size_t high_water;
    const std::size_t max_handshakes;
    std::atomic<std::size_t> write_queue_bytes{0};
    std::atomic<bool> over_high_water{false};
    std::atomic<std::uint64_t> slow_readers_shed{0};
    std::atomic<std::size_t> handshakes{0};
    std::atomic<std::uint64_t> accept_pauses{0};
};

/// What every session shares: one per server (Impl::session_config_), which every session and the accept loop refer
/// to instead of holding copies. It outlives them all: sessions live only in the io_context's handlers, the accept
/// loop in those and in Impl::acceptor_, and the server destroys both (the io_context with its handlers) before it.
struct SessionConfig {
    Duration handshake_timeout{};
    HubService* hub{nullptr};
    Logger log;
    TlsHandshakeCounters* tls_handshakes{nullptr};  ///< the server's; counts every completed TLS handshake
    ServerLoad* load{nullptr};                      ///< the server's; nullptr: no process-wide bounds
};

/// One client connection: [TLS handshake →] HTTP upgrade (Beast) → relink's own WebSocket read loop over the
/// stream (proto::WsFrameReader), plus a write queue with one write outstanding. Each handler holds
/// shared_from_this(), so the session lives while an operation is pending.
///
/// Why not Beast's websocket::stream after the upgrade: it holds ~2.7 KB per connection for its whole life (a fixed
/// 1,536-byte frame buffer, its timer, its state) and, under a pending read, an operation of its own; most sessions
/// are idle most of the time. Here an idle session holds a read of the next frame's first two header bytes into
/// the reader inside the session object, and no buffer (docs/benchmarks.md, "What an idle session no longer
/// holds"). Beast's idle timeout is not needed: the hub closes every silent connection sooner (the login grace, the
/// keep-alive timeout).
template <class Stream>
class Session final : public Connection, public std::enable_shared_from_this<Session<Stream>> {
    static constexpr bool kTls = std::is_same_v<Stream, TlsSocketStream>;

public:
    template <class... StreamArgs>
    Session(const SessionConfig& config, std::string peer, StreamArgs&&... args)
        : stream_(std::forward<StreamArgs>(args)...), config_(config), peer_(std::move(peer)) {
        if (config_.load != nullptr) {
            config_.load->handshakes.fetch_add(1, std::memory_order_relaxed);
            handshaking_ = true;
        }
    }
    ~Session() override { handshake_over(); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void run() {
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::on_run, this->shared_from_this()));
    }

    void deliver(SharedFrame frame, std::optional<proto::CloseReason> close) override {
        net::post(stream_.get_executor(), [self = this->shared_from_this(), frame = std::move(frame), close]() mutable {
            self->enqueue(std::move(frame), close);
        });
    }

    void close() override {
        net::post(stream_.get_executor(), [self = this->shared_from_this()] {
            if (self->ended_ || self->close_requested_) {
                return;
            }
            self->close_requested_ = true;
            if (!self->writing_) {
                self->do_close();
            }
        });
    }

private:
    void on_run() {
        // One deadline for the TLS handshake and the upgrade request, then one as long for the 101 answer.
        handshake_ = std::make_unique<Handshake>(stream_.get_executor());
        arm_handshake_deadline();
        if constexpr (kTls) {
            stream_.async_handshake(beast::bind_front_handler(&Session::on_tls_handshake, this->shared_from_this()));
        } else {
            do_read_upgrade();
        }
    }

    void arm_handshake_deadline() {
        handshake_->deadline.expires_after(config_.handshake_timeout);
        handshake_->deadline.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
            auto self = weak.lock();
            if (!ec && self && self->handshake_) {
                self->log()->debug("{}: no WebSocket upgrade within the handshake timeout", self->peer_);
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream_).close(ignored);
            }
        });
    }

    void on_tls_handshake(beast::error_code ec) {
        if (ec) {
            log()->debug("{}: TLS handshake failed: {}", peer_, ec.message());
            return;
        }
        if constexpr (kTls) {
            const bool resumed = SSL_session_reused(stream_.native_handle()) == 1;
            if (config_.tls_handshakes != nullptr) {
                (resumed ? config_.tls_handshakes->resumed : config_.tls_handshakes->full)
                    .fetch_add(1, std::memory_order_relaxed);
            }
            log()->trace("{}: TLS handshake {}", peer_, resumed ? "resumed a session" : "full");
        }
        do_read_upgrade();
    }

    void do_read_upgrade() {
        handshake_->parser.emplace();
        handshake_->parser->header_limit(kMaxUpgradeHeaderBytes);
        // The handshake deadline set in on_run() still runs: it covers TLS and the upgrade request.
        http::async_read(stream_, handshake_->buffer, *handshake_->parser,
                         beast::bind_front_handler(&Session::on_read_upgrade, this->shared_from_this()));
    }

    void on_read_upgrade(beast::error_code ec, std::size_t) {
        if (ec) {
            log()->debug("{}: no upgrade request: {}", peer_, ec.message());
            return;
        }
        auto& upgrade = handshake_->upgrade;
        upgrade = handshake_->parser->release();
        handshake_->parser.reset();
        const auto target = std::string_view(upgrade.target().data(), upgrade.target().size());
        const auto path = target.substr(0, target.find('?'));
        if (!websocket::is_upgrade(upgrade)) {
            return do_reject(http::status::upgrade_required, "relinkd speaks WebSocket on /\n");
        }
        if (path != "/") {
            return do_reject(http::status::not_found, "not found: relinkd's WebSocket endpoint is /\n");
        }
        arm_handshake_deadline();  // the 101 answer gets a window of its own, as Beast's accept timeout gave it
        // Beast answers the upgrade over this session's stream (a reference): afterwards the stream is read and
        // written here, and Beast's WebSocket state goes with the handshake's.
        auto& ws = handshake_->ws.emplace(stream_);
        ws.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "relinkd"); }));
        ws.async_accept(upgrade, beast::bind_front_handler(&Session::on_accept, this->shared_from_this()));
    }

    void do_reject(http::status status, std::string body) {
        log()->debug("{}: upgrade refused ({})", peer_, static_cast<unsigned>(status));
        auto res = std::make_shared<http::response<http::string_body>>(status, handshake_->upgrade.version());
        res->set(http::field::server, "relinkd");
        res->set(http::field::content_type, "text/plain");
        res->keep_alive(false);
        res->body() = std::move(body);
        res->prepare_payload();
        http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code, std::size_t) {
            beast::error_code ignored;
            beast::get_lowest_layer(self->stream_).shutdown(tcp::socket::shutdown_both, ignored);
        });
    }

    void on_accept(beast::error_code ec) {
        // Frees the deadline, the request, its buffer (a client must wait for the 101 before it sends frames:
        // anything it sent early is not a frame of ours) and Beast's WebSocket state.
        handshake_.reset();
        handshake_over();
        if (ec) {
            log()->debug("{}: WebSocket accept failed: {}", peer_, ec.message());
            return;
        }
        id_ = hub().open(this->weak_from_this(), peer_);
        log()->debug("conn {} from {}: open", id_, peer_);
        do_read();
    }

    /// This connection's TLS and WebSocket handshakes are over (done or failed): it leaves the accept loop's count.
    void handshake_over() {
        if (std::exchange(handshaking_, false)) {
            config_.load->handshakes.fetch_sub(1, std::memory_order_relaxed);
        }
    }

    // ---- reading: the frame reader says where the next bytes go, never past the current frame ----

    /// Reads into the reader's space: between frames that is the next header's first two bytes, inside the
    /// session object, so an idle session waits holding no buffer; then the rest of the header, then the payload
    /// (into the message, which the reader frees after it). With TLS, bytes that came with the previous frame
    /// wait in OpenSSL's buffer, which the next read takes first.
    void do_read() {
        const auto room = reader_.space();
        stream_.async_read_some(net::buffer(room.data, room.size),
                                beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t bytes) {
        if (ec) {
            if (closing_ == nullptr) {
                log()->debug("conn {}: read ended: {}", id_, ec.message());
            }
            return end();
        }
        const proto::WsEvent event = reader_.commit(bytes);
        switch (event.kind) {
            case proto::WsEvent::Kind::none: break;
            case proto::WsEvent::Kind::message: on_message(event); break;
            case proto::WsEvent::Kind::ping:
                if (closing_ == nullptr) {  // answered with its payload; not once the closing handshake began
                    enqueue(std::make_shared<const std::string>(event.payload), std::nullopt, proto::WsOpcode::pong);
                }
                break;
            case proto::WsEvent::Kind::pong: break;
            case proto::WsEvent::Kind::close: return on_close_frame(event.code);
            case proto::WsEvent::Kind::error: return fail(event.code, event.reason);
        }
        do_read();
    }

    /// A whole message from the client.
    void on_message(const proto::WsEvent& event) {
        if (close_requested_ || closing_ != nullptr) {
            return;
        }
        if (!event.text) {
            hub().bad_frame(id_, {make_error_code(errc::protocol_error), "binary frame", std::nullopt});
            return;
        }
        auto decoded = proto::decode_client(event.payload);
        if (decoded && std::holds_alternative<proto::Ping>(*decoded.message)) {
            // Answered here, on this connection's strand, not behind the hub's queue of logins: an established
            // session's heartbeats stay prompt however busy the hub is.
            enqueue(pong_frame(), std::nullopt);
            hub().heartbeat(id_);
        } else if (decoded) {
            hub().frame(id_, std::move(*decoded.message));
        } else {
            log()->debug("conn {}: undecodable frame: {}", id_, decoded.error.detail);
            hub().bad_frame(id_, std::move(decoded.error));
        }
    }

    /// A frame broke the protocol: the connection is failed with `code` (1009 for a message above the limit, which
    /// the hub counts), as Beast failed it: our close frame, then the TCP teardown, reading nothing more.
    void fail(std::uint16_t code, std::string_view why) {
        if (code == proto::ws_close::too_big) {
            log()->debug("conn {}: frame above {} bytes", id_, proto::kMaxFrameBytes);
            hub().bad_frame(id_, {make_error_code(errc::payload_too_large), "frame too large", std::nullopt});
        } else {
            log()->debug("conn {}: WebSocket protocol error: {}", id_, why);
        }
        stop_reading(code);
    }

    /// The client's close frame: the answer to ours, or the start of its closing handshake, which is answered with
    /// its code (1000 when it gave none), as Beast answered it.
    void on_close_frame(std::uint16_t code) { stop_reading(code != 0 ? code : proto::ws_close::normal); }

    /// Nothing more is read: our close frame with `code` goes out unless it already has, then the teardown.
    void stop_reading(std::uint16_t code) {
        reading_over_ = true;
        if (closing_ == nullptr) {
            start_close(code, {});
        } else if (closing_->sent) {
            teardown();
        }  // else: the teardown follows our close frame's write (on_close_written)
    }

    // ---- writing ----

    void enqueue(SharedFrame frame, std::optional<proto::CloseReason> close,
                 proto::WsOpcode opcode = proto::WsOpcode::text) {
        if (ended_ || close_requested_ || closing_ != nullptr) {
            return;
        }
        if (close) {
            close_reason_ = close;
        }
        queued_bytes_ += frame->size();
        const std::size_t total = count_queued(static_cast<std::ptrdiff_t>(frame->size()));
        queue_.push_back({std::move(frame), opcode});
        const std::size_t held = queued_bytes_ + unsent_bytes();
        if (held > kMaxQueuedBytes) {
            log()->warn("conn {} from {}: reads too slowly ({} bytes queued): disconnected", id_, peer_, held);
            return shed_slow_reader();
        }
        if (config_.load != nullptr && total > config_.load->budget && held > kSlowReaderBytes) {
            log()->warn(
                "conn {} from {}: reads too slowly ({} bytes queued, {} on all connections, over the {} budget): "
                "disconnected",
                id_, peer_, held, total, config_.load->budget);
            return shed_slow_reader();
        }
        if (!writing_) {
            do_write();
        }
    }

    /// Bytes written but not yet taken by the kernel (the TLS stream's pending records).
    std::size_t unsent_bytes() {
        if constexpr (kTls) {
            return stream_.unsent_bytes();
        } else {
            return 0;
        }
    }

    void do_write() {
        if constexpr (kTls) {
            return write_now();
        } else {
            writing_ = true;
            const QueuedFrame& next = queue_.front();
            const std::size_t header_size = proto::ws_frame_header(next.opcode, next.bytes->size(), write_header_);
            const std::array<net::const_buffer, 2> pieces{net::buffer(write_header_.data(), header_size),
                                                          net::buffer(*next.bytes)};
            net::async_write(stream_, pieces, beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
        }
    }

    /// With TLS: every queued frame is framed here (a server's frame is a 2-10 byte header and the payload, RFC
    /// 6455 section 5.2), encrypted at once, up to 16 KiB of frames per TLS record, and sent in one system call,
    /// with no operation or handler when the socket takes it all (the usual case: one fan-out delivery costs an
    /// encryption and a send). Only what the socket does not take waits, in one flush, while new frames queue here.
    /// Nothing is written after the close frame (write_close).
    void write_now() {
        auto& tls = stream_;
        while (!queue_.empty()) {
            if (closing_ != nullptr) {
                drop_queued();
                return;
            }
            std::array<proto::WsServerHeader, kFramesPerRecord> headers{};
            std::array<net::const_buffer, 2 * kFramesPerRecord> pieces;
            std::size_t frames = 0;
            std::size_t record_bytes = 0;
            for (auto next = queue_.begin(); next != queue_.end() && frames < kFramesPerRecord; ++next) {
                const std::string& payload = *next->bytes;
                const std::size_t header_size = proto::ws_frame_header(next->opcode, payload.size(), headers[frames]);
                if (frames != 0 && record_bytes + header_size + payload.size() > kRecordBytes) {
                    break;
                }
                pieces[2 * frames] = net::buffer(headers[frames].data(), header_size);
                pieces[2 * frames + 1] = net::buffer(payload);
                record_bytes += header_size + payload.size();
                ++frames;
            }
            if (const auto ec = tls.encrypt_now(beast::span<const net::const_buffer>(pieces.data(), 2 * frames))) {
                log()->debug("conn {}: write failed: {}", id_, ec.message());
                return abort();
            }
            for (std::size_t i = 0; i < frames; ++i) {
                queued_bytes_ -= queue_.front().bytes->size();
                sent_unconfirmed_bytes_ += queue_.front().bytes->size();
                queue_.pop_front();
            }
        }
        if (const auto ec = tls.send_now()) {
            log()->debug("conn {}: write failed: {}", id_, ec.message());
            return abort();
        }
        if (tls.unsent_bytes() == 0) {
            count_queued(-static_cast<std::ptrdiff_t>(std::exchange(sent_unconfirmed_bytes_, 0)));
        } else {
            writing_ = true;
            return tls.async_flush(beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
        }
        if (close_requested_) {
            do_close();
        }
    }

    void on_write(beast::error_code ec, std::size_t = 0) {
        writing_ = false;
        if (ec) {
            log()->debug("conn {}: write failed: {}", id_, ec.message());
            return abort();
        }
        if constexpr (kTls) {
            // The flush is over: every frame encrypted so far has left (they leave the server's total only now).
            count_queued(-static_cast<std::ptrdiff_t>(std::exchange(sent_unconfirmed_bytes_, 0)));
        } else if (!queue_.empty()) {  // abort() may have emptied it while the write was in flight
            queued_bytes_ -= queue_.front().bytes->size();
            count_queued(-static_cast<std::ptrdiff_t>(queue_.front().bytes->size()));
            queue_.pop_front();
        }
        if (closing_ != nullptr) {
            return write_close();  // the closing handshake began while this write was in flight
        }
        if (!queue_.empty()) {
            return do_write();
        }
        if (close_requested_) {
            do_close();
        }
    }

    /// The hub's close, once every queued frame is written: the close frame names the reason.
    void do_close() {
        if (closing_ != nullptr || ended_) {
            return;
        }
        std::uint16_t code = proto::ws_close::normal;
        std::string_view name;
        if (close_reason_) {
            name = close_reason_name(*close_reason_);
            if (*close_reason_ == proto::CloseReason::invalid) {
                code = proto::ws_close::policy_error;
            } else if (*close_reason_ == proto::CloseReason::draining) {
                code = proto::ws_close::going_away;
            } else if (*close_reason_ == proto::CloseReason::busy) {
                code = proto::ws_close::try_again_later;
            }
        }
        log()->debug("conn {}: closing ({})", id_, name);
        // The read loop goes on until the client's close frame (or the close deadline).
        start_close(code, name);
    }

    /// Begins the closing handshake: nothing more is queued or written but the close frame, which goes out as soon
    /// as no write is in flight; the connection ends within the handshake timeout, answered or not (as Beast's
    /// close did).
    void start_close(std::uint16_t code, std::string_view reason) {
        if (closing_ != nullptr || ended_) {
            return;
        }
        drop_queued();
        closing_ = std::make_unique<Closing>(stream_.get_executor());
        closing_->frame = proto::ws_close_frame(code, reason);
        closing_->deadline.expires_after(config_.handshake_timeout);
        closing_->deadline.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
            if (auto self = weak.lock(); self && !ec) {
                self->log()->debug("conn {}: the closing handshake timed out", self->id_);
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream_).close(ignored);  // pending operations fail: end()
            }
        });
        if (!writing_) {
            write_close();
        }
    }

    void write_close() {
        if constexpr (kTls) {
            if (auto ec = stream_.encrypt_now(net::buffer(closing_->frame)); !ec) {
                ec = stream_.send_now();
                if (!ec && stream_.unsent_bytes() != 0) {
                    writing_ = true;
                    return stream_.async_flush(
                        beast::bind_front_handler(&Session::on_close_written, this->shared_from_this()));
                }
                return on_close_written(ec);
            } else {
                return on_close_written(ec);
            }
        } else {
            writing_ = true;
            net::async_write(stream_, net::buffer(closing_->frame),
                             beast::bind_front_handler(&Session::on_close_written, this->shared_from_this()));
        }
    }

    void on_close_written(beast::error_code ec, std::size_t = 0) {
        writing_ = false;
        if (ec) {
            log()->debug("conn {}: close frame not written: {}", id_, ec.message());
            return abort();
        }
        closing_->sent = true;
        if (reading_over_) {
            teardown();
        }  // else the read loop waits for the client's answer
    }

    /// The closing handshake is over (or the connection failed): TLS's close_notify, our FIN, then the client's
    /// bytes are read and dropped until its FIN (so that closing never resets the connection under our close
    /// frame), all within the close deadline; as Beast's teardown for the server role.
    void teardown() {
        if (closing_->tearing_down) {
            return;
        }
        closing_->tearing_down = true;
        if constexpr (kTls) {
            stream_.shutdown_best_effort();
        }
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).shutdown(tcp::socket::shutdown_send, ignored);
        drain();
    }

    void drain() {
        beast::get_lowest_layer(stream_).async_read_some(
            net::buffer(closing_->drained), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                if (!ec) {
                    return self->drain();
                }
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream_).close(ignored);
                self->end();
            });
    }

    /// Adds `delta` bytes to the server's write-queue total and returns the new total; tells the hub when the total
    /// crosses the high-water mark.
    std::size_t count_queued(std::ptrdiff_t delta) {
        ServerLoad* load = config_.load;
        if (load == nullptr || delta == 0) {
            return 0;
        }
        const std::size_t total = delta > 0 ? load->write_queue_bytes.fetch_add(static_cast<std::size_t>(delta)) + delta
                                            : load->write_queue_bytes.fetch_sub(static_cast<std::size_t>(-delta)) -
                                                  static_cast<std::size_t>(-delta);
        const bool above = total > load->high_water;
        if (load->over_high_water.load(std::memory_order_relaxed) != above &&
            load->over_high_water.exchange(above) != above) {
            hub().memory_changed(load->over_high_water);
        }
        return total;
    }

    void shed_slow_reader() {
        if (config_.load != nullptr) {
            config_.load->slow_readers_shed.fetch_add(1, std::memory_order_relaxed);
        }
        abort();
    }

    /// Forgets every frame not sent yet; they leave the server's write-queue total.
    void drop_queued() {
        count_queued(-static_cast<std::ptrdiff_t>(queued_bytes_ + std::exchange(sent_unconfirmed_bytes_, 0)));
        queue_.clear();
        queued_bytes_ = 0;
    }

    /// Drops the transport at once; the pending read fails and reports the close to the hub (or, when no read is
    /// pending any more, this does).
    void abort() {
        drop_queued();
        beast::error_code ignored;
        beast::get_lowest_layer(stream_).shutdown(tcp::socket::shutdown_both, ignored);
        beast::get_lowest_layer(stream_).close(ignored);
        if (reading_over_ && (closing_ == nullptr || !closing_->tearing_down)) {
            end();
        }
    }

    /// The read loop ended: the hub hears of it exactly once.
    void end() {
        if (ended_) {
            return;
        }
        ended_ = true;
        drop_queued();
        if (id_ != 0) {
            log()->debug("conn {}: closed", id_);
            hub().closed(id_);
        }
    }

    /// A frame waiting in the write queue: its payload (shared with the other receivers of the same message)
    /// and its opcode (text, or a pong answering a ping).
    struct QueuedFrame {
        SharedFrame bytes;
        proto::WsOpcode opcode{proto::WsOpcode::text};
    };
    /// What only the handshake needs, freed once the WebSocket is up so that an established session does not
    /// carry it: the deadline (TLS and the upgrade request, then the answer), the upgrade request's buffer, parser
    /// and the request, and Beast's WebSocket stream over this session's stream, which answers the upgrade.
    struct Handshake {
        explicit Handshake(const typename Stream::executor_type& executor) : deadline(executor) {}
        net::steady_timer deadline;
        beast::flat_buffer buffer;
        std::optional<http::request_parser<http::empty_body>> parser;
        http::request<http::empty_body> upgrade;
        std::optional<websocket::stream<Stream&>> ws;
    };
    /// The closing handshake's state, made when it begins: the deadline, the close frame (kept until written),
    /// and where the client's last bytes are dropped.
    struct Closing {
        explicit Closing(const typename Stream::executor_type& executor) : deadline(executor) {}
        net::steady_timer deadline;
        std::string frame;
        std::array<char, 512> drained{};
        bool sent{false};
        bool tearing_down{false};
    };
    /// No header of its own to keep alive over a TLS write (write_now encrypts at once); a plain write's header
    /// lives here while the write is in flight.
    struct NoHeader {};
    using WriteHeader = std::conditional_t<kTls, NoHeader, proto::WsServerHeader>;

    [[nodiscard]] HubService& hub() const noexcept { return *config_.hub; }
    [[nodiscard]] const Logger& log() const noexcept { return config_.log; }

    Stream stream_;
    const SessionConfig& config_;  ///< the server's (SessionConfig says why it outlives the session)
    std::string peer_;
    proto::WsFrameReader reader_{proto::kMaxFrameBytes};  ///< under 100 bytes; heap only inside a message
    std::unique_ptr<Handshake> handshake_;
    std::unique_ptr<Closing> closing_;
    ConnId id_{0};
    /// A list, not a deque: libstdc++'s deque allocates ~600 bytes even when empty, which every idle session
    /// would hold; a list allocates per queued frame only.
    std::list<QueuedFrame> queue_;
    std::size_t queued_bytes_{0};
    /// Payload bytes of frames taken from queue_ and encrypted whose records the socket has not all taken yet: they
    /// still count in the server's write-queue total (ServerLoad) until the flush is over.
    std::size_t sent_unconfirmed_bytes_{0};
    std::optional<proto::CloseReason> close_reason_;
    [[no_unique_address]] WriteHeader write_header_{};
    bool writing_{false};
    bool close_requested_{false};
    bool reading_over_{false};  ///< the client's close frame came, or the connection failed: no more reads
    bool ended_{false};
    bool handshaking_{false};  ///< counted in ServerLoad::handshakes
};

// ------------------------------------------------------------------------------------------- the accept loop

class Acceptor : public std::enable_shared_from_this<Acceptor> {
public:
    /// Binds; throws boost::system::system_error when it cannot.
    Acceptor(net::io_context& ioc, unsigned threads, const tcp::endpoint& endpoint, ssl::context* tls,
             const SessionConfig& config)
        : strands_(make_strands(ioc, threads)),
          acceptor_(net::make_strand(ioc)),
          retry_(acceptor_.get_executor()),
          tls_(tls),
          config_(config) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        if (endpoint.address().is_v6()) {
            acceptor_.set_option(net::ip::v6_only(false));
        }
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    void start() {
        net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
    }

    void stop() {
        net::post(acceptor_.get_executor(), [self = shared_from_this()] {
            beast::error_code ignored;
            self->stopped_ = true;
            self->retry_.cancel();
            self->acceptor_.close(ignored);
        });
    }

private:
    void do_accept() {
        if (stopped_) {
            return;
        }
        // The next strand of the pool, in turn (next_strand_ is only touched on the acceptor's strand).
        const Strand& strand = strands_[next_strand_];
        next_strand_ = (next_strand_ + 1) % strands_.size();
        acceptor_.async_accept(strand, beast::bind_front_handler(&Acceptor::on_accept, shared_from_this()));
    }

    static std::vector<Strand> make_strands(net::io_context& ioc, unsigned threads) {
        std::vector<Strand> strands;
        strands.reserve(std::size_t{kStrandsPerThread} * std::max(1U, threads));
        for (std::size_t i = 0; i < strands.capacity(); ++i) {
            strands.push_back(net::make_strand(ioc));
        }
        return strands;
    }

    void on_accept(beast::error_code ec, Socket socket) {
        if (stopped_ || ec == net::error::operation_aborted) {
            return;
        }
        if (ec) {
            // Out of descriptors or memory: back off a little instead of spinning.
            config_.log->warn("accept failed: {}", ec.message());
            retry_.expires_after(std::chrono::milliseconds(100));
            retry_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
                if (!wait_ec) {
                    self->do_accept();
                }
            });
            return;
        }
        beast::error_code peer_ec;
        const auto remote = socket.remote_endpoint(peer_ec);
        std::string peer = peer_ec ? std::string("?") : remote.address().to_string();
        socket.set_option(tcp::no_delay(true), peer_ec);
        if (tls_ != nullptr) {
            std::make_shared<Session<TlsSocketStream>>(config_, std::move(peer), std::move(socket),
                                                       tls_->native_handle(), beast::role_type::server)
                ->run();
        } else {
            std::make_shared<Session<Socket>>(config_, std::move(peer), std::move(socket))->run();
        }
        accept_when_room();
    }

    /// Accepts the next connection, or, while the handshakes in progress are at their bound, waits for room: the
    /// connections that arrive meanwhile wait in the kernel's listen backlog (as HAProxy's maxconn does), where
    /// they cost neither a TLS handshake nor memory, instead of adding to a crowd that all handshake slowly.
    void accept_when_room(bool paused = false) {
        const ServerLoad* load = config_.load;
        if (load == nullptr || load->handshakes.load(std::memory_order_relaxed) < load->max_handshakes) {
            return do_accept();
        }
        if (!paused) {
            config_.load->accept_pauses.fetch_add(1, std::memory_order_relaxed);
        }
        retry_.expires_after(kAcceptPauseCheck);
        retry_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
            if (!wait_ec && !self->stopped_) {
                self->accept_when_room(/*paused=*/true);
            }
        });
    }

    /// The connections' strands, made once at start and handed out round robin: of the connections accepted in a
    /// row, one in every kStrandsPerThread * threads gets the same strand.
    ///
    /// Why 64 per io thread: at most `threads` handlers run at once, so a connection with work finds its strand
    /// busy with another connection's handler about (threads - 1) / (64 * threads) < 1/64 of the time, which costs
    /// it a wait of one handler; the pool costs ~100 bytes per strand once (6.4 KB per thread) instead of two heap
    /// blocks (~100 bytes) per connection. Asio's old io_context::strand shared 193 in all.
    ///
    /// The audit of sharing (what would break if two connections ran on one strand), every use of a connection's
    /// executor in this file:
    /// - Session::run() dispatches on_run to the stream's strand from the accept handler, which runs on the
    ///   acceptor's own strand, outside the pool: it never runs inline inside another connection's handler.
    /// - deliver() and close() post (never dispatch) from the hub strand; the hub's calls post to the hub strand.
    /// - The handshake and close deadlines, the stream's operations and their completions run on the connection's
    ///   own strand and touch only that connection (they hold it by shared or weak pointer). TlsSocketStream posts
    ///   an op's first completion and keeps no state outside the stream (OpenSSL's error queue is per thread and
    ///   cleared before each call, as before).
    /// - Nothing calls running_in_this_thread(); no connection calls another's members; the server-wide state they
    ///   share (ServerLoad, TlsHandshakeCounters) is atomic, as it must already be across threads.
    /// What sharing changes: a connection's handler may wait behind another's on the same strand (a full TLS
    /// handshake is the longest, ~1 ms of CPU), never beside it.
    std::vector<Strand> strands_;
    std::size_t next_strand_{0};
    tcp::acceptor acceptor_;
    net::steady_timer retry_;
    ssl::context* tls_;
    const SessionConfig& config_;  ///< the server's
    bool stopped_{false};
};

// ------------------------------------------------------------------------------------------- start-up helpers

/// One line on stderr for a start-up failure; the exit status of an unusable configuration.
int fail(const std::string& line) {
    std::cerr << "relinkd: " << line << std::endl;
    return 2;
}

std::optional<tcp::endpoint> resolve(net::io_context& ioc, const HostPort& at, std::string& error) {
    beast::error_code ec;
    const auto address = net::ip::make_address(at.host, ec);
    if (!ec) {
        return tcp::endpoint(address, at.port);
    }
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(at.host, std::to_string(at.port), ec);
    if (ec || results.empty()) {
        error = "cannot resolve '" + at.host + "': " + (ec ? ec.message() : std::string("no address"));
        return std::nullopt;
    }
    return results.begin()->endpoint();
}

/// The address to put in a URL for a bound endpoint: the unspecified address is reached on loopback.
std::string url_host(const tcp::endpoint& endpoint) {
    const auto address = endpoint.address();
    if (address.is_v4()) {
        return address.is_unspecified() ? "127.0.0.1" : address.to_string();
    }
    return "[" + (address.is_unspecified() ? std::string("::1") : address.to_string()) + "]";
}

/// The hub's token verifier over one table of every app's keys (rl1 and HS256 with the secret, ES256 / RS256 with
/// the public keys): a reload replaces the whole table.
TokenVerifier make_verifier(AppKeyTable apps) {
    return [apps = std::move(apps)](const std::string& app_id, const std::string& user_id,
                                    const std::string& token) -> TokenCheck {
        TokenCheck check;
        const auto app = apps.find(app_id);
        if (app == apps.end()) {
            check.error = make_error_code(errc::invalid_app_id);
            return check;
        }
        const auto now = std::chrono::system_clock::now();
        const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        auto verified = token::verify(token, app->second, app_id, user_id, now_unix);
        if (verified.error) {
            check.error = verified.error;
            return check;
        }
        if (verified.claims.expires_at != 0) {
            const auto expires =
                std::chrono::system_clock::time_point(std::chrono::seconds(verified.claims.expires_at));
            if (expires <= now) {
                check.error = make_error_code(errc::token_expired);
                return check;
            }
            check.ttl = std::chrono::duration_cast<Duration>(expires - now);
        }
        check.channels = std::move(verified.claims.channels);
        return check;
    };
}

/// Loads --cert and --key into `ctx` and checks that they belong together; an error line or "".
std::string use_certificate_files(ssl::context& ctx, const Options& options) {
    beast::error_code ec;
    ctx.use_certificate_chain_file(options.cert_file, ec);
    if (ec) {
        return "cannot load --cert '" + options.cert_file + "': " + ec.message();
    }
    ctx.use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) {
        return "cannot load --key '" + options.key_file + "': " + ec.message();
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        return "--key does not match --cert";
    }
    return {};
}

/// The TLS server context: TLS 1.2+, buffers released while idle, the given or a generated certificate, one
/// session ticket per handshake, under the keys of --tls-ticket-key-file when given.
std::string configure_tls(ssl::context& ctx, const Options& options, std::string& certificate_pem, const Logger& log) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use);
    // An idle TLS session keeps no read/write buffers (most sessions are idle most of the time).
    SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    // One TLS 1.3 ticket after a full handshake instead of OpenSSL's two: relink's client keeps only the newest
    // session per server, so a second ticket would be encrypted and sent for nothing. Clients reconnect with it,
    // and reconnect storms cost resumed handshakes. A resumed handshake gets one fresh ticket too (with a key
    // file, because the ticket callback asks for the renewal: server/tls.cpp).
    SSL_CTX_set_num_tickets(ctx.native_handle(), 1);
    // TLS 1.3 suites in the server's order, AES-128-GCM with SHA-256 first (as Mozilla recommends and Go does) over
    // the client's (OpenSSL clients put AES-256-GCM with SHA-384 first): the SHA-256 transcript state an idle
    // connection keeps until it closes is ~0.2 KB smaller than SHA-384's (docs/benchmarks.md, "Where the memory
    // goes"). A client that offers only the others still gets one of them.
    SSL_CTX_set_ciphersuites(ctx.native_handle(),
                             "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_options(ctx.native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!options.tls_ticket_key_file.empty()) {
        auto loaded = load_or_create_ticket_keys(options.tls_ticket_key_file);
        if (!loaded.keys) {
            return loaded.error;
        }
        if (!loaded.warning.empty()) {
            log->warn("{}", loaded.warning);
        }
        if (auto error = use_ticket_keys(ctx.native_handle(), *loaded.keys); !error.empty()) {
            return error;
        }
        log->info("TLS session tickets: {} key{} from {}{}", loaded.keys->all().size(),
                  loaded.keys->all().size() == 1 ? "" : "s", options.tls_ticket_key_file,
                  loaded.created ? " (created)" : "");
    }
    beast::error_code ec;
    if (!options.cert_file.empty()) {
        if (auto error = use_certificate_files(ctx, options); !error.empty()) {
            return error;
        }
        std::ifstream in(options.cert_file, std::ios::binary);
        certificate_pem.assign(std::istreambuf_iterator<char>(in), {});
    } else {
        auto generated = generate_self_signed();
        if (!generated.pem) {
            return "cannot generate a self-signed certificate: " + generated.error;
        }
        ctx.use_certificate_chain(net::buffer(generated.pem->certificate_pem), ec);
        if (!ec) {
            ctx.use_private_key(net::buffer(generated.pem->private_key_pem), ssl::context::pem, ec);
        }
        if (ec) {
            return "cannot use the generated certificate: " + ec.message();
        }
        certificate_pem = std::move(generated.pem->certificate_pem);
    }
    if (!options.write_ca_file.empty()) {
        // Written whole to a temporary name, then renamed, so a reader never sees half a PEM.
        const std::string temporary = options.write_ca_file + ".tmp";
        {
            std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
            out << certificate_pem;
            if (!out.flush()) {
                return "cannot write --write-ca '" + options.write_ca_file + "'";
            }
        }
        if (std::rename(temporary.c_str(), options.write_ca_file.c_str()) != 0) {
            std::remove(temporary.c_str());
            return "cannot write --write-ca '" + options.write_ca_file + "'";
        }
    }
    return {};
}

/// The names of the settings in `fresh` that differ from the running ones and that a reload does not apply.
std::vector<std::string> restart_only_changes(const Options& running, const Options& fresh) {
    std::vector<std::string> changed;
    const auto check = [&changed](const char* name, bool same) {
        if (!same) {
            changed.emplace_back(name);
        }
    };
    check("listen", running.listen == fresh.listen);
    check("cert", running.cert_file == fresh.cert_file);
    check("key", running.key_file == fresh.key_file);
    check("write-ca", running.write_ca_file == fresh.write_ca_file);
    check("tls-ticket-key-file", running.tls_ticket_key_file == fresh.tls_ticket_key_file);
    check("insecure-plaintext", running.insecure_plaintext == fresh.insecure_plaintext);
    check("admin-listen", running.admin_listen == fresh.admin_listen);
    check("admin-secret", running.admin_secret == fresh.admin_secret);
    check("time-scale", running.time_scale == fresh.time_scale);
    check("threads", running.threads == fresh.threads);
    check("log-level", running.log_level == fresh.log_level);
    check("log-format", running.log_format == fresh.log_format);
    check("cluster", running.cluster_url == fresh.cluster_url);
    check("node-id", running.node_id == fresh.node_id);
    return changed;
}

/// "a, b" (or "none").
std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) {
        out += out.empty() ? "" : ", ";
        out += name;
    }
    return out.empty() ? "none" : out;
}

}  // namespace

// ------------------------------------------------------------------------------------------- Server

class Server::Impl {
    /// The hub's configuration from the options, with an epoch of its own for this start (a restarted server has
    /// lost its history; positions of the old epoch must not be mistaken for the new one's). Random, below 2^53 so
    /// that it survives any JSON parser.
    static HubConfig hub_config(const Options& options) {
        HubConfig config = make_hub_config(options);
        std::random_device random;
        const std::uint64_t wide = (std::uint64_t{random()} << 32U) | random();
        config.epoch = 1 + wide % ((std::uint64_t{1} << 53U) - 1);
        if (!options.cluster_url.empty() && config.node_id.empty()) {
            config.node_id = "node-" + random_hex(4);
        }
        // 128 random bits: a resume token is a bearer secret for a live session (docs/security.md).
        config.make_resume_token = [] { return random_hex(16); };
        return config;
    }

public:
    Impl(const Options& options, Logger log, ReadOptionsAgain reread)
        : options_(options),
          reread_(std::move(reread)),
          apps_(app_key_table(options)),
          log_(std::move(log)),
          threads_(options.threads != 0 ? options.threads : std::max(1U, std::thread::hardware_concurrency())),
          load_(options.limits),
          session_config_{handshake_timeout(options), &hub_, log_, &tls_handshakes_, &load_},
          ioc_(static_cast<int>(threads_)),
          hub_config_(hub_config(options)),
          hub_(ioc_, hub_config_, make_verifier(app_key_table(options)), log_, options),
          signals_(ioc_),
          reload_signals_(ioc_),
          shutdown_deadline_(ioc_) {}

    /// Everything that can fail at start; an empty string when listening.
    std::string open(bool handle_signals) {
        if (!hub_.cluster_error().empty()) {
            return hub_.cluster_error();
        }
        hub_.start();
        if (hub_.clustered()) {
            // Redis must answer before the node takes work; it keeps trying for a while (a deployment whose Redis
            // starts a moment later comes up), and gives up with one line.
            const auto limit =
                std::max<Duration>(scale(std::chrono::seconds(10), options_.time_scale), std::chrono::seconds(2));
            const auto until = std::chrono::steady_clock::now() + limit;
            while (!hub_.cluster()->up() && std::chrono::steady_clock::now() < until) {
                ioc_.run_for(std::chrono::milliseconds(20));
                if (ioc_.stopped()) {
                    ioc_.restart();
                }
            }
            if (!hub_.cluster()->up()) {
                return "--cluster: cannot reach Redis at " + hub_.cluster()->redis_address() + " within " +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(limit).count()) + " ms";
            }
            log_->info("node {} of the deployment on Redis {}", hub_config_.node_id, hub_.cluster()->redis_address());
        }
        if (!options_.insecure_plaintext) {
            tls_.emplace(ssl::context::tls_server);
            if (auto error = configure_tls(*tls_, options_, certificate_pem_, log_); !error.empty()) {
                return error;
            }
        }
        std::string error;
        const auto endpoint = resolve(ioc_, options_.listen, error);
        if (!endpoint) {
            return "--listen: " + error;
        }
        try {
            acceptor_ = std::make_shared<Acceptor>(ioc_, threads_, *endpoint, tls_ ? &*tls_ : nullptr, session_config_);
        } catch (const boost::system::system_error& e) {
            return "cannot listen on " + options_.listen.host + ":" + std::to_string(options_.listen.port) + ": " +
                   e.code().message();
        }
        if (options_.admin_listen) {
            try {
                AdminServer::Config admin_config{
                    *options_.admin_listen,
                    options_.admin_secret,
                    scale(std::chrono::hours(24), options_.time_scale),
                    std::chrono::seconds(10),
                    [this] {
                        return TlsHandshakeMetrics{tls_handshakes_.full.load(std::memory_order_relaxed),
                                                   tls_handshakes_.resumed.load(std::memory_order_relaxed)};
                    },
                    [this]() -> std::optional<ClusterGauges> {
                        return hub_.cluster() != nullptr ? std::optional(hub_.cluster()->gauges()) : std::nullopt;
                    },
                    [this] {
                        return LoadMetrics{load_.write_queue_bytes.load(std::memory_order_relaxed),
                                           load_.slow_readers_shed.load(std::memory_order_relaxed),
                                           load_.handshakes.load(std::memory_order_relaxed),
                                           load_.accept_pauses.load(std::memory_order_relaxed)};
                    },
                    [this] { return not_ready(); }};
                admin_ = std::make_unique<AdminServer>(ioc_, std::move(admin_config), hub_, log_);
            } catch (const boost::system::system_error& e) {
                return "cannot listen on --admin-listen " + options_.admin_listen->host + ":" +
                       std::to_string(options_.admin_listen->port) + ": " + e.code().message();
            }
        }
        if (handle_signals) {
            // SIGTERM / SIGINT: drain; a second signal stops at once.
            signals_.add(SIGINT);
            signals_.add(SIGTERM);
            wait_signal();
            if (reread_) {
                reload_signals_.add(SIGHUP);
                wait_reload_signal();
            }
        }
        acceptor_->start();
        url_ = std::string(tls_ ? "wss://" : "ws://") + url_host(acceptor_->local_endpoint()) + ":" +
               std::to_string(acceptor_->local_endpoint().port()) + "/";
        if (admin_) {
            admin_->start();
            admin_url_ = "http://" + admin_->url_host() + ":" + std::to_string(admin_->port()) + "/";
        }
        log_->info("listening on {} with {} io threads{}", url_, threads_,
                   options_.time_scale != 1.0 ? fmt::format(", time scale {}", options_.time_scale) : std::string());
        pool_.reserve(threads_);
        for (unsigned i = 0; i < threads_; ++i) {
            pool_.emplace_back([this] { ioc_.run(); });
        }
        return {};
    }

    void wait_signal() {
        signals_.async_wait([this](beast::error_code ec, int signal_number) {
            if (ec) {
                return;
            }
            if (shutting_down_) {
                log_->warn("signal {} again: stopping now", signal_number);
                ioc_.stop();
                return;
            }
            log_->info("signal {}: draining", signal_number);
            begin_drain();
            wait_signal();
        });
    }

    /// SIGHUP: the configuration is read again and what may change while running is applied (reload()); a
    /// configuration that cannot be used is logged and the running one kept.
    void wait_reload_signal() {
        reload_signals_.async_wait([this](beast::error_code ec, int) {
            if (ec) {
                return;
            }
            if (shutting_down_) {
                log_->warn("SIGHUP while draining: not reloaded");
            } else {
                log_->info("SIGHUP: reloading the configuration");
                const ParsedOptions parsed = reread_();
                std::string error = parsed.options ? reload(*parsed.options) : parsed.error;
                if (!error.empty()) {
                    log_->error("reload: {}; the running configuration is kept", error);
                }
            }
            wait_reload_signal();
        });
    }

    /// Server::reload(): everything that can fail first, then the changes, which cannot.
    std::string reload(const Options& fresh) {
        std::optional<TicketKeys> ticket_keys;
        if (tls_ && !options_.tls_ticket_key_file.empty()) {
            auto loaded = load_ticket_keys(options_.tls_ticket_key_file);
            if (!loaded.keys) {
                return loaded.error;
            }
            if (!loaded.warning.empty()) {
                log_->warn("{}", loaded.warning);
            }
            ticket_keys = std::move(loaded.keys);
        }
        for (const auto& name : restart_only_changes(options_, fresh)) {
            log_->warn("reload: '{}' changed: it takes effect at the next start, not on a reload", name);
        }
        if (ticket_keys) {
            // Cannot fail: the context has had its keys since the start; only the set is swapped.
            if (auto error = use_ticket_keys(tls_->native_handle(), *ticket_keys); !error.empty()) {
                return error;
            }
            log_->info("reload: TLS session tickets: {} key{} from {}", ticket_keys->all().size(),
                       ticket_keys->all().size() == 1 ? "" : "s", options_.tls_ticket_key_file);
        }
        replace_apps(app_key_table(fresh));
        return {};
    }

    void replace_apps(const AppTable& apps) {
        std::vector<std::string> added;
        std::vector<std::string> removed;
        std::set<std::string> ids;
        {
            const std::lock_guard lock(apps_mutex_);
            for (const auto& [id, verification] : apps) {
                ids.insert(id);
                if (!apps_.contains(id)) {
                    added.push_back(id);
                }
            }
            for (const auto& [id, verification] : apps_) {
                if (!apps.contains(id)) {
                    removed.push_back(id);
                }
            }
            apps_ = apps;
        }
        hub_.replace_apps(make_verifier(apps), std::move(ids));
        log_->info("reload: {} app{}; added: {}; removed (their sessions closed, kicked): {}", apps.size(),
                   apps.size() == 1 ? "" : "s", joined(added), joined(removed));
    }

    /// Why /readyz should say no, or empty: draining (SIGTERM / SIGINT), or cut off from Redis (a cluster node from
    /// the loss of its link, through its fencing, until the link is back).
    std::string not_ready() const {
        if (draining_.load(std::memory_order_relaxed)) {
            return "draining";
        }
        if (!hub_.store_reachable()) {
            return "cut off from Redis";
        }
        return {};
    }

    /// Every client is told to reconnect elsewhere, accepting stops, and everything stops once every connection
    /// has closed or after 3 s, whichever comes first (the process must be gone within 5 s of a SIGTERM).
    void begin_drain() {
        if (shutting_down_) {
            return;
        }
        shutting_down_ = true;
        draining_.store(true, std::memory_order_relaxed);
        hub_.drain(drain_window(options_), [this] {
            log_->info("drained: every connection closed");
            net::post(ioc_, [this] { stop_everything(); });
        });
        acceptor_->stop();
        shutdown_deadline_.expires_after(std::chrono::seconds(3));
        shutdown_deadline_.async_wait([this](beast::error_code wait_ec) {
            if (!wait_ec) {
                log_->warn("drain: connections still open after 3 s; stopping");
                stop_everything();
            }
        });
    }

    void stop_everything() {
        if (admin_) {
            admin_->stop();
        }
        hub_.stop_timer();
        signals_.cancel();
        reload_signals_.cancel();
        ioc_.stop();
    }

    void join() {
        for (auto& thread : pool_) {
            if (thread.joinable()) {
                thread.join();
            }
        }
    }

    const Options options_;
    ReadOptionsAgain reread_;
    std::mutex apps_mutex_;
    AppTable apps_;  // the apps served now (guarded by apps_mutex_): what a reload's log line compares with
    Logger log_;
    const unsigned threads_;
    TlsHandshakeCounters tls_handshakes_;  // before the sessions and the admin API that use it
    ServerLoad load_;                      // likewise
    SessionConfig session_config_;         // likewise (its hub pointer is only followed while the hub lives)
    std::optional<ssl::context> tls_;
    net::io_context ioc_;
    HubConfig hub_config_;
    HubService hub_;
    net::signal_set signals_;
    net::signal_set reload_signals_;  // SIGHUP, apart from the drain's signals: a reload never counts as a second one
    net::steady_timer shutdown_deadline_;
    std::shared_ptr<Acceptor> acceptor_;
    std::unique_ptr<AdminServer> admin_;
    std::vector<std::thread> pool_;
    std::string certificate_pem_;
    std::string url_;
    std::string admin_url_;
    bool shutting_down_{false};          // touched on io threads only (signal, drain posts)
    std::atomic<bool> draining_{false};  // shutting_down_, for /readyz on any thread
};

std::unique_ptr<Server> Server::start(const Options& options, const std::shared_ptr<spdlog::logger>& log,
                                      std::string& error, bool handle_signals, ReadOptionsAgain reread) {
    auto impl = std::make_unique<Impl>(options, log, std::move(reread));
    error = impl->open(handle_signals);
    if (!error.empty()) {
        return nullptr;
    }
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
    stop();
    impl_->join();
    impl_->log_->info("stopped");
}

const std::string& Server::url() const noexcept {
    return impl_->url_;
}
std::uint16_t Server::port() const noexcept {
    return impl_->acceptor_->local_endpoint().port();
}
const std::string& Server::admin_url() const noexcept {
    return impl_->admin_url_;
}
const std::string& Server::certificate_pem() const noexcept {
    return impl_->certificate_pem_;
}
const std::string& Server::node_id() const noexcept {
    return impl_->hub_config_.node_id;
}
bool Server::clustered() const noexcept {
    return !impl_->options_.cluster_url.empty();
}
void Server::drain() {
    net::post(impl_->ioc_, [impl = impl_.get()] { impl->begin_drain(); });
}
std::string Server::reload(const Options& options) {
    return impl_->reload(options);
}
void Server::replace_apps(const AppTable& apps) {
    impl_->replace_apps(apps);
}
void Server::stop() {
    net::post(impl_->ioc_, [impl = impl_.get()] { impl->stop_everything(); });
    impl_->ioc_.stop();
}
void Server::wait() {
    impl_->join();
}

// ------------------------------------------------------------------------------------------- run_server

std::string check_configuration(const Options& options) {
    if (!options.cert_file.empty()) {
        ssl::context ctx{ssl::context::tls_server};
        if (auto error = use_certificate_files(ctx, options); !error.empty()) {
            return error;
        }
    }
    // A ticket key file that exists must be usable; a missing one is created at start (its directory is checked
    // then, as everything else that depends on the moment: the port, Redis).
    std::error_code ec;
    if (!options.tls_ticket_key_file.empty() && std::filesystem::exists(options.tls_ticket_key_file, ec)) {
        if (auto loaded = load_ticket_keys(options.tls_ticket_key_file); !loaded.keys) {
            return loaded.error;
        }
    }
    return {};
}

int run_server(const Options& options, const Logger& log, ReadOptionsAgain reread) {
    std::string error;
    auto server = Server::start(options, log, error, true, std::move(reread));
    if (!server) {
        return fail(error);
    }
    nlohmann::ordered_json line{{"event", "listening"}, {"url", server->url()}};
    if (server->clustered()) {
        line["node"] = server->node_id();
    }
    if (!server->admin_url().empty()) {
        line["admin"] = server->admin_url();
    }
    std::cout << line.dump() << std::endl;  // exactly one line on stdout, flushed
    server->wait();
    return 0;
}

}  // namespace relink::server
