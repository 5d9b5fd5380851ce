"""UpdateForge's tester API (spec 001): /api/v1 with its own JWT, public icons under /api/files/,
{"error": ...} bodies."""

from __future__ import annotations

from api.dialects.base import Dialect, WriteContext
from api.dialects.errors import ErrorFormat, error_key
from store.errors import BuildOfAnotherTeam, NoBuildFile, NoSuchBuild, NotFound


def _write_routes(ctx: WriteContext):
    from api.dialects.updateforge.routes import (
        routes,  # imported on use: the read service must not load the ORM
    )

    return routes(ctx.settings, ctx.storage, ctx.limiter, ctx.backends)


def no_such_file(req, resp, **_):
    """Sink for any other path under /api/files/ (deeper paths, encoded slashes): the route's own 404."""
    raise NotFound("file not found")


DIALECT = Dialect(
    name="updateforge",
    # The spec's words for a download's refusals, in its order (exists, the caller's team, has a file).
    errors=ErrorFormat(
        error_key,
        words={
            NoSuchBuild: "version not found",
            BuildOfAnotherTeam: "forbidden",
            NoBuildFile: "no file attached",
        },
    ),
    prefixes=("/api/",),
    write_routes=_write_routes,
    write_sinks=(("/api/files/", no_such_file),),
)
