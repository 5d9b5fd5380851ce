"""The read service: AppCockpit client checks answered from in-memory snapshots.

Never imports the ORM and never opens a database connection (a test walks its imports).
"""

from __future__ import annotations

import asyncio
import gc
import time

import falcon
import falcon.asgi
import orjson

from api import openapi_doc
from api.dialects.base import Dialect, ReadContext
from api.dialects.registry import DIALECTS, READ_DEFAULT, dialect_for_path, part_codecs
from api.metrics import RequestMetrics, exposition
from api.openapi_doc import reason
from api.read.cache import SnapshotCache
from api.read.respond import respond
from api.settings import Settings
from store.snapshot_format import etag

# The client checks count their own answers (each dialect's read module); these routes, and Falcon's own
# 404 and 405, are counted here. No Falcon middleware: one cost the hot path 12 % of its throughput.


class Health:
    def __init__(self, metrics: RequestMetrics):
        self.metrics = metrics

    async def on_get(self, req, resp):
        resp.status = 200
        resp.data = b""
        self.metrics.observe("/health", "GET", 200, None)


class OpenAPI:
    def __init__(self, metrics: RequestMetrics):
        self.metrics = metrics

    async def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_JSON
        resp.data = openapi_doc.as_json("read")
        self.metrics.observe("/openapi.json", "GET", 200, None)


class Metrics:
    def __init__(self, metrics: RequestMetrics):
        self.metrics = metrics

    async def on_get(self, req, resp):
        self.metrics.observe("/metrics", "GET", 200, None)
        self.metrics.flush()
        resp.data, resp.content_type = exposition()


class Ready:
    """Readiness: ready once this process holds the snapshots, since it answers from memory; Redis is reported
    as the sync thread last found it (no I/O here: a probe must not stall the event loop)."""

    def __init__(self, cache: SnapshotCache, metrics: RequestMetrics):
        self.cache, self.metrics = cache, metrics

    async def on_get(self, req, resp):
        synced = self.cache.synced_at
        checks = {
            "snapshots": {
                "ok": self.cache.loaded.is_set(),
                "apps": len(self.cache.state.apps),
                "decoded_apps": len(self.cache.hot),
                "decoded_bytes": self.cache.hot.weight,
            },
            "redis": {
                "ok": self.cache.redis_ok,
                "synced_seconds_ago": None if synced is None else round(time.time() - synced, 3),
            },
        }
        ready = checks["snapshots"]["ok"]
        resp.status = 200 if ready else 503
        self.metrics.observe("/ready", "GET", resp.status, None)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps({"ready": ready, "checks": checks})


STARTUP_WAIT_SECONDS = 10.0


class Lifespan:
    """Starts the snapshot sync thread in each worker process, and the metrics flush on its event loop."""

    def __init__(self, cache: SnapshotCache, metrics: RequestMetrics):
        self.cache, self.metrics = cache, metrics
        self._flusher: asyncio.Task | None = None
        # Resources that hold work for later (a route's ``shutdown()``, awaited when the process stops).
        self.holders: list = []

    async def process_startup(self, scope, event):
        # Everything loaded so far (modules, routes) lives as long as the process: moved out of the
        # collector's way, a full collection walks only what requests and snapshots allocate.
        gc.freeze()
        self.cache.start()
        # A process takes requests once its snapshots are in memory (or Redis failed to give them): a
        # worker started under load (a deploy's new master, a recycled worker) answered its first
        # requests from nothing, 404 and 401 for apps that exist (tests/test_upgrade.py caught four).
        # Its listening socket queues them meanwhile.
        await asyncio.to_thread(self.cache.tried.wait, STARTUP_WAIT_SECONDS)
        self._flusher = asyncio.create_task(self._flush_every_second())

    async def process_shutdown(self, scope, event):
        for holder in self.holders:
            await holder.shutdown()
        self.cache.stop()
        if self._flusher is not None:
            self._flusher.cancel()
        self.metrics.flush()

    async def _flush_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.metrics.flush()


