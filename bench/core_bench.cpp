// relink-core-bench — how many events the sans-IO client core (and its virtual-clock simulation) processes per
// second. Performance is measured here, never asserted in tests. docs/benchmarks.md has the command and figures.
//
//   BM_CoreInboundChannelMessages  a connected core fed proto::Message inputs through on_message(), events drained
//   BM_CoreInboundPeerMessages     the same for peer messages
//   BM_CoreDuplicateMessages       inputs the core drops as duplicates (the at-most-once check alone)
//   BM_CoreHeartbeatTimers         an idle connected core driven timer to timer (ping / pong), per timer fired
//   BM_BackoffNext                 one jittered backoff delay
//   BM_WorldReconnectCycle         one full outage on the virtual clock: blackhole → INTERRUPTED → attempts →
//                                  link back → CONNECTED, per cycle (counters: simulation steps, attempts)
//   BM_WorldChannelChat/N          N clients in one channel, each sends one channel message per round; items are
//                                  messages delivered to receivers (N × (N − 1) per round)
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/backoff.hpp"
#include "core/client_core.hpp"
#include "sim/world.hpp"

namespace {

using namespace std::chrono_literals;
using relink::Profile;
using relink::core::ClientCore;
using relink::core::TimePoint;
using relink::core::TransportId;
namespace core = relink::core;
namespace proto = relink::proto;
namespace sim = relink::sim;

/// A core logged in on transport `transport`, member of channel "ch" with one other member, at `now`.
struct ConnectedCore {
    explicit ConnectedCore(Profile profile) : core(core::make_config(profile, "app", 1)) {
        (void)core.login(now, "me", "valid", {"ch"});
        drain();
        core.on_transport_open(now, transport);
        drain();
        proto::LoginOk ok;
        ok.request_id = login_request;
        ok.resume_token = "resume";
        proto::ChannelSnapshot snapshot;
        snapshot.channel = "ch";
        snapshot.members.push_back(proto::Member{"peer", {}});
        ok.channels.push_back(snapshot);
        core.on_message(now, transport, ok);
        drain();
        if (core.state() != relink::ConnectionState::connected) {
            throw std::runtime_error("bench: the core did not connect");
        }
    }

    /// Pulls every action and event, as a driver must; returns how many events there were.
    std::size_t drain() {
        while (auto action = core.poll_action()) {
            if (const auto* open = std::get_if<core::OpenTransport>(&*action)) {
                transport = open->transport;
            } else if (const auto* frame = std::get_if<core::SendFrame>(&*action)) {
                if (const auto* login = std::get_if<proto::Login>(&frame->message)) {
                    login_request = login->request_id;
                }
            }
        }
        std::size_t events = 0;
        while (auto event = core.poll_event()) {
            benchmark::DoNotOptimize(*event);
            ++events;
        }
        return events;
    }

