// The RedisLink over relinkd's Redis client (cluster/redis_link.hpp).
#include "cluster/redis_link.hpp"

#include <utility>

namespace relink::cluster {

ClientLink::ClientLink(RedisClient& client, RedisSubscriber& subscriber, std::string script)
    : client_(client), subscriber_(subscriber) {
    client_.register_script(kScriptName, std::move(script));
}

void ClientLink::run_script(const std::string& command, const std::string& args, ReplyHandler done) {
    client_.eval(kScriptName, {}, {command, args}, [done = std::move(done)](std::error_code error, RedisReply reply) {
        if (!error && reply.is_error()) {
            // The script failed inside Redis (a bug, or Redis out of memory): nothing is known to have happened.
            error = make_error_code(RedisErrc::reply_error);
        }
        done(error, error ? std::string{} : std::move(reply.text));
    });
}

void ClientLink::subscribe(const std::string& channel) {
    subscriber_.subscribe(channel);
}

void ClientLink::unsubscribe(const std::string& channel) {
    subscriber_.unsubscribe(channel);
}

}  // namespace relink::cluster
