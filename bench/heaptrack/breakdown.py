#!/usr/bin/env python3
"""bench/heaptrack/breakdown.py — the live heap per session from idle_heap.sh's output, one column per run.

    python3 bench/heaptrack/breakdown.py OUT_DIR [OUT_DIR...]

Prints three Markdown tables: the parts (OpenSSL's SSL_new, the rest of OpenSSL, relinkd's hub and store, the rest
of the server), OpenSSL's state by what it is, and the largest stacks of the server's own state. Bytes are heaptrack's
requested sizes of allocations still live when the server was killed, divided by its established connections.

A stack is OpenSSL's when any frame is in libssl or libcrypto. Those libraries have no symbols on Debian: frames
without a name become library+offset through the server's memory map, and OpenSSL's state is grouped by the public
functions on the stack and, where only private functions allocate, by offsets in Debian 12's libssl3 3.0.x build
(another build puts those in "other").
"""
import collections
import os
import re
import sys

OPENSSL = re.compile(r"^(libssl|libcrypto|SSL_|CRYPTO_|EVP_|BIO_|X509_|OPENSSL_|ossl_|RAND_)")
KINDS = [
    ("the SSL object (SSL_new)", ["SSL_new"]),
    ("two cipher contexts", ["EVP_CipherInit_ex"]),
    ("the SSL_SESSION", ["SSL_SESSION_new", "libssl+3fa66", "libssl+3fb06"]),
    ("the two key shares", ["EVP_PKEY_generate"]),
    ("the handshake transcript digest",
     ["EVP_MD_CTX_copy_ex", "libssl+74454", "libssl+27080", "libssl+2704e"]),
    ("the cipher list the client offered", ["OPENSSL_sk_insert", "libssl+3a5c6", "libssl+3a433"]),
    ("TLS 1.3 key schedule secrets", ["libssl+4e4b4", "libssl+4e1fc"]),
    ("BIOs", ["BIO_new"]),
    ("a record buffer held under SSL_read", ["libssl+556e3"]),
]
HUB = ("Hub::", "MemoryStore", "deadlines.hpp", "hub.cpp")


def load(directory):
    count = open(os.path.join(directory, "count.txt")).read()
    sessions = int(re.search(r"established (\d+)", count).group(1))
    regions = []
    for line in open(os.path.join(directory, "maps.txt")):
        fields = line.split()
        if len(fields) >= 6:
            low, high = (int(x, 16) for x in fields[0].split("-"))
            name = os.path.basename(fields[5]).split(".so")[0]
            regions.append((low, high, int(fields[2], 16), name))

    def frame_name(frame):
        if frame.startswith("0x"):
            address = int(frame, 16)
            for low, high, offset, name in regions:
                if low <= address < high:
                    return "%s+%x" % (name, address - low + offset)
        return frame

    stacks = collections.Counter()
    for line in open(os.path.join(directory, "leaked.collapsed")):
        stack, _, cost = line.rstrip("\n").rpartition(" ")
        if int(cost) > 0:
            stacks[tuple(frame_name(f) for f in stack.split(";"))] += int(cost)
    return sessions, stacks


def classify(stacks):
    parts, kinds, own = collections.Counter(), collections.Counter(), collections.Counter()
    for frames, cost in stacks.items():
        if any(OPENSSL.match(f) for f in frames):
            joined = " ".join(frames)
            parts["OpenSSL: SSL_new" if "SSL_new" in joined else "OpenSSL: the rest"] += cost
            for kind, marks in KINDS:
                if any(m in joined for m in marks):
                    kinds[kind] += cost
                    break
            else:
                kinds["other"] += cost
        else:
            hub = any(any(m in f for m in HUB) for f in frames)
            parts["hub and its store" if hub else "the rest of the server"] += cost
            named = [re.sub(r"\(.*", "", f).strip() for f in frames if "relink::" in f or ".cpp)" in f]
            own[" > ".join(named[-2:]) if named else " > ".join(frames[-3:])] += cost
    return parts, kinds, own


def table(title, rows, columns):
    print("| %s | %s |" % (title, " | ".join(name for name, _, _ in columns)))
    print("|" + " --- |" * (len(columns) + 1))
    for row in rows:
        print("| %s | %s |" % (row, " | ".join("{:,.0f}".format(c[row] / n) for _, n, c in columns)))


def main():
    runs = [(d, *load(d)) for d in sys.argv[1:]]
    if not runs:
        sys.exit(__doc__)
    classified = [(d, n, classify(s)) for d, n, s in runs]
    print("sessions: " + ", ".join("%s %d" % (d, n) for d, n, _ in classified) + "\n")
    parts = ["OpenSSL: SSL_new", "OpenSSL: the rest", "hub and its store", "the rest of the server"]
    totals = [(d, n, collections.Counter({"total": sum(c[0].values())})) for d, n, c in classified]
    table("part", parts, [(d, n, c[0]) for d, n, c in classified])
    table("all", ["total"], totals)
    print()
    table("OpenSSL", [k for k, _ in KINDS] + ["other"], [(d, n, c[1]) for d, n, c in classified])
    print()
    own = collections.Counter()
    for _, n, c in classified:
        for k, v in c[2].items():
            own[k] += v / n
    table("the server's own, largest", [k for k, _ in own.most_common(15)], [(d, n, c[2]) for d, n, c in classified])


if __name__ == "__main__":
    main()
