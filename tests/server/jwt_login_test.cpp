// JWT login tokens at a real relinkd (docs/tokens.md, docs/server.md): tokens minted independently of relink's code
// (tests/token/mint_jwt.py: Python's standard library for HS256, the openssl command line for ES256 / RS256) log in
// over TLS; tampered, expired, not-yet-valid, wrong-algorithm (none, HS256 keyed with the public key's PEM, RS256 for
// an app with only a secret) and other apps' JWTs get exactly the refusals rl1 tokens get. Also relinkd's
// --app-key option, from flags and the config file.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/messages.hpp"
#include "relink/error.hpp"
#include "server/options.hpp"
#include "server/ws_test_client.hpp"
#include "support/independent_jwt.hpp"
#include "support/relinkd_process.hpp"

namespace relink::server {
namespace {

using namespace std::chrono_literals;
using test::IndependentJwt;
using test::WsTestClient;

constexpr const char* kHsSecret = "jwt-secret-for-hs-app";

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// {"sub": user, "app": app, "exp": now + ttl} plus `more` (",\"nbf\":..." etc.).
std::string claims(const std::string& app, const std::string& user, std::int64_t ttl_seconds,
                   const std::string& more = "") {
    return R"({"sub":")" + user + R"(","app":")" + app + R"(","exp":)" + std::to_string(unix_now() + ttl_seconds) +
           more + "}";
}

/// One relinkd for the suite, with three apps: "hs-app" (a secret: rl1 and HS256), "es-app" (an ES256 public key
/// only) and "rs-app" (an RS256 public key only); the key pairs come from the openssl command line.
class JwtLogin : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                         ("relink-jwt-login-" + std::to_string(::getpid())));
        std::filesystem::create_directories(*dir_);
        es_ = new test::KeyPair(test::generate_key_pair(*dir_, "es", "EC").value_or(test::KeyPair{}));
        rs_ = new test::KeyPair(test::generate_key_pair(*dir_, "rs", "RSA").value_or(test::KeyPair{}));
        if (es_->public_pem.empty() || rs_->public_pem.empty()) {
            return;
        }
        test::Relinkd::LaunchOptions launch;
        launch.extra = {"--app",
                        std::string("hs-app:") + kHsSecret,
                        "--app-key",
                        "es-app:ES256:" + es_->public_pem.string(),
                        "--app-key=rs-app:RS256:" + rs_->public_pem.string(),
                        "--time-scale",
                        "0.1"};
        server_ = test::Relinkd::launch(*dir_, launch).release();
    }
    static void TearDownTestSuite() {
        if (server_ != nullptr) {
            EXPECT_EQ(server_->stop(), 0) << "relinkd did not exit cleanly within 5 s of SIGTERM";
        }
        delete server_;
        std::filesystem::remove_all(*dir_);
        delete es_;
        delete rs_;
        delete dir_;
    }

    void SetUp() override {
        ASSERT_FALSE(es_->public_pem.empty() || rs_->public_pem.empty()) << "openssl genpkey failed";
        ASSERT_NE(server_, nullptr) << "relinkd did not start";
    }
    void TearDown() override {
        if (HasFailure() && server_ != nullptr) {
            std::cerr << "---- relinkd stderr ----\n" << server_->stderr_text() << "------------------------\n";
        }
    }

    static std::string mint(const IndependentJwt& jwt) {
        std::string failure;
        std::string token = test::mint_independently(jwt, &failure);
        EXPECT_FALSE(token.empty()) << "mint_jwt.py failed: " << failure;
        return token;
    }
    static std::string hs256(const std::string& claims_json, const std::string& secret = kHsSecret) {
        return mint({"HS256", claims_json, secret, {}, {}, ""});
    }
    static std::string es256(const std::string& claims_json) {
        return mint({"ES256", claims_json, "", {}, es_->private_pem, ""});
    }
    static std::string rs256(const std::string& claims_json) {
        return mint({"RS256", claims_json, "", {}, rs_->private_pem, ""});
    }

    /// The answer to a login of (app, user) with `token`: the LoginOk, or the error of the reply.
    struct Answer {
        std::optional<proto::LoginOk> ok;
        std::error_code error;
        std::unique_ptr<WsTestClient> client;
    };
    Answer log_in(const std::string& app, const std::string& user, const std::string& token) {
        Answer answer;
        WsTestClient::Config config;
        config.port = server_->port();
        config.ca_file = server_->ca_file();
        std::string error;
        answer.client = WsTestClient::connect(config, error);
        EXPECT_TRUE(answer.client) << error;
        if (!answer.client) {
            answer.error = make_error_code(errc::network_timeout);
            return answer;
        }
        proto::Login login;
        login.request_id = ++request_id_;
        login.app_id = app;
        login.user_id = user;
        login.token = token;
        login.instance_id = "instance-" + std::to_string(request_id_);
        login.profile = Profile::rtm;
        answer.client->send(login);
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto message = answer.client->next(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
            if (!message) {
                break;
            }
            if (const auto* ok = std::get_if<proto::LoginOk>(&*message); ok && ok->request_id == login.request_id) {
                answer.ok = *ok;
                return answer;
            }
            if (const auto* reply = std::get_if<proto::Reply>(&*message);
                reply && reply->request_id == login.request_id) {
                answer.error = reply->error;
                EXPECT_TRUE(answer.error) << "an empty Reply to a login";
                return answer;
            }
        }
        ADD_FAILURE() << "no answer to the login";
        answer.error = make_error_code(errc::network_timeout);
        return answer;
    }

    void expect_refused(const std::string& app, const std::string& user, const std::string& token, errc expected) {
        const auto answer = log_in(app, user, token);
        EXPECT_FALSE(answer.ok) << "logged in with " << token;
        EXPECT_EQ(answer.error, make_error_code(expected)) << answer.error.message() << " for " << token;
    }

    static inline std::filesystem::path* dir_ = nullptr;
    static inline test::KeyPair* es_ = nullptr;
    static inline test::KeyPair* rs_ = nullptr;
    static inline test::Relinkd* server_ = nullptr;
    proto::RequestId request_id_{0};
};

