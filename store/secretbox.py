"""Secrets kept encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256, from cryptography), under a key
the services derive from GATEHOUSE_SECRET_KEY (api/keys.py)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet


def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"gatehouse-secretbox:" + key).digest()))


def seal(key: bytes, secret: str) -> str:
    return _fernet(key).encrypt(secret.encode()).decode()


def unseal(key: bytes, sealed: str) -> str:
    return _fernet(key).decrypt(sealed.encode()).decode()
