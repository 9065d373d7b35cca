#!/usr/bin/env bash
# relink-cli's output for people, against a golden transcript: two users on a real relinkd (loopback, free port),
# bob in a channel, alice joining it, sending a channel message with quotes in it and a peer message, setting and
# reading attributes, mistyping a command, asking for help, state and status, and quitting. Times are masked (the
# line's clock and "for N ms"); everything else must be exactly tests/cli/golden/{alice,bob}.txt. The commands are
# paced by generous sleeps so that each one's events are printed before the next command is read. Every process is
# stopped by its PID; every wait is bounded. UPDATE_GOLDEN=1 rewrites the golden files from this run.
set -euo pipefail
bin="${1:?usage: human_transcript_test.sh BIN_DIR}"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/relink-cli-human.XXXXXX")
. "$(dirname "$0")/relinkd_for_test.sh"  # relinkd on a free port: $url, stopped by its PID on exit

cli() { timeout 60 "$bin/relink-cli" --url "$url" --app app --secret secret --ca "$work/ca.pem" "$@"; }

printf 'login\nsleep 500\njoin ch\nsleep 8000\nquit\n' | cli --user bob >"$work/bob.out" 2>"$work/bob.err" &
bob=$!
for _ in $(seq 1 100); do grep -q 'channel ch CONNECTED' "$work/bob.out" 2>/dev/null && break; sleep 0.1; done
{
    printf 'login\nsleep 700\njoin ch\nsleep 700\n'
    printf 'send ch she said "hi"\nsleep 700\nmsg bob a private word\nsleep 700\n'
    printf 'attr mood=ok\nsleep 700\ngetattr alice\nsleep 700\n'
    printf 'jion ch\njoin\nhelp\nstate\nstatus\nleave ch\nsleep 700\nquit\n'
} | cli --user alice >"$work/alice.out" 2>"$work/alice.err"
wait "$bob"

# The quality reports (the first round trip of each connection ...) come with the heartbeats, at times the pacing
# does not fix: they are left out (tests/cli/cli_test.sh checks them).
mask() { sed -E '/^ *[0-9]+\.[0-9]{3} s  quality /d; s/^ *[0-9]+\.[0-9]{3} s  /T s  /; s/ for [0-9]+ ms/ for N ms/' "$1"; }
failures=0
for who in alice bob; do
    mask "$work/$who.out" >"$work/$who.masked"
    if [ "${UPDATE_GOLDEN:-}" = 1 ]; then
        cp "$work/$who.masked" "$here/golden/$who.txt"
    elif ! diff -u "$here/golden/$who.txt" "$work/$who.masked"; then
        echo "human_transcript_test: $who's output differs from tests/cli/golden/$who.txt (above); stderr:"
        cat "$work/$who.err"
        failures=$((failures + 1))
    fi
done
[ "$failures" -eq 0 ] && echo "human_transcript_test: both transcripts as golden"
exit "$failures"
