// relinkd's admin HTTP API (server/admin.hpp): Beast HTTP/1.1 on its own port, bearer-secret authentication,
// every hub call made through HubAccess on the hub's strand.
#include "server/admin.hpp"

#include <array>
#include <cctype>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "common/encoding.hpp"
#include "server/listener.hpp"

namespace relink::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Json = nlohmann::json;

namespace {

constexpr std::uint64_t kMaxBodyBytes = 64 * 1024;

using Digest = std::array<unsigned char, EVP_MAX_MD_SIZE>;

Digest sha256(std::string_view data) {
    Digest digest{};
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
        digest.fill(0xff);  // never equal to a real digest's failure twin: the caller also checks the secret
    }
    return digest;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && encoding::hex_digit_value(text[i + 1]) >= 0 &&
            encoding::hex_digit_value(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(encoding::hex_digit_value(text[i + 1]) * 16 +
                                            encoding::hex_digit_value(text[i + 2])));
            i += 2;
        } else if (text[i] == '+') {
            out.push_back(' ');
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

/// The value of query parameter `name`, percent-decoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        }
        if (amp == std::string_view::npos) {
            break;
        }
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

void add_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                std::uint64_t value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += std::to_string(value);
    out += '\n';
}

struct Response {
    http::status status{http::status::ok};
    std::string content_type{"application/json"};
    std::string body;
    std::string allow;  ///< for 405
};

/// Compact JSON and a newline; invalid UTF-8 (which the hub's input rules should already exclude) is replaced
/// instead of throwing.
std::string dump(const Json& json) {
    return json.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Response json_response(http::status status, const Json& body) {
    return {status, "application/json", dump(body), {}};
}

Response error_response(http::status status, std::string_view message) {
    return json_response(status, Json{{"error", message}});
}

// ------------------------------------------------------------------------------------------- one connection

class AdminSession : public std::enable_shared_from_this<AdminSession> {
public:
    AdminSession(tcp::socket socket, const AdminServer::Config& config, HubAccess& hub,
                 std::shared_ptr<spdlog::logger> log, std::string peer)
        : stream_(std::move(socket)), config_(config), hub_(hub), log_(std::move(log)), peer_(std::move(peer)) {}

    void run() {
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&AdminSession::do_read, shared_from_this()));
    }

