// Login tokens (token/token.hpp): rl1 ("rl1.<base64url(claims JSON)>.<base64url(HMAC-SHA256)>") and JWTs (HS256,
// ES256, RS256), see docs/tokens.md.
#include "token/token.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

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

/// Whether `mac_part` is the base64url HMAC-SHA256 of `signed_part` under `secret`, compared in constant time.
/// Comparing the canonical encoding of the expected MAC (rather than decoding the presented one) means no second
/// spelling of a valid MAC is accepted either. Used by rl1 tokens and HS256 JWTs alike.
bool mac_matches(std::string_view mac_part, std::string_view secret, std::string_view signed_part) {
    const auto expected = hmac_sha256(secret, signed_part);
    if (!expected) {
        return false;
    }
    const auto expected_part = encoding::base64url_encode(as_chars(*expected));
    if (mac_part.size() != expected_part.size()) {
        return false;  // every MAC has the same length: this says nothing about the secret
    }
    return CRYPTO_memcmp(mac_part.data(), expected_part.data(), expected_part.size()) == 0;
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

    // The MAC before anything else about the claims, so that a forger learns nothing from the error.
    if (!mac_matches(mac_part, secret, signed_part)) {
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

// ------------------------------------------------------------------------------------------------------ JWT

constexpr std::size_t kEs256HalfSize = 32;  // r and s of a P-256 signature, each big-endian and zero-padded

struct MdCtxFree {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct BioFree {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct EcdsaSigFree {
    void operator()(ECDSA_SIG* sig) const noexcept { ECDSA_SIG_free(sig); }
};
struct BnFree {
    void operator()(BIGNUM* bn) const noexcept { BN_free(bn); }
};

/// Refuses every password: an encrypted PEM key is an error, never a prompt on relinkd's terminal.
int no_password(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
    return 0;
}

enum class KeyKind : std::uint8_t { public_key, private_key };

/// The first key of that kind in a PEM text, or null. Leaves nothing on OpenSSL's error queue (relinkd's TLS code
/// reads that queue on the same threads).
std::shared_ptr<EVP_PKEY> read_pem(std::string_view pem, KeyKind kind) {
    if (pem.size() > static_cast<std::size_t>(INT_MAX)) {
        return nullptr;
    }
    const std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* key = nullptr;
    if (bio) {
        key = kind == KeyKind::public_key ? PEM_read_bio_PUBKEY(bio.get(), nullptr, no_password, nullptr)
                                          : PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr);
    }
    ERR_clear_error();
    return key == nullptr ? nullptr : std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

/// Why `key` cannot serve `algorithm`, or an empty string when it can.
std::string key_type_error(Algorithm algorithm, EVP_PKEY* key) {
    switch (algorithm) {
        case Algorithm::hs256: return "HS256 is keyed with the app's secret, not with a key file";
        case Algorithm::es256: {
            if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
                return "ES256 needs an EC key on the P-256 curve; this is another type of key";
            }
            std::array<char, 80> group{};
            std::size_t length = 0;
            const bool named = EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) == 1;
            ERR_clear_error();
            if (!named || std::string_view(group.data(), length) != "prime256v1") {
                return "ES256 needs an EC key on the P-256 curve (prime256v1); this key is on another curve";
            }
            return {};
        }
        case Algorithm::rs256:
            if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
                return "RS256 needs an RSA key; this is another type of key";
            }
            if (EVP_PKEY_get_bits(key) < 2048) {
                return "RS256 needs an RSA key of at least 2048 bits";
            }
            return {};
    }
    return "unknown algorithm";
}

std::shared_ptr<EVP_PKEY> load_key(Algorithm algorithm, std::string_view pem, KeyKind kind) {
    if (algorithm == Algorithm::hs256) {
        throw std::invalid_argument(key_type_error(algorithm, nullptr));
    }
    auto key = read_pem(pem, kind);
    if (!key) {
        if (kind == KeyKind::public_key && read_pem(pem, KeyKind::private_key)) {
            throw std::invalid_argument(
                "this is a private key: give relinkd the public key only (openssl pkey -in KEY -pubout)");
        }
        throw std::invalid_argument(kind == KeyKind::public_key
                                        ? "not a PEM public key (-----BEGIN PUBLIC KEY-----)"
                                        : "not an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)");
    }
    if (auto error = key_type_error(algorithm, key.get()); !error.empty()) {
        throw std::invalid_argument(error);
    }
    return key;
}

/// JOSE's ES256 signature (r || s, 32 bytes each) as the DER ECDSA-Sig-Value OpenSSL verifies; nullopt when it is
/// not 64 bytes.
std::optional<std::string> es256_raw_to_der(std::string_view raw) {
    if (raw.size() != 2 * kEs256HalfSize) {
        return std::nullopt;
    }
    const std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
    std::unique_ptr<BIGNUM, BnFree> r(BN_bin2bn(as_bytes(raw), static_cast<int>(kEs256HalfSize), nullptr));
    std::unique_ptr<BIGNUM, BnFree> s(
        BN_bin2bn(as_bytes(raw.substr(kEs256HalfSize)), static_cast<int>(kEs256HalfSize), nullptr));
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
        return std::nullopt;
    }
    (void)r.release();  // owned by sig now
    (void)s.release();
    const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (size <= 0) {
        return std::nullopt;
    }
    std::string der(static_cast<std::size_t>(size), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
    if (i2d_ECDSA_SIG(sig.get(), &out) != size) {
        return std::nullopt;
    }
    return der;
}

/// OpenSSL's DER ECDSA signature as JOSE's 64-byte r || s.
std::optional<std::string> es256_der_to_raw(std::string_view der) {
    const auto* in = as_bytes(der);
    const std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
    if (!sig) {
        return std::nullopt;
    }
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::string raw(2 * kEs256HalfSize, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
    if (BN_bn2binpad(r, out, static_cast<int>(kEs256HalfSize)) != static_cast<int>(kEs256HalfSize) ||
        BN_bn2binpad(s, out + kEs256HalfSize, static_cast<int>(kEs256HalfSize)) != static_cast<int>(kEs256HalfSize)) {
        return std::nullopt;
    }
    return raw;
}

/// Whether `signature` (decoded from the token) is `key`'s signature of `signed_part`.
bool signature_matches(const PublicKey& key, std::string_view signature, std::string_view signed_part) {
    std::string der;
    if (key.algorithm() == Algorithm::es256) {
        auto converted = es256_raw_to_der(signature);
        if (!converted) {
            return false;
        }
        der = std::move(*converted);
        signature = der;
    }
    const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.native()) == 1 &&
           EVP_DigestVerify(ctx.get(), as_bytes(signature), signature.size(), as_bytes(signed_part),
                            signed_part.size()) == 1;
}

/// A NumericDate (RFC 7519: seconds since the epoch, a JSON number, fractions allowed) in whole seconds, rounded
/// down (`round_up` false: an expiry comes no later) or up (a "not before" comes no earlier); nullopt for any
/// other JSON value or a date outside 64 bits.
std::optional<std::int64_t> numeric_date(const nlohmann::json& value, bool round_up) {
    if (value.is_number_unsigned()) {
        const auto seconds = value.get<std::uint64_t>();
        if (seconds > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(seconds);
    }
    if (value.is_number_integer()) {
        return value.get<std::int64_t>();
    }
    if (value.is_number_float()) {
        const double seconds = round_up ? std::ceil(value.get<double>()) : std::floor(value.get<double>());
        constexpr double kTwoTo63 = 9223372036854775808.0;
        if (!std::isfinite(seconds) || seconds < -kTwoTo63 || seconds >= kTwoTo63) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(seconds);
    }
    return std::nullopt;
}

/// The algorithm a JOSE header names, when the header is one relink accepts: a JSON object with a known "alg", no
/// "crit" (no extension is understood here, so RFC 7515 says refuse), and "typ", if present, "JWT" in any case.
/// "kid" and every other member are ignored: keys come from relinkd's configuration only, never from the token.
std::optional<Algorithm> parse_header(std::string_view header_part) {
    const auto text = encoding::base64url_decode(header_part);
    if (!text) {
        return std::nullopt;
    }
    const auto json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object() || json.contains("crit")) {
        return std::nullopt;
    }
    const auto alg = json.find("alg");
    if (alg == json.end() || !alg->is_string()) {
        return std::nullopt;
    }
    if (const auto typ = json.find("typ"); typ != json.end()) {
        if (!typ->is_string()) {
            return std::nullopt;
        }
        const auto& name = typ->get_ref<const std::string&>();
        if (name.size() != 3 || std::toupper(static_cast<unsigned char>(name[0])) != 'J' ||
            std::toupper(static_cast<unsigned char>(name[1])) != 'W' ||
            std::toupper(static_cast<unsigned char>(name[2])) != 'T') {
            return std::nullopt;
        }
    }
    return parse_algorithm(alg->get_ref<const std::string&>());
}

struct JwtClaims {
    Claims claims;
    std::optional<std::int64_t> not_before;
};

/// The claims of a JWT's payload (docs/tokens.md): "sub", "app" and "exp" (positive) required; "nbf", "iat"
/// NumericDates and "channels" a list of strings when present; "aud", when present, must name the app. Other
/// members are ignored.
std::optional<JwtClaims> parse_jwt_claims(std::string_view json_text, std::string_view app_id) {
    const auto json = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
        return std::nullopt;
    }
    const auto sub = json.find("sub");
    const auto app = json.find("app");
    const auto exp = json.find("exp");
    if (sub == json.end() || !sub->is_string() || app == json.end() || !app->is_string() || exp == json.end()) {
        return std::nullopt;
    }
    JwtClaims out;
    out.claims.user_id = sub->get<std::string>();
    out.claims.app_id = app->get<std::string>();
    const auto expires_at = numeric_date(*exp, /*round_up=*/false);
    if (!expires_at || *expires_at <= 0) {  // 0 would read as "never" in Claims; a JWT always expires
        return std::nullopt;
    }
    out.claims.expires_at = *expires_at;
    if (const auto nbf = json.find("nbf"); nbf != json.end()) {
        out.not_before = numeric_date(*nbf, /*round_up=*/true);
        if (!out.not_before) {
            return std::nullopt;
        }
    }
    if (const auto iat = json.find("iat"); iat != json.end() && !numeric_date(*iat, false)) {
        return std::nullopt;
    }
    if (const auto aud = json.find("aud"); aud != json.end()) {
        const auto names_app = [app_id](const nlohmann::json& value) {
            return value.is_string() && value.get_ref<const std::string&>() == app_id;
        };
        if (!(names_app(*aud) || (aud->is_array() && std::any_of(aud->begin(), aud->end(), names_app)))) {
            return std::nullopt;
        }
    }
    if (const auto channels = json.find("channels"); channels != json.end()) {
        if (!channels->is_array()) {
            return std::nullopt;
        }
        out.claims.channels.reserve(channels->size());
        for (const auto& channel : *channels) {
            if (!channel.is_string()) {
                return std::nullopt;
            }
            out.claims.channels.push_back(channel.get<std::string>());
        }
    }
    return out;
}

