// tests/fuzz/fuzz_token.cpp — libFuzzer target for login tokens (src/token/token.hpp: token::verify, token::mint,
// token::mint_jwt), checked against reference verifiers written here from docs/tokens.md (their own base64url,
// OpenSSL's HMAC called directly, nlohmann for the claims JSON; for ES256 another OpenSSL path than relink's). Kinds
// of input:
//
//   "rl1." ...         the input is a token, verified with the secret "s3cret" for app "demo-app", user "alice"
//                      at Unix time 1700000000 (the corpus holds valid, expired, tampered and foreign tokens);
//   anything else      the same, as a JWT, for an app with that secret (HS256) and the target's own ES256 key;
//   "sign:" CLAIMS     the harness signs the bytes CLAIMS as a claims segment with that secret, as a backend that
//                      holds the secret would, so that everything after the MAC check is reached too;
//   "jwtsign:" HEADER "\n" CLAIMS   the same for a JWT: header and claims bytes signed with HS256 under the secret
//                      (whatever the header names), so that the header and claim rules are reached;
//   "mint:" BYTES      claims and a secret are read from BYTES, minted, and the token verified and tampered with;
//   "jwtmint:" BYTES   claims read from BYTES, minted as an HS256 or ES256 JWT, verified and tampered with.
//
// JWT properties: verify() agrees exactly with the reference (accepted with the same claims / TOKEN_EXPIRED /
// INVALID_TOKEN), leaves nothing on OpenSSL's error queue, and nothing but the app's keys, app and user accept an
// accepted JWT; mint_jwt() throws only std::invalid_argument, its token verifies (or is TOKEN_EXPIRED exactly when
// now >= exp), and one changed byte or a cut makes it INVALID_TOKEN.
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
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/err.h>
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

// ---------------------------------------------------------------- JWT: the reference, from docs/tokens.md

// A P-256 key pair for the target only (its private key signs the corpus' ES256 tokens; it protects nothing).
constexpr std::string_view kEsPrivatePem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7p5RvMB9g1oGMyGN
WLAPJ2bfT0QREMtACABuWt5lclmhRANCAARmxB+IfjIjLOvP6O78z4GId12uFlIN
kJFwqbDJS16Idq1ldRnuZIpCZrCy4vfya29dM2LS/E4vxGOXzbdbuKp7
-----END PRIVATE KEY-----
)";
constexpr std::string_view kEsPublicPem = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZsQfiH4yIyzrz+ju/M+BiHddrhZS
DZCRcKmwyUteiHatZXUZ7mSKQmawsuL38mtvXTNi0vxOL8Rjl823W7iqew==
-----END PUBLIC KEY-----
)";

const relink::token::PublicKey& es_public() {
    static const auto key = relink::token::PublicKey::from_pem(relink::token::Algorithm::es256, kEsPublicPem);
    return key;
}
const relink::token::PrivateKey& es_private() {
    static const auto key = relink::token::PrivateKey::from_pem(relink::token::Algorithm::es256, kEsPrivatePem);
    return key;
}
/// The keys the target's app has: the secret (rl1, HS256) and the ES256 public key.
const relink::token::AppKeys& app_keys() {
    static const relink::token::AppKeys keys{std::string(kSecret), {es_public()}};
    return keys;
}

