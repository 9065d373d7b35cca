// The client's WebSocket-over-TLS transport (transport.hpp): a Beast session in the shape of Beast's async-ssl
// client example — do_resolve → do_connect → (do_proxy_connect) → do_tls → do_ws → read loop, each handler bound to
// shared_from_this() — but verifying the server (chain and host name), bounding every step by its own timeout and
// reporting failures as a code plus a detail that names the step.
//
// TLS runs over relink's own TlsSocketStream (net/tls_socket_stream.hpp, client role), not asio::ssl::stream: an
// idle connection then holds no TLS buffers (asio's stream keeps four 17 KiB ones for the connection's life). The
// connect and proxy steps run on a beast::tcp_stream (its timeouts bound them); its socket then moves into the
// WebSocket's stack. Connections with the same trust settings share one SSL_CTX (ClientContexts below), fetched only
// once the tunnel is through (do_tls()): what is per connection (SNI, the session offered, the verify callback, the
// new-session owner) is set on the SSL object.
//
// Every handler runs on the executor given to open() (the driver's strand); so do send() and close(). Two flags,
// both touched on that strand only, make "no handler after close() returns" hold:
//   quiet_ — no user handler may run any more (close() was called, or on_closed was reported);
//   down_  — the socket is closed and the timers cancelled: late completions only unwind.
// The session object lives until its last pending operation completes, which close() bounds with a timer.
#include "client/transport.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <ctime>
#include <deque>
#include <iterator>
#include <map>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "net/tls_socket_stream.hpp"
#include "protocol/codec.hpp"
#include "relink/error.hpp"

