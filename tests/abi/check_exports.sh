#!/usr/bin/env bash
# Usage: tests/abi/check_exports.sh LIBRARY SOURCE_DIR
#
# What librelink.so shows the dynamic linker:
#   - `nm -D --defined-only` lists only relink_* symbols (the C API; everything else, the C++ inside included, is
#     hidden by -fvisibility=hidden, --exclude-libs and the version script src/capi/relink.map), and at least one;
#   - `readelf -d` shows the SONAME librelink.so.N, where N is RELINK_ABI_VERSION in include/relink/relink.h, which
#     must equal RELINK_ABI_VERSION in cmake/RelinkCApi.cmake;
#   - every function relink.h declares (RELINK_API) is exported: a declared function missing from the library is
#     an undefined reference in every app that calls it.
# Run by CTest as `c_library_exports`.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 LIBRARY SOURCE_DIR" >&2
    exit 2
fi
library=$1
source_dir=$(cd "$2" && pwd)
header=$source_dir/include/relink/relink.h
cmake_file=$source_dir/cmake/RelinkCApi.cmake
failed=0

defined=$(nm -D --defined-only "$library" | awk 'NF >= 3 { print $3 }' | sort -u)
if [[ -z "$defined" ]]; then
    echo "exports: FAILED: $library exports nothing" >&2
    failed=1
fi
foreign=$(grep -v '^relink_' <<<"$defined" || true)
if [[ -n "$foreign" ]]; then
    echo "exports: FAILED: $library exports symbols that are not the C API's:" >&2
    sed 's/^/    /' <<<"$foreign" >&2
    failed=1
fi
echo "exports: $(grep -c '^relink_' <<<"$defined" || true) relink_* symbols and nothing else"

header_abi=$(sed -n 's/^#define RELINK_ABI_VERSION \([0-9][0-9]*\).*/\1/p' "$header")
cmake_abi=$(sed -n 's/^set(RELINK_ABI_VERSION \([0-9][0-9]*\)).*/\1/p' "$cmake_file")
soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "exports: SONAME $soname; RELINK_ABI_VERSION $header_abi (relink.h), $cmake_abi (RelinkCApi.cmake)"
if [[ -z "$header_abi" || "$header_abi" != "$cmake_abi" ]]; then
    echo "exports: FAILED: RELINK_ABI_VERSION differs between $header and $cmake_file" >&2
    failed=1
fi
if [[ "$soname" != "librelink.so.$header_abi" ]]; then
    echo "exports: FAILED: the SONAME is '$soname', not librelink.so.$header_abi" >&2
    failed=1
fi

declared=$(grep -o 'RELINK_API[^(]*\<relink_[a-z0-9_]*(' "$header" | grep -o 'relink_[a-z0-9_]*($' | tr -d '(' |
    sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$defined"))
if [[ -n "$missing" ]]; then
    echo "exports: FAILED: relink.h declares functions $library does not define:" >&2
    sed 's/^/    /' <<<"$missing" >&2
    failed=1
fi
echo "exports: $(wc -l <<<"$declared") functions declared in relink.h"
exit "$failed"