/// JOSE's r || s checked through another OpenSSL path than verify()'s: the SHA-256 digest computed apart, the DER
/// signature built here, and EVP_PKEY_verify on the digest.
bool reference_es256(std::string_view signed_part, std::string_view raw) {
    if (raw.size() != 64) {
        return false;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_size = 0;
    if (EVP_Digest(signed_part.data(), signed_part.size(), digest.data(), &digest_size, EVP_sha256(), nullptr) != 1) {
        return false;
    }
    // DER by hand: SEQUENCE { INTEGER r, INTEGER s }, each minimal with a 0x00 before a high bit.
    const auto integer = [](std::string_view half) {
        std::size_t skip = 0;
        while (skip + 1 < half.size() && half[skip] == '\0') {
            ++skip;
        }
        std::string body(half.substr(skip));
        if ((static_cast<unsigned char>(body[0]) & 0x80U) != 0) {
            body.insert(body.begin(), '\0');
        }
        return std::string{'\x02', static_cast<char>(body.size())} + body;
    };
    const std::string content = integer(raw.substr(0, 32)) + integer(raw.substr(32));
    const std::string der = std::string{'\x30', static_cast<char>(content.size())} + content;
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(es_public().native(), nullptr);
    const bool ok = ctx != nullptr && EVP_PKEY_verify_init(ctx) == 1 &&
                    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
                    EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(der.data()),  // NOLINT
                                    der.size(), digest.data(), digest_size) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

std::optional<std::int64_t> reference_date(const nlohmann::json& value, bool round_up) {
    if (value.is_number_unsigned()) {
        if (value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(value.get<std::uint64_t>());
    }
    if (value.is_number_integer()) {
        return value.get<std::int64_t>();
    }
    if (value.is_number_float()) {
        const double d = round_up ? std::ceil(value.get<double>()) : std::floor(value.get<double>());
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

/// docs/tokens.md, "JWT", step by step, for an app with the secret kSecret and the ES256 key above.
Expected reference_verify_jwt(std::string_view token, std::string_view app, std::string_view user, std::int64_t now) {
    if (token.size() > relink::token::kMaxTokenSize || token.substr(0, 4) == "rl1.") {
        return invalid();
    }
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t dot = token.find('.'); dot != std::string_view::npos; dot = token.find('.', start)) {
        parts.push_back(token.substr(start, dot - start));
        start = dot + 1;
    }
    parts.push_back(token.substr(start));
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) {
        return invalid();
    }
    const auto header_text = b64url_strict(parts[0]);
    if (!header_text) {
        return invalid();
    }
    const auto header = nlohmann::json::parse(*header_text, nullptr, false);
    if (!header.is_object() || header.contains("crit") || !header.contains("alg") || !header["alg"].is_string()) {
        return invalid();
    }
    if (header.contains("typ")) {
        if (!header["typ"].is_string()) {
            return invalid();
        }
        std::string typ = header["typ"].get<std::string>();
        for (auto& c : typ) {
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        if (typ != "JWT") {
            return invalid();
        }
    }
    const std::string alg = header["alg"].get<std::string>();
    const std::string signed_part = std::string(parts[0]) + "." + std::string(parts[1]);
    if (alg == "HS256") {
        if (b64url(hmac(kSecret, signed_part)) != parts[2]) {
            return invalid();
        }
    } else if (alg == "ES256") {
        const auto signature = b64url_strict(parts[2]);
        if (!signature || !reference_es256(signed_part, *signature)) {
            return invalid();
        }
    } else {
        return invalid();
    }
    const auto text = b64url_strict(parts[1]);
    if (!text) {
        return invalid();
    }
    const auto json = nlohmann::json::parse(*text, nullptr, false);
    if (!json.is_object() || !json.contains("sub") || !json["sub"].is_string() || !json.contains("app") ||
        !json["app"].is_string() || !json.contains("exp")) {
        return invalid();
    }
    Claims claims;
    claims.user_id = json["sub"].get<std::string>();
    claims.app_id = json["app"].get<std::string>();
    const auto exp = reference_date(json["exp"], false);
    if (!exp || *exp <= 0) {
        return invalid();
    }
    claims.expires_at = *exp;
    std::optional<std::int64_t> nbf;
    if (json.contains("nbf")) {
        nbf = reference_date(json["nbf"], true);
        if (!nbf) {
            return invalid();
        }
    }
    if (json.contains("iat") && !reference_date(json["iat"], false)) {
        return invalid();
    }
    if (json.contains("aud")) {
        const auto& aud = json["aud"];
        bool names_app = aud.is_string() && aud.get<std::string>() == app;
        if (aud.is_array()) {
            for (const auto& item : aud) {
                names_app = names_app || (item.is_string() && item.get<std::string>() == app);
            }
        }
        if (!names_app) {
            return invalid();
        }
    }
    if (json.contains("channels")) {
        if (!json["channels"].is_array()) {
            return invalid();
        }
        for (const auto& channel : json["channels"]) {
            if (!channel.is_string()) {
                return invalid();
            }
            claims.channels.push_back(channel.get<std::string>());
        }
    }
    if (claims.app_id != app || claims.user_id != user || (nbf && now < *nbf)) {
        return invalid();
    }
    if (now >= claims.expires_at) {
        return {relink::make_error_code(relink::errc::token_expired), {}};
    }
    return {{}, claims};
}

Verified verify_jwt(std::string_view token, const relink::token::AppKeys& keys, std::string_view app,
                    std::string_view user, std::int64_t now) {
    try {
        return relink::token::verify(token, keys, app, user, now);
    } catch (...) {
        relink::fuzz::property_failed(__FILE__, __LINE__, "verify", "verify() threw on a JWT");
    }
}

/// verify() of a JWT agrees with the reference; nothing but the app's own keys, app and user accept it.
void check_jwt(std::string_view token, std::string_view app, std::string_view user, std::int64_t now) {
    const Verified got = verify_jwt(token, app_keys(), app, user, now);
    FUZZ_CHECK(ERR_peek_error() == 0, "verify() left an error on OpenSSL's queue");
    const Expected want = reference_verify_jwt(token, app, user, now);
    FUZZ_CHECK(got.error == want.error, "verify() says '" + got.error.message() + "', the reference '" +
                                            want.error.message() + "' for " + std::string(token));
    if (got.error) {
        return;
    }
    FUZZ_CHECK(same(got.claims, want.claims), "verify() accepted other claims than the JWT's: " + std::string(token));
    FUZZ_CHECK(got.claims.expires_at > now, "accepted a JWT at or after its exp");
    FUZZ_CHECK(verify_jwt(token, relink::token::AppKeys{}, app, user, now).error, "no keys verified a JWT");
    FUZZ_CHECK(verify_jwt(token, relink::token::AppKeys{std::string(kSecret) + "x", {}}, app, user, now).error,
               "another secret (and no public key) verified a JWT");
    FUZZ_CHECK(verify_jwt(token, app_keys(), std::string(app) + "x", user, now).error, "another app verified a JWT");
    FUZZ_CHECK(verify_jwt(token, app_keys(), app, std::string(user) + "x", now).error, "another user verified a JWT");
}

/// "jwtsign:" HEADER "\n" CLAIMS: both signed with HS256 under the secret, whatever the header says, as a backend
/// holding the secret would, so that the header and claim rules behind the signature are reached.
void check_jwt_sign(std::string_view input) {
    const auto newline = input.find('\n');
    const std::string_view header = input.substr(0, newline);
    const std::string_view claims = newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
    const std::string signed_part = b64url(header) + "." + b64url(claims);
    check_jwt(signed_part + "." + b64url(hmac(kSecret, signed_part)), kApp, kUser, kNow);
}

/// "jwtmint:": claims from the bytes → mint_jwt (HS256 or ES256) → verify, tamper, truncate.
void check_jwt_mint(std::string_view bytes) {
    ByteReader in(bytes);
    Claims claims;
    claims.app_id = in.boolean() ? std::string(kApp) : in.text();
    claims.user_id = in.boolean() ? std::string(kUser) : in.text();
    claims.expires_at = expiry(in);
    claims.channels.resize(in.below(4) == 0 ? in.u8() : in.below(4));
    for (auto& channel : claims.channels) {
        channel = in.text(64);
    }
    const std::int64_t issued_at = in.i64();
    const bool es = in.boolean();
    const std::int64_t now = in.boolean() ? kNow : in.i64();

    std::string token;
    try {
        token = es ? relink::token::mint_jwt(claims, issued_at, es_private())
                   : relink::token::mint_jwt(claims, issued_at, kSecret);
    } catch (const std::invalid_argument&) {
        const auto json = canonical_json(claims);
        FUZZ_CHECK(claims.expires_at <= 0 || !json || json->size() > relink::token::kMaxTokenSize / 2,
                   "mint_jwt() refused claims it can sign");
        return;
    } catch (...) {
        FUZZ_CHECK(false, "mint_jwt() threw something else than std::invalid_argument");
    }
    FUZZ_CHECK(token.size() <= relink::token::kMaxTokenSize, "mint_jwt() made a token over 4096 bytes");
    FUZZ_CHECK(ERR_peek_error() == 0, "mint_jwt() left an error on OpenSSL's queue");
    const Verified verified = verify_jwt(token, app_keys(), claims.app_id, claims.user_id, now);
    if (now >= claims.expires_at) {
        FUZZ_CHECK(verified.error == relink::make_error_code(relink::errc::token_expired),
                   "an expired JWT is not TOKEN_EXPIRED: " + verified.error.message());
    } else {
        FUZZ_CHECK(!verified.error && same(verified.claims, claims),
                   "a minted JWT does not verify to its claims: " + verified.error.message());
    }
    check_jwt(token, claims.app_id, claims.user_id, now);

    std::string tampered = token;
    const std::size_t at = static_cast<std::size_t>(in.u64() % tampered.size());
    tampered[at] = static_cast<char>(tampered[at] ^ static_cast<char>(in.u8() | 1U));
    FUZZ_CHECK(verify_jwt(tampered, app_keys(), claims.app_id, claims.user_id, now).error ==
                   relink::make_error_code(relink::errc::invalid_token),
               "a JWT with byte " + std::to_string(at) + " changed is not INVALID_TOKEN");
    const std::string cut = token.substr(0, static_cast<std::size_t>(in.u64() % token.size()));
    FUZZ_CHECK(verify_jwt(cut, app_keys(), claims.app_id, claims.user_id, now).error ==
                   relink::make_error_code(relink::errc::invalid_token),
               "a truncated JWT is not INVALID_TOKEN");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input = relink::fuzz::as_text(data, size);
    if (input.starts_with("mint:")) {
        check_mint(input.substr(5));
    } else if (input.starts_with("sign:")) {
        const std::string token = sign(b64url(input.substr(5)), kSecret);
        check_verify(token, kSecret, kApp, kUser, kNow);
    } else if (input.starts_with("jwtmint:")) {
        check_jwt_mint(input.substr(8));
    } else if (input.starts_with("jwtsign:")) {
        check_jwt_sign(input.substr(8));
    } else if (input.starts_with("rl1.")) {
        check_verify(input, kSecret, kApp, kUser, kNow);
    } else {
        check_jwt(input, kApp, kUser, kNow);  // anything else is a JWT (or nothing)
    }
    return 0;
}
