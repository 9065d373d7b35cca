// bench/relink_bench/fleet.hpp — many relink::Client instances in this process on one shared io_context
// (relink/asio.hpp), each with a Probe that stamps what it saw on the steady clock: first CONNECTED, channel
// JOINED, RECONNECTING, the first reconnect after a fault (its ContinuityReport), and — when asked — the start
// of every connection attempt (from the client's debug log lines, which carry each step's duration). Shared by
// scenarios_load.cpp and scenarios_faults.cpp, the only files that include Asio.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "common.hpp"
#include "relink/asio.hpp"
#include "relink/client.hpp"
#include "server.hpp"
#include "token/token.hpp"

namespace relink::bench {

/// One client and what it saw. The atomics are written by the client's callbacks (on the io threads) and read by
/// the scenario's thread; a timestamp of 0 means "not yet".
struct Probe {
    std::string user;
    std::string channel;  ///< joined right after login(); empty: none
    std::unique_ptr<Client> client;

    std::atomic<ConnectionState> state{ConnectionState::disconnected};
    std::atomic<std::int64_t> login_at{0};            ///< when login() was called
    std::atomic<std::int64_t> first_connected_at{0};  ///< the first CONNECTED of the session
    std::atomic<std::int64_t> joined_at{0};           ///< the first channel JOINED
    std::atomic<bool> settled{false};                 ///< the first login ended (CONNECTED or given up)

    /// Set by the scenario at a fault; the first ContinuityReport (a reconnect, visible or not) or RECONNECTING
    /// from then on is stamped.
    std::atomic<std::int64_t> fault_at{0};
    std::atomic<std::int64_t> back_at{0};
    std::atomic<std::int64_t> reconnecting_at{0};
    std::atomic<int> reconnecting_reason{-1};

    std::atomic<std::int64_t> back_outage_ns{0};  ///< ContinuityReport.outage of that first reconnect
    std::atomic<std::uint64_t> continuities{0};
    std::atomic<std::uint64_t> dropped{0};  ///< sum of ContinuityReport.dropped

    /// Extra handlers of a scenario, set before login(); they run on the client's callback strand.
    std::function<void(const ConnectionStateChanged&)> on_state;
    std::function<void(const MessageReceived&)> on_message;

    /// Attempt starts (now_ns() minus the steps' durations; failed attempts at their failure), when recorded.
    std::mutex mu;
    std::vector<std::int64_t> attempt_starts;
    std::uint64_t max_transport{0};
};

/// The io_context and its threads, and the probes. Destroys the clients first (while the io_context still runs,
/// so their goodbyes can go out), then stops the io threads: bounded, nothing waits on the network.
class Fleet {
public:
    Fleet(const Env& env, unsigned threads) : env_(env), work_(boost::asio::make_work_guard(io_)) {
        for (unsigned i = 0; i < threads; ++i) {
            threads_.emplace_back([this] { io_.run(); });
        }
    }
    ~Fleet() { shutdown(); }
    Fleet(const Fleet&) = delete;
    Fleet& operator=(const Fleet&) = delete;

