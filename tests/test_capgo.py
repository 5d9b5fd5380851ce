"""Capgo's public API (spec 002) on the write API and the plugin's device endpoints on the read service,
over HTTP against real PostgreSQL and Redis: channels, devices, bundles, uploads, signed downloads,
/updates, /stats, /channel_self, and device batches applied by the worker."""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
import time
import zipfile
from urllib.parse import quote, urlencode, urlsplit

import pytest
from falcon import testing

from api.read.app import create_read_app
from store import accounts
from store import device_events as events
from store.db import unit_of_work
from store.models import BundleStat, Device, Membership
from tests.helpers import uid
from worker.sightings import drain

PKG = "com.example.demo"


def zip_bytes(text: str = "hello") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.html", f"<p>{text}</p>")
    return buf.getvalue()


def upload(api, world, version: str, data: bytes | None = None, **params):
    data = zip_bytes(version) if data is None else data
    return api.simulate_post(
        "/bundle/upload",
        params={"app_id": PKG, "version": version} | params,
        body=data,
        headers={"authorization": f"Bearer {world.token}", "Content-Type": "application/zip"},
    )


def device_body(**fields) -> dict:
    return {
        "app_id": PKG,
        "device_id": "00000000-0000-0000-0000-000000000001",
        "platform": "ios",
        "version_build": "1.0.0",
        "version_name": "builtin",
        "plugin_version": "6.2.0",
        "version_os": "17.1",
        "is_emulator": False,
        "is_prod": True,
        "custom_id": "user-7",
    } | fields


def test_channel_rows_of_the_seed(capgo, api, world, sync):
    assert upload(api, world, "1.2.0").status_code == 201
    res = capgo(
        "POST", "/channel", {"app_id": PKG, "channel": "production", "version": "1.2.0", "public": True}
    )
    assert (res.status_code, res.json) == (200, {"status": "ok"})
    res = capgo(
        "POST",
        "/channel",
        {"app_id": PKG, "channel": "beta", "disableAutoUpdate": "minor", "allow_dev": False},
    )
    assert res.json == {"status": "ok"}
    listed = capgo("GET", "/channel", app_id=PKG).json
    assert [c["name"] for c in listed] == ["production", "beta"]
    prod = capgo("GET", "/channel", app_id=PKG, channel="production").json
    assert prod["version"]["name"] == "1.2.0" and prod["public"] is True and prod["app_id"] == PKG
    assert prod["disableAutoUpdate"] == "major" and prod["disableAutoUpdateUnderNative"] is True
    beta = listed[1]
    assert beta["version"] is None and beta["allow_dev"] is False and beta["disableAutoUpdate"] == "minor"
    # An update keeps the fields it does not name.
    capgo("POST", "/channel", {"app_id": PKG, "channel": "beta", "allow_emulator": False})
    beta = capgo("GET", "/channel", app_id=PKG, channel="beta").json
    assert beta["allow_dev"] is False and beta["allow_emulator"] is False
    assert capgo("GET", "/channel", app_id=PKG, page="1").json == []
    res = capgo("DELETE", "/channel", {"channel": "beta"})
    assert res.json == {"status": "ok"}
    res = capgo("GET", "/channel", app_id=PKG, channel="beta")
    assert res.status_code == 404 and res.json["status"] == "KO" and res.json["code"] == "not_found"


def test_errors_are_capgo_shaped_and_scoped_to_the_team(capgo, other_world):
    res = capgo("GET", "/channel", app_id=PKG, key="nope")
    assert (res.status_code, res.json) == (
        401,
        {"error": "Invalid API key", "status": "KO", "code": "invalid_apikey"},
    )
    # Another team's app is no app at all, and a bogus one answers the same.
    theirs = capgo("GET", "/channel", app_id="com.rival.demo")
    missing = capgo("GET", "/channel", app_id="com.nobody.app")
    assert theirs.status_code == missing.status_code == 404 and theirs.json == missing.json
    res = capgo("POST", "/channel", {"app_id": PKG})
    assert res.status_code == 400 and res.json["error"] == "channel is required"
    res = capgo("POST", "/channel", {"app_id": PKG, "channel": "x", "disableAutoUpdate": "sometimes"})
    assert res.status_code == 400 and res.json["status"] == "KO"
    res = capgo("POST", "/channel", {"app_id": PKG, "channel": "x", "version": "9.9.9"})
    assert res.status_code == 404 and "9.9.9" in res.json["error"]


