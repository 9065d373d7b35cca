/* A C99 program using relink's C API (relink/relink.h) from an installed prefix, built two ways by
 * tests/package/run.sh: with `cc $(pkg-config --cflags --libs relink)` and with CMake's relink::c. It returns
 * non-zero if a check fails:
 *   - the library loaded is the one compiled against (relink_version(), relink_abi_version());
 *   - the names of codes and states, and error paths: a NULL config, a config that cannot work (with the message
 *     naming the field), a logout without a session;
 *   - a client without an event callback (queue mode) that logs in to a closed port: relink_client_next_event()
 *     must deliver CONNECTING and then the state that follows the failed login within a bounded wait, and
 *     relink_client_free() must return. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <relink/relink.h>

static int failures = 0;

static void check(int ok, const char* what) {
    if (!ok) {
        fprintf(stderr, "package C consumer: FAILED: %s\n", what);
        ++failures;
    }
}

/* Seconds on a monotonic clock (C99 has none; POSIX clock_gettime is declared by <time.h> with _POSIX_C_SOURCE). */
static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_vocabulary_and_errors(void) {
    relink_config* config = NULL;
    relink_client* client = NULL;
    char why[256];
    int rc = 0;

    check(relink_abi_version() == RELINK_ABI_VERSION, "relink_abi_version() == RELINK_ABI_VERSION");
    check(strcmp(relink_error_name(RELINK_E_NOT_LOGGED_IN), "NOT_LOGGED_IN") == 0,
          "relink_error_name(RELINK_E_NOT_LOGGED_IN) == \"NOT_LOGGED_IN\"");
    check(relink_error_condition(RELINK_E_NOT_LOGGED_IN) == RELINK_CONDITION_MISUSE, "NOT_LOGGED_IN is a misuse");
    check(strcmp(relink_state_name(RELINK_STATE_RECONNECTING), "RECONNECTING") == 0,
          "relink_state_name(RELINK_STATE_RECONNECTING) == \"RECONNECTING\"");

    check(relink_config_set_url(NULL, "wss://127.0.0.1:1/") == RELINK_E_INVALID_ARGUMENT,
          "a setter on a NULL config is RELINK_E_INVALID_ARGUMENT");
    check(relink_client_new(NULL, &client, why, sizeof why) == RELINK_E_INVALID_ARGUMENT && client == NULL,
          "relink_client_new(NULL config) is RELINK_E_INVALID_ARGUMENT");

    config = relink_config_new();
    check(config != NULL, "relink_config_new()");
    if (config == NULL) {
        return;
    }
    /* No url, no app id, no user: a config that cannot work. */
    rc = relink_client_new(config, &client, why, sizeof why);
    printf("package C consumer: an empty config: %s: %s\n", relink_error_name(rc), why);
    check(rc == RELINK_E_INVALID_ARGUMENT, "relink_client_new(empty config) is RELINK_E_INVALID_ARGUMENT");
    check(client == NULL, "no client from an empty config");
    check(why[0] != '\0', "relink_client_new(empty config) says why");
    relink_config_free(config);
}

static relink_config* closed_port_config(void) {
    relink_config* config = relink_config_new();
    int rc = RELINK_OK;
    if (config == NULL) {
        return NULL;
    }
    rc |= relink_config_set_url(config, "wss://127.0.0.1:1/"); /* nothing listens: every attempt is refused */
    rc |= relink_config_set_app_id(config, "package-consumer");
    rc |= relink_config_set_user_id(config, "alice");
    rc |= relink_config_set_token(config, "not-a-token"); /* never sent: no connection gets that far */
    rc |= relink_config_set_profile(config, RELINK_PROFILE_RTM);
    rc |= relink_config_set_timing_ms(config, RELINK_TIMING_LOGIN_TIMEOUT, 2000);
    rc |= relink_config_set_log_level(config, RELINK_LOG_OFF); /* the refused connections are expected */
    check(rc == RELINK_OK, "the config's setters");
    return config;
}

static void check_client(void) {
    relink_config* config = closed_port_config();
    relink_client* client = NULL;
    char why[256];
    int connecting = 0;
    int after_connecting = 0;
    const double deadline = now_seconds() + 10.0;

    if (config == NULL) {
        check(0, "relink_config_new()");
        return;
    }
    check(relink_client_new(config, &client, why, sizeof why) == RELINK_OK, "relink_client_new(valid config)");
    relink_config_free(config); /* the client keeps its own copy */
    if (client == NULL) {
        fprintf(stderr, "package C consumer: %s\n", why);
        return;
    }
    check(relink_client_connection_state(client) == RELINK_STATE_DISCONNECTED, "a new client is DISCONNECTED");
    check(relink_client_logout(client) == RELINK_E_NOT_LOGGED_IN, "logout without a session is NOT_LOGGED_IN");
    check(relink_client_login(client) == RELINK_OK, "relink_client_login()");

    while (!after_connecting && now_seconds() < deadline) {
        relink_event* event = NULL;
        if (relink_client_next_event(client, 200, &event) != RELINK_OK) {
            check(0, "relink_client_next_event()");
            break;
        }
        if (event == NULL) {
            continue;
        }
        if (event->type == RELINK_EVENT_CONNECTION_STATE_CHANGED) {
            printf("package C consumer: state %s -> %s (%s)\n", relink_state_name(event->previous_state),
                   relink_state_name(event->state), relink_reason_name(event->reason));
            if (event->state == RELINK_STATE_CONNECTING) {
                connecting = 1;
            } else if (connecting) {
                after_connecting = 1;
                check(event->state != RELINK_STATE_CONNECTED, "not CONNECTED to a closed port");
            }
        }
        relink_event_free(event);
    }
    check(after_connecting, "CONNECTING and then another state within 10 s");
    relink_client_free(client);
}

int main(void) {
    printf("package C consumer: relink %s, ABI %d (compiled against ABI %d)\n", relink_version(), relink_abi_version(),
           RELINK_ABI_VERSION);
    check_vocabulary_and_errors();
    check_client();
    if (failures != 0) {
        fprintf(stderr, "package C consumer: %d check(s) failed\n", failures);
        return 1;
    }
    printf("package C consumer: passed\n");
    return 0;
}