    ClientCore core;
    TimePoint now{};
    TransportId transport{0};
    proto::RequestId login_request{0};
};

void inbound_messages(benchmark::State& state, bool channel) {
    ConnectedCore c(Profile::rtm);
    std::uint64_t seq = 0;
    std::size_t events = 0;
    const std::string payload(64, 'x');
    for (auto _ : state) {
        proto::Message m;
        m.from = "peer";
        if (channel) {
            m.channel = "ch";
        }
        m.position = proto::StreamPosition{1, ++seq};
        m.message_id = "0123456789abcdef-" + std::to_string(seq);  // unique, as a sender's (the core drops repeats)
        m.payload = payload;
        c.now += 1us;  // heartbeats go out every virtual second: one per 1,000,000 messages
        c.core.on_message(c.now, c.transport, std::move(m));
        events += c.drain();
    }
    if (events < static_cast<std::size_t>(state.iterations())) {
        state.SkipWithError("messages were dropped");
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_CoreInboundChannelMessages(benchmark::State& state) {
    inbound_messages(state, true);
}
BENCHMARK(BM_CoreInboundChannelMessages);

void BM_CoreInboundPeerMessages(benchmark::State& state) {
    inbound_messages(state, false);
}
BENCHMARK(BM_CoreInboundPeerMessages);

void BM_CoreDuplicateMessages(benchmark::State& state) {
    ConnectedCore c(Profile::rtm);
    proto::Message first{"peer", std::string("ch"), "id", "x", proto::StreamPosition{1, 1000}, false};
    c.core.on_message(c.now, c.transport, first);
    c.drain();
    for (auto _ : state) {
        proto::Message m{"peer", std::string("ch"), "id", "x", proto::StreamPosition{1, 5}, false};
        c.core.on_message(c.now, c.transport, std::move(m));
        c.drain();
    }
    if (c.core.diagnostics().duplicate_messages != static_cast<std::uint64_t>(state.iterations())) {
        state.SkipWithError("duplicates were not dropped");
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CoreDuplicateMessages);

void BM_CoreHeartbeatTimers(benchmark::State& state) {
    ConnectedCore c(Profile::rtc);
    for (auto _ : state) {
        const auto deadline = c.core.next_deadline();
        c.now = *deadline;
        c.core.handle_timeout(c.now);  // sends a ping
        c.drain();
        c.core.on_message(c.now, c.transport, proto::Pong{});  // the server answers at once
        c.drain();
    }
    if (c.core.state() != relink::ConnectionState::connected) {
        state.SkipWithError("the idle core lost its connection");
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CoreHeartbeatTimers);

void BM_BackoffNext(benchmark::State& state) {
    core::Backoff backoff(300ms, 1.6, 0.2, 8s);
    std::mt19937_64 rng(1);
    for (auto _ : state) {
        if (backoff.step() > 20) {
            backoff.reset();
        }
        benchmark::DoNotOptimize(backoff.next(rng));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BackoffNext);

void BM_WorldReconnectCycle(benchmark::State& state) {
    sim::World world;
    world.set_recording(false);
    auto& client = world.add_client("UID1", core::make_config(Profile::rtc, "app", 7));
    world.call("UID1", [](ClientCore& c, TimePoint now) { return c.join_session(now, "UID1", "valid", "ch"); });
    world.run_for(1s);
    const auto connected = [&] { return client.state() == relink::ConnectionState::connected && client.link_up(); };
    std::uint64_t steps = 0;
    std::uint64_t cycles = 0;
    for (auto _ : state) {
        const std::uint64_t before = world.steps();
        world.set_link("UID1", sim::LinkMode::blackhole);
        world.run_for(5s);  // INTERRUPTED after 4 s of silence; attempts hang in the blackhole
        if (client.state() == relink::ConnectionState::connected) {
            state.SkipWithError("no INTERRUPTED");
            break;
        }
        world.set_link("UID1", sim::LinkMode::pass);
        if (!world.run_until(connected, world.now() + 60s)) {
            state.SkipWithError("did not reconnect");
            break;
        }
        world.run_for(1s);  // a little connected time, heartbeats included
        steps += world.steps() - before;
        ++cycles;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["sim_steps_per_cycle"] =
        benchmark::Counter(cycles == 0 ? 0.0 : static_cast<double>(steps) / static_cast<double>(cycles));
}
BENCHMARK(BM_WorldReconnectCycle);

void BM_WorldChannelChat(benchmark::State& state) {
    const int n = static_cast<int>(state.range(0));
    sim::World world;
    world.set_recording(false);
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) {
        names.push_back("u" + std::to_string(i));
        world.add_client(names.back(), core::make_config(Profile::rtm, "app", 100 + static_cast<std::uint64_t>(i)));
    }
    for (const auto& name : names) {
        world.call(name, [&](ClientCore& c, TimePoint now) { return c.login(now, name, "valid", {"room"}); });
    }
    world.run_for(1s);
    for (const auto& name : names) {
        if (world.client(name).state() != relink::ConnectionState::connected) {
            state.SkipWithError("a client did not connect");
            return;
        }
    }
    const std::string payload(64, 'x');
    for (auto _ : state) {
        for (const auto& name : names) {
            const auto sent = world.call(
                name, [&](ClientCore& c, TimePoint now) { return c.send_channel_message(now, "room", payload); });
            if (!sent) {
                state.SkipWithError("send failed");
                return;
            }
        }
        world.run_for(200ms);  // one-way latency 50 ms: delivered and acknowledged after 100 ms
    }
    state.SetItemsProcessed(state.iterations() * n * (n - 1));
    state.counters["clients"] = n;
}
BENCHMARK(BM_WorldChannelChat)->Arg(10)->Arg(50)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
