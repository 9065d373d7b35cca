"""bench.py — how fast events reach Python through the binding, against a relinkd of its own on loopback.

    RELINK_LIBRARY=build/release/lib/librelink.so python3 bindings/python/bench.py [--messages N] [--round-trips M]

Two measurements, each in queue mode (events taken with next_event() on the main thread) and in callback mode
(handlers on the client's dispatcher thread):

- **events/s**: alice sends bob N peer messages (at most --window of them not yet completed); the figure is N
  divided by the time from the first send to bob's N-th MessageReceived. Both clients are in this process, so
  this is alice's sends, their completions and bob's deliveries all through Python, plus relinkd's relaying.
- **round trip**: alice sends bob a message, bob's handler answers it at once, alice waits for the answer: M round
  trips one after the other; the median, 90th and 99th percentile in microseconds.

relinkd runs with its message rate limits raised (--limit messages-per-second, message-burst) so that they do not
set the pace. The relinkd is taken from RELINK_BIN_DIR or the repository's build/release/bin, else build/dev/bin.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, List, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import relink  # noqa: E402

REPO = HERE.parent.parent
APP, SECRET = "bench", "bench-secret"


def find_relinkd() -> Path:
    if os.environ.get("RELINK_BIN_DIR"):
        return Path(os.environ["RELINK_BIN_DIR"]) / "relinkd"
    for preset in ("release", "dev"):
        candidate = REPO / "build" / preset / "bin" / "relinkd"
        if candidate.exists():
            return candidate
    raise SystemExit("bench.py: no relinkd: build it, or set RELINK_BIN_DIR")


def start_relinkd(workdir: str) -> Tuple[subprocess.Popen, str, str]:
    ca = os.path.join(workdir, "ca.pem")
    process = subprocess.Popen(
        [str(find_relinkd()), "--listen", "127.0.0.1:0", "--write-ca", ca, "--app", f"{APP}:{SECRET}",
         "--limit", "messages-per-second=1000000000", "--limit", "message-burst=1000000000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    line: List[bytes] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(10)
    if not line or not line[0]:
        process.kill()
        raise SystemExit("bench.py: relinkd printed no listening line")
    return process, json.loads(line[0])["url"], ca


def client(url: str, ca: str, user: str, **options: Any) -> relink.Client:
    c = relink.Client(url=url, app_id=APP, user_id=user, token=relink.mint_token(APP, user, SECRET), ca_file=ca,
                      **options)
    return c


def connect_queue(c: relink.Client) -> None:
    c.login()
    c.wait_for(relink.ConnectionStateChanged, lambda e: e.state is relink.ConnectionState.CONNECTED, 10)


def connect_callback(c: relink.Client, up: threading.Event) -> None:
    c.login()
    if not up.wait(10):
        raise SystemExit("bench.py: no login within 10 s")


def throughput(url: str, ca: str, messages: int, window: int, mode: str, run: int) -> float:
    """Peer messages per second delivered to bob (see the module's docstring)."""
    slots = threading.Semaphore(window)
    alice_up = threading.Event()

    def on_alice(event: Any) -> None:
        if isinstance(event, relink.OperationCompleted):
            slots.release()
        elif isinstance(event, relink.ConnectionStateChanged) and event.state is relink.ConnectionState.CONNECTED:
            alice_up.set()

    alice = client(url, ca, f"alice-{mode}-{run}", on_event=on_alice)
    received = 0
    done = threading.Event()
    bob_up = threading.Event()

    def on_bob(event: Any) -> None:
        nonlocal received
        if isinstance(event, relink.MessageReceived):
            received += 1
            if received == messages:
                done.set()
        elif isinstance(event, relink.ConnectionStateChanged) and event.state is relink.ConnectionState.CONNECTED:
            bob_up.set()

    bob = client(url, ca, f"bob-{mode}-{run}", **({"on_event": on_bob} if mode == "callback" else {}))
    try:
        connect_callback(alice, alice_up)
        if mode == "callback":
            connect_callback(bob, bob_up)
        else:
            connect_queue(bob)
        payload = b"x" * 64
        started = time.perf_counter()

        def send_all() -> None:
            for _ in range(messages):
                if not slots.acquire(timeout=30):
                    raise SystemExit("bench.py: a send did not complete within 30 s")
                alice.send_peer_message(bob.user_id, payload)

        if mode == "callback":
            send_all()
            if not done.wait(60):
                raise SystemExit(f"bench.py: bob received {received} of {messages} in 60 s")
        else:
            sender = threading.Thread(target=send_all)
            sender.start()
            deadline = time.monotonic() + 60
            while received < messages and time.monotonic() < deadline:
                event = bob.next_event(1.0)
                if isinstance(event, relink.MessageReceived):
                    received += 1
            sender.join(30)
            if received < messages:
                raise SystemExit(f"bench.py: bob received {received} of {messages} in 60 s")
        return messages / (time.perf_counter() - started)
    finally:
        alice.close()
        bob.close()


def round_trips(url: str, ca: str, count: int, mode: str, run: int) -> List[float]:
    """Round-trip times in microseconds: alice → bob → alice, bob answering from its handler."""
    holder: List[relink.Client] = []
    bob_up = threading.Event()

    def on_bob(event: Any) -> None:
        if isinstance(event, relink.MessageReceived):
            holder[0].send_peer_message(event.from_user, event.payload)
        elif isinstance(event, relink.ConnectionStateChanged) and event.state is relink.ConnectionState.CONNECTED:
            bob_up.set()

    bob = client(url, ca, f"echo-{mode}-{run}", on_event=on_bob)
    holder.append(bob)
    answers: "list[float]" = []
    answered = threading.Event()
    alice_up = threading.Event()

    def on_alice(event: Any) -> None:
        if isinstance(event, relink.MessageReceived):
            answers.append(time.perf_counter())
            answered.set()
        elif isinstance(event, relink.ConnectionStateChanged) and event.state is relink.ConnectionState.CONNECTED:
            alice_up.set()

    alice = client(url, ca, f"ping-{mode}-{run}", **({"on_event": on_alice} if mode == "callback" else {}))
    try:
        connect_callback(bob, bob_up)
        if mode == "callback":
            connect_callback(alice, alice_up)
        else:
            connect_queue(alice)
        times = []
        for i in range(count + 20):  # the first 20: warm-up
            started = time.perf_counter()
            alice.send_peer_message(bob.user_id, b"ping")
            if mode == "callback":
                if not answered.wait(10):
                    raise SystemExit("bench.py: no answer within 10 s")
                answered.clear()
                finished = answers[-1]
            else:
                alice.wait_for(relink.MessageReceived, timeout=10)
                finished = time.perf_counter()
            if i >= 20:
                times.append((finished - started) * 1e6)
        return times
    finally:
        alice.close()
        bob.close()


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--round-trips", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    print(f"librelink {relink.version()} ({os.environ.get('RELINK_LIBRARY', 'found by the loader')}), "
          f"Python {sys.version.split()[0]}, relinkd {find_relinkd()}")
    with tempfile.TemporaryDirectory(prefix="relink-bench-") as workdir:
        process, url, ca = start_relinkd(workdir)
        try:
            for mode in ("queue", "callback"):
                rates = [throughput(url, ca, options.messages, options.window, mode, run) for run in range(options.runs)]
                print(f"{mode:8} events/s: median {statistics.median(rates):,.0f} over {options.runs} runs of "
                      f"{options.messages} (runs: {', '.join(f'{r:,.0f}' for r in rates)})")
            for mode in ("queue", "callback"):
                times: List[float] = []
                for run in range(options.runs):
                    times += round_trips(url, ca, options.round_trips, mode, run)
                print(f"{mode:8} round trip µs: p50 {percentile(times, 50):,.0f}, p90 {percentile(times, 90):,.0f}, "
                      f"p99 {percentile(times, 99):,.0f} ({len(times)} round trips)")
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
