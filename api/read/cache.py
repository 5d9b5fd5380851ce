"""Snapshots held in process memory, kept fresh from Redis by one background thread.

Requests only read ``cache.state`` (one attribute, swapped whole), so they never
wait on Redis. The thread wakes on a pub/sub message or every poll interval,
when it compares the generation counter: a lost message heals within one
interval. A refresh reloads only apps whose document changed (compared by
hash). An app missing from Redis keeps its last snapshot: a Redis flush or
outage never empties the service; deleted apps arrive as tombstone documents.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field

import redis

from api.metrics import SNAPSHOT_APPS, SNAPSHOT_GENERATION, SNAPSHOT_SYNCED
from store.snapshot_format import APP_KEY, CHANNEL, ETAGS_KEY, GEN_KEY, decode_document
from store.tokens import client_token_digest
from store.versions import VersionKey, parse_key

log = logging.getLogger("gatehouse.read.cache")

# Only headers that named a known token are remembered: an unknown one costs its SHA-256 and is
# forgotten, so a flood of bogus tokens retains nothing (it once grew a process by 304 MiB in 2 s).
# Each known token has few spellings (raw, base64), so the bound is rarely reached.
_HEADER_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class AppView:
    public_id: str
    state: str
    tokens: tuple[str, ...]
    # "platform|env|canonical" -> (v1 body, v1 etag, v2 body, v2 etag)
    exact: dict[str, tuple[bytes, str, bytes, str]]
    # "platform|env" -> (minimum key, v1 body, v1 etag, v2 body, v2 etag)
    minimum: dict[str, tuple[VersionKey, bytes, str, bytes, str]]
    maintenance: dict[str, tuple[bytes, str]]
    digest: str
    # The active app configuration's plain fields, or None (the app-config dialect shapes the answer).
    config: dict | None = None
    # The package identifier live-update devices name the app by, and the live-update part (plain values;
    # the Capgo dialect builds its decision view from it once per document).
    package: str = ""
    capgo: dict | None = None

    @classmethod
    def from_document(cls, raw: bytes) -> AppView:
        doc = decode_document(raw)
        minimum = {}
        for key, (version, b1, e1, b2, e2) in doc["minimum"].items():
            minimum[key] = (parse_key(version), b1.encode(), e1, b2.encode(), e2)
        return cls(
            public_id=doc["app_id"],
            state=doc["state"],
            tokens=tuple(doc["tokens"]),
            exact={k: (b1.encode(), e1, b2.encode(), e2) for k, (b1, e1, b2, e2) in doc["exact"].items()},
            minimum=minimum,
            maintenance={k: (b.encode(), e) for k, (b, e) in doc["maintenance"].items()},
            digest=hashlib.md5(raw, usedforsecurity=False).hexdigest(),
            config=doc.get("appconfig"),
            package=doc.get("package") or "",
            capgo=doc.get("capgo"),
        )


@dataclass(slots=True)
class State:
    apps: dict[str, AppView] = field(default_factory=dict)
    tokens: dict[str, AppView] = field(default_factory=dict)
    # x-api-token header value -> app, for known tokens only: skips base64 and SHA-256 on repeat clients.
    by_header: dict[str, AppView] = field(default_factory=dict)
    # package identifier -> app, for the live-update device calls
    packages: dict[str, AppView] = field(default_factory=dict)


class SnapshotCache:
    def __init__(self, redis_url: str, poll_interval: float = 0.5):
        self.redis_url = redis_url
        self.poll_interval = poll_interval
        self.state = State()
        self.loaded = threading.Event()
        self.redis_ok = False
        self.synced_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- request side ----------------------------------------------------------------------------------
    def app_for_header(self, header: str | None) -> AppView | None:
        st = self.state
        if header is None:
            return None
        try:
            return st.by_header[header]
        except KeyError:
            pass
        digest = client_token_digest(header)
        view = st.tokens.get(digest) if digest else None
        if view is not None:
            if len(st.by_header) >= _HEADER_CACHE_MAX:
                st.by_header.clear()
            st.by_header[header] = view
        return view

    # -- sync side -------------------------------------------------------------------------------------
    def refresh(self, r: redis.Redis) -> int:
        """Load every app whose document differs from the one in memory; returns how many."""
        current = self.state
        remote = {k.decode(): v.decode() for k, v in r.hgetall(ETAGS_KEY).items()}
        wanted = [
            pid
            for pid, tag in remote.items()
            if pid not in current.apps or f'"{current.apps[pid].digest}"' != tag
        ]
        if not wanted:
            self.loaded.set()
            return 0
        apps = dict(current.apps)
        for i in range(0, len(wanted), 200):
            chunk = wanted[i : i + 200]
            for pid, raw in zip(chunk, r.mget([APP_KEY + p for p in chunk]), strict=True):
                if raw is None:
                    continue
                try:
                    apps[pid] = AppView.from_document(raw)
                except Exception:
                    log.exception("unreadable snapshot for %s; keeping the previous one", pid)
        tokens = {t: view for view in apps.values() for t in view.tokens}
        packages = {view.package: view for view in apps.values() if view.package}
        self.state = State(apps=apps, tokens=tokens, packages=packages)
        self.loaded.set()
        return len(wanted)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="snapshot-sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _observe(self, gen: bytes | None) -> None:
        """Each poll confirms the snapshots current: the synced timestamp's age is how stale they may be."""
        self.redis_ok, self.synced_at = True, time.time()
        SNAPSHOT_GENERATION.set(int(gen or 0))
        SNAPSHOT_SYNCED.set(self.synced_at)
        SNAPSHOT_APPS.set(len(self.state.apps))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
                pubsub = r.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                gen = r.get(GEN_KEY)
                self.refresh(r)
                self._observe(gen)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=self.poll_interval)
                    if message is not None:
                        while pubsub.get_message(timeout=0) is not None:
                            pass  # one refresh covers every change queued so far
                        gen = r.get(GEN_KEY)
                        self.refresh(r)
                        self._observe(gen)
                        continue
                    new_gen = r.get(GEN_KEY)
                    if new_gen != gen:
                        gen = new_gen
                        self.refresh(r)
                    self._observe(gen)
            except (redis.RedisError, OSError) as exc:
                self.redis_ok = False
                log.warning("snapshot sync lost Redis (%s); serving the snapshots in memory", exc)
                self._stop.wait(1.0)
