// The raw WebSocket-over-TLS test client (ws_test_client.hpp) and the admin API's HTTP helper.
#include "server/ws_test_client.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>

#include "protocol/codec.hpp"

namespace relink::test {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

struct WsTestClient::Impl {
    enum class Outgoing { text, binary, raw };

    explicit Impl(const Config& c)
        : config(c), tls(ssl::context::tls_client), ws(net::make_strand(ioc), tls), ping_timer(ws.get_executor()) {}

    ~Impl() {
        ioc.stop();
        if (thread.joinable()) {
            thread.join();
        }
    }

    /// Runs the connect chain on the I/O thread and waits for it.
    std::string connect() {
        tls.set_verify_mode(ssl::verify_peer);
        beast::error_code ec;
        tls.load_verify_file(config.ca_file, ec);
        if (ec) {
            return "cannot load CA '" + config.ca_file + "': " + ec.message();
        }
        // The stream's SSL object already exists: its verify mode is its own (SSL_new copied the context's).
        ws.next_layer().set_verify_mode(ssl::verify_peer);
        ws.next_layer().set_verify_callback(ssl::host_name_verification(config.verify_name));
        net::ip::make_address(config.verify_name, ec);
        if (ec) {  // a host name: send it as SNI too
            SSL_ctrl(ws.next_layer().native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     const_cast<char*>(config.verify_name.c_str()));
        }
        ws.read_message_max(16 * 1024 * 1024);
        // Shared with the handlers: they may still run after a timed-out wait has returned.
        auto done = std::make_shared<std::promise<std::string>>();
        auto result = done->get_future();
        const tcp::endpoint endpoint(net::ip::make_address(config.host), config.port);
        auto& lowest = beast::get_lowest_layer(ws);
        lowest.expires_after(config.connect_timeout);
        lowest.async_connect(endpoint, [this, done](beast::error_code connect_ec) {
            if (connect_ec) {
                return done->set_value("connect: " + connect_ec.message());
            }
            ws.next_layer().async_handshake(ssl::stream_base::client, [this, done](beast::error_code tls_ec) {
                if (tls_ec) {
                    return done->set_value("TLS handshake: " + tls_ec.message());
                }
                beast::get_lowest_layer(ws).expires_never();
                ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
                ws.async_handshake(
                    config.host + ":" + std::to_string(config.port), config.path,
                    [this, done](beast::error_code ws_ec) {
                        if (ws_ec) {
                            return done->set_value("WebSocket handshake: " + ws_ec.message());
                        }
                        ws.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
                            if (kind == websocket::frame_type::pong) {
                                std::lock_guard lock(mutex);
                                pongs.emplace_back(payload.data(), payload.size());
                                changed.notify_all();
                            }
                        });
                        do_read();
                        done->set_value({});
                    });
            });
        });
        thread = std::thread([this] { ioc.run(); });
        if (result.wait_for(config.connect_timeout + std::chrono::seconds(1)) != std::future_status::ready) {
            return "connect: no answer";
        }
        return result.get();
    }

    void do_read() {
        ws.async_read(buffer, [this](beast::error_code ec, std::size_t bytes) {
            if (ec) {
                CloseInfo info;
                if (ec == websocket::error::closed) {
                    info.code = ws.reason().code;
                    info.reason = std::string(ws.reason().reason.data(), ws.reason().reason.size());
                } else {
                    info.error = ec.message();
                    info.code = ws.reason().code;
                }
                ping_timer.cancel();
                std::lock_guard lock(mutex);
                ended = std::move(info);
                changed.notify_all();
                return;
            }
            const auto data = buffer.cdata();
            std::string_view frame(static_cast<const char*>(data.data()), bytes);
            {
                std::lock_guard lock(mutex);
                if (!ws.got_text()) {
                    errors.push_back("binary frame from the server");
                } else if (auto decoded = proto::decode_server(frame)) {
                    if (std::holds_alternative<proto::LoginOk>(*decoded.message) && !pinging) {
                        pinging = true;
                        start_pings();
                    }
                    if (!std::holds_alternative<proto::Pong>(*decoded.message)) {
                        received.push_back(std::move(*decoded.message));
                    }
                } else {
                    errors.push_back(decoded.error.detail + ": " + std::string(frame.substr(0, 200)));
                }
                changed.notify_all();
            }
            buffer.consume(buffer.size());
            do_read();
        });
    }

    void start_pings() {
        if (config.ping_interval.count() <= 0) {
            return;
        }
        ping_timer.expires_after(config.ping_interval);
        ping_timer.async_wait([this](beast::error_code ec) {
            if (ec) {
                return;
            }
            enqueue(Outgoing::text, proto::encode(proto::ClientMessage{proto::Ping{}}));
            start_pings();
        });
    }

    void post_frame(bool text, std::string frame) {
        net::post(ws.get_executor(), [this, text, frame = std::move(frame)]() mutable {
            enqueue(text ? Outgoing::text : Outgoing::binary, std::move(frame));
        });
    }

    void post_raw(std::string bytes) {
        net::post(ws.get_executor(),
                  [this, bytes = std::move(bytes)]() mutable { enqueue(Outgoing::raw, std::move(bytes)); });
    }

    void enqueue(Outgoing kind, std::string bytes) {
        outbox.emplace_back(kind, std::move(bytes));
        if (!writing) {
            do_write();
        }
    }

    void do_write() {
        writing = true;
        auto written = [this](beast::error_code ec, std::size_t) {
            writing = false;
            outbox.pop_front();
            if (!ec && !outbox.empty()) {
                do_write();
            }
        };
        if (outbox.front().first == Outgoing::raw) {
            // Under the WebSocket layer, in the same queue, so it never interleaves with a frame Beast writes.
            net::async_write(ws.next_layer(), net::buffer(outbox.front().second), std::move(written));
            return;
        }
        ws.text(outbox.front().first == Outgoing::text);
        ws.async_write(net::buffer(outbox.front().second), std::move(written));
    }

    Config config;
    net::io_context ioc;
    ssl::context tls;
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws;
    net::steady_timer ping_timer;
    beast::flat_buffer buffer;
    std::deque<std::pair<Outgoing, std::string>> outbox;  // used on the I/O thread only
    bool writing{false};
    bool pinging{false};
    std::thread thread;

    mutable std::mutex mutex;  // guards what follows
    std::condition_variable changed;
    std::deque<proto::ServerMessage> received;
    std::optional<CloseInfo> ended;
    std::vector<std::string> errors;
    std::vector<std::string> pongs;  ///< payloads of the WebSocket pongs received
};

