"""The deployment shapes of deploy/: the nginx edge in front of the read service, and read
services scaled out on a Redis replica. Real nginx, real redis-server, real gunicorn."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import redis

from deploy.render_nginx import render
from loadtest.processes import free_port, wait_until
from loadtest.services import PrivateRedis
from tests.conftest import ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def new_app(stack) -> tuple[str, dict]:
    team = stack.write.post("/admin/v1/teams", json={"name": "Edge"}).json()
    app_id = stack.write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Edge"}).json()["id"]
    token = stack.write.post(f"/admin/v1/apps/{app_id}/tokens", json={}).json()["token"]
    return app_id, {"x-api-token": token}


def serve_read(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "read", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
        env=env,
        cwd=ROOT,
    )


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def run_dir():
    # nginx workers drop to an unprivileged user when started as root: they need to reach this directory.
    path = Path(tempfile.mkdtemp(prefix="gatehouse-edge-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_edge_keeps_answering_while_the_read_service_is_down(stack, run_dir):
    app_id, headers = new_app(stack)
    read_port, edge_port = free_port(), free_port()
    read = serve_read(stack.env, read_port)
    conf = run_dir / "nginx.conf"
    conf.write_text(
        render(
            LISTEN=f"127.0.0.1:{edge_port}",
            READ_UPSTREAM=f"127.0.0.1:{read_port}",
            WRITE_UPSTREAM=stack.write_addr,
            RUN_DIR=str(run_dir),
            CACHE_SECONDS="1",
        )
    )
    edge = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"])
    base = f"http://127.0.0.1:{edge_port}"
    try:
        wait_until(lambda: healthy(base) and healthy(f"http://127.0.0.1:{read_port}"), timeout=30)
        params = {"app_id": app_id, "environment": "production"}
        first = wait_until(
            lambda: (
                (r := httpx.get(base + "/v1/maintenance", params=params, headers=headers)).status_code == 200
                and r
            )
        )
        assert first.headers["x-cache-status"] in ("MISS", "EXPIRED")
        hit = httpx.get(base + "/v1/maintenance", params=params, headers=headers)
        assert hit.headers["x-cache-status"] == "HIT" and hit.content == first.content
        assert hit.headers["etag"] == first.headers["etag"]
        # Another token is another cache entry, never someone else's answer.
        assert (
            httpx.get(base + "/v1/maintenance", params=params, headers={"x-api-token": "ghc_x"}).status_code
            == 401
        )
        # Everything else reaches the write API.
        me = httpx.get(base + "/admin/v1/me", headers={"Authorization": f"Bearer {stack.token}"})
        assert me.status_code == 200
        # Metrics and readiness stay on the operator's network.
        for path in ("/metrics", "/ready"):
            hidden = httpx.get(base + path)
            assert (hidden.status_code, hidden.json()) == (404, {"error": "Not Found"})

        read.terminate()
        read.wait(10)
        time.sleep(2.2)  # past the edge's 1 s freshness, which nginx counts in whole seconds
        stale = httpx.get(base + "/v1/maintenance", params=params, headers=headers)
        assert stale.status_code == 200 and stale.content == first.content
        assert stale.headers["x-cache-status"] == "STALE"
    finally:
        edge.terminate()
        edge.wait(10)
        if read.poll() is None:
            read.terminate()
            read.wait(10)


def test_two_read_services_on_a_redis_replica_serve_a_change(stack, run_dir):
    primary = httpx.URL(stack.env["GATEHOUSE_REDIS_URL"])
    replica = PrivateRedis("--replicaof", primary.host, str(primary.port or 6379))
    replica.start()
    replica_port = replica.port
    env = {**stack.env, "GATEHOUSE_REDIS_URL": f"redis://127.0.0.1:{replica_port}{primary.path}"}

    def linked():
        try:
            info = redis.Redis(port=replica_port).info("replication")
        except redis.RedisError:
            return False
        return info.get("master_link_status") == "up"

    # The first full sync copies the whole primary, whatever else it holds: wait for it, then time.
    wait_until(linked, timeout=60)
    ports = [free_port(), free_port()]
    reads = [serve_read(env, p) for p in ports]
    try:
        wait_until(lambda: all(healthy(f"http://127.0.0.1:{p}") for p in ports), timeout=30)
        app_id, headers = new_app(stack)
        params = {"app_id": app_id, "app_version": "4.0.0", "platform": "ios", "environment": "production"}

        def answers(status):
            return all(
                httpx.get(f"http://127.0.0.1:{p}/v2/versions", params=params, headers=headers).status_code
                == status
                for p in ports
            )

        wait_until(lambda: answers(404), timeout=15)
        started = time.monotonic()
        stack.write.post(
            f"/admin/v1/apps/{app_id}/versions",
            json={"version": "4.0.0", "platform": "ios", "environment": "production"},
        )
        wait_until(lambda: answers(200), timeout=5)
        assert time.monotonic() - started < 5
    finally:
        for p in reads:
            p.terminate()
        for p in reads:
            p.wait(10)
        replica.close()


def write_edge(stack, run_dir: Path, **values: str) -> tuple[subprocess.Popen, str]:
    """nginx in front of the stack's write API alone (no read service behind it): the process and its URL."""
    port = free_port()
    conf = run_dir / "nginx.conf"
    conf.write_text(
        render(
            LISTEN=f"127.0.0.1:{port}",
            READ_UPSTREAM="127.0.0.1:9",
            WRITE_UPSTREAM=stack.write_addr,
            RUN_DIR=str(run_dir),
            **values,
        )
    )
    return subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"]), f"http://127.0.0.1:{port}"


