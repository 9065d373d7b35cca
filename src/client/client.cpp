// relink::Client (relink/client.hpp): the sans-IO core on a strand of an io_context, driven by the Beast
// transport (client/transport.hpp), with a callback queue that runs the app's callbacks one at a time.
//
//   app threads ─► Client ─post─► strand: core inputs (now = steady_clock) ─► actions: Transport open/send/close
//                                         │ events                            ▲ on_open / on_message / on_closed
//                                         ▼                                   │
//                                   callback queue ─► app callbacks (in order, never inline, never under a lock)
//
// Three ways to run: the default client owns its io_context (one io thread) and a dispatcher thread; a client made
// by relink::make_client (relink/asio.hpp) runs on the app's io_context, its callbacks on a second strand of it; a
// hosted client (relink/testing.hpp, through detail::ClientInternals::make_hosted) has no thread, socket or clock:
// its host gives it the time and its inputs, performs its actions, and runs its callbacks when the host says.
#include "relink/client.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "client/client_internals.hpp"
#include "client/config_check.hpp"
#include "client/transport.hpp"
#include "core/client_core.hpp"
#include "protocol/codec.hpp"

namespace relink {
namespace {

namespace asio = boost::asio;

const char* level_name(LogLevel level) {
    switch (level) {
        case LogLevel::trace: return "trace";
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::warn: return "warn";
        case LogLevel::error: return "error";
        case LogLevel::off: return "off";
    }
    return "?";
}

/// Runs the app's callbacks one at a time, in order; after stop() returns, none runs.
class CallbackQueue {
public:
    CallbackQueue() = default;
    virtual ~CallbackQueue() = default;
    CallbackQueue(const CallbackQueue&) = delete;
    CallbackQueue& operator=(const CallbackQueue&) = delete;

    virtual void post(std::function<void()> work) = 0;
    /// Lets queued callbacks run for at most `drain_for` (where the queue can), drops the rest, and waits for the
    /// callback that runs, unless called from it.
    virtual void stop(std::chrono::milliseconds drain_for) = 0;
};

/// Runs callbacks one at a time, in order, on its own thread. The thread shares `State` rather than using the
/// Dispatcher: a callback may destroy the client, and with it this object, while the thread still runs.
class Dispatcher final : public CallbackQueue {
public:
    Dispatcher() : thread_([state = state_] { run(*state); }) {}
    ~Dispatcher() override { stop(std::chrono::milliseconds(0)); }
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    void post(std::function<void()> work) override {
        {
            std::lock_guard lock(state_->mutex);
            if (state_->stopping) {
                return;
            }
            state_->queue.push_back(std::move(work));
        }
        state_->ready.notify_one();
    }

    /// Lets the queued callbacks run for at most `drain_for`, then drops what has not started, waits for the
    /// callback that runs (unless called from it), and ends the thread.
    void stop(std::chrono::milliseconds drain_for) override {
        const bool on_own_thread = thread_.get_id() == std::this_thread::get_id();
        if (drain_for.count() > 0 && !on_own_thread) {
            std::unique_lock lock(state_->mutex);
            state_->idle.wait_for(lock, drain_for, [&] { return state_->queue.empty() && !state_->busy; });
        }
        {
            std::lock_guard lock(state_->mutex);
            state_->stopping = true;
            state_->queue.clear();
        }
        state_->ready.notify_one();
        if (thread_.joinable()) {
            if (on_own_thread) {
                thread_.detach();  // destroyed from inside a callback: the thread ends when that callback returns
            } else {
                thread_.join();
            }
        }
    }

private:
    struct State {
        std::mutex mutex;
        std::condition_variable ready;
        std::condition_variable idle;
        bool busy{false};
        bool stopping{false};
        std::deque<std::function<void()>> queue;
    };

    static void run(State& state) {
        for (;;) {
            {
                std::function<void()> work;
                {
                    std::unique_lock lock(state.mutex);
                    state.ready.wait(lock, [&] { return state.stopping || !state.queue.empty(); });
                    if (state.stopping) {
                        return;
                    }
                    work = std::move(state.queue.front());
                    state.queue.pop_front();
                    state.busy = true;
                }
                work();
            }  // `work` is destroyed here, which may destroy the client: only `state` is used after it
            {
                std::lock_guard lock(state.mutex);
                state.busy = false;
            }
            state.idle.notify_all();
        }
    }

    std::shared_ptr<State> state_ = std::make_shared<State>();
    std::thread thread_;
};

/// Runs callbacks one at a time, in order, on a strand of the app's io_context. What a queued callback needs
/// outlives the queue (the io_context may run it after the client is gone), so it shares `State`.
class StrandDispatcher final : public CallbackQueue {
public:
    explicit StrandDispatcher(asio::io_context& io) : strand_(asio::make_strand(io)) {}
    ~StrandDispatcher() override { stop(std::chrono::milliseconds(0)); }
    StrandDispatcher(const StrandDispatcher&) = delete;
    StrandDispatcher& operator=(const StrandDispatcher&) = delete;

