// tests/fuzz/fuzz_token.cpp — libFuzzer target for login tokens (src/token/token.hpp: token::verify, token::mint),
// checked against a reference verifier written here from docs/tokens.md (its own base64url, OpenSSL's HMAC
// called directly, nlohmann for the claims JSON). Three kinds of input:
//
//   anything else      the input is a token, verified with the secret "s3cret" for app "demo-app", user "alice"
//                      at Unix time 1700000000 (the corpus holds valid, expired, tampered and foreign tokens);
//   "sign:" CLAIMS     the harness signs the bytes CLAIMS as a claims segment with that secret, as a backend that
//                      holds the secret would, so that everything after the MAC check is reached too;
//   "mint:" BYTES      claims and a secret are read from BYTES, minted, and the token verified and tampered with.
//
// Properties checked (docs/fuzzing.md):
//  - verify() never throws and agrees exactly with the reference: accepted with the same claims, TOKEN_EXPIRED,
//    or INVALID_TOKEN; an empty secret, another secret, app or user never verify;
//  - verify() never accepts a token that mint() with that secret would not produce for its claims segment: the
//    MAC is the canonical one of exactly those bytes, and when the claims JSON is mint's own spelling the token is
//    byte for byte mint(claims, secret); the accepted claims, minted again, verify to the same claims;
//  - mint() produces exactly the documented format (the reference builds it independently), throws only
//    std::invalid_argument for an empty secret, a claim that is not UTF-8 or a token over 4096 bytes, and its
//    token verifies to the same claims (or TOKEN_EXPIRED exactly when now >= exp != 0); changing any one byte
//    of it, or cutting it short, makes it INVALID_TOKEN.
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz_support.hpp"
#include "relink/error.hpp"
#include "token/token.hpp"

namespace {

using relink::fuzz::ByteReader;
using relink::token::Claims;
using relink::token::Verified;

constexpr std::string_view kSecret = "s3cret";
constexpr std::string_view kApp = "demo-app";
constexpr std::string_view kUser = "alice";
constexpr std::int64_t kNow = 1'700'000'000;

// ---------------------------------------------------------------- the reference, from docs/tokens.md

constexpr std::string_view kB64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string b64url(std::string_view bytes) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : bytes) {
        acc = acc << 8U | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kB64Url[(acc >> static_cast<unsigned>(bits)) & 0x3FU];
        }
        acc &= 0xFFU;  // at most 6 pending bits matter
    }
    if (bits > 0) {
        out += kB64Url[(acc << static_cast<unsigned>(6 - bits)) & 0x3FU];
    }
    return out;
}

/// Strict: the alphabet only, no padding, and the encoding must be the canonical one of what it decodes to.
std::optional<std::string> b64url_strict(std::string_view text) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const auto pos = kB64Url.find(c);
        if (pos == std::string_view::npos) {
            return std::nullopt;
        }
        acc = (acc << 6U | static_cast<std::uint32_t>(pos)) & 0xFFFFU;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> static_cast<unsigned>(bits)) & 0xFFU);
        }
    }
    if (b64url(out) != text) {
        return std::nullopt;  // an impossible length or non-zero unused bits
    }
    return out;
}

std::string hmac(std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int length = 0;
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());  // NOLINT
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes, data.size(), mac.data(), &length) ==
        nullptr) {
        relink::fuzz::property_failed(__FILE__, __LINE__, "HMAC", "OpenSSL's HMAC failed");
    }
    return {reinterpret_cast<const char*>(mac.data()), length};  // NOLINT
}

/// "rl1." + claims segment + "." + MAC segment, for any claims segment.
std::string sign(std::string_view claims_segment, std::string_view secret) {
    std::string signed_part = "rl1.";
    signed_part += claims_segment;
    return signed_part + "." + b64url(hmac(secret, signed_part));
}

/// mint()'s JSON spelling: "app", "user", "exp", then "ch" when not empty; no spaces.
std::optional<std::string> canonical_json(const Claims& c) {
    nlohmann::ordered_json json;
    json["app"] = c.app_id;
    json["user"] = c.user_id;
    json["exp"] = c.expires_at;
    if (!c.channels.empty()) {
        json["ch"] = c.channels;
    }
    try {
        return json.dump();
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // not UTF-8
    }
}

