// bench/capi/capi_bench.cpp — relink-capi-bench: what the C ABI costs next to the C++ API. The same two
// measurements, through relink::Client (relink/client.hpp) and through relink.h (librelink.so, events to a callback
// and, separately, pulled from the queue with relink_client_next_event() on a thread of the program's own), against
// one relinkd child on loopback (TLS, rate limits lifted):
//   rate: one sender sends N peer messages (at most W unacknowledged) to one receiver; messages per second at the
//         receiver, from the first send to the N-th delivery;
//   rtt:  M peer-message round trips one after the other: A sends, B's event handler sends the payload back, A's
//         handler takes the time; median, p90, p99.
// Both clients of a run use the same API. Results go to stdout as a table and as one JSON line per run.
// docs/benchmarks.md, "The C API against the C++ API", records figures and how to reproduce them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <relink/client.hpp>
#include <relink/relink.h>

#include "common/command_line.hpp"
#include "common/stats.hpp"
#include "support/relinkd_process.hpp"
#include "token/token.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWaitLimit = std::chrono::seconds(60);  // every wait of a run ends by then, or the run fails

/// One client, whichever API is under test. Handlers run on the client's event thread.
class Endpoint {
public:
    using OnMessage = std::function<void(std::string_view from, std::string_view payload)>;
    using OnDone = std::function<void(int error)>;
    virtual ~Endpoint() = default;
    /// Sends a peer message; 0, or the error code (QUEUE_FULL: try again after a completion).
    virtual int send(const std::string& to, std::string_view payload) = 0;
    virtual int login() = 0;
    /// Waits (bounded) until the client is CONNECTED.
    bool wait_connected() {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(lock, kWaitLimit, [this] { return connected_; });
    }

    OnMessage on_message;
    OnDone on_done;

protected:
    void set_connected(bool connected) {
        const std::lock_guard<std::mutex> lock(mutex_);
        connected_ = connected;
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool connected_{false};
};

struct Server {
    std::string ca_file;
    std::uint16_t port{0};
};

std::string token_for(const std::string& user) {
    const auto expires =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
        3600;
    return relink::token::mint({"app", user, expires, {}}, "secret");
}

class CppEndpoint final : public Endpoint {
public:
    CppEndpoint(const Server& server, const std::string& user) {
        relink::ClientConfig c;
        c.url = "wss://127.0.0.1:" + std::to_string(server.port) + "/";
        c.app_id = "app";
        c.user_id = user;
        c.token = token_for(user);
        c.tls.ca_file = server.ca_file;
        c.tls.use_system_store = false;
        c.log_level = relink::LogLevel::warn;
        client_ = std::make_unique<relink::Client>(std::move(c));
        client_->on_connection_state_changed([this](const relink::ConnectionStateChanged& e) {
            set_connected(e.state == relink::ConnectionState::connected);
        });
        client_->on_message([this](const relink::MessageReceived& m) { on_message(m.from, m.payload); });
    }
    ~CppEndpoint() override { client_.reset(); }
    int login() override { return client_->login().value(); }
    int send(const std::string& to, std::string_view payload) override {
        return client_->send_peer_message(to, std::string(payload), [this](std::error_code e) { on_done(e.value()); })
            .value();
    }

private:
    std::unique_ptr<relink::Client> client_;
};

class CEndpoint final : public Endpoint {
public:
    /// `queue`: no event callback; a thread of this endpoint pulls the events with relink_client_next_event().
    CEndpoint(const Server& server, const std::string& user, bool queue) {
        relink_config* config = relink_config_new();
        const std::string url = "wss://127.0.0.1:" + std::to_string(server.port) + "/";
        const std::string token = token_for(user);
        relink_config_set_url(config, url.c_str());
        relink_config_set_app_id(config, "app");
        relink_config_set_user_id(config, user.c_str());
        relink_config_set_token(config, token.c_str());
        relink_config_set_tls_ca_file(config, server.ca_file.c_str());
        relink_config_set_tls_use_system_store(config, 0);
        relink_config_set_log_level(config, RELINK_LOG_WARN);
        if (!queue) {
            relink_config_set_event_callback(config, &CEndpoint::on_event, this);
        }
        char why[256];
        if (relink_client_new(config, &client_, why, sizeof why) != RELINK_OK) {
            std::fprintf(stderr, "capi-bench: relink_client_new: %s\n", why);
            std::exit(1);
        }
        relink_config_free(config);
        if (queue) {
            puller_ = std::thread([this] {
                while (!stop_.load()) {
                    relink_event* event = nullptr;
                    if (relink_client_next_event(client_, 100, &event) == RELINK_OK && event != nullptr) {
                        handle(*event);
                        relink_event_free(event);
                    }
                }
            });
        }
    }
    ~CEndpoint() override {
        stop_.store(true);
        if (puller_.joinable()) {
            puller_.join();
        }
        relink_client_free(client_);
    }
    int login() override { return relink_client_login(client_); }
    int send(const std::string& to, std::string_view payload) override {
        return relink_client_send_peer_message(client_, to.c_str(), payload.data(), payload.size(), 0, nullptr);
    }

private:
    static void on_event(void* self, const relink_event* event) { static_cast<CEndpoint*>(self)->handle(*event); }
    void handle(const relink_event& e) {
        switch (e.type) {
            case RELINK_EVENT_CONNECTION_STATE_CHANGED: set_connected(e.state == RELINK_STATE_CONNECTED); break;
            case RELINK_EVENT_MESSAGE:
                on_message(e.from, std::string_view(static_cast<const char*>(e.payload), e.payload_size));
                break;
            case RELINK_EVENT_OPERATION_COMPLETED: on_done(e.error); break;
            default: break;
        }
    }

