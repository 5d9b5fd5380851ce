"""The distribution server's admin API, upload, public side and exports, over HTTP against real
PostgreSQL and Redis (and moto's S3 server for a team's own bucket)."""

from __future__ import annotations

import csv
import hashlib
import io
import plistlib
import tracemalloc

import boto3
import httpx
import peewee as pw
import pytest
from falcon import testing

from api.write.app import create_write_app
from store import accounts, catalog, products
from store.db import unit_of_work
from store.models import App, Build, DistEvent, DistSettings, IosDevice, Membership, Variant


def multipart(fields: dict, file: tuple[str, bytes] | None = None, file_first: bool = False):
    """A multipart/form-data body as curl -F sends it: (bytes, content type)."""
    boundary = "gatehouse-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    if file:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="app_file"; filename="{file[0]}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        part = head.encode() + file[1] + b"\r\n"
        parts = [part, *parts] if file_first else [*parts, part]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def make_product(dist, slug="myapp", platform="android", **extra):
    product = dist("POST", "/admin/api/products", {"name": "My App", "slug": slug, "description": "Great"})
    assert product.status_code == 201, product.text
    pid = product.json["data"]["product"]["id"]
    variant = dist(
        "POST",
        f"/admin/api/products/{pid}/variants",
        {"platform": platform, "display_name": platform.title(), "identifier": "com.example.my", **extra},
    )
    assert variant.status_code == 201, variant.text
    return pid, variant.json["data"]["variant"]["id"]


def upload(api, world, variant_id, data=b"APK" * 1000, version="1.2.3", build="7", name="app.apk", **fields):
    body, ctype = multipart(
        {"variant_id": variant_id, "version": version, "build": build, "changelog": "Fixes", **fields},
        (name, data),
    )
    return api.simulate_post(
        "/upload", body=body, headers={"X-Auth-Token": world.token, "Content-Type": ctype}
    )


def artifact_files(settings, product_id: str) -> list:
    """The product's release files on local disk (files outlive each test's rolled-back transaction)."""
    root = settings.data_dir / "artifacts" / "dist" / product_id
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_products_crud_in_the_servers_envelope(dist, world):
    created = dist("POST", "/admin/api/products", {"name": "MyApp", "slug": "myapp", "description": "Cross"})
    assert created.status_code == 201
    product = created.json["data"]["product"]
    assert created.json["ok"] is True
    assert {k: product[k] for k in ("slug", "name", "description", "published")} == {
        "slug": "myapp",
        "name": "MyApp",
        "description": "Cross",
        "published": True,
    }
    # A taken slug takes the next free one, as the distribution server does (issue 20: it answered 409).
    taken = dist("POST", "/admin/api/products", {"name": "Other", "slug": "myapp"})
    assert taken.status_code == 201 and taken.json["data"]["product"]["slug"] == "myapp-2"
    dist("DELETE", f"/admin/api/products/{taken.json['data']['product']['id']}")
    # No slug given: one is made from the name, and kept unique.
    assert (
        dist("POST", "/admin/api/products", {"name": "My App!"}).json["data"]["product"]["slug"] == "my-app"
    )
    assert (
        dist("POST", "/admin/api/products", {"name": "My App"}).json["data"]["product"]["slug"] == "my-app-2"
    )
    listed = dist("GET", "/admin/api/products").json["data"]
    # world's own app (made through the admin API) is a product too.
    assert listed["total"] == 4 and {p["slug"] for p in listed["items"]} >= {"myapp", "demo"}
    assert dist("GET", "/admin/api/products", params={"q": "myapp"}).json["data"]["total"] == 1
    pid = product["id"]
    updated = dist("PUT", f"/admin/api/products/{pid}", {"name": "Renamed", "slug": "renamed"}).json["data"]
    assert (updated["product"]["name"], updated["product"]["slug"]) == ("Renamed", "renamed")
    assert App.get(App.public_id == pid).title == "Renamed"
    assert dist("PUT", f"/admin/api/products/{pid}", {"name": 5}).json["error"]["code"] == "BAD_REQUEST"
    assert dist("POST", "/admin/api/products", {"slug": "x"}).json == {
        "ok": False,
        "error": {"code": "BAD_REQUEST", "message": "name is required"},
    }
    got = dist("GET", f"/admin/api/products/{pid}").json["data"]
    assert got["product"]["id"] == pid and got["variants"] == []


def test_a_misspelt_field_is_refused_and_the_admin_uis_bodies_are_taken(dist, world):
    """Issue 21: the distribution bodies refuse unknown keys as every other room's do (an unknown key was
    dropped with a 200). fenfa's admin UI sends only the documented fields (web/admin/src/pages/AppsPage.vue)."""
    pid = dist("POST", "/admin/api/products", {"name": "Field", "slug": "field", "description": ""}).json[
        "data"
    ]["product"]["id"]
    misspelt = dist("PUT", f"/admin/api/products/{pid}", {"publihsed": False})
    assert misspelt.status_code == 400
    assert misspelt.json["ok"] is False and misspelt.json["error"]["code"] == "BAD_REQUEST"
    assert "publihsed" in misspelt.json["error"]["message"]
    assert App.get(App.public_id == pid).published is True
    assert (
        dist("PUT", f"/admin/api/products/{pid}", {"published": False}).json["data"]["product"]["published"]
        is False
    )
    variant = dist("POST", f"/admin/api/products/{pid}/variants", {"platform": "android", "extra": 1})
    assert variant.status_code == 400


