// relinkd: options parsing and TLS certificate generation as unit tests, then the real binary over loopback TLS
// (port 0, --time-scale 0.1) driven by the raw WebSocket test client: login, channels, peer messages, takeover,
// the admin API, drain on SIGTERM, and hostile input of every kind. Every process started here is stopped by its
// PID; every wait is bounded; the tests wait for events, never for fixed sleeps.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "faultproxy/fault_proxy.hpp"
#include "protocol/codec.hpp"
#include "server/options.hpp"
#include "server/tls.hpp"
#include "server/ws_test_client.hpp"
#include "support/bin_dir.hpp"
#include "support/child_process.hpp"
#include "token/token.hpp"

namespace relink::server {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using test::CloseInfo;
using test::masked_text_frame;
using test::WsTestClient;

// =============================================================================================== options

ParsedOptions parse(std::vector<std::string> args) {
    return parse_options(args);
}

std::filesystem::path temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "relinkd-test-XXXXXX").string();
    const char* made = mkdtemp(pattern.data());
    return made != nullptr ? std::filesystem::path(made) : std::filesystem::temp_directory_path();
}

TEST(Options, MinimalCommandLine) {
    const auto parsed = parse({"--app", "app:secret"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const Options& o = *parsed.options;
    EXPECT_EQ(o.listen, (HostPort{"127.0.0.1", 8443}));
    EXPECT_EQ(o.apps, (std::map<std::string, std::string>{{"app", "secret"}}));
    EXPECT_FALSE(o.insecure_plaintext);
    EXPECT_FALSE(o.admin_listen);
    EXPECT_EQ(o.time_scale, 1.0);
    EXPECT_EQ(o.threads, 0U);
    EXPECT_EQ(o.log_level, "info");
}

TEST(Options, LimitsFromFlagsAndConfig) {
    const auto parsed = parse(
        {"--app", "a:s", "--limit", "messages-per-second=5", "--limit", "channels-per-user=3", "--limit=peer-queue=7"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const HubConfig hub = make_hub_config(*parsed.options);
    EXPECT_EQ(hub.limits.messages_per_second, 5.0);
    EXPECT_EQ(hub.limits.max_channels_per_user, 3U);
    EXPECT_EQ(hub.limits.peer_queue_per_user, 7U);
    EXPECT_EQ(hub.limits.history_per_channel, Limits{}.history_per_channel);  // untouched

    Options options;
    EXPECT_EQ(apply_config_json(R"({"limit": {"members-per-channel": 2, "login-burst": 9}})", options), "");
    EXPECT_EQ(options.limits.max_members_per_channel, 2U);
    EXPECT_EQ(options.limits.login_burst, 9.0);
    EXPECT_NE(apply_config_json(R"({"limit": {"members-per-channel": "two"}})", options), "");
    EXPECT_EQ(
        apply_config_json(R"({"limit": {"server-logins-per-second": 300, "write-queue-budget-mb": 64}})", options), "");
    EXPECT_EQ(options.limits.server_logins_per_second, 300.0);
    EXPECT_EQ(options.limits.write_queue_budget_bytes, 64U * 1024U * 1024U);
    EXPECT_NE(apply_config_json(R"({"limit": 3})", options), "");

    // The presence batch interval may be 0 (off), unlike the other limits.
    EXPECT_EQ(options.limits.presence_batch_interval, 200ms);
    EXPECT_EQ(apply_config_json(R"({"limit": {"presence-batch-ms": 0}})", options), "");
    EXPECT_EQ(options.limits.presence_batch_interval, Duration::zero());
    const auto batches = parse({"--app", "a:s", "--limit", "presence-batch-ms=50", "--time-scale", "0.1"});
    ASSERT_TRUE(batches.options) << batches.error;
    EXPECT_EQ(make_hub_config(*batches.options).limits.presence_batch_interval, 5ms);  // scaled like every duration
}

TEST(Options, OverloadLimitsWithTheirDefaultsAndTheRetryAfterScaled) {
    const HubConfig defaults = make_hub_config(*parse({"--app", "a:s"}).options);
    EXPECT_EQ(defaults.limits.server_logins_per_second, 500.0);
    EXPECT_EQ(defaults.limits.max_logins_in_progress, 1000U);
    EXPECT_EQ(defaults.limits.busy_retry_min, 1s);
    EXPECT_EQ(defaults.limits.write_queue_budget_bytes, 256U * 1024U * 1024U);
    const auto parsed = parse({"--app",        "a:s",
                               "--limit",      "server-logins-per-second=200",
                               "--limit",      "server-login-burst=50",
                               "--limit",      "logins-in-progress=300",
                               "--limit",      "busy-retry-min-ms=2000",
                               "--limit",      "busy-retry-max-ms=20000",
                               "--limit",      "write-queue-budget-mb=32",
                               "--limit",      "write-queue-high-water-percent=50",
                               "--limit",      "handshakes-in-progress=64",
                               "--time-scale", "0.5"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const Limits l = make_hub_config(*parsed.options).limits;
    EXPECT_EQ(l.server_logins_per_second, 200.0);  // a capacity: not scaled
    EXPECT_EQ(l.server_login_burst, 50.0);
    EXPECT_EQ(l.max_logins_in_progress, 300U);
    EXPECT_EQ(l.busy_retry_min, 1s);  // timings: scaled
    EXPECT_EQ(l.busy_retry_max, 10s);
    EXPECT_EQ(l.write_queue_budget_bytes, 32U * 1024U * 1024U);
    EXPECT_EQ(l.write_queue_high_water_percent, 50.0);
    EXPECT_EQ(l.max_handshakes_in_progress, 64U);
    for (const auto& bad : std::vector<std::vector<std::string>>{
             {"--app", "a:s", "--limit", "busy-retry-min-ms=5000", "--limit", "busy-retry-max-ms=4000"},
             {"--app", "a:s", "--limit", "write-queue-high-water-percent=150"},
         }) {
        const auto refused = parse(bad);
        EXPECT_FALSE(refused.options) << bad.back();
        EXPECT_NE(refused.error.find("--limit"), std::string::npos) << refused.error;
    }
}

TEST(Options, TimingBoundsFromLimitsScaledLikeEveryDuration) {
    const auto parsed =
        parse({"--app", "a:s", "--limit", "presence-timeout-min-ms=5000", "--limit", "presence-timeout-max-ms=60000",
               "--limit", "heartbeat-min-ms=250", "--limit", "heartbeat-max-ms=1500", "--limit",
               "backfill-window-max-ms=90000", "--limit", "backfill-count-max=10", "--time-scale", "0.1"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const TimingBounds b = make_hub_config(*parsed.options).timing_bounds;
    EXPECT_EQ(b.min_presence_timeout, 500ms);
    EXPECT_EQ(b.max_presence_timeout, 6s);
    EXPECT_EQ(b.min_heartbeat_interval, 25ms);
    EXPECT_EQ(b.max_heartbeat_interval, 150ms);
    EXPECT_EQ(b.max_backfill_window, 9s);
    EXPECT_EQ(b.max_backfill_count, 10U);  // a count: not scaled

    const TimingBounds defaults = make_hub_config(*parse({"--app", "a:s"}).options).timing_bounds;
    EXPECT_EQ(defaults.min_presence_timeout, 2s);
    EXPECT_EQ(defaults.max_presence_timeout, 5min);
    EXPECT_EQ(defaults.max_heartbeat_interval, 2s);

    for (const auto& bad : std::vector<std::vector<std::string>>{
             {"--app", "a:s", "--limit", "presence-timeout-min-ms=9000", "--limit", "presence-timeout-max-ms=8000"},
             {"--app", "a:s", "--limit", "heartbeat-min-ms=3000"},  // above the default maximum of 2 s
             {"--app", "a:s", "--limit", "heartbeat-max-ms=6000"},  // not below the keep-alive timeout
         }) {
        const auto refused = parse(bad);
        EXPECT_FALSE(refused.options) << bad.back();
        EXPECT_NE(refused.error.find("--limit"), std::string::npos) << refused.error;
    }
}

TEST(Options, EveryFlag) {
    const auto parsed = parse({"--listen",
                               "0.0.0.0:9000",
                               "--cert",
                               "c.pem",
                               "--key=k.pem",
                               "--write-ca",
                               "ca.pem",
                               "--app",
                               "a:s1",
                               "--app",
                               "b:s2:with:colons",
                               "--admin-listen",
                               "127.0.0.1:0",
                               "--admin-secret",
                               "adm",
                               "--time-scale",
                               "0.01",
                               "--threads",
                               "3",
                               "--log-level",
                               "debug"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    const Options& o = *parsed.options;
    EXPECT_EQ(o.listen, (HostPort{"0.0.0.0", 9000}));
    EXPECT_EQ(o.cert_file, "c.pem");
    EXPECT_EQ(o.key_file, "k.pem");
    EXPECT_EQ(o.write_ca_file, "ca.pem");
    EXPECT_EQ(o.apps, (std::map<std::string, std::string>{{"a", "s1"}, {"b", "s2:with:colons"}}));
    ASSERT_TRUE(o.admin_listen);
    EXPECT_EQ(*o.admin_listen, (HostPort{"127.0.0.1", 0}));
    EXPECT_EQ(o.admin_secret, "adm");
    EXPECT_DOUBLE_EQ(o.time_scale, 0.01);
    EXPECT_EQ(o.threads, 3U);
    EXPECT_EQ(o.log_level, "debug");
}

// The command line follows the rules of every relink executable (CLI11): both spellings of a value, the last of a
// repeated single-value flag, -h/--help and --version without the rest being valid, and one line for what is wrong.
TEST(Options, CommandLineRulesOfEveryRelinkExecutable) {
    const auto joined = parse({"--app=a:s", "--listen=127.0.0.1:1", "--listen", "127.0.0.1:2", "--limit=history=7"});
    ASSERT_TRUE(joined.options) << joined.error;
    EXPECT_EQ(joined.options->listen, (HostPort{"127.0.0.1", 2}));
    EXPECT_EQ(joined.options->limits.history_per_channel, 7U);
    for (const char* help : {"-h", "--help"}) {
        const auto parsed = parse({help, "--no-such-flag-is-checked-after-help"});
        ASSERT_TRUE(parsed.options) << parsed.error;
        EXPECT_TRUE(parsed.options->help);
    }
    const auto version = parse({"--version"});
    ASSERT_TRUE(version.options) << version.error;
    EXPECT_TRUE(version.options->version);
    EXPECT_EQ(version_line().rfind("relinkd ", 0), 0U);

    const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
        {{"--app", "a:s", "--no-such-flag"}, "--no-such-flag"},
        {{"--app", "a:s", "extra"}, "extra"},  // one value per flag: not a second app
        {{"--app", "a:s", "--", "extra"}, "extra"},
        {{"--app", "a:s", "--listen"}, "--listen"},  // a value missing at the end
        {{"--app", "a:s", "--insecure-plaintext=yes"}, "insecure-plaintext"},
    };
    for (const auto& [args, named] : bad) {
        const auto parsed = parse(args);
        EXPECT_FALSE(parsed.options) << named;
        EXPECT_NE(parsed.error.find(named), std::string::npos) << parsed.error;
        EXPECT_NE(parsed.error.find("(see --help)"), std::string::npos) << parsed.error;
        EXPECT_EQ(parsed.error.find('\n'), std::string::npos) << parsed.error;
    }
}

TEST(Options, HostPortForms) {
    EXPECT_EQ(parse_host_port("127.0.0.1:0"), (HostPort{"127.0.0.1", 0}));
    EXPECT_EQ(parse_host_port("[::1]:443"), (HostPort{"::1", 443}));
    EXPECT_EQ(parse_host_port(":8443"), (HostPort{"0.0.0.0", 8443}));
    EXPECT_EQ(parse_host_port("localhost:65535"), (HostPort{"localhost", 65535}));
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:80", "[::1]80",
                            "[127.0.0.1]:80", "host name:80", "127.0.0.1:80x"}) {
        EXPECT_FALSE(parse_host_port(bad)) << bad;
    }
    EXPECT_TRUE(is_loopback_host("127.0.0.1"));
    EXPECT_TRUE(is_loopback_host("127.1.2.3"));
    EXPECT_TRUE(is_loopback_host("::1"));
    EXPECT_TRUE(is_loopback_host("localhost"));
    EXPECT_FALSE(is_loopback_host("0.0.0.0"));
    EXPECT_FALSE(is_loopback_host("10.0.0.1"));
    EXPECT_FALSE(is_loopback_host("127.0.0.1.example.com"));
    EXPECT_FALSE(is_loopback_host("::"));
}

TEST(Options, BadCommandLinesGiveOneLine) {
    const std::vector<std::vector<std::string>> bad = {
        {},                                                                 // no app
        {"--app"},                                                          // missing value
        {"--app", "nocolon"},                                               // malformed app
        {"--app", ":secret"},                                               // empty id
        {"--app", "a:"},                                                    // empty secret
        {"--app", "a:1", "--app", "a:2"},                                   // twice
        {"--app", "a:s", "--bogus"},                                        // unknown flag
        {"--app", "a:s", "stray"},                                          // positional
        {"--app", "a:s", "--listen", "nowhere"},                            // no port
        {"--app", "a:s", "--cert", "c.pem"},                                // cert without key
        {"--app", "a:s", "--insecure-plaintext", "--listen", "0.0.0.0:1"},  // plaintext off loopback
        {"--app", "a:s", "--insecure-plaintext", "--write-ca", "x.pem"},
        {"--app", "a:s", "--admin-listen", "127.0.0.1:0"},  // no admin secret
        {"--app", "a:s", "--admin-secret", "s"},            // no admin address
        {"--app", "a:s", "--time-scale", "0"},
        {"--app", "a:s", "--time-scale", "-1"},
        {"--app", "a:s", "--time-scale", "nan"},
        {"--app", "a:s", "--time-scale", "fast"},
        {"--app", "a:s", "--threads", "0"},
        {"--app", "a:s", "--threads", "many"},
        {"--app", "a:s", "--log-level", "loud"},
        {"--app", "a:s", "--insecure-plaintext=yes"},
        {"--config", "/nonexistent/relinkd.json"},
        {"--app", "a:s", "--limit", "bogus=3"},
        {"--app", "a:s", "--limit", "history"},
        {"--app", "a:s", "--limit", "history=0"},
        {"--app", "a:s", "--limit", "presence-batch-ms=-1"},
        {"--app", "a:s", "--limit", "history=lots"},
    };
    for (const auto& args : bad) {
        const auto parsed = parse(args);
        std::string joined;
        for (const auto& a : args) {
            joined += a + " ";
        }
        EXPECT_FALSE(parsed.options) << joined;
        EXPECT_FALSE(parsed.error.empty()) << joined;
        EXPECT_EQ(parsed.error.find('\n'), std::string::npos) << parsed.error;
    }
    // A secret is never echoed in an error.
    EXPECT_EQ(parse({"--app", "a:topsecret", "--app", "a:topsecret"}).error.find("topsecret"), std::string::npos);
    // Plaintext on loopback is fine.
    EXPECT_TRUE(parse({"--app", "a:s", "--insecure-plaintext", "--listen", "127.0.0.1:0"}).options);
    EXPECT_TRUE(parse({"--app", "a:s", "--insecure-plaintext", "--listen", "[::1]:0"}).options);
}

TEST(Options, ConfigFileAndFlagsOverride) {
    const auto dir = temp_dir();
    const auto file = dir / "relinkd.json";
    std::ofstream(file) << R"({"listen": "127.0.0.1:7000", "app": ["a:1", "b:2"], "time-scale": 0.5,
                               "threads": 2, "admin-listen": "127.0.0.1:7001", "admin-secret": "adm",
                               "insecure-plaintext": true, "log-level": "warn"})";
    auto parsed = parse({"--config", file.string()});
    ASSERT_TRUE(parsed.options) << parsed.error;
    EXPECT_EQ(parsed.options->listen, (HostPort{"127.0.0.1", 7000}));
    EXPECT_EQ(parsed.options->apps.size(), 2U);
    EXPECT_DOUBLE_EQ(parsed.options->time_scale, 0.5);
    EXPECT_EQ(parsed.options->threads, 2U);
    EXPECT_TRUE(parsed.options->insecure_plaintext);
    EXPECT_EQ(parsed.options->log_level, "warn");

    // Flags win wherever they appear relative to --config; an --app list replaces the file's.
    parsed = parse({"--listen", "127.0.0.1:0", "--config", file.string(), "--app", "c:3", "--time-scale", "2"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    EXPECT_EQ(parsed.options->listen, (HostPort{"127.0.0.1", 0}));
    EXPECT_EQ(parsed.options->apps, (std::map<std::string, std::string>{{"c", "3"}}));
    EXPECT_DOUBLE_EQ(parsed.options->time_scale, 2.0);

    Options o;
    EXPECT_EQ(apply_config_json(R"({"app": {"x": "1", "y": "2"}})", o), "");
    EXPECT_EQ(o.apps.size(), 2U);
    for (const char* bad : {"", "[]", "{", R"({"lisen": "127.0.0.1:1"})", R"({"listen": 80})", R"({"time-scale": "x"})",
                            R"({"threads": 1.5})", R"({"insecure-plaintext": "yes"})", R"({"app": [1]})",
                            R"({"app": {"x": 1}})", R"({"config": "other.json"})"}) {
        Options scratch;
        const auto error = apply_config_json(bad, scratch);
        EXPECT_FALSE(error.empty()) << bad;
        EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    }
    std::filesystem::remove_all(dir);
}

TEST(Options, ConfigSyntaxErrorSaysItsLineAndColumnAndNeverTheTextRead) {
    Options o;
    // Line 3, column 18: the second comma (columns count characters: the "é" is one).
    const std::string text = "{\n  \"listen\": \"127.0.0.1:0\",\n  \"node-id\": \"é\",,\n}\n";
    const auto error = apply_config_json(text, o);
    EXPECT_EQ(error.rfind("--config: not valid JSON at line 3, column 18: ", 0), 0U) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;

    // A bad escape inside the secret: the parser's excerpt of what it read (the secret) is left out.
    const auto secret = apply_config_json("{\"app\": {\"a\": \"s3cret-\\q\"}}", o);
    EXPECT_EQ(secret.rfind("--config: not valid JSON at line 1, column ", 0), 0U) << secret;
    EXPECT_EQ(secret.find("s3cret"), std::string::npos) << secret;

    // The end of the input, on the last line.
    const auto truncated = apply_config_json("{\n  \"listen\": \"127.0.0.1:0\"\n", o);
    EXPECT_EQ(truncated.rfind("--config: not valid JSON at line 3, column 1: ", 0), 0U) << truncated;
    const auto empty = apply_config_json("", o);
    EXPECT_EQ(empty.rfind("--config: not valid JSON at line 1, column 1: ", 0), 0U) << empty;

    // Through --config: the file's name follows.
    const auto dir = temp_dir();
    const auto file = dir / "relinkd.json";
    std::ofstream(file) << "{\"listen\": \"127.0.0.1:0\" \"app\": \"a:s\"}";
    const auto parsed = parse({"--config", file.string()});
    ASSERT_FALSE(parsed.options);
    // Where the parser stopped: the end of the string it did not expect.
    EXPECT_EQ(parsed.error.rfind("--config: not valid JSON at line 1, column 30: ", 0), 0U) << parsed.error;
    EXPECT_NE(parsed.error.find("(in " + file.string() + ")"), std::string::npos) << parsed.error;
    std::filesystem::remove_all(dir);
}

TEST(Options, ConfigTypeErrorNamesTheKeyPathAndTheTypeFound) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {R"({"listen": 8443})", R"(--config: key "listen" wants a string, got a number)"},
        {R"({"threads": "four"})", R"(--config: --threads wants an integer in [1, 1024], got 'four')"},
        {R"({"threads": [4]})", R"(--config: key "threads" wants a number, got a list)"},
        {R"({"insecure-plaintext": "yes"})", R"(--config: key "insecure-plaintext" wants true or false, got a string)"},
        {R"({"limit": {"history": "many"}})", R"(--config: key "limit"."history" wants a number, got a string)"},
        {R"({"limit": [1]})", R"(--config: key "limit" wants an object {"NAME": number}, got a list)"},
        {R"({"admin-secret": null})", R"(--config: key "admin-secret" wants a string, got null)"},
    };
    for (const auto& [text, expected] : cases) {
        Options o;
        EXPECT_EQ(apply_config_json(text, o), expected) << text;
    }
}

TEST(Options, LogFormatTextOrJson) {
    EXPECT_EQ(parse({"--app", "a:s"}).options->log_format, "text");
    EXPECT_EQ(parse({"--app", "a:s", "--log-format", "json"}).options->log_format, "json");
    EXPECT_EQ(parse({"--app", "a:s", "--log-format=text"}).options->log_format, "text");
    const auto bad = parse({"--app", "a:s", "--log-format", "xml"});
    ASSERT_FALSE(bad.options);
    EXPECT_EQ(bad.error, "--log-format wants text or json, got 'xml'");
    Options o;
    EXPECT_EQ(apply_config_json(R"({"log-format": "json"})", o), "");
    EXPECT_EQ(o.log_format, "json");
    EXPECT_NE(usage().find("--log-format text|json"), std::string::npos);
}

TEST(Options, TimeScaleMultipliesEveryServerDuration) {
    auto parsed = parse({"--app", "a:s", "--time-scale", "0.01"});
    ASSERT_TRUE(parsed.options);
    const HubConfig scaled = make_hub_config(*parsed.options);
    const HubConfig normal;
    for (const auto& [profile, t] : normal.timings) {
        const Timings& s = scaled.timings.at(profile);
        EXPECT_EQ(s.presence_timeout, t.presence_timeout / 100) << to_string(profile);
        EXPECT_EQ(s.backfill_window, t.backfill_window / 100);
        EXPECT_EQ(s.heartbeat_interval, t.heartbeat_interval / 100);
        EXPECT_EQ(s.token_warning_lead, t.token_warning_lead / 100);
        EXPECT_EQ(s.backfill_count, t.backfill_count);
    }
    EXPECT_EQ(scaled.timings.at(Profile::rtm).presence_timeout, 300ms);
    EXPECT_EQ(scaled.keep_alive_timeout, normal.keep_alive_timeout / 100);
    EXPECT_EQ(scaled.login_grace, normal.login_grace / 100);
    EXPECT_EQ(scaled.limits.kick_cooldown, normal.limits.kick_cooldown / 100);
    EXPECT_EQ(scaled.limits.dedup_window, normal.limits.dedup_window / 100);
    EXPECT_EQ(scaled.limits.presence_batch_interval, normal.limits.presence_batch_interval / 100);
    EXPECT_EQ(handshake_timeout(*parsed.options), 100ms);
    EXPECT_EQ(drain_window(*parsed.options), 20ms);
    EXPECT_EQ(scale(Duration::zero(), 0.01), Duration::zero());  // "never" stays never
    EXPECT_EQ(scale(Duration(1), 0.001), Duration(1));           // positive stays positive
}

// =============================================================================================== TLS

TEST(Tls, SelfSignedCertificateForLocalhost) {
    const auto generated = generate_self_signed();
    ASSERT_TRUE(generated.pem) << generated.error;
    const auto& pem = *generated.pem;
    BIO* bio = BIO_new_mem_buf(pem.certificate_pem.data(), static_cast<int>(pem.certificate_pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ASSERT_NE(cert, nullptr);
    bio = BIO_new_mem_buf(pem.private_key_pem.data(), static_cast<int>(pem.private_key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ASSERT_NE(key, nullptr);

    EXPECT_EQ(X509_check_host(cert, "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_ip_asc(cert, "::1", 0), 1);
    EXPECT_NE(X509_check_host(cert, "example.com", 0, 0, nullptr), 1);
    EXPECT_NE(X509_check_ip_asc(cert, "10.0.0.1", 0), 1);
    EXPECT_EQ(X509_check_private_key(cert, key), 1);
    EXPECT_EQ(X509_verify(cert, key), 1);  // self-signed with that key
    EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
    EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert)), 0);
    EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(cert)), 0);

    // Two generations never share a key.
    const auto other = generate_self_signed();
    ASSERT_TRUE(other.pem);
    EXPECT_NE(other.pem->private_key_pem, pem.private_key_pem);
    X509_free(cert);
    EVP_PKEY_free(key);
}

// =============================================================================================== the process

/// A child process (support/child_process.hpp) with its stdout on a pipe and its stderr in a file; killed by PID if
/// still running at the end.
class Process {
public:
    static std::unique_ptr<Process> start(const std::string& program, const std::vector<std::string>& args,
                                          const std::filesystem::path& stderr_file) {
        test::ChildSpec spec;
        spec.argv.push_back(program);
        spec.argv.insert(spec.argv.end(), args.begin(), args.end());
        spec.stderr_file = stderr_file;
        auto child = test::ChildProcess::start(std::move(spec));
        if (!child) {
            return nullptr;
        }
        auto process = std::unique_ptr<Process>(new Process);
        process->child_ = std::move(child);
        process->stderr_file_ = stderr_file;
        return process;
    }

    /// One line of stdout (without the newline), or nullopt on timeout / end of output.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) { return child_->read_line(timeout); }

    /// Everything left on stdout until it closes (bounded).
    std::string rest_of_stdout(std::chrono::milliseconds timeout) {
        child_->read_to_end(timeout);
        return child_->unread_output();
    }

    void signal(int number) const { child_->signal(number); }

    /// The exit status, or nullopt if still running after `timeout` (or killed by a signal: -signal).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) { return child_->wait_exit(timeout); }

    [[nodiscard]] std::string stderr_text() const { return test::file_text(stderr_file_); }

private:
    Process() = default;
    std::unique_ptr<test::ChildProcess> child_;
    std::filesystem::path stderr_file_;
};

std::string relinkd_path() {
    return test::built_program("relinkd");
}

std::uint16_t port_of(const std::string& url) {
    static const std::regex kPort(R"(:(\d+)/$)");
    std::smatch match;
    return std::regex_search(url, match, kPort) ? static_cast<std::uint16_t>(std::stoi(match[1])) : 0;
}

std::string token_for(const std::string& user, const std::string& app = "app", const std::string& secret = "secret",
                      std::chrono::seconds ttl = 1h) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return token::mint({app, user, now + ttl.count(), {}}, secret);
}

std::string describe(const proto::ServerMessage& message) {
    return std::string(proto::type_name(message));
}

/// A relinkd started for one test: ephemeral ports, a fresh CA file, compressed timings, two apps.
class RelinkdTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = temp_dir();
        ca_file_ = (dir_ / "ca.pem").string();
        start({});
    }

    void TearDown() override {
        if (server_) {
            server_->signal(SIGTERM);
            // Exit status 0 also means no sanitizer report in relinkd (under the asan / tsan presets).
            EXPECT_EQ(server_->wait_exit(5s), 0) << "relinkd did not exit cleanly within 5 s of SIGTERM";
            if (HasFailure()) {
                std::cerr << "---- relinkd stderr ----\n" << server_->stderr_text() << "------------------------\n";
            }
            server_.reset();
        }
        std::filesystem::remove_all(dir_);
    }

    /// Starts relinkd with the fixture's flags and `extra`; with a --config among them, the apps are the file's.
    void start(std::vector<std::string> extra) {
        std::vector<std::string> args{"--listen",       "127.0.0.1:0", "--write-ca",     ca_file_,
                                      "--admin-listen", "127.0.0.1:0", "--admin-secret", "s",
                                      "--time-scale",   "0.1",         "--threads",      "2",
                                      "--log-level",    "debug"};
        if (std::find(extra.begin(), extra.end(), "--config") == extra.end()) {
            args.insert(args.end(), {"--app", "app:secret", "--app", "app2:secret2"});
        }
        args.insert(args.end(), extra.begin(), extra.end());
        server_ = Process::start(relinkd_path(), args, dir_ / "stderr.log");
        ASSERT_TRUE(server_) << "cannot start " << relinkd_path();
        const auto line = server_->read_line(10s);
        ASSERT_TRUE(line) << "no listening line; stderr:\n" << server_->stderr_text();
        listening_line_ = *line;
        const Json json = Json::parse(*line, nullptr, false);
        ASSERT_TRUE(json.is_object()) << *line;
        port_ = port_of(json.value("url", ""));
        admin_port_ = port_of(json.value("admin", ""));
        ASSERT_NE(port_, 0) << *line;
        ASSERT_NE(admin_port_, 0) << *line;
    }

    std::unique_ptr<WsTestClient> connect(std::string path = "/", std::string verify_name = "127.0.0.1") {
        WsTestClient::Config config;
        config.port = port_;
        config.ca_file = ca_file_;
        config.path = std::move(path);
        config.verify_name = std::move(verify_name);
        std::string error;
        auto client = WsTestClient::connect(config, error);
        EXPECT_TRUE(client) << error;
        return client;
    }

    proto::Login login_request(const std::string& user, const std::string& token) {
        proto::Login login;
        login.request_id = ++request_id_;
        login.app_id = "app";
        login.user_id = user;
        login.token = token;
        login.instance_id = "instance-" + user + "-" + std::to_string(request_id_);
        login.profile = Profile::rtm;
        return login;
    }

    /// The reply to request `id`: the first message carrying that request id (other messages are skipped).
    std::optional<proto::ServerMessage> reply_to(WsTestClient& client, proto::RequestId id,
                                                 std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto message = client.next(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
            if (!message) {
                return std::nullopt;
            }
            const auto matches = std::visit(
                [id](const auto& m) {
                    if constexpr (requires { m.request_id; }) {
                        return m.request_id == id;
                    } else {
                        return false;
                    }
                },
                *message);
            if (matches) {
                return message;
            }
        }
        return std::nullopt;
    }

    std::error_code reply_error(WsTestClient& client, proto::RequestId id) {
        auto reply = reply_to(client, id);
        EXPECT_TRUE(reply) << "no reply to request " << id;
        if (!reply) {
            return make_error_code(errc::network_timeout);
        }
        if (const auto* r = std::get_if<proto::Reply>(&*reply)) {
            return r->error;
        }
        return {};
    }

    /// Logs `user` in on `client`; false (with a test failure recorded) when the answer is not LoginOk.
    bool log_in(WsTestClient& client, const std::string& user) {
        const auto login = login_request(user, token_for(user));
        client.send(login);
        const auto reply = reply_to(client, login.request_id);
        const bool ok = reply && std::holds_alternative<proto::LoginOk>(*reply);
        EXPECT_TRUE(ok) << user << ": " << (reply ? describe(*reply) : std::string("no reply"));
        return ok;
    }

    /// Connects and logs `user` in; returns the client (nullptr on failure, with a test failure recorded).
    std::unique_ptr<WsTestClient> logged_in(const std::string& user) {
        auto client = connect();
        if (client) {
            log_in(*client, user);
        }
        return client;
    }

    /// The same for a client that sends nothing on its own (no pings): what it sends is all the test's.
    std::unique_ptr<WsTestClient> logged_in_without_pings(const std::string& user) {
        WsTestClient::Config config;
        config.port = port_;
        config.ca_file = ca_file_;
        config.ping_interval = std::chrono::milliseconds(0);
        std::string error;
        auto client = WsTestClient::connect(config, error);
        EXPECT_TRUE(client) << error;
        if (client) {
            log_in(*client, user);
        }
        return client;
    }

    /// Stops relinkd (drained, exit 0) and starts it again with `extra`.
    void restart(const std::vector<std::string>& extra) {
        server_->signal(SIGTERM);
        ASSERT_EQ(server_->wait_exit(5s), 0);
        std::filesystem::remove(ca_file_);
        start(extra);
    }

    /// Waits (bounded) until relinkd's stderr holds `text` `count` times or more.
    bool wait_for_log(const std::string& text, std::size_t count = 1, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const std::string log = server_->stderr_text();
            std::size_t found = 0;
            for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + text.size())) {
                ++found;
            }
            if (found >= count) {
                return true;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            std::this_thread::sleep_for(20ms);  // polling a file: there is no event to wait on
        }
    }

    /// A login of `user` for `app` with a token signed by `secret`, on a fresh connection: the reply.
    std::optional<proto::ServerMessage> try_login(const std::string& app, const std::string& user,
                                                  const std::string& secret, std::unique_ptr<WsTestClient>& client) {
        client = connect();
        if (!client) {
            return std::nullopt;
        }
        auto login = login_request(user, token_for(user, app, secret));
        login.app_id = app;
        client->send(login);
        return reply_to(*client, login.request_id);
    }

    /// The client is still served and was told nothing about closing: a request gets its reply, and no Close (and
    /// no end of the connection) came before it.
    void expect_served_without_a_close(WsTestClient& client, const std::string& who) {
        const proto::Join join{++request_id_, "still-here"};
        client.send(join);
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto message = client.next(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
            ASSERT_TRUE(message) << who << ": no reply to a join (closed?)";
            ASSERT_FALSE(std::holds_alternative<proto::Close>(*message)) << who << " got a Close";
            if (const auto* ok = std::get_if<proto::JoinOk>(&*message); ok && ok->request_id == join.request_id) {
                return;
            }
        }
        ADD_FAILURE() << who << ": no reply to a join within 5 s";
    }

    /// A client whose path goes through a fault proxy, which a test can stall.
    struct ProxiedClient {
        std::unique_ptr<faultproxy::FaultProxy> proxy;
        std::unique_ptr<WsTestClient> client;  ///< null (with a failure recorded) when it could not log in
    };

    /// Restarts relinkd for the slow-reader tests — timings stretched ×100 (keep-alive 600 s, so that only the
    /// reading speed decides even on a sanitizer build, where a stalled client's heartbeats do not arrive either),
    /// no message rate limit, and `extra` flags — then logs `user` in through a fault proxy and joins "lobby".
    ProxiedClient restart_with_proxied_reader(const std::string& user, const std::vector<std::string>& extra = {}) {
        server_->signal(SIGTERM);
        EXPECT_EQ(server_->wait_exit(5s), 0);
        std::filesystem::remove(ca_file_);
        std::vector<std::string> args{"--time-scale",        "100", "--limit", "messages-per-second=100000", "--limit",
                                      "message-burst=100000"};
        args.insert(args.end(), extra.begin(), extra.end());
        start(args);
        ProxiedClient out;
        out.proxy = std::make_unique<faultproxy::FaultProxy>("127.0.0.1", port_);
        WsTestClient::Config config;
        config.port = out.proxy->port();
        config.ca_file = ca_file_;
        std::string error;
        out.client = WsTestClient::connect(config, error);
        if (!out.client) {
            ADD_FAILURE() << user << ": " << error;
            return out;
        }
        if (!log_in(*out.client, user)) {
            out.client.reset();
            return out;
        }
        join(*out.client, "lobby");
        return out;
    }

    void join(WsTestClient& client, const std::string& channel) {
        const proto::Join join{++request_id_, channel};
        client.send(join);
        const auto reply = reply_to(client, join.request_id);
        ASSERT_TRUE(reply && std::holds_alternative<proto::JoinOk>(*reply))
            << channel << ": " << (reply ? describe(*reply) : std::string("no reply"));
    }

    proto::SendMessage channel_message(const std::string& channel, const std::string& payload) {
        proto::SendMessage m;
        m.request_id = ++request_id_;
        m.message_id = "m" + std::to_string(request_id_);
        m.to_channel = channel;
        m.payload = payload;
        return m;
    }

    /// The server still serves: a fresh user logs in and joins a channel.
    void expect_still_serving() {
        auto client = logged_in("watcher-" + std::to_string(++watchers_));
        ASSERT_TRUE(client);
        join(*client, "watch");
        EXPECT_TRUE(client->decode_errors().empty());
    }

    /// After a hostile frame: either an error reply to `id` or a Close (message and/or WebSocket close).
    /// Returns a description for the test's record.
    std::string expect_error_or_close(WsTestClient& client, std::optional<proto::RequestId> id) {
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto message = client.next(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
            if (!message) {
                break;
            }
            if (const auto* close = std::get_if<proto::Close>(&*message)) {
                const auto ended = client.wait_closed(5s);
                EXPECT_TRUE(ended) << "Close message without a close of the connection";
                return "close " + std::to_string(static_cast<int>(close->reason));
            }
            if (const auto* reply = std::get_if<proto::Reply>(&*message); reply && id && reply->request_id == *id) {
                EXPECT_TRUE(reply->error) << "a hostile request was accepted";
                return std::string("error ") + error_name(reply->error);
            }
        }
        const auto ended = client.wait_closed(1s);
        EXPECT_TRUE(ended) << "neither an error reply nor a close";
        return ended ? "closed " + std::to_string(ended->code) + " " + ended->reason + ended->error : "nothing";
    }

    std::filesystem::path dir_;
    std::string ca_file_;
    std::unique_ptr<Process> server_;
    std::string listening_line_;
    std::uint16_t port_{0};
    std::uint16_t admin_port_{0};
    proto::RequestId request_id_{0};
    int watchers_{0};
};

// ----------------------------------------------------------------------------------------------- start-up

TEST_F(RelinkdTest, PrintsOneListeningLineAndWritesTheCa) {
    const std::regex expected(
        R"(\{"event":"listening","url":"wss://127\.0\.0\.1:\d+/","admin":"http://127\.0\.0\.1:\d+/"\})");
    EXPECT_TRUE(std::regex_match(listening_line_, expected)) << listening_line_;
    std::ifstream ca(ca_file_);
    const std::string pem{std::istreambuf_iterator<char>(ca), {}};
    EXPECT_NE(pem.find("-----BEGIN CERTIFICATE-----"), std::string::npos);
    EXPECT_EQ(pem.find("PRIVATE KEY"), std::string::npos);
    // The certificate is valid for the name too, not only for the address.
    auto by_name = connect("/", "localhost");
    ASSERT_TRUE(by_name);
}

TEST_F(RelinkdTest, ServesGivenCertificateFiles) {
    const auto generated = generate_self_signed();
    ASSERT_TRUE(generated.pem);
    std::ofstream(dir_ / "cert.pem") << generated.pem->certificate_pem;
    std::ofstream(dir_ / "key.pem") << generated.pem->private_key_pem;
    server_->signal(SIGTERM);
    ASSERT_EQ(server_->wait_exit(5s), 0);
    std::filesystem::remove(ca_file_);
    // --write-ca with --cert writes the served chain.
    start({"--cert", (dir_ / "cert.pem").string(), "--key", (dir_ / "key.pem").string()});
    std::ifstream ca(ca_file_);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(ca), {}), generated.pem->certificate_pem);
    auto client = logged_in("alice");
    ASSERT_TRUE(client);
}

