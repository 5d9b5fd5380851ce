"""Client authentication events on their way from the read service to the database.

The read service answers an authentication once its event is in the Redis stream (or, with Redis down, in
its bounded buffer), in batches of whatever arrived while the previous batch was being written. Each batch
carries an id the read process chose: the worker applies a batch in one transaction and records its id, so
a batch delivered twice (re-sent after Redis lost it, or claimed again from a killed worker) counts once.
The worker then adds the id to ``APPLIED``, which the read process checks before it forgets a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import orjson

STREAM = "gh:auth:events"
GROUP = "gatehouse"
STREAM_MAX = 100_000  # entries; a worker far behind loses the oldest beyond this (never in steady state)
APPLIED = "gh:auth:applied"  # sorted set: batch id -> when the worker applied it
APPLIED_KEEP = 600.0  # seconds the ids stay: far longer than a read process waits for one


class AuthEvent(NamedTuple):
    app: str  # the app's public id
    user_id: str
    platform: str
    app_version: str
    environment: str | None
    at: float  # epoch seconds


def encode(batch_id: str, events: Sequence[AuthEvent] | Sequence[tuple]) -> bytes:
    return orjson.dumps({"id": batch_id, "e": events}, default=tuple)


def decode(raw: bytes) -> tuple[str, list[AuthEvent]]:
    """The batch id and its events; ValueError (or TypeError) for what is not such a batch."""
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or len(doc["id"]) > 40:
        raise ValueError("an authentication batch is {id, e}")
    return doc["id"], [
        AuthEvent(str(a), str(u), str(p), str(v), e, float(t)) for a, u, p, v, e, t in doc["e"]
    ]
