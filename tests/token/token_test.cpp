// Login tokens (token/token.hpp, docs/tokens.md) and the relink-token tool (../shared/spec/cli.md): mint/verify
// round trips, the expiry boundary, tampering with every byte, other secrets, apps and users, malformed
// input of every kind (authentic or not), known answers computed with the openssl command line, and the executable
// with good and bad flags.
#include "token/token.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/encoding.hpp"
#include "relink/error.hpp"
#include "support/child_process.hpp"
#include "support/independent_jwt.hpp"

namespace relink::token {
namespace {

using encoding::base64url_decode;
using encoding::base64url_encode;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::string_view kSecret = "s3cret";
constexpr std::string_view kApp = "demo-app";
constexpr std::string_view kUser = "alice";
constexpr std::int64_t kExp = 1700000000;
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

Claims alice(std::int64_t expires_at = kExp, std::vector<std::string> channels = {"lobby", "room 1"}) {
    return Claims{std::string(kApp), std::string(kUser), expires_at, std::move(channels)};
}

/// verify(), asserting that it does not throw.
Verified check(std::string_view token, std::string_view secret = kSecret, std::string_view app = kApp,
               std::string_view user = kUser, std::int64_t now = kExp - 1) {
    Verified result;
    EXPECT_NO_THROW(result = verify(token, secret, app, user, now)) << token;
    return result;
}

/// Signs any claims text with OpenSSL directly, the way an app's backend would (docs/tokens.md): how the tests
/// build authentic tokens whose claims are malformed, and an implementation independent of mint().
std::string sign_raw(std::string_view claims_json, std::string_view secret = kSecret) {
    std::string token = "rl1." + base64url_encode(claims_json);
    std::string mac(EVP_MAX_MD_SIZE, '\0');
    unsigned int size = 0;
    // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): OpenSSL's unsigned char and std::string's char
    EXPECT_NE(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                   reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                   reinterpret_cast<unsigned char*>(mac.data()), &size),
              nullptr);
    // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
    mac.resize(size);
    return token + "." + base64url_encode(mac);
}

/// The decoded claims JSON of a token.
std::string claims_json_of(const std::string& token) {
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    return base64url_decode(std::string_view(token).substr(first + 1, second - first - 1)).value_or("<bad base64>");
}

void expect_claims(const Claims& actual, const Claims& expected) {
    EXPECT_EQ(actual.app_id, expected.app_id);
    EXPECT_EQ(actual.user_id, expected.user_id);
    EXPECT_EQ(actual.expires_at, expected.expires_at);
    EXPECT_EQ(actual.channels, expected.channels);
}

const std::error_code kInvalid = make_error_code(errc::invalid_token);
const std::error_code kExpired = make_error_code(errc::token_expired);

// ------------------------------------------------------------------------------------------- mint / verify

TEST(Token, MintThenVerifyRoundTrips) {
    const auto token = mint(alice(), kSecret);
    const auto result = check(token);
    EXPECT_FALSE(result.error);
    expect_claims(result.claims, alice());
    EXPECT_EQ(mint(alice(), kSecret), token) << "the same claims give the same token";
}

TEST(Token, HasTheDocumentedShape) {
    const auto token = mint(alice(), kSecret);
    ASSERT_EQ(token.rfind("rl1.", 0), 0U);
    const auto dot = token.find('.', 4);
    ASSERT_NE(dot, std::string::npos);
    EXPECT_EQ(token.find('.', dot + 1), std::string::npos);
    EXPECT_EQ(token.size() - dot - 1, 43U) << "32-byte MAC, base64url without padding";
    for (std::size_t i = 4; i < token.size(); ++i) {
        EXPECT_TRUE(i == dot || kAlphabet.find(token[i]) != std::string_view::npos) << i;
    }
    EXPECT_EQ(claims_json_of(token), R"({"app":"demo-app","user":"alice","exp":1700000000,"ch":["lobby","room 1"]})");
    EXPECT_EQ(claims_json_of(mint(alice(0, {}), kSecret)), R"({"app":"demo-app","user":"alice","exp":0})")
        << "no channels: no \"ch\"";
}

// Computed independently with the shell (docs/tokens.md shows the same recipe):
//   c=$(printf '%s' "$CLAIMS" | basenc --base64url | tr -d '=\n')
//   s=$(printf '%s' "rl1.$c" | openssl dgst -sha256 -hmac "$SECRET" -binary | basenc --base64url | tr -d '=\n')
//   echo "rl1.$c.$s"
TEST(Token, KnownAnswers) {
    const std::string with_channels =
        "rl1.eyJhcHAiOiJkZW1vLWFwcCIsInVzZXIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMCwiY2giOlsibG9iYnkiLCJyb29tIDEiXX0."
        "iEumzhOkTrY-9Tj1p6lNMUwLrOKNK-zB-Xqbtc1SDfs";
    EXPECT_EQ(mint(alice(), "s3cret"), with_channels);
    EXPECT_EQ(sign_raw(R"({"app":"demo-app","user":"alice","exp":1700000000,"ch":["lobby","room 1"]})", "s3cret"),
              with_channels);
    EXPECT_FALSE(check(with_channels, "s3cret", "demo-app", "alice", 1699999999).error);
    EXPECT_EQ(check(with_channels, "s3cret", "demo-app", "alice", 1700000000).error, kExpired);

    const std::string never =
        "rl1.eyJhcHAiOiJteS1hcHAiLCJ1c2VyIjoiYm9iIiwiZXhwIjowfQ.RjZqSwW1bY3CE_E_QBuXsqx4zMHZzd-Yj4zxq3iMGhU";
    EXPECT_EQ(mint(Claims{"my-app", "bob", 0, {}}, "k"), never);
    const auto result = check(never, "k", "my-app", "bob", kInt64Max);
    EXPECT_FALSE(result.error);
    expect_claims(result.claims, Claims{"my-app", "bob", 0, {}});
}

TEST(Token, ExpiresExactlyAtExp) {
    const auto token = mint(alice(), kSecret);
    EXPECT_FALSE(check(token, kSecret, kApp, kUser, kExp - 1).error);
    EXPECT_EQ(check(token, kSecret, kApp, kUser, kExp).error, kExpired);
    EXPECT_EQ(check(token, kSecret, kApp, kUser, kExp + 1).error, kExpired);
    EXPECT_EQ(check(token, kSecret, kApp, kUser, kInt64Max).error, kExpired);
    EXPECT_FALSE(check(token, kSecret, kApp, kUser, 0).error);
    EXPECT_FALSE(check(token, kSecret, kApp, kUser, kInt64Min).error);
}

TEST(Token, ExpZeroNeverExpires) {
    const auto token = mint(alice(0), kSecret);
    for (const std::int64_t now : {kInt64Min, std::int64_t{-1}, std::int64_t{0}, std::int64_t{1}, kExp, kInt64Max}) {
        const auto result = check(token, kSecret, kApp, kUser, now);
        EXPECT_FALSE(result.error) << now;
        EXPECT_EQ(result.claims.expires_at, 0);
    }
}

TEST(Token, ExtremeExpiries) {
    const auto last = mint(alice(kInt64Max), kSecret);
    EXPECT_FALSE(check(last, kSecret, kApp, kUser, kInt64Max - 1).error);
    EXPECT_EQ(check(last, kSecret, kApp, kUser, kInt64Max).error, kExpired);
    const auto past = mint(alice(-5), kSecret);  // before 1970: expired for any later now
    EXPECT_EQ(check(past, kSecret, kApp, kUser, 0).error, kExpired);
    EXPECT_FALSE(check(past, kSecret, kApp, kUser, -6).error);
}

TEST(Token, FlippingAnyByteToAnyOtherValueNeverVerifies) {
    const auto token = mint(alice(), kSecret);
    int tried = 0;
    for (std::size_t i = 0; i < token.size(); ++i) {
        for (int value = 0; value < 256; ++value) {
            if (static_cast<char>(value) == token[i]) {
                continue;
            }
            auto tampered = token;
            tampered[i] = static_cast<char>(value);
            ASSERT_EQ(check(tampered).error, kInvalid) << "byte " << i << " set to " << value;
            ++tried;
        }
    }
    EXPECT_EQ(tried, static_cast<int>(token.size()) * 255);
}

TEST(Token, TruncatingExtendingOrSplicingNeverVerifies) {
    const auto token = mint(alice(), kSecret);
    for (std::size_t size = 0; size < token.size(); ++size) {
        ASSERT_EQ(check(token.substr(0, size)).error, kInvalid) << size;
    }
    for (const char c : std::string(kAlphabet) + ".=\n ") {
        EXPECT_EQ(check(token + c).error, kInvalid) << c;
        EXPECT_EQ(check(std::string(1, c) + token).error, kInvalid) << c;
    }
    // bob's claims under alice's MAC, and the other way round.
    const auto bob = mint(Claims{std::string(kApp), "bob", kExp, {}}, kSecret);
    const auto claims_end = [](const std::string& t) { return t.rfind('.'); };
    EXPECT_EQ(check(bob.substr(0, claims_end(bob)) + token.substr(claims_end(token)), kSecret, kApp, "bob").error,
              kInvalid);
    EXPECT_EQ(check(token.substr(0, claims_end(token)) + bob.substr(claims_end(bob))).error, kInvalid);
}

TEST(Token, OtherSecretAppOrUserIsInvalid) {
    const auto token = mint(alice(), kSecret);
    for (const std::string_view secret : {"", "s3cre", "s3cret ", "S3CRET", "s3cret\n", "x"}) {
        EXPECT_EQ(check(token, secret).error, kInvalid) << secret;
    }
    for (const std::string_view app : {"", "demo", "demo-app ", "Demo-app", "other"}) {
        EXPECT_EQ(check(token, kSecret, app).error, kInvalid) << app;
    }
    for (const std::string_view user : {"", "alic", "alice ", "Alice", "bob"}) {
        EXPECT_EQ(check(token, kSecret, kApp, user).error, kInvalid) << user;
    }
}

TEST(Token, InvalidWinsOverExpired) {
    // An expired token says "expired" only to someone who presents it with the right secret, app and user.
    const auto token = mint(alice(), kSecret);
    EXPECT_EQ(check(token, "wrong", kApp, kUser, kExp + 10).error, kInvalid);
    EXPECT_EQ(check(token, kSecret, "other", kUser, kExp + 10).error, kInvalid);
    EXPECT_EQ(check(token, kSecret, kApp, "bob", kExp + 10).error, kInvalid);
    EXPECT_EQ(check(token, kSecret, kApp, kUser, kExp + 10).error, kExpired);
}

TEST(Token, ChannelListsRoundTripExactly) {
    const std::vector<std::vector<std::string>> lists{
        {},
        {"lobby"},
        {"a", "b", "a"},
        {"!#$%&()+-:;<=.>?@[]^_{|}~,", " spaced out ", std::string(64, 'z')},
        {"quote\"back\\slash", "tab\tnew\nline", "caf\xc3\xa9", std::string("nul\0byte", 8)},
    };
    for (const auto& channels : lists) {
        const auto result = check(mint(alice(kExp, channels), kSecret));
        ASSERT_FALSE(result.error);
        EXPECT_EQ(result.claims.channels, channels);
    }
}

TEST(Token, MintRefusesWhatCouldNeverVerify) {
    EXPECT_THROW((void)mint(alice(), ""), std::invalid_argument);
    EXPECT_THROW((void)mint(Claims{std::string(kApp), "bad\xff", kExp, {}}, kSecret), std::invalid_argument);
    // Grow the channel list until the token passes 4 KiB: the last token mint() returns still verifies.
    std::vector<std::string> channels;
    std::string last;
    for (int i = 0;; ++i) {
        channels.push_back("channel-" + std::to_string(i));
        try {
            last = mint(alice(kExp, channels), kSecret);
        } catch (const std::invalid_argument&) {
            break;
        }
        ASSERT_LE(last.size(), kMaxTokenSize);
    }
    EXPECT_GT(last.size(), kMaxTokenSize - 40);
    EXPECT_FALSE(check(last).error);
}

TEST(Token, SizeLimitIsFourKibibytes) {
    // Authentic tokens padded with an unknown member: accepted up to kMaxTokenSize bytes, refused beyond.
    bool saw_at_limit = false;
    bool saw_over_limit = false;
    for (std::size_t pad = 2900; pad < 3100; ++pad) {
        const auto token =
            sign_raw(R"({"app":"demo-app","user":"alice","exp":0,"pad":")" + std::string(pad, 'p') + "\"}");
        if (token.size() <= kMaxTokenSize) {
            EXPECT_FALSE(check(token).error) << token.size();
            saw_at_limit = saw_at_limit || token.size() == kMaxTokenSize;
        } else {
            EXPECT_EQ(check(token).error, kInvalid) << token.size();
            saw_over_limit = true;
        }
    }
    EXPECT_TRUE(saw_at_limit);
    EXPECT_TRUE(saw_over_limit);
    EXPECT_EQ(check("rl1." + std::string(1 << 20, 'A') + ".x").error, kInvalid);
}

