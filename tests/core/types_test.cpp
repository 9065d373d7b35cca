// The public vocabulary (include/relink/*.hpp) against behaviour.md: canonical names and their round trips,
// the rtc seed's reason numbers, the input rules of section 6, the error codes and their coarse conditions, and
// the per-profile timings of section 2 with scaled() and validate().
#include "relink/types.hpp"

#include <chrono>
#include <cmath>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "relink/error.hpp"
#include "relink/timings.hpp"

namespace relink {
namespace {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------------------------- names

const std::vector<std::pair<ConnectionState, std::string_view>> kStates{
    {ConnectionState::disconnected, "DISCONNECTED"},
    {ConnectionState::connecting, "CONNECTING"},
    {ConnectionState::connected, "CONNECTED"},
    {ConnectionState::reconnecting, "RECONNECTING"},
    {ConnectionState::aborted, "ABORTED"},
    {ConnectionState::failed, "FAILED"},
    {ConnectionState::disconnecting, "DISCONNECTING"},
};

// Every reason with its canonical name and number: 0–16 are the rtc seed's (behaviour.md section 1).
struct ReasonRow {
    ConnectionReason reason;
    std::string_view name;
    int number;
};
const std::vector<ReasonRow> kReasons{
    {ConnectionReason::connecting, "CONNECTING", 0},
    {ConnectionReason::join_success, "JOIN_SUCCESS", 1},
    {ConnectionReason::interrupted, "INTERRUPTED", 2},
    {ConnectionReason::banned_by_server, "BANNED_BY_SERVER", 3},
    {ConnectionReason::join_failed, "JOIN_FAILED", 4},
    {ConnectionReason::leave_channel, "LEAVE_CHANNEL", 5},
    {ConnectionReason::invalid_app_id, "INVALID_APP_ID", 6},
    {ConnectionReason::invalid_channel_name, "INVALID_CHANNEL_NAME", 7},
    {ConnectionReason::invalid_token, "INVALID_TOKEN", 8},
    {ConnectionReason::token_expired, "TOKEN_EXPIRED", 9},
    {ConnectionReason::rejected_by_server, "REJECTED_BY_SERVER", 10},
    {ConnectionReason::setting_proxy_server, "SETTING_PROXY_SERVER", 11},
    {ConnectionReason::renew_token, "RENEW_TOKEN", 12},
    {ConnectionReason::client_ip_address_changed, "CLIENT_IP_ADDRESS_CHANGED", 13},
    {ConnectionReason::keep_alive_timeout, "KEEP_ALIVE_TIMEOUT", 14},
    {ConnectionReason::rejoin_success, "REJOIN_SUCCESS", 15},
    {ConnectionReason::lost, "LOST", 16},
    {ConnectionReason::login, "LOGIN", -1},
    {ConnectionReason::login_success, "LOGIN_SUCCESS", -1},
    {ConnectionReason::login_failure, "LOGIN_FAILURE", -1},
    {ConnectionReason::login_timeout, "LOGIN_TIMEOUT", -1},
    {ConnectionReason::logout, "LOGOUT", -1},
    {ConnectionReason::remote_login, "REMOTE_LOGIN", -1},
    {ConnectionReason::recovery_refused, "RECOVERY_REFUSED", -1},
};

const std::vector<std::pair<ChannelState, std::string_view>> kChannelStates{
    {ChannelState::disconnected, "DISCONNECTED"},
    {ChannelState::connecting, "CONNECTING"},
    {ChannelState::connected, "CONNECTED"},
};

const std::vector<std::pair<ChannelReason, std::string_view>> kChannelReasons{
    {ChannelReason::joining, "JOINING"},           {ChannelReason::joined, "JOINED"},
    {ChannelReason::join_failed, "JOIN_FAILED"},   {ChannelReason::rejoining, "REJOINING"},
    {ChannelReason::rejoined, "REJOINED"},         {ChannelReason::rejoin_failed, "REJOIN_FAILED"},
    {ChannelReason::kicked_out, "KICKED_OUT"},     {ChannelReason::left, "LEFT"},
    {ChannelReason::leave_failed, "LEAVE_FAILED"},
};

const std::vector<std::pair<Profile, std::string_view>> kProfiles{
    {Profile::rtm, "rtm"},
    {Profile::rtc, "rtc"},
    {Profile::rtc_web, "rtc-web"},
    {Profile::room, "room"},
};

const std::vector<std::pair<MemberLeftCause, std::string_view>> kCauses{
    {MemberLeftCause::quit, "QUIT"},
    {MemberLeftCause::dropped, "DROPPED"},
    {MemberLeftCause::kicked, "KICKED"},
};

TEST(TypesNames, ConnectionStatesRoundTrip) {
    std::set<std::string_view> seen;
    for (const auto& [state, name] : kStates) {
        EXPECT_EQ(to_string(state), name);
        EXPECT_EQ(connection_state_from_string(name), state) << name;
        seen.insert(to_string(state));
    }
    EXPECT_EQ(seen.size(), kStates.size());
    EXPECT_EQ(to_string(static_cast<ConnectionState>(0)), "UNKNOWN");
    EXPECT_EQ(to_string(static_cast<ConnectionState>(8)), "UNKNOWN");
    EXPECT_EQ(to_string(static_cast<ConnectionState>(255)), "UNKNOWN");
    for (const std::string_view bad : {"", "disconnected", "Connected", "UNKNOWN", "CONNECTED ", "RECONNECT"}) {
        EXPECT_FALSE(connection_state_from_string(bad).has_value()) << "'" << bad << "'";
    }
}

// An app migrating from a native RTC SDK reads logged or stored state codes the same: the five shared states keep
// that SDK's numbers, relink's own two follow, and the C API's RELINK_STATE_* are these numbers.
TEST(TypesNames, ConnectionStatesKeepTheRtcSdkNumbers) {
    const std::vector<std::pair<ConnectionState, int>> numbers{
        {ConnectionState::disconnected, 1}, {ConnectionState::connecting, 2}, {ConnectionState::connected, 3},
        {ConnectionState::reconnecting, 4}, {ConnectionState::failed, 5},     {ConnectionState::aborted, 6},
        {ConnectionState::disconnecting, 7}};
    ASSERT_EQ(numbers.size(), kStates.size());
    for (const auto& [state, number] : numbers) {
        EXPECT_EQ(static_cast<int>(state), number) << to_string(state);
    }
}

TEST(TypesNames, ConnectionReasonsRoundTripAndKeepTheRtcSeedNumbers) {
    std::set<std::string_view> names;
    std::set<int> numbers;
    for (const auto& row : kReasons) {
        EXPECT_EQ(to_string(row.reason), row.name);
        EXPECT_EQ(connection_reason_from_string(row.name), row.reason) << row.name;
        names.insert(to_string(row.reason));
        const int number = static_cast<int>(row.reason);
        numbers.insert(number);
        if (row.number >= 0) {
            EXPECT_EQ(number, row.number) << row.name << " keeps the rtc seed's number";
        } else {
            // Our own numbers: outside the seed's 0–16, so they can never be mistaken for a seed reason.
            EXPECT_GE(number, 100) << row.name;
        }
    }
    EXPECT_EQ(names.size(), kReasons.size());
    EXPECT_EQ(numbers.size(), kReasons.size());
    EXPECT_EQ(kReasons.size(), 24U);
    EXPECT_EQ(to_string(static_cast<ConnectionReason>(17)), "UNKNOWN");
    EXPECT_EQ(to_string(static_cast<ConnectionReason>(99)), "UNKNOWN");
    EXPECT_EQ(to_string(static_cast<ConnectionReason>(65535)), "UNKNOWN");
    for (const std::string_view bad : {"", "login", "Lost", "UNKNOWN", "LOGIN ", "16"}) {
        EXPECT_FALSE(connection_reason_from_string(bad).has_value()) << "'" << bad << "'";
    }
}

TEST(TypesNames, ChannelStatesAndReasonsHaveDistinctCanonicalNames) {
    std::set<std::string_view> states;
    for (const auto& [state, name] : kChannelStates) {
        EXPECT_EQ(to_string(state), name);
        states.insert(to_string(state));
    }
    EXPECT_EQ(states.size(), kChannelStates.size());
    EXPECT_EQ(to_string(static_cast<ChannelState>(3)), "UNKNOWN");

    std::set<std::string_view> reasons;
    for (const auto& [reason, name] : kChannelReasons) {
        EXPECT_EQ(to_string(reason), name);
        reasons.insert(to_string(reason));
    }
    EXPECT_EQ(reasons.size(), kChannelReasons.size());
    EXPECT_EQ(to_string(static_cast<ChannelReason>(9)), "UNKNOWN");
}

TEST(TypesNames, ProfilesRoundTrip) {
    for (const auto& [profile, name] : kProfiles) {
        EXPECT_EQ(to_string(profile), name);
        EXPECT_EQ(profile_from_string(name), profile) << name;
    }
    EXPECT_EQ(to_string(static_cast<Profile>(4)), "unknown");
    for (const std::string_view bad : {"", "RTM", "rtc_web", "rtcweb", "rooms", "unknown", " rtm"}) {
        EXPECT_FALSE(profile_from_string(bad).has_value()) << "'" << bad << "'";
    }
}

TEST(TypesNames, MemberLeftCausesRoundTrip) {
    for (const auto& [cause, name] : kCauses) {
        EXPECT_EQ(to_string(cause), name);
        EXPECT_EQ(member_left_cause_from_string(name), cause) << name;
    }
    EXPECT_EQ(to_string(static_cast<MemberLeftCause>(3)), "UNKNOWN");
    for (const std::string_view bad : {"", "quit", "DROP", "UNKNOWN"}) {
        EXPECT_FALSE(member_left_cause_from_string(bad).has_value()) << "'" << bad << "'";
    }
}

// ------------------------------------------------------------------------------------------- input rules

constexpr std::string_view kPunctuation = "!#$%&()+-:;<=.>?@[]^_{|}~,";

bool allowed_by_spec(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
           kPunctuation.find(static_cast<char>(c)) != std::string_view::npos;
}

TEST(TypesInputRules, EachAllowedPunctuationCharacterIsAcceptedAloneAndInside) {
    ASSERT_EQ(kPunctuation.size(), 26U);
    for (const char c : kPunctuation) {
        const std::string alone(1, c);
        const std::string inside = std::string("a") + c + "b";
        EXPECT_TRUE(is_valid_channel_name(alone)) << alone;
        EXPECT_TRUE(is_valid_user_id(alone)) << alone;
        EXPECT_TRUE(is_valid_channel_name(inside)) << inside;
        EXPECT_TRUE(is_valid_user_id(inside)) << inside;
    }
}

TEST(TypesInputRules, EveryByteValueIsJudgedByTheSpecsCharacterSet) {
    for (int value = 0; value < 256; ++value) {
        const auto c = static_cast<unsigned char>(value);
        const std::string name = std::string("x") + static_cast<char>(c) + "y";
        EXPECT_EQ(is_valid_channel_name(name), allowed_by_spec(c)) << "byte " << value;
        EXPECT_EQ(is_valid_user_id(name), allowed_by_spec(c)) << "byte " << value;
    }
    // The characters people most often expect to work, and that the rule leaves out.
    for (const std::string_view bad : {"a\"b", "a'b", "a*b", "a/b", "a\\b", "a`b", "a\tb", "a\nb", "caf\xC3\xA9"}) {
        EXPECT_FALSE(is_valid_channel_name(bad)) << bad;
        EXPECT_FALSE(is_valid_user_id(bad)) << bad;
    }
    EXPECT_FALSE(is_valid_channel_name(std::string_view("a\0b", 3)));
    EXPECT_FALSE(is_valid_user_id(std::string_view("a\0b", 3)));
}

TEST(TypesInputRules, LengthIsOneToSixtyFourBytes) {
    EXPECT_FALSE(is_valid_channel_name(""));
    EXPECT_FALSE(is_valid_user_id(""));
    EXPECT_TRUE(is_valid_channel_name("a"));
    EXPECT_TRUE(is_valid_user_id("a"));
    EXPECT_TRUE(is_valid_channel_name(std::string(64, 'a')));
    EXPECT_TRUE(is_valid_user_id(std::string(64, 'a')));
    EXPECT_FALSE(is_valid_channel_name(std::string(65, 'a')));
    EXPECT_FALSE(is_valid_user_id(std::string(65, 'a')));
    EXPECT_FALSE(is_valid_channel_name(std::string(1000, 'a')));
}

TEST(TypesInputRules, SpacesAreAllowedButUserIdsMayNotStartOrEndWithOne) {
    EXPECT_TRUE(is_valid_channel_name("a b"));
    EXPECT_TRUE(is_valid_user_id("a b"));
    EXPECT_TRUE(is_valid_user_id("a  b"));
    // Channel names: space is an ordinary allowed character, anywhere.
    EXPECT_TRUE(is_valid_channel_name(" a"));
    EXPECT_TRUE(is_valid_channel_name("a "));
    EXPECT_TRUE(is_valid_channel_name(" "));
    // User ids: no leading or trailing space.
    EXPECT_FALSE(is_valid_user_id(" a"));
    EXPECT_FALSE(is_valid_user_id("a "));
    EXPECT_FALSE(is_valid_user_id(" "));
    EXPECT_FALSE(is_valid_user_id("  "));
    EXPECT_TRUE(is_valid_user_id(std::string("a") + std::string(62, ' ') + "b"));
}

// ------------------------------------------------------------------------------------------- errors

struct ErrorRow {
    errc code;
    int number;
    condition cond;
};
// Every relink::errc with its stable number and the condition error.hpp documents for it.
const std::vector<ErrorRow> kErrors{
    {errc::not_logged_in, 1, condition::misuse},
    {errc::already_logged_in, 2, condition::misuse},
    {errc::invalid_argument, 3, condition::misuse},
    {errc::invalid_channel_name, 4, condition::misuse},
    {errc::invalid_user_id, 5, condition::misuse},
    {errc::not_joined, 6, condition::misuse},
    {errc::already_joined, 7, condition::misuse},
    {errc::payload_too_large, 8, condition::misuse},
    {errc::unknown_channel, 9, condition::misuse},
    {errc::queue_full, 20, condition::transient},
    {errc::rate_limited, 21, condition::transient},
    {errc::send_timeout, 22, condition::transient},
    {errc::ack_timeout, 23, condition::transient},
    {errc::network_timeout, 24, condition::transient},
    {errc::network_interrupted, 25, condition::transient},
    {errc::login_timeout, 26, condition::transient},
    {errc::limit_exceeded, 27, condition::transient},
    {errc::invalid_token, 40, condition::fatal},
    {errc::token_expired, 41, condition::fatal},
    {errc::invalid_app_id, 42, condition::fatal},
    {errc::banned_by_server, 43, condition::fatal},
    {errc::remote_login, 44, condition::fatal},
    {errc::rejected_by_server, 45, condition::fatal},
    {errc::login_failure, 46, condition::fatal},
    {errc::peer_offline, 47, condition::fatal},
    {errc::gave_up, 48, condition::fatal},
    {errc::protocol_error, 49, condition::fatal},
    {errc::recovery_expired, 50, condition::fatal},
    {errc::recovery_used, 51, condition::fatal},
    {errc::recovery_invalid, 52, condition::fatal},
    {errc::recovery_wrong_user, 53, condition::fatal},
    {errc::logged_out, 60, condition::cancelled},
    {errc::session_aborted, 61, condition::cancelled},
    {errc::session_failed, 62, condition::cancelled},
    {errc::channel_left, 63, condition::cancelled},
};

constexpr condition kConditions[] = {condition::transient, condition::fatal, condition::cancelled, condition::misuse};

TEST(TypesErrors, EveryCodeHasAStableNumberADistinctNameAndMessage) {
    std::set<std::string> names;
    std::set<std::string> messages;
    for (const auto& row : kErrors) {
        const std::error_code code = make_error_code(row.code);
        EXPECT_EQ(code.value(), row.number);
        EXPECT_TRUE(static_cast<bool>(code)) << "0 is never an error";
        EXPECT_EQ(&code.category(), &error_category());
        const std::string name = error_name(code);
        EXPECT_NE(name, "UNKNOWN") << row.number;
        EXPECT_NE(name, "OK");
        for (const char c : name) {
            EXPECT_TRUE((c >= 'A' && c <= 'Z') || c == '_') << "UPPER_SNAKE: " << name;
        }
        const std::string message = code.message();
        EXPECT_FALSE(message.empty());
        EXPECT_EQ(message.find("unknown relink error"), std::string::npos) << name;
        names.insert(name);
        messages.insert(message);
    }
    EXPECT_EQ(names.size(), kErrors.size()) << "every code has its own name";
    EXPECT_EQ(messages.size(), kErrors.size()) << "every code has its own message";
    EXPECT_EQ(kErrors.size(), 35U);
}

TEST(TypesErrors, NamesMatchTheEnumerators) {
    EXPECT_STREQ(error_name(errc::not_logged_in), "NOT_LOGGED_IN");
    EXPECT_STREQ(error_name(errc::already_logged_in), "ALREADY_LOGGED_IN");
    EXPECT_STREQ(error_name(errc::unknown_channel), "UNKNOWN_CHANNEL");
    EXPECT_STREQ(error_name(errc::queue_full), "QUEUE_FULL");
    EXPECT_STREQ(error_name(errc::payload_too_large), "PAYLOAD_TOO_LARGE");
    EXPECT_STREQ(error_name(errc::invalid_channel_name), "INVALID_CHANNEL_NAME");
    EXPECT_STREQ(error_name(errc::remote_login), "REMOTE_LOGIN");
    EXPECT_STREQ(error_name(errc::channel_left), "CHANNEL_LEFT");
}

TEST(TypesErrors, EveryCodeMapsToItsDocumentedConditionAndNoOther) {
    for (const auto& row : kErrors) {
        const std::error_code code = row.code;  // implicit: errc is an error code enum
        EXPECT_EQ(code.default_error_condition(), make_error_condition(row.cond)) << error_name(code);
        for (const condition cond : kConditions) {
            EXPECT_EQ(code == cond, cond == row.cond) << error_name(code) << " vs condition " << static_cast<int>(cond);
            EXPECT_EQ(code != cond, cond != row.cond);
        }
    }
}

TEST(TypesErrors, ErrorCodeComparesWithConditionsAndCodes) {
    const std::error_code full = errc::queue_full;
    EXPECT_TRUE(full == condition::transient);
    EXPECT_FALSE(full == condition::fatal);
    EXPECT_TRUE(full == errc::queue_full);
    EXPECT_FALSE(full == errc::rate_limited);
    EXPECT_EQ(full, make_error_code(errc::queue_full));

    const std::error_code misuse = make_error_code(errc::not_logged_in);
    EXPECT_TRUE(misuse == condition::misuse);
    const std::error_condition cond = condition::misuse;
    EXPECT_EQ(&cond.category(), &condition_category());
    EXPECT_TRUE(cond == misuse);

    // The standard library's codes never match relink's conditions, and vice versa.
    const std::error_code reset = std::make_error_code(std::errc::connection_reset);
    for (const condition c : kConditions) {
        EXPECT_FALSE(reset == c);
    }
    EXPECT_FALSE(full == std::errc::resource_unavailable_try_again);
    EXPECT_FALSE(std::error_code{} == condition::transient);
}

TEST(TypesErrors, NamesForNoErrorForeignErrorsAndUnknownValues) {
    EXPECT_STREQ(error_name({}), "OK");
    EXPECT_STREQ(error_name(std::make_error_code(std::errc::connection_reset)), "EXTERNAL");
    const std::error_code unknown(999, error_category());
    EXPECT_STREQ(error_name(unknown), "UNKNOWN");
    EXPECT_EQ(unknown.message(), "unknown relink error 999");
    for (const condition c : kConditions) {
        EXPECT_FALSE(unknown == c);
    }
}

TEST(TypesErrors, CategoriesAndConditionMessages) {
    EXPECT_STREQ(error_category().name(), "relink");
    EXPECT_STREQ(condition_category().name(), "relink.condition");
    EXPECT_NE(&error_category(), &condition_category());
    std::set<std::string> messages;
    for (const condition c : kConditions) {
        const std::string message = make_error_condition(c).message();
        EXPECT_FALSE(message.empty());
        EXPECT_EQ(message.find("unknown"), std::string::npos);
        messages.insert(message);
    }
    EXPECT_EQ(messages.size(), 4U);
    EXPECT_EQ(std::error_condition(99, condition_category()).message(), "unknown relink condition");
}

// ------------------------------------------------------------------------------------------- timings

// behaviour.md section 2, one row per profile.
struct TimingsRow {
    Profile profile;
    Duration lost_after;
    Duration presence_timeout;
    Duration give_up_after;
    bool backfill;
};
const std::vector<TimingsRow> kTimingsTable{
    {Profile::rtm, 0s, 30s, 0s, true},
    {Profile::rtc, 10s, 20s, 20min, false},
    {Profile::rtc_web, 0s, 10s, 0s, false},
    {Profile::room, 0s, 90s, 5min, false},
};

TEST(TypesTimings, TimingsForEachProfileMatchTheSpecTable) {
    for (const auto& row : kTimingsTable) {
        SCOPED_TRACE(std::string(to_string(row.profile)));
        const Timings t = timings_for(row.profile);
        EXPECT_EQ(t.login_timeout, 12s);
        EXPECT_EQ(t.interrupted_after, 4s);
        EXPECT_EQ(t.lost_after, row.lost_after);
        EXPECT_EQ(t.presence_timeout, row.presence_timeout);
        EXPECT_EQ(t.give_up_after, row.give_up_after);
        if (row.backfill) {
            EXPECT_EQ(t.backfill_window, 30s);  // R-RTM-5: the last 30 s, at most 32 per channel
            EXPECT_EQ(t.backfill_count, 32U);
        } else {
            EXPECT_EQ(t.backfill_window, 0s);
            EXPECT_EQ(t.backfill_count, 0U);
        }
        // Heartbeats often enough that a healthy idle link never reaches the 4 s silence threshold.
        EXPECT_LT(t.heartbeat_interval, t.interrupted_after);
        EXPECT_EQ(t.heartbeat_interval, 1s);
        // Capped exponential backoff with jitter, never a fixed interval.
        EXPECT_GT(t.backoff_multiplier, 1.0);
        EXPECT_GT(t.backoff_jitter, 0.0);
        EXPECT_LT(t.backoff_jitter, 1.0);
        EXPECT_LE(t.backoff_initial, t.backoff_max);
        EXPECT_EQ(t.token_warning_lead, 30s);  // R-RTM-9: token_privilege_will_expire 30 s ahead
        EXPECT_FALSE(validate(t)) << to_string(row.profile);
    }
}

TEST(TypesTimings, BackoffDefaults) {
    const Timings t;
    EXPECT_EQ(t.backoff_initial, 300ms);
    EXPECT_DOUBLE_EQ(t.backoff_multiplier, 1.6);
    EXPECT_DOUBLE_EQ(t.backoff_jitter, 0.2);
    EXPECT_EQ(t.backoff_max, 8s);
    EXPECT_EQ(t.retry_probe_interval, 100ms);
    EXPECT_EQ(t.retry_probe_window, 2s);
    EXPECT_EQ(t.stable_after, 10s);
    EXPECT_EQ(t.attempt_timeout, 5s);
}

// Every Duration field of Timings. If the static_assert below fails, a field was added: list it here too.
using DurationField = Duration Timings::*;
constexpr DurationField kDurationFields[] = {
    &Timings::login_timeout,      &Timings::interrupted_after,  &Timings::lost_after,
    &Timings::give_up_after,      &Timings::heartbeat_interval, &Timings::attempt_timeout,
    &Timings::backoff_initial,    &Timings::backoff_max,        &Timings::stable_after,
    &Timings::message_timeout,    &Timings::leave_timeout,      &Timings::token_warning_lead,
    &Timings::presence_timeout,   &Timings::backfill_window,    &Timings::retry_probe_interval,
    &Timings::retry_probe_window,
};
static_assert(sizeof(Timings) ==
                  std::size(kDurationFields) * sizeof(Duration) + 2 * sizeof(double) + sizeof(std::size_t),
              "Timings gained a field: add it to kDurationFields (and check scaled() scales it)");

TEST(TypesTimings, ScaledMultipliesEveryDurationAndKeepsTheShape) {
    // Distinct, non-zero values, so that a field scaled() forgets (or scales twice) shows up.
    Timings t;
    long long seconds = 1;
    for (const DurationField field : kDurationFields) {
        t.*field = std::chrono::seconds(seconds++);
    }
    t.backoff_multiplier = 1.7;
    t.backoff_jitter = 0.3;
    t.backfill_count = 17;
    const Timings s = t.scaled(0.001);
    for (std::size_t i = 0; i < std::size(kDurationFields); ++i) {
        const DurationField field = kDurationFields[i];
        EXPECT_EQ(s.*field, std::chrono::milliseconds(static_cast<long long>(i) + 1)) << "field " << i;
    }
    EXPECT_DOUBLE_EQ(s.backoff_multiplier, 1.7);
    EXPECT_DOUBLE_EQ(s.backoff_jitter, 0.3);
    EXPECT_EQ(s.backfill_count, 17U);
}

TEST(TypesTimings, ScaledProfilesStayValidAndKeepZeroAsNever) {
    for (const auto& row : kTimingsTable) {
        SCOPED_TRACE(std::string(to_string(row.profile)));
        const Timings t = timings_for(row.profile).scaled(0.001);
        EXPECT_FALSE(validate(t));
        EXPECT_EQ(t.login_timeout, 12ms);
        EXPECT_EQ(t.interrupted_after, 4ms);
        EXPECT_EQ(t.presence_timeout, row.presence_timeout / 1000);
        EXPECT_EQ(t.give_up_after, row.give_up_after / 1000);  // rtc: 20 min → 1.2 s; 0 stays "never"
        EXPECT_EQ(t.lost_after, row.lost_after / 1000);
        EXPECT_EQ(t.backoff_initial, 300us);
        EXPECT_EQ(t.backoff_max, 8ms);
    }
    EXPECT_EQ(timings_for(Profile::rtc).scaled(0.001).give_up_after, 1200ms);
    // Scaling up works too, and back again is exact for these values.
    EXPECT_EQ(timings_for(Profile::rtm).scaled(10.0).interrupted_after, 40s);
    EXPECT_EQ(timings_for(Profile::rtm).scaled(0.5).scaled(2.0).message_timeout, 60s);
}

TEST(TypesTimings, ValidateRejectsBadTimings) {
    using Tweak = void (*)(Timings&);
    const std::vector<std::pair<const char*, Tweak>> bad{
        {"zero login timeout", [](Timings& t) { t.login_timeout = 0s; }},
        {"negative login timeout", [](Timings& t) { t.login_timeout = -1s; }},
        {"zero interrupted_after", [](Timings& t) { t.interrupted_after = 0s; }},
        {"zero heartbeat", [](Timings& t) { t.heartbeat_interval = 0s; }},
        {"heartbeat not below interrupted_after", [](Timings& t) { t.heartbeat_interval = t.interrupted_after; }},
        {"zero attempt timeout", [](Timings& t) { t.attempt_timeout = 0s; }},
        {"zero backoff initial", [](Timings& t) { t.backoff_initial = 0s; }},
        {"zero backoff max", [](Timings& t) { t.backoff_max = 0s; }},
        {"initial above max", [](Timings& t) { t.backoff_initial = t.backoff_max + 1ns; }},
        {"multiplier below 1", [](Timings& t) { t.backoff_multiplier = 0.9; }},
        {"multiplier NaN", [](Timings& t) { t.backoff_multiplier = std::numeric_limits<double>::quiet_NaN(); }},
        {"multiplier infinite", [](Timings& t) { t.backoff_multiplier = std::numeric_limits<double>::infinity(); }},
        {"jitter negative", [](Timings& t) { t.backoff_jitter = -0.1; }},
        {"jitter 1", [](Timings& t) { t.backoff_jitter = 1.0; }},
        {"jitter NaN", [](Timings& t) { t.backoff_jitter = std::numeric_limits<double>::quiet_NaN(); }},
        {"zero message timeout", [](Timings& t) { t.message_timeout = 0s; }},
        {"zero leave timeout", [](Timings& t) { t.leave_timeout = 0s; }},
        {"zero presence timeout", [](Timings& t) { t.presence_timeout = 0s; }},
        {"negative lost_after", [](Timings& t) { t.lost_after = -1ms; }},
        {"negative give_up_after", [](Timings& t) { t.give_up_after = -1ms; }},
        {"negative stable_after", [](Timings& t) { t.stable_after = -1ms; }},
        {"negative token warning", [](Timings& t) { t.token_warning_lead = -1ms; }},
        {"negative backfill window", [](Timings& t) { t.backfill_window = -1ms; }},
        {"zero probe interval", [](Timings& t) { t.retry_probe_interval = 0s; }},
        {"negative probe window", [](Timings& t) { t.retry_probe_window = -1ms; }},
    };
    for (const auto& [what, tweak] : bad) {
        Timings t = timings_for(Profile::rtc);
        tweak(t);
        const std::error_code e = validate(t);
        EXPECT_EQ(e, errc::invalid_argument) << what;
        EXPECT_TRUE(e == condition::misuse) << what;
    }
}

TEST(TypesTimings, ValidateAcceptsTheEdges) {
    Timings t;
    t.backoff_multiplier = 1.0;  // a constant base delay is allowed; jitter still spreads it
    t.backoff_jitter = 0.0;      // jitter off: exact timelines in tests
    t.backoff_initial = t.backoff_max;
    t.lost_after = 0s;  // never
    t.give_up_after = 0s;
    t.stable_after = 0s;
    t.token_warning_lead = 0s;
    t.backfill_window = 0s;
    t.retry_probe_window = 0s;  // no probes after refused attempts
    t.heartbeat_interval = t.interrupted_after - 1ns;
    EXPECT_FALSE(validate(t));
}

}  // namespace
}  // namespace relink