// ------------------------------------------------------------------------------------------ accepted

TEST_F(JwtLogin, Hs256FromPythonsStandardLibraryLogsIn) {
    const auto answer = log_in("hs-app", "alice", hs256(claims("hs-app", "alice", 3600)));
    ASSERT_TRUE(answer.ok) << answer.error.message();
    // The token's lifetime comes back as token_ttl (an hour, less the seconds the test took).
    EXPECT_GT(answer.ok->token_ttl, 3500s);
    EXPECT_LE(answer.ok->token_ttl, 3600s);
}

TEST_F(JwtLogin, Es256FromTheOpensslCommandLineLogsIn) {
    const auto answer = log_in("es-app", "alice", es256(claims("es-app", "alice", 3600)));
    EXPECT_TRUE(answer.ok) << answer.error.message();
}

TEST_F(JwtLogin, Rs256FromTheOpensslCommandLineLogsIn) {
    const auto answer = log_in("rs-app", "alice", rs256(claims("rs-app", "alice", 3600)));
    EXPECT_TRUE(answer.ok) << answer.error.message();
}

TEST_F(JwtLogin, ChannelsClaimRestrictsJoins) {
    auto answer = log_in("es-app", "carol", es256(claims("es-app", "carol", 3600, R"(,"channels":["lobby"])")));
    ASSERT_TRUE(answer.ok) << answer.error.message();
    for (const auto& [channel, allowed] : {std::pair{"lobby", true}, std::pair{"backstage", false}}) {
        const proto::Join join{++request_id_, channel};
        answer.client->send(join);
        std::optional<proto::ServerMessage> reply;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!reply && std::chrono::steady_clock::now() < deadline) {
            auto message = answer.client->next(1s);
            if (message && std::visit(
                               [&](const auto& m) {
                                   if constexpr (requires { m.request_id; }) {
                                       return m.request_id == join.request_id;
                                   } else {
                                       return false;
                                   }
                               },
                               *message)) {
                reply = std::move(message);
            }
        }
        ASSERT_TRUE(reply) << channel;
        if (allowed) {
            EXPECT_TRUE(std::holds_alternative<proto::JoinOk>(*reply)) << channel;
        } else {
            const auto* refused = std::get_if<proto::Reply>(&*reply);
            ASSERT_NE(refused, nullptr) << channel;
            EXPECT_EQ(refused->error, make_error_code(errc::rejected_by_server));
        }
    }
}

