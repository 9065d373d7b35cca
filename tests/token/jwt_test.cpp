// JWT login tokens (token/token.hpp, docs/tokens.md): HS256 known answers computed with Python's standard library,
// ES256 / RS256 tokens signed by the openssl command line (tests/token/mint_jwt.py) and verified here, mint_jwt()
// round trips, every refusal (none, algorithm confusion, tampering, expiry, not-before, wrong app or user, header
// and claim shapes), and what PublicKey / PrivateKey accept as keys.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/err.h>

#include "common/encoding.hpp"
#include "relink/error.hpp"
#include "support/independent_jwt.hpp"
#include "token/token.hpp"

namespace relink::token {
namespace {

constexpr std::string_view kSecret = "s3cret";
constexpr std::string_view kApp = "demo-app";
constexpr std::string_view kUser = "alice";
constexpr std::int64_t kExp = 1700000000;

// Computed with tests/token/mint_jwt.py (Python's hmac, hashlib, base64 and json), independently of relink's code.
constexpr std::string_view kHs256Minimal =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImFwcCI6ImRlbW8tYXBwIiwiZXhwIjoxNzAwMDAwMDAwfQ."
    "6-aFGjHUITI6J0AtPcWghZNbMMAMgdMrB24KtqPI3DQ";
// {"sub":"alice","app":"demo-app","exp":1700000000,"iat":1699990000,"channels":["lobby","room 1"]}: mint_jwt()'s
// own spelling, so mint_jwt() must give exactly this.
constexpr std::string_view kHs256Full =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJhbGljZSIsImFwcCI6ImRlbW8tYXBwIiwiZXhwIjoxNzAwMDAwMDAwLCJpYXQiOjE2OTk5OTAwMDAsImNoYW5uZWxzIjpbImxvYmJ5"
    "Iiwicm9vbSAxIl19.NmH9TN3vngu5c9axJDtAgnjSMl8lEGVOkDwwAQgKrUQ";

const std::error_code kInvalid = make_error_code(errc::invalid_token);
const std::error_code kExpired = make_error_code(errc::token_expired);

std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

/// Keys made once for the whole suite by the openssl command line (an RSA key takes a moment).
class Jwt : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                         ("relink-jwt-test-" + std::to_string(::getpid())));
        std::filesystem::create_directories(*dir_);
        es_ = new test::KeyPair(test::generate_key_pair(*dir_, "es", "EC").value_or(test::KeyPair{}));
        es2_ = new test::KeyPair(test::generate_key_pair(*dir_, "es2", "EC").value_or(test::KeyPair{}));
        rs_ = new test::KeyPair(test::generate_key_pair(*dir_, "rs", "RSA").value_or(test::KeyPair{}));
    }
    static void TearDownTestSuite() {
        std::filesystem::remove_all(*dir_);
        delete es_;
        delete es2_;
        delete rs_;
        delete dir_;
    }

    void SetUp() override {
        ASSERT_FALSE(es_->public_pem.empty() || es2_->public_pem.empty() || rs_->public_pem.empty())
            << "openssl genpkey failed";
    }

    static PublicKey public_key(Algorithm algorithm, const test::KeyPair& pair) {
        return PublicKey::from_pem(algorithm, file_text(pair.public_pem));
    }
    static AppKeys es_app() { return AppKeys{"", {public_key(Algorithm::es256, *es_)}}; }
    static AppKeys rs_app() { return AppKeys{"", {public_key(Algorithm::rs256, *rs_)}}; }
    static AppKeys hs_app() { return AppKeys{std::string(kSecret), {}}; }

    /// A token from the independent minter; fails the test when the script does.
    static std::string independent(const test::IndependentJwt& jwt) {
        std::string failure;
        std::string token = test::mint_independently(jwt, &failure);
        EXPECT_FALSE(token.empty()) << "mint_jwt.py failed: " << failure;
        return token;
    }
    static std::string es256(const std::string& claims, const std::string& header = "") {
        return independent({"ES256", claims, "", {}, es_->private_pem, header});
    }
    static std::string rs256(const std::string& claims, const std::string& header = "") {
        return independent({"RS256", claims, "", {}, rs_->private_pem, header});
    }
    static std::string hs256(const std::string& claims, const std::string& header = "") {
        return independent({"HS256", claims, std::string(kSecret), {}, {}, header});
    }

    static Verified check(std::string_view token, const AppKeys& keys, std::int64_t now = kExp - 1,
                          std::string_view app = kApp, std::string_view user = kUser) {
        Verified result;
        EXPECT_NO_THROW(result = verify(token, keys, app, user, now)) << token;
        EXPECT_EQ(ERR_peek_error(), 0UL) << "verify() left an error on OpenSSL's queue";
        return result;
    }

    static constexpr const char* kClaims = R"({"sub":"alice","app":"demo-app","exp":1700000000})";

    static inline std::filesystem::path* dir_ = nullptr;
    static inline test::KeyPair* es_ = nullptr;
    static inline test::KeyPair* es2_ = nullptr;
    static inline test::KeyPair* rs_ = nullptr;
};

