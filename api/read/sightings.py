"""Device sightings, plugin actions and channel choices, gathered in process and flushed to Redis.

Requests only touch dictionaries here, under a lock the flush holds for a swap (no I/O on the event loop). A thread flushes every
``interval`` seconds: one XADD per batch. With Redis down the buffer keeps at most ``max_devices``
devices; what does not fit is counted (gatehouse_dropped_events_total{kind="device_sighting"}) and logged.
A channel choice asks for a flush at once, so a device's setChannel reaches the worker within milliseconds.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from api.metrics import DROPPED
from store import device_events as events

log = logging.getLogger("gatehouse.read.sightings")


class Recorder:
    """``refresh``: a device seen again with the same details within this many seconds is not written
    again (its last-seen time moves at most that often): a fleet's repeated launches cost nothing
    downstream, while a new device or a changed detail is written with the next flush."""

    def __init__(
        self,
        redis_url: str,
        interval: float = 0.5,
        max_devices: int = 200_000,
        refresh: float = 60.0,
        count_interval: float = 5.0,
    ):
        """``count_interval``: plugin action counts are sent with the first flush this many seconds after
        the last that sent them (and with the last flush, when the process stops): they are totals per
        bundle, action and minute, and each flush's counts cost the worker a row per app, bundle and action
        (across 1,000 apps, most of the worker's and PostgreSQL's time under /stats load)."""
        self.redis_url, self.interval, self.max_devices = redis_url, interval, max_devices
        self.refresh, self.count_interval = refresh, count_interval
        self._counted = time.monotonic()
        # (app, device) -> (its check, the bundle offered, when they were recorded), in two generations
        # swapped every refresh period: a device not seen for two periods is forgotten, so memory follows
        # the active fleet. The check itself is kept (it is immutable): a device seen again is compared
        # with it as it is, and a new one costs one small tuple here (a tuple of its details and a pair
        # with the time cost two, and a known device's details one more: 1-2 us a call, py-spy and a
        # loop of 100,000 seen() calls).
        self._recent: dict[tuple[str, str], tuple] = {}
        self._older: dict[tuple[str, str], tuple] = {}
        self._swapped = time.time()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._sightings: dict[tuple[str, str], tuple] = {}  # the fields of a Sighting
        self._actions: dict[tuple, int] = {}
        self._choices: list[tuple] = []
        # (package, device, bundle, kind) -> (source, minute): the latest outcome a device reported
        self._outcomes: dict[tuple, tuple] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._forgotten: list[dict] = []  # generations of _older forgotten, for the flush thread to free
        self.dropped = 0
        self.sent = 0

    # -- request side ----------------------------------------------------------------------------------
    def seen(self, check, now: float | None = None, offered: str | None = None) -> None:
        """``offered``: the bundle /updates just offered the device (only an offered device's outcomes of
        that bundle count toward a rollout's health)."""
        key = (check.app_id, check.device_id)
        now = time.time() if now is None else now
        recent = self._recent.get(key) or self._older.get(key)
        if recent is not None:
            if offered is None:
                offered = recent[1]  # a call that offers nothing (/stats) keeps what was offered
            # The whole check (a NamedTuple) compared: its key fields are equal by the lookup, and a changed
            # defaultChannel, which no column stores, only costs a device one write more.
            if recent[0] == check and recent[1] == offered and now - recent[2] < self.refresh:
                return
        # A Sighting's fields as a plain tuple: orjson writes a tuple itself but hands each NamedTuple to a
        # Python callback, and the NamedTuple's constructor is Python code too (every new device pays both).
        row = (
            check.app_id,
            check.device_id,
            check.platform or None,
            check.plugin_version,
            check.version_os,
            check.version_build,
            check.version_name,
            check.custom_id,
            check.is_prod,
            check.is_emulator,
            now,
            offered,
        )
        # Under the lock: the flush swaps the dictionary, and a sighting written into the one it took
        # would be lost (uncontended, the lock costs tens of nanoseconds).
        with self._lock:
            sightings = self._sightings
            if key not in sightings and len(sightings) >= self.max_devices:
                self._drop(1)
                return
            sightings[key] = row
            if now - self._swapped > self.refresh or len(self._recent) >= self.max_devices:
                # Forgetting only means writing a device once more. The generation forgotten is freed by
                # the flush thread a slice at a time: freed here, 200,000 devices held the event loop for
                # 30 ms. Bounded: a flush thread stuck on Redis leaves at most two waiting.
                if len(self._forgotten) < 2:
                    self._forgotten.append(self._older)
                self._older, self._recent, self._swapped = self._recent, {}, now
            # A plain tuple, not the Check (a NamedTuple): the collector stops tracking a tuple of strings
            # and flags at its first pass, never a NamedTuple, so a full collection walked every device
            # remembered: pauses of 85-220 ms as 400,000 new devices arrived, 5-13 ms with plain tuples
            # (a loop of Recorder.seen()). Equal to the Check it came from, as tuples compare.
            self._recent[key] = (tuple(check), offered, now)
        self._ensure_started()

    def reported(
        self, package: str, device_id: str, bundle: str, action: str, outcome: tuple[str, str] | None = None
    ) -> None:
        """A plugin action counted toward its bundle; with ``outcome`` (kind: "failure" or "success", and
        the address it came from), the device's report of that bundle too, kept once per device in a batch
        (bounded with the sightings: a flood of made-up ids costs a dictionary entry each, then is dropped).
        One clock reading and one lock for both: /stats calls this for every event."""
        minute = int(time.time()) // 60
        key = (package, minute, bundle, action)
        with self._lock:
            self._actions[key] = self._actions.get(key, 0) + 1
            if outcome is not None:
                kind, source = outcome
                held = (package, device_id, bundle, kind)
                if held in self._outcomes or len(self._outcomes) < self.max_devices:
                    self._outcomes[held] = (source, minute)
                else:
                    self._drop(1)
        self._ensure_started()

    def choose(self, kind: str, package: str, device_id: str, channel: str | None) -> None:
        with self._lock:
            self._choices.append((kind, package, device_id, channel))
        self._ensure_started()
        self._wake.set()

    # -- flushing --------------------------------------------------------------------------------------
    def _drop(self, n: int) -> None:
        self.dropped += n
        DROPPED.labels("device_sighting").inc(n)

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    # Each flush thread has its own stop event, as the channel-choice subscription does: one
                    # still ending (a join that timed out on Redis) never sees a later thread's.
                    self._stop = threading.Event()
                    self._thread = threading.Thread(
                        target=self._run, args=(self._stop,), name="sightings", daemon=True
                    )
                    self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """The process stops: the flush thread sends what it holds and ends. It is a daemon (a process
        must not hang on Redis), so without this the devices seen since the last flush were lost with
        every stopping read process: each deploy's last half second (tests/test_upgrade.py).

        A second call finds no thread and does nothing; a sighting after it starts a new thread (an app
        whose lifespan runs again, as Falcon's test client runs it for each request)."""
        with self._lock:
            thread, stop, self._thread = self._thread, self._stop, None
        if not isinstance(thread, threading.Thread):
            return
        stop.set()
        self._wake.set()
        thread.join(timeout)

    def _take(self, final: bool = False):
        now = time.monotonic()
        with self._lock:
            counts = final or now - self._counted >= self.count_interval
            batch = (self._sightings, self._actions if counts else {}, self._choices, self._outcomes)
            self._sightings, self._choices, self._outcomes = {}, [], {}
            if counts:
                self._actions, self._counted = {}, now
        return batch

    def _put_back(self, sightings: dict, actions: dict, choices: list, outcomes: dict) -> None:
        """After a failed flush: merge what was taken under what arrived since (newer sightings win)."""
        with self._lock:
            merged = dict(sightings)
            merged.update(self._sightings)
            overflow = len(merged) - self.max_devices
            if overflow > 0:
                for key in list(merged)[:overflow]:
                    del merged[key]
                    self._recent.pop(key, None)  # dropped: its next sighting must be written
                    self._older.pop(key, None)
                self._drop(overflow)
            self._sightings = merged
            for key, n in actions.items():
                self._actions[key] = self._actions.get(key, 0) + n
            self._choices[:0] = choices
            for key, value in outcomes.items():
                self._outcomes.setdefault(key, value)

    def flush(self, r: redis.Redis, final: bool = False) -> int:
        """Sends what was gathered (action counts only once ``count_interval`` has passed, or ``final``);
        returns how many devices."""
        sightings, actions, choices, outcomes = self._take(final)
        if not (sightings or actions or choices or outcomes):
            return 0
        try:
            r.xadd(
                events.STREAM,
                {
                    "b": events.encode(
                        list(sightings.values()),
                        actions,
                        choices,
                        [(*k, *v) for k, v in outcomes.items()],
                    )
                },
                maxlen=events.STREAM_MAX,
                approximate=True,
            )
        except (redis.RedisError, OSError):
            self._put_back(sightings, actions, choices, outcomes)
            raise
        self.sent += len(sightings)
        return len(sightings)

    def free_forgotten(self, slice_size: int = 2_000) -> int:
        """Frees the forgotten generations a slice of devices at a time, letting go of the GIL between
        slices so requests go on; returns how many devices were freed."""
        freed = 0
        while self._forgotten:
            generation = self._forgotten.pop()
            while generation:
                n = min(slice_size, len(generation))
                for _ in range(n):
                    generation.popitem()
                freed += n
                time.sleep(0)
        return freed

    def _run(self, stop: threading.Event) -> None:
        r = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
        down = False
        while not stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush(r)
                if down:
                    log.warning(
                        "sightings flushed again after a Redis outage; %d dropped so far", self.dropped
                    )
                down = False
            except (redis.RedisError, OSError) as exc:
                if not down:
                    log.warning(
                        "cannot flush device sightings (%s); buffering up to %d devices",
                        exc,
                        self.max_devices,
                    )
                down = True
                stop.wait(0.5)
            self.free_forgotten()
        try:
            self.flush(r, final=True)
        except (redis.RedisError, OSError):
            log.warning("%d device sightings lost at shutdown: Redis unreachable", len(self._sightings))
        r.close()
