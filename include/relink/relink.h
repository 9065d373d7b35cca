/* relink/relink.h — relink's C API: the stable ABI under every binding (Swift, Kotlin, Dart, Python, Node) and for
 * apps written in C. It is relink::Client (relink/client.hpp) behind opaque handles:
 *
 *     relink_config* config = relink_config_new();
 *     relink_config_set_url(config, "wss://relink.example.com/");
 *     relink_config_set_app_id(config, "my-app");
 *     relink_config_set_user_id(config, "alice");
 *     relink_config_set_token(config, token_from_my_backend);
 *     relink_config_set_event_callback(config, on_event, my_app);   // or leave it unset and poll
 *     char why[256];
 *     relink_client* client = NULL;
 *     if (relink_client_new(config, &client, why, sizeof why) != RELINK_OK) { fprintf(stderr, "%s\n", why); }
 *     relink_config_free(config);                                   // the client keeps its own copy
 *     relink_client_login(client);
 *     ...
 *     relink_client_free(client);                                   // logs out, stops, in bounded time
 *
 * Rules every function keeps (docs/c-api.md says why):
 *   - Errors are int codes: RELINK_OK (0) or one of RELINK_E_*, whose numbers are relink::errc's. A function that
 *     fails changes nothing. A NULL handle or a NULL required pointer is RELINK_E_INVALID_ARGUMENT, never a crash.
 *   - States and reasons are ints with fixed numbers (RELINK_STATE_*, RELINK_REASON_*): the native RTC SDKs' numbers
 *     where they have one, relink's own after them; the same numbers as the C++ enums.
 *   - Ownership is always explicit: strings passed in are copied before the call returns; what the library
 *     allocates for the app (an event taken from the queue, a status) has its own free function; strings returned
 *     by the name functions are static. Nothing the app holds is freed behind its back.
 *   - Threads: every function may be called from any thread and from inside an event callback, and returns at once
 *     (nothing blocks on the network). Events are delivered one at a time, in order, either to the event callback
 *     on the client's dispatcher thread (never inline inside a call), or, without a callback, into a queue the app
 *     drains with relink_client_next_event() on a thread of its own. relink_client_free() may be called from inside
 *     the client's own callback; no callback runs after it returns.
 *   - Durations are int64_t milliseconds (fields named *_us: microseconds). Payloads are bytes with a length;
 *     other strings are NUL-terminated UTF-8.
 *   - The ABI grows only by additions: new functions, new constants, new fields at the end of the library-allocated
 *     structs (relink_event, relink_status), which the app reads through a pointer and never allocates or copies.
 *
 * C99; the same header compiles as C++. Link with -lrelink (pkg-config: relink).
 */
#ifndef RELINK_RELINK_H
#define RELINK_RELINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RELINK_C_BUILDING) && defined(__GNUC__)
#define RELINK_API __attribute__((visibility("default")))
#else
#define RELINK_API
#endif

/* ------------------------------------------------------------------------------------------------ versions */

/** The ABI's major version: it moves (with the shared library's SONAME, librelink.so.N) only when a change breaks
 *  binary compatibility. Additions keep it. */
#define RELINK_ABI_VERSION 1

/** The library's version as "MAJOR.MINOR.PATCH" (static string). */
RELINK_API const char* relink_version(void);
/** The ABI version of the library actually loaded: compare with RELINK_ABI_VERSION, the one compiled against. */
RELINK_API int relink_abi_version(void);

/* -------------------------------------------------------------------------------------------------- errors */

/* Every code relink reports. The numbers are relink::errc's (docs/errors.md): 1–9 misuse, 20–27 transient (retry
 * later), 40–53 fatal (do not retry with the same inputs; 50–53: a refused recovery key), 60–63 cancelled.
 * relink_error_condition() says which. */
