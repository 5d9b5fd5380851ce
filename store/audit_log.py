"""Reading and pruning the audit log (written by store/audit.py in each change's transaction)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from store.accounts import visible_team_ids
from store.models import AuditEntry, User, utcnow
from store.pagination import Page, keyset, paginate

CSV_LIMIT = 100_000


def _query(caller: User, resource: str | None, actor: str | None, since, until):
    q = AuditEntry.select()
    if caller.role != "super_admin":
        # A team's entries to its members; entries about no team (users) to super_admins only.
        q = q.where(AuditEntry.team_id.in_(visible_team_ids(caller)))
    if resource:
        q = q.where(AuditEntry.resource == resource)
    if actor:
        actor = actor.strip()
        q = q.where(
            (AuditEntry.user_id == int(actor))
            if actor.isascii() and actor.isdigit() and len(actor) < 10
            else (AuditEntry.user_email == actor.lower())
        )
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if until is not None:
        q = q.where(AuditEntry.at < until)
    return q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def list_entries(
    caller: User,
    resource: str | None,
    actor: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    page: int,
    per_page: int,
) -> Page:
    return paginate(_query(caller, resource, actor, since, until), page, per_page)


def all_entries(caller: User, resource, actor, since, until) -> Iterator[AuditEntry]:
    """Every matching entry, newest first by id, for an export (at most CSV_LIMIT), read in keyset batches
    so a streamed export holds one batch in memory. The caller is checked now, before a response starts."""
    return keyset(
        _query(caller, resource, actor, since, until), AuditEntry.id, newest_first=True, limit=CSV_LIMIT
    )


def purge(retention_days: int) -> int:
    return AuditEntry.delete().where(AuditEntry.at < utcnow() - dt.timedelta(days=retention_days)).execute()
