"""Gatehouse's own admin API (/admin/v1): Bearer admin tokens, {"error": ...} bodies."""

from __future__ import annotations

from api.dialects.base import Dialect, WriteContext
from api.dialects.errors import ErrorFormat, error_key


def _write_routes(ctx: WriteContext):
    from api.dialects.admin.routes import routes  # imported on use: the read service must not load the ORM

    return routes(ctx.settings, ctx.storage, ctx.limiter, ctx.connection)


_TEAMS, _APPS = "/admin/v1/teams/{team_id:int}", "/admin/v1/apps/{app_id}"
# What an API key needs where it is not read (GET) or write (other methods): uploads need upload; who may
# sign in, teams, webhooks (where events go) and deleting an app need all; keys are managed by users only.
KEY_MODES = {
    "/admin/v1/users": {"POST": "all"},
    "/admin/v1/users/{user_id:int}": {"PATCH": "all", "DELETE": "all"},
    "/admin/v1/teams": {"POST": "all"},
    _TEAMS: {"PATCH": "all", "DELETE": "all"},
    _TEAMS + "/members": {"POST": "all"},
    _TEAMS + "/members/{user_id:int}": {"DELETE": "all"},
    _TEAMS + "/webhooks": {"POST": "all"},
    _TEAMS + "/webhooks/{webhook_id:int}": {"DELETE": "all"},
    _TEAMS + "/keys": {"GET": "none", "POST": "none"},
    _TEAMS + "/keys/{key_id:int}": {"DELETE": "none"},
    _APPS: {"DELETE": "all"},
    _APPS + "/builds": {"POST": "upload"},
    _APPS + "/builds/{build_id:int}/artifact": {"PUT": "upload"},
}

DIALECT = Dialect(
    name="admin",
    errors=ErrorFormat(error_key),
    prefixes=("/admin/",),
    write_routes=_write_routes,
    key_modes=KEY_MODES,
)
