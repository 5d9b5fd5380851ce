"""The app-config API (spec 003), row by row, over HTTP: admin routes on the write API, the public read on the
read service."""

from __future__ import annotations

import re
import uuid

import peewee
import pytest
from falcon import testing

from api.settings import Settings
from api.write.app import create_write_app
from store import accounts
from store.db import db, unit_of_work
from store.models import AppConfig, Membership

CONFLICT = "An active app config already exists. Please update the existing one or deactivate it first."
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIRST = {
    "minVersion": "1.0.0",
    "currentVersion": "1.2.3",
    "releaseNotes": "Initial release with core features",
}


@pytest.fixture
def ac(api, world):
    """Calls /app-config routes for world's app (explicitly addressed with app_id)."""

    def call(method: str, path: str = "/app-config", body=None, auth=world.auth, **params):
        return api.simulate_request(
            method, path, json=body, headers=auth, params={"app_id": world.app_id} | params
        )

    return call


def test_create_answers_the_config_with_defaults(ac):
    res = ac("POST", body=FIRST)
    assert res.status_code == 200  # the document: "Unless noted, successful responses are 200 OK"
    cfg = res.json
    assert uuid.UUID(cfg["id"]) and cfg["isActive"] is True
    assert {k: cfg[k] for k in FIRST} == FIRST
    assert STAMP.match(cfg["createdAt"]) and cfg["createdAt"] == cfg["updatedAt"]
    bare = ac("POST", body={"minVersion": "1.0", "currentVersion": "1.0", "isActive": False}).json
    assert bare["releaseNotes"] is None and bare["isActive"] is False


def test_a_second_active_config_is_409_and_inactive_ones_are_not(ac):
    assert ac("POST", body=FIRST).status_code == 200
    res = ac("POST", body=FIRST)
    assert (res.status_code, res.json) == (409, {"message": CONFLICT, "statusCode": 409})
    assert ac("POST", body=FIRST | {"isActive": False}).status_code == 200
    other = ac("POST", body=FIRST | {"isActive": False}).json["id"]
    res = ac("PUT", f"/app-config/{other}", body={"isActive": True})
    assert (res.status_code, res.json) == (409, {"message": CONFLICT, "statusCode": 409})


def test_the_database_refuses_a_second_active_config_too(ac, world):
    ac("POST", body=FIRST)
    with pytest.raises(peewee.IntegrityError), db.atomic():
        AppConfig.create(
            id=str(uuid.uuid4()), app=world.app, min_version="1", current_version="1", is_active=True
        )


def test_list_get_update_delete(ac):
    old = ac("POST", body=FIRST | {"isActive": False}).json
    new = ac("POST", body={"minVersion": "1.1.0", "currentVersion": "1.3.0"}).json
    listing = ac("GET")
    assert listing.status_code == 200 and [c["id"] for c in listing.json] == [new["id"], old["id"]]
    assert ac("GET", f"/app-config/{old['id']}").json == old
    res = ac("PUT", f"/app-config/{new['id']}", body={"currentVersion": "1.4.0", "releaseNotes": None})
    assert (
        res.status_code == 200 and res.json["currentVersion"] == "1.4.0" and res.json["releaseNotes"] is None
    )
    assert res.json["minVersion"] == "1.1.0" and res.json["updatedAt"] >= new["updatedAt"]
    assert ac("DELETE", f"/app-config/{old['id']}").status_code == 204
    missing = ac("GET", f"/app-config/{old['id']}")
    assert (missing.status_code, missing.json) == (
        404,
        {"message": f"App config with ID {old['id']} not found", "statusCode": 404},
    )
    for method in ("PUT", "DELETE"):
        res = ac(method, f"/app-config/{old['id']}", body={"releaseNotes": "x"} if method == "PUT" else None)
        assert res.json == {"message": f"App config with ID {old['id']} not found", "statusCode": 404}


