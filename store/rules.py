"""Version rules of an app: exact rules (a version's answer) and minimum rules (older must update)."""

from __future__ import annotations

import re

from store import environments
from store.catalog import get_app
from store.db import conflict_on_duplicate
from store.errors import InvalidInput, NotFound
from store.models import (
    PLATFORMS,
    App,
    Environment,
    MinimumVersionRule,
    User,
    VersionRule,
    utcnow,
)
from store.outbox import mark_stale
from store.pagination import Page, paginate
from store.versions import canonical, parse_key

_LOCALE = re.compile(r"^[a-z]{2}$")

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


def list_version_rules(caller: User, app_id: str, filters: dict, page: int, per_page: int) -> Page:
    app = get_app(caller, app_id)
    q = _rule_query(VersionRule, app)
    if filters.get("platform"):
        q = q.where(VersionRule.platform == filters["platform"])
    if filters.get("environment"):
        q = q.where(Environment.alias == filters["environment"])
    return paginate(q.order_by(VersionRule.id), page, per_page)


def _get_rule(model, what: str, caller: User, app_id: str, rule_id: int, write: bool):
    app = get_app(caller, app_id, write=write)
    rule = _rule_query(model, app).where(model.id == rule_id).first()
    if rule is None:
        raise NotFound(f"{what} not found")
    return rule


def _delete_rule(rule) -> None:
    rule.delete_instance()
    mark_stale(rule.app_id)


def get_version_rule(caller: User, app_id: str, rule_id: int, write: bool = False) -> VersionRule:
    return _get_rule(VersionRule, "version rule", caller, app_id, rule_id, write)


def _apply_rule_fields(rule, app: App, fields: dict, version_field: str) -> None:
    if "environment" in fields:
        rule.environment = environments.by_alias(app, fields["environment"])
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


def create_version_rule(caller: User, app_id: str, fields: dict) -> VersionRule:
    app = get_app(caller, app_id, write=True)
    rule = VersionRule(app=app)
    _apply_rule_fields(rule, app, fields, "version")
    _save_rule(rule, "a rule for this version, platform and environment already exists")
    return rule


def update_version_rule(caller: User, app_id: str, rule_id: int, fields: dict) -> VersionRule:
    rule = get_version_rule(caller, app_id, rule_id, write=True)
    _apply_rule_fields(rule, rule.app, fields, "version")
    _save_rule(rule, "a rule for this version, platform and environment already exists")
    return rule


def delete_version_rule(caller: User, app_id: str, rule_id: int) -> None:
    _delete_rule(get_version_rule(caller, app_id, rule_id, write=True))


# -- minimum version rules ---------------------------------------------------------------------------


def list_minimum_rules(caller: User, app_id: str, page: int, per_page: int) -> Page:
    app = get_app(caller, app_id)
    q = _rule_query(MinimumVersionRule, app).order_by(MinimumVersionRule.id)
    return paginate(q, page, per_page)


def get_minimum_rule(caller: User, app_id: str, rule_id: int, write: bool = False) -> MinimumVersionRule:
    return _get_rule(MinimumVersionRule, "minimum version rule", caller, app_id, rule_id, write)


_MIN_CONFLICT = "a minimum version rule for this platform and environment already exists"


def create_minimum_rule(caller: User, app_id: str, fields: dict) -> MinimumVersionRule:
    app = get_app(caller, app_id, write=True)
    rule = MinimumVersionRule(app=app)
    _apply_rule_fields(rule, app, fields, "minimum_version")
    _save_rule(rule, _MIN_CONFLICT)
    return rule


def update_minimum_rule(caller: User, app_id: str, rule_id: int, fields: dict) -> MinimumVersionRule:
    rule = get_minimum_rule(caller, app_id, rule_id, write=True)
    _apply_rule_fields(rule, rule.app, fields, "minimum_version")
    _save_rule(rule, _MIN_CONFLICT)
    return rule


def delete_minimum_rule(caller: User, app_id: str, rule_id: int) -> None:
    _delete_rule(get_minimum_rule(caller, app_id, rule_id, write=True))
