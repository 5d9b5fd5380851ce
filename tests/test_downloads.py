"""UpdateForge downloads (every error row, ranges, validators), version deletion, icons and login limits."""

from __future__ import annotations

import datetime as dt
import hashlib
from email.utils import format_datetime

import httpx
import pytest

from api.write.app import create_write_app
from store import accounts
from store.db import unit_of_work
from store.models import Build, DownloadEvent

DATA = bytes(range(256)) * 40  # 10,240 bytes
PASSWORD = "correct horse battery"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def jwt_for(api, email="owner@example.com", password=PASSWORD):
    return api.simulate_post("/api/v1/auth", json={"email": email, "password": password}).json["token"]


def make_build(api, w, version="1.0.0", data=DATA, filename="Demo 1.0.apk"):
    b = api.simulate_post(
        f"/admin/v1/apps/{w.app_id}/builds",
        json={"build_type": "release", "version": version},
        headers=w.auth,
    ).json
    if data is not None:
        res = api.simulate_put(
            f"/admin/v1/apps/{w.app_id}/builds/{b['id']}/artifact",
            params={"filename": filename},
            body=data,
            headers=w.auth,
        )
        assert res.status_code == 200
    return b["id"]


@pytest.fixture
def dl(api, world):
    """A build with a file and a tester token for it."""
    build_id = make_build(api, world)
    token = jwt_for(api)

    def get(headers=None, method="GET", version=build_id, token=token):
        return api.simulate_request(
            method, f"/api/v1/versions/{version}/download", headers={**bearer(token), **(headers or {})}
        )

    get.build_id, get.token = build_id, token
    return get


def test_download_error_rows(api, world, other_world, dl):
    assert api.simulate_get(f"/api/v1/versions/{dl.build_id}/download").json == {"error": "unauthorized"}
    assert dl(token="not-a-jwt").status_code == 401 and dl(token="x").json == {"error": "unauthorized"}
    for missing in ("999999", "abc", "1e3", "99999999999999999999999"):
        res = dl(version=missing)
        assert (res.status_code, res.json) == (404, {"error": "version not found"})
    rival = dl(token=jwt_for(api, "rival@example.org"))
    assert (rival.status_code, rival.json) == (403, {"error": "forbidden"})
    empty = make_build(api, world, "2.0.0", data=None)
    res = dl(version=empty)
    assert (res.status_code, res.json) == (404, {"error": "no file attached"})
    # A rival does not learn whether another team's version has a file.
    assert dl(version=empty, token=jwt_for(api, "rival@example.org")).json == {"error": "forbidden"}


def test_full_download_headers(dl):
    res = dl()
    build = Build.get_by_id(int(dl.build_id))
    assert res.status_code == 200 and res.content == DATA
    assert res.headers["content-type"] == "application/octet-stream"
    assert res.headers["content-length"] == str(len(DATA))
    assert res.headers["accept-ranges"] == "bytes"
    assert res.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert res.headers["last-modified"] == format_datetime(
        build.file_uploaded_at.replace(tzinfo=dt.UTC), usegmt=True
    )
    assert res.headers["content-disposition"] == (
        "attachment; filename=\"Demo 1.0.apk\"; filename*=UTF-8''Demo%201.0.apk"
    )
    assert "content-range" not in res.headers


def test_non_ascii_filename_uses_rfc6266_filename_star(api, world):
    build_id = make_build(api, world, filename='Spiel "é".apk')
    res = api.simulate_get(f"/api/v1/versions/{build_id}/download", headers=bearer(jwt_for(api)))
    assert res.headers["content-disposition"] == (
        "attachment; filename=\"Spiel ___.apk\"; filename*=UTF-8''Spiel%20%22%C3%A9%22.apk"
    )


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=100-", 100, len(DATA) - 1),
        ("bytes=-3", len(DATA) - 3, len(DATA) - 1),
        ("bytes=-99999", 0, len(DATA) - 1),
        ("bytes=10000-99999", 10000, len(DATA) - 1),
        ("bytes=5-5", 5, 5),
        ("Bytes = 7 - 9", 7, 9),
    ],
)
def test_single_range_answers_206(dl, header, first, last):
    res = dl({"Range": header})
    assert res.status_code == 206
    assert res.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert res.headers["content-length"] == str(last - first + 1)
    assert res.content == DATA[first : last + 1]


