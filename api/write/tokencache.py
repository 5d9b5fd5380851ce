"""Which app a client token belongs to, remembered per process for POST /v2/authenticate.

The database lookup was half of the ingestion path's cost (`python -m loadtest.bench`: 1,310
events/s without this cache, about twice that with it). An entry holds only while the Redis counter
gh:write:gen has the value it had before the lookup; every commit that touches tokens, apps or teams
bumps it (worker.queue.after_commit, the hook every writing process installs). The counter is read at most once per ``recheck`` seconds
per process (reading it on every request was 40 % of the path), so a revoked token, a deleted app
or an expired team is refused within that time in every process: the same order of delay as the
read service's snapshots. Entries also expire after ``max_age`` seconds, in case a bump was lost,
and without Redis every request is looked up.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
import structlog

from store.snapshot_format import WRITE_GEN_KEY

log = structlog.get_logger("gatehouse.tokencache")


class ClientTokenCache:
    def __init__(
        self,
        connection: redis.Redis,
        recheck: float = 0.05,
        max_age: float = 10.0,
        max_entries: int = 100_000,
    ):
        self.redis, self.recheck, self.max_age, self.max_entries = connection, recheck, max_age, max_entries
        self.entries: dict[str, tuple[int, bytes | None, float]] = {}
        self._gen: bytes | None = None
        self._checked = float("-inf")

    def _generation(self, now: float) -> bytes | None:
        if now - self._checked >= self.recheck:
            self._gen = self.redis.get(WRITE_GEN_KEY)
            self._checked = now
        return self._gen

    def app_id(self, digest: str | None, lookup: Callable[[str | None], int]) -> int:
        """``lookup`` raises for a token that is unknown or whose app may not be served; only successes are kept."""
        now = time.monotonic()
        try:
            gen = self._generation(now)
        except redis.RedisError:
            log.warning("token cache bypassed: Redis unavailable")
            return lookup(digest)
        hit = self.entries.get(digest) if digest is not None else None
        if hit is not None and hit[1] == gen and hit[2] > now:
            return hit[0]
        # The generation was read before the lookup: a change committed meanwhile moves it past `gen`.
        app_id = lookup(digest)
        if digest is not None:
            if len(self.entries) >= self.max_entries:
                self.entries.clear()
            self.entries[digest] = (app_id, gen, now + self.max_age)
        return app_id
