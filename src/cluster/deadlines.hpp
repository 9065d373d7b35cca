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
///
/// The key is held once, by the key index; the time index points at it (a std::map's keys never move), so a
/// deadline costs one copy of its key instead of two: 32 bytes less per deadline for a string key, and the hub
/// keeps two deadlines per idle session (its keep-alive and its presence).
template <class Key, class Time = std::chrono::time_point<std::chrono::steady_clock, Duration>>
class Deadlines {
public:
    Deadlines() = default;
    Deadlines(const Deadlines&) = delete;  // the time index points into this object's key index
    Deadlines& operator=(const Deadlines&) = delete;
    Deadlines(Deadlines&&) noexcept = default;  // a moved std::map keeps its nodes, so the pointers stay right
    Deadlines& operator=(Deadlines&&) noexcept = default;

    void set(const Key& key, Time at) {
        clear(key);
        const auto placed = by_key_.emplace(key, at).first;
        by_time_.emplace(at, &placed->first);
    }
    void clear(const Key& key) {
        auto it = by_key_.find(key);
        if (it == by_key_.end()) {
            return;
        }
        by_time_.erase({it->second, &it->first});
        by_key_.erase(it);
    }
    [[nodiscard]] std::optional<Time> at(const Key& key) const {
        auto it = by_key_.find(key);
        return it == by_key_.end() ? std::nullopt : std::optional<Time>(it->second);
    }
    /// The earliest deadline with its key (the one pop_due() would hand out first).
    [[nodiscard]] std::optional<std::pair<Time, Key>> first() const {
        if (by_time_.empty()) {
            return std::nullopt;
        }
        return std::pair<Time, Key>{by_time_.begin()->first, *by_time_.begin()->second};
    }
    [[nodiscard]] std::optional<Time> earliest() const {
        return by_time_.empty() ? std::nullopt : std::optional<Time>(by_time_.begin()->first);
    }
    /// Removes and returns the earliest deadline at or before `now`, with its time.
    std::optional<std::pair<Time, Key>> pop_due(Time now) {
        if (by_time_.empty() || by_time_.begin()->first > now) {
            return std::nullopt;
        }
        const auto first = by_time_.begin();
        std::pair<Time, Key> due{first->first, *first->second};
        by_time_.erase(first);
        by_key_.erase(due.second);
        return due;
    }

private:
    /// (time, the key in by_key_), ordered by time, then by the key itself (not its address).
    struct ByTime {
        bool operator()(const std::pair<Time, const Key*>& a, const std::pair<Time, const Key*>& b) const {
            if (a.first != b.first) {
                return a.first < b.first;
            }
            return *a.second < *b.second;
        }
    };
    std::map<Key, Time> by_key_;
    std::set<std::pair<Time, const Key*>, ByTime> by_time_;
};

}  // namespace relink::cluster
