// net/tls_socket_stream.hpp — TlsSocketStream: a TLS stream for Beast that keeps no buffers while idle, for either
// end of a connection: relinkd's sessions (server role, StrandTlsSocketStream: the same over a socket whose executor
// type is its strand's, 32 bytes smaller) and relink::Client's transport (client role).
//
// Why not asio::ssl::stream: it holds four 17 KiB buffers per connection for its whole life (two engine buffers
// and OpenSSL's BIO pair), ~68 KiB of the ~82 KiB an idle relinkd session cost, and as much in every client
// connection. Here OpenSSL reads the socket's descriptor itself and writes its records into a string that grows
// only while there is something to send, both through one small custom BIO; with SSL_MODE_RELEASE_BUFFERS,
// OpenSSL drops its own record buffers when idle. An idle connection then holds only the SSL object.
//
// The role is fixed at construction: the server side accepts (SSL_set_accept_state), the client side connects
// (SSL_set_connect_state). Everything a client sets before its handshake — SNI, the session to offer, the verify
// mode and callback, ex-data — goes on native_handle() between construction and async_handshake(). Private to
// relink's own targets (the client library and relinkd): no public header includes it.
//
// How it waits, without lost wake-ups:
// - Reading: SSL_read on the non-blocking descriptor; on WANT_READ, a 1-byte MSG_PEEK receive through Asio. Asio
//   tries that receive at once and only then queues it, under its reactor lock, so data that arrives between the
//   SSL_read and the wait is never missed (a bare async_wait could miss the edge). A read that follows one which
//   emptied OpenSSL's buffers starts with that receive (the SSL_read would only find the socket empty). The client
//   role reads ahead (one recv per batch of records, kept in OpenSSL's buffer, which every read drains first).
// - A failed handshake sends its alert (why it failed) before it completes.
// - Writing: ciphertext goes out with asio::async_write, like any socket write. A read may add records to the
//   out-buffer while a write is in flight (a TLS 1.3 KeyUpdate answer, an alert): the write op sends from a
//   second buffer it swapped out, and sends what was added before it completes.
// - Several buffers of one write (Beast's frame header + payload) are encrypted as one TLS record when they fit.
//
// Rules: one read and one write op at a time (Beast's websocket::stream guarantees it), all on the stream's
// executor (a strand, which other streams may share). After the socket is closed no OpenSSL call reaches the
// descriptor, whose number the kernel may already have given to another connection. The socket must not hold bytes read
// past anything that came before TLS (a proxy's answer): OpenSSL reads the descriptor, so such bytes would be lost. A
// handshake deadline is the owner's business (close the socket).
#pragma once

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace relink::net {

/// `Socket`: a TCP socket type, tcp::socket (any executor) or one whose executor type is its strand's
/// (StrandTlsSocketStream: relinkd's connections, whose sockets are 32 bytes smaller).
template <class Socket>
class BasicTlsSocketStream {
public:
    using socket_type = Socket;
    using executor_type = typename socket_type::executor_type;
    using next_layer_type = socket_type;

    /// Takes the connected socket; TLS runs as `role` (client: connects, server: accepts) with the context's
    /// settings. If OpenSSL cannot make the SSL object, native_handle() is null and every operation fails.
    BasicTlsSocketStream(socket_type&& socket, SSL_CTX* context, boost::beast::role_type role);
    ~BasicTlsSocketStream();
    BasicTlsSocketStream(const BasicTlsSocketStream&) = delete;
    BasicTlsSocketStream& operator=(const BasicTlsSocketStream&) = delete;
    BasicTlsSocketStream(BasicTlsSocketStream&&) = delete;
    BasicTlsSocketStream& operator=(BasicTlsSocketStream&&) = delete;

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    socket_type& next_layer() noexcept { return socket_; }
    SSL* native_handle() noexcept { return ssl_; }

    /// Heap bytes held by this stream's own buffers (0 when idle); for tests and benchmarks.
    std::size_t buffered_capacity() const noexcept { return heap_bytes(out_) + heap_bytes(sending_); }

    /// The handshake, as the role given at construction. Completion: void(error_code).
    template <class Handler>
    auto async_handshake(Handler&& handler) {
        return run_op(Kind::handshake, {}, {},
                      [h = std::forward<Handler>(handler)](boost::beast::error_code ec, std::size_t) mutable {
                          std::move(h)(ec);
                      });
    }

    /// Reads at most one TLS record's worth of plaintext into the first non-empty buffer.
    template <class MutableBuffers, class Handler>
    auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
        return run_op(Kind::read, first_buffer(buffers), {}, std::forward<Handler>(handler));
    }

    /// Encrypts all of `buffers` and completes when the records have been handed to the kernel.
    template <class ConstBuffers, class Handler>
    auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
        std::size_t total = 0;
        const auto ec = encrypt_buffers(buffers, total);
        return run_op(Kind::write, {}, {ec, ec ? 0 : total}, std::forward<Handler>(handler));
    }

    // ---- writing without an operation (relinkd's sessions frame their own WebSocket messages) ----
    //
    // A writer on the stream's strand may encrypt at once and hand the records to the kernel in the same call,
    // which costs no operation, handler or wake-up when the socket takes them (the usual case). Records keep the
    // order of the calls that encrypted them, whoever made them (a write op's, a read's, these), and only one send
    // is ever in flight: records encrypted while an op sends go out with that op.

    /// Encrypts all of `buffers` (one record when they fit in 16 KiB) behind what is already pending.
    template <class ConstBuffers>
    boost::beast::error_code encrypt_now(const ConstBuffers& buffers) {
        std::size_t total = 0;
        return encrypt_buffers(buffers, total);
    }

    /// Sends what is pending, as far as the socket takes it without waiting, unless a write op is sending (it sends
    /// these records too). A failure of the socket is returned; a full socket is not a failure.
    boost::beast::error_code send_now();

    /// Encrypted bytes not yet handed to the kernel (a reader that does not read keeps them here).
    [[nodiscard]] std::size_t unsent_bytes() const noexcept { return out_.size() + sending_.size(); }

    /// Completes when every pending record has been handed to the kernel (or is being sent by another write op,
    /// which completes once they are). Completion: void(error_code, std::size_t = 0).
    template <class Handler>
    auto async_flush(Handler&& handler) {
        return run_op(Kind::write, {}, {}, std::forward<Handler>(handler));
    }

    /// Queues a close_notify and tries to send what is pending without blocking (best effort, for a close).
    void shutdown_best_effort() noexcept;

