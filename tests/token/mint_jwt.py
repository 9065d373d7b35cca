#!/usr/bin/env python3
"""Mints a JWT independently of relink's code, for the tests of relinkd's JWT login (tests/server/jwt_login_test.cpp,
tests/token/jwt_test.cpp): Python's standard library (base64, hashlib, hmac, json) for HS256, and the openssl command
line (`openssl dgst -sha256 -sign`) for ES256 and RS256, whose DER ECDSA signature is rewritten here as JOSE's r||s.

usage: mint_jwt.py --alg HS256|ES256|RS256|none (--secret S | --secret-file F | --key PRIVATE.pem)
                   [--header JSON] CLAIMS_JSON

Prints the token alone on one line. --header replaces the whole JOSE header (default {"alg": ALG, "typ": "JWT"}), so
a test can name one algorithm and sign with another. --secret-file keys HS256 with a file's bytes (e.g. a public
key's PEM text, as an attacker would try against a server that confused keys and secrets).
"""
import argparse
import base64
import hashlib
import hmac
import json
import subprocess
import sys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_to_raw(der: bytes) -> bytes:
    """ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (DER) -> r||s, 32 bytes each (P-256)."""
    def read_length(pos):
        length = der[pos]
        if length < 0x80:
            return length, pos + 1
        count = length & 0x7F
        return int.from_bytes(der[pos + 1:pos + 1 + count], "big"), pos + 1 + count

    if der[0] != 0x30:
        raise ValueError("not a DER sequence")
    _, pos = read_length(1)
    out = b""
    for _ in range(2):
        if der[pos] != 0x02:
            raise ValueError("not a DER integer")
        length, pos = read_length(pos + 1)
        value = int.from_bytes(der[pos:pos + length], "big")
        out += value.to_bytes(32, "big")
        pos += length
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alg", required=True)
    parser.add_argument("--secret")
    parser.add_argument("--secret-file")
    parser.add_argument("--key")
    parser.add_argument("--header")
    parser.add_argument("claims")
    args = parser.parse_args()

    header = json.loads(args.header) if args.header else {"alg": args.alg, "typ": "JWT"}
    claims = json.loads(args.claims)
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    if args.alg == "none":
        signature = b""
    elif args.alg == "HS256":
        if args.secret_file:
            with open(args.secret_file, "rb") as f:
                key = f.read()
        else:
            key = args.secret.encode()
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    elif args.alg in ("ES256", "RS256"):
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.key], input=signing_input.encode(),
                                   stdout=subprocess.PIPE, check=True).stdout
        if args.alg == "ES256":
            signature = der_to_raw(signature)
    else:
        print("unknown --alg " + args.alg, file=sys.stderr)
        return 2
    print(signing_input + "." + b64url(signature))
    return 0


if __name__ == "__main__":
    sys.exit(main())
