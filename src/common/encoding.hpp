// common/encoding.hpp — the text encodings relink uses, written once for the whole project: base64 (RFC 4648:
// the standard alphabet with padding, for binary message payloads on the wire, and the URL-safe alphabet without
// padding, for login tokens and payloads kept in Redis), lowercase hex, and the check for well-formed UTF-8.
//
// The decoders are strict on purpose: each accepts exactly one spelling of a byte string (no whitespace, no
// missing or extra padding, no set bits after the last byte), so that a token or a frame cannot be re-spelled
// into a second valid form. Pure functions on their arguments (part of the sans-IO core): call them from any
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace relink::encoding {

/// Standard base64 (RFC 4648 section 4: "+/" and '=' padding to a multiple of 4 characters).
[[nodiscard]] std::string base64_encode(std::string_view bytes);
/// The strict inverse of base64_encode(): nullopt for a length that is not a multiple of 4, '=' anywhere but in
/// the last two places, any character outside the alphabet (whitespace too), or unused bits of the last character
/// that are not zero.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

/// base64url without padding (RFC 4648 section 5: "-_", no '=').
[[nodiscard]] std::string base64url_encode(std::string_view bytes);
/// The strict inverse of base64url_encode(): nullopt for any '=' or other character outside the alphabet, a
/// length that leaves 6 bits over (4k + 1), or unused bits of the last character that are not zero.
[[nodiscard]] std::optional<std::string> base64url_decode(std::string_view text);

/// Two lowercase hex digits per byte, most significant nibble first.
[[nodiscard]] std::string to_hex(std::string_view bytes);
/// The 16 lowercase hex digits of `value`, most significant first (leading zeros kept).
[[nodiscard]] std::string to_hex(std::uint64_t value);
/// The value of one hex digit (either case), or -1 when `c` is not one.
[[nodiscard]] int hex_digit_value(char c) noexcept;

/// Well-formed UTF-8 as in Unicode table 3-7: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
/// U+10FFFF, no truncated sequence. Exactly what nlohmann::json's serializer accepts without replacing anything.
[[nodiscard]] bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace relink::encoding