def test_bearer_key_is_accepted_too(api, world):
    res = api.simulate_get(
        "/channel", params={"app_id": PKG}, headers={"authorization": f"Bearer {world.token}"}
    )
    assert (res.status_code, res.json) == (200, [])


def test_package_identifier_is_unique_across_the_deployment(api, world, other_world, root):
    res = api.simulate_post(
        "/admin/v1/apps",
        json={"team_id": other_world.team.id, "title": "Copy", "package_name": PKG},
        headers=other_world.auth,
    )
    assert res.status_code == 409 and "another app" in res.json["error"]
    res = api.simulate_patch(
        f"/admin/v1/apps/{other_world.app_id}", json={"package_name": PKG}, headers=other_world.auth
    )
    assert res.status_code == 409
    # Not even a deleted app's identifier moves.
    assert api.simulate_delete(f"/admin/v1/apps/{world.app_id}", headers=world.auth).status_code in (200, 204)
    res = api.simulate_patch(
        f"/admin/v1/apps/{other_world.app_id}", json={"package_name": PKG}, headers=other_world.auth
    )
    assert res.status_code == 409
    res = api.simulate_patch(
        f"/admin/v1/apps/{other_world.app_id}", json={"package_name": "not an id"}, headers=other_world.auth
    )
    assert res.status_code == 400


def test_bundles_upload_list_and_delete(capgo, api, world, settings):
    data = zip_bytes("one")
    res = upload(
        api,
        world,
        "1.0.0",
        data,
        minUpdateVersion="1.0.0",
        native_packages='[{"name":"@capacitor/app","version":"6.0.0"}]',
    )
    assert res.status_code == 201, res.json
    b = res.json
    assert b["checksum"] == hashlib.sha256(data).hexdigest() and b["size"] == len(data)
    assert b["minUpdateVersion"] == "1.0.0" and b["native_packages"][0]["name"] == "@capacitor/app"
    assert upload(api, world, "1.0.0").status_code == 409
    ext = upload(api, world, "1.1.0", b"", external_url="https://cdn.example.com/1.1.0.zip")
    assert (
        ext.status_code == 201
        and ext.json["external_url"].endswith("1.1.0.zip")
        and ext.json["checksum"] is None
    )
    assert upload(api, world, "1.2.0", channel="production").status_code == 201
    listed = capgo("GET", "/bundle", app_id=PKG).json
    assert [x["name"] for x in listed] == ["1.0.0", "1.1.0", "1.2.0"]
    assert capgo("GET", "/channel", app_id=PKG, channel="production").json["version"]["name"] == "1.2.0"
    # A bundle a channel serves is refused, naming the channel; nothing is deleted.
    res = capgo("DELETE", "/bundle", {"app_id": PKG})
    assert res.status_code == 409 and "production" in res.json["error"]
    assert len(capgo("GET", "/bundle", app_id=PKG).json) == 3
    key = b["r2_path"]
    storage_file = settings.data_dir / "artifacts" / key
    assert storage_file.exists()
    assert capgo("DELETE", "/bundle", {"app_id": PKG, "version": "1.0.0"}).json == {"status": "ok"}
    assert not storage_file.exists()
    assert capgo("DELETE", "/bundle", {"app_id": PKG, "version": "1.0.0"}).status_code == 404
    assert [x["name"] for x in capgo("GET", "/bundle", app_id=PKG).json] == ["1.1.0", "1.2.0"]


def test_device_link_and_unlink(capgo, api, world):
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "beta", "version": "1.2.0"})
    dev = "ABCDEF00-0000-0000-0000-000000000002"
    res = capgo(
        "POST", "/device", {"app_id": PKG, "device_id": dev, "channel": "beta", "version_id": "1.2.0"}
    )
    assert res.json == {"status": "ok"}
    one = capgo("GET", "/device", app_id=PKG, device_id=dev.lower()).json
    assert one["channel"] == "beta" and one["version_override"] == "1.2.0" and one["device_id"] == dev.lower()
    assert capgo("DELETE", "/device", {"app_id": PKG, "device_id": dev}).json == {"status": "ok"}
    one = capgo("GET", "/device", app_id=PKG, device_id=dev.lower()).json
    assert one["channel"] is None and one["version_override"] is None
    assert capgo("POST", "/device", {"app_id": PKG, "device_id": dev}).status_code == 400
    assert (
        capgo("POST", "/device", {"app_id": PKG, "device_id": "x" * 65, "channel": "beta"}).status_code == 400
    )
    assert capgo("GET", "/device", app_id=PKG, device_id="nobody").status_code == 404