private:
    static constexpr std::size_t kCoalesceBytes = 16 * 1024;

    enum class Kind { handshake, read, write };

    struct Result {
        boost::beast::error_code ec;
        std::size_t bytes{0};
    };

    /// Encrypts `buffers` into the out-buffer; `total` is their size. Several pieces that fit in 16 KiB are one
    /// record instead of one each (Beast passes a frame's header and payload separately).
    template <class ConstBuffers>
    boost::beast::error_code encrypt_buffers(const ConstBuffers& buffers, std::size_t& total) {
        total = 0;
        std::size_t pieces = 0;
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
             ++it) {
            const boost::asio::const_buffer piece(*it);
            total += piece.size();
            pieces += piece.size() != 0 ? 1 : 0;
        }
        boost::beast::error_code ec;
        if (!socket_.is_open()) {
            ec = boost::asio::error::bad_descriptor;
        } else if (pieces > 1 && total <= kCoalesceBytes) {
            std::array<char, kCoalesceBytes> plain;  // NOLINT(cppcoreguidelines-pro-type-member-init): filled below
            boost::asio::buffer_copy(boost::asio::buffer(plain), buffers);
            ec = encrypt(plain.data(), total);
        } else {
            for (auto it = boost::asio::buffer_sequence_begin(buffers);
                 !ec && it != boost::asio::buffer_sequence_end(buffers); ++it) {
                const boost::asio::const_buffer piece(*it);
                ec = encrypt(piece.data(), piece.size());
            }
        }
        return ec;
    }

    static std::size_t heap_bytes(const std::string& s) noexcept {
        return s.capacity() > std::string().capacity() ? s.capacity() : 0;  // not the small-string buffer
    }

    template <class Buffers>
    static boost::asio::mutable_buffer first_buffer(const Buffers& buffers) {
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
             ++it) {
            if (boost::asio::mutable_buffer piece(*it); piece.size() != 0) {
                return piece;
            }
        }
        return {};
    }

    /// The composed operation: an OpenSSL call, then waits on the socket and sends of the out-buffer, until done.
    /// `write_result` is the outcome of the encryption a write op already did (it only has to send).
    template <class Handler>
    auto run_op(Kind kind, boost::asio::mutable_buffer into, Result write_result, Handler&& handler);

    enum class Step { call, wait_readable, send, deliver };

    /// One OpenSSL call for the op's kind: 1 done, otherwise SSL_get_error's verdict in `verdict`.
    bool call_openssl(Kind kind, boost::asio::mutable_buffer into, Result& result, int& verdict);
    boost::beast::error_code encrypt(const void* data, std::size_t size);
    static boost::beast::error_code error_from(int verdict);

    /// The connection's one BIO (tls_socket_stream.cpp), whose data is this stream: it reads the socket's
    /// descriptor and appends to out_ (nothing kept beside them: a pointer and a descriptor less per connection).
    struct Bio;

    socket_type socket_;
    SSL* ssl_{nullptr};
    std::string out_;      ///< records OpenSSL wrote that no send has taken yet
    std::string sending_;  ///< records the write op's async_write is sending
    std::array<char, 1> peek_{};
    /// The last read emptied OpenSSL's buffers: the next read waits on the socket first instead of calling
    /// SSL_read, whose recv would find it empty (one system call per received record saved).
    bool drained_{false};
};