// ------------------------------------------------------------------------------------------------ HS256

TEST_F(Jwt, Hs256KnownAnswerFromPythonVerifies) {
    const auto verified = check(kHs256Minimal, hs_app());
    ASSERT_FALSE(verified.error) << verified.error.message();
    EXPECT_EQ(verified.claims.app_id, kApp);
    EXPECT_EQ(verified.claims.user_id, kUser);
    EXPECT_EQ(verified.claims.expires_at, kExp);
    EXPECT_TRUE(verified.claims.channels.empty());
    // The secret-only overload accepts HS256 JWTs too.
    EXPECT_FALSE(verify(kHs256Minimal, kSecret, kApp, kUser, kExp - 1).error);
}

TEST_F(Jwt, MintJwtGivesExactlyThePythonToken) {
    const Claims claims{std::string(kApp), std::string(kUser), kExp, {"lobby", "room 1"}};
    EXPECT_EQ(mint_jwt(claims, 1699990000, kSecret), kHs256Full);
    const auto verified = check(kHs256Full, hs_app());
    ASSERT_FALSE(verified.error);
    EXPECT_EQ(verified.claims.channels, (std::vector<std::string>{"lobby", "room 1"}));
}

TEST_F(Jwt, ExpiresExactlyAtExpWithNoClockSkew) {
    EXPECT_FALSE(check(kHs256Minimal, hs_app(), kExp - 1).error);
    EXPECT_EQ(check(kHs256Minimal, hs_app(), kExp).error, kExpired);
    EXPECT_EQ(check(kHs256Minimal, hs_app(), kExp + 100000).error, kExpired);
}

TEST_F(Jwt, NotBeforeIsRefusedUntilItsSecondWithNoClockSkew) {
    const auto token = hs256(R"({"sub":"alice","app":"demo-app","exp":1700000000,"nbf":1699999000})");
    EXPECT_EQ(check(token, hs_app(), 1699998999).error, kInvalid);
    EXPECT_FALSE(check(token, hs_app(), 1699999000).error);
}

TEST_F(Jwt, FractionalDatesRoundToTheSafeSide) {
    const auto token = hs256(R"({"sub":"alice","app":"demo-app","exp":1700000000.5,"nbf":1699999000.5,"iat":1.5})");
    EXPECT_EQ(check(token, hs_app(), 1699999000).error, kInvalid);  // nbf rounds up
    EXPECT_FALSE(check(token, hs_app(), 1699999001).error);
    EXPECT_EQ(check(token, hs_app(), kExp).error, kExpired);  // exp rounds down
}

TEST_F(Jwt, FlippingAnyByteNeverVerifies) {
    const std::string token(kHs256Minimal);
    for (std::size_t i = 0; i < token.size(); ++i) {
        for (const char replacement : {'A', 'g', '-', '.', '='}) {
            if (token[i] == replacement) {
                continue;
            }
            std::string tampered = token;
            tampered[i] = replacement;
            EXPECT_EQ(check(tampered, hs_app()).error, kInvalid) << "byte " << i << " -> " << replacement;
        }
    }
    EXPECT_EQ(check(token.substr(0, token.size() - 1), hs_app()).error, kInvalid);
    EXPECT_EQ(check(token + "A", hs_app()).error, kInvalid);
    EXPECT_EQ(check(token + ".", hs_app()).error, kInvalid);
}

