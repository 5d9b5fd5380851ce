"""The write API: admin changes and ingestion, persisted with Peewee, snapshots rebuilt by RQ."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import falcon
import redis
import structlog

from api import openapi_doc
from api.dialects.base import Dialect, WriteContext
from api.dialects.registry import DIALECTS, WRITE_DEFAULT, dialect_for_path
from api.forwarding import Proxies
from api.metrics import DROPPED, RequestMetrics, StateCollector, exposition
from api.openapi_doc import reason
from api.readiness import probe
from api.settings import Settings
from api.write import bodies
from api.write.auth import declare_key_modes
from api.write.files import file_backends
from api.write.http import send
from api.write.ratelimit import LoginLimiter, client_address
from store import accounts, changes, outbox
from store.errors import DomainError, InvalidInput, TooManyRequests, Unavailable
from store.service import (
    drop_dead_connection,
    init_db,
    is_unavailable,
    ping,
    release_connection,
    set_after_commit,
)
from store.snapshot_format import etag
from store.storage import make_storage
from worker.heartbeat import SCHEDULER_TICK_KEY, live_workers
from worker.queue import after_commit, make_queue
from worker.sightings import REJECTED_COUNT

log = structlog.get_logger("gatehouse.write")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Connections:
    """Each request thread keeps its pooled connection from one request to the next.

    Handing it back to the pool after every request cost a fifth of the ingestion path (the pool
    lock and a liveness check per request; `python -m loadtest.bench` ingestion 1,038 -> 1,289
    events/s). After a 5xx the connection goes back, so a broken one is replaced:
    the pool checks connections as it hands them out.
    """

    def __init__(
        self,
        metrics: RequestMetrics,
        proxies: Proxies,
        uploads: bodies.Uploads | None = None,
        body_timeout: float | None = None,
        max_body: int = 1_048_576,
    ):
        self.metrics, self.proxies = metrics, proxies
        self.uploads, self.body_timeout, self.max_body = uploads, body_timeout, max_body

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()
        req.context.upload_from = None
        # Who and from where, for the audit log: nobody until a route authenticates an admin.
        changes.acting(None)
        given = req.get_header("X-Request-ID") or ""
        req.context.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        req.context.client = client_address(req, self.proxies)
        # The connection opens on the first query (autoconnect), inside the store, where an outage
        # becomes the dialect's own error; one the server hung up on is replaced before it fails.
        drop_dead_connection()
        # NUL cannot be stored in PostgreSQL text; refused here for paths and query strings alike.
        if "\x00" in req.path or "%00" in req.query_string:
            raise InvalidInput("the request must not contain NUL characters")
        if bodies.has_body(req):
            bodies.set_read_timeout(req, self.body_timeout)
            if self.uploads is not None and (req.content_length or self.max_body + 1) > self.max_body:
                self.uploads.enter(req.context.client)
                req.context.upload_from = req.context.client

    def process_response(self, req, resp, resource, req_succeeded):
        changes.acting(None)
        if getattr(req.context, "upload_from", None) is not None:
            self.uploads.leave(req.context.upload_from)
            req.context.upload_from = None
        if bodies.has_body(req):
            bodies.set_read_timeout(req, None)
            if resp.status_code >= 400 and bodies.unread(req):
                bodies.force_close()
        if getattr(req.context, "request_id", None):
            resp.set_header("X-Request-ID", req.context.request_id)
        # Every JSON answer carries the MD5 ETag the AppCockpit document promises for all of them.
        # content_type is None until Falcon serialises media, which it does as JSON.
        if resp.content_type in (None, falcon.MEDIA_JSON) and resp.get_header("ETag") is None:
            data = resp.render_body()
            if data is not None:
                resp.set_header("ETag", etag(data))
        if resp.status_code >= 500:
            release_connection()
        elapsed = time.perf_counter() - req.context.started
        self.metrics.observe(req.uri_template, req.method, resp.status_code, req.context.started)
        if req.path not in ("/health", "/metrics", "/ready"):
            log.info(
                "request",
                method=req.method,
                path=req.path,
                status=resp.status_code,
                ms=round(elapsed * 1000, 2),
            )


class AsciiInt(falcon.routing.IntConverter):
    """A path id of 1 to 18 ASCII digits (what a 64-bit column holds); anything else matches no route."""

    def convert(self, value: str):
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            return None
        return super().convert(value)


class Health:
    def on_get(self, req, resp):
        resp.status = falcon.HTTP_200
        resp.data = b""


class OpenAPI:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_JSON
        resp.data = openapi_doc.as_json("write")


class Metrics:
    """Every write worker's request metrics, plus the state of the pipeline behind them, read now."""

    def __init__(self, queue, connection: redis.Redis):
        def scheduler_age() -> float | None:
            tick = connection.get(SCHEDULER_TICK_KEY)
            return None if tick is None else max(time.time() - float(tick), 0.0)

        self.state = StateCollector(
            {
                "gatehouse_queue_jobs": ("Jobs waiting in the RQ queue", lambda: queue.count),
                "gatehouse_failed_jobs": (
                    "Jobs in RQ's failed registry",
                    lambda: queue.failed_job_registry.count,
                ),
                "gatehouse_outbox_backlog": (
                    "Apps whose snapshot waits for a rebuild",
                    lambda: outbox.backlog()[0],
                ),
                "gatehouse_outbox_oldest_seconds": (
                    "Age of the oldest waiting rebuild",
                    lambda: outbox.backlog()[1],
                ),
                "gatehouse_scheduler_tick_age_seconds": (
                    "Seconds since a worker's schedule last ran",
                    scheduler_age,
                ),
                "gatehouse_live_workers": (
                    "Workers with a fresh heartbeat",
                    lambda: live_workers(connection),
                ),
                "gatehouse_rejected_device_records": (
                    "Device records the database refused, set aside in gh:devices:rejected (ever)",
                    lambda: int(connection.get(REJECTED_COUNT) or 0),
                ),
            }
        )

    def on_get(self, req, resp):
        resp.data, resp.content_type = exposition([self.state])


