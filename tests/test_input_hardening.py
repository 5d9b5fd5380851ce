"""Inputs and auth paths that answered 500, leaked, or let a caller do more than its role allows."""

from __future__ import annotations

import hashlib

import pytest

from store import accounts
from store.db import unit_of_work
from store.models import App, User
from tests.helpers import check
from tests.test_rollouts import live  # noqa: F401 - the rollout fixture


def q(world, **extra) -> dict:
    return {
        "app_id": world.app_id,
        "app_version": "1.0.0",
        "platform": "ios",
        "environment": "production",
    } | extra


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "/admin/v1/teams", {"name": "a\x00b"}, None),
        ("PATCH", "/admin/v1/apps/{app}", {"title": "x\x00"}, None),
        (
            "POST",
            "/admin/v1/apps/{app}/versions",
            {"version": "1.0", "platform": "ios", "environment": "production", "update_message": "\x00"},
            None,
        ),
        ("POST", "/admin/v1/apps/{app}/tokens", {"name": "\x00"}, None),
        ("GET", "/admin/v1/apps/{app}/sessions", None, {"user_id": "a\x00"}),
        ("GET", "/admin/v1/apps/{app}/maintenance/prod\x00", None, None),
        ("PUT", "/admin/v1/apps/{app}/icon", None, {"filename": "a\x00.png"}),
        ("POST", "/api/v1/auth", {"email": "a\x00@example.com", "password": "x"}, None),
        ("POST", "/admin/v1/login", {"email": "a\x00@example.com", "password": "x"}, None),
    ],
)
def test_nul_anywhere_is_400(api, world, method, path, body, params):
    res = api.simulate_request(
        method, path.format(app=world.app_id), json=body, params=params, headers=world.auth
    )
    assert res.status_code == 400 and set(res.json) == {"error"}, res.text
    assert "ETag" in res.headers


@pytest.mark.parametrize("value", ["100000000000000000000", "-1", "1e3", "²"])
@pytest.mark.parametrize(
    "path",
    [
        "/admin/v1/apps",
        "/admin/v1/teams",
        "/admin/v1/apps/{app}/versions",
        "/admin/v1/apps/{app}/sessions",
        "/admin/v1/users",
    ],
)
def test_page_out_of_range_is_400(api, world, path, value):
    for name in ("page", "per_page"):
        res = api.simulate_get(path.format(app=world.app_id), params={name: value}, headers=world.auth)
        assert res.status_code == 400 and name in res.json["error"], (name, res.text)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/admin/v1/apps/{app}", {"title": None}),
        ("/admin/v1/apps/{app}", {"package_name": None}),
        ("/admin/v1/teams/{team}", {"name": None}),
        ("/admin/v1/teams/{team}", {"subscription_status": None}),
    ],
)
def test_null_for_a_field_that_cannot_be_empty_is_400(api, world, path, body):
    res = api.simulate_patch(path.format(app=world.app_id, team=world.team.id), json=body, headers=world.auth)
    assert res.status_code == 400 and set(res.json) == {"error"}


def test_non_ascii_digits_in_a_version_id_are_404(api, world):
    token = api.simulate_post(
        "/api/v1/auth", json={"email": "owner@example.com", "password": "correct horse battery"}
    ).json["token"]
    for raw in ("%C2%B2", "%D9%A3", "1%C2%B2"):
        res = api.simulate_get(
            f"/api/v1/versions/{raw}/download", headers={"Authorization": f"Bearer {token}"}
        )
        assert (res.status_code, res.json) == (404, {"error": "version not found"})


def test_errors_are_never_revalidated_into_304(reader, world, sync):
    sync()
    for headers, params, status in [
        ({"x-api-token": "ghc_nope"}, q(world), 401),
        ({"x-api-token": world.client_token}, q(world, app_version=None), 400),
        ({"x-api-token": world.client_token}, q(world, app_id="app_other"), 403),
    ]:
        first = check(reader, "/v1/versions", headers["x-api-token"], **params)
        assert first.status_code == status
        for inm in ("*", first.headers["etag"]):
            res = check(
                reader, "/v1/versions", headers["x-api-token"], headers={"If-None-Match": inm}, **params
            )
            assert res.status_code == status and res.json == first.json
    # The 404 answer may be revalidated: it is cacheable.
    miss = check(reader, "/v1/versions", world.client_token, **q(world))
    assert miss.status_code == 404
    again = check(
        reader,
        "/v1/versions",
        world.client_token,
        headers={"If-None-Match": miss.headers["etag"]},
        **q(world),
    )
    assert again.status_code == 304


def test_the_icon_is_set_only_by_uploading_it(api, world):
    res = api.simulate_patch(
        f"/admin/v1/apps/{world.app_id}", json={"icon": "../../builds/x.png"}, headers=world.auth
    )
    assert res.status_code == 400 and res.json == {"error": "unknown field 'icon'"}
    assert App.get_by_id(world.app.id).icon is None
    assert api.simulate_delete(f"/admin/v1/apps/{world.app_id}/icon", headers=world.auth).status_code == 204