def test_updates_checks_stats_and_devices_end_to_end(capgo, api, world, reader, sync, redis_conn, cache):
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    sync()
    res = reader.simulate_post("/updates", json=device_body())
    assert res.status_code == 200, res.json
    answer = res.json
    assert answer["version"] == "1.2.0" and len(answer["checksum"]) == 64
    # The link downloads without credentials, with Range, from the write API.
    parts = urlsplit(answer["url"])
    got = api.simulate_get(parts.path, query_string=parts.query)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == answer["checksum"]
    part = api.simulate_get(parts.path, query_string=parts.query, headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == got.content[:10]
    forged = api.simulate_get(parts.path, query_string=parts.query.replace("signature=", "signature=0"))
    assert forged.status_code == 404
    # Already on it: no new version.
    res = reader.simulate_post("/updates", json=device_body(version_name="1.2.0"))
    assert res.json == {
        "error": "no_new_version_available",
        "message": "No new version available",
        "kind": "up_to_date",
    }
    res = reader.simulate_post("/stats", json=device_body(action="set", version_name="1.2.0"))
    assert res.json == {"status": "ok"}
    reader.simulate_post("/stats", json=device_body(action="update_fail", version_name="1.2.0"))
    time.sleep(0.8)  # the recorder flushes every half second
    assert drain(redis_conn) >= 1
    listed = capgo("GET", "/device", app_id=PKG).json
    assert len(listed) == 1
    d = listed[0]
    assert d["version"] == {"id": answer_id(capgo), "name": "1.2.0"} and d["custom_id"] == "user-7"
    assert d["platform"] == "ios" and d["os_version"] == "17.1" and d["plugin_version"] == "6.2.0"
    counts = {s.action: s.count for s in BundleStat.select()}
    assert counts == {"set": 1, "update_fail": 1}
    # The same batch delivered again counts nothing twice.
    assert drain(redis_conn) == 0


def answer_id(capgo) -> int:
    return capgo("GET", "/bundle", app_id=PKG).json[0]["id"]


def test_unknown_apps_and_bad_bodies_on_the_device_endpoints(reader, world, other_world, sync):
    sync()
    for package in ("com.nobody.app", "com.rival.demo"):
        res = reader.simulate_post("/updates", json=device_body(app_id=package))
        assert res.status_code == 200 and res.json["error"] in ("app_not_found", "no_channel")
    nobody = reader.simulate_post("/updates", json=device_body(app_id="com.nobody.app")).json
    assert nobody == {"error": "app_not_found", "message": "App not found", "kind": "failed"}
    res = reader.simulate_post("/updates", body=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and res.json["error"] == "invalid_json_body"
    res = reader.simulate_post("/updates", json=device_body(device_id="x" * 65))
    assert res.status_code == 400 and "device_id" in res.json["message"]
    res = reader.simulate_post("/updates", json={"app_id": PKG})
    assert res.status_code == 400 and res.json["error"] == "missing_info"
    res = reader.simulate_post("/stats", json=device_body(action="bad action!"))
    assert res.status_code == 400


def test_channel_self_list_get_set_unset(capgo, api, world, reader, sync, redis_conn):
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    upload(api, world, "1.3.0-beta.1", channel="beta")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "beta", "allow_device_self_set": True})
    capgo("POST", "/channel", {"app_id": PKG, "channel": "internal", "version": "1.2.0"})
    sync()
    listed = reader.simulate_get(
        "/channel_self", params={"app_id": PKG, "platform": "ios", "is_emulator": "false", "is_prod": "true"}
    )
    assert [(c["name"], c["public"], c["allow_self_set"]) for c in listed.json] == [
        ("production", True, False),
        ("beta", False, True),
    ]
    got = reader.simulate_put("/channel_self", json=device_body())
    assert got.json == {"status": "ok", "channel": "production", "allowSet": True, "message": "", "error": ""}
    # Refusals are HTTP 200 with Capgo's code (issue 20, Capgo item 2: plugin 7.x loses the code otherwise).
    res = reader.simulate_post("/channel_self", json=device_body(channel="internal"))
    assert res.status_code == 200 and res.json["error"] == "channel_self_set_not_allowed"
    res = reader.simulate_post("/channel_self", json=device_body(channel="production"))
    assert res.status_code == 200 and res.json["error"] == "public_channel_self_set_not_allowed"
    res = reader.simulate_post("/channel_self", json=device_body(channel="nowhere"))
    assert (res.status_code, res.json["error"]) == (200, "channel_not_found")
    res = reader.simulate_post("/channel_self", json=device_body())
    assert res.status_code == 200 and res.json == {
        "error": "missing_channel",
        "message": "Cannot find channel in body",
    }
    res = reader.simulate_post("/channel_self", json=device_body(channel="beta"))
    assert res.json == {"status": "ok", "message": "Device assigned to channel successfully", "error": ""}
    time.sleep(0.3)
    drain(redis_conn)
    sync()
    got = reader.simulate_put("/channel_self", json=device_body())
    assert got.json["channel"] == "beta" and got.json["allowSet"] is True
    assert reader.simulate_post("/updates", json=device_body()).json["version"] == "1.3.0-beta.1"
    res = reader.simulate_delete("/channel_self", json=device_body())
    assert res.json["status"] == "ok"
    time.sleep(0.3)
    drain(redis_conn)
    sync()
    assert reader.simulate_put("/channel_self", json=device_body()).json["channel"] == "production"
    # An admin's pin on a channel that does not allow self-assignment cannot be changed by the device.
    capgo("POST", "/device", {"app_id": PKG, "device_id": device_body()["device_id"], "channel": "internal"})
    sync()
    assert reader.simulate_put("/channel_self", json=device_body()).json == {
        "status": "ok",
        "channel": "internal",
        "allowSet": False,
        "message": "",
        "error": "",
    }
    res = reader.simulate_post("/channel_self", json=device_body(channel="beta"))
    assert res.status_code == 200 and res.json["error"] == "cannot_override"
    assert reader.simulate_delete("/channel_self", json=device_body()).json["error"] == "cannot_override"
    assert (
        Device.select().where(Device.device_id == device_body()["device_id"]).get().channel_override.name
        == "internal"
    )


