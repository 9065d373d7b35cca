// capi/client_c.cpp — relink_client of include/relink/relink.h: relink::Client behind an opaque handle, its events
// as flat relink_event structs (to the app's callback, or queued for relink_client_next_event()), and operation ids
// instead of per-operation callbacks (docs/c-api.md).
//
// Lifetime: what the client's handlers need (the app's callback, the event queue, the flag that silences them) is a
// ClientState shared by the handle and by every handler given to the relink::Client. relink_client_free() may run
// inside the app's callback, on the dispatcher thread: ~Client then lets that thread finish the callback by itself
// (docs/threading.md, "Destruction"), and what runs after the callback returns holds only its own reference to the
// ClientState, which the free marked closed: nothing reaches the app after relink_client_free() returns.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "capi/capi_internal.hpp"
#include "relink/client.hpp"
#include "relink/metrics.hpp"
#include "relink/relink.h"

namespace {

using relink::capi::to_c_error;

std::int64_t to_ms(relink::Duration duration) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

/// The link_* fields of a relink_event or a relink_status (the same names in both).
template <class Out>
void fill_quality(const relink::LinkQuality& q, Out& out) {
    const auto us = [](relink::Duration d) {
        return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    };
    out.link_up = q.up ? 1 : 0;
    out.link_rtt_samples = q.rtt_samples;
    out.link_rtt_us = us(q.rtt);
    out.link_rtt_var_us = us(q.rtt_var);
    out.link_last_rtt_us = us(q.last_rtt);
    out.link_missed_heartbeats = q.missed_heartbeats;
    out.link_late_heartbeats = q.late_heartbeats;
    out.link_since_last_data_ms = q.since_last_data ? to_ms(*q.since_last_data) : -1;
}

void fill_failure(const relink::AttemptFailed& failure, relink_event& out) {
    out.has_last_failure = 1;
    out.failure_cause = static_cast<int>(failure.cause);
    out.failure_attempt = failure.attempt;
    out.failure_detail = failure.detail.c_str();
}

/// The attempt_* fields (and attempt, resumed, failure_cause) of an ATTEMPT_FINISHED event; -1 for a step not
/// reached.
void fill_finished(const relink::AttemptFinished& finished, relink_event& out) {
    const auto us = [](const std::optional<relink::Duration>& d) -> std::int64_t {
        return d ? static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(*d).count()) : -1;
    };
    out.type = RELINK_EVENT_ATTEMPT_FINISHED;
    out.attempt = finished.attempt;
    out.resumed = finished.resumed ? 1 : 0;
    out.attempt_connected = finished.connected ? 1 : 0;
    if (!finished.connected) {
        out.failure_cause = static_cast<int>(finished.cause.value_or(relink::AttemptFailure::closed));
    }
    out.attempt_total_us = us(finished.total);
    out.attempt_dns_us = us(finished.steps.dns);
    out.attempt_proxy_us = us(finished.steps.proxy);
    out.attempt_tcp_us = us(finished.steps.tcp);
    out.attempt_tls_us = us(finished.steps.tls);
    out.attempt_websocket_us = us(finished.steps.websocket);
    out.attempt_login_us = us(finished.steps.login);
    out.attempt_tls_resumed = finished.steps.tls_resumed ? 1 : 0;
}

void fill_timings(const relink::AgreedTimings& timings, relink_event& out) {
    out.has_timings = 1;
    out.heartbeat_interval_ms = to_ms(timings.heartbeat_interval);
    out.presence_timeout_ms = to_ms(timings.presence_timeout);
    out.backfill_window_ms = to_ms(timings.backfill_window);
    out.backfill_count = timings.backfill_count;
    out.timings_clamped = timings.clamped ? 1 : 0;
}

