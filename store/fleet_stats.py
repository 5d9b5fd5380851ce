"""The fleet in daily rows: distribution events per release and day, devices per bundle and day (computed by
the worker from raw events and device rows), and what the console's charts read from them. A chart never
scans raw events: it reads at most a row per app, day and series."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import peewee as pw

from store.catalog import get_app
from store.db import db, tuples
from store.models import (
    Build,
    Bundle,
    BundleDailyDevices,
    BundleStat,
    Channel,
    Device,
    DistDailyStat,
    DistEvent,
    User,
)
from store.vocabulary import FAILURE_ACTIONS


def _span(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time())
    return start, start + dt.timedelta(days=1)


def aggregate_dist_day(day: dt.date) -> int:
    """Recompute one day's distribution counts from its events: idempotent."""
    start, end = _span(day)
    rows = tuples(
        DistEvent.select(DistEvent.app, DistEvent.release, DistEvent.type, pw.fn.COUNT(DistEvent.id))
        .where((DistEvent.created_at >= start) & (DistEvent.created_at < end))
        .group_by(DistEvent.app, DistEvent.release, DistEvent.type)
    )
    batch = [
        {"app": app, "day": day, "release_id": release or 0, "type": kind, "count": n}
        for app, release, kind, n in rows
    ]
    with db.atomic():
        DistDailyStat.delete().where(DistDailyStat.day == day).execute()
        for i in range(0, len(batch), 500):
            DistDailyStat.insert_many(batch[i : i + 500]).execute()
    return len(batch)


def record_bundle_devices(day: dt.date) -> int:
    """Devices seen on ``day`` so far, per app, channel and the bundle they report: today's rows are replaced
    each run, so the last run of a day leaves that day's figures (device rows keep only a device's latest
    state). A device's channel is the one it is pinned to, else its platform's default (public) channel."""
    start, end = _span(day)
    rows = tuples(
        Device.select(
            Device.app, Device.channel_override, Device.platform, Device.version_name, pw.fn.COUNT(Device.id)
        )
        .where((Device.last_seen_at >= start) & (Device.last_seen_at < end))
        .group_by(Device.app, Device.channel_override, Device.platform, Device.version_name)
    )
    named = {(a, n) for a, n in tuples(Bundle.select(Bundle.app, Bundle.name))}
    names: dict[int, str] = {}
    defaults: dict[tuple[int, str], str] = {}
    for cid, app, name, public, ios, android in tuples(
        Channel.select(Channel.id, Channel.app, Channel.name, Channel.public, Channel.ios, Channel.android)
    ):
        names[cid] = name
        if public:
            for platform, serves in (("ios", ios), ("android", android)):
                if serves:
                    defaults[(app, platform)] = name
    totals: dict[tuple[int, str, str], int] = defaultdict(int)
    for app, pinned, platform, version, n in rows:
        channel = names.get(pinned, "") if pinned else defaults.get((app, platform or ""), "")
        totals[(app, channel, version if (app, version) in named else "")] += n  # builtin, unknown: ""
    batch = [
        {"app": a, "day": day, "channel": c, "bundle": b, "devices": n} for (a, c, b), n in totals.items()
    ]
    with db.atomic():
        BundleDailyDevices.delete().where(BundleDailyDevices.day == day).execute()
        for i in range(0, len(batch), 500):
            BundleDailyDevices.insert_many(batch[i : i + 500]).execute()
    return len(batch)


def _days(since: dt.date, until: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]


def _index(days: list[dt.date]) -> dict[dt.date, int]:
    return {d: i for i, d in enumerate(days)}


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@dataclass
class Series:
    days: list[dt.date]
    series: dict[str, list[int]]


def downloads(caller: User, app_id: str, since: dt.date, until: dt.date) -> Series:
    """Downloads per release and day (a release named by its version and build)."""
    app = get_app(caller, app_id)
    days = _days(since, until)
    at = _index(days)
    names = {
        b.id: f"{b.version} ({b.build_number})" if b.build_number is not None else b.version
        for b in Build.select().where(Build.app == app)
    }
    out: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    for day, release, n in tuples(
        DistDailyStat.select(DistDailyStat.day, DistDailyStat.release_id, DistDailyStat.count).where(
            (DistDailyStat.app == app)
            & (DistDailyStat.type == "download")
            & DistDailyStat.day.between(since, until)
        )
    ):
        out[names.get(release, f"release {release}")][at[_as_date(day)]] += int(n)
    return Series(days, dict(out))


def download_totals(app_id: int) -> dict[int, int]:
    """Downloads of each of an app's releases, from the daily rows (up to the last aggregation)."""
    return {
        int(release): int(n)
        for release, n in tuples(
            DistDailyStat.select(DistDailyStat.release_id, pw.fn.SUM(DistDailyStat.count))
            .where((DistDailyStat.app == app_id) & (DistDailyStat.type == "download"))
            .group_by(DistDailyStat.release_id)
        )
    }


@dataclass
class BundleHealth:
    name: str
    created: dt.date
    installs: int
    failures: int
    # days from the bundle's upload until it ran on 50, 70 and 90 % of the day's active devices (None: not yet)
    reached: dict[int, int | None]

    @property
    def success_rate(self) -> float | None:
        total = self.installs + self.failures
        return self.installs / total if total else None


def bundle_adoption(
    caller: User, app_id: str, since: dt.date, until: dt.date
) -> tuple[dict[str, Series], list[BundleHealth]]:
    """Per channel, devices per bundle and day; per bundle, installs against failures (the plugin's /stats
    actions) and the days until it ran on 50, 70 and 90 % of the app's active devices."""
    app = get_app(caller, app_id)
    days = _days(since, until)
    at = _index(days)
    per_day: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_channel: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * len(days)))
    for day, channel, bundle, n in tuples(
        BundleDailyDevices.select(
            BundleDailyDevices.day,
            BundleDailyDevices.channel,
            BundleDailyDevices.bundle,
            BundleDailyDevices.devices,
        ).where(BundleDailyDevices.app == app)
    ):
        day, name = _as_date(day), bundle or "built-in"
        per_day[day][name] += int(n)
        if day in at:
            by_channel[channel or "(no channel)"][name][at[day]] += int(n)
    series = {channel: Series(days, dict(counts)) for channel, counts in sorted(by_channel.items())}
    actions: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for bundle, action, n in tuples(
        BundleStat.select(BundleStat.bundle, BundleStat.action, pw.fn.SUM(BundleStat.count))
        .where(BundleStat.app == app)
        .group_by(BundleStat.bundle, BundleStat.action)
    ):
        if action == "set":
            actions[bundle][0] += int(n)
        elif action in FAILURE_ACTIONS:
            actions[bundle][1] += int(n)
    health = []
    for b in (
        Bundle.select(Bundle.name, Bundle.created_at)
        .where(Bundle.app == app)
        .order_by(Bundle.id.desc())
        .limit(20)
    ):
        created = b.created_at.date()
        reached: dict[int, int | None] = {50: None, 70: None, 90: None}
        for day in sorted(d for d in per_day if d >= created):
            counts = per_day[day]
            total = sum(counts.values())
            share = counts.get(b.name, 0) / total if total else 0
            for goal in reached:
                if reached[goal] is None and share * 100 >= goal:
                    reached[goal] = (day - created).days
        installs, failures = actions.get(b.name, [0, 0])
        health.append(BundleHealth(b.name, created, installs, failures, reached))
    return series, health
