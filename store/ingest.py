"""Client authentication events (AppCockpit POST /v2/authenticate)."""

from __future__ import annotations

import datetime as dt

from store.catalog import get_app
from store.db import db, is_postgres
from store.errors import Forbidden, NotAuthenticated, PaymentRequired
from store.models import App, AuthSession, ClientToken, ClientUser, Team, client_standing, utcnow
from store.pagination import Page, paginate


class StorageReadError(Exception):
    """The database failed while reading what a request needs."""


class StorageWriteError(Exception):
    """The database failed while writing a request's records."""


def app_for_client_token(token_digest: str | None) -> App:
    """The app a client token belongs to, with the same 401/402/403 rules as the read service."""
    if token_digest is None:
        raise NotAuthenticated("unknown client token")
    try:
        row = (
            ClientToken.select(ClientToken, App, Team)
            .join(App)
            .join(Team)
            .where(ClientToken.token_hash == token_digest)
            .first()
        )
    except Exception as exc:
        raise StorageReadError(str(exc)) from exc
    if row is None:
        raise NotAuthenticated("unknown client token")
    app = row.app
    standing = client_standing(app, app.team)
    if standing in ("team_deleted", "app_deleted"):
        raise Forbidden("the app or its team is deleted")
    if standing == "expired":
        raise PaymentRequired("the team's subscription has expired")
    return app


# Both writes in one statement: atomic without BEGIN/COMMIT, and one round trip instead of four,
# which is what bounded ingestion (py-spy: the request threads spent their time waiting on them).
_RECORD_PG = """
WITH session AS (
    INSERT INTO auth_session (app_id, user_id, platform, app_version, environment, created_at)
    VALUES (%(app)s, %(user)s, %(platform)s, %(version)s, %(env)s, %(now)s)
)
INSERT INTO client_user (app_id, user_id, platform, app_version, environment, first_seen_at, last_seen_at)
VALUES (%(app)s, %(user)s, %(platform)s, %(version)s, %(env)s, %(now)s, %(now)s)
ON CONFLICT (app_id, user_id, platform) DO UPDATE
SET app_version = EXCLUDED.app_version, environment = EXCLUDED.environment, last_seen_at = EXCLUDED.last_seen_at
"""


def record_authentication(
    app_id: int, user_id: str, platform: str, app_version: str, environment: str | None
) -> None:
    """Log the session and upsert the latest version row (first_seen_at is set once), atomically."""
    now = utcnow()
    if is_postgres():
        try:
            db.execute_sql(
                _RECORD_PG,
                {
                    "app": app_id,
                    "user": user_id,
                    "platform": platform,
                    "version": app_version,
                    "env": environment,
                    "now": now,
                },
            )
        except Exception as exc:
            raise StorageWriteError(str(exc)) from exc
        return
    with db.atomic():
        _record_portable(app_id, user_id, platform, app_version, environment, now)


def _record_portable(
    app_id: int, user_id: str, platform: str, app_version: str, environment: str | None, now: dt.datetime
) -> None:
    try:
        AuthSession.insert(
            app=app_id,
            user_id=user_id,
            platform=platform,
            app_version=app_version,
            environment=environment,
            created_at=now,
        ).execute()
        (
            ClientUser.insert(
                app=app_id,
                user_id=user_id,
                platform=platform,
                app_version=app_version,
                environment=environment,
                first_seen_at=now,
                last_seen_at=now,
            )
            .on_conflict(
                conflict_target=[ClientUser.app, ClientUser.user_id, ClientUser.platform],
                # first_seen_at is deliberately absent: set once, never overwritten.
                update={
                    ClientUser.app_version: app_version,
                    ClientUser.environment: environment,
                    ClientUser.last_seen_at: now,
                },
            )
            .execute()
        )
    except Exception as exc:
        raise StorageWriteError(str(exc)) from exc


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