/// Fills `out` (zeroed by the caller) from a C++ event, pointing into its strings: `out` lives no longer than
/// `event`. `attributes` receives the views of a GET_ATTRIBUTES completion's attributes (and must live as long).
void fill(const relink::Event& event, relink_event& out, std::vector<relink_attribute>& attributes) {
    std::visit(
        [&](const auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, relink::ConnectionStateChanged>) {
                out.type = RELINK_EVENT_CONNECTION_STATE_CHANGED;
                out.state = static_cast<int>(e.state);
                out.previous_state = static_cast<int>(e.previous);
                out.reason = static_cast<int>(e.reason);
                out.seq = e.seq;
                out.attempt = e.attempt;
                out.next_retry_ms = to_ms(e.next_retry);
                if (e.last_failure) {
                    fill_failure(*e.last_failure, out);
                }
                if (e.timings) {
                    fill_timings(*e.timings, out);
                }
            } else if constexpr (std::is_same_v<E, relink::ConnectionLost>) {
                out.type = RELINK_EVENT_CONNECTION_LOST;
            } else if constexpr (std::is_same_v<E, relink::JoinSuccess>) {
                out.type = RELINK_EVENT_JOIN_SUCCESS;
                out.channel = e.channel.c_str();
            } else if constexpr (std::is_same_v<E, relink::RejoinSuccess>) {
                out.type = RELINK_EVENT_REJOIN_SUCCESS;
            } else if constexpr (std::is_same_v<E, relink::ChannelStateChanged>) {
                out.type = RELINK_EVENT_CHANNEL_STATE_CHANGED;
                out.channel = e.channel.c_str();
                out.channel_state = static_cast<int>(e.state);
                out.channel_reason = static_cast<int>(e.reason);
                out.error = to_c_error(e.error);
            } else if constexpr (std::is_same_v<E, relink::MemberJoined>) {
                out.type = RELINK_EVENT_MEMBER_JOINED;
                out.channel = e.channel.c_str();
                out.user_id = e.user_id.c_str();
            } else if constexpr (std::is_same_v<E, relink::MemberLeft>) {
                out.type = RELINK_EVENT_MEMBER_LEFT;
                out.channel = e.channel.c_str();
                out.user_id = e.user_id.c_str();
                out.member_left_cause = static_cast<int>(e.cause);
            } else if constexpr (std::is_same_v<E, relink::StreamAdded> || std::is_same_v<E, relink::StreamRemoved>) {
                out.type =
                    std::is_same_v<E, relink::StreamAdded> ? RELINK_EVENT_STREAM_ADDED : RELINK_EVENT_STREAM_REMOVED;
                out.channel = e.channel.c_str();
                out.user_id = e.user_id.c_str();
                out.stream = e.stream.c_str();
            } else if constexpr (std::is_same_v<E, relink::MessageReceived>) {
                out.type = RELINK_EVENT_MESSAGE;
                out.channel = e.channel ? e.channel->c_str() : nullptr;
                out.from = e.from.c_str();
                out.message_id = e.message_id.c_str();
                out.payload = e.payload.c_str();  // NUL-terminated: the header promises the NUL after the bytes
                out.payload_size = e.payload.size();
                out.backfilled = e.backfilled ? 1 : 0;
            } else if constexpr (std::is_same_v<E, relink::ContinuityReport>) {
                out.type = RELINK_EVENT_CONTINUITY;
                out.outage_ms = to_ms(e.outage);
                out.resumed = e.resumed ? 1 : 0;
                out.backfilled_count = e.backfilled;
                out.dropped_count = e.dropped;
                out.server_restarted = e.server_restarted ? 1 : 0;
                out.recovered = e.recovered ? 1 : 0;
                fill_timings(e.timings, out);
            } else if constexpr (std::is_same_v<E, relink::TokenPrivilegeWillExpire>) {
                out.type = RELINK_EVENT_TOKEN_PRIVILEGE_WILL_EXPIRE;
            } else if constexpr (std::is_same_v<E, relink::TokenExpired>) {
                out.type = RELINK_EVENT_TOKEN_EXPIRED;
            } else if constexpr (std::is_same_v<E, relink::OperationCompleted>) {
                out.type = RELINK_EVENT_OPERATION_COMPLETED;
                out.op = e.op;  // the C++ id: the caller replaces it with the C API's
                out.op_kind = static_cast<int>(e.kind);
                out.error = to_c_error(e.error);
                out.stored_for_away_user = e.stored_for_away_user ? 1 : 0;
                if (e.recovery_key && !e.error) {
                    out.recovery_key = e.recovery_key->c_str();
                }
                if (e.attributes && !e.error) {
                    attributes.reserve(e.attributes->size());
                    for (const auto& [name, value] : *e.attributes) {
                        attributes.push_back(relink_attribute{name.c_str(), value.c_str()});
                    }
                    out.attributes = attributes.data();
                    out.attribute_count = attributes.size();
                }
            } else if constexpr (std::is_same_v<E, relink::AttemptFailed>) {
                out.type = RELINK_EVENT_ATTEMPT_FAILED;
                out.attempt = e.attempt;
                fill_failure(e, out);
                out.failure_cause = static_cast<int>(e.cause);
            } else if constexpr (std::is_same_v<E, relink::LinkQualityChanged>) {
                out.type = RELINK_EVENT_LINK_QUALITY_CHANGED;
                fill_quality(e.quality, out);
            } else if constexpr (std::is_same_v<E, relink::AttemptFinished>) {
                fill_finished(e, out);
            }
        },
        event);
}

