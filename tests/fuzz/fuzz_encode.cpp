// tests/fuzz/fuzz_encode.cpp — libFuzzer target for the protocol encoder (src/protocol/codec.hpp: proto::encode),
// the other half of the codec: the input's bytes are read (ByteReader) into a ClientMessage or ServerMessage of
// any type, with any strings, payloads, ids, durations and error codes, which is encoded and decoded again.
//
// Properties checked (docs/fuzzing.md, docs/protocol.md "Values"):
//  - encode() never throws, and every frame it produces decodes, in its own direction only, as the same type;
//  - the decoded message is the one sent, up to what the wire format documents: durations go out as whole
//    milliseconds rounded up (a negative one as 0), an error of another category or an unknown relink number as
//    REJECTED_BY_SERVER; and when a string other than a payload is not UTF-8 (the encoder replaces bad bytes),
//    the decoded message is at least a fixed point of encode → decode;
//  - payloads, arbitrary bytes included, come back byte for byte;
//  - a login whose version is not 1 is refused with PROTOCOL_ERROR and its request id (so the server answers it).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "protocol/codec.hpp"

namespace {

using namespace relink::proto;
using relink::Duration;
using relink::fuzz::ByteReader;

/// Well-formed UTF-8 (Unicode table 3-7), written independently of the codec's own check.
bool is_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xE0U) == 0xC0) {
            n = 1;
            cp = c & 0x1FU;
        } else if ((c & 0xF0U) == 0xE0) {
            n = 2;
            cp = c & 0x0FU;
        } else if ((c & 0xF8U) == 0xF0) {
            n = 3;
            cp = c & 0x07U;
        } else {
            return false;
        }
        if (text.size() - i <= n) {
            return false;
        }
        for (std::size_t k = 1; k <= n; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0U) != 0x80) {
                return false;
            }
            cp = cp << 6U | (next & 0x3FU);
        }
        const std::uint32_t min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

/// Builds messages from the fuzzer's bytes and remembers whether a non-payload string was not UTF-8.
class Builder {
public:
    explicit Builder(std::string_view bytes) : in_(bytes) {}

    [[nodiscard]] bool lossy() const noexcept { return lossy_; }
    ByteReader& in() noexcept { return in_; }

    std::string text() {
        std::string out = in_.text(24);
        lossy_ = lossy_ || !is_utf8(out);
        return out;
    }
    std::optional<std::string> optional_text() { return in_.boolean() ? std::optional(text()) : std::nullopt; }
    std::string payload() { return in_.text(96); }
    std::vector<std::string> texts() {
        std::vector<std::string> out(in_.below(4));
        for (auto& item : out) {
            item = text();
        }
        return out;
    }
    relink::Attributes attributes() {
        relink::Attributes out;
        for (std::size_t n = in_.below(4); n > 0; --n) {
            std::string key = text();
            out[std::move(key)] = text();
        }
        return out;
    }
    StreamPosition position() {
        StreamPosition out;
        out.epoch = small_or_any();
        out.seq = small_or_any();
        return out;
    }
    std::uint64_t small_or_any() { return in_.boolean() ? in_.u8() : in_.u64(); }

    /// The edges first: 0, ±1 ns, a sub-millisecond, whole milliseconds, the type's extremes, then anything.
    Duration duration() {
        switch (in_.below(8)) {
            case 0: return Duration::zero();
            case 1: return Duration(1);
            case 2: return Duration(-1);
            case 3: return std::chrono::milliseconds(in_.u8());
            case 4: return Duration::max();
            case 5: return Duration::min();
            case 6: return Duration::max() - Duration(in_.u64() % 2'000'000);
            default: return Duration(in_.i64());
        }
    }

    /// No error, a relink error (known or not), or an error of another category.
    std::error_code error() {
        switch (in_.below(4)) {
            case 0: return {};
            case 1: return relink::make_error_code(static_cast<relink::errc>(in_.u8() % 70));
            case 2: return std::make_error_code(std::errc::io_error);
            default: return relink::make_error_code(relink::errc::not_logged_in);
        }
    }

    ChannelSnapshot snapshot() {
        ChannelSnapshot out;
        out.channel = text();
        out.error = error();
        out.members.resize(in_.below(3));
        for (auto& member : out.members) {
            member.user_id = text();
            member.streams = texts();
        }
        out.position = position();
        return out;
    }