# Every public-API operation, as (method, path, query, body) for world's app.
OPERATIONS = [
    ("GET", "/channel", {"app_id": PKG}, None),
    ("GET", "/channel", {"app_id": PKG, "channel": "production"}, None),
    ("POST", "/channel", {}, {"app_id": PKG, "channel": "spy"}),
    ("DELETE", "/channel", {}, {"app_id": PKG, "channel": "production"}),
    ("GET", "/device", {"app_id": PKG}, None),
    ("GET", "/device", {"app_id": PKG, "device_id": "pinned"}, None),
    ("POST", "/device", {}, {"app_id": PKG, "device_id": "pinned", "channel": "production"}),
    ("DELETE", "/device", {}, {"app_id": PKG, "device_id": "pinned"}),
    ("GET", "/bundle", {"app_id": PKG}, None),
    ("DELETE", "/bundle", {}, {"app_id": PKG, "version": "1.2.0"}),
    (
        "POST",
        "/bundle/upload",
        {"app_id": PKG, "version": "9.9.9", "external_url": "https://x.example/a.zip"},
        None,
    ),
]


@pytest.fixture
def capgo_owned(capgo, api, world):
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/device", {"app_id": PKG, "device_id": "pinned", "channel": "production"})
    with unit_of_work():
        member = accounts.create_user("member@example.com", "member password", "member")
        Membership.create(team=world.team, user=member)
        return accounts.issue_user_token(member)


@pytest.mark.parametrize(
    ("method", "path", "query", "body"), OPERATIONS, ids=[f"{o[0]} {o[1]} {sorted(o[2])}" for o in OPERATIONS]
)
def test_every_operation_is_scoped_to_the_callers_team(
    capgo, capgo_owned, other_world, method, path, query, body
):
    # Another team's admin: exactly what an unknown app answers, and nothing changes.
    res = capgo(method, path, body, key=other_world.token, **query)
    assert res.status_code == 404 and res.json["status"] == "KO", (res.status_code, res.json)
    # No key, or a bogus one: 401.
    assert capgo(method, path, body, key="", **query).status_code == 401
    # A member of the team reads, never writes.
    res = capgo(method, path, body, key=capgo_owned, **query)
    assert res.status_code == (200 if method == "GET" else 403), (res.status_code, res.json)
    # Nothing was changed by any of them.
    assert capgo("GET", "/channel", app_id=PKG, channel="production").json["version"]["name"] == "1.2.0"
    assert capgo("GET", "/device", app_id=PKG, device_id="pinned").json["channel"] == "production"
    assert [b["name"] for b in capgo("GET", "/bundle", app_id=PKG).json] == ["1.2.0"]