    void post(std::function<void()> work) override {
        {
            std::lock_guard lock(state_->mutex);
            if (state_->stopping) {
                return;
            }
        }
        asio::post(strand_, [state = state_, work = std::move(work)] {
            {
                std::lock_guard lock(state->mutex);
                if (state->stopping) {
                    return;
                }
                state->running = std::this_thread::get_id();
            }
            work();
            {
                std::lock_guard lock(state->mutex);
                state->running = std::thread::id();
            }
            state->idle.notify_all();
        });
    }

    /// Drops what is queued (the app's io_context may not even be running) and waits for a callback that runs on
    /// another thread.
    void stop(std::chrono::milliseconds /*drain_for*/) override {
        std::unique_lock lock(state_->mutex);
        state_->stopping = true;
        state_->idle.wait(lock, [&] {
            return state_->running == std::thread::id() || state_->running == std::this_thread::get_id();
        });
    }

private:
    struct State {
        std::mutex mutex;
        std::condition_variable idle;
        bool stopping{false};
        std::thread::id running;  ///< the thread a callback runs on, if one runs
    };
    std::shared_ptr<State> state_ = std::make_shared<State>();
    asio::strand<asio::io_context::executor_type> strand_;
};

/// Keeps callbacks with the host (relink/testing.hpp's World), which runs them in order on its own thread when the
/// test lets time pass. After stop(), a callback still kept there does nothing: the host outlives the client.
class HostedQueue final : public CallbackQueue {
public:
    explicit HostedQueue(std::shared_ptr<detail::ClientHost> host) : host_(std::move(host)) {}
    ~HostedQueue() override { stop(std::chrono::milliseconds(0)); }
    HostedQueue(const HostedQueue&) = delete;
    HostedQueue& operator=(const HostedQueue&) = delete;

    void post(std::function<void()> work) override {
        if (*stopped_) {
            return;
        }
        host_->post([stopped = stopped_, work = std::move(work)] {
            if (!*stopped) {
                work();
            }
        });
    }

    /// Drops what the host still keeps: the app's objects its callbacks use may be going away with the client.
    void stop(std::chrono::milliseconds /*drain_for*/) override { *stopped_ = true; }

private:
    std::shared_ptr<detail::ClientHost> host_;
    std::shared_ptr<bool> stopped_ = std::make_shared<bool>(false);  ///< one thread: the host's
};

/// A detail::HostedClient made of two functions (make_hosted's, which may name Client::Impl).
class FunctionDriver final : public detail::HostedClient {
public:
    using Input = std::function<void(const std::function<void(core::ClientCore&, core::TimePoint)>&)>;
    using Deadline = std::function<std::optional<core::TimePoint>()>;
    FunctionDriver(Input input, Deadline deadline) : input_(std::move(input)), deadline_(std::move(deadline)) {}

    void input(const std::function<void(core::ClientCore& core, core::TimePoint now)>& fn) override { input_(fn); }
    [[nodiscard]] std::optional<core::TimePoint> next_deadline() override { return deadline_(); }

private:
    Input input_;
    Deadline deadline_;
};

}  // namespace

/// One head: the core decides everything, under `mutex_`.
///
/// A public call takes the lock, asks the core with the current time, and returns the core's exact answer. What the
/// core produced goes out in the order it was produced: its events are queued to the dispatcher under the lock
/// (queued only: no callback runs under it), its actions are queued for the io strand, which performs them in order
/// (`pump()`). Transport callbacks and the timer take the same lock to give the core their input. So there is no
/// second copy of the core's decisions to drift from it: connection_state() and channel_state() read what the core
/// last decided.
///
/// Nothing under the lock calls the app: log lines produced under it are written after it is released, and the
/// token provider runs on the strand without it. Lock order: `mutex_`, then the dispatcher's own lock; the
/// dispatcher never takes `mutex_`.
class Client::Impl : public std::enable_shared_from_this<Impl> {
public:
    /// On `external` when given (the app's io_context), on `host` when given (relink/testing.hpp: no thread, no
    /// socket, no timer; the io_context it still has is never run), else on an io_context and threads of its own.
    Impl(ClientConfig config, asio::io_context* external, std::shared_ptr<detail::ClientHost> host = nullptr)
        : config_(std::move(config)),
          own_io_(external != nullptr ? nullptr : std::make_unique<asio::io_context>(1)),
          io_(external != nullptr ? *external : *own_io_),
          strand_(asio::make_strand(io_)),
          host_(std::move(host)) {
        if (!host_) {
            timer_.emplace(strand_);  // a hosted client's timer is its host's clock
        }
        client::validate(config_);  // throws std::invalid_argument naming the field
        core::Config core_config;
        core_config.profile = config_.profile;
        core_config.timings = config_.timings.value_or(timings_for(config_.profile)).scaled(config_.time_scale);
        core_config.app_id = config_.app_id;
        core_config.max_queued_operations = config_.max_queued_operations;
        std::random_device random;
        core_config.seed = config_.seed != 0 ? config_.seed : random();
        // Message ids must differ between instances even when the seed is fixed (found by the chaos soak).
        core_config.instance_salt = (std::uint64_t{random()} << 32U) ^ random();
        core_config.recover_key = config_.recover_key;
        core_ = std::make_unique<core::ClientCore>(core_config);  // throws std::invalid_argument on bad timings
        attempt_timeout_ = core_config.timings.attempt_timeout;
        token_ = config_.token;
        proxy_ = config_.proxy;
        const auto url = client::parse_url(config_.url);
        tls_ = url.url && url.url->tls;
        if (host_) {
            dispatcher_ = std::make_unique<HostedQueue>(host_);
        } else if (own_io_) {
            dispatcher_ = std::make_unique<Dispatcher>();
        } else {
            dispatcher_ = std::make_unique<StrandDispatcher>(io_);
        }
    }

