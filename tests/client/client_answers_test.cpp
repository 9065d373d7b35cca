// relink::Client has one head: every public call returns the core's exact answer. Each call is made against a real
// relinkd (through the fault proxy, to reach every connection state), and a copy of the client's core — taken under
// the client's lock at the instant the call asked it (detail::ClientInternals) — is asked the same question at the
// same time: the two answers must be equal. A call the Client answered by itself would not reach the core and fail
// the "asked the core exactly once" check; one answered from a stale or approximate copy of the core's decisions
// would differ from the core's answer. The calls are generated from one table, across every profile and every
// state the profile can reach, then made from inside callbacks and from 8 threads at once.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client/client_harness.hpp"
#include "client/client_internals.hpp"
#include "core/client_core.hpp"
#include "faultproxy/fault_proxy.hpp"
#include "protocol/messages.hpp"

namespace relink::test {
namespace {

using namespace std::chrono_literals;
using faultproxy::FaultProxy;
using faultproxy::Mode;

/// The core copy a call asked, kept per thread: each thread's calls are compared on that thread.
struct Asked {
    core::ClientCore core;
    core::TimePoint now;
};
thread_local std::optional<Asked> t_asked;    // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
thread_local std::uint64_t t_times_asked{0};  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

/// One public call: how the app makes it, and the same question put to a core.
struct Call {
    std::string name;
    std::function<std::error_code(Client&)> client;
    /// The core's answer; none for calls that return nothing (they are only checked to ask the core once).
    std::function<std::optional<std::error_code>(core::ClientCore&, core::TimePoint)> core;
    bool changes_session{false};  ///< may end or start the session: made last in a state
};

const std::string kUser = "alice";

std::vector<Call> make_calls(const std::string& token) {
    const std::string big(proto::kMaxPayloadBytes + 1, 'x');
    const Attributes attributes{{"mood", "calm"}};
    std::vector<Call> calls;
    auto add_op = [&](std::string name, std::function<std::error_code(Client&)> client,
                      std::function<core::OpResult(core::ClientCore&, core::TimePoint)> in_core) {
        calls.push_back({std::move(name), std::move(client),
                         [in_core](core::ClientCore& c, core::TimePoint t) -> std::optional<std::error_code> {
                             return in_core(c, t).error;
                         },
                         false});
    };
    auto add = [&](std::string name, std::function<std::error_code(Client&)> client,
                   std::function<std::error_code(core::ClientCore&, core::TimePoint)> in_core, bool changes) {
        calls.push_back({std::move(name), std::move(client),
                         [in_core](core::ClientCore& c, core::TimePoint t) -> std::optional<std::error_code> {
                             return in_core(c, t);
                         },
                         changes});
    };
    for (const std::string to : {"bob", "bad/user"}) {
        for (const bool store : {false, true}) {
            for (const bool large : {false, true}) {
                const std::string p = large ? big : std::string("hi");
                add_op(
                    "send_peer_message(" + to + (store ? ", offline" : "") + (large ? ", big)" : ")"),
                    [=](Client& c) { return c.send_peer_message(to, p, {}, store); },
                    [=](core::ClientCore& c, core::TimePoint t) { return c.send_peer_message(t, to, p, store); });
            }
        }
    }
    for (const std::string channel : {"lobby", "attic", "bad/name"}) {
        for (const bool large : {false, true}) {
            const std::string p = large ? big : std::string("hi");
            add_op(
                "send_channel_message(" + channel + (large ? ", big)" : ")"),
                [=](Client& c) { return c.send_channel_message(channel, p); },
                [=](core::ClientCore& c, core::TimePoint t) { return c.send_channel_message(t, channel, p); });
        }
        for (const std::string stream : {"cam", "bad/stream"}) {
            add_op(
                "publish(" + channel + ", " + stream + ")", [=](Client& c) { return c.publish(channel, stream); },
                [=](core::ClientCore& c, core::TimePoint t) { return c.publish(t, channel, stream); });
            add_op(
                "unpublish(" + channel + ", " + stream + ")", [=](Client& c) { return c.unpublish(channel, stream); },
                [=](core::ClientCore& c, core::TimePoint t) { return c.unpublish(t, channel, stream); });
        }
    }
    add_op(
        "set_local_user_attributes", [=](Client& c) { return c.set_local_user_attributes(attributes); },
        [=](core::ClientCore& c, core::TimePoint t) { return c.set_local_user_attributes(t, attributes); });
    for (const std::string user : {"bob", "bad/user"}) {
        add_op(
            "get_user_attributes(" + user + ")",
            [=](Client& c) { return c.get_user_attributes(user, [](std::error_code, const Attributes&) {}); },
            [=](core::ClientCore& c, core::TimePoint t) { return c.get_user_attributes(t, user); });
    }
    add_op(
        "renew_token", [=](Client& c) { return c.renew_token(token); },
        [=](core::ClientCore& c, core::TimePoint t) { return c.renew_token(t, token); });
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"attic", "hall"}, {"lobby", "bad/name"}, {"lobby", "lobby"}}) {
        add(
            "switch_channel(" + from + ", " + to + ")", [=](Client& c) { return c.switch_channel(from, to); },
            [=](core::ClientCore& c, core::TimePoint t) { return c.switch_channel(t, from, to); }, false);
    }
    // Calls that may start, fail or end the session come last, in an order that visits more states.
    for (const std::string channel : {"bad/name", "hall", "lobby"}) {
        add(
            "join(" + channel + ")", [=](Client& c) { return c.join(channel); },
            [=](core::ClientCore& c, core::TimePoint t) { return c.join_session(t, kUser, token, channel); }, true);
    }
    add(
        "switch_channel(lobby, cellar)", [](Client& c) { return c.switch_channel("lobby", "cellar"); },
        [](core::ClientCore& c, core::TimePoint t) { return c.switch_channel(t, "lobby", "cellar"); }, true);
    for (const std::string channel : {"attic", "cellar", "hall"}) {
        add(
            "leave(" + channel + ")", [=](Client& c) { return c.leave(channel); },
            [=](core::ClientCore& c, core::TimePoint t) { return c.leave(t, channel); }, true);
    }
    calls.push_back({"notify_network_changed",
                     [](Client& c) {
                         c.notify_network_changed();
                         return std::error_code{};
                     },
                     {},
                     true});
    add(
        "logout", [](Client& c) { return c.logout(); },
        [](core::ClientCore& c, core::TimePoint t) { return c.logout(t); }, true);
    add(
        "logout", [](Client& c) { return c.logout(); },
        [](core::ClientCore& c, core::TimePoint t) { return c.logout(t); }, true);
    add(
        "login", [](Client& c) { return c.login(); },
        [=](core::ClientCore& c, core::TimePoint t) { return c.login(t, kUser, token); }, true);
    add(
        "login", [](Client& c) { return c.login(); },
        [=](core::ClientCore& c, core::TimePoint t) { return c.login(t, kUser, token); }, true);
    return calls;
}

