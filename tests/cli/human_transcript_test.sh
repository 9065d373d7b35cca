#!/usr/bin/env bash
# relink-cli's output for people, against a golden transcript: two users on a real relinkd (loopback, free port),
# bob in a channel, alice joining it, sending a channel message with quotes in it and a peer message, setting and
# reading attributes, mistyping a command, asking for help, state and status, and quitting. Times are masked (the
# line's clock and "for N ms"); everything else must be exactly tests/cli/golden/{alice,bob}.txt. Each command is
# typed once the events of the one before have been printed. Every process is stopped by its PID (or ends with its
# quit); every wait is bounded. UPDATE_GOLDEN=1 rewrites the golden files from this run.
set -euo pipefail
bin="${1:?usage: human_transcript_test.sh BIN_DIR}"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/relink-cli-human.XXXXXX")
. "$(dirname "$0")/relinkd_for_test.sh"  # relinkd on a free port: $url, stopped by its PID on exit

cli() { timeout 60 "$bin/relink-cli" --url "$url" --app app --secret secret --ca "$work/ca.pem" "$@"; }

# Each user's commands go through a pipe the script holds open, and each command that starts something waits for
# the event that says it happened before the next is typed: a command typed earlier would race the events of the
# one before (relink-cli reads stdin on one thread and prints events from the client's).
wait_for() {  # wait_for FILE PATTERN: at most 20 s for a line of FILE to contain PATTERN
    for _ in $(seq 1 200); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "human_transcript_test: no '$2' in $1 within 20 s:"; cat "$1"; exit 1
}
mkfifo "$work/bob.in" "$work/alice.in"
cli --user bob <"$work/bob.in" >"$work/bob.out" 2>"$work/bob.err" &
bob=$!
exec 3>"$work/bob.in"
cli --user alice <"$work/alice.in" >"$work/alice.out" 2>"$work/alice.err" &
alice=$!
exec 4>"$work/alice.in"

echo login >&3
wait_for "$work/bob.out" 'connection CONNECTED'
echo 'join ch' >&3
wait_for "$work/bob.out" 'channel ch CONNECTED'

echo login >&4
wait_for "$work/alice.out" 'connection CONNECTED'
echo 'join ch' >&4
wait_for "$work/alice.out" 'ch: bob joined'
wait_for "$work/bob.out" 'ch: alice joined'
echo 'send ch she said "hi"' >&4
wait_for "$work/bob.out" 'ch: alice says'
echo 'msg bob a private word' >&4
wait_for "$work/bob.out" 'alice says to you'
echo 'attr mood=ok' >&4
wait_for "$work/alice.out" 'done: attr'
echo 'getattr alice' >&4
wait_for "$work/alice.out" 'done: getattr'
printf 'jion ch\njoin\nhelp\nstate\n' >&4
wait_for "$work/alice.out" 'state CONNECTED'
echo status >&4
wait_for "$work/alice.out" 'status CONNECTED'
echo 'leave ch' >&4
wait_for "$work/alice.out" 'channel ch DISCONNECTED'
wait_for "$work/bob.out" 'ch: alice left'
echo quit >&4
exec 4>&-
wait "$alice"
echo quit >&3
exec 3>&-
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
