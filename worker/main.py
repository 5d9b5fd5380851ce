"""The worker process: an RQ worker plus the periodic schedule (kept as data).

RQ 3's CronScheduler enqueues with the default pickle serializer, which this
project never uses, so periodic jobs are enqueued here through the JSON queue,
each under a fixed id: several workers running the schedule merge into one job.

RQ's own scheduler process is not used: a Redis restart killed it and it came back
only with RQ's 10-minute maintenance, and a SIGKILLed worker left it orphaned. The
schedule below is a thread of the worker process, so it lives and dies with it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import redis
import structlog
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from api.secret_key import secret_key
from api.settings import Settings
from store.service import set_after_commit
from store.snapshot_format import COMPLETE_KEY
from worker import authentications, context, sightings
from worker.heartbeat import SCHEDULER_TICK_KEY, keep_beating
from worker.queue import after_commit, enqueue_unique, make_queue
from worker.webhooks import Deliverer

log = structlog.get_logger("gatehouse.worker")

SCHEDULE_TICK = 0.5


def periodic(settings: Settings) -> list[tuple[str, str, int]]:
    return [
        ("sweep-outbox", "worker.jobs.sweep_outbox", settings.outbox_sweep_interval),
        ("aggregate-stats", "worker.jobs.aggregate_recent_stats", settings.stats_interval),
        ("purge-sessions", "worker.jobs.purge_old_sessions", 86_400),
        ("prune-applied", "worker.jobs.prune_applied_batches", 3_600),
        ("check-rollouts", "worker.jobs.check_rollouts", settings.rollout_check_interval),
        ("purge-audit", "worker.jobs.purge_old_audit_entries", 86_400),
    ]


class Schedule:
    """Enqueues periodic jobs when due, and heals what a Redis restart lost.

    When Redis comes back after an outage, or has lost its snapshots (a restart without
    persistence, a flush), the outbox is swept at once with no grace period and, after a
    loss, every snapshot is rebuilt; a change committed while Redis was down is then
    visible within a tick and a job of Redis coming back.
    """

    def __init__(self, settings: Settings, connection: redis.Redis):
        self.settings = settings
        self.queue = make_queue(connection, settings.queue_name)
        self.due = {name: 0.0 for name, _, _ in periodic(settings)}
        self.redis_was_down = False

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        r = self.queue.connection
        try:
            r.set(SCHEDULER_TICK_KEY, str(time.time()), ex=60)
            lost = not r.exists(COMPLETE_KEY)
            if lost:
                enqueue_unique(self.queue, "worker.jobs.rebuild_all_snapshots", (), "rebuild-all")
            if lost or self.redis_was_down:
                enqueue_unique(self.queue, "worker.jobs.sweep_outbox", (0.0,), "sweep-outbox-now")
            self.redis_was_down = False
            for name, func, every in periodic(self.settings):
                if now >= self.due[name]:
                    enqueue_unique(self.queue, func, (), f"periodic-{name}")
                    self.due[name] = now + every
        except redis.RedisError as exc:
            if not self.redis_was_down:
                log.warning("schedule lost Redis; retrying every tick", error=str(exc))
            self.redis_was_down = True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.tick()
            stop.wait(SCHEDULE_TICK)


STOP_GRACE = 7.0


def _exit_now(name: str) -> None:
    log.warning("worker did not stop within its grace period; exiting", worker=name, grace=STOP_GRACE)
    os._exit(0)


COMMAND_POLL = 0.5  # seconds RQ's command thread waits for a message before checking for a stop


class GatehouseWorker(SimpleWorker):
    # RQ doubles its wait after each failed Redis call up to 60 s; after an outage of 10 s it
    # could sleep 16 s more. One second bounds the time from Redis being back to work resuming.
    max_connection_wait_time = 1.0
    # Set by SIGTERM or SIGINT: RQ marks a stop only when one comes mid-job, so the loop could not tell
    # a stop it was asked for from one an error caused.
    stop_asked = False

    bursting = False

    def work(self, burst: bool = False, *args, **kwargs) -> bool:
        self.bursting = burst
        return super().work(burst, *args, **kwargs)

    def subscribe(self) -> None:
        """RQ's command channel, read with a short wait: redis-py 8's PubSubWorkerThread.stop() waits for the
        thread's current read, which RQ makes with a 60 s timeout, so a stop (and every burst run's
        teardown) could hang for a minute. A command now waits at most half a second.

        A burst run (``gatehouse worker --burst``, the tests' in-process runs) ends by itself once the queue
        is empty and takes no commands: its teardown waited up to that half second for the thread's read on
        every run of a busy machine."""
        if self.bursting:
            return
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def request_stop(self, signum, frame) -> None:
        self.stop_asked = True
        if signum == signal.SIGTERM:
            # A stop is bounded: one that has not ended within STOP_GRACE seconds (a Redis or database call
            # that stopped answering) ends the process. A job cut short is redone: jobs are idempotent and
            # the outbox sweep enqueues what was left.
            timer = threading.Timer(STOP_GRACE, _exit_now, args=(self.name,))
            timer.daemon = True  # a stop that ends in time is not held by it
            timer.start()
        super().request_stop(signum, frame)


def run_worker(settings: Settings, compose: context.Compose, burst: bool = False) -> None:
    """``compose``: an app's snapshot document from its data (the dialects' registry's, handed in)."""
    connection = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, health_check_interval=10)
    context.setup(settings, connection, compose)
    stop = threading.Event()
    name = uuid.uuid4().hex
    keep_beating(connection, name, stop)
    queue = make_queue(connection, settings.queue_name)
    # Device batches pin channels (a device's own setChannel): their rebuilds are enqueued at commit.
    set_after_commit(lambda app_ids: after_commit(queue, app_ids))
    if not burst:
        threading.Thread(
            target=sightings.consume, args=(connection, name, stop), name="device-batches", daemon=True
        ).start()
        threading.Thread(
            target=authentications.consume,
            args=(connection, name, stop),
            name="authentication-batches",
            daemon=True,
        ).start()
        threading.Thread(
            target=Schedule(settings, connection).run, args=(stop,), name="schedule", daemon=True
        ).start()
        # Webhook deliveries beside the queue, never on it: slow endpoints cannot delay rebuilds.
        deliverer = Deliverer(settings, connection, lambda: secret_key(settings, connection), name)
        threading.Thread(target=deliverer.run, args=(stop,), name="webhooks", daemon=True).start()
    try:
        rq_connection = rq_client(settings)
        _work(rq_connection, settings, name, burst)
    finally:
        stop.set()


