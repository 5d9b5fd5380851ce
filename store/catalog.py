"""Apps and everything clients see of them: environments, client tokens, rules, maintenance.

Every function that changes what clients see marks the app's snapshot stale in
the same transaction (``mark_stale``).
"""

from __future__ import annotations

import re
import secrets
from typing import NamedTuple

from store import tokens
from store.accounts import get_team, require_writer, visible_team_ids
from store.db import conflict_on_duplicate
from store.errors import InvalidInput, NotFound
from store.models import (
    PLATFORMS,
    App,
    ClientToken,
    Environment,
    Maintenance,
    MinimumVersionRule,
    User,
    VersionRule,
    utcnow,
)
from store.outbox import mark_stale
from store.pagination import paginate
from store.versions import canonical, parse_key

_LOCALE = re.compile(r"^[a-z]{2}$")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# -- apps --------------------------------------------------------------------------------------------


def new_public_id() -> str:
    return "app_" + secrets.token_hex(8)


def get_app(caller: User, public_id: str, write: bool = False) -> App:
    app = App.get_or_none(
        (App.public_id == public_id) & App.deleted_at.is_null() & App.team.in_(visible_team_ids(caller))
    )
    if app is None:
        raise NotFound("app not found")
    if write:
        require_writer(caller)
    return app


def app_row(model, what: str, caller: User, public_id: str, row_id: int, write: bool = False):
    """A row of ``model`` that belongs to one of the caller's apps; any other id is "<what> not found"."""
    app = get_app(caller, public_id, write=write)
    row = model.get_or_none((model.id == row_id) & (model.app == app))
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def list_apps(caller: User, team_id: int | None, page: int, per_page: int) -> dict:
    q = App.select().where(App.deleted_at.is_null() & App.team.in_(visible_team_ids(caller)))
    if team_id is not None:
        q = q.where(App.team == get_team(caller, team_id))
    return paginate(q.order_by(App.created_at, App.id), page, per_page)


def create_app(
    caller: User, team_id: int, title: str, package_name: str = "", environments: list[str] | None = None
) -> App:
    team = get_team(caller, team_id, write=True)
    app = App.create(public_id=new_public_id(), team=team, title=title, package_name=package_name)
    for alias in environments if environments is not None else ["production", "staging"]:
        _create_environment(app, alias)
    mark_stale(app.id)
    return app


def update_app(caller: User, public_id: str, fields: dict) -> App:
    app = get_app(caller, public_id, write=True)
    for name in ("title", "package_name"):
        if name in fields:
            setattr(app, name, fields[name])
    app.save()
    return app


def delete_app(caller: User, public_id: str) -> None:
    app = get_app(caller, public_id, write=True)
    app.deleted_at = utcnow()
    app.save()
    mark_stale(app.id)


# -- icons -------------------------------------------------------------------------------------------

# Served publicly from our own origin, so only raster image types (no SVG, no HTML) and plain names.
ICON_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}
_ICON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def icon_key(app: App, filename: str) -> str:
    return f"icons/{app.id}/{filename}"


def icon_type(filename: str) -> str:
    kind = ICON_TYPES.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
    if not _ICON_NAME.match(filename) or kind is None:
        raise InvalidInput(f"filename must be a plain name ending in .{', .'.join(ICON_TYPES)}")
    return kind


def set_icon(app: App, filename: str) -> str | None:
    """Points the app at its new icon; returns the storage key of the one it replaced, if it is another file."""
    old = app.icon
    app.icon = filename
    app.save()
    return icon_key(app, old) if old and old != filename else None


def clear_icon(caller: User, public_id: str) -> str | None:
    app = get_app(caller, public_id, write=True)
    old, app.icon = app.icon, None
    app.save()
    return icon_key(app, old) if old else None


def public_icon(public_id: str, filename: str) -> tuple[str, str]:
    """The storage key and type of an app's current icon; any other name is not found, whatever it holds."""
    app = App.get_or_none((App.public_id == public_id) & App.deleted_at.is_null())
    if app is None or not app.icon or app.icon != filename:
        raise NotFound("file not found")
    return icon_key(app, filename), icon_type(filename)


# -- environments ------------------------------------------------------------------------------------


def _create_environment(app: App, alias: str) -> Environment:
    if not _ALIAS.match(alias or ""):
        raise InvalidInput("alias must be 1-64 letters, digits, '.', '_' or '-'")
    with conflict_on_duplicate(f"environment {alias!r} already exists"):
        return Environment.create(app=app, alias=alias)