namespace relink::client {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kUserAgent = "relink/0.1";
constexpr std::size_t kProxyResponseLimit = 8 * 1024;  // a CONNECT answer is a status line and a few headers

std::string in_ms(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

std::error_code timed_out() {
    return std::make_error_code(std::errc::timed_out);
}

/// The cause of a failed TCP connect to the server (to a proxy, the caller says PROXY whatever it was).
AttemptFailure connect_failure(const beast::error_code& ec) {
    namespace errc = boost::system::errc;
    if (ec == errc::connection_refused) {
        return AttemptFailure::refused;
    }
    if (ec == errc::timed_out) {
        return AttemptFailure::timeout;
    }
    if (ec == errc::network_unreachable || ec == errc::host_unreachable || ec == errc::network_down ||
        ec == errc::address_not_available || ec == errc::address_family_not_supported) {
        return AttemptFailure::network;
    }
    return AttemptFailure::closed;
}

/// True for the errors of a connection that the other end (or the path) ended: nothing was said wrong, it stopped.
bool connection_ended(const beast::error_code& ec) {
    return ec == net::error::eof || ec == boost::system::errc::connection_reset ||
           ec == boost::system::errc::broken_pipe || ec == ssl::error::stream_truncated ||
           ec == http::error::end_of_stream || ec == websocket::error::closed;
}

bool is_ip_literal(const std::string& host) {
    boost::system::error_code ec;
    net::ip::make_address(host, ec);
    return !ec;
}

/// host:port as it appears in a Host header or a CONNECT target (IPv6 literals in brackets).
std::string authority(const std::string& host, std::uint16_t port) {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

/// The SSL ex-data slot that points OpenSSL's callbacks (verify, new session) to the Session of the connection.
/// On the SSL object, not the SSL_CTX, which connections share: the SSL lives inside its Session, so the pointer
/// is valid whenever OpenSSL calls back.
int session_owner_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

/// A field of a cache target, length-prefixed so that no two different settings give the same target.
void append_field(std::string& out, std::string_view field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
    out += ';';
}

/// Everything a resumed session must not outlive: the server's host and port (the SNI and the name verified), the
/// proxy, and the trust settings that verified the server.
std::string session_target(const Url& url, const TransportOptions& options) {
    std::string target;
    append_field(target, url.host);
    append_field(target, std::to_string(url.port));
    append_field(target, options.proxy ? authority(options.proxy->host, options.proxy->port) : std::string());
    const TlsSettings& tls = options.tls;
    append_field(target, tls.verify_peer ? "verify" : "no-verify");
    append_field(target, tls.ca_file);
    append_field(target, tls.ca_directory);
    append_field(target, tls.use_system_store ? "system" : "no-system");
    return target;
}

/// True when OpenSSL would still offer the session and its ticket has not expired.
bool usable(const SSL_SESSION* session) {
    if (SSL_SESSION_is_resumable(session) != 1) {
        return false;
    }
    long lifetime = SSL_SESSION_get_timeout(session);
    // TLS 1.3: the server's ticket lifetime; OpenSSL itself stops offering the ticket after it.
    if (const unsigned long hint = SSL_SESSION_get_ticket_lifetime_hint(session); hint != 0) {
        lifetime = std::min(lifetime, static_cast<long>(hint));
    }
    return std::time(nullptr) < SSL_SESSION_get_time(session) + lifetime;
}

// ------------------------------------------------------------------------------------------- shared contexts

/// A file's or directory's identity (device, inode, size, modification time), "" when it cannot be read: part of a
/// context's key, so that a CA file or directory changed on disk is read again by the next connection, as it was
/// when every connection made its own context.
std::string file_identity(const std::string& path) {
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) {
        return {};
    }
    return std::to_string(st.st_dev) + "/" + std::to_string(st.st_ino) + "/" + std::to_string(st.st_size) + "/" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

std::atomic<std::uint64_t> contexts_made{0};  // tls_contexts_made(), for tests

/// The TLS 1.2 cipher suites the client offers (OpenSSL's syntax): ECDHE with AES-GCM or ChaCha20-Poly1305.
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

/// The client SSL_CTX of each set of trust settings, shared by every connection that uses them (of one Client or
/// of many in one process) while any of them lives, and kept between its connections by each Client's
/// TlsContextHolder (the registry only points to the contexts: without a holder, a context would die with the last
/// connection, and a client retrying after a refused or timed-out attempt would make it again at every attempt). A
/// context holds the trust store (the CA file, or the system's bundle, parsed: tens to hundreds of KB) and costs a
/// few KB even empty; one per connection was paid again on every reconnect and by every client. A connection asks
/// for it only once its TCP connection (and proxy tunnel) is up, so an attempt that fails before does no TLS work.
/// The key names the trust settings and the identity of the CA file and directory on disk: a CA file replaced on
/// disk is loaded again by the next connection, holder or not. Nothing per connection is on the context: SNI, the
/// session offered, the verify mode and callback and the new-session callback's owner are on the SSL object
/// (do_tls()), and the sessions themselves live in each Client's TlsSessionCache (OpenSSL's internal store is off).
/// So sharing changes nothing a connection does. Thread-safe: one mutex, held while a context is made (rarely); a
/// holder has its own.
class ClientContexts {
public:
    struct Made {
        std::shared_ptr<ssl::context> context;  ///< null on failure
        std::error_code error;
        std::string detail;
    };

    /// The context of `tls`: the one `holder` keeps for it, else the one another connection uses, else a new one
    /// (which `holder` then keeps). A context that cannot be made (a CA file that cannot be loaded) is kept nowhere:
    /// the next attempt tries again.
    static Made get(const TlsSettings& tls, TlsContextHolder* holder) {
        static auto* const registry = new ClientContexts;  // never destroyed: a late connection may still ask
        std::string key;
        append_field(key, tls.verify_peer ? "verify" : "no-verify");
        if (tls.verify_peer) {
            append_field(key, tls.ca_file);
            append_field(key, file_identity(tls.ca_file));
            append_field(key, tls.ca_directory);
            append_field(key, file_identity(tls.ca_directory));
            append_field(key, tls.use_system_store ? "system" : "no-system");
        }
        if (holder != nullptr) {
            if (auto context = holder->find(key)) {
                return {std::move(context), {}, {}};
            }
        }
        Made made = registry->find_or_make(key, tls);
        if (holder != nullptr && made.context) {
            holder->keep(std::move(key), made.context);
        }
        return made;
    }

private:
    Made find_or_make(const std::string& key, const TlsSettings& tls) {
        const std::lock_guard lock(mutex_);
        for (auto it = contexts_.begin(); it != contexts_.end();) {  // the contexts no connection uses any more
            it = it->second.expired() ? contexts_.erase(it) : std::next(it);
        }
        if (auto it = contexts_.find(key); it != contexts_.end()) {
            if (auto context = it->second.lock()) {
                return {std::move(context), {}, {}};
            }
        }
        Made made = make(tls);
        if (made.context) {
            contexts_[key] = made.context;
        }
        return made;
    }

    static Made make(const TlsSettings& tls) {
        contexts_made.fetch_add(1, std::memory_order_relaxed);
        auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
        context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                             ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
        // TLS 1.3 tickets arrive after the handshake, while the upgrade response is read: OpenSSL hands each to the
        // new-session callback, which keeps it in the connection's TlsSessionCache, if it has one (OpenSSL's own
        // per-context store stays off: a session belongs to one Client, never to the process).
        SSL_CTX* native = context->native_handle();
        SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(native, &on_new_session);
        // TLS 1.2 suites offered: forward-secret key exchange and AEAD only (6, where OpenSSL's default offers 27 with
        // CBC and static RSA). TLS 1.3's three are unchanged. A server keeps the list a client offered for the whole
        // connection (a growing stack of pointers: ~13 bytes per suite), so a short list is also less memory per
        // session on the server (docs/security.md).
        if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
            return {nullptr, std::make_error_code(std::errc::invalid_argument),
                    "tls: OpenSSL refused the cipher list '" + std::string(kTls12Ciphers) + "'"};
        }
        if (!tls.verify_peer) {
            return {std::move(context), {}, {}};
        }
        boost::system::error_code ec;
        if (!tls.ca_file.empty()) {
            context->load_verify_file(tls.ca_file, ec);
            if (ec) {
                return {nullptr, ec, "tls: cannot load the CA file '" + tls.ca_file + "': " + ec.message()};
            }
        }
        if (!tls.ca_directory.empty()) {
            context->add_verify_path(tls.ca_directory, ec);
            if (ec) {
                return {nullptr, ec, "tls: cannot use the CA directory '" + tls.ca_directory + "': " + ec.message()};
            }
        }
        if (tls.use_system_store) {
            context->set_default_verify_paths(ec);
            if (ec) {
                return {nullptr, ec, "tls: cannot use the system's CA store: " + ec.message()};
            }
        }
        return {std::move(context), {}, {}};
    }

    /// OpenSSL's new-session callback, for every shared context: hands the session to the connection's Session
    /// (SSL ex-data). Defined after Session.
    static int on_new_session(SSL* ssl, SSL_SESSION* session);

    std::mutex mutex_;
    std::map<std::string, std::weak_ptr<ssl::context>> contexts_;
};

// ------------------------------------------------------------------------------------------------ failed open

/// What open() returns when the options cannot work (bad URL, ws:// refused): reports on_closed once, posted, unless
/// close() comes first.
class FailedTransport final : public Transport, public std::enable_shared_from_this<FailedTransport> {
public:
    FailedTransport(net::any_io_executor executor, Handlers handlers, std::error_code error, AttemptFailure cause,
                    std::string detail)
        : executor_(std::move(executor)),
          handlers_(std::move(handlers)),
          error_(error),
          cause_(cause),
          detail_(std::move(detail)) {}

    void start() {
        net::post(executor_, [self = shared_from_this()] {
            if (!self->quiet_) {
                self->quiet_ = true;
                if (self->handlers_.on_closed) {
                    self->handlers_.on_closed(self->error_, self->cause_, self->detail_, StepTimings{});
                }
            }
        });
    }

    void send(std::string /*frame*/) override {}
    void close() override { quiet_ = true; }

private:
    net::any_io_executor executor_;
    Handlers handlers_;
    std::error_code error_;
    AttemptFailure cause_;
    std::string detail_;
    bool quiet_{false};
};

// ---------------------------------------------------------------------------------------------------- session

enum class Step { idle, resolving, connecting, tunnelling, securing, upgrading, open };

/// One connection. kTls: wss (websocket over TlsSocketStream over the socket); otherwise ws (websocket over the
/// socket). Until the tunnel is through (TCP connect, proxy), the socket is in tcp_, whose timeouts bound those
/// steps; after_tunnel() moves it into ws_.
template <bool kTls>
class Session final : public Transport, public std::enable_shared_from_this<Session<kTls>> {
public:
    using Stream = std::conditional_t<kTls, relink::net::TlsSocketStream, tcp::socket>;

    Session(net::any_io_executor executor, TransportOptions options, Url url, Handlers handlers)
        : executor_(std::move(executor)),
          options_(std::move(options)),
          url_(std::move(url)),
          handlers_(std::move(handlers)),
          tcp_(executor_),
          resolver_(executor_),
          dns_timer_(executor_),
          tls_timer_(executor_),
          close_timer_(executor_),
          proxy_buffer_(kProxyResponseLimit) {}

    ~Session() override { SSL_SESSION_free(offered_); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// Called once by open(): the first step runs from the executor, never inline.
    void start() { net::post(executor_, beast::bind_front_handler(&Session::do_resolve, this->shared_from_this())); }

    void send(std::string frame) override {
        if (quiet_ || down_ || step_ != Step::open) {
            return;
        }
        queue_.push_back(std::move(frame));
        if (!writing_) {
            do_write();
        }
    }

    void close() override {
        if (quiet_) {
            return;
        }
        quiet_ = true;
        shutdown(websocket::close_code::normal);
    }

private:
    /// Closes the socket wherever it is (tcp_ until the tunnel is through, then the bottom of ws_).
    void close_socket() {
        if (ws_) {
            beast::close_socket(beast::get_lowest_layer(*ws_));
        } else {
            tcp_.close();
        }
    }

    bool stopped() const { return quiet_ || down_; }

    void begin(Step step) {
        step_ = step;
        step_started_ = Clock::now();
    }
    Duration elapsed() const { return Clock::now() - step_started_; }

    /// The server's or the proxy's address, for details.
    std::string target_name() const {
        return options_.proxy ? "proxy " + authority(options_.proxy->host, options_.proxy->port)
                              : authority(url_.host, url_.port);
    }

    // -------------------------------------------------------------------------------------------- dns

    void do_resolve() {
        if (stopped()) {
            return;
        }
        begin(Step::resolving);
        const std::string& host = options_.proxy ? options_.proxy->host : url_.host;
        const std::uint16_t port = options_.proxy ? options_.proxy->port : url_.port;
        if (is_ip_literal(host)) {
            // No lookup: Asio runs every getaddrinfo of an io_context on one background thread, so a lookup that
            // hangs would also delay this one.
            endpoints_.assign(1, tcp::endpoint(net::ip::make_address(host), port));
            timings_.dns = elapsed();
            return do_connect();
        }
        // The resolver is not a stream: a timer bounds it. Cancelling does not interrupt a getaddrinfo that is
        // already running, so the timeout reports at once and the lookup's late completion is ignored.
        dns_timer_.expires_after(options_.dns_timeout);
        dns_timer_.async_wait(beast::bind_front_handler(&Session::on_dns_timeout, this->shared_from_this()));
        resolver_.async_resolve(host, std::to_string(port),
                                beast::bind_front_handler(&Session::on_resolve, this->shared_from_this()));
    }

    void on_dns_timeout(beast::error_code ec) {
        if (ec || stopped() || step_ != Step::resolving) {
            return;
        }
        resolver_.cancel();
        const std::string& host = options_.proxy ? options_.proxy->host : url_.host;
        fail(AttemptFailure::dns, timed_out(),
             "dns: no answer for '" + host + "' within " + in_ms(options_.dns_timeout));
    }

    void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
        if (stopped() || step_ != Step::resolving) {
            return;  // closed, or the timeout was reported already
        }
        dns_timer_.cancel();
        const std::string& host = options_.proxy ? options_.proxy->host : url_.host;
        if (ec) {
            return fail(AttemptFailure::dns, ec, "dns: cannot resolve '" + host + "': " + ec.message());
        }
        endpoints_.clear();
        for (const auto& entry : results) {
            endpoints_.push_back(entry.endpoint());
        }
        if (endpoints_.empty()) {
            return fail(AttemptFailure::dns, make_error_code(net::error::host_not_found),
                        "dns: no address for '" + host + "'");
        }
        timings_.dns = elapsed();
        do_connect();
    }

    // -------------------------------------------------------------------------------------------- tcp

    void do_connect() {
        begin(Step::connecting);
        tcp_.expires_after(options_.connect_timeout);
        tcp_.async_connect(endpoints_, beast::bind_front_handler(&Session::on_connect, this->shared_from_this()));
    }

    void on_connect(beast::error_code ec, const tcp::endpoint& /*endpoint*/) {
        if (stopped()) {
            return;
        }
        // Reaching the proxy is part of the proxy's step for the app: PROXY, whatever went wrong.
        if (ec == beast::error::timeout) {
            return fail(options_.proxy ? AttemptFailure::proxy : AttemptFailure::timeout, timed_out(),
                        "tcp: no connection to " + target_name() + " within " + in_ms(options_.connect_timeout));
        }
        if (ec) {
            return fail(options_.proxy ? AttemptFailure::proxy : connect_failure(ec), ec,
                        "tcp: cannot connect to " + target_name() + ": " + ec.message());
        }
        timings_.tcp = elapsed();
        boost::system::error_code ignored;
        tcp_.socket().set_option(tcp::no_delay(true), ignored);  // small frames, sent at once
        // Asio opens sockets without SOCK_CLOEXEC: a child process the app starts would otherwise hold this
        // connection open (docs/reliability.md, finding 5).
        if (const int flags = ::fcntl(tcp_.socket().native_handle(), F_GETFD); flags >= 0) {
            ::fcntl(tcp_.socket().native_handle(), F_SETFD, flags | FD_CLOEXEC);
        }
        if (options_.proxy) {
            return do_proxy_connect();
        }
        after_tunnel();
    }

    /// The socket leaves tcp_ for the WebSocket's stack: from here the TLS timer and then the WebSocket's own
    /// timeouts bound the steps.
    void after_tunnel() {
        tcp_.expires_never();
        if constexpr (kTls) {
            do_tls();
        } else {
            ws_.emplace(tcp_.release_socket());
            do_ws();
        }
    }

    // ------------------------------------------------------------------------------------------ proxy

    // HTTP CONNECT host:port; any 2xx opens the tunnel. Bounded by connect_timeout: the tunnel is part of reaching
    // the server.
    void do_proxy_connect() {
        begin(Step::tunnelling);
        const std::string target = authority(url_.host, url_.port);
        proxy_request_ = {};
        proxy_request_.method(http::verb::connect);
        proxy_request_.target(target);
        proxy_request_.version(11);
        proxy_request_.set(http::field::host, target);
        proxy_request_.set(http::field::user_agent, kUserAgent);
        proxy_request_.set(http::field::proxy_connection, "keep-alive");
        tcp_.expires_after(options_.connect_timeout);
        http::async_write(tcp_, proxy_request_,
                          beast::bind_front_handler(&Session::on_proxy_write, this->shared_from_this()));
    }

    void on_proxy_write(beast::error_code ec, std::size_t /*bytes*/) {
        if (stopped()) {
            return;
        }
        if (ec) {
            return proxy_failed(ec);
        }
        proxy_parser_.emplace();
        proxy_parser_->header_limit(static_cast<std::uint32_t>(kProxyResponseLimit));
        proxy_parser_->skip(true);  // a 2xx answer to CONNECT has no body, whatever its headers say
        http::async_read(tcp_, proxy_buffer_, *proxy_parser_,
                         beast::bind_front_handler(&Session::on_proxy_connect, this->shared_from_this()));
    }

    void on_proxy_connect(beast::error_code ec, std::size_t /*bytes*/) {
        if (stopped()) {
            return;
        }
        if (ec) {
            return proxy_failed(ec);
        }
        const auto& response = proxy_parser_->get();
        const unsigned status = response.result_int();
        if (status < 200 || status > 299) {
            return fail(AttemptFailure::proxy, std::make_error_code(std::errc::connection_refused),
                        "proxy: CONNECT " + authority(url_.host, url_.port) +
                            " refused by the proxy: " + std::to_string(status) + " " + std::string(response.reason()));
        }
        if (proxy_buffer_.size() != 0) {
            // The server speaks only after our first bytes (ClientHello or the upgrade request): anything already
            // here came from the proxy, and it cannot be handed to the layers above (OpenSSL reads the socket
            // itself, so it would be lost, not misread).
            return fail(AttemptFailure::proxy, make_error_code(errc::protocol_error),
                        "proxy: unexpected bytes after the CONNECT answer");
        }
        proxy_parser_.reset();
        proxy_buffer_.shrink_to_fit();  // nothing of the tunnel's setup stays allocated for the connection's life
        timings_.proxy = elapsed();
        after_tunnel();
    }

    void proxy_failed(beast::error_code ec) {
        if (ec == beast::error::timeout) {
            return fail(
                AttemptFailure::proxy, timed_out(),
                "proxy: no answer to CONNECT from " + target_name() + " within " + in_ms(options_.connect_timeout));
        }
        fail(AttemptFailure::proxy, ec, "proxy: CONNECT through " + target_name() + " failed: " + ec.message());
    }

    // -------------------------------------------------------------------------------------------- tls

    void do_tls() {
        begin(Step::securing);
        // The context of these trust settings (ClientContexts): made here, once the tunnel is through, so that an
        // attempt that never got this far did no TLS work; kept for the next attempt by the holder, if any. The
        // verify mode and callback are set on the connection's SSL object below, as is everything else that is this
        // connection's own.
        auto made = ClientContexts::get(options_.tls, options_.tls_context.get());
        if (!made.context) {
            return fail(AttemptFailure::tls, made.error, std::move(made.detail));
        }
        tls_context_ = std::move(made.context);
        if (options_.tls_sessions) {
            session_target_ = session_target(url_, options_);
        }
        ws_.emplace(tcp_.release_socket(), tls_context_->native_handle(), beast::role_type::client);
        SSL* ssl = ws_->next_layer().native_handle();
        if (ssl == nullptr) {
            return fail(AttemptFailure::tls, std::make_error_code(std::errc::not_enough_memory),
                        "tls: cannot make the TLS connection");
        }
        // The verify and new-session callbacks find this session here (the context is shared).
        SSL_set_ex_data(ssl, session_owner_index(), this);
        // SNI for names only: RFC 6066 does not allow IP literals in server_name.
        if (!is_ip_literal(url_.host) && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                                  const_cast<char*>(url_.host.c_str())) != 1) {
            return fail(AttemptFailure::tls, make_error_code(errc::invalid_argument),
                        "tls: cannot set SNI to '" + url_.host + "'");
        }
        // A session from an earlier connection to this same target, if one is kept: the server resumes it, or
        // declines and the handshake is a full one, verified below as always. The connection gets a copy: it marks
        // its session not resumable if it ends without a close_notify (see on_new_session()); the cache's stays.
        if (options_.tls_sessions) {
            offered_ = options_.tls_sessions->find(session_target_);
            SSL_SESSION* copy = offered_ != nullptr ? SSL_SESSION_dup(offered_) : nullptr;
            if (copy == nullptr || SSL_set_session(ssl, copy) != 1) {
                SSL_SESSION_free(offered_);
                offered_ = nullptr;
            }
            SSL_SESSION_free(copy);  // SSL_set_session() took its own reference
        }
        // The first record header the server sends: "HTTP/" there means a plain HTTP server answered the ClientHello
        // (OpenSSL only says "wrong version number"). Removed once the handshake is done (no cost per record).
        SSL_set_msg_callback(ssl, &Session::on_tls_message);
        // On the connection, not the (shared) context.
        if (options_.tls.verify_peer) {
            host_check_.emplace(url_.host);
            SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &Session::on_verify);
        } else {
            SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
        }
        // TlsSocketStream has no deadline of its own: the timer reports the timeout and closes the socket, which
        // ends the handshake (its completion then only unwinds).
        tls_timer_.expires_after(options_.tls_timeout);
        tls_timer_.async_wait(beast::bind_front_handler(&Session::on_tls_timeout, this->shared_from_this()));
        ws_->next_layer().async_handshake(beast::bind_front_handler(&Session::on_tls, this->shared_from_this()));
    }

