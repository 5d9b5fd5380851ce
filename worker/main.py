"""The worker process: an RQ worker plus the periodic schedule (kept as data).

RQ 3's CronScheduler enqueues with the default pickle serializer, which this
project never uses, so periodic jobs are enqueued here through the JSON queue,
each under a fixed id: several workers running the schedule merge into one job.
"""

from __future__ import annotations

import threading
import time

import redis
import structlog
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from store.settings import Settings
from worker import context, jobs
from worker.queue import enqueue_unique, make_queue

log = structlog.get_logger("gatehouse.worker")


def periodic(settings: Settings) -> list[tuple[str, object, int]]:
    return [
        ("sweep-outbox", jobs.sweep_outbox, settings.outbox_sweep_interval),
        ("aggregate-stats", jobs.aggregate_recent_stats, settings.stats_interval),
        ("purge-sessions", jobs.purge_old_sessions, 86_400),
    ]


def _schedule(settings: Settings, connection: redis.Redis, stop: threading.Event) -> None:
    queue = make_queue(connection, settings.queue_name)
    due = {name: 0.0 for name, _, _ in periodic(settings)}
    while not stop.is_set():
        now = time.monotonic()
        for name, func, every in periodic(settings):
            if now >= due[name]:
                try:
                    enqueue_unique(queue, func, (), f"periodic-{name}")
                    due[name] = now + every
                except redis.RedisError as exc:
                    log.warning("periodic enqueue failed", job=name, error=str(exc))
        stop.wait(1.0)


def run_worker(settings: Settings, burst: bool = False) -> None:
    connection = redis.Redis.from_url(settings.redis_url)
    context.setup(settings, connection)
    stop = threading.Event()
    if not burst:
        threading.Thread(target=_schedule, args=(settings, connection, stop), daemon=True).start()
    # SimpleWorker runs jobs in this process: rebuilds take milliseconds, and a
    # fork per job would cost more than the job and break the connection pool.
    worker = SimpleWorker([make_queue(connection, settings.queue_name)], connection=connection,
                          serializer=JSONSerializer)
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        stop.set()