TEST_F(JwtLogin, RenewTokenTakesAJwtAndRefusesATamperedOne) {
    auto answer = log_in("rs-app", "erin", rs256(claims("rs-app", "erin", 600)));
    ASSERT_TRUE(answer.ok) << answer.error.message();
    const auto renew = [&](const std::string& token) -> std::optional<proto::ServerMessage> {
        const proto::RenewToken request{++request_id_, token};
        answer.client->send(request);
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto message = answer.client->next(1s);
            if (const auto* ok = message ? std::get_if<proto::RenewOk>(&*message) : nullptr;
                ok && ok->request_id == request.request_id) {
                return message;
            }
            if (const auto* reply = message ? std::get_if<proto::Reply>(&*message) : nullptr;
                reply && reply->request_id == request.request_id) {
                return message;
            }
        }
        return std::nullopt;
    };
    const auto renewed = renew(rs256(claims("rs-app", "erin", 7200)));
    ASSERT_TRUE(renewed && std::holds_alternative<proto::RenewOk>(*renewed));
    EXPECT_GT(std::get<proto::RenewOk>(*renewed).token_ttl, 7000s);
    std::string tampered = rs256(claims("rs-app", "erin", 7200));
    tampered[tampered.size() - 4] = tampered[tampered.size() - 4] == 'A' ? 'B' : 'A';
    const auto refused = renew(tampered);
    ASSERT_TRUE(refused && std::holds_alternative<proto::Reply>(*refused));
    EXPECT_EQ(std::get<proto::Reply>(*refused).error, make_error_code(errc::invalid_token));
}

// ------------------------------------------------------------------- refused, with the reasons rl1 gets

TEST_F(JwtLogin, TamperedIsInvalidToken) {
    std::string token = es256(claims("es-app", "eve", 3600));
    token[token.size() - 5] = token[token.size() - 5] == 'A' ? 'B' : 'A';
    expect_refused("es-app", "eve", token, errc::invalid_token);
    // The claims changed (another user) under the original signature.
    const std::string genuine = hs256(claims("hs-app", "eve", 3600));
    const auto first_dot = genuine.find('.');
    const auto second_dot = genuine.find('.', first_dot + 1);
    const std::string other = hs256(claims("hs-app", "mallory", 3600));
    const auto other_first = other.find('.');
    const std::string spliced = other.substr(0, other.find('.', other_first + 1)) + genuine.substr(second_dot);
    expect_refused("hs-app", "mallory", spliced, errc::invalid_token);
}

TEST_F(JwtLogin, ExpiredIsTokenExpired) {
    expect_refused("hs-app", "eve", hs256(claims("hs-app", "eve", -10)), errc::token_expired);
    expect_refused("rs-app", "eve", rs256(claims("rs-app", "eve", -10)), errc::token_expired);
}

TEST_F(JwtLogin, NotYetValidIsInvalidToken) {
    const auto nbf = R"(,"nbf":)" + std::to_string(unix_now() + 600);
    expect_refused("es-app", "eve", es256(claims("es-app", "eve", 3600, nbf)), errc::invalid_token);
}

TEST_F(JwtLogin, AlgNoneIsInvalidToken) {
    for (const char* app : {"hs-app", "es-app", "rs-app"}) {
        const auto token = mint({"none", claims(app, "eve", 3600), "", {}, {}, R"({"alg":"none","typ":"JWT"})"});
        expect_refused(app, "eve", token, errc::invalid_token);
    }
}

TEST_F(JwtLogin, Hs256KeyedWithThePublicKeysPemIsInvalidToken) {
    expect_refused("es-app", "eve", mint({"HS256", claims("es-app", "eve", 3600), "", es_->public_pem, {}, ""}),
                   errc::invalid_token);
    expect_refused("rs-app", "eve", mint({"HS256", claims("rs-app", "eve", 3600), "", rs_->public_pem, {}, ""}),
                   errc::invalid_token);
}

TEST_F(JwtLogin, Rs256ForAnAppWithOnlyASecretIsInvalidToken) {
    expect_refused("hs-app", "eve", rs256(claims("hs-app", "eve", 3600)), errc::invalid_token);
    expect_refused("hs-app", "eve", es256(claims("hs-app", "eve", 3600)), errc::invalid_token);
}

TEST_F(JwtLogin, AnotherAlgorithmsKeyIsInvalidToken) {
    expect_refused("rs-app", "eve", es256(claims("rs-app", "eve", 3600)), errc::invalid_token);
    expect_refused("es-app", "eve", rs256(claims("es-app", "eve", 3600)), errc::invalid_token);
}

TEST_F(JwtLogin, AnotherAppsJwtIsInvalidToken) {
    // Signed with another app's secret ("app:secret" is configured too), claims naming that app.
    expect_refused("hs-app", "eve", hs256(claims("app", "eve", 3600), "secret"), errc::invalid_token);
    // Signed with the right key but naming another app in its claims.
    expect_refused("es-app", "eve", es256(claims("rs-app", "eve", 3600)), errc::invalid_token);
    // Another user's token.
    expect_refused("hs-app", "eve", hs256(claims("hs-app", "alice", 3600)), errc::invalid_token);
}