/// An event of the queue: the relink_event the app reads, and what its pointers point into. Standard layout with
/// the relink_event first, so relink_event_free() gets back from the app's pointer to the whole.
struct QueuedEvent {
    struct Owned {
        relink::Event event;
        std::vector<relink_attribute> attributes;
    };
    relink_event event;
    Owned* owned;
};
static_assert(std::is_standard_layout_v<QueuedEvent>, "relink_event_free() casts back from the first member");

void free_queued(relink_event* event) noexcept {
    if (event == nullptr) {
        return;
    }
    auto* queued = reinterpret_cast<QueuedEvent*>(event);
    delete queued->owned;
    delete queued;
}

/// What the handle and the client's handlers share (see the file comment).
struct ClientState {
    relink_event_callback callback{nullptr};
    void* user_data{nullptr};
    /// Set by relink_client_free() once ~Client returned: nothing reaches the app afterwards.
    std::atomic<bool> closed{false};

    /// Queue mode (no callback).
    std::mutex queue_mutex;
    std::condition_variable queue_ready;
    std::deque<relink_event*> queue;

    /// Operation ids: assigned under this lock together with the C++ call, so accepted operations are numbered 1, 2,
    /// 3 ... without gaps (a refused call takes no id).
    std::mutex op_mutex;
    std::uint64_t last_op{0};

    /// The operation whose completion just ran, on the dispatcher: relink::Client calls an operation's completion
    /// and then on_event() with its OperationCompleted (which carries what the completion does not, such as
    /// stored_for_away_user); the latter is delivered to the app under the id the completion names. Touched only on
    /// the dispatcher (callbacks run one at a time), so it needs no lock.
    struct Completing {
        std::uint64_t op;
    };
    std::optional<Completing> completing;

    ~ClientState() {
        for (relink_event* event : queue) {
            free_queued(event);
        }
    }

    /// on_event(): every event of the client, on its dispatcher thread.
    void on_event(const relink::Event& event) {
        std::uint64_t op = 0;
        if (std::holds_alternative<relink::OperationCompleted>(event)) {
            if (!completing) {
                return;  // an operation the app did not start (none is expected): it has no id to report
            }
            op = completing->op;
            completing.reset();
        }
        if (closed.load(std::memory_order_acquire)) {
            return;
        }
        if (callback != nullptr) {
            relink_event out{};
            std::vector<relink_attribute> attributes;
            fill(event, out, attributes);
            if (op != 0) {
                out.op = op;
            }
            callback(user_data, &out);  // may free the client: this state lives on in the running handler
            return;
        }
        auto owned = std::make_unique<QueuedEvent::Owned>(QueuedEvent::Owned{event, {}});
        auto queued = std::make_unique<QueuedEvent>();
        queued->event = relink_event{};
        fill(owned->event, queued->event, owned->attributes);
        if (op != 0) {
            queued->event.op = op;
        }
        queued->owned = owned.release();
        {
            std::lock_guard lock(queue_mutex);
            queue.push_back(&queued.release()->event);
        }
        queue_ready.notify_one();
    }
};

/// The op id of the next accepted operation, and the Completion that marks it completing (see ClientState).
relink::Completion completion_for(const std::shared_ptr<ClientState>& state, std::uint64_t op) {
    return [state, op](std::error_code) { state->completing = ClientState::Completing{op}; };
}

}  // namespace

