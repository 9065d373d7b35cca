#!/usr/bin/env bash
# Usage: tests/package/check_headers.sh SOURCE_DIR CXX [BOOST_INCLUDE_DIRS]
#
# The public-header contract of ../shared/style.md: every header under include/relink/ compiles on its own as
# C++17 (it includes what it uses), with -Wall -Wextra -Werror, seeing only include/ (not src/), and no public
# header includes Boost or spdlog. Run by CTest as `public_headers_cxx17`.
#
# The exception: the opt-in headers listed in boost_headers below (relink/asio.hpp, for apps that run clients on
# their own io_context) may include Boost, and are compiled with BOOST_INCLUDE_DIRS (a ;-separated list, as CMake
# gives it; default: the compiler's own search path) as -idirafter directories: system headers, searched after
# the compiler's own (-isystem /usr/include would break libstdc++'s #include_next). They still may not include
# spdlog. One that does not exist (yet) is simply not checked.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 SOURCE_DIR CXX [BOOST_INCLUDE_DIRS]" >&2
    exit 2
fi
source_dir=$(cd "$1" && pwd)
cxx=$2
include_dir="$source_dir/include"
boost_flags=()
if [[ $# -eq 3 && -n "$3" ]]; then
    IFS=';' read -r -a boost_dirs <<<"$3"
    for dir in "${boost_dirs[@]}"; do
        if [[ -n "$dir" ]]; then
            boost_flags+=(-idirafter "$dir")
        fi
    done
fi
boost_headers=(relink/asio.hpp)

# Whether $1 is one of boost_headers.
may_include_boost() {
    local h
    for h in "${boost_headers[@]}"; do
        if [[ "$1" == "$h" ]]; then
            return 0
        fi
    done
    return 1
}

mapfile -t headers < <(cd "$include_dir" && find relink -type f \( -name '*.hpp' -o -name '*.h' \) | LC_ALL=C sort)
if [[ ${#headers[@]} -eq 0 ]]; then
    echo "headers: no public headers found under $include_dir/relink" >&2
    exit 1
fi

status=0

# Only #include lines count: the headers' comments may (and do) say "no Boost, no spdlog".
plain_headers=()
opt_in_headers=()
for header in "${headers[@]}"; do
    if may_include_boost "$header"; then
        opt_in_headers+=("$header")
    else
        plain_headers+=("$header")
    fi
done
if [[ ${#plain_headers[@]} -gt 0 ]] &&
    grep -H -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](boost/|spdlog)' \
        "${plain_headers[@]/#/$include_dir/}" >&2; then
    echo "headers: a public header includes Boost or spdlog (above); keep them in src/" >&2
    status=1
fi
if [[ ${#opt_in_headers[@]} -gt 0 ]] &&
    grep -H -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]spdlog' \
        "${opt_in_headers[@]/#/$include_dir/}" >&2; then
    echo "headers: a public header includes spdlog (above); keep it in src/" >&2
    status=1
fi

for header in "${headers[@]}"; do
    # Compiled through a one-line translation unit, as a user would include it (a header compiled as the main
    # file draws "#pragma once in main file").
    extra=()
    what="alone, C++17, -Wall -Wextra -Werror"
    if may_include_boost "$header"; then
        extra=("${boost_flags[@]}")
        what="$what, with Boost"
    fi
    if printf '#include <%s>\n' "$header" |
        "$cxx" -x c++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -I "$include_dir" "${extra[@]}" -; then
        echo "headers: ok      $header ($what)"
    else
        echo "headers: FAILED  $header ($what)" >&2
        status=1
    fi
done

exit "$status"