    void start() {
        if (!own_io_ || host_) {
            return;  // the app runs its io_context; the host drives a hosted client
        }
        work_.emplace(asio::make_work_guard(io_));
        io_thread_ = std::thread([self = shared_from_this()] { self->io_.run(); });
    }

    void shutdown() {
        // Log out (the core decides what that means in this state) and stop taking input; the goodbye frame is an
        // action still to perform on the strand.
        with_core([](core::ClientCore& core, core::TimePoint now) {
            if (core.state() != ConnectionState::disconnected) {
                (void)core.logout(now);
            }
        });
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        if (host_) {
            // The logout's goodbye went to the host with the logout (pump() runs inline on a host); the events it
            // produced are dropped with the rest: the app objects they would reach may be going away too.
            dispatcher_->stop(std::chrono::milliseconds(0));
            host_->closed();
            return;
        }
        if (!own_io_) {
            // On the app's io_context: no callback after this returns, and the goodbye goes out when the strand
            // runs (the posted work holds the Impl alive until then). Nothing here waits for the io_context.
            dispatcher_->stop(std::chrono::milliseconds(0));
            asio::post(strand_, [self = shared_from_this()] { self->close_down(); });
            return;
        }
        // Send the goodbye and close the transport on the strand, give it a moment, then stop everything.
        std::promise<void> done;
        auto closed = done.get_future();
        asio::post(strand_, [this, &done] {
            close_down();
            done.set_value();
        });
        if (io_thread_.joinable() && io_thread_.get_id() != std::this_thread::get_id()) {
            (void)closed.wait_for(std::chrono::seconds(2));
        }
        work_.reset();
        io_.stop();
        if (io_thread_.joinable()) {
            if (io_thread_.get_id() == std::this_thread::get_id()) {
                io_thread_.detach();
            } else {
                io_thread_.join();
            }
        }
        // The events of the logout above (DISCONNECTED ...) still reach the app, within a bound.
        dispatcher_->stop(std::chrono::milliseconds(1000));
    }

    /// Asks the core: runs `fn(core, now)` under the lock and returns its answer; what the core produced is queued
    /// in order (events to the dispatcher, actions to the strand) before the lock is released.
    template <class Fn>
    auto with_core(Fn&& fn) -> decltype(fn(std::declval<core::ClientCore&>(), core::TimePoint{})) {
        using Result = decltype(fn(std::declval<core::ClientCore&>(), core::TimePoint{}));
        std::vector<std::pair<LogLevel, std::string>> lines;
        if constexpr (std::is_void_v<Result>) {
            bool post = false;
            {
                std::lock_guard lock(mutex_);
                fn(*core_, now());
                collect_locked(lines);
                post = claim_pump_locked();
            }
            after_unlock(lines, post);
        } else {
            Result result;
            bool post = false;
            {
                std::lock_guard lock(mutex_);
                result = fn(*core_, now());
                collect_locked(lines);
                post = claim_pump_locked();
            }
            after_unlock(lines, post);
            return result;
        }
    }

    /// A public call: `fn(core, now)` is the core's decision; the call observer (tests) sees the core just before.
    template <class Fn>
    auto call(Fn&& fn) {
        return with_core([&](core::ClientCore& core, core::TimePoint t) {
            if (call_observer_) {
                call_observer_(core, t);
            }
            return fn(core, t);
        });
    }

    /// An operation: the core's answer at once, or later exactly one call of `done` with the completion.
    template <class Done, class Fn>
    std::error_code operation(Done done, std::map<OpId, Done>& completions, Fn&& start) {
        return call([&](core::ClientCore& core, core::TimePoint t) {
            const core::OpResult result = start(core, t);
            if (!result.error && done) {
                // Registered before the core's events are collected: an operation that completes within the call
                // (renew_token() with the link down) finds its completion.
                completions[result.op] = std::move(done);
            }
            return result.error;
        });
    }

    template <class F>
    static void invoke_safely(F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "relink: a callback threw (%s); dropped\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "relink: a callback threw; dropped\n");
        }
    }

    /// Writes a log line. Never under `mutex_` (the handler is the app's code): lines made under it are collected.
    void log(LogLevel level, const std::string& line) const {
        if (level < config_.log_level || config_.log_level == LogLevel::off) {
            return;
        }
        if (config_.log_handler) {
            invoke_safely([&] { config_.log_handler(level, line); });
        } else {
            std::fprintf(stderr, "relink [%s] %s\n", level_name(level), line.c_str());
        }
    }

