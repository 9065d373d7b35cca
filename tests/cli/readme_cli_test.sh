#!/usr/bin/env bash
# Runs the README's server and relink-cli example as the README writes it, so that the two cannot drift: the sh
# blocks of its section "The server" are read from README.md, line by line. The build lines must build every
# program the blocks run (CTest has built them already, so they are not run); relinkd is started on a free loopback
# port in place of the README's 8443 and stopped by its PID; a bare `sleep` (the README's wait for relinkd) becomes
# a bounded wait for relinkd's "listening" line; `kill %1` is left to the cleanup; every other line runs as written
# with ./build/dev/bin/ pointing at BIN_DIR and the CA file in a temporary directory. The relink-cli run must log in,
# join and have its send acknowledged.
set -euo pipefail
src="${1:?usage: readme_cli_test.sh SOURCE_DIR BIN_DIR}"
bin="${2:?usage: readme_cli_test.sh SOURCE_DIR BIN_DIR}"
work=$(mktemp -d "${TMPDIR:-/tmp}/relink-readme-test.XXXXXX")
relinkd_pid=""
cleanup() {
    [ -n "$relinkd_pid" ] && kill "$relinkd_pid" 2>/dev/null && wait "$relinkd_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "readme_cli_example: $*"
    exit 1
}

# The sh blocks of the section "## The server", lines ending in a backslash or a pipe joined: one command per line.
awk '/^## /{in_section = ($0 == "## The server")} in_section && /^```/{in_block = !in_block; next}
     in_section && in_block' "$src/README.md" |
    sed -e ':join' -e '/\\$/{N;s/\\\n */ /;b join' -e '}' -e '/|$/{N;s/\n */ /;b join' -e '}' >"$work/commands"
[ -s "$work/commands" ] || fail "README.md has no sh block in its section \"The server\""

url=""
ran_cli=0
while IFS= read -r line; do
    command="${line%%#*}"                                       # the comment goes
    command="$(echo "$command" | sed -e 's/[[:space:]]*$//')"
    [ -n "$command" ] || continue
    case "$command" in
        make\ *) continue ;;                                    # configure: done by the test's own build
        cmake\ --build*)
            for program in $(grep -o 'build/dev/bin/[a-z-]*' "$work/commands" | sort -u | sed 's|.*/||'); do
                echo " $command " | grep -q -- " $program " || fail "the README's build line does not build $program: $command"
            done
            continue ;;
        *build/dev/bin/relinkd\ *)
            command="${command%&}"
            command="${command//127.0.0.1:8443/127.0.0.1:0}"
            command="${command//\/tmp\/relinkd-ca.pem/$work/ca.pem}"
            command="${command//.\/build\/dev\/bin\//$bin/}"
            bash -c "exec $command" >"$work/relinkd.out" 2>"$work/relinkd.err" &
            relinkd_pid=$!
            continue ;;
        sleep\ *)
            for _ in $(seq 1 100); do [ -s "$work/relinkd.out" ] && break; sleep 0.1; done
            url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$work/relinkd.out")
            [ -n "$url" ] || { cat "$work/relinkd.err"; fail "relinkd did not print its listening line within 10 s"; }
            continue ;;
        kill\ %1) continue ;;                                   # the cleanup stops relinkd by its PID
    esac
    [ -n "$url" ] || fail "the README runs a command before waiting for relinkd: $command"
    command="${command//wss:\/\/127.0.0.1:8443\//$url}"
    command="${command//\/tmp\/relinkd-ca.pem/$work/ca.pem}"
    command="${command//.\/build\/dev\/bin\//$bin/}"
    case "$command" in *relink-cli*) ran_cli=$((ran_cli + 1)) ;; esac
    echo "readme_cli_example: running $command"
    if ! timeout 60 bash -o pipefail -c "$command" >"$work/out" 2>"$work/err"; then
        cat "$work/out" "$work/err"
        fail "a README command failed: $command"
    fi
    cat "$work/out" >>"$work/all.out"
done <"$work/commands"

[ "$ran_cli" -eq 1 ] || fail "expected one relink-cli command in the README's server section, found $ran_cli"
failures=0
for pattern in '"state":"CONNECTED","reason":"LOGIN_SUCCESS"' '"channel":"lobby","state":"CONNECTED","reason":"JOINED"' \
    '"event":"result","command":"send lobby hello","ok":true' '"state":"DISCONNECTED","reason":"LOGOUT"'; do
    if ! grep -q -- "$pattern" "$work/all.out"; then
        echo "readme_cli_example: the README's commands printed no line with $pattern"
        failures=$((failures + 1))
    fi
done
if grep -q '"ok":false' "$work/all.out"; then
    echo "readme_cli_example: a command of the README's relink-cli example failed"
    failures=$((failures + 1))
fi
if [ "$failures" -ne 0 ]; then
    cat "$work/all.out"
    exit 1
fi
echo "readme_cli_example: the README's server and relink-cli commands work as written"
