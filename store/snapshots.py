"""Reads what clients may see of an app and publishes the snapshot document the dialects compose from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from store import outbox
from store.models import (
    App,
    AppConfig,
    Bundle,
    Channel,
    ClientToken,
    Device,
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
    app_key,
    etag,
)
from store.timefmt import iso


@dataclass
class AppData:
    """What clients may read of an app, as rows and plain values: each dialect renders its part of the
    snapshot document from it (api/dialects/registry.py composes them)."""

    public_id: str
    state: str
    tokens: list[str]
    rules: list = field(default_factory=list)  # enabled VersionRule rows, environment joined
    minimums: list = field(default_factory=list)  # MinimumVersionRule rows, environment joined
    # (environment alias, active Maintenance row or None) for every environment of the app
    maintenance: list[tuple[str, object]] = field(default_factory=list)
    config: dict | None = None  # the active app configuration's plain fields
    package: str = ""  # the package identifier: live-update device calls name the app by it
    channels: list = field(default_factory=list)  # Channel rows
    bundles: list = field(default_factory=list)  # Bundle rows
    # (device id, pinned channel name or None, pinned bundle name or None) for every pinned device
    pins: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    rollouts: list = field(default_factory=list)  # live Rollout rows, bundle joined


def app_data(app_id: int) -> AppData | None:
    """The app's client-visible data, or None when the app row is gone."""
    app = App.select(App, Team).join(Team).where(App.id == app_id).first()
    if app is None:
        return None
    data = AppData(
        public_id=app.public_id,
        state=client_standing(app, app.team),
        package=app.package_name,
        tokens=sorted(
            t.token_hash for t in ClientToken.select(ClientToken.token_hash).where(ClientToken.app == app)
        ),
    )
    if data.state == "app_deleted":
        return data
    data.rules = list(
        VersionRule.select(VersionRule, Environment)
        .join(Environment)
        .where((VersionRule.app == app) & (VersionRule.enabled == True))  # noqa: E712
    )
    data.minimums = list(
        MinimumVersionRule.select(MinimumVersionRule, Environment)
        .join(Environment)
        .where(MinimumVersionRule.app == app)
    )
    rows = {m.environment_id: m for m in Maintenance.select().where(Maintenance.app == app)}
    for env in Environment.select().where(Environment.app == app):
        row = rows.get(env.id)
        data.maintenance.append((env.alias, row if row is not None and row.active else None))
    config = AppConfig.get_or_none((AppConfig.app == app) & (AppConfig.is_active == True))  # noqa: E712
    if config is not None:
        data.config = {
            "min_version": config.min_version,
            "current_version": config.current_version,
            "release_notes": config.release_notes,
            "created_at": iso(config.created_at),
            "updated_at": iso(config.updated_at),
        }
    data.bundles = list(Bundle.select().where(Bundle.app == app).order_by(Bundle.id))
    data.channels = list(Channel.select().where(Channel.app == app).order_by(Channel.id))
    channel_names = {c.id: c.name for c in data.channels}
    bundle_names = {b.id: b.name for b in data.bundles}
    pinned = Device.select(Device.device_id, Device.channel_override, Device.bundle_override).where(
        (Device.app == app) & (Device.channel_override.is_null(False) | Device.bundle_override.is_null(False))
    )
    from store.rollouts import live_rollouts  # the rollout module scopes through catalog, as the API does

    data.rollouts = live_rollouts(app.id)
    data.pins = [
        (d.device_id, channel_names.get(d.channel_override_id), bundle_names.get(d.bundle_override_id))
        for d in pinned
    ]
    return data


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


def rebuild(r: redis.Redis, app_id: int, compose: Callable[[AppData], bytes]) -> bool:
    """Render one app with ``compose`` (the dialects' document), publish it, then clear its outbox row if
    nothing changed meanwhile."""
    seq = outbox.current_seq(app_id)
    data = app_data(app_id)
    changed = False
    if data is not None:
        changed = publish(r, data.public_id, compose(data))
    outbox.clear(app_id, seq)
    return changed


def all_app_ids() -> list[int]:
    return [a.id for a in App.select(App.id).order_by(App.id)]