def test_a_product_is_an_app_and_a_release_a_version_for_updateforge(api, dist, world, settings):
    pid, vid = make_product(dist)
    res = upload(api, world, vid, data=b"hello apk")
    assert res.status_code == 201, res.text
    release = res.json["data"]["release"]
    jwt = api.simulate_post(
        "/api/v1/auth", json={"email": "owner@example.com", "password": "correct horse battery"}
    ).json["token"]
    apps = api.simulate_get("/api/v1/apps", headers={"Authorization": f"Bearer {jwt}"}).json
    mine = {a["id"]: a for t in apps["teams"] for a in t["apps"]}
    assert mine[pid]["title"] == "My App"
    current = mine[pid]["release"]["current"]
    assert current["version"] == "1.2.3"
    download = api.simulate_get(
        f"/api/v1/versions/{current['id']}/download", headers={"Authorization": f"Bearer {jwt}"}
    )
    assert (download.status_code, download.content) == (200, b"hello apk")
    assert Build.get(Build.release_id == release["id"]).variant.public_id == vid
    # And an app made elsewhere is a product here.
    assert world.app_id in {p["id"] for p in dist("GET", "/admin/api/products").json["data"]["items"]}


def test_auth_and_scoping(api, dist, world, other_world):
    pid, vid = make_product(dist)
    assert dist("GET", "/admin/api/products", token="").json == {
        "ok": False,
        "error": {"code": "UNAUTHORIZED", "message": "invalid or missing X-Auth-Token"},
    }
    assert dist("GET", "/admin/api/products", token="gh_wrong").status_code == 401
    # A Bearer header is not this API's credential.
    assert api.simulate_get("/admin/api/products", headers=world.auth).status_code == 401
    rival = other_world.token
    assert dist("GET", f"/admin/api/products/{pid}", token=rival).json["error"] == {
        "code": "NOT_FOUND",
        "message": "app not found",
    }
    assert dist("DELETE", f"/admin/api/variants/{vid}", token=rival).status_code == 404
    assert pid not in dist("GET", "/admin/api/products", token=rival).text
    with unit_of_work():
        member = accounts.create_user("m@example.com", "member password", "member")
        Membership.create(team=world.team, user=member)
        member_token = accounts.issue_user_token(member)
    assert dist("GET", "/admin/api/products", token=member_token).json["error"]["code"] == "FORBIDDEN"
    assert Variant.get(Variant.public_id == vid)


def test_a_user_of_several_teams_names_the_team(dist, world):
    with unit_of_work():
        second = accounts.create_team(world.user, "Second")
    res = dist("POST", "/admin/api/products", {"name": "Two"})
    assert res.json["error"] == {
        "code": "BAD_REQUEST",
        "message": "team_id is required: you belong to several teams",
    }
    res = dist("POST", "/admin/api/products", {"name": "Two", "team_id": second.id})
    assert res.status_code == 201 and res.json["data"]["product"]["team_id"] == second.id
    assert dist("GET", "/admin/api/settings").status_code == 400
    assert (
        dist("GET", "/admin/api/settings", params={"team_id": second.id}).json["data"]["team_id"] == second.id
    )


def test_variants_update_stats_and_cascades(api, dist, world, settings):
    pid, vid = make_product(dist)
    assert dist(
        "POST",
        f"/admin/api/products/{pid}/variants",
        {"platform": "symbian", "display_name": "x", "identifier": "y"},
    ).json["error"] == {
        "code": "BAD_REQUEST",
        "message": "platform must be one of ios, android, macos, windows, linux",
    }
    changed = dist("PUT", f"/admin/api/variants/{vid}", {"arch": "arm64", "sort_order": 3}).json["data"][
        "variant"
    ]
    assert (changed["arch"], changed["sort_order"], changed["platform"]) == ("arm64", 3, "android")
    rel = upload(api, world, vid).json["data"]["release"]["id"]
    api.simulate_get(f"/d/{rel}")
    stats = dist("GET", f"/admin/api/variants/{vid}/stats").json["data"]
    assert stats["releases"][0]["download_count"] == 1 and stats["total_downloads"] == 1
    assert len(artifact_files(settings, pid)) == 1
    assert dist("DELETE", f"/admin/api/variants/{vid}").json == {
        "ok": True,
        "data": {"id": vid, "deleted": True},
    }
    assert Variant.get_or_none(Variant.public_id == vid) is None
    assert Build.get_or_none(Build.release_id == rel) is None
    assert artifact_files(settings, pid) == []