    void on_tls_timeout(beast::error_code ec) {
        if (ec || stopped() || step_ != Step::securing) {
            return;
        }
        fail(AttemptFailure::timeout, timed_out(),
             "tls: no handshake with " + target_name() + " within " + in_ms(options_.tls_timeout));
    }

    /// OpenSSL's message callback during the handshake: keeps the first record header received.
    static void on_tls_message(int write_p, int /*version*/, int content_type, const void* buf, std::size_t len,
                               SSL* ssl, void* /*arg*/) {
        if (write_p != 0 || content_type != SSL3_RT_HEADER) {
            return;
        }
        auto* self = static_cast<Session*>(SSL_get_ex_data(ssl, session_owner_index()));
        if (self != nullptr && self->first_record_.empty()) {
            self->first_record_.assign(static_cast<const char*>(buf), len);
        }
    }

    /// OpenSSL's verify callback, for each certificate of the chain (depth > 0 first): finds the session in the
    /// connection's SSL ex-data, which lives in the session, so the pointer is valid whenever it runs.
    static int on_verify(int preverified, X509_STORE_CTX* store) {
        auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
        auto* self = ssl != nullptr ? static_cast<Session*>(SSL_get_ex_data(ssl, session_owner_index())) : nullptr;
        if (self == nullptr || !self->host_check_) {
            return 0;
        }
        return self->verify(*self->host_check_, preverified != 0, store) ? 1 : 0;
    }

