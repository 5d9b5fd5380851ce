"""RQ jobs: plain functions named by verb, taking ids, safe to run more than once."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import time

import redis

from store import audit_log, devices, fleet_stats, ingest, outbox, rollouts, snapshots, stats
from store.service import drop_dead_connection, release_connection, unit_of_work
from store.snapshot_format import COMPLETE_KEY, PENDING_KEY
from worker import context
from worker.queue import enqueue_rebuilds, enqueue_unique, make_queue

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
    changed = snapshots.rebuild(context.connection(), app_id, context.compose())
    log.info("rebuild_snapshot app=%s changed=%s", app_id, changed)
    return changed


# Apps per job of a full rebuild: big enough that a job's fixed costs (RQ's bookkeeping, a dozen queries)
# vanish, small enough that the worker processes of a host share the work and a killed one loses little.
REBUILD_CHUNK = 500


@_recovering
def rebuild_all_snapshots() -> int:
    """Spreads a rebuild of every snapshot over the worker processes, REBUILD_CHUNK apps per job.

    The ranges still to do are kept in Redis (PENDING_KEY) until each range's job finishes, and the last
    one marks the snapshots complete (COMPLETE_KEY); until then the schedule runs this job every tick,
    which enqueues each pending range again unless a live worker or the queue holds it. So a killed or
    failed range job is redone within a tick, and finished ranges are not. Returns the ranges pending."""
    r = context.connection()
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(COMPLETE_KEY, PENDING_KEY)
                if pipe.exists(COMPLETE_KEY):
                    return 0
                pending = {span.decode() for span in pipe.smembers(PENDING_KEY)}
                if pending:
                    pipe.unwatch()
                    break
                ids = snapshots.all_app_ids()
                chunks = (ids[i : i + REBUILD_CHUNK] for i in range(0, len(ids), REBUILD_CHUNK))
                pending = {f"{chunk[0]}-{chunk[-1]}" for chunk in chunks}
                pipe.multi()
                if pending:
                    pipe.sadd(PENDING_KEY, *pending)
                else:
                    pipe.set(COMPLETE_KEY, 1)  # no app at all: nothing to render
                pipe.execute()
                break
            except redis.WatchError:
                continue  # a range finished or a flush came meanwhile: read again
    queue = make_queue(r, context.settings().queue_name)
    for span in sorted(pending):
        low, high = (int(x) for x in span.split("-"))
        enqueue_unique(queue, "worker.jobs.rebuild_snapshot_range", (low, high), f"rebuild-all-{span}")
    return len(pending)


@_recovering
def rebuild_snapshot_range(low: int, high: int) -> int:
    """Renders every app whose id is in [low, high] (a range of a full rebuild); the range's last job marks
    the snapshots complete."""
    r = context.connection()
    changed = snapshots.rebuild_many(r, snapshots.all_app_ids(low, high), context.compose())
    pipe = r.pipeline(transaction=True)
    pipe.srem(PENDING_KEY, f"{low}-{high}")
    pipe.scard(PENDING_KEY)
    removed, left = pipe.execute()
    if removed and left == 0:
        r.set(COMPLETE_KEY, 1)
    log.info("rebuild_snapshot_range %s-%s changed=%s", low, high, changed)
    return changed


# Past this many stale apps a sweep enqueues batches (REBUILD_CHUNK apps a job) instead of a job per app: a
# job's own cost (RQ's bookkeeping, a dozen queries) is most of a one-app rebuild.
SWEEP_SINGLE = 50


@_recovering
def sweep_outbox(grace_seconds: float | None = None) -> int:
    """Re-enqueue apps whose snapshot is still stale: heals lost enqueues and Redis outages.

    The grace period leaves a fresh row to the enqueue its own commit made; the schedule passes 0
    right after Redis comes back, when those enqueues are known to have failed. While a full rebuild is
    under way (the snapshots are not marked complete) it does nothing: the rebuild renders every app, and
    a change it read too early keeps its row for the first sweep after it.
    """
    s, r = context.settings(), context.connection()
    if not r.exists(COMPLETE_KEY):
        return 0
    ids = outbox.stale_app_ids(s.outbox_grace_seconds if grace_seconds is None else grace_seconds)
    queue = make_queue(r, s.queue_name)
    if len(ids) <= SWEEP_SINGLE:
        enqueue_rebuilds(queue, ids)
        return len(ids)
    ids.sort()
    for i in range(0, len(ids), REBUILD_CHUNK):
        chunk = ids[i : i + REBUILD_CHUNK]
        digest = hashlib.blake2b(",".join(map(str, chunk)).encode(), digest_size=8).hexdigest()
        enqueue_unique(queue, "worker.jobs.rebuild_snapshots", (chunk,), f"rebuild-batch-{digest}")
    return len(ids)


@_recovering
def rebuild_snapshots(app_ids: list[int]) -> int:
    """Renders a batch of apps (a sweep that found many stale)."""
    changed = snapshots.rebuild_many(context.connection(), app_ids, context.compose())
    log.info("rebuild_snapshots apps=%s changed=%s", len(app_ids), changed)
    return changed


@_recovering
def aggregate_auth_stats(day: str) -> int:
    return stats.aggregate_day(dt.date.fromisoformat(day))


@_recovering
def aggregate_recent_stats() -> int:
    """Today and yesterday (events that arrived just before midnight): sign-ins and distribution events
    from their raw rows, and today's devices per bundle (the daily tables the console's charts read)."""
    today = dt.datetime.now(dt.UTC).date()
    days = (today - dt.timedelta(days=1), today)
    rows = sum(aggregate_auth_stats(d.isoformat()) for d in days)
    rows += sum(fleet_stats.aggregate_dist_day(d) for d in days)
    return rows + fleet_stats.record_bundle_devices(today)


@_recovering
def purge_old_sessions() -> dict:
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
    s = context.settings()
    with unit_of_work():
        done = rollouts.evaluate_rollouts(now, since, s.rollout_devices_per_address, s.rollout_min_devices)
    _last_rollout_check[:] = [now]
    for rollout_id, what in done:
        log.warning("rollout %s %s", rollout_id, what)
    return len(done)


@_recovering
def purge_old_audit_entries() -> int:
    return audit_log.purge(context.settings().audit_retention_days)
