/* chat.c — relink from C: two users in one process chat in a channel through librelink.so (relink/relink.h).
 *
 * alice gets her events through a callback (on the client's own thread); bob's are queued and this program's main
 * loop takes them with relink_client_next_event() (as a runtime that owns its threads would). Each line typed on
 * stdin is sent by alice to the channel; bob prints what arrives. Every connection state change of both is
 * printed: pull the network away (or restart the server) and watch them reconnect, with what you typed meanwhile
 * queued by the SDK and delivered after the reconnect. End of input: both log out and the program exits.
 *
 *   relink-example-c-chat URL APP_ID ALICE_TOKEN BOB_TOKEN [CA_FILE [CHANNEL]]
 *   (RELINK_TIME_SCALE=0.1 in the environment runs every client-side duration ten times faster: demos and tests)
 *
 * Build: cc -std=c99 chat.c $(pkg-config --cflags --libs relink)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <relink/relink.h>

/* One printed line; stdout is written from alice's callback thread and from the main loop alike (each printf is
 * one locked write). */
static void say(const char* who, const char* text) {
    printf("[%s] %s\n", who, text);
    fflush(stdout);
}

/* What both users print about an event. */
static void describe(const char* who, const relink_event* e) {
    char line[512];
    switch (e->type) {
        case RELINK_EVENT_CONNECTION_STATE_CHANGED:
            snprintf(line, sizeof line, "state %s (%s)", relink_state_name(e->state), relink_reason_name(e->reason));
            say(who, line);
            break;
        case RELINK_EVENT_ATTEMPT_FAILED:
            snprintf(line, sizeof line, "attempt %u failed: %s", (unsigned)e->attempt,
                     relink_attempt_failure_name(e->failure_cause));
            say(who, line);
            break;
        case RELINK_EVENT_CHANNEL_STATE_CHANGED:
            snprintf(line, sizeof line, "channel %s %s", e->channel, relink_channel_reason_name(e->channel_reason));
            say(who, line);
            break;
        case RELINK_EVENT_MEMBER_JOINED:
            snprintf(line, sizeof line, "%s joined %s", e->user_id, e->channel);
            say(who, line);
            break;
        case RELINK_EVENT_MEMBER_LEFT:
            snprintf(line, sizeof line, "%s left %s (%s)", e->user_id, e->channel,
                     relink_member_left_cause_name(e->member_left_cause));
            say(who, line);
            break;
        case RELINK_EVENT_MESSAGE:
            /* The payload is bytes with a size; relink adds a NUL after them, so text prints as is. */
            snprintf(line, sizeof line, "message from %s in %s: %.*s%s", e->from, e->channel ? e->channel : "(direct)",
                     (int)e->payload_size, (const char*)e->payload, e->backfilled ? " (missed while away)" : "");
            say(who, line);
            break;
        case RELINK_EVENT_CONTINUITY:
            snprintf(line, sizeof line, "back after %lld ms away (%s), %llu caught up, %llu missed",
                     (long long)e->outage_ms, e->resumed ? "session resumed" : "session rebuilt",
                     (unsigned long long)e->backfilled_count, (unsigned long long)e->dropped_count);
            say(who, line);
            break;
        case RELINK_EVENT_OPERATION_COMPLETED:
            snprintf(line, sizeof line, "send #%llu: %s", (unsigned long long)e->op, relink_error_name(e->error));
            say(who, line);
            break;
        default: break;
    }
}

/* alice's event callback: on her client's dispatcher thread, one event at a time. */
static void on_alice_event(void* user_data, const relink_event* event) {
    (void)user_data;
    describe("alice", event);
}

