"""Each test process's own services, so parallel workers (pytest-xdist, `make test`) never share state.

A lane is the process's PostgreSQL database names, suffixed with its xdist worker id (``gw0``, ``gw1``...;
``GATEHOUSE_TEST_LANE`` names a lane by hand, for a second checkout's run), and its own redis-server on a
free loopback port, started on first use and stopped when the process ends. A test that needs a Redis
database of its own asks for ``redis_url(n)``: a number no other lane's test can reach.
"""

from __future__ import annotations

import atexit
import os

from loadtest.services import PrivateRedis

LANE = os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("GATEHOUSE_TEST_LANE", "")
PG_BASE = os.environ.get("GATEHOUSE_TEST_PG", "postgresql://postgres:postgres@127.0.0.1:5432")

_redis: PrivateRedis | None = None


def pg(name: str) -> str:
    """The URL of this lane's database ``name`` (created by the fixture that uses it)."""
    return f"{PG_BASE}/{name}_{LANE}" if LANE else f"{PG_BASE}/{name}"


def redis_url(db: int) -> str:
    """Database ``db`` (0-15) of this lane's redis-server."""
    global _redis
    if _redis is None:
        _redis = PrivateRedis()
        _redis.start()
        atexit.register(_redis.close)
    return _redis.url(db)