    /// The core's time: the host's on a hosted client, else the steady clock.
    [[nodiscard]] core::TimePoint now() const {
        if (host_) {
            return host_->now();
        }
        return core::TimePoint(
            std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
    }

    // ---- under the lock: take in what the core produced ----

    /// Queues the core's actions for the strand and its events for the dispatcher, in the order it produced them.
    void collect_locked(std::vector<std::pair<LogLevel, std::string>>& lines) {
        while (auto action = core_->poll_action()) {
            pending_actions_.push_back(std::move(*action));
        }
        // Published before any of these events can reach a callback: a callback never reads a state older than the
        // event it was given.
        state_.store(core_->state(), std::memory_order_release);
        while (auto event = core_->poll_event()) {
            dispatcher_->post(deliver_locked(std::move(*event), lines));
        }
    }

    /// Under the lock, in the same critical section as the call that produced the actions: true when this call must
    /// post the pump (none is posted yet and the client is not stopping). One pump at a time drains every action.
    [[nodiscard]] bool claim_pump_locked() {
        if (pump_posted_ || stopping_) {
            return false;
        }
        pump_posted_ = true;
        return true;
    }

    /// After the lock is released: writes the lines and, when `post` (claim_pump_locked()), has the strand perform
    /// the actions and re-arm the timer.
    void after_unlock(const std::vector<std::pair<LogLevel, std::string>>& lines, bool post) {
        for (const auto& [level, line] : lines) {
            log(level, line);
        }
        if (post && host_) {
            // A host's actions only queue work on its simulated network: safe to perform inside the call. Unless a
            // pump is running already (a call from the token provider, which runs inside perform()): that pump
            // takes these actions after its own, in order, as the strand would.
            if (!hosted_pumping_) {
                pump();
            }
        } else if (post) {
            asio::post(strand_, [weak = weak_from_this()] {
                if (auto self = weak.lock()) {
                    self->pump();
                }
            });
        }
    }

    /// The callback that hands `event` to the app, with the completion it completes.
    [[nodiscard]] std::function<void()> deliver_locked(Event event,
                                                       std::vector<std::pair<LogLevel, std::string>>& lines) {
        if (const auto* change = std::get_if<ConnectionStateChanged>(&event)) {
            if (config_.log_level <= LogLevel::info) {
                lines.emplace_back(LogLevel::info, std::string("state ") + std::string(to_string(change->previous)) +
                                                       " -> " + std::string(to_string(change->state)) + " (" +
                                                       std::string(to_string(change->reason)) + "), attempt " +
                                                       std::to_string(change->attempt) + ", next retry " +
                                                       ms(change->next_retry));
            }
            if (change->state == ConnectionState::connected) {
                token_needs_refresh_ = false;
            }
        }
        if (std::holds_alternative<TokenExpired>(event) || std::holds_alternative<TokenPrivilegeWillExpire>(event)) {
            token_needs_refresh_ = true;
        }
        if (std::holds_alternative<RejoinSuccess>(event)) {
            token_needs_refresh_ = false;
        }
        Completion done;
        AttributesCompletion attributes_done;
        RecoveryKeyCompletion key_done;
        if (const auto* completed = std::get_if<OperationCompleted>(&event)) {
            if (auto it = key_completions_.find(completed->op); it != key_completions_.end()) {
                key_done = std::move(it->second);
                key_completions_.erase(it);
            }
            if (auto it = attribute_completions_.find(completed->op); it != attribute_completions_.end()) {
                attributes_done = std::move(it->second);
                attribute_completions_.erase(it);
            }
            if (auto it = completions_.find(completed->op); it != completions_.end()) {
                done = std::move(it->second);
                completions_.erase(it);
            }
        }
        return [self = shared_from_this(), event = std::move(event), done = std::move(done),
                attributes_done = std::move(attributes_done),
                key_done = std::move(key_done)] { self->dispatch(event, done, attributes_done, key_done); };
    }

    // ---- on the strand: perform the actions, feed the transport's reports to the core ----

    /// Performs the queued actions in order, then re-arms the one timer to the core's next deadline.
    void pump() {
        hosted_pumping_ = host_ != nullptr;
        for (;;) {
            std::deque<core::Action> actions;
            std::optional<core::TimePoint> deadline;
            {
                std::lock_guard lock(mutex_);
                pump_posted_ = false;
                if (stopping_) {
                    hosted_pumping_ = false;
                    return;
                }
                actions.swap(pending_actions_);
                deadline = core_->next_deadline();
            }
            if (actions.empty()) {
                hosted_pumping_ = false;
                arm_timer(deadline);
                return;
            }
            for (auto& action : actions) {
                perform(std::move(action));
            }
        }
    }

    /// Gives the core a report from the strand (transport, timer), then performs what it asked for.
    template <class Fn>
    void input(Fn&& fn) {
        std::vector<std::pair<LogLevel, std::string>> lines;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
            fn(*core_, now());
            collect_locked(lines);
        }
        for (const auto& [level, line] : lines) {
            log(level, line);
        }
        pump();
    }

