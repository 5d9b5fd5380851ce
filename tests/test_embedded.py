"""The embedded default (`make run`): SQLite in the data directory, migrated by the CLI, serving the write paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import lanes

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
from falcon import testing

from api.write.app import create_write_app
from store import accounts, catalog, client_tokens
from store.auth_events import AuthEvent
from store.db import unit_of_work
from store.ingest import apply_authentications
from store.models import AuthSession, ClientUser, DownloadEvent
from api.settings import Settings

api = testing.TestClient(create_write_app(Settings()))
with unit_of_work():
    user = accounts.create_user("owner@example.com", "correct horse battery", "admin")
    team = accounts.create_team(user, "Acme")
    app = catalog.create_app(user, team.id, "Demo", "com.example.demo")
    _, client_token = client_tokens.create_client_token(user, app, "default")
    admin = {"Authorization": "Bearer " + accounts.issue_user_token(user)}
# The worker's side of POST /v2/authenticate (the read service answers it): batches applied once each.
with unit_of_work():
    for n, version in enumerate(("2.5.0", "2.6.0")):
        event = AuthEvent(app.public_id, "u1", "ios", version, None, 1_800_000_000 + n)
        assert apply_authentications([(f"batch-{n}", [event])]) == 1
    assert apply_authentications([("batch-1", [event])]) == 0
assert AuthSession.select().count() == 2
assert [(u.app_version, u.first_seen_at <= u.last_seen_at) for u in ClientUser.select()] == [("2.6.0", True)]
build = api.simulate_post(f"/admin/v1/apps/{app.public_id}/builds", json={"build_type": "release",
                          "version": "1.0.0"}, headers=admin).json
api.simulate_put(f"/admin/v1/apps/{app.public_id}/builds/{build['id']}/artifact", params={"filename": "a.apk"},
                 body=b"0123456789", headers=admin)
jwt = api.simulate_post("/api/v1/auth", json={"email": "owner@example.com", "password": "correct horse battery"})
part = api.simulate_get(f"/api/v1/versions/{build['id']}/download",
                        headers={"Authorization": "Bearer " + jwt.json["token"], "Range": "bytes=-4"})
assert (part.status_code, part.content) == (206, b"6789"), part.status
assert DownloadEvent.select().count() == 1
# Capgo: a bundle on a channel, and a device batch applied on SQLite's path (once, however often delivered).
from store import devices
from store.models import BundleStat, Device
res = api.simulate_post("/bundle/upload", params={"app_id": "com.example.demo", "version": "1.1.0",
                        "channel": "production"}, body=b"zip", headers=admin)
assert res.status_code == 201, res.text
batch = devices.Batch(entry_id="e-1", sightings=[["com.example.demo", "d1", "ios", "6.0.0", "17", "1.0.0",
                      "1.1.0", "", True, False, 1700000000.0]],
                      actions={("com.example.demo", 29_000_000, "1.1.0", "set"): 2})
for _ in range(2):
    with unit_of_work():
        devices.apply_batch(batch)
assert [(d.device_id, d.version_name) for d in Device.select()] == [("d1", "1.1.0")]
assert [s.count for s in BundleStat.select()] == [2]
print("embedded ok")
"""


def test_sqlite_migrates_twice_and_serves_ingestion_and_downloads(tmp_path):
    env = {
        **os.environ,
        "GATEHOUSE_DATA_DIR": str(tmp_path),
        "GATEHOUSE_DATABASE_URL": "",
        "GATEHOUSE_REDIS_URL": lanes.redis_url(11),
        "GATEHOUSE_QUEUE_NAME": "gatehouse-embedded",
        "GATEHOUSE_LOG_LEVEL": "warning",
    }

    def migrate(*flags: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", "migrate", *flags],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    # `migrate --check` tells a deploy script whether migrations are pending (exit 1), applying nothing.
    pending = migrate("--check")
    assert pending.returncode == 1 and pending.stdout.startswith("pending: 0001_"), pending
    assert "0015_monthly_sessions" in pending.stdout and migrate("--check").returncode == 1
    for _ in range(2):
        assert migrate().returncode == 0
    done = migrate("--check")
    assert (done.returncode, done.stdout.strip()) == (0, "database is up to date")
    assert (tmp_path / "gatehouse.db").is_file()
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and "embedded ok" in res.stdout, res.stderr[-3000:]


def test_sqlite_holds_eight_admin_writers_and_ingestion(tmp_path):
    """Production gunicorn config on the embedded SQLite: 8 threads PATCH rules while 2 send events.

    With deferred transactions 5 of 100 PATCHes failed at once with "database is locked".
    """
    import threading

    import httpx

    from loadtest.processes import wait_until
    from loadtest.stack import production_stack

    url = f"sqlite:///{tmp_path / 'gatehouse.db'}"
    with production_stack(url, lanes.redis_url(9), "gatehouse-sqlite") as st:
        admin = httpx.Client(
            base_url=st.write, headers={"Authorization": f"Bearer {st.admin_token}"}, timeout=30
        )
        team = admin.post("/admin/v1/teams", json={"name": "Lite"}).json()
        app = admin.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Lite"}).json()
        token = admin.post(f"/admin/v1/apps/{app['id']}/tokens", json={"name": "t"}).json()["token"]
        rules = [
            admin.post(
                f"/admin/v1/apps/{app['id']}/versions",
                json={"version": f"1.{n}.0", "platform": "ios", "environment": "production"},
            ).json()["id"]
            for n in range(8)
        ]
        wait_until(  # the read service holds the app's token (its snapshot was published)
            lambda: (
                httpx.get(
                    f"{st.read}/v1/maintenance",
                    params={"app_id": app["id"], "environment": "production"},
                    headers={"x-api-token": token},
                ).status_code
                == 200
            ),
            timeout=15,
        )
        statuses: list[int] = []

        def patch(rule: int) -> None:
            with httpx.Client(base_url=st.write, headers=admin.headers, timeout=30) as c:
                for i in range(25):
                    statuses.append(
                        c.patch(
                            f"/admin/v1/apps/{app['id']}/versions/{rule}", json={"update_message": f"m{i}"}
                        ).status_code
                    )

        def ingest(k: int) -> None:
            with httpx.Client(base_url=st.read, timeout=30) as c:
                for i in range(50):
                    statuses.append(
                        c.post(
                            "/v2/authenticate",
                            headers={"x-api-token": token},
                            json={"user_id": f"u{k}-{i}", "platform": "ios", "app_version": "1.0.0"},
                        ).status_code
                    )

        threads = [threading.Thread(target=patch, args=(r,)) for r in rules]
        threads += [threading.Thread(target=ingest, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(statuses) == 300 and set(statuses) == {200}, sorted(set(statuses))
        # The worker applies the authentication batches beside the admins' writes, on the same SQLite file.
        wait_until(
            lambda: (
                admin.get(f"/admin/v1/apps/{app['id']}/users", params={"per_page": 200}).json()["total"]
                == 100
            ),
            timeout=15,
        )
