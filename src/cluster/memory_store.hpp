// cluster/memory_store.hpp — MemoryStore: the shared state of cluster/store.hpp held in this process and answered
// at once. It is relinkd's single-node default (no Redis needed) and the reference model of the cluster protocol:
// several hubs sharing one MemoryStore on one virtual clock play every cross-node timeline exactly. The Redis store
// implements the same commands with the same meaning (docs/cluster.md).
//
// Sans-IO: no clock (every call takes `now`), no I/O, no threads, no logging. Not thread-safe: one caller at a time.
#pragma once

#include <memory>

#include "cluster/store.hpp"

namespace relink::cluster {

class MemoryStore final : public Store {
public:
    explicit MemoryStore(StoreConfig config);
    ~MemoryStore() override;
    MemoryStore(const MemoryStore&) = delete;
    MemoryStore& operator=(const MemoryStore&) = delete;

    std::optional<Result> execute(TimePoint now, const NodeId& node, CommandId id, Command command) override;
    std::vector<Event> take_events(const NodeId& node) override;
    void subscribe(const NodeId& node, const std::string& app, const std::string& channel) override;
    void unsubscribe(const NodeId& node, const std::string& app, const std::string& channel) override;
    void heartbeat(TimePoint now, const NodeId& node) override;
    void leave(TimePoint now, const NodeId& node) override;
    void reconcile(TimePoint now, const NodeId& node, const std::map<std::string, Gen>& held) override;
    [[nodiscard]] std::optional<TimePoint> next_deadline() const override;
    void handle_timeout(TimePoint now) override;
    [[nodiscard]] StoreStats stats() const override;
    [[nodiscard]] std::vector<SessionView> sessions() const override;
    [[nodiscard]] std::vector<ChannelView> channels() const override;
    void list(TimePoint now, ListHandler done) override;

    /// Whether (app, user) is away: its presence ran out without a logout, kick or ban, and its peer messages are
    /// kept for its return (for tests and the admin API).
    [[nodiscard]] bool away(const std::string& app, const std::string& user) const;

private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace relink::cluster
