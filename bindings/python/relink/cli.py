"""python3 -m relink.cli — relink-cli's contract spoken through the Python binding.

The same flags, stdin commands, events and fields, exit codes and messages as the C++ relink-cli
(src/cli/relink_cli_main.cpp), so that one scenario script drives either (tests/cli/cli_test.sh runs against both):

    python3 -m relink.cli --url URL --app ID --user UID (--token T | --secret S) [--ca PEM]
                          [--profile rtm|rtc|rtc-web|room] [--time-scale F] [--json] [--insecure-plaintext]
                          [--log-level LEVEL] [--help] [--version]

Commands are read from stdin, one per line, each run as soon as it is read (help lists them); end of input is
quit. One line per event on stdout: for people, or with --json exactly one JSON object per line
({"t_ms":..,"event":..,...}); logs go to stderr. A bad flag or a configuration the client cannot use: one line on
stderr naming it, exit status 2. docs/cli.md describes it all. The flags are read as relink-cli's (CLI11) reads
them, for the cases scripts meet: `--name value` and `--name=value`, the same messages and their order.

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
    LinkQuality,
    LinkQualityChanged,
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

DESCRIPTION = (
    "relink-cli: a relink client on the command line. Reads commands from stdin and prints one line per event "
    "(one JSON object per line with --json)."
)

COMMANDS_HELP = (
    "Commands, one per line on stdin (type help for this list):\n"
    "  login | logout                  start or end the session\n"
    "  join CH | leave CH              join or leave a channel\n"
    "  switch FROM TO                  leave one channel for another\n"
    "  send CH TEXT...                 a message to a channel\n"
    "  msg UID TEXT...                 a message to one user\n"
    "  publish CH STREAM               announce a stream (unpublish CH STREAM: stop)\n"
    "  attr KEY=VALUE...               set your attributes\n"
    "  getattr UID                     read a user's attributes\n"
    "  renew [TOKEN]                   a new token (minted with --secret when none is given)\n"
    "  network-changed                 the network changed: move the session to a new connection, or reconnect if the link is dead\n"
    "  state | status                  the connection state; all of it (attempt, next try, last failure)\n"
    "  quality                         the link's quality (round-trip time, missed heartbeats, last data)\n"
    "  recovery-key                    a key to store: --recover KEY resumes this session from a new process\n"
    "  sleep MS                        wait before reading the next command\n"
    "  quit                            log out and exit (also at the end of input)\n"
)


@dataclass(frozen=True)
class _Option:
    name: str
    type_name: str  # "" for a flag
    help: str
    default: str = ""
    required: bool = False
    choices: Tuple[str, ...] = ()


# In relink-cli's order (its --help lists them so, and its checks run in it).
_OPTIONS = (
    _Option("--url", "URL", "the server, wss://HOST:PORT/ (ws:// needs --insecure-plaintext)", required=True),
    _Option("--app", "ID", "the app id", required=True),
    _Option("--user", "UID", "the user id", required=True),
    _Option("--token", "T", "the login token (or --secret)"),
    _Option("--secret", "S", "the app's secret: relink-cli mints its own tokens"),
    _Option("--ca", "PEM", "a PEM file of the CA (or self-signed certificate) to trust"),
    _Option("--profile", "NAME", "the behaviour profile: rtm, rtc, rtc-web or room", "rtm",
            choices=("rtm", "rtc", "rtc-web", "room")),
    _Option("--time-scale", "F", "multiply every client-side duration by F, in (0, 1000]", "1"),
    _Option("--recover", "KEY", "a key from recovery-key: the first login resumes that session (within its presence timeout)"),
    _Option("--json", "", "one JSON object per line on stdout (the format scripts rely on)"),
    _Option("--insecure-plaintext", "", "allow ws:// (for a development server on loopback)"),
    _Option("--log-level", "LEVEL", "the SDK's log on stderr: trace, debug, info, warn, error, off", "warn",
            choices=("trace", "debug", "info", "warn", "error", "off")),
)
_BY_NAME = {option.name: option for option in _OPTIONS}


def _help_text() -> str:
    def row(left: str, text: str) -> str:
        return f"  {left:<32}{text}\n"

    rows = [row("-h,--help", "Print this help message and exit"),
            row("--version", "Display program version information and exit")]
    for o in _OPTIONS:
        left = o.name + (f" {o.type_name}" if o.type_name else "") + (" REQUIRED" if o.required else "")
        left += f"={o.default}" if o.default else ""
        rows.append(row(left, o.help))
    return f"{DESCRIPTION}\nUsage: relink-cli [OPTIONS]\n\nOptions:\n{''.join(rows)}\n{COMMANDS_HELP}\n"


#: The longest `sleep` accepted, in milliseconds (one hour).
MAX_SLEEP_MS = 3_600_000

_LOG_LEVELS = {"trace": LogLevel.TRACE, "debug": LogLevel.DEBUG, "info": LogLevel.INFO, "warn": LogLevel.WARN,
               "error": LogLevel.ERROR, "off": LogLevel.OFF}


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
    recover: str = ""
    json: bool = False
    insecure: bool = False
    log_level: LogLevel = LogLevel.WARN


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


def _check(option: _Option, value: str) -> Optional[str]:
    """relink-cli's check of an option's value: None when it passes, else what is wrong."""
    if option.choices and value not in option.choices:
        return f"{option.name}: '{value}' is not one of {', '.join(option.choices)}"
    if option.name == "--time-scale":
        number = _parse_double(value)
        if number is None or not 0.0 < number <= 1000.0:
            return f"{option.name}: '{value}' is not a number in (0, 1000]"
    return None


def parse_args(argv: List[str]) -> Args:
    values: Dict[str, List[str]] = {}
    extras: List[str] = []
    wants_help = wants_version = False
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        name, has_value, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in ("-h", "--help") and not has_value:
            wants_help = True
            continue
        if name == "--version" and not has_value:
            wants_version = True
            continue
        option = _BY_NAME.get(name)
        if option is None:
            extras.append(word)
            continue
        if not option.type_name:  # a flag; as CLI11, --flag=false turns it off
            values.setdefault(name, []).append(inline if has_value else "true")
            continue
        if has_value and inline:
            values.setdefault(name, []).append(inline)
        elif i < len(argv):  # the next word, whatever it looks like (as CLI11 does for a value it needs)
            values.setdefault(name, []).append(argv[i])
            i += 1
        else:
            usage_error(f"{name}: 1 required {option.type_name} missing")
    if wants_help:
        sys.stdout.write(_help_text())
        sys.stdout.flush()
        sys.exit(0)
    if wants_version:
        from . import version

        sys.stdout.write(f"relink-cli {version()}\n")
        sys.stdout.flush()
        sys.exit(0)
    for option in _OPTIONS:  # the values' checks, in the options' order
        given = values.get(option.name, [])
        if option.type_name and len(given) > 1:
            usage_error(f"{option.name}: At Most 1 required but received {len(given)}")
        for value in given:
            problem = _check(option, value)
            if problem:
                usage_error(problem)
    for option in _OPTIONS:
        if option.required and option.name not in values:
            usage_error(f"{option.name} is required")
    if extras:
        plural = "s were" if len(extras) > 1 else " was"
        usage_error(f"The following argument{plural} not expected: {' '.join(reversed(extras))}")  # CLI11's order

    def one(name: str, default: str = "") -> str:
        return values.get(name, [default])[-1]

    def flag(name: str) -> bool:
        return one(name, "false").lower() in ("true", "1", "on", "yes")

    args = Args(url=one("--url"), app=one("--app"), user=one("--user"), token=one("--token"),
                secret=one("--secret"), ca=one("--ca"), json=flag("--json"), insecure=flag("--insecure-plaintext"))
    args.profile = Profile.from_name(one("--profile", "rtm"))
    args.time_scale = _parse_double(one("--time-scale", "1")) or 1.0
    args.recover = one("--recover")
    args.log_level = _LOG_LEVELS[one("--log-level", "warn")]
    if (not args.token) == (not args.secret):
        usage_error("give exactly one of --token and --secret")
    if not _ffi.lib().relink_is_valid_user_id(args.user.encode("utf-8", "surrogateescape")):
        usage_error("--user: not a valid user id")
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


#: One event: its JSON object (without t_ms), as scripts read it, and its line for people.
Line = Tuple[Dict[str, Any], bytes]


class Printer:
    """Writes whole lines to stdout from the main thread and the client's dispatcher thread."""

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self._lock = threading.Lock()
        self._out = sys.stdout.buffer

    def print(self, line: Line) -> None:
        fields, text = line
        ms = int((time.monotonic() - _START) * 1000)
        if self.json:
            whole: Dict[str, Any] = {"t_ms": ms}
            whole.update(fields)
            data = _dump(_valid(whole)).encode("utf-8")
        else:
            data = f"{ms / 1000.0:8.3f} s  ".encode() + text
        with self._lock:
            self._out.write(data + b"\n")
            self._out.flush()

    def say(self, text: str) -> None:
        """A line for people only (help, a line that is not a command); nothing with --json."""
        if self.json:
            return
        data = _raw(text)
        with self._lock:
            self._out.write(data if data.endswith(b"\n") else data + b"\n")
            self._out.flush()