struct Expected {
    std::error_code error;
    Claims claims;
};

Expected invalid() {
    return {relink::make_error_code(relink::errc::invalid_token), {}};
}

/// docs/tokens.md, "How relinkd verifies", step by step.
Expected reference_verify(std::string_view token, std::string_view secret, std::string_view app, std::string_view user,
                          std::int64_t now) {
    if (token.size() > relink::token::kMaxTokenSize || secret.empty() || token.substr(0, 4) != "rl1.") {
        return invalid();
    }
    const std::string_view rest = token.substr(4);
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) {
        return invalid();
    }
    const std::string_view claims_segment = rest.substr(0, dot);
    if (sign(claims_segment, secret) != token) {
        return invalid();  // the MAC segment is not exactly the canonical MAC of these bytes
    }
    const auto text = b64url_strict(claims_segment);
    if (!text) {
        return invalid();
    }
    const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) {
        return invalid();
    }
    const auto app_it = json.find("app");
    const auto user_it = json.find("user");
    const auto exp_it = json.find("exp");
    if (app_it == json.end() || user_it == json.end() || exp_it == json.end() || !app_it->is_string() ||
        !user_it->is_string() || !exp_it->is_number_integer()) {
        return invalid();
    }
    Claims claims;
    claims.app_id = app_it->get<std::string>();
    claims.user_id = user_it->get<std::string>();
    if (exp_it->is_number_unsigned()) {
        const auto exp = exp_it->get<std::uint64_t>();
        if (exp > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return invalid();
        }
        claims.expires_at = static_cast<std::int64_t>(exp);
    } else {
        claims.expires_at = exp_it->get<std::int64_t>();
    }
    if (const auto ch = json.find("ch"); ch != json.end()) {
        if (!ch->is_array()) {
            return invalid();
        }
        for (const auto& channel : *ch) {
            if (!channel.is_string()) {
                return invalid();
            }
            claims.channels.push_back(channel.get<std::string>());
        }
    }
    if (claims.app_id != app || claims.user_id != user) {
        return invalid();
    }
    if (claims.expires_at != 0 && now >= claims.expires_at) {
        return {relink::make_error_code(relink::errc::token_expired), {}};
    }
    return {{}, claims};
}

// ---------------------------------------------------------------- checks

bool same(const Claims& a, const Claims& b) {
    return a.app_id == b.app_id && a.user_id == b.user_id && a.expires_at == b.expires_at && a.channels == b.channels;
}

Verified verify(std::string_view token, std::string_view secret, std::string_view app, std::string_view user,
                std::int64_t now) {
    try {
        return relink::token::verify(token, secret, app, user, now);
    } catch (...) {
        relink::fuzz::property_failed(__FILE__, __LINE__, "verify", "verify() threw");
    }
}

/// verify() agrees with the reference, and what it accepts is what mint() would have signed.
void check_verify(std::string_view token, std::string_view secret, std::string_view app, std::string_view user,
                  std::int64_t now) {
    const Verified got = verify(token, secret, app, user, now);
    const Expected want = reference_verify(token, secret, app, user, now);
    FUZZ_CHECK(got.error == want.error, "verify() says '" + got.error.message() + "', the reference '" +
                                            want.error.message() + "' for " + std::string(token));
    if (got.error) {
        return;
    }
    FUZZ_CHECK(same(got.claims, want.claims), "verify() accepted other claims than the token's: " + std::string(token));
    // Never accepted: what the secret's holder did not sign. The signed part is the token up to its second dot.
    const auto second_dot = token.find('.', 4);
    const std::string_view claims_segment = token.substr(4, second_dot - 4);
    FUZZ_CHECK(token == sign(claims_segment, secret), "accepted a MAC that is not mint's for these bytes");
    const auto json = canonical_json(got.claims);
    FUZZ_CHECK(json.has_value(), "accepted claims that are not UTF-8");
    const std::string minted = relink::token::mint(got.claims, secret);
    if (claims_segment == b64url(*json)) {
        FUZZ_CHECK(minted == token,
                   "accepted a token in mint's spelling that mint would not produce: " + std::string(token));
    }
    const Verified again = verify(minted, secret, app, user, now);
    FUZZ_CHECK(!again.error && same(again.claims, got.claims), "accepted claims do not survive mint → verify");
    // Nothing else verifies it.
    FUZZ_CHECK(verify(token, "", app, user, now).error, "an empty secret verified a token");
    FUZZ_CHECK(verify(token, std::string(secret) + "x", app, user, now).error, "another secret verified a token");
    FUZZ_CHECK(verify(token, secret, std::string(app) + "x", user, now).error, "another app verified a token");
    FUZZ_CHECK(verify(token, secret, app, std::string(user) + "x", now).error, "another user verified a token");
}

