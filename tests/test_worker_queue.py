"""Rebuild requests never merge into a job nobody will run, and the schedule heals Redis losses."""

from __future__ import annotations

import threading
import time

import redis
from rq.job import Job, JobStatus

from store import rules
from store.db import unit_of_work
from store.snapshot_format import COMPLETE_KEY
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
    assert cache.state.apps[world.app_id].part("appcockpit").exact


def test_a_job_a_live_worker_runs_is_not_replaced(settings, redis_conn, world):
    queue = make_queue(redis_conn, settings.queue_name)
    app = world.app
    beat(redis_conn, "busy-worker")
    _abandon(queue, f"rebuild-{app.id}", app.id, JobStatus.STARTED, worker="busy-worker")
    enqueue_rebuild(queue, app.id)
    # The running one may have read before the commit: the follow-up id takes the request.
    assert Job.fetch(f"rebuild-{app.id}", connection=redis_conn).get_status() == JobStatus.STARTED
    assert queue.connection.lpos(queue.key, f"rebuild-{app.id}-again") is not None


def test_a_job_a_live_worker_is_starting_is_not_replaced(settings, redis_conn, world):
    """Taken off the queue, not yet marked started: the request waits for the worker to start it (asking
    every 2 ms), then goes to the follow-up id, as for any running job."""
    queue = make_queue(redis_conn, settings.queue_name)
    app = world.app
    beat(redis_conn, "starting-worker")
    job = _abandon(queue, f"rebuild-{app.id}", app.id, JobStatus.QUEUED)

    def start() -> None:
        time.sleep(0.01)
        job.worker_name = "starting-worker"
        job.save()
        job.set_status(JobStatus.STARTED)

    starter = threading.Thread(target=start)
    starter.start()
    enqueue_rebuild(queue, app.id)
    starter.join()
    assert Job.fetch(f"rebuild-{app.id}", connection=redis_conn).get_status() == JobStatus.STARTED
    assert queue.connection.lpos(queue.key, f"rebuild-{app.id}") is None
    assert queue.connection.lpos(queue.key, f"rebuild-{app.id}-again") is not None


def test_schedule_rebuilds_everything_after_redis_lost_its_snapshots(settings, redis_conn):
    schedule = Schedule(settings, redis_conn)
    queue = schedule.queue
    redis_conn.set(COMPLETE_KEY, 1)
    schedule.tick(now=0)
    assert set(queue.job_ids) == {
        "periodic-sweep-outbox",
        "periodic-aggregate-stats",
        "periodic-purge-sessions",
        "periodic-prune-applied",
        "periodic-check-rollouts",
        "periodic-purge-audit",
    }
    redis_conn.delete(COMPLETE_KEY)  # a Redis restart without persistence, or a flush
    schedule.tick(now=0.5)
    assert {"rebuild-all", "sweep-outbox-now"} <= set(queue.job_ids)
    assert Job.fetch("sweep-outbox-now", connection=redis_conn, serializer=queue.serializer).args == [0.0]


def test_schedule_sweeps_at_once_when_redis_comes_back(settings, redis_conn):
    import redis

    schedule = Schedule(settings, redis.Redis.from_url("redis://127.0.0.1:1/0"))  # nothing listens there
    schedule.tick(now=0)
    assert schedule.redis_was_down
    schedule.queue = make_queue(redis_conn, settings.queue_name)
    redis_conn.set(COMPLETE_KEY, 1)
    schedule.tick(now=0.5)
    assert "sweep-outbox-now" in schedule.queue.job_ids and not schedule.redis_was_down


def _range_jobs(queue) -> list[str]:
    return sorted(j for j in queue.job_ids if j.startswith("rebuild-all-"))


