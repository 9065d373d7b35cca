#!/usr/bin/env bash
# Usage: scripts/check-abi.sh check  LIBRARY [BASELINE]
#        scripts/check-abi.sh update LIBRARY [BASELINE] [--force]
#
# Keeps the C ABI of librelink.so with abigail-tools (docs/packaging.md, "How the ABI is kept"). BASELINE is abidw's
# XML description of the ABI, committed (default: abi/librelink.abi); LIBRARY is a librelink.so built with debug
# info (the dev preset's build/dev/lib/librelink.so).
#   check   fails (exit 1) when
#             - LIBRARY's SONAME is not the baseline's (the SONAME moved without the baseline, or back);
#             - abidiff reports any change but the compatible ones: new functions and variables, and fields added
#               at the end of the library-allocated structs relink_event and relink_status
#               (scripts/abi-strip-appended.py takes those out of the comparison, and nothing else). abidiff itself
#               sets its ABIDIFF_ABI_INCOMPATIBLE_CHANGE bit (8) only for removed symbols; a changed parameter type
#               or a moved struct field only sets ABIDIFF_ABI_CHANGE (4). Both fail here. (A suppression file with
#               has_data_member_inserted_at = end was tried first: libabigail 2.2 also let two swapped fields of
#               the struct through with it.)
#           Compatible changes pass and are printed: regenerate the baseline (update) so they are kept too.
#   update  writes LIBRARY's ABI into BASELINE. Refused when BASELINE has the same SONAME and `check` would fail:
#           breaking the ABI means bumping RELINK_ABI_VERSION (include/relink/relink.h and cmake/RelinkCApi.cmake),
#           which moves the SONAME, together with the baseline. --force overrides (before an ABI is released only).
# The baseline holds only what the public headers show (abidw --exported-interfaces-only --headers-dir
# include/relink --drop-private-types): the relink_* functions and the types they use, with the handles
# relink_client and relink_config opaque, as relink.h declares them, not the C++ the library defines them with. It
# is written without source paths or line numbers, so every checkout writes the same file. The library side is
# compared without the header filter (it matches types by source location, which the baseline does not carry).
# RELINK_ABI_HEADERS_DIR overrides the headers' directory (tests/abi/check_abi_catches_breaks.sh uses changed
# copies of relink.h).
# Exit status: 0 pass, 1 the ABI check failed, 2 usage or tool error. CTest runs `check` as `abi_baseline`;
# `make abi-baseline` builds the dev preset's library and runs `update`.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(dirname "$script_dir")
headers_dir=${RELINK_ABI_HEADERS_DIR:-$source_dir/include/relink}

usage() {
    echo "usage: $0 check|update LIBRARY [BASELINE] [--force]" >&2
    exit 2
}
force=0
args=()
for arg in "$@"; do
    if [[ "$arg" == "--force" ]]; then force=1; else args+=("$arg"); fi