    relink::Profile profile() { return static_cast<relink::Profile>(in_.below(4)); }
    relink::MemberLeftCause cause() { return static_cast<relink::MemberLeftCause>(in_.below(3)); }
    CloseReason close_reason() { return static_cast<CloseReason>(in_.below(7)); }

private:
    ByteReader in_;
    bool lossy_{false};
};

ClientMessage client_message(Builder& b) {
    const RequestId id = b.small_or_any();
    switch (b.in().below(11)) {
        case 0: {
            Login m;
            m.request_id = id;
            m.version = b.in().below(8) == 0 ? static_cast<int>(b.in().u8()) : kProtocolVersion;
            m.app_id = b.text();
            m.user_id = b.text();
            m.token = b.text();
            m.instance_id = b.text();
            m.profile = b.profile();
            m.resume_token = b.optional_text();
            if (b.in().boolean()) {
                m.last_peer_seen = b.position();
            }
            m.channels.resize(b.in().below(3));
            for (auto& channel : m.channels) {
                channel.channel = b.text();
                if (b.in().boolean()) {
                    channel.last_seen = b.position();
                }
                channel.streams = b.texts();
            }
            m.attributes = b.attributes();
            if (b.in().boolean()) {  // each timing on its own, as a client may ask for some only
                m.timings.heartbeat_interval = b.duration();
            }
            if (b.in().boolean()) {
                m.timings.presence_timeout = b.duration();
            }
            if (b.in().boolean()) {
                m.timings.backfill_window = b.duration();
            }
            if (b.in().boolean()) {
                m.timings.backfill_count = b.small_or_any();
            }
            m.recovery = b.optional_text();
            return m;
        }
        case 1: return Logout{id};
        case 2: return Join{id, b.text()};
        case 3: return Leave{id, b.text()};
        case 4: {
            Publish m{id, b.text(), b.text(), false};
            m.unpublish = b.in().boolean();
            return m;
        }
        case 5: {
            SendMessage m;
            m.request_id = id;
            m.message_id = b.text();
            m.to_user = b.optional_text();
            m.to_channel = b.optional_text();
            m.payload = b.payload();
            m.store_offline = b.in().boolean();
            return m;
        }
        case 6: return SetAttributes{id, b.attributes()};
        case 7: return GetAttributes{id, b.text()};
        case 8: return RenewToken{id, b.text()};
        case 9: return RecoveryKey{id};
        default: return Ping{};
    }
}

ServerMessage server_message(Builder& b) {
    const RequestId id = b.small_or_any();
    switch (b.in().below(11)) {
        case 0: {
            LoginOk m;
            m.request_id = id;
            m.resume_token = b.text();
            m.resumed = b.in().boolean();
            m.negotiated.heartbeat_interval = b.duration();
            m.negotiated.presence_timeout = b.duration();
            m.negotiated.backfill_window = b.duration();
            m.negotiated.backfill_count = b.small_or_any();
            m.token_ttl = b.duration();
            m.channels.resize(b.in().below(3));
            for (auto& snapshot : m.channels) {
                snapshot = b.snapshot();
            }
            m.backfilled = b.small_or_any();
            m.dropped = b.small_or_any();
            m.peer_position = b.position();
            return m;
        }
        case 1: return Reply{id, b.error()};
        case 2: return JoinOk{id, b.snapshot()};
        case 3: {
            AttributesReply m;
            m.request_id = id;
            m.user_id = b.text();
            m.attributes = b.attributes();
            return m;
        }
        case 4: return RenewOk{id, b.duration()};
        case 5: return MemberJoined{b.text(), b.text()};
        case 6: {
            MemberLeft m;
            m.channel = b.text();
            m.user_id = b.text();
            m.cause = b.cause();
            return m;
        }
        case 7: {
            StreamChanged m;
            m.channel = b.text();
            m.user_id = b.text();
            m.stream = b.text();
            m.added = b.in().boolean();
            return m;
        }
        case 8: {
            Message m;
            m.from = b.text();
            m.channel = b.optional_text();
            m.message_id = b.text();
            m.payload = b.payload();
            m.position = b.position();
            m.backfilled = b.in().boolean();
            return m;
        }
        case 9: return Pong{};
        default: {
            Close m;
            m.reason = b.close_reason();
            m.reconnect_within = b.duration();
            return m;
        }
    }
}

