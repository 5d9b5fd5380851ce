"""Client authentication events, from a read process to the Redis stream the worker applies.

``record`` returns once the event is in the stream: the events that arrived while one XADD was on its way
go in the next, as one batch (a group commit), so a busy process sends few large entries and an idle one
answers within one round trip. A batch stays in memory until the worker says it applied it (its id in
``gh:auth:applied``); one not applied within ``resend_after`` seconds whose entry is no longer in the
stream (Redis lost it: killed, flushed, a failover, or trimmed it from a backlog) is sent again with the
same id, and the worker counts it once. One still in the stream is waiting for a busy worker: sending it
again would only add to the worker's load.

With Redis down, events are held in memory and ``record`` still returns True, up to ``max_held`` events
in all (held, and sent but not yet applied); past that it returns False and the client is told nothing
was recorded (the dialect's 500). Held events go out as soon as Redis answers again. A process that ends
while Redis is down loses what it holds (counted and logged at its shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import redis
import redis.asyncio

from api.metrics import DROPPED
from store import auth_events as events
from store.auth_events import AuthEvent

log = logging.getLogger("gatehouse.read.authentications")

RETRY_AFTER = 0.5  # seconds between attempts while Redis is down
CHECK_EVERY = 0.5  # seconds between looks at which sent batches were applied
RESEND_CHUNK = 1_000  # events per batch when held events go out


class AuthRecorder:
    def __init__(self, redis_url: str, max_held: int = 200_000, resend_after: float = 10.0):
        self.redis_url, self.max_held, self.resend_after = redis_url, max_held, resend_after
        self._redis: redis.asyncio.Redis | None = None
        self._pending: list[AuthEvent] = []
        self._waiters: list[asyncio.Future] = []
        self._flushing = False
        self._held: list[AuthEvent] = []  # while Redis is down
        # batch id -> (sent at, events, its stream entry's id as (ms, seq))
        self._sent: dict[str, tuple[float, list[AuthEvent], tuple[int, int]]] = {}
        self._in_memory = 0  # events pending, held and sent-but-not-applied: bounded by max_held
        self._down_until = 0.0
        self._keeper: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def in_memory(self) -> int:
        return self._in_memory

    async def record(self, event: AuthEvent) -> bool:
        """True once the event is in the stream (or held while Redis is down); False when it cannot be kept."""
        if self._in_memory >= self.max_held:
            DROPPED.labels("authentication").inc()
            return False
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A process runs one loop; a test client may run a loop per request, whose tasks and
            # connections die with it. What is pending, held or sent is kept.
            self._loop, self._redis, self._flushing = loop, None, False
            self._keeper = loop.create_task(self._keep())
        done = loop.create_future()
        self._pending.append(event)
        self._waiters.append(done)
        self._in_memory += 1
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        return await done

    def _client(self) -> redis.asyncio.Redis:
        if self._redis is None:
            self._redis = redis.asyncio.Redis.from_url(
                self.redis_url, socket_timeout=2, socket_connect_timeout=0.5
            )
        return self._redis

    async def _send(self, batch_id: str, batch: list[AuthEvent]) -> bool:
        if time.monotonic() < self._down_until:
            return False
        try:
            entry = await self._client().xadd(
                events.STREAM,
                {"b": events.encode(batch_id, batch)},
                maxlen=events.STREAM_MAX,
                approximate=True,
            )
        except (redis.RedisError, OSError) as exc:
            if time.monotonic() >= self._down_until:
                log.warning("authentication events held in memory: Redis unavailable (%s)", exc)
            self._down_until = time.monotonic() + RETRY_AFTER
            return False
        self._sent[batch_id] = (time.monotonic(), batch, _entry_key(entry))
        return True

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                if not await self._send(uuid.uuid4().hex, batch):
                    self._held.extend(batch)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(True)
        finally:
            self._flushing = False

    async def _keep(self) -> None:
        """Sends held events once Redis answers, forgets applied batches, re-sends lost ones."""
        while True:
            await asyncio.sleep(CHECK_EVERY)
            try:
                await self._keep_once()
            except (redis.RedisError, OSError):
                self._down_until = time.monotonic() + RETRY_AFTER
            except Exception:  # never let the keeper die: it is what bounds memory
                log.exception("authentication keeper failed; retrying")

    async def _keep_once(self) -> None:
        while self._held and time.monotonic() >= self._down_until:
            chunk = self._held[:RESEND_CHUNK]
            if not await self._send(uuid.uuid4().hex, chunk):
                break
            del self._held[: len(chunk)]
        now = time.monotonic()
        waiting = [batch_id for batch_id, (sent, *_) in self._sent.items() if now - sent >= CHECK_EVERY]
        if not waiting or now < self._down_until:
            return
        client = self._client()
        scores = await client.zmscore(events.APPLIED, waiting)
        overdue = []
        for batch_id, score in zip(waiting, scores, strict=True):
            if score is not None:
                self._in_memory -= len(self._sent.pop(batch_id)[1])
            elif now - self._sent[batch_id][0] >= self.resend_after:
                overdue.append(batch_id)
        if not overdue:
            return
        # Entries leave the stream only once applied (the worker deletes them) or lost; the oldest left
        # shows which of the overdue ones are gone.
        first = await client.xrange(events.STREAM, count=1)
        oldest = _entry_key(first[0][0]) if first else None
        for batch_id in overdue:
            if oldest is not None and self._sent[batch_id][2] >= oldest:
                continue  # still in the stream: a busy worker, not a lost batch
            # Under its own id, whatever happens: the worker may have applied it already (Redis lost the
            # confirmation, not the batch), and only the id lets it count the batch once. A send that
            # fails leaves it here, to be tried again.
            log.warning("authentication batch %s lost by Redis: sent again", batch_id)
            await self._send(batch_id, self._sent[batch_id][1])

    async def close(self) -> None:
        """At shutdown: one last try for held events; what stays held is lost, and counted."""
        if self._keeper is not None:
            self._keeper.cancel()
        if self._held:
            self._down_until = 0.0
            if await self._send(uuid.uuid4().hex, self._held):
                self._held = []
        if self._held:
            DROPPED.labels("authentication").inc(len(self._held))
            log.error("%d authentication events lost at shutdown: Redis unavailable", len(self._held))
        if self._redis is not None:
            await self._redis.aclose()


def _entry_key(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).partition("-")
    return int(ms), int(seq or 0)
