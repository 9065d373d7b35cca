// tests/soak/transition_table_check.cpp — pins tests/soak/transition_table.hpp to docs/state-machine.md: the number
// of allowed cells per profile ("rtm and room allow 16 of the 49 cells, rtc 17, rtc-web 15") and a few cells that
// must (not) be allowed. Exit status 0 when all hold.
#include <cstdio>

#include "transition_table.hpp"

int main() {
    using relink::ConnectionReason;
    using relink::ConnectionState;
    using relink::Profile;
    using relink::soak::allowed_cells;
    using relink::soak::transition_allowed;
    int failures = 0;
    const auto expect = [&](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "FAILED: %s\n", what);
            ++failures;
        }
    };
    expect(allowed_cells(Profile::rtm) == 16, "rtm allows 16 cells");
    expect(allowed_cells(Profile::room) == 16, "room allows 16 cells");
    expect(allowed_cells(Profile::rtc) == 17, "rtc allows 17 cells");
    expect(allowed_cells(Profile::rtc_web) == 15, "rtc-web allows 15 cells");
    expect(transition_allowed(Profile::rtc_web, ConnectionState::connected, ConnectionState::connecting,
                              ConnectionReason::interrupted),
           "web CONNECTED -> CONNECTING INTERRUPTED");
    expect(!transition_allowed(Profile::rtc_web, ConnectionState::connected, ConnectionState::reconnecting,
                               ConnectionReason::interrupted),
           "web never RECONNECTING");
    expect(!transition_allowed(Profile::rtm, ConnectionState::connected, ConnectionState::failed,
                               ConnectionReason::token_expired),
           "rtm never FAILED TOKEN_EXPIRED");
    expect(transition_allowed(Profile::rtm, ConnectionState::reconnecting, ConnectionState::connected,
                              ConnectionReason::login_success),
           "rtm reconnect is LOGIN_SUCCESS");
    expect(!transition_allowed(Profile::rtm, ConnectionState::reconnecting, ConnectionState::connected,
                               ConnectionReason::rejoin_success),
           "rtm reconnect is not REJOIN_SUCCESS");
    expect(!transition_allowed(Profile::room, ConnectionState::connected, ConnectionState::connected,
                               ConnectionReason::rejoin_success),
           "CONNECTED -> CONNECTED is forbidden");
    std::printf("%s\n", failures == 0 ? "transition table: ok" : "transition table: FAILED");
    return failures == 0 ? 0 : 1;
}