/// header "." payload "." signature: the signature (by an algorithm the app is configured for) first, then the
/// claims, as for rl1.
Verified verify_jwt(std::string_view token, std::string_view secret, const std::vector<PublicKey>& public_keys,
                    std::string_view app_id, std::string_view user_id, std::int64_t now_unix) {
    const auto first_dot = token.find('.');
    if (first_dot == std::string_view::npos || first_dot == 0) {
        return failure(errc::invalid_token);
    }
    const auto second_dot = token.find('.', first_dot + 1);
    if (second_dot == std::string_view::npos || second_dot == first_dot + 1 ||
        token.find('.', second_dot + 1) != std::string_view::npos) {
        return failure(errc::invalid_token);
    }
    const auto signed_part = token.substr(0, second_dot);  // exactly the bytes the signature covers
    const auto signature_part = token.substr(second_dot + 1);

    const auto algorithm = parse_header(token.substr(0, first_dot));
    if (!algorithm) {
        return failure(errc::invalid_token);
    }
    bool authentic = false;
    if (*algorithm == Algorithm::hs256) {
        // Keyed with the secret only: never with a public key's PEM text, whatever the app has configured.
        authentic = !secret.empty() && mac_matches(signature_part, secret, signed_part);
    } else if (const auto signature = encoding::base64url_decode(signature_part)) {
        for (const auto& key : public_keys) {
            if (key.algorithm() == *algorithm && signature_matches(key, *signature, signed_part)) {
                authentic = true;
                break;
            }
        }
        ERR_clear_error();  // a refused signature leaves reasons on the queue; relinkd's TLS code reads it
    }
    if (!authentic) {
        return failure(errc::invalid_token);
    }

    // Authentic from here on: whoever holds the app's secret or private key wrote these claims.
    const auto json_text = encoding::base64url_decode(signed_part.substr(first_dot + 1));
    if (!json_text) {
        return failure(errc::invalid_token);
    }
    auto parsed = parse_jwt_claims(*json_text, app_id);
    if (!parsed || parsed->claims.app_id != app_id || parsed->claims.user_id != user_id) {
        return failure(errc::invalid_token);
    }
    if (parsed->not_before && now_unix < *parsed->not_before) {
        return failure(errc::invalid_token);  // not yet valid: no clock skew allowed, as for expiry
    }
    if (now_unix >= parsed->claims.expires_at) {
        return failure(errc::token_expired);
    }
    return Verified{std::error_code{}, std::move(parsed->claims)};
}

