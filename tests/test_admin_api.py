"""The admin API: CRUD for every record, team scoping, validation, and what it enqueues."""

from __future__ import annotations

import datetime as dt

import pytest

from store import accounts
from store.db import unit_of_work
from store.models import AuthSession, SnapshotOutbox, VersionRule
from tests.helpers import check


def test_requires_bearer_token(api):
    for headers in ({}, {"Authorization": "Bearer ghu_wrong"}, {"Authorization": "Basic abc"}):
        res = api.simulate_get("/admin/v1/apps", headers=headers)
        assert res.status_code == 401 and res.json == {"error": "unauthorized"}


def test_login_issues_a_working_token(api, world):
    res = api.simulate_post(
        "/admin/v1/login", json={"email": "OWNER@example.com", "password": "correct horse battery"}
    )
    assert res.status_code == 200 and res.json["user"]["email"] == "owner@example.com"
    me = api.simulate_get("/admin/v1/me", headers={"Authorization": "Bearer " + res.json["token"]})
    assert me.json["id"] == world.user.id
    bad = api.simulate_post("/admin/v1/login", json={"email": "owner@example.com", "password": "nope-nope"})
    unknown = api.simulate_post(
        "/admin/v1/login", json={"email": "ghost@example.com", "password": "nope-nope"}
    )
    assert bad.status_code == unknown.status_code == 401 and bad.json == unknown.json == {
        "error": "invalid credentials"
    }


def test_password_change_revokes_tokens(api, world):
    res = api.simulate_patch(
        f"/admin/v1/users/{world.user.id}", json={"password": "another secret!"}, headers=world.auth
    )
    assert res.status_code == 200
    assert api.simulate_get("/admin/v1/me", headers=world.auth).status_code == 401


def test_app_crud_and_listing(api, world):
    res = api.simulate_post(
        "/admin/v1/apps",
        json={"team_id": world.team.id, "title": "Second", "package_name": "com.x"},
        headers=world.auth,
    )
    assert res.status_code == 201 and res.json["title"] == "Second" and res.json["id"].startswith("app_")
    app_id = res.json["id"]
    listing = api.simulate_get(
        "/admin/v1/apps", params={"per_page": "1", "page": "2"}, headers=world.auth
    ).json
    assert (
        listing["total"] == 2 and listing["per_page"] == 1 and [a["id"] for a in listing["items"]] == [app_id]
    )
    res = api.simulate_patch(f"/admin/v1/apps/{app_id}", json={"title": "Renamed"}, headers=world.auth)
    assert res.json["title"] == "Renamed" and res.json["package_name"] == "com.x"
    envs = api.simulate_get(f"/admin/v1/apps/{app_id}/environments", headers=world.auth).json
    assert [e["alias"] for e in envs["items"]] == ["production", "staging"]
    assert api.simulate_delete(f"/admin/v1/apps/{app_id}", headers=world.auth).status_code == 204
    assert api.simulate_get(f"/admin/v1/apps/{app_id}", headers=world.auth).status_code == 404


