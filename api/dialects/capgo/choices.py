"""Devices' own channel choices (POST and DELETE /channel_self), seen by the device's next request
whichever process or host answers it.

A choice is persisted through the device stream, the worker and a snapshot rebuild: 30-70 ms, and
seconds while the worker restarts. Capgo's server writes before it answers, so a plugin asking its
channel right after setting it expects the new one. So before a choice is answered it is also written
to a short-lived Redis hash (``gh:capgo:choice:<package>``, one field per device) and published on
``gh:capgo:choices``:

- ``PUT``, ``POST`` and ``DELETE /channel_self`` read the device's field from Redis (one round trip on
  calls a device makes a few times in its life): read-your-writes across processes and hosts.
- ``/updates`` makes no round trip: every read process keeps the published choices in memory, and
  the publish happens before the answer leaves, so it precedes any request the device sends next.

A choice is held until the app's snapshot agrees with it, and at most ``TTL`` seconds; an admin's
pin or unpin of the device (Capgo's ``/device``) forgets it at once. A process that missed the forget
(its subscription down) squares its memory with the hash when it subscribes again and whenever the app's
snapshot arrives, so the admin's pin wins by the time the process can see it. Without Redis a process falls
back on its own memory and the snapshot: the choice itself is still buffered for the worker.
"""

from __future__ import annotations

import threading
import time

import orjson
import redis
import structlog

log = structlog.get_logger("gatehouse.capgo.choices")

CHANNEL = "gh:capgo:choices"
TTL = 60.0  # longer than a worker restart; an admin's change forgets the choice sooner
MAX_HELD = 100_000
_UNKNOWN = (False, None)


def key(package: str) -> str:
    return f"gh:capgo:choice:{package}"


def _entry(raw: bytes | None) -> tuple[str | None, float] | None:
    """A device's field of the hash as (channel or None for unset, when it was chosen); None when there is
    none (or it cannot be read)."""
    if raw is None:
        return None
    try:
        channel, stamp = orjson.loads(raw)
        return channel, float(stamp)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None


def forget(connection: redis.Redis, package: str, device_id: str) -> None:
    """An admin pinned or unpinned the device: its own earlier choice no longer speaks for it."""
    pipe = connection.pipeline(transaction=True)
    pipe.hdel(key(package), device_id)
    pipe.publish(CHANNEL, orjson.dumps([package, device_id, None, 0.0]))
    pipe.execute()