TEST_F(RelinkdTest, OverTheServersLoginRateALoginIsRefusedBusyAndHeldSessionsGoOn) {
    server_->signal(SIGTERM);
    ASSERT_EQ(server_->wait_exit(5s), 0);
    // One login a second, a burst of one; retry-afters scaled by --time-scale 0.1 (1 s → 100 ms at least).
    start({"--limit", "server-logins-per-second=1", "--limit", "server-login-burst=1"});
    auto alice = logged_in("alice");
    ASSERT_TRUE(alice);
    auto bob = connect();
    ASSERT_TRUE(bob);
    bob->send(login_request("bob", token_for("bob")));
    const auto close = bob->next_of<proto::Close>(5s);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->reason, proto::CloseReason::busy);
    EXPECT_GE(close->reconnect_within, 100ms);
    EXPECT_LE(close->reconnect_within, 3s);
    // The session held is untouched. (Its pings, answered on its own connection's thread, keep it alive: see
    // IdleLoggedInSessionStaysWhilePinging; the test client hides pongs.)
    join(*alice, "lobby");
    const auto metrics = test::http_request(admin_port_, "GET", "/metrics", "Bearer s", "");
    EXPECT_NE(metrics.body.find("\nrelink_logins_shed_total{cause=\"rate\"} 1\n"), std::string::npos) << metrics.body;
}

