// cluster/redis_store.hpp — RedisStore: the cluster::Store of one relinkd node whose deployment shares its state in
// one Redis primary (docs/cluster.md). Every command is one call of one Lua script (redis_store.lua), atomic in
// Redis, with the meaning MemoryStore gives it; channel and node events arrive by Redis pub/sub.
//
// It reaches Redis through a RedisLink (run the script, subscribe, unsubscribe), so this file knows no socket and
// no event loop: relinkd's driver plugs in the hiredis client on its io_context, and hands back what arrives
// (script replies through the link's callbacks, pub/sub messages through on_message()). Results are reported to
// the driver with `on_result`, which passes them to Hub::on_store_result(); `on_events` says that take_events()
// has something (the driver then calls Hub::on_store_events()).
//
// Time: scripts read Redis's clock (TIME), the one clock all nodes share; with `inject_time` (tests on a virtual
// clock) they use the `now` of each call instead.
//
// Thread safety: none; the driver calls it on the hub's strand only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "cluster/store.hpp"

namespace relink::cluster {

/// What RedisStore needs of a Redis connection.
class RedisLink {
public:
    using ReplyHandler = std::function<void(std::error_code error, std::string reply)>;
    virtual ~RedisLink() = default;
    /// EVALSHA of the store's script (loaded on every connect) with ARGV = {command, args}; `done` gets the
    /// script's JSON reply, or an error (Redis unreachable, timed out, or the script failed).
    virtual void run_script(const std::string& command, const std::string& args, ReplyHandler done) = 0;
    virtual void subscribe(const std::string& channel) = 0;
    virtual void unsubscribe(const std::string& channel) = 0;
};

struct RedisStoreConfig {
    StoreConfig store;
    NodeId node;
    /// The epoch Redis takes for its positions if it has none yet (random per node start).
    std::string epoch_seed;
    /// Scripts use each call's `now` (virtual-clock tests), not Redis's clock.
    bool inject_time{false};
};

class RedisStore final : public Store {
public:
    using ResultHandler = std::function<void(CommandId id, Result result)>;
    using EventsHandler = std::function<void()>;

    RedisStore(RedisStoreConfig config, RedisLink& link, ResultHandler on_result, EventsHandler on_events);
    ~RedisStore() override;
    RedisStore(const RedisStore&) = delete;
    RedisStore& operator=(const RedisStore&) = delete;

    /// The Lua source of the store for `config`: the deployment's settings, then redis_store.lua.
    [[nodiscard]] static std::string script(const StoreConfig& config);
    /// The pub/sub channel of a node's own events (subscribed by its driver before anything else).
    [[nodiscard]] static std::string node_channel(const NodeId& node);

    // ---- Store
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

    // ---- driver inputs
    /// A pub/sub message on a channel this store subscribed to.
    void on_message(const std::string& channel, const std::string& payload);
    /// Declares dead the nodes that stopped heartbeating and reaps the sessions whose presence ran out; `done` gets
    /// how long until the next deadline Redis knows of (nothing: none, or the call failed).
    void reap(TimePoint now, std::function<void(std::optional<Duration> next_in)> done);
    /// Whether the last call reached Redis (the driver's gauge; it fences the node when this stays false).
    [[nodiscard]] bool reachable() const noexcept;

private:
    struct State;
    std::shared_ptr<State> state_;  ///< shared with the link's callbacks, which may outlive a stopped store
};

}  // namespace relink::cluster
