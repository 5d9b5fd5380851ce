"""AppCockpit's public API (spec 000): client checks and POST /v2/authenticate on the read service,
x-api-token auth, {"error": ...} bodies, and a 500 with its own texts when an event cannot be kept."""

from __future__ import annotations

from api.dialects.base import Dialect, ReadContext
from api.dialects.errors import ErrorFormat, error_key

READ_PATHS = (
    "/versions",
    "/v1/versions",
    "/v2/versions",
    "/maintenance",
    "/v1/maintenance",
    "/v2/maintenance",
    "/v2/authenticate",
)


def _read_routes(ctx: ReadContext):
    from api.dialects.appcockpit.read import routes  # imported on use: the write API never loads it

    return routes(ctx.cache, ctx.settings, ctx.metrics)


def _snapshot_part(data) -> dict:
    from api.dialects.appcockpit.snapshot import part

    return part(data)


def _part_codec():
    from api.dialects.appcockpit.parts import AnswersCodec

    return AnswersCodec()


DIALECT = Dialect(
    name="appcockpit",
    errors=ErrorFormat(error_key),
    prefixes=("/versions", "/maintenance", "/v1/", "/v2/"),
    read_paths=READ_PATHS,
    read_routes=_read_routes,
    snapshot_part=_snapshot_part,
    part_codec=_part_codec,
)
