// support/connect_proxy.hpp — ConnectProxy: a minimal HTTP CONNECT proxy for relink's tests (Asio, own thread).
#pragma once

#include <array>
#include <cstdint>
#include <istream>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace relink::test {

/// A minimal HTTP CONNECT proxy on 127.0.0.1 with its own thread: answers `status` to every CONNECT and, for 200,
/// tunnels bytes to the requested IPv4 literal and port. Test support only (no keep-alive, no auth).
class ConnectProxy {
public:
    explicit ConnectProxy(int status)
        : status_(status),
          acceptor_(ioc_, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
        do_accept();
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~ConnectProxy() {
        boost::asio::post(ioc_, [this] { ioc_.stop(); });
        thread_.join();
    }
    ConnectProxy(const ConnectProxy&) = delete;
    ConnectProxy& operator=(const ConnectProxy&) = delete;

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    /// The request lines received so far.
    std::vector<std::string> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    struct Tunnel : std::enable_shared_from_this<Tunnel> {
        explicit Tunnel(boost::asio::ip::tcp::socket s) : client(std::move(s)), upstream(client.get_executor()) {}
        boost::asio::ip::tcp::socket client;
        boost::asio::ip::tcp::socket upstream;
        boost::asio::streambuf request;
        std::string answer;
        std::array<char, 16384> up{};
        std::array<char, 16384> down{};

        void relay(boost::asio::ip::tcp::socket& from, boost::asio::ip::tcp::socket& to,
                   std::array<char, 16384>& buffer) {
            from.async_read_some(boost::asio::buffer(buffer), [self = shared_from_this(), &from, &to, &buffer](
                                                                  boost::system::error_code ec, std::size_t n) {
                if (ec) {
                    boost::system::error_code ignored;
                    to.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
                    return;
                }
                boost::asio::async_write(to, boost::asio::buffer(buffer.data(), n),
                                         [self, &from, &to, &buffer](boost::system::error_code write_ec, std::size_t) {
                                             if (write_ec) {
                                                 boost::system::error_code ignored;
                                                 from.close(ignored);
                                                 return;
                                             }
                                             self->relay(from, to, buffer);
                                         });
            });
        }
    };

    void do_accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
            if (ec) {
                return;
            }
            auto tunnel = std::make_shared<Tunnel>(std::move(socket));
            boost::asio::async_read_until(tunnel->client, tunnel->request, "\r\n\r\n",
                                          [this, tunnel](boost::system::error_code read_ec, std::size_t) {
                                              if (!read_ec) {
                                                  on_request(tunnel);
                                              }
                                          });
            do_accept();
        });
    }

    void on_request(const std::shared_ptr<Tunnel>& tunnel) {
        std::istream in(&tunnel->request);
        std::string line;
        std::getline(in, line);
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(line);
        }
        static const std::regex kConnect(R"(CONNECT ([0-9.]+):(\d+) HTTP/1\.1)");
        std::smatch match;
        if (status_ != 200 || !std::regex_match(line, match, kConnect)) {
            tunnel->answer = "HTTP/1.1 " + std::to_string(status_ == 200 ? 400 : status_) +
                             " Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            boost::asio::async_write(tunnel->client, boost::asio::buffer(tunnel->answer),
                                     [tunnel](boost::system::error_code, std::size_t) {});
            return;
        }
        const boost::asio::ip::tcp::endpoint upstream(boost::asio::ip::make_address(match[1].str()),
                                                      static_cast<std::uint16_t>(std::stoi(match[2].str())));
        tunnel->upstream.async_connect(upstream, [tunnel](boost::system::error_code ec) {
            if (ec) {
                return;
            }
            tunnel->answer = "HTTP/1.1 200 Connection established\r\n\r\n";
            boost::asio::async_write(tunnel->client, boost::asio::buffer(tunnel->answer),
                                     [tunnel](boost::system::error_code write_ec, std::size_t) {
                                         if (!write_ec) {
                                             tunnel->relay(tunnel->client, tunnel->upstream, tunnel->up);
                                             tunnel->relay(tunnel->upstream, tunnel->client, tunnel->down);
                                         }
                                     });
        });
    }

    int status_;
    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::string> requests_;
};

}  // namespace relink::test
