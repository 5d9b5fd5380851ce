"""App configurations: a minimum and a current version with release notes, at most one active per app.

Callers are scoped like every admin write (``catalog.get_app`` with write=True: an admin of the app's
team, or a super_admin). Errors name kinds with neutral messages; the app-config dialect words them.
"""

from __future__ import annotations

import uuid
from typing import Any

from store.catalog import get_app
from store.db import conflict_on_duplicate
from store.errors import Conflict, InvalidInput, NoSuchConfig
from store.models import App, AppConfig, User, utcnow
from store.outbox import mark_stale
from store.versions import parse_key

ACTIVE_EXISTS = "an active configuration already exists"
FIELDS = ("min_version", "current_version", "release_notes", "is_active")


def app_for(caller: User, app_id: str) -> App:
    """The app whose configurations the caller manages (admin role required, as for every write)."""
    return get_app(caller, app_id, write=True)


def list_configs(app: App) -> list[AppConfig]:
    return list(
        AppConfig.select().where(AppConfig.app == app).order_by(AppConfig.created_at.desc(), AppConfig.id)
    )


def get_config(app: App, config_id: str) -> AppConfig:
    row = AppConfig.get_or_none((AppConfig.id == config_id) & (AppConfig.app == app))
    if row is None:
        raise NoSuchConfig("app config not found")
    return row


def active_config(app_id: int) -> AppConfig | None:
    return AppConfig.get_or_none((AppConfig.app == app_id) & (AppConfig.is_active == True))  # noqa: E712


def _check(min_version: str | None, current_version: str | None) -> None:
    keys = []
    for name, value in (("minVersion", min_version), ("currentVersion", current_version)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{name} is required")
        keys.append(parse_key(value))  # InvalidVersion, compared the way every version in Gatehouse is
    if keys[0] > keys[1]:
        raise InvalidInput("minVersion must not be greater than currentVersion")


def _refuse_second_active(app: App, except_id: str | None = None) -> None:
    q = AppConfig.select().where((AppConfig.app == app) & (AppConfig.is_active == True))  # noqa: E712
    if except_id is not None:
        q = q.where(AppConfig.id != except_id)
    if q.exists():
        raise Conflict(ACTIVE_EXISTS)


def create_config(app: App, fields: dict) -> AppConfig:
    values: dict[str, Any] = {"release_notes": None, "is_active": True} | fields
    _check(values.get("min_version"), values.get("current_version"))
    if values["is_active"]:
        _refuse_second_active(app)
    # The partial unique index decides a race the check above cannot see.
    # One instant for both: two defaults read the clock twice, and under load they differed by a millisecond.
    now = utcnow()
    with conflict_on_duplicate(ACTIVE_EXISTS):
        row = AppConfig.create(
            id=str(uuid.uuid4()), app=app, created_at=now, updated_at=now, **{k: values[k] for k in FIELDS}
        )
    _stale(app)
    return row


def update_config(app: App, config_id: str, fields: dict) -> AppConfig:
    row = get_config(app, config_id)
    for name in FIELDS:
        if name in fields:
            setattr(row, name, fields[name])
    _check(row.min_version, row.current_version)
    if row.is_active:
        _refuse_second_active(app, except_id=row.id)
    row.updated_at = utcnow()
    with conflict_on_duplicate(ACTIVE_EXISTS):
        row.save()
    _stale(app)
    return row


def delete_config(app: App, config_id: str) -> None:
    get_config(app, config_id).delete_instance()
    _stale(app)


def put_active(app: App, fields: dict) -> AppConfig:
    """Updates the active configuration, or creates one when none is active."""
    current = active_config(app.id)
    if current is None:
        return create_config(app, fields)
    return update_config(app, current.id, fields)


def _stale(app: App) -> None:
    mark_stale(app.id)  # the active configuration is in the app's snapshot (the public read)
