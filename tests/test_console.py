"""The console as a browser speaks to it (forms, cookies, redirects), in-process against the write app:
sign-in, sessions, CSRF, roles, team scoping, escaping, and what each form stores and rebuilds."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

import pytest

from store.models import MinimumVersionRule, UserToken, VersionRule, utcnow

PASSWORD = "correct horse battery"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Browser:
    """A cookie jar over Falcon's test client, as a browser keeps one (path /console)."""

    def __init__(self, api):
        self.api, self.cookies = api, {}

    def _headers(self, extra=None):
        jar = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return ({"Cookie": jar} if jar else {}) | (extra or {})

    def _keep(self, result):
        for name, cookie in result.cookies.items():
            if cookie.value and (cookie.max_age is None or cookie.max_age > 0):
                self.cookies[name] = cookie.value
            else:
                self.cookies.pop(name, None)
        return result

    def get(self, path, **params):
        return self._keep(self.api.simulate_get(path, params=params, headers=self._headers()))

    def post(self, path, fields, csrf=True):
        if csrf is True:
            fields = {"csrf": self.csrf} | fields
        body = urlencode(fields)
        return self._keep(self.api.simulate_post(path, body=body, headers=self._headers(FORM)))

    def login(self, email="owner@example.com", password=PASSWORD):
        form = self.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        result = self.post(
            "/console/login", {"csrf": token, "email": email, "password": password}, csrf=False
        )
        if result.status_code == 303:
            page = self.get("/console/apps")
            self.csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        return result


@pytest.fixture
def browser(api, world):
    b = Browser(api)
    assert b.login().status_code == 303
    return b


def test_anonymous_visits_go_to_the_login_page_and_come_back_after(api, world):
    b = Browser(api)
    first = b.get("/console/apps/" + world.app_id)
    assert first.status_code == 303
    assert first.headers["Location"] == f"/console/login?next=%2Fconsole%2Fapps%2F{world.app_id}"
    form = b.get("/console/login", next=f"/console/apps/{world.app_id}")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    signed = b.post(
        "/console/login",
        {
            "csrf": token,
            "email": "owner@example.com",
            "password": PASSWORD,
            "next": f"/console/apps/{world.app_id}",
        },
        csrf=False,
    )
    assert signed.status_code == 303 and signed.headers["Location"] == f"/console/apps/{world.app_id}"
    cookie = signed.cookies["gh_session"]
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/console"
    assert cookie.max_age == 12 * 3600 and not cookie.secure  # plain HTTP here; Secure behind TLS (below)
    page = b.get(f"/console/apps/{world.app_id}")
    assert page.status_code == 200 and "<h1>Demo</h1>" in page.text


def test_the_session_cookie_is_secure_behind_tls(api, world):
    form = api.simulate_get("/console/login", protocol="https")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    signed = api.simulate_post(
        "/console/login",
        protocol="https",
        body=urlencode({"csrf": token, "email": "owner@example.com", "password": PASSWORD}),
        headers=FORM | {"Cookie": f"gh_login={token}"},
    )
    assert signed.status_code == 303 and signed.cookies["gh_session"].secure


