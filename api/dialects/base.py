"""What a dialect is: one external API's routes on each service, its error format, the paths it owns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from api.dialects.errors import ErrorFormat

if TYPE_CHECKING:  # names only: the read service must not load the write side's modules
    import redis

    from api.metrics import RequestMetrics
    from api.read.cache import SnapshotCache
    from api.settings import Settings
    from api.write.ratelimit import LoginLimiter
    from store.storage import Backends, Storage

Routes = list[tuple[str, Any]]


@dataclass
class ReadContext:
    """What read-side route tables are built from."""

    settings: Settings
    cache: SnapshotCache
    metrics: RequestMetrics


@dataclass
class WriteContext:
    """What write-side route tables are built from."""

    settings: Settings
    storage: Storage
    limiter: LoginLimiter
    connection: redis.Redis
    # Opens the storage a file row names: builds and releases may live elsewhere.
    backends: Backends


class WriteResource:
    """A write-side resource that reads the write context (settings, storage backends, Redis)."""

    def __init__(self, ctx: WriteContext) -> None:
        self.ctx = ctx


@dataclass(frozen=True)
class Dialect:
    name: str
    errors: ErrorFormat
    # A path no route matched gets the error format of the dialect owning its longest prefix.
    prefixes: tuple[str, ...] = ()
    # Exact paths the read service answers: the dev front door and the nginx edge route these there.
    read_paths: tuple[str, ...] = ()
    read_routes: Callable[[ReadContext], Routes] | None = None
    write_routes: Callable[[WriteContext], Routes] | None = None
    # (prefix, responder) pairs for Falcon sinks on the write API.
    write_sinks: tuple[tuple[str, Callable], ...] = ()
    # This dialect's keys of an app's snapshot document, from store.snapshots.AppData (run by the worker).
    snapshot_part: Callable[[Any], dict] | None = None
    # A new codec of that part for a read cache (api/read/parts.py): what view.part(name) returns.
    part_codec: Callable[[], Any] | None = None
    # The API key mode a write route needs, where it is not read for GET/HEAD and write otherwise:
    # {route template: {method: "read" | "upload" | "write" | "all" | "none"}} ("none": keys refused).
    key_modes: dict[str, dict[str, str]] = field(default_factory=dict)
