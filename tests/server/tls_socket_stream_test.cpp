// TlsSocketStream (net/tls_socket_stream.hpp) over loopback. Server role (relinkd's) against Asio's own TLS client:
// the handshake, whole data both ways (records coalesced when small, several records when large), no buffers held
// when idle, a clean close versus a cut, the owner closing the socket under a pending read, garbage instead of a
// ClientHello, and thousands of round trips that would stall on a lost wake-up; session tickets under relinkd's
// ticket keys (server/tls.hpp) resumed by another context with the same keys (a restart), through a key rotation,
// and not without the keys. Client role (relink::Client's transport): against the server role of the same class
// (verification of the chain and the name, SNI, data both ways, idle buffers, close_notify both ways, a cut, the
// owner closing under a pending handshake, a name mismatch), against Asio's TLS server, and resuming a session
// from relinkd's ticket keys. relinkd's WebSocket frame reader over it, after Beast's upgrade: how a session waits
// for the next frame. Every wait is bounded.
#include "net/tls_socket_stream.hpp"

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

#include "protocol/websocket_frames.hpp"
#include "server/tls.hpp"
#include "server/ws_test_client.hpp"

namespace relink::server {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using boost::beast::error_code;
using relink::net::TlsSocketStream;
using namespace std::chrono_literals;

std::string pattern(std::size_t size, char salt) {
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        bytes[i] = static_cast<char>((i * 31 + static_cast<std::size_t>(salt)) & 0xff);
    }
    return bytes;
}

/// A connected pair: relinkd's stream as the server, asio::ssl::stream as the client, both on one io_context.
/// Starts `rounds` ping-pong round trips of 8 bytes between two connected streams, each side waiting for the other
/// every time: a lost wake-up on either wait stops the run. The caller runs the io_context until `done` or `failure`.
struct PingPong {
    explicit PingPong(int rounds) : wanted(rounds) {}

    int wanted{0};
    int done{0};
    std::optional<error_code> failure;
    std::array<char, 8> server_buffer{};
    std::array<char, 8> client_buffer{};

    [[nodiscard]] bool finished() const { return done == wanted || failure.has_value(); }

    template <class ClientStream, class ServerStream>
    void start(ClientStream& client, ServerStream& server) {
        net::async_write(client, net::buffer("ping1234", 8), [this](error_code ec, std::size_t) {
            if (ec) {
                failure = ec;
            }
        });
        net::async_read(server, net::buffer(server_buffer), [this, &client, &server](error_code ec, std::size_t) {
            if (ec) {
                failure = ec;
                return;
            }
            net::async_write(server, net::buffer(server_buffer), [this](error_code write_ec, std::size_t) {
                if (write_ec) {
                    failure = write_ec;
                }
            });
            net::async_read(client, net::buffer(client_buffer),
                            [this, &client, &server](error_code read_ec, std::size_t) {
                                if (read_ec) {
                                    failure = read_ec;
                                } else if (++done < wanted) {
                                    start(client, server);
                                }
                            });
        });
    }
};

class TlsPair : public ::testing::Test {
protected:
    void SetUp() override {
        const auto generated = generate_self_signed();
        ASSERT_TRUE(generated.pem) << generated.error;
        server_context_.use_certificate_chain(net::buffer(generated.pem->certificate_pem));
        server_context_.use_private_key(net::buffer(generated.pem->private_key_pem), ssl::context::pem);
        client_context_.add_certificate_authority(net::buffer(generated.pem->certificate_pem));
        client_context_.set_verify_mode(ssl::verify_peer);
        // Counts the records the client receives (one call per record header).
        SSL_CTX_set_msg_callback(client_context_.native_handle(),
                                 [](int write_p, int, int content_type, const void*, size_t, SSL*, void* arg) {
                                     if (write_p == 0 && content_type == SSL3_RT_HEADER) {
                                         ++*static_cast<int*>(arg);
                                     }
                                 });
        SSL_CTX_set_msg_callback_arg(client_context_.native_handle(), &records_received_);

        tcp::acceptor acceptor(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        client_.emplace(ioc_, client_context_);
        client_->next_layer().connect(acceptor.local_endpoint());
        server_ = std::make_unique<TlsSocketStream>(acceptor.accept(), server_context_.native_handle(),
                                                    boost::beast::role_type::server);
    }

    /// Runs the io_context until `done` or 10 s have passed.
    bool run_until(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            ioc_.run_one_for(50ms);
        }
        return done();
    }

    void handshake() {
        std::optional<error_code> server_ec;
        std::optional<error_code> client_ec;
        server_->async_handshake([&](error_code ec) { server_ec = ec; });
        client_->async_handshake(ssl::stream_base::client, [&](error_code ec) { client_ec = ec; });
        ASSERT_TRUE(run_until([&] { return server_ec && client_ec; }));
        ASSERT_FALSE(*server_ec) << server_ec->message();
        ASSERT_FALSE(*client_ec) << client_ec->message();
    }

