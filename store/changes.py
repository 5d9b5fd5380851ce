"""What a watched row's change tells the rest of the store, and who is acting.

The models emit a ``Change`` for every save or delete of a watched row; they import nothing that
listens. The audit log (store/audit.py) and webhooks (store/webhooks.py) subscribe when the store is
opened (``store.service.init_db``), so the import graph stays a tree: models → changes ← listeners.
The actor is named by the write API once it has authenticated an admin token; a change with no actor
(the worker's, the CLI's) is not an admin write.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

MASK = "***"
SECRET_FIELDS = {
    "password_hash",
    "token_hash",
    "key_hash",
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


class Change(NamedTuple):
    """One row created, updated or deleted: the store's words (resource = table, action = verb)."""

    resource: str
    resource_id: Any
    action: str
    team_id: int | None
    diff: dict


Listener = Callable[[Change], None]

_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("gatehouse_actor", default=None)
_listeners: list[Listener] = []


def acting(actor: Actor | None) -> None:
    """Names who the current request acts as (None when a request starts)."""
    _actor.set(actor)


def current() -> Actor | None:
    return _actor.get()


def listen(listener: Listener) -> None:
    """Subscribes ``listener`` to every change (once, however often the store is opened)."""
    if listener not in _listeners:
        _listeners.append(listener)


def emit(change: Change) -> None:
    """Hands ``change`` to every listener, in the change's own transaction."""
    if not _listeners:
        # A change nobody hears would be an audit entry or a webhook silently lost.
        raise RuntimeError("the store is not open: call store.service.init_db first")
    for listener in _listeners:
        listener(change)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def diff(before: dict | None, after: dict | None) -> dict:
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
