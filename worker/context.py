"""Process-wide resources for jobs: settings, the database and the Redis connection."""

from __future__ import annotations

import redis

from api.settings import Settings
from store.service import init_db

_state: dict = {}


def setup(settings: Settings, connection: redis.Redis | None = None) -> None:
    init_db(settings.effective_database_url, settings.db_pool_size)
    _state["settings"] = settings
    _state["redis"] = connection or redis.Redis.from_url(settings.redis_url)


def settings() -> Settings:
    if "settings" not in _state:
        setup(Settings.from_env())
    return _state["settings"]


def connection() -> redis.Redis:
    settings()
    return _state["redis"]