#define RELINK_OK 0
#define RELINK_E_NOT_LOGGED_IN 1
#define RELINK_E_ALREADY_LOGGED_IN 2
#define RELINK_E_INVALID_ARGUMENT 3
#define RELINK_E_INVALID_CHANNEL_NAME 4
#define RELINK_E_INVALID_USER_ID 5
#define RELINK_E_NOT_JOINED 6
#define RELINK_E_ALREADY_JOINED 7
#define RELINK_E_PAYLOAD_TOO_LARGE 8
#define RELINK_E_UNKNOWN_CHANNEL 9
#define RELINK_E_QUEUE_FULL 20
#define RELINK_E_RATE_LIMITED 21
#define RELINK_E_SEND_TIMEOUT 22
#define RELINK_E_ACK_TIMEOUT 23
#define RELINK_E_NETWORK_TIMEOUT 24
#define RELINK_E_NETWORK_INTERRUPTED 25
#define RELINK_E_LOGIN_TIMEOUT 26
#define RELINK_E_LIMIT_EXCEEDED 27
#define RELINK_E_INVALID_TOKEN 40
#define RELINK_E_TOKEN_EXPIRED 41
#define RELINK_E_INVALID_APP_ID 42
#define RELINK_E_BANNED_BY_SERVER 43
#define RELINK_E_REMOTE_LOGIN 44
#define RELINK_E_REJECTED_BY_SERVER 45
#define RELINK_E_LOGIN_FAILURE 46
#define RELINK_E_PEER_OFFLINE 47
#define RELINK_E_GAVE_UP 48
#define RELINK_E_PROTOCOL_ERROR 49
#define RELINK_E_RECOVERY_EXPIRED 50
#define RELINK_E_RECOVERY_USED 51
#define RELINK_E_RECOVERY_INVALID 52
#define RELINK_E_RECOVERY_WRONG_USER 53
#define RELINK_E_LOGGED_OUT 60
#define RELINK_E_SESSION_ABORTED 61
#define RELINK_E_SESSION_FAILED 62
#define RELINK_E_CHANNEL_LEFT 63
/** An error of the C API itself: an out-of-memory or an unexpected exception inside the library (the call changed
 *  nothing). Not a relink::errc. */
#define RELINK_E_INTERNAL 99

/* What the caller should do about an error. */
#define RELINK_CONDITION_NONE 0      /* RELINK_OK */
#define RELINK_CONDITION_TRANSIENT 1 /* retry later; the SDK may already be retrying */
#define RELINK_CONDITION_FATAL 2     /* do not retry with the same inputs */
#define RELINK_CONDITION_CANCELLED 3 /* ended by the app or by the end of the session */
#define RELINK_CONDITION_MISUSE 4    /* wrong for the state, or invalid arguments */

/** The canonical name of an error code: "NOT_LOGGED_IN", "OK" for 0, "UNKNOWN" for a number that is no code. */
RELINK_API const char* relink_error_name(int error);
/** One sentence for people about an error code (static string). */
RELINK_API const char* relink_error_message(int error);
/** RELINK_CONDITION_* of an error code (RELINK_CONDITION_NONE for 0 and for unknown numbers). */
RELINK_API int relink_error_condition(int error);

/* ------------------------------------------------------------------------------------ states and reasons */

/* Connection states: the native RTC SDKs' numbers 1–5, then relink's own. 0 is never a state. */
#define RELINK_STATE_DISCONNECTED 1
#define RELINK_STATE_CONNECTING 2
#define RELINK_STATE_CONNECTED 3
#define RELINK_STATE_RECONNECTING 4
#define RELINK_STATE_FAILED 5
#define RELINK_STATE_ABORTED 6       /* kicked: remote login, or banned (rtm, room) */
#define RELINK_STATE_DISCONNECTING 7 /* rtc-web: a graceful leave waits for the server */

/* Why the connection state changed: the native RTC SDK's numbers 0–16, relink's own from 100 (docs/errors.md). */
#define RELINK_REASON_CONNECTING 0
#define RELINK_REASON_JOIN_SUCCESS 1
#define RELINK_REASON_INTERRUPTED 2
#define RELINK_REASON_BANNED_BY_SERVER 3
#define RELINK_REASON_JOIN_FAILED 4
#define RELINK_REASON_LEAVE_CHANNEL 5
#define RELINK_REASON_INVALID_APP_ID 6
#define RELINK_REASON_INVALID_CHANNEL_NAME 7
#define RELINK_REASON_INVALID_TOKEN 8
#define RELINK_REASON_TOKEN_EXPIRED 9
#define RELINK_REASON_REJECTED_BY_SERVER 10
#define RELINK_REASON_SETTING_PROXY_SERVER 11
#define RELINK_REASON_RENEW_TOKEN 12
#define RELINK_REASON_CLIENT_IP_ADDRESS_CHANGED 13
#define RELINK_REASON_KEEP_ALIVE_TIMEOUT 14
#define RELINK_REASON_REJOIN_SUCCESS 15
#define RELINK_REASON_LOST 16
#define RELINK_REASON_LOGIN 100
#define RELINK_REASON_LOGIN_SUCCESS 101
#define RELINK_REASON_LOGIN_FAILURE 102
#define RELINK_REASON_LOGIN_TIMEOUT 103
#define RELINK_REASON_LOGOUT 104
#define RELINK_REASON_REMOTE_LOGIN 105
#define RELINK_REASON_RECOVERY_REFUSED 106 /* DISCONNECTED: the recovery key was refused; the error says why */

