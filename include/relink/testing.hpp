// relink/testing.hpp — relink::testing::World, the test kit for apps: real relink::Client objects on a virtual
// clock, against a simulated relink server (relinkd's own session logic) over a simulated network that the test
// breaks on purpose. An app's unit tests drive the same Client type, callbacks and calls it uses in production
// through every connection state and reason, deterministically, in milliseconds: no socket, no thread, no sleep.
//
//     relink::testing::World world;
//     relink::ClientConfig config;                 // url, app id and token may stay empty: the world fills them
//     config.user_id = "alice";
//     std::unique_ptr<relink::Client> client = world.make_client(config);
//     MyBanner banner(*client);                    // the app's code under test, unchanged
//     client->login();
//     world.advance(std::chrono::seconds(1));      // callbacks run here, on this thread, in event order
//     EXPECT_EQ(banner.text(), "Online");
//     world.blackhole();                           // the Wi-Fi dies: no data, no FIN, no RST
//     world.advance(std::chrono::seconds(5));
//     EXPECT_EQ(banner.text(), "Reconnecting…");
//
// Threading: a World and the clients it made are used from one thread, the test's. Callbacks never run inside a
// call; they run inside advance(), advance_until() and run_until_idle(), one at a time, in the order the events
// happened (across all clients of the world). Destroy the clients before their World; a client that outlives it
// still answers calls, but nothing reaches it any more.
//
// docs/testing-apps.md explains the kit with a complete example. Link relink::testing (find_package(relink
// COMPONENTS testing)). Public header: C++17, no Boost, no spdlog.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <set>
#include <string>
#include <system_error>

#include "relink/client.hpp"
#include "relink/events.hpp"
#include "relink/types.hpp"

namespace relink {

// GoogleTest prints a value through a PrintTo() it finds beside the value's type: with these, a failed
// EXPECT_EQ(client->connection_state(), ConnectionState::connected) reads "RECONNECTING" rather than a byte. Each
// prints the canonical name (to_string()). They are weak definitions: an app that defines one of these functions
// itself keeps its own.
void PrintTo(ConnectionState state, std::ostream* out);
void PrintTo(ConnectionReason reason, std::ostream* out);
void PrintTo(ChannelState state, std::ostream* out);
void PrintTo(ChannelReason reason, std::ostream* out);
void PrintTo(MemberLeftCause cause, std::ostream* out);
void PrintTo(AttemptFailure cause, std::ostream* out);
void PrintTo(Profile profile, std::ostream* out);

}  // namespace relink

namespace relink::testing {

namespace detail {
struct WorldState;  ///< the simulation behind a World; not part of the API
}  // namespace detail

/// What the simulated network does to a client's connection (World::set_network()).
enum class Network : std::uint8_t {
    up,             ///< frames flow, each way after the link's latency (the default)
    blackhole,      ///< every frame is lost both ways and new connections hang: no FIN, no RST (a dead Wi-Fi)
    refused,        ///< new connections fail at once and open ones are reset (nothing listens: the server is down)
    inbound_lost,   ///< the server's frames are lost, the client's arrive; new connections hang
    outbound_lost,  ///< the client's frames are lost (the server stops hearing it), the server's arrive
};

/// How a World starts.
struct WorldOptions {
    /// The one app id the simulated server knows. make_client() puts it in a config whose app_id is empty; a
    /// client with another app id is refused INVALID_APP_ID, as by a real server.
    std::string app_id{"test-app"};
    /// The one-way latency of each client's link (set_latency() changes it later).
    std::chrono::milliseconds latency{50};
    /// The server closes a connection it has not heard from for this long (the client hears KEEP_ALIVE_TIMEOUT
    /// when its own frames are lost but the server's still arrive). As relinkd's default; a test that wants the
    /// server to notice before the client's silence timer (4 s) does sets it lower.
    std::chrono::milliseconds keep_alive_timeout{6000};
};

/// A simulated deployment: a relink server, a network, a virtual clock, and the clients made on them.
///
/// The server is relinkd's own session logic, so sessions, presence, channels, backfill, kicks and drains behave
/// as in production. Time passes only when the test says (advance()): a 20-minute outage takes milliseconds.
class World {
public:
    /// A world at virtual time 0 with a server that knows `options.app_id`.
    explicit World(WorldOptions options = {});
    /// Stops driving every client; a client that outlives the world answers calls but never hears anything again.
    ~World();
    /// Not copyable (nor movable): hold it by value in the test.
    World(const World&) = delete;
    /// Not copyable (nor movable).
    World& operator=(const World&) = delete;

    // ---- clients ----

