// relink/asio.hpp — opt-in: relink clients that run on a boost::asio::io_context the app owns.
//
// A default relink::Client has two threads of its own (network I/O and callbacks). A process with many clients (a
// load tool, a test harness, a bot farm) gives them one io_context instead and runs it on as many threads as it
// likes; each client then uses two strands of that io_context: one for its network I/O and timers, one for its
// callbacks. The callback contract is the same (relink/client.hpp, docs/threading.md): one at a time per client, in
// order, never inline inside a call, never after the client's destructor has returned. Two differences:
//   - callbacks run on the io_context's threads, so a slow callback holds up other clients' I/O;
//   - the destructor does not wait for the logout it sends: the DISCONNECTED events it causes are not delivered.
//
// The io_context must outlive the clients made on it and should be running when they are destroyed (otherwise
// their goodbye to the server is only sent once it runs again).
//
// This header includes Boost.Asio; relink/client.hpp does not. It needs the same Boost as relink was built with.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "relink/client.hpp"

namespace relink {

/// A client whose I/O, timers and callbacks run on `io` (see the file comment). Throws like Client's constructor.
/// @param config as for Client's constructor
/// @param io the io_context to run on; it must outlive the client and should be running when the client is destroyed
/// @return the client, never null
/// @throws std::invalid_argument when the config is unusable
/// @par Thread safety
/// As Client: any method from any thread; callbacks one at a time per client, on `io`'s threads.
inline std::unique_ptr<Client> make_client(ClientConfig config, boost::asio::io_context& io) {
    return detail::make_client_on(std::move(config), &io);
}

}  // namespace relink