def _failure_name(failure: Optional[AttemptFailed]) -> Optional[str]:
    return canonical(failure.cause) if failure is not None else None


def _quoted(text: str) -> bytes:
    """A text as people read it in a line: in double quotes, control characters and quotes escaped."""
    return _dump(_valid(text)).encode("utf-8")


def _progress(attempt: int, next_retry_ms: int, failure: Optional[AttemptFailed]) -> str:
    """", attempt 2, next try in 1200 ms, last failure REFUSED": the parts that say something."""
    text = ""
    if attempt > 0:
        text += f", attempt {attempt}"
    if next_retry_ms > 0:
        text += f", next try in {next_retry_ms} ms"
    if failure is not None:
        text += f", last failure {_failure_name(failure)}"
    return text


def quality_line(q: LinkQuality) -> Line:
    """The `quality` event (the reply to `quality`, and each meaningful change), as relink-cli prints it."""
    measured = q.rtt_samples > 0
    rtt_ms = q.rtt_us / 1000.0
    rtt_var_ms = q.rtt_var_us / 1000.0
    fields: Dict[str, Any] = {
        "event": "quality",
        "rtt_ms": rtt_ms if measured else None,
        "rtt_var_ms": rtt_var_ms if measured else None,
        "missed_heartbeats": q.missed_heartbeats,
        "since_last_data_ms": q.since_last_data_ms,
    }
    rtt = f"rtt {rtt_ms:.1f} ms (+/- {rtt_var_ms:.1f} ms)" if measured else "rtt not measured yet"
    last = f"last data {q.since_last_data_ms} ms ago" if q.since_last_data_ms is not None else "no data yet"
    return fields, f"quality {rtt}, {q.missed_heartbeats} missed heartbeats, {last}".encode()