    /// Makes a relink::Client that lives in this world: its time is the world's clock, its connections go over the
    /// simulated network to the simulated server, and its callbacks run inside advance(). Everything else is the
    /// production Client: the same class, calls, events, errors, profiles and timings.
    /// @param config as in production, with three conveniences: an empty `url` means a server of this world (any
    ///        URL does: it is checked as in production, but every client reaches this world's server), an empty
    ///        `app_id` means WorldOptions::app_id, and an empty `token` without a token provider means
    ///        valid_token(). The token provider, if any, is asked on the test's thread.
    /// @return the client, DISCONNECTED; destroy it when the test is done with it (a logout goes to the server)
    /// @throws std::invalid_argument when the config cannot work, as relink::Client's constructor does
    [[nodiscard]] std::unique_ptr<Client> make_client(ClientConfig config);

    // ---- tokens the simulated server understands (opaque strings: do not build them yourself) ----

    /// A token that never expires.
    [[nodiscard]] static std::string valid_token();
    /// A token that expires `ttl` after now(): the client is warned token_privilege_will_expire ahead of it (30 s
    /// by default) and the server ends or refuses the session when it passes, as it would with a real token.
    [[nodiscard]] std::string token_valid_for(std::chrono::milliseconds ttl) const;
    /// A token that has already expired (refused TOKEN_EXPIRED).
    [[nodiscard]] static std::string expired_token();
    /// A token the server rejects (refused INVALID_TOKEN).
    [[nodiscard]] static std::string invalid_token();

    // ---- time: the only way it passes ----

    /// Virtual time since the world was made.
    [[nodiscard]] std::chrono::milliseconds now() const;
    /// Lets `duration` of virtual time pass: every frame, timer, retry and server action due in it happens at its
    /// exact time, and the callbacks of what happened run (on this thread) before time moves on.
    void advance(std::chrono::milliseconds duration);
    /// Like advance(), but stops as soon as `condition()` holds (checked after every instant and every callback).
    /// @return whether it held within `limit`; time stops where it held, or `limit` later
    bool advance_until(const std::function<bool()>& condition, std::chrono::milliseconds limit);
    /// Lets time pass until nothing is on its way (no frame, connection or close in flight, no callback waiting):
    /// only timers (heartbeats, retries, presence) are left. Note that a blackholed network is idle at once.
    /// @return whether that happened within `limit`
    bool run_until_idle(std::chrono::milliseconds limit = std::chrono::seconds(60));

    // ---- the network: for every client (and those made later), or for one ----

    /// Sets what the network does to every client's connection, now and for clients made later.
    void set_network(Network network);
    /// Sets what the network does to one client's connection.
    /// @throws std::invalid_argument when `client` was not made by this world
    void set_network(const Client& client, Network network);
    /// set_network(Network::blackhole): the link dies silently; the client notices by its silence timer.
    void blackhole();
    /// set_network(Network::up): the network works again.
    void restore();
    /// Resets every client's open connection now (an RST both ways, as when a NAT or a proxy drops it); the network
    /// stays as it is.
    void reset();
    /// Resets one client's open connection now.
    /// @throws std::invalid_argument when `client` was not made by this world
    void reset(const Client& client);
    /// Sets the one-way latency of every client's link (and of clients made later): frames sent from now on.
    void set_latency(std::chrono::milliseconds one_way);
    /// Sets the one-way latency of one client's link.
    /// @throws std::invalid_argument when `client` was not made by this world
    void set_latency(const Client& client, std::chrono::milliseconds one_way);

    // ---- the server ----

    /// The server's admin API kicks `user_id` (ABORTED BANNED_BY_SERVER in rtm and room, FAILED in rtc and
    /// rtc-web); with `ban`, its later logins are refused too.
    void kick(const std::string& user_id, bool ban = false);
    /// The server is replaced the way relinkd is in a rolling deploy: it drains (every client is told to come back
    /// at a random moment within `window` and does so without a visible state change) and the replacement takes the
    /// logins at once. The replacement has none of the old sessions, so a client's reconnect is a new session (its
    /// continuity report says so).
    void drain(std::chrono::milliseconds window);
    /// The server crashes and comes back at once: connections drop without a goodbye, all sessions and history are
    /// gone (clients notice by silence or by the reset, and log in again on their own).
    void restart_server();
    /// From now on the server refuses the logins of `user_id` with `error` (relink::errc: login_failure,
    /// rejected_by_server, invalid_channel_name, token_expired, ...), whatever the token; sessions already open go
    /// on. No error: its logins are accepted again.
    void refuse_logins(const std::string& user_id, std::error_code error);
    /// The users the server has in `channel` now.
    [[nodiscard]] std::set<std::string> members(const std::string& channel) const;

private:
    std::shared_ptr<detail::WorldState> state_;
};

}  // namespace relink::testing
