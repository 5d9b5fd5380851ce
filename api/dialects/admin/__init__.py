"""Gatehouse's own admin API (/admin/v1): Bearer admin tokens, {"error": ...} bodies."""

from __future__ import annotations

from api.dialects.base import Dialect, WriteContext
from api.dialects.errors import ErrorFormat, error_key


def _write_routes(ctx: WriteContext):
    from api.dialects.admin.routes import routes  # imported on use: the read service must not load the ORM

    return routes(ctx.settings, ctx.storage, ctx.limiter, ctx.connection)


DIALECT = Dialect(
    name="admin", errors=ErrorFormat(error_key), prefixes=("/admin/",), write_routes=_write_routes
)
