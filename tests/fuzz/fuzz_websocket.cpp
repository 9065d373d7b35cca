// tests/fuzz/fuzz_websocket.cpp — libFuzzer target for relinkd's WebSocket frame reader
// (src/protocol/websocket_frames.hpp: proto::WsFrameReader). The input's first byte picks how the rest is cut
// into pieces (as a transport's reads would cut it); the rest is what a client sent after the upgrade.
//
// Properties checked for every input (docs/fuzzing.md):
//  - the events do not depend on how the bytes are cut: fed whole (feed) and read through space()/commit() in
//    pieces of any size give the same events, payloads and codes;
//  - space() never reaches past what the reader asked for, and is empty only after an error;
//  - a message is at most the maximum, a text message is well-formed UTF-8, a control payload at most 125 bytes,
//    a close code one a close frame may carry (or none);
//  - an error is the last event, with code 1002, 1007 or 1009, and nothing is read after it;
//  - an idle reader holds no heap memory once it is called again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/encoding.hpp"
#include "fuzz_support.hpp"
#include "protocol/websocket_frames.hpp"

namespace {

using relink::proto::WsEvent;
using relink::proto::WsFrameReader;

/// Small, so that the fuzzer reaches the too-big rule with short inputs.
constexpr std::size_t kMaxMessage = 4096;

struct Seen {
    WsEvent::Kind kind;
    bool text;
    std::uint16_t code;
    std::string payload;
    std::string reason;
    bool operator==(const Seen&) const = default;
};

void check_event(const WsEvent& e) {
    namespace ws_close = relink::proto::ws_close;
    switch (e.kind) {
        case WsEvent::Kind::none: break;
        case WsEvent::Kind::message:
            FUZZ_CHECK(e.payload.size() <= kMaxMessage, "a message above the maximum");
            FUZZ_CHECK(!e.text || relink::encoding::is_valid_utf8(e.payload), "a text message that is not UTF-8");
            break;
        case WsEvent::Kind::ping:
        case WsEvent::Kind::pong:
            FUZZ_CHECK(e.payload.size() <= relink::proto::kMaxWsControlPayloadBytes, "a control payload above 125");
            break;
        case WsEvent::Kind::close:
            FUZZ_CHECK(e.code == 0 || relink::proto::is_valid_ws_close_code(e.code), "an invalid close code");
            FUZZ_CHECK(e.code != 0 || e.reason.empty(), "a reason without a code");
            FUZZ_CHECK(relink::encoding::is_valid_utf8(e.reason), "a close reason that is not UTF-8");
            break;
        case WsEvent::Kind::error:
            FUZZ_CHECK(
                e.code == ws_close::protocol_error || e.code == ws_close::bad_payload || e.code == ws_close::too_big,
                "an error with another close code: " + std::to_string(e.code));
            FUZZ_CHECK(!e.reason.empty(), "an error that says nothing");
            break;
    }
}

Seen seen(const WsEvent& e) {
    return {e.kind, e.text, e.code, std::string(e.payload), std::string(e.reason)};
}

/// Every event, the input fed whole.
std::vector<Seen> fed_whole(std::string_view bytes) {
    WsFrameReader reader(kMaxMessage);
    std::vector<Seen> events;
    while (!bytes.empty()) {
        const WsEvent e = reader.feed(bytes);
        if (e.kind == WsEvent::Kind::none) {
            break;
        }
        check_event(e);
        events.push_back(seen(e));
        if (e.kind == WsEvent::Kind::error) {
            break;
        }
    }
    return events;
}

/// Every event, read as a transport reads: into space(), at most `piece` bytes at a time.
std::vector<Seen> read_in_pieces(std::string_view bytes, std::size_t piece) {
    WsFrameReader reader(kMaxMessage);
    std::vector<Seen> events;
    while (!bytes.empty()) {
        const auto room = reader.space();
        if (reader.idle()) {
            FUZZ_CHECK(reader.heap_bytes() == 0, "an idle reader holds heap memory");
        }
        FUZZ_CHECK(room.size != 0, "no room before any error");
        const std::size_t n = std::min({room.size, piece, bytes.size()});
        std::memcpy(room.data, bytes.data(), n);
        bytes.remove_prefix(n);
        const WsEvent e = reader.commit(n);
        if (e.kind == WsEvent::Kind::none) {
            continue;
        }
        check_event(e);
        events.push_back(seen(e));
        if (e.kind == WsEvent::Kind::error) {
            FUZZ_CHECK(reader.space().size == 0, "room after an error");
            break;
        }
    }
    return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::size_t piece = 1 + data[0] % 23;
    const std::string_view bytes = relink::fuzz::as_text(data + 1, size - 1);
    const auto whole = fed_whole(bytes);
    FUZZ_CHECK(read_in_pieces(bytes, piece) == whole, "the events depend on how the bytes were cut");
    FUZZ_CHECK(read_in_pieces(bytes, 1) == whole, "the events differ when read one byte at a time");
    return 0;
}
