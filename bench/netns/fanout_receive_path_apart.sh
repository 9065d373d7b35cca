#!/usr/bin/env bash
# bench/netns/fanout_receive_path_apart.sh — relinkd's CPU per fan-out delivery with the receivers' network path
# off relinkd's core, as it is when the members are on other hosts.
#
# On loopback the kernel runs each segment's receive path (the member's TCP, its socket, the wake-up of its reader)
# inside relinkd's send, and charges it to relinkd. This script runs `relink-bench --scenario fanout` inside a
# network namespace of its own whose loopback steers received packets to CPU 1 (Receive Packet Steering), with
# relinkd pinned to CPU 0 and relink-bench (the members) to CPU 1: relinkd is then charged with its own work and its
# sends, not with the members' receives. With RPS=0 the same pinning keeps loopback's usual accounting, for the
# control. Root, Linux, 2 or more CPUs; the namespace is removed on exit.
#
#   RELINKD=path/to/relinkd RPS=2 bash bench/netns/fanout_receive_path_apart.sh [relink-bench flags...]
#
# Environment: RELINK_BENCH (build/compare/bin/relink-bench), RELINKD (required: the relinkd to measure),
# RPS (hex CPU mask for loopback's receive queue: 2 = CPU 1, the default; 0 = off), NETNS (relink-fanout-rps).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench=${RELINK_BENCH:-$root/build/compare/bin/relink-bench}
relinkd=${RELINKD:?RELINKD=path/to/relinkd is required}
rps=${RPS:-2}
ns=${NETNS:-relink-fanout-rps}

[[ $(id -u) -eq 0 ]] || { echo "fanout_receive_path_apart: needs root (ip netns, sysfs)" >&2; exit 2; }
[[ $(nproc) -ge 2 ]] || { echo "fanout_receive_path_apart: needs 2 CPUs" >&2; exit 2; }
[[ -x $bench ]] || { echo "fanout_receive_path_apart: no relink-bench at $bench" >&2; exit 2; }
[[ -x $relinkd ]] || { echo "fanout_receive_path_apart: no relinkd at $relinkd" >&2; exit 2; }

work=$(mktemp -d)
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# relink-bench starts relinkd itself: this wrapper pins it to CPU 0.
cat > "$work/relinkd-cpu0" <<SH
#!/bin/sh
exec taskset -c 0 "$relinkd" "\$@"
SH
chmod +x "$work/relinkd-cpu0"

ip netns add "$ns"
# `ip netns exec` mounts the namespace's own /sys, where its loopback's queue is.
ip netns exec "$ns" sh -c "ip link set lo up && echo $rps > /sys/class/net/lo/queues/rx-0/rps_cpus"
echo "fanout_receive_path_apart: namespace $ns, loopback rps_cpus=$(ip netns exec "$ns" cat /sys/class/net/lo/queues/rx-0/rps_cpus), relinkd on CPU 0, relink-bench on CPU 1"
ip netns exec "$ns" taskset -c 1 "$bench" --scenario fanout --relinkd "$work/relinkd-cpu0" --relinkd-threads 1 "$@"