TEST(Token, MalformedTokensAreInvalidWithoutThrowing) {
    const auto good = mint(alice(), kSecret);
    const auto mac = good.substr(good.rfind('.'));
    const std::vector<std::string> tokens{
        "",
        ".",
        "..",
        "...",
        "rl1",
        "rl1.",
        "rl1..",
        "rl1...",
        "rl1.." + mac.substr(1),
        "rl1.a.b",
        "rl1.a.b.c",
        "RL1" + good.substr(3),
        "rl2" + good.substr(3),
        "rl1" + good,
        " " + good,
        good + ".",
        good.substr(0, good.rfind('.')),
        good.substr(0, good.rfind('.')) + "." + mac,
        "rl1.@@@@." + mac.substr(1),
        "rl1.eyJh=" + mac,
        "rl1." + std::string(4, '\0') + "." + std::string(1, '\0'),
        std::string(kMaxTokenSize + 1, '.'),
        "rl1.\xff\xfe\xfd." + mac.substr(1),
    };
    for (const auto& token : tokens) {
        EXPECT_EQ(check(token).error, kInvalid) << token;
    }
}

TEST(Token, AuthenticButMalformedClaimsAreInvalid) {
    // Correctly signed (a confused or buggy backend): the claims themselves are checked.
    const std::vector<std::string> claims{
        "",
        "not json",
        "{",
        "[]",
        "\"demo-app\"",
        "null",
        "42",
        "{}",
        R"({"app":"demo-app","user":"alice"})",
        R"({"app":"demo-app","exp":0})",
        R"({"user":"alice","exp":0})",
        R"({"app":1,"user":"alice","exp":0})",
        R"({"app":"demo-app","user":null,"exp":0})",
        R"({"app":"demo-app","user":["alice"],"exp":0})",
        R"({"app":"demo-app","user":"alice","exp":"0"})",
        R"({"app":"demo-app","user":"alice","exp":1.5})",
        R"({"app":"demo-app","user":"alice","exp":0.0})",
        R"({"app":"demo-app","user":"alice","exp":1e3})",
        R"({"app":"demo-app","user":"alice","exp":true})",
        R"({"app":"demo-app","user":"alice","exp":null})",
        R"({"app":"demo-app","user":"alice","exp":9223372036854775808})",
        R"({"app":"demo-app","user":"alice","exp":18446744073709551616})",
        R"({"app":"demo-app","user":"alice","exp":-9223372036854775809})",
        R"({"app":"demo-app","user":"alice","exp":0,"ch":"lobby"})",
        R"({"app":"demo-app","user":"alice","exp":0,"ch":{"lobby":true}})",
        R"({"app":"demo-app","user":"alice","exp":0,"ch":null})",
        R"({"app":"demo-app","user":"alice","exp":0,"ch":["lobby",1]})",
        R"({"app":"demo-app","user":"alice","exp":0,"ch":[["lobby"]]})",
        R"({"app":"demo-app","user":"alice","exp":0} trailing)",
        R"({"app":"demo-app","user":"alice","exp":0}{})",
        "{\"app\":\"demo-app\",\"user\":\"alice\xff\",\"exp\":0}",
        R"({"app":"demo-app","user":"alice\u0000","exp":0})",
        std::string(R"({"app":"demo-app","user":"alice","exp":0,"ch":)") + std::string(1300, '[') +
            std::string(1300, ']') + "}",
        std::string(1400, '[') + std::string(1400, ']'),
    };
    for (const auto& text : claims) {
        const auto token = sign_raw(text);
        ASSERT_LE(token.size(), kMaxTokenSize) << text;
        EXPECT_EQ(check(token).error, kInvalid) << text;
    }
}