template <class Socket>
template <class Handler>
auto BasicTlsSocketStream<Socket>::run_op(Kind kind, boost::asio::mutable_buffer into, Result write_result,
                                          Handler&& handler) {
    namespace net = boost::asio;
    using boost::beast::error_code;
    return net::async_compose<Handler, void(error_code, std::size_t)>(
        [this, kind, into, result = write_result, step = kind == Kind::write ? Step::send : Step::call,
         initiating = true, saw_eof = false, skip_call = kind == Kind::read && std::exchange(drained_, false)](
            auto& self, error_code ec = {}, std::size_t = 0) mutable {
            const bool first = std::exchange(initiating, false);
            // Completes, posting first when still inside the initiating call (Asio's rule: never complete inline).
            auto finish = [&](error_code final_ec, std::size_t bytes) {
                result = {final_ec, bytes};
                if (first) {
                    step = Step::deliver;
                    return net::post(boost::beast::bind_front_handler(std::move(self), error_code{}, 0));
                }
                self.complete(final_ec, bytes);
            };
            if (!first) {  // what the awaited operation reported
                if (step == Step::deliver) {
                    return self.complete(result.ec, result.bytes);
                }
                if (step == Step::wait_readable) {
                    if (ec == net::error::eof) {
                        saw_eof = true;  // let OpenSSL see the end itself: it tells a clean close from a cut
                    } else if (ec) {
                        return finish(ec, 0);
                    }
                    step = Step::call;
                } else if (step == Step::send) {
                    sending_.clear();
                    sending_.shrink_to_fit();
                    if (ec) {
                        // A failed handshake's alert that could not go out: the handshake's error says more.
                        return finish(kind == Kind::handshake && result.ec ? result.ec : ec, 0);
                    }
                }
            }
            for (;;) {
                if (step == Step::send) {
                    if (kind == Kind::write && result.ec) {
                        return finish(result.ec, 0);
                    }
                    if (!out_.empty() && !sending_.empty()) {
                        // Another write op is sending (a flush beside Beast's own write): it sends these records
                        // before it completes, and two sends at once would interleave.
                        return finish({}, kind == Kind::write ? result.bytes : 0);
                    }
                    if (!out_.empty()) {
                        sending_.swap(out_);
                        return net::async_write(socket_, net::buffer(sending_), std::move(self));
                    }
                    if (kind == Kind::handshake && result.ec) {
                        return finish(result.ec, 0);  // its alert went out
                    }
                    if (kind == Kind::handshake && SSL_is_init_finished(ssl_) == 0) {
                        step = Step::call;  // a flight went out: read the answer
                        continue;
                    }
                    return finish({}, kind == Kind::write ? result.bytes : 0);
                }
                // Step::call
                if (!socket_.is_open()) {
                    return finish(net::error::bad_descriptor, 0);
                }
                if (std::exchange(skip_call, false)) {
                    step = Step::wait_readable;  // an SSL_read now would only find the socket empty
                    return socket_.async_receive(net::buffer(peek_), net::socket_base::message_peek, std::move(self));
                }
                int verdict = SSL_ERROR_NONE;
                if (call_openssl(kind, into, result, verdict)) {
                    if (kind == Kind::read) {
                        drained_ = result.bytes != 0 && SSL_has_pending(ssl_) == 0 &&
                                   (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) == 0;
                        return finish(result.ec, result.bytes);
                    }
                    step = Step::send;  // the handshake's last flight (Finished, session tickets)
                    continue;
                }
                if (verdict != SSL_ERROR_WANT_READ) {
                    if (kind == Kind::handshake && !out_.empty() && socket_.is_open()) {
                        // The alert that says why (a client refusing the server's certificate, a server refusing
                        // the hello) goes out before the handshake completes, as asio::ssl::stream sends it.
                        result.ec = error_from(verdict);
                        step = Step::send;
                        continue;
                    }
                    return finish(error_from(verdict), 0);
                }
                if (saw_eof) {
                    return finish(net::error::eof, 0);
                }
                // A handshake flight goes out before waiting for the answer; a read leaves what it produced (an
                // alert, a KeyUpdate answer) for the next write, which sends it before its own records.
                if (kind == Kind::handshake && !out_.empty()) {
                    step = Step::send;
                    continue;
                }
                step = Step::wait_readable;
                return socket_.async_receive(net::buffer(peek_), net::socket_base::message_peek, std::move(self));
            }
        },
        handler, socket_);
}

