"""Process-wide resources for jobs: settings, the database, the Redis connection, and the function that
composes an app's snapshot document.

The composer is handed in by whoever starts the worker (`gatehouse worker`, api/cli.py, passes the
registry's): the worker renders every dialect's part without importing a dialect."""

from __future__ import annotations

from collections.abc import Callable

import redis

from api.settings import Settings
from store.service import init_db

_state: dict = {}


Compose = Callable[[object], bytes]  # store.snapshots.AppData -> the encoded document


def setup(settings: Settings, connection: redis.Redis | None = None, compose: Compose | None = None) -> None:
    init_db(settings.effective_database_url, settings.db_pool_size)
    _state["settings"] = settings
    _state["redis"] = connection or redis.Redis.from_url(settings.redis_url)
    if compose is not None:
        _state["compose"] = compose


def compose() -> Compose:
    if "compose" not in _state:
        raise RuntimeError("no snapshot composer: start the worker with `gatehouse worker` (api/cli.py)")
    return _state["compose"]


def settings() -> Settings:
    if "settings" not in _state:
        setup(Settings.from_env())
    return _state["settings"]


def connection() -> redis.Redis:
    settings()
    return _state["redis"]