// --check-config (nginx -t): exit 0 and one line for a usable configuration, exit 2 and the start-up error line for
// one that relinkd would refuse at start (files that do not load, a certificate and a key that do not match),
// without binding or writing anything.
TEST(Relinkd, CheckConfigSaysWhetherTheConfigurationWouldStart) {
    const auto dir = temp_dir();
    const auto mine = generate_self_signed();
    const auto other = generate_self_signed();
    ASSERT_TRUE(mine.pem && other.pem);
    std::ofstream(dir / "cert.pem") << mine.pem->certificate_pem;
    std::ofstream(dir / "key.pem") << mine.pem->private_key_pem;
    std::ofstream(dir / "other-key.pem") << other.pem->private_key_pem;
    std::ofstream(dir / "tickets.key") << "too short";
    std::ofstream(dir / "relinkd.json") << R"({"app": {"chat": "s"}, "listen": "127.0.0.1:1"})";
    const auto cert = (dir / "cert.pem").string();
    const auto run = [&](std::vector<std::string> args) {
        args.insert(args.begin(), "--check-config");
        auto process = Process::start(relinkd_path(), args, dir / "stderr.log");
        EXPECT_TRUE(process);
        const int status = process ? process->wait_exit(10s).value_or(-1) : -1;
        const auto out = process ? process->rest_of_stdout(1s) : std::string();
        return std::tuple{status, out, process ? process->stderr_text() : std::string()};
    };
    for (const auto& valid : std::vector<std::vector<std::string>>{
             {"--config", (dir / "relinkd.json").string()},
             {"--app", "a:s", "--cert", cert, "--key", (dir / "key.pem").string(), "--write-ca",
              (dir / "not-written.pem").string(), "--tls-ticket-key-file", (dir / "created-at-start.key").string()}}) {
        const auto [status, out, err] = run(valid);
        EXPECT_EQ(status, 0) << err;
        EXPECT_EQ(out, "relinkd: the configuration is valid\n");
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "not-written.pem"));
    EXPECT_FALSE(std::filesystem::exists(dir / "created-at-start.key"));
    const std::vector<std::pair<std::vector<std::string>, std::string>> invalid = {
        {{"--app", "a:s", "--cert", cert, "--key", (dir / "other-key.pem").string()},
         "other-key.pem"},  // OpenSSL: mismatch
        {{"--app", "a:s", "--cert", cert, "--key", (dir / "missing.pem").string()}, "cannot load --key"},
        {{"--app", "a:s", "--tls-ticket-key-file", (dir / "tickets.key").string()}, "--tls-ticket-key-file '"},
        {{"--listen", "127.0.0.1:1"}, "no app configured"},
    };
    for (const auto& [args, says] : invalid) {
        const auto [status, out, err] = run(args);
        EXPECT_EQ(status, 2) << says;
        EXPECT_EQ(out, "");
        EXPECT_EQ(err.rfind("relinkd: ", 0), 0U) << err;
        EXPECT_NE(err.find(says), std::string::npos) << err;
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    }
    std::filesystem::remove_all(dir);
}