def test_upload_streams_and_refuses_cleanly(api, dist, world, settings):
    pid, vid = make_product(dist, platform="ios")
    data = bytes(range(256)) * 4096  # 1 MiB
    res = upload(api, world, vid, data=data, name="My App.ipa")
    assert res.status_code == 201, res.text
    answer = res.json["data"]
    rel = answer["release"]["id"]
    assert answer["release"] == {"id": rel, "version": "1.2.3", "build": 7}
    assert answer["app"] == {"id": pid, "name": "My App", "platform": "ios", "bundle_id": "com.example.my"}
    assert answer["urls"]["download"].endswith(f"/d/{rel}")
    assert answer["urls"]["ios_install"].startswith("itms-services://?action=download-manifest&url=")
    row = Build.get(Build.release_id == rel)
    assert (row.file_size, row.file_sha256, row.file_name) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        "My_App.ipa",
    )
    assert (row.build_number, row.changelog, row.build_type) == (7, "Fixes", "release")
    before = artifact_files(settings, pid)
    refusals = [
        upload(api, world, vid, version="not a version!"),
        upload(api, world, vid, build="seven"),
        upload(api, world, "var_nope"),
    ]
    assert [(r.status_code, r.json["error"]["code"]) for r in refusals] == [
        (400, "BAD_REQUEST"),
        (400, "BAD_REQUEST"),
        (404, "NOT_FOUND"),
    ]
    body, ctype = multipart({"variant_id": vid, "version": "2.0.0"}, ("a.ipa", b"x"), file_first=True)
    late = api.simulate_post(
        "/upload", body=body, headers={"X-Auth-Token": world.token, "Content-Type": ctype}
    )
    assert late.json["error"] == {"code": "BAD_REQUEST", "message": "variant_id is required, before app_file"}
    # variant_id in the query string serves clients that put the file first.
    ok = api.simulate_post(
        "/upload",
        body=body,
        params={"variant_id": vid},
        headers={"X-Auth-Token": world.token, "Content-Type": ctype},
    )
    assert ok.status_code == 201
    no_file, ctype2 = multipart({"variant_id": vid})
    assert (
        api.simulate_post(
            "/upload", body=no_file, headers={"X-Auth-Token": world.token, "Content-Type": ctype2}
        ).json["error"]["message"]
        == "app_file is required"
    )
    assert (
        api.simulate_post("/upload", json={"variant_id": vid}, headers={"X-Auth-Token": world.token}).json[
            "error"
        ]["code"]
        == "UNSUPPORTED_MEDIA_TYPE"
    )
    # A body cut short stores nothing.
    cut = body[: len(body) // 2]
    res = api.simulate_post(
        "/upload",
        body=cut,
        params={"variant_id": vid},
        headers={"X-Auth-Token": world.token, "Content-Type": ctype},
    )
    assert res.status_code == 400
    assert len(artifact_files(settings, pid)) == len(before) + 1  # only the good query-string upload
    assert Build.select().where(Build.variant.is_null(False)).count() == 2


def test_an_upload_past_the_limit_is_refused_and_leaves_nothing(settings, redis_conn, world):
    from api.write.app import create_write_app

    small = testing.TestClient(
        create_write_app(settings.model_copy(update={"upload_max_bytes": 1000}), redis_conn)
    )
    call = small.simulate_request
    pid = call("POST", "/admin/api/products", json={"name": "Big"}, headers={"X-Auth-Token": world.token})
    pid = pid.json["data"]["product"]["id"]
    vid = call(
        "POST",
        f"/admin/api/products/{pid}/variants",
        json={"platform": "android", "display_name": "A", "identifier": "com.big"},
        headers={"X-Auth-Token": world.token},
    ).json["data"]["variant"]["id"]
    body, ctype = multipart({"variant_id": vid, "version": "1.0.0"}, ("big.apk", b"x" * 5000))
    res = small.simulate_post(
        "/upload", body=body, headers={"X-Auth-Token": world.token, "Content-Type": ctype}
    )
    assert (res.status_code, res.json["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert (
        artifact_files(settings, pid) == []
        and Build.select().where(Build.variant.is_null(False)).count() == 0
    )


def test_delete_product_cascades_after_commit_and_a_failed_delete_keeps_everything(
    api, dist, world, settings, monkeypatch
):
    pid, vid = make_product(dist)
    rel = upload(api, world, vid).json["data"]["release"]["id"]
    files = artifact_files(settings, pid)
    assert len(files) == 1

    def broken(app_id):
        raise RuntimeError("the outbox is down")

    monkeypatch.setattr(products, "mark_stale", broken)
    assert dist("DELETE", f"/admin/api/products/{pid}").status_code == 500
    assert artifact_files(settings, pid) == files and Build.get(Build.release_id == rel)
    assert Variant.get(Variant.public_id == vid) and App.get(App.public_id == pid).deleted_at is None
    monkeypatch.undo()
    assert dist("DELETE", f"/admin/api/products/{pid}").json["data"] == {"id": pid, "deleted": True}
    assert artifact_files(settings, pid) == [] and Variant.get_or_none(Variant.public_id == vid) is None
    assert dist("GET", f"/admin/api/products/{pid}").status_code == 404
    assert api.simulate_get("/products/myapp").status_code == 404
    # The slug is free again.
    assert dist("POST", "/admin/api/products", {"name": "Again", "slug": "myapp"}).status_code == 201


def test_release_delete_removes_its_file(api, dist, world, settings):
    pid, vid = make_product(dist)
    rel = upload(api, world, vid).json["data"]["release"]["id"]
    assert dist("DELETE", f"/admin/api/releases/{rel}").json == {
        "ok": True,
        "data": {"id": rel, "deleted": True},
    }
    assert (
        artifact_files(settings, pid) == []
        and dist("DELETE", f"/admin/api/releases/{rel}").status_code == 404
    )


def test_publish_page_and_events(api, dist, world):
    pid, vid = make_product(dist)
    rel = upload(api, world, vid).json["data"]["release"]["id"]
    upload(api, world, vid, version="1.3.0", build="8")
    assert dist("PUT", f"/admin/api/apps/{pid}/unpublish").json["data"] == {"id": pid, "published": False}
    hidden = api.simulate_get("/products/myapp")
    assert (
        hidden.status_code == 404
        and "Not found" in hidden.text
        and hidden.headers["content-type"].startswith("text/html")
    )
    assert api.simulate_get(f"/d/{rel}").status_code == 404
    assert dist("PUT", f"/admin/api/apps/{pid}/publish").json["data"]["published"] is True
    page = api.simulate_get("/products/myapp")
    assert page.status_code == 200 and page.headers["cache-control"] == "public, no-cache"
    html = page.text
    assert '<html lang="en">' in html and "My App" in html and "Great" in html
    assert "Version 1.3.0 · build 8" in html and "Older releases (1)" in html
    assert (
        f'action="/products/myapp/get/{rel}"' in html
        and '<button type="submit">Download 1.3.0</button>' in html
    )
    assert "<svg" in html and "QR code" in html
    again = api.simulate_get("/products/myapp", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert api.simulate_get("/products/nope").status_code == 404
    click = api.simulate_get(f"/products/myapp/get/{rel}")
    assert click.status_code == 302 and click.headers["location"].endswith(f"/d/{rel}")
    assert api.simulate_get(f"/products/other/get/{rel}").status_code == 404
    # A download resumed through several Range requests counts once per client; another client counts.
    for r in ("bytes=0-99", "bytes=100-", None):
        got = api.simulate_get(f"/d/{rel}", headers={"Range": r} if r else {})
        assert got.status_code in (200, 206)
    api.simulate_get(f"/d/{rel}", headers={"User-Agent": "other phone"})
    events = dist("GET", "/admin/api/events").json["data"]
    assert events["total"] == 5
    assert [e["type"] for e in events["items"]] == ["download", "download", "click", "visit", "visit"]
    downloads = dist("GET", "/admin/api/events", params={"type": "download", "release_id": rel}).json["data"]
    assert downloads["total"] == 2 and downloads["items"][0]["variant_id"] == vid
    assert (
        dist("GET", "/admin/api/events", params={"type": "visit", "limit": 1, "offset": 1}).json["data"][
            "items"
        ][0]["type"]
        == "visit"
    )
    assert dist("GET", "/admin/api/events", params={"type": "bogus"}).status_code == 400
    assert dist("GET", "/admin/api/events", params={"variant_id": "var_none"}).json["data"]["total"] == 0


def test_ios_manifest_and_install_link(api, dist, world):
    pid, vid = make_product(dist, platform="ios")
    rel = upload(api, world, vid, name="app.ipa").json["data"]["release"]["id"]
    with unit_of_work():
        DistSettings.create(team=world.team, primary_domain="dist.example.com")
    manifest = api.simulate_get(f"/ios/{rel}/manifest.plist")
    assert manifest.headers["content-type"] == "application/xml"
    doc = plistlib.loads(manifest.content)["items"][0]
    assert doc["assets"] == [{"kind": "software-package", "url": f"https://dist.example.com/d/{rel}"}]
    assert doc["metadata"] == {
        "bundle-identifier": "com.example.my",
        "bundle-version": "1.2.3",
        "kind": "software",
        "title": "My App",
    }
    click = api.simulate_get(f"/products/myapp/get/{rel}")
    assert click.headers["location"] == (
        "itms-services://?action=download-manifest&url=https%3A%2F%2Fdist.example.com%2Fios%2F"
        f"{rel}%2Fmanifest.plist"
    )
    page = api.simulate_get("/products/myapp").text
    assert "https://dist.example.com/products/myapp" in page and "Register this device" in page
    _, android = make_product(dist, slug="droid")
    arel = upload(api, world, android).json["data"]["release"]["id"]
    assert api.simulate_get(f"/ios/{arel}/manifest.plist").status_code == 404


def test_settings_keep_secrets_sealed_and_masked(dist, world):
    res = dist(
        "PUT",
        "/admin/api/settings",
        {
            "primary_domain": "dist.example.com",
            "secondary_domains": ["cdn.example.com"],
            "organization": "Acme",
            "s3_access_key": "AKIAEXAMPLEKEY1234",
            "s3_secret_key": "very-secret-value",
            "apple_key_id": "ABC123DEF4",
            "apple_private_key": "-----BEGIN PRIVATE KEY-----\nxyz\n-----END PRIVATE KEY-----",
        },
    )
    data = res.json["data"]
    assert res.status_code == 200
    assert (data["s3_access_key"], data["s3_secret_key"], data["apple_private_key"]) == (
        "********1234",
        "********",
        "********",
    )
    assert "very-secret-value" not in res.text and "xyz" not in res.text
    row = DistSettings.get(DistSettings.team == world.team)
    assert "very-secret" not in row.s3_secret_key_sealed and row.secondary_domains == ["cdn.example.com"]
    got = dist("GET", "/admin/api/settings").json["data"]
    assert (
        got["organization"] == "Acme"
        and got["s3_secret_key"] == "********"
        and got["apple_configured"] is False
    )
    assert dist("PUT", "/admin/api/settings", {"storage_type": "ftp"}).json["error"]["message"] == (
        "storage_type must be local or s3"
    )
    assert dist("PUT", "/admin/api/settings", {"storage_type": "s3"}).json["error"]["message"] == (
        "s3_bucket is required when storage_type is s3"
    )
    # A secret sent as "" is cleared; one left out is kept.
    dist("PUT", "/admin/api/settings", {"s3_secret_key": ""})
    after = dist("GET", "/admin/api/settings").json["data"]
    assert after["s3_secret_key"] == "" and after["s3_access_key"] == "********1234"
    config = dist("GET", "/admin/api/upload-config").json["data"]
    assert config["storage_type"] == "local" and config["max_upload_bytes"] > 0
    from store.models import AuditEntry

    audited = [e.changes for e in AuditEntry.select().where(AuditEntry.resource == "dist_settings")]
    assert audited and all("very-secret" not in str(c) for c in audited)


def test_a_storage_switch_applies_to_new_uploads_and_old_files_stay_readable(
    settings, redis_conn, world, s3_endpoint
):
    # moto listens on loopback: the operator's setting lets teams use private addresses.
    api = testing.TestClient(
        create_write_app(settings.model_copy(update={"storage_allow_private": True}), redis_conn)
    )

    def dist(method, path, body=None):
        return api.simulate_request(method, path, json=body, headers={"X-Auth-Token": world.token})

    bucket = "team-dist"
    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ).create_bucket(Bucket=bucket)
    pid, vid = make_product(dist)
    local_rel = upload(api, world, vid, data=b"on local disk").json["data"]["release"]["id"]
    dist(
        "PUT",
        "/admin/api/settings",
        {
            "storage_type": "s3",
            "s3_endpoint": s3_endpoint,
            "s3_bucket": bucket,
            "s3_access_key": "k",
            "s3_secret_key": "s",
        },  # fmt: skip
    )
    s3_rel = upload(api, world, vid, data=b"in the team's bucket", version="2.0.0").json["data"]["release"][
        "id"
    ]
    row = Build.get(Build.release_id == s3_rel)
    assert row.file_backend == f"s3|{s3_endpoint}||{bucket}"
    objects = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ).list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in objects] == [row.file_key]
    redirect = api.simulate_get(f"/d/{s3_rel}")
    assert redirect.status_code == 302
    assert httpx.get(redirect.headers["location"]).content == b"in the team's bucket"
    assert api.simulate_get(f"/d/{local_rel}").content == b"on local disk"
    dist("PUT", "/admin/api/settings", {"storage_type": "local"})
    assert Build.get(Build.release_id == s3_rel).file_backend.startswith("s3|")
    assert httpx.get(api.simulate_get(f"/d/{s3_rel}").headers["location"]).content == b"in the team's bucket"
    # Deleting the product removes the file from the bucket it is on.
    dist("DELETE", f"/admin/api/products/{pid}")
    assert "Contents" not in boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ).list_objects_v2(Bucket=bucket)