std::int64_t expiry(ByteReader& in) {
    switch (in.below(6)) {
        case 0: return 0;
        case 1: return kNow;
        case 2: return kNow + 1;
        case 3: return kNow - 1;
        case 4: return std::numeric_limits<std::int64_t>::max();
        default: return in.i64();
    }
}

/// "mint:": claims and secret from the bytes → mint → verify, tamper, truncate.
void check_mint(std::string_view bytes) {
    ByteReader in(bytes);
    Claims claims;
    claims.app_id = in.boolean() ? std::string(kApp) : in.text();
    claims.user_id = in.boolean() ? std::string(kUser) : in.text();
    claims.expires_at = expiry(in);
    claims.channels.resize(in.below(4) == 0 ? in.u8() : in.below(4));  // sometimes enough to pass 4096 bytes
    for (auto& channel : claims.channels) {
        channel = in.text(64);
    }
    const std::string secret = in.boolean() ? std::string(kSecret) : in.text();
    const std::int64_t now = in.boolean() ? kNow : in.i64();

    const auto json = canonical_json(claims);
    const std::optional<std::string> reference =
        json && !secret.empty() ? std::optional(sign(b64url(*json), secret)) : std::nullopt;
    std::string token;
    try {
        token = relink::token::mint(claims, secret);
    } catch (const std::invalid_argument&) {
        FUZZ_CHECK(!reference || reference->size() > relink::token::kMaxTokenSize,
                   "mint() refused valid claims with a token of " + std::to_string(reference->size()) + " bytes");
        return;
    } catch (...) {
        FUZZ_CHECK(false, "mint() threw something else than std::invalid_argument");
    }
    FUZZ_CHECK(reference && token == *reference, "mint() is not the documented format: " + token);
    FUZZ_CHECK(token.size() <= relink::token::kMaxTokenSize, "mint() made a token over 4096 bytes");

    const Verified verified = verify(token, secret, claims.app_id, claims.user_id, now);
    if (claims.expires_at != 0 && now >= claims.expires_at) {
        FUZZ_CHECK(verified.error == relink::make_error_code(relink::errc::token_expired),
                   "an expired token is not TOKEN_EXPIRED: " + verified.error.message());
    } else {
        FUZZ_CHECK(!verified.error && same(verified.claims, claims),
                   "a minted token does not verify to its claims: " + verified.error.message());
    }
    check_verify(token, secret, claims.app_id, claims.user_id, now);

    // One changed byte anywhere, or a shorter token, is INVALID_TOKEN.
    std::string tampered = token;
    const std::size_t at = static_cast<std::size_t>(in.u64() % tampered.size());
    const auto flip = static_cast<char>(in.u8() | 1U);
    tampered[at] = static_cast<char>(tampered[at] ^ flip);
    FUZZ_CHECK(verify(tampered, secret, claims.app_id, claims.user_id, now).error ==
                   relink::make_error_code(relink::errc::invalid_token),
               "a token with byte " + std::to_string(at) + " changed is not INVALID_TOKEN");
    const std::string cut = token.substr(0, static_cast<std::size_t>(in.u64() % token.size()));
    FUZZ_CHECK(verify(cut, secret, claims.app_id, claims.user_id, now).error ==
                   relink::make_error_code(relink::errc::invalid_token),
               "a truncated token is not INVALID_TOKEN");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = relink::fuzz::as_text(data, size);
    if (input.starts_with("mint:")) {
        check_mint(input.substr(5));
    } else if (input.starts_with("sign:")) {
        const std::string token = sign(b64url(input.substr(5)), kSecret);
        check_verify(token, kSecret, kApp, kUser, kNow);
    } else {
        check_verify(input, kSecret, kApp, kUser, kNow);
    }
    return 0;
}
