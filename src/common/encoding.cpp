// Base64, hex and UTF-8 (common/encoding.hpp). Both base64 alphabets share one encoder and one decoder; the
// alphabet's last two characters and whether '=' pads are all that differ between them.
#include "common/encoding.hpp"

#include <cstddef>

namespace relink::encoding {
namespace {

struct Base64Variant {
    std::string_view alphabet;  ///< 64 characters: A-Z, a-z, 0-9 and the variant's two
    bool padded;                ///< '=' fills the last group to 4 characters
};

constexpr Base64Variant kStandard{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true};
constexpr Base64Variant kUrl{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false};

constexpr std::string_view kHexDigits = "0123456789abcdef";

std::string encode(std::string_view bytes, const Base64Variant& variant) {
    const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])); };
    const auto& alphabet = variant.alphabet;
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t group = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out += alphabet[group >> 18 & 0x3F];
        out += alphabet[group >> 12 & 0x3F];
        out += alphabet[group >> 6 & 0x3F];
        out += alphabet[group & 0x3F];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t group = byte(i) << 16;
        out += alphabet[group >> 18 & 0x3F];
        out += alphabet[group >> 12 & 0x3F];
        if (variant.padded) {
            out += "==";
        }
    } else if (rest == 2) {
        const std::uint32_t group = byte(i) << 16 | byte(i + 1) << 8;
        out += alphabet[group >> 18 & 0x3F];
        out += alphabet[group >> 12 & 0x3F];
        out += alphabet[group >> 6 & 0x3F];
        if (variant.padded) {
            out += '=';
        }
    }
    return out;
}

/// The 6-bit value of a character of `alphabet`, or -1.
int sextet(char c, std::string_view alphabet) noexcept {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == alphabet[62]) {
        return 62;
    }
    if (c == alphabet[63]) {
        return 63;
    }
    return -1;
}

std::optional<std::string> decode(std::string_view text, const Base64Variant& variant) {
    if (variant.padded) {
        // A multiple of 4 with at most two '=' at the end; what is left is read as unpadded text, so a '=' that
        // stands anywhere else fails below as a character outside the alphabet.
        if (text.size() % 4 != 0) {
            return std::nullopt;
        }
        for (int k = 0; k < 2 && !text.empty() && text.back() == '='; ++k) {
            text.remove_suffix(1);
        }
    }
    if (text.size() % 4 == 1) {  // 6 bits cannot make a byte
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t bits = 0;  // the pending bits, in the low `pending` bits
    int pending = 0;
    for (const char c : text) {
        const int value = sextet(c, variant.alphabet);
        if (value < 0) {
            return std::nullopt;
        }
        bits = (bits << 6 | static_cast<std::uint32_t>(value)) & 0xFFFU;  // never more than 12 pending bits
        pending += 6;
        if (pending >= 8) {
            pending -= 8;
            out += static_cast<char>(bits >> pending & 0xFFU);
        }
    }
    // 0, 2 or 4 bits are left over; in the one canonical encoding they are zero.
    if ((bits & ((1U << pending) - 1U)) != 0) {
        return std::nullopt;
    }
    return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    return encode(bytes, kStandard);
}

std::optional<std::string> base64_decode(std::string_view text) {
    return decode(text, kStandard);
}

std::string base64url_encode(std::string_view bytes) {
    return encode(bytes, kUrl);
}

std::optional<std::string> base64url_decode(std::string_view text) {
    return decode(text, kUrl);
}

std::string to_hex(std::string_view bytes) {
    std::string out;
    out.reserve(2 * bytes.size());
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        out += kHexDigits[byte >> 4U];
        out += kHexDigits[byte & 0xFU];
    }
    return out;
}

std::string to_hex(std::uint64_t value) {
    std::string out(16, '0');
    for (auto i = out.size(); i-- > 0;) {
        out[i] = kHexDigits[value & 0xFU];
        value >>= 4U;
    }
    return out;
}

int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool is_valid_utf8(std::string_view text) noexcept {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x80) {
            ++i;
            continue;
        }
        // Table 3-7: the lead byte fixes the length and the range of the second byte (narrower after E0, ED, F0
        // and F4: that is what excludes overlong forms, surrogates and code points above U+10FFFF).
        std::size_t length = 0;
        unsigned char low = 0x80;
        unsigned char high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead == 0xE0) {
            length = 3;
            low = 0xA0;
        } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
            length = 3;
        } else if (lead == 0xED) {
            length = 3;
            high = 0x9F;
        } else if (lead == 0xF0) {
            length = 4;
            low = 0x90;
        } else if (lead >= 0xF1 && lead <= 0xF3) {
            length = 4;
        } else if (lead == 0xF4) {
            length = 4;
            high = 0x8F;
        } else {
            return false;  // a continuation byte, C0/C1 (always overlong) or F5..FF (beyond U+10FFFF)
        }
        if (text.size() - i < length) {
            return false;
        }
        const auto second = static_cast<unsigned char>(text[i + 1]);
        if (second < low || second > high) {
            return false;
        }
        for (std::size_t k = 2; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if (next < 0x80 || next > 0xBF) {
                return false;
            }
        }
        i += length;
    }
    return true;
}

}  // namespace relink::encoding
