"""The app-config API (spec 003): admin CRUD on /app-config with Gatehouse admin tokens (Bearer), the public
active configuration on the read service, errors as {"message": ..., "statusCode": ...}."""

from __future__ import annotations

from api.dialects.base import Dialect, ReadContext, WriteContext
from api.dialects.errors import ErrorFormat
from api.read.parts import Plain

PUBLIC_PATH = "/app-config/public"


def message_and_status(message: str, status: int) -> dict:
    return {"message": message, "statusCode": status}


def _read_routes(ctx: ReadContext):
    from api.dialects.appconfig.read import routes  # imported on use: the write API never loads it

    return routes(ctx.cache, ctx.settings, ctx.metrics)


def _write_routes(ctx: WriteContext):
    from api.dialects.appconfig.write import routes  # imported on use: the read service must not load the ORM

    return routes(ctx.settings)


def _snapshot_part(data) -> dict:
    # Plain fields; the read service shapes the answer once per document (api/dialects/appconfig/read.py).
    return {"appconfig": data.config}


DIALECT = Dialect(
    name="appconfig",
    errors=ErrorFormat(message_and_status),
    prefixes=("/app-config",),
    read_paths=(PUBLIC_PATH,),
    read_routes=_read_routes,
    write_routes=_write_routes,
    snapshot_part=_snapshot_part,
    part_codec=lambda: Plain("appconfig", "appconfig"),
)
