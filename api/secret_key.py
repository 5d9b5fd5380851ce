"""The key secrets are kept encrypted under (store/secretbox.py): GATEHOUSE_SECRET_KEY, or one generated
once and kept in Redis when none is set (set one in production: Redis then holds no key material)."""

from __future__ import annotations

import secrets

import redis

from api.settings import Settings

REDIS_KEY = "gh:secret:key"


def secret_key(settings: Settings, r: redis.Redis) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    r.set(REDIS_KEY, secrets.token_hex(32), nx=True)
    return r.get(REDIS_KEY)
