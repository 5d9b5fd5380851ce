"""The real services: gunicorn read service and write API, an RQ worker, PostgreSQL and Redis.

Uses its own database and Redis database because these processes commit for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import PG_URL
from tests.end_to_end_support import free_port, recreate_database, wait_until

ROOT = Path(__file__).resolve().parents[1]
E2E_DB = PG_URL.rsplit("/", 1)[0] + "/gatehouse_e2e"
E2E_REDIS = os.environ.get("GATEHOUSE_E2E_REDIS_URL", "redis://127.0.0.1:6379/13")




@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    recreate_database(E2E_DB)
    r = redis.Redis.from_url(E2E_REDIS)
    r.flushdb()
    read_port, write_port = free_port(), free_port()
    env = {**os.environ, "GATEHOUSE_DATABASE_URL": E2E_DB, "GATEHOUSE_REDIS_URL": E2E_REDIS,
           "GATEHOUSE_QUEUE_NAME": "gatehouse-e2e", "GATEHOUSE_DATA_DIR": str(tmp_path_factory.mktemp("e2e")),
           "GATEHOUSE_LOG_LEVEL": "warning", "GATEHOUSE_READ_WORKERS": "2", "GATEHOUSE_WRITE_WORKERS": "1"}
    cli = [sys.executable, "-m", "api.cli"]

    def run(*args):
        return subprocess.run([*cli, *args], env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout

    run("migrate")
    run("create-user", "--email", "root@example.com", "--password", "root password", "--role", "super_admin")
    token = run("create-token", "--email", "root@example.com").strip()
    procs = [
        subprocess.Popen([*cli, "serve", "read", "--bind", f"127.0.0.1:{read_port}"], env=env, cwd=ROOT),
        subprocess.Popen([*cli, "serve", "write", "--bind", f"127.0.0.1:{write_port}"], env=env, cwd=ROOT),
        subprocess.Popen([*cli, "worker"], env=env, cwd=ROOT),
    ]
    front_port = free_port()
    front_env = {**env, "GATEHOUSE_FRONT_READ": f"http://127.0.0.1:{read_port}",
                 "GATEHOUSE_FRONT_WRITE": f"http://127.0.0.1:{write_port}"}
    procs.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.front:from_env", "--port",
                                   str(front_port), "--log-level", "warning"], env=front_env, cwd=ROOT))
    front = httpx.Client(base_url=f"http://127.0.0.1:{front_port}")
    read = httpx.Client(base_url=f"http://127.0.0.1:{read_port}")
    write = httpx.Client(base_url=f"http://127.0.0.1:{write_port}", headers={"Authorization": f"Bearer {token}"})

    def up(client):
        try:
            return client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(lambda: up(read) and up(write) and up(front), timeout=30)
        yield type("Stack", (), {"read": read, "write": write, "front": front, "token": token, "redis": r,
                                 "run": staticmethod(run), "env": env, "write_addr": f"127.0.0.1:{write_port}"})
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


def test_admin_change_reaches_the_read_service_and_survives_a_redis_flush(stack):
    team = stack.write.post("/admin/v1/teams", json={"name": "E2E"}).json()
    app = stack.write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "E2E app"}).json()
    app_id = app["id"]
    client_token = stack.write.post(f"/admin/v1/apps/{app_id}/tokens", json={"name": "e2e"}).json()["token"]
    headers = {"x-api-token": client_token}
    params = {"app_id": app_id, "app_version": "3.1.0", "platform": "android", "environment": "production"}

    first = wait_until(lambda: (r := stack.read.get("/v1/versions", params=params, headers=headers)).status_code == 404
                       and r)
    assert first.json() == {"error": "Version not found"}

    started = time.monotonic()
    res = stack.write.post(f"/admin/v1/apps/{app_id}/versions", json={
        "version": "3.1.0", "platform": "android", "environment": "production", "update_message": "Hello"})
    assert res.status_code == 201
    # Both read-service processes must serve it (several requests spread over them).
    served = wait_until(lambda: all(
        stack.read.get("/v1/versions", params=params, headers=headers).status_code == 200 for _ in range(6)))
    elapsed = time.monotonic() - started
    assert served and elapsed < 5, elapsed
    answer = stack.read.get("/v1/versions", params=params, headers=headers)
    assert answer.json()["update_message"] == "Hello" and answer.headers["etag"] != first.headers["etag"]

    maintenance = stack.read.get("/v2/maintenance", params={"app_id": app_id, "environment": "production"},
                                 headers=headers)
    document = stack.redis.get(f"gh:snap:app:{app_id}")

    # An unchanged snapshot keeps its ETag.
    stack.run("rebuild-snapshots")
    assert stack.read.get("/v1/versions", params=params, headers=headers).headers["etag"] == answer.headers["etag"]

    # Redis loses everything: the read service keeps serving, and a rebuild restores identical bytes.
    stack.redis.flushdb()
    time.sleep(0.7)
    kept = stack.read.get("/v1/versions", params=params, headers=headers)
    assert kept.status_code == 200 and kept.content == answer.content
    stack.run("rebuild-snapshots")
    assert stack.redis.get(f"gh:snap:app:{app_id}") == document
    after = stack.read.get("/v1/versions", params=params, headers=headers)
    assert (after.content, after.headers["etag"]) == (answer.content, answer.headers["etag"])
    m2 = stack.read.get("/v2/maintenance", params={"app_id": app_id, "environment": "production"}, headers=headers)
    assert (m2.content, m2.headers["etag"]) == (maintenance.content, maintenance.headers["etag"])

    # Ingestion through the real write API.
    res = httpx.post(str(stack.write.base_url) + "/v2/authenticate", headers=headers,
                     json={"user_id": "u1", "platform": "android", "app_version": "3.1.0"})
    assert res.json() == {"success": True, "user_id": "u1", "platform": "android", "app_version": "3.1.0"}
    users = stack.write.get(f"/admin/v1/apps/{app_id}/users").json()
    assert [u["user_id"] for u in users["items"]] == ["u1"]


def test_demo_data_and_single_rebuild_through_the_front_door(stack):
    """`gatehouse demo` loads apps the read service serves; the dev front door routes by path."""
    lines = stack.run("demo", "--apps", "2", "--rules", "5").strip().splitlines()
    app_id, client_token = lines[-1].split()
    headers = {"x-api-token": client_token}
    staging = {"app_id": app_id, "environment": "staging"}
    res = wait_until(lambda: (r := stack.front.get("/v1/maintenance", params=staging, headers=headers)).status_code
                     == 200 and r)
    assert res.json() == {"active": True, "title": "Scheduled maintenance", "description": "Back soon",
                          "links": [{"title": "Status", "url": "https://status.example.com"}]}
    old = stack.front.get("/v1/versions", headers=headers, params={
        "app_id": app_id, "app_version": "1.0.0", "platform": "ios", "environment": "production"})
    assert old.status_code == 200 and old.json()["version"] == "1.2.0" and old.json()["force_update"] is True
    me = stack.front.get("/admin/v1/me", headers={"Authorization": f"Bearer {stack.token}"})
    assert me.status_code == 200 and me.json()["email"] == "root@example.com"
    assert "rebuilt 1 snapshot(s), 0 changed" in stack.run("rebuild-snapshots", "--app", app_id)