def test_a_full_rebuild_is_spread_over_range_jobs_and_a_killed_one_is_redone(
    settings, redis_conn, root, sync, cache, monkeypatch
):
    from store.bootstrap import load_scale
    from store.snapshot_format import APP_KEY, PENDING_KEY
    from worker import jobs

    monkeypatch.setattr(jobs, "REBUILD_CHUNK", 2)
    apps = load_scale(root.user, 5, 1, batch=5)
    queue = make_queue(redis_conn, settings.queue_name)
    redis_conn.flushdb()  # the snapshots are lost
    assert jobs.rebuild_all_snapshots() == 3  # five apps in three ranges, each a job any worker may take
    ranges = _range_jobs(queue)
    assert len(ranges) == 3 and redis_conn.scard(PENDING_KEY) == 3
    # The first range's worker is SIGKILLed mid-job: its job stays "started" by a worker that is gone.
    first = Job.fetch(ranges[0], connection=redis_conn, serializer=queue.serializer)
    queue.connection.lrem(queue.key, 0, first.id)
    first.set_status(JobStatus.STARTED)
    first.worker_name = "killed-worker"
    first.save()
    sync()  # the other two ranges run
    assert redis_conn.scard(PENDING_KEY) == 1 and not redis_conn.exists(COMPLETE_KEY)
    assert sum(redis_conn.exists(APP_KEY + pid) for pid, _ in apps) == 3
    # The schedule's next tick runs the full rebuild again: only the lost range is enqueued, and redone.
    assert jobs.rebuild_all_snapshots() == 1
    assert _range_jobs(queue) == [ranges[0]]
    sync()
    assert redis_conn.exists(COMPLETE_KEY) and not redis_conn.exists(PENDING_KEY)
    assert all(redis_conn.exists(APP_KEY + pid) for pid, _ in apps)
    assert all(pid in cache.state.apps for pid, _ in apps)
    # Complete: running it again renders nothing.
    assert jobs.rebuild_all_snapshots() == 0 and _range_jobs(queue) == []


def test_a_change_published_right_after_a_flush_does_not_cancel_the_heal(settings, redis_conn, world, sync):
    schedule = Schedule(settings, redis_conn)
    redis_conn.set(COMPLETE_KEY, 1)
    redis_conn.flushdb()  # the snapshots are lost ...
    with unit_of_work():  # ... and a change is published before the schedule's next tick
        rules.create_version_rule(
            world.user,
            world.app_id,
            {"version": "2.1.0", "platform": "ios", "environment": "production", "update_message": "new"},
        )
    sync()
    # The change bumped the generation counter, which once doubled as the "complete" mark: the heal was
    # never enqueued and every other app stayed missing from Redis.
    schedule.tick(now=0)
    assert "rebuild-all" in schedule.queue.job_ids


def test_a_sweep_batches_many_stale_apps_and_waits_for_a_full_rebuild(
    settings, redis_conn, root, sync, cache
):
    from store.bootstrap import load_scale
    from store.models import SnapshotOutbox
    from worker import jobs

    apps = load_scale(root.user, jobs.SWEEP_SINGLE + 10, 1, batch=100)  # each app's outbox row: stale
    queue = make_queue(redis_conn, settings.queue_name)
    # Snapshots not complete: a full rebuild is due and renders everything, so the sweep adds nothing.
    assert jobs.sweep_outbox(0) == 0 and queue.job_ids == []
    redis_conn.set(COMPLETE_KEY, 1)
    assert jobs.sweep_outbox(0) == len(apps)
    assert [j for j in queue.job_ids if j.startswith("rebuild-batch-")] == queue.job_ids and len(
        queue.job_ids
    ) == 1
    assert jobs.sweep_outbox(0) == len(apps) and len(queue.job_ids) == 1  # the same batch, queued: merged
    sync()
    assert all(pid in cache.state.apps for pid, _ in apps) and SnapshotOutbox.select().count() == 0