TEST(Relinkd, BadFlagsExitTwoWithOneLine) {
    const auto dir = temp_dir();
    const std::vector<std::vector<std::string>> cases = {
        {"--listen", "nonsense", "--app", "a:s"},
        {"--app", "a:s", "--insecure-plaintext", "--listen", "0.0.0.0:0"},
        {"--frobnicate"},
        {"--listen", "127.0.0.1:0"},  // no app
        {"--app", "a:s", "--listen", "127.0.0.1:0", "--cert", "/nonexistent.pem", "--key", "/nonexistent.key"},
    };
    for (const auto& args : cases) {
        auto process = Process::start(relinkd_path(), args, dir / "stderr.log");
        ASSERT_TRUE(process);
        const auto status = process->wait_exit(10s);
        EXPECT_EQ(status, 2) << args[0];
        EXPECT_EQ(process->rest_of_stdout(1s), "") << args[0];
        const auto err = process->stderr_text();
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
        EXPECT_EQ(err.rfind("relinkd: ", 0), 0U) << err;
    }
    // A port in use is an unusable configuration too.
    auto first = Process::start(relinkd_path(), {"--listen", "127.0.0.1:0", "--app", "a:s"}, dir / "first.log");
    ASSERT_TRUE(first);
    const auto line = first->read_line(10s);
    ASSERT_TRUE(line);
    const auto port = port_of(Json::parse(*line).value("url", ""));
    auto second = Process::start(relinkd_path(), {"--listen", "127.0.0.1:" + std::to_string(port), "--app", "a:s"},
                                 dir / "second.log");
    ASSERT_TRUE(second);
    EXPECT_EQ(second->wait_exit(10s), 2);
    const auto err = second->stderr_text();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    first->signal(SIGINT);
    EXPECT_EQ(first->wait_exit(5s), 0);
    std::filesystem::remove_all(dir);
}

// --tls-ticket-key-file: a missing file is created (one random key, mode 0600) and read back the same at the next
// start; an absent directory, a file of the wrong size and something that is not a regular file are clear errors.
TEST(TicketKeyFile, MissingIsCreatedWithMode0600AndReadBackTheSame) {
    const auto dir = temp_dir();
    const auto path = (dir / "tickets.key").string();
    const auto created = load_or_create_ticket_keys(path);
    ASSERT_TRUE(created.keys) << created.error;
    EXPECT_TRUE(created.created);
    EXPECT_EQ(created.warning, "");
    EXPECT_EQ(std::filesystem::file_size(path), TicketKey::kBytes);
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const auto again = load_or_create_ticket_keys(path);
    ASSERT_TRUE(again.keys) << again.error;
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.keys->serialize(), created.keys->serialize()) << "the next start uses the same key";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        EXPECT_EQ(entry.path().filename(), "tickets.key") << "no temporary file left behind";
    }
    // Two keys (rotation: the new one first), and a warning for a file others can read.
    const auto second = TicketKeys::generate();
    ASSERT_TRUE(second);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << second->serialize() << created.keys->serialize();
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                           std::filesystem::perms::group_read | std::filesystem::perms::others_read);
    const auto rotated = load_or_create_ticket_keys(path);
    ASSERT_TRUE(rotated.keys) << rotated.error;
    EXPECT_EQ(rotated.keys->all().size(), 2U);
    EXPECT_EQ(rotated.keys->serialize(), second->serialize() + created.keys->serialize());
    EXPECT_NE(rotated.warning.find("chmod 600"), std::string::npos) << rotated.warning;
    std::filesystem::remove_all(dir);
}

TEST(TicketKeyFile, BadInputIsAClearError) {
    const auto dir = temp_dir();
    const auto missing_dir = load_or_create_ticket_keys((dir / "no-such-dir" / "tickets.key").string());
    EXPECT_FALSE(missing_dir.keys);
    EXPECT_NE(missing_dir.error.find("does the directory exist?"), std::string::npos) << missing_dir.error;

    const auto wrong_size = dir / "short.key";
    std::ofstream(wrong_size, std::ios::binary) << std::string(100, 'k');
    const auto short_file = load_or_create_ticket_keys(wrong_size.string());
    EXPECT_FALSE(short_file.keys);
    EXPECT_NE(short_file.error.find("holds 100 bytes: want 80 bytes per key"), std::string::npos) << short_file.error;

    std::ofstream(dir / "empty.key", std::ios::binary).flush();
    const auto empty = load_or_create_ticket_keys((dir / "empty.key").string());
    EXPECT_FALSE(empty.keys);
    EXPECT_NE(empty.error.find("holds 0 bytes"), std::string::npos) << empty.error;

    const auto directory = load_or_create_ticket_keys(dir.string());
    EXPECT_FALSE(directory.keys);
    EXPECT_NE(directory.error.find("is not a regular file"), std::string::npos) << directory.error;

    if (::geteuid() != 0) {  // root reads any file: unreadable is only testable as another user
        const auto locked = dir / "locked.key";
        std::ofstream(locked, std::ios::binary) << std::string(80, 'k');
        std::filesystem::permissions(locked, std::filesystem::perms::none);
        const auto unreadable = load_or_create_ticket_keys(locked.string());
        EXPECT_FALSE(unreadable.keys);
        EXPECT_NE(unreadable.error.find("cannot open it: Permission denied"), std::string::npos) << unreadable.error;
    }
    for (const auto* error : {&missing_dir.error, &short_file.error, &empty.error, &directory.error}) {
        EXPECT_EQ(error->rfind("--tls-ticket-key-file '", 0), 0U) << *error;
        EXPECT_EQ(error->find('\n'), std::string::npos) << *error;
    }
    std::filesystem::remove_all(dir);
}

TEST(TicketKeyFile, FlagAndConfigKeyAndNotWithPlaintext) {
    const auto parsed = parse({"--app", "a:s", "--tls-ticket-key-file", "/etc/relinkd/tickets.key"});
    ASSERT_TRUE(parsed.options) << parsed.error;
    EXPECT_EQ(parsed.options->tls_ticket_key_file, "/etc/relinkd/tickets.key");
    EXPECT_EQ(parse({"--app", "a:s"}).options->tls_ticket_key_file, "") << "off by default";
    Options options;
    EXPECT_EQ(apply_config_json(R"({"tls-ticket-key-file": "/k"})", options), "");
    EXPECT_EQ(options.tls_ticket_key_file, "/k");
    EXPECT_NE(apply_config_json(R"({"tls-ticket-key-file": 3})", options), "");
    EXPECT_FALSE(parse({"--app", "a:s", "--tls-ticket-key-file", ""}).options);
    const auto plaintext = parse({"--app", "a:s", "--insecure-plaintext", "--tls-ticket-key-file", "/k"});
    EXPECT_FALSE(plaintext.options);
    EXPECT_EQ(plaintext.error, "--tls-ticket-key-file needs TLS, not --insecure-plaintext");
}