TEST(Token, AcceptsAnyJsonSpellingOfTheClaims) {
    // Another backend's JSON encoder: members in any order, whitespace, escapes, an empty "ch", extra members
    // (ignored), and "exp" -0 or as a negative or a very large integer.
    const std::vector<std::pair<std::string, Claims>> cases{
        {R"( { "exp" : 1700000000 , "user" : "alice" , "app" : "demo-app" } )", alice(kExp, {})},
        {R"({"app":"demo\u002dapp","user":"\u0061lice","exp":1700000000,"ch":[]})", alice(kExp, {})},
        {R"({"app":"demo-app","user":"alice","exp":-0,"iat":5,"ch":["x"],"future":{"a":[1,2]}})", alice(0, {"x"})},
        {R"({"app":"demo-app","user":"alice","exp":9223372036854775807})", alice(kInt64Max, {})},
    };
    for (const auto& [text, expected] : cases) {
        const auto result = check(sign_raw(text), kSecret, kApp, kUser, kInt64Min);
        ASSERT_FALSE(result.error) << text;
        expect_claims(result.claims, expected);
    }
    // The earliest possible expiry has always passed: expired, not invalid.
    const auto earliest = sign_raw(R"({"app":"demo-app","user":"alice","exp":-9223372036854775808})");
    EXPECT_EQ(check(earliest, kSecret, kApp, kUser, kInt64Min).error, kExpired);
}

