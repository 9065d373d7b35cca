"""python3 -m relink.cli — relink-cli's contract spoken through the Python binding.

The same flags, stdin commands, events and fields, exit codes and messages as the C++ relink-cli
(src/cli/relink_cli_main.cpp), so that one scenario script drives either (tests/cli/cli_test.sh runs against both):

    python3 -m relink.cli --url URL --app ID --user UID (--token T | --secret S) [--ca PEM]
                          [--profile rtm|rtc|rtc-web|room] [--time-scale F] [--json]

Commands are read from stdin, one per line, each run as soon as it is read (login, logout, join CH, leave CH,
switch FROM TO, send CH TEXT..., msg UID TEXT..., publish CH STREAM, unpublish CH STREAM, attr K=V..., getattr UID,
renew [TOKEN], network-changed, state, status, sleep MS, quit); end of input is quit. One line per event on stdout:
human-readable, or with --json exactly one JSON object per line ({"t_ms":..,"event":..,...}); logs go to stderr.
A configuration the client cannot use: one line on stderr naming the field, exit status 2.

The client runs in callback mode: events are printed from the client's dispatcher thread, command results from
the main thread, one whole line at a time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, NoReturn, Optional, Tuple

from . import _ffi
from .client import Client
from .errors import ConfigError, RelinkError
from .events import (
    AttemptFailed,
    ChannelStateChanged,
    ConnectionLost,
    ConnectionStateChanged,
    ContinuityReport,
    Event,
    MemberJoined,
    MemberLeft,
    MessageReceived,
    RejoinSuccess,
    StreamAdded,
    StreamRemoved,
    TokenExpired,
    TokenPrivilegeWillExpire,
)
from .token import mint
from .types import ConnectionState, ErrorCode, LogLevel, Profile, canonical

_START = time.monotonic()

USAGE = (
    "usage: relink-cli --url URL --app ID --user UID (--token T | --secret S) [--ca PEM]\n"
    "                  [--profile rtm|rtc|rtc-web|room] [--time-scale F] [--json]\n"
    "Reads commands from stdin (login, logout, join CH, leave CH, switch FROM TO, send CH TEXT..., msg UID TEXT...,\n"
    "publish CH STREAM, unpublish CH STREAM, attr K=V..., getattr UID, renew [TOKEN], network-changed, state,\n"
    "status, sleep MS, quit) and prints one line per event (one JSON object per line with --json).\n"
)

#: The longest `sleep` accepted, in milliseconds (one hour).
MAX_SLEEP_MS = 3_600_000


@dataclass
class Args:
    url: str = ""
    app: str = ""
    user: str = ""
    token: str = ""
    secret: str = ""
    ca: str = ""
    profile: Profile = Profile.RTM
    time_scale: float = 1.0
    json: bool = False
    insecure: bool = False


def usage_error(line: str) -> NoReturn:
    sys.stderr.write(f"relink-cli: {line} (see --help)\n")
    sys.stderr.flush()
    os._exit(2)


def _parse_double(text: str) -> Optional[float]:
    """strtod's reading of the whole of `text` (leading blanks allowed, nothing after the number), or None."""
    body = text.lstrip(" \t\n\v\f\r")
    if not body or "_" in body or body != body.rstrip(" \t\n\v\f\r"):
        return None
    try:
        return float(body)
    except ValueError:
        try:
            return float.fromhex(body)
        except ValueError:
            return None