class Choices:
    """The choices devices made in the last ``TTL`` seconds: (known, channel or None for unset)."""

    def __init__(self, redis_url: str, ttl: float = TTL, max_held: int = MAX_HELD):
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.redis_url, self.ttl, self.max_held = redis_url, ttl, max_held
        self._held: dict[tuple[str, str], tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- writing and strong reads (worker threads: asyncio.to_thread) ------------------------------------
    def record(self, package: str, device_id: str, channel: str | None, now: float | None = None) -> bool:
        """Written to Redis and published before the choice is answered; False when Redis is unavailable."""
        stamp = time.time() if now is None else now
        self._hold(package, device_id, channel, stamp)
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(key(package), device_id, orjson.dumps([channel, stamp]))
            pipe.expire(key(package), int(self.ttl) + 1)
            pipe.publish(CHANNEL, orjson.dumps([package, device_id, channel, stamp]))
            pipe.execute()
            return True
        except (redis.RedisError, OSError) as exc:
            log.warning("channel choice kept in this process only (%s)", exc)
            return False

    def lookup(self, package: str, device_id: str) -> tuple[bool, str | None]:
        """The device's latest choice as Redis holds it (any process's), else this process's memory."""
        try:
            raw = self.redis.hget(key(package), device_id)
        except (redis.RedisError, OSError):
            return self.held(package, device_id)
        entry = _entry(raw)
        if entry is None:
            with self._lock:
                self._held.pop((package, device_id), None)
            return _UNKNOWN
        channel, stamp = entry
        if time.time() - stamp > self.ttl:
            return _UNKNOWN
        self._hold(package, device_id, channel, stamp)
        return True, channel

    # -- the memory /updates reads ----------------------------------------------------------------------
    def held(self, package: str, device_id: str) -> tuple[bool, str | None]:
        if self._thread is None:
            self._ensure_listening()  # in the serving process (after gunicorn's fork), on its first call
        if not self._held:
            return _UNKNOWN
        entry = self._held.get((package, device_id))
        if entry is None:
            return _UNKNOWN
        if time.time() - entry[1] > self.ttl:
            with self._lock:
                self._held.pop((package, device_id), None)
            return _UNKNOWN
        return True, entry[0]

    def settled(self, package: str, device_id: str) -> None:
        """The snapshot now says what the choice said: the snapshot speaks for the device again."""
        with self._lock:
            self._held.pop((package, device_id), None)

    def reconcile(self, packages: set[str] | None = None) -> None:
        """Squares the held choices of ``packages`` (all, given None) with Redis's hash: a choice an admin's
        change forgot (or that expired) goes, one another process made later replaces this one. Runs where
        a message may have been missed: after (re)subscribing, and when an app's snapshot arrives (the
        snapshot cache's sync thread), so a pin in the snapshot wins even where its forget never came."""
        with self._lock:
            wanted = [(k, v[1]) for k, v in self._held.items() if packages is None or k[0] in packages]
        if not wanted:
            return
        pipe = self.redis.pipeline(transaction=False)
        for (package, device_id), _ in wanted:
            pipe.hget(key(package), device_id)
        try:
            raws = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("channel choices not reconciled (%s)", exc)
            return
        cutoff = time.time() - self.ttl
        with self._lock:
            for (k, stamp), raw in zip(wanted, raws, strict=True):
                current = self._held.get(k)
                if current is None or current[1] != stamp:
                    continue  # changed since it was read: the newer word stands
                entry = _entry(raw)
                if entry is None or entry[1] < cutoff:
                    del self._held[k]
                elif entry[1] > stamp:
                    self._held[k] = entry

    def _hold(
        self, package: str, device_id: str, channel: str | None, stamp: float, listen: bool = True
    ) -> None:
        with self._lock:
            current = self._held.get((package, device_id))
            if current is not None and current[1] > stamp and stamp != 0.0:
                return  # an older message arriving late (this process's own write came first)
            if len(self._held) >= self.max_held:
                cutoff = time.time() - self.ttl
                self._held = {k: v for k, v in self._held.items() if v[1] >= cutoff}
                if len(self._held) >= self.max_held:
                    self._held.clear()  # bounded: the snapshot still answers for every device
            if stamp == 0.0:
                self._held.pop((package, device_id), None)  # forgotten by an admin's change
            else:
                self._held[(package, device_id)] = (channel, stamp)
        if listen:
            # Not from the subscription's own thread: a stopped one still reading its last second started
            # a subscription nobody would stop.
            self._ensure_listening()

    # -- the subscription -------------------------------------------------------------------------------
    def _ensure_listening(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    # Each subscription has its own stop event: a stopped one may still be inside its
                    # one-second read while a new one starts (an app whose lifespan runs again).
                    self._stop = threading.Event()
                    self._thread = threading.Thread(
                        target=self._listen, args=(self._stop,), name="capgo-choices", daemon=True
                    )
                    self._thread.start()

    def start(self) -> None:
        self._ensure_listening()

    def stop(self) -> None:
        """The process stops (the read app's lifespan): the subscription ends within a second; a later
        call starts a new one. Left running, each app's thread kept retrying a Redis gone at exit."""
        with self._lock:
            self._stop.set()
            self._thread = None

    def _listen(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
                pubsub = conn.pubsub(ignore_subscribe_messages=True)
                try:
                    pubsub.subscribe(CHANNEL)
                    # The subscription's confirmation comes first (read here, not returned): from it on,
                    # every message reaches this thread, so squaring with the hash then misses nothing.
                    self._take(pubsub.get_message(timeout=1.0))
                    self.reconcile()
                    while not stop.is_set():
                        self._take(pubsub.get_message(timeout=1.0))
                finally:
                    pubsub.close()
                    conn.close()
            except (redis.RedisError, OSError) as exc:
                log.warning("channel choices subscription lost Redis (%s)", exc)
                stop.wait(1.0)

    def _take(self, message: dict | None) -> None:
        if message is None:
            return
        try:
            package, device_id, channel, stamp = orjson.loads(message["data"])
        except (orjson.JSONDecodeError, ValueError, TypeError):
            return
        self._hold(package, device_id, channel, float(stamp), listen=False)
