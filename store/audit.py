"""Who changed what, when and from where: one row per changed record, in the change's own transaction.

The write API names the actor (``acting``) once it has authenticated an admin token; every audited model's
``save`` and ``delete_instance`` then record themselves (store/models.py), and the few bulk changes
record through ``record``. A change with no actor (the worker's, the CLI's) is not an admin write and
is not recorded here. Secrets are masked; the store's words only (resource = table, action = verb).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass

MASK = "***"
SECRET_FIELDS = {
    "password_hash",
    "token_hash",
    "session_key",
    "secret_encrypted",
    "s3_access_key_sealed",
    "s3_secret_key_sealed",
    "apple_private_key_sealed",
}


@dataclass(frozen=True)
class Actor:
    user_id: int
    email: str
    token_hint: str
    address: str | None
    request_id: str | None


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("gatehouse_actor", default=None)


def acting(actor: Actor | None) -> None:
    """Names who the current request acts as (None when a request starts)."""
    _actor.set(actor)


def current() -> Actor | None:
    return _actor.get()


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def changes(before: dict | None, after: dict | None) -> dict:
    """{field: [before, after]} for the fields that differ, secrets masked."""
    before, after = before or {}, after or {}
    out = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name in SECRET_FIELDS:
            old, new = (MASK if old is not None else None), (MASK if new is not None else None)
        out[name] = [_plain(old), _plain(new)]
    return out


def record(resource: str, resource_id, action: str, team_id: int | None, diff: dict) -> None:
    """Writes one entry for the current actor (nothing when there is none)."""
    actor = _actor.get()
    if actor is None:
        return
    from store.models import AuditEntry  # the models import this module for their hooks

    AuditEntry.create(
        team_id=team_id,
        user_id=actor.user_id,
        user_email=actor.email,
        token_hint=actor.token_hint,
        address=actor.address,
        request_id=actor.request_id,
        resource=resource,
        resource_id=str(resource_id),
        action=action,
        changes=diff,
    )
