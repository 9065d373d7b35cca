// relinkd's WebSocket framing (src/protocol/websocket_frames.hpp): the server's headers and close frames, and the
// reader of client frames against RFC 6455's rules — masked frames only, text / binary / continuation with control
// frames between fragments, ping and pong payloads, close codes and reasons, control frames short and final,
// reserved bits and opcodes, lengths in their shortest form and bounded by the maximum, UTF-8 text — fed whole,
// many frames in one buffer, split at every byte, and read through space()/commit() as a transport does; an idle
// reader holds no heap memory.
#include "protocol/websocket_frames.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace relink::proto {
namespace {

using Kind = WsEvent::Kind;

constexpr std::size_t kMax = 1000;

/// A client frame, masked with `key` unless `masked` is false; `length_form` forces 126 or 127 for the length.
struct FrameSpec {
    WsOpcode opcode{WsOpcode::text};
    std::string payload;
    bool fin{true};
    bool masked{true};
    unsigned rsv{0};            // bits 4-6 of the first byte
    unsigned raw_opcode{0xFF};  // when not 0xFF, the opcode nibble as given
    int length_form{0};         // 0: shortest, 126 or 127: that form
    std::array<unsigned char, 4> key{0x12, 0x34, 0x56, 0x78};
};

std::string frame(const FrameSpec& spec) {
    std::string out;
    const unsigned opcode = spec.raw_opcode != 0xFF ? spec.raw_opcode : static_cast<unsigned>(spec.opcode);
    out += static_cast<char>((spec.fin ? 0x80U : 0U) | spec.rsv | opcode);
    const unsigned mask_bit = spec.masked ? 0x80U : 0U;
    const std::uint64_t size = spec.payload.size();
    const int form = spec.length_form != 0 ? spec.length_form : size < 126 ? 0 : size <= 0xFFFF ? 126 : 127;
    if (form == 0) {
        out += static_cast<char>(mask_bit | size);
    } else if (form == 126) {
        out += static_cast<char>(mask_bit | 126U);
        out += static_cast<char>(size >> 8U);
        out += static_cast<char>(size & 0xFFU);
    } else {
        out += static_cast<char>(mask_bit | 127U);
        for (int i = 7; i >= 0; --i) {
            out += static_cast<char>((size >> (8U * static_cast<unsigned>(i))) & 0xFFU);
        }
    }
    if (spec.masked) {
        out.append(reinterpret_cast<const char*>(spec.key.data()), 4);
    }
    for (std::size_t i = 0; i < spec.payload.size(); ++i) {
        out += static_cast<char>(static_cast<unsigned char>(spec.payload[i]) ^ (spec.masked ? spec.key[i % 4] : 0U));
    }
    return out;
}

std::string text(std::string payload, bool fin = true) {
    return frame({WsOpcode::text, std::move(payload), fin});
}
std::string control(WsOpcode opcode, std::string payload) {
    return frame({opcode, std::move(payload)});
}
std::string continuation(std::string payload, bool fin) {
    return frame({WsOpcode::continuation, std::move(payload), fin});
}
std::string close_payload(std::uint16_t code, std::string_view reason) {
    std::string out{static_cast<char>(code >> 8U), static_cast<char>(code & 0xFFU)};
    out += reason;
    return out;
}

/// An event with its views copied (they only last until the reader's next call).
struct Seen {
    Kind kind{Kind::none};
    bool text{false};
    std::uint16_t code{0};
    std::string payload;
    std::string reason;
    bool operator==(const Seen&) const = default;
};

Seen seen(const WsEvent& e) {
    return {e.kind, e.text, e.code, std::string(e.payload), std::string(e.reason)};
}

Seen message(std::string payload, bool is_text = true) {
    return {Kind::message, is_text, 0, std::move(payload), {}};
}
Seen event_of(Kind kind, std::string payload = {}) {
    return {kind, false, 0, std::move(payload), {}};
}
Seen closed(std::uint16_t code, std::string reason = {}) {
    return {Kind::close, false, code, {}, std::move(reason)};
}
Seen error(std::uint16_t code) {
    return {Kind::error, false, code, {}, {}};
}

/// Every event of `bytes` fed in pieces of `piece` bytes (0: all at once); stops after an error.
std::vector<Seen> read_all(std::string_view bytes, std::size_t piece = 0, std::size_t max = kMax) {
    WsFrameReader reader(max);
    std::vector<Seen> events;
    while (!bytes.empty()) {
        std::string_view chunk = bytes.substr(0, piece == 0 ? bytes.size() : piece);
        bytes.remove_prefix(chunk.size());
        while (!chunk.empty()) {
            const WsEvent e = reader.feed(chunk);
            if (e.kind == Kind::none) {
                break;
            }
            Seen s = seen(e);
            if (s.kind == Kind::error) {
                s.reason.clear();  // the words may change; the code is the rule
                events.push_back(s);
                return events;
            }
            events.push_back(std::move(s));
        }
    }
    return events;
}

/// The one error code `bytes` end in (after any events before it), or nullopt when they end in none.
std::optional<std::uint16_t> error_of(std::string_view bytes, std::size_t max = kMax) {
    const auto events = read_all(bytes, 0, max);
    if (events.empty() || events.back().kind != Kind::error) {
        return std::nullopt;
    }
    return events.back().code;
}

// ------------------------------------------------------------------------------------------- what the server writes

TEST(WsFrameHeader, ShortestLengthFormFinalAndUnmasked) {
    WsServerHeader header{};
    EXPECT_EQ(ws_frame_header(WsOpcode::text, 0, header), 2U);
    EXPECT_EQ(header[0], 0x81);
    EXPECT_EQ(header[1], 0x00);
    EXPECT_EQ(ws_frame_header(WsOpcode::pong, 125, header), 2U);
    EXPECT_EQ(header[0], 0x8A);
    EXPECT_EQ(header[1], 125);
    EXPECT_EQ(ws_frame_header(WsOpcode::text, 126, header), 4U);
    EXPECT_EQ(header[1], 126);
    EXPECT_EQ(header[2], 0);
    EXPECT_EQ(header[3], 126);
    EXPECT_EQ(ws_frame_header(WsOpcode::text, 65535, header), 4U);
    EXPECT_EQ(ws_frame_header(WsOpcode::text, 65536, header), 10U);
    EXPECT_EQ(header[1], 127);
    EXPECT_EQ(header[7], 1);
    EXPECT_EQ(header[9], 0);
}

TEST(WsCloseFrame, CodeAndReasonCutToAControlFrameAtACharacter) {
    EXPECT_EQ(ws_close_frame(0, "ignored"), std::string("\x88\x00", 2));
    EXPECT_EQ(ws_close_frame(1008, "INVALID"), std::string("\x88\x09\x03\xf0INVALID", 11));
    // 60 two-byte characters (120 bytes) and a third byte's worth: cut to 123 bytes would split a character.
    std::string long_reason;
    for (int i = 0; i < 62; ++i) {
        long_reason += "\xc3\xa9";
    }
    const std::string cut = ws_close_frame(1000, long_reason);
    ASSERT_EQ(cut.size(), 2U + 2U + 122U);
    EXPECT_EQ(static_cast<unsigned char>(cut[1]), 124U);
}

// ------------------------------------------------------------------------------------------- reading

TEST(WsFrameReader, TextBinaryAndEmptyMessages) {
    EXPECT_EQ(read_all(text("hello")), std::vector<Seen>{message("hello")});
    EXPECT_EQ(read_all(frame({WsOpcode::binary, std::string("\x00\xff", 2)})),
              std::vector<Seen>{message(std::string("\x00\xff", 2), false)});
    EXPECT_EQ(read_all(text("")), std::vector<Seen>{message("")});
}

TEST(WsFrameReader, ManyFramesInOneBufferGiveTheirEventsInOrder) {
    const std::string bytes = text("one") + control(WsOpcode::ping, "p") + text(std::string(300, 'x')) +
                              control(WsOpcode::pong, "q") + text("") + text(std::string(70000, 'y')) +
                              control(WsOpcode::close, close_payload(1000, "bye"));
    const std::vector<Seen> expected{message("one"),
                                     event_of(Kind::ping, "p"),
                                     message(std::string(300, 'x')),
                                     event_of(Kind::pong, "q"),
                                     message(""),
                                     message(std::string(70000, 'y')),
                                     closed(1000, "bye")};
    EXPECT_EQ(read_all(bytes, 0, 100000), expected);
}

TEST(WsFrameReader, AFrameSplitAtEveryByteReadsTheSame) {
    // Every length form (7-bit, 16-bit, 64-bit), a fragmented message with a ping inside, and a close.
    const std::string bytes = text("short") + text(std::string(200, 'm')) +
                              frame({WsOpcode::text, std::string(70000, 'L')}) + text("fr", false) +
                              control(WsOpcode::ping, "mid") + continuation("ag", false) + continuation("ment", true) +
                              control(WsOpcode::close, close_payload(1001, "away"));
    const std::vector<Seen> expected{message("short"),
                                     message(std::string(200, 'm')),
                                     message(std::string(70000, 'L')),
                                     event_of(Kind::ping, "mid"),
                                     message("fragment"),
                                     closed(1001, "away")};
    ASSERT_EQ(read_all(bytes, 0, 100000), expected);
    // The header and the small frames cut at every byte; the large frame's payload in a few sizes.
    for (std::size_t cut = 1; cut < bytes.size(); cut = cut < 300 ? cut + 1 : cut * 3) {
        WsFrameReader reader(100000);
        std::vector<Seen> events;
        std::string_view first = std::string_view(bytes).substr(0, cut);
        std::string_view second = std::string_view(bytes).substr(cut);
        for (std::string_view* part : {&first, &second}) {
            while (!part->empty()) {
                const WsEvent e = reader.feed(*part);
                if (e.kind != Kind::none) {
                    events.push_back(seen(e));
                }
            }
        }
        EXPECT_EQ(events, expected) << "cut at " << cut;
    }
    EXPECT_EQ(read_all(bytes, 1, 100000), expected) << "one byte at a time";
    EXPECT_EQ(read_all(bytes, 7, 100000), expected) << "seven bytes at a time";
}

TEST(WsFrameReader, FragmentedMessageWithPingsAndAPongBetweenItsFragments) {
    const std::string bytes = text("a", false) + control(WsOpcode::ping, "1") + continuation("b", false) +
                              control(WsOpcode::pong, "") + control(WsOpcode::ping, "") + continuation("", false) +
                              continuation("c", true) + text("next");
    const std::vector<Seen> expected{event_of(Kind::ping, "1"), event_of(Kind::pong), event_of(Kind::ping),
                                     message("abc"), message("next")};
    EXPECT_EQ(read_all(bytes), expected);
    EXPECT_EQ(read_all(bytes, 1), expected);
    // Binary too, and a fragmented message's type is its first frame's.
    EXPECT_EQ(read_all(frame({WsOpcode::binary, "x", false}) + continuation("y", true)),
              std::vector<Seen>{message("xy", false)});
}

TEST(WsFrameReader, PingPayloadIsGivenBackAsItCame) {
    std::string every_byte;
    for (int i = 0; i < 125; ++i) {
        every_byte += static_cast<char>(i * 2);
    }
    EXPECT_EQ(read_all(control(WsOpcode::ping, every_byte)), std::vector<Seen>{event_of(Kind::ping, every_byte)});
}

TEST(WsFrameReader, MaskKeysAnyPhase) {
    for (const auto& key : {std::array<unsigned char, 4>{0, 0, 0, 0}, std::array<unsigned char, 4>{0xff, 0, 0xff, 1},
                            std::array<unsigned char, 4>{0xa5, 0x5a, 0x01, 0x80}}) {
        FrameSpec spec{WsOpcode::text, "masked payload of some length"};
        spec.key = key;
        EXPECT_EQ(read_all(frame(spec), 3), std::vector<Seen>{message(spec.payload)});
    }
}

TEST(WsFrameReader, CloseCodesAndReasons) {
    EXPECT_EQ(read_all(control(WsOpcode::close, "")), std::vector<Seen>{closed(0)});
    EXPECT_EQ(read_all(control(WsOpcode::close, close_payload(1000, ""))), std::vector<Seen>{closed(1000)});
    EXPECT_EQ(read_all(control(WsOpcode::close, close_payload(4000, "app"))), std::vector<Seen>{closed(4000, "app")});
    EXPECT_EQ(error_of(control(WsOpcode::close, "x")), ws_close::protocol_error);  // one byte
    for (const int bad : {0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999}) {
        EXPECT_EQ(error_of(control(WsOpcode::close, close_payload(static_cast<std::uint16_t>(bad), ""))),
                  ws_close::protocol_error)
            << bad;
    }
    EXPECT_EQ(error_of(control(WsOpcode::close, close_payload(1000, "\xff"))), ws_close::protocol_error);
}

TEST(WsFrameReader, UnmaskedFramesAreRefused) {
    FrameSpec spec{WsOpcode::text, "hi"};
    spec.masked = false;
    EXPECT_EQ(error_of(frame(spec)), ws_close::protocol_error);
    spec.opcode = WsOpcode::ping;
    EXPECT_EQ(error_of(frame(spec)), ws_close::protocol_error);
    // After a good frame too, and nothing after the error is read.
    EXPECT_EQ(read_all(text("ok") + frame(spec) + text("never")),
              (std::vector<Seen>{message("ok"), error(ws_close::protocol_error)}));
}

TEST(WsFrameReader, ReservedBitsAndUnknownOpcodesAreRefused) {
    for (const unsigned rsv : {0x40U, 0x20U, 0x10U}) {
        FrameSpec spec{WsOpcode::text, "x"};
        spec.rsv = rsv;
        EXPECT_EQ(error_of(frame(spec)), ws_close::protocol_error) << rsv;
        spec.opcode = WsOpcode::ping;
        EXPECT_EQ(error_of(frame(spec)), ws_close::protocol_error) << rsv;
    }
    for (const unsigned opcode : {3U, 4U, 5U, 6U, 7U, 0xBU, 0xCU, 0xDU, 0xEU, 0xFU}) {
        FrameSpec spec{WsOpcode::text, "x"};
        spec.raw_opcode = opcode;
        EXPECT_EQ(error_of(frame(spec)), ws_close::protocol_error) << opcode;
    }
}

TEST(WsFrameReader, ControlFramesAreShortAndFinal) {
    EXPECT_EQ(error_of(control(WsOpcode::ping, std::string(126, 'p'))), ws_close::protocol_error);
    EXPECT_EQ(error_of(frame({WsOpcode::ping, "p", false})), ws_close::protocol_error);
    EXPECT_EQ(error_of(frame({WsOpcode::close, "", false})), ws_close::protocol_error);
    FrameSpec long_form{WsOpcode::pong, "p"};
    long_form.length_form = 126;
    EXPECT_EQ(error_of(frame(long_form)), ws_close::protocol_error);
}

TEST(WsFrameReader, FragmentsFollowTheirRules) {
    EXPECT_EQ(error_of(continuation("x", true)), ws_close::protocol_error);       // no message to continue
    EXPECT_EQ(error_of(text("a", false) + text("b")), ws_close::protocol_error);  // a new message inside one
    EXPECT_EQ(error_of(text("a", false) + frame({WsOpcode::binary, "b"})), ws_close::protocol_error);
    EXPECT_EQ(error_of(text("whole") + continuation("x", true)), ws_close::protocol_error);
}

TEST(WsFrameReader, LengthsInTheirShortestFormOnly) {
    FrameSpec spec{WsOpcode::text, std::string(125, 'a')};
    spec.length_form = 126;
    EXPECT_EQ(error_of(frame(spec)), ws_close::protocol_error);
    spec.payload = std::string(65535, 'b');
    spec.length_form = 127;
    EXPECT_EQ(error_of(frame(spec), 100000), ws_close::protocol_error);
    spec.payload = std::string(126, 'c');
    spec.length_form = 126;
    EXPECT_EQ(read_all(frame(spec)), std::vector<Seen>{message(spec.payload)});
}

TEST(WsFrameReader, MessagesAboveTheMaximumAreTooBigBeforeAnythingIsAllocated) {
    EXPECT_EQ(read_all(text(std::string(kMax, 'x'))), std::vector<Seen>{message(std::string(kMax, 'x'))});
    EXPECT_EQ(error_of(text(std::string(kMax + 1, 'x'))), ws_close::too_big);
    // The fragments add up.
    EXPECT_EQ(error_of(text(std::string(600, 'x'), false) + continuation(std::string(401, 'y'), true)),
              ws_close::too_big);
    EXPECT_EQ(read_all(text(std::string(600, 'x'), false) + continuation(std::string(400, 'y'), true)).size(), 1U);
    // A 64-bit length, the largest there is: refused on its header, nothing allocated.
    WsFrameReader reader(kMax);
    std::string header{static_cast<char>(0x81), static_cast<char>(0xFF)};
    header.append(8, static_cast<char>(0xFF));
    header.append(4, 'k');
    std::string_view bytes = header;
    const WsEvent e = reader.feed(bytes);
    EXPECT_EQ(e.kind, Kind::error);
    EXPECT_EQ(e.code, ws_close::too_big);
    EXPECT_EQ(reader.heap_bytes(), 0U);
}

TEST(WsFrameReader, TextMustBeUtf8AndBinaryNeedNot) {
    EXPECT_EQ(error_of(text("\xff")), ws_close::bad_payload);
    EXPECT_EQ(error_of(text("\xed\xa0\x80")), ws_close::bad_payload);                          // a surrogate
    EXPECT_EQ(error_of(text("\xc3", false) + continuation("", true)), ws_close::bad_payload);  // cut short
    // A character split across fragments is fine.
    EXPECT_EQ(read_all(text("\xc3", false) + continuation("\xa9", true)), std::vector<Seen>{message("\xc3\xa9")});
    EXPECT_EQ(read_all(frame({WsOpcode::binary, "\xff"})), std::vector<Seen>{message("\xff", false)});
}

TEST(WsFrameReader, AfterAnErrorNothingIsRead) {
    WsFrameReader reader(kMax);
    FrameSpec spec{WsOpcode::text, "x"};
    spec.masked = false;
    std::string bytes = frame(spec);
    std::string_view view = bytes;
    EXPECT_EQ(reader.feed(view).kind, Kind::error);
    EXPECT_EQ(reader.space().size, 0U);
    const std::string more = text("y");
    std::string_view rest = more;
    EXPECT_EQ(reader.feed(rest).kind, Kind::error);
}

TEST(WsFrameReader, ReadsThroughSpaceNeverPastTheCurrentFrameAndHoldsNothingWhenIdle) {
    // As a transport reads: exactly into space(), as much as it offers or less.
    const std::string bytes = text("first") + control(WsOpcode::ping, "p") + text(std::string(10000, 'z'), false) +
                              continuation("!", true) + text("last");
    WsFrameReader reader(100000);
    EXPECT_TRUE(reader.idle());
    EXPECT_EQ(reader.heap_bytes(), 0U);
    EXPECT_EQ(reader.space().size, 2U) << "a frame begins with two bytes";
    std::size_t at = 0;
    std::vector<Seen> events;
    std::size_t largest_heap = 0;
    while (at < bytes.size()) {
        const auto room = reader.space();
        ASSERT_GT(room.size, 0U);
        ASSERT_LE(room.size, bytes.size() - at) << "space() reaches past the last frame";
        const std::size_t n = std::min<std::size_t>(room.size, 1000);
        std::memcpy(room.data, bytes.data() + at, n);
        at += n;
        const WsEvent e = reader.commit(n);
        largest_heap = std::max(largest_heap, reader.heap_bytes());
        if (e.kind != Kind::none) {
            events.push_back(seen(e));
        }
    }
    EXPECT_EQ(events, (std::vector<Seen>{message("first"), event_of(Kind::ping, "p"),
                                         message(std::string(10000, 'z') + "!"), message("last")}));
    EXPECT_GE(largest_heap, 10001U);
    EXPECT_TRUE(reader.idle());
    (void)reader.space();  // the next call lets the last message go
    EXPECT_EQ(reader.heap_bytes(), 0U);
}

TEST(WsFrameReader, AHeaderAnnouncingMoreThanComesDoesNotAllocateItAll) {
    WsFrameReader reader(1 << 20);
    const std::string header = text(std::string(500000, 'a')).substr(0, 14);
    std::string_view bytes = header;
    EXPECT_EQ(reader.feed(bytes).kind, Kind::none);
    ASSERT_GT(reader.space().size, 0U);
    EXPECT_LT(reader.heap_bytes(), 16384U);
}

}  // namespace
}  // namespace relink::proto
