// bench/common/listening_line.cpp — relinkd's listening line (listening_line.hpp).
#include "listening_line.hpp"

#include <nlohmann/json.hpp>

namespace relink::bench {

bool is_listening_line(const std::string& line) {
    return line.find("\"event\":\"listening\"") != std::string::npos;
}

std::optional<ListeningPorts> parse_listening_line(const std::string& line) {
    const auto port_of = [](const std::string& url) {
        return static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
    };
    try {
        const auto j = nlohmann::json::parse(line);
        ListeningPorts ports;
        ports.port = port_of(j.at("url").get<std::string>());
        if (j.contains("admin")) {
            ports.admin_port = port_of(j.at("admin").get<std::string>());
        }
        return ports;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace relink::bench