// relinkd with an unusable key file: one line on stderr and exit status 2, never a crash or a listening line.
TEST(Relinkd, BadTicketKeyFileExitsTwoWithOneLine) {
    const auto dir = temp_dir();
    std::ofstream(dir / "short.key", std::ios::binary) << std::string(81, 'k');
    const std::vector<std::pair<std::string, std::string>> cases = {
        {(dir / "no-such-dir" / "tickets.key").string(), "does the directory exist?"},
        {(dir / "short.key").string(), "holds 81 bytes"},
        {dir.string(), "is not a regular file"},
    };
    for (const auto& [path, expected] : cases) {
        auto process =
            Process::start(relinkd_path(), {"--listen", "127.0.0.1:0", "--app", "a:s", "--tls-ticket-key-file", path},
                           dir / "stderr.log");
        ASSERT_TRUE(process);
        EXPECT_EQ(process->wait_exit(10s), 2) << path;
        EXPECT_EQ(process->rest_of_stdout(1s), "") << path;
        const auto err = process->stderr_text();
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
        EXPECT_EQ(err.rfind("relinkd: --tls-ticket-key-file '" + path + "'", 0), 0U) << err;
        EXPECT_NE(err.find(expected), std::string::npos) << err;
    }
    std::filesystem::remove_all(dir);
}

TEST(Relinkd, HelpPrintsUsage) {
    const auto dir = temp_dir();
    auto process = Process::start(relinkd_path(), {"--help"}, dir / "stderr.log");
    ASSERT_TRUE(process);
    EXPECT_EQ(process->wait_exit(10s), 0);
    const auto help = process->rest_of_stdout(1s);
    EXPECT_NE(help.find("\nUsage: relinkd [OPTIONS]\n"), std::string::npos) << help;
    // Every flag relinkd reads is in its help (the config file's keys are the same names).
    for (const char* flag :
         {"--config", "--listen", "--cert", "--key", "--write-ca", "--tls-ticket-key-file", "--insecure-plaintext",
          "--app ", "--app-key", "--admin-listen", "--admin-secret", "--time-scale", "--threads", "--limit",
          "--cluster", "--node-id", "--log-level", "--log-format", "--version"}) {
        EXPECT_NE(help.find(flag), std::string::npos) << flag;
    }
    std::filesystem::remove_all(dir);
}

TEST(Relinkd, InsecurePlaintextOnLoopbackAnnouncesWs) {
    const auto dir = temp_dir();
    auto process = Process::start(relinkd_path(), {"--listen", "127.0.0.1:0", "--app", "a:s", "--insecure-plaintext"},
                                  dir / "stderr.log");
    ASSERT_TRUE(process);
    const auto line = process->read_line(10s);
    ASSERT_TRUE(line);
    EXPECT_TRUE(std::regex_match(*line, std::regex(R"(\{"event":"listening","url":"ws://127\.0\.0\.1:\d+/"\})")))
        << *line;
    process->signal(SIGTERM);
    EXPECT_EQ(process->wait_exit(5s), 0);
    std::filesystem::remove_all(dir);
}

// ----------------------------------------------------------------------------------------------- sessions

TEST_F(RelinkdTest, LoginJoinAndChannelMessages) {
    auto alice = logged_in("alice");
    auto bob = logged_in("bob");
    ASSERT_TRUE(alice && bob);
    join(*bob, "lobby");
    join(*alice, "lobby");
    const auto joined = bob->next_of<proto::MemberJoined>(5s);
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->user_id, "alice");
    EXPECT_EQ(joined->channel, "lobby");

    const auto hello = channel_message("lobby", "hello bob");
    alice->send(hello);
    EXPECT_FALSE(reply_error(*alice, hello.request_id));
    const auto got = bob->next_of<proto::Message>(5s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->from, "alice");
    EXPECT_EQ(got->channel, std::optional<std::string>("lobby"));
    EXPECT_EQ(got->payload, "hello bob");
    EXPECT_FALSE(got->backfilled);

    const auto reply = channel_message("lobby", "hi alice");
    bob->send(reply);
    EXPECT_FALSE(reply_error(*bob, reply.request_id));
    const auto back = alice->next_of<proto::Message>(5s);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->from, "bob");
    EXPECT_EQ(back->payload, "hi alice");
    EXPECT_GT(back->position.seq, got->position.seq);
    EXPECT_TRUE(alice->decode_errors().empty());
    EXPECT_TRUE(bob->decode_errors().empty());
}

TEST_F(RelinkdTest, PeerMessage) {
    auto alice = logged_in("alice");
    auto bob = logged_in("bob");
    ASSERT_TRUE(alice && bob);
    proto::SendMessage m;
    m.request_id = ++request_id_;
    m.message_id = "p1";
    m.to_user = "bob";
    m.payload = "psst";
    alice->send(m);
    EXPECT_FALSE(reply_error(*alice, m.request_id));
    const auto got = bob->next_of<proto::Message>(5s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->from, "alice");
    EXPECT_FALSE(got->channel);
    EXPECT_EQ(got->payload, "psst");
}

TEST_F(RelinkdTest, DuplicateLoginKicksTheFirstWithRemoteLogin) {
    auto first = logged_in("carol");
    ASSERT_TRUE(first);
    auto second = logged_in("carol");
    ASSERT_TRUE(second);
    const auto close = first->next_of<proto::Close>(5s);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->reason, proto::CloseReason::remote_login);
    const auto ended = first->wait_closed(5s);
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->reason, "REMOTE_LOGIN");
    // The newcomer keeps its session.
    join(*second, "after-takeover");
}

TEST_F(RelinkdTest, IdleLoggedInSessionStaysWhilePinging) {
    // Keep-alive is 600 ms at this time scale; the client pings every 100 ms, so 1.5 s of silence is fine.
    auto alice = logged_in("alice");
    ASSERT_TRUE(alice);
    EXPECT_FALSE(alice->wait_closed(1500ms));
    join(*alice, "still-here");
}

TEST_F(RelinkdTest, FramesAfterIdlingTogetherInOneRecordOrCutInPiecesAreAllDelivered) {
    // An idle relinkd session waits for the next frame holding no read buffer; these are the ways that frame can
    // come. The sender does not ping on its own, so that nothing it sends falls between the pieces of a frame.
    auto alice = logged_in_without_pings("alice");
    ASSERT_TRUE(alice);
    auto bob = logged_in("bob");
    ASSERT_TRUE(bob);
    join(*bob, "lobby");
    join(*alice, "lobby");
    ASSERT_TRUE(bob->next_of<proto::MemberJoined>(5s));
    const auto frame_of = [](const proto::SendMessage& m) {
        return masked_text_frame(proto::encode(proto::ClientMessage{m}));
    };

    // Two frames in one TLS record (one TCP segment), after the session idled: both arrive, in order.
    EXPECT_FALSE(alice->wait_closed(200ms));
    const auto first = channel_message("lobby", "first");
    const auto second = channel_message("lobby", "second");
    alice->send_raw(frame_of(first) + frame_of(second));
    EXPECT_FALSE(reply_error(*alice, first.request_id));
    EXPECT_FALSE(reply_error(*alice, second.request_id));
    const auto got_first = bob->next_of<proto::Message>(5s);
    const auto got_second = bob->next_of<proto::Message>(5s);
    ASSERT_TRUE(got_first && got_second);
    EXPECT_EQ(got_first->payload, "first");
    EXPECT_EQ(got_second->payload, "second");

    // One frame in three records with pauses between them: its header alone, part of the payload, the rest.
    const auto third = channel_message("lobby", std::string(3000, 'x'));
    const auto frame = frame_of(third);
    alice->send_raw(frame.substr(0, 2));
    EXPECT_FALSE(bob->next_of<proto::Message>(150ms));
    alice->send_raw(frame.substr(2, 1000));
    EXPECT_FALSE(bob->next_of<proto::Message>(150ms));
    alice->send_raw(frame.substr(1002));
    EXPECT_FALSE(reply_error(*alice, third.request_id));
    const auto got_third = bob->next_of<proto::Message>(5s);
    ASSERT_TRUE(got_third);
    EXPECT_EQ(got_third->payload, third.payload);

    // An empty text frame is a message too: not JSON, so an error or a close, as for any malformed frame.
    alice->send_raw(masked_text_frame(""));
    const auto outcome = expect_error_or_close(*alice, std::nullopt);
    SCOPED_TRACE(outcome);
    EXPECT_TRUE(alice->decode_errors().empty());
    EXPECT_TRUE(bob->decode_errors().empty());
    expect_still_serving();
}

TEST_F(RelinkdTest, FragmentsAroundAPingAreOneMessageThePingIsAnsweredAndBrokenFramesFailTheConnection) {
    // relinkd reads WebSocket frames itself (after Beast's upgrade): a message in fragments with a ping between
    // them is one message, the ping gets a pong with its payload, and a frame that breaks the protocol ends the
    // connection with 1002, an invalid text 1007, as Beast ended it.
    auto alice = logged_in_without_pings("alice");
    ASSERT_TRUE(alice);
    auto bob = logged_in("bob");
    ASSERT_TRUE(bob);
    join(*bob, "lobby");
    join(*alice, "lobby");
    ASSERT_TRUE(bob->next_of<proto::MemberJoined>(5s));
    const auto message = channel_message("lobby", "in three pieces");
    const std::string json = proto::encode(proto::ClientMessage{message});
    alice->send_raw(test::masked_frame(0x01, json.substr(0, 5)) + test::masked_frame(0x89, "are you there?") +
                    test::masked_frame(0x00, json.substr(5, 10)) + test::masked_frame(0x8A, "unasked pong") +
                    test::masked_frame(0x80, json.substr(15)));
    EXPECT_TRUE(alice->wait_for_pong("are you there?", 5s));
    EXPECT_FALSE(reply_error(*alice, message.request_id));
    const auto got = bob->next_of<proto::Message>(5s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "in three pieces");

    alice->send_raw(test::masked_frame(0x81, "{}", /*masked=*/false));
    const auto unmasked = alice->wait_closed(5s);
    ASSERT_TRUE(unmasked);
    EXPECT_EQ(unmasked->code, 1002) << unmasked->reason << unmasked->error;

    auto carol = logged_in_without_pings("carol");
    ASSERT_TRUE(carol);
    carol->send_raw(test::masked_frame(0x81, "\xff\xfe"));
    const auto not_utf8 = carol->wait_closed(5s);
    ASSERT_TRUE(not_utf8);
    EXPECT_EQ(not_utf8->code, 1007) << not_utf8->reason << not_utf8->error;

    auto dave = logged_in_without_pings("dave");
    ASSERT_TRUE(dave);
    dave->send_raw(test::masked_frame(0xC1, "{}"));  // a reserved bit
    const auto reserved = dave->wait_closed(5s);
    ASSERT_TRUE(reserved);
    EXPECT_EQ(reserved->code, 1002);
    expect_still_serving();
}

TEST_F(RelinkdTest, SilentClientIsClosedWithKeepAliveTimeout) {
    // The hub's timer drives this: 6 s × 0.1 of silence after the login.
    auto quiet = logged_in_without_pings("quiet");
    ASSERT_TRUE(quiet);
    const auto start = std::chrono::steady_clock::now();
    const auto close = quiet->next_of<proto::Close>(5s);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->reason, proto::CloseReason::keep_alive_timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);
    const auto ended = quiet->wait_closed(5s);
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->reason, "KEEP_ALIVE_TIMEOUT");
}

TEST_F(RelinkdTest, ConnectionThatNeverLogsInIsClosed) {
    auto idle = connect();
    ASSERT_TRUE(idle);
    // Login grace: 10 s × 0.1.
    EXPECT_TRUE(idle->wait_closed(5s));
    expect_still_serving();
}

