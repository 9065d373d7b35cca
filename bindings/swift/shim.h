/* bindings/swift/shim.h — the one header of the CRelink module (module.modulemap): relink's C API. */
#include <relink/relink.h>