    /// One small message server → client: the client then has also read the session tickets sent after the
    /// handshake (so a close of its socket is a FIN, not a reset with unread data).
    void settle() {
        std::optional<error_code> wrote;
        net::async_write(*server_, net::buffer("hello", 5), [&](error_code ec, std::size_t) { wrote = ec; });
        EXPECT_EQ(client_read(5), "hello");
        EXPECT_TRUE(run_until([&] { return wrote.has_value(); }));
    }

    /// Reads exactly `size` bytes on the server side.
    std::string server_read(std::size_t size) {
        std::string into(size, '\0');
        std::optional<error_code> result;
        net::async_read(*server_, net::buffer(into), [&](error_code ec, std::size_t) { result = ec; });
        EXPECT_TRUE(run_until([&] { return result.has_value(); }));
        EXPECT_FALSE(result && *result) << result->message();
        return into;
    }

    std::string client_read(std::size_t size) {
        std::string into(size, '\0');
        std::optional<error_code> result;
        net::async_read(*client_, net::buffer(into), [&](error_code ec, std::size_t) { result = ec; });
        EXPECT_TRUE(run_until([&] { return result.has_value(); }));
        EXPECT_FALSE(result && *result) << result->message();
        return into;
    }

    /// The result of one server read_some.
    error_code server_read_error() {
        std::array<char, 64> into{};
        std::optional<error_code> result;
        server_->async_read_some(net::buffer(into), [&](error_code ec, std::size_t) { result = ec; });
        EXPECT_TRUE(run_until([&] { return result.has_value(); }));
        return result.value_or(error_code{});
    }

    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(ioc_);
    ssl::context server_context_{ssl::context::tls_server};
    ssl::context client_context_{ssl::context::tls_client};
    std::optional<ssl::stream<tcp::socket>> client_;
    std::unique_ptr<TlsSocketStream> server_;
    int records_received_{0};
};

TEST_F(TlsPair, DataBothWaysArrivesWholeAndNothingIsHeldWhenIdle) {
    handshake();
    settle();
    // A header and a payload, as Beast passes a frame: one record.
    const std::string header = "\x81\x64";
    const auto payload = pattern(100, 'a');
    const std::array<net::const_buffer, 2> frame{net::buffer(header), net::buffer(payload)};
    const int records_before = records_received_;
    std::optional<error_code> wrote;
    std::size_t wrote_bytes = 0;
    server_->async_write_some(frame, [&](error_code ec, std::size_t n) {
        wrote = ec;
        wrote_bytes = n;
    });
    ASSERT_TRUE(run_until([&] { return wrote.has_value(); }));
    ASSERT_FALSE(*wrote) << wrote->message();
    EXPECT_EQ(wrote_bytes, header.size() + payload.size());
    EXPECT_EQ(client_read(header.size() + payload.size()), header + payload);
    EXPECT_EQ(records_received_ - records_before, 1) << "a small frame's pieces are one TLS record";

    // Larger than a record (16 KiB) both ways: several records, every byte in order.
    const auto big_down = pattern(100 * 1024 + 7, 'd');
    wrote.reset();
    net::async_write(*server_, net::buffer(big_down), [&](error_code ec, std::size_t) { wrote = ec; });
    EXPECT_EQ(client_read(big_down.size()), big_down);
    ASSERT_TRUE(run_until([&] { return wrote.has_value(); }));
    EXPECT_FALSE(*wrote);

    const auto big_up = pattern(300 * 1024 + 3, 'u');
    std::optional<error_code> client_wrote;
    net::async_write(*client_, net::buffer(big_up), [&](error_code ec, std::size_t) { client_wrote = ec; });
    EXPECT_EQ(server_read(big_up.size()), big_up);
    ASSERT_TRUE(run_until([&] { return client_wrote.has_value(); }));

    EXPECT_EQ(server_->buffered_capacity(), 0U) << "an idle stream keeps no ciphertext buffers";
}

TEST_F(TlsPair, ThousandsOfRoundTripsNeverStall) {
    handshake();
    // Each side waits for the other every time: a lost wake-up on either wait would stop the run (10 s bound).
    PingPong pings{3000};
    pings.start(*client_, *server_);
    EXPECT_TRUE(run_until([&] { return pings.finished(); })) << pings.done << " rounds";
    EXPECT_FALSE(pings.failure) << pings.failure->message();
    EXPECT_EQ(std::string(pings.client_buffer.data(), pings.client_buffer.size()), "ping1234");
}

TEST_F(TlsPair, CleanCloseReadsEof) {
    handshake();
    std::optional<error_code> shut;
    client_->async_shutdown([&](error_code ec) { shut = ec; });  // sends close_notify, then waits for the answer
    EXPECT_EQ(server_read_error(), net::error::eof);
    server_->shutdown_best_effort();  // our close_notify lets the client's shutdown finish
    EXPECT_TRUE(run_until([&] { return shut.has_value(); }));
}

TEST_F(TlsPair, CutConnectionReadsTruncated) {
    handshake();
    settle();
    client_->next_layer().close();  // no close_notify
    EXPECT_EQ(server_read_error(), ssl::error::stream_truncated);
}