def test_only_a_super_admin_changes_a_subscription(api, world, root):
    with unit_of_work():
        accounts.update_team(root.user, world.team.id, {"subscription_status": "expired"})
    res = api.simulate_patch(
        f"/admin/v1/teams/{world.team.id}", json={"subscription_status": "active"}, headers=world.auth
    )
    assert (res.status_code, res.json) == (403, {"error": "super_admin role required"})
    # Renaming stays the team admin's, and sending the current status is no change.
    res = api.simulate_patch(
        f"/admin/v1/teams/{world.team.id}",
        json={"name": "Renamed", "subscription_status": "expired"},
        headers=world.auth,
    )
    assert res.status_code == 200 and res.json["name"] == "Renamed"
    res = api.simulate_patch(
        f"/admin/v1/teams/{world.team.id}", json={"subscription_status": "active"}, headers=root.auth
    )
    assert res.status_code == 200 and res.json["subscription_status"] == "active"


def test_adding_members_reveals_nothing_about_emails(api, world, other_world, root):
    url = f"/admin/v1/teams/{world.team.id}/members"
    known = api.simulate_post(url, json={"email": "rival@example.org"}, headers=world.auth)
    unknown = api.simulate_post(
        url, json={"email": "nobody@example.org", "password": "long enough"}, headers=world.auth
    )
    assert (
        (known.status_code, known.json)
        == (unknown.status_code, unknown.json)
        == (403, {"error": "super_admin role required"})
    )
    assert User.get_or_none(User.email == "nobody@example.org") is None
    assert api.simulate_post(url, json={"email": "rival@example.org"}, headers=root.auth).status_code == 201


def test_a_token_issued_right_after_a_password_change_is_valid(api, world):
    for _ in range(6):
        with unit_of_work():
            accounts.set_password(User.get_by_id(world.user.id), "correct horse battery")
        token = api.simulate_post(
            "/api/v1/auth", json={"email": "owner@example.com", "password": "correct horse battery"}
        ).json["token"]
        assert (
            api.simulate_get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )
    with unit_of_work():
        accounts.set_password(User.get_by_id(world.user.id), "another horse battery")
    assert api.simulate_get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_every_json_answer_of_authenticate_has_an_etag(reader, sync, world):
    sync()
    ok = reader.simulate_post(
        "/v2/authenticate",
        headers={"x-api-token": world.client_token},
        json={"user_id": "u1", "platform": "ios", "app_version": "1.0.0"},
    )
    bad = reader.simulate_post("/v2/authenticate", headers={"x-api-token": world.client_token}, json={})
    assert (ok.status_code, bad.status_code) == (200, 400)
    for res in (ok, bad):
        assert res.headers["ETag"] == '"' + hashlib.md5(res.content).hexdigest() + '"'


# -- the second hardening round, item 12: 500 instead of 400 ------------------------------------------


@pytest.mark.parametrize("at", ["+3000000d", "+9999999d", "9999-12-31T23:59:59-14:00", "9999-06-01"])
def test_a_rollout_step_past_the_calendar_is_400_and_nothing_is_written(live, at):  # noqa: F811
    from store.models import Rollout

    res = live(
        "PUT", body={"bundle": "1.1.0", "steps": [{"percent": 10, "at": "now"}, {"percent": 100, "at": at}]}
    )
    assert res.status_code == 400 and "step time" in res.json["error"], res.json
    assert Rollout.select().count() == 0
    assert live("GET").status_code == 404  # no rollout, not a 500


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "1969-12-31"])
def test_a_rollout_step_before_1970_is_in_effect_at_once(live, at):  # noqa: F811
    res = live(
        "PUT", body={"bundle": "1.1.0", "steps": [{"percent": 10, "at": at}, {"percent": 100, "at": "+1d"}]}
    )
    assert res.status_code == 201, res.json
    assert res.json["share_percent"] == 10 and res.json["steps"][0]["at"] == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize("path", ["/admin/v1/audit", "/admin/v1/audit.csv"])
@pytest.mark.parametrize("name", ["since", "until"])
def test_audit_filters_at_the_ends_of_the_calendar_are_answered(api, root, path, name):
    """An offset past either end of the calendar clamps to that end (it answered 500); what is not an
    instant is 400."""
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01t00:00:00z"):
        assert api.simulate_get(path, params={name: value}, headers=root.auth).status_code == 200, value
    for value in ("99999-01-01", "2026-13-01", "yesterday"):
        res = api.simulate_get(path, params={name: value}, headers=root.auth)
        assert res.status_code == 400 and name in res.json["error"], value


def test_a_build_number_past_the_column_is_400(api, world, dist):
    from store.models import Build
    from tests.test_distribution import make_product, upload

    _, vid = make_product(dist)
    res = upload(api, world, vid, build="9999999999999999999")
    assert res.status_code == 400 and "build" in res.json["error"]["message"]
    assert Build.select().count() == 0
    assert upload(api, world, vid, build="999999999999999999").status_code == 201  # 18 digits fit


def test_an_external_url_longer_than_its_column_is_400(api, world):
    from store.models import Bundle
    from tests.test_capgo import PKG

    for url in (
        "https://cdn.example.com/" + "a" * 2048,
        "ftp://cdn.example.com/b.zip",
        "javascript:alert(1)",
    ):
        res = api.simulate_post(
            "/bundle/upload",
            params={"app_id": PKG, "version": "1.0.0", "external_url": url},
            headers={"authorization": f"Bearer {world.token}"},
        )
        assert res.status_code == 400 and "external_url" in res.json["error"], res.json
    assert Bundle.select().count() == 0


def test_published_null_is_refused_as_the_document_says(dist):
    res = dist("POST", "/admin/api/products", {"name": "N", "published": None})
    assert res.status_code == 400
    made = dist("POST", "/admin/api/products", {"name": "N"})
    assert made.status_code == 201 and made.json["data"]["product"]["published"] is True
