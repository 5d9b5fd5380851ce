"""Durable record of apps whose snapshot is stale (a transactional outbox).

A row is written in the same transaction as the change that made the snapshot
stale. The rebuild job deletes it only if its ``seq`` is unchanged since the
rebuild read it, so a change that commits during a rebuild is never dropped:
its row survives and the sweep (or its own enqueue) renders it again.
"""

from __future__ import annotations

import datetime as dt

from store.db import mark_stale_in_uow, tuples
from store.models import SnapshotOutbox, utcnow


def mark_stale(app_id: int) -> None:
    now = utcnow()
    (
        SnapshotOutbox.insert(app_id=app_id, seq=1, requested_at=now)
        .on_conflict(
            conflict_target=[SnapshotOutbox.app_id],
            update={SnapshotOutbox.seq: SnapshotOutbox.seq + 1, SnapshotOutbox.requested_at: now},
        )
        .execute()
    )
    mark_stale_in_uow(app_id)


def current_seqs(app_ids: list[int]) -> dict[int, int]:
    """The outbox sequence of each of these apps that has a row."""
    q = SnapshotOutbox.select(SnapshotOutbox.app_id, SnapshotOutbox.seq).where(
        SnapshotOutbox.app_id.in_(app_ids)
    )
    return dict(tuples(q))


def clear_many(seqs: dict[int, int]) -> None:
    """Deletes each app's row whose sequence is still the one read (a change since keeps its row)."""
    if not seqs:
        return
    by_seq: dict[int, list[int]] = {}
    for app_id, seq in seqs.items():
        by_seq.setdefault(seq, []).append(app_id)
    for seq, ids in by_seq.items():
        SnapshotOutbox.delete().where(SnapshotOutbox.app_id.in_(ids) & (SnapshotOutbox.seq == seq)).execute()


def stale_app_ids(older_than_seconds: float) -> list[int]:
    cutoff = utcnow() - dt.timedelta(seconds=older_than_seconds)
    q = SnapshotOutbox.select(SnapshotOutbox.app_id).where(SnapshotOutbox.requested_at <= cutoff)
    return [r.app_id for r in q.order_by(SnapshotOutbox.requested_at)]


def backlog() -> tuple[int, float]:
    """How many apps wait for a rebuild, and the age in seconds of the oldest request (0 when none)."""
    rows = list(
        SnapshotOutbox.select(SnapshotOutbox.requested_at).order_by(SnapshotOutbox.requested_at).limit(1)
    )
    count = SnapshotOutbox.select().count()
    oldest = (utcnow() - rows[0].requested_at).total_seconds() if rows else 0.0
    return count, max(oldest, 0.0)
