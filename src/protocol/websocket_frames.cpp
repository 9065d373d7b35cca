// relinkd's WebSocket framing (protocol/websocket_frames.hpp): the server's frame headers and close frames, and the
// reader of a client's frames.
#include "protocol/websocket_frames.hpp"

#include <algorithm>
#include <cstring>

#include "common/encoding.hpp"

namespace relink::proto {

namespace {

/// The message grows by at least this much at a time while its payload arrives (not all at once: a header may
/// announce more than its sender ever sends).
constexpr std::size_t kMinGrowthBytes = 4096;

bool is_control(WsOpcode opcode) noexcept {
    return (static_cast<unsigned>(opcode) & 0x8U) != 0;
}

bool is_known(unsigned opcode) noexcept {
    return opcode <= 0x2U || (opcode >= 0x8U && opcode <= 0xAU);
}

}  // namespace

std::size_t ws_frame_header(WsOpcode opcode, std::size_t size, WsServerHeader& header) noexcept {
    header[0] = static_cast<unsigned char>(0x80U | static_cast<unsigned>(opcode));  // FIN
    if (size < 126) {
        header[1] = static_cast<unsigned char>(size);
        return 2;
    }
    if (size <= 0xFFFF) {
        header[1] = 126;
        header[2] = static_cast<unsigned char>(size >> 8U);
        header[3] = static_cast<unsigned char>(size & 0xFFU);
        return 4;
    }
    header[1] = 127;
    for (std::size_t i = 0; i < 8; ++i) {
        header[2 + i] = static_cast<unsigned char>((static_cast<std::uint64_t>(size) >> (8U * (7 - i))) & 0xFFU);
    }
    return 10;
}

std::string ws_close_frame(std::uint16_t code, std::string_view reason) {
    if (code == 0) {
        return std::string{static_cast<char>(0x88), '\0'};
    }
    reason = reason.substr(0, kMaxWsControlPayloadBytes - 2);
    while (!reason.empty() && !encoding::is_valid_utf8(reason)) {
        reason.remove_suffix(1);  // cut inside a character: drop its start
    }
    WsServerHeader header{};
    const std::size_t header_size = ws_frame_header(WsOpcode::close, 2 + reason.size(), header);
    std::string frame(reinterpret_cast<const char*>(header.data()), header_size);  // NOLINT: bytes as chars
    frame += static_cast<char>(code >> 8U);
    frame += static_cast<char>(code & 0xFFU);
    frame += reason;
    return frame;
}

bool is_valid_ws_close_code(std::uint16_t code) noexcept {
    if (code >= 3000) {
        return true;  // registered with IANA, or private (above 4999 too, as Beast accepted)
    }
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013);
}

std::size_t WsFrameReader::heap_bytes() const noexcept {
    return message_.capacity() > std::string().capacity() ? message_.capacity() : 0;
}

void WsFrameReader::settle() noexcept {
    if (idle() && heap_bytes() != 0) {
        std::string().swap(message_);  // the last message or control payload was handed out: free it
    }
}

WsFrameReader::Space WsFrameReader::space() {
    settle();
    switch (state_) {
        case State::header: return {header_.data() + have_, static_cast<std::size_t>(need_ - have_)};
        case State::payload: {
            if (is_control(opcode_)) {  // read behind the message so far, which it must not disturb
                return {reinterpret_cast<unsigned char*>(message_.data()) + filled_ + frame_read_,  // NOLINT
                        static_cast<std::size_t>(remaining_)};
            }
            if (message_.size() == filled_) {
                const std::uint64_t grow =
                    std::min<std::uint64_t>(remaining_, std::max<std::uint64_t>(kMinGrowthBytes, message_.size()));
                message_.resize(static_cast<std::size_t>(filled_ + grow));
            }
            return {reinterpret_cast<unsigned char*>(message_.data()) + filled_,  // NOLINT: bytes as chars
                    static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, message_.size() - filled_))};
        }
        case State::failed: break;
    }
    return {};
}

WsEvent WsFrameReader::feed(std::string_view& bytes) {
    while (!bytes.empty()) {
        const Space room = space();
        if (room.size == 0) {
            return fail(ws_close::protocol_error, "read after an error");
        }
        const std::size_t taken = std::min(room.size, bytes.size());
        std::memcpy(room.data, bytes.data(), taken);
        bytes.remove_prefix(taken);
        const WsEvent event = commit(taken);
        if (event.kind != WsEvent::Kind::none) {
            return event;
        }
    }
    return {};
}

WsEvent WsFrameReader::commit(std::size_t bytes) {
    if (state_ == State::failed) {
        return fail(ws_close::protocol_error, "read after an error");
    }
    if (bytes == 0) {
        return {};
    }
    if (state_ == State::header) {
        have_ = static_cast<std::uint8_t>(have_ + bytes);
        if (have_ < need_) {
            return {};
        }
        return header_read();
    }
    // The payload: unmasked in place (the mask's phase runs over the frame's whole payload).
    unsigned char* at = reinterpret_cast<unsigned char*>(message_.data()) + filled_ +  // NOLINT: bytes as chars
                        (is_control(opcode_) ? frame_read_ : 0);
    for (std::size_t i = 0; i < bytes; ++i) {
        at[i] ^= mask_[(frame_read_ + i) & 3U];
    }
    frame_read_ += bytes;
    remaining_ -= bytes;
    if (!is_control(opcode_)) {
        filled_ += bytes;
    }
    return remaining_ == 0 ? frame_done() : WsEvent{};
}