/* A channel's (room's) state and the reason it changed. */
#define RELINK_CHANNEL_DISCONNECTED 0
#define RELINK_CHANNEL_CONNECTING 1
#define RELINK_CHANNEL_CONNECTED 2

#define RELINK_CHANNEL_REASON_JOINING 0
#define RELINK_CHANNEL_REASON_JOINED 1
#define RELINK_CHANNEL_REASON_JOIN_FAILED 2
#define RELINK_CHANNEL_REASON_REJOINING 3
#define RELINK_CHANNEL_REASON_REJOINED 4
#define RELINK_CHANNEL_REASON_REJOIN_FAILED 5
#define RELINK_CHANNEL_REASON_KICKED_OUT 6
#define RELINK_CHANNEL_REASON_LEFT 7
#define RELINK_CHANNEL_REASON_LEAVE_FAILED 8

/* Why another member left a channel. */
#define RELINK_MEMBER_LEFT_QUIT 0
#define RELINK_MEMBER_LEFT_DROPPED 1 /* no data from it for the presence timeout */
#define RELINK_MEMBER_LEFT_KICKED 2

/* Why a connection attempt failed: the step that failed (docs/errors.md, "Why a connection attempt failed"). */
#define RELINK_ATTEMPT_DNS 0
#define RELINK_ATTEMPT_REFUSED 1
#define RELINK_ATTEMPT_TIMEOUT 2
#define RELINK_ATTEMPT_NETWORK 3
#define RELINK_ATTEMPT_PROXY 4
#define RELINK_ATTEMPT_TLS 5
#define RELINK_ATTEMPT_CERTIFICATE 6
#define RELINK_ATTEMPT_HTTP 7
#define RELINK_ATTEMPT_PROTOCOL 8
#define RELINK_ATTEMPT_CLOSED 9
#define RELINK_ATTEMPT_SERVER 10
#define RELINK_ATTEMPT_CONFIG 11
#define RELINK_ATTEMPT_BUSY 12

/* Profiles: the timeline and behaviour a client follows (docs/migrating.md). */
#define RELINK_PROFILE_RTM 0
#define RELINK_PROFILE_RTC 1
#define RELINK_PROFILE_RTC_WEB 2
#define RELINK_PROFILE_ROOM 3

/* Log levels: a line is produced when its level is at least the configured one. */
#define RELINK_LOG_TRACE 0
#define RELINK_LOG_DEBUG 1
#define RELINK_LOG_INFO 2
#define RELINK_LOG_WARN 3
#define RELINK_LOG_ERROR 4
#define RELINK_LOG_OFF 5

/** Canonical names ("CONNECTED", "INTERRUPTED", "JOINED", "DROPPED", "CERTIFICATE", "rtc-web"): static strings,
 *  "UNKNOWN" (profiles: "unknown") for a number that is none. */
RELINK_API const char* relink_state_name(int state);
RELINK_API const char* relink_reason_name(int reason);
RELINK_API const char* relink_channel_state_name(int channel_state);
RELINK_API const char* relink_channel_reason_name(int channel_reason);
RELINK_API const char* relink_member_left_cause_name(int cause);
RELINK_API const char* relink_attempt_failure_name(int cause);
RELINK_API const char* relink_profile_name(int profile);
/** Parses "rtm", "rtc", "rtc-web" or "room" into *profile. @return RELINK_OK or RELINK_E_INVALID_ARGUMENT */
RELINK_API int relink_profile_from_name(const char* name, int* profile);

/** 1 for a valid channel (or stream) name: 1–64 bytes of a-zA-Z0-9, space and !#$%&()+-:;<=.>?@[]^_{|}~, ;
 *  0 otherwise (and for NULL). */
RELINK_API int relink_is_valid_channel_name(const char* name);
/** 1 for a valid user id: a valid channel name without a leading or trailing space; 0 otherwise. */
RELINK_API int relink_is_valid_user_id(const char* user_id);

/* ---------------------------------------------------------------------------------------------- events */