def _rows(res) -> list[list[str]]:
    return list(csv.reader(io.StringIO(res.text)))


def test_exports_escape_and_neutralise_formulas(api, dist, world):
    created = dist("POST", "/admin/api/products", {"name": '=HYPERLINK("http://evil","x")', "slug": "evil"})
    pid = created.json["data"]["product"]["id"]
    vid = dist(
        "POST",
        f"/admin/api/products/{pid}/variants",
        {"platform": "android", "display_name": "A", "identifier": "+com.evil"},
    ).json["data"]["variant"]["id"]
    rel = upload(api, world, vid, channel='beta, "quoted"\nline').json["data"]["release"]["id"]
    api.simulate_get("/products/evil", headers={"User-Agent": "@SUM(1+1)"})
    releases = dist("GET", "/admin/exports/releases.csv")
    assert releases.headers["content-type"].startswith("text/csv")
    assert 'filename="releases.csv"' in releases.headers["content-disposition"]
    rows = _rows(releases)
    assert rows[0][:4] == ["release_id", "product_id", "product_slug", "product_name"]
    (line,) = [r for r in rows if r[0] == rel]
    assert line[3] == '\'=HYPERLINK("http://evil","x")' and line[6] == "'+com.evil"
    assert line[9] == 'beta, "quoted"\nline'
    events = _rows(dist("GET", "/admin/exports/events.csv"))
    assert events[0] == ["id", "ts", "type", "app_id", "variant_id", "release_id", "ip", "ua"]
    assert events[1][2] == "visit" and events[1][7] == "'@SUM(1+1)"
    assert _rows(dist("GET", "/admin/exports/ios_devices.csv"))[0][1] == "udid"
    assert dist("GET", "/admin/exports/events.csv", token="").status_code == 401