@pytest.mark.parametrize("next_target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_the_console(api, world, next_target):
    b = Browser(api)
    form = b.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    signed = b.post(
        "/console/login",
        {"csrf": token, "email": "owner@example.com", "password": PASSWORD, "next": next_target},
        csrf=False,
    )
    assert signed.headers["Location"] == "/console/apps"


def test_wrong_password_and_the_shared_failure_limit(api, world, settings):
    b = Browser(api)
    wrong = b.login(password="not the password")
    assert wrong.status_code == 401 and "do not match" in wrong.text
    for _ in range(settings.login_max_failures - 1):
        b.login(password="still wrong")
    locked = b.login()  # the right password, during the lockout
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    # The API's login shares the counter: it refuses too.
    api_login = api.simulate_post(
        "/admin/v1/login", json={"email": "owner@example.com", "password": PASSWORD}
    )
    assert api_login.status_code == 429


def test_a_session_id_does_not_survive_login(api, world):
    b = Browser(api)
    b.login()
    before = b.cookies["gh_session"]
    b.login()  # again, presenting the first session's cookie
    after = b.cookies["gh_session"]
    assert before != after
    b.cookies["gh_session"] = before
    assert b.get("/console/apps").status_code == 303  # the old one was ended


def test_logout_ends_the_session_even_for_a_kept_copy(browser):
    kept = browser.cookies["gh_session"]
    out = browser.post("/console/logout", {})
    assert out.status_code == 303 and out.headers["Location"] == "/console/login"
    assert "gh_session" not in browser.cookies
    browser.cookies["gh_session"] = kept
    assert browser.get("/console/apps").status_code == 303


def test_a_password_change_ends_every_session(api, world, browser):
    other = Browser(api)
    other.login()
    changed = browser.post("/console/account", {"current": PASSWORD, "new": "a new long password"})
    assert changed.status_code == 303 and changed.headers["Location"] == "/console/login"
    assert other.get("/console/apps").status_code == 303
    assert UserToken.select().where(UserToken.user == world.user.id).count() == 0
    assert Browser(api).login(password="a new long password").status_code == 303


def test_a_session_is_not_an_api_token(api, browser):
    raw = browser.cookies["gh_session"]
    assert raw.startswith("ghs_")
    answer = api.simulate_get("/admin/v1/apps", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status_code == 401


def test_an_expired_session_sends_the_user_to_sign_in(api, browser):
    assert browser.get("/console/apps").status_code == 200
    UserToken.update(created_at=utcnow() - dt.timedelta(hours=13)).where(
        UserToken.name == "console session"
    ).execute()
    assert browser.get("/console/apps").status_code == 303


FORMS = [
    ("/console/apps", {"team_id": "1", "title": "X"}),
    ("/console/apps/{app}/tokens", {"name": "t"}),
    ("/console/apps/{app}/environments", {"alias": "qa"}),
    ("/console/apps/{app}/rules", {"environment": "production", "platform": "ios", "version": "1.0.0"}),
    (
        "/console/apps/{app}/minimum-rules",
        {"environment": "production", "platform": "ios", "minimum_version": "1.0"},
    ),
    ("/console/apps/{app}/maintenance/production", {"active": "on"}),
    ("/console/logout", {}),
    ("/console/account", {"current": PASSWORD, "new": "another password"}),
    ("/console/teams", {"action": "create_team", "name": "T"}),
    ("/console/users", {"user_id": "1", "role": "admin"}),
]


@pytest.mark.parametrize("path,fields", FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(browser, world, path, fields, token):
    sent = fields if token == "missing" else {"csrf": "0" * 64} | fields
    answer = browser.post(path.format(app=world.app_id), sent, csrf=False)
    assert answer.status_code == 403, answer.text
    assert "security token" in answer.text and answer.headers["Content-Type"].startswith("text/html")
    assert not MinimumVersionRule.select().exists() and not VersionRule.select().exists()


def test_the_login_form_refuses_a_missing_token(api, world):
    answer = api.simulate_post(
        "/console/login", body=urlencode({"email": "owner@example.com", "password": PASSWORD}), headers=FORM
    )
    assert answer.status_code == 403 and "gh_session" not in answer.cookies


def test_pages_carry_a_strict_content_security_policy(browser, world):
    for path in (
        "/console/apps",
        f"/console/apps/{world.app_id}",
        "/console/audit",
        "/console/teams",
        "/console/login",
    ):
        answer = browser.get(path)
        csp = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in answer.text  # the one script is /console/static/console.js
    error = browser.get("/console/apps/nope")
    assert error.status_code == 404 and "frame-ancestors 'none'" in error.headers["Content-Security-Policy"]


def test_another_teams_ids_answer_404_pages(browser, other_world):
    for path in (
        f"/console/apps/{other_world.app_id}",
        f"/console/apps/{other_world.app_id}/maintenance/production",
        f"/console/apps/{other_world.app_id}/impact?minimum=1.0",
        f"/console/apps/{other_world.app_id}/adoption.csv",
    ):
        answer = browser.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["Content-Type"].startswith("text/html") and "Not found" in answer.text
    posted = browser.post(
        f"/console/apps/{other_world.app_id}/rules",
        {"environment": "production", "platform": "ios", "version": "9.9.9"},
    )
    assert posted.status_code == 404 and not VersionRule.select().exists()
