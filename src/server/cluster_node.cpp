// One relinkd as a node of a deployment on Redis (server/cluster_node.hpp, docs/cluster.md).
#include "server/cluster_node.hpp"

#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cluster/redis_client.hpp"
#include "cluster/redis_link.hpp"
#include "cluster/redis_store.hpp"
#include "server/listener.hpp"
#include "server/options.hpp"
#include "server/tls.hpp"

namespace relink::server {

namespace asio = boost::asio;

namespace {

cluster::Millis scaled_ms(std::chrono::milliseconds d, double factor, std::chrono::milliseconds floor) {
    const auto scaled = std::chrono::duration_cast<std::chrono::milliseconds>(scale(d, factor));
    return std::max(scaled, floor);
}

}  // namespace

struct ClusterNode::Impl : std::enable_shared_from_this<Impl> {
    Impl(asio::any_io_executor executor, const cluster::RedisConfig& redis, Settings s, Callbacks c)
        : settings(std::move(s)),
          callbacks(std::move(c)),
          client(executor, redis),
          subscriber(executor, redis),
          reaper(executor),
          address(redis.host + ":" + std::to_string(redis.port)) {
        link = std::make_unique<cluster::ClientLink>(client, subscriber, cluster::RedisStore::script(settings.store));
        // The epoch Redis takes if it has none (a fresh or emptied Redis): random, and below 2^53 so that it survives
        // any JSON parser, as relinkd's own epochs.
        const std::string seed = random_hex(6);
        cluster::RedisStoreConfig config{settings.store, settings.node,
                                         std::to_string(1 + (seed.empty() ? 0 : std::stoull(seed, nullptr, 16))),
                                         /*inject_time=*/false};
        store = std::make_shared<cluster::RedisStore>(
            config, *link,
            [this](cluster::CommandId id, cluster::Result result) {
                if (callbacks.on_result) {
                    callbacks.on_result(id, std::move(result));
                }
            },
            [this] {
                if (callbacks.on_events) {
                    callbacks.on_events();
                }
            });
        subscriber.on_message(
            [this](const std::string& channel, const std::string& payload) { store->on_message(channel, payload); });
        subscriber.on_resubscribed([this] {
            ++pubsub_gaps;
            if (callbacks.on_events_lost) {
                callbacks.on_events_lost();
            }
        });
        client.on_state([this](bool) { report(); });
        subscriber.on_state([this](bool) { report(); });
        reap_every = scaled_ms(std::chrono::milliseconds(250), settings.time_scale, std::chrono::milliseconds(10));
    }

    void report() {
        const bool now_up = client.connected() && subscriber.connected();
        if (now_up != was_up) {
            was_up = now_up;
            if (callbacks.on_redis) {
                callbacks.on_redis(now_up);
            }
        }
    }

    void reap_later() {
        reaper.expires_after(reap_every);
        reaper.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
            auto self = weak.lock();
            if (ec || !self || self->stopped) {
                return;
            }
            if (!self->client.connected()) {
                self->reap_later();
                return;
            }
            self->store->reap(hub_now(), [weak](std::optional<Duration>) {
                if (auto again = weak.lock(); again && !again->stopped) {
                    again->reap_later();
                }
            });
        });
    }

    Settings settings;
    Callbacks callbacks;
    cluster::RedisClient client;
    cluster::RedisSubscriber subscriber;
    std::unique_ptr<cluster::ClientLink> link;
    std::shared_ptr<cluster::RedisStore> store;
    asio::steady_timer reaper;
    std::chrono::milliseconds reap_every{250};
    std::string address;
    std::uint64_t pubsub_gaps{0};
    bool was_up{false};
    bool stopped{false};
};

std::unique_ptr<ClusterNode> ClusterNode::make(asio::any_io_executor executor, Settings settings, Callbacks callbacks,
                                               std::string& error) {
    const auto parsed = cluster::parse_redis_url(settings.url);
    if (!parsed.config) {
        error = "--cluster: " + parsed.error;
        return nullptr;
    }
    cluster::RedisConfig redis = *parsed.config;
    // Scaled like every other duration, so a test at --time-scale 0.1 detects a dead Redis ten times sooner; the
    // floors keep a loaded machine's round trips from looking like failures.
    const double f = settings.time_scale;
    redis.request_timeout = scaled_ms(std::chrono::milliseconds(1000), f, std::chrono::milliseconds(100));
    redis.ping_interval = scaled_ms(std::chrono::milliseconds(500), f, std::chrono::milliseconds(50));
    redis.connect_timeout = scaled_ms(std::chrono::milliseconds(1000), f, std::chrono::milliseconds(100));
    redis.backoff_initial = scaled_ms(std::chrono::milliseconds(100), f, std::chrono::milliseconds(10));
    redis.backoff_max = scaled_ms(std::chrono::milliseconds(2000), f, std::chrono::milliseconds(50));
    return std::unique_ptr<ClusterNode>(
        new ClusterNode(std::make_shared<Impl>(executor, redis, std::move(settings), std::move(callbacks))));
}

ClusterNode::ClusterNode(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClusterNode::~ClusterNode() {
    stop();
}

std::shared_ptr<cluster::Store> ClusterNode::store() const {
    return impl_->store;
}

void ClusterNode::start() {
    impl_->client.start();
    impl_->subscriber.start();
    impl_->reap_later();
}

void ClusterNode::leave(std::function<void()> done) {
    auto finished = std::make_shared<bool>(false);
    auto once = [finished, done = std::move(done)] {
        if (!*finished) {
            *finished = true;
            done();
        }
    };
    auto guard = std::make_shared<asio::steady_timer>(impl_->reaper.get_executor());
    guard->expires_after(std::chrono::seconds(1));
    guard->async_wait([guard, once](boost::system::error_code) { once(); });
    impl_->store->leave(hub_now(), impl_->settings.node);
    // The leave is a script like any other: a command sent after it is answered after it.
    impl_->client.command({"PING"}, [guard, once](std::error_code, cluster::RedisReply) {
        guard->cancel();
        once();
    });
}

void ClusterNode::stop() {
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    impl_->reaper.cancel();
    impl_->client.stop();
    impl_->subscriber.stop();
}

bool ClusterNode::up() const noexcept {
    return impl_->was_up;
}

ClusterGauges ClusterNode::gauges() const {
    ClusterGauges g;
    g.redis_up = impl_->was_up;
    if (const auto rtt = impl_->client.last_ping_rtt()) {
        g.redis_rtt_us = static_cast<std::uint64_t>(std::max<std::int64_t>(1, rtt->count()));
    }
    g.redis_reconnects = impl_->client.stats().reconnects + impl_->subscriber.stats().reconnects;
    const cluster::StoreStats stats = impl_->store->stats();
    g.stale_commands = stats.stale_commands;
    g.presence_timeouts = stats.presence_timeouts;
    g.nodes_dead = stats.nodes_dead;
    g.reconciled = stats.reconciled;
    g.pubsub_gaps = impl_->pubsub_gaps;
    return g;
}

const std::string& ClusterNode::redis_address() const noexcept {
    return impl_->address;
}

}  // namespace relink::server
