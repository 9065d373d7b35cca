// tests/core/harness.hpp — helpers for the core's virtual-clock tests: exact-jitter-free configs, readable
// renderings of recorded events ("6200 UID1 state RECONNECTING INTERRUPTED"), and filters over a World's log.
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/client_core.hpp"
#include "sim/world.hpp"

namespace relink::test {

using namespace std::chrono_literals;
using core::TimePoint;
using sim::LinkMode;
using sim::World;

/// A profile's default timings with jitter off, so that every retry time is exact.
inline core::Config exact_config(Profile profile, std::uint64_t seed = 1) {
    core::Config config = core::make_config(profile, "app", seed);
    config.timings.backoff_jitter = 0.0;
    return config;
}

inline TimePoint at_ms(long long ms) {
    return TimePoint{} + std::chrono::milliseconds(ms);
}

inline std::string ms_text(TimePoint t) {
    const auto ns = t.time_since_epoch().count();
    std::ostringstream out;
    if (ns % 1'000'000 == 0) {
        out << ns / 1'000'000;
    } else {
        out << static_cast<double>(ns) / 1e6;
    }
    return out.str();
}

/// A short rendering of an event, without the fields that the timeline tables do not show.
inline std::string brief(const core::Event& event) {
    if (const auto* e = std::get_if<core::ConnectionStateChanged>(&event)) {
        return "state " + std::string(to_string(e->state)) + " " + std::string(to_string(e->reason));
    }
    if (const auto* e = std::get_if<core::ChannelStateChanged>(&event)) {
        std::string text = "channel " + e->channel + " " + std::string(to_string(e->reason));
        if (e->error) {
            text += std::string(" ") + error_name(e->error);
        }
        return text;
    }
    if (const auto* e = std::get_if<core::MessageReceived>(&event)) {
        return "message " + e->from + (e->channel ? " #" + *e->channel : std::string(" @peer")) + " " + e->payload +
               (e->backfilled ? " backfilled" : "");
    }
    if (const auto* e = std::get_if<core::OperationCompleted>(&event)) {
        return "completed " + std::to_string(e->op) + " " + error_name(e->error);
    }
    return core::describe(event);
}

using EventFilter = std::function<bool(const sim::Record&)>;

/// Every recorded event as "<ms> <client> <brief>", optionally filtered and from a start time on. The failed
/// attempts (AttemptFailed), every attempt's timings (AttemptFinished) and the quality reports (LinkQualityChanged)
/// are left out: the timelines are the
/// app-visible state story of the spec's tables; the tests of attempt failures and of quality read them with
/// events_of<>().
inline std::vector<std::string> timeline(const World& world, const EventFilter& keep = {},
                                         TimePoint from = TimePoint{}) {
    std::vector<std::string> lines;
    for (const auto& record : world.log()) {
        if (record.at < from || (keep && !keep(record)) || std::holds_alternative<core::AttemptFailed>(record.event) ||
            std::holds_alternative<core::AttemptFinished>(record.event) ||
            std::holds_alternative<core::LinkQualityChanged>(record.event)) {
            continue;
        }
        lines.push_back(ms_text(record.at) + " " + record.client + " " + brief(record.event));
    }
    return lines;
}

inline EventFilter only(const std::string& client) {
    return [client](const sim::Record& r) { return r.client == client; };
}

/// The events of one type recorded for a client.
template <class E>
std::vector<std::pair<TimePoint, E>> events_of(const World& world, const std::string& client) {
    std::vector<std::pair<TimePoint, E>> out;
    for (const auto& record : world.log()) {
        if (record.client == client) {
            if (const auto* e = std::get_if<E>(&record.event)) {
                out.emplace_back(record.at, *e);
            }
        }
    }
    return out;
}

/// Times at which a client opened a transport (one per connection attempt).
inline std::vector<TimePoint> attempts_of(const World& world, const std::string& client, TimePoint from = {}) {
    std::vector<TimePoint> out;
    for (const auto& record : world.actions()) {
        if (record.client == client && record.at >= from &&
            std::holds_alternative<core::OpenTransport>(record.action)) {
            out.push_back(record.at);
        }
    }
    return out;
}

/// From the world's current time: `who` logs in as itself, joins `channel` once connected, and the world runs until
/// the join is answered (two round trips, then one, at the client's one-way `latency`).
inline void login_and_join(World& world, const std::string& who, const std::string& channel,
                           Duration latency = std::chrono::milliseconds(50)) {
    const TimePoint start = world.now();
    ASSERT_FALSE(world.call(who, [&](core::ClientCore& c, TimePoint now) { return c.login(now, who, "valid"); }));
    world.run_until(start + 4 * latency);
    ASSERT_EQ(world.client(who).state(), ConnectionState::connected) << who;
    ASSERT_FALSE(world.call(who, [&](core::ClientCore& c, TimePoint now) { return c.join(now, channel); }));
    world.run_until(start + 6 * latency);
    ASSERT_EQ(world.client(who).channel_state(channel), ChannelState::connected) << who;
}

/// Joins lines for a readable failure message.
inline std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) {
        out += "\n  " + line;
    }
    return out;
}

}  // namespace relink::test