TEST_F(Jwt, OtherSecretAppOrUserIsInvalidAndInvalidWinsOverExpired) {
    EXPECT_EQ(check(kHs256Minimal, AppKeys{"other", {}}).error, kInvalid);
    EXPECT_EQ(check(kHs256Minimal, hs_app(), kExp - 1, "other-app").error, kInvalid);
    EXPECT_EQ(check(kHs256Minimal, hs_app(), kExp - 1, kApp, "bob").error, kInvalid);
    EXPECT_EQ(check(kHs256Minimal, hs_app(), kExp + 1, kApp, "bob").error, kInvalid);
    EXPECT_EQ(check(kHs256Minimal, AppKeys{}).error, kInvalid);
}

TEST_F(Jwt, AuthenticButMalformedClaimsAreInvalid) {
    for (const char* claims : {
             R"({"app":"demo-app","exp":1700000000})",                  // no sub
             R"({"sub":"alice","exp":1700000000})",                     // no app
             R"({"sub":"alice","app":"demo-app"})",                     // no exp: a JWT always expires
             R"({"sub":"alice","app":"demo-app","exp":0})",             // 0 is not "never" in a JWT
             R"({"sub":"alice","app":"demo-app","exp":"1700000000"})",  // a string
             R"({"sub":"alice","app":"demo-app","exp":1e300})",         // beyond 64 bits
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"nbf":"x"})",
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"iat":null})",
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"channels":"lobby"})",
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"channels":[1]})",
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"aud":"other-app"})",
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"aud":["x","y"]})",
             R"({"sub":1,"app":"demo-app","exp":1700000000})",
             R"(["sub","alice"])",
         }) {
        EXPECT_EQ(check(hs256(claims), hs_app()).error, kInvalid) << claims;
    }
}

TEST_F(Jwt, AudienceNamingTheAppAndUnknownClaimsAreAccepted) {
    for (const char* claims : {
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"aud":"demo-app"})",
             R"({"sub":"alice","app":"demo-app","exp":1700000000,"aud":["x","demo-app"]})",
             R"({"iss":"backend","jti":"42","sub":"alice","app":"demo-app","exp":1700000000,"role":"admin"})",
         }) {
        EXPECT_FALSE(check(hs256(claims), hs_app()).error) << claims;
    }
}

TEST_F(Jwt, HeaderRules) {
    // typ optional and case-insensitive; kid and others ignored.
    EXPECT_FALSE(check(hs256(kClaims, R"({"alg":"HS256"})"), hs_app()).error);
    EXPECT_FALSE(check(hs256(kClaims, R"({"typ":"jwt","alg":"HS256","kid":"k1"})"), hs_app()).error);
    for (const char* header : {
             R"({"alg":"HS256","typ":"at+jwt"})",  // another kind of token
             R"({"alg":"HS256","crit":["exp"]})",  // an extension relink does not understand
             R"({"alg":"hs256"})",                 // JOSE names are case-sensitive
             R"({"alg":"HS512"})",                 // not an algorithm relink accepts
             R"({"typ":"JWT"})",                   // no alg
             R"({"alg":["HS256"]})",               //
             R"("HS256")",                         //
         }) {
        EXPECT_EQ(check(hs256(kClaims, header), hs_app()).error, kInvalid) << header;
    }
}

TEST_F(Jwt, AlgNoneIsRefused) {
    const auto unsigned_token = independent({"none", kClaims, "", {}, {}, R"({"alg":"none","typ":"JWT"})"});
    ASSERT_EQ(unsigned_token.back(), '.');
    for (const AppKeys& keys : {hs_app(), es_app(), rs_app()}) {
        EXPECT_EQ(check(unsigned_token, keys).error, kInvalid);
        EXPECT_EQ(check(unsigned_token + "AAAA", keys).error, kInvalid);
    }
}

