#!/usr/bin/env bash
# bench/heaptrack/live_blocks.sh — live heap blocks and usable bytes per idle TLS session of relinkd or mosquitto
# (docs/benchmarks.md, "Where the memory goes").
#
#   bench/heaptrack/live_blocks.sh relinkd|mosquitto [SESSIONS]    # default 1000
#
# Builds live_blocks.c into a temp dir, runs the bench's idle scenario (relink-bench or peer-bench from BIN, default
# build/compare/bin) twice under LD_PRELOAD, with 1 session and with SESSIONS, reads the counters of the server
# with gdb once its established connections reach the count, and prints the difference per session: blocks, usable
# bytes, blocks of at most 64 bytes. Every process it starts is stopped by its PID. Needs cc, gdb and ss.
set -uo pipefail
what=${1:?relinkd or mosquitto}
sessions=${2:-1000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BIN:-$root/build/compare/bin}
case "$what" in
    relinkd) bench=(env "LD_PRELOAD=__SHIM__" "$bin/relink-bench") ;;
    mosquitto) bench=(env "LD_PRELOAD=__SHIM__" "$bin/peer-bench") ;;
    *)
        echo "live_blocks.sh: relinkd or mosquitto, not '$what'" >&2
        exit 2
        ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -shared -fPIC -o "$work/live_blocks.so" "$root/bench/heaptrack/live_blocks.c" || exit 1
bench=("${bench[@]/__SHIM__/$work/live_blocks.so}")

# Prints "blocks usable small" of the server once it holds $1 established connections.
counters() {
    local want=$1
    "${bench[@]}" --scenario idle --idle-sessions "$want" --idle-seconds 60 >"$work/bench.log" 2>&1 &
    local runner=$! server="" established=0
    for _ in $(seq 1 600); do # 60 s at most
        if [[ -z $server ]]; then
            for child in $(pgrep -P "$runner"); do
                [[ $(cat "/proc/$child/comm" 2>/dev/null) == "$what" ]] && server=$child
            done
        else
            established=$(ss -tnp state established 2>/dev/null | grep -c "pid=$server,")
            ((established >= want)) && break
        fi
        sleep 0.1
    done
    sleep 1 # the last logins settle
    if [[ -n $server ]] && ((established >= want)); then
        timeout 60 gdb -p "$server" -batch -ex 'print (long)live_blocks' -ex 'print (long)live_usable' \
            -ex 'print (long)small_blocks' 2>/dev/null | sed -n 's/^\$[0-9]* = //p' | tr '\n' ' '
    fi
    kill "$runner" 2>/dev/null
    [[ -n $server ]] && kill "$server" 2>/dev/null
    wait "$runner" 2>/dev/null
}

read -r -a one <<<"$(counters 1)"
read -r -a many <<<"$(counters "$sessions")"
if ((${#one[@]} != 3 || ${#many[@]} != 3)); then
    echo "live_blocks.sh: no counters read (see the bench's output in a run by hand)" >&2
    exit 1
fi
awk -v w="$what" -v n="$sessions" -v b1="${one[0]}" -v u1="${one[1]}" -v s1="${one[2]}" -v b="${many[0]}" \
    -v u="${many[1]}" -v s="${many[2]}" 'BEGIN {
    d = n - 1
    printf "%s: per idle session (%d against 1): %.1f blocks, %.0f usable bytes, %.1f blocks of <= 64 bytes\n",
        w, n, (b - b1) / d, (u - u1) / d, (s - s1) / d }'
