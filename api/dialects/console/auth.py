"""Who is signed in to the console, and the CSRF token their forms carry.

The session cookie holds a ``ghs_`` token (store/sessions.py): HttpOnly, SameSite=Lax, Secure whenever the
request came over TLS (the scheme gunicorn believes from a trusted proxy), and ending with the session's
lifetime. Each state-changing form carries a token derived from the session (an HMAC keyed by the session's
secret value), so no store or server key is needed for it (every process agrees, whatever Redis lost), it
reveals nothing of the cookie, and a new session (login) invalidates every old form. The login form, before any
session exists, uses a double-submit cookie of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

import falcon

from api.write.auth import act_as
from store import sessions, tokens
from store.accounts import User
from store.errors import Forbidden, NotAuthenticated

SESSION_COOKIE = "gh_session"
LOGIN_COOKIE = "gh_login"
CSRF_FIELD = "csrf"


@dataclass
class Visitor:
    """The signed-in user of one request, with what their pages need to post forms back."""

    user: User
    session: str
    csrf: str

    @property
    def writes(self) -> bool:
        return self.user.role in ("admin", "super_admin")

    @property
    def super_admin(self) -> bool:
        return self.user.role == "super_admin"


def csrf_token(session: str) -> str:
    return hmac.new(session.encode(), b"gatehouse console csrf", hashlib.sha256).hexdigest()


def login_path(req: falcon.Request) -> str:
    target = req.path + (f"?{req.query_string}" if req.query_string else "")
    return "/console/login?next=" + quote(target, safe="")


def visitor(req: falcon.Request, lifetime: dt.timedelta) -> Visitor:
    """The signed-in visitor; an anonymous one is sent to the login page (303), coming back after."""
    raw = req.get_cookie_values(SESSION_COOKIE)
    try:
        user = sessions.user_for_session(raw[0] if raw else None, lifetime)
    except NotAuthenticated:
        raise falcon.HTTPSeeOther(login_path(req) if req.method == "GET" else "/console/login") from None
    session = raw[0]  # type: ignore[index]  # user_for_session refused a missing cookie
    act_as(req, user, "console")  # the audit log names the console, not a piece of the session
    return Visitor(user, session, csrf_token(session))


def check_csrf(form: dict[str, str], expected: str) -> None:
    """A state-changing form must carry this session's token: a missing or wrong one is refused (403)."""
    if not tokens.same(form.get(CSRF_FIELD, ""), expected):
        raise Forbidden("the form's security token is missing or out of date: reload the page and try again")


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def check_login_token(req: falcon.Request, form: dict[str, str]) -> None:
    cookie = req.get_cookie_values(LOGIN_COOKIE)
    if not cookie or not tokens.same(form.get(CSRF_FIELD, ""), cookie[0]):
        raise Forbidden("the form's security token is missing or out of date: reload the page and try again")


def set_cookie(resp: falcon.Response, req: falcon.Request, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        secure=req.scheme == "https",
        http_only=True,
        same_site="Lax",
    )


def drop_cookie(resp: falcon.Response, name: str) -> None:
    resp.unset_cookie(name, path="/console", same_site="Lax")