def test_artifacts_and_icons_through_the_edge(stack, run_dir):
    """Uploads stream through nginx to the write API; ranged downloads and HEAD pass through; icons are cached."""
    import os

    app_id, _ = new_app(stack)
    edge, base = write_edge(stack, run_dir)
    admin = {"Authorization": f"Bearer {stack.token}"}
    try:
        wait_until(lambda: httpx.get(base + "/admin/v1/me", headers=admin).status_code == 200, timeout=30)
        build = httpx.post(
            base + f"/admin/v1/apps/{app_id}/builds",
            headers=admin,
            json={"build_type": "release", "version": "1.0.0"},
        ).json()
        data = os.urandom(3 * 1024 * 1024 + 5)
        up = httpx.put(
            base + f"/admin/v1/apps/{app_id}/builds/{build['id']}/artifact",
            headers=admin,
            params={"filename": "Édition.apk"},
            content=data,
            timeout=60,
        )
        assert up.status_code == 200 and up.json()["size"] == len(data)
        jwt = httpx.post(
            base + "/api/v1/auth", json={"email": "load@example.com", "password": "load password"}
        )
        tester = {"Authorization": f"Bearer {jwt.json()['token']}"}
        url = base + f"/api/v1/versions/{build['id']}/download"
        part = httpx.get(url, headers=tester | {"Range": "bytes=-1000"})
        assert part.status_code == 206 and part.content == data[-1000:]
        assert part.headers["content-range"] == f"bytes {len(data) - 1000}-{len(data) - 1}/{len(data)}"
        assert part.headers["content-disposition"].endswith("filename*=UTF-8''%C3%89dition.apk")
        assert httpx.get(url, headers=tester).content == data
        head = httpx.head(url, headers=tester)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(data))

        png = b"\x89PNG\r\n\x1a\n" + os.urandom(32)
        httpx.put(
            base + f"/admin/v1/apps/{app_id}/icon",
            params={"filename": "icon.png"},
            content=png,
            headers=admin,
        )
        icon = base + f"/api/files/apps/{app_id}/icon.png"
        first, second = httpx.get(icon), httpx.get(icon)
        assert first.content == second.content == png and first.headers["content-type"] == "image/png"
        assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT")
    finally:
        edge.terminate()
        edge.wait(10)


