"""Devices of an app's live updates: what they last reported, and the channel or bundle they are pinned to.

Sightings and plugin actions arrive in batches from the read service (through a Redis stream, applied by
the worker): devices are upserted in bulk and actions counted per bundle, action and day, each batch
exactly once even when the stream delivers it twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from peewee import EXCLUDED

from store.catalog import app_by_package
from store.db import conflict_on_duplicate, db, is_postgres
from store.errors import Conflict, InvalidInput, NotFound
from store.models import (
    App,
    AppliedBatch,
    Bundle,
    BundleMinuteStat,
    BundleStat,
    Channel,
    Device,
    User,
    utcnow,
)
from store.outbox import mark_stale
from store.pagination import paginate

MAX_DEVICE_ID = 64
SIGHTING_FIELDS = (
    "platform",
    "plugin_version",
    "os_version",
    "version_build",
    "version_name",
    "custom_id",
    "is_prod",
    "is_emulator",
)


class DeviceRow(NamedTuple):
    """A device with what its listing shows besides its own columns."""

    device: Device
    bundle_id: int  # of the bundle it reports running; 0 when that is no bundle of the app (builtin)
    channel: str | None  # the channel it is pinned to
    bundle_pin: str | None  # the bundle it is pinned to


def find_devices(
    caller: User, package: str, device_id: str | None, page: int, per_page: int
) -> list[DeviceRow]:
    """One device (NotFound when unknown), or a page of the app's devices, most recently seen first."""
    app = app_by_package(caller, package)
    q = Device.select().where(Device.app == app)
    if device_id is not None:
        rows = list(q.where(Device.device_id == device_id))
        if not rows:
            raise NotFound("device not found")
    else:
        rows = paginate(q.order_by(Device.last_seen_at.desc(), Device.id), page, per_page).rows
    names = {r.version_name for r in rows}
    bundles = dict(
        Bundle.select(Bundle.id, Bundle.name).where(Bundle.app == app).tuples()
    )  # id -> name: pins and reported versions both name an app's bundles
    by_name = {name: i for i, name in bundles.items() if name in names}
    channels = dict(Channel.select(Channel.id, Channel.name).where(Channel.app == app).tuples())
    return [
        DeviceRow(
            r,
            by_name.get(r.version_name, 0),
            channels.get(r.channel_override_id),
            bundles.get(r.bundle_override_id),
        )
        for r in rows
    ]


def _check_id(device_id: str) -> str:
    if not isinstance(device_id, str) or not device_id or len(device_id) > MAX_DEVICE_ID:
        raise InvalidInput(f"device_id must be 1 to {MAX_DEVICE_ID} characters")
    return device_id.lower()


def link_device(
    caller: User, package: str, device_id: str, channel: str | None, bundle: str | None
) -> Device:
    """Pins a device (seen or not yet) to a channel and/or a bundle."""
    app = app_by_package(caller, package, write=True)
    device_id = _check_id(device_id)
    if channel is None and bundle is None:
        raise InvalidInput("send channel and/or version_id")
    row = Device.get_or_none((Device.app == app) & (Device.device_id == device_id))
    if row is None:
        row = Device(app=app, device_id=device_id)
    if channel is not None:
        ch = Channel.get_or_none((Channel.app == app) & (Channel.name == channel))
        if ch is None:
            raise NotFound(f"channel {channel} not found")
        row.channel_override = ch
    if bundle is not None:
        b = Bundle.get_or_none((Bundle.app == app) & (Bundle.name == bundle))
        if b is None:
            raise NotFound(f"bundle {bundle} not found")
        row.bundle_override = b
    with conflict_on_duplicate("the device was recorded meanwhile; try again"):
        row.save()
    mark_stale(app.id)
    return row


def unlink_device(caller: User, package: str, device_id: str) -> None:
    """Removes both pins; the device itself stays."""
    app = app_by_package(caller, package, write=True)
    row = Device.get_or_none((Device.app == app) & (Device.device_id == _check_id(device_id)))
    if row is None:
        raise NotFound("device not found")
    row.channel_override = row.bundle_override = None
    row.save()
    mark_stale(app.id)


# -- batches from the read service -------------------------------------------------------------------


@dataclass
class Batch:
    """One stream entry: latest sighting per device, action counts, and devices' own channel choices."""

    entry_id: str
    # [package, device_id, *SIGHTING_FIELDS, seen at (epoch seconds)], one row per device (the read service
    # keeps the latest sighting of each device in a batch)
    sightings: list[list] = field(default_factory=list)
    # (package, minute (epoch seconds // 60), bundle, action) -> count
    actions: dict[tuple[str, int, str, str], int] = field(default_factory=dict)
    # ("set", package, device_id, channel) or ("unset", package, device_id, None), in order
    choices: list[tuple[str, str, str, str | None]] = field(default_factory=list)


def apply_batch(batch: Batch) -> bool:
    """Applies a batch once; False when this entry was applied before (a redelivery). Run in a unit of work."""
    try:
        with conflict_on_duplicate("applied"):
            AppliedBatch.insert(entry_id=batch.entry_id).execute()
    except Conflict:
        return False
    packages = {r[0] for r in batch.sightings} | {k[0] for k in batch.actions} | {c[1] for c in batch.choices}
    apps = (
        dict(
            App.select(App.package_name, App.id)
            .where(App.package_name.in_(list(packages)) & App.deleted_at.is_null())
            .tuples()
        )
        if packages
        else {}
    )
    _upsert_devices(apps, batch.sightings)
    _count_actions(apps, batch.actions)
    for kind, package, device_id, channel in batch.choices:
        if package in apps:
            _choose_channel(apps[package], kind, device_id, channel)
    return True


