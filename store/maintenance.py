"""Maintenance windows per environment, with their links."""

from __future__ import annotations

from typing import NamedTuple

from store.catalog import get_app
from store.errors import NotFound
from store.models import (
    Environment,
    Maintenance,
    User,
    utcnow,
)
from store.outbox import mark_stale

# -- maintenance -------------------------------------------------------------------------------------


class MaintenanceState(NamedTuple):
    """An environment's maintenance record, or None where it has never had one (it reads as inactive)."""

    environment: str
    row: Maintenance | None


def list_maintenance(caller: User, app_id: str) -> list[MaintenanceState]:
    app = get_app(caller, app_id)
    rows = {m.environment_id: m for m in Maintenance.select().where(Maintenance.app == app)}
    envs = Environment.select().where(Environment.app == app).order_by(Environment.id)
    return [MaintenanceState(e.alias, rows.get(e.id)) for e in envs]


def _env_for(caller: User, app_id: str, alias: str, write: bool) -> Environment:
    app = get_app(caller, app_id, write=write)
    env = Environment.get_or_none((Environment.app == app) & (Environment.alias == alias))
    if env is None:
        raise NotFound("environment not found")
    return env


def get_maintenance(caller: User, app_id: str, alias: str) -> MaintenanceState:
    env = _env_for(caller, app_id, alias, write=False)
    return MaintenanceState(env.alias, Maintenance.get_or_none(Maintenance.environment == env))


def set_maintenance(caller: User, app_id: str, alias: str, fields: dict) -> MaintenanceState:
    env = _env_for(caller, app_id, alias, write=True)
    row = Maintenance.get_or_none(Maintenance.environment == env) or Maintenance(
        app=env.app_id, environment=env
    )
    for name in ("active", "title", "description", "links"):
        if name in fields:
            setattr(row, name, fields[name])
    row.updated_at = utcnow()
    row.save()
    mark_stale(env.app_id)
    return MaintenanceState(env.alias, row)


def clear_maintenance(caller: User, app_id: str, alias: str) -> None:
    env = _env_for(caller, app_id, alias, write=True)
    for row in Maintenance.select().where(Maintenance.environment == env):
        row.delete_instance()  # one at a time: each deletion is audited
    mark_stale(env.app_id)
