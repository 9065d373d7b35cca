// common/flat_containers.hpp — FlatSet and FlatMap: a sorted std::vector behind the part of std::set's and std::map's
// interface that the hub and its in-memory store use for small collections held per session or per channel (a
// session's channels and streams, a channel's members). One block per collection instead of a heap node per element
// (a node costs 32 bytes of links plus the allocator's header besides the element): docs/benchmarks.md, "Where the
// memory goes". Insertion and erasure move the elements after the place, so they suit collections that are read far
// more often than changed or that stay small. Any insertion or erasure invalidates iterators and references.
#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

namespace relink::detail {

/// The elements in ascending order, each once.
template <class T>
class FlatSet {
public:
    using value_type = T;
    using const_iterator = typename std::vector<T>::const_iterator;
    using iterator = const_iterator;  // elements are not changed in place: that would break the order

    FlatSet() = default;

    std::pair<iterator, bool> insert(T value) {
        auto at = std::lower_bound(items_.begin(), items_.end(), value);
        if (at != items_.end() && !(value < *at)) {
            return {at, false};
        }
        return {items_.insert(at, std::move(value)), true};
    }
    template <class It>
    void insert(It first, It last) {
        for (; first != last; ++first) {
            insert(*first);
        }
    }
    std::size_t erase(const T& value) {
        auto at = std::lower_bound(items_.begin(), items_.end(), value);
        if (at == items_.end() || value < *at) {
            return 0;
        }
        items_.erase(at);
        return 1;
    }
    [[nodiscard]] std::size_t count(const T& value) const {
        return std::binary_search(items_.begin(), items_.end(), value) ? 1 : 0;
    }
    [[nodiscard]] const_iterator begin() const noexcept { return items_.begin(); }
    [[nodiscard]] const_iterator end() const noexcept { return items_.end(); }
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }

private:
    std::vector<T> items_;
};

/// (key, value) pairs in ascending order of key, one per key.
template <class K, class V>
class FlatMap {
public:
    using value_type = std::pair<K, V>;
    using iterator = typename std::vector<value_type>::iterator;  // the key must not be changed through it
    using const_iterator = typename std::vector<value_type>::const_iterator;

    FlatMap() = default;

    V& operator[](const K& key) {
        auto at = lower(key);
        if (at == items_.end() || key < at->first) {
            at = items_.emplace(at, key, V{});
        }
        return at->second;
    }
    [[nodiscard]] iterator find(const K& key) {
        auto at = lower(key);
        return at != items_.end() && !(key < at->first) ? at : items_.end();
    }
    [[nodiscard]] const_iterator find(const K& key) const {
        auto at = std::lower_bound(items_.begin(), items_.end(), key,
                                   [](const value_type& item, const K& k) { return item.first < k; });
        return at != items_.end() && !(key < at->first) ? at : items_.end();
    }
    iterator erase(const_iterator at) { return items_.erase(at); }
    std::size_t erase(const K& key) {
        auto at = find(key);
        if (at == items_.end()) {
            return 0;
        }
        items_.erase(at);
        return 1;
    }
    [[nodiscard]] std::size_t count(const K& key) const { return find(key) != items_.end() ? 1 : 0; }
    [[nodiscard]] iterator begin() noexcept { return items_.begin(); }
    [[nodiscard]] iterator end() noexcept { return items_.end(); }
    [[nodiscard]] const_iterator begin() const noexcept { return items_.begin(); }
    [[nodiscard]] const_iterator end() const noexcept { return items_.end(); }
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }

private:
    iterator lower(const K& key) {
        return std::lower_bound(items_.begin(), items_.end(), key,
                                [](const value_type& item, const K& k) { return item.first < k; });
    }

    std::vector<value_type> items_;
};

}  // namespace relink::detail
