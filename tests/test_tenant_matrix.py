"""Tenant isolation, generated from the write API's route table.

Every route that takes an id is called with every method it has, by another team's admin, by a
member of the owning team, with a revoked token and with none. A new route is covered as soon as
it is added; one whose id field this test cannot fill fails here until it is named in ``ids``.
"""

from __future__ import annotations

import re

import pytest
from falcon import inspect

from store import (
    accounts,
    api_keys,
    appconfig,
    builds,
    bundles,
    channels,
    client_tokens,
    environments,
    ios_devices,
    products,
    releases,
    rollouts,
    rules,
    webhooks,
)
from store.db import unit_of_work
from store.models import User, WebhookDelivery

# The console's pages: a session cookie and forms with its CSRF token (test_the_console_below).
CONSOLE = "/console"
# Routes that answer without a Gatehouse admin token by design.
# (Capgo's bundle links are authorised by their signature; tests/test_capgo.py checks a forged one.)
# The distribution server's public side (pages, downloads, manifests) is for anyone with the link; its
# scoping is "published or not found" (tests/test_distribution.py).
PUBLIC = {
    "/api/files/apps/{app_id}/{filename}",
    "/capgo/bundles/{bundle_id}/{file_name}",
    "/products/{slug}",
    "/products/{slug}/get/{release_id}",
    "/d/{release_id}",
    "/ios/{release_id}/manifest.plist",
    "/console/static/{name}",
}
# UpdateForge's download authenticates with its own JWT; for a non-member its spec says 403 "forbidden".
UPDATEFORGE = {"/api/v1/versions/{version_id}/download"}
# The app-config API is for admins only, reads included (its spec); its errors are {"message", "statusCode"}.
ADMIN_ONLY_PREFIX = "/app-config"
# The distribution server's admin API takes the token in X-Auth-Token, and admin tokens only (its spec).
DIST_PREFIXES = ("/admin/api/", "/admin/exports/")
ERROR_SHAPES = ({"error"}, {"message", "statusCode"}, {"ok", "error"})

BODIES = {
    "versions": {"version": "9.9.9", "platform": "ios", "environment": "production"},
    "minimum-versions": {"minimum_version": "9.9.9", "platform": "ios", "environment": "production"},
    "environments": {"alias": "spy"},
    "tokens": {"name": "spy"},
    "builds": {"build_type": "release", "version": "9.9.9"},
    "members": {"email": "spy@example.org", "password": "long enough"},
    "rollout": {"bundle": "9.9.9", "steps": [{"percent": 10}]},
    "webhooks": {"url": "https://hooks.example.com/x", "events": ["*"]},
    "keys": {"name": "spy", "mode": "read"},
    "variants": {"platform": "android", "display_name": "spy", "identifier": "com.spy"},
}
ITEM_BODIES = {
    "{app_id}": {"title": "spy"},
    "{team_id}": {"name": "spy"},
    "{build_id}": {"name": "spy"},
    "{env_id}": {"alias": "spy"},
    "{rule_id}": {"update_message": "spy"},
    "{user_id}": {"role": "member"},
    "{environment}": {"active": True},
    "{config_id}": {"releaseNotes": "spy"},
}


def _route_ops(write_app, console: bool = False) -> list[tuple[str, str]]:
    """Every (path, method) with an id; the console's (session cookie and forms) apart from the APIs'."""
    ops = []
    for route in inspect.inspect_routes(write_app):
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        if "{" not in path or path in PUBLIC or path.startswith(CONSOLE) != console:
            continue
        ops += [(path, m.method) for m in route.methods if not m.internal]
    return sorted(ops)


def _auth(path: str, authorization: str | None) -> dict:
    """The caller's token in the header the path's dialect reads it from."""
    if authorization is None:
        return {}
    if path.startswith(DIST_PREFIXES):
        return {"X-Auth-Token": authorization.removeprefix("Bearer ")}
    return {"Authorization": authorization}


def _admin_only(path: str) -> bool:
    # A team's API keys are listed to its admins only (their names and hints say what CI can do).
    return path.startswith((ADMIN_ONLY_PREFIX, *DIST_PREFIXES)) or path.endswith("/keys")


def _body(path: str, method: str) -> dict | None:
    if method in ("GET", "HEAD", "DELETE"):
        return None
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return BODIES.get(last, ITEM_BODIES.get(last, {}))


