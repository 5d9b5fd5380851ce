"""Backup and restore as deploy/README.md walks an operator through it: `pg_dump` of the database and a copy
of the artifact storage; restored into an empty database and storage with a new, empty Redis, then
`gatehouse rebuild-snapshots`: every client answer is the one given before (bodies and ETags), and every
artifact and bundle downloads with the same SHA-256."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import uuid
import zipfile
from urllib.parse import urlsplit

import httpx

from loadtest.processes import recreate_database, wait_until
from loadtest.stack import ADMIN_EMAIL, production_stack
from tests import builds, lanes

PKG = "com.example.restored"
SECRET = {"GATEHOUSE_SECRET_KEY": "backup-test-secret-key-0123456789abcdef"}
DEVICE = str(uuid.UUID(int=7, version=4))


def seed(st) -> dict:
    admin = httpx.Client(base_url=st.write, headers={"Authorization": f"Bearer {st.admin_token}"}, timeout=30)
    key = {"authorization": st.admin_token}
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
    return {"app": app["id"], "token": token, "build": build["id"]}


def answers(st, world: dict) -> dict:
    """Every client answer of the seeded apps, and the SHA-256 of everything they download."""
    read, h = httpx.Client(base_url=st.read, timeout=10), {"x-api-token": world["token"]}
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
    offer = read.post(
        "/updates", json={"app_id": PKG, "device_id": DEVICE, "platform": "android", "version_build": "1.0.0"}
    ).json()
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
    return got


def test_a_restore_gives_back_every_answer_and_every_download(tmp_path):
    source, target = lanes.pg("gatehouse_backup_source"), lanes.pg("gatehouse_backup_target")
    dump, storage = tmp_path / "gatehouse.dump", tmp_path / "storage"
    with production_stack(source, lanes.redis_url(2), "gatehouse-backup", **SECRET) as st:
        world = seed(st)
        wait_until(lambda: httpx.post(f"{st.read}/updates", json={
            "app_id": PKG, "device_id": DEVICE, "platform": "android", "version_build": "1.0.0"}).json().get("version")
            == "1.1.0", timeout=15)  # fmt: skip
        before = answers(st, world)
        # The backup, as deploy/README.md gives it: the database, then the artifact storage.
        subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", source], check=True)
        shutil.copytree(st.env["GATEHOUSE_DATA_DIR"], storage)
        token = st.admin_token
    assert before["artifact"][0] == 200 and before["updates"][3] == 200
    assert (
        before[("/v1/versions", "ios", "2.5.0")][0] == 200 and before[("maintenance", "production")][0] == 200
    )

    recreate_database(target)
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={target}", str(dump)], check=True)
    with production_stack(
        target, lanes.redis_url(4), "gatehouse-restored", restored_token=token,
        GATEHOUSE_DATA_DIR=str(storage), **SECRET,
    ) as st:  # fmt: skip
        st.run("migrate")  # a dump of an older release is brought up to date (here: nothing to do)
        st.run("rebuild-snapshots")
        wait_until(lambda: answers(st, world) == before, timeout=15, interval=0.2)
        after = answers(st, world)
    assert after == before
