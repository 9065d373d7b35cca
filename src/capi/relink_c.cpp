// capi/relink_c.cpp — the C API of include/relink/relink.h that needs no client: versions, error codes and their
// names, the names of states and reasons, the input rules, and the config handle (docs/c-api.md). The client and
// its events are in capi/client_c.cpp.
//
// No exception crosses the C boundary: every function that can throw (an allocation) catches everything and
// answers RELINK_E_INTERNAL (or NULL).
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <string_view>

#include "capi/capi_internal.hpp"
#include "relink/error.hpp"
#include "relink/relink.h"

namespace {

using relink::capi::to_c_error;

/// Every to_string() of relink's enums returns a view of a string literal (src/common/types.cpp, events.cpp): its
/// data() is NUL-terminated and static, so it can be handed to C as is.
const char* static_name(std::string_view literal) noexcept {
    return literal.data();
}

bool is_relink_error(int error) noexcept {
    // error.cpp knows the codes; a number it has no name for is none of them.
    return std::strcmp(relink::error_name(std::error_code(error, relink::error_category())), "UNKNOWN") != 0;
}

/// The one-sentence messages of the error codes, built once: std::error_category::message() returns a
/// std::string, and the C API hands out static strings.
const char* error_message_of(int error) noexcept {
    constexpr int kLargest = 63;  // relink::errc's largest number
    struct Messages {
        std::string text[kLargest + 1];
        Messages() {
            for (int code = 1; code <= kLargest; ++code) {
                if (is_relink_error(code)) {
                    text[code] = relink::error_category().message(code);
                }
            }
        }
    };
    if (error == RELINK_OK) {
        return "no error";
    }
    if (error == RELINK_E_INTERNAL) {
        return "internal error of the C API: out of memory, or an unexpected failure inside the library";
    }
    if (error < 0 || error > kLargest || !is_relink_error(error)) {
        return "unknown error code";
    }
    try {
        static const Messages messages;
        return messages.text[error].c_str();
    } catch (...) {
        return "unknown error code";  // the table could not be built (out of memory)
    }
}

/// Copies a C string into `target`; RELINK_E_INVALID_ARGUMENT for NULL unless `null_clears`.
int set_string(relink_config* config, std::string relink::ClientConfig::*field, const char* value,
               bool null_clears = false) noexcept {
    if (config == nullptr || (value == nullptr && !null_clears)) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        config->config.*field = value != nullptr ? value : "";
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

int set_tls_string(relink_config* config, std::string relink::TlsOptions::*field, const char* value) noexcept {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        config->config.tls.*field = value != nullptr ? value : "";
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

relink::Duration& timing_field(relink::Timings& timings, int timing) {
    switch (timing) {
        case RELINK_TIMING_LOGIN_TIMEOUT: return timings.login_timeout;
        case RELINK_TIMING_INTERRUPTED_AFTER: return timings.interrupted_after;
        case RELINK_TIMING_LOST_AFTER: return timings.lost_after;
        case RELINK_TIMING_GIVE_UP_AFTER: return timings.give_up_after;
        case RELINK_TIMING_HEARTBEAT_INTERVAL: return timings.heartbeat_interval;
        case RELINK_TIMING_ATTEMPT_TIMEOUT: return timings.attempt_timeout;
        case RELINK_TIMING_BACKOFF_INITIAL: return timings.backoff_initial;
        case RELINK_TIMING_BACKOFF_MAX: return timings.backoff_max;
        case RELINK_TIMING_STABLE_AFTER: return timings.stable_after;
        case RELINK_TIMING_MESSAGE_TIMEOUT: return timings.message_timeout;
        case RELINK_TIMING_LEAVE_TIMEOUT: return timings.leave_timeout;
        case RELINK_TIMING_TOKEN_WARNING_LEAD: return timings.token_warning_lead;
        case RELINK_TIMING_PRESENCE_TIMEOUT: return timings.presence_timeout;
        case RELINK_TIMING_BACKFILL_WINDOW: return timings.backfill_window;
        case RELINK_TIMING_RETRY_PROBE_INTERVAL: return timings.retry_probe_interval;
        default: return timings.retry_probe_window;  // RELINK_TIMING_RETRY_PROBE_WINDOW (the setter checked the range)
    }
}

}  // namespace

namespace relink::capi {

std::optional<Timings> effective_timings(const relink_config& config) {
    bool overridden = config.backoff_multiplier || config.backoff_jitter || config.backfill_count;
    for (const auto& value : config.timing_overrides) {
        overridden = overridden || value.has_value();
    }
    if (!overridden) {
        return std::nullopt;
    }
    Timings timings = timings_for(config.config.profile);
    for (std::size_t i = 0; i < config.timing_overrides.size(); ++i) {
        if (config.timing_overrides[i]) {
            timing_field(timings, static_cast<int>(i)) = *config.timing_overrides[i];
        }
    }
    if (config.backoff_multiplier) {
        timings.backoff_multiplier = *config.backoff_multiplier;
    }
    if (config.backoff_jitter) {
        timings.backoff_jitter = *config.backoff_jitter;
    }
    if (config.backfill_count) {
        timings.backfill_count = *config.backfill_count;
    }
    return timings;
}

}  // namespace relink::capi

extern "C" {

// ------------------------------------------------------------------------------------------------ versions

RELINK_API const char* relink_version(void) {
    return RELINK_VERSION_STRING;
}

RELINK_API int relink_abi_version(void) {
    return RELINK_ABI_VERSION;
}

// -------------------------------------------------------------------------------------------------- errors

RELINK_API const char* relink_error_name(int error) {
    if (error == RELINK_OK) {
        return "OK";
    }
    if (error == RELINK_E_INTERNAL) {
        return "INTERNAL";
    }
    return relink::error_name(std::error_code(error, relink::error_category()));  // "UNKNOWN" for no code
}

RELINK_API const char* relink_error_message(int error) {
    return error_message_of(error);
}

RELINK_API int relink_error_condition(int error) {
    if (error == RELINK_OK || !is_relink_error(error)) {
        return RELINK_CONDITION_NONE;  // RELINK_E_INTERNAL too: not a relink::errc
    }
    const std::error_code code(error, relink::error_category());
    if (code == relink::condition::transient) {
        return RELINK_CONDITION_TRANSIENT;
    }
    if (code == relink::condition::fatal) {
        return RELINK_CONDITION_FATAL;
    }
    if (code == relink::condition::cancelled) {
        return RELINK_CONDITION_CANCELLED;
    }
    return RELINK_CONDITION_MISUSE;
}

// ------------------------------------------------------------------------------------ states and reasons
// Each checks the number's range before converting it: a cast of an out-of-range int to the enum's narrow
// underlying type would wrap around to a valid value.

RELINK_API const char* relink_state_name(int state) {
    if (state < RELINK_STATE_DISCONNECTED || state > RELINK_STATE_DISCONNECTING) {
        return "UNKNOWN";
    }
    return static_name(relink::to_string(static_cast<relink::ConnectionState>(state)));
}

RELINK_API const char* relink_reason_name(int reason) {
    if (reason < 0 || reason > std::numeric_limits<std::uint16_t>::max()) {
        return "UNKNOWN";
    }
    return static_name(relink::to_string(static_cast<relink::ConnectionReason>(reason)));
}

RELINK_API const char* relink_channel_state_name(int channel_state) {
    if (channel_state < RELINK_CHANNEL_DISCONNECTED || channel_state > RELINK_CHANNEL_CONNECTED) {
        return "UNKNOWN";
    }
    return static_name(relink::to_string(static_cast<relink::ChannelState>(channel_state)));
}

RELINK_API const char* relink_channel_reason_name(int channel_reason) {
    if (channel_reason < RELINK_CHANNEL_REASON_JOINING || channel_reason > RELINK_CHANNEL_REASON_LEAVE_FAILED) {
        return "UNKNOWN";
    }
    return static_name(relink::to_string(static_cast<relink::ChannelReason>(channel_reason)));
}

RELINK_API const char* relink_member_left_cause_name(int cause) {
    if (cause < RELINK_MEMBER_LEFT_QUIT || cause > RELINK_MEMBER_LEFT_KICKED) {
        return "UNKNOWN";
    }
    return static_name(relink::to_string(static_cast<relink::MemberLeftCause>(cause)));
}

RELINK_API const char* relink_attempt_failure_name(int cause) {
    if (cause < RELINK_ATTEMPT_DNS || cause > RELINK_ATTEMPT_BUSY) {
        return "UNKNOWN";
    }
    return static_name(relink::to_string(static_cast<relink::AttemptFailure>(cause)));
}

RELINK_API const char* relink_profile_name(int profile) {
    if (profile < RELINK_PROFILE_RTM || profile > RELINK_PROFILE_ROOM) {
        return "unknown";
    }
    return static_name(relink::to_string(static_cast<relink::Profile>(profile)));
}

RELINK_API int relink_profile_from_name(const char* name, int* profile) {
    if (name == nullptr || profile == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    const auto parsed = relink::profile_from_string(name);
    if (!parsed) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    *profile = static_cast<int>(*parsed);
    return RELINK_OK;
}

RELINK_API int relink_is_valid_channel_name(const char* name) {
    return name != nullptr && relink::is_valid_channel_name(name) ? 1 : 0;
}

RELINK_API int relink_is_valid_user_id(const char* user_id) {
    return user_id != nullptr && relink::is_valid_user_id(user_id) ? 1 : 0;
}

// ------------------------------------------------------------------------------------------ configuration

RELINK_API relink_config* relink_config_new(void) {
    return new (std::nothrow) relink_config();
}

RELINK_API void relink_config_free(relink_config* config) {
    delete config;
}

RELINK_API int relink_config_set_url(relink_config* config, const char* url) {
    return set_string(config, &relink::ClientConfig::url, url);
}

RELINK_API int relink_config_set_allow_plaintext(relink_config* config, int allow) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.allow_plaintext = allow != 0;
    return RELINK_OK;
}

RELINK_API int relink_config_set_app_id(relink_config* config, const char* app_id) {
    return set_string(config, &relink::ClientConfig::app_id, app_id);
}

RELINK_API int relink_config_set_user_id(relink_config* config, const char* user_id) {
    return set_string(config, &relink::ClientConfig::user_id, user_id);
}

RELINK_API int relink_config_set_token(relink_config* config, const char* token) {
    return set_string(config, &relink::ClientConfig::token, token);
}

RELINK_API int relink_config_set_profile(relink_config* config, int profile) {
    if (config == nullptr || profile < RELINK_PROFILE_RTM || profile > RELINK_PROFILE_ROOM) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.profile = static_cast<relink::Profile>(profile);
    return RELINK_OK;
}

RELINK_API int relink_config_set_time_scale(relink_config* config, double factor) {
    if (config == nullptr || !std::isfinite(factor) || factor <= 0) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.time_scale = factor;
    return RELINK_OK;
}

RELINK_API int relink_config_set_tls_verify_peer(relink_config* config, int verify) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.tls.verify_peer = verify != 0;
    return RELINK_OK;
}

RELINK_API int relink_config_set_tls_ca_file(relink_config* config, const char* pem_file) {
    return set_tls_string(config, &relink::TlsOptions::ca_file, pem_file);
}

RELINK_API int relink_config_set_tls_ca_directory(relink_config* config, const char* directory) {
    return set_tls_string(config, &relink::TlsOptions::ca_directory, directory);
}

RELINK_API int relink_config_set_tls_use_system_store(relink_config* config, int use) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.tls.use_system_store = use != 0;
    return RELINK_OK;
}

RELINK_API int relink_config_set_proxy(relink_config* config, const char* host, uint16_t port) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        if (host == nullptr) {
            config->config.proxy.reset();
        } else {
            config->config.proxy = relink::ProxyOptions{host, port};
        }
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

RELINK_API int relink_config_set_log_level(relink_config* config, int level) {
    if (config == nullptr || level < RELINK_LOG_TRACE || level > RELINK_LOG_OFF) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.log_level = static_cast<relink::LogLevel>(level);
    return RELINK_OK;
}

RELINK_API int relink_config_set_log_callback(relink_config* config, relink_log_callback callback, void* user_data) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->log_callback = callback;
    config->log_user_data = user_data;
    return RELINK_OK;
}

