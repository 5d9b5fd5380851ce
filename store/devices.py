"""Devices of an app's live updates: what they last reported, and the channel or bundle they are pinned to.

Sightings and plugin actions arrive in batches from the read service (through a Redis stream, applied by
the worker): devices are upserted in bulk and actions counted per bundle, action and day, each batch
exactly once even when the stream delivers it twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson
import peewee as pw
from peewee import EXCLUDED, DatabaseError

from store.catalog import app_by_package
from store.db import conflict_on_duplicate, db, is_postgres, is_unavailable, tuples
from store.device_events import Choice, Outcome, Sighting, as_sighting
from store.errors import Conflict, InvalidInput, NotFound
from store.models import (
    App,
    AppliedBatch,
    Bundle,
    BundleMinuteStat,
    BundleStat,
    Channel,
    Device,
    DeviceOutcome,
    User,
    utcnow,
)
from store.outbox import mark_stale
from store.pagination import paginate

MAX_DEVICE_ID = 64
# The device row's columns a sighting sets: platform .. is_emulator, named as the record names them.
SIGHTING_FIELDS = Sighting._fields[2:10]


class DeviceRow(NamedTuple):
    """A device with what its listing shows besides its own columns."""

    device: Device
    bundle_id: int  # of the bundle it reports running; 0 when that is no bundle of the app (builtin)
    channel: str | None  # the channel it is pinned to
    bundle_pin: str | None  # the bundle it is pinned to


def find_devices(
    caller: User, package: str, device_id: str | None, page: int, per_page: int, custom_id: str | None = None
) -> list[DeviceRow]:
    """One device (NotFound when unknown), the devices of a custom id, or a page of the app's devices, most
    recently seen first."""
    app = app_by_package(caller, package)
    q = Device.select().where(Device.app == app)
    if custom_id is not None:
        rows = list(
            q.where(Device.custom_id == custom_id).order_by(Device.last_seen_at.desc()).limit(per_page)
        )
    elif device_id is not None:
        rows = list(q.where(Device.device_id == device_id))
        if not rows:
            raise NotFound("device not found")
    else:
        rows = paginate(q.order_by(Device.last_seen_at.desc(), Device.id), page, per_page).rows
    names = {r.version_name for r in rows}
    bundles = dict(
        tuples(Bundle.select(Bundle.id, Bundle.name).where(Bundle.app == app))
    )  # id -> name: pins and reported versions both name an app's bundles
    by_name = {name: i for i, name in bundles.items() if name in names}
    channels = dict(tuples(Channel.select(Channel.id, Channel.name).where(Channel.app == app)))
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
    # one per device (the read service keeps the latest sighting of each device in a batch)
    sightings: Sequence[Sequence] = field(default_factory=list)
    # (package, minute (epoch seconds // 60), bundle, action) -> count
    actions: dict[tuple[str, int, str, str], int] = field(default_factory=dict)
    # ("set", package, device_id, channel) or ("unset", package, device_id, None), in order
    choices: Sequence[Choice] | Sequence[tuple[str, str, str, str | None]] = field(default_factory=list)
    # [package, device_id, bundle, "failure" | "success", source address, minute]: what devices reported
    # of a bundle (the plugin's failure actions and its set), one per device, bundle and kind
    outcomes: Sequence[Outcome] | Sequence[Sequence] = field(default_factory=list)
    # Filled by apply_batch: (what, the record, the database's error) of each record no column could hold,
    # set aside so the rest of the batch is applied.
    rejected: list[tuple[str, object, str]] = field(default_factory=list)


def apply_batch(batch: Batch) -> bool:
    """Applies a batch once; False when this entry was applied before (a redelivery). Run in a unit of work.

    A part the database refuses (a value no column holds, whatever slipped past the edge's checks) is
    split in halves, each in a savepoint, down to the records it refuses; those go to ``batch.rejected``
    and every other record is applied. A database that cannot be reached still fails the whole batch,
    which the stream then delivers again."""
    try:
        with conflict_on_duplicate("applied"):
            AppliedBatch.insert(entry_id=batch.entry_id).execute()
    except Conflict:
        return False
    # Outcomes name their package too: a batch holding only a device's failure report (its sighting unchanged,
    # so not sent again) found no app, and the failure was dropped (tests/test_rollouts.py).
    packages = (
        {r[0] for r in batch.sightings}
        | {k[0] for k in batch.actions}
        | {c[1] for c in batch.choices}
        | {o[0] for o in batch.outcomes}
    )
    apps = (
        dict(
            tuples(
                App.select(App.package_name, App.id).where(
                    App.package_name.in_(list(packages)) & App.deleted_at.is_null()
                )
            )
        )
        if packages
        else {}
    )
    _isolating(batch, "sighting", batch.sightings, lambda rows: _upsert_devices(apps, rows))
    named = _existing_bundles(apps, {k[2] for k in batch.actions} | {o[2] for o in batch.outcomes})
    _isolating(
        batch, "action", list(batch.actions.items()), lambda items: _count_actions(apps, named, dict(items))
    )
    _isolating(batch, "outcome", batch.outcomes, lambda rows: _record_outcomes(apps, named, rows))
    for choice in batch.choices:
        if choice[1] in apps:
            _isolating(batch, "choice", [choice], lambda one: _apply_choice(apps, *one[0]))
    return True


def _existing_bundles(apps: dict[str, int], names: set[str]) -> set[tuple[int, str]]:
    """(app id, bundle name) of the named bundles that exist: anonymous /stats may name any string, and
    only real bundles are counted (the stats tables grew a row per made-up name)."""
    if not apps or not names:
        return set()
    return set(
        tuples(
            Bundle.select(Bundle.app, Bundle.name).where(
                Bundle.app.in_(list(apps.values())) & Bundle.name.in_(list(names))
            )
        )
    )


def _isolating(batch: Batch, what: str, records: Sequence, apply: Callable[[Sequence], object]) -> None:
    """``apply(records)`` in a savepoint; when the database refuses it, the halves again, down to the
    single records it refuses (log2(n) extra statements per bad record)."""
    if not records:
        return
    try:
        with db.atomic():
            apply(records)
    except DatabaseError as exc:
        if is_unavailable(exc):
            raise
        if len(records) == 1:
            batch.rejected.append((what, records[0], str(exc).strip().splitlines()[0][:300]))
            return
        middle = len(records) // 2
        _isolating(batch, what, records[:middle], apply)
        _isolating(batch, what, records[middle:], apply)


# One statement per batch on PostgreSQL, the rows as one JSON array that PostgreSQL takes apart in C.
# Peewee's insert_many built and sent 500-row statements, which kept the worker behind the read service
# under load; twelve typed arrays after it cost the worker 7 us a device in psycopg's array dumping (Python
# code), where the JSON document costs 0.5 us, for the same 15-16 us of PostgreSQL's (110,000 new devices
# in statements of 5,500, as a busy flush sends them). `jsonb` is parsed once; `json` is parsed again by
# each ->> (40 % more of PostgreSQL's time).
# The rows go as the stream holds them, with their package names: PostgreSQL joins them to the batch's
# apps (a JSON object of package -> id), which drops the rows of unknown apps. Naming each row in Python,
# then making its tuple with the app's id, was half of the worker's time under new devices (py-spy).
# A row from a read service older than the offered bundle has 11 fields (e->>11 is NULL).
_UPSERT_PG = """
INSERT INTO device (app_id, device_id, platform, plugin_version, os_version, version_build, version_name,
                    custom_id, is_prod, is_emulator, first_seen_at, last_seen_at, offered_bundle)
SELECT a.value::int, e->>1, e->>2, e->>3, e->>4, e->>5, e->>6, e->>7, (e->>8)::bool, (e->>9)::bool,
       to_timestamp((e->>10)::float8) AT TIME ZONE 'UTC', to_timestamp((e->>10)::float8) AT TIME ZONE 'UTC',
       e->>11
FROM jsonb_array_elements(%s::jsonb) AS e
JOIN jsonb_each_text(%s::jsonb) AS a ON a.key = e->>0
ON CONFLICT (app_id, device_id) DO UPDATE SET
    platform = EXCLUDED.platform, plugin_version = EXCLUDED.plugin_version, os_version = EXCLUDED.os_version,
    version_build = EXCLUDED.version_build, version_name = EXCLUDED.version_name,
    custom_id = EXCLUDED.custom_id, is_prod = EXCLUDED.is_prod, is_emulator = EXCLUDED.is_emulator,
    last_seen_at = GREATEST(device.last_seen_at, EXCLUDED.last_seen_at),
    offered_bundle = COALESCE(EXCLUDED.offered_bundle, device.offered_bundle)
"""


def _send_rows(statement: str, rows: Sequence, *more: object) -> None:
    """Runs one of the PostgreSQL statements here, which read their rows from one JSON array (%s), and
    ``more`` JSON documents after it."""
    db.execute_sql(statement, tuple(orjson.dumps(x).decode() for x in (rows, *more)))


def _upsert_devices(apps: dict[str, int], sightings: Sequence[Sequence]) -> None:
    if not apps:
        return
    if is_postgres():
        _send_rows(_UPSERT_PG, sightings, apps)
        return
    known = [as_sighting(r) for r in sightings if r[0] in apps]
    rows = []
    for package, device_id, *values, seen, offered in known:
        at = dt.datetime.fromtimestamp(seen, dt.UTC).replace(tzinfo=None)
        rows.append(
            {
                "app": apps[package],
                "device_id": device_id,
                "first_seen_at": at,
                "last_seen_at": at,
                "offered_bundle": offered,
            }
            | dict(zip(SIGHTING_FIELDS, values, strict=True))
        )
    update = {getattr(Device, f): getattr(EXCLUDED, f) for f in SIGHTING_FIELDS}
    update[Device.last_seen_at] = EXCLUDED.last_seen_at
    update[Device.offered_bundle] = pw.fn.COALESCE(EXCLUDED.offered_bundle, Device.offered_bundle)
    for i in range(0, len(rows), 500):
        (
            Device.insert_many(rows[i : i + 500])
            .on_conflict(conflict_target=[Device.app, Device.device_id], update=update)
            .execute()
        )


_MINUTES_PG = """
INSERT INTO bundle_minute_stat (app_id, minute, bundle, action, count)
SELECT (e->>0)::int, (e->>1)::bigint, e->>2, e->>3, (e->>4)::bigint FROM jsonb_array_elements(%s::jsonb) AS e
ON CONFLICT (app_id, bundle, minute, action) DO UPDATE SET count = bundle_minute_stat.count + EXCLUDED.count
"""
_DAYS_PG = """
INSERT INTO bundle_stat (app_id, day, bundle, action, count)
SELECT (e->>0)::int, (e->>1)::date, e->>2, e->>3, (e->>4)::bigint FROM jsonb_array_elements(%s::jsonb) AS e
ON CONFLICT (app_id, day, bundle, action) DO UPDATE SET count = bundle_stat.count + EXCLUDED.count
"""


def _count_actions(apps: dict[str, int], named: set[tuple[int, str]], actions) -> None:
    """Per minute and per day (kept for reports), for bundles that exist."""
    minutes: dict[tuple, int] = {}
    days: dict[tuple, int] = {}
    for (package, minute, bundle, action), n in actions.items():
        if package not in apps or (apps[package], bundle) not in named:
            continue
        key = (apps[package], minute, bundle, action)
        minutes[key] = minutes.get(key, 0) + n
        day = dt.datetime.fromtimestamp(minute * 60, dt.UTC).date()
        key = (apps[package], day, bundle, action)
        days[key] = days.get(key, 0) + n
    if is_postgres():
        # One statement a table: peewee built 500-row statements in Python, which across 1,000 apps (a
        # count per app, bundle and action each flush) cost the worker more than PostgreSQL's work.
        for statement, counts in ((_MINUTES_PG, minutes), (_DAYS_PG, days)):
            if counts:
                _send_rows(statement, [(*k, n) for k, n in counts.items()])  # dates as ISO text
        return
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


_OUTCOMES_PG = """
INSERT INTO device_outcome (app_id, device_id, bundle, kind, source, minute)
SELECT d.app_id, d.device_id, e->>2, e->>3, e->>4, (e->>5)::bigint
FROM jsonb_array_elements(%s::jsonb) AS e
JOIN device AS d ON d.app_id = (e->>0)::int AND d.device_id = e->>1 AND d.offered_bundle = e->>2
ON CONFLICT (app_id, bundle, device_id, kind) DO UPDATE SET minute = EXCLUDED.minute, source = EXCLUDED.source
"""


def _record_outcomes(apps: dict[str, int], named: set[tuple[int, str]], outcomes: Sequence[Sequence]) -> None:
    """Keeps the outcomes of devices that were offered the bundle they report on (one row per device,
    bundle and kind, its minute and address the latest): a made-up device id, or a device never offered
    that bundle, counts for nothing (store/rollouts.py reads these)."""
    wanted = [o for o in outcomes if o[0] in apps and (apps[o[0]], o[2]) in named]
    if not wanted:
        return
    if is_postgres():
        # One statement, the offered check a join: the worker fetched every reporting device to test it in
        # Python, then built the rows through peewee, which cost it more than the read service spent
        # answering the same /stats calls (a fleet of 10,000 devices reporting each launch).
        latest = {(apps[p], b, d, k): (apps[p], d, b, k, s[:64], m) for p, d, b, k, s, m in wanted}
        _send_rows(_OUTCOMES_PG, list(latest.values()))
        return
    offered = set(
        tuples(
            Device.select(Device.app, Device.device_id, Device.offered_bundle).where(
                Device.app.in_(list({apps[o[0]] for o in wanted}))
                & Device.device_id.in_(list({o[1] for o in wanted}))
                & Device.offered_bundle.is_null(False)
            )
        )
    )
    rows = {}
    for package, device_id, bundle, kind, source, minute in wanted:
        if (apps[package], device_id, bundle) in offered:
            key = (apps[package], bundle, device_id, kind)
            rows[key] = {"app": key[0], "bundle": bundle, "device_id": device_id, "kind": kind,
                         "source": source[:64], "minute": minute}  # fmt: skip
    target = [DeviceOutcome.app, DeviceOutcome.bundle, DeviceOutcome.device_id, DeviceOutcome.kind]
    values = list(rows.values())
    for i in range(0, len(values), 500):
        (
            DeviceOutcome.insert_many(values[i : i + 500])
            .on_conflict(
                conflict_target=target,
                update={DeviceOutcome.minute: EXCLUDED.minute, DeviceOutcome.source: EXCLUDED.source},
            )
            .execute()
        )


def _apply_choice(apps: dict[str, int], kind: str, package: str, device_id: str, channel: str | None) -> None:
    _choose_channel(apps[package], kind, device_id, channel)


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
    # A rollout's window is at most 7 days (store/rollouts.py).
    DeviceOutcome.delete().where(DeviceOutcome.minute < minute - 7 * 1440).execute()
    return AppliedBatch.delete().where(AppliedBatch.applied_at < cutoff).execute()
