// The C API (include/relink/relink.h, librelink.so) tested only through relink.h: the names of every enum, config
// validation and its message, NULL handles, and against a real relinkd over loopback TLS: login, join, messages,
// attributes and token renewal in queue mode and in callback mode; each attempt's ATTEMPT_FINISHED (a login's
// steps, a refused attempt's cause) and the metrics' Prometheus text; 8 threads of mixed calls with every accepted
// operation completed exactly once; calls from inside the callback; relink_client_free() from inside the callback
// and with operations in flight. Every wait is bounded; relinkd stops by PID.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "relink/relink.h"
#include "support/relinkd_process.hpp"
#include "token/token.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 20s;  // generous: sanitizer builds on a busy 2-core machine

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// A token of app "app" (the test relinkd's, secret "secret") for `user`, valid for `ttl`.
std::string mint(const std::string& user, std::chrono::seconds ttl = 1h, std::vector<std::string> channels = {}) {
    return token::mint({"app", user, unix_now() + ttl.count(), std::move(channels)}, "secret");
}

/// What the test keeps of a relink_event: copies of its fields (the event itself ends with the callback).
struct Seen {
    int type{0};
    int state{0};
    int previous_state{0};
    int reason{0};
    std::uint64_t seq{0};
    int channel_state{0};
    int channel_reason{0};
    int error{0};
    std::string channel;
    std::string user_id;
    std::string from;
    std::string payload;
    std::uint64_t op{0};
    int op_kind{0};
    std::map<std::string, std::string> attributes;
    int has_timings{0};
    int link_up{0};
    std::uint64_t link_rtt_samples{0};
    std::int64_t link_rtt_us{0};
    std::int64_t link_rtt_var_us{0};
    std::int64_t link_since_last_data_ms{0};
    std::uint32_t attempt{0};
    int failure_cause{0};
    int resumed{0};
    int attempt_connected{0};
    std::int64_t attempt_total_us{0};
    std::int64_t attempt_dns_us{0};
    std::int64_t attempt_proxy_us{0};
    std::int64_t attempt_tcp_us{0};
    std::int64_t attempt_tls_us{0};
    std::int64_t attempt_websocket_us{0};
    std::int64_t attempt_login_us{0};
    int attempt_tls_resumed{0};
    std::thread::id thread;

    explicit Seen(const relink_event& e) : type(e.type), thread(std::this_thread::get_id()) {
        state = e.state;
        previous_state = e.previous_state;
        reason = e.reason;
        seq = e.seq;
        channel_state = e.channel_state;
        channel_reason = e.channel_reason;
        error = e.error;
        channel = e.channel != nullptr ? e.channel : "";
        user_id = e.user_id != nullptr ? e.user_id : "";
        from = e.from != nullptr ? e.from : "";
        if (e.payload != nullptr) {
            payload.assign(static_cast<const char*>(e.payload), e.payload_size);
        }
        op = e.op;
        op_kind = e.op_kind;
        for (size_t i = 0; i < e.attribute_count; ++i) {
            attributes[e.attributes[i].name] = e.attributes[i].value;
        }
        has_timings = e.has_timings;
        link_up = e.link_up;
        link_rtt_samples = e.link_rtt_samples;
        link_rtt_us = e.link_rtt_us;
        link_rtt_var_us = e.link_rtt_var_us;
        link_since_last_data_ms = e.link_since_last_data_ms;
        attempt = e.attempt;
        failure_cause = e.failure_cause;
        resumed = e.resumed;
        attempt_connected = e.attempt_connected;
        attempt_total_us = e.attempt_total_us;
        attempt_dns_us = e.attempt_dns_us;
        attempt_proxy_us = e.attempt_proxy_us;
        attempt_tcp_us = e.attempt_tcp_us;
        attempt_tls_us = e.attempt_tls_us;
        attempt_websocket_us = e.attempt_websocket_us;
        attempt_login_us = e.attempt_login_us;
        attempt_tls_resumed = e.attempt_tls_resumed;
    }
};

/// Every event a callback-mode client delivered, with bounded waits.
class Log {
public:
    static void callback(void* user_data, const relink_event* event) { static_cast<Log*>(user_data)->add(*event); }

    void add(const relink_event& event) {
        std::function<void(const relink_event&)> hook;
        {
            std::lock_guard lock(mutex_);
            events_.emplace_back(event);
            hook = hook_;
        }
        if (hook) {
            hook(event);
        }
        changed_.notify_all();
    }
    /// Runs on the dispatcher for every event after it is logged (set before login).
    void set_hook(std::function<void(const relink_event&)> hook) {
        std::lock_guard lock(mutex_);
        hook_ = std::move(hook);
    }
    bool wait(const std::function<bool(const std::vector<Seen>&)>& done, std::chrono::milliseconds timeout = kWait) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return done(events_); });
    }
    bool wait_state(int state, std::chrono::milliseconds timeout = kWait) {
        return wait(
            [&](const std::vector<Seen>& log) {
                return std::any_of(log.begin(), log.end(), [&](const Seen& e) {
                    return e.type == RELINK_EVENT_CONNECTION_STATE_CHANGED && e.state == state;
                });
            },
            timeout);
    }
    bool wait_channel(const std::string& channel, int channel_reason) {
        return wait([&](const std::vector<Seen>& log) {
            return std::any_of(log.begin(), log.end(), [&](const Seen& e) {
                return e.type == RELINK_EVENT_CHANNEL_STATE_CHANGED && e.channel == channel &&
                       e.channel_reason == channel_reason;
            });
        });
    }
    std::vector<Seen> snapshot() {
        std::lock_guard lock(mutex_);
        return events_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Seen> events_;
    std::function<void(const relink_event&)> hook_;
};

/// Takes queue-mode events until one that `match` accepts (kept in `seen`), within `timeout`.
std::optional<Seen> next_matching(relink_client* client, const std::function<bool(const Seen&)>& match,
                                  std::vector<Seen>* seen = nullptr, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        relink_event* event = nullptr;
        EXPECT_EQ(relink_client_next_event(client, 100, &event), RELINK_OK);
        if (event == nullptr) {
            continue;
        }
        Seen copy(*event);
        relink_event_free(event);
        if (seen != nullptr) {
            seen->push_back(copy);
        }
        if (match(copy)) {
            return copy;
        }
    }
    return std::nullopt;
}

