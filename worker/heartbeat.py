"""Worker liveness, seconds-fresh: a key per worker that a thread renews every second.

RQ's own worker key lives for minutes after a SIGKILL (its TTL is 420 s, and a SimpleWorker
renews nothing while a job runs), so it cannot tell a dead worker from a busy one in time.
"""

from __future__ import annotations

import threading

import redis

ALIVE_PREFIX = "gh:worker:alive:"
SCHEDULER_TICK_KEY = "gh:scheduler:last_tick"  # the epoch time a worker's schedule last ran
ALIVE_TTL_MS = 3000
BEAT_SECONDS = 1.0


def beat(connection: redis.Redis, name: str) -> None:
    connection.set(ALIVE_PREFIX + name, b"1", px=ALIVE_TTL_MS)


def is_alive(connection: redis.Redis, name: str) -> bool:
    return bool(connection.exists(ALIVE_PREFIX + name))


def live_workers(connection: redis.Redis) -> int:
    return sum(1 for _ in connection.scan_iter(ALIVE_PREFIX + "*", count=100))


def keep_beating(connection: redis.Redis, name: str, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                beat(connection, name)
            except redis.RedisError:
                pass  # Redis is down: nothing can be enqueued meanwhile, the next beat renews
            stop.wait(BEAT_SECONDS)

    thread = threading.Thread(target=run, name="worker-heartbeat", daemon=True)
    thread.start()
    return thread
