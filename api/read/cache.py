"""Snapshots held in process memory, kept fresh from Redis by one background thread.

Requests only read ``cache.state`` (one attribute, swapped whole), so they never
wait on Redis. The thread wakes on a pub/sub message or every poll interval,
when it compares the generation counter: a lost message heals within one
interval (or a second, once a later message shows the gap). A refresh reloads
only apps whose document changed (compared by hash). An app missing from Redis keeps its last snapshot: a Redis flush or
outage never empties the service; deleted apps arrive as tombstone documents.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from api.metrics import (
    SNAPSHOT_APPS,
    SNAPSHOT_COMPARES,
    SNAPSHOT_DECODED,
    SNAPSHOT_DECODES,
    SNAPSHOT_GENERATION,
    SNAPSHOT_SYNCED,
)
from api.read.parts import PartCodec, Parts
from store.snapshot_format import (
    APP_KEY,
    CHANNEL,
    ETAGS_KEY,
    GEN_KEY,
    HEADS_KEY,
    decode_change,
    decode_document,
)
from store.tokens import client_token_digest

log = logging.getLogger("gatehouse.read.cache")

# Only headers that named a known token are remembered: an unknown one costs its SHA-256 and is
# forgotten, so a flood of bogus tokens retains nothing (it once grew a process by 304 MiB in 2 s).
# Each known token has few spellings (raw, base64), so the bound is rarely reached.
_HEADER_CACHE_MAX = 10_000


class HotSet:
    """The apps whose answers are decoded in memory, within a budget of (estimated) bytes.

    Every app's compressed document stays in memory (about 4 KB for 102 rules); its decoded answers are
    kept for the apps clients ask about, up to ``budget`` bytes: an answer other apps share costs its
    table entry, one only this app has costs its bodies too (about 700 bytes a rule). Past the budget the
    app least recently asked about goes (second chance: an app asked about since the last pass stays one
    more), and comes back on its next request from its document, in memory: no Redis round trip.
    Requests only set a flag; decoding, admitting and evicting take a lock, as the sync thread decodes
    too."""

    def __init__(self, budget: int | None, codecs: Sequence[PartCodec] = ()):
        self.budget = budget
        self.weight = 0
        self.codecs = tuple(codecs)
        self._views: dict[AppView, None] = {}
        self._lock = threading.Lock()

    def codec(self, name: str) -> PartCodec:
        return next(c for c in self.codecs if c.name == name)

    def decode(self, view: AppView, doc: dict) -> Parts:
        """The view's answers, decoded from its document (once: a racing decode gets the first one)."""
        with self._lock:
            if view._parts is not None:
                return view._parts
            parts = view._parts = Parts.decode(doc, self.codecs)
            SNAPSHOT_DECODES.inc()
            if self.budget is None:
                return parts
            self._views[view] = None
            self.weight += parts.weight
            while self.weight > self.budget and len(self._views) > 1:
                victim = next(iter(self._views))
                del self._views[victim]
                if victim is view or victim._used:  # the app being decoded, or one asked about since
                    victim._used = victim is view and victim._used
                    self._views[victim] = None
                    continue
                self._evict(victim)
            return parts

    def drop(self, view: AppView) -> None:
        """Forgets a view the state no longer holds (its app changed or went)."""
        with self._lock:
            if self._views.pop(view, 0) is None:
                self._evict(view)

    def _evict(self, view: AppView) -> None:
        if view._parts is not None:
            self.weight -= view._parts.weight
            view._parts.release(self.codecs)
            view._parts = None

    def __len__(self) -> int:
        return len(self._views)


def _digest(raw: bytes) -> str:
    return hashlib.md5(raw, usedforsecurity=False).hexdigest()