TEST_F(TlsPair, OwnerCloseAbortsAPendingReadAndLaterCallsNeverTouchTheDescriptor) {
    handshake();
    std::array<char, 16> into{};
    std::optional<error_code> result;
    server_->async_read_some(net::buffer(into), [&](error_code ec, std::size_t) { result = ec; });
    ioc_.poll();
    ASSERT_FALSE(result.has_value()) << "nothing was sent, the read waits";
    server_->next_layer().close();
    ASSERT_TRUE(run_until([&] { return result.has_value(); }));
    EXPECT_EQ(*result, net::error::operation_aborted);
    // The descriptor number may belong to another connection by now: no OpenSSL call may reach it.
    EXPECT_EQ(server_read_error(), net::error::bad_descriptor);
    std::optional<error_code> wrote;
    server_->async_write_some(net::buffer("x", 1), [&](error_code ec, std::size_t) { wrote = ec; });
    ASSERT_TRUE(run_until([&] { return wrote.has_value(); }));
    EXPECT_EQ(*wrote, net::error::bad_descriptor);
}

TEST_F(TlsPair, PlainHttpInsteadOfAClientHelloFailsTheHandshake) {
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    net::write(client_->next_layer(), net::buffer(request));
    std::optional<error_code> server_ec;
    server_->async_handshake([&](error_code ec) { server_ec = ec; });
    ASSERT_TRUE(run_until([&] { return server_ec.has_value(); }));
    EXPECT_TRUE(*server_ec);
    EXPECT_EQ(server_ec->category(), net::error::get_ssl_category()) << server_ec->message();
}

TEST_F(TlsPair, CompletionNeverRunsInsideTheInitiatingCall) {
    handshake();
    server_->next_layer().close();
    bool initiating = true;
    bool ran_inside = false;
    std::optional<error_code> result;
    std::array<char, 4> into{};
    // The socket is closed, so the read fails before any wait: it must still complete later, not inline.
    server_->async_read_some(net::buffer(into), [&](error_code ec, std::size_t) {
        ran_inside = initiating;
        result = ec;
    });
    initiating = false;
    ASSERT_TRUE(run_until([&] { return result.has_value(); }));
    EXPECT_FALSE(ran_inside);
}

TEST_F(TlsPair, FrameReaderWaitsForTheNextFrameHoldingNothingWhereverItsBytesAre) {
    // relinkd's sessions answer the upgrade with Beast, then read frames with relink's reader straight from this
    // stream, exactly as far as the reader's space() says (server/listener.cpp). This pins what that relies on:
    // the wait for a frame holds no buffer (neither the stream nor the reader), a header cut in pieces is waited
    // for, two frames in one TLS record are both read (the second from OpenSSL's buffer, with nothing more coming
    // from the socket), and an empty message completes.
    namespace websocket = boost::beast::websocket;
    handshake();
    std::optional<error_code> accepted;
    std::optional<error_code> upgraded;
    {
        websocket::stream<TlsSocketStream&> server_ws(*server_);
        websocket::stream<ssl::stream<tcp::socket>&> client_ws(*client_);
        server_ws.async_accept([&](error_code ec) { accepted = ec; });
        client_ws.async_handshake("127.0.0.1", "/", [&](error_code ec) { upgraded = ec; });
        ASSERT_TRUE(run_until([&] { return accepted && upgraded; }));
    }  // Beast's state goes; the streams stay
    ASSERT_FALSE(*accepted) << accepted->message();
    ASSERT_FALSE(*upgraded) << upgraded->message();

    proto::WsFrameReader reader(100000);
    std::optional<error_code> failed;
    std::vector<std::string> messages;
    bool reading = false;
    // Reads until the next event, then stops (the test looks between events).
    std::function<void()> read_next = [&] {
        reading = true;
        const auto room = reader.space();
        server_->async_read_some(net::buffer(room.data, room.size), [&](error_code ec, std::size_t bytes) {
            if (ec) {
                failed = ec;
                reading = false;
                return;
            }
            const proto::WsEvent event = reader.commit(bytes);
            if (event.kind == proto::WsEvent::Kind::message) {
                messages.emplace_back(event.payload);
                reading = false;
                return;
            }
            EXPECT_EQ(event.kind, proto::WsEvent::Kind::none);
            read_next();
        });
    };
    const auto next_message = [&] {
        read_next();
        EXPECT_TRUE(run_until([&] { return !reading; }));
        EXPECT_FALSE(failed) << failed->message();
        return messages.empty() ? std::string("(none)") : messages.back();
    };
    const auto send_raw = [&](const std::string& bytes) { net::write(*client_, net::buffer(bytes)); };

    read_next();
    ioc_.run_for(100ms);
    EXPECT_TRUE(reading) << "completed with nothing sent";
    EXPECT_EQ(server_->buffered_capacity(), 0U);
    EXPECT_EQ(reader.heap_bytes(), 0U);
    send_raw(test::masked_text_frame("first") + test::masked_text_frame("second"));  // one TLS record
    EXPECT_TRUE(run_until([&] { return !reading; }));
    EXPECT_EQ(messages, std::vector<std::string>{"first"});
    EXPECT_EQ(next_message(), "second");  // from what OpenSSL kept of the record

    const auto cut = test::masked_text_frame(std::string(300, 'y'));
    read_next();
    send_raw(cut.substr(0, 1));  // not even the header's first two bytes
    ioc_.run_for(100ms);
    send_raw(cut.substr(1, 2));
    ioc_.run_for(100ms);
    EXPECT_TRUE(reading) << "completed before the frame was whole";
    send_raw(cut.substr(3));
    EXPECT_TRUE(run_until([&] { return !reading; }));
    EXPECT_EQ(messages.back(), std::string(300, 'y'));

    send_raw(test::masked_text_frame("") + test::masked_text_frame("after"));
    EXPECT_EQ(next_message(), "");
    EXPECT_EQ(next_message(), "after");
    read_next();
    ioc_.run_for(50ms);
    EXPECT_TRUE(reading);
    EXPECT_EQ(server_->buffered_capacity(), 0U);
    EXPECT_EQ(reader.heap_bytes(), 0U) << "the last message was let go";
    server_->next_layer().close();
    EXPECT_TRUE(run_until([&] { return !reading; }));
}

