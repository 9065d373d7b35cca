// demo/scenarios.hpp — the rtc and rtm timelines of docs/state-machine.md (section 6), played for real: an embedded
// relinkd (server::Server) on loopback with its self-signed certificate trusted by the clients, two relink::Client
// instances in one channel (UID1 behind a fault-injecting proxy, UID2 straight to the server), and a script that
// breaks and repairs UID1's link. Each scenario runs on its own time scale (server and clients alike), records what
// every client observed (timeline.hpp) and checks it against what the documented timeline says it should observe. The
// cluster scene deploys two embedded relinkd nodes (A and B) on a redis-server child instead (started with the tests'
// support/redis_process.hpp), puts the proxy in front of UID1 as its load balancer, and kills node A.
//
// Every wait is bounded; a scenario that does not see what it waits for stops there, and its check says what was
// missing. The server, the proxy and the clients of a scenario are stopped before run() returns.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "demo/timeline.hpp"

namespace relink::demo {

struct RunOptions {
    /// Multiplies each scenario's time scale: > 1 runs slower, with proportionally more room for a busy machine.
    double stretch{1.0};
    /// Added to every scenario's real-time tolerance (seconds): for slow builds (sanitizers) in the tests.
    double extra_real_slack{0.0};
    /// Server and client logs on stderr (debug level).
    bool verbose{false};
};

/// What one run produced.
struct ScenarioRun {
    RecordedTimeline timeline;
    CheckResult check;
    double wall_seconds{0.0};
};

struct Scenario {
    std::string name;         ///< for --only: "rtc-outage" ...
    std::string title;        ///< the timeline's title
    std::string description;  ///< one paragraph: what happens and what the timeline says should be seen
    double time_scale{1.0};   ///< real seconds per spec second (before RunOptions::stretch)
    std::function<ScenarioRun(const Scenario&, const RunOptions&)> run;
};

/// The demo's scenarios, in the order they are played.
[[nodiscard]] const std::vector<Scenario>& scenarios();

/// The run of a scenario: never throws; a setup failure (the server cannot start, redis-server is missing ...) is
/// a failed check.
[[nodiscard]] ScenarioRun run_scenario(const Scenario& scenario, const RunOptions& options);

}  // namespace relink::demo
