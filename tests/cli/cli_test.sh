#!/usr/bin/env bash
# relink-cli driven through pipes against a real relinkd on loopback (../shared/spec/cli.md): two users log in,
# join a channel, exchange a channel and a peer message, set and read attributes, and quit; every JSON line is
# checked for the events and fields the contract names. bob joins right after login, without waiting for it. A third
# client logs in to a port where nothing listens: it prints an attempt_failed per attempt (cause REFUSED), a status
# that names the failure, and the DISCONNECTED LOGIN_TIMEOUT. Configurations the client cannot use exit 2 with one
# line on stderr. Every process is stopped by its PID; every wait is bounded.
#
# The client under test is BIN_DIR/relink-cli, or the command in RELINK_CLI_COMMAND (split on spaces), e.g.
# RELINK_CLI_COMMAND="python3 -m relink.cli" for the Python binding's driver, which speaks the same contract: the
# checks are the same for both.
set -euo pipefail
bin="${1:?usage: cli_test.sh BIN_DIR}"
if [ -n "${RELINK_CLI_COMMAND:-}" ]; then
    read -ra relink_cli <<<"$RELINK_CLI_COMMAND"
else
    relink_cli=("$bin/relink-cli")
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/relink-cli-test.XXXXXX")
. "$(dirname "$0")/relinkd_for_test.sh"  # relinkd on a free port: $url, stopped by its PID on exit

cli() { timeout 30 "${relink_cli[@]}" --url "$url" --app app --secret secret --ca "$work/ca.pem" --json "$@"; }

printf 'login\njoin ch\nsleep 5000\nstate\nstatus\nquality\nquit\n' | cli --user bob >"$work/bob.out" 2>"$work/bob.err" &
bob=$!
# alice starts once bob is in the channel (an event in bob's output), so that bob sees all she does.
for _ in $(seq 1 100); do grep -q '"reason":"JOINED"' "$work/bob.out" 2>/dev/null && break; sleep 0.1; done
printf 'login\nsleep 400\njoin ch\nsleep 400\nsend ch hello bob\nmsg bob a private word\nattr mood=ok\ngetattr alice\nbogus command\nsleep 500\nquit\n' |
    cli --user alice >"$work/alice.out" 2>"$work/alice.err"
wait "$bob"
# Port 1 on loopback: nothing listens, every connect is refused. At half time an attempt times out after 2.5 s and
# the login gives up after 6 s; the first status comes after 2.5 s, when two refusals have been reported, the second
# after 7 s. Not faster: attempts used to set up their TLS context before connecting (~400 ms in a TSan build), which
# under CI's parallel load outlasted the 500 ms attempt timeout of 1/10 time (TIMEOUT instead of REFUSED); a refused
# attempt now does no TLS work, and half time keeps the margin for a loaded machine.
printf 'quality\nlogin\nsleep 2500\nstatus\nsleep 4500\nstatus\nquit\n' |
    timeout 30 "${relink_cli[@]}" --url wss://127.0.0.1:1/ --app app --secret secret --ca "$work/ca.pem" --json \
        --time-scale 0.5 --user carol >"$work/carol.out" 2>"$work/carol.err"

failures=0
expect() {  # expect FILE PATTERN: some line of FILE matches the extended regex PATTERN
    if ! grep -Eq -- "$2" "$1"; then
        echo "cli_test: no line of $(basename "$1") matches: $2"
        failures=$((failures + 1))
    fi
}
for who in alice bob; do
    out="$work/$who.out"
    # Exactly one JSON object per line, each with t_ms and event.
    if grep -Evq '^\{"t_ms":[0-9]+,"event":"[a-z_]+".*\}$' "$out"; then
        echo "cli_test: $who printed a line that is not one JSON event:"; grep -Ev '^\{"t_ms":[0-9]+,"event":' "$out"
        failures=$((failures + 1))
    fi
    expect "$out" '"event":"connection_state_changed","state":"CONNECTING","reason":"LOGIN","seq":1'
    expect "$out" '"event":"connection_state_changed","state":"CONNECTED","reason":"LOGIN_SUCCESS","seq":2'
    expect "$out" '"event":"channel_state_changed","channel":"ch","state":"CONNECTED","reason":"JOINED","error_code":0'
    expect "$out" '"event":"connection_state_changed","state":"DISCONNECTED","reason":"LOGOUT"'
