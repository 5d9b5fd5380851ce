"""Enqueueing jobs: JSON serializer, fixed job ids so duplicate rebuilds merge.

A request merges into an existing job only when someone will certainly run it: the
job's id is in the queue's list, or a worker whose heartbeat is fresh is running it.
Anything else (a job a SIGKILLed worker had started or had moved to RQ's intermediate
list, a finished or failed one, one scheduled for a retry) is replaced. Merging into
such a job left apps stale until RQ's 10-minute maintenance.
"""

from __future__ import annotations

import logging
import time

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from worker.heartbeat import is_alive

log = logging.getLogger(__name__)

# Jobs are named by path, so this module does not import worker.jobs (which enqueues too).
REBUILD = "worker.jobs.rebuild_snapshot"


def make_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def _held(queue: Queue, job: Job, settle: float = 0.05) -> bool | None:
    """True: a live worker or the queue will run ``job`` from the start; False: it may
    already have read the database (running); None: nobody will run it."""
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED and queue.connection.lpos(queue.key, job.id) is None:
        # Off the queue but not started: a worker between taking it and starting it, or one killed there.
        # Up to ``settle`` tells them apart; replacing a job a live worker is starting would run it twice
        # and fail RQ's clean-up of the first. It is asked again every 2 ms, not once at the end: a live
        # worker starts it within milliseconds, and a flat 50 ms wait was the slowest part of a write's
        # answer in the propagation benchmark (one write in 25 met a job at that moment).
        deadline = time.monotonic() + settle
        while status == JobStatus.QUEUED and time.monotonic() < deadline:
            time.sleep(0.002)
            try:
                job.refresh()
            except NoSuchJobError:
                return None
            status = job.get_status(refresh=False)
            if status == JobStatus.QUEUED and queue.connection.lpos(queue.key, job.id) is not None:
                return True
        if status == JobStatus.QUEUED:
            return None
    if status == JobStatus.QUEUED:
        return True
    if status == JobStatus.STARTED:
        return False if job.worker_name and is_alive(queue.connection, job.worker_name) else None
    return None  # finished, failed, stopped, or scheduled/deferred with no scheduler running


def enqueue_unique(queue: Queue, func: str, args: tuple, job_id: str) -> bool:
    """Enqueue under a fixed id; True when a job that has not started yet covers this request."""
    for _ in range(3):
        try:
            queue.enqueue(
                func,
                *args,
                job_id=job_id,
                unique=True,
                result_ttl=0,
                failure_ttl=3600,
                # No retry interval: intervals need RQ's scheduler process, which does not survive a Redis
                # restart. A failed rebuild keeps its outbox row, and the sweep enqueues it again.
                retry=Retry(max=2),
            )
            return True
        except DuplicateJobError:
            try:
                job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
            except NoSuchJobError:
                continue  # finished between the two calls: try again
            held = _held(queue, job)
            if held is not None:
                return held
            log.info(
                "replacing job %s (status %s) that no live worker holds",
                job_id,
                job.get_status(refresh=False),
            )
            try:
                job.delete()
            except (NoSuchJobError, InvalidJobOperation, ValueError):
                # Finished or half-removed meanwhile (RQ raises on a missing status or execution record):
                # dropping the hash is what lets the next attempt enqueue; RQ's maintenance prunes the rest.
                queue.connection.delete(job.key)
    return False


def enqueue_rebuild(queue: Queue, app_id: int) -> None:
    # A running rebuild may have read before this commit, so a follow-up id takes
    # the request; if both are running, the outbox row makes the sweep render it.
    for job_id in (f"rebuild-{app_id}", f"rebuild-{app_id}-again"):
        if enqueue_unique(queue, REBUILD, (app_id,), job_id):
            return
    log.info("rebuild of app %s left to the outbox sweep", app_id)


def enqueue_rebuilds(queue: Queue, app_ids) -> None:
    for app_id in sorted(app_ids):
        enqueue_rebuild(queue, app_id)


def after_commit(queue: Queue, app_ids) -> None:
    """What every process that writes runs once a commit has made apps stale (store.db's after-commit hook):
    one rebuild per app is enqueued."""
    if app_ids:
        enqueue_rebuilds(queue, app_ids)
