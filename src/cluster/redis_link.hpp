// cluster/redis_link.hpp — ClientLink: the RedisLink of a RedisStore over relinkd's Redis client (a RedisClient
// for the script, a RedisSubscriber for pub/sub). The store's script is registered with the client, so it is
// loaded on every connect and run by EVALSHA (a Redis that lost it is handled by the client).
//
// Threading: the client's (everything on its executor). Pub/sub messages are not routed here: the owner sets the
// subscriber's on_message to RedisStore::on_message.
#pragma once

#include <string>

#include "cluster/redis_client.hpp"
#include "cluster/redis_store.hpp"

namespace relink::cluster {

class ClientLink final : public RedisLink {
public:
    /// The name the store's script is registered under.
    static constexpr const char* kScriptName = "relink_store";

    ClientLink(RedisClient& client, RedisSubscriber& subscriber, std::string script);

    void run_script(const std::string& command, const std::string& args, ReplyHandler done) override;
    void subscribe(const std::string& channel) override;
    void unsubscribe(const std::string& channel) override;

private:
    RedisClient& client_;
    RedisSubscriber& subscriber_;
};

}  // namespace relink::cluster