Verified verify_any(std::string_view token, std::string_view secret, const std::vector<PublicKey>& public_keys,
                    std::string_view app_id, std::string_view user_id, std::int64_t now_unix) noexcept {
    try {
        if (token.size() > kMaxTokenSize) {
            return failure(errc::invalid_token);
        }
        if (token.substr(0, kPrefix.size()) == kPrefix) {
            return verify_unguarded(token, secret, app_id, user_id, now_unix);
        }
        return verify_jwt(token, secret, public_keys, app_id, user_id, now_unix);
    } catch (...) {  // only std::bad_alloc can get here: the input is at most 4 KiB and the parser does not throw
        return failure(errc::invalid_token);
    }
}

/// base64url(header) "." base64url(claims) of a JWT mint_jwt() signs.
std::string jwt_signing_input(const Claims& claims, std::int64_t issued_at, Algorithm algorithm) {
    if (claims.expires_at <= 0) {
        throw std::invalid_argument("relink::token::mint_jwt: a JWT must expire (exp > 0)");
    }
    nlohmann::ordered_json header;
    header["alg"] = algorithm_name(algorithm);
    header["typ"] = "JWT";
    nlohmann::ordered_json json;
    json["sub"] = claims.user_id;
    json["app"] = claims.app_id;
    json["exp"] = claims.expires_at;
    json["iat"] = issued_at;
    if (!claims.channels.empty()) {
        json["channels"] = claims.channels;
    }
    std::string json_text;
    try {
        json_text = json.dump();
    } catch (const nlohmann::json::exception&) {
        throw std::invalid_argument("relink::token::mint_jwt: a claim is not valid UTF-8");
    }
    return encoding::base64url_encode(header.dump()) + "." + encoding::base64url_encode(json_text);
}