    /// On the strand, once, when the client goes away: send what the logout produced, close the link, stop the timer.
    void close_down() {
        std::deque<core::Action> actions;
        {
            std::lock_guard lock(mutex_);
            actions.swap(pending_actions_);
        }
        for (auto& action : actions) {
            if (!std::holds_alternative<core::OpenTransport>(action)) {
                perform(std::move(action));
            }
        }
        close_transports();
        if (timer_) {
            timer_->cancel();
        }
    }

    void perform(core::Action action) {
        if (host_) {
            if (std::holds_alternative<core::OpenTransport>(action)) {
                refresh_token_for_attempt();  // the token provider is asked on a host too
            }
            host_->perform(std::move(action));
            return;
        }
        if (auto* open = std::get_if<core::OpenTransport>(&action)) {
            open_transport(open->transport, open->standby);
            return;
        }
        if (auto* send = std::get_if<core::SendFrame>(&action)) {
            if (auto it = transports_.find(send->transport); it != transports_.end()) {
                it->second->send(proto::encode(send->message));
            }
            return;
        }
        close_transport(std::get<core::CloseTransport>(action).transport);
    }

    void close_transport(core::TransportId id) {
        if (auto it = transports_.find(id); it != transports_.end()) {
            it->second->close();
            transports_.erase(it);
        }
    }

    void close_transports() {
        for (auto& [id, transport] : transports_) {
            transport->close();
        }
        transports_.clear();
    }

    /// Opens transport `id`. A standby (a handover's second connection) opens beside the one in use; any other open
    /// replaces whatever is left (the core lets an attempt go before it starts the next).
    void open_transport(core::TransportId id, bool standby) {
        if (!standby) {
            close_transports();
        }
        refresh_token_for_attempt();
        client::TransportOptions options;
        {
            std::lock_guard lock(mutex_);
            options.url = url_override_.value_or(config_.url);
        }
        options.allow_plaintext = config_.allow_plaintext;
        options.tls = {config_.tls.verify_peer, config_.tls.ca_file, config_.tls.ca_directory,
                       config_.tls.use_system_store};
        {
            std::lock_guard lock(mutex_);
            if (proxy_) {
                options.proxy = client::ProxySettings{proxy_->host, proxy_->port};
            }
        }
        options.tls_sessions = tls_sessions_;
        options.tls_context = tls_context_;
        options.dns_timeout = options.connect_timeout = options.tls_timeout = options.websocket_timeout =
            attempt_timeout_;
        std::weak_ptr<Impl> weak = shared_from_this();
        transports_[id] = client::Transport::open(
            strand_, options,
            client::Transport::Handlers{
                [weak, id](const client::StepTimings& timings) {
                    if (auto self = weak.lock()) {
                        self->log_open(id, timings);
                        self->input(
                            [&](core::ClientCore& core, core::TimePoint t) { core.on_transport_open(t, id, timings); });
                    }
                },
                [weak, id](std::string frame) {
                    if (auto self = weak.lock()) {
                        self->on_frame(id, frame);
                    }
                },
                [weak, id](std::error_code error, AttemptFailure cause, std::string detail,
                           const client::StepTimings& finished) {
                    if (auto self = weak.lock()) {
                        const bool tls = cause == AttemptFailure::tls || cause == AttemptFailure::certificate;
                        self->log(tls ? LogLevel::warn : LogLevel::debug,
                                  "transport " + std::to_string(id) + " closed: " + detail);
                        self->transports_.erase(id);
                        self->input([&](core::ClientCore& core, core::TimePoint t) {
                            core.on_transport_closed(t, id, error, cause, std::move(detail), finished);
                        });
                    }
                }});
    }

    /// Before an attempt: asks the app's token provider (on the strand, never under the lock) for a fresh token
    /// when the current one has expired or been warned about, or expires within the reconnect horizon: the longer
    /// of one attempt's timeout (it would not survive the attempt) and the token warning lead (the session would be
    /// warned about it as soon as it is back). The core keeps the expiry across reconnects; the server's warnings
    /// do not reach a client that is offline.
    void refresh_token_for_attempt() {
        if (!config_.token_provider) {
            return;
        }
        {
            std::lock_guard lock(mutex_);
            const auto expiry = core_->token_expiry();
            const auto& t = core_->config().timings;
            const bool due = token_needs_refresh_ ||
                             (expiry && *expiry - now() <= std::max(t.attempt_timeout, t.token_warning_lead));
            if (!due) {
                return;
            }
        }
        std::string fresh;
        invoke_safely([&] { fresh = config_.token_provider(); });
        if (fresh.empty()) {
            return;
        }
        // For this attempt, with no side effects: renew_token() would restart the attempt being opened (the session
        // is down because of its token) and ask the provider again, without end.
        std::lock_guard lock(mutex_);
        token_ = fresh;
        core_->use_token_for_next_login(std::move(fresh));
        token_needs_refresh_ = false;
    }

