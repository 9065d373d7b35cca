#!/usr/bin/env bash
# Recovery keys end to end (docs/reliability.md, "Recovery keys"): real relink-cli processes against a real relinkd
# on loopback, with client timings at 0.3 (a 9 s presence timeout and backfill window). bob and alice are in a
# channel; alice takes a recovery key and is SIGKILLed; bob sends a channel message and a peer message while she is
# dead; a new relink-cli process logs in as alice with --recover KEY: CONNECTED, a continuity report that says
# recovered and resumed with both messages backfilled, and bob sees no member_left / member_joined for her. The same
# key again (a replay, while the recovered process holds the session) is refused RECOVERY_USED, and under another
# user's login RECOVERY_WRONG_USER. Every process is stopped by its PID; every wait is bounded.
set -euo pipefail
bin="${1:?usage: recovery_test.sh BIN_DIR}"
work=$(mktemp -d "${TMPDIR:-/tmp}/relink-cli-recovery.XXXXXX")
. "$(dirname "$0")/relinkd_for_test.sh"  # relinkd on a free port: $url, stopped by its PID on exit

pids=()
stop_all() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_relinkd_and_clean
}
trap stop_all EXIT

# relink-cli itself, started as a simple command (not behind `timeout` or a shell function): each $! is
# relink-cli's own PID, for the SIGKILL. Every wait below is bounded, and stop_all stops whatever is left.
# The client is BIN_DIR/relink-cli, or the command in RELINK_CLI_COMMAND (split on spaces), such as
# "python3 -m relink.cli" for the Python binding's driver: either way $! is the process that holds the session.
if [ -n "${RELINK_CLI_COMMAND:-}" ]; then
    read -ra relink_cli <<<"$RELINK_CLI_COMMAND"
else
    relink_cli=("$bin/relink-cli")