/* Event types (relink_event.type). */
#define RELINK_EVENT_CONNECTION_STATE_CHANGED 1
#define RELINK_EVENT_CONNECTION_LOST 2
#define RELINK_EVENT_JOIN_SUCCESS 3
#define RELINK_EVENT_REJOIN_SUCCESS 4
#define RELINK_EVENT_CHANNEL_STATE_CHANGED 5
#define RELINK_EVENT_MEMBER_JOINED 6
#define RELINK_EVENT_MEMBER_LEFT 7
#define RELINK_EVENT_STREAM_ADDED 8
#define RELINK_EVENT_STREAM_REMOVED 9
#define RELINK_EVENT_MESSAGE 10
#define RELINK_EVENT_CONTINUITY 11
#define RELINK_EVENT_TOKEN_PRIVILEGE_WILL_EXPIRE 12
#define RELINK_EVENT_TOKEN_EXPIRED 13
#define RELINK_EVENT_OPERATION_COMPLETED 14
#define RELINK_EVENT_ATTEMPT_FAILED 15
#define RELINK_EVENT_LINK_QUALITY_CHANGED 16 /* the link's quality changed meaningfully: the link_* fields */
#define RELINK_EVENT_ATTEMPT_FINISHED 17     /* a connection attempt ended: what each step took (attempt_*) */
/* An app receives the types of the library it runs with, which may be newer than the relink.h it was built
 * against: it ignores an event type it does not know. */

/* Operation kinds (relink_event.op_kind). */
#define RELINK_OP_PEER_MESSAGE 0
#define RELINK_OP_CHANNEL_MESSAGE 1
#define RELINK_OP_PUBLISH 2
#define RELINK_OP_UNPUBLISH 3
#define RELINK_OP_SET_ATTRIBUTES 4
#define RELINK_OP_GET_ATTRIBUTES 5
#define RELINK_OP_RENEW_TOKEN 6
#define RELINK_OP_RECOVERY_KEY 7

/** One attribute of a user: a name and its value (NUL-terminated UTF-8). */
typedef struct relink_attribute {
    const char* name;
    const char* value;
} relink_attribute;

/** Everything relink tells the app, as one flat struct: `type` says which event it is and which fields mean
 *  something (the others are zero / NULL). Allocated by the library; the app reads it through a pointer and never
 *  allocates, copies by value or writes it, so fields can be added at the end without breaking the ABI. Every
 *  pointer in it lives exactly as long as the event: until the callback returns (callback mode) or until
 *  relink_event_free() (queue mode). */