/// What the comparisons found, from any thread.
class Ledger {
public:
    /// Makes `call` on `client` and compares its answer with the core's; returns false on a difference.
    bool check(Client& client, const Call& call, Profile profile) {
        t_asked.reset();
        const auto asked_before = t_times_asked;
        const std::error_code answer = call.client(client);
        std::lock_guard lock(mutex_);
        if (t_times_asked != asked_before + 1 || !t_asked) {
            failures_.push_back(std::string(to_string(profile)) + " " + call.name + ": asked the core " +
                                std::to_string(t_times_asked - asked_before) + " times");
            return false;
        }
        const ConnectionState state = t_asked->core.state();
        ++checked_;
        covered_[profile][state].insert(call.name);
        if (!call.core) {
            return true;
        }
        const std::error_code expected = *call.core(t_asked->core, t_asked->now);
        if (expected != answer) {
            failures_.push_back(std::string(to_string(profile)) + " " + std::string(to_string(state)) + " " +
                                call.name + ": returned " + (answer ? answer.message() : "no error") +
                                ", the core answered " + (expected ? expected.message() : "no error"));
            return false;
        }
        return true;
    }

    [[nodiscard]] std::vector<std::string> failures() {
        std::lock_guard lock(mutex_);
        return failures_;
    }
    [[nodiscard]] std::uint64_t checked() {
        std::lock_guard lock(mutex_);
        return checked_;
    }
    /// The states in which every call of `calls` that leaves the session alone was compared.
    [[nodiscard]] std::set<ConnectionState> fully_covered(Profile profile, const std::vector<Call>& calls) {
        std::lock_guard lock(mutex_);
        std::set<ConnectionState> states;
        for (const auto& [state, names] : covered_[profile]) {
            bool all = true;
            for (const auto& call : calls) {
                all = all && (call.changes_session || names.count(call.name) != 0);
            }
            if (all) {
                states.insert(state);
            }
        }
        return states;
    }
    [[nodiscard]] std::set<std::string> covered_anywhere(Profile profile) {
        std::lock_guard lock(mutex_);
        std::set<std::string> names;
        for (const auto& [state, in_state] : covered_[profile]) {
            names.insert(in_state.begin(), in_state.end());
        }
        return names;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> failures_;
    std::uint64_t checked_{0};
    std::map<Profile, std::map<ConnectionState, std::set<std::string>>> covered_;
};

void observe(Client& client) {
    detail::ClientInternals::observe_calls(client, [](const core::ClientCore& core, core::TimePoint now) {
        t_asked.emplace(Asked{core, now});
        ++t_times_asked;
    });
}

class ClientAnswersTest : public ClientTest {
protected:
    void SetUp() override {
        ClientTest::SetUp();
        proxy_ = std::make_unique<FaultProxy>("127.0.0.1", server_->port());
    }
    void TearDown() override {
        proxy_.reset();
        ClientTest::TearDown();
    }

