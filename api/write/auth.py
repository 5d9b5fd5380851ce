"""Credentials in request headers, parsed once for every dialect that takes them."""

from __future__ import annotations

import falcon

from store import accounts
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
    return accounts.user_for_token(token)