/// The client handle: the relink::Client and the state its handlers share.
struct relink_client {
    std::unique_ptr<relink::Client> client;
    std::shared_ptr<ClientState> state;
};

namespace {

/// Writes `text` into the app's buffer: truncated to `size` bytes with its NUL, like snprintf.
void write_error(char* buffer, std::size_t size, std::string_view text) noexcept {
    if (buffer == nullptr || size == 0) {
        return;
    }
    const std::size_t n = std::min(text.size(), size - 1);
    std::memcpy(buffer, text.data(), n);
    buffer[n] = '\0';
}

/// The token provider as a relink::TokenProvider: asks with a stack buffer first, then with one that fits.
relink::TokenProvider adapt_token_provider(relink_token_provider provider, void* user_data) {
    return [provider, user_data]() -> std::string {
        char small[1024];
        std::size_t length = provider(user_data, small, sizeof small);
        if (length < sizeof small) {
            return std::string(small, length);  // 0: keep the current token (an empty string says so)
        }
        // Did not fit (the NUL needs a byte too). The token may change between two calls: ask a few times.
        for (int tries = 0; tries < 3; ++tries) {
            std::vector<char> large(length + 1);
            const std::size_t again = provider(user_data, large.data(), large.size());
            if (again < large.size()) {
                return std::string(large.data(), again);
            }
            length = again;
        }
        return {};
    };
}

/// Runs one operation: under the op lock, so an accepted one takes the next id; writes the id (0 on error).
template <class Call>
int start_operation(relink_client* client, std::uint64_t* op, Call&& call) noexcept {
    if (op != nullptr) {
        *op = 0;
    }
    try {
        ClientState& state = *client->state;
        std::lock_guard lock(state.op_mutex);
        const std::uint64_t id = state.last_op + 1;
        const std::error_code error = call(*client->client, id);
        if (error) {
            return to_c_error(error);
        }
        state.last_op = id;
        if (op != nullptr) {
            *op = id;
        }
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

/// Runs a call that answers with an error code; exceptions (an allocation) become RELINK_E_INTERNAL.
template <class Call>
int answer(Call&& call) noexcept {
    try {
        return to_c_error(call());
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

}  // namespace

extern "C" {

RELINK_API void relink_event_free(relink_event* event) {
    free_queued(event);
}

RELINK_API int relink_client_new(const relink_config* config, relink_client** client, char* error, size_t error_size) {
    write_error(error, error_size, "");
    if (client != nullptr) {
        *client = nullptr;
    }
    if (config == nullptr || client == nullptr) {
        write_error(error, error_size, config == nullptr ? "config: NULL" : "client: NULL");
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        relink::ClientConfig settings = config->config;
        settings.timings = relink::capi::effective_timings(*config);
        auto state = std::make_shared<ClientState>();
        state->callback = config->event_callback;
        state->user_data = config->event_user_data;
        if (config->log_callback != nullptr) {
            settings.log_handler = [state, callback = config->log_callback, user_data = config->log_user_data](
                                       relink::LogLevel level, std::string_view line) {
                if (state->closed.load(std::memory_order_acquire)) {
                    return;  // a line of a dispatcher thread finishing after relink_client_free() returned
                }
                const std::string text(line);  // the C callback gets a NUL-terminated line
                callback(user_data, static_cast<int>(level), text.c_str(), text.size());
            };
        }
        if (config->token_provider != nullptr) {
            settings.token_provider = adapt_token_provider(config->token_provider, config->token_user_data);
        }
        auto handle = std::make_unique<relink_client>();
        handle->state = state;
        try {
            handle->client = std::make_unique<relink::Client>(std::move(settings));
        } catch (const std::invalid_argument& e) {
            std::string_view what = e.what();
            constexpr std::string_view kPrefix = "relink::Client: ";  // a C app knows no relink::Client
            if (what.substr(0, kPrefix.size()) == kPrefix) {
                what.remove_prefix(kPrefix.size());
            }
            write_error(error, error_size, what);
            return RELINK_E_INVALID_ARGUMENT;
        }
        // Nothing happens before login or join: registering after the constructor loses no event.
        handle->client->on_event([state](const relink::Event& event) { state->on_event(event); });
        *client = handle.release();
        return RELINK_OK;
    } catch (const std::exception& e) {
        write_error(error, error_size, e.what());
        return RELINK_E_INTERNAL;
    } catch (...) {
        write_error(error, error_size, "internal error");
        return RELINK_E_INTERNAL;
    }
}

RELINK_API void relink_client_free(relink_client* client) {
    if (client == nullptr) {
        return;
    }
    // ~Client logs out and lets the events of that logout reach the app (within its bound) unless this runs inside
    // the app's callback; then nothing more does.
    client->client.reset();
    client->state->closed.store(true, std::memory_order_release);
    delete client;  // the queue goes with the last reference to the state (freeing what the app did not take)
}

RELINK_API int relink_client_login(relink_client* client) {
    if (client == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] { return client->client->login(); });
}

RELINK_API int relink_client_logout(relink_client* client) {
    if (client == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] { return client->client->logout(); });
}

RELINK_API int relink_client_join(relink_client* client, const char* channel) {
    if (client == nullptr || channel == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] { return client->client->join(channel); });
}

RELINK_API int relink_client_leave(relink_client* client, const char* channel) {
    if (client == nullptr || channel == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] { return client->client->leave(channel); });
}

RELINK_API int relink_client_switch_channel(relink_client* client, const char* from, const char* to) {
    if (client == nullptr || from == nullptr || to == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] { return client->client->switch_channel(from, to); });
}