TEST_F(RelinkdTest, ResumeWithinPresenceIsSilentAndAfterItPeersSeeDropped) {
    auto bob = logged_in("bob");
    ASSERT_TRUE(bob);
    join(*bob, "lobby");

    // alice joins, then loses her transport and comes back with her resume token: bob sees nothing.
    auto alice = connect();
    ASSERT_TRUE(alice);
    auto login = login_request("alice", token_for("alice"));
    login.channels.push_back({"lobby", std::nullopt, {}});
    alice->send(login);
    auto reply = reply_to(*alice, login.request_id);
    ASSERT_TRUE(reply && std::holds_alternative<proto::LoginOk>(*reply));
    const auto resume_token = std::get<proto::LoginOk>(*reply).resume_token;
    ASSERT_TRUE(bob->next_of<proto::MemberJoined>(5s));
    alice.reset();  // the transport drops (no logout)

    alice = connect();
    ASSERT_TRUE(alice);
    auto again = login_request("alice", token_for("alice"));
    again.instance_id = login.instance_id;
    again.resume_token = resume_token;
    again.channels.push_back({"lobby", std::nullopt, {}});
    alice->send(again);
    reply = reply_to(*alice, again.request_id);
    ASSERT_TRUE(reply && std::holds_alternative<proto::LoginOk>(*reply));
    EXPECT_TRUE(std::get<proto::LoginOk>(*reply).resumed);
    const auto seen = bob->next(500ms);  // 1/6 of the presence timeout
    EXPECT_FALSE(seen) << describe(*seen);

    // Now alice drops for good: after the rtm presence timeout (30 s × 0.1) bob sees her dropped.
    alice.reset();
    const auto start = std::chrono::steady_clock::now();
    const auto left = bob->next_of<proto::MemberLeft>(10s);
    ASSERT_TRUE(left);
    EXPECT_EQ(left->user_id, "alice");
    EXPECT_EQ(left->cause, MemberLeftCause::dropped);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 2s);

    const auto metrics = test::http_request(admin_port_, "GET", "/metrics", "Bearer s", "");
    EXPECT_NE(metrics.body.find("\nrelink_reconnects_total 1\n"), std::string::npos) << metrics.body;
    EXPECT_NE(metrics.body.find("\nrelink_presence_timeouts_total 1\n"), std::string::npos) << metrics.body;
    // bob asked for no batches (an older client): alice's join and her drop, one frame each.
    EXPECT_NE(metrics.body.find("\nrelink_presence_frames_total 2\n"), std::string::npos) << metrics.body;
    EXPECT_NE(metrics.body.find("\nrelink_presence_changes_total 2\n"), std::string::npos) << metrics.body;
}

// ----------------------------------------------------------------------------------------------- admin API

TEST_F(RelinkdTest, AdminApiNeedsTheSecret) {
    auto alice = logged_in("alice");
    ASSERT_TRUE(alice);
    join(*alice, "lobby");
    for (const char* path : {"/sessions", "/channels", "/metrics", "/nope"}) {
        EXPECT_EQ(test::http_request(admin_port_, "GET", path, "", "").status, 401) << path;
        EXPECT_EQ(test::http_request(admin_port_, "GET", path, "Bearer wrong", "").status, 401) << path;
        EXPECT_EQ(test::http_request(admin_port_, "GET", path, "Bearer ss", "").status, 401) << path;
        EXPECT_EQ(test::http_request(admin_port_, "GET", path, "Basic s", "").status, 401) << path;
    }
    EXPECT_EQ(test::http_request(admin_port_, "POST", "/kick", "", R"({"app":"app","user":"alice"})").status, 401);

    const auto sessions = test::http_request(admin_port_, "GET", "/sessions", "Bearer s", "");
    ASSERT_EQ(sessions.status, 200) << sessions.error;
    const Json list = Json::parse(sessions.body);
    ASSERT_TRUE(list.is_array());
    ASSERT_EQ(list.size(), 1U) << sessions.body;
    EXPECT_EQ(list[0]["app"], "app");
    EXPECT_EQ(list[0]["user"], "alice");
    EXPECT_EQ(list[0]["connected"], true);
    EXPECT_EQ(list[0]["channels"], Json::array({"lobby"}));

    const auto channels = test::http_request(admin_port_, "GET", "/channels?app=app", "bearer s", "");
    ASSERT_EQ(channels.status, 200);
    const Json channel_list = Json::parse(channels.body);
    ASSERT_EQ(channel_list.size(), 1U) << channels.body;
    EXPECT_EQ(channel_list[0]["channel"], "lobby");
    EXPECT_EQ(channel_list[0]["members"], Json::array({"alice"}));
    EXPECT_EQ(Json::parse(test::http_request(admin_port_, "GET", "/channels?app=app2", "Bearer s", "").body),
              Json::array());

    EXPECT_EQ(test::http_request(admin_port_, "GET", "/nope", "Bearer s", "").status, 404);
    EXPECT_EQ(test::http_request(admin_port_, "POST", "/sessions", "Bearer s", "").status, 405);
    EXPECT_EQ(test::http_request(admin_port_, "DELETE", "/metrics", "Bearer s", "").status, 405);
    EXPECT_EQ(test::http_request(admin_port_, "GET", "/kick", "Bearer s", "").status, 405);
    EXPECT_EQ(test::http_request(admin_port_, "POST", "/kick", "Bearer s", "not json").status, 400);
    EXPECT_EQ(test::http_request(admin_port_, "POST", "/kick", "Bearer s", R"({"app":"app"})").status, 400);
}

TEST_F(RelinkdTest, MetricsInPrometheusText) {
    auto alice = logged_in("alice");
    auto bob = logged_in("bob");
    ASSERT_TRUE(alice && bob);
    join(*alice, "lobby");
    join(*bob, "lobby");
    const auto m = channel_message("lobby", "x");
    alice->send(m);
    EXPECT_FALSE(reply_error(*alice, m.request_id));
    ASSERT_TRUE(bob->next_of<proto::Message>(5s));

    const auto metrics = test::http_request(admin_port_, "GET", "/metrics", "Bearer s", "");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_EQ(metrics.content_type.rfind("text/plain", 0), 0U) << metrics.content_type;
    const std::string& text = metrics.body;
    for (const char* name : {"relink_sessions", "relink_logins_total", "relink_kicks_total", "relink_messages_total",
                             "relink_backfilled_total", "relink_dropped_total", "relink_reconnects_total"}) {
        EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
        EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
    }
    EXPECT_NE(text.find("# TYPE relink_sessions gauge\nrelink_sessions 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE relink_logins_total counter\nrelink_logins_total 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nrelink_messages_total 1\n"), std::string::npos) << text;
    // TLS handshakes by kind: the test's clients never resume (tests/client/client_tls_resume_test.cpp does).
    std::smatch full;
    EXPECT_TRUE(
        std::regex_search(text, full, std::regex(R"(\nrelink_tls_handshakes_total\{resumed="false"\} (\d+)\n)")))
        << text;
    EXPECT_GE(full.size() > 1 ? std::stoull(full[1]) : 0ULL, 2ULL) << text;
    EXPECT_NE(text.find("\nrelink_tls_handshakes_total{resumed=\"true\"} 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE relink_tls_handshakes_total counter\n"), std::string::npos) << text;
    // Overload: nothing shed on an idle server, and the names the benchmarks read.
    for (const char* cause : {"rate", "in_progress", "memory"}) {
        EXPECT_NE(text.find(std::string("\nrelink_logins_shed_total{cause=\"") + cause + "\"} 0\n"), std::string::npos)
            << cause << text;
    }
    EXPECT_NE(text.find("\nrelink_logins_in_progress 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nrelink_slow_readers_shed_total 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nrelink_handshakes_in_progress 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE relink_write_queue_bytes gauge\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE relink_accept_pauses_total counter\n"), std::string::npos) << text;
    // Every line is a comment or "name value" (with a label for the TLS handshakes and the shed logins).
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        const std::regex kLine(
            R"re((# (HELP|TYPE) relink_\w+ .+)|(relink_\w+(\{(resumed="(true|false)"|cause="\w+")\})? \d+))re");
        EXPECT_TRUE(std::regex_match(line, kLine)) << line;
    }
}

TEST_F(RelinkdTest, AdminKickAndBan) {
    auto bob = logged_in("bob");
    ASSERT_TRUE(bob);
    const auto kicked = test::http_request(admin_port_, "POST", "/kick", "Bearer s", R"({"app":"app","user":"bob"})");
    EXPECT_EQ(kicked.status, 200) << kicked.body;
    const auto close = bob->next_of<proto::Close>(5s);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->reason, proto::CloseReason::kicked);
    ASSERT_TRUE(bob->wait_closed(5s));
    EXPECT_EQ(test::http_request(admin_port_, "POST", "/kick", "Bearer s", R"({"app":"app","user":"bob"})").status,
              404);

    auto dave = logged_in("dave");
    ASSERT_TRUE(dave);
    const auto banned =
        test::http_request(admin_port_, "POST", "/kick", "Bearer s", R"({"app":"app","user":"dave","ban":true})");
    EXPECT_EQ(banned.status, 200) << banned.body;
    const auto ban_close = dave->next_of<proto::Close>(5s);
    ASSERT_TRUE(ban_close);
    EXPECT_EQ(ban_close->reason, proto::CloseReason::banned);
    auto again = connect();
    ASSERT_TRUE(again);
    const auto login = login_request("dave", token_for("dave"));
    again->send(login);
    EXPECT_EQ(reply_error(*again, login.request_id), make_error_code(errc::banned_by_server));
    expect_still_serving();
}

// ----------------------------------------------------------------------------------------------- drain

TEST_F(RelinkdTest, DrainOnSigtermClosesEveryClientWithDraining) {
    auto alice = logged_in("alice");
    auto bob = logged_in("bob");
    ASSERT_TRUE(alice && bob);
    const auto before = std::chrono::steady_clock::now();
    server_->signal(SIGTERM);
    for (auto* client : {alice.get(), bob.get()}) {
        const auto close = client->next_of<proto::Close>(5s);
        ASSERT_TRUE(close);
        EXPECT_EQ(close->reason, proto::CloseReason::draining);
        EXPECT_GT(close->reconnect_within, Duration::zero());
        const auto ended = client->wait_closed(5s);
        ASSERT_TRUE(ended);
        EXPECT_EQ(ended->reason, "DRAINING");
    }
    const auto status = server_->wait_exit(5s);
    EXPECT_EQ(status, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
    // No new connections once drained.
    WsTestClient::Config config;
    config.port = port_;
    config.ca_file = ca_file_;
    config.connect_timeout = 1s;
    std::string error;
    EXPECT_FALSE(WsTestClient::connect(config, error));
    server_.reset();
}

// ----------------------------------------------------------------------------------------------- hostile input

TEST_F(RelinkdTest, MalformedJson) {
    auto client = logged_in("mallory");
    ASSERT_TRUE(client);
    client->send_text(R"({"v":1,"type":"join","id":7,"channel":)");
    const auto outcome = expect_error_or_close(*client, std::nullopt);
    SCOPED_TRACE(outcome);
    expect_still_serving();
}

TEST_F(RelinkdTest, WrongFieldTypes) {
    auto client = logged_in("mallory");
    ASSERT_TRUE(client);
    // A valid join with every field other than "type" and "v" replaced by a value of the wrong type.
    Json frame = Json::parse(proto::encode(proto::ClientMessage{proto::Join{41, "lobby"}}));
    for (auto& [key, value] : frame.items()) {
        if (key != "type" && key != "v" && key != "id") {
            value = value.is_string() ? Json(42) : Json("forty-two");
        }
    }
    client->send_text(frame.dump());
    EXPECT_EQ(expect_error_or_close(*client, 41), "error PROTOCOL_ERROR");
    // The id itself of the wrong type: no request to answer.
    frame["id"] = "41";
    client->send_text(frame.dump());
    SCOPED_TRACE(expect_error_or_close(*client, std::nullopt));
    expect_still_serving();
}

TEST_F(RelinkdTest, UnknownMessageType) {
    auto client = logged_in("mallory");
    ASSERT_TRUE(client);
    Json frame = Json::parse(proto::encode(proto::ClientMessage{proto::Join{43, "lobby"}}));
    frame["type"] = "frobnicate";
    client->send_text(frame.dump());
    SCOPED_TRACE(expect_error_or_close(*client, 43));
    expect_still_serving();
}

TEST_F(RelinkdTest, OversizedFrameClosesWithTooBig) {
    auto client = logged_in("mallory");
    ASSERT_TRUE(client);
    client->send_text(std::string(proto::kMaxFrameBytes + 1, 'x'));
    const auto ended = client->wait_closed(5s);
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->code, 1009) << ended->reason << ended->error;  // WebSocket "message too big"
    expect_still_serving();
}

TEST_F(RelinkdTest, PayloadAboveTheLimitGetsAnError) {
    auto client = logged_in("mallory");
    ASSERT_TRUE(client);
    join(*client, "lobby");
    const auto big = channel_message("lobby", std::string(proto::kMaxPayloadBytes + 1, 'x'));
    client->send(big);
    EXPECT_EQ(reply_error(*client, big.request_id), make_error_code(errc::payload_too_large));
    join(*client, "still-connected");
}