class Ready:
    """Readiness: the database answers (writes need it); Redis and storage are reported (their loss is healed)."""

    def __init__(self, connection: redis.Redis, storage):
        self.connection, self.storage = connection, storage

    def on_get(self, req, resp):
        checks = {
            "database": probe(ping),
            "redis": probe(self.connection.ping),
            "storage": probe(lambda: self.storage.exists("readiness-probe")),
        }
        ready = checks["database"]["ok"]
        if not ready:
            release_connection()
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        send(resp, {"ready": ready, "checks": checks}, resp.status)


class Errors:
    """One handler per error class, answering in the format of the dialect that owns the route (or path)."""

    def __init__(self, route_dialects: dict[str, Dialect]):
        self.route_dialects = route_dialects

    def _dialect(self, req) -> Dialect:
        return self.route_dialects.get(req.uri_template) or dialect_for_path(req.path, WRITE_DEFAULT)

    def _send(self, req, resp, status: int, message: str, headers: Any = None) -> None:
        resp.status = falcon.code_to_http_status(status)
        errors = self._dialect(req).errors
        resp.content_type = errors.content_type
        resp.data = errors.render(message, status)
        resp.set_headers(errors.headers)
        for k, v in (headers or {}).items():
            resp.set_header(k, v)

    def domain(self, req, resp, ex: DomainError, params) -> None:
        status = self._dialect(req).errors.status_for(ex)
        if status >= 500:
            log.warning(
                "storage failure",
                path=req.path,
                status=status,
                error=ex.message,
                cause=str(ex.__cause__ or ex.__context__ or "").strip()[:300],
            )
        headers = {"Retry-After": str(ex.retry_after)} if isinstance(ex, TooManyRequests) else None
        self._send(req, resp, status, self._dialect(req).errors.words_for(ex, req, params), headers)

    def http(self, req, resp, ex: falcon.HTTPError, params) -> None:
        self._send(req, resp, ex.status_code, ex.description or reason(ex.title), ex.headers)

    def unexpected(self, req, resp, ex, params) -> None:
        if isinstance(ex, TimeoutError) and bodies.has_body(req):
            # The client stopped sending its body (GATEHOUSE_BODY_READ_TIMEOUT): the connection is closed.
            bodies.force_close()
            self._send(req, resp, 408, "request body not received in time")
            return
        if is_unavailable(ex):
            # An outage, not a bug: the caller may retry, and the log names the cause.
            release_connection()
            outage = Unavailable("database unavailable, try again")
            outage.__cause__ = ex
            self.domain(req, resp, outage, params)
            resp.set_header("Retry-After", "1")
            return
        log.exception("unhandled error", path=req.path)
        self._send(req, resp, 500, "Internal server error")


def _enqueue_or_count(queue, app_ids) -> None:
    try:
        after_commit(queue, app_ids)
    except Exception:
        DROPPED.labels("rebuild_enqueue").inc(len(app_ids))
        raise  # logged by the unit of work; the outbox sweep enqueues it once Redis is back


def create_write_app(
    settings: Settings, connection: redis.Redis | None = None, manage_connections: bool = True
) -> falcon.App:
    init_db(settings.effective_database_url, settings.db_pool_size)
    accounts.configure_passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
    connection = connection or redis.Redis.from_url(settings.redis_url)
    queue = make_queue(connection, settings.queue_name)
    set_after_commit(lambda app_ids: _enqueue_or_count(queue, app_ids))

    uploads = bodies.Uploads(settings.uploads_per_address, settings.write_threads - 2)
    app = falcon.App(
        middleware=[
            Connections(
                RequestMetrics("write"),
                settings.proxies,
                uploads,
                settings.body_read_timeout,
                settings.max_body_bytes,
            )
        ]
        if manage_connections
        else []
    )
    # /channel/ is /channel, as Capgo's server routes it.
    app.req_options.strip_url_path_trailing_slash = True
    # Ids in paths are ASCII digits: Falcon's int converter takes what Python's int() does ("+1", "1_0",
    # full-width digits), which the documents call invalid.
    app.router_options.converters["int"] = AsciiInt
    route_dialects: dict[str, Dialect] = {}
    errors = Errors(route_dialects)
    app.add_error_handler(Exception, errors.unexpected)
    app.add_error_handler(falcon.HTTPError, errors.http)
    app.add_error_handler(DomainError, errors.domain)
    app.add_route("/health", Health())
    app.add_route("/openapi.json", OpenAPI())
    storage = make_storage(settings)
    app.add_route("/metrics", Metrics(queue, connection))
    app.add_route("/ready", Ready(connection, storage))
    limiter = LoginLimiter(
        connection, settings.login_max_failures, settings.login_failure_window, settings.proxies
    )
    context = WriteContext(
        settings=settings,
        storage=storage,
        limiter=limiter,
        connection=connection,
        backends=file_backends(settings, storage, connection),
    )
    for dialect in DIALECTS:
        for route, modes in dialect.key_modes.items():
            declare_key_modes(route, modes)
        for path, resource in dialect.write_routes(context) if dialect.write_routes else []:
            app.add_route(path, resource)
            route_dialects[path] = dialect
        for prefix, sink in dialect.write_sinks:
            app.add_sink(sink, prefix)
    return app