    // Remembers why verification failed so that the detail says more than "certificate verify failed".
    bool verify(const ssl::host_name_verification& check, bool preverified, X509_STORE_CTX* store) {
        const int depth = X509_STORE_CTX_get_error_depth(store);
        if (!preverified) {
            if (verify_failure_.empty()) {
                verify_failure_ = std::string(X509_verify_cert_error_string(X509_STORE_CTX_get_error(store))) +
                                  " (certificate at depth " + std::to_string(depth) + ")";
            }
            return false;
        }
        ssl::verify_context ctx(store);
        const bool ok = check(preverified, ctx);
        if (!ok && verify_failure_.empty()) {
            verify_failure_ = "the server's certificate is not valid for '" + url_.host + "'";
        }
        return ok;
    }

    void on_tls(beast::error_code ec) {
        if (stopped()) {
            return;  // closed, or the timeout was reported already
        }
        tls_timer_.cancel();
        if (ec) {
            if (!verify_failure_.empty()) {
                forget_offered();  // the server it came from is not the one that answered
                return fail(AttemptFailure::certificate, ec, "tls: certificate verify failed: " + verify_failure_);
            }
            if (first_record_.rfind("HTTP/", 0) == 0) {
                return fail(AttemptFailure::http, ec,
                            "tls: " + target_name() +
                                " answered in plain HTTP, not TLS (a plain HTTP or ws:// server: check the URL's "
                                "scheme and port)");
            }
            if (connection_ended(ec)) {
                return fail(AttemptFailure::closed, ec,
                            "tls: " + target_name() + " closed the connection during the handshake");
            }
            return fail(AttemptFailure::tls, ec, "tls: handshake with " + target_name() + " failed: " + ec.message());
        }
        timings_.tls = elapsed();
        SSL_set_msg_callback(ws_->next_layer().native_handle(), nullptr);
        timings_.tls_resumed = SSL_session_reused(ws_->next_layer().native_handle()) == 1;
        if (!timings_.tls_resumed) {
            forget_offered();  // declined (another ticket key, or expired there): the new ticket will replace it
        }
        do_ws();
    }