    /// A client of alice through the proxy, on a time scale of 0.25: states last long enough to be visited (a
    /// first login times out after 3 s) and silence is noticed after 1 s.
    ClientConfig alice(Profile profile) const {
        ClientConfig c = config(kUser, proxy_->port());
        c.profile = profile;
        c.time_scale = 0.25;
        return c;
    }

    /// Starts the session the way the profile does: login() (rtm, room) or join() (rtc, rtc-web).
    static void start(Client& client, Profile profile) {
        if (profile == Profile::rtc || profile == Profile::rtc_web) {
            ASSERT_FALSE(client.join("lobby"));
        } else {
            ASSERT_FALSE(client.login());
        }
    }

    /// Connected, with "lobby" joined.
    static void connect(Client& client, Recorder& events, Profile profile) {
        start(client, profile);
        ASSERT_TRUE(events.wait_state(ConnectionState::connected, std::nullopt)) << events.dump();
        if (profile == Profile::rtm || profile == Profile::room) {
            ASSERT_FALSE(client.join("lobby"));
        }
        ASSERT_TRUE(events.wait_for<ChannelStateChanged>(10s, [](const ChannelStateChanged& e) {
            return e.channel == "lobby" && e.state == ChannelState::connected;
        })) << events.dump();
    }

    /// Makes every call of the table, in order; the ones that leave the session alone first.
    void make_all(Client& client, Profile profile) {
        for (const bool changing : {false, true}) {
            for (const auto& call : calls_) {
                if (call.changes_session == changing) {
                    ledger_.check(client, call, profile);
                }
            }
        }
    }

    /// One fresh client per state: brought to the state by `reach`, then every call.
    void in_state(Profile profile, const std::function<void(Client&, Recorder&)>& reach) {
        proxy_->set_mode(Mode::pass);
        Recorder events;
        Client client(alice(profile));
        events.attach(client);
        observe(client);
        reach(client, events);
        if (::testing::Test::HasFatalFailure()) {
            return;
        }
        make_all(client, profile);
    }

