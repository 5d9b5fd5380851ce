"""The console as a signed_in speaks to it (forms, cookies, redirects), in-process against the write app:
sign-in, sessions, CSRF, roles, team scoping, escaping, and what each form stores and rebuilds."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

import pytest

from store.db import unit_of_work
from store.models import MinimumVersionRule, UserToken, VersionRule, utcnow
from tests.helpers import check

PASSWORD = "correct horse battery"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Browser:
    """A cookie jar over Falcon's test client, as a signed_in keeps one (path /console)."""

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
def signed_in(api, world):
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


def test_logout_ends_the_session_even_for_a_kept_copy(signed_in):
    kept = signed_in.cookies["gh_session"]
    out = signed_in.post("/console/logout", {})
    assert out.status_code == 303 and out.headers["Location"] == "/console/login"
    assert "gh_session" not in signed_in.cookies
    signed_in.cookies["gh_session"] = kept
    assert signed_in.get("/console/apps").status_code == 303


def test_a_password_change_ends_every_session(api, world, signed_in):
    other = Browser(api)
    other.login()
    changed = signed_in.post("/console/account", {"current": PASSWORD, "new": "a new long password"})
    assert changed.status_code == 303 and changed.headers["Location"] == "/console/login"
    assert other.get("/console/apps").status_code == 303
    assert UserToken.select().where(UserToken.user == world.user.id).count() == 0
    assert Browser(api).login(password="a new long password").status_code == 303