    void forget_offered() {
        if (offered_ != nullptr) {
            options_.tls_sessions->forget(offered_);
        }
    }

    /// Drops the cache's session, this connection's or the one it resumed.
    void forget_session() {
        if (options_.tls_sessions) {
            options_.tls_sessions->clear();
        }
    }

public:
    /// OpenSSL's new-session callback (through ClientContexts): a session (a TLS 1.3 ticket) from the server.
    /// Returns 0: the cache keeps a copy, OpenSSL keeps its reference to the original.
    static int on_new_session(SSL* ssl, SSL_SESSION* session) {
        auto* self = static_cast<Session*>(SSL_get_ex_data(ssl, session_owner_index()));
        if (self == nullptr || !self->options_.tls_sessions) {
            return 0;
        }
        // Never keep what an unverified server gave (the handshake would have failed; this is belt and braces).
        if (self->options_.tls.verify_peer && SSL_get_verify_result(ssl) != X509_V_OK) {
            return 0;
        }
        // A copy, not the connection's own session: SSL_free() of a connection that ended without a close_notify
        // (a reset, a killed server: exactly when a reconnect follows) marks its session not resumable, an old
        // TLS 1.0 rule that TLS 1.1 dropped (RFC 4346, section 7.2.1) and TLS 1.3 does not have.
        if (SSL_SESSION* copy = SSL_SESSION_dup(session)) {
            self->options_.tls_sessions->keep(self->session_target_, copy);
        }
        return 0;
    }

private:
    // -------------------------------------------------------------------------------------- websocket

