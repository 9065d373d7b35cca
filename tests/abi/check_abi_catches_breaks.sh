#!/usr/bin/env bash
# Usage: tests/abi/check_abi_catches_breaks.sh SOURCE_DIR [CC]
#
# Shows that scripts/check-abi.sh can fail: builds small shared libraries from tests/abi/abi_stub.c against
# include/relink/relink.h and against copies of it with one deliberate change each, takes the unchanged one's ABI as
# the baseline, and asserts the verdict for each variant:
#   pass: the same library; a new function; a field appended to relink_status (library-allocated, may grow)
#   fail: a field inserted before relink_status's first; two of its fields swapped; a field of relink_event
#         retyped; a parameter's type changed; a function removed; a field
#         appended to relink_attribute (the app allocates arrays of it); the SONAME moved without the baseline;
#         `update` of the baseline with a break under the same SONAME
#   pass: a break with the SONAME moved and the baseline regenerated together (the documented procedure).
# Run by CTest as `abi_check_catches_breaks`.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 SOURCE_DIR [CC]" >&2
    exit 2
fi
source_dir=$(cd "$1" && pwd)
cc=${2:-cc}
check_abi=$source_dir/scripts/check-abi.sh
header=$source_dir/include/relink/relink.h

work=$(mktemp -d "${TMPDIR:-/tmp}/relink-abi-breaks.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A copy of relink.h in $work/NAME/relink/, changed by the sed EXPRESSION (none for "pristine"); fails if the
# expression changed nothing (a test whose break silently vanished would prove nothing).
make_header() {
    local name=$1 expression=${2:-}
    mkdir -p "$work/$name/relink"
    if [[ -z "$expression" ]]; then
        cp "$header" "$work/$name/relink/relink.h"
        return
    fi
    sed "$expression" "$header" >"$work/$name/relink/relink.h"
    if cmp -s "$header" "$work/$name/relink/relink.h"; then
        echo "abi breaks: the change '$expression' matched nothing in relink.h: update this test" >&2
        exit 1
    fi
}

# build LIBRARY HEADER_NAME SONAME_MAJOR [CFLAGS...]: the stub as a shared library with debug info.
build() {
    local library=$1 header_name=$2 major=$3
    shift 3
    "$cc" -std=c99 -g -O0 -shared -fPIC -Wall -Wextra -Werror -I"$work/$header_name" "$@" \
        -Wl,-soname,"librelink.so.$major" -o "$work/$library.so" "$source_dir/tests/abi/abi_stub.c"
}

failures=0
# expect pass|fail DESCRIPTION COMMAND...: runs COMMAND, shows its output, and checks its verdict (fail means exit 1
# exactly: a tool error, exit 2, is not a detected break).
expect() {
    local expected=$1 description=$2
    shift 2
    local status=0
    echo "---- $description: expecting $expected"
    local output
    output=$("$@" 2>&1) || status=$?
    sed 's/^/    | /' <<<"$output"
    if [[ "$expected" == pass && $status -eq 0 ]] || [[ "$expected" == fail && $status -eq 1 ]]; then
        echo "---- ok: $description (exit $status)"
    else
        echo "---- FAILED: $description: expected $expected, got exit $status" >&2
        failures=$((failures + 1))
    fi
}

make_header pristine
make_header inserted_field 's/^typedef struct relink_status {/&\n    int inserted_first;/'
make_header appended_status_field 's/^} relink_status;$/    int appended_last;\n} relink_status;/'
make_header appended_attribute_field 's/^\(    const char\* value;\)$/\1\n    int appended_last;/'
make_header swapped_fields 's/^\(    uint64_t tls_full_handshakes;\)\(.*\)$/    uint64_t tls_resumed_handshakes;\2/; t; s/^\(    uint64_t tls_resumed_handshakes;\)\(.*\)$/    uint64_t tls_full_handshakes;\2/'
make_header retyped_event_field 's/^    uint64_t seq;  /    uint32_t seq;  /'
make_header parameter_type 's/relink_client_next_event(relink_client\* client, int timeout_ms,/relink_client_next_event(relink_client* client, int64_t timeout_ms,/'

build v1 pristine 1
build same pristine 1
build added pristine 1 -DABI_STUB_WITH_ADDITION
build appended_status_field appended_status_field 1
build inserted_field inserted_field 1
build swapped_fields swapped_fields 1
build retyped_event_field retyped_event_field 1
build parameter_type parameter_type 1 -DRELINK_STUB_TIMEOUT_T=int64_t
build removed pristine 1 -DABI_STUB_WITHOUT_STATUS_FREE
build appended_attribute_field appended_attribute_field 1
build soname_moved pristine 2
build break_on_purpose inserted_field 2

baseline=$work/librelink.abi
RELINK_ABI_HEADERS_DIR=$work/pristine/relink "$check_abi" update "$work/v1.so" "$baseline"

expect pass "the same library" "$check_abi" check "$work/same.so" "$baseline"
expect pass "a function added" "$check_abi" check "$work/added.so" "$baseline"
expect pass "a field appended to relink_status" "$check_abi" check "$work/appended_status_field.so" "$baseline"
expect fail "a field inserted before relink_status's first" "$check_abi" check "$work/inserted_field.so" "$baseline"
expect fail "relink_status's last two fields swapped (same size)" "$check_abi" check "$work/swapped_fields.so" "$baseline"
expect fail "a field of relink_event retyped (uint64_t seq -> uint32_t)" \
    "$check_abi" check "$work/retyped_event_field.so" "$baseline"
expect fail "a parameter's type changed (int -> int64_t)" "$check_abi" check "$work/parameter_type.so" "$baseline"
expect fail "a function removed" "$check_abi" check "$work/removed.so" "$baseline"
expect fail "a field appended to relink_attribute (app-allocated)" \
    "$check_abi" check "$work/appended_attribute_field.so" "$baseline"
expect fail "the SONAME moved, the baseline did not" "$check_abi" check "$work/soname_moved.so" "$baseline"
expect fail "update refuses a break under the same SONAME" "$check_abi" update "$work/inserted_field.so" "$baseline"
expect pass "the baseline still holds after the refused update" "$check_abi" check "$work/same.so" "$baseline"
expect pass "a break on purpose: SONAME moved, baseline regenerated" \
    env RELINK_ABI_HEADERS_DIR="$work/inserted_field/relink" "$check_abi" update "$work/break_on_purpose.so" "$baseline"
expect pass "... and then checked against it" "$check_abi" check "$work/break_on_purpose.so" "$baseline"

if [[ $failures -ne 0 ]]; then
    echo "abi breaks: $failures verdict(s) wrong" >&2
    exit 1
fi
echo "abi breaks: every deliberate break failed the check, every compatible change passed"