private:
    void do_read() {
        parser_.emplace();
        parser_->body_limit(kMaxBodyBytes);
        stream_.expires_after(config_.request_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&AdminSession::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) {
            return do_shutdown();
        }
        if (ec) {
            if (ec == http::error::body_limit) {
                keep_alive_ = false;
                return send({http::status::payload_too_large,
                             "application/json",
                             R"({"error":"request body above 64 KiB"})"
                             "\n",
                             {}});
            }
            return;
        }
        request_ = parser_->release();
        parser_.reset();
        keep_alive_ = request_.keep_alive();
        handle();
    }

    void handle() {
        if (const auto path = request_path(); path == "/healthz" || path == "/readyz") {
            return probe(path == "/readyz");
        }
        const auto auth = request_[http::field::authorization];
        if (!bearer_matches(std::string_view(auth.data(), auth.size()), config_.secret)) {
            log_->warn("admin: {} {} from {}: unauthorized", std::string(request_.method_string()),
                       std::string(request_.target()), peer_);
            return send(error_response(http::status::unauthorized, "missing or wrong Authorization: Bearer secret"));
        }
        const auto target = std::string_view(request_.target().data(), request_.target().size());
        const auto question = target.find('?');
        const auto path = request_path();
        const auto query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
        const auto method = request_.method();
        const auto app_filter = query_param(query, "app");

        if (path == "/sessions" || path == "/channels" || path == "/metrics") {
            if (method != http::verb::get) {
                return send({http::status::method_not_allowed, "application/json",
                             R"({"error":"method not allowed"})"
                             "\n",
                             "GET"});
            }
            const bool sessions = path == "/sessions";
            const bool channels = path == "/channels";
            const auto tls =
                !sessions && !channels && config_.tls_handshakes ? config_.tls_handshakes() : TlsHandshakeMetrics{};
            const auto load = !sessions && !channels && config_.load ? config_.load() : LoadMetrics{};
            // Read on the hub's strand, where the cluster node lives (the function is the server's and outlives us).
            if (sessions || channels) {
                // The deployment's list: at once from memory, after a round trip from Redis in a cluster.
                return with_hub_later([sessions, app_filter](Hub& hub, TimePoint now, Respond respond) {
                    hub.list(now, [sessions, app_filter, respond](std::vector<SessionInfo> session_list,
                                                                  std::vector<ChannelInfo> channel_list) {
                        if (app_filter) {
                            std::erase_if(session_list, [&](const SessionInfo& s) { return s.app_id != *app_filter; });
                            std::erase_if(channel_list, [&](const ChannelInfo& c) { return c.app_id != *app_filter; });
                        }
                        respond(Response{http::status::ok,
                                         "application/json",
                                         sessions ? sessions_json(session_list) : channels_json(channel_list),
                                         {}});
                    });
                });
            }
            return with_hub([tls, load, gauges = config_.cluster_gauges](Hub& hub, TimePoint) {
                return Response{
                    http::status::ok,
                    "text/plain; version=0.0.4; charset=utf-8",
                    metrics_text(hub.metrics(), hub.draining(), tls, gauges ? gauges() : std::nullopt, load),
                    {}};
            });
        }
        if (path == "/kick") {
            if (method != http::verb::post) {
                return send({http::status::method_not_allowed, "application/json",
                             R"({"error":"method not allowed"})"
                             "\n",
                             "POST"});
            }
            return kick();
        }
        send(error_response(http::status::not_found,
                            "no such endpoint: /sessions, /channels, /metrics, /kick, /healthz, /readyz"));
    }

    /// The request's path, without its query.
    [[nodiscard]] std::string_view request_path() const {
        const auto target = std::string_view(request_.target().data(), request_.target().size());
        return target.substr(0, target.find('?'));
    }

    /// GET or HEAD /healthz and /readyz, without the secret, answered from this connection's strand (not the hub's,
    /// which a login storm may keep busy): plain text, as load balancers and orchestrators' probes expect. /healthz
    /// is 200 whenever the process answers at all; /readyz is 503 with the reason while the server should get no
    /// new clients. Not logged: probes come every few seconds.
    void probe(bool readiness) {
        constexpr std::string_view kText = "text/plain; charset=utf-8";
        const auto method = request_.method();
        if (method != http::verb::get && method != http::verb::head) {
            return send({http::status::method_not_allowed, std::string(kText), "method not allowed\n", "GET, HEAD"});
        }
        const std::string reason = readiness && config_.not_ready ? config_.not_ready() : std::string();
        if (!reason.empty()) {
            return send({http::status::service_unavailable, std::string(kText), "not ready: " + reason + "\n", {}});
        }
        send({http::status::ok, std::string(kText), "ok\n", {}});
    }

    void kick() {
        const Json body = Json::parse(request_.body(), nullptr, /*allow_exceptions=*/false);
        if (!body.is_object() || !body.contains("app") || !body["app"].is_string() || !body.contains("user") ||
            !body["user"].is_string() || (body.contains("ban") && !body["ban"].is_boolean()) ||
            (body.contains("ban_seconds") &&
             (!body["ban_seconds"].is_number() || body["ban_seconds"].get<double>() <= 0.0 ||
              body["ban_seconds"].get<double>() > 1e9))) {
            return send(error_response(http::status::bad_request,
                                       R"(want {"app": ID, "user": UID, "ban": bool, "ban_seconds": N})"));
        }
        auto app = body["app"].get<std::string>();
        auto user = body["user"].get<std::string>();
        const bool ban = body.value("ban", false);
        Duration ban_for = config_.default_ban;
        if (body.contains("ban_seconds")) {
            ban_for =
                std::chrono::duration_cast<Duration>(std::chrono::duration<double>(body["ban_seconds"].get<double>()));
        }
        log_->info("admin: {} {}/{} (from {})", ban ? "ban" : "kick", app, user, peer_);
        with_hub_later(
            [app = std::move(app), user = std::move(user), ban, ban_for](Hub& hub, TimePoint now, Respond respond) {
                hub.kick(now, app, user, ban, ban_for, [ban, respond](std::error_code ec) {
                    if (ec == make_error_code(errc::not_logged_in)) {
                        respond(json_response(http::status::not_found,
                                              Json{{"error", error_name(ec)}, {"kicked", false}, {"banned", ban}}));
                    } else if (ec) {
                        respond(json_response(http::status::bad_request,
                                              Json{{"error", error_name(ec)}, {"kicked", false}, {"banned", false}}));
                    } else {
                        respond(json_response(http::status::ok, Json{{"kicked", true}, {"banned", ban}}));
                    }
                });
            });
    }

    using Respond = std::function<void(Response)>;

    /// Runs `make` on the hub's strand with a `respond` it calls (once) when the response is ready, maybe later;
    /// the response is sent from this session's strand.
    template <class MakeLater>
    void with_hub_later(MakeLater make) {
        hub_.run([self = shared_from_this(), make = std::move(make)](Hub& hub, TimePoint now) {
            make(hub, now, [self](Response response) {
                net::post(self->stream_.get_executor(),
                          [self, response = std::move(response)]() mutable { self->send(std::move(response)); });
            });
        });
    }

    /// Runs `make` on the hub's strand, then sends its response from this session's strand.
    template <class MakeResponse>
    void with_hub(MakeResponse make) {
        hub_.run([self = shared_from_this(), make = std::move(make)](Hub& hub, TimePoint now) {
            auto response = make(hub, now);
            net::post(self->stream_.get_executor(),
                      [self, response = std::move(response)]() mutable { self->send(std::move(response)); });
        });
    }

    void send(Response response) {
        auto res = std::make_shared<http::response<http::string_body>>(response.status, request_.version());
        res->set(http::field::server, "relinkd");
        res->set(http::field::content_type, response.content_type);
        res->set(http::field::cache_control, "no-store");
        if (response.status == http::status::unauthorized) {
            res->set(http::field::www_authenticate, R"(Bearer realm="relinkd")");
        }
        if (!response.allow.empty()) {
            res->set(http::field::allow, response.allow);
        }
        res->keep_alive(keep_alive_);
        if (request_.method() == http::verb::head) {
            // The headers a GET would get, Content-Length included, and no body (RFC 9110, section 9.3.2).
            res->content_length(response.body.size());
        } else {
            res->body() = std::move(response.body);
            res->prepare_payload();
        }
        stream_.expires_after(config_.request_timeout);
        http::async_write(stream_, *res,
                          [self = shared_from_this(), res](beast::error_code ec, std::size_t) { self->on_write(ec); });
    }

    void on_write(beast::error_code ec) {
        if (ec) {
            return;
        }
        if (!keep_alive_) {
            return do_shutdown();
        }
        request_ = {};
        do_read();
    }

    void do_shutdown() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    const AdminServer::Config config_;
    HubAccess& hub_;
    std::shared_ptr<spdlog::logger> log_;
    std::string peer_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::request<http::string_body> request_;
    bool keep_alive_{false};
};

}  // namespace

