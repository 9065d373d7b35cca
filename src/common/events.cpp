// Canonical names of the causes of a failed connection attempt (relink/events.hpp).
#include "relink/events.hpp"

#include <array>
#include <utility>

namespace relink {
namespace {

constexpr std::array<std::pair<AttemptFailure, std::string_view>, 13> kFailureNames{{
    {AttemptFailure::dns, "DNS"},
    {AttemptFailure::refused, "REFUSED"},
    {AttemptFailure::timeout, "TIMEOUT"},
    {AttemptFailure::network, "NETWORK"},
    {AttemptFailure::proxy, "PROXY"},
    {AttemptFailure::tls, "TLS"},
    {AttemptFailure::certificate, "CERTIFICATE"},
    {AttemptFailure::http, "HTTP"},
    {AttemptFailure::protocol, "PROTOCOL"},
    {AttemptFailure::closed, "CLOSED"},
    {AttemptFailure::server, "SERVER"},
    {AttemptFailure::config, "CONFIG"},
    {AttemptFailure::busy, "BUSY"},
}};

}  // namespace

std::string_view to_string(AttemptFailure cause) noexcept {
    for (const auto& [value, name] : kFailureNames) {
        if (value == cause) {
            return name;
        }
    }
    return "UNKNOWN";
}

std::optional<AttemptFailure> attempt_failure_from_string(std::string_view name) noexcept {
    for (const auto& [value, text] : kFailureNames) {
        if (text == name) {
            return value;
        }
    }
    return std::nullopt;
}

}  // namespace relink
