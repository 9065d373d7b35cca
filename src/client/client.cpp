// relink::Client (relink/client.hpp): the sans-IO core on a strand of an io_context, driven by the Beast
// transport (client/transport.hpp), with a callback queue that runs the app's callbacks one at a time.
//
//   app threads ─► Client ─post─► strand: core inputs (now = steady_clock) ─► actions: Transport open/send/close
//                                         │ events                            ▲ on_open / on_message / on_closed
//                                         ▼                                   │
//                                   callback queue ─► app callbacks (in order, never inline, never under a lock)
//
// Two ways to run: the default client owns its io_context (one io thread) and a dispatcher thread; a client made
// by relink::make_client (relink/asio.hpp) runs on the app's io_context, its callbacks on a second strand of it.
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
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

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

}  // namespace

class Client::Impl : public std::enable_shared_from_this<Impl> {
public:
    /// On `external` when given (the app's io_context), else on an io_context and threads of its own.
    Impl(ClientConfig config, asio::io_context* external)
        : config_(std::move(config)),
          own_io_(external != nullptr ? nullptr : std::make_unique<asio::io_context>(1)),
          io_(external != nullptr ? *external : *own_io_),
          strand_(asio::make_strand(io_)),
          timer_(strand_) {
        if (config_.url.empty()) {
            throw std::invalid_argument("relink::Client: no url");
        }
        if (!is_valid_user_id(config_.user_id)) {
            throw std::invalid_argument("relink::Client: invalid user id");
        }
        if (!(config_.time_scale > 0.0)) {
            throw std::invalid_argument("relink::Client: time_scale must be positive");
        }
        core::Config core_config;
        core_config.profile = config_.profile;
        core_config.timings = config_.timings.value_or(timings_for(config_.profile)).scaled(config_.time_scale);
        core_config.app_id = config_.app_id;
        core_config.max_queued_operations = config_.max_queued_operations;
        std::random_device random;
        core_config.seed = config_.seed != 0 ? config_.seed : random();
        // Message ids must differ between instances even when the seed is fixed (found by the chaos soak).
        core_config.instance_salt = (std::uint64_t{random()} << 32U) ^ random();
        core_ = std::make_unique<core::ClientCore>(core_config);  // throws std::invalid_argument on bad timings
        proxy_ = config_.proxy;
        const auto url = client::parse_url(config_.url);
        tls_ = url.url && url.url->tls;
        if (own_io_) {
            dispatcher_ = std::make_unique<Dispatcher>();
        } else {
            dispatcher_ = std::make_unique<StrandDispatcher>(io_);
        }
    }

    void start() {
        if (!own_io_) {
            return;  // the app runs its io_context
        }
        work_.emplace(asio::make_work_guard(io_));
        io_thread_ = std::thread([self = shared_from_this()] { self->io_.run(); });
    }

