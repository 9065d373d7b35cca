// bindings/node/relink.js — a sketch of a Node.js binding of relink's C API (include/relink/relink.h) with the
// koffi FFI package (`npm install koffi`). Not part of relink's build or tests: docs/bindings.md says what was
// checked by hand and what was not. It shows the shape every JavaScript binding takes:
//   - the library loaded from RELINK_LIBRARY or by its SONAME (librelink.so.1);
//   - relink_event declared field by field in the header's order (read through the pointer the library returns,
//     never allocated by JavaScript);
//   - queue mode: events are pulled with relink_client_next_event() as an asynchronous call, which koffi runs on a
//     worker thread, so the JavaScript thread never blocks and no C callback ever has to reach it. (A C event
//     callback would run on the client's dispatcher thread, where JavaScript cannot run, and the event it is handed
//     ends when the callback returns: queue mode is the one that fits.)
'use strict';

const koffi = require('koffi');

const lib = koffi.load(process.env.RELINK_LIBRARY || 'librelink.so.1');

const relink_config = koffi.opaque('relink_config');
const relink_client = koffi.opaque('relink_client');
const relink_attribute = koffi.struct('relink_attribute', { name: 'const char *', value: 'const char *' });
// Field by field, in relink.h's order (a mismatch reads garbage).
const relink_event = koffi.struct('relink_event', {
    type: 'int',
    state: 'int',
    previous_state: 'int',
    reason: 'int',
    seq: 'uint64_t',
    attempt: 'uint32_t',
    next_retry_ms: 'int64_t',
    has_last_failure: 'int',
    failure_cause: 'int',
    failure_attempt: 'uint32_t',
    failure_detail: 'const char *',
    has_timings: 'int',
    heartbeat_interval_ms: 'int64_t',
    presence_timeout_ms: 'int64_t',
    backfill_window_ms: 'int64_t',
    backfill_count: 'uint64_t',
    timings_clamped: 'int',
    channel: 'const char *',
    channel_state: 'int',
    channel_reason: 'int',
    error: 'int',
    user_id: 'const char *',
    member_left_cause: 'int',
    stream: 'const char *',
    from: 'const char *',
    message_id: 'const char *',
    payload: 'const void *',
    payload_size: 'size_t',
    backfilled: 'int',
    outage_ms: 'int64_t',
    resumed: 'int',
    backfilled_count: 'uint64_t',
    dropped_count: 'uint64_t',
    server_restarted: 'int',
    op: 'uint64_t',
    op_kind: 'int',
    stored_for_away_user: 'int',
    attributes: 'const relink_attribute *',
    attribute_count: 'size_t',
});

const c = {
    version: lib.func('const char *relink_version(void)'),
    error_name: lib.func('const char *relink_error_name(int error)'),
    state_name: lib.func('const char *relink_state_name(int state)'),
    reason_name: lib.func('const char *relink_reason_name(int reason)'),
    channel_reason_name: lib.func('const char *relink_channel_reason_name(int reason)'),
    config_new: lib.func('relink_config *relink_config_new(void)'),
    config_free: lib.func('void relink_config_free(relink_config *config)'),
    set_url: lib.func('int relink_config_set_url(relink_config *config, const char *url)'),
    set_app_id: lib.func('int relink_config_set_app_id(relink_config *config, const char *app_id)'),
    set_user_id: lib.func('int relink_config_set_user_id(relink_config *config, const char *user_id)'),
    set_token: lib.func('int relink_config_set_token(relink_config *config, const char *token)'),
    set_ca_file: lib.func('int relink_config_set_tls_ca_file(relink_config *config, const char *pem_file)'),
    client_new: lib.func(
        'int relink_client_new(const relink_config *config, _Out_ relink_client **client, _Out_ uint8_t *error, size_t error_size)'),
    client_free: lib.func('void relink_client_free(relink_client *client)'),
    login: lib.func('int relink_client_login(relink_client *client)'),
    logout: lib.func('int relink_client_logout(relink_client *client)'),
    join: lib.func('int relink_client_join(relink_client *client, const char *channel)'),
    send_peer_message: lib.func(
        'int relink_client_send_peer_message(relink_client *client, const char *user_id, const uint8_t *payload, size_t size, unsigned int flags, _Out_ uint64_t *op)'),
    send_channel_message: lib.func(
        'int relink_client_send_channel_message(relink_client *client, const char *channel, const uint8_t *payload, size_t size, _Out_ uint64_t *op)'),
    next_event: lib.func(
        'int relink_client_next_event(relink_client *client, int timeout_ms, _Out_ relink_event **event)'),
    event_free: lib.func('void relink_event_free(relink_event *event)'),
};

