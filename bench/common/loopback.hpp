// bench/common/loopback.hpp — one request and its reply over a plain TCP connection to 127.0.0.1, every step
// bounded: how the benchmarks read relinkd's admin /metrics and Redis's INFO without an HTTP or Redis client.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace relink::bench {

/// Connects to 127.0.0.1:`port`, sends `request` and reads until the peer closes, `done(reply so far)` holds,
/// `max_bytes` were read or `timeout` passed. Returns what was read; empty when the connect or the send failed.
std::string loopback_exchange(std::uint16_t port, const std::string& request, std::chrono::seconds timeout,
                              std::size_t max_bytes, const std::function<bool(const std::string&)>& done = {});

}  // namespace relink::bench