    void log_open(core::TransportId id, const client::StepTimings& timings) {
        const auto step = [](const std::optional<Duration>& d) { return ms(d.value_or(Duration::zero())); };
        std::string tls = step(timings.tls);
        if (tls_) {
            tls += timings.tls_resumed ? " (resumed)" : " (full)";
            (timings.tls_resumed ? tls_resumed_ : tls_full_).fetch_add(1, std::memory_order_relaxed);
        }
        log(LogLevel::debug, "attempt " + std::to_string(id) + " open: dns " + step(timings.dns) + ", tcp " +
                                 step(timings.tcp) + ", tls " + tls + ", websocket " + step(timings.websocket));
    }

    void on_frame(core::TransportId id, const std::string& frame) {
        auto decoded = proto::decode_server(frame);
        if (!decoded) {
            // A server that breaks the protocol: drop this connection and reconnect (never trust the rest of it).
            log(LogLevel::warn, "undecodable frame from the server: " + decoded.error.detail);
            close_transport(id);
            input([&](core::ClientCore& core, core::TimePoint t) {
                core.on_transport_closed(t, id, make_error_code(errc::protocol_error), AttemptFailure::protocol,
                                         "read: undecodable frame from the server: " + decoded.error.detail);
            });
            return;
        }
        input([&](core::ClientCore& core, core::TimePoint t) { core.on_message(t, id, std::move(*decoded.message)); });
    }

    void arm_timer(std::optional<core::TimePoint> deadline) {
        if (host_) {
            return;  // the host asks next_deadline() itself
        }
        if (!deadline) {
            timer_->cancel();
            armed_ = false;
            return;
        }
        const auto when = std::chrono::steady_clock::time_point(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline->time_since_epoch()));
        if (armed_ && armed_at_ == when) {
            return;
        }
        armed_ = true;
        armed_at_ = when;
        timer_->expires_at(when);
        timer_->async_wait([weak = weak_from_this(), when](boost::system::error_code ec) {
            auto self = weak.lock();
            if (!self || ec || self->armed_at_ != when) {
                return;  // cancelled or re-armed; an early wake-up would be harmless anyway
            }
            self->armed_ = false;
            self->input([](core::ClientCore& core, core::TimePoint t) { core.handle_timeout(t); });
        });
    }

    // ---- on the dispatcher: the app's callbacks ----

    void dispatch(const Event& event, const Completion& done, const AttributesCompletion& attributes_done,
                  const RecoveryKeyCompletion& key_done = {}) {
        Handlers handlers;
        {
            std::lock_guard lock(handlers_mutex_);
            handlers = handlers_;  // copied: a handler may replace handlers while it runs
        }
        std::visit(
            [&](const auto& e) {
                using E = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<E, OperationCompleted>) {
                    if (done) {
                        invoke_safely([&] { done(e.error); });
                    }
                    if (attributes_done) {
                        invoke_safely([&] { attributes_done(e.error, e.attributes.value_or(Attributes{})); });
                    }
                    if (key_done) {
                        invoke_safely([&] { key_done(e.error, e.recovery_key.value_or(std::string{})); });
                    }
                } else {
                    const auto& handler = std::get<std::function<void(const E&)>>(handlers.typed);
                    if (handler) {
                        invoke_safely([&] { handler(e); });
                    }
                }
            },
            event);
        if (handlers.any) {
            invoke_safely([&] { handlers.any(event); });
        }
    }

    static std::string ms(Duration d) {
        return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
    }

    struct Handlers {
        std::tuple<std::function<void(const ConnectionStateChanged&)>, std::function<void(const ConnectionLost&)>,
                   std::function<void(const JoinSuccess&)>, std::function<void(const RejoinSuccess&)>,
                   std::function<void(const ChannelStateChanged&)>, std::function<void(const MemberJoined&)>,
                   std::function<void(const MemberLeft&)>, std::function<void(const StreamAdded&)>,
                   std::function<void(const StreamRemoved&)>, std::function<void(const MessageReceived&)>,
                   std::function<void(const ContinuityReport&)>, std::function<void(const TokenPrivilegeWillExpire&)>,
                   std::function<void(const TokenExpired&)>, std::function<void(const AttemptFailed&)>,
                   std::function<void(const LinkQualityChanged&)>, std::function<void(const AttemptFinished&)>>
            typed;
        std::function<void(const Event&)> any;
    };

    template <class E>
    void set_handler(std::function<void(const E&)> handler) {
        std::lock_guard lock(handlers_mutex_);
        std::get<std::function<void(const E&)>>(handlers_.typed) = std::move(handler);
    }
    void set_any(std::function<void(const Event&)> handler) {
        std::lock_guard lock(handlers_mutex_);
        handlers_.any = std::move(handler);
    }

    // fixed at construction
    const ClientConfig config_;                 ///< the app's config (its token: see token_)
    bool tls_{false};                           ///< wss:// (every connection has a TLS handshake)
    Duration attempt_timeout_{};                ///< each step of an attempt (DNS, TCP, TLS, WebSocket)
    std::unique_ptr<asio::io_context> own_io_;  ///< null on the app's io_context
    asio::io_context& io_;
    asio::strand<asio::io_context::executor_type> strand_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::thread io_thread_;
    std::unique_ptr<CallbackQueue> dispatcher_;
    /// relink/testing.hpp's host of a hosted client (null otherwise), and the handle through which it drives it.
    std::shared_ptr<detail::ClientHost> host_;
    std::shared_ptr<detail::HostedClient> hosted_driver_;
    bool hosted_pumping_{false};  ///< a hosted client's pump() runs (the host's one thread)
    /// This client's TLS session, offered on its next connection (a resumed handshake); never another client's.
    std::shared_ptr<client::TlsSessionCache> tls_sessions_ = std::make_shared<client::TlsSessionCache>();
    /// The TLS context (trust store loaded) of this client's connections, kept from one attempt to the next, so that
    /// retrying through an outage does not load the trust store again at every attempt.
    std::shared_ptr<client::TlsContextHolder> tls_context_ = std::make_shared<client::TlsContextHolder>();

    // under mutex_
    std::mutex mutex_;
    std::unique_ptr<core::ClientCore> core_;
    std::string token_;  ///< the token of the next login(): the config's, or the latest renewed or provided
    std::optional<ProxyOptions> proxy_;
    std::map<OpId, Completion> completions_;
    std::map<OpId, AttributesCompletion> attribute_completions_;
    std::map<OpId, RecoveryKeyCompletion> key_completions_;
    std::deque<core::Action> pending_actions_;  ///< produced by the core, not yet performed on the strand
    bool pump_posted_{false};
    bool token_needs_refresh_{false};
    bool stopping_{false};
    detail::ClientInternals::CallObserver call_observer_;
    std::optional<std::string> url_override_;  ///< detail::ClientInternals::route_new_connections()

    // strand-only
    std::optional<asio::steady_timer> timer_;  ///< none on a host
    /// The transports open or opening: one, or two during a handover (the link in use and its standby).
    std::map<core::TransportId, std::shared_ptr<client::Transport>> transports_;
    bool armed_{false};
    std::chrono::steady_clock::time_point armed_at_{};

    // readable from any thread
    std::atomic<ConnectionState> state_{ConnectionState::disconnected};  ///< the core's state after its last input
    std::atomic<std::uint64_t> tls_full_{0};
    std::atomic<std::uint64_t> tls_resumed_{0};
    std::mutex handlers_mutex_;
    Handlers handlers_;
};