    void do_ws() {
        begin(Step::upgrading);
        // From here the WebSocket's own timer bounds the upgrade (and the close); no idle timeout and no pings of
        // its own: the core owns liveness.
        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = options_.websocket_timeout;
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        ws_->set_option(timeouts);
        ws_->set_option(websocket::stream_base::decorator(
            [](websocket::request_type& request) { request.set(http::field::user_agent, kUserAgent); }));
        ws_->read_message_max(proto::kMaxFrameBytes);
        const bool default_port = url_.port == (url_.tls ? 443 : 80);
        std::string host = authority(url_.host, url_.port);
        if (default_port) {
            host.erase(host.rfind(':'));
        }
        ws_->async_handshake(upgrade_response_, host, url_.target,
                             beast::bind_front_handler(&Session::on_ws, this->shared_from_this()));
    }

    void on_ws(beast::error_code ec) {
        if (stopped()) {
            return;
        }
        if (ec == beast::error::timeout) {
            return fail(AttemptFailure::timeout, timed_out(),
                        "websocket: no upgrade from " + target_name() + " within " + in_ms(options_.websocket_timeout));
        }
        if (ec == websocket::error::upgrade_declined) {
            return fail(AttemptFailure::http, ec,
                        "websocket: upgrade to " + url_.target + " declined: HTTP " +
                            std::to_string(upgrade_response_.result_int()) + " " +
                            std::string(upgrade_response_.reason()));
        }
        if (ec) {
            // Anything but a connection that just ended is an answer that is not a WebSocket upgrade.
            return fail(connection_ended(ec) ? AttemptFailure::closed : AttemptFailure::http, ec,
                        "websocket: upgrade failed: " + ec.message());
        }
        timings_.websocket = elapsed();
        upgrade_response_ = {};
        step_ = Step::open;
        ws_->text(true);
        do_read();  // first: the read loop runs whatever on_open does (even close())
        if (handlers_.on_open) {
            handlers_.on_open(timings_);
        }
    }

    // ------------------------------------------------------------------------------------------- read