def test_device_checks_keep_answering_from_memory_with_redis_gone(capgo, api, world, sync, settings, cache):
    from falcon import testing

    from api.read.app import create_read_app

    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    sync()  # the cache holds the snapshots; from here on its Redis is gone too
    dead = settings.model_copy(
        update={
            "redis_url": "redis://127.0.0.1:1/0",
            "bundle_url_secret": "configured",
            "sighting_buffer_devices": 2,
        }
    )
    from api.metrics import DROPPED

    dropped = DROPPED.labels("device_sighting")._value.get()
    offline = testing.TestClient(create_read_app(dead, cache))
    for i in range(3):
        res = offline.simulate_post("/updates", json=device_body(device_id=uid(f"offline-{i}")))
        assert res.status_code == 200 and res.json["version"] == "1.2.0"
    res = offline.simulate_post("/updates", json=device_body(version_name="1.2.0"))
    assert res.json["error"] == "no_new_version_available"
    assert offline.simulate_put("/channel_self", json=device_body()).json["channel"] == "production"
    # Two devices fit the buffer; every later sighting of another device (offline-2, then the fourth
    # device twice) is counted as dropped, and no answer waited for Redis.
    assert DROPPED.labels("device_sighting")._value.get() == dropped + 3


def test_get_channel_self_never_names_a_devices_pin(capgo, api, world, reader, sync):
    """Item 5 of the second hardening round: GET with a device_id answered like PUT, naming the private
    channel an admin had pinned the device to, to anyone."""
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    capgo("POST", "/channel", {"app_id": PKG, "channel": "vip-customers-acme", "version": "1.2.0"})
    device = device_body()["device_id"]
    capgo("POST", "/device", {"app_id": PKG, "device_id": device, "channel": "vip-customers-acme"})
    sync()
    res = reader.simulate_get("/channel_self", params={"app_id": PKG, "device_id": device, "platform": "ios"})
    assert res.status_code == 200
    assert [c["name"] for c in res.json] == ["production"]
    assert "vip-customers-acme" not in res.text


def test_capgo_paths_with_a_trailing_slash_are_routed(capgo, api, world, reader, sync):
    """Item 15: /updates/, /stats/, /channel_self/ and the public API's /channel/ were not routed."""
    from api.dialects.registry import is_read_path, read_paths_regex

    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel/", {"app_id": PKG, "channel": "production", "public": True})
    sync()
    assert reader.simulate_post("/updates/", json=device_body()).json["version"] == "1.2.0"
    assert reader.simulate_post("/stats/", json=device_body(action="set")).json == {"status": "ok"}
    assert reader.simulate_put("/channel_self/", json=device_body()).json["channel"] == "production"
    assert capgo("GET", "/channel/", app_id=PKG).status_code == 200
    import re

    assert is_read_path("/updates/") and re.match(read_paths_regex(), "/updates/")
    assert not is_read_path("/channel/")


def test_query_parameters_other_than_the_flags_stay_strings(capgo, api, world, reader, sync):
    """schemathesis: DELETE /channel_self?version_build=FALSE answered 400, the version read as a boolean."""
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    sync()
    params = {
        "app_id": PKG,
        "device_id": uid("d-1"),
        "platform": "ios",
        "version_build": "1.0.0",
        "version_name": "FALSE",
        "is_prod": "true",
        "plugin_version": "8.42.0",
    }
    res = reader.simulate_delete("/channel_self", params=params)
    assert res.status_code == 200 and res.json.get("status") == "ok", res.json


def test_stats_takes_a_batch_as_current_plugins_send_it(api, world, reader, sync, redis_conn):
    """Issue 20, Capgo item 1: plugins 5.50.1, 6.50.1, 7.50.1, 8.42.0 and later always send /stats as a JSON
    array; every one got 400, so rollouts never saw their failures. Capgo answers one result per event."""
    upload(api, world, "1.2.0")
    sync()
    events = [
        device_body(device_id=uid("b-1"), version_name="1.2.0", plugin_version="8.42.0") | {"action": "set"},
        device_body(device_id=uid("b-2"), version_name="1.2.0", plugin_version="8.42.0")
        | {"action": "update_fail"},
        device_body(device_id=uid("b-3"), plugin_version="8.42.0") | {"action": "bad action!"},
    ]
    res = reader.simulate_post("/stats", json=events)
    assert res.status_code == 200
    assert res.json["status"] == "ok"
    assert [(r["status"], r["index"]) for r in res.json["results"]] == [("ok", 0), ("ok", 1), ("error", 2)]
    assert res.json["results"][2]["error"] == "invalid_json_body"
    time.sleep(0.8)
    drain(redis_conn)
    assert {(s.action, s.count) for s in BundleStat.select()} == {("set", 1), ("update_fail", 1)}
    # The edges of a batch, as Capgo's server answers them.
    assert reader.simulate_post("/stats", json=[]).json == {"status": "ok", "results": []}
    mixed = reader.simulate_post("/stats", json=[events[0], events[1] | {"app_id": "com.other.app"}])
    assert mixed.status_code == 200 and mixed.json["error"] == "mixed_app_ids"
    assert reader.simulate_post("/stats", json=[{"action": "set"}]).status_code == 400
    # One event still answers as before.
    assert reader.simulate_post("/stats", json=events[0]).json == {"status": "ok"}


