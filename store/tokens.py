"""Token formats and hashing, shared by the read service and the write API (no ORM).

Raw tokens carry a prefix (``ghc_`` for client tokens, ``ghu_`` for admin user
tokens). The AppCockpit documentation asks clients to send the token base64
encoded, while its published SDKs send it raw; the prefix makes the two forms
unambiguous, because no base64 text of a ``ghc_`` token starts with ``ghc_``.
Only SHA-256 digests are stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

CLIENT_PREFIX = "ghc_"
USER_PREFIX = "ghu_"
SESSION_PREFIX = "ghs_"  # console sessions (store/sessions.py): never accepted as an API token
KEY_PREFIX = "gatehouse_key_"  # scoped API keys (store/api_keys.py): long and distinct, for secret scanners


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def client_token_digest(header: str | None) -> str | None:
    """Digest of the client token in an x-api-token header, raw or base64-encoded."""
    if not header:
        return None
    header = header.strip()
    if header.startswith(CLIENT_PREFIX):
        return digest(header)
    try:
        decoded = base64.b64decode(header + "=" * (-len(header) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    decoded = decoded.strip()
    if decoded.startswith(CLIENT_PREFIX):
        return digest(decoded)
    return None


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