@pytest.mark.slow  # 200,000 rows: outside make check
def test_the_events_export_streams_200000_rows_in_constant_memory(write_app, world):
    """The export's peak Python allocation is the same for 20,000 events as for 200,000."""
    from store.db import db

    def add(n: int) -> None:
        db.execute_sql(
            "INSERT INTO dist_event (app_id, type, ip, ua, created_at) SELECT %s, 'visit', "
            "'10.0.0.' || (g %% 250), 'Mozilla/5.0 (iPhone) agent ' || g, now() FROM generate_series(1, %s) g",
            (world.app.id, n),
        )

    def export() -> tuple[int, int, int]:
        env = testing.create_environ(path="/admin/exports/events.csv", headers={"X-Auth-Token": world.token})
        statuses, sent, rows = [], 0, 0
        tracemalloc.start()
        for chunk in write_app(env, lambda status, headers: statuses.append(status)):
            sent += len(chunk)
            rows += chunk.count(b"\r\n")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert statuses == ["200 OK"]
        return rows - 1, sent, peak

    add(20_000)
    small = export()
    add(180_000)
    large = export()
    print(f"events.csv: {small[0]} rows {small[1] / 1e6:.1f} MB, peak {small[2] / 1e6:.1f} MB; "
          f"{large[0]} rows {large[1] / 1e6:.1f} MB, peak {large[2] / 1e6:.1f} MB")  # fmt: skip
    assert (small[0], large[0]) == (20_000, 200_000)
    assert large[2] < small[2] * 1.5 and large[2] < large[1] / 2


def test_ios_device_listing_filters_by_variant(dist, world):
    from store import ios_devices

    pid, vid = make_product(dist, platform="ios")
    _, other = make_product(dist, slug="second", platform="ios")
    with unit_of_work():
        variant = Variant.get(Variant.public_id == vid)
        second = Variant.get(Variant.public_id == other)
        one = ios_devices.Capture("00008030-001A2B3C4D5E6F70", "iPhone15,2", "17.1", "F2LX", "Ann's phone")
        two = ios_devices.Capture("00008030-00AAAAAAAAAAAAAA", "iPhone14,5", "16.0", "G7", "")
        ios_devices.bind_device(variant, one, "10.0.0.1")
        ios_devices.bind_device(second, two, "10.0.0.2")
        ios_devices.bind_device(second, one, "10.0.0.1")  # the same device, a second variant
    listed = dist("GET", "/admin/api/ios_devices").json["data"]
    assert listed["total"] == 2 and IosDevice.select().count() == 2
    only = dist("GET", "/admin/api/ios_devices", params={"variant_id": vid}).json["data"]
    assert [d["udid"] for d in only["items"]] == ["00008030-001A2B3C4D5E6F70"]
    assert sorted(only["items"][0]["variants"]) == sorted([vid, other])
    assert only["items"][0]["model"] == "iPhone15,2" and only["items"][0]["apple_registered"] is False


def test_healthz(api):
    assert api.simulate_get("/healthz").json == {"ok": True}


def test_products_made_here_and_elsewhere_share_the_package_rule(dist, world, other_world):
    """The app record is shared: a product's slug and an app's package identifier live side by side."""
    with unit_of_work():
        app = catalog.create_app(world.user, world.team.id, "Elsewhere", "com.example.elsewhere")
    assert app.slug == "elsewhere"
    res = dist("GET", f"/admin/api/products/{app.public_id}").json["data"]["product"]
    assert (res["slug"], res["published"]) == ("elsewhere", False)
    assert DistEvent.select().count() == 0


