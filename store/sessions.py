"""Signed-in browser sessions: a user token of its own kind, with a lifetime.

A session is a row of ``user_token`` whose raw value starts with ``ghs_``: only its SHA-256 digest is stored,
a password change or reset deletes it with the user's other tokens, and the API's bearer check refuses it
(``user_for_token`` takes ``ghu_`` tokens only), so a stolen cookie is not an API key.
"""

from __future__ import annotations

import datetime as dt

from store import tokens
from store.errors import NotAuthenticated
from store.models import User, UserToken, utcnow

SESSION_NAME = "console session"


def start_session(user: User) -> str:
    """A new session for ``user``; the raw value goes into the cookie and nowhere else."""
    raw = tokens.new_token(tokens.SESSION_PREFIX)
    UserToken.create(user=user, token_hash=tokens.digest(raw), name=SESSION_NAME)
    return raw


def user_for_session(raw: str | None, lifetime: dt.timedelta) -> User:
    """The user a live session belongs to; NotAuthenticated when it is unknown, ended or older than
    ``lifetime``."""
    if not raw or not raw.startswith(tokens.SESSION_PREFIX) or len(raw) > 128:
        raise NotAuthenticated("sign in")
    row = (
        UserToken.select(UserToken, User)
        .join(User)
        .where(UserToken.token_hash == tokens.digest(raw), UserToken.name == SESSION_NAME)
        .first()
    )
    if row is None or not tokens.same(row.token_hash, tokens.digest(raw)):
        raise NotAuthenticated("sign in")
    if row.created_at < utcnow() - lifetime:
        row.delete_instance()
        raise NotAuthenticated("your session has expired, sign in again")
    return row.user


def end_session(raw: str | None) -> None:
    """Logout: the session row is deleted, so the cookie is worthless even if a copy survives."""
    if raw and raw.startswith(tokens.SESSION_PREFIX):
        UserToken.delete().where(
            UserToken.token_hash == tokens.digest(raw), UserToken.name == SESSION_NAME
        ).execute()