TEST_F(Jwt, SizeBoundIsFourKibibytes) {
    std::string channels;
    for (int i = 0; i < 300; ++i) {
        channels += (i == 0 ? "" : ",") + std::string("\"channel-") + std::to_string(i) + "\"";
    }
    const auto token =
        hs256(std::string(R"({"sub":"alice","app":"demo-app","exp":1700000000,"channels":[)") + channels + "]}");
    ASSERT_GT(token.size(), kMaxTokenSize);
    EXPECT_EQ(check(token, hs_app()).error, kInvalid);
    const Claims many{std::string(kApp), std::string(kUser), kExp, std::vector<std::string>(300, "channel-xxxxxx")};
    EXPECT_THROW((void)mint_jwt(many, 0, kSecret), std::invalid_argument);
}

TEST_F(Jwt, MintJwtRefusesWhatCouldNeverVerify) {
    EXPECT_THROW((void)mint_jwt(Claims{"a", "u", kExp, {}}, 0, ""), std::invalid_argument);
    EXPECT_THROW((void)mint_jwt(Claims{"a", "u", 0, {}}, 0, kSecret), std::invalid_argument);
    EXPECT_THROW((void)mint_jwt(Claims{"a", "\xff", kExp, {}}, 0, kSecret), std::invalid_argument);
}

// ------------------------------------------------------------------------------------------ ES256 / RS256

TEST_F(Jwt, Es256FromTheOpensslCommandLineVerifies) {
    const auto token = es256(R"({"sub":"alice","app":"demo-app","exp":1700000000,"channels":["lobby"]})");
    const auto verified = check(token, es_app());
    ASSERT_FALSE(verified.error) << verified.error.message();
    EXPECT_EQ(verified.claims.channels, std::vector<std::string>{"lobby"});
    EXPECT_EQ(check(token, es_app(), kExp).error, kExpired);
    EXPECT_EQ(check(token, es_app(), kExp - 1, kApp, "bob").error, kInvalid);
}

TEST_F(Jwt, Rs256FromTheOpensslCommandLineVerifies) {
    const auto token = rs256(kClaims);
    EXPECT_FALSE(check(token, rs_app()).error);
    EXPECT_EQ(check(token, rs_app(), kExp).error, kExpired);
}

TEST_F(Jwt, MintJwtWithPrivateKeysRoundTrips) {
    const Claims claims{std::string(kApp), std::string(kUser), kExp, {"lobby"}};
    const auto es_token = mint_jwt(claims, 1, PrivateKey::from_pem(Algorithm::es256, file_text(es_->private_pem)));
    const auto rs_token = mint_jwt(claims, 1, PrivateKey::from_pem(Algorithm::rs256, file_text(rs_->private_pem)));
    EXPECT_EQ(encoding::base64url_decode(es_token.substr(es_token.rfind('.') + 1))->size(), 64U);  // JOSE r||s
    EXPECT_FALSE(check(es_token, es_app()).error);
    EXPECT_FALSE(check(rs_token, rs_app()).error);
    EXPECT_EQ(check(es_token, rs_app()).error, kInvalid);
    EXPECT_EQ(check(rs_token, es_app()).error, kInvalid);
}

TEST_F(Jwt, AKeyVerifiesOnlyItsOwnAlgorithmAndEveryConfiguredKeyIsTried) {
    const auto es_token = es256(kClaims);
    const auto rs_token = rs256(kClaims);
    // An RS256 token for an app with only a secret, or only an ES256 key; and the other way round.
    EXPECT_EQ(check(rs_token, hs_app()).error, kInvalid);
    EXPECT_EQ(check(es_token, hs_app()).error, kInvalid);
    EXPECT_EQ(check(rs_token, es_app()).error, kInvalid);
    EXPECT_EQ(check(es_token, rs_app()).error, kInvalid);
    // A header naming another algorithm than the one that signed.
    EXPECT_EQ(
        check(es256(kClaims, R"({"alg":"RS256"})"), AppKeys{"", {es_app().public_keys[0], rs_app().public_keys[0]}})
            .error,
        kInvalid);
    // Rotation: two keys for one app; a token of either verifies, a third key's does not.
    const AppKeys rotating{"", {public_key(Algorithm::es256, *es2_), public_key(Algorithm::es256, *es_)}};
    EXPECT_FALSE(check(es_token, rotating).error);
    EXPECT_FALSE(check(independent({"ES256", kClaims, "", {}, es2_->private_pem, ""}), rotating).error);
    EXPECT_EQ(check(independent({"ES256", kClaims, "", {}, es2_->private_pem, ""}), es_app()).error, kInvalid);
}