// ------------------------------------------------------------------------------------------- relink-token

/// The relink-token built next to this test binary (both go to <build>/bin).
std::filesystem::path tool_path() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path{} : self.parent_path() / "relink-token";
}

struct ToolRun {
    int exit_code{-1};  ///< -1: did not exit normally
    std::string out;
    std::string err;
};

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs relink-token with exactly these arguments (no shell), stdin from /dev/null, stdout and stderr captured
/// (30 s at most).
ToolRun run_tool(const std::vector<std::string>& args) {
    static int runs = 0;
    const auto err_path = std::filesystem::path(testing::TempDir()) /
                          ("relink_token_test_" + std::to_string(::getpid()) + "_" + std::to_string(++runs) + ".err");
    const std::string exe = tool_path().string();
    test::ChildSpec spec;
    spec.argv.push_back(exe);
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.stderr_file = err_path;
    const auto result = test::ChildProcess::run(std::move(spec), std::chrono::seconds(30));
    ToolRun run;
    if (!result.status) {
        ADD_FAILURE() << "relink-token did not run to its end within 30 s: " << exe;
    } else if (*result.status >= 0) {
        run.exit_code = *result.status;
    }
    run.out = result.output;
    run.err = slurp(err_path);
    std::error_code ignored;
    std::filesystem::remove(err_path, ignored);
    return run;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class RelinkTokenTool : public testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(tool_path()))
            << tool_path() << " is missing: build the relink-token target too";
    }

    /// Runs the tool, expects success and exactly one line on stdout, and returns that line verified.
    static Verified mint_with_tool(const std::vector<std::string>& args, std::string_view secret, std::string_view user,
                                   std::int64_t now) {
        const auto run = run_tool(args);
        EXPECT_EQ(run.exit_code, 0) << run.err;
        EXPECT_EQ(run.err, "");
        EXPECT_FALSE(run.out.empty());
        EXPECT_EQ(run.out.find('\n'), run.out.size() - 1) << "one line: " << run.out;
        const auto token = run.out.substr(0, run.out.find('\n'));
        return check(token, secret, "demo-app", user, now);
    }
};