RELINK_API int relink_config_set_max_queued_operations(relink_config* config, size_t max) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.max_queued_operations = max;
    return RELINK_OK;
}

RELINK_API int relink_config_set_recover_key(relink_config* config, const char* key) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        config->config.recover_key = key != nullptr ? std::optional<std::string>(key) : std::nullopt;
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

RELINK_API int relink_config_set_seed(relink_config* config, uint64_t seed) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->config.seed = seed;
    return RELINK_OK;
}

RELINK_API int relink_config_set_token_provider(relink_config* config, relink_token_provider provider,
                                                void* user_data) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->token_provider = provider;
    config->token_user_data = user_data;
    return RELINK_OK;
}

RELINK_API int relink_config_set_event_callback(relink_config* config, relink_event_callback callback,
                                                void* user_data) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->event_callback = callback;
    config->event_user_data = user_data;
    return RELINK_OK;
}

RELINK_API int relink_config_set_timing_ms(relink_config* config, int timing, int64_t milliseconds) {
    // Nanoseconds in an int64_t reach about 292 years: a longer duration would overflow.
    constexpr int64_t kMaxMilliseconds = std::numeric_limits<int64_t>::max() / 1'000'000;
    if (config == nullptr || timing < 0 || timing >= static_cast<int>(relink_config::kTimingCount) ||
        milliseconds < 0 || milliseconds > kMaxMilliseconds) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->timing_overrides[static_cast<std::size_t>(timing)] =
        std::chrono::duration_cast<relink::Duration>(std::chrono::milliseconds(milliseconds));
    return RELINK_OK;
}

RELINK_API int relink_config_set_backoff_shape(relink_config* config, double multiplier, double jitter) {
    if (config == nullptr || !std::isfinite(multiplier) || multiplier < 1 || !std::isfinite(jitter) || jitter < 0 ||
        jitter >= 1) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->backoff_multiplier = multiplier;
    config->backoff_jitter = jitter;
    return RELINK_OK;
}

RELINK_API int relink_config_set_backfill_count(relink_config* config, size_t count) {
    if (config == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    config->backfill_count = count;
    return RELINK_OK;
}

}  // extern "C"
