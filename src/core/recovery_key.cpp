// The recovery key's binary record and its base64url text (core/recovery_key.hpp).
#include "core/recovery_key.hpp"

#include <cstdint>

#include "common/encoding.hpp"

namespace relink::core {
namespace {

class Writer {
public:
    bool str(std::string_view s, std::size_t max) {
        if (s.size() > max) {
            return false;
        }
        out_.push_back(static_cast<char>(s.size()));
        out_.append(s);
        return true;
    }
    void byte(std::size_t b) { out_.push_back(static_cast<char>(b)); }
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    void position(const std::optional<proto::StreamPosition>& p) {
        byte(p ? 1 : 0);
        if (p) {
            varint(p->epoch);
            varint(p->seq);
        }
    }
    [[nodiscard]] const std::string& bytes() const noexcept { return out_; }

private:
    std::string out_;
};

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    std::optional<std::size_t> byte() {
        if (pos_ >= in_.size()) {
            return std::nullopt;
        }
        return static_cast<unsigned char>(in_[pos_++]);
    }
    /// A non-empty string of at most `max` bytes.
    std::optional<std::string> str(std::size_t max) {
        const auto n = byte();
        if (!n || *n == 0 || *n > max || in_.size() - pos_ < *n) {
            return std::nullopt;
        }
        std::string s(in_.substr(pos_, *n));
        pos_ += *n;
        return s;
    }
    /// A LEB128 varint of at most 10 bytes, in its shortest form, that fits 64 bits.
    std::optional<std::uint64_t> varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            const auto b = byte();
            if (!b) {
                return std::nullopt;
            }
            const std::uint64_t part = *b & 0x7FU;
            if (shift == 63 && part > 1) {
                return std::nullopt;  // beyond 64 bits
            }
            v |= part << shift;
            if ((*b & 0x80U) == 0) {
                if (*b == 0 && shift != 0) {
                    return std::nullopt;  // not the shortest form: one value, one spelling
                }
                return v;
            }
        }
        return std::nullopt;
    }
    /// A position; the outer optional is the outcome (nothing: malformed).
    std::optional<std::optional<proto::StreamPosition>> position() {
        const auto flag = byte();
        if (!flag || *flag > 1) {
            return std::nullopt;
        }
        if (*flag == 0) {
            return std::optional<proto::StreamPosition>{};
        }
        const auto epoch = varint();
        const auto seq = epoch ? varint() : std::nullopt;
        if (!seq) {
            return std::nullopt;
        }
        return std::optional<proto::StreamPosition>{proto::StreamPosition{*epoch, *seq}};
    }
    [[nodiscard]] bool done() const noexcept { return pos_ == in_.size(); }

private:
    std::string_view in_;
    std::size_t pos_{0};
};

}  // namespace

std::optional<std::string> encode_recovery_key(const RecoveryKeyData& data) {
    if (data.channels.size() > kRecoveryKeyMaxChannels || data.secret.empty()) {
        return std::nullopt;
    }
    Writer w;
    w.byte(kRecoveryKeyVersion);
    if (!w.str(data.app_id, kRecoveryKeyMaxName) || !w.str(data.user_id, kRecoveryKeyMaxName) ||
        !w.str(data.secret, kRecoveryKeyMaxName)) {
        return std::nullopt;
    }
    w.position(data.last_peer_seen);
    w.byte(data.channels.size());
    for (const auto& channel : data.channels) {
        if (channel.channel.empty() || channel.streams.size() > kRecoveryKeyMaxStreams ||
            !w.str(channel.channel, kRecoveryKeyMaxName)) {
            return std::nullopt;
        }
        w.position(channel.last_seen);
        w.byte(channel.streams.size());
        for (const auto& stream : channel.streams) {
            if (stream.empty() || !w.str(stream, kRecoveryKeyMaxName)) {
                return std::nullopt;
            }
        }
    }
    if (data.app_id.empty() || data.user_id.empty()) {
        return std::nullopt;
    }
    return encoding::base64url_encode(w.bytes());
}

std::optional<RecoveryKeyData> decode_recovery_key(std::string_view text) {
    const auto bytes = encoding::base64url_decode(text);
    if (!bytes) {
        return std::nullopt;
    }
    Reader r(*bytes);
    const auto version = r.byte();
    if (!version || *version != kRecoveryKeyVersion) {
        return std::nullopt;
    }
    RecoveryKeyData data;
    auto app = r.str(kRecoveryKeyMaxName);
    auto user = app ? r.str(kRecoveryKeyMaxName) : std::nullopt;
    auto secret = user ? r.str(kRecoveryKeyMaxName) : std::nullopt;
    auto peer = secret ? r.position() : std::nullopt;
    const auto count = peer ? r.byte() : std::nullopt;
    if (!count || *count > kRecoveryKeyMaxChannels) {
        return std::nullopt;
    }
    data.app_id = std::move(*app);
    data.user_id = std::move(*user);
    data.secret = std::move(*secret);
    data.last_peer_seen = *peer;
    for (std::size_t i = 0; i < *count; ++i) {
        proto::ChannelResume channel;
        auto name = r.str(kRecoveryKeyMaxName);
        auto last = name ? r.position() : std::nullopt;
        const auto streams = last ? r.byte() : std::nullopt;
        if (!streams || *streams > kRecoveryKeyMaxStreams) {
            return std::nullopt;
        }
        channel.channel = std::move(*name);
        channel.last_seen = *last;
        for (std::size_t j = 0; j < *streams; ++j) {
            auto stream = r.str(kRecoveryKeyMaxName);
            if (!stream) {
                return std::nullopt;
            }
            channel.streams.push_back(std::move(*stream));
        }
        data.channels.push_back(std::move(channel));
    }
    if (!r.done()) {
        return std::nullopt;
    }
    return data;
}

}  // namespace relink::core
