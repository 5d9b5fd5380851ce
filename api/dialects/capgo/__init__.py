"""Capgo (spec 002 and the updater plugin's self-hosting protocol): the public API on the write API
(/channel, /device, /bundle, with admin tokens in ``authorization``, errors {"error", "status": "KO",
"code"}), bundle uploads and signed downloads, and the plugin's device endpoints on the read service
(/updates, /stats, /channel_self), decided from the app's snapshot in memory."""

from __future__ import annotations

from api.dialects.base import Dialect, ReadContext, WriteContext
from api.dialects.errors import ErrorFormat
from api.read.parts import Plain

READ_PATHS = ("/updates", "/stats", "/channel_self")

# Capgo's machine-readable codes for the public API's refusals, by status.
CODES = {
    400: "invalid_body",
    401: "invalid_apikey",
    403: "no_permission",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def error_ko(message: str, status: int) -> dict:
    return {"error": message, "status": "KO", "code": CODES.get(status, "error")}


def _read_routes(ctx: ReadContext):
    from api.dialects.capgo.read import routes  # imported on use: the write API never loads it

    return routes(ctx.cache, ctx.settings, ctx.metrics)


def _write_routes(ctx: WriteContext):
    from api.dialects.capgo.write import routes  # imported on use: the read service must not load the ORM

    return routes(ctx.settings, ctx.storage, ctx.connection)


def _snapshot_part(data) -> dict:
    from api.dialects.capgo.snapshot import part

    return part(data)


DIALECT = Dialect(
    name="capgo",
    errors=ErrorFormat(error_ko),
    prefixes=("/channel", "/device", "/bundle", "/updates", "/stats", "/capgo/"),
    read_paths=READ_PATHS,
    read_routes=_read_routes,
    write_routes=_write_routes,
    snapshot_part=_snapshot_part,
    # Plain values; the read module builds its decision view once per document. A pin weighs ~400 bytes.
    part_codec=lambda: Plain("capgo", "capgo", lambda part: 400 * len((part or {}).get("pins") or ())),
    # An upload key uploads bundles (and points the channel it names at one); the rest is read or write.
    key_modes={"/bundle/upload": {"POST": "upload"}},
)