def test_release_uploads_and_publishing_are_announced_to_webhooks(api, dist, world):
    from store import webhooks
    from store.models import WebhookDelivery

    with unit_of_work():
        webhooks.create_endpoint(
            world.user,
            world.team.id,
            "https://hooks.example.com/d",
            ["release.uploaded", "product.published"],
            b"k",
        )
    pid, vid = make_product(dist)
    upload(api, world, vid)
    dist("PUT", f"/admin/api/apps/{pid}/unpublish")
    dist("PUT", f"/admin/api/apps/{pid}/publish")
    events = [d.event for d in WebhookDelivery.select().order_by(WebhookDelivery.id)]
    assert events == ["product.published", "release.uploaded", "product.published"]


def test_the_page_shows_the_apps_icon_with_alt_text(api, dist, world):
    pid, vid = make_product(dist)
    upload(api, world, vid)
    App.update(icon="icon.png").where(App.public_id == pid).execute()
    page = api.simulate_get("/products/myapp").text
    assert f'<img src="/api/files/apps/{pid}/icon.png" alt="My App icon" width="72" height="72">' in page


@pytest.mark.parametrize("export", ["releases.csv", "events.csv", "ios_devices.csv"])
def test_a_member_is_refused_an_export_before_it_starts(api, dist, world, export):
    """The role is checked before the streamed body begins: a 403 in the envelope, not a 200 cut short."""
    with unit_of_work():
        member = accounts.create_user("reader@example.com", "member password", "member")
        Membership.create(team=world.team, user=member)
        token = accounts.issue_user_token(member)
    res = dist("GET", f"/admin/exports/{export}", token=token)
    assert (res.status_code, res.json) == (
        403,
        {"ok": False, "error": {"code": "FORBIDDEN", "message": "admin role required"}},
    )


def test_ios_variants_for_the_devices_filter(dist, world, other_world, api):
    """Issue 20, fenfa UI item 2: GET /admin/api/ios_variants was 404."""
    pid, ios = make_product(dist, slug="iosapp", platform="ios")
    make_product(dist, slug="droid", platform="android")
    res = dist("GET", "/admin/api/ios_variants")
    assert res.status_code == 200
    assert res.json["data"]["items"] == [
        {
            "id": ios,
            "identifier": "com.example.my",
            "display_name": "Ios",
            "product_id": pid,
            "product_name": "My App",
        }
    ]
    rival = api.simulate_get("/admin/api/ios_variants", headers={"X-Auth-Token": other_world.token})
    assert rival.json["data"]["items"] == []


def test_a_variant_needs_only_its_platform(dist):
    """Issue 20, fenfa UI item 1: the UI's form says name and identifier are optional; both answered 400."""
    product = dist("POST", "/admin/api/products", {"name": "Only Platform", "slug": "only-platform"})
    pid = product.json["data"]["product"]["id"]
    res = dist(
        "POST",
        f"/admin/api/products/{pid}/variants",
        {"platform": "ios", "display_name": "", "identifier": ""},
    )
    assert res.status_code == 201, res.json
    variant = res.json["data"]["variant"]
    assert variant["display_name"] == "Only Platform" and variant["identifier"] == ""
    assert dist("POST", f"/admin/api/products/{pid}/variants", {"platform": "android"}).status_code == 201


def test_a_taken_slug_takes_the_next_free_one(dist):
    """Issue 20, fenfa UI item 7: as the distribution server does, 201 with -2, -3... instead of 409."""
    slugs = [
        dist("POST", "/admin/api/products", {"name": "Same", "slug": "same"}).json["data"]["product"]["slug"]
        for _ in range(3)
    ]
    assert slugs == ["same", "same-2", "same-3"]


def test_settings_keep_the_upload_domain_and_refuse_unknown_fields(dist):
    """Issue 20, fenfa UI item 5: upload_domain was dropped, s3_configured missing, unknown fields ignored."""
    res = dist("PUT", "/admin/api/settings", {"upload_domain": "upload.example.com"})
    assert res.status_code == 200 and res.json["data"]["upload_domain"] == "upload.example.com"
    got = dist("GET", "/admin/api/settings").json["data"]
    assert got["upload_domain"] == "upload.example.com" and got["s3_configured"] is False
    config = dist("GET", "/admin/api/upload-config").json["data"]
    assert config["upload_domain"] == "upload.example.com" and config["s3_configured"] is False
    unknown = dist("PUT", "/admin/api/settings", {"upload_domian": "typo.example.com"})
    assert unknown.status_code == 400 and "upload_domian" in unknown.json["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("primary_domain", "["),
        ("primary_domain", "https://dl.example.com/path?q=1"),
        ("primary_domain", "ftp://dl.example.com"),
        ("upload_domain", "up load.example.com"),
        ("upload_domain", "user@upload.example.com"),
        ("secondary_domains", ["cdn.example.com", "http://[::1"]),
    ],
)
def test_a_domain_that_cannot_begin_a_link_is_refused(dist, world, field, value):
    """schemathesis found it: a primary_domain of "[" was stored, and every link of the team's pages and
    answers became an unparseable URL. Domains are host names or http(s) origins; nothing is changed."""
    res = dist("PUT", "/admin/api/settings", {field: value})
    assert res.status_code == 400 and res.json["error"]["code"] == "BAD_REQUEST"
    assert field in res.json["error"]["message"]
    assert dist("GET", "/admin/api/settings").json["data"]["primary_domain"] != "["


@pytest.mark.parametrize(
    "value", ["dl.example.com", "https://dl.example.com", "http://dl.example.com:8080/", "[2001:db8::1]:8443"]
)
def test_host_names_and_origins_are_taken_as_domains(dist, world, value):
    assert dist("PUT", "/admin/api/settings", {"primary_domain": value}).status_code == 200


