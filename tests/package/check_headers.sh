#!/usr/bin/env bash
# Usage: tests/package/check_headers.sh SOURCE_DIR CXX
#
# The public-header contract of ../shared/style.md: every header under include/relink/ compiles on its own as
# C++17 (it includes what it uses), with -Wall -Wextra -Werror, seeing only include/ (not src/), and no public
# header includes Boost or spdlog. Run by CTest as `public_headers_cxx17`.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 SOURCE_DIR CXX" >&2
    exit 2
fi
source_dir=$(cd "$1" && pwd)
cxx=$2
include_dir="$source_dir/include"

mapfile -t headers < <(cd "$include_dir" && find relink -type f \( -name '*.hpp' -o -name '*.h' \) | LC_ALL=C sort)
if [[ ${#headers[@]} -eq 0 ]]; then
    echo "headers: no public headers found under $include_dir/relink" >&2
    exit 1
fi

status=0

# Only #include lines count: the headers' comments may (and do) say "no Boost, no spdlog".
if grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](boost/|spdlog)' \
    "${headers[@]/#/$include_dir/}" >&2; then
    echo "headers: a public header includes Boost or spdlog (above); keep them in src/" >&2
    status=1
fi

for header in "${headers[@]}"; do
    # Compiled through a one-line translation unit, as a user would include it (a header compiled as the main
    # file draws "#pragma once in main file").
    if printf '#include <%s>\n' "$header" |
        "$cxx" -x c++ -std=c++17 -fsyntax-only -Wall -Wextra -Werror -I "$include_dir" -; then
        echo "headers: ok      $header"
    else
        echo "headers: FAILED  $header (alone, C++17, -Wall -Wextra -Werror)" >&2
        status=1
    fi
done

exit "$status"
