// relink-demo — plays the T-RTC timeline of behaviour.md section 3 on the virtual clock and prints what each
// client observes, side by side (UID1 | UID2), like the seed's T0…T7 table. It drives the real connection core
// (the same code the SDK runs) against a simulated network and server; the 20-minute timeline takes milliseconds.
// It checks the thresholds as it goes and exits non-zero if anything differs from the spec.
//
// Later issues replace the simulated server with relinkd on loopback and the simulated link with a fault proxy.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/client_core.hpp"
#include "sim/world.hpp"

namespace {

using namespace std::chrono_literals;
using relink::core::TimePoint;
using relink::sim::LinkMode;
using relink::sim::World;

std::string brief(const relink::core::Event& event) {
    if (const auto* e = std::get_if<relink::core::ConnectionStateChanged>(&event)) {
        return std::string("state ") + std::string(relink::to_string(e->state)) + " / " +
               std::string(relink::to_string(e->reason));
    }
    if (const auto* e = std::get_if<relink::core::ChannelStateChanged>(&event)) {
        return "channel " + e->channel + " " + std::string(relink::to_string(e->reason));
    }
    return relink::core::describe(event);
}

double seconds_between(TimePoint from, TimePoint to) {
    return std::chrono::duration<double>(to - from).count();
}

struct Check {
    std::string what;
    TimePoint expected;
    std::optional<TimePoint> seen;
};

/// Plays one scenario and prints its table; returns whether every check held.
bool play(const char* title, bool link_returns) {
    World world;
    auto config = [](std::uint64_t seed) {
        auto c = relink::core::make_config(relink::Profile::rtc, "app", seed);
        c.timings.backoff_jitter = 0.0;  // exact retry times, so the table is the same on every run
        return c;
    };
    world.add_client("UID2", config(2));
    world.add_client("UID1", config(1));
    world.call("UID2",
               [](relink::core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID2", "valid", "ch"); });
    world.run_for(1s);

    const TimePoint t0 = world.now();
    world.call("UID1",
               [](relink::core::ClientCore& c, TimePoint now) { return c.join_session(now, "UID1", "valid", "ch"); });
    // Break the link right after UID1 received data, so that T3 is "the last data received".
    world.run_until([&] { return world.last_received("UID1") >= t0 + 5s; }, t0 + 10s);
    const TimePoint t3 = world.now();
    world.set_link("UID1", LinkMode::blackhole);
    if (link_returns) {
        world.run_until(t3 + 40s);
        world.set_link("UID1", LinkMode::pass);
        world.run_until(t3 + 90s);
    } else {
        world.run_until(t3 + 25min);
    }

    const TimePoint t4 = t3 + 4s;
    std::vector<Check> checks{{"T4 = T3 + 4 s: RECONNECTING INTERRUPTED", t4, {}},
                              {"T5 = T4 + 10 s: connection_lost", t4 + 10s, {}},
                              {"T6 = T3 + 20 s: UID2 sees UID1 leave (DROPPED)", t3 + 20s, {}}};
    if (!link_returns) {
        checks.push_back({"T7 = T4 + 20 min: FAILED JOIN_FAILED", t4 + 20min, {}});
    }

    std::printf("\n%s\n", title);
    std::printf("  %-8s %10s | %-44s | %s\n", "", "time", "UID1 (local)", "UID2 (same channel)");
    std::printf("  %s\n", std::string(120, '-').c_str());
    bool link_dead_printed = false;
    for (const auto& record : world.log()) {
        if (record.at < t0 || std::holds_alternative<relink::core::OperationCompleted>(record.event)) {
            continue;
        }
        if (!link_dead_printed && record.at > t3) {
            std::printf("  %-8s %+9.3fs | %-44s |\n", "T3", seconds_between(t0, t3),
                        "(link silently dead: packets dropped)");
            link_dead_printed = true;
        }
        const std::string text = brief(record.event);
        std::string label;
        if (record.at == t0) {
            label = "T0";
        } else if (record.client == "UID1" && text.rfind("state CONNECTED / JOIN_SUCCESS", 0) == 0) {
            label = "T1";
        } else if (record.client == "UID2" && text.rfind("member_joined", 0) == 0 && record.at < t3) {
            label = "T2";
        }
        const auto mark = [&](std::size_t index, bool matches) {
            if (matches && !checks[index].seen) {
                checks[index].seen = record.at;
                label = std::string("T") + std::to_string(index + 4);
            }
        };
        mark(0, record.client == "UID1" && text == "state RECONNECTING / INTERRUPTED");
        mark(1, record.client == "UID1" && text == "connection_lost");
        mark(2, record.client == "UID2" && text.rfind("member_left ch UID1 DROPPED", 0) == 0);
        if (!link_returns) {
            mark(3, record.client == "UID1" && text == "state FAILED / JOIN_FAILED");
        }
        const bool local = record.client == "UID1";
        std::printf("  %-8s %+9.3fs | %-44s | %s\n", label.c_str(), seconds_between(t0, record.at),
                    local ? text.c_str() : "", local ? "" : text.c_str());
    }

    bool ok = true;
    std::printf("\n  checks against behaviour.md section 3 (virtual clock: exact):\n");
    for (const auto& check : checks) {
        const bool held = check.seen && *check.seen == check.expected;
        ok = ok && held;
        char seen[32] = "never";
        if (check.seen) {
            std::snprintf(seen, sizeof seen, "%+.3fs", seconds_between(t0, *check.seen));
        }
        std::printf("    [%s] %-48s expected %+.3fs, seen %s\n", held ? " ok " : "FAIL", check.what.c_str(),
                    seconds_between(t0, check.expected), seen);
    }
    if (!link_returns) {
        std::size_t late = 0;
        for (const auto& action : world.actions()) {
            late += action.client == "UID1" && action.at > t4 + 20min &&
                    std::holds_alternative<relink::core::OpenTransport>(action.action);
        }
        std::printf("    [%s] no reconnect attempt after T7 (seen %zu)\n", late == 0 ? " ok " : "FAIL", late);
        ok = ok && late == 0;
    } else {
        const bool back = world.client("UID1").state() == relink::ConnectionState::connected;
        std::printf("    [%s] UID1 is CONNECTED again after the link returned\n", back ? " ok " : "FAIL");
        ok = ok && back;
    }
    return ok;
}

}  // namespace

int main() {
    std::printf(
        "relink demo: the rtc timeline of behaviour.md section 3 (T-RTC), played by the relink connection\n"
        "core on a virtual clock (one-way latency 50 ms, jitter off). Times are from UID1's join() (T0).\n");
    const bool never = play("1) The network breaks at T3 and never comes back", false);
    const bool returns = play("2) The network breaks at T3 and returns 40 s later (after T6)", true);
    const bool ok = never && returns;
    std::printf("\n%s\n",
                ok ? "relink demo: every threshold matched the spec." : "relink demo: MISMATCH (see FAIL above).");
    return ok ? 0 : 1;
}