def test_lists_and_exports_honour_their_filters(api, dist, world):
    """Issue 20, fenfa UI item 3: from/to on events, q/from/to on iOS devices and variant_id/from/to on the
    three exports were silently ignored (an export filtered to one variant returned every variant's rows)."""
    import datetime as dt

    from store import ios_devices

    pid, a = make_product(dist, slug="filters-a", platform="ios")
    b = dist("POST", f"/admin/api/products/{pid}/variants", {"platform": "android"}).json["data"]["variant"][
        "id"
    ]
    upload(api, world, a, version="1.0.0")
    upload(api, world, b, version="2.0.0")
    app = App.get(App.public_id == pid)
    old = dt.datetime(2026, 1, 10, 12)
    DistEvent.create(app=app, type="visit", ip="10.0.0.1", ua="old", created_at=old)
    DistEvent.create(
        app=app, type="visit", ip="10.0.0.2", ua="new", created_at=dt.datetime(2026, 1, 20, 23, 59)
    )
    with unit_of_work():
        variant = Variant.get(Variant.public_id == a)
        ios_devices.bind_device(
            variant, ios_devices.Capture("00008030-0000000000000001", "iPhone15,2", "17", "S", "Ann"), "::1"
        )
        ios_devices.bind_device(
            variant, ios_devices.Capture("00008030-0000000000000002", "iPad14,1", "17", "S", "Bob"), "::1"
        )
    IosDevice.update(created_at=old).where(IosDevice.udid.endswith("1")).execute()

    events = dist("GET", "/admin/api/events", params={"from": "2026-01-20", "to": "2026-01-20"}).json["data"]
    assert [e["ua"] for e in events["items"]] == ["new"]  # "to" counts to the end of its day
    devices = dist("GET", "/admin/api/ios_devices", params={"q": "ipad"}).json["data"]["items"]
    assert [d["model"] for d in devices] == ["iPad14,1"]
    devices = dist("GET", "/admin/api/ios_devices", params={"from": "2026-01-01", "to": "2026-01-31"}).json[
        "data"
    ]
    assert [d["model"] for d in devices["items"]] == ["iPhone15,2"]
    releases = _rows(dist("GET", "/admin/exports/releases.csv", params={"variant_id": b}))
    assert [r[4] for r in releases[1:]] == [b]
    visits = _rows(
        dist("GET", "/admin/exports/events.csv", params={"from": "2026-01-01", "to": "2026-01-15"})
    )
    assert [r[7] for r in visits[1:]] == ["old"]
    only_a = _rows(dist("GET", "/admin/exports/ios_devices.csv", params={"variant_id": b}))
    assert only_a[1:] == []
    assert dist("GET", "/admin/api/events", params={"from": "yesterday"}).status_code == 400


def test_a_new_teams_settings_start_from_defaults(dist, world, settings, redis_conn):
    """Issue 20, fenfa UI item 7: a team that never saved settings gets its name as the organization and
    where it reaches Gatehouse as the primary domain, so "View Distribution" has links at once; saving other
    fields keeps the organization and names GATEHOUSE_PUBLIC_URL (never the request's own address)."""
    got = dist("GET", "/admin/api/settings").json["data"]
    assert got["organization"] == "Acme" and got["primary_domain"] == "http://falconframework.org"
    saved = dist("PUT", "/admin/api/settings", {"apple_team_id": "TEAM123456"}).json["data"]
    assert saved["organization"] == "Acme" and saved["primary_domain"] == ""
    assert dist("GET", "/admin/api/settings").json["data"]["primary_domain"] == ""  # saved: what was saved
    with unit_of_work():
        DistSettings.delete().execute()
    public = testing.TestClient(
        create_write_app(settings.model_copy(update={"public_url": "https://dist.example.com/"}), redis_conn)
    )
    auth = {"X-Auth-Token": world.token}
    got = public.simulate_get("/admin/api/settings", headers=auth).json["data"]
    assert got["primary_domain"] == "https://dist.example.com"
    saved = public.simulate_put("/admin/api/settings", json={"apple_team_id": "T1"}, headers=auth).json[
        "data"
    ]
    assert saved["primary_domain"] == "https://dist.example.com"