// ---------------------------------------------------------------------------------------- session tickets

/// One connection of an Asio TLS client to a TlsSocketStream of `server_context`, offering `offered` (may be null):
/// whether the server resumed it, and the client's newest session afterwards (a reference for the caller).
struct Resumption {
    bool resumed{false};
    SSL_SESSION* session{nullptr};
};

Resumption connect_once(ssl::context& server_context, ssl::context& client_context, SSL_SESSION* offered) {
    net::io_context ioc;
    const auto work = net::make_work_guard(ioc);  // run_one_for() must not find the context out of work (stopped)
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    ssl::stream<tcp::socket> client(ioc, client_context);
    client.next_layer().connect(acceptor.local_endpoint());
    TlsSocketStream server(acceptor.accept(), server_context.native_handle(), boost::beast::role_type::server);
    if (offered != nullptr) {
        EXPECT_EQ(SSL_set_session(client.native_handle(), offered), 1);
    }
    const auto run_until = [&](const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            ioc.run_one_for(50ms);
        }
        return done();
    };
    std::optional<error_code> server_ec;
    std::optional<error_code> client_ec;
    server.async_handshake([&](error_code ec) { server_ec = ec; });
    client.async_handshake(ssl::stream_base::client, [&](error_code ec) { client_ec = ec; });
    EXPECT_TRUE(run_until([&] { return server_ec && client_ec; }));
    EXPECT_FALSE(server_ec.value_or(net::error::timed_out));
    EXPECT_FALSE(client_ec.value_or(net::error::timed_out));
    // A message after the handshake: the client reads the ticket(s) sent before it.
    std::optional<error_code> wrote;
    net::async_write(server, net::buffer("hello", 5), [&](error_code ec, std::size_t) { wrote = ec; });
    std::array<char, 5> into{};
    std::optional<error_code> read;
    net::async_read(client, net::buffer(into), [&](error_code ec, std::size_t) { read = ec; });
    EXPECT_TRUE(run_until([&] { return wrote && read; }));
    Resumption result;
    result.resumed = SSL_session_reused(server.native_handle()) == 1;
    EXPECT_EQ(result.resumed, SSL_session_reused(client.native_handle()) == 1) << "both ends agree";
    // A copy, as relink's client keeps it: SSL_free() of a connection closed without close_notify (as here) marks
    // the connection's own session not resumable.
    SSL_SESSION* latest = SSL_get1_session(client.native_handle());
    result.session = latest != nullptr ? SSL_SESSION_dup(latest) : nullptr;
    SSL_SESSION_free(latest);
    return result;
}

/// A server context with the certificate and, unless null, these ticket keys; the client context trusting it.
class TicketContexts {
public:
    TicketContexts() {
        const auto generated = generate_self_signed();
        EXPECT_TRUE(generated.pem) << generated.error;
        pem_ = generated.pem.value_or(CertificateAndKey{});
        client_.add_certificate_authority(net::buffer(pem_.certificate_pem));
        client_.set_verify_mode(ssl::verify_peer);
    }
    /// A fresh server context, as a freshly started relinkd would have.
    std::unique_ptr<ssl::context> server(const std::optional<TicketKeys>& keys) {
        auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
        context->use_certificate_chain(net::buffer(pem_.certificate_pem));
        context->use_private_key(net::buffer(pem_.private_key_pem), ssl::context::pem);
        SSL_CTX_set_num_tickets(context->native_handle(), 1);
        if (keys) {
            EXPECT_EQ(use_ticket_keys(context->native_handle(), *keys), "");
        }
        return context;
    }
    ssl::context& client() { return client_; }

private:
    CertificateAndKey pem_;
    ssl::context client_{ssl::context::tls_client};
};

