// capi/capi_internal.hpp — what the C API's translation units share: the config handle behind relink_config, and
// the conversion of errors to the C API's ints. Internal to librelink.so (nothing here is exported).
#pragma once

#include <array>
#include <optional>
#include <system_error>

#include "relink/client.hpp"
#include "relink/relink.h"

/// A config handle: a relink::ClientConfig, the C callbacks, and the timing overrides. The overrides are applied on
/// top of timings_for(profile) when the client is made, so set_profile() and set_timing_ms() may come in any order.
struct relink_config {
    static constexpr std::size_t kTimingCount = RELINK_TIMING_RETRY_PROBE_WINDOW + 1;

    relink::ClientConfig config;
    std::array<std::optional<relink::Duration>, kTimingCount> timing_overrides;
    std::optional<double> backoff_multiplier;
    std::optional<double> backoff_jitter;
    std::optional<std::size_t> backfill_count;

    relink_event_callback event_callback{nullptr};
    void* event_user_data{nullptr};
    relink_log_callback log_callback{nullptr};
    void* log_user_data{nullptr};
    relink_token_provider token_provider{nullptr};
    void* token_user_data{nullptr};
};

namespace relink::capi {

/// The C API's int for an error: relink's own codes keep their numbers (the header's RELINK_E_* are errc's);
/// an error of another category (none is expected) is RELINK_E_INTERNAL.
inline int to_c_error(std::error_code error) noexcept {
    if (!error) {
        return RELINK_OK;
    }
    return error.category() == relink::error_category() ? error.value() : RELINK_E_INTERNAL;
}

/// The Timings a client of this config runs with: the profile's, with the overrides on top; none when nothing is
/// overridden (the client then takes timings_for(profile) itself).
std::optional<Timings> effective_timings(const relink_config& config);

}  // namespace relink::capi