def list_environments(caller: User, public_id: str, page: int, per_page: int) -> dict:
    app = get_app(caller, public_id)
    q = Environment.select().where(Environment.app == app).order_by(Environment.id)
    return paginate(q, page, per_page)


def create_environment(caller: User, public_id: str, alias: str) -> Environment:
    app = get_app(caller, public_id, write=True)
    env = _create_environment(app, alias)
    mark_stale(app.id)
    return env


def get_environment(caller: User, public_id: str, env_id: int, write: bool = False) -> Environment:
    return app_row(Environment, "environment", caller, public_id, env_id, write)


def update_environment(caller: User, public_id: str, env_id: int, alias: str) -> Environment:
    env = get_environment(caller, public_id, env_id, write=True)
    if not _ALIAS.match(alias or ""):
        raise InvalidInput("alias must be 1-64 letters, digits, '.', '_' or '-'")
    env.alias = alias
    with conflict_on_duplicate(f"environment {alias!r} already exists"):
        env.save()
    mark_stale(env.app_id)
    return env


def delete_environment(caller: User, public_id: str, env_id: int) -> None:
    env = get_environment(caller, public_id, env_id, write=True)
    env.delete_instance(recursive=True)
    mark_stale(env.app_id)


def _environment_by_alias(app: App, alias: str) -> Environment:
    env = Environment.get_or_none((Environment.app == app) & (Environment.alias == alias))
    if env is None:
        raise InvalidInput(f"unknown environment {alias!r}; create it first")
    return env


# -- client tokens -----------------------------------------------------------------------------------


def create_client_token(caller: User | None, app: App | str, name: str = "") -> tuple[ClientToken, str]:
    if not isinstance(app, App):
        app = get_app(caller, app, write=True)
    raw = tokens.new_token(tokens.CLIENT_PREFIX)
    tok = ClientToken.create(app=app, token_hash=tokens.digest(raw), name=name, hint=raw[:8] + "…")
    mark_stale(app.id)
    return tok, raw


def list_client_tokens(caller: User, public_id: str, page: int, per_page: int) -> dict:
    app = get_app(caller, public_id)
    q = ClientToken.select().where(ClientToken.app == app).order_by(ClientToken.id)
    return paginate(q, page, per_page)


def get_client_token(caller: User, public_id: str, token_id: int, write: bool = False) -> ClientToken:
    return app_row(ClientToken, "token", caller, public_id, token_id, write)


def delete_client_token(caller: User, public_id: str, token_id: int) -> None:
    tok = get_client_token(caller, public_id, token_id, write=True)
    tok.delete_instance()
    mark_stale(tok.app_id)


# -- messages ----------------------------------------------------------------------------------------


def _check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise InvalidInput("platform must be 'ios' or 'android'")
    return platform


def _check_messages(messages: dict | None) -> dict | None:
    if not messages:
        return None
    out = {}
    for locale, text in messages.items():
        code = locale.strip().lower()
        if not _LOCALE.match(code):
            raise InvalidInput(f"locale {locale!r} must be a two-letter language code such as 'en'")
        out[code] = text
    return out


# -- exact version rules -----------------------------------------------------------------------------


def _rule_query(model, app: App):
    return model.select(model, Environment).join(Environment).where(model.app == app)


def list_version_rules(caller: User, public_id: str, filters: dict, page: int, per_page: int) -> dict:
    app = get_app(caller, public_id)
    q = _rule_query(VersionRule, app)
    if filters.get("platform"):
        q = q.where(VersionRule.platform == filters["platform"])
    if filters.get("environment"):
        q = q.where(Environment.alias == filters["environment"])
    return paginate(q.order_by(VersionRule.id), page, per_page)


def _get_rule(model, what: str, caller: User, public_id: str, rule_id: int, write: bool):
    app = get_app(caller, public_id, write=write)
    rule = _rule_query(model, app).where(model.id == rule_id).first()
    if rule is None:
        raise NotFound(f"{what} not found")
    return rule


def _delete_rule(rule) -> None:
    rule.delete_instance()
    mark_stale(rule.app_id)


def get_version_rule(caller: User, public_id: str, rule_id: int, write: bool = False) -> VersionRule:
    return _get_rule(VersionRule, "version rule", caller, public_id, rule_id, write)