TEST(TlsTickets, TicketKeysSurviveANewContextAndARotationButNotTheirLoss) {
    TicketContexts contexts;
    const auto old_keys = TicketKeys::generate();
    const auto new_keys = TicketKeys::generate();
    ASSERT_TRUE(old_keys && new_keys);
    const auto rotated = TicketKeys::parse(new_keys->serialize() + old_keys->serialize());  // new first, old kept
    ASSERT_TRUE(rotated);
    EXPECT_EQ(rotated->all().size(), 2U);
    std::vector<SSL_SESSION*> sessions;  // freed at the end

    auto first = contexts.server(old_keys);
    const auto full = connect_once(*first, contexts.client(), nullptr);
    sessions.push_back(full.session);
    EXPECT_FALSE(full.resumed);
    ASSERT_NE(full.session, nullptr);
    EXPECT_EQ(SSL_SESSION_is_resumable(full.session), 1) << "the server sent a ticket";

    // A restart: another context (another process) with the same keys opens the ticket.
    auto restarted = contexts.server(old_keys);
    const auto after_restart = connect_once(*restarted, contexts.client(), full.session);
    sessions.push_back(after_restart.session);
    EXPECT_TRUE(after_restart.resumed);

    // Rotated: the old key still opens tickets, and the new ticket is under the new key ...
    auto after_rotation = contexts.server(rotated);
    const auto rotated_resume = connect_once(*after_rotation, contexts.client(), after_restart.session);
    sessions.push_back(rotated_resume.session);
    EXPECT_TRUE(rotated_resume.resumed) << "the previous key is still accepted";
    // ... which a server that dropped the old key opens, while it refuses tickets under the old one.
    auto new_only = contexts.server(new_keys);
    const auto under_new = connect_once(*new_only, contexts.client(), rotated_resume.session);
    sessions.push_back(under_new.session);
    EXPECT_TRUE(under_new.resumed) << "the ticket issued after the rotation is under the new key";
    const auto under_old = connect_once(*new_only, contexts.client(), full.session);
    sessions.push_back(under_old.session);
    EXPECT_FALSE(under_old.resumed) << "a rotated-out key opens nothing: a full handshake";

    // Without the keys (OpenSSL's own random per-context keys): a full handshake, which still succeeds.
    auto without = contexts.server(std::nullopt);
    const auto no_keys = connect_once(*without, contexts.client(), full.session);
    sessions.push_back(no_keys.session);
    EXPECT_FALSE(no_keys.resumed);
    for (auto* session : sessions) {
        SSL_SESSION_free(session);
    }
}

TEST(TlsTickets, KeysReplacedOnARunningContextAsOnAReload) {
    // relinkd's SIGHUP installs the key file's keys again on the context that serves: the same context, with
    // handshakes going on, follows a rotation and then the old key's removal.
    TicketContexts contexts;
    const auto old_keys = TicketKeys::generate();
    const auto new_keys = TicketKeys::generate();
    ASSERT_TRUE(old_keys && new_keys);
    const auto rotated = TicketKeys::parse(new_keys->serialize() + old_keys->serialize());
    ASSERT_TRUE(rotated);
    std::vector<SSL_SESSION*> sessions;  // freed at the end

    auto context = contexts.server(old_keys);
    const auto full = connect_once(*context, contexts.client(), nullptr);
    sessions.push_back(full.session);
    ASSERT_NE(full.session, nullptr);

    EXPECT_EQ(use_ticket_keys(context->native_handle(), *rotated), "");  // reload: new key first, old kept
    const auto rotated_resume = connect_once(*context, contexts.client(), full.session);
    sessions.push_back(rotated_resume.session);
    EXPECT_TRUE(rotated_resume.resumed) << "the old key, kept second, still opens its tickets";

    EXPECT_EQ(use_ticket_keys(context->native_handle(), *new_keys), "");  // reload: the old key dropped
    const auto under_new = connect_once(*context, contexts.client(), rotated_resume.session);
    sessions.push_back(under_new.session);
    EXPECT_TRUE(under_new.resumed) << "the ticket issued after the rotation is under the new key";
    const auto under_old = connect_once(*context, contexts.client(), full.session);
    sessions.push_back(under_old.session);
    EXPECT_FALSE(under_old.resumed) << "the dropped key opens nothing: a full handshake";
    for (auto* session : sessions) {
        SSL_SESSION_free(session);
    }
}

TEST(TlsTickets, KeyFileBytesRoundTripAndBadSizesAreRefused) {
    const auto keys = TicketKeys::generate();
    ASSERT_TRUE(keys);
    const auto bytes = keys->serialize();
    EXPECT_EQ(bytes.size(), TicketKey::kBytes);
    const auto again = TicketKeys::parse(bytes);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->serialize(), bytes);
    std::size_t index = 99;
    EXPECT_EQ(again->find(keys->current().name.data(), index), &again->current());
    EXPECT_EQ(index, 0U);
    EXPECT_FALSE(TicketKeys::parse(""));
    EXPECT_FALSE(TicketKeys::parse(bytes.substr(0, 79)));
    EXPECT_FALSE(TicketKeys::parse(bytes + "x"));
    std::string nine;
    for (int i = 0; i < 9; ++i) {
        nine += bytes;
    }
    EXPECT_FALSE(TicketKeys::parse(nine)) << "at most 8 keys";
    EXPECT_TRUE(TicketKeys::parse(nine.substr(0, 8 * TicketKey::kBytes)));
}