# One statement per batch on PostgreSQL, the columns as arrays: peewee's insert_many built and sent
# 500-row statements, which kept the worker behind the read service under load.
_UPSERT_PG = """
INSERT INTO device (app_id, device_id, platform, plugin_version, os_version, version_build, version_name,
                    custom_id, is_prod, is_emulator, first_seen_at, last_seen_at)
SELECT a, d, p, pv, os, vb, vn, c, ip, ie, to_timestamp(s) AT TIME ZONE 'UTC', to_timestamp(s) AT TIME ZONE 'UTC'
FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::bool[], %s::bool[], %s::float8[]) AS t(a, d, p, pv, os, vb, vn, c, ip, ie, s)
ON CONFLICT (app_id, device_id) DO UPDATE SET
    platform = EXCLUDED.platform, plugin_version = EXCLUDED.plugin_version, os_version = EXCLUDED.os_version,
    version_build = EXCLUDED.version_build, version_name = EXCLUDED.version_name,
    custom_id = EXCLUDED.custom_id, is_prod = EXCLUDED.is_prod, is_emulator = EXCLUDED.is_emulator,
    last_seen_at = GREATEST(device.last_seen_at, EXCLUDED.last_seen_at)
"""


def _upsert_devices(apps: dict[str, int], sightings: list[list]) -> None:
    known = [r for r in sightings if r[0] in apps]
    if not known:
        return
    if is_postgres():
        # Column-wise, transposed in C: building a tuple per value cost the worker ~19 us a device.
        columns = [list(c) for c in zip(*known, strict=True)]
        columns[0] = [apps[p] for p in columns[0]]
        db.execute_sql(_UPSERT_PG, columns)
        return
    rows = []
    for package, device_id, *values, seen in known:
        at = dt.datetime.fromtimestamp(seen, dt.UTC).replace(tzinfo=None)
        rows.append(
            {"app": apps[package], "device_id": device_id, "first_seen_at": at, "last_seen_at": at}
            | dict(zip(SIGHTING_FIELDS, values, strict=True))
        )
    update = {getattr(Device, f): getattr(EXCLUDED, f) for f in SIGHTING_FIELDS}
    update[Device.last_seen_at] = EXCLUDED.last_seen_at
    for i in range(0, len(rows), 500):
        (
            Device.insert_many(rows[i : i + 500])
            .on_conflict(conflict_target=[Device.app, Device.device_id], update=update)
            .execute()
        )


def _count_actions(apps: dict[str, int], actions) -> None:
    """Per minute (the window rollouts are judged on) and per day (kept for reports)."""
    minutes: dict[tuple, int] = {}
    days: dict[tuple, int] = {}
    for (package, minute, bundle, action), n in actions.items():
        if package not in apps:
            continue
        key = (apps[package], minute, bundle, action)
        minutes[key] = minutes.get(key, 0) + n
        day = dt.datetime.fromtimestamp(minute * 60, dt.UTC).date()
        key = (apps[package], day, bundle, action)
        days[key] = days.get(key, 0) + n
    for model, field_name, counts in ((BundleMinuteStat, "minute", minutes), (BundleStat, "day", days)):
        rows = [
            {"app": a, field_name: when, "bundle": b, "action": act, "count": n}
            for (a, when, b, act), n in counts.items()
        ]
        target = [model.app, getattr(model, field_name), model.bundle, model.action]
        for i in range(0, len(rows), 500):
            (
                model.insert_many(rows[i : i + 500])
                .on_conflict(conflict_target=target, update={model.count: model.count + EXCLUDED.count})
                .execute()
            )


def _choose_channel(app_id: int, kind: str, device_id: str, channel: str | None) -> None:
    """A device's own choice (the plugin's setChannel / unsetChannel), checked again against the database:
    only channels that allow self-assignment, and never over a pin an admin set on another channel."""
    row = Device.get_or_none((Device.app == app_id) & (Device.device_id == device_id))
    current = (
        Channel.get_or_none(Channel.id == row.channel_override_id)
        if row and row.channel_override_id
        else None
    )
    if current is not None and not current.allow_self_set:
        return
    if kind == "unset":
        if row is not None and current is not None:
            row.channel_override = None
            row.save()
            mark_stale(app_id)
        return
    chosen = Channel.get_or_none((Channel.app == app_id) & (Channel.name == channel))
    if chosen is None or not chosen.allow_self_set:
        return
    if row is None:
        row = Device(app=app_id, device_id=device_id)
    row.channel_override = chosen
    row.save()
    mark_stale(app_id)


def prune_applied(older_than: dt.timedelta = dt.timedelta(days=2)) -> int:
    """Forgets applied batch ids, and per-minute action counts, older than ``older_than``."""
    cutoff = utcnow() - older_than
    minute = int(cutoff.replace(tzinfo=dt.UTC).timestamp()) // 60
    BundleMinuteStat.delete().where(BundleMinuteStat.minute < minute).execute()
    return AppliedBatch.delete().where(AppliedBatch.applied_at < cutoff).execute()
