"""The console (/console): the web UI release managers use, over the same store functions, scoping and
audit as the admin API. Its errors are HTML pages."""

from __future__ import annotations

from api.dialects.base import Dialect, WriteContext
from api.dialects.console.headers import SECURITY_HEADERS
from api.dialects.errors import ErrorFormat, error_key


def _page(message: str, status: int) -> bytes:
    from api.dialects.console.pages import error_page  # write side only: Jinja2 and the store

    return error_page(message, status)


def _write_routes(ctx: WriteContext):
    from api.dialects.console.routes import routes

    return routes(ctx)


DIALECT = Dialect(
    name="console",
    errors=ErrorFormat(
        error_key, content_type="text/html; charset=utf-8", page=_page, headers=SECURITY_HEADERS
    ),
    prefixes=("/console",),
    write_routes=_write_routes,
)
