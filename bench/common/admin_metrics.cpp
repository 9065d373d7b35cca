// bench/common/admin_metrics.cpp — GET /metrics from relinkd's admin API over one plain loopback connection
// (admin_metrics.hpp). Plain POSIX: no Asio, so it compiles fast.
#include "admin_metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

namespace relink::bench {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::map<std::string, double> read_metrics(std::uint16_t admin_port, const std::string& admin_secret) {
    std::map<std::string, double> out;
    if (admin_port == 0) {
        return out;
    }
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return out;
    }
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(admin_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                                    admin_secret + "\r\nConnection: close\r\n\r\n";
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
            const auto deadline = Clock::now() + 5s;
            char chunk[8192];
            while (Clock::now() < deadline && response.size() < (8U << 20U)) {
                const auto n = ::recv(fd, chunk, sizeof chunk, 0);
                if (n <= 0) {
                    break;
                }
                response.append(chunk, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    const auto body_at = response.find("\r\n\r\n");
    if (body_at == std::string::npos) {
        return out;
    }
    std::istringstream body(response.substr(body_at + 4));
    for (std::string line; std::getline(body, line);) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto space = line.rfind(' ');
        if (space == std::string::npos) {
            continue;
        }
        char* end = nullptr;
        const double v = std::strtod(line.c_str() + space + 1, &end);
        if (end != line.c_str() + space + 1) {
            out[line.substr(0, space)] = v;
        }
    }
    return out;
}

}  // namespace relink::bench