TEST_F(RelinkdTest, BinaryGarbage) {
    auto client = logged_in("mallory");
    ASSERT_TRUE(client);
    client->send_binary(std::string("\x00\xff\xfe garbage \x01", 13));
    const auto close = client->next_of<proto::Close>(5s);
    ASSERT_TRUE(close);
    EXPECT_EQ(close->reason, proto::CloseReason::invalid);
    const auto ended = client->wait_closed(5s);
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->code, 1008);
    EXPECT_EQ(ended->reason, "INVALID");
    expect_still_serving();
}

TEST_F(RelinkdTest, RequestBeforeLogin) {
    auto client = connect();
    ASSERT_TRUE(client);
    const proto::Join early{++request_id_, "lobby"};
    client->send(early);
    EXPECT_EQ(reply_error(*client, early.request_id), make_error_code(errc::not_logged_in));
    expect_still_serving();
}

TEST_F(RelinkdTest, TokensForAnotherAppOrUserExpiredOrTampered) {
    struct Case {
        const char* name;
        std::string app;
        std::string user;
        std::string token;
        errc expected;
    };
    std::string tampered = token_for("eve");
    tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
    const std::vector<Case> cases = {
        {"another app's token", "app", "eve", token_for("eve", "app2", "secret2"), errc::invalid_token},
        {"another user's token", "app", "eve", token_for("alice"), errc::invalid_token},
        {"expired", "app", "eve", token_for("eve", "app", "secret", -10s), errc::token_expired},
        {"tampered", "app", "eve", tampered, errc::invalid_token},
        {"signed with another secret", "app", "eve", token_for("eve", "app", "not-the-secret"), errc::invalid_token},
        {"garbage", "app", "eve", "rl1.not-a-token", errc::invalid_token},
        {"unknown app", "nope", "eve", token_for("eve", "nope", "secret"), errc::invalid_app_id},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto client = connect();
        ASSERT_TRUE(client);
        auto login = login_request(c.user, c.token);
        login.app_id = c.app;
        client->send(login);
        EXPECT_EQ(reply_error(*client, login.request_id), make_error_code(c.expected));
    }
    expect_still_serving();
}

TEST_F(RelinkdTest, FloodOverTheRateLimit) {
    auto client = logged_in("mallory");
    ASSERT_TRUE(client);
    join(*client, "lobby");
    constexpr int kFlood = 400;  // well above the burst of 100 at 50 per second
    proto::RequestId first = 0;
    for (int i = 0; i < kFlood; ++i) {
        const auto m = channel_message("lobby", "flood");
        first = first == 0 ? m.request_id : first;
        client->send(m);
    }
    int limited = 0;
    int answered = 0;
    while (answered < kFlood) {
        const auto message = client->next(5s);
        if (!message) {
            break;
        }
        if (const auto* reply = std::get_if<proto::Reply>(&*message); reply && reply->request_id >= first) {
            ++answered;
            limited += reply->error == make_error_code(errc::rate_limited) ? 1 : 0;
        }
        if (std::holds_alternative<proto::Close>(*message)) {
            break;
        }
    }
    EXPECT_GT(limited, 0) << answered << " answered";
    expect_still_serving();
}

/// A raw TCP connection to the WebSocket port; returns the file descriptor (-1 on failure).
int raw_connect(std::uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/// True when the server closes `fd` within `timeout` (end of stream or reset).
bool closed_by_server(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{fd, POLLIN, 0};
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (poll(&pfd, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) {
            continue;
        }
        char buffer[1024];
        if (read(fd, buffer, sizeof buffer) <= 0) {
            return true;
        }
    }
    return false;
}

TEST_F(RelinkdTest, AClientThatStopsReadingIsDisconnectedAndTheOthersAreServed) {
    auto slow = restart_with_proxied_reader("slow");
    ASSERT_TRUE(slow.client);
    slow.proxy->set_mode(faultproxy::Mode::stall);  // it stops reading: the proxy holds 1 MiB, then TCP pushes back

    auto talker = logged_in("talker");
    ASSERT_TRUE(talker);
    join(*talker, "lobby");
    const std::string payload(30 * 1024, 'x');
    bool dropped = false;
    // Up to ~18 MB towards the slow reader: more than the proxy, both kernels' buffers and relinkd's 4 MiB queue.
    // In batches of 20, each acknowledged before the next, so the talker's own queue stays short (a slow build
    // would otherwise leave its later requests minutes behind).
    for (int batch = 0; batch < 30 && !dropped; ++batch) {
        proto::RequestId last = 0;
        for (int i = 0; i < 20; ++i) {
            const auto m = channel_message("lobby", payload);
            last = m.request_id;
            talker->send(m);
        }
        ASSERT_TRUE(reply_to(*talker, last, 60s)) << "the talker's batch " << batch << " was not acknowledged";
        dropped = server_->stderr_text().find("reads too slowly") != std::string::npos;
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!dropped && std::chrono::steady_clock::now() < deadline) {  // bounded: relinkd logs it when it drops
        std::this_thread::sleep_for(50ms);
        dropped = server_->stderr_text().find("reads too slowly") != std::string::npos;
    }
    EXPECT_TRUE(dropped) << "the slow reader was not disconnected";
    // The talker and everyone else are still served, and relinkd's memory did not follow the slow reader.
    join(*talker, "still-served");
    expect_still_serving();
}

TEST_F(RelinkdTest, LogsCarryNoTokenAndNoPayloadEvenAtTrace) {
    server_->signal(SIGTERM);
    ASSERT_EQ(server_->wait_exit(5s), 0);
    std::filesystem::remove(ca_file_);
    start({"--log-level", "trace"});
    auto alice = logged_in("alice");
    auto bob = logged_in("bob");
    ASSERT_TRUE(alice && bob);
    join(*alice, "lobby");
    join(*bob, "lobby");
    const auto to_channel = channel_message("lobby", "channel-payload-not-for-logs");
    alice->send(to_channel);
    ASSERT_TRUE(reply_to(*alice, to_channel.request_id));
    proto::SendMessage to_peer;
    to_peer.request_id = ++request_id_;
    to_peer.message_id = "m-peer";
    to_peer.to_user = "bob";
    to_peer.payload = "peer-payload-not-for-logs";
    alice->send(to_peer);
    ASSERT_TRUE(reply_to(*alice, to_peer.request_id));
    const std::string log = server_->stderr_text();
    EXPECT_NE(log.find(": open"), std::string::npos) << "the log is on (trace) and shows the connections";
    for (const std::string& secret : {token_for("alice"), token_for("bob"), std::string("channel-payload-not-for-logs"),
                                      std::string("peer-payload-not-for-logs")}) {
        EXPECT_EQ(log.find(secret), std::string::npos) << "relinkd logged '" << secret.substr(0, 16) << "...'";
    }
}

TEST_F(RelinkdTest, TlsClientThatNeverFinishesItsHandshakeIsDropped) {
    const int silent = raw_connect(port_);
    ASSERT_GE(silent, 0);
    // Meanwhile others are served.
    expect_still_serving();
    // The handshake timeout is 10 s × 0.1 here.
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(closed_by_server(silent, 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    close(silent);
    expect_still_serving();
}

TEST_F(RelinkdTest, PlainHttpOnTheTlsPortIsDropped) {
    const int fd = raw_connect(port_);
    ASSERT_GE(fd, 0);
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    EXPECT_TRUE(closed_by_server(fd, 5s));
    close(fd);
    expect_still_serving();
}

TEST_F(RelinkdTest, WebSocketOnlyOnSlash) {
    WsTestClient::Config config;
    config.port = port_;
    config.ca_file = ca_file_;
    config.path = "/elsewhere";
    std::string error;
    EXPECT_FALSE(WsTestClient::connect(config, error));
    EXPECT_NE(error.find("WebSocket handshake"), std::string::npos) << error;
    expect_still_serving();
}

TEST_F(RelinkdTest, ClientThatDoesNotTrustTheCaCannotConnect) {
    const auto other = generate_self_signed();
    ASSERT_TRUE(other.pem);
    std::ofstream(dir_ / "other-ca.pem") << other.pem->certificate_pem;
    WsTestClient::Config config;
    config.port = port_;
    config.ca_file = (dir_ / "other-ca.pem").string();
    std::string error;
    EXPECT_FALSE(WsTestClient::connect(config, error));
    EXPECT_NE(error.find("TLS handshake"), std::string::npos) << error;
    expect_still_serving();
}

TEST_F(RelinkdTest, FramesHeldBackByAStalledReaderArriveWholeAndInOrder) {
    // relinkd frames and encrypts its messages itself and batches queued ones into shared TLS records: a reader
    // that stalls while small, 16-bit-length and 64-bit-length frames pile up gets every one, whole, in order.
    auto proxied = restart_with_proxied_reader("reader");
    ASSERT_TRUE(proxied.client);
    auto& reader = proxied.client;
    auto talker = logged_in("talker");
    ASSERT_TRUE(talker);
    join(*talker, "lobby");
    ASSERT_TRUE(reader->next_of<proto::MemberJoined>(5s));
    proxied.proxy->set_mode(faultproxy::Mode::stall);

    std::vector<std::string> payloads;
    for (int i = 0; i < 60; ++i) {
        if (i % 10 == 5) {
            payloads.push_back(std::string(32 * 1024 - 8, '\x01') + std::to_string(i));  // escaped: ~190 KB of JSON
        } else if (i % 3 == 0) {
            payloads.push_back(std::string(30 * 1024, 'x') + std::to_string(i));
        } else {
            payloads.push_back("small " + std::to_string(i));
        }
    }
    proto::RequestId last = 0;
    for (const auto& payload : payloads) {
        const auto m = channel_message("lobby", payload);
        last = m.request_id;
        talker->send(m);
    }
    ASSERT_TRUE(reply_to(*talker, last, 60s));
    proxied.proxy->set_mode(faultproxy::Mode::pass);
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        const auto got = reader->next_of<proto::Message>(30s);
        ASSERT_TRUE(got) << "message " << i << " did not arrive";
        EXPECT_EQ(got->payload, payloads[i]) << "message " << i;
    }
    EXPECT_TRUE(reader->decode_errors().empty());
    EXPECT_EQ(server_->stderr_text().find("reads too slowly"), std::string::npos);
}

TEST_F(RelinkdTest, OverTheWriteQueueBudgetTheSlowReaderIsShedAndTheOthersGetEverything) {
    // All write queues together may hold 1 MiB. A reader behind a stalled path piles up what it does not read; once
    // the server's total is over the budget it is closed as a slow reader, while a reader that keeps up, in the
    // same channel, gets every message in order and the talker goes on.
    auto stalled = restart_with_proxied_reader("stalled", {"--limit", "write-queue-budget-mb=1"});
    ASSERT_TRUE(stalled.client);
    auto healthy = logged_in("healthy");
    ASSERT_TRUE(healthy);
    join(*healthy, "lobby");
    auto talker = logged_in("talker");
    ASSERT_TRUE(talker);
    join(*talker, "lobby");
    ASSERT_TRUE(healthy->next_of<proto::MemberJoined>(5s));
    stalled.proxy->set_mode(faultproxy::Mode::stall);

    // 12 MB in all: more than the kernel's socket buffers and the proxy's 1 MiB can hold for the stalled reader.
    constexpr int kMessages = 400;  // a multiple of 50: the last one's reply is awaited in the loop
    for (int i = 0; i < kMessages; ++i) {
        const auto m = channel_message("lobby", std::string(30 * 1024, 'x') + " " + std::to_string(i));
        talker->send(m);
        if (i % 50 == 49) {  // paced by the talker's replies, so the healthy reader keeps up as a real one would
            ASSERT_TRUE(reply_to(*talker, m.request_id, 30s)) << "message " << i;
        }
    }
    for (int i = 0; i < kMessages; ++i) {
        const auto got = healthy->next_of<proto::Message>(30s);
        ASSERT_TRUE(got) << "message " << i << " did not reach the reader that keeps up";
        EXPECT_EQ(got->payload.substr(got->payload.rfind(' ') + 1), std::to_string(i));
    }
    const auto stderr_text = server_->stderr_text();
    EXPECT_NE(stderr_text.find("reads too slowly"), std::string::npos) << "the stalled reader was never shed";
    EXPECT_NE(stderr_text.find("over the 1048576 budget"), std::string::npos) << stderr_text.substr(0, 4000);
    const auto metrics = test::http_request(admin_port_, "GET", "/metrics", "Bearer s", "");
    EXPECT_NE(metrics.body.find("\nrelink_slow_readers_shed_total 1\n"), std::string::npos) << metrics.body;
    // The talker and the healthy reader are still served.
    const auto after = channel_message("lobby", "after");
    talker->send(after);
    ASSERT_TRUE(reply_to(*talker, after.request_id));
    const auto got = healthy->next_of<proto::Message>(10s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "after");
}

// ----------------------------------------------------------------------------------------------- operators

/// Everything the server sends back to one raw HTTP request, until it closes the connection (bounded).
std::string raw_http(std::uint16_t port, const std::string& request) {
    const int fd = raw_connect(port);
    if (fd < 0) {
        return {};
    }
    if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
        close(fd);
        return {};
    }
    std::string response;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        char buffer[1024];
        const auto n = read(fd, buffer, sizeof buffer);
        if (n <= 0) {
            break;
        }
        response.append(buffer, static_cast<std::size_t>(n));
    }
    close(fd);
    return response;
}

