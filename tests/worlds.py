"""One app seeded in every dialect over HTTP, and every client answer it gives: what the backup, container
and upgrade tests compare before and after (a restore, an image, a new release).

``st`` is anything with ``read``, ``write`` (base URLs) and ``admin_token`` (a super admin's token, whose
password is loadtest.stack's): a stack of processes, or containers behind an edge where both URLs are the
edge's."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from urllib.parse import urlsplit

import httpx

from loadtest.processes import wait_until
from loadtest.stack import ADMIN_EMAIL
from tests import builds

PKG = "com.example.restored"
DEVICE = str(uuid.UUID(int=7, version=4))
SLUG = "kept-product"
UPDATE_ASKED = {"app_id": PKG, "device_id": DEVICE, "platform": "android", "version_build": "1.0.0"}


def seed(st, product: bool = False) -> dict:
    """AppCockpit rules and maintenance, app-config, a Capgo bundle on a public channel, an UpdateForge build
    with its APK, and with ``product`` a published distribution product with one release."""
    headers = {"Authorization": f"Bearer {st.admin_token}"}
    with httpx.Client(base_url=st.write, headers=headers, timeout=30) as admin:
        return _seed(admin, {"authorization": st.admin_token}, product)


def _seed(admin: httpx.Client, key: dict, product: bool) -> dict:
    team = admin.post("/admin/v1/teams", json={"name": "Backed up"}).json()
    app = admin.post(
        "/admin/v1/apps", json={"team_id": team["id"], "title": "Kept", "package_name": PKG}
    ).json()
    token = admin.post(f"/admin/v1/apps/{app['id']}/tokens", json={"name": "t"}).json()["token"]
    for rule in (
        {"version": "2.5.0", "platform": "ios", "environment": "production", "update_message": "Update!"},
        {"version": "2.6.0", "platform": "android", "environment": "production", "force_update": True},
    ):
        admin.post(f"/admin/v1/apps/{app['id']}/versions", json=rule).raise_for_status()
    admin.post(
        f"/admin/v1/apps/{app['id']}/minimum-versions",
        json={
            "minimum_version": "2.0.0",
            "platform": "ios",
            "environment": "production",
            "force_update": True,
        },
    ).raise_for_status()
    admin.put(
        f"/admin/v1/apps/{app['id']}/maintenance/production", json={"active": True, "title": "Down"}
    ).raise_for_status()
    admin.post(
        "/app-config", params={"app_id": app["id"]}, json={"minVersion": "1.0.0", "currentVersion": "2.6.0"}
    ).raise_for_status()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.html", "<p>1.1.0</p>")
    admin.post(
        "/bundle/upload",
        params={"app_id": PKG, "version": "1.1.0", "channel": "production"},
        content=buf.getvalue(),
        headers=key,
    ).raise_for_status()
    admin.post("/channel", json={"app_id": PKG, "channel": "production", "public": True}, headers=key)
    build = admin.post(
        f"/admin/v1/apps/{app['id']}/builds", json={"build_type": "release", "version": "1.0.0"}
    ).json()
    admin.put(
        f"/admin/v1/apps/{app['id']}/builds/{build['id']}/artifact",
        params={"filename": "app.apk"},
        content=builds.apk(version="1.0.0", package=PKG),
    ).raise_for_status()
    world = {"app": app["id"], "token": token, "build": build["id"]}
    if product:
        world["release"] = _product(admin, team["id"], key)
    return world


def _product(admin: httpx.Client, team_id: int, key: dict) -> str:
    auth = {"X-Auth-Token": key["authorization"]}
    made = admin.post(
        "/admin/api/products",
        json={"name": "Kept product", "slug": SLUG, "description": "Restored", "team_id": team_id},
        headers=auth,
    )
    made.raise_for_status()
    pid = made.json()["data"]["product"]["id"]
    variant = admin.post(
        f"/admin/api/products/{pid}/variants",
        json={"platform": "android", "display_name": "Android", "identifier": PKG},
        headers=auth,
    )
    variant.raise_for_status()
    uploaded = admin.post(
        "/upload",
        data={"variant_id": variant.json()["data"]["variant"]["id"], "version": "1.0.0", "build": "1"},
        files={"app_file": ("app.apk", builds.apk(version="1.0.0", package=PKG))},
        headers=auth,
    )
    uploaded.raise_for_status()
    admin.put(f"/admin/api/apps/{pid}/publish", headers=auth).raise_for_status()
    return uploaded.json()["data"]["release"]["id"]


def wait_for_offer(st, timeout: float = 15) -> None:
    """Until the seeded bundle is offered: the worker has rebuilt what the seed changed."""
    wait_until(
        lambda: (
            httpx.post(f"{st.read}/updates", json=UPDATE_ASKED, timeout=5).json().get("version") == "1.1.0"
        ),
        timeout=timeout,
    )


def answers(st, world: dict) -> dict:
    """Every client answer of the seeded app, and the SHA-256 of everything it downloads."""
    with httpx.Client(base_url=st.read, timeout=10) as read:
        return _answers(st, world, read)


def _answers(st, world: dict, read: httpx.Client) -> dict:
    h = {"x-api-token": world["token"]}
    got: dict = {}
    for path in ("/v1/versions", "/v2/versions"):
        for platform, version in (("ios", "2.5.0"), ("ios", "1.0.0"), ("ios", "9.9.9"), ("android", "2.6.0")):
            params = {
                "app_id": world["app"],
                "app_version": version,
                "platform": platform,
                "environment": "production",
            }
            res = read.get(path, params=params, headers=h)
            got[(path, platform, version)] = (res.status_code, res.content, res.headers.get("etag"))
    for env in ("production", "staging"):
        res = read.get("/v1/maintenance", params={"app_id": world["app"], "environment": env}, headers=h)
        got[("maintenance", env)] = (res.status_code, res.content, res.headers.get("etag"))
    res = read.get("/app-config/public", params={"app_id": world["app"]})
    got["app-config"] = (res.status_code, res.content, res.headers.get("etag"))
    offer = read.post("/updates", json=UPDATE_ASKED).json()
    url = urlsplit(offer["url"])  # signed and expiring: its path names the bundle, the query is new each time
    bundle = httpx.get(f"{st.write}{url.path}?{url.query}", timeout=10)
    got["updates"] = (offer["version"], offer["checksum"], url.path, bundle.status_code)
    got["bundle sha256"] = hashlib.sha256(bundle.content).hexdigest()
    jwt = httpx.post(
        f"{st.write}/api/v1/auth", json={"email": ADMIN_EMAIL, "password": "load password"}
    ).json()
    artifact = httpx.get(
        f"{st.write}/api/v1/versions/{world['build']}/download",
        headers={"Authorization": f"Bearer {jwt['token']}"},
        timeout=10,
    )
    got["artifact"] = (artifact.status_code, hashlib.sha256(artifact.content).hexdigest())
    if "release" in world:
        page = httpx.get(f"{st.write}/products/{SLUG}", timeout=10)
        got["product page"] = (
            page.status_code,
            page.headers.get("content-type"),
            "Kept product" in page.text,
        )
        apk = httpx.get(
            f"{st.write}/products/{SLUG}/get/{world['release']}", follow_redirects=True, timeout=10
        )
        got["product download"] = (apk.status_code, hashlib.sha256(apk.content).hexdigest())
    return got


def check_every_dialect(got: dict) -> None:
    """What a user of each dialect sees of the seeded app (``got`` from answers(), seeded with a product)."""
    status = {k: v[0] for k, v in got.items() if isinstance(k, tuple)}
    assert status == {
        ("/v1/versions", "ios", "2.5.0"): 200,
        ("/v1/versions", "ios", "1.0.0"): 200,
        ("/v1/versions", "ios", "9.9.9"): 404,
        ("/v1/versions", "android", "2.6.0"): 200,
        ("/v2/versions", "ios", "2.5.0"): 200,
        ("/v2/versions", "ios", "1.0.0"): 200,
        ("/v2/versions", "ios", "9.9.9"): 404,
        ("/v2/versions", "android", "2.6.0"): 200,
        ("maintenance", "production"): 200,
        ("maintenance", "staging"): 200,  # no window: the answer says so
    }, status
    assert json.loads(got[("/v1/versions", "ios", "2.5.0")][1])["update_message"] == "Update!"
    assert json.loads(got[("maintenance", "production")][1])["title"] == "Down"
    assert got["app-config"][0] == 200 and json.loads(got["app-config"][1])["currentVersion"] == "2.6.0"
    # Capgo: the offer's bundle downloads, and is the zip that was uploaded (its checksum is the SHA-256).
    version, checksum, _, bundle_status = got["updates"]
    assert (version, bundle_status) == ("1.1.0", 200) and got["bundle sha256"] == checksum
    # UpdateForge's download; fenfa's product page and its release's download.
    assert got["artifact"][0] == 200
    assert got["product page"] == (200, "text/html; charset=utf-8", True)
    assert got["product download"][0] == 200