TEST_F(RelinkTokenTool, MintsATokenForADayByDefault) {
    const auto before = unix_now();
    const auto result =
        mint_with_tool({"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice"}, "TOPSECRET", "alice", before);
    const auto after = unix_now();
    ASSERT_FALSE(result.error);
    EXPECT_GE(result.claims.expires_at, before + 86400);
    EXPECT_LE(result.claims.expires_at, after + 86400);
    EXPECT_TRUE(result.claims.channels.empty());
}

TEST_F(RelinkTokenTool, TtlAndChannels) {
    const auto before = unix_now();
    auto result = mint_with_tool({"--app", "demo-app", "--secret", "k", "--user", "user 1", "--ttl", "60", "--channel",
                                  "lobby", "--channel", "room 1"},
                                 "k", "user 1", before);
    ASSERT_FALSE(result.error);
    EXPECT_GE(result.claims.expires_at, before + 60);
    EXPECT_LE(result.claims.expires_at, unix_now() + 60);
    EXPECT_EQ(result.claims.channels, (std::vector<std::string>{"lobby", "room 1"}));

    result = mint_with_tool({"--app=demo-app", "--secret=k=v", "--user=bob", "--ttl=0", "--channel=a"}, "k=v", "bob",
                            kInt64Max);
    ASSERT_FALSE(result.error);
    EXPECT_EQ(result.claims.expires_at, 0) << "--ttl 0 never expires";
    EXPECT_EQ(result.claims.channels, std::vector<std::string>{"a"});
}

