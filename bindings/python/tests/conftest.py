"""Fixtures of the Python binding's tests: a relinkd of their own on a free loopback port, and clients that are
closed at the end of each test.

Where things are (CTest sets both; the defaults are the repository's dev build tree):
  RELINK_LIBRARY   librelink.so to load (bindings/python/relink/_ffi.py)
  RELINK_BIN_DIR   the directory holding relinkd (and relink-cli, relink-token)
Every wait is bounded; relinkd is stopped by its PID (SIGTERM, then SIGKILL after 10 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE.parent  # bindings/python: holds the relink package
REPO = PACKAGE_DIR.parent.parent
sys.path.insert(0, str(PACKAGE_DIR))

import relink  # noqa: E402

BIN_DIR = Path(os.environ.get("RELINK_BIN_DIR", REPO / "build" / "dev" / "bin"))
APP = "app"
SECRET = "secret"
STARTUP_TIMEOUT_S = 10.0


class Server:
    """A relinkd child process: `url` to connect to, `ca` the PEM to trust."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.ca = str(workdir / "ca.pem")
        self.stderr_path = workdir / "relinkd.err"
        relinkd = BIN_DIR / "relinkd"
        if not relinkd.exists():
            raise RuntimeError(f"no relinkd at {relinkd}: build it, or set RELINK_BIN_DIR")
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [str(relinkd), "--listen", "127.0.0.1:0", "--write-ca", self.ca, "--app", f"{APP}:{SECRET}", *extra],
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
        self.url = self._read_listening_line()

    def _read_listening_line(self) -> str:
        line: List[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        if not line or not line[0]:
            self.stop()
            raise RuntimeError("relinkd printed no listening line: " + self.stderr_path.read_text(errors="replace"))
        listening = json.loads(line[0])
        assert listening["event"] == "listening", listening
        return listening["url"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One relinkd for the whole session (each test uses user ids and channels of its own)."""
    with tempfile.TemporaryDirectory(prefix="relink-py-") as workdir:
        running = Server(Path(workdir))
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def make_client(server: Server, request: Any) -> Iterator[Callable[..., relink.Client]]:
    """make_client(user_id, **options): a client of `server` for user_id (a token minted for it), closed at the
    end of the test. Test-unique user ids: the test's name is prefixed."""
    made: List[relink.Client] = []
    prefix = request.node.name[:24].replace("[", "-").replace("]", "")

    def make(user: str, **options: Any) -> relink.Client:
        user_id = f"{prefix}-{user}"[:64]
        options.setdefault("token", relink.mint_token(APP, user_id, SECRET))
        options.setdefault("ca_file", server.ca)
        options.setdefault("time_scale", 0.2)
        client = relink.Client(url=server.url, app_id=APP, user_id=user_id, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def connected(event: Any) -> bool:
    return isinstance(event, relink.ConnectionStateChanged) and event.state is relink.ConnectionState.CONNECTED


def joined(channel: str) -> Callable[[Any], bool]:
    return lambda e: (
        isinstance(e, relink.ChannelStateChanged) and e.channel == channel and e.reason is relink.ChannelReason.JOINED
    )