def test_an_idle_worker_neither_times_out_on_redis_nor_lingers_at_stop(write_app, tmp_path):
    """Item 15 of the second hardening round: an idle worker logged "Timeout reading from socket" every
    few seconds (redis-py's 5 s socket timeout under RQ's 405 s blocking pop), and a worker whose Redis
    calls could block without bound lingered past its stop."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import PG_URL, REDIS_URL

    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "GATEHOUSE_DATABASE_URL": PG_URL,
        "GATEHOUSE_REDIS_URL": REDIS_URL,
        "GATEHOUSE_QUEUE_NAME": "idle-worker-test",
        "GATEHOUSE_LOG_LEVEL": "debug",
    }
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], env=env, stdout=out, stderr=out)
        try:
            time.sleep(12)
        finally:
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            proc.wait(15)
    stopped_in = time.monotonic() - started
    text = log.read_text()
    assert "BLMOVE" in text  # it did wait on the queue
    assert "Timeout reading" not in text and "could not connect to Redis" not in text
    assert stopped_in < 8, stopped_in


def test_every_connection_rq_blocks_on_outlasts_its_pop(settings, redis_conn):
    """Item 15: RQ's blocking pop (405 s) ran on the client the device-batch thread shared, whose first
    connections kept redis-py's 5 s socket timeout: the pop timed out and RQ logged "Timeout reading from
    socket". RQ now gets a client of its own, and every connection it makes outlasts the pop."""
    from rq.serializers import JSONSerializer

    from worker.main import GatehouseWorker, rq_client

    client = rq_client(settings)
    worker = GatehouseWorker(
        [make_queue(client, "rq-client-test")], connection=client, serializer=JSONSerializer
    )
    client.ping()
    pool = client.connection_pool
    connections = list(pool._available_connections) + list(pool._in_use_connections)
    assert connections
    assert all(c.socket_timeout is None or c.socket_timeout > worker.dequeue_timeout for c in connections)
    # The shared client as it was: a connection made before RQ saw it keeps the 5 s default.
    shared = redis.Redis.from_url(settings.redis_url)
    shared.ping()
    GatehouseWorker([make_queue(shared, "rq-client-test")], connection=shared, serializer=JSONSerializer)
    early = list(shared.connection_pool._available_connections)[0]
    assert early.socket_timeout == 5 < worker.dequeue_timeout


def test_the_command_channel_lets_a_worker_stop_at_once(settings, redis_conn):
    """RQ reads its command channel with a 60 s wait and redis-py 8's stop() waits for that read: a
    worker's teardown (every stop, every burst run) hung for up to a minute, four times in one run of
    the suite. GatehouseWorker reads it with a short wait."""
    from worker.main import COMMAND_POLL, GatehouseWorker

    queue = make_queue(redis_conn, settings.queue_name)
    worker = GatehouseWorker([queue], connection=redis_conn, serializer=queue.serializer)
    worker.subscribe()
    time.sleep(0.3)  # the command thread is inside its read, and no message will end it
    started = time.monotonic()
    worker.pubsub_thread.stop()  # what RQ's teardown waits for (it came after a race with its UNSUBSCRIBE)
    waited = time.monotonic() - started
    worker.pubsub.close()
    assert not worker.pubsub_thread.is_alive()
    assert waited < COMMAND_POLL + 5, f"the stop waited {waited:.1f} s"


def test_a_burst_run_takes_no_commands_and_waits_for_no_command_thread(settings, redis_conn):
    """A burst run ends by itself once its queue is empty, so it opens no command channel: on a busy
    machine its teardown waited up to COMMAND_POLL for the command thread's read, after every run (half a
    second for each in-process run of the suite's `sync`, and for `gatehouse worker --burst`)."""
    from worker.main import GatehouseWorker

    queue = make_queue(redis_conn, "burst-no-commands")
    worker = GatehouseWorker([queue], connection=redis_conn, serializer=queue.serializer)
    worker.work(burst=True, logging_level="WARNING")
    assert worker.pubsub_thread is None and worker.pubsub is None
    assert redis_conn.pubsub_numsub(worker.pubsub_channel_name) == [(worker.pubsub_channel_name.encode(), 0)]