def test_capgo_input_rules_on_the_device_endpoints(capgo, api, world, reader, sync, redis_conn):
    """Issue 20, Capgo item 5 (in part): custom_id is trimmed; GET /channel_self with an invalid platform
    is 400; DELETE /channel_self with no override, from a plugin older than x.34, is cannot_override."""
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    sync()
    listed = reader.simulate_get("/channel_self", params={"app_id": PKG, "platform": "symbian"})
    assert listed.status_code == 400 and listed.json["error"] == "invalid_platform"
    old = reader.simulate_delete("/channel_self", json=device_body(plugin_version="7.33.9"))
    assert (old.status_code, old.json["error"]) == (200, "cannot_override")
    new = reader.simulate_delete("/channel_self", json=device_body(plugin_version="7.34.0"))
    assert new.json["status"] == "ok"
    reader.simulate_post("/updates", json=device_body(device_id=uid("trim-1"), custom_id="  user-9  "))
    time.sleep(0.7)
    drain(redis_conn)
    assert capgo("GET", "/device", app_id=PKG, device_id=uid("trim-1")).json["custom_id"] == "user-9"


def test_device_ids_actions_and_native_versions_as_capgo_checks_them(
    capgo, api, world, reader, sync, redis_conn
):
    """Issue 20, Capgo item 5: a device_id must be a UUID (any case, kept lowercase); /stats refuses an
    action outside Capgo's list; a native version_build must be semver once padded ("1.2" is 1.2.0)."""
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    sync()
    for path, extra in (("/updates", {}), ("/stats", {"action": "set"}), ("/channel_self", {"channel": "x"})):
        for made_up in ("dev-1", "x" * 36, "00000000-0000-0000-0000-00000000000g", "0" * 32):
            res = reader.simulate_post(path, json=device_body(device_id=made_up) | extra)
            assert (res.status_code, res.json["error"]) == (400, "invalid_json_body"), (path, made_up)
        res = reader.simulate_post(path, json=device_body(version_build="abc") | extra)
        assert (res.status_code, res.json["error"]) == (400, "semver_error"), path
        assert "abc" in res.json["message"]
    upper = "ABCDEF00-1111-2222-3333-444455556666"
    ok = reader.simulate_post("/updates", json=device_body(device_id=upper, version_build="1.0"))
    assert ok.status_code == 200 and ok.json["version"] == "1.2.0"
    for native in ("1", "1.0.0+7", "1.0.0-rc.1", "builtin"):
        assert reader.simulate_post("/updates", json=device_body(version_build=native)).status_code == 200
    for native in ("1.0.0.5", "01.0.0", "one"):
        assert reader.simulate_post("/updates", json=device_body(version_build=native)).status_code == 400
    unknown = reader.simulate_post("/stats", json=device_body(action="made_up_action", version_name="1.2.0"))
    assert (unknown.status_code, unknown.json["error"]) == (400, "invalid_json_body")
    for action in ("app_moved_to_background", "download_complete", "set"):
        res = reader.simulate_post("/stats", json=device_body(action=action, version_name="1.2.0"))
        assert res.json == {"status": "ok"}, action
    time.sleep(0.7)
    drain(redis_conn)
    assert capgo("GET", "/device", app_id=PKG, device_id=upper.lower()).status_code == 200
    assert {s.action for s in BundleStat.select()} == {"app_moved_to_background", "download_complete", "set"}


def test_the_documented_actions_are_the_ones_accepted():
    import yaml

    from api.dialects.capgo.actions import STATS_ACTIONS
    from tests.conftest import ROOT

    doc = yaml.safe_load((ROOT / "api/dialects/capgo/openapi.yaml").read_text())
    stats = doc["read"]["components"]["schemas"]["CapgoStatsBody"]["allOf"][1]["properties"]["action"]
    assert set(stats["enum"]) == STATS_ACTIONS and len(STATS_ACTIONS) == 91