// -------------------------------------------------------------------------------------------- client role

/// Runs `ioc` until `done` or 10 s have passed.
bool run_until(net::io_context& ioc, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        ioc.run_one_for(50ms);
    }
    return done();
}

/// Sets up `client` as relink's transport does: SNI (names only), the session to offer, and verification of the
/// chain and of `host`.
/// (127.0.0.1 or a name: the test certificate is for localhost, 127.0.0.1 and ::1.)
void configure_client(TlsSocketStream& client, const std::string& host, SSL_SESSION* offered = nullptr) {
    SSL* ssl = client.native_handle();
    ASSERT_NE(ssl, nullptr);
    if (host == "localhost") {
        EXPECT_EQ(
            SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str())), 1);
    }
    if (host == "127.0.0.1") {
        EXPECT_EQ(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()), 1);
    } else {
        EXPECT_EQ(SSL_set1_host(ssl, host.c_str()), 1);
    }
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    if (offered != nullptr) {
        EXPECT_EQ(SSL_set_session(ssl, offered), 1);
    }
}

/// Both ends relink's stream: the client role (relink::Client's) against the server role (relinkd's), the client
/// verifying the server's certificate (for localhost, 127.0.0.1 and ::1) against its CA.
class LeanPair : public ::testing::Test {
protected:
    void SetUp() override {
        const auto generated = generate_self_signed();
        ASSERT_TRUE(generated.pem) << generated.error;
        server_context_.use_certificate_chain(net::buffer(generated.pem->certificate_pem));
        server_context_.use_private_key(net::buffer(generated.pem->private_key_pem), ssl::context::pem);
        // Counts the records the server receives (one call per record header).
        SSL_CTX_set_msg_callback(server_context_.native_handle(),
                                 [](int write_p, int, int content_type, const void*, size_t, SSL*, void* arg) {
                                     if (write_p == 0 && content_type == SSL3_RT_HEADER) {
                                         ++*static_cast<int*>(arg);
                                     }
                                 });
        SSL_CTX_set_msg_callback_arg(server_context_.native_handle(), &records_received_);
        client_context_.add_certificate_authority(net::buffer(generated.pem->certificate_pem));
        connect();
    }