    relink_client* client_{nullptr};
    std::thread puller_;
    std::atomic<bool> stop_{false};
};

std::unique_ptr<Endpoint> make_endpoint(const std::string& api, const Server& server, const std::string& user) {
    if (api == "cpp") {
        return std::make_unique<CppEndpoint>(server, user);
    }
    return std::make_unique<CEndpoint>(server, user, api == "c-queue");
}

/// Counters shared with the handlers, and a condition variable to await them.
struct Progress {
    std::mutex mutex;
    std::condition_variable changed;
    std::uint64_t received{0};
    std::uint64_t completed{0};
    std::uint64_t failed{0};
    std::uint64_t accepted{0};
    Clock::time_point last_received{};

    template <class Predicate>
    bool wait(Predicate predicate) {
        std::unique_lock<std::mutex> lock(mutex);
        return changed.wait_for(lock, kWaitLimit, [&] { return predicate(); });
    }
};

struct RunResult {
    double rate_per_s{0};
    double rtt_p50_us{0};
    double rtt_p90_us{0};
    double rtt_p99_us{0};
    std::uint64_t rtt_count{0};
};

bool run(const std::string& api, const Server& server, int run_index, std::uint64_t messages, std::uint64_t window,
         std::size_t payload_size, std::uint64_t round_trips, RunResult& result) {
    const std::string a_user = "a" + std::to_string(run_index);
    const std::string b_user = "b" + std::to_string(run_index);
    auto a = make_endpoint(api, server, a_user);
    auto b = make_endpoint(api, server, b_user);

    // rate: a sends to b.
    Progress progress;
    b->on_message = [&](std::string_view, std::string_view) {
        const std::lock_guard<std::mutex> lock(progress.mutex);
        ++progress.received;
        progress.last_received = Clock::now();
        progress.changed.notify_all();
    };
    a->on_message = [](std::string_view, std::string_view) {};
    a->on_done = [&](int error) {
        const std::lock_guard<std::mutex> lock(progress.mutex);
        ++progress.completed;
        if (error != 0) {
            ++progress.failed;
        }
        progress.changed.notify_all();
    };
    b->on_done = [](int) {};
    if (a->login() != 0 || b->login() != 0 || !a->wait_connected() || !b->wait_connected()) {
        std::fprintf(stderr, "capi-bench: %s: the clients did not connect\n", api.c_str());
        return false;
    }
    const std::string payload(payload_size, 'x');
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < messages; ++i) {
        if (!progress.wait([&] { return progress.accepted - progress.completed < window; })) {
            std::fprintf(stderr, "capi-bench: %s: no completion for %lld s\n", api.c_str(),
                         static_cast<long long>(kWaitLimit.count()));
            return false;
        }
        const int error = a->send(b_user, payload);
        if (error != 0) {
            std::fprintf(stderr, "capi-bench: %s: send: %s\n", api.c_str(), relink_error_name(error));
            return false;
        }
        const std::lock_guard<std::mutex> lock(progress.mutex);
        ++progress.accepted;
    }
    if (!progress.wait([&] { return progress.received == messages && progress.completed == messages; })) {
        std::fprintf(stderr, "capi-bench: %s: received %llu of %llu\n", api.c_str(),
                     static_cast<unsigned long long>(progress.received), static_cast<unsigned long long>(messages));
        return false;
    }
    if (progress.failed != 0) {
        std::fprintf(stderr, "capi-bench: %s: %llu sends failed\n", api.c_str(),
                     static_cast<unsigned long long>(progress.failed));
        return false;
    }
    result.rate_per_s =
        static_cast<double>(messages) / std::chrono::duration<double>(progress.last_received - start).count();

