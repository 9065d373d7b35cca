// bench/common/listening_line.hpp — the one line relinkd prints on stdout once it listens,
// {"event":"listening","url":"wss://127.0.0.1:PORT/","admin":"http://127.0.0.1:PORT/"}, as the benchmarks that start
// relinkd read it: the ports it chose.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace relink::bench {

/// The ports of a listening line.
struct ListeningPorts {
    std::uint16_t port{0};
    std::uint16_t admin_port{0};  ///< 0 when relinkd runs without an admin API
};

/// True when `line` is relinkd's listening line (a wrapper such as heaptrack may print other lines first).
bool is_listening_line(const std::string& line);
/// The ports of a listening line; nullopt when `line` is not one or its URLs carry no port.
std::optional<ListeningPorts> parse_listening_line(const std::string& line);

}  // namespace relink::bench