def _two_channels_and_another_process(capgo, api, world, settings, sync, redis_conn):
    """A public production channel (1.2.0), a beta one devices may choose (1.3.0-beta.1), and a read app
    with its own snapshot cache: another process (or host) than the ``reader`` fixture's."""
    from api.dialects.registry import part_codecs
    from api.read.cache import SnapshotCache

    upload(api, world, "1.2.0", channel="production")
    upload(api, world, "1.3.0-beta.1", channel="beta")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    capgo("POST", "/channel", {"app_id": PKG, "channel": "beta", "allow_device_self_set": True})
    sync()
    other_cache = SnapshotCache(settings.redis_url, codecs=part_codecs())
    other_cache.refresh(redis_conn)
    return other_cache, testing.TestClient(create_read_app(settings, other_cache))


def test_a_device_reads_its_own_channel_choice_at_once_on_any_process(
    capgo, api, world, settings, reader, sync, redis_conn
):
    """Issue 20, Capgo item 3: a PUT /channel_self right after the same device's POST or DELETE shows the
    change, whichever read process answers it, before any worker has persisted the choice (none runs here:
    the stream is never drained, so the snapshots still hold the old pin). /updates follows the choice
    without a round trip, and an admin's pin outranks the device's earlier choice at once."""

    other_cache, other = _two_channels_and_another_process(capgo, api, world, settings, sync, redis_conn)
    me = device_body(plugin_version="6.2.0")
    assert other.simulate_put("/channel_self", json=me).json["channel"] == "production"
    assert other.simulate_post("/updates", json=me).json["version"] == "1.2.0"

    assert reader.simulate_post("/channel_self", json=me | {"channel": "beta"}).json["status"] == "ok"
    assert other.simulate_put("/channel_self", json=me).json["channel"] == "beta"  # no worker ran
    deadline = time.monotonic() + 1
    while other.simulate_post("/updates", json=me).json.get("version") != "1.3.0-beta.1":
        assert time.monotonic() < deadline, "the other process never heard of the choice"
        time.sleep(0.005)
    assert reader.simulate_delete("/channel_self", json=me).json["status"] == "ok"
    assert other.simulate_put("/channel_self", json=me).json["channel"] == "production"
    assert (
        other.simulate_delete("/channel_self", json=me).json["error"] == "cannot_override"
    )  # nothing set now

    # An admin's pin after the device's choice wins at once (the write API forgets the choice).
    assert reader.simulate_post("/channel_self", json=me | {"channel": "beta"}).json["status"] == "ok"
    capgo("POST", "/device", {"app_id": PKG, "device_id": me["device_id"], "channel": "production"})
    sync()
    other_cache.refresh(redis_conn)
    assert other.simulate_put("/channel_self", json=me).json["channel"] == "production"
    assert reader.simulate_post("/updates", json=me).json["version"] == "1.2.0"


