"""Applies the read service's authentication batches (store/auth_events.py) to the database.

All the entries of one read go in one transaction (each batch once: store.ingest records its id), are
acknowledged and deleted after the commit, and their batch ids are added to ``APPLIED`` so the read
processes that sent them can forget them. An entry that cannot be decoded is logged and dropped; one the
database fails on stays pending and is claimed again (worker/streams.py).
"""

from __future__ import annotations

import threading
import time

import redis
import structlog

from store import auth_events as events
from store import ingest
from store.service import drop_dead_connection, release_connection, unit_of_work
from worker import streams

log = structlog.get_logger("gatehouse.worker.authentications")


def apply_entries(r: redis.Redis, entries: list) -> int:
    """Applies a read's entries in one transaction; returns how many events were new."""
    batches, ids = [], []
    for entry_id, fields in entries:
        ids.append(entry_id)
        if not fields:  # trimmed away while pending
            continue
        try:
            batches.append(events.decode(fields.get(b"b", b"")))
        except (ValueError, TypeError) as exc:  # orjson's decode error is a ValueError
            log.warning("authentication batch dropped: cannot decode", entry=str(entry_id), error=str(exc))
    applied = 0
    if batches:
        drop_dead_connection()
        try:
            with unit_of_work():
                applied = ingest.apply_authentications(batches)
        except Exception:
            release_connection()
            raise
    now = time.time()
    pipe = r.pipeline(transaction=False)
    pipe.xack(events.STREAM, events.GROUP, *ids).xdel(events.STREAM, *ids)
    if batches:
        pipe.zadd(events.APPLIED, {batch_id: now for batch_id, _ in batches})
        pipe.zremrangebyscore(events.APPLIED, "-inf", now - events.APPLIED_KEEP)
    pipe.execute()
    return applied


# A read's entries go in one transaction of a few statements, however many: the more per read, the fewer
# transactions per event (a busy read service sends small entries, one per group of concurrent requests).
ENTRIES_PER_READ = 500


def consume(r: redis.Redis, name: str, stop: threading.Event) -> None:
    streams.follow(
        r, name, stop, events.STREAM, events.GROUP, apply_entries, "authentication batches", ENTRIES_PER_READ
    )


def drain(r: redis.Redis, name: str = "drain", claim_idle: bool = False) -> int:
    """Applies every batch waiting now, without blocking (the tests' one-shot)."""
    return streams.drain(
        r, events.STREAM, events.GROUP, apply_entries, name, ENTRIES_PER_READ, claim_idle=claim_idle
    )
