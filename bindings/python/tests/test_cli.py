"""python3 -m relink.cli next to the C++ relink-cli: the same answers to the same input, byte for byte (t_ms
aside), for what does not depend on a server's timing: flags refused, --help, and command lines of every shape
run without a login. The scenarios with a server are tests/cli/cli_test.sh's, which CTest runs against both
(relink_cli_pipe, relink_cli_pipe_python). Also: tokens minted in Python are relink-token's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import List, Tuple

import pytest

from relink.cli import CommandError, parse_command
from relink.token import mint

from conftest import BIN_DIR, PACKAGE_DIR

RELINK_CLI = BIN_DIR / "relink-cli"
needs_cpp_cli = pytest.mark.skipif(not RELINK_CLI.exists(), reason=f"no C++ relink-cli at {RELINK_CLI}")


def run(command: List[str], args: List[str], stdin: bytes = b"") -> Tuple[int, bytes, bytes]:
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_DIR))
    done = subprocess.run(command + args, input=stdin, capture_output=True, timeout=30, env=env)
    return done.returncode, done.stdout, done.stderr


def both(args: List[str], stdin: bytes = b"") -> Tuple[Tuple[int, bytes, bytes], Tuple[int, bytes, bytes]]:
    cpp = run([str(RELINK_CLI)], args, stdin)
    python = run([sys.executable, "-m", "relink.cli"], args, stdin)
    return cpp, python


def without_times(output: bytes) -> bytes:
    output = re.sub(rb'"t_ms":\d+', b'"t_ms":T', output)
    return re.sub(rb"^ *\d+\.\d{3} s  ", b"T s  ", output, flags=re.M)


GOOD = ["--url", "wss://127.0.0.1:1/", "--app", "app", "--user", "dave", "--secret", "s"]


@needs_cpp_cli
@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["--version"],
        ["--bogus", "--help"],
        GOOD + ["--log-level", "loud"],
        GOOD + ["--log-level=loud"],
        ["--url=wss://127.0.0.1:1/", "--app=app", "--user=dave", "--secret=s", "--profile=rtx"],
        GOOD + ["--secret", "t"],
        GOOD + ["extra"],
        GOOD + ["--bogus", "-x"],
        GOOD + ["--recover", "KEY"],
        GOOD + ["--profile", "rtx"],
        GOOD + ["--time-scale", "0"],
        GOOD + ["--time-scale", "1001"],
        GOOD + ["--time-scale", "0.5x"],
        GOOD + ["--bogus"],
        GOOD + ["--url"],
        GOOD + ["--token", "t"],
        ["--url", "wss://127.0.0.1:1/", "--app", "app", "--user", "dave"],
        ["--app", "app", "--user", "dave", "--secret", "s"],
        ["--url", "wss://127.0.0.1:1/", "--app", "app", "--user", " dave", "--secret", "s"],
        ["--url", "http://127.0.0.1:1/", "--app", "app", "--user", "dave", "--secret", "s"],
        ["--url", "ws://127.0.0.1:1/", "--app", "app", "--user", "dave", "--secret", "s"],
        ["--url", "wss://127.0.0.1:1/", "--app", "my/app", "--user", "dave", "--secret", "s"],
        GOOD + ["--ca", "/no/such/ca.pem"],
    ],
)
def test_flags_are_answered_as_relink_cli_does(args: List[str]) -> None:
    cpp, python = both(args)
    assert python == cpp


EDGE_LINES = [
    "", "   ", "\t", "join", "join a b", "join bad/name", "join ch", "leave ch", "switch a", "switch a b",
    "send ch", "send  ch   two  spaces ", "msg u x", "msg", "attr", "attr =x", "attr a", "attr a=1 a=2 b=",
    "getattr", "getattr u", "publish ch", "publish ch s", "unpublish ch s", "renew a b", "renew tok",
    "state", "state x", "status", "status x", "network-changed", "network-changed now", "sleep", "sleep -1",
    "sleep +5", "sleep 3600001", "sleep 0x10", "sleep 1_0", "sleep 0", "quality", "recovery-key",
    "\tjoin\tch", "join\x0bch", "send ch caf\xc3\xa9", "logout", "bogus command", "help", "jion lobby", "sttaus",
    "lgoin", "x", "caf\xc3\xa9",
]


@needs_cpp_cli
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_command_lines_without_a_login_are_answered_as_relink_cli_does(as_json: bool) -> None:
    stdin = "\n".join(EDGE_LINES).encode("latin-1") + b"\nsend ch \xff\xfe raw\nquit\nlogin\n"
    args = GOOD + (["--json"] if as_json else [])
    (cpp_status, cpp_out, cpp_err), (py_status, py_out, py_err) = both(args, stdin)
    assert (py_status, py_err) == (cpp_status, cpp_err) == (0, b"")
    assert without_times(py_out) == without_times(cpp_out)
    assert cpp_out.count(b"\n") > 30


def test_the_parser_splits_as_relink_cli() -> None:
    send = parse_command("send  lobby   hello   world ")
    assert send is not None and send.args == ("lobby", "hello   world ")
    assert parse_command("   ") is None
    attr = parse_command("attr a=1 b= a=3")
    assert attr is not None and attr.attributes == {"a": "3", "b": ""}
    assert parse_command("sleep 250").sleep_ms == 250  # type: ignore[union-attr]
    for bad in ("sleep 1.5", "attr =x", "join", "frobnicate"):
        with pytest.raises(CommandError):
            parse_command(bad)


def test_minted_tokens_are_docs_tokens_md_known_answer() -> None:
    token = mint("demo-app", "alice", "s3cret", expires_at=1700000000, channels=["lobby", "room 1"])
    assert token == (
        "rl1.eyJhcHAiOiJkZW1vLWFwcCIsInVzZXIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMCwiY2giOlsibG9iYnkiLCJyb29tIDEiXX0"
        ".iEumzhOkTrY-9Tj1p6lNMUwLrOKNK-zB-Xqbtc1SDfs"
    )
    with pytest.raises(ValueError):
        mint("app", "u", "")


@pytest.mark.skipif(not (BIN_DIR / "relink-token").exists(), reason="no relink-token")
def test_minted_tokens_are_relink_tokens() -> None:
    # relink-token takes a TTL from now: mint on both sides within the same second (retry across a boundary).
    for _ in range(3):
        before = int(__import__("time").time())
        cpp = subprocess.run(
            [str(BIN_DIR / "relink-token"), "--app", "app", "--secret", "k", "--user", "bob", "--ttl", "60",
             "--channel", "a", "--channel", "b"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        python = mint("app", "bob", "k", ttl=60, channels=["a", "b"])
        if int(__import__("time").time()) == before:
            assert python == cpp
            return
    pytest.fail("could not mint twice within one second")