def _no_choices_subscription(deadline_s: float = 5.0) -> None:
    """Each simulated request runs the read app's whole lifespan, whose end stops the choices subscription
    (its thread leaves within its one-second read): wait until no process of this test listens."""
    deadline = time.monotonic() + deadline_s
    while any(t.name == "capgo-choices" and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a choices subscription never stopped"
        time.sleep(0.05)


def test_an_admin_pin_wins_where_a_process_missed_the_forget(
    capgo, api, world, settings, reader, sync, redis_conn
):
    """A read process that held a device's own choice while no subscription listened (Redis restarted, or
    between subscriptions) missed the message by which an admin's pin forgets that choice. CI caught it: the
    choice outranked the pin. The snapshot holding the pin arrives after the forget, so the process squares
    its memory with Redis then and answers with the admin's pin."""
    other_cache, other = _two_channels_and_another_process(capgo, api, world, settings, sync, redis_conn)
    me = device_body(plugin_version="6.2.0")
    assert other.simulate_post("/channel_self", json=me | {"channel": "beta"}).json["status"] == "ok"
    assert other.simulate_post("/updates", json=me).json["version"] == "1.3.0-beta.1"
    _no_choices_subscription()

    capgo("POST", "/device", {"app_id": PKG, "device_id": me["device_id"], "channel": "production"})
    sync()
    other_cache.refresh(redis_conn)
    assert other.simulate_post("/updates", json=me).json["version"] == "1.2.0"
    assert other.simulate_put("/channel_self", json=me).json["channel"] == "production"


def test_a_choices_subscription_squares_what_it_missed_when_it_starts(settings, redis_conn):
    """A forget published while a process's subscription was down is applied when it subscribes again."""
    from api.dialects.capgo.choices import Choices, forget

    package, device = "com.example." + uid("choice"), "dev-1"
    mine = Choices(settings.redis_url)
    assert mine.record(package, device, "beta")
    mine.stop()
    _no_choices_subscription()
    forget(redis_conn, package, device)
    assert mine._held.get((package, device)) is not None  # nothing listened: still held
    deadline = time.monotonic() + 5
    while mine.held(package, device) != (False, None):  # held() starts the subscription again
        assert time.monotonic() < deadline, "the restarted subscription kept the forgotten choice"
        time.sleep(0.02)
    mine.stop()


def test_a_space_in_a_query_version_is_the_plus_of_a_build(capgo, api, world, reader, sync):
    """Issue 20 (AppCockpit's item, on the other dialects): a client that puts `1.0.0+7` in a query string
    without encoding sends `1.0.0 7`; DELETE /channel_self reads it as 1.0.0+7 instead of a semver_error."""
    upload(api, world, "1.2.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    sync()
    params = {
        k: str(v).lower() if isinstance(v, bool) else v
        for k, v in device_body(plugin_version="8.1.0").items()
    }
    res = reader.simulate_delete(
        "/channel_self", query_string=urlencode(params | {"version_build": "1.0.0 7"}, quote_via=quote)
    )
    assert res.status_code == 200 and res.json["status"] == "ok", res.json
    bad = reader.simulate_delete(
        "/channel_self", query_string=urlencode(params | {"version_build": "1.0 .0"}, quote_via=quote)
    )
    assert (bad.status_code, bad.json["error"]) == (400, "semver_error")


def test_action_counts_are_sent_once_their_interval_has_passed(settings, redis_conn):
    """/stats action counts are totals: a read process gathers them for ``stats_count_interval`` (5 s by
    default) before a flush sends them, and sends what it holds when it stops. Sightings and outcomes
    still leave with every flush."""
    import redis

    from api.read.sightings import Recorder
    from api.settings import Settings

    assert Settings().stats_count_interval == 5.0
    recorder = Recorder(settings.redis_url, interval=3600.0, count_interval=0.3)
    r = redis.Redis.from_url(settings.redis_url)
    redis_conn.delete(events.STREAM)

    def sent() -> list[int]:
        """Each batch's count of "set" on 1.0.0 (its minute may differ: a run can cross one)."""
        batches = [events.decode(fields[b"b"]).actions for _, fields in redis_conn.xrange(events.STREAM)]
        assert all(k[0] == PKG and k[2:] == ("1.0.0", "set") for a in batches for k in a)
        return [sum(a.values()) for a in batches]

    recorder.reported(PKG, uid("counted"), "1.0.0", "set")
    recorder.reported(PKG, uid("counted-too"), "1.0.0", "set")
    recorder.flush(r)
    assert sent() == []  # held: the interval has not passed
    time.sleep(0.35)
    recorder.flush(r)
    assert sent() == [2]
    recorder.reported(PKG, uid("at-the-stop"), "1.0.0", "set")
    recorder.flush(r)
    assert sent() == [2]
    recorder.flush(r, final=True)  # the process stops
    assert sent() == [2, 1]
    recorder.close()


def test_a_stopping_read_process_sends_the_devices_it_saw(api, world, settings, cache, sync, redis_conn):
    """A read process stopping (a deploy, a scale-down) sends the devices seen since its last flush. Its
    flush thread died with it, so every rolling upgrade lost the last half second of devices
    (tests/test_upgrade.py counted 40 of 5,015)."""
    upload(api, world, "1.2.0")
    sync()
    # A flush period longer than the test: only the stop can send the sighting.
    app = create_read_app(settings.model_copy(update={"sighting_flush_interval": 3600.0}), cache)
    redis_conn.delete(events.STREAM)
    device = uid("seen-before-the-stop")

    async def launch_then_stop() -> None:
        async with testing.ASGIConductor(app) as conductor:
            res = await conductor.simulate_post("/updates", json=device_body(device_id=device))
            assert res.status_code == 200
            assert redis_conn.xlen(events.STREAM) == 0  # held until a flush

    asyncio.run(launch_then_stop())
    sent = [events.decode(fields[b"b"])[0] for _, fields in redis_conn.xrange(events.STREAM)]
    assert [s[1] for batch in sent for s in batch] == [device]
    drain(redis_conn)
    assert [d.device_id for d in Device.select().where(Device.device_id == device)] == [device]
