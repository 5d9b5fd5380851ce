"""RQ jobs: plain functions named by verb, taking ids, safe to run more than once."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time

from api.dialects.registry import compose_snapshot
from store import audit_log, devices, ingest, outbox, rollouts, snapshots, stats
from store.service import drop_dead_connection, release_connection, unit_of_work
from store.snapshot_format import GEN_KEY
from worker import context
from worker.queue import enqueue_rebuilds, make_queue

log = logging.getLogger("gatehouse.jobs")


def _recovering(job):
    """A job that fails hands its connection back to the pool, which replaces it if PostgreSQL dropped it.

    Without this the worker kept a dead connection after a PostgreSQL restart and failed every later job.
    """

    @functools.wraps(job)
    def run(*args, **kwargs):
        drop_dead_connection()
        try:
            return job(*args, **kwargs)
        except Exception:
            release_connection()
            raise

    return run


@_recovering
def rebuild_snapshot(app_id: int) -> bool:
    changed = snapshots.rebuild(context.connection(), app_id, compose_snapshot)
    log.info("rebuild_snapshot app=%s changed=%s", app_id, changed)
    return changed


@_recovering
def rebuild_all_snapshots() -> int:
    r = context.connection()
    ids = snapshots.all_app_ids()
    for app_id in ids:
        snapshots.rebuild(r, app_id, compose_snapshot)
    # Marks the snapshots complete: the schedule rebuilds everything when this key is missing.
    r.setnx(GEN_KEY, 0)
    return len(ids)


@_recovering
def sweep_outbox(grace_seconds: float | None = None) -> int:
    """Re-enqueue apps whose snapshot is still stale: heals lost enqueues and Redis outages.

    The grace period leaves a fresh row to the enqueue its own commit made; the schedule passes 0
    right after Redis comes back, when those enqueues are known to have failed.
    """
    s = context.settings()
    ids = outbox.stale_app_ids(s.outbox_grace_seconds if grace_seconds is None else grace_seconds)
    if ids:
        enqueue_rebuilds(make_queue(context.connection(), s.queue_name), ids)
    return len(ids)


@_recovering
def aggregate_auth_stats(day: str) -> int:
    return stats.aggregate_day(dt.date.fromisoformat(day))


@_recovering
def aggregate_recent_stats() -> int:
    """Today and yesterday (sessions that arrived just before midnight)."""
    today = dt.datetime.now(dt.UTC).date()
    return sum(aggregate_auth_stats(d.isoformat()) for d in (today - dt.timedelta(days=1), today))


@_recovering
def purge_old_sessions() -> int:
    return ingest.purge_sessions(context.settings().session_retention_days)


@_recovering
def prune_applied_batches() -> int:
    """Forgets device batches applied two days ago: a redelivery comes within seconds, never days."""
    return devices.prune_applied()


_last_rollout_check: list[float] = []


@_recovering
def check_rollouts() -> int:
    """Pauses (or rolls back) rollouts whose failure rate crossed their threshold, promotes finished ones,
    announces steps that fell due since the last check; the rebuilds their changes need are enqueued at commit."""
    now = time.time()
    since = _last_rollout_check[-1] if _last_rollout_check else None
    with unit_of_work():
        done = rollouts.evaluate_rollouts(now, since)
    _last_rollout_check[:] = [now]
    for rollout_id, what in done:
        log.warning("rollout %s %s", rollout_id, what)
    return len(done)


@_recovering
def purge_old_audit_entries() -> int:
    return audit_log.purge(context.settings().audit_retention_days)


@_recovering
def deliver_webhooks() -> int:
    from api.secret_key import secret_key
    from worker.webhooks import deliver_due

    settings = context.settings()
    return deliver_due(secret_key(settings, context.connection()), settings)
