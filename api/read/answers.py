"""Sending precomputed answers from the read service, for every dialect that has client reads.

A client GET is answered two ways with one decision: through Falcon (``on_get``) and straight from ASGI
(``direct``, taken by api/read/app.py's ReadApp before Falcon builds its request and response objects,
which cost a fifth to a quarter of a hot GET). A resource gives ``decide(asked)``; ``Asked`` reads the
request as Falcon's Request does, and ``Responder`` writes the headers as Falcon's Response does, so both
paths send the same bytes (tests/test_direct_reads.py compares them over the whole answer table).
"""

from __future__ import annotations

import abc
from itertools import islice
from time import perf_counter
from typing import Protocol

import falcon
import falcon.asgi
from falcon.util.uri import parse_query_string

from api.etags import etag_listed
from api.metrics import RequestMetrics
from api.read.cache import SnapshotCache
from api.read.respond import respond

# (status, (body, ETag), cacheable): what a client GET is answered.
Decision = tuple[int, tuple[bytes, str], bool]


class Asked(Protocol):
    def header(self, name: str) -> str | None:
        """A request header by its lowercase name, repeated ones joined by commas (None when absent)."""
        ...

    def param(self, name: str) -> str | None:
        """A query parameter, the last of repeated ones (None when absent)."""
        ...


class FalconAsked:
    __slots__ = ("req",)

    def __init__(self, req: falcon.asgi.Request):
        self.req = req

    def header(self, name: str) -> str | None:
        return self.req.get_header(name)

    def param(self, name: str) -> str | None:
        return self.req.get_param(name)


_NAMES = {"x-api-token": b"x-api-token", "if-none-match": b"if-none-match"}


class ScopeAsked:
    """The ASGI scope read as Falcon reads it: header values latin-1, repeated ones joined with ","
    (headers are read in one pass: ASGI lets each be a one-shot iterable); the query string decoded as
    UTF-8 and parsed by Falcon's own parser with its default options (blank values kept, no comma
    splitting)."""

    __slots__ = ("scope", "_headers", "_params")

    def __init__(self, scope: dict):
        self.scope = scope
        self._headers: dict[bytes, bytes] | None = None
        self._params: dict | None = None

    def header(self, name: str) -> str | None:
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for key, value in self.scope["headers"]:
                headers[key] = value if key not in headers else headers[key] + b"," + value
        found = headers.get(_NAMES.get(name) or name.encode("latin-1"))
        return None if found is None else found.decode("latin-1")

    def param(self, name: str) -> str | None:
        params = self._params
        if params is None:
            query = self.scope["query_string"].decode()
            params = self._params = parse_query_string(query, keep_blank=True, csv=False) if query else {}
        value = params.get(name)
        if type(value) is list:
            return value[-1]
        return value  # type: ignore[return-value]  # a str here: lists were taken above


def revalidated(cacheable: bool, status: int, inm: str | None, tag: str) -> bool:
    """Only answers a cache may keep (200 and the 404) revalidate; an error must reach the client. "*"
    matches only when there is a current representation (RFC 9110 13.1.2): never a 404's."""
    return (
        cacheable
        and inm is not None
        and (inm == tag or etag_listed(inm, tag))
        and (status == 200 or inm.strip() != "*")
    )


