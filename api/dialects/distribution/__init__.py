"""The distribution server (spec 004, openprx/fenfa): its admin API under /admin/api and /admin/exports with
admin tokens in ``X-Auth-Token``, the upload call, and the public side (product pages, downloads, iOS
manifests, UDID capture), all on the write API. Answers are ``{"ok": true, "data": ...}``; errors
``{"ok": false, "error": {"code", "message"}}`` with the server's upper-case codes."""

from __future__ import annotations

from api.dialects.base import Dialect, WriteContext
from api.dialects.errors import ErrorFormat

CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL",
    502: "UPSTREAM",
    503: "UNAVAILABLE",
}


def envelope_error(message: str, status: int) -> dict:
    return {"ok": False, "error": {"code": CODES.get(status, "ERROR"), "message": message}}


def _write_routes(ctx: WriteContext):
    from api.dialects.distribution.routes import routes  # imported on use: the read service never loads it

    return routes(ctx)


DIALECT = Dialect(
    name="distribution",
    errors=ErrorFormat(envelope_error),
    prefixes=(
        "/admin/api/",
        "/admin/exports/",
        "/products/",
        "/d/",
        "/ios/",
        "/udid/",
        "/upload",
        "/smart-upload",
        "/healthz",
    ),
    write_routes=_write_routes,
    # fenfa's upload token: an upload key is good for the upload alone (api/dialects/distribution/auth.py);
    # settings hold storage credentials.
    key_modes={
        "/upload": {"POST": "upload"},
        "/smart-upload": {"POST": "upload"},
        "/admin/api/parse-app": {"POST": "read"},  # stores nothing
        "/admin/api/settings": {"PUT": "all"},
    },
)
