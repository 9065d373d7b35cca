// protocol/codec.hpp — the wire encoding of relink's messages: one JSON object per WebSocket text frame.
//
// Both ends use this one codec (client and server cannot drift apart). Decoding is total: any bytes yield either a
// message or a DecodeError with a clear text — never an exception escaping, never undefined behaviour. When a
// malformed request still names a usable request id, the error carries it, so that the server can answer that
// request with an error instead of closing the connection. docs/protocol.md specifies the format.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/messages.hpp"

namespace relink::proto {

/// The largest frame either end accepts: a 32 KiB payload, JSON-escaped (up to 6 bytes per byte for control
/// characters), plus the envelope.
inline constexpr std::size_t kMaxFrameBytes = 6 * kMaxPayloadBytes + 4096;

struct DecodeError {
    std::error_code code;                 ///< errc::protocol_error, or errc::payload_too_large
    std::string detail;                   ///< what was wrong, for logs and the error reply; never the payload
    std::optional<RequestId> request_id;  ///< set when the frame was a request whose id could be read
};

template <class T>
struct Decoded {
    std::optional<T> message;
    DecodeError error;  ///< meaningful only when !message
    explicit operator bool() const noexcept { return message.has_value(); }
};

[[nodiscard]] std::string encode(const ClientMessage& message);
[[nodiscard]] std::string encode(const ServerMessage& message);

[[nodiscard]] Decoded<ClientMessage> decode_client(std::string_view frame);
[[nodiscard]] Decoded<ServerMessage> decode_server(std::string_view frame);

/// The message's type name on the wire ("login", "join_ok", ...), for logs and metrics.
[[nodiscard]] std::string_view type_name(const ClientMessage& message) noexcept;
[[nodiscard]] std::string_view type_name(const ServerMessage& message) noexcept;

}  // namespace relink::proto