def test_rule_crud_validation_and_conflicts(api, world):
    base = f"/admin/v1/apps/{world.app_id}/versions"
    body = {
        "version": "2.5.0",
        "platform": "ios",
        "environment": "production",
        "force_update": True,
        "update_message": "Update",
        "update_messages": {"EN": "Update", "de": "Aktualisieren"},
    }
    res = api.simulate_post(base, json=body, headers=world.auth)
    assert res.status_code == 201
    assert (
        res.json["update_messages"] == {"en": "Update", "de": "Aktualisieren"} and res.json["status"] is True
    )
    rule_id = res.json["id"]
    dup = api.simulate_post(base, json=body | {"version": "v2.5"}, headers=world.auth)
    assert dup.status_code == 409
    cases = [
        (body | {"platform": "web"}, "platform must be 'ios' or 'android'"),
        (body | {"version": "not a version"}, "invalid version 'not a version'"),
        (
            body | {"update_messages": {"english": "x"}},
            "locale 'english' must be a two-letter language code such as 'en'",
        ),
        (body | {"is_admin": True}, "unknown field 'is_admin'"),
        ({"platform": "ios", "environment": "production"}, "version is required"),
        (body | {"force_update": "yes"}, "force_update: Input should be a valid boolean"),
    ]
    for payload, error in cases:
        res = api.simulate_post(base, json=payload, headers=world.auth)
        assert res.status_code == 400 and res.json == {"error": error}, payload
    # An environment the app does not have yet: 409 (the request is well formed; the app's state refuses it).
    res = api.simulate_post(base, json=body | {"environment": "nowhere"}, headers=world.auth)
    assert (res.status_code, res.json) == (409, {"error": "unknown environment 'nowhere'; create it first"})
    assert api.simulate_post(base, body=b"{oops", headers=world.auth).json == {
        "error": "Invalid request body"
    }
    res = api.simulate_patch(f"{base}/{rule_id}", json={"status": False}, headers=world.auth)
    assert res.json["status"] is False and res.json["force_update"] is True
    listing = api.simulate_get(base, params={"platform": "ios"}, headers=world.auth).json
    assert listing["total"] == 1
    assert api.simulate_delete(f"{base}/{rule_id}", headers=world.auth).status_code == 204
    assert VersionRule.select().count() == 0


def test_minimum_rules_and_maintenance_crud(api, world):
    base = f"/admin/v1/apps/{world.app_id}"
    res = api.simulate_post(
        base + "/minimum-versions",
        json={"minimum_version": "2.0", "platform": "android", "environment": "staging"},
        headers=world.auth,
    )
    assert res.status_code == 201 and res.json["force_update"] is False
    again = api.simulate_post(
        base + "/minimum-versions",
        json={"minimum_version": "3.0", "platform": "android", "environment": "staging"},
        headers=world.auth,
    )
    assert again.status_code == 409
    res = api.simulate_put(
        base + "/maintenance/production",
        json={"active": True, "title": "T", "links": [{"title": "Status", "url": "https://s"}]},
        headers=world.auth,
    )
    assert res.status_code == 200 and res.json["links"] == [{"title": "Status", "url": "https://s"}]
    listing = api.simulate_get(base + "/maintenance", headers=world.auth).json["items"]
    assert [(m["environment"], m["active"]) for m in listing] == [("production", True), ("staging", False)]
    assert (
        api.simulate_put(base + "/maintenance/nowhere", json={"active": True}, headers=world.auth).status_code
        == 404
    )
    assert api.simulate_delete(base + "/maintenance/production", headers=world.auth).status_code == 204
    assert api.simulate_get(base + "/maintenance/production", headers=world.auth).json["active"] is False


def test_client_token_shown_once_and_stored_hashed(api, world):
    res = api.simulate_post(f"/admin/v1/apps/{world.app_id}/tokens", json={"name": "ci"}, headers=world.auth)
    raw = res.json["token"]
    assert res.status_code == 201 and raw.startswith("ghc_")
    listing = api.simulate_get(f"/admin/v1/apps/{world.app_id}/tokens", headers=world.auth).json["items"]
    assert all("token" not in t for t in listing) and len(listing) == 2
    from store.models import ClientToken

    assert not ClientToken.select().where(ClientToken.token_hash == raw).exists()


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/admin/v1/apps/{app}"),
        ("PATCH", "/admin/v1/apps/{app}"),
        ("DELETE", "/admin/v1/apps/{app}"),
        ("GET", "/admin/v1/apps/{app}/versions"),
        ("POST", "/admin/v1/apps/{app}/versions"),
        ("GET", "/admin/v1/apps/{app}/tokens"),
        ("GET", "/admin/v1/apps/{app}/sessions"),
        ("GET", "/admin/v1/apps/{app}/stats"),
        ("GET", "/admin/v1/apps/{app}/maintenance"),
        ("PUT", "/admin/v1/apps/{app}/maintenance/production"),
        ("GET", "/admin/v1/teams/{team}"),
        ("PATCH", "/admin/v1/teams/{team}"),
        ("GET", "/admin/v1/teams/{team}/members"),
        ("POST", "/admin/v1/teams/{team}/members"),
    ],
)
def test_another_teams_records_are_404(api, world, other_world, method, path):
    url = path.format(app=other_world.app_id, team=other_world.team.id)
    bodies = {
        "versions": {"version": "1.0", "platform": "ios", "environment": "production"},
        "production": {"active": True},
        "members": {"email": "spy@example.com", "password": "long enough"},
    }
    body = next((b for k, b in bodies.items() if url.endswith(k)), {})
    res = api.simulate_request(method, url, json=body, headers=world.auth)
    assert res.status_code == 404 and set(res.json) == {"error"}
    assert other_world.app_id not in res.text


