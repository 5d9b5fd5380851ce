"""The audit log: every admin write in every dialect records who, what, when and from where, in the change's
own transaction; reads are scoped to the caller's teams; filters, pages, CSV; secrets masked."""

from __future__ import annotations

import csv
import io

from store.models import AuditEntry
from tests.test_capgo import PKG, upload


def entries(**where) -> list[AuditEntry]:
    q = AuditEntry.select().order_by(AuditEntry.id)
    for name, value in where.items():
        q = q.where(getattr(AuditEntry, name) == value)
    return list(q)


def test_admin_api_writes_record_who_what_and_where(api, world):
    res = api.simulate_patch(
        f"/admin/v1/apps/{world.app_id}",
        json={"title": "Renamed"},
        headers=world.auth | {"X-Request-ID": "req-42", "X-Forwarded-For": "203.0.113.9"},
    )
    assert res.status_code == 200 and res.headers["x-request-id"] == "req-42"
    (entry,) = entries(resource="app")
    assert (entry.action, entry.resource_id, entry.changes) == (
        "update",
        str(world.app.id),
        {"title": ["Demo", "Renamed"]},
    )
    assert entry.user_email == "owner@example.com" and entry.token_hint == world.token[:10]
    assert entry.request_id == "req-42" and entry.address and entry.team_id == world.team.id
    rule = api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/versions",
        json={"version": "2.0.0", "platform": "ios", "environment": "production"},
        headers=world.auth,
    )
    assert rule.status_code == 201
    (created,) = entries(resource="version_rule")
    assert created.action == "create" and created.changes["version"] == [None, "2.0.0"]
    api.simulate_delete(f"/admin/v1/apps/{world.app_id}/versions/{rule.json['id']}", headers=world.auth)
    assert [e.action for e in entries(resource="version_rule")] == ["create", "delete"]


def test_capgo_appconfig_and_rollout_writes_are_recorded(api, world, capgo):
    upload(api, world, "1.0.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "allow_dev": False})
    api.simulate_post(
        "/app-config",
        params={"app_id": world.app_id},
        json={"minVersion": "1.0.0", "currentVersion": "1.0.0"},
        headers=world.auth,
    )
    upload(api, world, "1.1.0")
    api.simulate_put(
        f"/admin/v1/apps/{world.app_id}/channels/production/rollout",
        json={"bundle": "1.1.0", "steps": [{"percent": 10}]},
        headers=world.auth,
    )
    resources = {(e.resource, e.action) for e in entries()}
    assert {
        ("bundle", "create"),
        ("channel", "create"),
        ("channel", "update"),
        ("app_config", "create"),
        ("rollout", "create"),
    } <= resources
    update = [e for e in entries(resource="channel") if e.action == "update"][-1]
    assert update.changes["allow_dev"] == [True, False]


def test_a_refused_write_leaves_no_entry(capgo):
    res = capgo("POST", "/channel", {"app_id": PKG, "channel": "beta", "version": "9.9.9"})
    assert res.status_code == 404
    assert entries() == []  # the channel row and its entry went with the rolled-back transaction


def test_secrets_are_masked(api, root):
    res = api.simulate_post(
        "/admin/v1/users",
        json={"email": "new@example.com", "password": "a long password", "role": "member"},
        headers=root.auth,
    )
    assert res.status_code == 201
    (entry,) = entries(resource="user")
    assert entry.changes["password_hash"] == [None, "***"] and entry.team_id is None


def test_reading_is_scoped_filtered_paged_and_exported(api, world, other_world, root):
    for title in ("One", "Two", "Three"):
        api.simulate_patch(f"/admin/v1/apps/{world.app_id}", json={"title": title}, headers=world.auth)
    api.simulate_patch(
        f"/admin/v1/apps/{other_world.app_id}", json={"title": "Theirs"}, headers=other_world.auth
    )
    mine = api.simulate_get("/admin/v1/audit", params={"per_page": 2}, headers=world.auth).json
    assert mine["total"] == 3 and len(mine["items"]) == 2
    assert mine["items"][0]["changes"] == {"title": ["Two", "Three"]}  # newest first
    theirs = api.simulate_get("/admin/v1/audit", headers=other_world.auth).json
    assert [i["changes"]["title"][1] for i in theirs["items"]] == ["Theirs"]
    assert api.simulate_get("/admin/v1/audit", headers=root.auth).json["total"] == 4
    by_actor = api.simulate_get(
        "/admin/v1/audit", params={"actor": "rival@example.org"}, headers=root.auth
    ).json
    assert by_actor["total"] == 1
    assert (
        api.simulate_get("/admin/v1/audit", params={"resource": "channel"}, headers=world.auth).json["total"]
        == 0
    )
    later = api.simulate_get(
        "/admin/v1/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=world.auth
    ).json
    assert later["total"] == 0
    assert (
        api.simulate_get("/admin/v1/audit", params={"since": "yesterday"}, headers=world.auth).status_code
        == 400
    )
    export = api.simulate_get("/admin/v1/audit.csv", headers=world.auth)
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["resource"] for r in rows] == ["app", "app", "app"] and '"Three"' in rows[0]["changes"]
    assert api.simulate_get("/admin/v1/audit").status_code == 401