TEST_F(Jwt, Hs256KeyedWithThePublicKeysPemIsRefused) {
    for (const auto& [keys, pem] :
         {std::pair{es_app(), es_->public_pem}, std::pair{rs_app(), rs_->public_pem},
          std::pair{AppKeys{"a secret", {public_key(Algorithm::rs256, *rs_)}}, rs_->public_pem}}) {
        const auto token = independent({"HS256", kClaims, "", pem, {}, ""});
        EXPECT_EQ(check(token, keys).error, kInvalid) << pem;
    }
}

TEST_F(Jwt, Es256SignatureOfAnotherLengthOrTamperedIsRefused) {
    const auto token = es256(kClaims);
    const auto dot = token.rfind('.');
    const auto signature = *encoding::base64url_decode(token.substr(dot + 1));
    const auto head = token.substr(0, dot + 1);
    EXPECT_EQ(check(head + encoding::base64url_encode(signature.substr(0, 63)), es_app()).error, kInvalid);
    EXPECT_EQ(check(head + encoding::base64url_encode(signature + '\0'), es_app()).error, kInvalid);
    EXPECT_EQ(check(head + encoding::base64url_encode(std::string(64, '\0')), es_app()).error, kInvalid);
    std::string flipped = signature;
    flipped[10] = static_cast<char>(flipped[10] ^ 1);
    EXPECT_EQ(check(head + encoding::base64url_encode(flipped), es_app()).error, kInvalid);
    for (std::size_t i = 0; i < token.size(); i += 7) {
        std::string tampered = token;
        tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
        EXPECT_EQ(check(tampered, es_app()).error, kInvalid) << i;
    }
}

// -------------------------------------------------------------------------------------------------- keys

TEST_F(Jwt, KeysThatCannotServeTheirAlgorithmAreRefusedWithOneLine) {
    const auto expect_refused = [](Algorithm algorithm, const std::string& pem, const std::string& says) {
        try {
            (void)PublicKey::from_pem(algorithm, pem);
            ADD_FAILURE() << "accepted: " << says;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
            EXPECT_EQ(std::string(e.what()).find("BEGIN PRIVATE"), std::string::npos);
        }
        EXPECT_EQ(ERR_peek_error(), 0UL);
    };
    expect_refused(Algorithm::es256, file_text(es_->private_pem), "private key");
    expect_refused(Algorithm::es256, "garbage", "not a PEM public key");
    expect_refused(Algorithm::es256, file_text(rs_->public_pem), "EC key");
    expect_refused(Algorithm::rs256, file_text(es_->public_pem), "RSA key");
    expect_refused(Algorithm::hs256, file_text(es_->public_pem), "secret");
    const auto small_rsa = test::generate_key_pair(*dir_, "rs1024", "RSA", 1024);
    ASSERT_TRUE(small_rsa);
    expect_refused(Algorithm::rs256, file_text(small_rsa->public_pem), "2048");
    const auto p384 = test::generate_key_pair(*dir_, "p384", "EC384");
    ASSERT_TRUE(p384);
    expect_refused(Algorithm::es256, file_text(p384->public_pem), "P-256");
    EXPECT_THROW((void)PrivateKey::from_pem(Algorithm::es256, file_text(es_->public_pem)), std::invalid_argument);
    EXPECT_NO_THROW((void)PublicKey::from_pem(Algorithm::es256, file_text(es_->public_pem)));
}

TEST(JwtAlgorithm, NamesAreExact) {
    EXPECT_EQ(parse_algorithm("HS256"), Algorithm::hs256);
    EXPECT_EQ(parse_algorithm("ES256"), Algorithm::es256);
    EXPECT_EQ(parse_algorithm("RS256"), Algorithm::rs256);
    for (const char* name : {"none", "None", "hs256", "PS256", "ES384", "", "HS256 "}) {
        EXPECT_FALSE(parse_algorithm(name)) << name;
    }
    EXPECT_EQ(algorithm_name(Algorithm::es256), "ES256");
}

}  // namespace
}  // namespace relink::token