def test_put_active_updates_the_active_one_or_creates_it(ac):
    created = ac("PUT", "/app-config/active", body=FIRST)
    assert created.status_code == 200 and created.json["isActive"] is True
    updated = ac("PUT", "/app-config/active", body={"releaseNotes": "Updated active configuration"})
    assert (
        updated.json["id"] == created.json["id"]
        and updated.json["releaseNotes"] == "Updated active configuration"
    )
    assert len(ac("GET").json) == 1
    # Deactivated, then PUT /active again: no active one, so a new one is created (and must be complete).
    ac("PUT", "/app-config/active", body={"isActive": False})
    res = ac("PUT", "/app-config/active", body={"releaseNotes": "only notes"})
    assert (res.status_code, res.json) == (400, {"message": "Failed to update app config", "statusCode": 400})


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/app-config", {"minVersion": "1.0.0"}, "Failed to create app config"),
        (
            "POST",
            "/app-config",
            {"minVersion": "two", "currentVersion": "1.0"},
            "Failed to create app config",
        ),
        (
            "POST",
            "/app-config",
            {"minVersion": "2.0", "currentVersion": "1.0"},
            "Failed to create app config",
        ),
        ("POST", "/app-config", {"minVersion": 1, "currentVersion": "1.0"}, "Failed to create app config"),
        (
            "POST",
            "/app-config",
            {"minVersion": "1", "currentVersion": "1", "extra": 1},
            "Failed to create app config",
        ),
        ("POST", "/app-config", "not an object", "Failed to create app config"),
        ("PUT", "/app-config/active", {"currentVersion": "0.1"}, "Failed to update app config"),
    ],
)
def test_invalid_bodies_are_400_with_the_spec_text(ac, method, path, body, message):
    ac("POST", body=FIRST)
    res = ac(method, path, body=body)
    assert (res.status_code, res.json) == (400, {"message": message, "statusCode": 400})


def test_auth_role_and_tenant(ac, api, world, other_world):
    cfg = ac("POST", body=FIRST).json
    res = ac("GET", auth={})
    assert (res.status_code, res.json) == (401, {"message": "Unauthorized", "statusCode": 401})
    with unit_of_work():
        member = accounts.create_user("member@example.com", "member password", "member")
        Membership.create(team=world.team, user=member)
        token = accounts.issue_user_token(member)
    res = ac("GET", auth={"Authorization": f"Bearer {token}"})
    assert (res.status_code, res.json) == (403, {"message": "Forbidden resource", "statusCode": 403})
    for path in ("/app-config", f"/app-config/{cfg['id']}"):
        res = ac("GET", path, auth=other_world.auth)
        assert (res.status_code, res.json) == (404, {"message": "App not found", "statusCode": 404})
    # Nor may another team reach the config through an app of its own.
    res = ac("GET", f"/app-config/{cfg['id']}", auth=other_world.auth, app_id=other_world.app_id)
    assert res.json == {"message": f"App config with ID {cfg['id']} not found", "statusCode": 404}


def test_the_default_app_answers_requests_that_name_none(settings, world):
    client = testing.TestClient(
        create_write_app(Settings(**settings.model_dump() | {"appconfig_default_app": world.app_id}))
    )
    assert client.simulate_post("/app-config", json=FIRST, headers=world.auth).status_code == 200
    assert len(client.simulate_get("/app-config", headers=world.auth).json) == 1


def test_public_read_from_the_snapshot(ac, reader, world, sync):
    sync()
    params = {"app_id": world.app_id}
    none = reader.simulate_get("/app-config/public", params=params)
    assert (none.status_code, none.text) == (200, "null") and none.headers["etag"]
    cfg = ac("POST", body=FIRST).json
    sync()
    res = reader.simulate_get("/app-config/public", params=params)
    assert res.json == {
        k: cfg[k] for k in ("minVersion", "currentVersion", "releaseNotes", "createdAt", "updatedAt")
    }
    assert "s-maxage" in res.headers["cache-control"]
    again = reader.simulate_get(
        "/app-config/public", params=params, headers={"If-None-Match": res.headers["etag"]}
    )
    assert again.status_code == 304
    ac("PUT", f"/app-config/{cfg['id']}", body={"isActive": False})
    sync()
    assert reader.simulate_get("/app-config/public", params=params).text == "null"
    unknown = reader.simulate_get("/app-config/public", params={"app_id": "app_nope"})
    assert (unknown.status_code, unknown.json) == (404, {"message": "App not found", "statusCode": 404})