def _apply_rule_fields(rule, app: App, fields: dict, version_field: str) -> None:
    if "environment" in fields:
        rule.environment = _environment_by_alias(app, fields["environment"])
    if "platform" in fields:
        rule.platform = _check_platform(fields["platform"])
    if version_field in fields:
        parse_key(fields[version_field])
        setattr(rule, version_field, fields[version_field].strip())
        if version_field == "version":
            rule.version_key = canonical(fields["version"])
    for name, attr in (("force_update", "force_update"), ("update_message", "update_message")):
        if name in fields:
            setattr(rule, attr, fields[name])
    if "update_messages" in fields:
        rule.messages = _check_messages(fields["update_messages"])
    if "status" in fields:
        rule.enabled = fields["status"]
    rule.updated_at = utcnow()


def _save_rule(rule, conflict_text: str) -> None:
    with conflict_on_duplicate(conflict_text):
        rule.save()
    mark_stale(rule.app_id)


def create_version_rule(caller: User, public_id: str, fields: dict) -> VersionRule:
    app = get_app(caller, public_id, write=True)
    rule = VersionRule(app=app)
    _apply_rule_fields(rule, app, fields, "version")
    _save_rule(rule, "a rule for this version, platform and environment already exists")
    return rule


def update_version_rule(caller: User, public_id: str, rule_id: int, fields: dict) -> VersionRule:
    rule = get_version_rule(caller, public_id, rule_id, write=True)
    _apply_rule_fields(rule, rule.app, fields, "version")
    _save_rule(rule, "a rule for this version, platform and environment already exists")
    return rule


def delete_version_rule(caller: User, public_id: str, rule_id: int) -> None:
    _delete_rule(get_version_rule(caller, public_id, rule_id, write=True))


# -- minimum version rules ---------------------------------------------------------------------------


def list_minimum_rules(caller: User, public_id: str, page: int, per_page: int) -> dict:
    app = get_app(caller, public_id)
    q = _rule_query(MinimumVersionRule, app).order_by(MinimumVersionRule.id)
    return paginate(q, page, per_page)


def get_minimum_rule(caller: User, public_id: str, rule_id: int, write: bool = False) -> MinimumVersionRule:
    return _get_rule(MinimumVersionRule, "minimum version rule", caller, public_id, rule_id, write)


_MIN_CONFLICT = "a minimum version rule for this platform and environment already exists"


def create_minimum_rule(caller: User, public_id: str, fields: dict) -> MinimumVersionRule:
    app = get_app(caller, public_id, write=True)
    rule = MinimumVersionRule(app=app)
    _apply_rule_fields(rule, app, fields, "minimum_version")
    _save_rule(rule, _MIN_CONFLICT)
    return rule


def update_minimum_rule(caller: User, public_id: str, rule_id: int, fields: dict) -> MinimumVersionRule:
    rule = get_minimum_rule(caller, public_id, rule_id, write=True)
    _apply_rule_fields(rule, rule.app, fields, "minimum_version")
    _save_rule(rule, _MIN_CONFLICT)
    return rule


def delete_minimum_rule(caller: User, public_id: str, rule_id: int) -> None:
    _delete_rule(get_minimum_rule(caller, public_id, rule_id, write=True))


# -- maintenance -------------------------------------------------------------------------------------


class MaintenanceState(NamedTuple):
    """An environment's maintenance record, or None where it has never had one (it reads as inactive)."""

    environment: str
    row: Maintenance | None


def list_maintenance(caller: User, public_id: str) -> list[MaintenanceState]:
    app = get_app(caller, public_id)
    rows = {m.environment_id: m for m in Maintenance.select().where(Maintenance.app == app)}
    envs = Environment.select().where(Environment.app == app).order_by(Environment.id)
    return [MaintenanceState(e.alias, rows.get(e.id)) for e in envs]


def _env_for(caller: User, public_id: str, alias: str, write: bool) -> Environment:
    app = get_app(caller, public_id, write=write)
    env = Environment.get_or_none((Environment.app == app) & (Environment.alias == alias))
    if env is None:
        raise NotFound("environment not found")
    return env


def get_maintenance(caller: User, public_id: str, alias: str) -> MaintenanceState:
    env = _env_for(caller, public_id, alias, write=False)
    return MaintenanceState(env.alias, Maintenance.get_or_none(Maintenance.environment == env))


def set_maintenance(caller: User, public_id: str, alias: str, fields: dict) -> MaintenanceState:
    env = _env_for(caller, public_id, alias, write=True)
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


def clear_maintenance(caller: User, public_id: str, alias: str) -> None:
    env = _env_for(caller, public_id, alias, write=True)
    Maintenance.delete().where(Maintenance.environment == env).execute()
    mark_stale(env.app_id)
