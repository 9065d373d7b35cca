#!/usr/bin/env bash
# Usage: tests/capi/check_c_header.sh SOURCE_DIR CC CXX
#
# include/relink/relink.h stands alone for every language that consumes it: it compiles by itself as C99 (and C11)
# and as C++ (C++11 and C++17) with -Wall -Wextra -pedantic -Werror, seeing only include/; -std=c99 rather than
# gnu99, so no GNU extension slips in. Run by CTest as `c_header_alone`.
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 SOURCE_DIR CC CXX" >&2
    exit 2
fi
include_dir="$(cd "$1" && pwd)/include"
cc=$2
cxx=$3
flags=(-Wall -Wextra -pedantic -Werror -fsyntax-only -I "$include_dir")
status=0

check() {
    local what=$1
    shift
    if printf '#include <relink/relink.h>\n' | "$@" "${flags[@]}" -; then
        echo "c-header: ok      relink.h ($what)"
    else
        echo "c-header: FAILED  relink.h ($what)" >&2
        status=1
    fi
}

check "C99" "$cc" -x c -std=c99
check "C11" "$cc" -x c -std=c11
check "C++11" "$cxx" -x c++ -std=c++11
check "C++17" "$cxx" -x c++ -std=c++17

exit "$status"