def _multipart_upload(api, path, token, fields: dict, file_name: str, data: bytes):
    boundary = "gatehouse-parse-boundary"
    body = b""
    for name, value in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="app_file"; filename="{file_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return api.simulate_post(
        path,
        body=body,
        headers={"X-Auth-Token": token, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def test_parse_app_reads_an_ipa_and_an_apk_as_fenfa_answers(api, world):
    from tests import builds

    ios = _multipart_upload(api, "/admin/api/parse-app", world.token, {}, "Notes.ipa", builds.ipa())
    assert ios.status_code == 200, ios.text
    data = ios.json["data"]
    assert {
        k: data[k] for k in ("platform", "bundle_id", "version", "build", "app_name", "min_os", "file_name")
    } == {
        "platform": "ios",
        "bundle_id": "com.example.notes",
        "version": "2.3.0",
        "build": "41",
        "app_name": "Field Notes",
        "min_os": "iOS 15.0",
        "file_name": "Notes.ipa",
    }
    assert data["icon_base64"].startswith("data:image/png;base64,iVBORw0KGgo")
    android = _multipart_upload(api, "/admin/api/parse-app", world.token, {}, "notes.apk", builds.apk())
    got = android.json["data"]
    assert (got["package_name"], got["version_name"], got["version_code"], got["min_sdk"]) == (
        "com.example.notes",
        "3.1.0",
        310,
        "Android 24",
    )
    bad = _multipart_upload(api, "/admin/api/parse-app", world.token, {}, "x.ipa", b"not a zip at all")
    assert (
        bad.status_code == 400
        and bad.json["ok"] is False
        and "not an IPA or APK" in bad.json["error"]["message"]
    )


def test_smart_upload_reads_the_build_fills_the_identifier_and_refuses_a_mismatch(api, world, dist):
    from store.models import Build, Variant
    from tests import builds

    made = dist(
        "POST", f"/admin/api/products/{world.app_id}/variants", {"platform": "ios", "display_name": "iPhone"}
    )
    variant = made.json["data"]["variant"]["id"]
    first = _multipart_upload(
        api,
        "/smart-upload",
        world.token,
        {"variant_id": variant, "changelog": "First"},
        "n.ipa",
        builds.ipa(),
    )
    assert first.status_code == 201, first.text
    release = Build.get(Build.release_id == first.json["data"]["release"]["id"])
    assert (release.version, release.build_number, release.min_os, release.changelog) == (
        "2.3.0",
        41,
        "15.0",
        "First",
    )
    assert Variant.get(Variant.public_id == variant).identifier == "com.example.notes"  # filled by the first
    # The icon read from the build is the product's: on the public page and in UpdateForge's listing.
    icon = api.simulate_get(f"/api/files/apps/{world.app_id}/icon.png")
    assert icon.status_code == 200 and icon.content.startswith(b"\x89PNG") and b"CgBI" not in icon.content
    other = _multipart_upload(
        api,
        "/smart-upload",
        world.token,
        {"variant_id": variant},
        "o.ipa",
        builds.ipa(identifier="com.other.app"),
    )
    assert (
        other.status_code == 400
        and "is not the variant's com.example.notes" in other.json["error"]["message"]
    )
    wrong_platform = _multipart_upload(
        api, "/smart-upload", world.token, {"variant_id": variant}, "a.apk", builds.apk()
    )
    assert wrong_platform.status_code == 400 and "android build" in wrong_platform.json["error"]["message"]
    override = _multipart_upload(
        api,
        "/smart-upload",
        world.token,
        {"variant_id": variant, "version": "2.3.1", "build": "42"},
        "n.ipa",
        builds.ipa(),
    )
    assert override.status_code == 201
    assert Build.select().where(Build.variant == Variant.get(Variant.public_id == variant).id).count() == 2


def test_an_upload_key_is_fenfas_upload_token(api, world, dist):
    from store import api_keys
    from store.db import unit_of_work
    from tests import builds

    with unit_of_work():
        _, key = api_keys.create_key(world.user, world.team.id, "ci", "upload")
    made = dist(
        "POST", f"/admin/api/products/{world.app_id}/variants", {"platform": "android", "display_name": "A"}
    )
    variant = made.json["data"]["variant"]["id"]
    uploaded = _multipart_upload(api, "/smart-upload", key, {"variant_id": variant}, "n.apk", builds.apk())
    assert uploaded.status_code == 201, uploaded.text
    parse = _multipart_upload(api, "/admin/api/parse-app", key, {}, "n.apk", builds.apk())
    assert parse.status_code == 403 and parse.json["ok"] is False


def test_malformed_query_parameters_are_refused_not_swallowed(dist):
    """Found when schemathesis first fuzzed the distribution API with its own header: a team_id of 0 made
    the Apple status answer 200 "not configured", and a search past its documented 200 characters was cut
    instead of refused."""
    status = dist("GET", "/admin/api/apple/status", params={"team_id": "0"})
    assert (
        status.status_code == 400 and "team_id must be an integer from 1" in status.json["error"]["message"]
    )
    devices = dist("GET", "/admin/api/ios_devices", params={"q": "0" * 201})
    assert (
        devices.status_code == 400 and devices.json["error"]["message"] == "q must be at most 200 characters"
    )
    assert dist("GET", "/admin/api/ios_devices", params={"q": "0" * 200}).status_code == 200


def test_a_product_s_newest_events_are_read_off_its_index_not_sorted(dist, world, monkeypatch):
    """The console's distribution page lists a product's newest 50 events. Joined through the product's
    public id, PostgreSQL guessed a handful of events and sorted every one of the app's (250 ms a page at
    100,000 in the console bench); the query now names the app's id and reads (app_id, id) backwards."""
    from store import product_pages
    from store.db import db

    pid, _ = make_product(dist)
    other, _ = make_product(dist, slug="other")
    ids = {p: App.get(App.public_id == p).id for p in (pid, other)}
    for product, n in ((pid, 3_000), (other, 30_000)):  # the product's events the older
        db.execute_sql(
            "INSERT INTO dist_event (app_id, type, ip, ua, created_at) "
            "SELECT %s, 'visit', '10.0.0.1', 'agent ' || g, now() FROM generate_series(1, %s) g",
            (ids[product], n),
        )
    db.execute_sql("ANALYZE dist_event")
    db.execute_sql("ANALYZE app")
    statements: list[tuple[str, tuple]] = []
    execute = type(db.obj).execute_sql

    def recording(self, sql, params=None, *args, **kwargs):
        statements.append((sql, params))
        return execute(self, sql, params, *args, **kwargs)

    monkeypatch.setattr(type(db.obj), "execute_sql", recording)
    events, total = product_pages.list_events(world.user, None, None, None, 50, 0, product_id=pid)
    monkeypatch.undo()
    assert total == 3_000 and len(events) == 50
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    assert {e["product_id"] for e in events} == {pid}
    newest = DistEvent.select(pw.fn.MAX(DistEvent.id)).where(DistEvent.app == ids[pid]).scalar()
    assert events[0]["id"] == newest
    (listing,) = [(sql, params) for sql, params in statements if "ORDER BY" in sql]
    plan = "\n".join(line for (line,) in db.execute_sql("EXPLAIN " + listing[0], listing[1]).fetchall())
    assert "dist_event_app_id_id" in plan and "Sort" not in plan, plan
    assert product_pages.list_events(world.user, None, None, None, 50, 0, product_id="app_nosuch") == ([], 0)