    void connect() {
        tcp::acceptor acceptor(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        tcp::socket socket(ioc_);
        socket.connect(acceptor.local_endpoint());
        client_ = std::make_unique<TlsSocketStream>(std::move(socket), client_context_.native_handle(),
                                                    boost::beast::role_type::client);
        server_ = std::make_unique<TlsSocketStream>(acceptor.accept(), server_context_.native_handle(),
                                                    boost::beast::role_type::server);
    }

    /// Both handshakes; the client's result.
    error_code handshake() {
        std::optional<error_code> server_ec;
        std::optional<error_code> client_ec;
        server_->async_handshake([&](error_code ec) { server_ec = ec; });
        client_->async_handshake([&](error_code ec) { client_ec = ec; });
        EXPECT_TRUE(run_until(ioc_, [&] { return server_ec && client_ec; }));
        return client_ec.value_or(net::error::timed_out);
    }

    /// Writes `data` from `from` and reads it whole at `to`.
    std::string transfer(TlsSocketStream& from, TlsSocketStream& to, const std::string& data) {
        std::string into(data.size(), '\0');
        std::optional<error_code> wrote;
        std::optional<error_code> read;
        net::async_write(from, net::buffer(data), [&](error_code ec, std::size_t) { wrote = ec; });
        net::async_read(to, net::buffer(into), [&](error_code ec, std::size_t) { read = ec; });
        EXPECT_TRUE(run_until(ioc_, [&] { return wrote && read; }));
        EXPECT_FALSE(wrote.value_or(net::error::timed_out));
        EXPECT_FALSE(read.value_or(net::error::timed_out));
        return into;
    }

    /// The result of one read_some on `stream`.
    error_code read_error(TlsSocketStream& stream) {
        std::array<char, 64> into{};
        std::optional<error_code> result;
        stream.async_read_some(net::buffer(into), [&](error_code ec, std::size_t) { result = ec; });
        EXPECT_TRUE(run_until(ioc_, [&] { return result.has_value(); }));
        return result.value_or(error_code{});
    }

    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(ioc_);
    ssl::context server_context_{ssl::context::tls_server};
    ssl::context client_context_{ssl::context::tls_client};
    std::unique_ptr<TlsSocketStream> client_;
    std::unique_ptr<TlsSocketStream> server_;
    int records_received_{0};
};

TEST_F(LeanPair, ClientRoleVerifiesSendsSniAndCarriesDataBothWaysHoldingNothingWhenIdle) {
    configure_client(*client_, "localhost");
    const auto ec = handshake();
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(SSL_is_server(client_->native_handle()), 0);
    EXPECT_EQ(SSL_is_server(server_->native_handle()), 1);
    EXPECT_EQ(SSL_get_verify_result(client_->native_handle()), X509_V_OK);
    const char* server_name = SSL_get_servername(server_->native_handle(), TLSEXT_NAMETYPE_host_name);
    EXPECT_STREQ(server_name, "localhost") << "the server saw the client's SNI";

    // A frame's header and payload from the client: one record.
    const std::string header = "\x81\x64";
    const auto payload = pattern(100, 'c');
    const std::array<net::const_buffer, 2> frame{net::buffer(header), net::buffer(payload)};
    const int records_before = records_received_;
    std::optional<error_code> wrote;
    client_->async_write_some(frame, [&](error_code write_ec, std::size_t) { wrote = write_ec; });
    std::string into(header.size() + payload.size(), '\0');
    std::optional<error_code> read;
    net::async_read(*server_, net::buffer(into), [&](error_code read_ec, std::size_t) { read = read_ec; });
    ASSERT_TRUE(run_until(ioc_, [&] { return wrote && read; }));
    EXPECT_FALSE(*wrote);
    EXPECT_EQ(into, header + payload);
    EXPECT_EQ(records_received_ - records_before, 1) << "a small frame's pieces are one TLS record";

    // Larger than a record both ways (the client also reads the session tickets first).
    const auto down = pattern(200 * 1024 + 1, 'd');
    EXPECT_EQ(transfer(*server_, *client_, down), down);
    const auto up = pattern(150 * 1024 + 5, 'u');
    EXPECT_EQ(transfer(*client_, *server_, up), up);

    EXPECT_EQ(client_->buffered_capacity(), 0U) << "an idle client stream keeps no ciphertext buffers";
    EXPECT_EQ(server_->buffered_capacity(), 0U);
}

TEST_F(LeanPair, ClientRoleRoundTripsNeverStall) {
    configure_client(*client_, "127.0.0.1");
    ASSERT_FALSE(handshake());
    PingPong pings{2000};
    pings.start(*client_, *server_);
    EXPECT_TRUE(run_until(ioc_, [&] { return pings.finished(); })) << pings.done << " rounds";
    EXPECT_FALSE(pings.failure) << pings.failure->message();
    EXPECT_EQ(client_->buffered_capacity(), 0U);
}

TEST_F(LeanPair, CloseNotifyEitherWayReadsEofAndACutReadsTruncated) {
    configure_client(*client_, "127.0.0.1");
    ASSERT_FALSE(handshake());
    EXPECT_EQ(transfer(*server_, *client_, "hello"), "hello");
    client_->shutdown_best_effort();  // the client's close_notify (as Beast's teardown sends it)
    EXPECT_EQ(read_error(*server_), net::error::eof);
    server_->shutdown_best_effort();
    EXPECT_EQ(read_error(*client_), net::error::eof);
    EXPECT_EQ(client_->buffered_capacity(), 0U);

    connect();  // a second connection, cut by the server without a close_notify
    configure_client(*client_, "127.0.0.1");
    ASSERT_FALSE(handshake());
    EXPECT_EQ(transfer(*server_, *client_, "hello"), "hello");
    server_->next_layer().close();
    EXPECT_EQ(read_error(*client_), ssl::error::stream_truncated);
}

TEST_F(LeanPair, ClientRoleRefusesAServerWithAnotherName) {
    configure_client(*client_, "relink.example");
    std::optional<error_code> server_ec;
    std::optional<error_code> client_ec;
    server_->async_handshake([&](error_code ec) { server_ec = ec; });
    client_->async_handshake([&](error_code ec) { client_ec = ec; });
    ASSERT_TRUE(run_until(ioc_, [&] { return server_ec && client_ec; }));
    ASSERT_TRUE(*client_ec);
    EXPECT_EQ(client_ec->category(), net::error::get_ssl_category()) << client_ec->message();
    EXPECT_EQ(SSL_get_verify_result(client_->native_handle()), X509_V_ERR_HOSTNAME_MISMATCH);
    EXPECT_TRUE(*server_ec) << "the client's alert ends the server's handshake too";
}

TEST_F(LeanPair, OwnerCloseAbortsAPendingClientHandshake) {
    // Nobody answers the ClientHello (the server side never starts): the owner's deadline closes the socket.
    configure_client(*client_, "127.0.0.1");
    std::optional<error_code> client_ec;
    client_->async_handshake([&](error_code ec) { client_ec = ec; });
    ioc_.poll();
    ASSERT_FALSE(client_ec.has_value()) << "the handshake waits for the server's answer";
    client_->next_layer().close();
    ASSERT_TRUE(run_until(ioc_, [&] { return client_ec.has_value(); }));
    EXPECT_EQ(*client_ec, net::error::operation_aborted);
    EXPECT_EQ(read_error(*client_), net::error::bad_descriptor);
}

TEST(TlsClientRole, HandshakesWithAsioServerAndCarriesData) {
    const auto generated = generate_self_signed();
    ASSERT_TRUE(generated.pem) << generated.error;
    ssl::context server_context(ssl::context::tls_server);
    server_context.use_certificate_chain(net::buffer(generated.pem->certificate_pem));
    server_context.use_private_key(net::buffer(generated.pem->private_key_pem), ssl::context::pem);
    ssl::context client_context(ssl::context::tls_client);
    client_context.add_certificate_authority(net::buffer(generated.pem->certificate_pem));
    net::io_context ioc;
    const auto work = net::make_work_guard(ioc);
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::socket socket(ioc);
    socket.connect(acceptor.local_endpoint());
    TlsSocketStream client(std::move(socket), client_context.native_handle(), boost::beast::role_type::client);
    ssl::stream<tcp::socket> server(acceptor.accept(), server_context);
    configure_client(client, "localhost");
    std::optional<error_code> server_ec;
    std::optional<error_code> client_ec;
    server.async_handshake(ssl::stream_base::server, [&](error_code ec) { server_ec = ec; });
    client.async_handshake([&](error_code ec) { client_ec = ec; });
    ASSERT_TRUE(run_until(ioc, [&] { return server_ec && client_ec; }));
    ASSERT_FALSE(*server_ec) << server_ec->message();
    ASSERT_FALSE(*client_ec) << client_ec->message();
    for (const std::size_t size : {std::size_t{5}, std::size_t{64 * 1024 + 3}}) {
        const auto up = pattern(size, 'u');
        const auto down = pattern(size, 'd');
        std::string server_got(size, '\0');
        std::string client_got(size, '\0');
        int done = 0;
        std::optional<error_code> failure;
        const auto check = [&](error_code ec, std::size_t) {
            if (ec) {
                failure = ec;
            }
            ++done;
        };
        net::async_write(client, net::buffer(up), check);
        net::async_read(server, net::buffer(server_got), check);
        net::async_write(server, net::buffer(down), check);
        net::async_read(client, net::buffer(client_got), check);
        ASSERT_TRUE(run_until(ioc, [&] { return done == 4; }));
        EXPECT_FALSE(failure) << failure->message();
        EXPECT_EQ(server_got, up);
        EXPECT_EQ(client_got, down);
    }
    EXPECT_EQ(client.buffered_capacity(), 0U);
}

/// One connection of relink's client role to relink's server role under `server_context`, offering `offered` (may
/// be null): whether both ends resumed it, and a copy of the client's newest session (the caller frees it).
Resumption connect_lean(ssl::context& server_context, ssl::context& client_context, SSL_SESSION* offered) {
    net::io_context ioc;
    const auto work = net::make_work_guard(ioc);
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::socket socket(ioc);
    socket.connect(acceptor.local_endpoint());
    TlsSocketStream client(std::move(socket), client_context.native_handle(), boost::beast::role_type::client);
    TlsSocketStream server(acceptor.accept(), server_context.native_handle(), boost::beast::role_type::server);
    configure_client(client, "127.0.0.1", offered);
    std::optional<error_code> server_ec;
    std::optional<error_code> client_ec;
    server.async_handshake([&](error_code ec) { server_ec = ec; });
    client.async_handshake([&](error_code ec) { client_ec = ec; });
    EXPECT_TRUE(run_until(ioc, [&] { return server_ec && client_ec; }));
    EXPECT_FALSE(server_ec.value_or(net::error::timed_out));
    EXPECT_FALSE(client_ec.value_or(net::error::timed_out));
    std::optional<error_code> wrote;
    net::async_write(server, net::buffer("hello", 5), [&](error_code ec, std::size_t) { wrote = ec; });
    std::array<char, 5> into{};
    std::optional<error_code> read;
    net::async_read(client, net::buffer(into), [&](error_code ec, std::size_t) { read = ec; });
    EXPECT_TRUE(run_until(ioc, [&] { return wrote && read; }));
    Resumption result;
    result.resumed = SSL_session_reused(client.native_handle()) == 1;
    EXPECT_EQ(result.resumed, SSL_session_reused(server.native_handle()) == 1) << "both ends agree";
    SSL_SESSION* latest = SSL_get1_session(client.native_handle());
    result.session = latest != nullptr ? SSL_SESSION_dup(latest) : nullptr;
    SSL_SESSION_free(latest);
    return result;
}

TEST(TlsClientRole, ResumesASessionUnderRelinkdsTicketKeys) {
    TicketContexts contexts;
    const auto keys = TicketKeys::generate();
    ASSERT_TRUE(keys);
    auto server = contexts.server(keys);
    const auto full = connect_lean(*server, contexts.client(), nullptr);
    ASSERT_NE(full.session, nullptr);
    EXPECT_FALSE(full.resumed);
    EXPECT_EQ(SSL_SESSION_is_resumable(full.session), 1) << "the client read the server's ticket";
    auto restarted = contexts.server(keys);
    const auto resumed = connect_lean(*restarted, contexts.client(), full.session);
    EXPECT_TRUE(resumed.resumed);
    auto other = contexts.server(TicketKeys::generate());
    const auto declined = connect_lean(*other, contexts.client(), full.session);
    EXPECT_FALSE(declined.resumed) << "another key: a full handshake, which still succeeds";
    for (auto* session : {full.session, resumed.session, declined.session}) {
        SSL_SESSION_free(session);
    }
}

}  // namespace
}  // namespace relink::server