def event_line(event: Event) -> Optional[Line]:
    """The line relink-cli prints for an event, or None for one it does not print (JoinSuccess; completions are
    printed as their command's result)."""
    if isinstance(event, ConnectionStateChanged):
        fields: Dict[str, Any] = {
            "event": "connection_state_changed",
            "state": canonical(event.state),
            "reason": canonical(event.reason),
            "seq": event.seq,
            "attempt": event.attempt,
            "next_retry_ms": event.next_retry_ms,
        }
        if event.last_failure is not None:
            fields["last_failure"] = _failure_name(event.last_failure)
        text = f"connection {canonical(event.state)} ({canonical(event.reason)})"
        # Which attempt it is says something only while attempts are being made.
        trying = event.state in (ConnectionState.CONNECTING, ConnectionState.RECONNECTING)
        return fields, (text + _progress(event.attempt if trying else 0, event.next_retry_ms, event.last_failure)).encode()
    if isinstance(event, AttemptFailed):
        fields = {"event": "attempt_failed", "attempt": event.attempt, "cause": canonical(event.cause), "detail": event.detail}
        return fields, f"attempt {event.attempt} failed: {canonical(event.cause)}: ".encode() + _raw(event.detail)
    if isinstance(event, ConnectionLost):
        return {"event": "connection_lost"}, b"connection lost: the server has not been heard for too long"
    if isinstance(event, RejoinSuccess):
        return {"event": "rejoin_success"}, b"back in the channels after the reconnect"
    if isinstance(event, ChannelStateChanged):
        fields = {
            "event": "channel_state_changed",
            "channel": event.channel,
            "state": canonical(event.state),
            "reason": canonical(event.reason),
            "error_code": int(event.error),
        }
        text = b"channel " + _raw(event.channel) + f" {canonical(event.state)} ({canonical(event.reason)})".encode()
        if int(event.error):
            text += f", error {_error_name(int(event.error))}".encode()
        return fields, text
    if isinstance(event, MemberJoined):
        return ({"event": "member_joined", "channel": event.channel, "user": event.user_id},
                _raw(event.channel) + b": " + _raw(event.user_id) + b" joined")
    if isinstance(event, MemberLeft):
        cause = canonical(event.cause)
        return ({"event": "member_left", "channel": event.channel, "user": event.user_id, "cause": cause},
                _raw(event.channel) + b": " + _raw(event.user_id) + f" left ({cause})".encode())
    if isinstance(event, StreamAdded):
        return ({"event": "stream_added", "channel": event.channel, "user": event.user_id, "stream": event.stream},
                _raw(event.channel) + b": " + _raw(event.user_id) + b" publishes stream " + _quoted(event.stream))
    if isinstance(event, StreamRemoved):
        return ({"event": "stream_removed", "channel": event.channel, "user": event.user_id, "stream": event.stream},
                _raw(event.channel) + b": " + _raw(event.user_id) + b" stopped stream " + _quoted(event.stream))
    if isinstance(event, MessageReceived):
        fields = {"event": "message", "from": event.from_user}
        if event.channel is not None:
            fields["channel"] = event.channel
        payload = event.payload.decode("utf-8", "surrogateescape")
        fields["text"] = payload
        fields["backfilled"] = event.backfilled
        fields["id"] = event.message_id
        if event.channel is not None:
            text = _raw(event.channel) + b": " + _raw(event.from_user) + b" says "
        else:
            text = _raw(event.from_user) + b" says to you "
        text += _quoted(payload)
        if event.backfilled:
            text += b" (sent while you were away)"
        return fields, text
    if isinstance(event, ContinuityReport):
        fields = {
            "event": "continuity",
            "outage_ms": event.outage_ms,
            "resumed": event.resumed,
            "backfilled": event.backfilled,
            "dropped": event.dropped,
            "server_restarted": event.server_restarted,
            "recovered": event.recovered,
        }
        text = f"back after {event.outage_ms} ms: "
        text += "the session went on" if event.resumed else "a new session (the old one had ended)"
        if event.backfilled > 0:
            text += f", {event.backfilled} missed message(s) delivered"
        if event.dropped > 0:
            text += f", {event.dropped} message(s) lost"
        if event.server_restarted:
            text += ", the server restarted"
        if event.recovered:
            text += " (recovered with a recovery key)"
        return fields, text.encode()
    if isinstance(event, TokenPrivilegeWillExpire):
        return {"event": "token_privilege_will_expire"}, b"the token expires soon: renew it"
    if isinstance(event, TokenExpired):
        return {"event": "token_expired"}, b"the token has expired"
    if isinstance(event, LinkQualityChanged):
        return quality_line(event.quality)
    return None