    // rtt: a sends, b echoes from its handler, a's handler takes the time.
    std::mutex rtt_mutex;
    std::condition_variable rtt_changed;
    bool echoed = false;
    Clock::time_point sent_at{};
    std::vector<double> rtts;
    rtts.reserve(round_trips);
    b->on_message = [&](std::string_view from, std::string_view body) { b->send(std::string(from), body); };
    a->on_message = [&](std::string_view, std::string_view) {
        const auto now = Clock::now();
        const std::lock_guard<std::mutex> lock(rtt_mutex);
        rtts.push_back(std::chrono::duration<double, std::micro>(now - sent_at).count());
        echoed = true;
        rtt_changed.notify_all();
    };
    const std::string ping(payload_size, 'p');
    for (std::uint64_t i = 0; i < round_trips; ++i) {
        std::unique_lock<std::mutex> lock(rtt_mutex);
        echoed = false;
        sent_at = Clock::now();
        lock.unlock();
        if (const int error = a->send(b_user, ping); error != 0) {
            std::fprintf(stderr, "capi-bench: %s: send: %s\n", api.c_str(), relink_error_name(error));
            return false;
        }
        lock.lock();
        if (!rtt_changed.wait_for(lock, kWaitLimit, [&] { return echoed; })) {
            std::fprintf(stderr, "capi-bench: %s: no echo\n", api.c_str());
            return false;
        }
    }
    result.rtt_count = rtts.size();
    result.rtt_p50_us = relink::bench::percentile(rtts, 50).value_or(0);
    result.rtt_p90_us = relink::bench::percentile(rtts, 90).value_or(0);
    result.rtt_p99_us = relink::bench::percentile(rtts, 99).value_or(0);
    // The handlers capture locals: the clients go first.
    a.reset();
    b.reset();
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    namespace cl = relink::bench::command_line;
    std::uint64_t messages = 20000;
    std::uint64_t window = 256;
    std::size_t payload = 64;
    std::uint64_t round_trips = 2000;
    unsigned repeat = 3;
    std::vector<std::string> apis{"cpp", "c", "c-queue"};
    CLI::App app(
        "relink-capi-bench: what the C API costs next to the C++ API, events per second and peer-message "
        "round trips against a relinkd child.",
        "relink-capi-bench");
    relink::command_line::prepare(app);
    app.footer("docs/benchmarks.md, \"The C API against the C++ API\", records figures and how to reproduce them.");
    // A repeated flag: the last one wins.
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.add_option("--messages", messages, "rate: peer messages sent")
        ->type_name("N")
        ->capture_default_str()
        ->check(cl::whole<std::uint64_t>(1));
    app.add_option("--window", window, "rate: unacknowledged messages at most")
        ->type_name("W")
        ->capture_default_str()
        ->check(cl::whole<std::uint64_t>(1));
    app.add_option("--payload", payload, "bytes of each message")
        ->type_name("BYTES")
        ->capture_default_str()
        ->check(cl::whole<std::size_t>());
    app.add_option("--round-trips", round_trips, "rtt: round trips, one after the other")
        ->type_name("M")
        ->capture_default_str()
        ->check(cl::whole<std::uint64_t>(1));
    app.add_option("--repeat", repeat, "runs of each measurement per API")
        ->type_name("R")
        ->capture_default_str()
        ->check(cl::whole<unsigned>(1));
    cl::add_list<std::string>(app, "--api", apis, "the APIs: cpp (relink::Client), c (relink.h, callback), c-queue",
                              "A[,A]", "cpp,c,c-queue", [](const std::string& api) {
                                  return api == "cpp" || api == "c" || api == "c-queue"
                                             ? std::string()
                                             : "'" + api + "' is not one of cpp, c, c-queue";
                              });
    relink::command_line::parse(app, argc, argv);