// ------------------------------------------------------------------------------------------- the server

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
    Impl(net::io_context& ioc_, Config config_, HubAccess& hub_, std::shared_ptr<spdlog::logger> log_)
        : ioc(ioc_), acceptor(net::make_strand(ioc_)), config(std::move(config_)), hub(hub_), log(std::move(log_)) {}

    void do_accept() {
        acceptor.async_accept(net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec,
                                                                                 tcp::socket socket) {
            if (ec == net::error::operation_aborted || !self->acceptor.is_open()) {
                return;
            }
            if (!ec) {
                beast::error_code peer_ec;
                const auto remote = socket.remote_endpoint(peer_ec);
                auto peer = peer_ec ? std::string("?") : remote.address().to_string();
                std::make_shared<AdminSession>(std::move(socket), self->config, self->hub, self->log, std::move(peer))
                    ->run();
            }
            self->do_accept();
        });
    }

    net::io_context& ioc;
    tcp::acceptor acceptor;
    Config config;
    HubAccess& hub;
    std::shared_ptr<spdlog::logger> log;
};

AdminServer::AdminServer(net::io_context& ioc, Config config, HubAccess& hub, std::shared_ptr<spdlog::logger> log)
    : impl_(std::make_shared<Impl>(ioc, std::move(config), hub, std::move(log))) {
    beast::error_code ec;
    auto address = net::ip::make_address(impl_->config.listen.host, ec);
    if (ec) {  // a host name: its first address
        tcp::resolver resolver(ioc);
        const auto results = resolver.resolve(impl_->config.listen.host, "0", ec);
        if (ec || results.empty()) {
            throw boost::system::system_error(ec ? ec : make_error_code(net::error::host_not_found));
        }
        address = results.begin()->endpoint().address();
    }
    const tcp::endpoint endpoint(address, impl_->config.listen.port);
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(net::socket_base::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen(net::socket_base::max_listen_connections);
}

AdminServer::~AdminServer() = default;

std::uint16_t AdminServer::port() const noexcept {
    beast::error_code ec;
    return impl_->acceptor.local_endpoint(ec).port();
}

std::string AdminServer::url_host() const {
    beast::error_code ec;
    const auto address = impl_->acceptor.local_endpoint(ec).address();
    if (address.is_v4()) {
        return address.is_unspecified() ? "127.0.0.1" : address.to_string();
    }
    return "[" + (address.is_unspecified() ? std::string("::1") : address.to_string()) + "]";
}

void AdminServer::start() {
    if (!is_loopback_host(impl_->config.listen.host)) {
        impl_->log->warn("admin API on a non-loopback address ({}) over plain HTTP: keep it on a private network",
                         impl_->config.listen.host);
    }
    net::dispatch(impl_->acceptor.get_executor(), [impl = impl_] { impl->do_accept(); });
}

void AdminServer::stop() {
    net::post(impl_->acceptor.get_executor(), [impl = impl_] {
        beast::error_code ignored;
        impl->acceptor.close(ignored);
    });
}

// ------------------------------------------------------------------------------------------- pure helpers

bool bearer_matches(std::string_view authorization, std::string_view secret) {
    authorization = trim(authorization);
    constexpr std::string_view kScheme = "bearer";
    if (authorization.size() <= kScheme.size() || !iequals(authorization.substr(0, kScheme.size()), kScheme) ||
        (authorization[kScheme.size()] != ' ' && authorization[kScheme.size()] != '\t')) {
        return false;
    }
    const auto presented = trim(authorization.substr(kScheme.size()));
    // Equal-length digests compared in constant time: neither the secret's bytes nor its length leak by timing.
    const auto a = sha256(presented);
    const auto b = sha256(secret);
    return !secret.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string metrics_text(const Metrics& m, bool draining, const TlsHandshakeMetrics& tls,
                         const std::optional<ClusterGauges>& cluster, const LoadMetrics& load) {
    std::string out;
    out.reserve(2048);
    add_metric(out, "relink_connections", "gauge", "Open WebSocket connections.", m.connections_open);
    add_metric(out, "relink_sessions", "gauge", "Current sessions (present users).", m.sessions);
    add_metric(out, "relink_logins_total", "counter", "Successful logins, resumes included.", m.logins);
    add_metric(out, "relink_reconnects_total", "counter", "Logins that resumed a session silently.", m.resumes);
    add_metric(out, "relink_login_failures_total", "counter", "Refused logins.", m.login_failures);
    add_metric(out, "relink_kicks_total", "counter", "Sessions ended by a remote login, an admin kick or a ban.",
               m.kicks);
    add_metric(out, "relink_messages_total", "counter", "Messages accepted (channel and peer).", m.messages);
    add_metric(out, "relink_deliveries_total", "counter", "Messages delivered live to receivers.", m.deliveries);
    add_metric(out, "relink_backfilled_total", "counter", "Messages delivered as backfill after a reconnect.",
               m.backfilled);
    add_metric(out, "relink_dropped_total", "counter", "Messages a receiver will never get (reported to it).",
               m.dropped);
    add_metric(out, "relink_deduplicated_total", "counter", "Re-sent messages acknowledged but not delivered again.",
               m.deduplicated);
    add_metric(out, "relink_presence_timeouts_total", "counter", "Sessions ended by their presence timeout.",
               m.presence_timeouts);
    add_metric(out, "relink_presence_frames_total", "counter",
               "Frames announcing membership changes (one per change, or a batch of them).", m.presence_frames);
    add_metric(out, "relink_presence_changes_total", "counter", "Membership changes announced, one per member told.",
               m.presence_changes);
    add_metric(out, "relink_rate_limited_total", "counter", "Requests refused by a rate limit.", m.rate_limited);
    add_metric(out, "relink_bad_frames_total", "counter", "Frames that could not be decoded.", m.bad_frames);
    add_metric(out, "relink_draining", "gauge", "1 while the server drains.", draining ? 1 : 0);
    // One metric with a label (not two metrics), so that sum() gives all handshakes and a ratio needs no join.
    out +=
        "# HELP relink_tls_handshakes_total Completed TLS handshakes, by whether they resumed a session.\n"
        "# TYPE relink_tls_handshakes_total counter\n";
    out += "relink_tls_handshakes_total{resumed=\"false\"} " + std::to_string(tls.full) + "\n";
    out += "relink_tls_handshakes_total{resumed=\"true\"} " + std::to_string(tls.resumed) + "\n";
    add_metric(out, "relink_stored_for_away_total", "counter", "Peer messages kept for a user who is away.",
               m.stored_for_away);
    add_metric(out, "relink_channel_event_gaps_total", "counter",
               "Channel events that did not reach this node; its members of the channel resumed to catch up.",
               m.event_gaps);
    // Overload (docs/server.md, "Overload"): what the server refuses so that the sessions it holds go on.
    add_metric(out, "relink_logins_in_progress", "gauge", "Connections open whose login is not done yet.",
               m.logins_in_progress);
    out +=
        "# HELP relink_logins_shed_total Logins refused with Close(busy) and a retry-after, by the bound reached.\n"
        "# TYPE relink_logins_shed_total counter\n";
    out += "relink_logins_shed_total{cause=\"rate\"} " + std::to_string(m.logins_shed_rate) + "\n";
    out += "relink_logins_shed_total{cause=\"in_progress\"} " + std::to_string(m.logins_shed_in_progress) + "\n";
    out += "relink_logins_shed_total{cause=\"memory\"} " + std::to_string(m.logins_shed_memory) + "\n";
    add_metric(out, "relink_slow_readers_shed_total", "counter",
               "Connections closed because they read too slowly (their own queue, or the server's write budget).",
               load.slow_readers_shed);
    add_metric(out, "relink_write_queue_bytes", "gauge", "Bytes queued for writing on all connections together.",
               load.write_queue_bytes);
    add_metric(out, "relink_handshakes_in_progress", "gauge",
               "Accepted connections whose TLS and WebSocket handshakes are not done.", load.handshakes_in_progress);
    add_metric(out, "relink_accept_pauses_total", "counter",
               "Times accepting paused because the handshakes in progress reached their bound.", load.accept_pauses);
    if (cluster) {
        add_metric(out, "relink_cluster_redis_up", "gauge", "1 while this node reaches Redis (commands and pub/sub).",
                   cluster->redis_up ? 1 : 0);
        add_metric(out, "relink_cluster_redis_rtt_microseconds", "gauge",
                   "Round trip of this node's last PING to Redis (0 before the first).", cluster->redis_rtt_us);
        add_metric(out, "relink_cluster_redis_reconnects_total", "counter", "Reconnects to Redis.",
                   cluster->redis_reconnects);
        add_metric(out, "relink_cluster_fenced_commands_total", "counter",
                   "Commands refused because this node no longer held the session (another node owns it now).",
                   cluster->stale_commands);
        add_metric(out, "relink_cluster_reaped_sessions_total", "counter",
                   "Sessions whose presence ran out, ended by this node's reaper.", cluster->presence_timeouts);
        add_metric(out, "relink_cluster_nodes_declared_dead_total", "counter",
                   "Nodes this node's reaper found silent and declared dead.", cluster->nodes_dead);
        add_metric(out, "relink_cluster_reconciled_sessions_total", "counter",
                   "Sessions Redis counted as on this node that it did not hold, released when it reached Redis again.",
                   cluster->reconciled);
        add_metric(out, "relink_cluster_pubsub_gaps_total", "counter",
                   "Times the event subscription was lost and made again (events may have been missed meanwhile).",
                   cluster->pubsub_gaps);
    }
    return out;
}

std::string sessions_json(const std::vector<SessionInfo>& sessions) {
    Json list = Json::array();
    for (const auto& s : sessions) {
        list.push_back(Json{{"app", s.app_id},
                            {"user", s.user_id},
                            {"profile", std::string(to_string(s.profile))},
                            {"connected", s.connected},
                            {"channels", s.channels},
                            {"address", s.peer_address}});
    }
    return dump(list);
}

std::string channels_json(const std::vector<ChannelInfo>& channels) {
    Json list = Json::array();
    for (const auto& c : channels) {
        list.push_back(
            Json{{"app", c.app_id}, {"channel", c.channel}, {"members", c.members}, {"messages", c.messages}});
    }
    return dump(list);
}

}  // namespace relink::server