const EVENT_NAMES = [null, 'connection_state_changed', 'connection_lost', 'join_success', 'rejoin_success',
    'channel_state_changed', 'member_joined', 'member_left', 'stream_added', 'stream_removed', 'message',
    'continuity', 'token_privilege_will_expire', 'token_expired', 'operation_completed', 'attempt_failed'];

class RelinkError extends Error {
    constructor(code, what) {
        super(`${what}: ${c.error_name(code)}`);
        this.code = code;
        this.name = c.error_name(code);
    }
}

function check(code, what) {
    if (code !== 0) throw new RelinkError(code, what);
}

/** The parts of an event an app reads, copied out of the library's struct (which ends with relink_event_free). */
function toEvent(e) {
    const event = { type: EVENT_NAMES[e.type] || e.type };
    switch (e.type) {
    case 1:
        Object.assign(event, { state: c.state_name(e.state), reason: c.reason_name(e.reason), seq: Number(e.seq) });
        break;
    case 5:
        Object.assign(event, { channel: e.channel, reason: c.channel_reason_name(e.channel_reason), error: e.error });
        break;
    case 6: case 7:
        Object.assign(event, { channel: e.channel, user: e.user_id });
        break;
    case 10:
        Object.assign(event, {
            from: e.from, channel: e.channel, id: e.message_id,
            payload: Buffer.from(e.payload_size ? koffi.decode(e.payload, 'uint8_t', Number(e.payload_size)) : []),
        });
        break;
    case 14:
        Object.assign(event, { op: Number(e.op), error: c.error_name(e.error) });
        break;
    case 15:
        Object.assign(event, { attempt: e.attempt, detail: e.failure_detail });
        break;
    }
    return event;
}

class Client {
    constructor({ url, appId, userId, token, caFile }) {
        const config = c.config_new();
        try {
            check(c.set_url(config, url), 'url');
            check(c.set_app_id(config, appId), 'app_id');
            check(c.set_user_id(config, userId), 'user_id');
            check(c.set_token(config, token), 'token');
            if (caFile) check(c.set_ca_file(config, caFile), 'ca_file');
            const handle = [null];
            const why = Buffer.alloc(512);
            const code = c.client_new(config, handle, why, why.length);
            if (code !== 0) throw new Error(why.toString('utf8', 0, why.indexOf(0)));
            this.handle = handle[0];
        } finally {
            c.config_free(config);
        }
        this.pending = null;  // the next_event call in flight: relink_client_free must not run beside it
        this.closed = false;
    }

    login() { check(c.login(this.handle), 'login'); }
    logout() { check(c.logout(this.handle), 'logout'); }
    join(channel) { check(c.join(this.handle, channel), 'join'); }

    sendPeerMessage(userId, data) {
        const payload = Buffer.from(data);
        const op = [0];
        check(c.send_peer_message(this.handle, userId, payload, payload.length, 0, op), 'send_peer_message');
        return Number(op[0]);
    }

    sendChannelMessage(channel, data) {
        const payload = Buffer.from(data);
        const op = [0];
        check(c.send_channel_message(this.handle, channel, payload, payload.length, op), 'send_channel_message');
        return Number(op[0]);
    }

    /** The next event, or null after timeoutMs; the wait happens on a koffi worker thread. */
    nextEvent(timeoutMs) {
        this.pending = new Promise((resolve, reject) => {
            const out = [null];
            c.next_event.async(this.handle, timeoutMs, out, (err, code) => {
                if (err) return reject(err);
                if (code !== 0) return reject(new RelinkError(code, 'next_event'));
                if (!out[0]) return resolve(null);
                try {
                    resolve(toEvent(koffi.decode(out[0], relink_event)));
                } finally {
                    c.event_free(out[0]);
                }
            });
        });
        return this.pending;
    }

    /** Events as they come, until close() (each wait at most 200 ms, so that close() is noticed). */
    async *events() {
        while (!this.closed) {
            const event = await this.nextEvent(200);
            if (event) yield event;
        }
    }

    /** Waits for the wait in flight, then frees the client (logs out, bounded). */
    async close() {
        if (this.closed) return;
        this.closed = true;
        if (this.pending) await this.pending.catch(() => {});
        await new Promise((resolve) => c.client_free.async(this.handle, () => resolve()));
    }
}

module.exports = { Client, RelinkError, version: () => c.version(), lib, relink_event };