class AppView:
    """An app as the read service holds it: its head (id, standing, package, token digests) always, its
    answers (``Parts``) while it is hot; decoded from the compressed document on first use."""

    __slots__ = ("public_id", "state", "tokens", "package", "digest", "_raw", "_hot", "_parts", "_used")

    def __init__(self, public_id, state, tokens, package, digest, raw: bytes, hot: HotSet):
        self.public_id, self.state, self.tokens, self.package = public_id, state, tuple(tokens), package or ""
        self.digest, self._raw, self._hot = digest, raw, hot
        self._parts: Parts | None = None
        self._used = False

    @classmethod
    def from_document(cls, raw: bytes, hot: HotSet | None = None) -> AppView:
        """A view of a stored document, decoded now (a document stored without its head)."""
        doc = decode_document(raw)
        view = cls(
            doc["app_id"],
            doc["state"],
            doc["tokens"],
            doc.get("package"),
            _digest(raw),
            raw,
            hot if hot is not None else HotSet(None),  # an empty set is falsy
        )
        view._hot.decode(view, doc)
        return view

    @classmethod
    def from_head(cls, public_id: str, raw: bytes, head: bytes, hot: HotSet) -> AppView:
        """A view of a stored document from its head: the answers are decoded on first use."""
        h = orjson.loads(head)
        return cls(public_id, h["state"], h["tokens"], h["package"], _digest(raw), raw, hot)

    def parts(self) -> Parts:
        parts = self._parts
        if parts is None:
            parts = self._hot.decode(self, decode_document(self._raw))
        self._used = True
        return parts

    @property
    def hot(self) -> bool:
        return self._parts is not None

    def part(self, name: str) -> Any:
        """A dialect's decoded part of this app (its codec's name), decoding the app if it is not hot.
        Opaque here: the dialect that registered the codec knows its type."""
        return self.parts().by_name.get(name)


@dataclass(slots=True)
class State:
    apps: dict[str, AppView] = field(default_factory=dict)
    tokens: dict[str, AppView] = field(default_factory=dict)
    # package identifier -> app, for the live-update device calls
    packages: dict[str, AppView] = field(default_factory=dict)


