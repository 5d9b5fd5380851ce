"""Renders an app's snapshot from the database and publishes it to Redis."""

from __future__ import annotations

import redis

from store import outbox
from store.models import (
    App,
    AppConfig,
    ClientToken,
    Environment,
    Maintenance,
    MinimumVersionRule,
    Team,
    VersionRule,
    client_standing,
)
from store.snapshot_format import (
    CHANNEL,
    ETAGS_KEY,
    GEN_KEY,
    INACTIVE_MAINTENANCE,
    app_key,
    encode_document,
    etag,
    rendered,
)
from store.timefmt import iso


def _v1(version: str, platform: str, rule) -> dict:
    return {
        "version": version,
        "platform": platform,
        "force_update": rule.force_update,
        "update_message": rule.update_message,
    }


def _v2(version: str, platform: str, rule) -> dict:
    return {
        "version": version,
        "platform": platform,
        "force_update": rule.force_update,
        "default_update_message": rule.update_message,
        "update_messages": dict(sorted(rule.messages.items())) if rule.messages else None,
    }


def render_app(app_id: int) -> tuple[str, bytes] | None:
    """The (public_id, document bytes) of an app, or None when the app row is gone."""
    app = App.select(App, Team).join(Team).where(App.id == app_id).first()
    if app is None:
        return None
    doc = {
        "app_id": app.public_id,
        "state": client_standing(app, app.team),
        "tokens": sorted(
            t.token_hash for t in ClientToken.select(ClientToken.token_hash).where(ClientToken.app == app)
        ),
        "exact": {},
        "minimum": {},
        "maintenance": {},
        "appconfig": None,
    }
    if doc["state"] == "app_deleted":
        return app.public_id, encode_document(doc)
    rules = (
        VersionRule.select(VersionRule, Environment)
        .join(Environment)
        .where((VersionRule.app == app) & (VersionRule.enabled == True))  # noqa: E712
    )
    for r in rules:
        key = f"{r.platform}|{r.environment.alias}|{r.version_key}"
        doc["exact"][key] = [
            *rendered(_v1(r.version, r.platform, r)),
            *rendered(_v2(r.version, r.platform, r)),
        ]
    mins = (
        MinimumVersionRule.select(MinimumVersionRule, Environment)
        .join(Environment)
        .where(MinimumVersionRule.app == app)
    )
    for m in mins:
        v = m.minimum_version
        doc["minimum"][f"{m.platform}|{m.environment.alias}"] = [
            v,
            *rendered(_v1(v, m.platform, m)),
            *rendered(_v2(v, m.platform, m)),
        ]
    rows = {m.environment_id: m for m in Maintenance.select().where(Maintenance.app == app)}
    for env in Environment.select().where(Environment.app == app):
        m = rows.get(env.id)
        if m is not None and m.active:
            obj = {"active": True, "title": m.title, "description": m.description, "links": m.links or []}
        else:
            obj = INACTIVE_MAINTENANCE
        doc["maintenance"][env.alias] = list(rendered(obj))
    config = AppConfig.get_or_none((AppConfig.app == app) & (AppConfig.is_active == True))  # noqa: E712
    if config is not None:
        # Plain fields: the app-config dialect shapes its answer when the read service loads this.
        doc["appconfig"] = {
            "min_version": config.min_version,
            "current_version": config.current_version,
            "release_notes": config.release_notes,
            "created_at": iso(config.created_at),
            "updated_at": iso(config.updated_at),
        }
    return app.public_id, encode_document(doc)


def publish(r: redis.Redis, public_id: str, document: bytes) -> bool:
    """Store a document unless Redis already holds the same one; True when it changed."""
    tag = etag(document)
    key = app_key(public_id)
    current, exists = r.pipeline(transaction=False).hget(ETAGS_KEY, public_id).exists(key).execute()
    if exists and current is not None and current.decode() == tag:
        return False
    pipe = r.pipeline(transaction=True)
    pipe.set(key, document)
    pipe.hset(ETAGS_KEY, public_id, tag)
    pipe.incr(GEN_KEY)
    pipe.publish(CHANNEL, public_id)
    pipe.execute()
    return True


def rebuild(r: redis.Redis, app_id: int) -> bool:
    """Render and publish one app, then clear its outbox row if nothing changed meanwhile."""
    seq = outbox.current_seq(app_id)
    result = render_app(app_id)
    changed = False
    if result is not None:
        changed = publish(r, *result)
    outbox.clear(app_id, seq)
    return changed


def all_app_ids() -> list[int]:
    return [a.id for a in App.select(App.id).order_by(App.id)]