typedef struct relink_event {
    int type; /* RELINK_EVENT_* */

    /* CONNECTION_STATE_CHANGED. `attempt`: reconnect attempts in the current outage; ATTEMPT_FAILED and
     * ATTEMPT_FINISHED: which attempt of the login or outage failed or ended (1, 2, ...). */
    int state;             /* RELINK_STATE_*: the new state */
    int previous_state;    /* RELINK_STATE_*: the state before it */
    int reason;            /* RELINK_REASON_* */
    uint64_t seq;          /* 1, 2, 3 ... per client */
    uint32_t attempt;      /* see above */
    int64_t next_retry_ms; /* until the next scheduled attempt; 0 when none */
    int has_last_failure;  /* the last failed attempt since the last successful login: failure_* */
    int failure_cause;     /* ATTEMPT_FAILED, has_last_failure, ATTEMPT_FINISHED not connected: RELINK_ATTEMPT_* */
    uint32_t failure_attempt;
    const char* failure_detail; /* for people: the step, the address and the error */

    /* CONNECTION_STATE_CHANGED with CONNECTED, and CONTINUITY: the server-side timings agreed at the login. */
    int has_timings;
    int64_t heartbeat_interval_ms;
    int64_t presence_timeout_ms;
    int64_t backfill_window_ms;
    uint64_t backfill_count;
    int timings_clamped; /* the server held at least one value to its bounds */

    /* CHANNEL_STATE_CHANGED, MEMBER_*, STREAM_*, JOIN_SUCCESS, MESSAGE (NULL for a peer message). */
    const char* channel;
    int channel_state;  /* RELINK_CHANNEL_* */
    int channel_reason; /* RELINK_CHANNEL_REASON_* */
    /* CHANNEL_STATE_CHANGED and OPERATION_COMPLETED: RELINK_OK or RELINK_E_* */
    int error;
    const char* user_id;   /* MEMBER_*, STREAM_*: the member */
    int member_left_cause; /* MEMBER_LEFT: RELINK_MEMBER_LEFT_* */
    const char* stream;    /* STREAM_*: the stream's name */

    /* MESSAGE */
    const char* from;       /* the sender's user id */
    const char* message_id; /* the sender's id of the message */
    const void* payload;    /* payload_size bytes (followed by a NUL the size does not count) */
    size_t payload_size;
    int backfilled; /* delivered after a reconnect from what the server kept */

    /* CONTINUITY */
    int64_t outage_ms;
    int resumed; /* the server kept the session: peers saw nothing (also ATTEMPT_FINISHED) */
    uint64_t backfilled_count;
    uint64_t dropped_count;
    int server_restarted; /* the server lost its history since the last login */

    /* OPERATION_COMPLETED: exactly once for every operation a call accepted */
    uint64_t op; /* the id the call returned */
    int op_kind; /* RELINK_OP_* */
    int stored_for_away_user;
    const relink_attribute* attributes; /* GET_ATTRIBUTES on success: attribute_count attributes */
    size_t attribute_count;

    /* LINK_QUALITY_CHANGED: the link's quality when it changed (relink_status has the same fields, read at any
     * time). The round-trip figures are the current connection's and mean nothing while link_rtt_samples is 0. */
    int link_up;                     /* a connection is logged in and usable */
    uint64_t link_rtt_samples;       /* heartbeats answered on this connection */
    int64_t link_rtt_us;             /* smoothed round-trip time (as TCP smooths it: RFC 6298 SRTT) */
    int64_t link_rtt_var_us;         /* its mean deviation (RTTVAR) */
    int64_t link_last_rtt_us;        /* the latest sample */
    uint32_t link_missed_heartbeats; /* heartbeats in a row unanswered when the next was due */
    uint64_t link_late_heartbeats;   /* answers on this connection that came after the next heartbeat was due */
    int64_t link_since_last_data_ms; /* since the last data from the server; -1 before the first */

    /* OPERATION_COMPLETED of RECOVERY_KEY, on success: the key to store (relink_config_set_recover_key()) */
    const char* recovery_key;
    /* CONTINUITY: the first login recovered the session of an earlier process with a recovery key */
    int recovered;

    /* ATTEMPT_FINISHED: one per connection attempt that logged in or failed, in order (a failed attempt's comes
     * right after its ATTEMPT_FAILED); an attempt cut short by a logout or a network change has none. `attempt`:
     * which attempt of the login or outage it was; `resumed`: it logged in and resumed the session. The durations
     * are microseconds (a step on a near network takes well under a millisecond); a step the attempt did not reach
     * is -1, and so are `proxy` without a proxy and `tls` for ws://. */
    int attempt_connected;        /* it logged in; else failure_cause says why it failed (RELINK_ATTEMPT_*) */
    int64_t attempt_total_us;     /* from the attempt's start to its end (logged in, or the failure) */
    int64_t attempt_dns_us;       /* resolving the server's (or the proxy's) name; ~0 for an address */
    int64_t attempt_proxy_us;     /* the HTTP proxy's CONNECT tunnel */
    int64_t attempt_tcp_us;       /* the TCP connection */
    int64_t attempt_tls_us;       /* the TLS handshake */
    int64_t attempt_websocket_us; /* the WebSocket upgrade */
    int64_t attempt_login_us;     /* from the login request to the server's answer (accepted or refused) */
    int attempt_tls_resumed;      /* the TLS handshake resumed an earlier TLS session (no full handshake) */
} relink_event;

/** Frees an event taken with relink_client_next_event(). NULL is ignored. Never free an event handed to the event
 *  callback: it is the library's and ends when the callback returns. */
RELINK_API void relink_event_free(relink_event* event);

/** Receives every event, in order, on the client's dispatcher thread (one at a time, never inline inside a call,
 *  never under a lock of the client). `event` and everything it points to end when the callback returns. */
typedef void (*relink_event_callback)(void* user_data, const relink_event* event);

/** Receives the client's log lines (`line` of `size` bytes, NUL-terminated, no newline), on the client's threads.
 *  Never receives a token or a payload. */
typedef void (*relink_log_callback)(void* user_data, int level, const char* line, size_t size);

/** Asked for a fresh token before a reconnect when the current one has expired or is about to (on the client's io
 *  thread: return quickly). Writes the token into `buffer` (capacity bytes) and returns its length without the NUL;
 *  returns 0 to keep the current token. A token that does not fit: return its length, and it is asked again with a
 *  buffer that fits. */
typedef size_t (*relink_token_provider)(void* user_data, char* buffer, size_t capacity);

/* ------------------------------------------------------------------------------------------ configuration */

/** Everything a client needs, fixed when it is made. Built with setters, so that new settings are new functions
 *  and old binaries keep working. Not thread-safe: build it on one thread. Any setter may be called again; the
 *  last value wins. Values are checked all together by relink_client_new(). */
typedef struct relink_config relink_config;

