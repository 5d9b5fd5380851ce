"""Scoped API keys, generated from the write API's route table as the tenant matrix is: every route with an
id, every method, against every mode, an app-limited key, an expired key and a revoked key; then what a
user must not be able to do with a key."""

from __future__ import annotations

import datetime as dt

import pytest

from api.dialects.registry import DIALECTS
from store import accounts, api_keys, catalog
from store.db import db, unit_of_work
from store.models import ApiKey, utcnow
from tests.test_tenant_matrix import (
    DIST_PREFIXES,
    UPDATEFORGE,
    _auth,
    _body,
    _params,
    _route_ops,
    owned,  # noqa: F401 - the fixture
)

RANK = {"read": 0, "upload": 1, "write": 2, "all": 3}
DECLARED = {
    (route, method): mode
    for d in DIALECTS
    for route, modes in d.key_modes.items()
    for method, mode in modes.items()
}


def _needed(template: str, method: str) -> str:
    return DECLARED.get((template, method)) or ("read" if method in ("GET", "HEAD") else "write")


def _templates(write_app) -> dict[str, str]:
    """Each route's documented path -> its template as registered (with converters), for DECLARED."""
    import re

    from falcon import inspect

    return {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path): r.path for r in inspect.inspect_routes(write_app)}


def _key(world, mode: str, **kw) -> str:
    with unit_of_work():
        _, raw = api_keys.create_key(world.user, world.team.id, f"{mode} key", mode, **kw)
    return raw


def _call(api, url, path, method, world, raw):
    return api.simulate_request(
        method,
        url(path),
        json=_body(path, method),
        params=_params(path, world),
        headers=_auth(path, f"Bearer {raw}"),
    )


def test_every_route_against_every_mode(api, write_app, world, owned):  # noqa: F811
    """Each mode's pass starts from the same state (a savepoint rolled back after it); a route the user
    itself is refused (403) is refused to every key of theirs too."""
    url, _ = owned
    templates = _templates(write_app)
    keys = {mode: _key(world, mode) for mode in RANK}
    ops = [op for op in _route_ops(write_app) if op[0] not in UPDATEFORGE]  # UpdateForge takes its own JWTs
    with db.atomic() as baseline:
        user_refused = {
            (path, method)
            for path, method in ops
            if api.simulate_request(
                method,
                url(path),
                json=_body(path, method),
                params=_params(path, world),
                headers=_auth(path, world.auth["Authorization"]),
            ).status_code
            == 403
        }
        baseline.rollback()
    wrong = []
    for mode in RANK:
        with db.atomic() as attempt:
            for path, method in ops:
                needed = _needed(templates[path], method)
                res = _call(api, url, path, method, world, keys[mode])
                fenfa_upload_only = path.startswith(DIST_PREFIXES) and mode == "upload" and needed != "upload"
                allowed = needed != "none" and RANK[mode] >= RANK[needed] and not fenfa_upload_only
                allowed = allowed and (path, method) not in user_refused
                if (allowed and res.status_code in (401, 403)) or (not allowed and res.status_code != 403):
                    wrong.append((mode, method, path, needed, res.status_code, res.text[:80]))
                if res.status_code >= 500:
                    wrong.append((mode, method, path, needed, res.status_code, res.text[:80]))
            attempt.rollback()
    assert wrong == []


@pytest.mark.parametrize("who", ["expired", "revoked", "app-limited"])
def test_expired_revoked_and_app_limited_keys(api, write_app, world, owned, who):  # noqa: F811
    url, _ = owned
    if who == "app-limited":
        with unit_of_work():
            other = catalog.create_app(world.user, world.team.id, "Other", "com.example.other")
        raw = _key(world, "all", app_ids=[other.public_id])
    else:
        raw = _key(world, "all", expires_at=utcnow() + dt.timedelta(days=1) if who == "expired" else None)
        if who == "expired":
            ApiKey.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
        else:
            with unit_of_work():
                key = ApiKey.get(ApiKey.key_hash == api_keys.tokens.digest(raw))
                api_keys.revoke_key(world.user, world.team.id, key.id)
    wrong = []
    for path, method in _route_ops(write_app):
        if path in UPDATEFORGE:
            continue
        res = _call(api, url, path, method, world, raw)
        if who == "app-limited":
            # World's app, and everything team-wide, is out of the key's reach: not found (or refused where
            # the route needs what no key has).
            names_app = "{app_id}" in path or "{product_id}" in path
            bad = res.status_code < 400 if names_app else res.status_code >= 500
            if bad or world.app_id in res.text:
                wrong.append((method, path, res.status_code, res.text[:80]))
        elif res.status_code != 401:
            wrong.append((method, path, res.status_code, res.text[:80]))
    assert wrong == []


