// bench/common/admin_metrics.cpp — GET /metrics from relinkd's admin API over one plain loopback connection
// (admin_metrics.hpp).
#include "admin_metrics.hpp"

#include <cstdlib>
#include <sstream>

#include "loopback.hpp"

namespace relink::bench {

std::map<std::string, double> read_metrics(std::uint16_t admin_port, const std::string& admin_secret) {
    std::map<std::string, double> out;
    if (admin_port == 0) {
        return out;
    }
    const std::string response =
        loopback_exchange(admin_port,
                          "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + admin_secret +
                              "\r\nConnection: close\r\n\r\n",
                          std::chrono::seconds(5), 8U << 20U);
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