TEST_F(JwtLogin, UnknownAppIsInvalidAppId) {
    expect_refused("no-such-app", "eve", hs256(claims("no-such-app", "eve", 3600)), errc::invalid_app_id);
}

TEST_F(JwtLogin, Rl1TokensStillLogIn) {
    const auto token = token::mint({"hs-app", "dave", unix_now() + 600, {}}, kHsSecret);
    EXPECT_TRUE(log_in("hs-app", "dave", token).ok);
    expect_refused("es-app", "dave", token::mint({"es-app", "dave", unix_now() + 600, {}}, "guess"),
                   errc::invalid_token);
}

// -------------------------------------------------------------------------------------------- --app-key

class AppKeyOption : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("relink-app-key-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        auto pair = test::generate_key_pair(dir_, "es", "EC");
        ASSERT_TRUE(pair);
        es_ = *pair;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
    test::KeyPair es_;
};

TEST_F(AppKeyOption, FlagsGiveAnAppWithoutASecret) {
    const auto parsed = parse_options({"--app-key", "es:ES256:" + es_.public_pem.string(), "--app-key",
                                       "es:ES256:" + es_.public_pem.string(), "--app", "hs:s"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const auto table = app_key_table(*parsed.options);
    ASSERT_EQ(table.size(), 2U);
    EXPECT_TRUE(table.at("es").secret.empty());
    EXPECT_EQ(table.at("es").public_keys.size(), 2U);
    EXPECT_EQ(table.at("es").public_keys[0].algorithm(), token::Algorithm::es256);
    EXPECT_EQ(table.at("hs").secret, "s");
    EXPECT_TRUE(table.at("hs").public_keys.empty());
}

TEST_F(AppKeyOption, ConfigFileFormsAndFlagsReplaceThem) {
    const auto pem = es_.public_pem.string();
    for (const std::string& value : {"\"a:ES256:" + pem + "\"", "[\"a:ES256:" + pem + "\"]",
                                     "{\"a\": \"ES256:" + pem + "\"}", "{\"a\": [\"ES256:" + pem + "\"]}"}) {
        Options options;
        EXPECT_EQ(apply_config_json("{\"app-key\": " + value + "}", options), "") << value;
        ASSERT_EQ(options.app_public_keys.size(), 1U) << value;
        EXPECT_EQ(options.app_public_keys.at("a").size(), 1U) << value;
    }
    const auto config = dir_ / "relinkd.json";
    std::ofstream(config) << "{\"app-key\": {\"from-file\": \"ES256:" << pem << "\"}}";
    const auto parsed = parse_options({"--config", config.string(), "--app-key", "from-flag:ES256:" + pem});
    ASSERT_TRUE(parsed.options) << parsed.error;
    EXPECT_EQ(parsed.options->app_public_keys.count("from-file"), 0U);
    EXPECT_EQ(parsed.options->app_public_keys.count("from-flag"), 1U);
}

TEST_F(AppKeyOption, BadKeysGiveOneLine) {
    const auto pem = es_.public_pem.string();
    const auto expect_error = [](const std::vector<std::string>& args, const std::string& says) {
        const auto parsed = parse_options(args);
        EXPECT_FALSE(parsed.options) << says;
        EXPECT_NE(parsed.error.find(says), std::string::npos) << parsed.error;
        EXPECT_EQ(parsed.error.find('\n'), std::string::npos) << parsed.error;
    };
    expect_error({"--app-key", "es:ES256:" + (dir_ / "missing.pem").string()}, "cannot read");
    expect_error({"--app-key", "es:ES256:" + es_.private_pem.string()}, "private key");
    expect_error({"--app-key", "es:RS256:" + pem}, "RSA key");
    expect_error({"--app-key", "es:HS256:" + pem}, "--app ID:SECRET");
    expect_error({"--app-key", "es:none:" + pem}, "ES256 or RS256");
    expect_error({"--app-key", "es:ES256"}, "ID:ALG:PEMFILE");
    expect_error({"--app-key", "es"}, "ID:ALG:PEMFILE");
    expect_error({"--app-key", "bad\x01id:ES256:" + pem}, "invalid app id");
    expect_error({}, "--app-key ID:ALG:PEMFILE");
    Options options;
    EXPECT_NE(apply_config_json(R"({"app-key": [1]})", options).find("ID:ALG:PEMFILE"), std::string::npos);
}

}  // namespace
}  // namespace relink::server
