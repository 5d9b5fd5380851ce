"""Per-day authentication statistics, aggregated from sessions by a worker job."""

from __future__ import annotations

import datetime as dt

import peewee as pw

from store.catalog import get_app
from store.db import db, dicts
from store.models import AuthSession, DailyStat, User


def aggregate_day(day: dt.date) -> int:
    """Recompute one day's counts from its sessions: idempotent, runs in the worker."""
    start = dt.datetime.combine(day, dt.time())
    end = start + dt.timedelta(days=1)
    rows = dicts(
        AuthSession.select(
            AuthSession.app,
            AuthSession.platform,
            AuthSession.environment,
            AuthSession.app_version,
            pw.fn.COUNT(AuthSession.id).alias("sessions"),
            pw.fn.COUNT(AuthSession.user_id.distinct()).alias("users"),
        )
        .where((AuthSession.created_at >= start) & (AuthSession.created_at < end))
        .group_by(AuthSession.app, AuthSession.platform, AuthSession.environment, AuthSession.app_version)
    )
    with db.atomic():
        DailyStat.delete().where(DailyStat.day == day).execute()
        batch = [
            {
                "day": day,
                "app": r["app"],
                "platform": r["platform"],
                "environment": r["environment"] or "",  # ingestion stores "" as NULL
                "app_version": r["app_version"],
                "sessions": r["sessions"],
                "users": r["users"],
            }
            for r in rows
        ]
        for i in range(0, len(batch), 500):
            DailyStat.insert_many(batch[i : i + 500]).execute()
    return len(batch)


def app_stats(caller: User, app_id: str, since: dt.date | None, until: dt.date | None) -> list[DailyStat]:
    app = get_app(caller, app_id)
    q = DailyStat.select().where(DailyStat.app == app)
    if since:
        q = q.where(DailyStat.day >= since)
    if until:
        q = q.where(DailyStat.day <= until)
    q = q.order_by(DailyStat.day, DailyStat.platform, DailyStat.environment, DailyStat.app_version)
    return list(q)
