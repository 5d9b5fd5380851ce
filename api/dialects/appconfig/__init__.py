"""The app-config API (spec 003): admin CRUD on /app-config with Gatehouse admin tokens (Bearer), the public
active configuration on the read service, errors as {"message": ..., "statusCode": ...}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.dialects.base import Dialect, ReadContext, WriteContext
from api.dialects.errors import ErrorFormat
from api.read.parts import Plain
from store.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NoSuchConfig,
    NotAuthenticated,
    NotFound,
)

PUBLIC_PATH = "/app-config/public"
CONFLICT = "An active app config already exists. Please update the existing one or deactivate it first."


def message_and_status(message: str, status: int) -> dict:
    return {"message": message, "statusCode": status}


def _no_config(exc: DomainError, req: Any, fields: dict) -> str:
    return f"App config with ID {fields.get('config_id')} not found"


def _refused_body(exc: DomainError, req: Any, fields: dict) -> str:
    # The spec words a refused body by what the call was doing, whatever was wrong with it.
    method = getattr(req, "method", "")
    return {"POST": "Failed to create app config", "PUT": "Failed to update app config"}.get(method, "")


# The spec's words for each refusal, by kind (the checks' order is api/dialects/appconfig/write.py's).
WORDS: dict[type, str | Callable[[DomainError, Any, dict], str]] = {
    NotAuthenticated: "Unauthorized",
    Forbidden: "Forbidden resource",
    NoSuchConfig: _no_config,
    NotFound: "App not found",
    Conflict: CONFLICT,
    InvalidInput: _refused_body,
}


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
    errors=ErrorFormat(message_and_status, words=WORDS),
    prefixes=("/app-config",),
    read_paths=(PUBLIC_PATH,),
    read_routes=_read_routes,
    write_routes=_write_routes,
    snapshot_part=_snapshot_part,
    part_codec=lambda: Plain("appconfig", "appconfig"),
)