def test_a_session_is_not_an_api_token(api, signed_in):
    raw = signed_in.cookies["gh_session"]
    assert raw.startswith("ghs_")
    answer = api.simulate_get("/admin/v1/apps", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status_code == 401


def test_an_expired_session_sends_the_user_to_sign_in(api, signed_in):
    assert signed_in.get("/console/apps").status_code == 200
    UserToken.update(created_at=utcnow() - dt.timedelta(hours=13)).where(
        UserToken.name == "console session"
    ).execute()
    assert signed_in.get("/console/apps").status_code == 303


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
def test_every_form_refuses_a_missing_or_wrong_csrf_token(signed_in, world, path, fields, token):
    sent = fields if token == "missing" else {"csrf": "0" * 64} | fields
    answer = signed_in.post(path.format(app=world.app_id), sent, csrf=False)
    assert answer.status_code == 403, answer.text
    assert "security token" in answer.text and answer.headers["Content-Type"].startswith("text/html")
    assert not MinimumVersionRule.select().exists() and not VersionRule.select().exists()


def test_the_login_form_refuses_a_missing_token(api, world):
    answer = api.simulate_post(
        "/console/login", body=urlencode({"email": "owner@example.com", "password": PASSWORD}), headers=FORM
    )
    assert answer.status_code == 403 and "gh_session" not in answer.cookies


def test_pages_carry_a_strict_content_security_policy(signed_in, world):
    for path in (
        "/console/apps",
        f"/console/apps/{world.app_id}",
        "/console/audit",
        "/console/teams",
        "/console/login",
    ):
        answer = signed_in.get(path)
        csp = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in answer.text  # the one script is /console/static/console.js
    error = signed_in.get("/console/apps/nope")
    assert error.status_code == 404 and "frame-ancestors 'none'" in error.headers["Content-Security-Policy"]


def test_another_teams_ids_answer_404_pages(signed_in, other_world):
    for path in (
        f"/console/apps/{other_world.app_id}",
        f"/console/apps/{other_world.app_id}/maintenance/production",
        f"/console/apps/{other_world.app_id}/impact?minimum=1.0",
        f"/console/apps/{other_world.app_id}/adoption.csv",
    ):
        answer = signed_in.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["Content-Type"].startswith("text/html") and "Not found" in answer.text
    posted = signed_in.post(
        f"/console/apps/{other_world.app_id}/rules",
        {"environment": "production", "platform": "ios", "version": "9.9.9"},
    )
    assert posted.status_code == 404 and not VersionRule.select().exists()


def _field(page_text: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', page_text).group(1)


def test_create_an_app_add_a_token_and_a_rule_and_the_client_sees_it(api, signed_in, world, reader, sync):
    created = signed_in.post(
        "/console/apps",
        {"team_id": str(world.team.id), "title": "Field Notes", "package_name": "com.acme.notes"},
    )
    assert created.status_code == 303
    app_path = created.headers["Location"]
    app_id = app_path.rsplit("/", 1)[-1]
    made = signed_in.post(f"{app_path}/tokens", {"name": "ios build"})
    assert made.status_code == 201
    token = re.search(r'<code class="token">(ghc_[^<]+)</code>', made.text).group(1)
    assert "shown this once" in made.text and token not in signed_in.get(app_path).text  # shown once
    rule = {
        "environment": "production",
        "platform": "ios",
        "version": "2.5.0",
        "force_update": "on",
        "update_message": "Please update",
        "locale_0": "de",
        "message_0": "Bitte aktualisieren",
        "locale_1": "",
        "message_1": "",
    }
    assert signed_in.post(f"{app_path}/rules", rule).status_code == 303
    sync()
    answer = check(
        reader,
        "/v1/versions",
        token,
        app_id=app_id,
        app_version="2.5.0",
        platform="ios",
        environment="production",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json["force_update"] is True and answer.json["update_message"] == "Please update"
    # The SDK picks the device's language from the localized messages V2 carries.
    v2 = check(
        reader,
        "/v2/versions",
        token,
        app_id=app_id,
        app_version="2.5.0",
        platform="ios",
        environment="production",
    )
    assert v2.json["update_messages"] == {"de": "Bitte aktualisieren"}, v2.json
    page = signed_in.get(app_path)
    assert "Bitte aktualisieren" in page.text and 'lang="de"' in page.text


def test_maintenance_switches_with_confirmation_and_the_client_follows(
    signed_in, world, reader, sync, redis_conn
):
    confirm = signed_in.get(f"/console/apps/{world.app_id}/maintenance/production")
    assert confirm.status_code == 200 and "Yes, start maintenance" in confirm.text
    on = signed_in.post(
        f"/console/apps/{world.app_id}/maintenance/production",
        {"active": "on", "title": "Back at 6", "description": ""},
    )
    assert on.status_code == 303
    pending = signed_in.get(f"/console/apps/{world.app_id}/serving").json
    assert pending["pending"] is True
    sync()
    served = signed_in.get(f"/console/apps/{world.app_id}/serving").json
    assert served["pending"] is False and served["since"]
    answer = check(
        reader, "/v1/maintenance", world.client_token, app_id=world.app_id, environment="production"
    )
    assert answer.json["active"] is True and answer.json["title"] == "Back at 6"
    assert "In maintenance" in signed_in.get(f"/console/apps/{world.app_id}").text
    off = signed_in.post(f"/console/apps/{world.app_id}/maintenance/production", {"active": "off"})
    assert off.status_code == 303
    sync()
    answer = check(
        reader, "/v1/maintenance", world.client_token, app_id=world.app_id, environment="production"
    )
    assert answer.json["active"] is False


XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def test_every_user_controlled_field_renders_escaped(api, signed_in, world):
    from store import catalog
    from store.models import Device

    with unit_of_work():
        catalog.update_app(world.user, world.app_id, {"title": XSS})
        Device.create(app=world.app.id, device_id="dev-xss", custom_id=XSS, version_name=XSS, platform="ios")
    rule = {
        "environment": "production",
        "platform": "android",
        "version": "1.0.0",
        "update_message": XSS,
        "locale_0": "en",
        "message_0": XSS,
    }
    assert signed_in.post(f"/console/apps/{world.app_id}/rules", rule).status_code == 303
    channel = {"name": XSS[:100], "disable_auto_update": "major", "ios": "on"}
    assert signed_in.post(f"/console/apps/{world.app_id}/channels", channel).status_code == 303
    pages = [
        signed_in.get("/console/apps"),
        signed_in.get(f"/console/apps/{world.app_id}"),
        signed_in.get(f"/console/apps/{world.app_id}/live"),
        signed_in.get(f"/console/apps/{world.app_id}/live", device=XSS),
        signed_in.get("/console/audit"),
        signed_in.get("/console/apps", q=XSS),
    ]
    for answer in pages:
        assert answer.status_code == 200, answer.text[:300]
        assert "<script>alert(1)" not in answer.text and "<img src=x" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1].text  # the title, escaped, is there
    assert "&lt;script&gt;" in pages[2].text and "&lt;script&gt;" in pages[3].text


def test_a_member_reads_pages_without_forms(api, world):
    from store import accounts

    with unit_of_work():
        member = accounts.create_user("reader@example.com", PASSWORD, "member")
        accounts.Membership.create(team=world.team, user=member)
    b = Browser(api)
    assert b.login("reader@example.com").status_code == 303
    page = b.get(f"/console/apps/{world.app_id}")
    assert (
        page.status_code == 200 and "Add a version rule" not in page.text and "Create token" not in page.text
    )
    assert "New app" not in b.get("/console/apps").text


def test_adoption_chart_csv_and_impact_read_the_aggregates(signed_in, world):
    from store.models import ClientUser, DailyStat, utcnow

    today = dt.date.today()
    with unit_of_work():
        rules_form = {"environment": "production", "platform": "ios", "minimum_version": "2.0"}
        assert signed_in.post(f"/console/apps/{world.app_id}/minimum-rules", rules_form).status_code == 303
        for days_ago, version, users in (
            (1, "1.9.0", 30),
            (1, "2.1.0", 70),
            (0, "2.1.0", 90),
            (0, "1.9.0", 10),
        ):
            DailyStat.create(
                day=today - dt.timedelta(days=days_ago),
                app=world.app.id,
                platform="ios",
                environment="production",
                app_version=version,
                sessions=users,
                users=users,
            )
        now = utcnow()
        for i, version in enumerate(["1.9.0"] * 3 + ["2.1.0"] * 7):
            ClientUser.create(
                app=world.app.id,
                user_id=f"u{i}",
                platform="ios",
                app_version=version,
                environment="production",
                first_seen_at=now,
                last_seen_at=now,
            )
        ClientUser.create(
            app=world.app.id,
            user_id="old",
            platform="ios",
            app_version="1.0",
            environment="production",
            first_seen_at=now,
            last_seen_at=now - dt.timedelta(days=40),
        )
    page = signed_in.get(f"/console/apps/{world.app_id}", days="7")
    assert page.status_code == 200
    assert "Active users by app version per day" in page.text and "2.1.0: 90" in page.text
    assert "ios/production below 2.0" in page.text
    assert (
        signed_in.get(f"/console/apps/{world.app_id}").text.count('aria-current="true">7 days') == 1
    )  # the period is kept
    csv_rows = signed_in.get(f"/console/apps/{world.app_id}/adoption.csv").text.splitlines()
    assert csv_rows[0] == "day,app_version,users"
    assert f"{today.isoformat()},2.1.0,90" in csv_rows and f"{today.isoformat()},1.9.0,10" in csv_rows
    impact = signed_in.get(f"/console/apps/{world.app_id}/impact", minimum="2.0", format="json").json
    assert impact == [{"platform": "ios", "environment": "production", "active": 10, "below": 3}]
    assert "3 (30%)" in signed_in.get(f"/console/apps/{world.app_id}/impact", minimum="2.0").text


def test_channels_bundles_rollouts_and_devices(api, signed_in, world, settings):
    from store.models import Channel, Device

    app = f"/console/apps/{world.app_id}"
    saved = signed_in.post(
        f"{app}/channels",
        {"name": "beta", "ios": "on", "allow_self_set": "on", "disable_auto_update": "minor"},
    )
    assert saved.status_code == 303
    ch = Channel.get(Channel.name == "beta")
    assert (ch.ios, ch.android, ch.allow_self_set, ch.public, ch.disable_auto_update) == (
        True,
        False,
        True,
        False,
        "minor",
    )
    for name in ("1.0.0", "1.1.0"):
        body, boundary = _multipart(
            {"csrf": signed_in.csrf, "name": name}, ("bundle", "b.zip", b"PK\x05\x06" + b"\0" * 18)
        )
        up = api.simulate_post(
            f"{app}/bundles",
            body=body,
            headers=signed_in._headers({"Content-Type": f"multipart/form-data; boundary={boundary}"}),
        )
        assert up.status_code == 303, up.text
    assert (
        signed_in.post(
            f"{app}/channels",
            {"name": "beta", "bundle": "1.0.0", "ios": "on", "disable_auto_update": "minor"},
        ).status_code
        == 303
    )
    with unit_of_work():
        Device.create(
            app=world.app.id,
            device_id="d-1",
            custom_id="user-42",
            version_build="3.1",
            platform="ios",
            channel_override=ch.id,
        )
    live = signed_in.get(f"{app}/live")
    assert "1.1.0" in live.text and "beta" in live.text
    found = signed_in.get(f"{app}/live", device="user-42")
    assert "d-1" in found.text and "channel beta" in found.text
    editor = signed_in.get(f"{app}/rollouts/beta")
    assert (
        "Start rollout" in editor.text and "<td>3.1</td><td>1</td>" in editor.text
    )  # eligible, per native version
    ramp = {
        "bundle": "1.1.0",
        "after_0": "0",
        "percent_0": "10",
        "after_1": "24",
        "percent_1": "100",
        "threshold": "5",
        "min_samples": "50",
        "window_minutes": "60",
    }
    assert signed_in.post(f"{app}/rollouts/beta", ramp).status_code == 303
    page = signed_in.get(f"{app}/rollouts/beta")
    assert "running" in page.text and "Failure rate against the auto-pause threshold" in page.text
    assert signed_in.get(f"{app}/rollouts/beta/health").json["share_percent"] == 10
    rates = signed_in.get(f"{app}/rollouts/beta", format="csv").text.splitlines()
    assert rates[0] == "until,failure_rate" and len(rates) == 2  # a rollout a minute old: one span
    assert signed_in.post(f"{app}/rollouts/beta/pause", {}).status_code == 303
    assert signed_in.get(f"{app}/rollouts/beta/health").json["state"] == "paused"
    assert signed_in.post(f"{app}/rollouts/beta/resume", {}).status_code == 303
    assert signed_in.post(f"{app}/rollouts/beta/promote", {}).status_code == 303
    assert Channel.get_by_id(ch.id).bundle.name == "1.1.0"
    assert signed_in.post(f"{app}/rollouts/beta/explode", {}).status_code == 404


def test_a_bundle_upload_without_its_token_stores_nothing(api, signed_in, world):
    from store.models import Bundle

    body, boundary = _multipart({"csrf": "forged", "name": "9.0.0"}, ("bundle", "b.zip", b"PK" * 100))
    up = api.simulate_post(
        f"/console/apps/{world.app_id}/bundles",
        body=body,
        headers=signed_in._headers({"Content-Type": f"multipart/form-data; boundary={boundary}"}),
    )
    assert up.status_code == 403 and not Bundle.select().exists()


def _multipart(fields: dict, file: tuple[str, str, bytes]) -> tuple[bytes, str]:
    boundary = "gatehouse-test-boundary"
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    field, filename, data = file
    out += f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\nContent-Type: application/zip\r\n\r\n'.encode()
    out += data + f"\r\n--{boundary}--\r\n".encode()
    return out, boundary


def test_a_redirect_leaves_no_location_on_later_pages(signed_in, world):
    """Falcon adds Location to the headers a redirect is given: the shared security headers once carried
    the first redirect's target into every later page and redirect."""
    assert signed_in.post(f"/console/apps/{world.app_id}/environments", {"alias": "qa"}).headers[
        "Location"
    ] == (f"/console/apps/{world.app_id}#environments")
    page = signed_in.get("/console/apps")
    assert page.status_code == 200 and "Location" not in page.headers
    created = signed_in.post("/console/apps", {"team_id": str(world.team.id), "title": "Second"})
    assert created.headers["Location"].startswith("/console/apps/app_")


def test_webhooks_show_their_secret_once_and_redeliver(signed_in, world):
    from store import webhooks
    from store.models import WebhookDelivery, WebhookEndpoint

    hooks = f"/console/teams/{world.team.id}/webhooks"
    made = signed_in.post(
        hooks, {"url": "https://hooks.example.com/in", "channel.changed": "on", "rollout.started": "on"}
    )
    assert made.status_code == 201
    secret = re.search(r'<code class="token">(whsec_[^<]+)</code>', made.text).group(1)
    endpoint = WebhookEndpoint.get(WebhookEndpoint.url == "https://hooks.example.com/in")
    assert (
        endpoint.events == ["channel.changed", "rollout.started"] and secret not in endpoint.secret_encrypted
    )
    assert secret not in signed_in.get(hooks).text
    with unit_of_work():
        webhooks.emit(world.team.id, "channel.changed", {"resource": "channel"})
    first = WebhookDelivery.get(WebhookDelivery.endpoint == endpoint)
    page = signed_in.get(f"{hooks}/{endpoint.id}")
    assert "channel.changed" in page.text and "pending" in page.text
    again = signed_in.post(f"{hooks}/{endpoint.id}/deliveries/{first.id}/redeliver", {})
    assert again.status_code == 303
    assert WebhookDelivery.select().where(WebhookDelivery.endpoint == endpoint).count() == 2
    assert signed_in.post(f"{hooks}/{endpoint.id}", {}).status_code == 303
    assert not WebhookEndpoint.select().where(WebhookEndpoint.id == endpoint.id).exists()


def test_distribution_variants_release_upload_public_page_and_downloads(api, signed_in, world):
    from store import fleet_stats, product_pages
    from store.models import Build, Variant

    app = f"/console/apps/{world.app_id}"
    assert (
        signed_in.post(
            f"{app}/variants", {"platform": "android", "display_name": "Demo for Android"}
        ).status_code
        == 303
    )
    variant = Variant.get(Variant.app == world.app.id)
    body, boundary = _multipart(
        {
            "csrf": signed_in.csrf,
            "variant_id": variant.public_id,
            "version": "1.2.0",
            "build": "12",
            "changelog": XSS,
        },
        ("app_file", "demo.apk", b"PK\x03\x04" + b"apk" * 1000),
    )
    up = api.simulate_post(
        f"{app}/releases",
        body=body,
        headers=signed_in._headers({"Content-Type": f"multipart/form-data; boundary={boundary}"}),
    )
    assert up.status_code == 303, up.text
    release = Build.get(Build.variant == variant.id)
    assert (release.version, release.build_number, release.file_size) == ("1.2.0", 12, 3004)
    assert signed_in.post(f"{app}/publish", {"published": "on"}).status_code == 303
    with unit_of_work():
        for kind in ("visit", "click", "download", "download"):
            product_pages.record_event(
                world.app.id, kind, variant.id, release.id if kind != "visit" else None, "203.0.113.9", "test"
            )
        fleet_stats.aggregate_dist_day(dt.date.today())
    page = signed_in.get(f"{app}/distribution")
    assert page.status_code == 200
    assert "Public at" in page.text and f"/products/{world.app.slug}" in page.text and "<svg" in page.text
    assert "Downloads per release per day" in page.text and "1.2.0 (12)" in page.text
    assert "<td>2</td>" in page.text  # the release's downloads, from the daily rows
    assert "The latest 4 of 4." in page.text
    assert "&lt;script&gt;alert(1)" in page.text and "<script>alert(1)" not in page.text  # the changelog


def test_bundle_adoption_and_install_success_read_the_daily_rows(signed_in, world):
    from store import bundles, channels, fleet_stats
    from store.models import BundleStat, Device, utcnow

    today = dt.date.today()
    with unit_of_work():
        for name in ("1.0.0", "1.1.0"):
            bundles.create_bundle(world.user, world.app, name, external_url=f"https://cdn.example/{name}.zip")
        channels.put_channel(world.user, world.app.package_name, "production", "1.1.0", {"public": True})
        beta = channels.put_channel(world.user, world.app.package_name, "beta", "1.1.0", {})
        now = utcnow()
        for i in range(10):
            Device.create(
                app=world.app.id,
                device_id=f"dev-{i}",
                version_name="1.1.0" if i < 7 else "1.0.0",
                last_seen_at=now,
                platform="ios" if i % 2 else "android",
                channel_override=beta.id if i == 0 else None,
            )
        BundleStat.create(app=world.app.id, day=today, bundle="1.1.0", action="set", count=95)
        BundleStat.create(app=world.app.id, day=today, bundle="1.1.0", action="download_fail", count=5)
        fleet_stats.record_bundle_devices(today)
    page = signed_in.get(f"/console/apps/{world.app_id}/live")
    # Per channel: production is public on both platforms, so unpinned devices count there; the pinned one
    # counts on beta.
    assert "Devices per bundle per day on production" in page.text and "1.1.0: 6" in page.text
    assert "Devices per bundle per day on beta" in page.text
    csv_rows = signed_in.get(f"/console/apps/{world.app_id}/live", format="csv").text.splitlines()
    assert (
        f"{today.isoformat()},beta,1.1.0,1" in csv_rows
        and f"{today.isoformat()},production,1.0.0,3" in csv_rows
    )
    health = page.text.split('id="adoption-h"')[1]
    row = re.search(r"<tr><td>1\.1\.0</td>(.*?)</tr>", health, re.S).group(1)
    assert "95" in row and "95.0%" in row
    assert re.findall(r"<td>(\d+|not yet)</td>", row)[-3:] == ["0", "0", "not yet"]  # 50 % and 70 % on day 0


def test_the_workers_statistics_job_fills_the_daily_tables_the_charts_read(world):
    from store import product_pages
    from store.models import BundleDailyDevices, Device, DistDailyStat, utcnow
    from worker.jobs import aggregate_recent_stats

    with unit_of_work():
        product_pages.record_event(world.app.id, "visit", None, None, "203.0.113.1", "t")
        Device.create(app=world.app.id, device_id="seen-today", version_name="builtin", last_seen_at=utcnow())
    aggregate_recent_stats()
    today = dt.date.today()
    assert [(r.type, r.count) for r in DistDailyStat.select().where(DistDailyStat.day == today)] == [
        ("visit", 1)
    ]
    assert [(r.bundle, r.devices) for r in BundleDailyDevices.select()] == [("", 1)]
    aggregate_recent_stats()  # idempotent: the day's rows are replaced, not added to
    assert DistDailyStat.select().count() == 1 and BundleDailyDevices.select().count() == 1


def test_builds_upload_and_app_config_reach_their_clients(api, signed_in, world, reader, sync):
    from store.models import Build

    app = f"/console/apps/{world.app_id}"
    body, boundary = _multipart(
        {
            "csrf": signed_in.csrf,
            "build_type": "release",
            "version": "4.0.0",
            "name": "Winter",
            "public": "on",
        },
        ("artifact", "demo.ipa", b"IPA" * 500),
    )
    up = api.simulate_post(
        f"{app}/builds",
        body=body,
        headers=signed_in._headers({"Content-Type": f"multipart/form-data; boundary={boundary}"}),
    )
    assert up.status_code == 303, up.text
    build = Build.get(Build.app == world.app.id)
    assert (build.version, build.name, build.public, build.file_name, build.file_size) == (
        "4.0.0",
        "Winter",
        True,
        "demo.ipa",
        1500,
    )
    assert "demo.ipa (1,500 bytes)" in signed_in.get(app).text
    saved = signed_in.post(
        f"{app}/app-config", {"min_version": "3.0.0", "current_version": "4.0.0", "release_notes": "Winter"}
    )
    assert saved.status_code == 303
    sync()
    public = reader.simulate_get("/app-config/public", params={"app_id": world.app_id})
    assert (
        public.status_code == 200
        and public.json["minVersion"] == "3.0.0"
        and public.json["currentVersion"] == "4.0.0"
    )


def test_every_chart_offers_its_data_as_csv(signed_in, world):
    app = f"/console/apps/{world.app_id}"
    for path, header in (
        (f"{app}/adoption.csv", "day,app_version,users"),
        (f"{app}/live?format=csv", "day,channel,bundle,devices"),
        (f"{app}/distribution?format=csv", "day,release,downloads"),
    ):
        answer = signed_in.get(path)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv"), path
        assert answer.text.splitlines()[0] == header


def test_the_failure_chart_counts_outcomes_in_their_span(world):
    import time as clock

    from store import bundles, channels, rollouts
    from store.models import DeviceOutcome, Rollout

    with unit_of_work():
        for name in ("1.0.0", "1.1.0"):
            bundles.create_bundle(world.user, world.app, name, external_url=f"https://cdn.example/{name}.zip")
        channels.put_channel(world.user, world.app.package_name, "production", "1.0.0", {})
        row = rollouts.start_rollout(world.user, world.app_id, "production", "1.1.0", [(0, 1000)])
        Rollout.update(created_at=utcnow() - dt.timedelta(hours=48)).where(Rollout.id == row.id).execute()
        # An hour and a half ago: in the middle of the second-to-last of 48 hourly spans. An hour ago was
        # their boundary, and a run in a minute's first second counted it in the last span (CI, once).
        minute = int(clock.time() // 60) - 90
        for n, kind in enumerate(["failure"] * 3 + ["success"] * 7):
            DeviceOutcome.create(
                app=world.app.id, bundle="1.1.0", device_id=f"d{n}", kind=kind, source="s", minute=minute
            )
    times, rates = rollouts.health_series(Rollout.get_by_id(row.id), clock.time())
    assert len(times) == len(rates) == 48
    assert [r for r in rates if r is not None] == [0.3] and rates.index(0.3) == 46


def test_api_keys_are_made_shown_once_and_revoked_in_the_console(api, signed_in, world):
    from store.models import ApiKey

    keys = f"/console/teams/{world.team.id}/keys"
    made = signed_in.post(keys, {"name": "github", "mode": "upload", "apps": world.app_id, "expires": ""})
    assert made.status_code == 201
    raw = re.search(r'<code class="token">(gatehouse_key_[^<]+)</code>', made.text).group(1)
    row = ApiKey.get(ApiKey.name == "github")
    assert (row.mode, row.apps) == ("upload", [world.app_id]) and raw not in signed_in.get(keys).text
    assert (
        api.simulate_get(
            f"/admin/v1/apps/{world.app_id}", headers={"Authorization": f"Bearer {raw}"}
        ).status_code
        == 200
    )
    assert signed_in.post(keys, {"revoke": str(row.id)}).status_code == 303
    assert (
        api.simulate_get(
            f"/admin/v1/apps/{world.app_id}", headers={"Authorization": f"Bearer {raw}"}
        ).status_code
        == 401
    )
