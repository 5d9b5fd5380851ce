"""Applies the read service's device batches (store/device_events.py) to the database.

A thread of the worker process reads the stream as a member of one consumer group, applies each entry
in a transaction (store.devices.apply_batch: devices upserted in bulk, actions counted, channel choices
checked and saved), and acknowledges it only after the commit. An entry a killed worker held is claimed
again after ``streams.CLAIM_IDLE_MS``; one applied before is recognised and only acknowledged.

Nothing is retried forever. A record the database refuses is set aside by apply_batch and the rest of
its batch applied; the record is logged, counted (REJECTED_COUNT) and kept in the REJECTED stream for
inspection (``redis-cli XRANGE gh:devices:rejected - +``). An entry that cannot be decoded, or that failed
``MAX_FAILURES`` times while the database answered, goes there whole and is acknowledged. An entry that
fails because the database cannot be reached is not counted against it: it waits for the database.
"""

from __future__ import annotations

import threading
import time

import orjson
import redis
import structlog

from store import device_events as events
from store import devices
from store.service import drop_dead_connection, is_unavailable, release_connection, unit_of_work
from worker import streams

log = structlog.get_logger("gatehouse.worker.sightings")

REJECTED = "gh:devices:rejected"
REJECTED_COUNT = "gh:devices:rejected:total"
REJECTED_MAX = 10_000  # the stream of set-aside records is trimmed to about this many
FAILURES = "gh:devices:failures"  # entry id -> failures while the database answered
MAX_FAILURES = 3


def set_aside(r: redis.Redis, entry_id: str, what: str, record, error: str) -> None:
    """Keeps a record (or a whole entry) the database refused, counts it, and logs it."""
    text = record if isinstance(record, str) else orjson.dumps(record, default=str).decode()
    r.pipeline(transaction=False).xadd(
        REJECTED,
        {
            "entry": entry_id,
            "what": what,
            "record": text[:4096],
            "error": error[:300],
            "at": str(time.time()),
        },
        maxlen=REJECTED_MAX,
        approximate=True,
    ).incr(REJECTED_COUNT).execute()
    log.warning("device record set aside", entry=entry_id, what=what, error=error, record=text[:300])


def _batch(entry_id: str, raw: bytes) -> devices.Batch:
    entry = events.decode(raw)
    return devices.Batch(
        entry_id=f"{events.STREAM}:{entry_id}",
        sightings=entry.sightings,
        actions=entry.actions,
        choices=entry.choices,
        outcomes=entry.outcomes,
    )


def _done(r: redis.Redis, entry_id) -> None:
    r.pipeline(transaction=False).xack(events.STREAM, events.GROUP, entry_id).xdel(
        events.STREAM, entry_id
    ).hdel(FAILURES, entry_id).execute()


def apply_entries(r: redis.Redis, entries) -> int:
    """Applies and acknowledges entries in order; returns how many were new."""
    applied = 0
    for entry_id, fields in entries:
        if not fields:  # trimmed away while pending
            r.xack(events.STREAM, events.GROUP, entry_id)
            continue
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        raw = fields.get(b"b", b"")
        try:
            batch = _batch(eid, raw)
        except (ValueError, TypeError, KeyError) as exc:  # orjson's decode error is a ValueError
            set_aside(r, eid, "entry", raw.decode("utf-8", "replace"), f"cannot decode: {exc}")
            _done(r, entry_id)
            continue
        drop_dead_connection()
        try:
            with unit_of_work():
                applied += devices.apply_batch(batch)
        except Exception as exc:
            release_connection()
            if is_unavailable(exc):
                raise
            if r.hincrby(FAILURES, eid, 1) < MAX_FAILURES:
                raise
            set_aside(r, eid, "entry", raw.decode("utf-8", "replace"), f"failed {MAX_FAILURES} times: {exc}")
            _done(r, entry_id)
            continue
        for what, record, error in batch.rejected:
            set_aside(r, eid, what, record, error)
        _done(r, entry_id)
    return applied


def consume(r: redis.Redis, name: str, stop: threading.Event) -> None:
    streams.follow(r, name, stop, events.STREAM, events.GROUP, apply_entries, "device batches")


def drain(r: redis.Redis, name: str = "drain", claim_idle: bool = False) -> int:
    """Applies every entry waiting now, without blocking (the CLI's and tests' one-shot)."""
    return streams.drain(r, events.STREAM, events.GROUP, apply_entries, name, claim_idle=claim_idle)
