// capi/relink_c.cpp — the C API of include/relink/relink.h over relink::Client (docs/c-api.md).
#include "relink/relink.h"

extern "C" {

RELINK_API const char* relink_version(void) {
    return RELINK_VERSION_STRING;
}

RELINK_API int relink_abi_version(void) {
    return RELINK_ABI_VERSION;
}

}  // extern "C"
