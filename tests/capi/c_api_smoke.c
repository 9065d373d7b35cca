/* c_api_smoke.c — the C API used from C99 (compiled with -std=c99 -Wall -Wextra -pedantic -Werror), without a
 * server: names, a config refused with its message, a client whose login attempts fail (nothing listens on port 1)
 * in queue mode, its status and metrics, logout and free. Exits 0 when every check holds, 1 otherwise (each failure
 * printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <relink/relink.h>

static int failures = 0;

#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

static relink_config* make_config(void) {
    relink_config* config = relink_config_new();
    CHECK(config != NULL);
    CHECK(relink_config_set_url(config, "wss://127.0.0.1:1/") == RELINK_OK);
    CHECK(relink_config_set_app_id(config, "app") == RELINK_OK);
    CHECK(relink_config_set_user_id(config, "alice") == RELINK_OK);
    CHECK(relink_config_set_token(config, "token") == RELINK_OK);
    /* The real time scale: a 12 s login timeout, which even a sanitizer build cannot outlast before the first
     * attempt is refused. */
    CHECK(relink_config_set_tls_use_system_store(config, 0) == RELINK_OK);
    CHECK(relink_config_set_log_level(config, RELINK_LOG_OFF) == RELINK_OK);
    return config;
}

int main(void) {
    relink_config* config;
    relink_client* client = NULL;
    relink_event* event = NULL;
    relink_status* status = NULL;
    char why[256];
    int saw_connecting = 0;
    int saw_failed_attempt = 0;
    int saw_disconnected = 0;
    int i;
    uint64_t op = 7;
    size_t needed = 0;
    char* page = NULL;

    CHECK(relink_abi_version() == RELINK_ABI_VERSION);
    CHECK(strcmp(relink_state_name(RELINK_STATE_RECONNECTING), "RECONNECTING") == 0);
    CHECK(strcmp(relink_reason_name(RELINK_REASON_INTERRUPTED), "INTERRUPTED") == 0);
    CHECK(strcmp(relink_error_name(RELINK_E_QUEUE_FULL), "QUEUE_FULL") == 0);
    CHECK(relink_error_condition(RELINK_E_QUEUE_FULL) == RELINK_CONDITION_TRANSIENT);
    CHECK(strcmp(relink_profile_name(RELINK_PROFILE_RTC_WEB), "rtc-web") == 0);
    CHECK(relink_is_valid_channel_name("lobby") == 1);

    /* A config that cannot work: the message names the field. */
    config = make_config();
    CHECK(relink_config_set_url(config, "http://example.com/") == RELINK_OK);
    CHECK(relink_client_new(config, &client, why, sizeof why) == RELINK_E_INVALID_ARGUMENT);
    CHECK(client == NULL);
    CHECK(strncmp(why, "url: ", 5) == 0);
    relink_config_free(config);

    /* Queue mode: the login's attempts fail and are reported; logout ends it. */
    config = make_config();
    CHECK(relink_client_new(config, &client, why, sizeof why) == RELINK_OK);
    relink_config_free(config); /* the client keeps its own copy */
    CHECK(client != NULL);
    if (client == NULL) {
        return 1;
    }
    CHECK(relink_client_send_channel_message(client, "lobby", "hi", 2, &op) == RELINK_E_NOT_LOGGED_IN);
    CHECK(op == 0);
    CHECK(relink_client_login(client) == RELINK_OK);
    CHECK(relink_client_connection_state(client) == RELINK_STATE_CONNECTING);
    for (i = 0; i < 200 && !saw_failed_attempt; ++i) {
        CHECK(relink_client_next_event(client, 100, &event) == RELINK_OK);
        if (event == NULL) {
            continue;
        }
        if (event->type == RELINK_EVENT_CONNECTION_STATE_CHANGED && event->state == RELINK_STATE_CONNECTING) {
            saw_connecting = 1;
        }
        if (event->type == RELINK_EVENT_ATTEMPT_FAILED) {
            if (event->failure_cause != RELINK_ATTEMPT_REFUSED) {
                fprintf(stderr, "attempt failed: %s: %s\n", relink_attempt_failure_name(event->failure_cause),
                        event->failure_detail);
            }
            CHECK(event->failure_cause == RELINK_ATTEMPT_REFUSED);
            CHECK(event->failure_detail != NULL);
            saw_failed_attempt = 1;
        }
        relink_event_free(event);
    }
    CHECK(saw_connecting);
    CHECK(saw_failed_attempt);
    CHECK(relink_client_status(client, &status) == RELINK_OK);
    CHECK(status != NULL && status->state == RELINK_STATE_CONNECTING && status->has_last_failure);
    relink_status_free(status);
    /* The metrics: the size first, then the whole text, which counts the refused attempt. */
    CHECK(relink_client_metrics_prometheus(client, NULL, NULL, NULL, 0, &needed) == RELINK_E_INVALID_ARGUMENT);
    CHECK(needed > 1);
    page = malloc(needed + 4096);
    CHECK(page != NULL);
    if (page != NULL) {
        CHECK(relink_client_metrics_prometheus(client, NULL, NULL, page, needed + 4096, &needed) == RELINK_OK);
        CHECK(strlen(page) + 1 == needed);
        CHECK(strstr(page, "relink_client_attempts_failed_total{cause=\"REFUSED\"} ") != NULL);
        CHECK(strstr(page, "relink_client_attempts_failed_total{cause=\"REFUSED\"} 0\n") == NULL);
        free(page);
    }
    CHECK(relink_client_logout(client) == RELINK_OK);
    for (i = 0; i < 200 && !saw_disconnected; ++i) {
        CHECK(relink_client_next_event(client, 100, &event) == RELINK_OK);
        if (event != NULL) {
            saw_disconnected = event->type == RELINK_EVENT_CONNECTION_STATE_CHANGED &&
                               event->state == RELINK_STATE_DISCONNECTED && event->reason == RELINK_REASON_LOGOUT;
            relink_event_free(event);
        }
    }
    CHECK(saw_disconnected);
    relink_client_free(client);

    if (failures != 0) {
        fprintf(stderr, "c_api_smoke: %d check(s) failed\n", failures);
        return 1;
    }
    printf("c_api_smoke: ok\n");
    return 0;
}
