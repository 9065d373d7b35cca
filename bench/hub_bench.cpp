// relink-hub-bench — the server hub's cost, sans-IO (no TLS, no sockets): logins per second, channel fan-out
// deliveries per second, and the hub's own memory per idle session. relinkd's memory per TLS session adds the
// transport's buffers on top (issue 3's RSS benchmark). Figures and the command: docs/benchmarks.md.
//
//   BM_HubLogins/N        N fresh connections log in, each into one of 100 channels, per login (each join is
//                         announced to the channel's members, so a login costs O(members))
//   BM_HubFanout/M        one publisher, M members of a channel: per message delivered to one member
//   BM_HubIdleSessions/N  N idle sessions in channels of 100; counter bytes_per_session from mallinfo2()
#include <malloc.h>

#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "server/hub.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = relink::proto;
namespace server = relink::server;
using relink::Profile;

server::Hub make_hub() {
    server::HubConfig config;
    config.limits.logins_per_second_per_address = 1e12;  // measure the hub, not its rate limiter
    config.limits.login_burst = 1e12;
    config.limits.server_logins_per_second = 1e12;  // nor its admission control
    config.limits.server_login_burst = 1e12;
    config.limits.max_logins_in_progress = 1'000'000'000;
    config.limits.messages_per_second = 1e12;
    config.limits.message_burst = 1e12;
    config.limits.max_members_per_channel = 1'000'000;
    return server::Hub(config,
                       [](const std::string&, const std::string&, const std::string&) { return server::TokenCheck{}; });
}

std::size_t drain(server::Hub& hub) {
    std::size_t n = 0;
    while (auto action = hub.poll_action()) {
        benchmark::DoNotOptimize(action);
        ++n;
    }
    return n;
}

proto::Login login_for(std::size_t i, const std::string& channel) {
    proto::Login login;
    login.request_id = 1;
    login.app_id = "app";
    login.user_id = "user-" + std::to_string(i);
    login.token = "t";
    login.instance_id = "i" + std::to_string(i);
    login.profile = Profile::rtm;
    login.channels.push_back({channel, std::nullopt, {}});
    return login;
}

void BM_HubLogins(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        server::Hub hub = make_hub();
        server::TimePoint now{};
        state.ResumeTiming();
        for (std::size_t i = 0; i < n; ++i) {
            hub.on_open(now, i + 1, "10.0.0.1");
            hub.on_frame(now, i + 1, login_for(i, "room-" + std::to_string(i % 100)));  // rooms of ≤ n / 100
            drain(hub);
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_HubLogins)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_HubFanout(benchmark::State& state) {
    const auto members = static_cast<std::size_t>(state.range(0));
    server::Hub hub = make_hub();
    server::TimePoint now{};
    for (std::size_t i = 0; i <= members; ++i) {
        hub.on_open(now, i + 1, "10.0.0.1");
        hub.on_frame(now, i + 1, login_for(i, "ch"));
    }
    drain(hub);
    std::uint64_t id = 0;
    for (auto _ : state) {
        proto::SendMessage send{++id, "m" + std::to_string(id), std::nullopt, std::string("ch"), "hello", false};
        hub.on_frame(now, 1, send);
        drain(hub);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * members));
}
BENCHMARK(BM_HubFanout)->Arg(10)->Arg(100)->Arg(1000);

void BM_HubIdleSessions(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    double per_session = 0;
    for (auto _ : state) {
        const auto before = mallinfo2().uordblks;
        {
            server::Hub hub = make_hub();
            server::TimePoint now{};
            for (std::size_t i = 0; i < n; ++i) {
                hub.on_open(now, i + 1, "10.0.0.1");
                hub.on_frame(now, i + 1, login_for(i, "room-" + std::to_string(i / 100)));  // rooms of 100
                drain(hub);
            }
            const auto after = mallinfo2().uordblks;
            per_session = static_cast<double>(after - before) / static_cast<double>(n);
        }
    }
    state.counters["bytes_per_session"] = per_session;
}
BENCHMARK(BM_HubIdleSessions)->Arg(1000)->Arg(10000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
