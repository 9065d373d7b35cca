"""relink.token — mints relink login tokens in pure Python (hmac, hashlib, base64, json), for tests, local tools
and backends written in Python. The format is docs/tokens.md's, byte for byte what relink-token prints:

    rl1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(secret, "rl1." + claims part))>

with base64url unpadded and the claims ``{"app":..,"user":..,"exp":..,"ch":[..]}`` in that order, without spaces,
``ch`` left out when empty.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Optional, Sequence

#: The longest token relinkd accepts (bytes).
MAX_TOKEN_SIZE = 4096
_PREFIX = "rl1."


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(
    app_id: str,
    user_id: str,
    secret: str,
    *,
    ttl: Optional[float] = 86400,
    expires_at: Optional[int] = None,
    channels: Sequence[str] = (),
) -> str:
    """A token for `user_id` of `app_id`, signed with the app's `secret`.

    The token expires `ttl` seconds from now (default one day), or at the Unix time `expires_at` when given
    (0: never). `channels`, when not empty, are the only channels the holder may join.

    Raises ValueError for an empty secret or a token longer than MAX_TOKEN_SIZE."""
    if not secret:
        raise ValueError("relink.token.mint: the secret is empty")
    if expires_at is None:
        expires_at = 0 if ttl is None else int(time.time()) + int(ttl)
    claims = {"app": app_id, "user": user_id, "exp": int(expires_at)}
    if channels:
        claims["ch"] = list(channels)
    claims_part = _b64url(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    signed = _PREFIX + claims_part
    mac = hmac.new(secret.encode("utf-8"), signed.encode("ascii"), hashlib.sha256).digest()
    token = signed + "." + _b64url(mac)
    if len(token) > MAX_TOKEN_SIZE:
        raise ValueError("relink.token.mint: the token would be longer than 4096 bytes")
    return token