WsTestClient::WsTestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WsTestClient::~WsTestClient() = default;

std::unique_ptr<WsTestClient> WsTestClient::connect(const Config& config, std::string& error) {
    auto impl = std::make_unique<Impl>(config);
    error = impl->connect();
    if (!error.empty()) {
        return nullptr;
    }
    return std::unique_ptr<WsTestClient>(new WsTestClient(std::move(impl)));
}

void WsTestClient::send(const proto::ClientMessage& message) {
    impl_->post_frame(true, proto::encode(message));
}
void WsTestClient::send_text(std::string frame) {
    impl_->post_frame(true, std::move(frame));
}
void WsTestClient::send_binary(std::string frame) {
    impl_->post_frame(false, std::move(frame));
}
void WsTestClient::send_raw(std::string bytes) {
    impl_->post_raw(std::move(bytes));
}

std::string masked_frame(unsigned first_byte, std::string_view payload, bool masked) {
    std::string frame;
    frame.push_back(static_cast<char>(first_byte));
    const auto size = payload.size();
    const unsigned mask_bit = masked ? 0x80U : 0U;
    if (size < 126) {
        frame.push_back(static_cast<char>(mask_bit | size));
    } else if (size <= 0xffff) {
        frame.push_back(static_cast<char>(mask_bit | 126U));
        frame.push_back(static_cast<char>(size >> 8));
        frame.push_back(static_cast<char>(size & 0xff));
    } else {
        frame.push_back(static_cast<char>(mask_bit | 127U));
        for (int shift = 56; shift >= 0; shift -= 8) {
            frame.push_back(static_cast<char>((static_cast<std::uint64_t>(size) >> shift) & 0xff));
        }
    }
    std::array<char, 4> key{'\x12', '\x34', '\x56', '\x78'};  // any key will do; clients must mask
    if (masked) {
        frame.append(key.data(), key.size());
    } else {
        key.fill(0);
    }
    for (std::size_t i = 0; i < size; ++i) {
        frame.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
    }
    return frame;
}

std::string masked_text_frame(std::string_view payload) {
    return masked_frame(0x81, payload);
}

std::optional<proto::ServerMessage> WsTestClient::next(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    impl_->changed.wait_for(lock, timeout, [&] { return !impl_->received.empty() || impl_->ended.has_value(); });
    if (impl_->received.empty()) {
        return std::nullopt;
    }
    auto message = std::move(impl_->received.front());
    impl_->received.pop_front();
    return message;
}

std::optional<CloseInfo> WsTestClient::wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    impl_->changed.wait_for(lock, timeout, [&] { return impl_->ended.has_value(); });
    return impl_->ended;
}

bool WsTestClient::wait_for_pong(std::string_view payload, std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->mutex);
    return impl_->changed.wait_for(lock, timeout, [&] {
        return std::find(impl_->pongs.begin(), impl_->pongs.end(), payload) != impl_->pongs.end();
    });
}

std::vector<std::string> WsTestClient::decode_errors() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->errors;
}

// ------------------------------------------------------------------------------------------- HTTP

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& authorization, const std::string& body, std::chrono::milliseconds timeout) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    beast::flat_buffer buffer;
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    if (!authorization.empty()) {
        request.set(http::field::authorization, authorization);
    }
    if (!body.empty()) {
        request.set(http::field::content_type, "application/json");
        request.body() = body;
    }
    request.keep_alive(false);
    request.prepare_payload();
    http::response<http::string_body> response;
    HttpResult result;
    stream.expires_after(timeout);
    stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
        if (ec) {
            result.error = "connect: " + ec.message();
            return;
        }
        http::async_write(stream, request, [&](beast::error_code write_ec, std::size_t) {
            if (write_ec) {
                result.error = "write: " + write_ec.message();
                return;
            }
            http::async_read(stream, buffer, response, [&](beast::error_code read_ec, std::size_t) {
                if (read_ec) {
                    result.error = "read: " + read_ec.message();
                    return;
                }
                result.status = static_cast<int>(response.result_int());
                result.body = response.body();
                result.content_type = std::string(response[http::field::content_type]);
            });
        });
    });
    ioc.run();
    return result;
}

}  // namespace relink::test
