// The OpenSSL half of TlsSocketStream (net/tls_socket_stream.hpp): the SSL object, its one BIO (the descriptor in,
// the out-buffer out), and how OpenSSL's verdicts become error codes.
#include "net/tls_socket_stream.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <new>

namespace relink::net {

/// One BIO for both directions, where a socket BIO to read and a custom BIO to write would be two (a BIO and its
/// lock are ~190 bytes for the connection's whole life, docs/benchmarks.md): it reads the descriptor as OpenSSL's
/// socket BIO does, and appends what OpenSSL writes to the stream's out-buffer. Its data is the stream (which cannot
/// move); a closed socket's descriptor is -1, so a read after the close reaches no descriptor the kernel reused.
template <class Socket>
struct BasicTlsSocketStream<Socket>::Bio {
    static int read(BIO* bio, char* data, std::size_t size, std::size_t* got) {
        BIO_clear_retry_flags(bio);
        auto* stream = static_cast<BasicTlsSocketStream*>(BIO_get_data(bio));
        const ssize_t n = ::recv(stream->socket_.native_handle(), data, size, 0);
        if (n > 0) {
            *got = static_cast<std::size_t>(n);
            return 1;
        }
        *got = 0;
        if (n == 0) {
            BIO_set_flags(bio, BIO_FLAGS_IN_EOF);  // OpenSSL tells a clean close from a cut with BIO_eof()
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            BIO_set_retry_read(bio);  // errno is left as recv set it: call_openssl reads it for SSL_ERROR_SYSCALL
        }
        return 0;
    }

    static int write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
        auto* stream = static_cast<BasicTlsSocketStream*>(BIO_get_data(bio));
        try {
            stream->out_.append(data, size);
        } catch (const std::bad_alloc&) {
            return 0;  // OpenSSL reports a write failure; never an exception through C
        }
        *written = size;
        return 1;
    }

    static long ctrl(BIO* bio, int command, long, void*) {
        switch (command) {
            case BIO_CTRL_FLUSH: return 1;  // OpenSSL flushes after each flight; the owner sends
            case BIO_CTRL_EOF: return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
            default: return 0;
        }
    }

    static int create(BIO* bio) {
        BIO_set_init(bio, 1);
        return 1;
    }

    static const BIO_METHOD* method() {
        static const BIO_METHOD* const made = [] {
            BIO_METHOD* created = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "relink socket");
            if (created != nullptr) {
                BIO_meth_set_read_ex(created, read);
                BIO_meth_set_write_ex(created, write);
                BIO_meth_set_ctrl(created, ctrl);
                BIO_meth_set_create(created, create);
            }
            return created;
        }();
        return made;
    }
};

template <class Socket>
BasicTlsSocketStream<Socket>::BasicTlsSocketStream(socket_type&& socket, SSL_CTX* context, boost::beast::role_type role)
    : socket_(std::move(socket)) {
    boost::beast::error_code ec;
    socket_.non_blocking(true, ec);  // OpenSSL's reads must never block an io thread
    const auto* method = Bio::method();
    if (ec || method == nullptr) {
        return;  // ssl_ stays null: every operation fails with not_enough_memory
    }
    ssl_ = SSL_new(context);
    BIO* bio = BIO_new(method);
    if (ssl_ == nullptr || bio == nullptr) {
        BIO_free(bio);
        SSL_free(ssl_);
        ssl_ = nullptr;
        return;
    }
    BIO_set_data(bio, this);
    SSL_set_bio(ssl_, bio, bio);  // the SSL object owns the BIO now (one reference for both directions)
    SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
    if (role == boost::beast::role_type::client) {
        SSL_set_connect_state(ssl_);
        // One recv per batch of records instead of two per record (header, then body): a client receives many
        // small records (every fan-out delivery is one). What OpenSSL reads ahead stays in its read buffer, and
        // every read op calls SSL_read before it waits on the socket, so none of it waits for a wake-up.
        SSL_set_read_ahead(ssl_, 1);
    } else {
        SSL_set_accept_state(ssl_);
    }
}

