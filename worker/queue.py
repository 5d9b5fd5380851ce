"""Enqueueing jobs: JSON serializer, fixed job ids so duplicate rebuilds merge."""

from __future__ import annotations

import logging

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from store.snapshot_format import WRITE_GEN_KEY

log = logging.getLogger(__name__)

_WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def make_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def enqueue_unique(queue: Queue, func, args: tuple, job_id: str) -> bool:
    """Enqueue under a fixed id; True when a job that has not started yet covers this request."""
    for _ in range(2):
        try:
            queue.enqueue(
                func,
                *args,
                job_id=job_id,
                unique=True,
                result_ttl=0,
                failure_ttl=3600,
                retry=Retry(max=3, interval=[1, 2, 5]),
            )
            return True
        except DuplicateJobError:
            try:
                job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
                status = job.get_status(refresh=False)
            except NoSuchJobError:
                continue  # finished between the two calls: try again
            if status in _WAITING:
                return True  # merged: the waiting job will read this commit
            if status == JobStatus.STARTED:
                return False  # it may have read before this commit
            job.delete()  # finished or failed long ago: replace it
    return False


def enqueue_rebuild(queue: Queue, app_id: int) -> None:
    from worker.jobs import rebuild_snapshot

    # A running rebuild may have read before this commit, so a follow-up id takes
    # the request; if both are running, the outbox row makes the sweep render it.
    for job_id in (f"rebuild-{app_id}", f"rebuild-{app_id}-again"):
        if enqueue_unique(queue, rebuild_snapshot, (app_id,), job_id):
            return
    log.info("rebuild of app %s left to the outbox sweep", app_id)


def enqueue_rebuilds(queue: Queue, app_ids) -> None:
    """After a commit: tells every write process its cached client tokens may be stale, then enqueues."""
    if not app_ids:
        return
    queue.connection.incr(WRITE_GEN_KEY)
    for app_id in sorted(app_ids):
        enqueue_rebuild(queue, app_id)