class SnapshotCache:
    def __init__(
        self,
        redis_url: str,
        poll_interval: float = 0.5,
        hot_bytes: int | None = None,
        codecs: Sequence[PartCodec] = (),
    ):
        """``codecs``: the read dialects' part codecs (api/dialects/registry.py's ``part_codecs()``)."""
        self.redis_url = redis_url
        self.poll_interval = poll_interval
        self.state = State()
        self.hot = HotSet(hot_bytes, codecs)
        self.loaded = threading.Event()
        # Set once the first load finished or failed: what a starting process waits for (api/read/app.py).
        self.tried = threading.Event()
        self.redis_ok = False
        self.synced_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # x-api-token header value -> its token's digest, for known tokens only: skips base64 and SHA-256 on
        # repeat clients. Digests, not apps, so it outlives refreshes (a revoked token's digest finds nothing).
        self._by_header: dict[str, str] = {}
        # Called on the sync thread with the packages whose documents were loaded: a dialect that keeps
        # its own memory beside the snapshots squares it with them there, never on a request.
        self._watchers: list[weakref.WeakMethod] = []

    def watch(self, watcher: Callable[[set[str]], None]) -> None:
        """``watcher(packages)``, a bound method, runs after each refresh that loaded new documents of those
        packages, for as long as its object lives (an app built again over one cache leaves none behind)."""
        self._watchers = [w for w in self._watchers if w() is not None]
        self._watchers.append(weakref.WeakMethod(watcher))

    # -- request side ----------------------------------------------------------------------------------
    def app_for_header(self, header: str | None) -> AppView | None:
        if header is None:
            return None
        tokens = self.state.tokens
        digest = self._by_header.get(header)
        if digest is not None:
            return tokens.get(digest)
        digest = client_token_digest(header)
        view = tokens.get(digest) if digest else None
        if view is not None and digest is not None:
            if len(self._by_header) >= _HEADER_CACHE_MAX:
                self._by_header.clear()
            self._by_header[header] = digest
        return view

    # -- sync side -------------------------------------------------------------------------------------
    def refresh(self, r: redis.Redis, only: set[str] | None = None) -> int:
        """Load every app whose document differs from the one in memory (or, given ``only``, each of those
        apps whose document differs); returns how many."""
        current = self.state
        fetched: dict[str, tuple[bytes | None, bytes | None]] = {}
        if only is None:
            remote = {k.decode(): v.decode() for k, v in r.hgetall(ETAGS_KEY).items()}
        else:
            # The apps a message named changed, so their documents are read with their tags: one round
            # trip, not two. Under read load each round trip costs this thread a wait for the GIL (up to
            # the 5 ms switch interval) on top of Redis's answer: it was most of "to visible".
            names = sorted(only)
            pipe = r.pipeline(transaction=False)
            pipe.hmget(ETAGS_KEY, names)
            pipe.mget([APP_KEY + p for p in names])
            pipe.hmget(HEADS_KEY, names)
            tags, raws, heads = pipe.execute()
            remote = {pid: tag.decode() for pid, tag in zip(names, tags, strict=True) if tag is not None}
            fetched = dict(zip(names, zip(raws, heads, strict=True), strict=True))
        wanted = [
            pid
            for pid, tag in remote.items()
            if pid not in current.apps or f'"{current.apps[pid].digest}"' != tag
        ]
        if not wanted:
            self.loaded.set()
            return 0
        apps = dict(current.apps)
        fresh: list[AppView] = []
        replaced: list[AppView] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            if fetched:
                raws, heads = [fetched[p][0] for p in chunk], [fetched[p][1] for p in chunk]
            else:
                pipe = r.pipeline(transaction=False)
                pipe.mget([APP_KEY + p for p in chunk])
                pipe.hmget(HEADS_KEY, chunk)
                raws, heads = pipe.execute()
            for pid, raw, head in zip(chunk, raws, heads, strict=True):
                if raw is None:
                    continue
                try:
                    if head is None:  # written before documents had heads
                        view = AppView.from_document(raw, self.hot)
                    else:
                        view = AppView.from_head(pid, raw, head, self.hot)
                    old = apps.get(pid)
                    if old is not None:
                        replaced.append(old)
                        if old.hot and not view.hot:  # decoded here, so requests never wait for it
                            self.hot.decode(view, decode_document(raw))
                    apps[pid] = view
                    fresh.append(view)
                except Exception:
                    log.exception("unreadable snapshot for %s; keeping the previous one", pid)
        # The indexes are patched, not rebuilt: a change to one app of 10,000 costs that app.
        tokens, packages = dict(current.tokens), dict(current.packages)
        for old in replaced:
            for t in old.tokens:
                if tokens.get(t) is old:
                    del tokens[t]
            if old.package and packages.get(old.package) is old:
                del packages[old.package]
        for view in fresh:
            tokens.update(dict.fromkeys(view.tokens, view))
            if view.package:
                packages[view.package] = view
        self.state = State(apps=apps, tokens=tokens, packages=packages)
        for view in replaced:
            self.hot.drop(view)
        self.loaded.set()
        changed = {view.package for view in fresh if view.package}
        if changed:
            for ref in self._watchers:
                watcher = ref()
                if watcher is None:
                    continue
                try:
                    watcher(changed)
                except Exception:
                    log.exception("a snapshot watcher failed; the snapshots are in place")
        return len(wanted)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="snapshot-sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _observe(self, gen: int) -> None:
        """Each poll confirms the snapshots current: the synced timestamp's age is how stale they may be."""
        self.redis_ok, self.synced_at = True, time.time()
        SNAPSHOT_GENERATION.set(gen)
        SNAPSHOT_SYNCED.set(self.synced_at)
        SNAPSHOT_APPS.set(len(self.state.apps))
        SNAPSHOT_DECODED.set(self.hot.weight)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=2)
                pubsub = r.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                # ``seen``: every generation up to it is in memory, from the last full compare (which reads
                # the generation first) or from the messages after it, each naming its generation. A
                # message that skips one (one was lost), an older release's message (no generation), or
                # a generation moved while no message came, make the next full compare due; it runs at
                # once when none ran in the last second. With every message arriving, none runs at all.
                seen = int(r.get(GEN_KEY) or 0)
                self.refresh(r)
                self.tried.set()
                self._observe(seen)
                compared, due = time.monotonic(), False
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=self.poll_interval)
                    if message is not None:
                        # One message, one refresh: asking for more first cost a select(), and under read
                        # load every call that lets go of the GIL waits up to 5 ms to get it back.
                        # Messages that arrived meanwhile are read next, from redis-py's buffer.
                        gen, names = decode_change(message["data"])
                        self.refresh(r, set(names))
                        if gen is None or gen > seen + 1:
                            due = True
                        else:
                            seen = max(seen, gen)
                    if message is None or (
                        due and time.monotonic() - compared >= max(1.0, self.poll_interval)
                    ):
                        current = int(r.get(GEN_KEY) or 0)
                        if current != seen:
                            SNAPSHOT_COMPARES.inc()
                            self.refresh(r)
                            seen = current
                        compared, due = time.monotonic(), False
                    self._observe(seen)
            except (redis.RedisError, OSError) as exc:
                self.redis_ok = False
                self.tried.set()
                log.warning("snapshot sync lost Redis (%s); serving the snapshots in memory", exc)
                self._stop.wait(1.0)