/** A config with the defaults of relink/client.hpp (rtm profile, TLS verification on, log level WARN).
 *  @return NULL only when out of memory */
RELINK_API relink_config* relink_config_new(void);
/** Frees a config. NULL is ignored. Clients made from it keep their own copy. */
RELINK_API void relink_config_free(relink_config* config);

/* Each setter returns RELINK_OK, or RELINK_E_INVALID_ARGUMENT for a NULL config, a NULL string where one is
 * required, or a number out of range. Strings are copied. */
RELINK_API int relink_config_set_url(relink_config* config, const char* url);       /* wss://host[:port]/path */
RELINK_API int relink_config_set_allow_plaintext(relink_config* config, int allow); /* ws:// (loopback dev) */
RELINK_API int relink_config_set_app_id(relink_config* config, const char* app_id);
RELINK_API int relink_config_set_user_id(relink_config* config, const char* user_id);
RELINK_API int relink_config_set_token(relink_config* config, const char* token);
RELINK_API int relink_config_set_profile(relink_config* config, int profile); /* RELINK_PROFILE_* */
/** Multiplies every client-side duration (tests, demos); > 0. */
RELINK_API int relink_config_set_time_scale(relink_config* config, double factor);
/** TLS: verify the server's chain and host name (on by default; off only in tests). */
RELINK_API int relink_config_set_tls_verify_peer(relink_config* config, int verify);
RELINK_API int relink_config_set_tls_ca_file(relink_config* config, const char* pem_file);
RELINK_API int relink_config_set_tls_ca_directory(relink_config* config, const char* directory);
RELINK_API int relink_config_set_tls_use_system_store(relink_config* config, int use);
/** An HTTP CONNECT proxy; host NULL: connect directly (the default). */
RELINK_API int relink_config_set_proxy(relink_config* config, const char* host, uint16_t port);
RELINK_API int relink_config_set_log_level(relink_config* config, int level); /* RELINK_LOG_* */
/** The log handler; NULL: lines go to stderr. `user_data` is passed back as is. */
RELINK_API int relink_config_set_log_callback(relink_config* config, relink_log_callback callback, void* user_data);
RELINK_API int relink_config_set_max_queued_operations(relink_config* config, size_t max);
/** Seed of the backoff jitter; 0 (the default): random per client. */
RELINK_API int relink_config_set_seed(relink_config* config, uint64_t seed);
RELINK_API int relink_config_set_token_provider(relink_config* config, relink_token_provider provider, void* user_data);
/** Events go to `callback` on the client's dispatcher thread. Without one (or with NULL), they queue up for
 *  relink_client_next_event(). */
RELINK_API int relink_config_set_event_callback(relink_config* config, relink_event_callback callback, void* user_data);

/* Timings (relink/timings.hpp): each overrides one of the profile's defaults, whichever profile is set. */
#define RELINK_TIMING_LOGIN_TIMEOUT 0
#define RELINK_TIMING_INTERRUPTED_AFTER 1
#define RELINK_TIMING_LOST_AFTER 2    /* 0 = never */
#define RELINK_TIMING_GIVE_UP_AFTER 3 /* 0 = never */
#define RELINK_TIMING_HEARTBEAT_INTERVAL 4
#define RELINK_TIMING_ATTEMPT_TIMEOUT 5
#define RELINK_TIMING_BACKOFF_INITIAL 6
#define RELINK_TIMING_BACKOFF_MAX 7
#define RELINK_TIMING_STABLE_AFTER 8
#define RELINK_TIMING_MESSAGE_TIMEOUT 9
#define RELINK_TIMING_LEAVE_TIMEOUT 10
#define RELINK_TIMING_TOKEN_WARNING_LEAD 11
#define RELINK_TIMING_PRESENCE_TIMEOUT 12     /* asked of the server at login */
#define RELINK_TIMING_BACKFILL_WINDOW 13      /* asked of the server at login */
#define RELINK_TIMING_RETRY_PROBE_INTERVAL 14 /* after a refused attempt: probes this far apart ... */
#define RELINK_TIMING_RETRY_PROBE_WINDOW 15   /* ... for this long, then the backoff goes on */
RELINK_API int relink_config_set_timing_ms(relink_config* config, int timing, int64_t milliseconds);
/** The backoff's shape: each delay grows by `multiplier` (≥ 1) and is drawn in base × U(1 − jitter, 1 + jitter). */
RELINK_API int relink_config_set_backoff_shape(relink_config* config, double multiplier, double jitter);
/** At most this many channel messages backfilled per channel (asked of the server at login). */
RELINK_API int relink_config_set_backfill_count(relink_config* config, size_t count);