def test_a_key_is_shown_once_stored_hashed_and_recognisable(api, world):
    made = api.simulate_post(
        f"/admin/v1/teams/{world.team.id}/keys", json={"name": "ci", "mode": "upload"}, headers=world.auth
    )
    assert made.status_code == 201
    raw = made.json["key"]
    assert raw.startswith("gatehouse_key_") and len(raw) > 50
    row = ApiKey.get_by_id(made.json["id"])
    assert row.key_hash == api_keys.tokens.digest(raw) and raw not in str(row.__data__)
    listed = api.simulate_get(f"/admin/v1/teams/{world.team.id}/keys", headers=world.auth)
    assert listed.json["total"] == 1 and "key" not in listed.json["items"][0] and raw not in listed.text
    assert listed.json["items"][0]["hint"] == raw[:18] + "…"


def test_a_key_records_its_last_use_and_cannot_make_keys(api, world):
    raw = _key(world, "all")
    headers = {"Authorization": f"Bearer {raw}", "X-Forwarded-For": "198.51.100.7"}
    assert api.simulate_get("/admin/v1/apps", headers=headers).status_code == 200
    row = ApiKey.get(ApiKey.key_hash == api_keys.tokens.digest(raw))
    assert row.last_used_at is not None and row.last_used_from
    refused = api.simulate_post(
        f"/admin/v1/teams/{world.team.id}/keys", json={"name": "x", "mode": "all"}, headers=headers
    )
    assert refused.status_code == 403 and ApiKey.select().count() == 1


def test_a_key_dies_with_its_user_unless_it_is_a_team_key(api, world, root):
    with unit_of_work():
        maker = accounts.create_user("maker@example.com", "maker password", "admin")
        accounts.Membership.create(team=world.team, user=maker)
        _, personal = api_keys.create_key(maker, world.team.id, "personal", "read")
        _, team_key = api_keys.create_key(maker, world.team.id, "team", "read", team_key=True)
        accounts.delete_user(root.user, maker.id)
    assert (
        api.simulate_get("/admin/v1/apps", headers={"Authorization": f"Bearer {personal}"}).status_code == 401
    )
    kept = api.simulate_get("/admin/v1/apps", headers={"Authorization": f"Bearer {team_key}"})
    assert kept.status_code == 200 and [a["id"] for a in kept.json["items"]] == [world.app_id]


def test_a_key_never_does_more_than_its_user(api, world, root):
    """Only admins make keys; an admin later made a member keeps keys that now only read."""
    with unit_of_work():
        maker = accounts.create_user("m@example.com", "maker password", "admin")
        accounts.Membership.create(team=world.team, user=maker)
        _, raw = api_keys.create_key(maker, world.team.id, "maker's", "all")
        accounts.update_user(root.user, maker.id, {"role": "member"})
    headers = {"Authorization": f"Bearer {raw}"}
    assert api.simulate_get(f"/admin/v1/apps/{world.app_id}", headers=headers).status_code == 200
    write = api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/environments", json={"alias": "qa"}, headers=headers
    )
    assert write.status_code == 403


def test_keys_work_in_every_header_that_takes_a_token(api, world):
    upload = _key(world, "upload")
    read = _key(world, "read")
    # Capgo's authorization header (bare key), fenfa's X-Auth-Token, the app-config API's Bearer.
    assert (
        api.simulate_get(
            "/channel", params={"app_id": world.app.package_name}, headers={"authorization": read}
        ).status_code
        == 200
    )
    assert (
        api.simulate_post(
            "/channel",
            json={"app_id": world.app.package_name, "channel": "beta"},
            headers={"authorization": read},
        ).status_code
        == 403
    )
    assert api.simulate_get("/admin/api/products", headers={"X-Auth-Token": read}).status_code == 200
    assert (
        api.simulate_get("/admin/api/products", headers={"X-Auth-Token": upload}).status_code == 403
    )  # upload token
    bearer = {"Authorization": f"Bearer {read}"}
    assert api.simulate_get("/app-config", params={"app_id": world.app_id}, headers=bearer).status_code == 200
    config = {"minVersion": "1.0.0", "currentVersion": "1.0.0"}
    posted = api.simulate_post("/app-config", params={"app_id": world.app_id}, json=config, headers=bearer)
    assert posted.status_code == 403
