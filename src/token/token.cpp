// Login tokens (token/token.hpp): "rl1.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>", see docs/tokens.md.
#include "token/token.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <limits>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/encoding.hpp"
#include "relink/error.hpp"

namespace relink::token {
namespace {

constexpr std::string_view kPrefix = "rl1.";
constexpr std::size_t kMacSize = 32;  // SHA-256
using Mac = std::array<unsigned char, kMacSize>;

// OpenSSL speaks unsigned char, std::string char: the same bytes (both character types may alias anything).
const unsigned char* as_bytes(std::string_view text) noexcept {
    return reinterpret_cast<const unsigned char*>(text.data());  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}

std::string_view as_chars(const Mac& mac) noexcept {
    const auto* chars =
        reinterpret_cast<const char*>(mac.data());  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
    return {chars, mac.size()};
}

/// HMAC-SHA256(secret, data); nullopt only if OpenSSL fails (or the secret is absurdly long).
std::optional<Mac> hmac_sha256(std::string_view secret, std::string_view data) noexcept {
    if (secret.size() > static_cast<std::size_t>(INT_MAX)) {
        return std::nullopt;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int out_size = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), as_bytes(data), data.size(), out.data(),
             &out_size) == nullptr ||
        out_size != kMacSize) {
        return std::nullopt;
    }
    Mac mac{};
    std::copy_n(out.begin(), kMacSize, mac.begin());
    OPENSSL_cleanse(out.data(), out.size());
    return mac;
}

/// The claims of a JSON text, or nullopt when it is not an object with the members and types of docs/tokens.md.
/// Members it does not know are ignored (see docs/tokens.md, "Claims", for why that is safe).
std::optional<Claims> parse_claims(std::string_view json_text) {
    const auto json = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
        return std::nullopt;
    }
    Claims claims;
    const auto app = json.find("app");
    const auto user = json.find("user");
    const auto exp = json.find("exp");
    if (app == json.end() || !app->is_string() || user == json.end() || !user->is_string() || exp == json.end() ||
        !exp->is_number_integer()) {
        return std::nullopt;
    }
    claims.app_id = app->get<std::string>();
    claims.user_id = user->get<std::string>();
    if (exp->is_number_unsigned()) {
        const auto value = exp->get<std::uint64_t>();
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        claims.expires_at = static_cast<std::int64_t>(value);
    } else {
        claims.expires_at = exp->get<std::int64_t>();
    }
    if (const auto ch = json.find("ch"); ch != json.end()) {
        if (!ch->is_array()) {
            return std::nullopt;
        }
        claims.channels.reserve(ch->size());
        for (const auto& channel : *ch) {
            if (!channel.is_string()) {
                return std::nullopt;
            }
            claims.channels.push_back(channel.get<std::string>());
        }
    }
    return claims;
}

Verified failure(errc code) noexcept {
    return Verified{make_error_code(code), Claims{}};
}

Verified verify_unguarded(std::string_view token, std::string_view secret, std::string_view app_id,
                          std::string_view user_id, std::int64_t now_unix) {
    // Shape first, cheaply and without touching the secret: "rl1." claims "." mac, nothing else.
    if (token.size() > kMaxTokenSize || secret.empty() || token.substr(0, kPrefix.size()) != kPrefix) {
        return failure(errc::invalid_token);
    }
    const auto dot = token.find('.', kPrefix.size());
    if (dot == std::string_view::npos || dot == kPrefix.size()) {
        return failure(errc::invalid_token);
    }
    const auto signed_part = token.substr(0, dot);  // "rl1." + claims part: exactly the bytes the MAC covers
    const auto mac_part = token.substr(dot + 1);

    // The MAC before anything else about the claims, so that a forger learns nothing from the error. Comparing
    // the canonical encoding of the expected MAC (rather than decoding the presented one) means no second
    // spelling of a valid MAC is accepted either.
    const auto expected = hmac_sha256(secret, signed_part);
    if (!expected) {
        return failure(errc::invalid_token);
    }
    const auto expected_part = encoding::base64url_encode(as_chars(*expected));
    if (mac_part.size() != expected_part.size() ||
        CRYPTO_memcmp(mac_part.data(), expected_part.data(), expected_part.size()) != 0) {
        return failure(errc::invalid_token);
    }

    // Authentic from here on: whoever holds the secret wrote these claims.
    const auto json_text = encoding::base64url_decode(signed_part.substr(kPrefix.size()));
    if (!json_text) {
        return failure(errc::invalid_token);
    }
    auto claims = parse_claims(*json_text);
    if (!claims || claims->app_id != app_id || claims->user_id != user_id) {
        return failure(errc::invalid_token);
    }
    if (claims->expires_at != 0 && now_unix >= claims->expires_at) {
        return failure(errc::token_expired);
    }
    return Verified{std::error_code{}, std::move(*claims)};
}

}  // namespace

std::string mint(const Claims& claims, std::string_view secret) {
    if (secret.empty()) {
        throw std::invalid_argument("relink::token::mint: the secret is empty");
    }
    // Member order as documented ("app", "user", "exp", "ch"), so that the same claims always give the same token.
    nlohmann::ordered_json json;
    json["app"] = claims.app_id;
    json["user"] = claims.user_id;
    json["exp"] = claims.expires_at;
    if (!claims.channels.empty()) {
        json["ch"] = claims.channels;
    }
    std::string json_text;
    try {
        json_text = json.dump();
    } catch (const nlohmann::json::exception&) {
        throw std::invalid_argument("relink::token::mint: a claim is not valid UTF-8");
    }
    std::string token{kPrefix};
    token += encoding::base64url_encode(json_text);
    const auto mac = hmac_sha256(secret, token);
    if (!mac) {
        throw std::runtime_error("relink::token::mint: HMAC-SHA256 failed");
    }
    token += '.';
    token += encoding::base64url_encode(as_chars(*mac));
    if (token.size() > kMaxTokenSize) {
        throw std::invalid_argument("relink::token::mint: the token would be longer than 4096 bytes");
    }
    return token;
}

Verified verify(std::string_view token, std::string_view secret, std::string_view app_id, std::string_view user_id,
                std::int64_t now_unix) {
    try {
        return verify_unguarded(token, secret, app_id, user_id, now_unix);
    } catch (...) {  // only std::bad_alloc can get here: the input is at most 4 KiB and the parser does not throw
        return failure(errc::invalid_token);
    }
}

}  // namespace relink::token