    void shutdown() {
        if (!own_io_) {
            // On the app's io_context: no callback after this returns, and the goodbye goes out when the strand
            // runs (it holds the Impl alive until then). Nothing here waits for the io_context.
            dispatcher_->stop(std::chrono::milliseconds(0));
            asio::post(strand_, [self = shared_from_this()] {
                self->stopping_ = true;
                if (self->core_->state() != ConnectionState::disconnected) {
                    (void)self->core_->logout(now());
                    self->drive();
                }
                if (self->transport_) {
                    self->transport_->close();
                    self->transport_.reset();
                }
                self->timer_.cancel();
            });
            return;
        }
        // Log out and close the transport on the strand, give the goodbye a moment, then stop everything.
        std::promise<void> done;
        auto closed = done.get_future();
        asio::post(strand_, [this, &done] {
            stopping_ = true;
            if (core_->state() != ConnectionState::disconnected) {
                (void)core_->logout(now());
                drive();
            }
            if (transport_) {
                transport_->close();
                transport_.reset();
            }
            timer_.cancel();
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

    /// Runs `fn(core, now)` on the strand, then drives the core's outputs.
    template <class Fn>
    void on_strand(Fn fn) {
        asio::post(strand_, [self = shared_from_this(), fn = std::move(fn)]() mutable {
            if (self->stopping_) {
                return;
            }
            fn(*self->core_, self->now());
            self->drive();
        });
    }

    /// A quick answer for calls that cannot work in the state the client is in right now (the strand checks again).
    [[nodiscard]] std::error_code needs_session() const {
        const auto state = state_.load();
        if (state == ConnectionState::disconnected || state == ConnectionState::aborted ||
            state == ConnectionState::failed || state == ConnectionState::disconnecting) {
            return make_error_code(errc::not_logged_in);
        }
        return {};
    }

    /// An operation: validated at once, then run on the strand; `done` gets its completion (or the core's error).
    template <class Fn>
    std::error_code operation(Completion done, Fn start) {
        if (auto e = needs_session()) {
            return e;
        }
        on_strand([this, done = std::move(done), start = std::move(start)](core::ClientCore& core,
                                                                           core::TimePoint t) mutable {
            const core::OpResult result = start(core, t);
            if (result.error) {
                complete_later(done, result.error);
            } else if (done) {
                completions_[result.op] = done;
            }
        });
        return {};
    }

    /// The channel mirror answers join(), leave() and switch_channel() at once. A channel is claimed in it when the
    /// call is made (CONNECTING, so that a leave() right after a join() finds it) and released on the strand if
    /// the core refuses the call; the core's channel events keep it up to date otherwise.
    [[nodiscard]] std::error_code claim_channel(const std::string& channel) {
        std::lock_guard lock(channels_mutex_);
        if (!channels_.emplace(channel, ChannelState::connecting).second) {
            return make_error_code(errc::already_joined);
        }
        return {};
    }
    void release_channel(const std::string& channel) {
        std::lock_guard lock(channels_mutex_);
        if (auto it = channels_.find(channel);
            it != channels_.end() && it->second == ChannelState::connecting && !core_->channel_state(channel)) {
            channels_.erase(it);
        }
    }
    [[nodiscard]] bool has_channel(const std::string& channel) const {
        std::lock_guard lock(channels_mutex_);
        return channels_.count(channel) != 0;
    }

    /// A session call the strand refused after the quick check let it through (a race with a state change): it
    /// has no completion, so it is logged; the app sees the state through the events.
    void report(std::error_code error, const char* call) const {
        if (error) {
            log(LogLevel::warn, std::string(call) + " refused: " + error_name(error));
        }
    }

    void complete_later(const Completion& done, std::error_code error) {
        if (done) {
            dispatcher_->post([done, error] { invoke_safely([&] { done(error); }); });
        }
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

    [[nodiscard]] static core::TimePoint now() {
        return core::TimePoint(
            std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
    }

    // ---- the driver: execute the core's actions, hand its events to the dispatcher, re-arm the one timer ----

    void drive() {
        while (auto action = core_->poll_action()) {
            perform(std::move(*action));
        }
        // The mirrors (state, channels) take in the whole batch before any of its callbacks can run, so a callback
        // never reads a mirror that is behind an event it was already given (a DISCONNECTED whose channels are
        // still listed).
        std::vector<std::function<void()>> callbacks;
        while (auto event = core_->poll_event()) {
            callbacks.push_back(deliver(std::move(*event)));
        }
        for (auto& callback : callbacks) {
            dispatcher_->post(std::move(callback));
        }
        arm_timer();
    }

    void perform(core::Action action) {
        if (auto* open = std::get_if<core::OpenTransport>(&action)) {
            if (transport_) {
                transport_->close();
            }
            const core::TransportId id = open->transport;
            transport_id_ = id;
            if (config_.token_provider && token_due_for_refresh()) {
                std::string fresh;
                invoke_safely([&] { fresh = config_.token_provider(); });
                if (!fresh.empty()) {
                    // For this attempt, with no side effects: renew_token() would restart the attempt being
                    // opened (the session is down because of its token) and ask the provider again, without end.
                    config_.token = fresh;
                    core_->use_token_for_next_login(std::move(fresh));
                    token_needs_refresh_ = false;
                }
            }
            client::TransportOptions options;
            options.url = config_.url;
            options.allow_plaintext = config_.allow_plaintext;
            options.tls = {config_.tls.verify_peer, config_.tls.ca_file, config_.tls.ca_directory,
                           config_.tls.use_system_store};
            if (proxy_) {
                options.proxy = client::ProxySettings{proxy_->host, proxy_->port};
            }
            options.tls_sessions = tls_sessions_;
            const Duration step = core_->config().timings.attempt_timeout;
            options.dns_timeout = options.connect_timeout = options.tls_timeout = options.websocket_timeout = step;
            std::weak_ptr<Impl> weak = shared_from_this();
            transport_ = client::Transport::open(
                strand_, options,
                client::Transport::Handlers{
                    [weak, id](const client::StepTimings& timings) {
                        if (auto self = weak.lock(); self && !self->stopping_) {
                            std::string tls = ms(timings.tls);
                            if (self->tls_) {
                                tls += timings.tls_resumed ? " (resumed)" : " (full)";
                                (timings.tls_resumed ? self->tls_resumed_ : self->tls_full_)
                                    .fetch_add(1, std::memory_order_relaxed);
                            }
                            self->log(LogLevel::debug, "attempt " + std::to_string(id) + " open: dns " +
                                                           ms(timings.dns) + ", tcp " + ms(timings.tcp) + ", tls " +
                                                           tls + ", websocket " + ms(timings.websocket));
                            self->core_->on_transport_open(now(), id);
                            self->drive();
                        }
                    },
                    [weak, id](std::string frame) {
                        if (auto self = weak.lock(); self && !self->stopping_) {
                            self->on_frame(id, frame);
                        }
                    },
                    [weak, id](std::error_code error, const std::string& detail) {
                        if (auto self = weak.lock(); self && !self->stopping_) {
                            self->log(LogLevel::debug, "transport " + std::to_string(id) + " closed: " + detail);
                            if (self->transport_id_ == id) {
                                self->transport_.reset();
                            }
                            self->core_->on_transport_closed(now(), id, error);
                            self->drive();
                        }
                    }});
            return;
        }
        if (auto* send = std::get_if<core::SendFrame>(&action)) {
            if (transport_ && transport_id_ == send->transport) {
                transport_->send(proto::encode(send->message));
            }
            return;
        }
        const auto& close = std::get<core::CloseTransport>(action);
        if (transport_ && transport_id_ == close.transport) {
            transport_->close();
            transport_.reset();
        }
    }

    /// The token has expired or been warned about, or expires within the reconnect horizon: the longer of one
    /// attempt's timeout (it would not survive the attempt) and the token warning lead (the session would be warned
    /// about it as soon as it is back). The core keeps the expiry across reconnects; the server's warnings do not
    /// reach a client that is offline.
    [[nodiscard]] bool token_due_for_refresh() const {
        if (token_needs_refresh_) {
            return true;
        }
        const auto expiry = core_->token_expiry();
        const auto& t = core_->config().timings;
        return expiry && *expiry - now() <= std::max(t.attempt_timeout, t.token_warning_lead);
    }

    void on_frame(core::TransportId id, const std::string& frame) {
        auto decoded = proto::decode_server(frame);
        if (!decoded) {
            // A server that breaks the protocol: drop this connection and reconnect (never trust the rest of it).
            log(LogLevel::warn, "undecodable frame from the server: " + decoded.error.detail);
            if (transport_ && transport_id_ == id) {
                transport_->close();
                transport_.reset();
            }
            core_->on_transport_closed(now(), id, make_error_code(errc::protocol_error));
            drive();
            return;
        }
        core_->on_message(now(), id, std::move(*decoded.message));
        drive();
    }

    /// Updates the mirrors from `event` and returns the callback that hands it to the app.
    [[nodiscard]] std::function<void()> deliver(Event event) {
        if (const auto* change = std::get_if<ConnectionStateChanged>(&event)) {
            state_.store(change->state);
            log(LogLevel::info, std::string("state ") + std::string(to_string(change->previous)) + " -> " +
                                    std::string(to_string(change->state)) + " (" +
                                    std::string(to_string(change->reason)) + "), attempt " +
                                    std::to_string(change->attempt) + ", next retry " + ms(change->next_retry));
        }
        if (const auto* change = std::get_if<ChannelStateChanged>(&event)) {
            std::lock_guard lock(channels_mutex_);
            if (change->state == ChannelState::disconnected) {
                channels_.erase(change->channel);
            } else {
                channels_[change->channel] = change->state;
            }
        }
        if (std::holds_alternative<TokenExpired>(event) || std::holds_alternative<TokenPrivilegeWillExpire>(event)) {
            token_needs_refresh_ = true;
        }
        if (std::holds_alternative<RejoinSuccess>(event) ||
            (std::holds_alternative<ConnectionStateChanged>(event) &&
             std::get<ConnectionStateChanged>(event).state == ConnectionState::connected)) {
            token_needs_refresh_ = false;
        }
        Completion done;
        AttributesCompletion attributes_done;
        if (const auto* completed = std::get_if<OperationCompleted>(&event)) {
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
                attributes_done = std::move(attributes_done)] { self->dispatch(event, done, attributes_done); };
    }

    void dispatch(const Event& event, const Completion& done, const AttributesCompletion& attributes_done) {
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

    void arm_timer() {
        const auto deadline = core_->next_deadline();
        if (!deadline) {
            timer_.cancel();
            return;
        }
        const auto when = std::chrono::steady_clock::time_point(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline->time_since_epoch()));
        if (armed_ && armed_at_ == when) {
            return;
        }
        armed_ = true;
        armed_at_ = when;
        timer_.expires_at(when);
        timer_.async_wait([weak = std::weak_ptr<Impl>(shared_from_this()), when](boost::system::error_code ec) {
            auto self = weak.lock();
            if (!self || ec || self->stopping_ || self->armed_at_ != when) {
                return;  // cancelled or re-armed; an early wake-up would be harmless anyway
            }
            self->armed_ = false;
            self->core_->handle_timeout(now());
            self->drive();
        });
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
                   std::function<void(const TokenExpired&)>>
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

    ClientConfig config_;
    bool tls_{false};                           ///< wss:// (every connection has a TLS handshake)
    std::unique_ptr<asio::io_context> own_io_;  ///< null on the app's io_context
    asio::io_context& io_;
    asio::strand<asio::io_context::executor_type> strand_;
    asio::steady_timer timer_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::thread io_thread_;
    std::unique_ptr<CallbackQueue> dispatcher_;

    // strand-only state
    std::unique_ptr<core::ClientCore> core_;
    std::shared_ptr<client::Transport> transport_;
    core::TransportId transport_id_{0};
    std::optional<ProxyOptions> proxy_;
    /// This client's TLS session, offered on its next connection (a resumed handshake); never another client's.
    std::shared_ptr<client::TlsSessionCache> tls_sessions_ = std::make_shared<client::TlsSessionCache>();
    std::map<OpId, Completion> completions_;
    std::map<OpId, AttributesCompletion> attribute_completions_;
    bool token_needs_refresh_{false};
    bool armed_{false};
    std::chrono::steady_clock::time_point armed_at_{};
    bool stopping_{false};

    // readable from any thread
    std::atomic<ConnectionState> state_{ConnectionState::disconnected};
    std::atomic<std::uint64_t> tls_full_{0};
    std::atomic<std::uint64_t> tls_resumed_{0};
    mutable std::mutex channels_mutex_;
    std::map<std::string, ChannelState> channels_;
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

std::error_code Client::login() {
    // The mirror moves at once (the core will say CONNECTING first anyway), so that a join() or send right after
    // login() is not refused by the quick check before the strand has run the login.
    auto expected = ConnectionState::disconnected;
    if (!impl_->state_.compare_exchange_strong(expected, ConnectionState::connecting)) {
        return make_error_code(errc::already_logged_in);
    }
    {
        std::lock_guard lock(impl_->channels_mutex_);  // a new session starts with no channel
        impl_->channels_.clear();
    }
    impl_->on_strand([impl = impl_.get()](core::ClientCore& core, core::TimePoint now) {
        impl->report(core.login(now, impl->config_.user_id, impl->config_.token), "login");
    });
    return {};
}

std::error_code Client::logout() {
    if (impl_->state_.exchange(ConnectionState::disconnected) == ConnectionState::disconnected) {
        return make_error_code(errc::not_logged_in);
    }
    {
        std::lock_guard lock(impl_->channels_mutex_);  // the logout ends every channel
        impl_->channels_.clear();
    }
    impl_->on_strand([impl = impl_.get()](core::ClientCore& core, core::TimePoint now) {
        impl->report(core.logout(now), "logout");
    });
    return {};
}

std::error_code Client::join(const std::string& channel) {
    const bool rtc_family = impl_->config_.profile == Profile::rtc || impl_->config_.profile == Profile::rtc_web;
    const auto state = impl_->state_.load();
    if (!is_valid_channel_name(channel)) {
        if (rtc_family && state == ConnectionState::disconnected) {
            // The vendors' joinChannel with a bad name: the session it would start fails (FAILED,
            // INVALID_CHANNEL_NAME, behaviour.md section 1). The core says so; the call also fails at once.
            impl_->on_strand([impl = impl_.get(), channel](core::ClientCore& core, core::TimePoint now) {
                (void)core.join_session(now, impl->config_.user_id, impl->config_.token, channel);
            });
        }
        return make_error_code(errc::invalid_channel_name);
    }
    if (!rtc_family || state != ConnectionState::disconnected) {
        // rtm and room need a session; an rtc session after ABORTED / FAILED is ended with leave() first.
        if (auto e = impl_->needs_session()) {
            return e;
        }
    }
    if (auto e = impl_->claim_channel(channel)) {
        if (rtc_family) {
            // The rtc seed: joinChannel while already in the channel fails the session (FAILED,
            // REJECTED_BY_SERVER); the core does that. The call also fails at once.
            impl_->on_strand([impl = impl_.get(), channel](core::ClientCore& core, core::TimePoint now) {
                (void)core.join_session(now, impl->config_.user_id, impl->config_.token, channel);
            });
        }
        return e;
    }
    if (rtc_family) {
        auto expected = ConnectionState::disconnected;
        (void)impl_->state_.compare_exchange_strong(expected, ConnectionState::connecting);  // as in login()
    }
    impl_->on_strand([impl = impl_.get(), channel](core::ClientCore& core, core::TimePoint now) {
        if (auto e = core.join_session(now, impl->config_.user_id, impl->config_.token, channel)) {
            impl->release_channel(channel);
            impl->report(e, "join");
        }
    });
    return {};
}

std::error_code Client::leave(const std::string& channel) {
    const bool rtc_family = impl_->config_.profile == Profile::rtc || impl_->config_.profile == Profile::rtc_web;
    const auto state = impl_->state_.load();
    const bool ends_failed_session =
        rtc_family && (state == ConnectionState::aborted || state == ConnectionState::failed);
    if (!ends_failed_session) {
        if (state == ConnectionState::disconnected || state == ConnectionState::disconnecting) {
            return make_error_code(errc::not_logged_in);
        }
        if (!impl_->has_channel(channel)) {
            // Still given to the core: it reports the failed leave as an event too (the room seeds' LeaveFailed).
            impl_->on_strand(
                [channel](core::ClientCore& core, core::TimePoint now) { (void)core.leave(now, channel); });
            return make_error_code(errc::unknown_channel);
        }
    }
    impl_->on_strand([impl = impl_.get(), channel](core::ClientCore& core, core::TimePoint now) {
        impl->report(core.leave(now, channel), "leave");
    });
    return {};
}

std::error_code Client::switch_channel(const std::string& from, const std::string& to) {
    if (!is_valid_channel_name(to)) {
        return make_error_code(errc::invalid_channel_name);
    }
    if (auto e = impl_->needs_session()) {
        return e;
    }
    if (!impl_->has_channel(from)) {
        return make_error_code(errc::not_joined);
    }
    if (auto e = impl_->claim_channel(to)) {
        return e;
    }
    impl_->on_strand([impl = impl_.get(), from, to](core::ClientCore& core, core::TimePoint now) {
        if (auto e = core.switch_channel(now, from, to)) {
            impl->release_channel(to);
            impl->report(e, "switch_channel");
        }
    });
    return {};
}

std::error_code Client::send_peer_message(const std::string& user_id, std::string payload, Completion done,
                                          bool store_offline) {
    if (!is_valid_user_id(user_id)) {
        return make_error_code(errc::invalid_user_id);
    }
    if (payload.size() > proto::kMaxPayloadBytes) {
        return make_error_code(errc::payload_too_large);
    }
    return impl_->operation(std::move(done), [user_id, payload = std::move(payload), store_offline](
                                                 core::ClientCore& core, core::TimePoint now) mutable {
        return core.send_peer_message(now, user_id, std::move(payload), store_offline);
    });
}

std::error_code Client::send_channel_message(const std::string& channel, std::string payload, Completion done) {
    if (!is_valid_channel_name(channel)) {
        return make_error_code(errc::invalid_channel_name);
    }
    if (payload.size() > proto::kMaxPayloadBytes) {
        return make_error_code(errc::payload_too_large);
    }
    return impl_->operation(
        std::move(done), [channel, payload = std::move(payload)](core::ClientCore& core, core::TimePoint now) mutable {
            return core.send_channel_message(now, channel, std::move(payload));
        });
}

std::error_code Client::publish(const std::string& channel, const std::string& stream, Completion done) {
    return impl_->operation(std::move(done), [channel, stream](core::ClientCore& core, core::TimePoint now) {
        return core.publish(now, channel, stream);
    });
}

std::error_code Client::unpublish(const std::string& channel, const std::string& stream, Completion done) {
    return impl_->operation(std::move(done), [channel, stream](core::ClientCore& core, core::TimePoint now) {
        return core.unpublish(now, channel, stream);
    });
}

std::error_code Client::set_local_user_attributes(Attributes attributes, Completion done) {
    return impl_->operation(std::move(done),
                            [attributes = std::move(attributes)](core::ClientCore& core, core::TimePoint now) mutable {
                                return core.set_local_user_attributes(now, std::move(attributes));
                            });
}

std::error_code Client::get_user_attributes(const std::string& user_id, AttributesCompletion done) {
    if (!is_valid_user_id(user_id)) {
        return make_error_code(errc::invalid_user_id);
    }
    if (auto e = impl_->needs_session()) {
        return e;
    }
    impl_->on_strand([this, user_id, done = std::move(done)](core::ClientCore& core, core::TimePoint now) {
        const core::OpResult result = core.get_user_attributes(now, user_id);
        if (result.error) {
            if (done) {
                impl_->dispatcher_->post(
                    [done, error = result.error] { Impl::invoke_safely([&] { done(error, Attributes{}); }); });
            }
        } else if (done) {
            impl_->attribute_completions_[result.op] = done;
        }
    });
    return {};
}

std::error_code Client::renew_token(std::string token, Completion done) {
    if (auto e = impl_->needs_session()) {
        return e;
    }
    impl_->on_strand([impl = impl_.get(), token = std::move(token), done = std::move(done)](
                         core::ClientCore& core, core::TimePoint now) mutable {
        impl->config_.token = token;  // the token of any later login
        const core::OpResult result = core.renew_token(now, std::move(token));
        if (result.error) {
            impl->complete_later(done, result.error);
        } else if (done) {
            impl->completions_[result.op] = done;
        }
    });
    return {};
}

void Client::notify_network_changed() {
    impl_->on_strand([](core::ClientCore& core, core::TimePoint now) { core.notify_network_changed(now); });
}

void Client::set_proxy(std::optional<ProxyOptions> proxy) {
    impl_->on_strand([this, proxy = std::move(proxy)](core::ClientCore& core, core::TimePoint now) {
        impl_->proxy_ = proxy;
        impl_->tls_sessions_->clear();  // a session belongs to the route it came by (the cache checks it too)
        core.notify_proxy_changed(now);
    });
}

ConnectionState Client::connection_state() const noexcept {
    return impl_->state_.load();
}

TlsHandshakeCounts Client::tls_handshakes() const noexcept {
    return {impl_->tls_full_.load(std::memory_order_relaxed), impl_->tls_resumed_.load(std::memory_order_relaxed)};
}

std::optional<ChannelState> Client::channel_state(const std::string& channel) const {
    std::lock_guard lock(impl_->channels_mutex_);
    auto it = impl_->channels_.find(channel);
    return it == impl_->channels_.end() ? std::nullopt : std::optional<ChannelState>(it->second);
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
void Client::on_event(std::function<void(const Event&)> h) {
    impl_->set_any(std::move(h));
}

}  // namespace relink