class Responder:
    """Writes precomputed answers: ETag, Cache-Control, and 304 on a matching If-None-Match."""

    def __init__(self, max_age: int, metrics: RequestMetrics, vary: str | None = None):
        self.cacheable = (
            f"public, max-age=0, s-maxage={max_age}, stale-while-revalidate=30, stale-if-error=86400"
        )
        self.metrics, self.vary = metrics, vary
        # Falcon's header order: content-type, then in the order set, content-length last (not on a 304).
        self._cache_headers = {
            True: (b"cache-control", self.cacheable.encode()),
            False: (b"cache-control", b"no-store"),
        }
        self._vary = [(b"vary", vary.encode())] if vary else []

    def send(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        status: int,
        answer: tuple[bytes, str],
        cacheable: bool = True,
    ) -> None:
        data, tag = answer
        resp.status = status
        resp.content_type = "application/json"
        resp.set_header("ETag", tag)
        resp.set_header("Cache-Control", self.cacheable if cacheable else "no-store")
        if self.vary:
            resp.set_header("Vary", self.vary)
        if revalidated(cacheable, status, req.get_header("If-None-Match"), tag):
            resp.status = 304
            self.metrics.observe(req.uri_template, "GET", 304, req.context.started)
            return
        resp.data = data
        self.metrics.observe(req.uri_template, "GET", status, req.context.started)

    def frame(self, decision: Decision) -> Framed:
        """A decision with its ASGI headers encoded once (Falcon's order: content-type, then as set,
        content-length last and not on a 304)."""
        status, (data, tag), cacheable = decision
        head = [
            (b"content-type", b"application/json"),
            (b"etag", tag.encode("latin-1")),
            self._cache_headers[cacheable],
            *self._vary,
        ]
        return status, data, tag, cacheable, [*head, (b"content-length", str(len(data)).encode())], head

    async def send_direct(self, send, asked: ScopeAsked, route: str, framed: Framed, started: float) -> None:
        status, data, tag, cacheable, headers, bodiless = framed
        if revalidated(cacheable, status, asked.header("if-none-match"), tag):
            status, data, headers = 304, b"", bodiless
        await respond(asked.scope, send, status, headers, data)
        self.metrics.observe(route, "GET", status, started)


# (status, body, ETag, cacheable, headers, headers of a 304)
Framed = tuple[int, bytes, str, bool, list, list]

# Request shapes remembered per resource: a fleet sends few (an app, its token, a few versions). Only
# answers a cache may keep (200, the 404) to requests of at most MEMO_KEY_MAX bytes are remembered, so
# bogus tokens and made-up queries retain nothing: at most about 3 MB per resource.
MEMO_MAX = 10_000
MEMO_KEY_MAX = 256


class ClientGet(abc.ABC):
    """A client GET answered by ``decide``, through Falcon or straight from ASGI (the ``asgi`` mapping
    ReadApp takes). Subclasses set ``self.r`` (their Responder) and ``self.cache``, name in ``keyed_by``
    the one request header ``decide`` reads besides If-None-Match (None: none), and implement ``decide``.

    The direct path remembers each request shape's framed decision (query string and that header) for as
    long as the snapshots it was decided on are current: a fleet asks the same few questions again and again,
    and every snapshot change makes a new ``cache.state``, which no remembered decision matches."""

    r: Responder
    cache: SnapshotCache
    keyed_by: str | None = None

    def __init__(self) -> None:
        self.asgi = {"GET": self.direct}
        self._memo: dict[tuple, tuple[object, Framed]] = {}

    @abc.abstractmethod
    def decide(self, asked: Asked) -> Decision:
        """The answer to what was asked: (status, (body, ETag), cacheable)."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.started = perf_counter()
        status, answer, cacheable = self.decide(FalconAsked(req))
        self.r.send(req, resp, status, answer, cacheable)

    async def direct(self, scope: dict, receive, send, route: str) -> bool:
        """Answers from ASGI; False leaves the request to Falcon (a query string that is not UTF-8,
        which Falcon refuses in its own way)."""
        started = perf_counter()
        asked = ScopeAsked(scope)
        state = self.cache.state
        key = (scope["query_string"], asked.header(self.keyed_by) if self.keyed_by else None)
        known = self._memo.get(key)
        if known is not None and known[0] is state:
            framed = known[1]
        else:
            try:
                scope["query_string"].decode()  # a remembered shape was decodable; a new one may not be
                framed = self.r.frame(self.decide(asked))
            except UnicodeDecodeError:
                return False
            if framed[3] and len(key[0]) + len(key[1] or "") <= MEMO_KEY_MAX:
                if len(self._memo) >= MEMO_MAX:
                    # The oldest tenth goes (dicts keep insertion order): a working set just past the bound
                    # keeps most of its answers instead of losing all of them at once.
                    for old in list(islice(self._memo, MEMO_MAX // 10)):
                        del self._memo[old]
                self._memo[key] = (state, framed)
        await self.r.send_direct(send, asked, route, framed, started)
        return True