    void do_read() {
        ws_->async_read(read_buffer_, beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t bytes) {
        if (down_) {
            return;
        }
        if (ec) {
            if (quiet_) {
                return;  // closing: the close operation or its timer finishes the job
            }
            if (ec == websocket::error::closed) {
                const auto& reason = ws_->reason();
                std::string detail = "read: closed by the server (code " + std::to_string(reason.code);
                if (!reason.reason.empty()) {
                    detail += ": " + std::string(reason.reason.data(), reason.reason.size());
                }
                return fail(AttemptFailure::closed, ec, detail + ")");
            }
            if (ec.category() == net::error::get_ssl_category()) {
                forget_session();  // a fatal TLS error (bad record, alert): do not resume what it came from
            }
            return fail(AttemptFailure::closed, ec, "read: " + ec.message());
        }
        if (!ws_->got_text()) {
            read_buffer_.consume(bytes);
            if (quiet_) {
                return do_read();
            }
            drop_queued();  // nothing more goes out but the close frame
            return fail(AttemptFailure::protocol, make_error_code(errc::protocol_error),
                        "read: binary frame from the server", websocket::close_code::unknown_data);
        }
        std::string frame = beast::buffers_to_string(read_buffer_.data());
        read_buffer_.consume(bytes);
        do_read();  // keep reading while closing too: the server's close frame ends the loop
        if (!quiet_ && handlers_.on_message) {
            handlers_.on_message(std::move(frame));
        }
    }

    // ------------------------------------------------------------------------------------------ write

    void do_write() {
        writing_ = true;
        ws_->async_write(net::buffer(queue_.front()),
                         beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t /*bytes*/) {
        writing_ = false;
        if (down_) {
            return;
        }
        if (ec) {
            if (quiet_) {
                return abort();
            }
            return fail(AttemptFailure::closed, ec, "write: " + ec.message());
        }
        queue_.pop_front();
        if (!queue_.empty()) {
            return do_write();
        }
        if (closing_) {
            do_close();
        }
    }

    /// Forgets the queued frames, except the one being written: its bytes stay valid until the write completes.
    void drop_queued() { queue_.erase(writing_ ? std::next(queue_.begin()) : queue_.begin(), queue_.end()); }

    // ------------------------------------------------------------------------------------------ close

    /// Ends the connection: a polite WebSocket close (after the queued frames) once open, bounded by a timer;
    /// before that, everything is cancelled and the socket closed at once.
    void shutdown(websocket::close_code code) {
        if (down_ || closing_) {
            return;
        }
        if (step_ != Step::open) {
            return abort();
        }
        closing_ = true;
        close_code_ = code;
        close_timer_.expires_after(options_.websocket_timeout);
        close_timer_.async_wait(beast::bind_front_handler(&Session::on_close_timeout, this->shared_from_this()));
        if (!writing_) {
            do_close();
        }
    }

    void do_close() {
        ws_->async_close(close_code_, beast::bind_front_handler(&Session::on_close, this->shared_from_this()));
    }

    void on_close(beast::error_code /*ec*/) { abort(); }

    void on_close_timeout(beast::error_code ec) {
        if (!ec) {
            abort();
        }
    }

    /// Closes the socket and cancels everything: pending operations complete at once and only unwind.
    void abort() {
        if (down_) {
            return;
        }
        down_ = true;
        drop_queued();
        dns_timer_.cancel();
        tls_timer_.cancel();
        close_timer_.cancel();
        resolver_.cancel();
        close_socket();
    }

    /// Reports the end of the connection (once, and never after close()), then tears it down: politely with a close
    /// frame carrying `code` when the connection is open and intact, at once otherwise.
    void fail(AttemptFailure cause, std::error_code ec, std::string detail,
              std::optional<websocket::close_code> code = std::nullopt) {
        if (stopped()) {
            return;
        }
        quiet_ = true;
        if (code && step_ == Step::open) {
            shutdown(*code);
        } else {
            abort();
        }
        if (handlers_.on_closed) {
            handlers_.on_closed(ec, cause, std::move(detail), timings_);
        }
    }

    net::any_io_executor executor_;
    TransportOptions options_;
    Url url_;
    Handlers handlers_;
    std::shared_ptr<ssl::context> tls_context_;    // shared (ClientContexts); before ws_, whose SSL refers to it
    beast::tcp_stream tcp_;                        // the socket until the tunnel is through (TCP, proxy)
    std::optional<websocket::stream<Stream>> ws_;  // the socket from then on (after_tunnel(), do_tls())
    tcp::resolver resolver_;
    net::steady_timer dns_timer_;
    net::steady_timer tls_timer_;
    net::steady_timer close_timer_;
    std::vector<tcp::endpoint> endpoints_;

    http::request<http::empty_body> proxy_request_;
    std::optional<http::response_parser<http::empty_body>> proxy_parser_;
    beast::flat_buffer proxy_buffer_;
    websocket::response_type upgrade_response_;
    std::optional<ssl::host_name_verification> host_check_;  // with verify_peer, from do_tls()
    std::string verify_failure_;
    std::string first_record_;       // the first 5 bytes the server sent during the TLS handshake (a record's header)
    std::string session_target_;     // the cache's key for this connection (with TlsSessionCache only)
    SSL_SESSION* offered_{nullptr};  // the session offered in do_tls(), our reference

    beast::flat_buffer read_buffer_;
    std::deque<std::string> queue_;  // front() is being written while writing_
    bool writing_{false};

    Step step_{Step::idle};
    Clock::time_point step_started_{};
    StepTimings timings_;
    bool quiet_{false};    // no user handler runs any more
    bool closing_{false};  // the WebSocket close has started (after the queue drains)
    bool down_{false};     // socket closed, timers cancelled
    websocket::close_code close_code_{websocket::close_code::normal};
};

/// The handle open() returns: forwards to the session and closes it when the last copy goes away.
class Handle final : public Transport {
public:
    explicit Handle(std::shared_ptr<Transport> session) : session_(std::move(session)) {}
    ~Handle() override { session_->close(); }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;

    void send(std::string frame) override { session_->send(std::move(frame)); }
    void close() override { session_->close(); }

private:
    std::shared_ptr<Transport> session_;
};

int ClientContexts::on_new_session(SSL* ssl, SSL_SESSION* session) {
    return Session<true>::on_new_session(ssl, session);
}

bool is_host_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

}  // namespace

// ------------------------------------------------------------------------------------------ session cache

TlsSessionCache::~TlsSessionCache() {
    SSL_SESSION_free(session_);
}

SSL_SESSION* TlsSessionCache::find(const std::string& target) {
    const std::lock_guard lock(mutex_);
    if (session_ == nullptr) {
        return nullptr;
    }
    if (target != target_ || !usable(session_)) {
        drop_locked();
        return nullptr;
    }
    SSL_SESSION_up_ref(session_);
    return session_;
}

void TlsSessionCache::keep(const std::string& target, SSL_SESSION* session) {
    const std::lock_guard lock(mutex_);
    drop_locked();
    target_ = target;
    session_ = session;
}

void TlsSessionCache::forget(const SSL_SESSION* session) {
    const std::lock_guard lock(mutex_);
    if (session_ == session) {
        drop_locked();
    }
}

void TlsSessionCache::clear() {
    const std::lock_guard lock(mutex_);
    drop_locked();
}

bool TlsSessionCache::holds_session() const {
    const std::lock_guard lock(mutex_);
    return session_ != nullptr;
}

void TlsSessionCache::drop_locked() {
    SSL_SESSION_free(session_);
    session_ = nullptr;
    target_.clear();
}

// ---------------------------------------------------------------------------------------------- context holder

std::shared_ptr<ssl::context> TlsContextHolder::find(const std::string& key) const {
    const std::lock_guard lock(mutex_);
    return key == key_ ? context_ : nullptr;
}

void TlsContextHolder::keep(std::string key, std::shared_ptr<ssl::context> context) {
    std::shared_ptr<ssl::context> dropped;  // freed outside the lock
    const std::lock_guard lock(mutex_);
    dropped = std::exchange(context_, std::move(context));
    key_ = std::move(key);
}

bool TlsContextHolder::holds_context() const {
    const std::lock_guard lock(mutex_);
    return context_ != nullptr;
}

std::uint64_t tls_contexts_made() noexcept {
    return contexts_made.load(std::memory_order_relaxed);
}

// ------------------------------------------------------------------------------------------------------- url

ParsedUrl parse_url(std::string_view text) {
    const auto refuse = [&](const std::string& why) { return ParsedUrl{std::nullopt, why}; };
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) {
        return refuse("not a URL (expected wss://host[:port][/path])");
    }
    std::string scheme(text.substr(0, scheme_end));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    Url url;
    if (scheme == "wss") {
        url.tls = true;
        url.port = 443;
    } else if (scheme == "ws") {
        url.tls = false;
        url.port = 80;
    } else {
        return refuse("unsupported scheme '" + scheme + "' (expected wss:// or ws://)");
    }
    std::string_view rest = text.substr(scheme_end + 3);
    for (const char c : rest) {
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            return refuse("the URL contains a space, a control or a non-ASCII character");
        }
    }
    if (rest.find('#') != std::string_view::npos) {
        return refuse("the URL has a fragment ('#')");
    }
    const auto authority_end = rest.find_first_of("/?");
    std::string_view host_port = rest.substr(0, authority_end);
    const std::string_view target = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
    if (host_port.find('@') != std::string_view::npos) {
        return refuse("user info ('user@') is not supported in the URL");
    }
    std::string_view port_text;
    if (!host_port.empty() && host_port.front() == '[') {
        const auto bracket_end = host_port.find(']');
        if (bracket_end == std::string_view::npos) {
            return refuse("unterminated IPv6 literal ('[' without ']')");
        }
        url.host = std::string(host_port.substr(1, bracket_end - 1));
        boost::system::error_code ec;
        net::ip::make_address_v6(url.host, ec);
        if (ec) {
            return refuse("'" + url.host + "' is not an IPv6 address");
        }
        const std::string_view after = host_port.substr(bracket_end + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return refuse("unexpected text after the IPv6 literal");
            }
            port_text = after.substr(1);
            if (port_text.empty()) {
                return refuse("empty port");
            }
        }
    } else {
        const auto colon = host_port.find(':');
        url.host = std::string(host_port.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = host_port.substr(colon + 1);
            if (port_text.empty()) {
                return refuse("empty port");
            }
            if (port_text.find(':') != std::string_view::npos) {
                return refuse("an IPv6 literal must be written in brackets ([::1])");
            }
        }
        if (url.host.empty()) {
            return refuse("the URL has no host");
        }
        if (!std::all_of(url.host.begin(), url.host.end(), is_host_char)) {
            return refuse("'" + url.host + "' is not a valid host name");
        }
    }
    if (!port_text.empty()) {
        if (port_text.size() > 5 ||
            !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return refuse("port '" + std::string(port_text) + "' is not a number in 1..65535");
        }
        const unsigned long port = std::stoul(std::string(port_text));
        if (port < 1 || port > 65535) {
            return refuse("port '" + std::string(port_text) + "' is not a number in 1..65535");
        }
        url.port = static_cast<std::uint16_t>(port);
    }
    if (target.empty()) {
        url.target = "/";
    } else if (target.front() == '?') {
        url.target = "/" + std::string(target);
    } else {
        url.target = std::string(target);
    }
    return ParsedUrl{std::move(url), {}};
}