def test_other_teams_apps_are_not_listed(api, world, other_world):
    items = api.simulate_get("/admin/v1/apps", headers=world.auth).json["items"]
    assert [a["id"] for a in items] == [world.app_id]


def test_member_role_reads_but_cannot_write(api, world, root):
    with unit_of_work():
        member = accounts.add_member(root.user, world.team.id, "m@example.com", "member password", "member")
        token = accounts.issue_user_token(member)
    auth = {"Authorization": f"Bearer {token}"}
    assert api.simulate_get(f"/admin/v1/apps/{world.app_id}", headers=auth).status_code == 200
    res = api.simulate_patch(f"/admin/v1/apps/{world.app_id}", json={"title": "x"}, headers=auth)
    assert res.status_code == 403 and res.json == {"error": "admin role required"}


def test_team_lifecycle_and_members(api, world, root):
    res = api.simulate_post("/admin/v1/teams", json={"name": "New"}, headers=world.auth)
    team_id = res.json["id"]
    assert res.status_code == 201 and res.json["subscription_status"] == "active"
    res = api.simulate_post(
        f"/admin/v1/teams/{team_id}/members",
        json={"email": "n@example.com", "password": "long enough"},
        headers=root.auth,
    )
    assert res.status_code == 201
    member_id = res.json["id"]
    assert (
        api.simulate_get(f"/admin/v1/teams/{team_id}/members/{member_id}", headers=world.auth).status_code
        == 200
    )
    members = api.simulate_get(f"/admin/v1/teams/{team_id}/members", headers=world.auth).json
    assert {m["email"] for m in members["items"]} == {"owner@example.com", "n@example.com"}
    assert (
        api.simulate_delete(f"/admin/v1/teams/{team_id}/members/{member_id}", headers=world.auth).status_code
        == 204
    )
    res = api.simulate_patch(
        f"/admin/v1/teams/{team_id}", json={"subscription_status": "lapsed"}, headers=world.auth
    )
    assert res.status_code == 400
    assert api.simulate_delete(f"/admin/v1/teams/{team_id}", headers=world.auth).status_code == 204
    assert api.simulate_get(f"/admin/v1/teams/{team_id}", headers=world.auth).status_code == 404


def test_only_super_admin_creates_users(api, world):
    res = api.simulate_post(
        "/admin/v1/users", json={"email": "x@example.com", "password": "long enough"}, headers=world.auth
    )
    assert res.status_code == 403
    with unit_of_work():
        root = accounts.create_user("root@example.com", "root password", "super_admin")
        token = accounts.issue_user_token(root)
    res = api.simulate_post(
        "/admin/v1/users",
        json={"email": "x@example.com", "password": "long enough"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert res.status_code == 201 and res.json["role"] == "member"


def test_body_size_is_bounded(api, world, settings):
    big = b'{"title": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    res = api.simulate_patch(f"/admin/v1/apps/{world.app_id}", body=big, headers=world.auth)
    assert res.status_code == 413 and res.json == {"error": "request body too large"}


def test_change_enqueues_rebuild_of_that_app_only(api, world, other_world, redis_conn, settings):
    from worker.queue import make_queue

    queue = make_queue(redis_conn, settings.queue_name)
    queue.empty()
    api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/versions",
        json={"version": "1.0", "platform": "ios", "environment": "production"},
        headers=world.auth,
    )
    api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/versions",
        json={"version": "1.1", "platform": "ios", "environment": "production"},
        headers=world.auth,
    )
    assert queue.job_ids == [f"rebuild-{world.app.id}"]  # two changes, one merged job
    assert SnapshotOutbox.select().where(SnapshotOutbox.app_id == world.app.id).exists()


