"""The real services: gunicorn read service and write API, an RQ worker, PostgreSQL and Redis.

Uses its own database and Redis database because these processes commit for real.
"""

from __future__ import annotations

import time

import httpx

from loadtest.processes import wait_until
from loadtest.stack import ADMIN_EMAIL


def test_admin_change_reaches_the_read_service_and_survives_a_redis_flush(stack):
    team = stack.write.post("/admin/v1/teams", json={"name": "E2E"}).json()
    app = stack.write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "E2E app"}).json()
    app_id = app["id"]
    client_token = stack.write.post(f"/admin/v1/apps/{app_id}/tokens", json={"name": "e2e"}).json()["token"]
    headers = {"x-api-token": client_token}
    params = {"app_id": app_id, "app_version": "3.1.0", "platform": "android", "environment": "production"}

    first = wait_until(
        lambda: (r := stack.read.get("/v1/versions", params=params, headers=headers)).status_code == 404 and r
    )
    assert first.json() == {"error": "Version not found"}

    started = time.monotonic()
    res = stack.write.post(
        f"/admin/v1/apps/{app_id}/versions",
        json={
            "version": "3.1.0",
            "platform": "android",
            "environment": "production",
            "update_message": "Hello",
        },
    )
    assert res.status_code == 201
    # Both read-service processes must serve it (several requests spread over them).
    served = wait_until(
        lambda: all(
            stack.read.get("/v1/versions", params=params, headers=headers).status_code == 200
            for _ in range(6)
        )
    )
    elapsed = time.monotonic() - started
    assert served and elapsed < 5, elapsed
    answer = stack.read.get("/v1/versions", params=params, headers=headers)
    assert answer.json()["update_message"] == "Hello" and answer.headers["etag"] != first.headers["etag"]

    maintenance = stack.read.get(
        "/v2/maintenance", params={"app_id": app_id, "environment": "production"}, headers=headers
    )
    document = stack.redis.get(f"gh:snap:app:{app_id}")

    # An unchanged snapshot keeps its ETag.
    stack.run("rebuild-snapshots")
    assert (
        stack.read.get("/v1/versions", params=params, headers=headers).headers["etag"]
        == answer.headers["etag"]
    )

    # Redis loses everything: the read service keeps serving, and a rebuild restores identical bytes.
    stack.redis.flushdb()
    time.sleep(0.7)
    kept = stack.read.get("/v1/versions", params=params, headers=headers)
    assert kept.status_code == 200 and kept.content == answer.content
    stack.run("rebuild-snapshots")
    assert stack.redis.get(f"gh:snap:app:{app_id}") == document
    after = stack.read.get("/v1/versions", params=params, headers=headers)
    assert (after.content, after.headers["etag"]) == (answer.content, answer.headers["etag"])
    m2 = stack.read.get(
        "/v2/maintenance", params={"app_id": app_id, "environment": "production"}, headers=headers
    )
    assert (m2.content, m2.headers["etag"]) == (maintenance.content, maintenance.headers["etag"])

    # Ingestion through the real read service; the worker applies the event's batch.
    res = stack.read.post(
        "/v2/authenticate",
        headers=headers,
        json={"user_id": "u1", "platform": "android", "app_version": "3.1.0"},
    )
    assert res.json() == {"success": True, "user_id": "u1", "platform": "android", "app_version": "3.1.0"}
    wait_until(
        lambda: (
            [u["user_id"] for u in stack.write.get(f"/admin/v1/apps/{app_id}/users").json()["items"]]
            == ["u1"]
        ),
        timeout=5,
    )


def test_demo_data_and_single_rebuild_through_the_front_door(stack):
    """`gatehouse demo` loads apps the read service serves; the dev front door routes by path."""
    lines = stack.run("demo", "--apps", "2", "--rules", "5").strip().splitlines()
    app_id, client_token = lines[-1].split()
    headers = {"x-api-token": client_token}
    staging = {"app_id": app_id, "environment": "staging"}
    res = wait_until(
        lambda: (
            (r := stack.front.get("/v1/maintenance", params=staging, headers=headers)).status_code == 200
            and r
        )
    )
    assert res.json() == {
        "active": True,
        "title": "Scheduled maintenance",
        "description": "Back soon",
        "links": [{"title": "Status", "url": "https://status.example.com"}],
    }
    old = stack.front.get(
        "/v1/versions",
        headers=headers,
        params={"app_id": app_id, "app_version": "1.0.0", "platform": "ios", "environment": "production"},
    )
    assert old.status_code == 200 and old.json()["version"] == "1.2.0" and old.json()["force_update"] is True
    me = stack.front.get("/admin/v1/me", headers={"Authorization": f"Bearer {stack.token}"})
    assert me.status_code == 200 and me.json()["email"] == ADMIN_EMAIL
    assert "rebuilt 1 snapshot(s), 0 changed" in stack.run("rebuild-snapshots", "--app", app_id)