TEST_F(RelinkdTest, HealthzAndReadyzAnswerWithoutTheSecretInPlainText) {
    for (const char* path : {"/healthz", "/readyz", "/readyz?full=1"}) {
        for (const char* authorization : {"", "Bearer wrong"}) {  // no secret, or a wrong one: the same answer
            const auto got = test::http_request(admin_port_, "GET", path, authorization, "");
            EXPECT_EQ(got.status, 200) << path << " " << got.error;
            EXPECT_EQ(got.body, "ok\n") << path;
            EXPECT_EQ(got.content_type, "text/plain; charset=utf-8") << path;
        }
        EXPECT_EQ(test::http_request(admin_port_, "POST", path, "", "{}").status, 405) << path;
    }
    // HEAD: the headers of a GET (its length included), no body, and never cached.
    const auto head = raw_http(admin_port_, "HEAD /readyz HTTP/1.1\r\nHost: relinkd\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << head;
    EXPECT_NE(head.find("Content-Length: 3\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Cache-Control: no-store\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.size(), head.find("\r\n\r\n") + 4) << "no body after the headers: " << head;
    // Everything else still needs the secret.
    for (const char* path : {"/sessions", "/metrics", "/healthz/x", "/ready"}) {
        EXPECT_EQ(test::http_request(admin_port_, "GET", path, "", "").status, 401) << path;
    }
    for (const char* probe : {"/healthz from", "/readyz from", "/readyz?full=1 from"}) {
        EXPECT_EQ(server_->stderr_text().find(probe), std::string::npos) << "probes are not logged: " << probe;
    }
}

TEST_F(RelinkdTest, ReadyzSaysNotReadyDuringADrainWhileHealthzStaysOk) {
    // A client behind a stalled path cannot finish its close, so the drain lasts (up to its 3 s bound) and the
    // probes can be asked meanwhile.
    faultproxy::FaultProxy proxy("127.0.0.1", port_);
    WsTestClient::Config config;
    config.port = proxy.port();
    config.ca_file = ca_file_;
    std::string error;
    auto stalled = WsTestClient::connect(config, error);
    ASSERT_TRUE(stalled) << error;
    ASSERT_TRUE(log_in(*stalled, "stalled"));
    ASSERT_EQ(test::http_request(admin_port_, "GET", "/readyz", "", "").status, 200);
    proxy.set_mode(faultproxy::Mode::stall);

    server_->signal(SIGTERM);
    test::HttpResult ready;
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline) {  // until the signal is handled
        ready = test::http_request(admin_port_, "GET", "/readyz", "", "", 1s);
        if (ready.status != 200) {
            break;
        }
    }
    EXPECT_EQ(ready.status, 503) << ready.error;
    EXPECT_EQ(ready.body, "not ready: draining\n");
    EXPECT_EQ(ready.content_type, "text/plain; charset=utf-8");
    const auto alive = test::http_request(admin_port_, "GET", "/healthz", "", "", 1s);
    EXPECT_EQ(alive.status, 200) << "still alive while draining: " << alive.error;
    EXPECT_EQ(server_->wait_exit(5s), 0);
    server_.reset();
}

/// A config file for the reload tests: these apps (id → secret), the key file, and nothing given as flags.
void write_config(const std::filesystem::path& file, const std::map<std::string, std::string>& apps,
                  const std::filesystem::path& ticket_keys) {
    Json config{{"app", apps}, {"tls-ticket-key-file", ticket_keys.string()}};
    std::ofstream(file.string() + ".tmp") << config.dump(2);
    std::filesystem::rename(file.string() + ".tmp", file);  // whole, as an operator's editor or tool writes it
}

TEST_F(RelinkdTest, SighupAddsAnAppAndRevokesOneWithoutDroppingAnyOtherSession) {
    const auto config = dir_ / "relinkd.json";
    const auto ticket_keys = dir_ / "tickets.key";
    write_config(config, {{"app", "secret"}, {"gone", "gone-secret"}}, ticket_keys);
    restart({"--config", config.string()});
    auto alice = logged_in("alice");  // app "app": kept
    ASSERT_TRUE(alice);
    join(*alice, "lobby");
    std::unique_ptr<WsTestClient> goner;
    auto reply = try_login("gone", "goner", "gone-secret", goner);
    ASSERT_TRUE(reply && std::holds_alternative<proto::LoginOk>(*reply));
    std::unique_ptr<WsTestClient> early;
    reply = try_login("new", "newbie", "new-secret", early);
    ASSERT_TRUE(reply && std::holds_alternative<proto::Reply>(*reply));
    EXPECT_EQ(std::get<proto::Reply>(*reply).error, make_error_code(errc::invalid_app_id)) << "not there yet";

    // The ticket keys rotated (a new key first) and the apps changed: "new" added, "gone" removed.
    const auto old_keys = test::file_text(ticket_keys);
    ASSERT_EQ(old_keys.size(), TicketKey::kBytes);
    const auto new_key = TicketKeys::generate();
    ASSERT_TRUE(new_key);
    {
        std::ofstream out(ticket_keys, std::ios::binary | std::ios::trunc);
        out << new_key->serialize() << old_keys;
    }
    write_config(config, {{"app", "secret"}, {"new", "new-secret"}}, ticket_keys);
    server_->signal(SIGHUP);

    const auto close = goner->next_of<proto::Close>(5s);
    ASSERT_TRUE(close) << "the removed app's session is closed";
    EXPECT_EQ(close->reason, proto::CloseReason::kicked);
    const auto ended = goner->wait_closed(5s);
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->reason, "KICKED");
    ASSERT_TRUE(wait_for_log("reload: 2 apps; added: new; removed (their sessions closed, kicked): gone"))
        << server_->stderr_text();
    EXPECT_TRUE(wait_for_log("reload: TLS session tickets: 2 keys from " + ticket_keys.string()));

    std::unique_ptr<WsTestClient> newbie;
    reply = try_login("new", "newbie", "new-secret", newbie);
    ASSERT_TRUE(reply);
    EXPECT_TRUE(std::holds_alternative<proto::LoginOk>(*reply)) << "the added app logs in: " << describe(*reply);
    std::unique_ptr<WsTestClient> again;
    reply = try_login("gone", "goner", "gone-secret", again);
    ASSERT_TRUE(reply && std::holds_alternative<proto::Reply>(*reply));
    EXPECT_EQ(std::get<proto::Reply>(*reply).error, make_error_code(errc::invalid_app_id));

    expect_served_without_a_close(*alice, "alice (an app kept)");
    auto bob = logged_in("bob");  // the kept app still logs in with its secret
    ASSERT_TRUE(bob);
    expect_still_serving();
}

TEST_F(RelinkdTest, SighupWithABadConfigOrKeyFileKeepsTheRunningOne) {
    const auto config = dir_ / "relinkd.json";
    const auto ticket_keys = dir_ / "tickets.key";
    write_config(config, {{"app", "secret"}, {"other", "other-secret"}}, ticket_keys);
    restart({"--config", config.string()});
    std::unique_ptr<WsTestClient> other;
    auto reply = try_login("other", "olga", "other-secret", other);
    ASSERT_TRUE(reply && std::holds_alternative<proto::LoginOk>(*reply));

    // Not JSON: logged with its position, nothing applied.
    std::ofstream(config) << "{\"app\": {\"app\": \"secret\"},\n  oops}";
    server_->signal(SIGHUP);
    ASSERT_TRUE(wait_for_log("the running configuration is kept")) << server_->stderr_text();
    EXPECT_TRUE(wait_for_log("reload: --config: not valid JSON at line 2, column 3: "));

    // Good JSON that drops "other", but a key file that went bad: the apps are not applied either.
    write_config(config, {{"app", "secret"}}, ticket_keys);
    std::ofstream(ticket_keys, std::ios::binary | std::ios::trunc) << "short";
    server_->signal(SIGHUP);
    ASSERT_TRUE(wait_for_log("the running configuration is kept", 2)) << server_->stderr_text();
    EXPECT_TRUE(wait_for_log("holds 5 bytes"));

    expect_served_without_a_close(*other, "olga (app 'other', still configured)");
    std::unique_ptr<WsTestClient> another;
    reply = try_login("other", "oscar", "other-secret", another);
    ASSERT_TRUE(reply);
    EXPECT_TRUE(std::holds_alternative<proto::LoginOk>(*reply)) << describe(*reply);
    EXPECT_EQ(server_->stderr_text().find("reload: 1 app"), std::string::npos) << "nothing was half-applied";
}

TEST_F(RelinkdTest, ReloadsWhileHandshakesIssueTicketsUnderTheKeysBeingReplaced) {
    // Every handshake encrypts a session ticket under the key set a reload swaps: reloads and handshakes at once
    // (under TSan, relinkd's exit status 0 at the end says no race was seen).
    const auto config = dir_ / "relinkd.json";
    const auto ticket_keys = dir_ / "tickets.key";
    write_config(config, {{"app", "secret"}}, ticket_keys);
    restart({"--config", config.string()});
    std::atomic<bool> stop{false};
    std::atomic<int> connected{0};
    std::thread connector([&] {
        while (!stop.load()) {
            if (connect()) {
                ++connected;
            }
        }
    });
    constexpr int kReloads = 8;
    for (int i = 1; i <= kReloads; ++i) {
        const auto fresh = TicketKeys::generate();
        ASSERT_TRUE(fresh);
        {
            std::ofstream out(ticket_keys, std::ios::binary | std::ios::trunc);
            out << fresh->serialize();
        }
        write_config(config, {{"app", "secret"}, {"extra-" + std::to_string(i), "s"}}, ticket_keys);
        server_->signal(SIGHUP);
        ASSERT_TRUE(wait_for_log("reload: TLS session tickets: 1 key", static_cast<std::size_t>(i)));
    }
    stop = true;
    connector.join();
    EXPECT_GT(connected.load(), 0);
    EXPECT_EQ(server_->stderr_text().find("the running configuration is kept"), std::string::npos);
    expect_still_serving();
}

TEST_F(RelinkdTest, JsonLogLinesAreOneJsonObjectEach) {
    restart({"--log-format", "json", "--node-id", "node-7"});
    auto alice = logged_in("alice");
    ASSERT_TRUE(alice);
    EXPECT_EQ(test::http_request(admin_port_, "GET", "/metrics", "Bearer wrong", "").status, 401);  // a warning
    server_->signal(SIGTERM);
    ASSERT_EQ(server_->wait_exit(5s), 0);
    const std::string log = server_->stderr_text();
    server_.reset();
    std::istringstream lines(log);
    std::string line;
    std::set<std::string> levels;
    int count = 0;
    const std::regex utc_millis(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
    while (std::getline(lines, line)) {
        ++count;
        const Json record = Json::parse(line, nullptr, false);
        ASSERT_TRUE(record.is_object()) << "not a JSON object: " << line;
        ASSERT_TRUE(record.contains("time") && record["time"].is_string()) << line;
        EXPECT_TRUE(std::regex_match(record["time"].get<std::string>(), utc_millis)) << line;
        ASSERT_TRUE(record.contains("level") && record["level"].is_string()) << line;
        levels.insert(record["level"].get<std::string>());
        EXPECT_EQ(record.value("logger", ""), "relinkd") << line;
        EXPECT_TRUE(record.contains("message") && record["message"].is_string()) << line;
        EXPECT_EQ(record.value("node", ""), "node-7") << line;
    }
    EXPECT_GT(count, 3) << log;
    EXPECT_TRUE(levels.contains("info") && levels.contains("debug") && levels.contains("warning")) << log;
    EXPECT_NE(log.find(R"("message":"listening on wss://127.0.0.1:)"), std::string::npos) << log;
}

}  // namespace
}  // namespace relink::server
