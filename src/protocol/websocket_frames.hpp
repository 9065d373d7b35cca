// protocol/websocket_frames.hpp — relinkd's WebSocket framing after the upgrade, server side, sans-IO (RFC 6455
// section 5): the headers and close frames relinkd writes, and WsFrameReader, which reads a client's frames.
//
// Why relinkd frames its own WebSocket: an idle session is most of what a server holds, and Beast's
// websocket::stream keeps ~2.7 KB per connection (a fixed 1,536-byte frame buffer among it) whether or not anything
// arrives. Here the reader's whole state is a few dozen bytes inside the session (the frame header has at most 14
// bytes); it tells its caller where the next bytes go (space()) so that a transport reads straight into the header
// or the message and nothing is read past the current frame, and it holds heap memory only while a message or a
// control frame is being read. Beast still does the HTTP upgrade (server/listener.cpp).
//
// What the reader enforces (a broken rule ends in an error event naming the close code to fail the connection
// with, the same codes Beast sent): every client frame is masked, reserved bits are clear, the opcode is text,
// binary, continuation, close, ping or pong, a continuation continues a message and a new message does not start
// inside one, control frames are final and at most 125 bytes, lengths use their shortest form (all 1002); a message
// larger than the reader's maximum (its frames' lengths added up, checked at each header before anything is read
// or allocated) is 1009; a text message that is not well-formed UTF-8 is 1007; a close frame's payload is empty or
// a valid code with a UTF-8 reason (else 1002). Control frames may come between the fragments of a message.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace relink::proto {

enum class WsOpcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

/// The close codes relinkd uses (RFC 6455 section 7.4.1).
namespace ws_close {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t bad_payload = 1007;  ///< a text message that is not UTF-8
inline constexpr std::uint16_t policy_error = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace ws_close

/// A server's frame header: 2 bytes, plus 2 or 8 for the length; never a mask.
inline constexpr std::size_t kMaxWsServerHeaderBytes = 10;
/// A client's frame header: 2 bytes, 2 or 8 for the length, 4 for the mask.
inline constexpr std::size_t kMaxWsClientHeaderBytes = 14;
/// A control frame's payload (ping, pong, close) is at most this long.
inline constexpr std::size_t kMaxWsControlPayloadBytes = 125;

using WsServerHeader = std::array<unsigned char, kMaxWsServerHeaderBytes>;

/// Writes the header of an unmasked, final frame of `size` payload bytes into `header`; returns its length.
std::size_t ws_frame_header(WsOpcode opcode, std::size_t size, WsServerHeader& header) noexcept;

/// A whole close frame from the server: `code` (none when 0) and `reason`, cut to what a control frame can hold
/// (at a UTF-8 character boundary).
std::string ws_close_frame(std::uint16_t code, std::string_view reason);

/// Whether a close frame may carry `code` (RFC 6455 section 7.4: not 1004-1006, 1015, nor other reserved ranges).
bool is_valid_ws_close_code(std::uint16_t code) noexcept;

/// What a WsFrameReader read. Its views stay valid until the reader's next call.
struct WsEvent {
    enum class Kind : std::uint8_t {
        none,     ///< more bytes are needed
        message,  ///< a whole message: `payload`, `text` or binary
        ping,     ///< `payload` (to answer with a pong of the same payload)
        pong,     ///< `payload`
        close,    ///< the client's close frame: `code` (0 when it named none) and `reason`
        error,    ///< the connection must be failed with close code `code`; `reason` says why (fixed words)
    };
    Kind kind{Kind::none};
    bool text{false};
    std::uint16_t code{0};
    std::string_view payload;
    std::string_view reason;
};

/// Reads the frames a client sends, from bytes given in any pieces. After an error event it reads nothing more.
class WsFrameReader {
public:
    /// Where the next bytes go.
    struct Space {
        unsigned char* data{nullptr};
        std::size_t size{0};
    };

    /// `max_message_bytes`: the largest message accepted (larger is a 1009 error); at most 4 GiB - 1 (above, that).
    explicit WsFrameReader(std::size_t max_message_bytes) noexcept
        : max_message_(static_cast<std::uint32_t>(
              std::min<std::size_t>(max_message_bytes, std::numeric_limits<std::uint32_t>::max()))) {}

    /// Room for the next bytes: the rest of the current frame's header (inside the reader) or of its payload (in
    /// the message being read); never past the current frame, so a transport that reads into it reads no byte of
    /// the next frame. Empty only after an error.
    Space space();

    /// `bytes` (at most space().size) were written at space().data: reads them; returns what they completed.
    WsEvent commit(std::size_t bytes);

    /// Reads from `bytes` (copied through space()), up to the end of the first event, and removes what it read
    /// from `bytes`: call again with what is left for the events after it.
    WsEvent feed(std::string_view& bytes);

    /// Between frames, no message begun: the reader holds no heap memory.
    [[nodiscard]] bool idle() const noexcept { return state_ == State::header && have_ == 0 && !in_message_; }

    /// Heap bytes held (the message being read, or the control payload): 0 whenever idle().
    [[nodiscard]] std::size_t heap_bytes() const noexcept;

private:
    enum class State : std::uint8_t { header, payload, failed };

    void settle() noexcept;
    WsEvent header_read();
    WsEvent frame_done();
    WsEvent fail(std::uint16_t code, std::string_view why) noexcept;
    void next_frame() noexcept;

    std::string message_;          ///< the message read so far (filled_ bytes), then the control frame's payload
    std::uint64_t filled_{0};      ///< message bytes read, from every fragment so far
    std::uint64_t remaining_{0};   ///< payload bytes of the current frame not read yet
    std::uint64_t frame_read_{0};  ///< payload bytes of the current frame read
    std::array<unsigned char, kMaxWsClientHeaderBytes> header_{};
    std::array<unsigned char, 4> mask_{};
    std::uint8_t have_{0};  ///< header bytes read
    std::uint8_t need_{2};  ///< header bytes needed (2 until the first two tell the rest)
    State state_{State::header};
    WsOpcode opcode_{WsOpcode::continuation};  ///< the current frame's
    bool fin_{false};
    bool in_message_{false};    ///< a data frame began a message that is not complete
    bool message_text_{false};  ///< that message is text
    /// 32 bits, after the small fields: 8 bytes less in every relinkd session, which holds a reader for its life.
    std::uint32_t max_message_;
};

}  // namespace relink::proto
