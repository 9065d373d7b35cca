// token/token.hpp — relink's login tokens: HMAC-SHA256-signed claims (app id, user id, expiry, optional channel
// privileges), minted by `relink-token` or an app's backend and verified by relinkd against the app's secret.
//
// Format (docs/tokens.md): "rl1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(secret, "rl1." + claims part))>".
// Verification is total over any input and compares the MAC in constant time. Expiry is wall-clock time (Unix
// seconds), passed in by the caller: this module reads no clock.
//
// Thread safety: every function here is a pure computation on its arguments; call them from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace relink::token {

/// The longest token verify() accepts (and mint() produces), in bytes.
inline constexpr std::size_t kMaxTokenSize = 4096;

struct Claims {
    std::string app_id;
    std::string user_id;
    std::int64_t expires_at{0};         ///< Unix seconds; 0 = never
    std::vector<std::string> channels;  ///< channels the holder may join; empty = any
};

/// Signs claims with the app's secret.
/// @throws std::invalid_argument if the secret is empty, a string is not valid UTF-8, or the token would be
///         longer than kMaxTokenSize (too many channels); std::runtime_error if OpenSSL fails.
[[nodiscard]] std::string mint(const Claims& claims, std::string_view secret);

struct Verified {
    std::error_code error;  ///< errc::invalid_token (malformed, bad MAC, other app or user) or errc::token_expired
    Claims claims;          ///< valid only when !error
};

/// Checks a token for (app, user) at wall-clock time `now_unix` (seconds): the MAC first, then the claims. Never
/// throws (any failure, even out of memory, is errc::invalid_token); an empty secret verifies nothing.
[[nodiscard]] Verified verify(std::string_view token, std::string_view secret, std::string_view app_id,
                              std::string_view user_id, std::int64_t now_unix);

}  // namespace relink::token