static relink_client* make_client(const char* url, const char* app_id, const char* user_id, const char* token,
                                  const char* ca_file, relink_event_callback callback) {
    relink_config* config = relink_config_new();
    relink_client* client = NULL;
    char why[256];
    const char* scale = getenv("RELINK_TIME_SCALE");
    if (config == NULL) {
        return NULL;
    }
    relink_config_set_url(config, url);
    relink_config_set_app_id(config, app_id);
    relink_config_set_user_id(config, user_id);
    relink_config_set_token(config, token);
    if (ca_file != NULL && ca_file[0] != '\0') {
        relink_config_set_tls_ca_file(config, ca_file);
    }
    if (scale != NULL && relink_config_set_time_scale(config, strtod(scale, NULL)) != RELINK_OK) {
        fprintf(stderr, "RELINK_TIME_SCALE: not a positive number: %s\n", scale);
    }
    if (callback != NULL) {
        relink_config_set_event_callback(config, callback, NULL);
    }
    if (relink_client_new(config, &client, why, sizeof why) != RELINK_OK) {
        fprintf(stderr, "%s: %s\n", user_id, why); /* names the setting that cannot work */
    }
    relink_config_free(config); /* the client keeps its own copy */
    return client;
}

/* Takes every event queued for bob, without waiting. */
static void drain_bob(relink_client* bob) {
    relink_event* event = NULL;
    while (relink_client_next_event(bob, 0, &event) == RELINK_OK && event != NULL) {
        describe("bob", event);
        relink_event_free(event);
    }
}

int main(int argc, char** argv) {
    const char* channel = argc > 6 ? argv[6] : "lobby";
    relink_client* alice;
    relink_client* bob;
    char input[4096];
    size_t used = 0;
    int open_input = 1;
    int error;

    if (argc < 5) {
        fprintf(stderr, "usage: relink-example-c-chat URL APP_ID ALICE_TOKEN BOB_TOKEN [CA_FILE [CHANNEL]]\n");
        return 2;
    }
    alice = make_client(argv[1], argv[2], "alice", argv[3], argc > 5 ? argv[5] : NULL, on_alice_event);
    bob = make_client(argv[1], argv[2], "bob", argv[4], argc > 5 ? argv[5] : NULL, NULL);
    if (alice == NULL || bob == NULL) {
        relink_client_free(alice);
        relink_client_free(bob);
        return 1;
    }
    /* Calls answer at once; what happens next arrives as events. */
    if ((error = relink_client_login(alice)) != RELINK_OK ||
        (error = relink_client_join(alice, channel)) != RELINK_OK || (error = relink_client_login(bob)) != RELINK_OK ||
        (error = relink_client_join(bob, channel)) != RELINK_OK) {
        fprintf(stderr, "cannot start: %s (%s)\n", relink_error_name(error), relink_error_message(error));
        relink_client_free(alice);
        relink_client_free(bob);
        return 1;
    }

    while (open_input) {
        struct pollfd in = {STDIN_FILENO, POLLIN, 0};
        const int ready = poll(&in, 1, 50); /* between reads, bob's queue is drained */
        drain_bob(bob);
        if (ready < 0 && errno != EINTR) {
            break;
        }
        if (ready > 0) {
            const ssize_t n = read(STDIN_FILENO, input + used, sizeof input - 1 - used);
            char* line = input;
            char* end;
            if (n <= 0) {
                open_input = 0;
                continue;
            }
            used += (size_t)n;
            input[used] = '\0';
            while ((end = strchr(line, '\n')) != NULL) {
                uint64_t op = 0;
                *end = '\0';
                if (line[0] != '\0') {
                    /* Accepted while the link is down too: the SDK queues it and sends it after the reconnect. */
                    error = relink_client_send_channel_message(alice, channel, line, strlen(line), &op);
                    if (error != RELINK_OK) {
                        fprintf(stderr, "cannot send: %s\n", relink_error_message(error));
                    }
                }
                line = end + 1;
            }
            used = (size_t)(input + used - line);
            memmove(input, line, used);
            if (used == sizeof input - 1) {
                used = 0; /* a line longer than the buffer: dropped */
            }
        }
    }

    relink_client_logout(alice);
    relink_client_logout(bob);
    relink_client_free(alice); /* in bounded time; no callback runs after it */
    drain_bob(bob);
    relink_client_free(bob);
    say("chat", "bye");
    return 0;
}
