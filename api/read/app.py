"""The read service: AppCockpit client checks answered from in-memory snapshots.

Never imports the ORM and never opens a database connection (a test walks its imports).
"""

from __future__ import annotations

import falcon
import falcon.asgi
import orjson

from api import openapi_doc
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


class HeaderLimit:
    """431 past ``HEADER_LIMIT`` bytes of header names and values (documented in the OpenAPI document)."""

    async def process_request(self, req, resp):
        if sum(len(k) + len(v) for k, v in req.scope["headers"]) > HEADER_LIMIT:
            raise falcon.HTTPError(falcon.HTTP_431)


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
    app = falcon.asgi.App(middleware=[HeaderLimit(), Lifespan(cache)])
    app.set_error_serializer(_serialize_error)
    app.add_route("/health", Health())
    app.add_route("/openapi.json", OpenAPI())
    for path, resource in appcockpit.routes(cache, settings.cache_max_age):
        app.add_route(path, resource)
    return app