def _error_name(code: int) -> str:
    try:
        return canonical(ErrorCode(code))
    except ValueError:
        return str(code)


def result(command: str, error: Optional[str]) -> Line:
    """A command's `result` line: `error` is the code's canonical name, None on success."""
    fields: Dict[str, Any] = {"event": "result", "command": command, "ok": error is None}
    if error is not None:
        fields["error"] = error
    text = (b"failed: " if error is not None else b"done: ") + _raw(command)
    if error is not None:
        text += f": {error}".encode()
    return fields, text


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
    if cmd in ("network-changed", "state", "status", "quality", "recovery-key"):
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
    if cmd == "help":
        return Command(cmd)
    why = f'unknown command "{cmd}"'
    near = _nearest_command(cmd)
    if near is not None:
        why += f": did you mean {near}?"
    raise CommandError(why)


_COMMAND_NAMES = ("login", "logout", "join", "leave", "switch", "send", "msg", "publish", "unpublish", "attr",
                  "getattr", "renew", "network-changed", "state", "status", "quality", "sleep", "quit", "help",
                  "recovery-key")


def _edit_distance(a: bytes, b: bytes) -> int:
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
        previous = current
    return previous[len(b)]


def _nearest_command(word: str) -> Optional[str]:
    """The command a typo most likely meant: within two edits (one for words of up to three bytes), or None."""
    raw = _raw(word)
    if len(raw) > 32:
        return None
    best, best_distance = None, (2 if len(raw) <= 3 else 3)
    for name in _COMMAND_NAMES:
        d = _edit_distance(raw, name.encode())
        if d < best_distance:
            best, best_distance = name, d
    return best


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

    def _later(self, line: str, operation: Any, *call_args: Any, show_attributes: Optional[str] = None,
               show_key: bool = False) -> Optional[str]:
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
                text = _raw(show_attributes) + b"'s attributes:"
                for key, value in attributes.items():
                    text += b" " + _raw(key) + b"=" + _quoted(value)
                if not attributes:
                    text += b" none"
                out.print(({"event": "attributes", "user": show_attributes, "attributes": attributes}, text))
            if failure is None and show_key:
                key = f.result().recovery_key or ""
                out.print(({"event": "recovery_key", "key": key}, b"recovery key " + _raw(key)))
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
                    self.out.say("renew: give a token (renew TOKEN), or start relink-cli with --secret to mint one")
                    return True, canonical(ErrorCode.INVALID_ARGUMENT)
                return self._report_if_error(self._later(line, c.renew_token, token))
            elif name == "network-changed":
                try:
                    c.notify_network_changed()
                except RelinkError:
                    pass  # as relink-cli: the command itself always succeeds
            elif name == "state":
                state = canonical(c.connection_state)
                self.out.print(({"event": "state", "state": state}, f"state {state}".encode()))
                return False, None
            elif name == "status":
                st = c.status()
                fields = {
                    "event": "status",
                    "state": canonical(st.state),
                    "reason": canonical(st.reason),
                    "attempt": st.attempt,
                    "next_retry_ms": st.next_retry_ms,
                    "in_state_ms": st.in_state_ms,
                    "last_failure": _failure_name(st.last_failure),
                }
                text = f"status {canonical(st.state)} ({canonical(st.reason)}) for {st.in_state_ms} ms"
                text += _progress(st.attempt, st.next_retry_ms, st.last_failure)
                self.out.print((fields, text.encode()))
                return False, None
            elif name == "quality":
                self.out.print(quality_line(c.link_quality()))
                return False, None
            elif name == "recovery-key":
                return self._report_if_error(self._later(line, c.recovery_key, show_key=True))
            elif name == "help":
                self.out.say(COMMANDS_HELP)
                return self.out.json, None  # scripts see it done, people the list
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
        line = event_line(event)
        if line is not None:
            out.print(line)

    try:
        token = args.token or _mint(args)
    except ValueError as error:
        sys.stderr.write(f"relink-cli: cannot mint a token: {error}\n")
        sys.stderr.flush()
        return 2
    try:
        client = Client(
            url=args.url,
            app_id=args.app,
            user_id=args.user,
            token=token,
            profile=args.profile,
            time_scale=args.time_scale,
            recover_key=args.recover or None,
            allow_plaintext=args.insecure,
            ca_file=args.ca or None,
            log_level=args.log_level,
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
        except CommandError as why:
            # Not a command: why, and how to get the list (people); INVALID_ARGUMENT for the line (scripts).
            out.say(f"{why} (type help for the commands)")
            if out.json:
                out.print(result(shown, canonical(ErrorCode.INVALID_ARGUMENT)))
            continue
        if command is None:
            continue
        if command.name == "quit":
            break
        report, failure = runner.run(command, shown)
        # People see a command that changes a state succeed by that state's events (as relink-cli).
        shown_by_its_events = command.name in ("login", "logout", "join", "leave", "switch")
        if report and (out.json or failure is not None or not shown_by_its_events):
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
