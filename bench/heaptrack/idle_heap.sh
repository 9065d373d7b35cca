#!/usr/bin/env bash
# bench/heaptrack/idle_heap.sh — the live heap per idle TLS session of relinkd or mosquitto, by allocation stack
# (docs/benchmarks.md, "Where the memory goes").
#
#   bench/heaptrack/idle_heap.sh relinkd OUT_DIR [RELINKD]   # relink-bench --scenario idle --idle-sessions 1000
#   bench/heaptrack/idle_heap.sh mosquitto OUT_DIR           # peer-bench --scenario idle --idle-sessions 1000
#   python3 bench/heaptrack/breakdown.py OUT_DIR [OUT_DIR...] # the tables, one column per run
#
# Runs the bench's idle scenario, attaches heaptrack to the server it starts as soon as the server listens (the bench
# stopped meanwhile, so that every connection is made under heaptrack), waits until the server's established
# connections stop growing (at least SESSIONS), saves its memory map, kills it with SIGKILL (so that every
# allocation still live shows as "leaked") and writes heaptrack's leaked bytes by stack (OUT_DIR/leaked.collapsed)
# and the session count (OUT_DIR/count.txt). The bench then fails, as its server died; that is expected. Environment: BIN (the build's bin directory, default build/compare/bin), SESSIONS (1000).
# Needs heaptrack, gdb (heaptrack -p) and ss; run it as the user that runs the bench.
set -uo pipefail
what=${1:?relinkd or mosquitto}
out=${2:?an output directory}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BIN:-$root/build/compare/bin}
sessions=${SESSIONS:-1000}
mkdir -p "$out"
rm -f "$out"/heap.* "$out"/leaked.collapsed "$out"/count.txt "$out"/maps.txt

case "$what" in
    relinkd)
        relinkd=${3:-$bin/relinkd}
        "$bin/relink-bench" --scenario idle --idle-sessions "$sessions" --idle-seconds 60 --relinkd "$relinkd" \
            >"$out/bench.log" 2>&1 &
        ;;
    mosquitto)
        "$bin/peer-bench" --scenario idle --idle-sessions "$sessions" --idle-seconds 60 >"$out/bench.log" 2>&1 &
        ;;
    *)
        echo "idle_heap.sh: relinkd or mosquitto, not '$what'" >&2
        exit 2
        ;;
esac
bench=$!

listening() { ss -ltnp 2>/dev/null | grep -q "pid=$1,"; }
established() { ss -tnp state established 2>/dev/null | grep -c "pid=$1,"; }

server=""
for _ in $(seq 1 600); do  # 30 s at most
    for child in $(pgrep -P "$bench"); do
        if [[ $(cat "/proc/$child/comm" 2>/dev/null) == "$what" ]] && listening "$child"; then
            server=$child
        fi
    done
    [[ -n $server ]] && break
    sleep 0.05
done
if [[ -z $server ]]; then
    echo "idle_heap.sh: no listening $what under the bench (see $out/bench.log)" >&2
    kill "$bench" 2>/dev/null
    exit 1
fi
# The bench waits (SIGSTOP) while heaptrack attaches, so that every connection is made under it.
kill -STOP "$bench"
heaptrack -o "$out/heap" -p "$server" >"$out/heaptrack.log" 2>&1 &
tracer=$!
for _ in $(seq 1 600); do  # 60 s at most
    grep -q "injection finished" "$out/heaptrack.log" 2>/dev/null && break
    sleep 0.1
done
kill -CONT "$bench"

previous=-1
steady=0
count=0
for _ in $(seq 1 240); do  # 2 minutes at most
    count=$(established "$server")
    if [[ $count -ge $sessions && $count -eq $previous ]]; then
        steady=$((steady + 1))
    else
        steady=0
    fi
    previous=$count
    [[ $steady -ge 6 ]] && break
    sleep 0.5
done
echo "established $count" >"$out/count.txt"
cp "/proc/$server/maps" "$out/maps.txt"
kill -9 "$server"
wait "$tracer"
wait "$bench"
data=$(ls "$out"/heap*.zst "$out"/heap*.gz 2>/dev/null | head -1)
if [[ -z $data ]]; then
    echo "idle_heap.sh: heaptrack wrote no data (see $out/heaptrack.log)" >&2
    exit 1
fi
heaptrack_print -f "$data" --flamegraph-cost-type leaked -F "$out/leaked.collapsed" >/dev/null 2>&1
echo "idle_heap.sh: $what, $count sessions: $out/leaked.collapsed"