def _error_serializer(metrics: RequestMetrics, route_dialects: dict[str, Dialect]):
    def serialize(req, resp, exc: falcon.HTTPError) -> None:
        # Falcon's own errors (404, 405) in the words of the dialect that owns the path; the spec gives
        # every JSON response an ETag.
        dialect = route_dialects.get(req.uri_template) or dialect_for_path(req.path, READ_DEFAULT)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = dialect.errors.render(reason(exc.title), exc.status_code)
        resp.set_header("ETag", etag(resp.data))
        metrics.observe(req.uri_template, req.method, exc.status_code, None)

    return serialize


class ReadApp(falcon.asgi.App):
    """Falcon's ASGI app, plus answers some routes take straight from ASGI.

    A resource with an ``asgi`` mapping (method -> ``handler(scope, receive, send, route)``) has those
    methods answered before Falcon builds its request and response objects: for Capgo's POST /updates that
    was a fifth of the read process's time (py-spy), and a quarter of a hot GET's. A handler that returns
    False leaves the request to Falcon; everything else (other methods, 404s, 405s) is Falcon's.
    ``direct=False`` answers everything through Falcon (the test that compares both paths).
    """

    def __init__(self, *args, metrics: RequestMetrics, direct: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.direct: dict[tuple[str, str], object] = {}
        self.takes_direct, self.metrics = direct, metrics

    def add_route(self, uri_template: str, resource, **kwargs) -> None:
        super().add_route(uri_template, resource, **kwargs)
        if self.takes_direct:
            for method, handler in getattr(resource, "asgi", {}).items():
                self.direct[(method, uri_template)] = (handler, uri_template)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope["path"]
            route = self.direct.get(
                (scope["method"], path[:-1] if path.endswith("/") and len(path) > 1 else path)
            )
            # A direct handler decodes what it reads, and declines (False) what it cannot.
            if route is not None and await route[0](scope, receive, send, route[1]) is not False:
                return None
            try:
                scope["query_string"].decode()
            except UnicodeDecodeError:
                # Bytes no URL may hold unescaped: Falcon raised on them, and the server answered 500.
                return await self._undecodable(scope, send)
        return await super().__call__(scope, receive, send)

    async def _undecodable(self, scope, send) -> None:
        data = dialect_for_path(scope["path"], READ_DEFAULT).errors.render("Bad Request", 400)
        headers = [
            (b"content-type", b"application/json"),
            (b"etag", etag(data).encode()),
            (b"content-length", str(len(data)).encode()),
        ]
        await respond(scope, send, 400, headers, data)
        self.metrics.observe(None, scope["method"], 400, None)


def create_read_app(
    settings: Settings, cache: SnapshotCache | None = None, direct: bool = True
) -> falcon.asgi.App:
    cache = cache or SnapshotCache(
        settings.redis_url, settings.snapshot_poll_interval, settings.read_hot_mb * 1_000_000, part_codecs()
    )
    # Latency is sampled one answer in 8 and measured inside the app (the edge or a client sees the rest).
    metrics = RequestMetrics("read", batched=True, sample_every=8)
    lifespan = Lifespan(cache, metrics)
    app = ReadApp(middleware=[lifespan], metrics=metrics, direct=direct)
    # /updates/ is /updates, as Capgo's server routes it (plugins configured with a trailing slash).
    app.req_options.strip_url_path_trailing_slash = True
    route_dialects: dict[str, Dialect] = {}
    app.set_error_serializer(_error_serializer(metrics, route_dialects))
    app.add_route("/health", Health(metrics))
    app.add_route("/openapi.json", OpenAPI(metrics))
    app.add_route("/metrics", Metrics(metrics))
    app.add_route("/ready", Ready(cache, metrics))
    context = ReadContext(settings=settings, cache=cache, metrics=metrics)
    for dialect in DIALECTS:
        for path, resource in dialect.read_routes(context) if dialect.read_routes else []:
            app.add_route(path, resource)
            route_dialects[path] = dialect
            if hasattr(resource, "shutdown") and resource not in lifespan.holders:
                lifespan.holders.append(resource)
    return app