template <class Socket>
BasicTlsSocketStream<Socket>::~BasicTlsSocketStream() {
    SSL_free(ssl_);  // NOCLOSE: the descriptor belongs to socket_
}

template <class Socket>
bool BasicTlsSocketStream<Socket>::call_openssl(Kind kind, boost::asio::mutable_buffer into, Result& result,
                                                int& verdict) {
    if (ssl_ == nullptr) {
        verdict = SSL_ERROR_SSL;
        result.ec = boost::asio::error::no_memory;
        return false;
    }
    ERR_clear_error();
    int status = 0;
    std::size_t bytes = 0;
    if (kind == Kind::handshake) {
        status = SSL_do_handshake(ssl_);
    } else if (into.size() == 0) {
        status = 1;
    } else {
        status = SSL_read_ex(ssl_, into.data(), into.size(), &bytes);
    }
    if (status == 1) {
        result = {{}, bytes};
        return true;
    }
    verdict = SSL_get_error(ssl_, status);
    if (verdict == SSL_ERROR_SYSCALL && errno != 0 && ERR_peek_error() == 0) {
        result.ec = boost::beast::error_code(errno, boost::system::system_category());
        verdict = -errno;  // error_from() reads the errno back
    }
    return false;
}

template <class Socket>
boost::beast::error_code BasicTlsSocketStream<Socket>::encrypt(const void* data, std::size_t size) {
    if (size == 0) {
        return {};
    }
    if (ssl_ == nullptr) {
        return boost::asio::error::no_memory;
    }
    ERR_clear_error();
    std::size_t written = 0;
    // The out-BIO never asks to retry, so a write either takes everything or fails for good.
    if (SSL_write_ex(ssl_, data, size, &written) == 1 && written == size) {
        return {};
    }
    return error_from(SSL_get_error(ssl_, 0));
}

template <class Socket>
boost::beast::error_code BasicTlsSocketStream<Socket>::send_now() {
    if (!sending_.empty() || out_.empty()) {
        return {};  // a write op sends them, or nothing to send
    }
    boost::beast::error_code ec;
    const auto sent = socket_.send(boost::asio::buffer(out_), 0, ec);  // non-blocking: may send part
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        ec = {};
    }
    if (sent == out_.size()) {
        out_.clear();
        out_.shrink_to_fit();  // idle sessions keep no buffer
    } else {
        out_.erase(0, sent);
    }
    return ec;
}

template <class Socket>
boost::beast::error_code BasicTlsSocketStream<Socket>::error_from(int verdict) {
    if (verdict < 0) {
        return {-verdict, boost::system::system_category()};
    }
    switch (verdict) {
        case SSL_ERROR_ZERO_RETURN: return boost::asio::error::eof;  // the peer's close_notify
        case SSL_ERROR_SYSCALL: return boost::asio::ssl::error::stream_truncated;
        default: break;
    }
    const unsigned long reason = ERR_get_error();
    ERR_clear_error();
    if (reason == 0) {
        return boost::asio::ssl::error::stream_truncated;
    }
    if (ERR_GET_REASON(reason) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return boost::asio::ssl::error::stream_truncated;  // the TCP stream ended without a close_notify
    }
    return {static_cast<int>(reason), boost::asio::error::get_ssl_category()};
}

template <class Socket>
void BasicTlsSocketStream<Socket>::shutdown_best_effort() noexcept {
    if (ssl_ == nullptr || !socket_.is_open()) {
        return;
    }
    ERR_clear_error();
    if (SSL_is_init_finished(ssl_) == 1) {
        SSL_shutdown(ssl_);
    }
    ERR_clear_error();
    // Only what is not already being sent by a write op (which would interleave).
    if (sending_.empty() && !out_.empty()) {
        boost::beast::error_code ignored;
        const auto sent = socket_.send(boost::asio::buffer(out_), 0, ignored);  // non-blocking: may send part
        out_.erase(0, sent);
    }
    out_.clear();
    out_.shrink_to_fit();
}

template class BasicTlsSocketStream<boost::asio::ip::tcp::socket>;
template class BasicTlsSocketStream<StrandTlsSocketStream::socket_type>;

}  // namespace relink::net
