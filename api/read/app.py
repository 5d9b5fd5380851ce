"""The read service: AppCockpit client checks answered from in-memory snapshots.

Never imports the ORM and never opens a database connection (a test walks its imports).
"""

from __future__ import annotations

import time

import falcon
import falcon.asgi
import orjson

from api import openapi_doc
from api.metrics import RequestMetrics, exposition
from api.openapi_doc import reason
from api.read import appcockpit
from api.read.cache import SnapshotCache
from store.settings import Settings
from store.snapshot_format import etag


class Health:
    async def on_get(self, req, resp):
        resp.status = 200
        resp.data = b""


class OpenAPI:
    async def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_JSON
        resp.data = openapi_doc.as_json("read")


HEADER_LIMIT = 8192


class Gate:
    """Per request: 431 past ``HEADER_LIMIT`` bytes of header names and values, then metrics of the answer."""

    def __init__(self, metrics: RequestMetrics):
        self.metrics = metrics

    async def process_request(self, req, resp):
        req.context.started = time.perf_counter()
        if sum(len(k) + len(v) for k, v in req.scope["headers"]) > HEADER_LIMIT:
            raise falcon.HTTPError(falcon.HTTP_431)

    async def process_response(self, req, resp, resource, req_succeeded):
        self.metrics.observe(
            req.uri_template, req.method, resp.status_code, time.perf_counter() - req.context.started
        )


class Metrics:
    async def on_get(self, req, resp):
        resp.data, resp.content_type = exposition()


class Ready:
    """Readiness: ready once this process holds the snapshots, since it answers from memory; Redis is reported
    as the sync thread last found it (no I/O here: a probe must not stall the event loop)."""

    def __init__(self, cache: SnapshotCache):
        self.cache = cache

    async def on_get(self, req, resp):
        synced = self.cache.synced_at
        checks = {
            "snapshots": {"ok": self.cache.loaded.is_set(), "apps": len(self.cache.state.apps)},
            "redis": {
                "ok": self.cache.redis_ok,
                "synced_seconds_ago": None if synced is None else round(time.time() - synced, 3),
            },
        }
        ready = checks["snapshots"]["ok"]
        resp.status = 200 if ready else 503
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps({"ready": ready, "checks": checks})


class Lifespan:
    """Starts the snapshot sync thread in each worker process."""

    def __init__(self, cache: SnapshotCache):
        self.cache = cache

    async def process_startup(self, scope, event):
        self.cache.start()

    async def process_shutdown(self, scope, event):
        self.cache.stop()


def _serialize_error(req, resp, exc: falcon.HTTPError) -> None:
    # The spec gives every JSON response an ETag, Falcon's own 404 and 405 included.
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps({"error": reason(exc.title)})
    resp.set_header("ETag", etag(resp.data))


def create_read_app(settings: Settings, cache: SnapshotCache | None = None) -> falcon.asgi.App:
    cache = cache or SnapshotCache(settings.redis_url, settings.snapshot_poll_interval)
    app = falcon.asgi.App(middleware=[Gate(RequestMetrics("read")), Lifespan(cache)])
    app.set_error_serializer(_serialize_error)
    app.add_route("/health", Health())
    app.add_route("/openapi.json", OpenAPI())
    app.add_route("/metrics", Metrics())
    app.add_route("/ready", Ready(cache))
    for path, resource in appcockpit.routes(cache, settings.cache_max_age):
        app.add_route(path, resource)
    return app