def rq_client(settings: Settings) -> redis.Redis:
    """RQ's own client. RQ raises the socket timeout of the client it is given above its blocking pop (415 s
    for a 405 s pop), but only for connections made after: on the client the device-batch thread shared,
    connections made first kept redis-py's 5 s default, so an idle BLMOVE on one timed out and RQ logged
    "Timeout reading from socket" and reconnected. A client of its own has no connection before RQ's."""
    return redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=None, health_check_interval=10
    )


def _work(connection: redis.Redis, settings: Settings, name: str, burst: bool) -> None:
    """Runs RQ's work loop until it is asked to stop (or, in burst mode, until the queue is empty).

    RQ's loop quits on an error it does not expect: Redis killed while a job is being finished (its
    result and registries are written after the job) ended the worker process, and nothing came back
    until a supervisor restarted it. Here the loop starts again once Redis answers, under the same name
    (its stale registration is closed first), so the heartbeat and the jobs it holds stay its own.
    """
    while True:
        # SimpleWorker runs jobs in this process: rebuilds take milliseconds, and a
        # fork per job would cost more than the job and break the connection pool.
        worker = GatehouseWorker(
            [make_queue(connection, settings.queue_name)],
            name=name,
            connection=connection,
            serializer=JSONSerializer,
        )
        try:
            worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
        except redis.RedisError as exc:
            log.warning("worker lost Redis mid-loop; starting again when it answers", error=str(exc))
        if burst or worker.stop_asked:
            return
        # RQ's signal handlers write to Redis before stopping; while Redis is away they would fail and the
        # process would ignore SIGTERM. Between loops no job runs: the default action is the right one.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _wait_for_redis(connection)
        try:
            worker.register_death()
        except redis.RedisError:
            continue
        log.warning("worker loop ended unexpectedly; started again", worker=name)


def _wait_for_redis(connection: redis.Redis) -> None:
    while True:
        try:
            connection.ping()
            return
        except redis.RedisError:
            time.sleep(0.2)
