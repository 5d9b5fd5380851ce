"""Client authentication events: batches applied by the worker, purged by month, listed for admins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from store.auth_events import AuthEvent
from store.catalog import get_app
from store.db import conflict_on_duplicate, db, is_postgres, tuples
from store.errors import Conflict
from store.models import App, AppliedBatch, AuthSession, ClientUser, utcnow
from store.pagination import Page, paginate


def apply_authentications(batch_id: str, events: Sequence[AuthEvent]) -> int:
    """Applies one batch of authentication events once, in the caller's unit of work: a session row per
    event and the latest version per (app, user, platform), whose first_seen_at is set once. Returns how
    many events were applied: 0 for a batch applied before (a redelivery) and for apps deleted since."""
    try:
        with conflict_on_duplicate("applied"):
            AppliedBatch.insert(entry_id=f"auth:{batch_id}").execute()
    except Conflict:
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


def purge_sessions(retention_days: int) -> int:
    cutoff = utcnow() - dt.timedelta(days=retention_days)
    return AuthSession.delete().where(AuthSession.created_at < cutoff).execute()


def list_sessions(caller, app_id: str, user_id: str | None, page: int, per_page: int) -> Page:
    app = get_app(caller, app_id)
    q = AuthSession.select().where(AuthSession.app == app)
    if user_id:
        q = q.where(AuthSession.user_id == user_id)
    return paginate(q.order_by(AuthSession.id.desc()), page, per_page)


def list_client_users(caller, app_id: str, page: int, per_page: int) -> Page:
    app = get_app(caller, app_id)
    q = (
        ClientUser.select()
        .where(ClientUser.app == app)
        .order_by(ClientUser.last_seen_at.desc(), ClientUser.id)
    )
    return paginate(q, page, per_page)