fi
cli=("${relink_cli[@]}" --url "$url" --app app --secret secret --ca "$work/ca.pem" --json --time-scale 0.3)
wait_for() {  # wait_for FILE PATTERN: at most 20 s for a line of FILE to contain PATTERN
    for _ in $(seq 1 200); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "recovery_test: no '$2' in $1 within 20 s:"; for f in "$work"/*.out; do echo "--- $f"; cat "$f"; done; exit 1
}
wait_pid() {  # wait_pid PID: at most 20 s for it to exit
    for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }; sleep 0.1; done
    echo "recovery_test: process $1 did not exit within 20 s"; exit 1
}

mkfifo "$work/bob.in" "$work/alice.in" "$work/alice2.in"
"${cli[@]}" --user bob <"$work/bob.in" >"$work/bob.out" 2>"$work/bob.err" &
bob=$!
pids+=("$bob")
exec 3>"$work/bob.in"
"${cli[@]}" --user alice <"$work/alice.in" >"$work/alice.out" 2>"$work/alice.err" &
alice=$!
pids+=("$alice")
exec 4>"$work/alice.in"

echo login >&3
wait_for "$work/bob.out" '"state":"CONNECTED"'
echo 'join ch' >&3
wait_for "$work/bob.out" '"reason":"JOINED"'
echo login >&4
wait_for "$work/alice.out" '"state":"CONNECTED"'
echo 'join ch' >&4
wait_for "$work/alice.out" '"reason":"JOINED"'
wait_for "$work/bob.out" '"event":"member_joined","channel":"ch","user":"alice"'
echo 'send ch before' >&3
wait_for "$work/alice.out" '"text":"before"'

# alice takes a key (as an app going to the background would) and dies without a word.
echo recovery-key >&4
wait_for "$work/alice.out" '"event":"recovery_key"'
key=$(sed -n 's/.*"event":"recovery_key","key":"\([^"]*\)".*/\1/p' "$work/alice.out")
[ -n "$key" ] || { echo "recovery_test: no key in alice.out"; cat "$work/alice.out"; exit 1; }
{
    kill -KILL "$alice"
    wait "$alice" || true
} 2>/dev/null  # the shell's "Killed" notice is expected
exec 4>&-

echo 'send ch while you were dead' >&3
echo 'msg alice a word for you' >&3
wait_for "$work/bob.out" '"command":"send ch while you were dead","ok":true'
wait_for "$work/bob.out" '"command":"msg alice a word for you","ok":true'

# A new process recovers the session with the stored key.
"${cli[@]}" --user alice --recover "$key" <"$work/alice2.in" >"$work/alice2.out" 2>"$work/alice2.err" &
alice2=$!
pids+=("$alice2")
exec 5>"$work/alice2.in"
echo login >&5
wait_for "$work/alice2.out" '"event":"continuity"'
wait_for "$work/alice2.out" '"text":"a word for you"'
wait_for "$work/alice2.out" '"text":"while you were dead"'

# The same key again, while alice2 holds the session: a replay. Then under carol's login: another user's key.
printf 'login\nsleep 1500\nquit\n' | "${cli[@]}" --user alice --recover "$key" >"$work/replay.out" 2>"$work/replay.err" &
replay=$!
pids+=("$replay")
wait_pid "$replay"
printf 'login\nsleep 1500\nquit\n' | "${cli[@]}" --user carol --recover "$key" >"$work/carol.out" 2>"$work/carol.err" &
carol=$!
pids+=("$carol")
wait_pid "$carol"

echo 'send ch still here' >&5
wait_for "$work/bob.out" '"text":"still here"'
echo quit >&5
wait_pid "$alice2"
wait_for "$work/bob.out" '"event":"member_left","channel":"ch","user":"alice","cause":"QUIT"'
echo quit >&3
wait_pid "$bob"
exec 3>&- 5>&-

failures=0
expect() {  # expect FILE PATTERN: some line of FILE matches the extended regex PATTERN
    if ! grep -Eq -- "$2" "$1"; then
        echo "recovery_test: no line of $(basename "$1") matches: $2"
        failures=$((failures + 1))
    fi
}
count() { grep -Ec -- "$2" "$1" || true; }
expect "$work/alice2.out" '"event":"connection_state_changed","state":"CONNECTED","reason":"LOGIN_SUCCESS"'
expect "$work/alice2.out" '"event":"channel_state_changed","channel":"ch","state":"CONNECTED","reason":"JOINED"'
expect "$work/alice2.out" '"event":"continuity","outage_ms":0,"resumed":true,"backfilled":2,"dropped":0,"server_restarted":false,"recovered":true'
expect "$work/alice2.out" '"event":"message","from":"bob","channel":"ch","text":"while you were dead","backfilled":true'
expect "$work/alice2.out" '"event":"message","from":"bob","text":"a word for you","backfilled":true'
if grep -q '"text":"before"' "$work/alice2.out"; then
    echo "recovery_test: alice2 got again a message alice had seen before she took the key"
    failures=$((failures + 1))
fi
# bob saw alice join once and leave once, at her quit: her death and recovery were silent.
if [ "$(count "$work/bob.out" '"event":"member_joined","channel":"ch","user":"alice"')" != 1 ] ||
    [ "$(count "$work/bob.out" '"event":"member_left","channel":"ch","user":"alice"')" != 1 ]; then
    echo "recovery_test: bob saw alice come and go other than once each:"; grep '"user":"alice"' "$work/bob.out"
    failures=$((failures + 1))
fi
expect "$work/replay.out" '"event":"attempt_failed","attempt":1,"cause":"SERVER","detail":"the server refused the login: RECOVERY_USED"'
expect "$work/replay.out" '"event":"connection_state_changed","state":"DISCONNECTED","reason":"RECOVERY_REFUSED"'
expect "$work/carol.out" '"detail":"the server refused the login: RECOVERY_WRONG_USER"'
expect "$work/carol.out" '"event":"connection_state_changed","state":"DISCONNECTED","reason":"RECOVERY_REFUSED"'
if [ "$failures" -ne 0 ]; then
    for f in bob alice alice2 replay carol; do echo "--- $f.out"; cat "$work/$f.out"; done
    exit 1
fi
echo "recovery_test: a SIGKILLed relink-cli's session recovered silently with backfill; replay and another user's key refused"