    void shutdown() {
        destroy_clients();
        if (!probes.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));  // goodbyes on their way
        }
        work_.reset();
        io_.stop();
        for (auto& t : threads_) {
            if (t.joinable()) {
                t.join();
            }
        }
        threads_.clear();
        probes.clear();
    }

    void destroy_clients() {
        for (auto& p : probes) {
            p->client.reset();
        }
    }

    /// A new probe with its client for `user` at 127.0.0.1:`port` (not logged in yet). `record_attempts` turns the
    /// client's debug log on and keeps each attempt's start.
    Probe& add(const std::string& user, std::uint16_t port, const std::string& channel = {},
               bool record_attempts = false, Profile profile = Profile::rtm) {
        probes.push_back(std::make_unique<Probe>());
        Probe& p = *probes.back();
        p.user = user;
        p.channel = channel;
        make(p, port, record_attempts, profile);
        return p;
    }

    /// (Re)makes the probe's client; the previous one, if any, is destroyed first.
    void make(Probe& p, std::uint16_t port, bool record_attempts = false, Profile profile = Profile::rtm) {
        p.client.reset();
        ClientConfig c;
        c.url = "wss://127.0.0.1:" + std::to_string(port) + "/";
        c.app_id = kApp;
        c.user_id = p.user;
        c.profile = profile;
        c.tls.ca_file = env_.cert_file;  // relinkd's certificate is self-signed: it is its own CA
        c.tls.use_system_store = false;
        const auto expires =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count() +
            24 * 3600;
        c.token = token::mint({kApp, p.user, expires, {}}, kSecret);
        // Distinct per client instance: two instances of one user must never share a non-zero seed (client.hpp).
        c.seed = seed_base_ + ++seeds_;
        c.log_level = record_attempts ? LogLevel::debug : LogLevel::off;
        if (record_attempts) {
            Probe* pp = &p;
            c.log_handler = [pp](LogLevel, std::string_view line) { record_attempt(*pp, line); };
        }
        p.client = relink::make_client(std::move(c), io_);
        Probe* pp = &p;
        Fleet* self = this;
        p.client->on_connection_state_changed([pp, self](const ConnectionStateChanged& e) {
            const auto now = now_ns();
            pp->state.store(e.state);
            if (e.state == ConnectionState::connected && pp->first_connected_at.load() == 0) {
                pp->first_connected_at.store(now);
            }
            if (e.state == ConnectionState::reconnecting ||
                (e.state == ConnectionState::connecting && e.previous != ConnectionState::disconnected)) {
                const auto fault = pp->fault_at.load();
                if (fault != 0 && now >= fault && pp->reconnecting_at.load() == 0) {
                    pp->reconnecting_reason.store(static_cast<int>(e.reason));
                    pp->reconnecting_at.store(now);
                }
            }
            if ((e.state == ConnectionState::connected || e.state == ConnectionState::disconnected ||
                 e.state == ConnectionState::aborted || e.state == ConnectionState::failed) &&
                !pp->settled.exchange(true)) {
                self->in_flight.fetch_sub(1);
            }
            if (pp->on_state) {
                pp->on_state(e);
            }
        });
        p.client->on_channel_state_changed([pp](const ChannelStateChanged& e) {
            if (e.state == ChannelState::connected && pp->joined_at.load() == 0) {
                pp->joined_at.store(now_ns());
            }
        });
        p.client->on_continuity([pp](const ContinuityReport& r) {
            const auto now = now_ns();
            pp->continuities.fetch_add(1);
            pp->dropped.fetch_add(r.dropped);
            const auto fault = pp->fault_at.load();
            if (fault != 0 && now >= fault && pp->back_at.load() == 0) {
                pp->back_outage_ns.store(r.outage.count());
                pp->back_at.store(now);
            }
        });
        p.client->on_member_joined([self](const MemberJoined&) { self->member_events.fetch_add(1); });
        p.client->on_message([pp](const MessageReceived& m) {
            if (pp->on_message) {
                pp->on_message(m);
            }
        });
    }

    /// Logs in probes [first, last) (and joins their channel), at most `concurrency` first logins in flight, then
    /// waits until every one has settled or `timeout` passed. True when all are CONNECTED (and joined).
    bool login_all(std::size_t first, std::size_t last, std::size_t concurrency, std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        for (std::size_t i = first; i < last && !g_stop; ++i) {
            while (in_flight.load() >= concurrency && Clock::now() < deadline && !g_stop) {
                std::this_thread::sleep_for(std::chrono::microseconds(500));
            }
            if (Clock::now() >= deadline) {
                return false;
            }
            start(*probes[i]);
        }
        return wait_for(
            [&] {
                for (std::size_t i = first; i < last; ++i) {
                    const auto& p = *probes[i];
                    if (p.state.load() != ConnectionState::connected || (!p.channel.empty() && p.joined_at == 0)) {
                        return false;
                    }
                }
                return true;
            },
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
            std::chrono::milliseconds(10));
    }

    /// login() and join() of one probe, counted in flight until its first login settles.
    void start(Probe& p) {
        p.settled = false;
        in_flight.fetch_add(1);
        p.login_at = now_ns();
        if (p.client->login()) {
            if (!p.settled.exchange(true)) {
                in_flight.fetch_sub(1);
            }
            return;
        }
        if (!p.channel.empty()) {
            p.client->join(p.channel);
        }
    }

    /// Waits until no member_joined event has arrived for `quiet` (presence announcements of a ramp settle),
    /// at most `timeout`.
    void wait_presence_quiet(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) {
        auto last = member_events.load();
        auto since = Clock::now();
        wait_for(
            [&] {
                const auto now_count = member_events.load();
                if (now_count != last) {
                    last = now_count;
                    since = Clock::now();
                }
                return Clock::now() - since >= quiet;
            },
            timeout, std::chrono::milliseconds(20));
    }

    std::size_t count_connected() const {
        std::size_t n = 0;
        for (const auto& p : probes) {
            n += p->state.load() == ConnectionState::connected ? 1 : 0;
        }
        return n;
    }

    /// "996 CONNECTED, 4 DISCONNECTED (3 without channel)": for the error of a ramp that did not complete.
    std::string state_summary() const {
        std::map<std::string, std::size_t> counts;
        std::size_t unjoined = 0;
        for (const auto& p : probes) {
            ++counts[std::string(to_string(p->state.load()))];
            unjoined += !p->channel.empty() && p->joined_at == 0 ? 1 : 0;
        }
        std::string out;
        for (const auto& [state, count] : counts) {
            out += (out.empty() ? "" : ", ") + std::to_string(count) + " " + state;
        }
        return out + " (" + std::to_string(unjoined) + " not joined)";
    }

    boost::asio::io_context& io() { return io_; }

    /// Waits until every probe has stamped `stamp` (non-zero), at most `timeout`. True when all have.
    bool wait_all_stamped(std::atomic<std::int64_t> Probe::*stamp, std::chrono::milliseconds timeout) {
        return wait_for(
            [&] {
                return std::all_of(probes.begin(), probes.end(),
                                   [&](const auto& p) { return ((*p).*stamp).load() != 0; });
            },
            timeout, std::chrono::milliseconds(5));
    }

    std::vector<std::unique_ptr<Probe>> probes;
    std::atomic<std::size_t> in_flight{0};
    std::atomic<std::uint64_t> member_events{0};

