// server/cluster_node.hpp — ClusterNode: what makes one relinkd a node of a deployment on Redis (docs/cluster.md).
// It owns the Redis client (commands and scripts) and subscriber (events), the RedisStore the hub is given, and
// the reaper that declares silent nodes dead and ends the presence of sessions whose time ran out. It tells its
// owner whether Redis is reachable, so that a node cut off from it stops taking work and hands its clients over.
//
// Threading: everything runs on the executor given (the hub's strand), as does every callback.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "cluster/store.hpp"

namespace relink::server {

/// Cluster gauges for /metrics.
struct ClusterGauges {
    bool redis_up{false};
    std::uint64_t redis_rtt_us{0};       ///< the last PING's round trip; 0 before the first
    std::uint64_t redis_reconnects{0};   ///< command and pub/sub connections, together
    std::uint64_t stale_commands{0};     ///< commands refused because this node no longer held the session (fenced)
    std::uint64_t presence_timeouts{0};  ///< sessions this node's reaper ended at their deadline
    std::uint64_t nodes_dead{0};         ///< nodes this node's reaper declared dead
    std::uint64_t reconciled{0};         ///< sessions Redis had on this node that it did not hold (released)
    std::uint64_t pubsub_gaps{0};        ///< reconnects of the subscriber: events may have been missed meanwhile
};

class ClusterNode {
public:
    struct Callbacks {
        std::function<void(cluster::CommandId, cluster::Result)> on_result;  ///< pass to Hub::on_store_result
        std::function<void()> on_events;                                     ///< call Hub::on_store_events
        std::function<void(bool up)> on_redis;  ///< both connections up (true), or one of them lost (false)
        /// The event subscription was made again: events published meanwhile are lost (call Hub::resync_all)
        std::function<void()> on_events_lost;
    };
    struct Settings {
        std::string url;  ///< redis://HOST:PORT[/DB]
        cluster::NodeId node;
        cluster::StoreConfig store;
        double time_scale{1.0};  ///< scales the reaper's period and the Redis client's timeouts
    };

    /// Null, with `error` set to one line, when the URL is unusable.
    static std::unique_ptr<ClusterNode> make(boost::asio::any_io_executor executor, Settings settings,
                                             Callbacks callbacks, std::string& error);
    ~ClusterNode();
    ClusterNode(const ClusterNode&) = delete;
    ClusterNode& operator=(const ClusterNode&) = delete;

    /// The store to give the hub (shared: the hub holds it as long as it lives).
    [[nodiscard]] std::shared_ptr<cluster::Store> store() const;
    /// Connects (and keeps reconnecting) and starts the reaper.
    void start();
    /// Tells the deployment this node leaves (its sessions' presence runs out from now), then `done` (also when
    /// Redis does not answer within a second).
    void leave(std::function<void()> done);
    /// Closes the connections; no callback runs afterwards.
    void stop();

    [[nodiscard]] bool up() const noexcept;
    [[nodiscard]] ClusterGauges gauges() const;
    [[nodiscard]] const std::string& redis_address() const noexcept;

private:
    struct Impl;
    explicit ClusterNode(std::shared_ptr<Impl> impl);
    std::shared_ptr<Impl> impl_;
};

}  // namespace relink::server
