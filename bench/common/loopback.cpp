// bench/common/loopback.cpp — one bounded request / reply on loopback (loopback.hpp).
#include "loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace relink::bench {

std::string loopback_exchange(std::uint16_t port, const std::string& request, std::chrono::seconds timeout,
                              std::size_t max_bytes, const std::function<bool(const std::string&)>& done) {
    std::string reply;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return reply;
    }
    timeval tv{static_cast<time_t>(timeout.count()), 0};  // every connect, send and recv is bounded too
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        char chunk[8192];
        while (std::chrono::steady_clock::now() < deadline && reply.size() < max_bytes) {
            const auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) {
                break;
            }
            reply.append(chunk, static_cast<std::size_t>(n));
            if (done && done(reply)) {
                break;
            }
        }
    }
    ::close(fd);
    return reply;
}

}  // namespace relink::bench
