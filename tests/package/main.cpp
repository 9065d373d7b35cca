// A C++17 program built against the installed relink package (see tests/package/run.sh). It only uses the
// public headers and relink::relink, and returns non-zero if a check fails.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <system_error>

#include <relink/error.hpp>
#include <relink/timings.hpp>
#include <relink/types.hpp>

int main() {
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

    if (failures != 0) {
        return 1;
    }
    std::puts("package consumer: OK");
    return 0;
}