    const auto dir = std::filesystem::temp_directory_path() / ("relink-capi-bench." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    relink::test::Relinkd::LaunchOptions options;
    options.extra = {"--log-level", "warn",
                     "--limit",     "logins-per-second=1000000",
                     "--limit",     "login-burst=1000000",
                     "--limit",     "messages-per-second=1000000",
                     "--limit",     "message-burst=1000000"};
    auto relinkd = relink::test::Relinkd::launch(dir, options);
    if (!relinkd) {
        std::fprintf(stderr, "capi-bench: relinkd did not start (see %s)\n", dir.c_str());
        return 1;
    }
    const Server server{relinkd->ca_file(), relinkd->port()};
    std::printf(
        "capi-bench: relink %s, relinkd on port %u; %llu messages of %zu bytes (window %llu), %llu round trips, "
        "%u runs per API, interleaved\n",
        relink_version(), server.port, static_cast<unsigned long long>(messages), payload,
        static_cast<unsigned long long>(window), static_cast<unsigned long long>(round_trips), repeat);
    std::printf("%-8s %4s %14s %12s %12s %12s\n", "api", "run", "rate msg/s", "rtt p50 us", "rtt p90 us", "rtt p99 us");
    int status = 0;
    int index = 0;
    for (unsigned r = 0; r < repeat && status == 0; ++r) {
        for (const auto& api : apis) {  // interleaved, so that a slow phase of the machine hits every API alike
            RunResult result;
            if (!run(api, server, index++, messages, window, payload, round_trips, result)) {
                status = 1;
                break;
            }
            std::printf("%-8s %4d %14.0f %12.1f %12.1f %12.1f\n", api.c_str(), r + 1, result.rate_per_s,
                        result.rtt_p50_us, result.rtt_p90_us, result.rtt_p99_us);
            std::printf(
                "{\"api\":\"%s\",\"run\":%d,\"rate_per_s\":%.0f,\"rtt_p50_us\":%.1f,\"rtt_p90_us\":%.1f,"
                "\"rtt_p99_us\":%.1f,\"round_trips\":%llu}\n",
                api.c_str(), r + 1, result.rate_per_s, result.rtt_p50_us, result.rtt_p90_us, result.rtt_p99_us,
                static_cast<unsigned long long>(result.rtt_count));
            std::fflush(stdout);
        }
    }
    relinkd.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return status;
}
