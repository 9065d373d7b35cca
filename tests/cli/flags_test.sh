#!/usr/bin/env bash
# The command-line rules every relink executable that reads its flags through src/cli/command_line.hpp follows
# (docs/cli.md): `--version` prints "NAME VERSION" and exits 0; `--help` prints a usage and exits 0;
# `--name=value` and `--name value` are the same; an unknown flag is exactly one line on stderr and exit status 2.
# One row per executable: its name and the flags that make a run of it valid (one value flag among them is
# repeated in both spellings). Runs finish at once (stdin is empty, or the flags ask for nothing long): the
# benchmarks' rows are real runs at the smallest sizes, each against the relinkd or mosquitto child it starts itself,
# a second or two.
#
# Usage: flags_test.sh BIN_DIR VERSION [NOT_BUILT...] — the executables named after VERSION are not built in this
# tree (the benchmarks are off under the sanitizers, the demo without the examples, peer-bench is built only with
# RELINK_BUILD_PEER_BENCH): their
# rows are skipped, and said so. Every other row's executable must be in BIN_DIR.
set -euo pipefail
bin="${1:?usage: flags_test.sh BIN_DIR VERSION [NOT_BUILT...]}"
version="${2:?usage: flags_test.sh BIN_DIR VERSION [NOT_BUILT...]}"
not_built=" ${*:3} "
work=$(mktemp -d "${TMPDIR:-/tmp}/relink-flags-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# name | a valid command line as "--flag value" pairs (the first pair is also tried as --flag=value)
rows=(
    "relink-cli|--time-scale 0.5 --url wss://127.0.0.1:1/ --app app --user dave --secret s"
    "relink-token|--ttl 60 --app app --secret s --user alice"
    "relinkd|--listen 127.0.0.1:0 --app app:s --check-config"
    "relink-demo|--stretch 2 --list"
    "relink-bench|--scenario connect --clients 1 --concurrency 1 --channel-size 0"
    "peer-bench|--scenario fanout --members 1 --messages 1 --rate 1000"
    "relinkd-bench|--sessions 1 --idle-seconds 0"
    "relink-capi-bench|--messages 10 --round-trips 10 --repeat 1 --api cpp"
)

failures=0
checked=0
fail() { echo "flags_test: $*"; failures=$((failures + 1)); }
for row in "${rows[@]}"; do
    name=${row%%|*}
    if [[ "$not_built" == *" $name "* ]]; then
        echo "flags_test: $name is not built in this tree: skipped"
        continue
    fi
    checked=$((checked + 1))
    read -ra valid <<<"${row#*|}"
    exe="$bin/$name"
    [ -x "$exe" ] || { fail "$name: not built at $exe"; continue; }

    out=$(timeout 10 "$exe" --version </dev/null 2>"$work/err") || fail "$name --version: exit $?"
    [ "$out" = "$name $version" ] || fail "$name --version printed '$out', not '$name $version'"

    timeout 10 "$exe" --help </dev/null >"$work/help" 2>"$work/err" || fail "$name --help: exit $?"
    grep -q "^Usage: $name" "$work/help" || fail "$name --help: no 'Usage: $name' line"
    for flag in "${valid[@]}"; do
        case "$flag" in --*) grep -q -- "$flag" "$work/help" || fail "$name --help does not name $flag" ;; esac
    done

    for spelling in spaced joined; do
        args=("${valid[@]}")
        [ "$spelling" = joined ] && args=("${valid[0]}=${valid[1]}" "${valid[@]:2}")
        status=0
        timeout 20 "$exe" "${args[@]}" </dev/null >"$work/out" 2>"$work/err" || status=$?
        [ "$status" -eq 0 ] || { fail "$name ${args[*]}: exit $status"; cat "$work/err"; }
    done

    status=0
    timeout 10 "$exe" "${valid[@]}" --no-such-flag </dev/null >"$work/out" 2>"$work/err" || status=$?
    [ "$status" -eq 2 ] || fail "$name --no-such-flag: exit $status, not 2"
    [ "$(wc -l <"$work/err")" -eq 1 ] || { fail "$name --no-such-flag: not one line on stderr:"; cat "$work/err"; }
    grep -q -- "--no-such-flag" "$work/err" || fail "$name --no-such-flag: the line does not name the flag"
done
# relink-demo's --list names the scenarios --only chose, and refuses a name it does not know.
if [[ "$not_built" != *" relink-demo "* ]]; then
    first=$(timeout 10 "$bin/relink-demo" --list </dev/null | head -1 | cut -d' ' -f1)
    out=$(timeout 10 "$bin/relink-demo" --only "$first" --list </dev/null) || fail "relink-demo --only $first --list: exit $?"
    [ "$(wc -l <<<"$out")" -eq 1 ] && [[ "$out" == "$first "* ]] || fail "relink-demo --only $first --list printed '$out'"
    status=0
    timeout 10 "$bin/relink-demo" --only no-such-scenario --list </dev/null >"$work/out" 2>"$work/err" || status=$?
    [ "$status" -eq 2 ] || fail "relink-demo --only no-such-scenario --list: exit $status, not 2"
    grep -q "no-such-scenario" "$work/err" || fail "relink-demo --only no-such-scenario: the error does not name it"
fi
[ "$failures" -eq 0 ] && echo "flags_test: $checked executable(s) follow the rules"
exit "$failures"