def test_services_recover_when_postgresql_drops_every_connection(stack):
    """A PostgreSQL restart or failover: the write API and the worker get fresh connections and carry on."""
    import psycopg

    from tests.conftest import E2E_DB

    team = stack.write.post("/admin/v1/teams", json={"name": "Recover"}).json()
    app = stack.write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Recover"}).json()
    token = stack.write.post(f"/admin/v1/apps/{app['id']}/tokens", json={"name": "r"}).json()["token"]
    for _ in range(30):  # every request thread now holds a connection
        assert stack.write.get("/admin/v1/me").status_code == 200
    base, _, name = E2E_DB.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "WITH victim AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = %s) "
                "SELECT pid FROM victim WHERE pg_terminate_backend(pid)",
                (name,),
            )
        ]
        # pg_terminate_backend only signals: wait until those backends have gone and closed their sockets,
        # as they have by the time a restarted server accepts connections again.
        wait_until(
            lambda: (
                conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()[
                    0
                ]
                == 0
            ),
            timeout=10,
        )
    assert len(pids) >= 2  # the write API's and the worker's
    # Every request thread held a connection the server closed: none of them may answer 5xx for it.
    statuses = [stack.write.get("/admin/v1/me").status_code for _ in range(40)]
    assert statuses == [200] * 40, statuses
    # The worker still renders: a rule written now reaches the read service.
    rule = stack.write.post(
        f"/admin/v1/apps/{app['id']}/versions",
        json={"version": "4.0.0", "platform": "ios", "environment": "production"},
    )
    assert rule.status_code == 201
    params = {"app_id": app["id"], "app_version": "4.0.0", "platform": "ios", "environment": "production"}
    wait_until(
        lambda: (
            stack.read.get("/v1/versions", params=params, headers={"x-api-token": token}).status_code == 200
        ),
        timeout=30,
    )


def test_a_chunked_json_body_through_gunicorn(stack):
    """The edge may forward a body chunked; it was read as empty (400 "Invalid request body")."""
    team = stack.write.post("/admin/v1/teams", json={"name": "Chunked"})
    assert team.status_code == 201

    def body():
        yield b'{"name": '
        yield b'"Chunked too"}'

    res = stack.write.post("/admin/v1/teams", content=body(), headers={"Content-Type": "application/json"})
    assert res.status_code == 201 and res.json()["name"] == "Chunked too"
    big = (b"x" * 65536 for _ in range(32))  # 2 MiB, past GATEHOUSE_MAX_BODY_BYTES, never announced
    assert stack.write.post("/admin/v1/teams", content=big).status_code == 413


def test_metrics_and_readiness_of_every_service(stack):
    import re

    team = stack.write.post("/admin/v1/teams", json={"name": "Metrics"}).json()
    app = stack.write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Metrics"}).json()
    token = stack.write.post(f"/admin/v1/apps/{app['id']}/tokens", json={"name": "m"}).json()["token"]
    params = {"app_id": app["id"], "app_version": "1.0.0", "platform": "ios", "environment": "production"}
    wait_until(
        lambda: (
            stack.read.get("/v1/versions", params=params, headers={"x-api-token": token}).status_code == 404
        )
    )
    for _ in range(20):  # spread over both read workers
        stack.read.get("/v1/versions", params=params, headers={"x-api-token": token})

    def total(text: str, name: str, *labels: str) -> float:
        """Sum of a metric's samples whose labels include every one of ``labels`` (in any order)."""
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") and all(label in line for label in labels)
        )

    # /health stays the spec's empty 200; readiness reports each dependency.
    assert (stack.read.get("/health").status_code, stack.read.get("/health").content) == (200, b"")
    ready = stack.read.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["snapshots"]["ok"] is True
    ready = stack.write.get("/ready").json()
    assert ready["ready"] is True and {k: v["ok"] for k, v in ready["checks"].items()} == {
        "database": True,
        "redis": True,
        "storage": True,
    }

    text = stack.read.get("/metrics").text  # one worker answers for both (multiprocess mode)
    served = total(text, "gatehouse_requests_total", 'route="/v1/versions"', 'status="404"')
    assert served >= 20
    assert len(re.findall(r"^gatehouse_snapshot_generation\{pid=", text, re.M)) == 2
    assert (
        "gatehouse_request_seconds_bucket" in text and "gatehouse_snapshot_synced_timestamp_seconds" in text
    )

    text = stack.write.get("/metrics").text
    for name in (
        "gatehouse_queue_jobs",
        "gatehouse_failed_jobs",
        "gatehouse_outbox_backlog",
        "gatehouse_outbox_oldest_seconds",
        "gatehouse_scheduler_tick_age_seconds",
        "gatehouse_live_workers",
    ):
        assert re.search(rf"^{name} [0-9.e+]+$", text, re.M), name
    assert float(re.search(r"^gatehouse_live_workers ([0-9.]+)$", text, re.M).group(1)) == 1
    assert float(re.search(r"^gatehouse_scheduler_tick_age_seconds ([0-9.e+-]+)$", text, re.M).group(1)) < 5
    assert total(text, "gatehouse_requests_total", 'route="/admin/v1/apps"', 'method="POST"') >= 1


def test_concurrent_app_config_creates_cannot_both_be_active(stack):
    """Eight admins create an active configuration at once through gunicorn: exactly one wins."""
    from concurrent.futures import ThreadPoolExecutor

    team = stack.write.post("/admin/v1/teams", json={"name": "Race"}).json()
    app = stack.write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Race"}).json()

    def create(i: int) -> int:
        with httpx.Client(base_url=str(stack.write.base_url), headers=stack.write.headers) as c:
            return c.post(
                "/app-config",
                params={"app_id": app["id"]},
                json={"minVersion": "1.0", "currentVersion": f"1.{i}"},
            ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(create, range(8)))
    assert statuses == [200] + [409] * 7, statuses
    configs = stack.write.get("/app-config", params={"app_id": app["id"]}).json()
    assert [c["isActive"] for c in configs] == [True]