std::string finish_jwt(std::string signing_input, std::string_view signature) {
    signing_input += '.';
    signing_input += encoding::base64url_encode(signature);
    if (signing_input.size() > kMaxTokenSize) {
        throw std::invalid_argument("relink::token::mint_jwt: the token would be longer than 4096 bytes");
    }
    return signing_input;
}

const std::vector<PublicKey> kNoPublicKeys;

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
    return verify_any(token, secret, kNoPublicKeys, app_id, user_id, now_unix);
}

Verified verify(std::string_view token, const AppKeys& keys, std::string_view app_id, std::string_view user_id,
                std::int64_t now_unix) {
    return verify_any(token, keys.secret, keys.public_keys, app_id, user_id, now_unix);
}

std::string_view algorithm_name(Algorithm algorithm) noexcept {
    switch (algorithm) {
        case Algorithm::hs256: return "HS256";
        case Algorithm::es256: return "ES256";
        case Algorithm::rs256: return "RS256";
    }
    return "?";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) noexcept {
    if (name == "HS256") {
        return Algorithm::hs256;
    }
    if (name == "ES256") {
        return Algorithm::es256;
    }
    if (name == "RS256") {
        return Algorithm::rs256;
    }
    return std::nullopt;
}

PublicKey PublicKey::from_pem(Algorithm algorithm, std::string_view pem) {
    return PublicKey(algorithm, load_key(algorithm, pem, KeyKind::public_key));
}

PrivateKey PrivateKey::from_pem(Algorithm algorithm, std::string_view pem) {
    return PrivateKey(algorithm, load_key(algorithm, pem, KeyKind::private_key));
}

std::string mint_jwt(const Claims& claims, std::int64_t issued_at, std::string_view secret) {
    if (secret.empty()) {
        throw std::invalid_argument("relink::token::mint_jwt: the secret is empty");
    }
    std::string input = jwt_signing_input(claims, issued_at, Algorithm::hs256);
    const auto mac = hmac_sha256(secret, input);
    if (!mac) {
        throw std::runtime_error("relink::token::mint_jwt: HMAC-SHA256 failed");
    }
    return finish_jwt(std::move(input), as_chars(*mac));
}

std::string mint_jwt(const Claims& claims, std::int64_t issued_at, const PrivateKey& key) {
    std::string input = jwt_signing_input(claims, issued_at, key.algorithm());
    const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    std::size_t size = 0;
    std::string signature;
    bool signed_ok = ctx && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.native()) == 1 &&
                     EVP_DigestSign(ctx.get(), nullptr, &size, as_bytes(input), input.size()) == 1;
    if (signed_ok) {
        signature.resize(size);
        auto* out =
            reinterpret_cast<unsigned char*>(signature.data());  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
        signed_ok = EVP_DigestSign(ctx.get(), out, &size, as_bytes(input), input.size()) == 1;
        signature.resize(size);
    }
    if (signed_ok && key.algorithm() == Algorithm::es256) {
        auto raw = es256_der_to_raw(signature);
        signed_ok = raw.has_value();
        signature = raw.value_or(std::string{});
    }
    ERR_clear_error();
    if (!signed_ok) {
        throw std::runtime_error("relink::token::mint_jwt: OpenSSL could not sign");
    }
    return finish_jwt(std::move(input), signature);
}

}  // namespace relink::token
