#!/usr/bin/env bash
# tests/fuzz/run_fuzzer.sh — runs one libFuzzer target for a bounded time: the CTest entry of each target in the
# `fuzz` preset (cmake/RelinkFuzz.cmake; docs/fuzzing.md).
#
#   run_fuzzer.sh FUZZER NAME SECONDS WORK_DIR
#
# The committed seed corpus tests/fuzz/corpus/NAME/ and the regressions tests/fuzz/regressions/NAME/ are read,
# never written: libFuzzer writes what it discovers into the first directory it is given, which here is a fresh
# WORK_DIR/NAME/corpus/. A failing input (crash, property violation, sanitizer report, leak, timeout, out of
# memory) is saved under WORK_DIR/NAME/artifacts/ and fails the test, with the commands to reproduce it and to keep
# it as a regression. RELINK_FUZZ_SECONDS overrides SECONDS (CTest's own timeout still applies).
set -euo pipefail

fuzzer="${1:?usage: run_fuzzer.sh FUZZER NAME SECONDS WORK_DIR}"
name="${2:?}"
seconds="${RELINK_FUZZ_SECONDS:-${3:?}}"
work="${4:?}/$name"
here="$(cd "$(dirname "$0")" && pwd)"

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"

dirs=("$work/corpus" "$here/corpus/$name")
[ -d "$here/regressions/$name" ] && dirs+=("$here/regressions/$name")
options=(
    -max_total_time="$seconds"  # the time budget
    -timeout=10                 # one input slower than 10 s is a failure (a hang)
    -rss_limit_mb=2048          # more is a failure (a memory bomb)
    -max_len=8192
    -print_final_stats=1
    -artifact_prefix="$work/artifacts/"
)
[ -f "$here/dict/$name.dict" ] && options+=(-dict="$here/dict/$name.dict")

echo "fuzz: $name for ${seconds}s: $fuzzer ${options[*]} ${dirs[*]}"
status=0
# The outer bound: libFuzzer stops by itself after max_total_time (plus the last input's -timeout).
timeout --kill-after=10 $((seconds + 120)) "$fuzzer" "${options[@]}" "${dirs[@]}" >"$work/log" 2>&1 || status=$?
tail -n 60 "$work/log"

if [ "$status" -ne 0 ]; then
    echo
    echo "fuzz: $name FAILED (exit status $status); the full log is $work/log"
    for artifact in "$work"/artifacts/*; do
        [ -e "$artifact" ] || continue
        echo "fuzz:   failing input: $artifact"
        echo "fuzz:   reproduce:     $fuzzer $artifact"
        echo "fuzz:   keep it:       mkdir -p $here/regressions/$name && cp $artifact $here/regressions/$name/NAME  (then fix; docs/fuzzing.md)"
    done
    exit 1
fi
echo "fuzz: $name passed: no failure in ${seconds}s ($(find "$work/corpus" -type f | wc -l) new corpus inputs)"