Client::Client(ClientConfig config) : Client(std::make_shared<Impl>(std::move(config), nullptr)) {}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {
    impl_->start();
}

std::unique_ptr<Client> detail::make_client_on(ClientConfig config, void* io_context) {
    if (io_context == nullptr) {
        throw std::invalid_argument("relink::make_client: no io_context");
    }
    return std::unique_ptr<Client>(
        new Client(std::make_shared<Client::Impl>(std::move(config), static_cast<asio::io_context*>(io_context))));
}

Client::~Client() {
    impl_->shutdown();
}

// Every call below is one question to the core, answered under its lock: no check here repeats one of the core's.

std::error_code Client::login() {
    Impl& impl = *impl_;
    return impl.call([&](core::ClientCore& core, core::TimePoint now) {
        return core.login(now, impl.config_.user_id, impl.token_);
    });
}

std::error_code Client::logout() {
    return impl_->call([](core::ClientCore& core, core::TimePoint now) { return core.logout(now); });
}

std::error_code Client::join(const std::string& channel) {
    Impl& impl = *impl_;
    return impl.call([&](core::ClientCore& core, core::TimePoint now) {
        return core.join_session(now, impl.config_.user_id, impl.token_, channel);
    });
}

std::error_code Client::leave(const std::string& channel) {
    return impl_->call([&](core::ClientCore& core, core::TimePoint now) { return core.leave(now, channel); });
}

std::error_code Client::switch_channel(const std::string& from, const std::string& to) {
    return impl_->call([&](core::ClientCore& core, core::TimePoint now) { return core.switch_channel(now, from, to); });
}

std::error_code Client::send_peer_message(const std::string& user_id, std::string payload, Completion done,
                                          bool store_offline) {
    return impl_->operation(std::move(done), impl_->completions_, [&](core::ClientCore& core, core::TimePoint now) {
        return core.send_peer_message(now, user_id, std::move(payload), store_offline);
    });
}

std::error_code Client::send_channel_message(const std::string& channel, std::string payload, Completion done) {
    return impl_->operation(std::move(done), impl_->completions_, [&](core::ClientCore& core, core::TimePoint now) {
        return core.send_channel_message(now, channel, std::move(payload));
    });
}

std::error_code Client::publish(const std::string& channel, const std::string& stream, Completion done) {
    return impl_->operation(std::move(done), impl_->completions_, [&](core::ClientCore& core, core::TimePoint now) {
        return core.publish(now, channel, stream);
    });
}

std::error_code Client::unpublish(const std::string& channel, const std::string& stream, Completion done) {
    return impl_->operation(std::move(done), impl_->completions_, [&](core::ClientCore& core, core::TimePoint now) {
        return core.unpublish(now, channel, stream);
    });
}

std::error_code Client::set_local_user_attributes(Attributes attributes, Completion done) {
    return impl_->operation(std::move(done), impl_->completions_, [&](core::ClientCore& core, core::TimePoint now) {
        return core.set_local_user_attributes(now, std::move(attributes));
    });
}

