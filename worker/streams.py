"""Following a Redis stream as one member of a consumer group: the loop both event streams share.

``apply(r, entries)`` applies and acknowledges a list of (entry id, fields); an entry it leaves pending
(the database failed) is claimed again after ``CLAIM_IDLE_MS``, as is one a killed worker held.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis
import structlog

log = structlog.get_logger("gatehouse.worker.streams")

CLAIM_IDLE_MS = 5_000
ENTRIES_PER_READ = 20

Apply = Callable[[redis.Redis, list], int]


def ensure_group(r: redis.Redis, stream: str, group: str) -> None:
    try:
        r.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def follow(
    r: redis.Redis,
    name: str,
    stop: threading.Event,
    stream: str,
    group: str,
    apply: Apply,
    what: str,
    count: int = ENTRIES_PER_READ,
) -> None:
    last_claim = 0.0
    while not stop.is_set():
        try:
            ensure_group(r, stream, group)
            if time.monotonic() - last_claim > 1.0:
                # Entries another (killed) consumer held, and this one's own unacknowledged ones.
                _, claimed, *_ = r.xautoclaim(stream, group, name, CLAIM_IDLE_MS, "0-0", count=count)
                last_claim = time.monotonic()
                if claimed:
                    apply(r, claimed)
            for _, entries in r.xreadgroup(group, name, {stream: ">"}, count=count, block=500) or []:
                apply(r, entries)
        except (redis.RedisError, OSError) as exc:
            log.warning(f"{what}: Redis unavailable", error=str(exc))
            stop.wait(0.5)
        except Exception:
            # The database failed: the entries stay pending and are claimed again.
            log.exception(f"{what} not applied; retrying")
            stop.wait(0.5)


def drain(
    r: redis.Redis,
    stream: str,
    group: str,
    apply: Apply,
    name: str = "drain",
    count: int = ENTRIES_PER_READ,
    claim_idle: bool = False,
) -> int:
    """Applies every entry waiting now, without blocking (the CLI's and tests' one-shot). ``claim_idle``:
    entries another consumer has held longer than ``CLAIM_IDLE_MS`` first (a worker that was killed)."""
    ensure_group(r, stream, group)
    applied = 0
    while claim_idle:
        _, claimed, *_ = r.xautoclaim(stream, group, name, CLAIM_IDLE_MS, "0-0", count=count)
        if not claimed:
            break
        applied += apply(r, claimed)
    while True:
        got = r.xreadgroup(group, name, {stream: ">"}, count=count)
        if not got or not got[0][1]:
            return applied
        applied += apply(r, got[0][1])