/// relink::Client's transport: a socket with any executor.
using TlsSocketStream = BasicTlsSocketStream<boost::asio::ip::tcp::socket>;
/// A socket whose executor type is its strand's: 24 bytes where any_io_executor takes 56 (relinkd's connections).
using StrandTlsSocketStream = BasicTlsSocketStream<
    boost::asio::ip::tcp::socket::rebind_executor<boost::asio::strand<boost::asio::io_context::executor_type>>::other>;
// Both are compiled once, in tls_socket_stream.cpp.
extern template class BasicTlsSocketStream<boost::asio::ip::tcp::socket>;
extern template class BasicTlsSocketStream<StrandTlsSocketStream::socket_type>;

/// Beast's WebSocket close: a best-effort close_notify, then the TCP teardown.
template <class Socket, class TeardownHandler>
void async_teardown(boost::beast::role_type role, BasicTlsSocketStream<Socket>& stream, TeardownHandler&& handler) {
    stream.shutdown_best_effort();
    boost::beast::websocket::async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
}

template <class Socket>
void teardown(boost::beast::role_type role, BasicTlsSocketStream<Socket>& stream, boost::beast::error_code& ec) {
    stream.shutdown_best_effort();
    boost::beast::websocket::teardown(role, stream.next_layer(), ec);
}

}  // namespace relink::net
