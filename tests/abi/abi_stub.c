/* A stand-in for librelink.so, used by tests/abi/check_abi_catches_breaks.sh to show that scripts/check-abi.sh
 * fails on an ABI break: compiled (as C, with debug info) against relink/relink.h and against copies of it with a
 * deliberate change, into small shared libraries whose ABIs are compared. It defines a few functions of the C API
 * whose signatures reach the library-allocated structs (relink_event, relink_status) and the app-allocated
 * relink_attribute; their bodies do nothing. */
#include <stddef.h>

#include <relink/relink.h>

const char* relink_version(void) {
    return "0.0.0";
}

int relink_abi_version(void) {
    return RELINK_ABI_VERSION;
}

void relink_event_free(relink_event* event) {
    (void)event;
}

#ifndef RELINK_STUB_TIMEOUT_T
#define RELINK_STUB_TIMEOUT_T int
#endif
int relink_client_next_event(relink_client* client, RELINK_STUB_TIMEOUT_T timeout_ms, relink_event** event) {
    (void)client;
    (void)timeout_ms;
    *event = NULL;
    return RELINK_OK;
}

int relink_client_status(const relink_client* client, relink_status** status) {
    (void)client;
    *status = NULL;
    return RELINK_OK;
}

#ifndef ABI_STUB_WITHOUT_STATUS_FREE
void relink_status_free(relink_status* status) {
    (void)status;
}
#endif

int relink_client_set_local_user_attributes(relink_client* client, const relink_attribute* attributes, size_t count,
                                            uint64_t* op) {
    (void)client;
    (void)attributes;
    (void)count;
    (void)op;
    return RELINK_OK;
}

#ifdef ABI_STUB_WITH_ADDITION
int relink_added_in_a_later_version(relink_client* client);
int relink_added_in_a_later_version(relink_client* client) {
    return client == NULL;
}
#endif