TEST_F(RelinkTokenTool, HelpGoesToStdoutWithStatusZero) {
    const std::vector<std::vector<std::string>> cases{{"--help"}, {"-h"}, {"--app", "x", "--help"}};
    for (const auto& args : cases) {
        const auto run = run_tool(args);
        EXPECT_EQ(run.exit_code, 0);
        EXPECT_NE(run.out.find("\nUsage: relink-token"), std::string::npos) << run.out;
        EXPECT_NE(run.out.find("relink-token --app ID --secret SECRET --user UID"), std::string::npos) << run.out;
        EXPECT_NE(run.out.find("--private-key PEMFILE"), std::string::npos) << run.out;
        EXPECT_EQ(run.err, "");
    }
}

TEST_F(RelinkTokenTool, BadFlagsGiveOneLineAndStatusTwo) {
    const std::vector<std::vector<std::string>> cases{
        {},
        {"--secret", "TOPSECRET", "--user", "alice"},
        {"--app", "demo-app", "--user", "alice"},
        {"--app", "demo-app", "--secret", "TOPSECRET"},
        {"--app", "", "--secret", "TOPSECRET", "--user", "alice"},
        {"--app", "demo-app", "--secret", "", "--user", "alice"},
        {"--app", "demo-app", "--secret=", "--user", "alice"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", ""},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", " alice"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice "},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "a/b"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "line\nbreak"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", std::string(65, 'u')},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--user", "bob"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--ttl", "-1"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--ttl", "abc"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--ttl", "1.5"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--ttl", ""},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--ttl", "99999999999999999999"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--ttl", "9223372036854775807"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--ttl", "60", "--ttl", "60"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--channel", "bad/name"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--channel", ""},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--channel"},
        {"--app", "demo-app", "--secret", "TOP", "SECRET", "--user", "alice"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--verbose"},
        {"--app", "demo-app\xff", "--secret", "TOPSECRET", "--user", "alice"},
        {"-a", "demo-app", "--secret", "TOPSECRET", "--user", "alice"},
    };
    for (const auto& args : cases) {
        std::string shown;
        for (const auto& arg : args) {
            shown += " [" + arg + "]";
        }
        const auto run = run_tool(args);
        EXPECT_EQ(run.exit_code, 2) << shown;
        EXPECT_EQ(run.out, "") << shown;
        EXPECT_EQ(run.err.rfind("relink-token: ", 0), 0U) << shown << ": " << run.err;
        EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << shown << ": one line, not " << run.err;
        EXPECT_EQ(run.err.find("SECRET"), std::string::npos) << shown << ": the secret leaked: " << run.err;
    }
}

// ------------------------------------------------------------------------------------------- JWT from the tool

/// The JSON of a JWT's payload (its middle segment).
std::string jwt_payload(const std::string& token) {
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    return base64url_decode(token.substr(first + 1, second - first - 1)).value_or("");
}