@pytest.fixture
def owned(world, api):
    """Every kind of record the routes take an id of, in world's team."""
    with unit_of_work():
        rule = rules.create_version_rule(world.user, world.app_id, BODIES["versions"] | {"version": "1.0.0"})
        minimum = rules.create_minimum_rule(
            world.user, world.app_id, BODIES["minimum-versions"] | {"minimum_version": "1.0.0"}
        )
        env = environments.create_environment(world.user, world.app_id, "qa")
        token, _ = client_tokens.create_client_token(world.user, world.app, "second")
        build = builds.create_build(world.user, world.app_id, "release", "1.0.0", "", False)
        config = appconfig.create_config(world.app, {"min_version": "1.0", "current_version": "1.0"})
        # A live-update channel with a rollout in progress (the rollout routes name the channel).
        for name in ("1.0.0", "1.1.0", "9.9.9"):
            bundles.create_bundle(world.user, world.app, name, external_url=f"https://cdn.example/{name}.zip")
        channels.put_channel(world.user, world.app.package_name, "production", "1.0.0", {})
        rollouts.start_rollout(world.user, world.app_id, "production", "1.1.0", [(0, 1000)])
        hook, _ = webhooks.create_endpoint(
            world.user, world.team.id, "https://hooks.example.com/h", ["*"], b"k"
        )
        webhooks.emit(world.team.id, "channel.changed", {})
        delivery = WebhookDelivery.get(WebhookDelivery.endpoint == hook)
        # A distribution variant with a release, and an iOS device bound to it.
        variant = products.create_variant(
            world.user, world.app_id, {"platform": "ios", "display_name": "iPhone", "identifier": "com.x"}
        )
        release = releases.create_release(
            variant, "rel_matrix", releases.ReleaseInput("1.0.0", 1, "", "", ""), "k", "a.ipa", 1, "0", ""
        )
        device = ios_devices.bind_device(
            variant, ios_devices.Capture("00008030-000A1B2C3D4E5F60", "iPhone15,2", "17.0", "S", ""), "::1"
        )
        key, _ = api_keys.create_key(world.user, world.team.id, "matrix", "read")
        member = accounts.create_user("member@example.com", "member password", "member")
        accounts.Membership.create(team=world.team, user=member)
        member_token = accounts.issue_user_token(member)
        revoked_user = accounts.create_user("gone@example.com", "gone password", "admin")
        accounts.Membership.create(team=world.team, user=revoked_user)
        revoked = accounts.issue_user_token(revoked_user)
        accounts.set_password(User.get_by_id(revoked_user.id), "changed password")  # revokes its tokens
    rule_ids = {"versions": rule.id, "minimum-versions": minimum.id}

    def url(path: str) -> str:
        rule_kind = "minimum-versions" if "/minimum-versions/" in path else "versions"
        ids = {
            "row_id": token.id
            if "/tokens/" in path
            else minimum.id
            if "/minimum-rules/" in path
            else rule.id,
            "alias": "production",
            "app_id": world.app_id,
            "team_id": world.team.id,
            "user_id": world.user.id,
            "rule_id": rule_ids[rule_kind],
            "env_id": env.id,
            "token_id": token.id,
            "build_id": build.id,
            "version_id": build.id,
            "environment": "production",
            "config_id": config.id,
            "channel": "production",
            "action": "pause",
            "webhook_id": hook.id,
            "key_id": key.id,
            "delivery_id": delivery.id,
            "product_id": world.app_id,
            "variant_id": variant.public_id,
            "release_id": release.release_id,
            "device_id": device.public_id,
        }
        return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)

    return url, {"member": f"Bearer {member_token}", "revoked": f"Bearer {revoked}"}


def _params(path: str, world) -> dict | None:
    """The app-config API names its app in the query (the app whose records are probed)."""
    return {"app_id": world.app_id} if path.startswith(ADMIN_ONLY_PREFIX) else None


def _leaks(res, world) -> bool:
    return world.app_id in res.text or "owner@example.com" in res.text


def test_another_teams_admin_gets_404_everywhere(api, write_app, world, other_world, owned):
    url, _ = owned
    jwt = api.simulate_post(
        "/api/v1/auth", json={"email": "rival@example.org", "password": "correct horse battery"}
    ).json["token"]
    wrong = []
    for path, method in _route_ops(write_app):
        auth = f"Bearer {jwt}" if path in UPDATEFORGE else other_world.auth["Authorization"]
        res = api.simulate_request(
            method,
            url(path),
            json=_body(path, method),
            params=_params(path, world),
            headers=_auth(path, auth),
        )
        expected = 403 if path in UPDATEFORGE else 404
        if (
            res.status_code != expected
            or _leaks(res, world)
            or (res.content and set(res.json) not in ERROR_SHAPES)
        ):
            wrong.append((method, path, res.status_code, res.text[:100]))
    assert wrong == []
    assert api.simulate_get(url("/admin/v1/apps/{app_id}"), headers=world.auth).status_code == 200