// ------------------------------------------------------------------------------------------------------ open

std::shared_ptr<Transport> Transport::open(boost::asio::any_io_executor executor, TransportOptions options,
                                           Handlers handlers) {
    auto refuse = [&](errc code, std::string detail) -> std::shared_ptr<Transport> {
        auto failed = std::make_shared<FailedTransport>(executor, std::move(handlers), make_error_code(code),
                                                        AttemptFailure::config, std::move(detail));
        failed->start();
        return std::make_shared<Handle>(std::move(failed));
    };
    ParsedUrl parsed = parse_url(options.url);
    if (!parsed.url) {
        return refuse(errc::invalid_argument, "url: " + parsed.error);
    }
    if (!parsed.url->tls && !options.allow_plaintext) {
        return refuse(errc::invalid_argument, "url: ws:// (no TLS) is refused unless allow_plaintext is set");
    }
    if (options.proxy && (options.proxy->host.empty() || options.proxy->port == 0)) {
        return refuse(errc::invalid_argument, "url: the proxy needs a host and a port");
    }
    if (parsed.url->tls) {
        auto session =
            std::make_shared<Session<true>>(executor, std::move(options), std::move(*parsed.url), std::move(handlers));
        session->start();
        return std::make_shared<Handle>(std::move(session));
    }
    auto session =
        std::make_shared<Session<false>>(executor, std::move(options), std::move(*parsed.url), std::move(handlers));
    session->start();
    return std::make_shared<Handle>(std::move(session));
}

}  // namespace relink::client