private:
    /// "attempt ID open: dns A ms, tcp B ms, tls C ms, websocket D ms" (an attempt that reached the WebSocket) or
    /// "transport ID closed: ..." (for an ID not seen before: an attempt that failed before it opened).
    static void record_attempt(Probe& p, std::string_view line) {
        const auto now = now_ns();
        const bool opened = line.rfind("attempt ", 0) == 0;
        const bool closed = line.rfind("transport ", 0) == 0;
        if (!opened && !closed) {
            return;
        }
        const std::string text(line);
        const auto id = std::strtoull(text.c_str() + (opened ? 8 : 10), nullptr, 10);
        std::int64_t start = now;
        if (opened) {
            // Subtract the four step durations (whole milliseconds) to get when the attempt began.
            std::int64_t total_ms = 0;
            for (const char* key : {"dns ", "tcp ", "tls ", "websocket "}) {
                const auto at = text.find(key);
                if (at != std::string::npos) {
                    total_ms += std::strtoll(text.c_str() + at + std::strlen(key), nullptr, 10);
                }
            }
            start = now - total_ms * 1'000'000;
        }
        std::lock_guard lock(p.mu);
        if (id > p.max_transport) {
            p.max_transport = id;
            p.attempt_starts.push_back(start);
        }
    }

    const Env& env_;
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
    std::uint64_t seed_base_{static_cast<std::uint64_t>(now_ns()) * 1000};
    std::uint64_t seeds_{0};
};

}  // namespace relink::bench
