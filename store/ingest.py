"""Client authentication events: batches applied by the worker, purged by month, listed for admins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from peewee import Tuple

from store import partitions
from store.auth_events import AuthEvent
from store.catalog import get_app
from store.db import db, is_postgres, tuples
from store.errors import InvalidInput
from store.models import App, AppliedBatch, AuthSession, ClientUser, utcnow
from store.pagination import Page, clamp, cursor, from_cursor, paginate


def apply_authentications(batches: Sequence[tuple[str, Sequence[AuthEvent]]]) -> int:
    """Applies batches of authentication events, each once, in the caller's unit of work: a session row per
    event and the latest version per (app, user, platform), whose first_seen_at is set once. Every batch of
    one call costs the same few statements as one. Returns how many events were applied: none of a batch
    applied before (a redelivery), nor of apps deleted since."""
    fresh: dict[str, Sequence[AuthEvent]] = {}
    for batch_id, batch in batches:
        fresh.setdefault(f"auth:{batch_id}", batch)  # a batch re-sent while the first copy waited
    seen = {row.entry_id for row in AppliedBatch.select().where(AppliedBatch.entry_id.in_(list(fresh)))}
    keys = [key for key in fresh if key not in seen]
    for start in range(0, len(keys), 400):  # SQLite's limit on bound variables
        AppliedBatch.insert_many([{"entry_id": key} for key in keys[start : start + 400]]).execute()
    events = [event for key in keys for event in fresh[key]]
    if not events:
        return 0
    publics = {e.app for e in events}
    apps = dict(
        tuples(
            App.select(App.public_id, App.id).where(
                App.public_id.in_(list(publics)) & App.deleted_at.is_null()
            )
        )
    )
    rows = [
        (apps[e.app], e.user_id, e.platform, e.app_version, e.environment, _moment(e.at))
        for e in events
        if e.app in apps
    ]
    if not rows:
        return 0
    # The latest event of each user wins, in the batch and against what is stored: a batch re-sent after
    # Redis lost it may arrive after a newer one.
    latest: dict[tuple, tuple] = {}
    for row in sorted(rows, key=lambda r: r[5]):
        latest[row[:3]] = row
    if is_postgres():
        _apply_pg(rows, list(latest.values()))
    else:
        _apply_portable(rows, list(latest.values()))
    return len(rows)


def _moment(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


_SESSIONS_PG = """
INSERT INTO auth_session (app_id, user_id, platform, app_version, environment, created_at)
SELECT * FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamp[])
"""
_USERS_PG = """
INSERT INTO client_user (app_id, user_id, platform, app_version, environment, first_seen_at, last_seen_at)
SELECT a, u, p, v, e, t, t FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::timestamp[]) AS batch(a, u, p, v, e, t)
ON CONFLICT (app_id, user_id, platform) DO UPDATE
SET app_version = EXCLUDED.app_version, environment = EXCLUDED.environment, last_seen_at = EXCLUDED.last_seen_at
WHERE client_user.last_seen_at <= EXCLUDED.last_seen_at
"""


def _apply_pg(rows: list[tuple], latest: list[tuple]) -> None:
    """Two statements for the whole batch, whatever its size (unnest: one array per column)."""
    db.execute_sql(_SESSIONS_PG, [list(column) for column in zip(*rows, strict=True)])
    db.execute_sql(_USERS_PG, [list(column) for column in zip(*latest, strict=True)])


def _apply_portable(rows: list[tuple], latest: list[tuple]) -> None:
    fields = ("app", "user_id", "platform", "app_version", "environment", "created_at")
    for start in range(0, len(rows), 100):  # SQLite's limit on bound variables
        AuthSession.insert_many(rows[start : start + 100], fields=fields).execute()
    for app, user_id, platform, version, environment, at in latest:
        ClientUser.insert(
            app=app,
            user_id=user_id,
            platform=platform,
            app_version=version,
            environment=environment,
            first_seen_at=at,
            last_seen_at=at,
        ).on_conflict(
            conflict_target=[ClientUser.app, ClientUser.user_id, ClientUser.platform],
            # first_seen_at is deliberately absent: set once, never overwritten.
            update={
                ClientUser.app_version: version,
                ClientUser.environment: environment,
                ClientUser.last_seen_at: at,
            },
            where=ClientUser.last_seen_at <= at,
        ).execute()


def purge_sessions(retention_days: int) -> dict:
    """Sessions past the retention go. On PostgreSQL a month at a time: a month's partition is dropped once
    all its rows are past the retention (rows stay up to a month longer than it), and the next months'
    partitions are made. On SQLite the rows are deleted."""
    now = utcnow()
    cutoff = now - dt.timedelta(days=retention_days)
    if is_postgres():
        made = partitions.keep_ahead(now.date())
        return {"dropped": partitions.drop_months_before("auth_session", cutoff), "made": made}
    return {"deleted": AuthSession.delete().where(AuthSession.created_at < cutoff).execute()}


def list_sessions(
    caller, app_id: str, user_id: str | None, page: int, per_page: int, after: str | None = None
) -> Page:
    """Newest first. With ``after`` (a cursor; empty for the first page) a keyset page: no count, no offset,
    the same cost on page 1 and page 100,000 of a table of billions."""
    app = get_app(caller, app_id)
    q = AuthSession.select().where(AuthSession.app == app)
    if user_id:
        q = q.where(AuthSession.user_id == user_id)
    q = q.order_by(AuthSession.id.desc())
    if after is None:
        result = paginate(q, page, per_page)
    else:
        if after:
            (last,) = from_cursor(after, 1)
            if not isinstance(last, int):
                raise InvalidInput("cursor is not valid")
            q = q.where(AuthSession.id < last)
        result = Page(list(q.limit(clamp(per_page))), 1, clamp(per_page), None)
    rows = result.rows
    more = rows and len(rows) == result.per_page
    return replace(result, next_cursor=cursor(rows[-1].id) if more else None, cursored=True)


def list_client_users(caller, app_id: str, page: int, per_page: int, after: str | None = None) -> Page:
    """Latest seen first; ``after`` as for list_sessions."""
    app = get_app(caller, app_id)
    q = (
        ClientUser.select()
        .where(ClientUser.app == app)
        .order_by(ClientUser.last_seen_at.desc(), ClientUser.id.desc())
    )
    if after is None:
        result = paginate(q, page, per_page)
    else:
        if after:
            seen, last = from_cursor(after, 2)
            try:
                when = dt.datetime.fromisoformat(seen)
            except (TypeError, ValueError):
                raise InvalidInput("cursor is not valid") from None
            if not isinstance(last, int):
                raise InvalidInput("cursor is not valid")
            q = q.where(Tuple(ClientUser.last_seen_at, ClientUser.id) < Tuple(when, last))
        result = Page(list(q.limit(clamp(per_page))), 1, clamp(per_page), None)
    rows = result.rows
    more = rows and len(rows) == result.per_page
    next_cursor = cursor(rows[-1].last_seen_at.isoformat(), rows[-1].id) if more else None
    return replace(result, next_cursor=next_cursor, cursored=True)
