// The opt-in relink/asio.hpp against the installed relink package (see tests/package/run.sh): a relink::Client
// made with relink::make_client on an io_context this program owns and runs on one thread of its own. It logs in
// to a closed port and must report CONNECTING and then the state that follows the failed login, within a bounded
// wait. Built with relink::asio (find_package(relink COMPONENTS asio) found Boost); returns non-zero on failure.
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <relink/asio.hpp>
#include <relink/client.hpp>

#include "state_observer.hpp"

int main() {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::thread io_thread([&io] { io.run(); });

    int status = 1;
    try {
        package_test::StateObserver observed;  // outlives the client, whose callbacks it receives
        std::unique_ptr<relink::Client> client = relink::make_client(package_test::closed_port_config(), io);
        client->on_connection_state_changed(observed.handler());
        if (const std::error_code error = client->login()) {
            std::fprintf(stderr, "package consumer (asio): FAILED: login() returned %s\n", error.message().c_str());
        } else {
            const std::optional<relink::ConnectionStateChanged> outcome = observed.wait_after_connecting();
            std::puts("package consumer (asio): destroying the client");
            client.reset();  // while the io_context still runs, as relink/asio.hpp asks
            status = package_test::check_outcome(outcome);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "package consumer (asio): FAILED: %s\n", e.what());
    }

    work.reset();
    io.stop();  // run() returns after the handler it runs, if any
    io_thread.join();
    if (status == 0) {
        std::puts("package consumer (asio): OK");
    }
    return status;
}