class RelinkTokenToolJwt : public RelinkTokenTool {
protected:
    void SetUp() override {
        RelinkTokenTool::SetUp();
        dir_ = std::filesystem::temp_directory_path() / ("relink-token-jwt-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    /// The token the tool prints for `args` (the test fails when it does not print one).
    static std::string minted(const std::vector<std::string>& args) {
        const auto run = run_tool(args);
        EXPECT_EQ(run.exit_code, 0) << run.err;
        EXPECT_EQ(run.err, "");
        EXPECT_EQ(run.out.find('\n'), run.out.size() - 1) << "one line: " << run.out;
        return run.out.substr(0, run.out.find('\n'));
    }
    std::filesystem::path dir_;
};

TEST_F(RelinkTokenToolJwt, FormatJwtWithTheSecretIsHs256ThatPythonReproduces) {
    const auto before = unix_now();
    const auto token = minted({"--app", "demo-app", "--secret", "k", "--user", "alice", "--ttl", "60", "--format",
                               "jwt", "--channel", "lobby"});
    const auto verified = verify(token, AppKeys{"k", {}}, "demo-app", "alice", before);
    ASSERT_FALSE(verified.error) << token;
    EXPECT_GE(verified.claims.expires_at, before + 60);
    EXPECT_EQ(verified.claims.channels, std::vector<std::string>{"lobby"});
    EXPECT_EQ(base64url_decode(token.substr(0, token.find('.'))), R"({"alg":"HS256","typ":"JWT"})");
    // Python's standard library, given the same claims, signs the same bytes to the same token.
    EXPECT_EQ(test::mint_independently({"HS256", jwt_payload(token), "k", {}, {}, ""}), token);
}

TEST_F(RelinkTokenToolJwt, PrivateKeysMintEs256AndRs256) {
    const auto es = test::generate_key_pair(dir_, "es", "EC");
    const auto rs = test::generate_key_pair(dir_, "rs", "RSA");
    ASSERT_TRUE(es && rs);
    const auto now = unix_now();
    const auto es_token = minted({"--app", "demo-app", "--private-key", es->private_pem.string(), "--user", "alice"});
    const auto rs_token = minted({"--app", "demo-app", "--private-key=" + rs->private_pem.string(), "--user", "alice",
                                  "--format", "jwt", "--ttl", "600"});
    const auto file_text = [](const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string{std::istreambuf_iterator<char>(in), {}};
    };
    const AppKeys es_app{"", {PublicKey::from_pem(Algorithm::es256, file_text(es->public_pem))}};
    const AppKeys rs_app{"", {PublicKey::from_pem(Algorithm::rs256, file_text(rs->public_pem))}};
    EXPECT_FALSE(verify(es_token, es_app, "demo-app", "alice", now).error) << es_token;
    EXPECT_FALSE(verify(rs_token, rs_app, "demo-app", "alice", now).error) << rs_token;
    EXPECT_EQ(base64url_decode(es_token.substr(0, es_token.find('.'))), R"({"alg":"ES256","typ":"JWT"})");
    // The RS256 signature checked by the openssl command line, independently of relink's code.
    const auto dot = rs_token.rfind('.');
    std::ofstream(dir_ / "input", std::ios::binary) << rs_token.substr(0, dot);
    std::ofstream(dir_ / "signature", std::ios::binary) << *base64url_decode(rs_token.substr(dot + 1));
    const auto verified =
        test::run_for_output({"/usr/bin/openssl", "dgst", "-sha256", "-verify", rs->public_pem.string(), "-signature",
                              (dir_ / "signature").string(), (dir_ / "input").string()});
    EXPECT_EQ(verified, "Verified OK");
}

TEST_F(RelinkTokenToolJwt, BadJwtFlagsGiveOneLineAndStatusTwo) {
    const auto es = test::generate_key_pair(dir_, "es", "EC");
    ASSERT_TRUE(es);
    const auto key = es->private_pem.string();
    const std::vector<std::vector<std::string>> cases{
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--format", "xml"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--format", "jwt", "--ttl", "0"},
        {"--app", "demo-app", "--private-key", key, "--user", "alice", "--ttl", "0"},
        {"--app", "demo-app", "--private-key", key, "--user", "alice", "--format", "rl1"},
        {"--app", "demo-app", "--private-key", key, "--secret", "TOPSECRET", "--user", "alice"},
        {"--app", "demo-app", "--private-key", (dir_ / "missing.pem").string(), "--user", "alice"},
        {"--app", "demo-app", "--private-key", es->public_pem.string(), "--user", "alice"},
        {"--app", "demo-app", "--secret", "TOPSECRET", "--user", "alice", "--format", "jwt", "--format", "jwt"},
    };
    for (const auto& args : cases) {
        std::string shown;
        for (const auto& arg : args) {
            shown += " [" + arg + "]";
        }
        const auto run = run_tool(args);
        EXPECT_EQ(run.exit_code, 2) << shown << ": " << run.err;
        EXPECT_EQ(run.out, "") << shown;
        EXPECT_EQ(run.err.rfind("relink-token: ", 0), 0U) << shown << ": " << run.err;
        EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << shown << ": one line, not " << run.err;
        EXPECT_EQ(run.err.find("SECRET"), std::string::npos) << shown << ": the secret leaked: " << run.err;
    }
}

}  // namespace
}  // namespace relink::token
