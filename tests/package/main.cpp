// A C++17 program built against the installed relink package (see tests/package/run.sh). It only uses the
// public headers and relink::relink, and returns non-zero if a check fails:
//   - the public vocabulary (names, timings, error codes) of relink::core;
//   - a relink::Client (the static client library, its TLS WebSocket transport, OpenSSL and threads) that logs in
//     to a closed port: it must report CONNECTING and then the state that follows the failed login, within a
//     bounded wait, and its destructor must return.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

#include <relink/client.hpp>
#include <relink/error.hpp>
#include <relink/timings.hpp>
#include <relink/types.hpp>

#include "state_observer.hpp"

namespace {

int check_vocabulary() {
    int failures = 0;
    const auto check = [&failures](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "package consumer: FAILED: %s\n", what);
            ++failures;
        }
    };

    check(relink::to_string(relink::ConnectionState::reconnecting) == "RECONNECTING",
          "to_string(ConnectionState::reconnecting) == \"RECONNECTING\"");
    check(relink::timings_for(relink::Profile::rtc).give_up_after == std::chrono::minutes(20),
          "timings_for(rtc).give_up_after == 20 min");
    const std::error_code ec = relink::make_error_code(relink::errc::not_logged_in);
    check(std::strcmp(relink::error_name(ec), "NOT_LOGGED_IN") == 0, "error_name(not_logged_in) == \"NOT_LOGGED_IN\"");
    check(ec == relink::condition::misuse, "not_logged_in is a misuse");
    check(!relink::validate(relink::timings_for(relink::Profile::rtm)), "the rtm defaults validate");
    return failures;
}

int check_client() {
    package_test::StateObserver observed;  // outlives the client, whose callbacks it receives
    std::optional<relink::ConnectionStateChanged> outcome;
    {
        relink::Client client(package_test::closed_port_config());
        client.on_connection_state_changed(observed.handler());
        if (const std::error_code error = client.login()) {
            std::fprintf(stderr, "package consumer: FAILED: login() returned %s\n", error.message().c_str());
            return 1;
        }
        outcome = observed.wait_after_connecting();
        std::puts("package consumer: destroying the client");
    }  // ~Client: bounded by its contract; no callback runs after it
    return package_test::check_outcome(outcome);
}

}  // namespace

int main() {
    const int failures = check_vocabulary() + check_client();
    if (failures != 0) {
        return 1;
    }
    std::puts("package consumer: OK");
    return 0;
}