def parse_args(argv: List[str]) -> Args:
    args = Args()
    i = 0
    while i < len(argv):
        flag = argv[i]

        def value() -> str:
            nonlocal i
            if i + 1 >= len(argv):
                usage_error("missing value for " + flag)
            i += 1
            return argv[i]

        if flag in ("--help", "-h"):
            sys.stdout.write(USAGE)
            sys.stdout.flush()
            sys.exit(0)
        elif flag == "--url":
            args.url = value()
        elif flag == "--app":
            args.app = value()
        elif flag == "--user":
            args.user = value()
        elif flag == "--token":
            args.token = value()
        elif flag == "--secret":
            args.secret = value()
        elif flag == "--ca":
            args.ca = value()
        elif flag == "--profile":
            try:
                args.profile = Profile.from_name(value())
            except ValueError:
                usage_error("--profile wants rtm, rtc, rtc-web or room")
        elif flag == "--time-scale":
            scale = _parse_double(value())
            if scale is None or not scale > 0.0 or scale > 1000.0:
                usage_error("--time-scale wants a number in (0, 1000]")
            args.time_scale = scale
        elif flag == "--json":
            args.json = True
        elif flag == "--insecure-plaintext":
            args.insecure = True  # permit ws:// (loopback development)
        else:
            usage_error("unknown option " + flag)
        i += 1
    if not args.url or not args.app or not args.user:
        usage_error("--url, --app and --user are required")
    if (not args.token) == (not args.secret):
        usage_error("give exactly one of --token and --secret")
    if not _ffi.lib().relink_is_valid_user_id(args.user.encode("utf-8", "surrogateescape")):
        usage_error("invalid --user")
    return args


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _raw(text: str) -> bytes:
    """The bytes a str of this module stands for: what was read or received, invalid UTF-8 kept as surrogate
    escapes (relink-cli prints strings as the bytes they are)."""
    return text.encode("utf-8", "surrogateescape")


def _valid(value: Any) -> Any:
    """`value` with every string made valid UTF-8 (invalid bytes as U+FFFD), as relink-cli's JSON shows them."""
    if isinstance(value, str):
        return _raw(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_valid(k): _valid(v) for k, v in value.items()}
    return value


