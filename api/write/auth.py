"""Credentials in request headers, parsed once for every dialect that takes them."""

from __future__ import annotations

import falcon

from store import accounts, changes
from store.errors import NotAuthenticated


def bearer_token(req: falcon.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def admin_caller(req: falcon.Request) -> accounts.User:
    """The user a Gatehouse admin token (Bearer) belongs to; NotAuthenticated otherwise."""
    token = bearer_token(req)
    if token is None:
        raise NotAuthenticated("unauthorized")
    return act_as(req, accounts.user_for_token(token), token)


def act_as(req: falcon.Request, user: accounts.User, token: str) -> accounts.User:
    """Names the authenticated admin as the actor of what this request changes (the audit log)."""
    changes.acting(
        changes.Actor(
            user_id=user.id,
            email=user.email,
            token_hint=token[:10],
            address=getattr(req.context, "client", None),
            request_id=getattr(req.context, "request_id", None),
        )
    )
    return user
