// token/token.hpp — relink's login tokens: signed claims (app id, user id, expiry, optional channel privileges),
// minted by `relink-token` or an app's backend and verified by relinkd against the app's keys (AppKeys).
//
// Two formats (docs/tokens.md):
//  - rl1: "rl1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(secret, "rl1." + claims part))>";
//  - JWT (RFC 7519, compact JWS): HS256 keyed with the app's secret, or ES256 / RS256 verified with a public key
//    configured for the app, so that a backend may sign with a private key relinkd never sees.
// Verification is total over any input, compares MACs in constant time and checks signatures with OpenSSL. Expiry
// is wall-clock time (Unix seconds), passed in by the caller: this module reads no clock.
//
// Thread safety: every function here is a pure computation on its arguments; call them from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

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

/// The JWT signature algorithms relink knows, by their JOSE names (RFC 7518).
enum class Algorithm : std::uint8_t {
    hs256,  ///< HMAC-SHA256 keyed with the app's secret
    es256,  ///< ECDSA on P-256 with SHA-256, verified with the app's public key
    rs256,  ///< RSASSA-PKCS1-v1_5 with SHA-256 (RSA keys of 2048 bits or more), verified with the app's public key
};

/// "HS256", "ES256" or "RS256".
[[nodiscard]] std::string_view algorithm_name(Algorithm algorithm) noexcept;
/// The algorithm of an exact JOSE name (case matters, as in JOSE); nullopt for any other, "none" included.
[[nodiscard]] std::optional<Algorithm> parse_algorithm(std::string_view name) noexcept;

/// A public key for one asymmetric algorithm (ES256: an EC key on P-256; RS256: an RSA key of at least 2048 bits).
/// Immutable once loaded; copies share the key, and any thread may verify with it.
class PublicKey {
public:
    /// Loads a PEM "PUBLIC KEY" (SubjectPublicKeyInfo, what `openssl pkey -pubout` writes).
    /// @throws std::invalid_argument with one line saying what is wrong (never quoting the PEM): not a public key,
    ///         a private key (relinkd must not hold it), the wrong key type or curve for `algorithm`, an RSA key
    ///         under 2048 bits, or HS256 (which takes a secret, not a key).
    [[nodiscard]] static PublicKey from_pem(Algorithm algorithm, std::string_view pem);
    [[nodiscard]] Algorithm algorithm() const noexcept { return algorithm_; }
    [[nodiscard]] evp_pkey_st* native() const noexcept { return key_.get(); }

private:
    PublicKey(Algorithm algorithm, std::shared_ptr<evp_pkey_st> key) : algorithm_(algorithm), key_(std::move(key)) {}
    Algorithm algorithm_;
    std::shared_ptr<evp_pkey_st> key_;
};

/// A private key for minting ES256 / RS256 JWTs (relink-token, tests); relinkd never loads one.
class PrivateKey {
public:
    /// Loads an unencrypted PEM private key (PKCS#8 "PRIVATE KEY", or the "EC" / "RSA" forms).
    /// @throws std::invalid_argument with one line, under the same rules as PublicKey::from_pem().
    [[nodiscard]] static PrivateKey from_pem(Algorithm algorithm, std::string_view pem);
    [[nodiscard]] Algorithm algorithm() const noexcept { return algorithm_; }
    [[nodiscard]] evp_pkey_st* native() const noexcept { return key_.get(); }

private:
    PrivateKey(Algorithm algorithm, std::shared_ptr<evp_pkey_st> key) : algorithm_(algorithm), key_(std::move(key)) {}
    Algorithm algorithm_;
    std::shared_ptr<evp_pkey_st> key_;
};

/// Everything that verifies one app's tokens: relinkd keeps one per app, in one table it may replace as a whole.
struct AppKeys {
    std::string secret;                  ///< rl1 and HS256 JWTs; empty = the app accepts neither
    std::vector<PublicKey> public_keys;  ///< ES256 / RS256 JWTs; more than one while a backend rotates its key
};

/// Checks a token for (app, user) at wall-clock time `now_unix` (seconds): an rl1 token (by its prefix) or a JWT.
/// The signature first, then the claims. A JWT's "alg" must be one the app is configured for: HS256 needs a
/// secret, ES256 / RS256 a public key of that algorithm; "none" and every other name are refused. Never throws
/// (any failure, even out of memory, is errc::invalid_token); keys that are all empty verify nothing.
[[nodiscard]] Verified verify(std::string_view token, const AppKeys& keys, std::string_view app_id,
                              std::string_view user_id, std::int64_t now_unix);

/// verify() for an app with a secret and no public key: rl1 tokens and HS256 JWTs.
[[nodiscard]] Verified verify(std::string_view token, std::string_view secret, std::string_view app_id,
                              std::string_view user_id, std::int64_t now_unix);

/// Signs claims as an HS256 JWT with the app's secret: header {"alg":"HS256","typ":"JWT"}, claims "sub", "app",
/// "exp", "iat" (= issued_at) and "channels" when not empty, in that order, without spaces.
/// @throws std::invalid_argument if the secret is empty, claims.expires_at is not positive (a JWT always expires),
///         a string is not valid UTF-8 or the token would be longer than kMaxTokenSize; std::runtime_error if
///         OpenSSL fails.
[[nodiscard]] std::string mint_jwt(const Claims& claims, std::int64_t issued_at, std::string_view secret);

/// The same, signed with a private key (ES256 or RS256, the key's algorithm); ES256 signatures are JOSE's 64-byte
/// r||s. @throws as the HS256 form (not for the secret).
[[nodiscard]] std::string mint_jwt(const Claims& claims, std::int64_t issued_at, const PrivateKey& key);

}  // namespace relink::token
