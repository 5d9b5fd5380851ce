"""Credentials in request headers, parsed once for every dialect that takes them."""

from __future__ import annotations

import falcon

from store import accounts, api_keys, changes, tokens
from store.errors import NotAuthenticated

# (route template, method) -> the API key mode the route needs, from each dialect's ``key_modes``
# (api/dialects/base.py); a route not named needs read for GET and HEAD, write otherwise.
_KEY_MODES: dict[tuple[str, str], str] = {}


def declare_key_modes(route: str, modes: dict[str, str]) -> None:
    for method, mode in modes.items():
        _KEY_MODES[(route, method)] = mode


def needed_mode(req: falcon.Request) -> str:
    declared = _KEY_MODES.get((req.uri_template or "", req.method))
    return declared or ("read" if req.method in ("GET", "HEAD") else "write")


def token_caller(req: falcon.Request, raw: str | None, upload_only: bool = False) -> accounts.User:
    """The user a token or API key in a request acts as. An API key (``gatehouse_key_``) must have the mode
    the route needs; ``upload_only``: an upload key is good for upload routes alone (fenfa's upload token)."""
    if raw and raw.startswith(tokens.KEY_PREFIX):
        needed = needed_mode(req)
        user = api_keys.caller_for_key(raw, needed, getattr(req.context, "client", None), upload_only)
        return act_as(req, user, "key:" + raw[len(tokens.KEY_PREFIX) : len(tokens.KEY_PREFIX) + 6])
    return act_as(req, accounts.user_for_token(raw), raw or "")


def bearer_token(req: falcon.Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def admin_caller(req: falcon.Request) -> accounts.User:
    """The user a Gatehouse admin token (Bearer) belongs to; NotAuthenticated otherwise."""
    token = bearer_token(req)
    if token is None:
        raise NotAuthenticated("unauthorized")
    return token_caller(req, token)


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
