"""UpdateForge's tester API over HTTP: login, the apps listing, and builds uploaded by admins."""

from __future__ import annotations

import hashlib

import jwt

from store import accounts, builds
from store.db import unit_of_work
from store.models import Build


def login(api, email="owner@example.com", password="correct horse battery"):
    return api.simulate_post("/api/v1/auth", json={"email": email, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_a_long_lived_hs256_token(api, world):
    res = login(api)
    assert res.status_code == 200
    assert res.json["userId"] == str(world.user.id) and res.json["email"] == "owner@example.com"
    header = jwt.get_unverified_header(res.json["token"])
    claims = jwt.decode(res.json["token"], options={"verify_signature": False})
    assert header["alg"] == "HS256" and round(claims["exp"] - claims["iat"]) == 365 * 86400


def test_login_errors(api, world):
    for body in ({}, {"email": "owner@example.com"}, {"password": "x"}, {"email": "", "password": "x"}):
        res = api.simulate_post("/api/v1/auth", json=body)
        assert res.status_code == 400 and res.json == {"error": "email and password are required"}
    assert api.simulate_post("/api/v1/auth", body=b"{nope").json == {
        "error": "email and password are required"
    }
    wrong, unknown = login(api, password="wrong password"), login(api, email="ghost@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json == {"error": "invalid credentials"}


def test_apps_requires_a_valid_token(api, world):
    for headers in (
        {},
        bearer("nonsense"),
        bearer(
            jwt.encode(
                {"sub": "1", "iat": 0, "exp": 9999999999},
                "a-different-secret-of-sufficient-length-123",
                algorithm="HS256",
            )
        ),
    ):
        res = api.simulate_get("/api/v1/apps", headers=headers)
        assert res.status_code == 401 and res.json == {"error": "unauthorized"}


def test_user_in_no_team_gets_empty_list(api):
    with unit_of_work():
        accounts.create_user("lonely@example.com", "long enough pw")
    token = login(api, "lonely@example.com", "long enough pw").json["token"]
    assert api.simulate_get("/api/v1/apps", headers=bearer(token)).json == {"teams": []}


def test_current_and_pending_by_semver(api, world):
    for version, with_file in (
        ("1.9.0", True),
        ("1.10.0", True),
        ("1.2.0", True),
        ("2.0.0", False),
        ("1.11.0", False),
    ):
        b = api.simulate_post(
            f"/admin/v1/apps/{world.app_id}/builds",
            json={"build_type": "release", "version": version, "name": f"v{version}", "public": True},
            headers=world.auth,
        )
        assert b.status_code == 201
        if with_file:
            up = api.simulate_put(
                f"/admin/v1/apps/{world.app_id}/builds/{b.json['id']}/artifact",
                params={"filename": f"app-{version}.apk"},
                body=version.encode() * 1000,
                headers=world.auth,
            )
            assert up.status_code == 200 and up.json["hasFile"] is True
            assert up.json["sha256"] == hashlib.sha256(version.encode() * 1000).hexdigest()
    token = login(api).json["token"]
    teams = api.simulate_get("/api/v1/apps", headers=bearer(token)).json["teams"]
    assert [t["name"] for t in teams] == ["Acme"] and teams[0]["id"] == str(world.team.id)
    app = teams[0]["apps"][0]
    assert (app["id"], app["title"], app["packageName"], app["icon"]) == (
        world.app_id,
        "Demo",
        "com.example.demo",
        None,
    )
    current, pending = app["release"]["current"], app["release"]["pending"]
    assert current["version"] == "1.10.0" and current["hasFile"] is True and current["public"] is True
    assert pending["version"] == "2.0.0" and pending["hasFile"] is False
    assert set(current) == {"id", "version", "name", "public", "hasFile", "created"}
    assert current["created"].endswith("Z") and len(current["created"]) == 20
    assert app["debug"] == {"current": None, "pending": None} and app["profile"] == {
        "current": None,
        "pending": None,
    }


def test_teams_and_apps_oldest_first_and_only_the_users(api, world, other_world):
    with unit_of_work():
        second = accounts.create_team(world.user, "Second")
        from store import catalog

        catalog.create_app(world.user, world.team.id, "Later", "com.later")
    token = login(api).json["token"]
    teams = api.simulate_get("/api/v1/apps", headers=bearer(token)).json["teams"]
    assert [t["id"] for t in teams] == [str(world.team.id), str(second.id)]
    assert [a["title"] for a in teams[0]["apps"]] == ["Demo", "Later"]
    assert all(a["id"] != other_world.app_id for t in teams for a in t["apps"])


def test_password_change_revokes_updateforge_tokens(api, world):
    token = login(api).json["token"]
    assert api.simulate_get("/api/v1/apps", headers=bearer(token)).status_code == 200
    with unit_of_work():
        accounts.set_password(world.user, "a brand new password")
    assert api.simulate_get("/api/v1/apps", headers=bearer(token)).status_code == 401


def test_upload_replaces_the_file_and_refuses_bad_names_and_other_teams(api, world, other_world, settings):
    b = api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/builds",
        json={"build_type": "debug", "version": "1.0"},
        headers=world.auth,
    ).json
    url = f"/admin/v1/apps/{world.app_id}/builds/{b['id']}/artifact"
    assert (
        api.simulate_put(url, params={"filename": "../x.apk"}, body=b"x", headers=world.auth).status_code
        == 400
    )
    first = api.simulate_put(url, params={"filename": "a.apk"}, body=b"first", headers=world.auth).json
    api.simulate_put(url, params={"filename": "b.apk"}, body=b"second", headers=world.auth)
    row = Build.get_by_id(int(b["id"]))
    assert (row.file_name, row.file_size) == ("b.apk", 6)
    build_dir = settings.data_dir / "artifacts" / "builds" / str(world.app.id) / b["id"]
    assert [p.read_bytes() for p in build_dir.rglob("*") if p.is_file()] == [
        b"second"
    ]  # the first is deleted
    assert first["sha256"] == hashlib.sha256(b"first").hexdigest()
    other = f"/admin/v1/apps/{other_world.app_id}/builds/{b['id']}/artifact"
    assert (
        api.simulate_put(other, params={"filename": "a.apk"}, body=b"x", headers=world.auth).status_code
        == 404
    )
    dup = api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/builds",
        json={"build_type": "debug", "version": "1.0"},
        headers=world.auth,
    )
    assert dup.status_code == 409
    bad = api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/builds",
        json={"build_type": "beta", "version": "1.0"},
        headers=world.auth,
    )
    assert bad.status_code == 400 and bad.json == {
        "error": "build_type must be one of release, debug, profile"
    }
    assert builds.list_builds(world.user, world.app_id, 1, 50).total == 1