class Printer:
    """Writes whole lines to stdout from the main thread and the client's dispatcher thread."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self._lock = threading.Lock()
        self._out = sys.stdout.buffer

    def print(self, fields: Dict[str, Any]) -> None:
        ms = int((time.monotonic() - _START) * 1000)
        line: Dict[str, Any] = {"t_ms": ms}
        line.update(fields)
        if self.json:
            data = _dump(_valid(line)).encode("utf-8")
        else:
            parts = [f"[{ms} ms] {line['event']}".encode()]
            for key, value in line.items():
                if key not in ("t_ms", "event"):
                    shown = _raw(value) if isinstance(value, str) else _dump(_valid(value)).encode("utf-8")
                    parts.append(key.encode() + b"=" + shown)
            data = b" ".join(parts)
        with self._lock:
            self._out.write(data + b"\n")
            self._out.flush()


def _failure_name(failure: Optional[AttemptFailed]) -> Optional[str]:
    return canonical(failure.cause) if failure is not None else None


def event_fields(event: Event) -> Optional[Dict[str, Any]]:
    """The line relink-cli prints for an event, or None for one it does not print (JoinSuccess; completions are
    printed as their command's result)."""
    if isinstance(event, ConnectionStateChanged):
        line: Dict[str, Any] = {
            "event": "connection_state_changed",
            "state": canonical(event.state),
            "reason": canonical(event.reason),
            "seq": event.seq,
            "attempt": event.attempt,
            "next_retry_ms": event.next_retry_ms,
        }
        if event.last_failure is not None:
            line["last_failure"] = _failure_name(event.last_failure)
        return line
    if isinstance(event, AttemptFailed):
        return {"event": "attempt_failed", "attempt": event.attempt, "cause": canonical(event.cause), "detail": event.detail}
    if isinstance(event, ConnectionLost):
        return {"event": "connection_lost"}
    if isinstance(event, RejoinSuccess):
        return {"event": "rejoin_success"}
    if isinstance(event, ChannelStateChanged):
        return {
            "event": "channel_state_changed",
            "channel": event.channel,
            "state": canonical(event.state),
            "reason": canonical(event.reason),
            "error_code": int(event.error),
        }
    if isinstance(event, MemberJoined):
        return {"event": "member_joined", "channel": event.channel, "user": event.user_id}
    if isinstance(event, MemberLeft):
        return {"event": "member_left", "channel": event.channel, "user": event.user_id, "cause": canonical(event.cause)}
    if isinstance(event, StreamAdded):
        return {"event": "stream_added", "channel": event.channel, "user": event.user_id, "stream": event.stream}
    if isinstance(event, StreamRemoved):
        return {"event": "stream_removed", "channel": event.channel, "user": event.user_id, "stream": event.stream}
    if isinstance(event, MessageReceived):
        line = {"event": "message", "from": event.from_user}
        if event.channel is not None:
            line["channel"] = event.channel
        line["text"] = event.payload.decode("utf-8", "surrogateescape")
        line["backfilled"] = event.backfilled
        line["id"] = event.message_id
        return line
    if isinstance(event, ContinuityReport):
        return {
            "event": "continuity",
            "outage_ms": event.outage_ms,
            "resumed": event.resumed,
            "backfilled": event.backfilled,
            "dropped": event.dropped,
            "server_restarted": event.server_restarted,
        }
    if isinstance(event, TokenPrivilegeWillExpire):
        return {"event": "token_privilege_will_expire"}
    if isinstance(event, TokenExpired):
        return {"event": "token_expired"}
    return None


def result(command: str, error: Optional[str]) -> Dict[str, Any]:
    """A command's `result` line: `error` is the code's canonical name, None on success."""
    line: Dict[str, Any] = {"event": "result", "command": command, "ok": error is None}
    if error is not None:
        line["error"] = error
    return line


# ------------------------------------------------------------------------------------- the command language
# A port of src/cli/commands.cpp: words split on the C locale's whitespace; send / msg take the rest of the line
# after the second space-separated word; login, logout and quit ignore extra words.

_SPACE = re.compile(r"[ \t\n\v\f\r]+")


@dataclass(frozen=True)
class Command:
    name: str
    args: Tuple[str, ...] = ()
    attributes: Dict[str, str] = field(default_factory=dict)
    sleep_ms: int = 0


class CommandError(ValueError):
    """A line that has words but is not a command (reported as INVALID_ARGUMENT)."""


def _rest_after(line: str, n: int) -> str:
    pos = 0
    for _ in range(n):
        while pos < len(line) and line[pos] == " ":
            pos += 1
        pos = line.find(" ", pos)
        if pos < 0:
            return ""
    while pos < len(line) and line[pos] == " ":
        pos += 1
    return line[pos:]


def parse_command(line: str) -> Optional[Command]:
    """One line (without its newline) → a Command, None for a blank line; CommandError for anything else."""
    w = [word for word in _SPACE.split(line) if word]
    if not w:
        return None
    cmd = w[0]
    if cmd in ("quit", "login", "logout"):
        return Command(cmd)
    if cmd in ("join", "leave"):
        if len(w) != 2:
            raise CommandError(f"{cmd} wants one channel: {cmd} CH")
        return Command(cmd, (w[1],))
    if cmd == "switch":
        if len(w) != 3:
            raise CommandError("switch wants two channels: switch FROM TO")
        return Command(cmd, (w[1], w[2]))
    if cmd in ("send", "msg"):
        if len(w) < 3:
            raise CommandError(
                "send wants a channel and a text: send CH TEXT..." if cmd == "send" else "msg wants a user and a text: msg UID TEXT..."
            )
        return Command(cmd, (w[1], _rest_after(line, 2)))
    if cmd in ("publish", "unpublish"):
        if len(w) != 3:
            raise CommandError(f"{cmd} wants a channel and a stream: {cmd} CH STREAM")
        return Command(cmd, (w[1], w[2]))
    if cmd == "attr":
        if len(w) < 2:
            raise CommandError("attr wants at least one KEY=VALUE")
        attributes: Dict[str, str] = {}
        for word in w[1:]:
            eq = word.find("=")
            if eq <= 0:
                raise CommandError("attr wants KEY=VALUE words with a non-empty KEY")
            attributes[word[:eq]] = word[eq + 1 :]
        return Command(cmd, attributes=attributes)
    if cmd == "getattr":
        if len(w) != 2:
            raise CommandError("getattr wants one user: getattr UID")
        return Command(cmd, (w[1],))
    if cmd == "renew":
        if len(w) > 2:
            raise CommandError("renew wants at most one token: renew [TOKEN]")
        return Command(cmd, tuple(w[1:]))
    if cmd in ("network-changed", "state", "status"):
        if len(w) != 1:
            raise CommandError(f"{cmd} takes no argument")
        return Command(cmd)
    if cmd == "sleep":
        if len(w) != 2:
            raise CommandError("sleep wants a number of milliseconds: sleep MS")
        text = w[1]
        try:
            if "_" in text:
                raise ValueError(text)
            ms = int(text, 10)
        except ValueError:
            ms = -1
        if ms < 0 or ms > MAX_SLEEP_MS:
            raise CommandError("sleep wants an integer number of milliseconds from 0 to 3600000")
        return Command(cmd, sleep_ms=ms)
    raise CommandError(
        "unknown command (login, logout, join, leave, switch, send, msg, publish, unpublish, attr, getattr, "
        "renew, network-changed, state, status, sleep, quit)"
    )


# ---------------------------------------------------------------------------------------------- running


def _encode(text: str) -> bytes:
    """A word or text of the input line back to the bytes it was read as."""
    return text.encode("utf-8", "surrogateescape")


def _as_str(text: str) -> str:
    """A piece of the input line as a str the client's methods take (the bytes as read, invalid ones replaced)."""
    return _encode(text).decode("utf-8", "replace")


def _mint(args: Args) -> str:
    return mint(args.app, args.user, args.secret, ttl=86_400)


class Runner:
    """Runs parsed commands on the client and prints their results."""

    def __init__(self, client: Client, args: Args, out: Printer) -> None:
        self.client = client
        self.args = args
        self.out = out

    def _later(self, line: str, operation: Any, *call_args: Any, show_attributes: Optional[str] = None) -> Optional[str]:
        """Starts an operation whose completion prints the result (and, for getattr, the attributes first).
        Returns the error name when it fails at once."""
        out = self.out
        try:
            future = self.client.submit(operation, *call_args)
        except RelinkError as error:
            return error.name

        def done(f: Any) -> None:
            if f.cancelled():
                return
            failure = f.exception()
            if failure is None and show_attributes is not None:
                attributes = dict(sorted((f.result().attributes or {}).items()))  # by name, as relink-cli
                out.print({"event": "attributes", "user": show_attributes, "attributes": attributes})
            out.print(result(line, failure.name if isinstance(failure, RelinkError) else None))

        future.add_done_callback(done)
        return None

    def run(self, command: Command, line: str) -> Tuple[bool, Optional[str]]:
        """Runs one command. Returns (report_now, error name or None): report_now is False when a completion
        (or the command itself) prints instead."""
        c = self.client
        name, a = command.name, command.args
        try:
            if name == "login":
                c.login()
            elif name == "logout":
                c.logout()
            elif name == "join":
                c.join(_as_str(a[0]))
            elif name == "leave":
                c.leave(_as_str(a[0]))
            elif name == "switch":
                c.switch_channel(_as_str(a[0]), _as_str(a[1]))
            elif name == "send":
                return self._report_if_error(self._later(line, c.send_channel_message, _as_str(a[0]), _encode(a[1])))
            elif name == "msg":
                return self._report_if_error(self._later(line, c.send_peer_message, _as_str(a[0]), _encode(a[1])))
            elif name in ("publish", "unpublish"):
                operation = c.publish if name == "publish" else c.unpublish
                return self._report_if_error(self._later(line, operation, _as_str(a[0]), _as_str(a[1])))
            elif name == "attr":
                attributes = {_as_str(k): _as_str(v) for k, v in command.attributes.items()}
                return self._report_if_error(self._later(line, c.set_local_user_attributes, attributes))
            elif name == "getattr":
                return self._report_if_error(self._later(line, c.get_user_attributes, _as_str(a[0]), show_attributes=a[0]))
            elif name == "renew":
                token = _as_str(a[0]) if a else ""
                if not token and self.args.secret:
                    token = _mint(self.args)
                if not token:
                    return True, canonical(ErrorCode.INVALID_ARGUMENT)
                return self._report_if_error(self._later(line, c.renew_token, token))
            elif name == "network-changed":
                try:
                    c.notify_network_changed()
                except RelinkError:
                    pass  # as relink-cli: the command itself always succeeds
            elif name == "state":
                self.out.print({"event": "state", "state": canonical(c.connection_state)})
                return False, None
            elif name == "status":
                s = c.status()
                self.out.print(
                    {
                        "event": "status",
                        "state": canonical(s.state),
                        "reason": canonical(s.reason),
                        "attempt": s.attempt,
                        "next_retry_ms": s.next_retry_ms,
                        "in_state_ms": s.in_state_ms,
                        "last_failure": _failure_name(s.last_failure),
                    }
                )
                return False, None
            elif name == "sleep":
                time.sleep(command.sleep_ms / 1000.0)  # the command's meaning: wait
                return False, None
        except RelinkError as error:
            return True, error.name
        except (ValueError, TypeError):  # a NUL inside a word: the C API would see a different string
            return True, canonical(ErrorCode.INVALID_ARGUMENT)
        return True, None

    @staticmethod
    def _report_if_error(error: Optional[str]) -> Tuple[bool, Optional[str]]:
        return (error is not None), error


def _read_lines() -> Any:
    """stdin's lines as str without the '\\n' (bytes kept exactly: invalid UTF-8 as surrogate escapes)."""
    stdin = sys.stdin.buffer
    while True:
        raw = stdin.readline()
        if not raw:
            return
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        yield raw.decode("utf-8", "surrogateescape")


def main(argv: Optional[List[str]] = None) -> int:
    # As a C program: Ctrl-C and a closed stdout end the process without a Python traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except _ffi.LibraryError as error:
        sys.stderr.write(f"relink-cli: {error}\n")
        return 1
    out = Printer(args.json)

    def log_line(_level: LogLevel, line: str) -> None:
        sys.stderr.write(f"relink-cli: {line}\n")
        sys.stderr.flush()

    def on_event(event: Event) -> None:
        fields = event_fields(event)
        if fields is not None:
            out.print(fields)

    try:
        token = args.token or _mint(args)
    except ValueError as error:
        usage_error(f"cannot mint a token: {error}")
    try:
        client = Client(
            url=args.url,
            app_id=args.app,
            user_id=args.user,
            token=token,
            profile=args.profile,
            time_scale=args.time_scale,
            allow_plaintext=args.insecure,
            ca_file=args.ca or None,
            log_level=LogLevel.WARN,
            log_handler=log_line,
            on_event=on_event,
        )
    except ConfigError as error:
        sys.stderr.write(f"relink-cli: unusable configuration: {error.message}\n")
        sys.stderr.flush()
        return 2
    except (RelinkError, ValueError) as error:
        sys.stderr.write(f"relink-cli: cannot start the client: {error}\n")
        return 1

    runner = Runner(client, args, out)
    for line in _read_lines():
        shown = line  # the line as typed, for `result`
        try:
            command = parse_command(line)
        except CommandError:
            out.print(result(shown, canonical(ErrorCode.INVALID_ARGUMENT)))
            continue
        if command is None:
            continue
        if command.name == "quit":
            break
        report, failure = runner.run(command, shown)
        if report:
            out.print(result(shown, failure))
    if client.connection_state != ConnectionState.DISCONNECTED:
        try:
            client.logout()
        except RelinkError:
            pass
    client.close()  # bounded; no callback after this
    return 0


if __name__ == "__main__":
    sys.exit(main())
