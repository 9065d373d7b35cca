// support/plain_http_server.hpp — PlainHttpServer: a web server that is not relink, for the tests of what a client
// reports when its URL points at one (Asio, own thread).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace relink::test {

/// A plain HTTP server on 127.0.0.1 with its own thread that answers whatever arrives on a connection with
/// `HTTP/1.1 400 Bad Request` and closes it, as common web servers answer bytes that are not an HTTP request (a TLS
/// ClientHello) or a request they do not serve (a WebSocket upgrade to a path they do not know). Test support only.
class PlainHttpServer {
public:
    PlainHttpServer() : acceptor_(ioc_, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
        do_accept();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~PlainHttpServer() {
        boost::asio::post(ioc_, [this] { ioc_.stop(); });
        thread_.join();
    }
    PlainHttpServer(const PlainHttpServer&) = delete;
    PlainHttpServer& operator=(const PlainHttpServer&) = delete;

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
    struct Connection {
        explicit Connection(boost::asio::ip::tcp::socket s) : socket(std::move(s)) {}
        boost::asio::ip::tcp::socket socket;
        std::array<char, 4096> in{};
        std::string answer =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
            "Bad Request\n";
    };

    void do_accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
            if (ec) {
                return;
            }
            auto connection = std::make_shared<Connection>(std::move(socket));
            connection->socket.async_read_some(
                boost::asio::buffer(connection->in), [connection](boost::system::error_code read_ec, std::size_t) {
                    if (read_ec) {
                        return;
                    }
                    boost::asio::async_write(connection->socket, boost::asio::buffer(connection->answer),
                                             [connection](boost::system::error_code write_ec, std::size_t) {
                                                 if (write_ec) {
                                                     return;
                                                 }
                                                 boost::system::error_code ignored;
                                                 connection->socket.shutdown(
                                                     boost::asio::ip::tcp::socket::shutdown_send, ignored);
                                                 drain(connection);
                                             });
                });
            do_accept();
        });
    }

    /// Reads until the client closes: closing with unread bytes would reset the connection, and a reset can make
    /// the client lose the answer before it reads it.
    static void drain(const std::shared_ptr<Connection>& connection) {
        connection->socket.async_read_some(boost::asio::buffer(connection->in),
                                           [connection](boost::system::error_code ec, std::size_t) {
                                               if (!ec) {
                                                   drain(connection);
                                               }
                                           });
    }

    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::thread thread_;
};

}  // namespace relink::test