// ---------------------------------------------------------------- what the wire format makes of a value

/// Whole milliseconds, rounded up; 0 for a negative duration; at most the largest decodable value
/// (docs/protocol.md "Values": decoded values above 9 223 372 036 854 ms are refused).
Duration on_the_wire(Duration d) {
    if (d <= Duration::zero()) {
        return Duration::zero();
    }
    constexpr std::int64_t kMaxMs = Duration::max().count() / 1'000'000;
    const std::int64_t ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
    return std::chrono::milliseconds(std::min(ms, kMaxMs));
}

std::error_code on_the_wire(std::error_code e) {
    if (!e) {
        return {};  // a zero code of any category is success: the field is omitted
    }
    const bool known = e.category() == relink::error_category() && std::string_view(relink::error_name(e)) != "UNKNOWN";
    return known ? e : relink::make_error_code(relink::errc::rejected_by_server);
}

void normalize(ChannelSnapshot& s) {
    s.error = on_the_wire(s.error);
}
void normalize(Login& m) {
    for (auto* asked : {&m.timings.heartbeat_interval, &m.timings.presence_timeout, &m.timings.backfill_window}) {
        if (*asked) {
            *asked = on_the_wire(**asked);
        }
    }
}
void normalize(LoginOk& m) {
    m.negotiated.heartbeat_interval = on_the_wire(m.negotiated.heartbeat_interval);
    m.negotiated.presence_timeout = on_the_wire(m.negotiated.presence_timeout);
    m.negotiated.backfill_window = on_the_wire(m.negotiated.backfill_window);
    m.token_ttl = on_the_wire(m.token_ttl);
    for (auto& snapshot : m.channels) {
        normalize(snapshot);
    }
}
void normalize(Reply& m) {
    m.error = on_the_wire(m.error);
}
void normalize(JoinOk& m) {
    normalize(m.snapshot);
}
void normalize(RenewOk& m) {
    m.token_ttl = on_the_wire(m.token_ttl);
}
void normalize(Close& m) {
    m.reconnect_within = on_the_wire(m.reconnect_within);
}
template <class T>
void normalize(T& /*unchanged*/) {}

template <class Variant>
Variant expected_of(Variant message) {
    std::visit([](auto& m) { normalize(m); }, message);
    return message;
}

template <class Variant, class Decode, class DecodeOther>
void check(const Variant& sent, bool lossy, Decode decode, DecodeOther decode_other) {
    std::string frame;
    try {
        frame = encode(sent);
    } catch (...) {
        FUZZ_CHECK(false, "encode() threw");
    }
    const auto decoded = decode(frame);
    if constexpr (std::is_same_v<Variant, ClientMessage>) {
        const auto* login = std::get_if<Login>(&sent);
        if (login != nullptr && login->version != kProtocolVersion) {
            FUZZ_CHECK(!decoded, "a login of version " + std::to_string(login->version) + " was accepted: " + frame);
            FUZZ_CHECK(decoded.error.request_id == login->request_id, "the refused login is not answerable: " + frame);
            return;
        }
    }
    FUZZ_CHECK(decoded, "an encoded message does not decode: " + decoded.error.detail + "\n  " + frame);
    FUZZ_CHECK(decoded.message->index() == sent.index(), "decoded as another type: " + frame);
    FUZZ_CHECK(!decode_other(frame), "the frame also decodes in the other direction: " + frame);
    if (!lossy) {
        FUZZ_CHECK(*decoded.message == expected_of(sent),
                   "decode(encode(m)) is not m as the wire carries it: " + frame);
    }
    const std::string again = encode(*decoded.message);
    const auto twice = decode(again);
    FUZZ_CHECK(twice && *twice.message == *decoded.message, "a decoded message is no fixed point: " + again);
    FUZZ_CHECK(encode(*twice.message) == again, "encode is not stable: " + again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Builder b(relink::fuzz::as_text(data, size));
    if (b.in().boolean()) {
        const ClientMessage message = client_message(b);
        check(message, b.lossy(), decode_client, decode_server);
    } else {
        const ServerMessage message = server_message(b);
        check(message, b.lossy(), decode_server, decode_client);
    }
    return 0;
}
