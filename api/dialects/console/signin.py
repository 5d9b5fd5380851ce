"""Signing in and out, and changing one's own password."""

from __future__ import annotations

import falcon

from api.dialects.console import auth
from api.dialects.console.forms import read_form, text
from api.dialects.console.pages import FORM_LIMIT, Resource, page, see_other
from store import accounts, sessions
from store.errors import NotAuthenticated, TooManyRequests
from store.service import unit_of_work

LOGIN_FORM_SECONDS = 3600


def _next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site: no open redirect)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/apps"


class Login(Resource):
    """GET shows the form (with a double-submit token); POST checks the password under the API's failure
    limit and starts a new session: any session id the browser came with is ended, never reused."""

    def _form(self, req, resp, status: int = 200, error: str = "", email: str = "") -> None:
        token = auth.new_login_token()
        auth.set_cookie(resp, req, auth.LOGIN_COOKIE, token, LOGIN_FORM_SECONDS)
        page(
            resp,
            "login.html",
            None,
            status,
            login_token=token,
            error=error,
            email=email,
            next=_next(req.get_param("next")),
        )

    def on_get(self, req, resp):
        self._form(req, resp)

    def on_post(self, req, resp):
        form = read_form(req, FORM_LIMIT)
        auth.check_login_token(req, form)
        email, password = text(form, "email", limit=320), form.get("password", "")
        try:
            with unit_of_work():
                user = self.console.limiter.attempt(
                    req, email, lambda: accounts.authenticate_password(email, password)
                )
                old = req.get_cookie_values(auth.SESSION_COOKIE)
                sessions.end_session(old[0] if old else None)
                raw = sessions.start_session(user)
        except NotAuthenticated:
            self._form(req, resp, 401, "That email and password do not match an account.", email)
            return
        except TooManyRequests as refused:
            self._form(req, resp, 429, "Too many failed attempts: try again later.", email)
            resp.set_header("Retry-After", str(refused.retry_after))
            return
        auth.set_cookie(resp, req, auth.SESSION_COOKIE, raw, int(self.console.lifetime.total_seconds()))
        auth.drop_cookie(resp, auth.LOGIN_COOKIE)
        target = _next(form.get("next"))
        resp.status = falcon.HTTP_303
        resp.set_header("Location", target)


class Logout(Resource):
    def on_post(self, req, resp):
        visitor = self.visitor(req)
        self.form(req, visitor)
        with unit_of_work():
            sessions.end_session(visitor.session)
        auth.drop_cookie(resp, auth.SESSION_COOKIE)
        resp.status = falcon.HTTP_303
        resp.set_header("Location", "/console/login")


class Password(Resource):
    """Changing one's password needs the current one, and ends every session and token of the user: the
    browser is sent to sign in again."""

    def on_get(self, req, resp):
        page(resp, "password.html", self.visitor(req), error="")

    def on_post(self, req, resp):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        if not accounts.verify_password(visitor.user, form.get("current", "")):
            page(resp, "password.html", visitor, 400, error="The current password is wrong.")
            return
        with unit_of_work():
            accounts.set_password(visitor.user, form.get("new", ""))
        auth.drop_cookie(resp, auth.SESSION_COOKIE)
        raise see_other("/console/login")


class Home(Resource):
    def on_get(self, req, resp):
        self.visitor(req)
        raise see_other("/console/apps")