def test_fenfas_admin_ui_on_one_origin_with_the_api(stack, run_dir):
    """Issue 20: fenfa's admin UI (its built files) at /admin/ on the edge, calling Gatehouse's distribution
    API on the same origin with a one-team admin's token (GATEHOUSE_EDGE_ADMIN_UI_DIR)."""
    ui = run_dir / "fenfa-admin"
    (ui / "assets").mkdir(parents=True)
    (ui / "index.html").write_text(
        '<!doctype html><title>fenfa admin</title><script src="assets/app.js"></script>'
    )
    (ui / "assets" / "app.js").write_text("console.log('fenfa')")
    ui.chmod(0o755)
    edge, base = write_edge(stack, run_dir, ADMIN_UI_DIR=str(ui))
    try:
        wait_until(lambda: healthy_edge(base), timeout=30)
        assert httpx.get(base + "/admin").headers["location"].endswith("/admin/")
        page = httpx.get(base + "/admin/")
        assert page.status_code == 200 and "<title>fenfa admin</title>" in page.text
        assert httpx.get(base + "/admin/assets/app.js").text == "console.log('fenfa')"
        assert "<title>fenfa admin</title>" in httpx.get(base + "/admin/products/42").text  # the UI's routes
        team = stack.write.post("/admin/v1/teams", json={"name": "UI team"}).json()["id"]
        member = {"email": "ui-admin@example.com", "password": "ui admin password", "role": "admin"}
        assert stack.write.post(f"/admin/v1/teams/{team}/members", json=member).status_code == 201
        token = stack.run("create-token", "--email", "ui-admin@example.com").strip()
        made = httpx.post(
            base + "/admin/api/products",
            json={"name": "From the UI", "slug": "from-ui"},
            headers={"X-Auth-Token": token},
        )
        assert made.status_code == 201, made.text  # no team_id: the admin's one team
        listed = httpx.get(base + "/admin/api/products", headers={"X-Auth-Token": token}).json()
        assert [p["name"] for p in listed["data"]["items"]] == ["From the UI"]
        assert httpx.get(base + "/admin/api/products").status_code == 401
        export = httpx.get(base + "/admin/exports/releases.csv", headers={"X-Auth-Token": token})
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    finally:
        edge.terminate()
        edge.wait(10)


def healthy_edge(base: str) -> bool:
    try:
        return httpx.get(base + "/admin/").status_code == 200
    except httpx.HTTPError:
        return False


def test_two_masters_of_one_service_keep_each_others_metrics(tmp_path):
    """A second read service on the host (a rolling upgrade's new master) cleared the metrics directory the
    first one's workers write in: a worker booting at that moment failed with FileNotFoundError and its
    master shut down (seen as test_two_read_services_on_a_redis_replica_serve_a_change timing out)."""
    script = (
        "import sys, pathlib; from api.multiprocess import prepare; "
        "p = prepare('read', sys.argv[1]); (p / 'gauge_liveall_1.db').write_bytes(b'x'); print(p)"
    )
    first = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    keeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # The first master is gone by now; a live one is simulated by a directory named for a running pid.
        live = tmp_path / "read" / str(keeper.pid)
        live.mkdir()
        (live / "gauge_liveall_2.db").write_bytes(b"y")
        second = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True
        )
        assert second.returncode == 0, second.stderr
        mine = Path(second.stdout.strip())
        assert mine.parent == tmp_path / "read" and (mine / "gauge_liveall_1.db").exists()
        assert (live / "gauge_liveall_2.db").read_bytes() == b"y"  # a running master's files stay
        assert not Path(first.stdout.strip()).exists()  # a finished master's directory is cleared
    finally:
        keeper.kill()
        keeper.wait()
