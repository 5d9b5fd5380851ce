"""AppCockpit's public API (spec 000): client checks on the read service, POST /v2/authenticate on the
write API, x-api-token auth, {"error": ...} bodies, and a 500 with its own texts when storage fails."""

from __future__ import annotations

from api.dialects.base import Dialect, ReadContext, WriteContext
from api.dialects.errors import ErrorFormat, error_key
from store.errors import Unavailable

READ_PATHS = (
    "/versions",
    "/v1/versions",
    "/v2/versions",
    "/maintenance",
    "/v1/maintenance",
    "/v2/maintenance",
)


def _read_routes(ctx: ReadContext):
    from api.dialects.appcockpit.read import routes  # imported on use: the write API never loads it

    return routes(ctx.cache, ctx.settings.cache_max_age, ctx.metrics)


def _write_routes(ctx: WriteContext):
    from api.dialects.appcockpit.write import (
        routes,  # imported on use: the read service must not load the ORM
    )
    from api.write.tokencache import ClientTokenCache

    return routes(ctx.settings.max_body_bytes, ClientTokenCache(ctx.connection))


def _snapshot_part(data) -> dict:
    from api.dialects.appcockpit.snapshot import part

    return part(data)


def _part_codec():
    from api.dialects.appcockpit.parts import AnswersCodec

    return AnswersCodec()


DIALECT = Dialect(
    name="appcockpit",
    errors=ErrorFormat(error_key, {Unavailable: 500}),
    prefixes=("/versions", "/maintenance", "/v1/", "/v2/"),
    read_paths=READ_PATHS,
    read_routes=_read_routes,
    write_routes=_write_routes,
    snapshot_part=_snapshot_part,
    part_codec=_part_codec,
)
