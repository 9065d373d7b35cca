// tests/client/e2e_party.hpp — what the end-to-end tests of real relink::Client instances against real relinkd
// processes share (tests/client/client_e2e_test.cpp, tests/cluster/cluster_e2e_test.cpp): a Party (one client, the
// Recorder of its events and its debug log, both printed when the test fails), Completions of operations under
// labels, and payloads() of the messages a Recorder holds.
//
// RELINK_E2E_VERBOSE=1 prints every Party's events and log at its end, not only after a failure.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "client/client_harness.hpp"
#include "relink/client.hpp"

namespace relink::test {

/// RELINK_E2E_VERBOSE=1: print what every Party saw, not only when a test failed.
inline bool e2e_verbose() {
    const char* value = std::getenv("RELINK_E2E_VERBOSE");
    return value != nullptr && std::string_view(value) == "1";
}

/// The log lines of one client (its LogHandler), with when each came.
class LogLines {
public:
    void add(std::string_view line) {
        std::lock_guard lock(mutex_);
        lines_.emplace_back(Clock::now(), std::string(line));
    }
    /// Every line, as "+<ms since start>ms <line>".
    std::string text(Clock::time_point start) {
        std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& [at, line] : lines_) {
            out += "  +" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(at - start).count()) +
                   "ms " + line + "\n";
        }
        return out;
    }

private:
    std::mutex mutex_;
    std::vector<std::pair<Clock::time_point, std::string>> lines_;
};

/// One client and the record of what it told the app. The recorder outlives the client (the client is destroyed
/// first, in the destructor), so no callback can reach a destroyed recorder. On a failed test, prints its events
/// and logs under its name (the user id unless a label is given).
struct Party {
    explicit Party(ClientConfig config, std::string label = {})
        : name(label.empty() ? config.user_id : std::move(label)),
          profile(config.profile),
          logs(std::make_shared<LogLines>()) {
        config.log_level = LogLevel::debug;
        config.log_handler = [logs = logs](LogLevel, std::string_view line) { logs->add(line); };
        client = std::make_unique<Client>(std::move(config));
        events.attach(*client);
    }
    ~Party() {
        const auto start = created;
        client.reset();
        if (::testing::Test::HasFailure() || e2e_verbose()) {
            std::fprintf(stderr, "---- %s: events\n%s---- %s: log\n%s", name.c_str(), events.dump().c_str(),
                         name.c_str(), logs->text(start).c_str());
        }
    }
    Party(const Party&) = delete;
    Party& operator=(const Party&) = delete;

    Client* operator->() const { return client.get(); }

    std::string name;
    Profile profile;
    Clock::time_point created{Clock::now()};
    std::shared_ptr<LogLines> logs;
    Recorder events;
    std::unique_ptr<Client> client;
};

/// Completions of operations, each under a label. A test that gives every operation its own label checks that each
/// completes exactly once (a second completion is a bug).
class Completions {
public:
    Completion expect(std::string label) {
        return [this, label = std::move(label)](std::error_code error) {
            std::lock_guard lock(mutex_);
            results_[label].push_back(error);
            ++total_;
            changed_.notify_all();
        };
    }
    /// Waits (at most `timeout`) until `count` completions arrived in all.
    bool wait_total(std::size_t count, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return total_ >= count; });
    }
    std::map<std::string, std::vector<std::error_code>> results() {
        std::lock_guard lock(mutex_);
        return results_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, std::vector<std::error_code>> results_;
    std::size_t total_{0};
};

/// The payloads of the messages in `events` from index `from` on that `match` accepts (all when empty), in
/// delivery order.
inline std::vector<std::string> payloads(Recorder& events, const std::function<bool(const MessageReceived&)>& match,
                                         std::size_t from = 0) {
    std::vector<std::string> out;
    for (const auto& m : events.all<MessageReceived>(from)) {
        if (!match || match(m)) {
            out.push_back(m.payload);
        }
    }
    return out;
}

}  // namespace relink::test