/* ------------------------------------------------------------------------------------------------ client */

/** The realtime connection of one user (relink::Client). */
typedef struct relink_client relink_client;

/** Makes a client with no session (DISCONNECTED); nothing is sent until login or join.
 *  @param config   checked as a whole; not kept (free it when you like)
 *  @param client   receives the new client, or NULL on error
 *  @param error    if not NULL, receives one line for people naming the field that cannot work ("url: ..."),
 *                  truncated to error_size bytes with its NUL; "" on success
 *  @return RELINK_OK, RELINK_E_INVALID_ARGUMENT (a config that cannot work), RELINK_E_INTERNAL */
RELINK_API int relink_client_new(const relink_config* config, relink_client** client, char* error, size_t error_size);
/** Logs out if needed and stops, in bounded time (about 3 s at worst); after it returns no callback runs and the
 *  handle is gone. May be called from inside the client's own callback. Events still queued for
 *  relink_client_next_event() are freed. NULL is ignored. No other call on this handle may run concurrently with
 *  it or follow it. */
RELINK_API void relink_client_free(relink_client* client);

/* The session. Each returns the client core's answer, decided at the moment of the call (relink/client.hpp
 * documents each error and the order they are checked in); outcomes arrive as events. */
RELINK_API int relink_client_login(relink_client* client);
RELINK_API int relink_client_logout(relink_client* client);
RELINK_API int relink_client_join(relink_client* client, const char* channel);
RELINK_API int relink_client_leave(relink_client* client, const char* channel);
RELINK_API int relink_client_switch_channel(relink_client* client, const char* from, const char* to);

/* Operations: RELINK_OK and, later, exactly one RELINK_EVENT_OPERATION_COMPLETED whose `op` is the id written to
 * *op (op may be NULL if the app does not need it); or an error at once and no event. Ids are 1, 2, 3 ... per
 * client. */

/** Keep a peer message for a receiver that is not logged in (instead of failing with RELINK_E_PEER_OFFLINE). */
#define RELINK_SEND_STORE_OFFLINE 1u

RELINK_API int relink_client_send_peer_message(relink_client* client, const char* user_id, const void* payload,
                                               size_t payload_size, unsigned flags, uint64_t* op);
RELINK_API int relink_client_send_channel_message(relink_client* client, const char* channel, const void* payload,
                                                  size_t payload_size, uint64_t* op);
RELINK_API int relink_client_publish(relink_client* client, const char* channel, const char* stream, uint64_t* op);
RELINK_API int relink_client_unpublish(relink_client* client, const char* channel, const char* stream, uint64_t* op);
/** Replaces this user's attributes with `count` attributes (count 0: none; attributes may then be NULL). */
RELINK_API int relink_client_set_local_user_attributes(relink_client* client, const relink_attribute* attributes,
                                                       size_t count, uint64_t* op);
/** Reads another user's attributes: they arrive in the completion event. */
RELINK_API int relink_client_get_user_attributes(relink_client* client, const char* user_id, uint64_t* op);
RELINK_API int relink_client_renew_token(relink_client* client, const char* token, uint64_t* op);

/** The local network changed (Wi-Fi ↔ cellular ...): while CONNECTED, the link is checked at once (one heartbeat)
 *  and reconnects with CLIENT_IP_ADDRESS_CHANGED only if no data answers within the probe timeout; a link that
 *  answers is replaced make-before-break by a new connection, with no state change; otherwise a reconnect at once
 *  (relink::Client::notify_network_changed()). */
RELINK_API int relink_client_notify_network_changed(relink_client* client);
/** Uses another HTTP CONNECT proxy; host NULL: none. Reconnects (SETTING_PROXY_SERVER) when connected. */
RELINK_API int relink_client_set_proxy(relink_client* client, const char* host, uint16_t port);

/** Takes the next event from the queue (clients made without an event callback), waiting at most timeout_ms
 *  (0: do not wait; negative: wait without limit). On RELINK_OK *event is the event, to free with
 *  relink_event_free(), or NULL when none came in time.
 *  @return RELINK_OK; RELINK_E_INVALID_ARGUMENT for a NULL pointer or a client that has an event callback */
RELINK_API int relink_client_next_event(relink_client* client, int timeout_ms, relink_event** event);

/* ----------------------------------------------------------------------------------------- observations */

