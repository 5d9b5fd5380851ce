"""The dialects Gatehouse speaks. The read service, the write API, the dev front door and the nginx
template all take their routes from here; nothing else lists paths."""

from __future__ import annotations

import re

from api.dialects import admin, appcockpit, appconfig, capgo, console, distribution, updateforge
from api.dialects.base import Dialect
from store.snapshot_format import encode_document

DIALECTS: tuple[Dialect, ...] = (
    appcockpit.DIALECT,
    admin.DIALECT,
    updateforge.DIALECT,
    appconfig.DIALECT,
    capgo.DIALECT,
    distribution.DIALECT,
    console.DIALECT,
)
# Paths outside every dialect's prefixes: the read service answers in AppCockpit's words, the write API in
# Gatehouse's own.
READ_DEFAULT, WRITE_DEFAULT = appcockpit.DIALECT, admin.DIALECT

# Service routes every process has besides the dialects' (health, readiness, metrics, its document).
SERVICE_PATHS = ("/health", "/ready", "/metrics", "/openapi.json")


def read_paths() -> tuple[str, ...]:
    """Every path the read service answers for clients (plus /health, which the edge sends there too)."""
    return ("/health", *(p for d in DIALECTS for p in d.read_paths))


def read_paths_regex() -> str:
    """An nginx location regex matching exactly the dialects' read paths, with or without a trailing slash
    (Capgo's server answers /updates/ as /updates; both services strip it)."""
    return "^(" + "|".join(re.escape(p) for d in DIALECTS for p in d.read_paths) + ")/?$"


def is_read_path(path: str) -> bool:
    """Whether the read service answers ``path`` (a trailing slash ignored)."""
    return path in _READ_PATHS or (path.endswith("/") and path.rstrip("/") in _READ_PATHS)


_READ_PATHS = frozenset(read_paths())


def dialect_for_path(path: str, default: Dialect) -> Dialect:
    best, length = default, 0
    for dialect in DIALECTS:
        for prefix in dialect.prefixes:
            if path.startswith(prefix) and len(prefix) > length:
                best, length = dialect, len(prefix)
    return best


def part_codecs() -> tuple:
    """A read cache's codecs of the dialects' snapshot parts (api/read/parts.py), new ones for each cache."""
    return tuple(d.part_codec() for d in DIALECTS if d.part_codec is not None)


def compose_snapshot(data) -> bytes:
    """An app's snapshot document: who it is and its tokens, then each dialect's part (a deleted app has
    none: the read service answers its clients from the state alone)."""
    doc = {"app_id": data.public_id, "package": data.package, "state": data.state, "tokens": data.tokens}
    if data.state != "app_deleted":
        for dialect in DIALECTS:
            if dialect.snapshot_part is not None:
                doc |= dialect.snapshot_part(data)
    return encode_document(doc)
