"""The embedded default (`make run`): SQLite in the data directory, migrated by the CLI, serving the write paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import orjson
from falcon import testing

from api.write.app import create_write_app
from store import accounts, catalog
from store.db import unit_of_work
from store.models import AuthSession, ClientUser, DownloadEvent
from store.settings import Settings

api = testing.TestClient(create_write_app(Settings()))
with unit_of_work():
    user = accounts.create_user("owner@example.com", "correct horse battery", "admin")
    team = accounts.create_team(user, "Acme")
    app = catalog.create_app(user, team.id, "Demo", "com.example.demo")
    _, client_token = catalog.create_client_token(user, app, "default")
    admin = {"Authorization": "Bearer " + accounts.issue_user_token(user)}
for version in ("2.5.0", "2.6.0"):
    res = api.simulate_post("/v2/authenticate", headers={"x-api-token": client_token}, body=orjson.dumps(
        {"user_id": "u1", "platform": "ios", "app_version": version}))
    assert res.status_code == 200, res.text
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
print("embedded ok")
"""


def test_sqlite_migrates_twice_and_serves_ingestion_and_downloads(tmp_path):
    env = {**os.environ, "GATEHOUSE_DATA_DIR": str(tmp_path), "GATEHOUSE_DATABASE_URL": "",
           "GATEHOUSE_REDIS_URL": "redis://127.0.0.1:6379/11", "GATEHOUSE_QUEUE_NAME": "gatehouse-embedded",
           "GATEHOUSE_LOG_LEVEL": "warning"}
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
    assert (tmp_path / "gatehouse.db").is_file()
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and "embedded ok" in res.stdout, res.stderr[-3000:]