done
[[ ${#args[@]} -ge 2 && ${#args[@]} -le 3 ]] || usage
mode=${args[0]}
library=${args[1]}
baseline=${args[2]:-$source_dir/abi/librelink.abi}
[[ "$mode" == check || "$mode" == update ]] || usage

for tool in abidw abidiff readelf python3; do
    command -v "$tool" >/dev/null || { echo "abi: $tool not found (apt-get install abigail-tools binutils)" >&2; exit 2; }
done
[[ -f "$library" ]] || { echo "abi: no library at $library" >&2; exit 2; }
if ! readelf -S --wide "$library" | grep -q '\.debug_info'; then
    echo "abi: $library has no debug info (abidw needs it): build it with -g (the dev preset does)" >&2
    exit 2
fi

library_soname=$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ -n "$library_soname" ]] || { echo "abi: $library has no SONAME" >&2; exit 2; }
baseline_soname=""
if [[ -f "$baseline" ]]; then
    baseline_soname=$(sed -n "s/.*<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$baseline" | head -n 1)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/relink-check-abi.XXXXXX")
trap 'rm -rf "$work"' EXIT

# LIBRARY's ABI as the baseline is written: the public headers' view, no paths.
describe_library() {
    abidw --exported-interfaces-only --headers-dir "$headers_dir" --drop-private-types --no-corpus-path \
        --no-comp-dir-path --no-show-locs --out-file "$1" "$library"
}

# The verdict: abidiff without the compatible changes. The library's description loses the fields appended to
# relink_event and relink_status beyond the baseline's (scripts/abi-strip-appended.py; any other change of those
# structs stays and is reported), and added functions are not counted (--no-added-syms). Sets `verdict_report` and
# `verdict_status` (abidiff's exit status, a bit field: 1 error, 2 usage error, 4 ABI change, 8 incompatible ABI
# change).
diff_without_compatible_changes() {
    describe_library "$work/current.abi"
    python3 "$script_dir/abi-strip-appended.py" "$baseline" "$work/current.abi" "$work/without-appends.abi"
    verdict_status=0
    verdict_report=$(abidiff --no-added-syms "$baseline" "$work/without-appends.abi") || verdict_status=$?
    if (( verdict_status & 3 )); then
        echo "$verdict_report"
        echo "abi: abidiff failed (exit $verdict_status)" >&2
        exit 2
    fi
}

# Fails unless BASELINE describes the layout of every struct relink.h defines (relink_event, relink_status,
# relink_attribute ...): a baseline whose structs were dropped as "private" (abidw's header filter missing them)
# would let any layout change pass.
require_struct_layouts() {
    local name missing=0
    for name in $(sed -n 's/^typedef struct \(relink_[a-z0-9_]*\) {.*/\1/p' "$headers_dir/relink.h"); do
        if ! grep -q "<class-decl name='$name' size-in-bits=" "$baseline"; then
            echo "abi: $baseline does not describe the layout of struct $name" >&2
            missing=1
        fi
    done
    if (( missing )); then
        echo "abi: the baseline cannot guard those structs; regenerate it (make abi-baseline) with abidw reading" >&2
        echo "abi: $headers_dir" >&2
        exit 2
    fi
}

case "$mode" in
check)
    [[ -f "$baseline" ]] || { echo "abi: no baseline at $baseline (make abi-baseline writes it)" >&2; exit 2; }
    if [[ "$library_soname" != "$baseline_soname" ]]; then
        echo "abi: FAILED: $library has SONAME $library_soname, but $baseline describes $baseline_soname." >&2
        echo "abi: the SONAME and the baseline move together: after bumping RELINK_ABI_VERSION, rebuild, run" >&2
        echo "abi: make abi-baseline and commit the new baseline with the bump." >&2
        exit 1
    fi
    require_struct_layouts
    diff_without_compatible_changes
    if (( verdict_status & 12 )); then
        echo "$verdict_report"
        echo "abi: FAILED: $library breaks the ABI of $baseline_soname (abidiff exit $verdict_status, above)." >&2
        echo "abi: keep the old ABI (add functions, add fields only at the end of relink_event / relink_status)," >&2
        echo "abi: or break it on purpose: bump RELINK_ABI_VERSION in include/relink/relink.h and" >&2
        echo "abi: cmake/RelinkCApi.cmake, rebuild, run make abi-baseline, and commit the bump with the baseline." >&2
        exit 1
    fi
    all_status=0
    all_report=$(abidiff --exported-interfaces-only "$baseline" "$library") || all_status=$?
    if (( all_status & 4 )); then
        echo "$all_report"
        echo "abi: compatible changes against $baseline (above): run make abi-baseline to keep them in the baseline"
    fi
    echo "abi: $library ($library_soname) keeps the ABI of $baseline"
    ;;
update)
    if [[ -f "$baseline" && "$library_soname" == "$baseline_soname" && $force -eq 0 ]]; then
        diff_without_compatible_changes
        if (( verdict_status & 12 )); then
            echo "$verdict_report"
            echo "abi: REFUSED: this change breaks the ABI of $library_soname (above); a new baseline for the same" >&2
            echo "abi: SONAME would hide the break. Bump RELINK_ABI_VERSION (include/relink/relink.h," >&2
            echo "abi: cmake/RelinkCApi.cmake) and rebuild first, or pass --force (before the ABI is released only)." >&2
            exit 1
        fi
    fi
    mkdir -p "$(dirname "$baseline")"
    describe_library "$baseline"
    require_struct_layouts
    echo "abi: wrote $baseline from $library ($library_soname)"
    ;;
esac