/// Polls (bounded) until `channel` is JOINED: for clients whose events the test does not log.
bool wait_joined(relink_client* client, const char* channel) {
    const auto deadline = Clock::now() + kWait;
    int state = 0;
    while (relink_client_channel_state(client, channel, &state) != RELINK_OK || state != RELINK_CHANNEL_CONNECTED) {
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

bool is_state(const Seen& e, int state) {
    return e.type == RELINK_EVENT_CONNECTION_STATE_CHANGED && e.state == state;
}

// ------------------------------------------------------------------------------------- without a server

TEST(CApiNames, EveryStateReasonAndCauseHasItsName) {
    const std::vector<std::pair<int, const char*>> states{{RELINK_STATE_DISCONNECTED, "DISCONNECTED"},
                                                          {RELINK_STATE_CONNECTING, "CONNECTING"},
                                                          {RELINK_STATE_CONNECTED, "CONNECTED"},
                                                          {RELINK_STATE_RECONNECTING, "RECONNECTING"},
                                                          {RELINK_STATE_FAILED, "FAILED"},
                                                          {RELINK_STATE_ABORTED, "ABORTED"},
                                                          {RELINK_STATE_DISCONNECTING, "DISCONNECTING"}};
    for (const auto& [number, name] : states) {
        EXPECT_STREQ(relink_state_name(number), name);
    }
    for (int bad : {0, 8, -1, 257}) {
        EXPECT_STREQ(relink_state_name(bad), "UNKNOWN") << bad;
    }
    const std::vector<std::pair<int, const char*>> reasons{
        {RELINK_REASON_CONNECTING, "CONNECTING"},
        {RELINK_REASON_JOIN_SUCCESS, "JOIN_SUCCESS"},
        {RELINK_REASON_INTERRUPTED, "INTERRUPTED"},
        {RELINK_REASON_BANNED_BY_SERVER, "BANNED_BY_SERVER"},
        {RELINK_REASON_JOIN_FAILED, "JOIN_FAILED"},
        {RELINK_REASON_LEAVE_CHANNEL, "LEAVE_CHANNEL"},
        {RELINK_REASON_INVALID_APP_ID, "INVALID_APP_ID"},
        {RELINK_REASON_INVALID_CHANNEL_NAME, "INVALID_CHANNEL_NAME"},
        {RELINK_REASON_INVALID_TOKEN, "INVALID_TOKEN"},
        {RELINK_REASON_TOKEN_EXPIRED, "TOKEN_EXPIRED"},
        {RELINK_REASON_REJECTED_BY_SERVER, "REJECTED_BY_SERVER"},
        {RELINK_REASON_SETTING_PROXY_SERVER, "SETTING_PROXY_SERVER"},
        {RELINK_REASON_RENEW_TOKEN, "RENEW_TOKEN"},
        {RELINK_REASON_CLIENT_IP_ADDRESS_CHANGED, "CLIENT_IP_ADDRESS_CHANGED"},
        {RELINK_REASON_KEEP_ALIVE_TIMEOUT, "KEEP_ALIVE_TIMEOUT"},
        {RELINK_REASON_REJOIN_SUCCESS, "REJOIN_SUCCESS"},
        {RELINK_REASON_LOST, "LOST"},
        {RELINK_REASON_LOGIN, "LOGIN"},
        {RELINK_REASON_LOGIN_SUCCESS, "LOGIN_SUCCESS"},
        {RELINK_REASON_LOGIN_FAILURE, "LOGIN_FAILURE"},
        {RELINK_REASON_LOGIN_TIMEOUT, "LOGIN_TIMEOUT"},
        {RELINK_REASON_LOGOUT, "LOGOUT"},
        {RELINK_REASON_REMOTE_LOGIN, "REMOTE_LOGIN"},
        {RELINK_REASON_RECOVERY_REFUSED, "RECOVERY_REFUSED"}};
    for (const auto& [number, name] : reasons) {
        EXPECT_STREQ(relink_reason_name(number), name);
    }
    for (int bad : {17, 99, 107, -1, 65536 + 1}) {
        EXPECT_STREQ(relink_reason_name(bad), "UNKNOWN") << bad;
    }
    EXPECT_STREQ(relink_channel_state_name(RELINK_CHANNEL_DISCONNECTED), "DISCONNECTED");
    EXPECT_STREQ(relink_channel_state_name(RELINK_CHANNEL_CONNECTING), "CONNECTING");
    EXPECT_STREQ(relink_channel_state_name(RELINK_CHANNEL_CONNECTED), "CONNECTED");
    EXPECT_STREQ(relink_channel_state_name(3), "UNKNOWN");
    const char* channel_reasons[] = {"JOINING",       "JOINED",     "JOIN_FAILED", "REJOINING",   "REJOINED",
                                     "REJOIN_FAILED", "KICKED_OUT", "LEFT",        "LEAVE_FAILED"};
    for (int i = RELINK_CHANNEL_REASON_JOINING; i <= RELINK_CHANNEL_REASON_LEAVE_FAILED; ++i) {
        EXPECT_STREQ(relink_channel_reason_name(i), channel_reasons[i]);
    }
    EXPECT_STREQ(relink_channel_reason_name(9), "UNKNOWN");
    EXPECT_STREQ(relink_member_left_cause_name(RELINK_MEMBER_LEFT_QUIT), "QUIT");
    EXPECT_STREQ(relink_member_left_cause_name(RELINK_MEMBER_LEFT_DROPPED), "DROPPED");
    EXPECT_STREQ(relink_member_left_cause_name(RELINK_MEMBER_LEFT_KICKED), "KICKED");
    EXPECT_STREQ(relink_member_left_cause_name(3), "UNKNOWN");
    const char* causes[] = {"DNS",  "REFUSED",  "TIMEOUT", "NETWORK", "PROXY",  "TLS", "CERTIFICATE",
                            "HTTP", "PROTOCOL", "CLOSED",  "SERVER",  "CONFIG", "BUSY"};
    for (int i = RELINK_ATTEMPT_DNS; i <= RELINK_ATTEMPT_BUSY; ++i) {
        EXPECT_STREQ(relink_attempt_failure_name(i), causes[i]);
    }
    EXPECT_STREQ(relink_attempt_failure_name(13), "UNKNOWN");
}

TEST(CApiNames, ProfilesByNameAndNumber) {
    const std::vector<std::pair<int, const char*>> profiles{{RELINK_PROFILE_RTM, "rtm"},
                                                            {RELINK_PROFILE_RTC, "rtc"},
                                                            {RELINK_PROFILE_RTC_WEB, "rtc-web"},
                                                            {RELINK_PROFILE_ROOM, "room"}};
    for (const auto& [number, name] : profiles) {
        EXPECT_STREQ(relink_profile_name(number), name);
        int parsed = -1;
        EXPECT_EQ(relink_profile_from_name(name, &parsed), RELINK_OK);
        EXPECT_EQ(parsed, number);
    }
    EXPECT_STREQ(relink_profile_name(4), "unknown");
    int parsed = 7;
    EXPECT_EQ(relink_profile_from_name("RTM", &parsed), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(parsed, 7);  // a failed call changes nothing
    EXPECT_EQ(relink_profile_from_name(nullptr, &parsed), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_profile_from_name("rtm", nullptr), RELINK_E_INVALID_ARGUMENT);
}

TEST(CApiNames, EveryErrorHasNameMessageAndCondition) {
    struct Expected {
        int code;
        const char* name;
        int condition;
    };
    const std::vector<Expected> errors{
        {RELINK_OK, "OK", RELINK_CONDITION_NONE},
        {RELINK_E_NOT_LOGGED_IN, "NOT_LOGGED_IN", RELINK_CONDITION_MISUSE},
        {RELINK_E_ALREADY_LOGGED_IN, "ALREADY_LOGGED_IN", RELINK_CONDITION_MISUSE},
        {RELINK_E_INVALID_ARGUMENT, "INVALID_ARGUMENT", RELINK_CONDITION_MISUSE},
        {RELINK_E_INVALID_CHANNEL_NAME, "INVALID_CHANNEL_NAME", RELINK_CONDITION_MISUSE},
        {RELINK_E_INVALID_USER_ID, "INVALID_USER_ID", RELINK_CONDITION_MISUSE},
        {RELINK_E_NOT_JOINED, "NOT_JOINED", RELINK_CONDITION_MISUSE},
        {RELINK_E_ALREADY_JOINED, "ALREADY_JOINED", RELINK_CONDITION_MISUSE},
        {RELINK_E_PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", RELINK_CONDITION_MISUSE},
        {RELINK_E_UNKNOWN_CHANNEL, "UNKNOWN_CHANNEL", RELINK_CONDITION_MISUSE},
        {RELINK_E_QUEUE_FULL, "QUEUE_FULL", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_RATE_LIMITED, "RATE_LIMITED", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_SEND_TIMEOUT, "SEND_TIMEOUT", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_ACK_TIMEOUT, "ACK_TIMEOUT", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_NETWORK_TIMEOUT, "NETWORK_TIMEOUT", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_NETWORK_INTERRUPTED, "NETWORK_INTERRUPTED", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_LOGIN_TIMEOUT, "LOGIN_TIMEOUT", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_LIMIT_EXCEEDED, "LIMIT_EXCEEDED", RELINK_CONDITION_TRANSIENT},
        {RELINK_E_INVALID_TOKEN, "INVALID_TOKEN", RELINK_CONDITION_FATAL},
        {RELINK_E_TOKEN_EXPIRED, "TOKEN_EXPIRED", RELINK_CONDITION_FATAL},
        {RELINK_E_INVALID_APP_ID, "INVALID_APP_ID", RELINK_CONDITION_FATAL},
        {RELINK_E_BANNED_BY_SERVER, "BANNED_BY_SERVER", RELINK_CONDITION_FATAL},
        {RELINK_E_REMOTE_LOGIN, "REMOTE_LOGIN", RELINK_CONDITION_FATAL},
        {RELINK_E_REJECTED_BY_SERVER, "REJECTED_BY_SERVER", RELINK_CONDITION_FATAL},
        {RELINK_E_LOGIN_FAILURE, "LOGIN_FAILURE", RELINK_CONDITION_FATAL},
        {RELINK_E_PEER_OFFLINE, "PEER_OFFLINE", RELINK_CONDITION_FATAL},
        {RELINK_E_GAVE_UP, "GAVE_UP", RELINK_CONDITION_FATAL},
        {RELINK_E_PROTOCOL_ERROR, "PROTOCOL_ERROR", RELINK_CONDITION_FATAL},
        {RELINK_E_RECOVERY_EXPIRED, "RECOVERY_EXPIRED", RELINK_CONDITION_FATAL},
        {RELINK_E_RECOVERY_USED, "RECOVERY_USED", RELINK_CONDITION_FATAL},
        {RELINK_E_RECOVERY_INVALID, "RECOVERY_INVALID", RELINK_CONDITION_FATAL},
        {RELINK_E_RECOVERY_WRONG_USER, "RECOVERY_WRONG_USER", RELINK_CONDITION_FATAL},
        {RELINK_E_LOGGED_OUT, "LOGGED_OUT", RELINK_CONDITION_CANCELLED},
        {RELINK_E_SESSION_ABORTED, "SESSION_ABORTED", RELINK_CONDITION_CANCELLED},
        {RELINK_E_SESSION_FAILED, "SESSION_FAILED", RELINK_CONDITION_CANCELLED},
        {RELINK_E_CHANNEL_LEFT, "CHANNEL_LEFT", RELINK_CONDITION_CANCELLED},
        {RELINK_E_INTERNAL, "INTERNAL", RELINK_CONDITION_NONE}};
    std::set<std::string> messages;
    for (const auto& e : errors) {
        EXPECT_STREQ(relink_error_name(e.code), e.name);
        EXPECT_EQ(relink_error_condition(e.code), e.condition) << e.name;
        const char* message = relink_error_message(e.code);
        ASSERT_NE(message, nullptr);
        EXPECT_GT(std::strlen(message), 5u) << e.name;
        EXPECT_TRUE(messages.insert(message).second) << "two codes share the message \"" << message << "\"";
        EXPECT_EQ(relink_error_message(e.code), message) << "messages are static: the same pointer every time";
    }
    for (int bad : {10, 19, 28, 54, 64, 98, 100, -3}) {
        EXPECT_STREQ(relink_error_name(bad), "UNKNOWN") << bad;
        EXPECT_EQ(relink_error_condition(bad), RELINK_CONDITION_NONE) << bad;
        EXPECT_STREQ(relink_error_message(bad), "unknown error code") << bad;
    }
}

TEST(CApiNames, VersionsAndInputRules) {
    EXPECT_EQ(relink_abi_version(), RELINK_ABI_VERSION);
    EXPECT_NE(std::strchr(relink_version(), '.'), nullptr);
    EXPECT_EQ(relink_is_valid_channel_name("lobby"), 1);
    EXPECT_EQ(relink_is_valid_channel_name(""), 0);
    EXPECT_EQ(relink_is_valid_channel_name("a/b"), 0);
    EXPECT_EQ(relink_is_valid_channel_name(std::string(65, 'a').c_str()), 0);
    EXPECT_EQ(relink_is_valid_channel_name(nullptr), 0);
    EXPECT_EQ(relink_is_valid_user_id("alice"), 1);
    EXPECT_EQ(relink_is_valid_user_id(" alice"), 0);
    EXPECT_EQ(relink_is_valid_user_id(nullptr), 0);
}

/// A config that would work, but for the server: every field set.
relink_config* working_config() {
    relink_config* config = relink_config_new();
    EXPECT_NE(config, nullptr);
    EXPECT_EQ(relink_config_set_url(config, "wss://127.0.0.1:1/"), RELINK_OK);
    EXPECT_EQ(relink_config_set_app_id(config, "app"), RELINK_OK);
    EXPECT_EQ(relink_config_set_user_id(config, "alice"), RELINK_OK);
    EXPECT_EQ(relink_config_set_token(config, "token"), RELINK_OK);
    EXPECT_EQ(relink_config_set_tls_use_system_store(config, 0), RELINK_OK);
    EXPECT_EQ(relink_config_set_log_level(config, RELINK_LOG_OFF), RELINK_OK);
    return config;
}

/// relink_client_new()'s answer and message for a config.
std::pair<int, std::string> make_client(const relink_config* config) {
    char why[512];
    std::memset(why, 'x', sizeof why);
    relink_client* client = reinterpret_cast<relink_client*>(&why);  // must be overwritten
    const int error = relink_client_new(config, &client, why, sizeof why);
    if (error == RELINK_OK) {
        EXPECT_NE(client, nullptr);
        EXPECT_STREQ(why, "");
        relink_client_free(client);
    } else {
        EXPECT_EQ(client, nullptr);
    }
    return {error, why};
}

TEST(CApiConfig, ValidationErrorsNameTheField) {
    {
        relink_config* config = working_config();
        EXPECT_EQ(make_client(config).first, RELINK_OK);
        relink_config_free(config);
    }
    struct Case {
        std::function<void(relink_config*)> spoil;
        const char* message_start;
    };
    const std::vector<Case> cases{
        {[](relink_config* c) { relink_config_set_url(c, "not a url"); }, "url: "},
        {[](relink_config* c) { relink_config_set_url(c, "https://example.com/"); }, "url: "},
        {[](relink_config* c) { relink_config_set_url(c, "ws://127.0.0.1:1/"); }, "url: "},
        {[](relink_config* c) { relink_config_set_url(c, ""); }, "url: empty"},
        {[](relink_config* c) { relink_config_set_app_id(c, ""); }, "app_id: "},
        {[](relink_config* c) { relink_config_set_user_id(c, ""); }, "user_id: "},
        {[](relink_config* c) { relink_config_set_user_id(c, " alice"); }, "user_id: "},
        {[](relink_config* c) { relink_config_set_token(c, ""); }, "token"},
        {[](relink_config* c) { relink_config_set_tls_ca_file(c, "/nonexistent/ca.pem"); }, "tls.ca_file: "},
        {[](relink_config* c) { relink_config_set_proxy(c, "", 0); }, "proxy"},
        {[](relink_config* c) { relink_config_set_timing_ms(c, RELINK_TIMING_LOGIN_TIMEOUT, 0); }, "timings"},
        // Probes 0 ms apart would hammer a server that is down: the value reaches the field the check refuses.
        {[](relink_config* c) { relink_config_set_timing_ms(c, RELINK_TIMING_RETRY_PROBE_INTERVAL, 0); }, "timings"},
    };
    for (const auto& c : cases) {
        relink_config* config = working_config();
        c.spoil(config);
        const auto [error, message] = make_client(config);
        EXPECT_EQ(error, RELINK_E_INVALID_ARGUMENT) << message;
        EXPECT_EQ(message.rfind(c.message_start, 0), 0u)
            << "\"" << message << "\" should start with \"" << c.message_start << "\"";
        relink_config_free(config);
    }
    // ws:// works once plaintext is allowed.
    relink_config* config = working_config();
    relink_config_set_url(config, "ws://127.0.0.1:1/");
    relink_config_set_allow_plaintext(config, 1);
    EXPECT_EQ(make_client(config).first, RELINK_OK);
    // A token provider stands in for the token.
    relink_config_set_token(config, "");
    relink_config_set_token_provider(
        config, [](void*, char*, size_t) -> size_t { return 0; }, nullptr);
    EXPECT_EQ(make_client(config).first, RELINK_OK);
    relink_config_free(config);
}

TEST(CApiConfig, TheErrorBufferIsTruncatedWithItsNul) {
    relink_config* config = working_config();
    relink_config_set_user_id(config, "");
    relink_client* client = nullptr;
    char small[8];
    std::memset(small, 'x', sizeof small);
    EXPECT_EQ(relink_client_new(config, &client, small, sizeof small), RELINK_E_INVALID_ARGUMENT);
    EXPECT_STREQ(small, "user_id");  // 7 bytes and the NUL
    char one[1] = {'x'};
    EXPECT_EQ(relink_client_new(config, &client, one, sizeof one), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(one[0], '\0');
    EXPECT_EQ(relink_client_new(config, &client, nullptr, 0), RELINK_E_INVALID_ARGUMENT);  // no buffer: fine
    EXPECT_EQ(relink_client_new(nullptr, &client, small, sizeof small), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_new(config, nullptr, nullptr, 0), RELINK_E_INVALID_ARGUMENT);
    relink_config_free(config);
}

TEST(CApiConfig, SettersRefuseNullAndOutOfRange) {
    relink_config* config = relink_config_new();
    ASSERT_NE(config, nullptr);
    EXPECT_EQ(relink_config_set_url(config, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_app_id(config, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_user_id(config, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_token(config, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_profile(config, -1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_profile(config, 4), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_profile(config, RELINK_PROFILE_ROOM), RELINK_OK);
    EXPECT_EQ(relink_config_set_time_scale(config, 0), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_time_scale(config, -1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_time_scale(config, 0.5), RELINK_OK);
    EXPECT_EQ(relink_config_set_log_level(config, 6), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_timing_ms(config, -1, 10), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_timing_ms(config, RELINK_TIMING_RETRY_PROBE_WINDOW + 1, 10), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_timing_ms(config, RELINK_TIMING_RETRY_PROBE_WINDOW, 0), RELINK_OK);  // 0 = no probes
    EXPECT_EQ(relink_config_set_timing_ms(config, RELINK_TIMING_LOST_AFTER, -1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_timing_ms(config, RELINK_TIMING_LOST_AFTER, 0), RELINK_OK);
    EXPECT_EQ(relink_config_set_backoff_shape(config, 0.5, 0.2), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_backoff_shape(config, 1.5, 1.0), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_backoff_shape(config, 1.5, 0.1), RELINK_OK);
    EXPECT_EQ(relink_config_set_tls_ca_file(config, nullptr), RELINK_OK);  // NULL: none
    EXPECT_EQ(relink_config_set_proxy(config, nullptr, 0), RELINK_OK);     // NULL: connect directly
    // Every setter refuses a NULL config.
    EXPECT_EQ(relink_config_set_url(nullptr, "wss://x/"), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_allow_plaintext(nullptr, 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_profile(nullptr, 0), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_time_scale(nullptr, 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_tls_verify_peer(nullptr, 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_tls_ca_file(nullptr, "x"), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_tls_ca_directory(nullptr, "x"), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_tls_use_system_store(nullptr, 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_proxy(nullptr, "h", 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_log_level(nullptr, 0), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_log_callback(nullptr, nullptr, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_max_queued_operations(nullptr, 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_seed(nullptr, 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_token_provider(nullptr, nullptr, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_event_callback(nullptr, nullptr, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_timing_ms(nullptr, 0, 1), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_backoff_shape(nullptr, 1, 0), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_config_set_backfill_count(nullptr, 1), RELINK_E_INVALID_ARGUMENT);
    relink_config_free(config);
    relink_config_free(nullptr);
}

TEST(CApiConfig, TimingOverridesApplyWhicheverOrderTheProfileIsSet) {
    // rtc has a LOST tier; overriding it to 0 (never) before choosing the profile must still hold. Checked through
    // the client's acceptance: an override of login_timeout to 0 is refused whether set before or after the profile.
    for (bool profile_first : {true, false}) {
        relink_config* config = working_config();
        if (profile_first) {
            relink_config_set_profile(config, RELINK_PROFILE_RTC);
        }
        relink_config_set_timing_ms(config, RELINK_TIMING_LOGIN_TIMEOUT, 0);
        if (!profile_first) {
            relink_config_set_profile(config, RELINK_PROFILE_RTC);
        }
        EXPECT_EQ(make_client(config).first, RELINK_E_INVALID_ARGUMENT) << profile_first;
        relink_config_set_timing_ms(config, RELINK_TIMING_LOGIN_TIMEOUT, 5000);
        EXPECT_EQ(make_client(config).first, RELINK_OK) << profile_first;
        relink_config_free(config);
    }
}

TEST(CApiNull, NullHandlesAreInvalidArgumentNeverACrash) {
    std::uint64_t op = 42;
    int state = 42;
    relink_event* event = reinterpret_cast<relink_event*>(&op);
    relink_status* status = reinterpret_cast<relink_status*>(&op);
    EXPECT_EQ(relink_client_login(nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_logout(nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_join(nullptr, "c"), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_leave(nullptr, "c"), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_switch_channel(nullptr, "a", "b"), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_send_peer_message(nullptr, "bob", "x", 1, 0, &op), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(op, 0u);
    op = 42;
    EXPECT_EQ(relink_client_send_channel_message(nullptr, "c", "x", 1, &op), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(op, 0u);
    EXPECT_EQ(relink_client_publish(nullptr, "c", "s", nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_unpublish(nullptr, "c", "s", nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_set_local_user_attributes(nullptr, nullptr, 0, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_get_user_attributes(nullptr, "bob", nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_renew_token(nullptr, "t", nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_notify_network_changed(nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_set_proxy(nullptr, nullptr, 0), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_next_event(nullptr, 0, &event), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(event, nullptr);
    EXPECT_EQ(relink_client_connection_state(nullptr), 0);
    EXPECT_EQ(relink_client_channel_state(nullptr, "c", &state), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(state, 42);
    EXPECT_EQ(relink_client_status(nullptr, &status), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(status, nullptr);
    relink_client_free(nullptr);
    relink_event_free(nullptr);
    relink_status_free(nullptr);

    // NULL arguments of a real client.
    relink_config* config = working_config();
    relink_client* client = nullptr;
    ASSERT_EQ(relink_client_new(config, &client, nullptr, 0), RELINK_OK);
    relink_config_free(config);
    EXPECT_EQ(relink_client_join(client, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_leave(client, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_switch_channel(client, "a", nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_send_peer_message(client, nullptr, "x", 1, 0, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_send_peer_message(client, "bob", nullptr, 1, 0, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_send_peer_message(client, "bob", "x", 1, 8u, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_send_channel_message(client, nullptr, "x", 1, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_publish(client, "c", nullptr, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_set_local_user_attributes(client, nullptr, 1, nullptr), RELINK_E_INVALID_ARGUMENT);
    const relink_attribute half[] = {{"name", nullptr}};
    EXPECT_EQ(relink_client_set_local_user_attributes(client, half, 1, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_get_user_attributes(client, nullptr, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_renew_token(client, nullptr, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_next_event(client, 0, nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_channel_state(client, nullptr, &state), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_channel_state(client, "c", nullptr), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(relink_client_status(client, nullptr), RELINK_E_INVALID_ARGUMENT);
    // The core's own answers pass through with their numbers.
    EXPECT_EQ(relink_client_logout(client), RELINK_E_NOT_LOGGED_IN);
    EXPECT_EQ(relink_client_send_channel_message(client, "c", "x", 1, &op), RELINK_E_NOT_LOGGED_IN);
    EXPECT_EQ(op, 0u);
    EXPECT_EQ(relink_client_channel_state(client, "c", &state), RELINK_E_NOT_JOINED);
    EXPECT_EQ(relink_client_connection_state(client), RELINK_STATE_DISCONNECTED);
    relink_client_free(client);
}

TEST(CApiQueue, NextEventTimesOutWithNullAndACallbackClientHasNoQueue) {
    relink_config* config = working_config();
    relink_client* client = nullptr;
    ASSERT_EQ(relink_client_new(config, &client, nullptr, 0), RELINK_OK);
    relink_event* event = reinterpret_cast<relink_event*>(config);
    const auto start = Clock::now();
    EXPECT_EQ(relink_client_next_event(client, 150, &event), RELINK_OK);
    const auto waited = Clock::now() - start;
    EXPECT_EQ(event, nullptr);
    EXPECT_GE(waited, 140ms);
    EXPECT_LT(waited, 5s);
    EXPECT_EQ(relink_client_next_event(client, 0, &event), RELINK_OK);
    EXPECT_EQ(event, nullptr);
    relink_client_free(client);

    Log log;
    relink_config_set_event_callback(config, &Log::callback, &log);
    ASSERT_EQ(relink_client_new(config, &client, nullptr, 0), RELINK_OK);
    EXPECT_EQ(relink_client_next_event(client, 0, &event), RELINK_E_INVALID_ARGUMENT);
    relink_client_free(client);
    relink_config_free(config);
}

TEST(CApiQueue, EventsStillQueuedAreFreedWithTheClient) {
    // Nothing listens on port 1: the login's attempts fail (ATTEMPT_FAILED REFUSED) and queue up; the client is
    // freed without taking them (the leak checker of the asan build would see any left behind). At the real time
    // scale: the login timeout (12 s) must not end the login before its second attempt, even in a sanitizer build.
    relink_config* config = working_config();
    relink_client* client = nullptr;
    ASSERT_EQ(relink_client_new(config, &client, nullptr, 0), RELINK_OK);
    relink_config_free(config);
    const std::unique_ptr<relink_client, void (*)(relink_client*)> owner(client, &relink_client_free);
    ASSERT_EQ(relink_client_login(client), RELINK_OK);
    const auto failed = next_matching(client, [](const Seen& e) { return e.type == RELINK_EVENT_ATTEMPT_FAILED; });
    ASSERT_TRUE(failed);
    const auto second = next_matching(client, [](const Seen& e) { return e.type == RELINK_EVENT_ATTEMPT_FAILED; });
    ASSERT_TRUE(second);
    relink_status* status = nullptr;
    ASSERT_EQ(relink_client_status(client, &status), RELINK_OK);
    EXPECT_EQ(status->state, RELINK_STATE_CONNECTING);
    EXPECT_EQ(status->has_last_failure, 1);
    EXPECT_EQ(status->failure_cause, RELINK_ATTEMPT_REFUSED);
    ASSERT_NE(status->failure_detail, nullptr);
    EXPECT_NE(std::string(status->failure_detail).find("127.0.0.1"), std::string::npos) << status->failure_detail;
    relink_status_free(status);
}

// A refused attempt ends with ATTEMPT_FINISHED right after its ATTEMPT_FAILED: not connected, the same cause, the
// steps it did not reach -1 (nothing listens on port 1: no TCP connection, so no TLS, WebSocket or login).
TEST(CApiQueue, ARefusedAttemptFinishesWithItsCauseAndNoStepsBeyondTheFailure) {
    relink_config* config = working_config();
    relink_client* client = nullptr;
    ASSERT_EQ(relink_client_new(config, &client, nullptr, 0), RELINK_OK);
    relink_config_free(config);
    const std::unique_ptr<relink_client, void (*)(relink_client*)> owner(client, &relink_client_free);
    ASSERT_EQ(relink_client_login(client), RELINK_OK);
    std::vector<Seen> seen;
    const auto finished = next_matching(
        client, [](const Seen& e) { return e.type == RELINK_EVENT_ATTEMPT_FINISHED; }, &seen);
    ASSERT_TRUE(finished);
    ASSERT_GE(seen.size(), 2u);
    const Seen& failed = seen[seen.size() - 2];
    EXPECT_EQ(failed.type, RELINK_EVENT_ATTEMPT_FAILED);
    EXPECT_EQ(finished->attempt, 1u);
    EXPECT_EQ(failed.attempt, 1u);
    EXPECT_EQ(finished->attempt_connected, 0);
    EXPECT_EQ(finished->resumed, 0);
    EXPECT_EQ(finished->failure_cause, failed.failure_cause);
    // A sanitizer build on a busy machine may run out of the attempt's time before the refusal is seen.
    EXPECT_TRUE(finished->failure_cause == RELINK_ATTEMPT_REFUSED || finished->failure_cause == RELINK_ATTEMPT_TIMEOUT)
        << relink_attempt_failure_name(finished->failure_cause);
    EXPECT_GE(finished->attempt_total_us, 0);
    EXPECT_GE(finished->attempt_dns_us, 0);  // an address: resolved at once
    EXPECT_EQ(finished->attempt_proxy_us, -1);
    EXPECT_EQ(finished->attempt_tcp_us, -1);
    EXPECT_EQ(finished->attempt_tls_us, -1);
    EXPECT_EQ(finished->attempt_websocket_us, -1);
    EXPECT_EQ(finished->attempt_login_us, -1);
    EXPECT_EQ(finished->attempt_tls_resumed, 0);

    // The failure is counted in the metrics, labelled with its cause.
    std::size_t needed = 0;
    ASSERT_EQ(relink_client_metrics_prometheus(client, nullptr, nullptr, nullptr, 0, &needed),
              RELINK_E_INVALID_ARGUMENT);
    std::vector<char> text(needed + 4096);
    ASSERT_EQ(relink_client_metrics_prometheus(client, nullptr, nullptr, text.data(), text.size(), &needed), RELINK_OK);
    const std::string page(text.data());
    EXPECT_EQ(page.size() + 1, needed);
    const std::string cause = relink_attempt_failure_name(finished->failure_cause);
    EXPECT_EQ(page.find("relink_client_attempts_failed_total{cause=\"" + cause + "\"} 0\n"), std::string::npos) << page;
    EXPECT_NE(page.find("relink_client_attempts_failed_total{cause=\"" + cause + "\"} "), std::string::npos) << page;
}

TEST(CApiMetrics, ThePrometheusTextTellsItsSizeAndIsWrittenOnlyWhole) {
    relink_config* config = working_config();
    relink_client* client = nullptr;
    ASSERT_EQ(relink_client_new(config, &client, nullptr, 0), RELINK_OK);
    relink_config_free(config);
    const std::unique_ptr<relink_client, void (*)(relink_client*)> owner(client, &relink_client_free);

    // NULL arguments: INVALID_ARGUMENT, *needed 0.
    char small[16] = "untouched";
    std::size_t needed = 42;
    EXPECT_EQ(relink_client_metrics_prometheus(nullptr, nullptr, nullptr, small, sizeof small, &needed),
              RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(needed, 0u);
    EXPECT_EQ(relink_client_metrics_prometheus(client, nullptr, nullptr, small, sizeof small, nullptr),
              RELINK_E_INVALID_ARGUMENT);
    needed = 42;
    EXPECT_EQ(relink_client_metrics_prometheus(client, nullptr, nullptr, nullptr, 10, &needed),
              RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(needed, 0u);

    // The size alone (no buffer), then a buffer too small: the size with its NUL, and "" rather than a part.
    needed = 0;
    EXPECT_EQ(relink_client_metrics_prometheus(client, nullptr, nullptr, nullptr, 0, &needed),
              RELINK_E_INVALID_ARGUMENT);
    const std::size_t size = needed;
    EXPECT_GT(size, 1000u);
    EXPECT_EQ(relink_client_metrics_prometheus(client, nullptr, nullptr, small, sizeof small, &needed),
              RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(needed, size);
    EXPECT_STREQ(small, "");

    // Exactly the size: the whole text, NUL-terminated. Nothing has happened yet: every counter is 0.
    std::vector<char> text(size, 'x');
    ASSERT_EQ(relink_client_metrics_prometheus(client, nullptr, nullptr, text.data(), text.size(), &needed), RELINK_OK);
    EXPECT_EQ(needed, size);
    EXPECT_EQ(text.back(), '\0');
    const std::string page(text.data());
    EXPECT_EQ(page.size() + 1, size);
    EXPECT_NE(page.find("# TYPE relink_client_attempts_total counter\nrelink_client_attempts_total 0\n"),
              std::string::npos)
        << page;
    EXPECT_NE(page.find("relink_client_attempt_seconds_bucket{le=\"0.05\"} 0\n"), std::string::npos) << page;

    // A prefix and labels of the app's.
    std::vector<char> labelled(size * 2);
    ASSERT_EQ(relink_client_metrics_prometheus(client, "chat_relink", "region=\"eu\"", labelled.data(), labelled.size(),
                                               &needed),
              RELINK_OK);
    const std::string custom(labelled.data());
    EXPECT_NE(custom.find("chat_relink_attempts_failed_total{cause=\"TLS\",region=\"eu\"} 0\n"), std::string::npos)
        << custom;
    EXPECT_EQ(custom.find("relink_client_"), std::string::npos);
}

// ----------------------------------------------------------------------------------------- with a server

class CApiClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (std::filesystem::temp_directory_path() / "relink-capi-test-XXXXXX").string();
        const char* made = mkdtemp(pattern.data());
        ASSERT_NE(made, nullptr);
        dir_ = made;
        // Rate limits far above what the tests send: they test the C API, not the limits.
        server_ = Relinkd::start(dir_, {"--log-level", "warn", "--limit", "messages-per-second=1000000", "--limit",
                                        "message-burst=1000000"});
        ASSERT_TRUE(server_) << "relinkd did not start";
    }
    void TearDown() override {
        if (server_) {
            EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
        }
        std::filesystem::remove_all(dir_);
    }

    /// A config for `user` of the test's relinkd (TLS with its certificate), time scale 0.1, no logging; events to
    /// `log` (callback mode) or queued (log NULL).
    relink_config* config(const std::string& user, Log* log = nullptr) const {
        relink_config* c = relink_config_new();
        EXPECT_EQ(relink_config_set_url(c, server_->url().c_str()), RELINK_OK);
        EXPECT_EQ(relink_config_set_app_id(c, "app"), RELINK_OK);
        EXPECT_EQ(relink_config_set_user_id(c, user.c_str()), RELINK_OK);
        EXPECT_EQ(relink_config_set_token(c, mint(user).c_str()), RELINK_OK);
        EXPECT_EQ(relink_config_set_tls_ca_file(c, server_->ca_file().c_str()), RELINK_OK);
        EXPECT_EQ(relink_config_set_tls_use_system_store(c, 0), RELINK_OK);
        EXPECT_EQ(relink_config_set_time_scale(c, 0.1), RELINK_OK);
        EXPECT_EQ(relink_config_set_log_level(c, RELINK_LOG_OFF), RELINK_OK);
        if (log != nullptr) {
            EXPECT_EQ(relink_config_set_event_callback(c, &Log::callback, log), RELINK_OK);
        }
        return c;
    }

    relink_client* client(const std::string& user, Log* log = nullptr) const {
        relink_config* c = config(user, log);
        relink_client* made = nullptr;
        char why[256];
        EXPECT_EQ(relink_client_new(c, &made, why, sizeof why), RELINK_OK) << why;
        relink_config_free(c);
        return made;
    }

    std::filesystem::path dir_;
    std::unique_ptr<Relinkd> server_;
};

TEST_F(CApiClientTest, LoginJoinAndMessagesInQueueModeArriveInOrder) {
    relink_client* alice = client("alice");
    relink_client* bob = client("bob");
    ASSERT_TRUE(alice && bob);
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    EXPECT_EQ(relink_client_login(alice), RELINK_E_ALREADY_LOGGED_IN);
    ASSERT_EQ(relink_client_join(alice, "lobby"), RELINK_OK);
    std::vector<Seen> seen;
    const auto connected = next_matching(
        alice, [](const Seen& e) { return is_state(e, RELINK_STATE_CONNECTED); }, &seen);
    ASSERT_TRUE(connected);
    EXPECT_EQ(connected->previous_state, RELINK_STATE_CONNECTING);
    EXPECT_EQ(connected->reason, RELINK_REASON_LOGIN_SUCCESS);
    EXPECT_EQ(connected->has_timings, 1);
    ASSERT_GE(seen.size(), 2u);
    EXPECT_TRUE(is_state(seen.front(), RELINK_STATE_CONNECTING));
    EXPECT_EQ(seen.front().reason, RELINK_REASON_LOGIN);
    EXPECT_EQ(seen.front().seq, 1u);
    EXPECT_EQ(connected->seq, 2u);
    ASSERT_TRUE(next_matching(alice, [](const Seen& e) {
        return e.type == RELINK_EVENT_CHANNEL_STATE_CHANGED && e.channel == "lobby" &&
               e.channel_reason == RELINK_CHANNEL_REASON_JOINED;
    }));
    int channel_state = -1;
    EXPECT_EQ(relink_client_channel_state(alice, "lobby", &channel_state), RELINK_OK);
    EXPECT_EQ(channel_state, RELINK_CHANNEL_CONNECTED);

    ASSERT_EQ(relink_client_login(bob), RELINK_OK);
    ASSERT_EQ(relink_client_join(bob, "lobby"), RELINK_OK);
    ASSERT_TRUE(next_matching(bob, [](const Seen& e) {
        return e.type == RELINK_EVENT_CHANNEL_STATE_CHANGED && e.channel_reason == RELINK_CHANNEL_REASON_JOINED;
    }));
    ASSERT_TRUE(next_matching(alice, [](const Seen& e) {
        return e.type == RELINK_EVENT_MEMBER_JOINED && e.user_id == "bob" && e.channel == "lobby";
    }));

    // Five channel messages and a peer message with a NUL inside: in order, once each, byte for byte.
    std::vector<std::uint64_t> ops;
    for (int i = 0; i < 5; ++i) {
        const std::string text = "message " + std::to_string(i);
        std::uint64_t op = 0;
        ASSERT_EQ(relink_client_send_channel_message(bob, "lobby", text.data(), text.size(), &op), RELINK_OK);
        ops.push_back(op);
    }
    const std::string binary("a\0b", 3);
    std::uint64_t peer_op = 0;
    ASSERT_EQ(relink_client_send_peer_message(bob, "alice", binary.data(), binary.size(), 0, &peer_op), RELINK_OK);
    EXPECT_EQ(ops, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
    EXPECT_EQ(peer_op, 6u);
    std::vector<Seen> received;
    for (int i = 0; i < 6; ++i) {
        const auto message = next_matching(alice, [](const Seen& e) { return e.type == RELINK_EVENT_MESSAGE; });
        ASSERT_TRUE(message) << i;
        received.push_back(*message);
    }
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(received[i].payload, "message " + std::to_string(i));
        EXPECT_EQ(received[i].channel, "lobby");
        EXPECT_EQ(received[i].from, "bob");
    }
    EXPECT_EQ(received[5].payload, binary);
    EXPECT_EQ(received[5].channel, "");  // a peer message has no channel
    std::map<std::uint64_t, int> completed;
    while (completed.size() < 6) {
        const auto done = next_matching(bob, [](const Seen& e) { return e.type == RELINK_EVENT_OPERATION_COMPLETED; });
        ASSERT_TRUE(done);
        EXPECT_EQ(done->error, RELINK_OK);
        EXPECT_EQ(done->op_kind, done->op == 6 ? RELINK_OP_PEER_MESSAGE : RELINK_OP_CHANNEL_MESSAGE);
        ++completed[done->op];
    }
    EXPECT_EQ(completed, (std::map<std::uint64_t, int>{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1}}));

    EXPECT_EQ(relink_client_logout(alice), RELINK_OK);
    ASSERT_TRUE(next_matching(alice, [](const Seen& e) { return is_state(e, RELINK_STATE_DISCONNECTED); }));
    relink_client_free(alice);
    relink_client_free(bob);
}

// The link's quality: a LINK_QUALITY_CHANGED event with the first round trip, the same fields in relink_status, and
// relink_client_notify_foreground() on a live link changes no state.
TEST_F(CApiClientTest, LinkQualityArrivesAsAnEventAndInTheStatus) {
    relink_config* c = config("alice");
    relink_client* alice = nullptr;
    ASSERT_EQ(relink_client_new(c, &alice, nullptr, 0), RELINK_OK);
    relink_config_free(c);
    const std::unique_ptr<relink_client, void (*)(relink_client*)> owner(alice, &relink_client_free);
    relink_status* status = nullptr;
    ASSERT_EQ(relink_client_status(alice, &status), RELINK_OK);
    EXPECT_EQ(status->link_up, 0);
    EXPECT_EQ(status->link_rtt_samples, 0U);
    EXPECT_EQ(status->link_since_last_data_ms, -1);
    relink_status_free(status);
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    const auto quality =
        next_matching(alice, [](const Seen& e) { return e.type == RELINK_EVENT_LINK_QUALITY_CHANGED; });
    ASSERT_TRUE(quality);
    EXPECT_EQ(quality->link_up, 1);
    EXPECT_EQ(quality->link_rtt_samples, 1U);
    EXPECT_GT(quality->link_rtt_us, 0);
    EXPECT_EQ(quality->link_rtt_var_us, quality->link_rtt_us / 2);
    EXPECT_GE(quality->link_since_last_data_ms, 0);
    ASSERT_EQ(relink_client_status(alice, &status), RELINK_OK);
    EXPECT_EQ(status->link_up, 1);
    EXPECT_GE(status->link_rtt_samples, 1U);
    EXPECT_GT(status->link_rtt_us, 0);
    EXPECT_GE(status->link_since_last_data_ms, 0);
    relink_status_free(status);
    EXPECT_EQ(relink_client_notify_foreground(nullptr), RELINK_E_INVALID_ARGUMENT);
    ASSERT_EQ(relink_client_notify_foreground(alice), RELINK_OK);
    EXPECT_EQ(relink_client_connection_state(alice), RELINK_STATE_CONNECTED);
}

// A login's attempt: ATTEMPT_FINISHED before CONNECTED, connected, with the TCP, TLS, WebSocket and login steps
// timed and no proxy; then counted in the metrics.
TEST_F(CApiClientTest, ALoginsAttemptFinishesWithEveryStepTimed) {
    relink_client* alice = client("alice");
    ASSERT_TRUE(alice);
    const std::unique_ptr<relink_client, void (*)(relink_client*)> owner(alice, &relink_client_free);
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    std::vector<Seen> seen;
    ASSERT_TRUE(next_matching(
        alice, [](const Seen& e) { return is_state(e, RELINK_STATE_CONNECTED); }, &seen));
    const auto finished =
        std::find_if(seen.begin(), seen.end(), [](const Seen& e) { return e.type == RELINK_EVENT_ATTEMPT_FINISHED; });
    ASSERT_NE(finished, seen.end()) << "no ATTEMPT_FINISHED before CONNECTED";
    EXPECT_EQ(finished->attempt, 1u);
    EXPECT_EQ(finished->attempt_connected, 1);
    EXPECT_EQ(finished->resumed, 0);
    EXPECT_EQ(finished->failure_cause, 0);
    EXPECT_GE(finished->attempt_dns_us, 0);
    EXPECT_EQ(finished->attempt_proxy_us, -1);
    EXPECT_GE(finished->attempt_tcp_us, 0);
    EXPECT_GT(finished->attempt_tls_us, 0);
    EXPECT_GE(finished->attempt_websocket_us, 0);
    EXPECT_GT(finished->attempt_login_us, 0);
    EXPECT_EQ(finished->attempt_tls_resumed, 0);
    EXPECT_GT(finished->attempt_total_us, finished->attempt_login_us);  // both on the core's clock

    std::vector<char> text(1 << 16);
    std::size_t needed = 0;
    ASSERT_EQ(relink_client_metrics_prometheus(alice, nullptr, nullptr, text.data(), text.size(), &needed), RELINK_OK);
    const std::string page(text.data());
    EXPECT_NE(page.find("relink_client_attempts_total 1\n"), std::string::npos) << page;
    EXPECT_NE(page.find("relink_client_attempts_connected_total 1\n"), std::string::npos) << page;
    EXPECT_NE(page.find("relink_client_tls_seconds_count 1\n"), std::string::npos) << page;
}

TEST_F(CApiClientTest, AttributesPublishAndRenewCompleteWithTheirKinds) {
    Log alice_log;
    Log bob_log;
    relink_client* alice = client("alice", &alice_log);
    relink_client* bob = client("bob", &bob_log);
    ASSERT_TRUE(alice && bob);
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    ASSERT_EQ(relink_client_login(bob), RELINK_OK);
    ASSERT_TRUE(alice_log.wait_state(RELINK_STATE_CONNECTED));
    ASSERT_TRUE(bob_log.wait_state(RELINK_STATE_CONNECTED));
    const relink_attribute attributes[] = {{"mood", "happy"}, {"city", "Lyon"}};
    std::uint64_t set_op = 0;
    ASSERT_EQ(relink_client_set_local_user_attributes(alice, attributes, 2, &set_op), RELINK_OK);
    const auto completed = [](Log& log, std::uint64_t op) {
        std::optional<Seen> found;
        log.wait([&](const std::vector<Seen>& events) {
            for (const auto& e : events) {
                if (e.type == RELINK_EVENT_OPERATION_COMPLETED && e.op == op) {
                    found = e;
                    return true;
                }
            }
            return false;
        });
        return found;
    };
    const auto set_done = completed(alice_log, set_op);
    ASSERT_TRUE(set_done);
    EXPECT_EQ(set_done->op_kind, RELINK_OP_SET_ATTRIBUTES);
    EXPECT_EQ(set_done->error, RELINK_OK);

    std::uint64_t get_op = 0;
    ASSERT_EQ(relink_client_get_user_attributes(bob, "alice", &get_op), RELINK_OK);
    const auto got = completed(bob_log, get_op);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->op_kind, RELINK_OP_GET_ATTRIBUTES);
    EXPECT_EQ(got->error, RELINK_OK);
    EXPECT_EQ(got->attributes, (std::map<std::string, std::string>{{"mood", "happy"}, {"city", "Lyon"}}));

    std::uint64_t offline_op = 0;
    ASSERT_EQ(relink_client_get_user_attributes(bob, "nobody", &offline_op), RELINK_OK);
    const auto offline = completed(bob_log, offline_op);
    ASSERT_TRUE(offline);
    EXPECT_EQ(offline->error, RELINK_E_PEER_OFFLINE);
    EXPECT_TRUE(offline->attributes.empty());

    std::uint64_t renew_op = 0;
    ASSERT_EQ(relink_client_renew_token(alice, mint("alice").c_str(), &renew_op), RELINK_OK);
    EXPECT_EQ(renew_op, set_op + 1);
    const auto renewed = completed(alice_log, renew_op);
    ASSERT_TRUE(renewed);
    EXPECT_EQ(renewed->op_kind, RELINK_OP_RENEW_TOKEN);
    EXPECT_EQ(renewed->error, RELINK_OK);

    ASSERT_EQ(relink_client_join(alice, "stage"), RELINK_OK);
    ASSERT_EQ(relink_client_join(bob, "stage"), RELINK_OK);
    ASSERT_TRUE(alice_log.wait_channel("stage", RELINK_CHANNEL_REASON_JOINED));
    ASSERT_TRUE(bob_log.wait_channel("stage", RELINK_CHANNEL_REASON_JOINED));
    std::uint64_t publish_op = 0;
    ASSERT_EQ(relink_client_publish(alice, "stage", "camera", &publish_op), RELINK_OK);
    const auto published = completed(alice_log, publish_op);
    ASSERT_TRUE(published);
    EXPECT_EQ(published->op_kind, RELINK_OP_PUBLISH);
    EXPECT_EQ(published->error, RELINK_OK);
    ASSERT_TRUE(bob_log.wait([](const std::vector<Seen>& events) {
        return std::any_of(events.begin(), events.end(), [](const Seen& e) {
            return e.type == RELINK_EVENT_STREAM_ADDED && e.user_id == "alice" && e.channel == "stage";
        });
    }));
    std::uint64_t unpublish_op = 0;
    ASSERT_EQ(relink_client_unpublish(alice, "stage", "camera", &unpublish_op), RELINK_OK);
    const auto unpublished = completed(alice_log, unpublish_op);
    ASSERT_TRUE(unpublished);
    EXPECT_EQ(unpublished->op_kind, RELINK_OP_UNPUBLISH);
    EXPECT_EQ(relink_client_unpublish(alice, "stage", "camera", &unpublish_op), RELINK_E_INVALID_ARGUMENT);
    EXPECT_EQ(unpublish_op, 0u);
    ASSERT_EQ(relink_client_switch_channel(alice, "stage", "backstage"), RELINK_OK);
    ASSERT_TRUE(alice_log.wait_channel("backstage", RELINK_CHANNEL_REASON_JOINED));
    EXPECT_EQ(relink_client_leave(alice, "stage"), RELINK_E_UNKNOWN_CHANNEL);

    // Every event of a callback client ran on one thread, not the test's.
    const auto events = alice_log.snapshot();
    ASSERT_FALSE(events.empty());
    for (const auto& e : events) {
        EXPECT_EQ(e.thread, events.front().thread);
        EXPECT_NE(e.thread, std::this_thread::get_id());
    }
    relink_client_free(alice);
    relink_client_free(bob);
}

TEST_F(CApiClientTest, LogLinesReachTheLogCallbackNulTerminated) {
    struct Lines {
        std::mutex mutex;
        std::vector<std::string> lines;
        bool bad{false};
    } lines;
    relink_config* c = config("alice");
    relink_config_set_log_level(c, RELINK_LOG_INFO);
    relink_config_set_log_callback(
        c,
        [](void* user_data, int level, const char* line, size_t size) {
            auto* out = static_cast<Lines*>(user_data);
            std::lock_guard lock(out->mutex);
            out->bad = out->bad || std::strlen(line) != size || level < RELINK_LOG_INFO || level > RELINK_LOG_ERROR;
            out->lines.emplace_back(line, size);
        },
        &lines);
    relink_client* alice = nullptr;
    ASSERT_EQ(relink_client_new(c, &alice, nullptr, 0), RELINK_OK);
    relink_config_free(c);
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    ASSERT_TRUE(next_matching(alice, [](const Seen& e) { return is_state(e, RELINK_STATE_CONNECTED); }));
    relink_client_free(alice);
    std::lock_guard lock(lines.mutex);
    EXPECT_FALSE(lines.bad);
    EXPECT_TRUE(std::any_of(lines.lines.begin(), lines.lines.end(),
                            [](const std::string& l) { return l.find("CONNECTED") != std::string::npos; }));
}

TEST_F(CApiClientTest, TheTokenProviderIsAskedAgainWithABufferThatFits) {
    // The login's token expires within the reconnect horizon, so the reconnect that a proxy change starts
    // asks the provider first. Its token is longer than the first buffer (1,024 bytes): a list of channels pads it.
    struct Provider {
        std::string token;
        std::atomic<int> calls{0};
        std::atomic<int> small_buffers{0};
    } provider;
    std::vector<std::string> channels;
    for (int i = 0; i < 30; ++i) {
        channels.push_back("channel-" + std::to_string(i) + "-" + std::string(50, 'c'));
    }
    provider.token = mint("alice", 1h, channels);
    ASSERT_GT(provider.token.size(), 1024u);
    relink_config* c = config("alice");
    relink_config_set_token(c, mint("alice", 2s).c_str());
    relink_config_set_token_provider(
        c,
        [](void* user_data, char* buffer, size_t capacity) -> size_t {
            auto* p = static_cast<Provider*>(user_data);
            ++p->calls;
            if (capacity <= p->token.size()) {
                ++p->small_buffers;
                return p->token.size();
            }
            std::memcpy(buffer, p->token.c_str(), p->token.size() + 1);
            return p->token.size();
        },
        &provider);
    relink_client* alice = nullptr;
    ASSERT_EQ(relink_client_new(c, &alice, nullptr, 0), RELINK_OK);
    relink_config_free(c);
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    ASSERT_TRUE(next_matching(alice, [](const Seen& e) { return is_state(e, RELINK_STATE_CONNECTED); }));
    const int asked_before = provider.calls.load();
    ASSERT_EQ(relink_client_set_proxy(alice, nullptr, 0), RELINK_OK);  // still none, but a reconnect
    ASSERT_TRUE(next_matching(alice, [](const Seen& e) {
        return is_state(e, RELINK_STATE_RECONNECTING) && e.reason == RELINK_REASON_SETTING_PROXY_SERVER;
    }));
    ASSERT_TRUE(next_matching(alice, [](const Seen& e) { return is_state(e, RELINK_STATE_CONNECTED); }));
    relink_client_free(alice);
    EXPECT_GE(provider.calls.load() - asked_before, 2);
    EXPECT_EQ(provider.small_buffers.load() * 2, provider.calls.load())
        << "each ask: a small buffer, then one that fits";
}

TEST_F(CApiClientTest, CallsFromInsideTheCallbackWork) {
    struct Context {
        relink_client* client{nullptr};
        std::vector<int> answers;  // on the dispatcher only, read after it is quiet
        std::uint64_t op{0};
        int state_seen{0};
    } context;
    Log log;
    relink_client* alice = client("alice", &log);
    ASSERT_NE(alice, nullptr);
    context.client = alice;
    log.set_hook([&context](const relink_event& e) {
        if (e.type == RELINK_EVENT_CONNECTION_STATE_CHANGED && e.state == RELINK_STATE_CONNECTED) {
            context.state_seen = relink_client_connection_state(context.client);
            context.answers.push_back(relink_client_join(context.client, "lobby"));
            context.answers.push_back(relink_client_join(context.client, "lobby"));  // ALREADY_JOINED
        }
        if (e.type == RELINK_EVENT_CHANNEL_STATE_CHANGED && e.channel_reason == RELINK_CHANNEL_REASON_JOINED) {
            context.answers.push_back(
                relink_client_send_channel_message(context.client, "lobby", "hi", 2, &context.op));
            relink_status* status = nullptr;
            context.answers.push_back(relink_client_status(context.client, &status));
            relink_status_free(status);
        }
    });
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    ASSERT_TRUE(log.wait([](const std::vector<Seen>& events) {
        return std::any_of(events.begin(), events.end(),
                           [](const Seen& e) { return e.type == RELINK_EVENT_OPERATION_COMPLETED && e.op == 1; });
    }));
    relink_client_free(alice);  // joins the dispatcher: context is quiet now
    EXPECT_EQ(context.state_seen, RELINK_STATE_CONNECTED);
    EXPECT_EQ(context.answers, (std::vector<int>{RELINK_OK, RELINK_E_ALREADY_JOINED, RELINK_OK, RELINK_OK}));
    EXPECT_EQ(context.op, 1u);
}

TEST_F(CApiClientTest, EightThreadsOfMixedCallsCompleteEveryAcceptedOperationExactlyOnce) {
    struct Completions {
        std::mutex mutex;
        std::condition_variable changed;
        std::map<std::uint64_t, int> count;
        std::set<int> kinds;
    } completions;
    relink_config* c = config("alice");
    relink_config_set_event_callback(
        c,
        [](void* user_data, const relink_event* e) {
            if (e->type != RELINK_EVENT_OPERATION_COMPLETED) {
                return;
            }
            auto* out = static_cast<Completions*>(user_data);
            {
                std::lock_guard lock(out->mutex);
                ++out->count[e->op];
                out->kinds.insert(e->op_kind);
            }
            out->changed.notify_all();
        },
        &completions);
    relink_client* alice = nullptr;
    ASSERT_EQ(relink_client_new(c, &alice, nullptr, 0), RELINK_OK);
    relink_config_free(c);
    Log bob_log;
    relink_client* bob = client("bob", &bob_log);
    ASSERT_EQ(relink_client_login(bob), RELINK_OK);
    ASSERT_TRUE(bob_log.wait_state(RELINK_STATE_CONNECTED));
    ASSERT_EQ(relink_client_login(alice), RELINK_OK);
    ASSERT_EQ(relink_client_join(alice, "lobby"), RELINK_OK);
    ASSERT_TRUE(wait_joined(alice, "lobby"));

    constexpr int kThreads = 8;
    constexpr int kCallsEach = 40;
    std::vector<std::vector<std::uint64_t>> accepted(kThreads);
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kCallsEach; ++i) {
                std::uint64_t op = 0;
                int error = RELINK_OK;
                const std::string text = "t" + std::to_string(t) + "-" + std::to_string(i);
                switch ((t + i) % 8) {
                    case 0:
                        error = relink_client_send_channel_message(alice, "lobby", text.data(), text.size(), &op);
                        break;
                    case 1:
                        error = relink_client_send_peer_message(alice, "bob", text.data(), text.size(), 0, &op);
                        break;
                    case 2: {
                        const relink_attribute a[] = {{"n", text.c_str()}};
                        error = relink_client_set_local_user_attributes(alice, a, 1, &op);
                        break;
                    }
                    case 3: error = relink_client_get_user_attributes(alice, "bob", &op); break;
                    case 4: error = relink_client_publish(alice, "lobby", text.c_str(), &op); break;
                    case 5: error = relink_client_send_peer_message(alice, "bad/user", "x", 1, 0, &op); break;
                    case 6: {
                        int state = 0;
                        (void)relink_client_channel_state(alice, "lobby", &state);
                        (void)relink_client_connection_state(alice);
                        error = relink_client_join(alice, "lobby");  // ALREADY_JOINED: no op
                        break;
                    }
                    default: error = relink_client_renew_token(alice, mint("alice").c_str(), &op); break;
                }
                if (op != 0) {
                    EXPECT_EQ(error, RELINK_OK);
                    accepted[t].push_back(op);
                } else {
                    EXPECT_NE(error, RELINK_OK) << "an accepted operation without an id";
                    ++refused;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    std::vector<std::uint64_t> all;
    for (const auto& ids : accepted) {
        all.insert(all.end(), ids.begin(), ids.end());
    }
    std::sort(all.begin(), all.end());
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "an op id was given twice";
    EXPECT_EQ(all.front(), 1u);
    EXPECT_EQ(all.back(), all.size()) << "accepted operations are numbered 1, 2, 3 ... without gaps";
    EXPECT_GT(refused.load(), 0);
    {
        std::unique_lock lock(completions.mutex);
        ASSERT_TRUE(completions.changed.wait_for(lock, 60s, [&] { return completions.count.size() >= all.size(); }))
            << completions.count.size() << " of " << all.size() << " completed";
    }
    relink_client_free(alice);  // after this no callback runs: the counts are final
    relink_client_free(bob);
    EXPECT_EQ(completions.count.size(), all.size());
    for (const auto id : all) {
        EXPECT_EQ(completions.count[id], 1) << "op " << id;
    }
    EXPECT_GE(completions.kinds.size(), 5u);
}

TEST_F(CApiClientTest, FreeFromInsideTheCallbackEndsEveryCallback) {
    struct Context {
        relink_client* client{nullptr};
        std::atomic<bool> freed{false};
        std::atomic<int> after_free{0};
        std::mutex mutex;
        std::condition_variable changed;
    } context;
    relink_config* c = config("alice");
    relink_config_set_event_callback(
        c,
        [](void* user_data, const relink_event* e) {
            auto* ctx = static_cast<Context*>(user_data);
            if (ctx->freed) {
                ++ctx->after_free;
                return;
            }
            if (e->type == RELINK_EVENT_CHANNEL_STATE_CHANGED && e->channel_reason == RELINK_CHANNEL_REASON_JOINED) {
                // Operations in flight, events still to come (the logout's): none may arrive after the free.
                for (int i = 0; i < 20; ++i) {
                    (void)relink_client_send_channel_message(ctx->client, "lobby", "bye", 3, nullptr);
                }
                relink_client_free(ctx->client);
                {
                    std::lock_guard lock(ctx->mutex);
                    ctx->freed = true;
                }
                ctx->changed.notify_all();
            }
        },
        &context);
    ASSERT_EQ(relink_client_new(c, &context.client, nullptr, 0), RELINK_OK);
    relink_config_free(c);
    ASSERT_EQ(relink_client_login(context.client), RELINK_OK);
    ASSERT_EQ(relink_client_join(context.client, "lobby"), RELINK_OK);
    {
        std::unique_lock lock(context.mutex);
        ASSERT_TRUE(context.changed.wait_for(lock, kWait, [&] { return context.freed.load(); }));
    }
    // Time for a late callback to show (there must be none to wait for): another client's whole login.
    Log bob_log;
    relink_client* bob = client("bob", &bob_log);
    ASSERT_EQ(relink_client_login(bob), RELINK_OK);
    ASSERT_TRUE(bob_log.wait_state(RELINK_STATE_CONNECTED));
    relink_client_free(bob);
    EXPECT_EQ(context.after_free.load(), 0);
}

TEST_F(CApiClientTest, FreeWithOperationsInFlightDeliversEachCompletionBeforeItReturnsOrNever) {
    for (int round = 0; round < 5; ++round) {
        struct Context {
            std::atomic<bool> returned{false};
            std::atomic<int> late{0};
            std::mutex mutex;
            std::map<std::uint64_t, int> completed;
        } context;
        Log log;
        relink_config* c = config("alice");
        relink_config_set_event_callback(
            c,
            [](void* user_data, const relink_event* e) {
                auto* ctx = static_cast<Context*>(user_data);
                if (ctx->returned) {
                    ++ctx->late;
                }
                if (e->type == RELINK_EVENT_OPERATION_COMPLETED) {
                    std::lock_guard lock(ctx->mutex);
                    ++ctx->completed[e->op];
                }
            },
            &context);
        relink_client* alice = nullptr;
        ASSERT_EQ(relink_client_new(c, &alice, nullptr, 0), RELINK_OK);
        relink_config_free(c);
        ASSERT_EQ(relink_client_login(alice), RELINK_OK);
        ASSERT_EQ(relink_client_join(alice, "lobby"), RELINK_OK);
        // Round 0 frees during the login; later rounds once joined, with sends on the wire.
        if (round > 0) {
            ASSERT_TRUE(wait_joined(alice, "lobby"));
        }
        std::uint64_t last = 0;
        for (int i = 0; i < 50; ++i) {
            std::uint64_t op = 0;
            if (relink_client_send_channel_message(alice, "lobby", "x", 1, &op) == RELINK_OK) {
                last = op;
            }
        }
        std::thread other([&] { (void)relink_client_get_user_attributes(alice, "bob", nullptr); });
        other.join();
        relink_client_free(alice);
        context.returned = true;
        std::this_thread::sleep_for(50ms);  // a late callback would show here (there must be none to wait for)
        EXPECT_EQ(context.late.load(), 0) << "round " << round;
        std::lock_guard lock(context.mutex);
        for (const auto& [op, count] : context.completed) {
            EXPECT_EQ(count, 1) << "op " << op;
            EXPECT_GE(op, 1u);
            EXPECT_LE(op, last + 1);
        }
    }
}

}  // namespace
}  // namespace relink::test
