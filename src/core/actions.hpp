// core/actions.hpp — the vocabulary the client core shares with its driver and its parts: the core's notion of time,
// transport ids, and the actions (open a transport, send a message on it, close it) the driver performs.
//
// Its own header so that the parts of the core (core/link.hpp, core/session_content.hpp) and the facade
// (core/client_core.hpp) name the same types without including each other.
#pragma once

#include <chrono>
#include <cstdint>
#include <variant>

#include "protocol/messages.hpp"
#include "relink/timings.hpp"

namespace relink::core {

/// The core's notion of time: any monotonic clock with nanosecond ticks; tests start at TimePoint{}.
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;
using TransportId = std::uint64_t;

struct OpenTransport {
    TransportId transport{0};
    std::uint32_t attempt{0};  ///< 1 for the first attempt of a login or of an outage
    /// A second connection opened while the current one stays in use (a handover after a network change,
    /// docs/protocol.md "Handover"): a driver that knows which network is new opens it there. The current one is
    /// left open until a CloseTransport names it.
    bool standby{false};
};
struct SendFrame {
    TransportId transport{0};
    proto::ClientMessage message;
};
struct CloseTransport {
    TransportId transport{0};
};
using Action = std::variant<OpenTransport, SendFrame, CloseTransport>;

}  // namespace relink::core