def test_failed_request_leaves_no_outbox_row_or_job(api, world, redis_conn, settings):
    from worker.queue import make_queue

    queue = make_queue(redis_conn, settings.queue_name)
    queue.empty()
    SnapshotOutbox.delete().execute()
    api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/versions",
        json={"version": "1.0", "platform": "ios", "environment": "nowhere"},
        headers=world.auth,
    )
    assert queue.count == 0 and SnapshotOutbox.select().count() == 0


def test_lost_enqueue_is_healed_by_the_sweep(api, world, reader, sync, redis_conn, settings):
    from store.snapshot_format import COMPLETE_KEY
    from worker import jobs
    from worker.queue import make_queue

    sync()
    api.simulate_put(
        f"/admin/v1/apps/{world.app_id}/maintenance/production",
        json={"active": True, "title": "Down"},
        headers=world.auth,
    )
    make_queue(redis_conn, settings.queue_name).empty()  # the enqueue is lost
    redis_conn.delete(f"rq:job:rebuild-{world.app.id}")
    sync()
    res = check(reader, "/v1/maintenance", world.client_token, app_id=world.app_id, environment="production")
    assert res.json["active"] is False
    SnapshotOutbox.update(requested_at=SnapshotOutbox.requested_at - dt.timedelta(minutes=1)).execute()
    redis_conn.set(COMPLETE_KEY, 1)  # the steady state: every snapshot rendered once
    assert jobs.sweep_outbox() == 1
    sync()
    res = check(reader, "/v1/maintenance", world.client_token, app_id=world.app_id, environment="production")
    assert res.json["active"] is True and SnapshotOutbox.select().count() == 0


def test_sessions_users_and_stats(api, reader, sync, redis_conn, world):
    from worker import authentications, jobs

    token = world.client_token
    sync()
    for user, version in (("a", "1.0"), ("a", "1.0"), ("b", "1.0"), ("c", "2.0")):
        reader.simulate_post(
            "/v2/authenticate",
            json={"user_id": user, "platform": "ios", "app_version": version, "environment": "production"},
            headers={"x-api-token": token},
        )
    authentications.drain(redis_conn)

    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert jobs.aggregate_auth_stats(today) == 2
    assert jobs.aggregate_auth_stats(today) == 2  # idempotent
    stats = api.simulate_get(
        f"/admin/v1/apps/{world.app_id}/stats", params={"from": today}, headers=world.auth
    ).json
    assert stats["items"] == [
        {
            "day": today,
            "platform": "ios",
            "environment": "production",
            "app_version": "1.0",
            "sessions": 3,
            "users": 2,
        },
        {
            "day": today,
            "platform": "ios",
            "environment": "production",
            "app_version": "2.0",
            "sessions": 1,
            "users": 1,
        },
    ]
    assert (
        api.simulate_get(
            f"/admin/v1/apps/{world.app_id}/stats", params={"from": "x"}, headers=world.auth
        ).status_code
        == 400
    )
    sessions = api.simulate_get(
        f"/admin/v1/apps/{world.app_id}/sessions", params={"user_id": "a"}, headers=world.auth
    ).json
    assert sessions["total"] == 2
    users = api.simulate_get(f"/admin/v1/apps/{world.app_id}/users", headers=world.auth).json
    assert {u["user_id"] for u in users["items"]} == {"a", "b", "c"}
    assert AuthSession.select().count() == 4


def test_error_format_for_unknown_route_and_method(api):
    assert api.simulate_get("/admin/v1/nothing").json == {"error": "Not Found"}
    res = api.simulate_delete("/admin/v1/me")
    assert res.status_code == 405 and res.json == {"error": "Method Not Allowed"}


def test_adding_an_existing_user_with_a_bad_role_is_400(api, root, world):
    """schemathesis: a role outside the document's enum was accepted when the email already had a user."""
    res = api.simulate_post(
        f"/admin/v1/teams/{world.team.id}/members",
        json={"email": "owner@example.com", "role": "AAA"},
        headers=root.auth,
    )
    assert res.status_code == 400 and "role must be one of" in res.json["error"]