RELINK_API int relink_client_send_peer_message(relink_client* client, const char* user_id, const void* payload,
                                               size_t payload_size, unsigned flags, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr || user_id == nullptr || (payload == nullptr && payload_size > 0) ||
        (flags & ~RELINK_SEND_STORE_OFFLINE) != 0) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        std::string bytes(static_cast<const char*>(payload), payload_size);
        return c.send_peer_message(user_id, std::move(bytes), completion_for(client->state, id),
                                   (flags & RELINK_SEND_STORE_OFFLINE) != 0);
    });
}

RELINK_API int relink_client_send_channel_message(relink_client* client, const char* channel, const void* payload,
                                                  size_t payload_size, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr || channel == nullptr || (payload == nullptr && payload_size > 0)) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        std::string bytes(static_cast<const char*>(payload), payload_size);
        return c.send_channel_message(channel, std::move(bytes), completion_for(client->state, id));
    });
}

RELINK_API int relink_client_publish(relink_client* client, const char* channel, const char* stream, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr || channel == nullptr || stream == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        return c.publish(channel, stream, completion_for(client->state, id));
    });
}

RELINK_API int relink_client_unpublish(relink_client* client, const char* channel, const char* stream, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr || channel == nullptr || stream == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        return c.unpublish(channel, stream, completion_for(client->state, id));
    });
}

RELINK_API int relink_client_set_local_user_attributes(relink_client* client, const relink_attribute* attributes,
                                                       size_t count, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr || (attributes == nullptr && count > 0)) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; ++i) {
        if (attributes[i].name == nullptr || attributes[i].value == nullptr) {
            return RELINK_E_INVALID_ARGUMENT;
        }
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        relink::Attributes set;
        for (size_t i = 0; i < count; ++i) {
            set.insert_or_assign(attributes[i].name, attributes[i].value);  // a repeated name: the last value wins
        }
        return c.set_local_user_attributes(std::move(set), completion_for(client->state, id));
    });
}

RELINK_API int relink_client_get_user_attributes(relink_client* client, const char* user_id, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr || user_id == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        return c.get_user_attributes(user_id, [state = client->state, id](std::error_code, const relink::Attributes&) {
            state->completing = ClientState::Completing{id};
        });
    });
}

RELINK_API int relink_client_recovery_key(relink_client* client, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        return c.recovery_key([state = client->state, id](std::error_code, const std::string&) {
            state->completing = ClientState::Completing{id};
        });
    });
}

RELINK_API int relink_client_renew_token(relink_client* client, const char* token, uint64_t* op) {
    if (op != nullptr) {
        *op = 0;
    }
    if (client == nullptr || token == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return start_operation(client, op, [&](relink::Client& c, std::uint64_t id) {
        return c.renew_token(token, completion_for(client->state, id));
    });
}

RELINK_API int relink_client_notify_network_changed(relink_client* client) {
    if (client == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] {
        client->client->notify_network_changed();
        return std::error_code();
    });
}