/** The current connection state (RELINK_STATE_*), as the core last decided it; 0 for a NULL client. Lock-free. */
RELINK_API int relink_client_connection_state(const relink_client* client);
/** A channel's state into *state (RELINK_CHANNEL_*).
 *  @return RELINK_OK, or RELINK_E_NOT_JOINED when the channel is not joined (never joined, left, failed) */
RELINK_API int relink_client_channel_state(const relink_client* client, const char* channel, int* state);

/** The connection status at the moment of the call. Allocated by the library (free with relink_status_free());
 *  fields are only ever added at the end. */
typedef struct relink_status {
    int state;             /* RELINK_STATE_* */
    int reason;            /* RELINK_REASON_* (LOGOUT before any change) */
    uint32_t attempt;      /* attempts in the current login or outage */
    int64_t next_retry_ms; /* until the next scheduled attempt; 0 when none */
    int64_t in_state_ms;   /* since the latest state change */
    int has_last_failure;  /* the last failed attempt since the last successful login: */
    int failure_cause;     /* RELINK_ATTEMPT_* */
    uint32_t failure_attempt;
    const char* failure_detail;      /* NULL without a failure */
    uint64_t tls_full_handshakes;    /* TLS handshakes of this client's connections: full ones ... */
    uint64_t tls_resumed_handshakes; /* ... and resumed ones */
    /* The link's quality now, as relink_event's LINK_QUALITY_CHANGED fields */
    int link_up;
    uint64_t link_rtt_samples;
    int64_t link_rtt_us;
    int64_t link_rtt_var_us;
    int64_t link_last_rtt_us;
    uint32_t link_missed_heartbeats;
    uint64_t link_late_heartbeats;
    int64_t link_since_last_data_ms;
} relink_status;

/** @return RELINK_OK and *status (free it with relink_status_free()), RELINK_E_INVALID_ARGUMENT, RELINK_E_INTERNAL */
RELINK_API int relink_client_status(const relink_client* client, relink_status** status);
/** Frees a status. NULL is ignored. */
RELINK_API void relink_status_free(relink_status* status);

/** The client's metrics (relink::Client::metrics(): counters and histograms since the client was made: attempts by
 *  outcome and failure cause, each attempt step's duration, heartbeat round trips, state changes, reconnects,
 *  messages) in Prometheus' text exposition format (version 0.0.4), as relink::to_prometheus() writes them, for an
 *  app that serves a /metrics page: counters `<prefix>_..._total`, histograms in seconds.
 *  @param prefix   of every metric's name; NULL: "relink_client"
 *  @param labels   added to every sample, already escaped (`app="chat",region="eu"`); NULL: none
 *  @param buffer   receives the whole text with its NUL, only when it fits in `size` bytes; else "" (when size > 0).
 *                  May be NULL when size is 0.
 *  @param needed   receives the text's size with its NUL (also when it does not fit): call again with a buffer that
 *                  large. The counters grow between two calls, so allow some more, or call in a loop.
 *  @return RELINK_OK (the whole text written); RELINK_E_INVALID_ARGUMENT for a NULL client or `needed`, a NULL
 *          buffer with size > 0, or a buffer too small (*needed says how large); RELINK_E_INTERNAL. Any thread. */
RELINK_API int relink_client_metrics_prometheus(const relink_client* client, const char* prefix, const char* labels,
                                                char* buffer, size_t size, size_t* needed);

/** The app returned to the foreground: the link is checked at once (relink::Client::notify_foreground()).
 *  @return RELINK_OK, RELINK_E_INVALID_ARGUMENT for a NULL client */
RELINK_API int relink_client_notify_foreground(relink_client* client);

/* ----------------------------------------------------------------------------------------- recovery keys */

/** A recovery key an earlier process stored: the client's first login resumes the session it names, silently for
 *  peers, within that session's presence timeout (relink::ClientConfig::recover_key). Refused: DISCONNECTED
 *  RELINK_REASON_RECOVERY_REFUSED, the channels' JOIN_FAILED error says why (RELINK_E_RECOVERY_*), and a second
 *  login starts a fresh session. NULL: none.
 *  @return RELINK_OK, RELINK_E_INVALID_ARGUMENT for a NULL config */
RELINK_API int relink_config_set_recover_key(relink_config* config, const char* key);
/** Asks the server for a recovery key of this session: it arrives in the completion event (recovery_key), to be
 *  stored and given to a new process's config. Take it as late as possible: messages received after it was made are
 *  delivered again to the process that recovers with it (relink::Client::recovery_key()). */
RELINK_API int relink_client_recovery_key(relink_client* client, uint64_t* op);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* RELINK_RELINK_H */