    std::unique_ptr<FaultProxy> proxy_;
    Ledger ledger_;
    std::vector<Call> calls_ = make_calls(mint_token(kUser));
};

constexpr std::array<Profile, 4> kProfiles{Profile::rtm, Profile::room, Profile::rtc, Profile::rtc_web};

TEST_F(ClientAnswersTest, EveryCallReturnsTheCoresAnswerInEveryStateOfEveryProfile) {
    for (const Profile profile : kProfiles) {
        SCOPED_TRACE(std::string(to_string(profile)));
        // DISCONNECTED
        in_state(profile, [](Client&, Recorder&) {});
        // CONNECTING: the server never answers the first login.
        in_state(profile, [&](Client& client, Recorder& events) {
            proxy_->set_mode(Mode::blackhole);
            start(client, profile);
            ASSERT_TRUE(events.wait_state(ConnectionState::connecting, std::nullopt));
        });
        // CONNECTED
        in_state(profile, [&](Client& client, Recorder& events) { connect(client, events, profile); });
        // RECONNECTING (rtc-web: CONNECTING again): the link goes silent.
        in_state(profile, [&](Client& client, Recorder& events) {
            connect(client, events, profile);
            const auto from = events.size();
            proxy_->set_mode(Mode::blackhole);
            ASSERT_TRUE(events.wait_state(
                profile == Profile::rtc_web ? ConnectionState::connecting : ConnectionState::reconnecting, std::nullopt,
                from));
        });
        // ABORTED: the same user logs in elsewhere.
        in_state(profile, [&](Client& client, Recorder& events) {
            connect(client, events, profile);
            Recorder other_events;
            Client other(alice(profile));
            other_events.attach(other);
            connect(other, other_events, profile);
            ASSERT_TRUE(events.wait_state(ConnectionState::aborted, ConnectionReason::remote_login));
        });
        // FAILED: an app id the server does not know.
        {
            proxy_->set_mode(Mode::pass);
            ClientConfig config = alice(profile);
            config.app_id = "unknown-app";
            Recorder events;
            Client client(config);
            events.attach(client);
            observe(client);
            start(client, profile);
            ASSERT_TRUE(events.wait_state(ConnectionState::failed, ConnectionReason::invalid_app_id));
            make_all(client, profile);
        }
        if (profile == Profile::rtc_web) {
            // DISCONNECTING: the goodbye is held on the way.
            in_state(profile, [&](Client& client, Recorder& events) {
                connect(client, events, profile);
                proxy_->set_mode(Mode::stall);
                ASSERT_FALSE(client.logout());
                ASSERT_EQ(client.connection_state(), ConnectionState::disconnecting);
            });
        }
        // rtc-web shows a reconnect as CONNECTING (covered already) and has DISCONNECTING instead.
        std::set<ConnectionState> expected{ConnectionState::disconnected, ConnectionState::connecting,
                                           ConnectionState::connected, ConnectionState::aborted,
                                           ConnectionState::failed};
        expected.insert(profile == Profile::rtc_web ? ConnectionState::disconnecting : ConnectionState::reconnecting);
        const auto covered = ledger_.fully_covered(profile, calls_);
        for (const auto state : expected) {
            EXPECT_EQ(covered.count(state), 1U) << "every call was compared in " << to_string(state);
        }
        std::set<std::string> all_names;
        for (const auto& call : calls_) {
            all_names.insert(call.name);
        }
        EXPECT_EQ(ledger_.covered_anywhere(profile), all_names);
    }
    const auto failures = ledger_.failures();
    EXPECT_TRUE(failures.empty()) << failures.size() << " differences, the first: " << failures.front();
    EXPECT_GT(ledger_.checked(), 4U * 6U * 30U);
}

TEST_F(ClientAnswersTest, CallsFromInsideCallbacksReturnTheCoresAnswer) {
    for (const Profile profile : kProfiles) {
        SCOPED_TRACE(std::string(to_string(profile)));
        Recorder events;
        Client client(alice(profile));
        events.attach(client);
        observe(client);
        std::atomic<int> callbacks{0};
        // Every call that leaves the session alone, from inside each state and channel callback.
        auto from_callback = [&] {
            ++callbacks;
            for (const auto& call : calls_) {
                if (!call.changes_session) {
                    ledger_.check(client, call, profile);
                }
            }
        };
        client.on_connection_state_changed([&](const ConnectionStateChanged&) { from_callback(); });
        client.on_channel_state_changed([&](const ChannelStateChanged&) { from_callback(); });
        connect(client, events, profile);
        ASSERT_FALSE(client.logout());
        ASSERT_TRUE(events.wait_state(ConnectionState::disconnected, std::nullopt, 1));
        client.on_connection_state_changed({});
        client.on_channel_state_changed({});
        EXPECT_GE(callbacks.load(), 4);
    }
    const auto failures = ledger_.failures();
    EXPECT_TRUE(failures.empty()) << failures.size() << " differences, the first: " << failures.front();
}

TEST_F(ClientAnswersTest, CallsFromEightThreadsAtOnceReturnTheCoresAnswer) {
    for (const Profile profile : {Profile::rtm, Profile::rtc}) {
        SCOPED_TRACE(std::string(to_string(profile)));
        Recorder events;
        Client client(alice(profile));
        events.attach(client);
        observe(client);
        connect(client, events, profile);
        constexpr int kThreads = 8;
        constexpr int kCallsEach = 150;
        std::vector<std::thread> threads;
        for (int i = 0; i < kThreads; ++i) {
            threads.emplace_back([&, i] {
                std::mt19937 random(static_cast<std::uint32_t>(1000 + i));
                std::uniform_int_distribution<std::size_t> pick(0, calls_.size() - 1);
                for (int n = 0; n < kCallsEach; ++n) {
                    ledger_.check(client, calls_[pick(random)], profile);
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
    }
    const auto failures = ledger_.failures();
    EXPECT_TRUE(failures.empty()) << failures.size() << " differences, the first: " << failures.front();
    EXPECT_EQ(ledger_.checked(), 2U * 8U * 150U);
}

}  // namespace
}  // namespace relink::test