WsEvent WsFrameReader::header_read() {
    const unsigned first = header_[0];
    const unsigned second = header_[1];
    if (have_ == 2 && need_ == 2) {  // the first two bytes: the rules that need nothing more, and the header's size
        if ((first & 0x70U) != 0) {
            return fail(ws_close::protocol_error, "reserved bits set");
        }
        if (!is_known(first & 0x0FU)) {
            return fail(ws_close::protocol_error, "unknown opcode");
        }
        opcode_ = static_cast<WsOpcode>(first & 0x0FU);
        fin_ = (first & 0x80U) != 0;
        const unsigned length = second & 0x7FU;
        if (is_control(opcode_)) {
            if (!fin_) {
                return fail(ws_close::protocol_error, "fragmented control frame");
            }
            if (length > kMaxWsControlPayloadBytes) {
                return fail(ws_close::protocol_error, "control frame above 125 bytes");
            }
        } else if (opcode_ == WsOpcode::continuation && !in_message_) {
            return fail(ws_close::protocol_error, "continuation without a message");
        } else if (opcode_ != WsOpcode::continuation && in_message_) {
            return fail(ws_close::protocol_error, "new message inside a fragmented one");
        }
        if ((second & 0x80U) == 0) {
            return fail(ws_close::protocol_error, "unmasked frame");
        }
        need_ = static_cast<std::uint8_t>(2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + 4);
        if (have_ < need_) {
            return {};
        }
    }
    std::uint64_t length = second & 0x7FU;
    std::size_t at = 2;
    if (length == 126) {
        length = static_cast<std::uint64_t>(header_[2]) << 8U | header_[3];
        at = 4;
        if (length < 126) {
            return fail(ws_close::protocol_error, "length not in its shortest form");
        }
    } else if (length == 127) {
        length = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            length = length << 8U | header_[2 + i];
        }
        at = 10;
        if (length <= 0xFFFF) {
            return fail(ws_close::protocol_error, "length not in its shortest form");
        }
    }
    std::memcpy(mask_.data(), header_.data() + at, mask_.size());
    if (!is_control(opcode_)) {
        if (length > max_message_ - filled_) {
            return fail(ws_close::too_big, "message too big");
        }
        if (opcode_ != WsOpcode::continuation) {
            in_message_ = true;
            message_text_ = opcode_ == WsOpcode::text;
        }
    } else if (message_.size() < filled_ + length) {
        message_.resize(static_cast<std::size_t>(filled_ + length));
    }
    remaining_ = length;
    frame_read_ = 0;
    state_ = State::payload;
    return remaining_ == 0 ? frame_done() : WsEvent{};
}

WsEvent WsFrameReader::frame_done() {
    const WsOpcode opcode = opcode_;
    const bool fin = fin_;
    next_frame();
    WsEvent event;
    if (!is_control(opcode)) {
        if (!fin) {
            return event;  // a fragment: the message goes on
        }
        in_message_ = false;
        message_.resize(static_cast<std::size_t>(filled_));
        const std::string_view whole(message_.data(), message_.size());
        filled_ = 0;
        if (message_text_ && !encoding::is_valid_utf8(whole)) {
            return fail(ws_close::bad_payload, "text message not UTF-8");
        }
        event.kind = WsEvent::Kind::message;
        event.text = message_text_;
        event.payload = whole;
        return event;
    }
    const std::string_view payload(message_.data() + filled_, static_cast<std::size_t>(frame_read_));
    if (opcode == WsOpcode::ping || opcode == WsOpcode::pong) {
        event.kind = opcode == WsOpcode::ping ? WsEvent::Kind::ping : WsEvent::Kind::pong;
        event.payload = payload;
        return event;
    }
    event.kind = WsEvent::Kind::close;
    if (payload.empty()) {
        return event;
    }
    if (payload.size() == 1) {
        return fail(ws_close::protocol_error, "close frame of one byte");
    }
    event.code = static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8U |
                                            static_cast<unsigned char>(payload[1]));
    if (!is_valid_ws_close_code(event.code)) {
        return fail(ws_close::protocol_error, "invalid close code");
    }
    event.reason = payload.substr(2);
    if (!encoding::is_valid_utf8(event.reason)) {
        return fail(ws_close::protocol_error, "close reason not UTF-8");
    }
    return event;
}

void WsFrameReader::next_frame() noexcept {
    state_ = State::header;
    have_ = 0;
    need_ = 2;
}

WsEvent WsFrameReader::fail(std::uint16_t code, std::string_view why) noexcept {
    state_ = State::failed;
    in_message_ = false;
    std::string().swap(message_);
    WsEvent event;
    event.kind = WsEvent::Kind::error;
    event.code = code;
    event.reason = why;
    return event;
}

}  // namespace relink::proto
