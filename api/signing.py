"""Signed, expiring bundle download links: the read service signs, the write API checks (no ORM here).

The expiry is rounded up to a whole period, so every device asking within one period gets the same link
(one HMAC per bundle and period, memoised) and a link lives between one and two periods.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import redis

SECRET_KEY = "gh:capgo:url-secret"


def shared_secret(r: redis.Redis, configured: str) -> bytes:
    """The configured key, or the deployment's generated one (kept in Redis, created by whoever asks first)."""
    if configured:
        return configured.encode()
    r.set(SECRET_KEY, secrets.token_hex(32), nx=True)
    return r.get(SECRET_KEY)


def expiry(period: int, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return (int(now) // period + 2) * period


def signature(secret: bytes, bundle_id: int, expires: int) -> str:
    return hmac.new(secret, f"{bundle_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:40]


def path(secret: bytes, bundle_id: int, name: str, expires: int) -> str:
    return f"/capgo/bundles/{bundle_id}/{name}.zip?expires={expires}&signature={signature(secret, bundle_id, expires)}"


def valid(secret: bytes, bundle_id: int, expires: str, given: str, now: float | None = None) -> bool:
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature(secret, bundle_id, int(expires)), given)
