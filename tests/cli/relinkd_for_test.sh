# Sourced by the relink-cli scripts of tests/cli: starts "$bin/relinkd" on a free loopback port with app app:secret
# and a self-signed certificate in "$work/ca.pem", sets $url and $relinkd_pid, and stops relinkd by its PID (and
# removes "$work") on exit. Needs $bin and $work set; waits at most 10 s for the listening line.
relinkd_pid=""
stop_relinkd_and_clean() {
    [ -n "$relinkd_pid" ] && kill "$relinkd_pid" 2>/dev/null && wait "$relinkd_pid" 2>/dev/null
    rm -rf "$work"
}
trap stop_relinkd_and_clean EXIT

"$bin/relinkd" --listen 127.0.0.1:0 --write-ca "$work/ca.pem" --app app:secret >"$work/relinkd.out" 2>"$work/relinkd.err" &
relinkd_pid=$!
for _ in $(seq 1 100); do [ -s "$work/relinkd.out" ] && break; sleep 0.1; done
url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$work/relinkd.out")
[ -n "$url" ] || { echo "$(basename "$0"): relinkd did not print its listening line"; cat "$work/relinkd.err"; exit 1; }