std::error_code Client::get_user_attributes(const std::string& user_id, AttributesCompletion done) {
    return impl_->operation(
        std::move(done), impl_->attribute_completions_,
        [&](core::ClientCore& core, core::TimePoint now) { return core.get_user_attributes(now, user_id); });
}

std::error_code Client::recovery_key(RecoveryKeyCompletion done) {
    return impl_->operation(std::move(done), impl_->key_completions_,
                            [&](core::ClientCore& core, core::TimePoint now) { return core.recovery_key(now); });
}

std::error_code Client::renew_token(std::string token, Completion done) {
    Impl& impl = *impl_;
    return impl.operation(std::move(done), impl.completions_, [&](core::ClientCore& core, core::TimePoint now) {
        core::OpResult result = core.renew_token(now, token);
        if (!result.error) {
            impl.token_ = std::move(token);  // the token of any later login
        }
        return result;
    });
}

void Client::notify_network_changed() {
    impl_->call([](core::ClientCore& core, core::TimePoint now) { core.notify_network_changed(now); });
}

void Client::notify_foreground() {
    impl_->call([](core::ClientCore& core, core::TimePoint now) { core.notify_foreground(now); });
}

void Client::set_proxy(std::optional<ProxyOptions> proxy) {
    Impl& impl = *impl_;
    impl.call([&](core::ClientCore& core, core::TimePoint now) {
        impl.proxy_ = std::move(proxy);
        impl.tls_sessions_->clear();  // a session belongs to the route it came by (the cache checks it too)
        core.notify_proxy_changed(now);
    });
}

ConnectionState Client::connection_state() const noexcept {
    return impl_->state_.load(std::memory_order_acquire);
}

ConnectionStatus Client::status() const {
    std::lock_guard lock(impl_->mutex_);
    return impl_->core_->status(impl_->now());
}

LinkQuality Client::link_quality() const {
    std::lock_guard lock(impl_->mutex_);
    return impl_->core_->link_quality(impl_->now());
}

ClientMetrics Client::metrics() const {
    std::lock_guard lock(impl_->mutex_);
    return impl_->core_->metrics();
}

TlsHandshakeCounts Client::tls_handshakes() const noexcept {
    return {impl_->tls_full_.load(std::memory_order_relaxed), impl_->tls_resumed_.load(std::memory_order_relaxed)};
}

std::optional<ChannelState> Client::channel_state(const std::string& channel) const {
    std::lock_guard lock(impl_->mutex_);
    return impl_->core_->channel_state(channel);
}

void detail::ClientInternals::observe_calls(Client& client, CallObserver observer) {
    std::lock_guard lock(client.impl_->mutex_);
    client.impl_->call_observer_ = std::move(observer);
}

void detail::ClientInternals::route_new_connections(Client& client, std::string url) {
    std::lock_guard lock(client.impl_->mutex_);
    client.impl_->url_override_ = std::move(url);
}

detail::ClientInternals::Hosted detail::ClientInternals::make_hosted(ClientConfig config,
                                                                     std::shared_ptr<ClientHost> host) {
    if (!host) {
        throw std::invalid_argument("relink: a hosted client needs a host");
    }
    auto impl = std::make_shared<Client::Impl>(std::move(config), nullptr, std::move(host));
    std::weak_ptr<Client::Impl> weak = impl;
    impl->hosted_driver_ = std::make_shared<FunctionDriver>(
        [weak](const std::function<void(core::ClientCore&, core::TimePoint)>& fn) {
            if (auto self = weak.lock()) {
                self->input(fn);
            }
        },
        [weak]() -> std::optional<core::TimePoint> {
            auto self = weak.lock();
            if (!self) {
                return std::nullopt;
            }
            std::lock_guard lock(self->mutex_);
            if (self->stopping_) {
                return std::nullopt;
            }
            return self->core_->next_deadline();
        });
    Hosted hosted;
    hosted.driver = impl->hosted_driver_;
    hosted.client = std::unique_ptr<Client>(new Client(std::move(impl)));
    return hosted;
}

void Client::on_connection_state_changed(std::function<void(const ConnectionStateChanged&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_connection_lost(std::function<void(const ConnectionLost&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_join_success(std::function<void(const JoinSuccess&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_rejoin_success(std::function<void(const RejoinSuccess&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_channel_state_changed(std::function<void(const ChannelStateChanged&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_member_joined(std::function<void(const MemberJoined&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_member_left(std::function<void(const MemberLeft&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_stream_added(std::function<void(const StreamAdded&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_stream_removed(std::function<void(const StreamRemoved&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_message(std::function<void(const MessageReceived&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_continuity(std::function<void(const ContinuityReport&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_token_privilege_will_expire(std::function<void(const TokenPrivilegeWillExpire&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_token_expired(std::function<void(const TokenExpired&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_attempt_failed(std::function<void(const AttemptFailed&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_link_quality_changed(std::function<void(const LinkQualityChanged&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_attempt_finished(std::function<void(const AttemptFinished&)> h) {
    impl_->set_handler(std::move(h));
}
void Client::on_event(std::function<void(const Event&)> h) {
    impl_->set_any(std::move(h));
}

}  // namespace relink