def test_a_member_reads_but_never_writes(api, write_app, world, owned):
    url, tokens = owned
    wrong = []
    for path, method in _route_ops(write_app):
        if path in UPDATEFORGE:
            continue
        res = api.simulate_request(
            method,
            url(path),
            json=_body(path, method),
            params=_params(path, world),
            headers=_auth(path, tokens["member"]),
        )
        reading = method in ("GET", "HEAD") and not _admin_only(path)
        if (
            (reading and res.status_code in (401, 403))
            or res.status_code >= 500
            or (not reading and res.status_code != 403)
        ):
            wrong.append((method, path, res.status_code, res.text[:100]))
    assert wrong == []


@pytest.mark.parametrize("who", ["revoked", "none"])
def test_a_revoked_token_or_none_gets_401_everywhere(api, write_app, world, owned, who):
    url, tokens = owned
    wrong = []
    for path, method in _route_ops(write_app):
        headers = _auth(path, tokens["revoked"] if who == "revoked" else None)
        res = api.simulate_request(
            method, url(path), json=_body(path, method), params=_params(path, world), headers=headers
        )
        if res.status_code != 401 or _leaks(res, world):
            wrong.append((method, path, res.status_code, res.text[:100]))
    assert wrong == []


CONSOLE_FORMS = {
    "rules": {"environment": "production", "platform": "android", "version": "9.9.9"},
    "minimum-rules": {"environment": "production", "platform": "android", "minimum_version": "9.9.9"},
    "environments": {"alias": "spy"},
    "tokens": {"name": "spy"},
    "production": {"active": "on", "title": "spy"},
    "webhooks": {"url": "https://hooks.example.com/spy", "all": "on"},
    "variants": {"platform": "android"},
    "publish": {"published": "on"},
    "app-config": {"min_version": "1.0", "current_version": "2.0"},
    "keys": {"name": "spy", "mode": "all"},
}
# Pages of the admin-only distribution API: a member is refused them (403), as by the API.
CONSOLE_ADMIN_PAGES = {"/console/apps/{app_id}/distribution", "/console/teams/{team_id}/keys"}
CONSOLE_QUERIES = {"impact": {"minimum": "9.9.9"}}


def _console_call(api, settings, redis_conn, user, path: str, method: str):
    """``path`` as a signed-in browser of ``user`` asks for it (None: no session), a valid CSRF token in
    every form."""
    from urllib.parse import urlencode

    from api.dialects.console.auth import csrf_token
    from store import sessions

    last = path.rsplit("/", 1)[-1]
    headers, form = {}, {}
    if user is not None:
        with unit_of_work():
            raw = sessions.start_session(user)
        headers["Cookie"] = f"gh_session={raw}"
        form["csrf"] = csrf_token(raw)
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return api.simulate_post(path, body=urlencode(form | CONSOLE_FORMS.get(last, {})), headers=headers)
    return api.simulate_request(method, path, params=CONSOLE_QUERIES.get(last), headers=headers)


def test_the_console_scopes_every_page_and_form_as_the_api_does(
    api, write_app, settings, redis_conn, world, other_world, owned
):
    """Another team's admin gets a 404 page everywhere; a member reads every page and every form refuses
    them (403); no session is sent to sign in. Changes nothing of world's."""
    url, _ = owned
    member = User.get(User.email == "member@example.com")
    ops = _route_ops(write_app, console=True)
    assert len(ops) >= 13, ops  # grows with the console; each new page is covered as it is added
    wrong = []
    for path, method in ops:
        for who, user in (("rival", other_world.user), ("member", member), ("nobody", None)):
            res = _console_call(api, settings, redis_conn, user, url(path), method)
            expected = {"rival": 404, "nobody": 303}.get(who) or (
                403 if method == "POST" or path in CONSOLE_ADMIN_PAGES else 200
            )
            if res.status_code != expected or (who == "rival" and _leaks(res, world)):
                wrong.append((who, method, path, res.status_code, res.text[:80]))
            if who == "nobody" and not res.headers.get("Location", "").startswith("/console/login"):
                wrong.append((who, method, path, res.headers.get("Location")))
    assert wrong == []
    assert rules.list_version_rules(world.user, world.app_id, {}, 1, 10).total == 1
