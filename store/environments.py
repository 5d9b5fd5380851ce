"""An app's environments (production, staging...): the scopes its rules and maintenance live in."""

from __future__ import annotations

from store.catalog import add_environment, app_row, environment_alias, get_app
from store.db import conflict_on_duplicate
from store.errors import Conflict
from store.models import (
    App,
    Environment,
    User,
)
from store.outbox import mark_stale
from store.pagination import Page, paginate

# -- environments ------------------------------------------------------------------------------------


def list_environments(caller: User, app_id: str, page: int, per_page: int) -> Page:
    app = get_app(caller, app_id)
    q = Environment.select().where(Environment.app == app).order_by(Environment.id)
    return paginate(q, page, per_page)


def create_environment(caller: User, app_id: str, alias: str) -> Environment:
    app = get_app(caller, app_id, write=True)
    env = add_environment(app, alias)
    mark_stale(app.id)
    return env


def get_environment(caller: User, app_id: str, env_id: int, write: bool = False) -> Environment:
    return app_row(Environment, "environment", caller, app_id, env_id, write)


def update_environment(caller: User, app_id: str, env_id: int, alias: str) -> Environment:
    env = get_environment(caller, app_id, env_id, write=True)
    env.alias = environment_alias(alias)
    with conflict_on_duplicate(f"environment {alias!r} already exists"):
        env.save()
    mark_stale(env.app_id)
    return env


def delete_environment(caller: User, app_id: str, env_id: int) -> None:
    env = get_environment(caller, app_id, env_id, write=True)
    env.delete_instance(recursive=True)
    mark_stale(env.app_id)


def by_alias(app: App, alias: str) -> Environment:
    env = Environment.get_or_none((Environment.app == app) & (Environment.alias == alias))
    if env is None:
        # 409: the app's state (its environments) does not allow this yet. Not 400, as the request itself is
        # well formed, and not 404, which would say the rule being written is missing.
        raise Conflict(f"unknown environment {alias!r}; create it first")
    return env
