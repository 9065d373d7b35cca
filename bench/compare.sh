#!/usr/bin/env bash
# bench/compare.sh — the one command behind docs/performance.md: builds a release tree with relink-bench and
# peer-bench (Paho MQTT C++ + mosquitto, bench/peer/), runs both stacks in turn on this machine for the shared
# scenarios, then `relink-bench compare` and `relink-bench chart`, and writes everything into a directory it prints.
#
#   bash bench/compare.sh            # the default sizes (minutes)
#   FULL=1 bash bench/compare.sh     # the sizes of docs/performance.md: idle 1k and 10k, storm 1k and 5k
#
# Environment: BUILD_DIR (build/compare), OUT_DIR (build/compare-results/DATE), JOBS (2),
# SCENARIOS (the shared ones: restart outage detect dup_login backlog idle fanout), RELINK_ONLY (connect storm quality handover
# overload: scenarios peer-bench does not have), RELINK_ARGS / PEER_ARGS (more flags for one side).
# BASELINE_RELINKD=path/to/an/older/relinkd: also runs BASELINE_SCENARIOS (overload fanout idle) against
# that relinkd with this build's relink-bench and clients (baseline.json), and compares this build's figures with
# it (baseline-compare.txt): the before/after of a server change in one sitting.
# If peer-bench cannot be built (its packages missing, bench/peer not there yet), relink-bench still runs and the
# script says so; the comparison is then skipped. Exit status: 0 when everything ran, 1 otherwise.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build/compare}
out=${OUT_DIR:-$root/build/compare-results/$(date +%Y%m%d-%H%M%S)}
jobs=${JOBS:-2}
shared=${SCENARIOS:-"restart outage detect dup_login backlog idle fanout"}
relink_only=${RELINK_ONLY:-"connect storm quality handover overload"}
baseline_relinkd=${BASELINE_RELINKD:-}
baseline_scenarios=${BASELINE_SCENARIOS:-"overload fanout idle"}
status=0

mkdir -p "$out"
echo "compare: results go to $out"

# Sizes shared by both tools (same flag names); FULL=1 adds the large runs of docs/performance.md.
common_args=()
relink_args=()
if [[ -n "${FULL:-}" ]]; then
    # shellcheck disable=SC2054  # the commas are the tools' list syntax, not array separators
    common_args+=(--idle-sessions 1000,10000)
    # shellcheck disable=SC2054
    relink_args+=(--storm-clients 1000,5000 --overload-clients 10000)
fi
# shellcheck disable=SC2206  # word splitting of the user's extra flags is intended
relink_args+=(${RELINK_ARGS:-})
# shellcheck disable=SC2206
peer_args=(${PEER_ARGS:-})

# 1. The peer's packages (peer-bench's own script; installs only what is missing).
peer_wanted=ON
if [[ -f "$root/bench/peer/setup.sh" ]]; then
    if ! bash "$root/bench/peer/setup.sh"; then
        echo "compare: bench/peer/setup.sh failed: peer-bench will not be built" >&2
        peer_wanted=OFF
    fi
else
    echo "compare: bench/peer/setup.sh not found: peer-bench will not be built" >&2
    peer_wanted=OFF
fi

# 2. A release tree with both tools.
configure() {
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELINK_BUILD_SERVER=ON \
        -DRELINK_BUILD_BENCHMARKS=ON -DRELINK_BUILD_TESTS=OFF -DRELINK_BUILD_EXAMPLES=OFF \
        -DRELINK_BUILD_PEER_BENCH="$1" >"$out/configure.log" 2>&1
}
if ! configure "$peer_wanted"; then
    if [[ "$peer_wanted" == ON ]]; then
        echo "compare: configuring with peer-bench failed (see $out/configure.log); trying without it" >&2
        peer_wanted=OFF
        configure OFF || { echo "compare: configure failed, see $out/configure.log" >&2; exit 1; }
    else
        echo "compare: configure failed, see $out/configure.log" >&2
        exit 1
    fi
fi
if ! cmake --build "$build" -j "$jobs" --target relinkd relink-bench >"$out/build.log" 2>&1; then
    echo "compare: building relink-bench failed, see $out/build.log" >&2
    exit 1
fi
peer_bench=""
if [[ "$peer_wanted" == ON ]]; then
    if cmake --build "$build" -j "$jobs" --target peer-bench >>"$out/build.log" 2>&1; then
        peer_bench="$build/bin/peer-bench"
        [[ -x "$peer_bench" ]] || peer_bench=$(find "$build" -name peer-bench -type f -perm -u+x | head -1)
    else
        echo "compare: building peer-bench failed (see $out/build.log): relink only" >&2
    fi
fi
bench="$build/bin/relink-bench"

read -r -a shared_list <<<"$shared"
read -r -a relink_only_list <<<"$relink_only"
relink_scenarios=()
peer_scenarios=()
for s in "${shared_list[@]}"; do
    relink_scenarios+=(--scenario "$s")
    peer_scenarios+=(--scenario "$s")
done
for s in "${relink_only_list[@]}"; do relink_scenarios+=(--scenario "$s"); done

# 3. relink, then the peer, one after the other on the same machine (never at the same time).
echo "compare: load average before relink: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" "${relink_scenarios[@]}" "${common_args[@]}" "${relink_args[@]}" \
    --json "$out/relink.json" 2>&1 | tee "$out/relink.txt"
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "compare: relink-bench reported an error (see relink.txt)" >&2; status=1; }

if [[ -n "$peer_bench" ]]; then
    echo "compare: load average before peer: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$peer_bench" "${peer_scenarios[@]}" "${common_args[@]}" "${peer_args[@]}" \
        --json "$out/peer.json" 2>&1 | tee "$out/peer.txt"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "compare: peer-bench reported an error (see peer.txt)" >&2; status=1; }
else
    echo "compare: peer-bench is not built (bench/peer/ missing or its packages not installed):" \
         "no peer results, no comparison. relink's own results are in $out/relink.json." >&2
    status=1
fi

# 3b. The same scenarios against an older relinkd, when asked: the clients and the tool are this build's.
if [[ -n "$baseline_relinkd" ]]; then
    read -r -a baseline_list <<<"$baseline_scenarios"
    baseline_args=()
    for s in "${baseline_list[@]}"; do baseline_args+=(--scenario "$s"); done
    echo "compare: load average before the baseline ($baseline_relinkd): $(cut -d' ' -f1-3 /proc/loadavg)"
    "$bench" --relinkd "$baseline_relinkd" "${baseline_args[@]}" "${common_args[@]}" "${relink_args[@]}" \
        --json "$out/baseline.json" 2>&1 | tee "$out/baseline.txt"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "compare: the baseline run reported an error (see baseline.txt)" >&2; status=1; }
    if [[ -s "$out/relink.json" && -s "$out/baseline.json" ]]; then
        "$bench" compare "$out/relink.json" "$out/baseline.json" | tee "$out/baseline-compare.txt"
    fi
fi

# 4. The comparison and the charts.
if [[ -s "$out/relink.json" && -s "$out/peer.json" ]]; then
    "$bench" compare "$out/relink.json" "$out/peer.json" | tee "$out/compare.txt"
    "$bench" chart "$out/relink.json" "$out/peer.json" "$out/charts"
elif [[ -s "$out/relink.json" ]]; then
    "$bench" chart "$out/relink.json" "$out/charts"
fi
echo "compare: done; results in $out"
exit $status
