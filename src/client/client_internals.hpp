// client/client_internals.hpp — detail::ClientInternals, the one door relink's own tests have into a
// relink::Client: they watch the core each public call asks, to show that the call returns the core's exact answer.
// Not installed, not part of the API.
#pragma once

#include <functional>

#include "core/client_core.hpp"
#include "relink/client.hpp"

namespace relink::detail {

struct ClientInternals {
    /// Called on the calling thread, under the client's lock, just before a public call asks the core: with the
    /// core as it is then and the time the call gives it. A copy of `core` asked the same question at `now`
    /// gives the same answer.
    using CallObserver = std::function<void(const core::ClientCore& core, core::TimePoint now)>;
    /// Installs `observer` (empty: none) for every later public call of `client`.
    static void observe_calls(Client& client, CallObserver observer);
};

}  // namespace relink::detail
