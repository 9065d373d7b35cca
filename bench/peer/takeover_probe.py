#!/usr/bin/env python3
"""bench/peer/takeover_probe.py — what mosquitto sends, on the wire, to an MQTT v5 client whose session is taken over.

peer-bench's dup_login counts the reasons Paho hands the app (its v5 `disconnected` callback, reason 0x8E "session
taken over"). Paho can only hand over what the broker sent, so this probe looks at the bytes themselves: it starts
its own mosquitto (plaintext, 127.0.0.1, a free port, stopped by PID), connects two raw MQTT v5 clients with one
client id, and prints what the first one receives after the second logs in: a DISCONNECT packet (0xE0 ...) with its
reason code, or nothing before the connection closes. Every wait is bounded.

    python3 bench/peer/takeover_probe.py [--clean-start 0|1]
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def connect_packet(client_id: bytes, clean_start: bool) -> bytes:
    # MQTT v5 CONNECT: protocol name, level 5, flags, keepalive 60 s, no properties, then the client id.
    variable = b"\x00\x04MQTT\x05" + (b"\x02" if clean_start else b"\x00") + b"\x00\x3c\x00"
    body = variable + len(client_id).to_bytes(2, "big") + client_id
    return b"\x10" + bytes([len(body)]) + body


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clean-start", type=int, default=1)
    args = parser.parse_args()
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="takeover-probe-")
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        if os.geteuid() == 0:
            f.write("user root\n")
    broker = subprocess.Popen([mosquitto, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:  # until mosquitto accepts a TCP connect (bounded)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    print("mosquitto did not listen", file=sys.stderr)
                    return 1
                time.sleep(0.01)
        first = socket.create_connection(("127.0.0.1", port), timeout=5)
        first.sendall(connect_packet(b"probe", args.clean_start == 1))
        print("first  CONNACK:", first.recv(64).hex())
        second = socket.create_connection(("127.0.0.1", port), timeout=5)
        second.sendall(connect_packet(b"probe", args.clean_start == 1))
        print("second CONNACK:", second.recv(64).hex())
        first.settimeout(3)
        got = b""
        closed = False
        try:
            while True:
                chunk = first.recv(64)
                if not chunk:
                    closed = True
                    break
                got += chunk
        except socket.timeout:
            pass
        if got[:1] == b"\xe0":
            reason = got[2] if len(got) > 2 and got[1] > 0 else 0
            print(f"first client got DISCONNECT, reason 0x{reason:02x}; bytes {got.hex()}")
        else:
            print(f"first client got {len(got)} bytes ({got.hex() or 'none'}) and "
                  f"{'then the connection closed' if closed else 'no close within 3 s'}: no DISCONNECT, no reason")
        first.close()
        second.close()
        return 0
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
