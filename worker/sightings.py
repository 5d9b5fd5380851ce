"""Applies the read service's device batches (api/dialects/capgo/events.py) to the database.

A thread of the worker process reads the stream as a member of one consumer group, applies each entry
in a transaction (store.devices.apply_batch: devices upserted in bulk, actions counted, channel choices
checked and saved), and acknowledges it only after the commit. An entry a killed worker held is claimed
again after ``CLAIM_IDLE_MS``; one applied before is recognised and only acknowledged.
"""

from __future__ import annotations

import threading
import time

import redis
import structlog

from api.dialects.capgo import events
from store import devices
from store.service import drop_dead_connection, release_connection, unit_of_work

log = structlog.get_logger("gatehouse.worker.sightings")

CLAIM_IDLE_MS = 5_000
BATCHES_PER_READ = 20


def _batch(entry_id: str, raw: bytes) -> devices.Batch:
    sightings, actions, choices = events.decode(raw)
    return devices.Batch(
        entry_id=f"{events.STREAM}:{entry_id}",
        sightings=sightings,
        actions=actions,
        choices=[tuple(c) for c in choices],
    )


def apply_entries(r: redis.Redis, entries) -> int:
    """Applies and acknowledges entries in order; returns how many were new."""
    applied = 0
    for entry_id, fields in entries:
        if not fields:  # trimmed away while pending
            r.xack(events.STREAM, events.GROUP, entry_id)
            continue
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        batch = _batch(eid, fields[b"b"])
        drop_dead_connection()
        try:
            with unit_of_work():
                applied += devices.apply_batch(batch)
        except Exception:
            release_connection()
            raise
        r.pipeline(transaction=False).xack(events.STREAM, events.GROUP, entry_id).xdel(
            events.STREAM, entry_id
        ).execute()
    return applied


def ensure_group(r: redis.Redis) -> None:
    try:
        r.xgroup_create(events.STREAM, events.GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def consume(r: redis.Redis, name: str, stop: threading.Event) -> None:
    last_claim = 0.0
    while not stop.is_set():
        try:
            ensure_group(r)
            if time.monotonic() - last_claim > 1.0:
                # Entries another (killed) consumer held, and this one's own unacknowledged ones.
                _, claimed, *_ = r.xautoclaim(
                    events.STREAM, events.GROUP, name, CLAIM_IDLE_MS, "0-0", count=BATCHES_PER_READ
                )
                last_claim = time.monotonic()
                if claimed:
                    apply_entries(r, claimed)
            for _, entries in (
                r.xreadgroup(events.GROUP, name, {events.STREAM: ">"}, count=BATCHES_PER_READ, block=500)
                or []
            ):
                apply_entries(r, entries)
        except (redis.RedisError, OSError) as exc:
            log.warning("device batches: Redis unavailable", error=str(exc))
            stop.wait(0.5)
        except Exception:
            # The database failed: the entry stays pending and is claimed again.
            log.exception("device batch not applied; retrying")
            stop.wait(0.5)


def drain(r: redis.Redis, name: str = "drain") -> int:
    """Applies every entry waiting now, without blocking (the CLI's and tests' one-shot)."""
    ensure_group(r)
    applied = 0
    while True:
        got = r.xreadgroup(events.GROUP, name, {events.STREAM: ">"}, count=BATCHES_PER_READ)
        if not got or not got[0][1]:
            return applied
        applied += apply_entries(r, got[0][1])
