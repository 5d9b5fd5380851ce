"""Rebuild requests never merge into a job nobody will run, and the schedule heals Redis losses."""

from __future__ import annotations

from rq.job import Job, JobStatus

from store import rules
from store.db import unit_of_work
from store.snapshot_format import GEN_KEY
from worker.heartbeat import beat
from worker.main import Schedule
from worker.queue import REBUILD, enqueue_rebuild, make_queue


def _abandon(queue, job_id: str, app_id: int, status: str, worker: str = "") -> Job:
    """Leaves a job as a SIGKILLed worker does: started by a dead worker, or dequeued and never started."""
    job = queue.enqueue(REBUILD, app_id, job_id=job_id)
    queue.connection.lrem(queue.key, 0, job_id)  # taken off the queue (RQ's intermediate list)
    job.set_status(status)
    if worker:
        job.worker_name = worker
        job.save()
    return job


def test_a_rebuild_never_merges_into_jobs_a_killed_worker_left(settings, redis_conn, world, sync, cache):
    queue = make_queue(redis_conn, settings.queue_name)
    app = world.app
    _abandon(queue, f"rebuild-{app.id}", app.id, JobStatus.STARTED, worker="killed-worker")
    _abandon(queue, f"rebuild-{app.id}-again", app.id, JobStatus.QUEUED)
    with unit_of_work():
        rules.create_version_rule(
            world.user,
            world.app_id,
            {"version": "2.0.0", "platform": "ios", "environment": "production", "update_message": "fresh"},
        )
    # Before the fix both ids "covered" the request and nothing ever ran it.
    assert queue.connection.lpos(queue.key, f"rebuild-{app.id}") is not None
    sync()
    assert cache.state.apps[world.app_id].exact


def test_a_job_a_live_worker_runs_is_not_replaced(settings, redis_conn, world):
    queue = make_queue(redis_conn, settings.queue_name)
    app = world.app
    beat(redis_conn, "busy-worker")
    _abandon(queue, f"rebuild-{app.id}", app.id, JobStatus.STARTED, worker="busy-worker")
    enqueue_rebuild(queue, app.id)
    # The running one may have read before the commit: the follow-up id takes the request.
    assert Job.fetch(f"rebuild-{app.id}", connection=redis_conn).get_status() == JobStatus.STARTED
    assert queue.connection.lpos(queue.key, f"rebuild-{app.id}-again") is not None


def test_schedule_rebuilds_everything_after_redis_lost_its_snapshots(settings, redis_conn):
    schedule = Schedule(settings, redis_conn)
    queue = schedule.queue
    redis_conn.set(GEN_KEY, 1)
    schedule.tick(now=0)
    assert set(queue.job_ids) == {
        "periodic-sweep-outbox",
        "periodic-aggregate-stats",
        "periodic-purge-sessions",
        "periodic-prune-applied",
        "periodic-check-rollouts",
        "periodic-purge-audit",
        "periodic-deliver-webhooks",
    }
    redis_conn.delete(GEN_KEY)  # a Redis restart without persistence, or a flush
    schedule.tick(now=0.5)
    assert {"rebuild-all", "sweep-outbox-now"} <= set(queue.job_ids)
    assert Job.fetch("sweep-outbox-now", connection=redis_conn, serializer=queue.serializer).args == [0.0]


def test_schedule_sweeps_at_once_when_redis_comes_back(settings, redis_conn):
    import redis

    schedule = Schedule(settings, redis.Redis.from_url("redis://127.0.0.1:1/0"))  # nothing listens there
    schedule.tick(now=0)
    assert schedule.redis_was_down
    schedule.queue = make_queue(redis_conn, settings.queue_name)
    redis_conn.set(GEN_KEY, 1)
    schedule.tick(now=0.5)
    assert "sweep-outbox-now" in schedule.queue.job_ids and not schedule.redis_was_down