RELINK_API int relink_client_notify_foreground(relink_client* client) {
    if (client == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] {
        client->client->notify_foreground();
        return std::error_code();
    });
}

RELINK_API int relink_client_set_proxy(relink_client* client, const char* host, uint16_t port) {
    if (client == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    return answer([&] {
        std::optional<relink::ProxyOptions> proxy;
        if (host != nullptr) {
            proxy = relink::ProxyOptions{host, port};
        }
        client->client->set_proxy(std::move(proxy));
        return std::error_code();
    });
}

RELINK_API int relink_client_next_event(relink_client* client, int timeout_ms, relink_event** event) {
    if (event != nullptr) {
        *event = nullptr;
    }
    if (client == nullptr || event == nullptr || client->state->callback != nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        ClientState& state = *client->state;
        std::unique_lock lock(state.queue_mutex);
        const auto ready = [&] { return !state.queue.empty(); };
        if (timeout_ms < 0) {
            state.queue_ready.wait(lock, ready);
        } else if (!state.queue_ready.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
            return RELINK_OK;  // none in time: *event stays NULL
        }
        *event = state.queue.front();
        state.queue.pop_front();
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

RELINK_API int relink_client_connection_state(const relink_client* client) {
    if (client == nullptr) {
        return 0;
    }
    return static_cast<int>(client->client->connection_state());
}

RELINK_API int relink_client_channel_state(const relink_client* client, const char* channel, int* state) {
    if (client == nullptr || channel == nullptr || state == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        const auto current = client->client->channel_state(channel);
        if (!current) {
            return RELINK_E_NOT_JOINED;
        }
        *state = static_cast<int>(*current);
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

RELINK_API int relink_client_status(const relink_client* client, relink_status** status) {
    if (status != nullptr) {
        *status = nullptr;
    }
    if (client == nullptr || status == nullptr) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        const relink::ConnectionStatus now = client->client->status();
        const relink::TlsHandshakeCounts handshakes = client->client->tls_handshakes();
        auto out = std::make_unique<relink_status>();
        *out = relink_status{};
        out->state = static_cast<int>(now.state);
        out->reason = static_cast<int>(now.reason);
        out->attempt = now.attempt;
        out->next_retry_ms = to_ms(now.next_retry);
        out->in_state_ms = to_ms(now.in_state);
        fill_quality(client->client->link_quality(), *out);
        if (now.last_failure) {
            const std::string& detail = now.last_failure->detail;
            auto copy = std::make_unique<char[]>(detail.size() + 1);
            std::memcpy(copy.get(), detail.c_str(), detail.size() + 1);
            out->has_last_failure = 1;
            out->failure_cause = static_cast<int>(now.last_failure->cause);
            out->failure_attempt = now.last_failure->attempt;
            out->failure_detail = copy.release();
        }
        out->tls_full_handshakes = handshakes.full;
        out->tls_resumed_handshakes = handshakes.resumed;
        *status = out.release();
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

RELINK_API int relink_client_metrics_prometheus(const relink_client* client, const char* prefix, const char* labels,
                                                char* buffer, size_t size, size_t* needed) {
    if (needed != nullptr) {
        *needed = 0;
    }
    if (client == nullptr || needed == nullptr || (buffer == nullptr && size > 0)) {
        return RELINK_E_INVALID_ARGUMENT;
    }
    try {
        const std::string text = relink::to_prometheus(
            client->client->metrics(), prefix != nullptr ? prefix : "relink_client", labels != nullptr ? labels : "");
        *needed = text.size() + 1;
        if (size < text.size() + 1) {
            write_error(buffer, size, "");  // never a truncated page
            return RELINK_E_INVALID_ARGUMENT;
        }
        std::memcpy(buffer, text.c_str(), text.size() + 1);
        return RELINK_OK;
    } catch (...) {
        return RELINK_E_INTERNAL;
    }
}

RELINK_API void relink_status_free(relink_status* status) {
    if (status == nullptr) {
        return;
    }
    delete[] status->failure_detail;
    delete status;
}

}  // extern "C"
