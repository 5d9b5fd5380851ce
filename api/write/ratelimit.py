"""Failed-login limits per account and client address, counted in Redis so every process shares them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

import falcon
import redis
import structlog

from api.forwarding import Proxies
from api.metrics import DROPPED
from store.errors import NotAuthenticated, TooManyRequests

log = structlog.get_logger("gatehouse.ratelimit")
T = TypeVar("T")


def client_address(req: falcon.Request, proxies: Proxies) -> str:
    """The peer address, or behind trusted proxies, the address the outermost one saw (api/forwarding)."""
    return proxies.client(req.remote_addr or "unknown", req.get_header("X-Forwarded-For"))


class LoginLimiter:
    """After ``max_failures`` failed logins within ``window`` seconds the pair is refused until the window ends.

    A correct password during a lockout is refused too, or the limit would only slow a guesser down.
    Redis being unavailable lets logins through (logged): argon2 already makes each guess expensive,
    and an outage of the cache should not lock every user out.
    """

    def __init__(self, connection: redis.Redis, max_failures: int, window: int, proxies: Proxies):
        self.redis, self.max_failures, self.window, self.proxies = connection, max_failures, window, proxies

    def _key(self, req: falcon.Request, account: str) -> str:
        pair = f"{account.strip().lower()}\0{client_address(req, self.proxies)}"
        return "gh:loginfail:" + hashlib.sha256(pair.encode()).hexdigest()[:32]

    def attempt(self, req: falcon.Request, account: str, login: Callable[[], T]) -> T:
        key = self._key(req, account)
        try:
            failures, ttl = self.redis.pipeline().get(key).ttl(key).execute()
        except redis.RedisError:
            log.warning("login limiter unavailable; login allowed")
            DROPPED.labels("login_limit").inc()
            return login()
        if failures is not None and int(failures) >= self.max_failures:
            raise TooManyRequests("too many failed login attempts, try again later", max(int(ttl), 1))
        try:
            result = login()
        except NotAuthenticated:
            try:
                pipe = self.redis.pipeline()
                pipe.incr(key)
                pipe.expire(key, self.window, nx=True)
                pipe.execute()
            except redis.RedisError:
                log.warning("login limiter unavailable; failure not counted")
            raise
        try:
            self.redis.delete(key)
        except redis.RedisError:
            pass
        return result
