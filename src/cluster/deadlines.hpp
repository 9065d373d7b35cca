// cluster/deadlines.hpp — Deadlines<Key>: timers ordered by time, each findable by its key, for the sans-IO hub and
// the in-memory store (one deadline per key: setting it again replaces the old one).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "relink/timings.hpp"

namespace relink::cluster {

/// O(log n) to set, clear and find the earliest; pop_due() hands them out in time order (ties by key).
template <class Key, class Time = std::chrono::time_point<std::chrono::steady_clock, Duration>>
class Deadlines {
public:
    void set(const Key& key, Time at) {
        clear(key);
        by_key_.emplace(key, at);
        by_time_.emplace(at, key);
    }
    void clear(const Key& key) {
        auto it = by_key_.find(key);
        if (it == by_key_.end()) {
            return;
        }
        by_time_.erase({it->second, it->first});
        by_key_.erase(it);
    }
    [[nodiscard]] std::optional<Time> at(const Key& key) const {
        auto it = by_key_.find(key);
        return it == by_key_.end() ? std::nullopt : std::optional<Time>(it->second);
    }
    [[nodiscard]] std::optional<Time> earliest() const {
        return by_time_.empty() ? std::nullopt : std::optional<Time>(by_time_.begin()->first);
    }
    /// Removes and returns the earliest deadline at or before `now`, with its time.
    std::optional<std::pair<Time, Key>> pop_due(Time now) {
        if (by_time_.empty() || by_time_.begin()->first > now) {
            return std::nullopt;
        }
        auto due = *by_time_.begin();
        by_key_.erase(due.second);
        by_time_.erase(by_time_.begin());
        return due;
    }

private:
    std::map<Key, Time> by_key_;
    std::set<std::pair<Time, Key>> by_time_;
};

}  // namespace relink::cluster
