"""Sending precomputed answers from the read service, for every dialect that has client reads."""

from __future__ import annotations

import falcon
import falcon.asgi

from api.etags import etag_listed
from api.metrics import RequestMetrics


class Responder:
    """Writes precomputed answers: ETag, Cache-Control, and 304 on a matching If-None-Match."""

    def __init__(self, max_age: int, metrics: RequestMetrics, vary: str | None = None):
        self.cacheable = (
            f"public, max-age=0, s-maxage={max_age}, stale-while-revalidate=30, stale-if-error=86400"
        )
        self.metrics, self.vary = metrics, vary

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
        inm = req.get_header("If-None-Match")
        # Only answers a cache may keep (200 and the 404) revalidate; an error must reach the client. "*"
        # matches only when there is a current representation (RFC 9110 13.1.2): never a 404's.
        if (
            cacheable
            and inm is not None
            and (inm == tag or etag_listed(inm, tag))
            and (status == 200 or inm.strip() != "*")
        ):
            resp.status = 304
            self.metrics.observe(req.uri_template, "GET", 304, req.context.started)
            return
        resp.data = data
        self.metrics.observe(req.uri_template, "GET", status, req.context.started)