done
expect "$work/bob.out" '"event":"member_joined","channel":"ch","user":"alice"'
expect "$work/bob.out" '"event":"message","from":"alice","channel":"ch","text":"hello bob","backfilled":false,"id":"'
expect "$work/bob.out" '"event":"message","from":"alice","text":"a private word","backfilled":false,"id":"'
expect "$work/bob.out" '"event":"member_left","channel":"ch","user":"alice","cause":"QUIT"'
expect "$work/bob.out" '"event":"state","state":"CONNECTED"'
expect "$work/alice.out" '"event":"result","command":"send ch hello bob","ok":true'
expect "$work/alice.out" '"event":"result","command":"msg bob a private word","ok":true'
expect "$work/alice.out" '"event":"attributes","user":"alice","attributes":\{"mood":"ok"\}'
expect "$work/alice.out" '"event":"result","command":"bogus command","ok":false,"error":"INVALID_ARGUMENT"'
expect "$work/bob.out" '"event":"status","state":"CONNECTED","reason":"LOGIN_SUCCESS","attempt":0,"next_retry_ms":0,"in_state_ms":[0-9]+,"last_failure":null\}'
# bob idles in the channel for 5 s: his heartbeats are answered, the first round trip is reported (a quality event
# on a meaningful change) and so is his `quality` command; carol, never connected, has measured nothing.
quality_measured='"event":"quality","rtt_ms":[0-9.e-]+,"rtt_var_ms":[0-9.e-]+,"missed_heartbeats":0,"since_last_data_ms":[0-9]+\}'
expect "$work/bob.out" "$quality_measured"
if [ "$(grep -Ec -- "$quality_measured" "$work/bob.out")" -lt 2 ]; then
    echo "cli_test: bob.out has no quality event besides the reply to quality (the first round trip's report)"
    failures=$((failures + 1))
fi
expect "$work/carol.out" '"event":"quality","rtt_ms":null,"rtt_var_ms":null,"missed_heartbeats":0,"since_last_data_ms":null\}'
expect "$work/carol.out" '"event":"attempt_failed","attempt":1,"cause":"REFUSED","detail":"tcp: cannot connect to 127.0.0.1:1: [^"]+"'
expect "$work/carol.out" '"event":"attempt_failed","attempt":2,"cause":"REFUSED"'
expect "$work/carol.out" '"event":"status","state":"CONNECTING","reason":"LOGIN","attempt":[1-9][0-9]*,"next_retry_ms":[0-9]+,"in_state_ms":[0-9]+,"last_failure":"REFUSED"\}'
expect "$work/carol.out" '"event":"connection_state_changed","state":"DISCONNECTED","reason":"LOGIN_TIMEOUT",.*"last_failure":"REFUSED"'
expect "$work/carol.out" '"event":"status","state":"DISCONNECTED","reason":"LOGIN_TIMEOUT","attempt":0,"next_retry_ms":0,"in_state_ms":[0-9]+,"last_failure":"REFUSED"\}'
if grep -Evq '^\{"t_ms":[0-9]+,"event":"[a-z_]+".*\}$' "$work/carol.out"; then
    echo "cli_test: carol printed a line that is not one JSON event"; failures=$((failures + 1))
fi

# A configuration the client cannot use: exit status 2, nothing on stdout, one line on stderr naming the problem.
refused_config() {  # refused_config NAME WORD ARGS...: relink-cli with ARGS exits 2 with one stderr line containing WORD
    local name=$1 word=$2 status=0
    shift 2
    timeout 10 "${relink_cli[@]}" "$@" </dev/null >"$work/$name.out" 2>"$work/$name.err" || status=$?
    if [ "$status" -ne 2 ] || [ -s "$work/$name.out" ] || [ "$(wc -l <"$work/$name.err")" -ne 1 ] ||
        ! grep -q -- "$word" "$work/$name.err"; then
        echo "cli_test: $name: want exit 2 and one stderr line naming $word; got $status:"
        cat "$work/$name.out" "$work/$name.err"
        failures=$((failures + 1))
    fi
}
refused_config http_url "url: 'http://" --url http://127.0.0.1:1/ --app app --user dave --secret secret
refused_config plaintext_url "allow_plaintext" --url ws://127.0.0.1:1/ --app app --user dave --secret secret
refused_config bad_app "app_id: " --url "$url" --app 'my/app' --user dave --secret secret
refused_config missing_ca "tls.ca_file: " --url "$url" --app app --user dave --secret secret --ca "$work/no-such.pem"
if [ "$failures" -ne 0 ]; then
    echo "--- alice"; cat "$work/alice.out" "$work/alice.err"; echo "--- bob"; cat "$work/bob.out" "$work/bob.err"
    echo "--- carol"; cat "$work/carol.out" "$work/carol.err"
    exit 1
fi
echo "cli_test: relink-cli printed every expected event for every user and refused every unusable configuration"