@pytest.mark.parametrize(
    "header", [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 5}-{len(DATA) + 9}", "bytes=-0"]
)
def test_unsatisfiable_range_answers_416(dl, header):
    res = dl({"Range": header})
    assert res.status_code == 416
    assert res.headers["content-range"] == f"bytes */{len(DATA)}"
    assert res.json == {"error": "range not satisfiable"}


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=x-y", "items=0-4", "bytes=9-3", "bytes=-"])
def test_multi_and_malformed_ranges_get_the_whole_file(dl, header):
    res = dl({"Range": header})
    assert res.status_code == 200 and res.content == DATA and "content-range" not in res.headers


def test_if_range(dl):
    full = dl()
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    assert dl({"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
    assert dl({"Range": "bytes=0-9", "If-Range": modified}).status_code == 206
    for stale in ('"0000"', f"W/{etag}", "Mon, 01 Jan 2001 00:00:00 GMT", "garbage"):
        res = dl({"Range": "bytes=0-9", "If-Range": stale})
        assert res.status_code == 200 and res.content == DATA


def test_conditional_get_and_head(dl):
    full = dl()
    res = dl({"If-None-Match": full.headers["etag"]})
    assert res.status_code == 304 and res.content == b"" and res.headers["etag"] == full.headers["etag"]
    assert dl({"If-None-Match": '"other"'}).status_code == 200
    assert dl({"If-Modified-Since": full.headers["last-modified"]}).status_code == 304
    head = dl(method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(DATA)) and head.headers["etag"] == full.headers["etag"]
    ranged = dl({"Range": "bytes=-10"}, method="HEAD")
    assert (
        ranged.status_code == 206
        and ranged.headers["content-range"] == f"bytes {len(DATA) - 10}-{len(DATA) - 1}/{len(DATA)}"
    )


def test_a_resumed_download_counts_once_per_user(api, world, root, dl):
    dl({"Range": "bytes=0-999"})
    dl({"Range": "bytes=1000-"})
    dl()
    dl(method="HEAD")
    assert DownloadEvent.select().count() == 1
    with unit_of_work():
        accounts.add_member(root.user, world.team.id, "tester@example.com", PASSWORD, "member")
    dl(token=jwt_for(api, "tester@example.com"))
    listed = api.simulate_get(f"/admin/v1/apps/{world.app_id}/builds", headers=world.auth).json["items"]
    assert [b["downloads"] for b in listed] == [2]
    one = api.simulate_get(f"/admin/v1/apps/{world.app_id}/builds/{dl.build_id}", headers=world.auth).json
    assert one["downloads"] == 2 and one["hasFile"] is True


def test_not_modified_and_unsatisfiable_are_not_downloads(dl):
    etag = dl(method="HEAD").headers["etag"]
    dl({"If-None-Match": etag})
    dl({"Range": "bytes=999999-"})
    assert DownloadEvent.select().count() == 0


def test_removing_a_user_revokes_their_tokens(api, world, root, dl):
    with unit_of_work():
        tester = accounts.add_member(root.user, world.team.id, "tester@example.com", PASSWORD, "member")
    token = jwt_for(api, "tester@example.com")
    assert dl(token=token).status_code == 200
    with unit_of_work():
        tester.delete_instance(recursive=True)
    assert dl(token=token).json == {"error": "unauthorized"}


def test_deleting_a_version_deletes_its_file(api, world, other_world, dl, settings):
    files = settings.data_dir / "artifacts" / "builds" / str(world.app.id) / dl.build_id
    assert [p for p in files.rglob("*") if p.is_file()]
    url = f"/admin/v1/apps/{world.app_id}/builds/{dl.build_id}"
    rival = f"/admin/v1/apps/{other_world.app_id}/builds/{dl.build_id}"
    assert api.simulate_delete(rival, headers=other_world.auth).status_code == 404
    assert api.simulate_delete(url, headers=other_world.auth).json == {"error": "app not found"}
    assert (
        api.simulate_patch(url, json={"name": "Renamed", "public": True}, headers=world.auth).json["name"]
        == "Renamed"
    )
    assert api.simulate_delete(url, headers=world.auth).status_code == 204
    assert not [p for p in files.rglob("*") if p.is_file()]
    assert dl().json == {"error": "version not found"}
    assert api.simulate_get(url, headers=world.auth).json == {"error": "build not found"}


def test_upload_bounds(api, world, write_app, settings):
    b = api.simulate_post(
        f"/admin/v1/apps/{world.app_id}/builds",
        json={"build_type": "debug", "version": "1"},
        headers=world.auth,
    ).json
    url = f"/admin/v1/apps/{world.app_id}/builds/{b['id']}/artifact"
    small = create_write_app(settings.model_copy(update={"upload_max_bytes": 100}))
    from falcon import testing

    res = testing.TestClient(small).simulate_put(
        url, params={"filename": "a.apk"}, body=b"x" * 101, headers=world.auth
    )
    assert (res.status_code, res.json) == (413, {"error": "upload larger than 100 bytes"})
    assert Build.get_by_id(int(b["id"])).file_key is None


# -- icons ---------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_icon_upload_and_public_route(api, world, other_world):
    put = api.simulate_put(
        f"/admin/v1/apps/{world.app_id}/icon", params={"filename": "icon.png"}, body=PNG, headers=world.auth
    )
    assert put.status_code == 200 and put.json["icon"] == "icon.png"
    listed = api.simulate_get("/api/v1/apps", headers=bearer(jwt_for(api))).json["teams"][0]["apps"][0]
    assert listed["icon"] == f"/api/files/apps/{world.app_id}/icon.png"
    res = api.simulate_get(listed["icon"])  # no Authorization
    assert res.status_code == 200 and res.content == PNG
    assert res.headers["content-type"] == "image/png" and res.headers["x-content-type-options"] == "nosniff"
    assert api.simulate_get(listed["icon"], headers={"If-None-Match": res.headers["etag"]}).status_code == 304
    for wrong in (
        f"/api/files/apps/{world.app_id}/other.png",
        f"/api/files/apps/{other_world.app_id}/icon.png",
        f"/api/files/apps/{world.app_id}/..%2F..%2Fjwt_secret",
        f"/api/files/apps/{world.app_id}/%2e%2e",
        "/api/files/apps/app_missing/icon.png",
    ):
        res = api.simulate_get(wrong)
        assert (res.status_code, res.json) == (404, {"error": "file not found"}), wrong


def test_icon_replacement_removal_and_bounds(api, world, other_world, settings):
    url = f"/admin/v1/apps/{world.app_id}/icon"
    icons = settings.data_dir / "artifacts" / "icons" / str(world.app.id)
    api.simulate_put(url, params={"filename": "icon.png"}, body=PNG, headers=world.auth)
    api.simulate_put(url, params={"filename": "icon-2.webp"}, body=b"RIFF0000WEBP", headers=world.auth)
    assert sorted(p.name for p in icons.iterdir()) == ["icon-2.webp"]
    assert api.simulate_get(f"/api/files/apps/{world.app_id}/icon.png").status_code == 404
    assert (
        api.simulate_get(f"/api/files/apps/{world.app_id}/icon-2.webp").headers["content-type"]
        == "image/webp"
    )
    for bad in ("icon.svg", "../icon.png", "icon.html", ""):
        res = api.simulate_put(url, params={"filename": bad}, body=PNG, headers=world.auth)
        assert res.status_code == 400 and res.json["error"].startswith("filename must be"), bad
    big = api.simulate_put(
        url, params={"filename": "big.png"}, body=b"x" * (1_048_576 + 1), headers=world.auth
    )
    assert big.status_code == 413 and not (icons / "big.png").exists()
    rival = api.simulate_put(url, params={"filename": "x.png"}, body=PNG, headers=other_world.auth)
    assert (rival.status_code, rival.json) == (404, {"error": "app not found"})
    assert api.simulate_delete(url, headers=world.auth).status_code == 204
    assert list(icons.iterdir()) == []
    assert api.simulate_get(f"/admin/v1/apps/{world.app_id}", headers=world.auth).json["icon"] is None


def test_a_truncated_icon_upload_leaves_the_icon_in_use(api, world, settings):
    """Item 9 of the second hardening round: the same name uploaded again with a body shorter than its
    Content-Length answers 400, and the icon in use is still served, whole (it was deleted before)."""
    url = f"/admin/v1/apps/{world.app_id}/icon"
    icons = settings.data_dir / "artifacts" / "icons" / str(world.app.id)
    assert (
        api.simulate_put(url, params={"filename": "icon.png"}, body=PNG, headers=world.auth).status_code
        == 200
    )
    short = api.simulate_put(
        url,
        params={"filename": "icon.png"},
        body=b"x" * 20,
        headers=world.auth | {"Content-Length": "5000"},
    )
    assert short.status_code == 400 and "incomplete" in short.json["error"]
    served = api.simulate_get(f"/api/files/apps/{world.app_id}/icon.png")
    assert served.status_code == 200 and served.content == PNG
    assert sorted(p.name for p in icons.iterdir()) == ["icon.png"]  # no staged file left behind
    # A whole replacement under the same name takes effect.
    assert (
        api.simulate_put(
            url, params={"filename": "icon.png"}, body=PNG + b"2", headers=world.auth
        ).status_code
        == 200
    )
    assert api.simulate_get(f"/api/files/apps/{world.app_id}/icon.png").content == PNG + b"2"
    assert sorted(p.name for p in icons.iterdir()) == ["icon.png"]


# -- login limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "wrong"),
    [
        ("/api/v1/auth", {"email": "owner@example.com", "password": "wrong"}),
        ("/admin/v1/login", {"email": "owner@example.com", "password": "wrong"}),
    ],
)
def test_failed_logins_are_limited_per_account_and_address(api, world, path, wrong):
    for _ in range(10):
        assert api.simulate_post(path, json=wrong, remote_addr="10.0.0.1").status_code == 401
    locked = api.simulate_post(path, json=wrong, remote_addr="10.0.0.1")
    assert locked.status_code == 429
    assert locked.json == {"error": "too many failed login attempts, try again later"}
    assert 0 < int(locked.headers["retry-after"]) <= 900
    right = {"email": "owner@example.com", "password": PASSWORD}
    assert api.simulate_post(path, json=right, remote_addr="10.0.0.1").status_code == 429
    assert api.simulate_post(path, json=right, remote_addr="10.0.0.2").status_code == 200
    other = {"email": "nobody@example.com", "password": "x"}
    assert api.simulate_post(path, json=other, remote_addr="10.0.0.1").status_code == 401


def test_a_successful_login_clears_the_failures(api, world):
    wrong = {"email": "owner@example.com", "password": "wrong"}
    for _ in range(9):
        api.simulate_post("/api/v1/auth", json=wrong)
    assert (
        api.simulate_post(
            "/api/v1/auth", json={"email": "owner@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )
    for _ in range(9):
        assert api.simulate_post("/api/v1/auth", json=wrong).status_code == 401


# -- S3 ------------------------------------------------------------------------------------------------


@pytest.fixture(params=["redirect", "proxy"])
def s3_api(request, settings, redis_conn, s3_endpoint):
    from falcon import testing

    s3 = settings.model_copy(
        update={
            "storage_backend": "s3",
            "s3_endpoint_url": s3_endpoint,
            "s3_bucket": f"dl-{request.param}",
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
            "s3_path_style": True,
            "s3_downloads": request.param,
        }
    )
    app = create_write_app(s3, redis_conn)
    client = testing.TestClient(app)
    try:
        httpx.put(f"{s3_endpoint}/dl-{request.param}")
    except httpx.HTTPError:
        pass
    client.mode = request.param
    return client


def test_s3_downloads_redirect_or_proxy_with_ranges(s3_api, world):
    build_id = make_build(s3_api, world, filename="Spiel é.apk")
    token = jwt_for(s3_api)
    url = f"/api/v1/versions/{build_id}/download"
    res = s3_api.simulate_get(url, headers={**bearer(token), "Range": "bytes=10-19"})
    if s3_api.mode == "redirect":
        assert res.status_code == 302 and res.headers["cache-control"] == "no-store"
        ranged = httpx.get(res.headers["location"], headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206 and ranged.content == DATA[10:20]
        whole = httpx.get(res.headers["location"])
        assert (
            whole.content == DATA
            and "filename*=UTF-8''Spiel%20%C3%A9.apk" in whole.headers["content-disposition"]
        )
    else:
        assert res.status_code == 206 and res.content == DATA[10:20]
        assert res.headers["content-range"] == f"bytes 10-19/{len(DATA)}"
        assert s3_api.simulate_get(url, headers=bearer(token)).content == DATA
    assert DownloadEvent.select().where(DownloadEvent.build == int(build_id)).count() == 1
    assert (
        s3_api.simulate_delete(
            f"/admin/v1/apps/{world.app_id}/builds/{build_id}", headers=world.auth
        ).status_code
        == 204
    )
