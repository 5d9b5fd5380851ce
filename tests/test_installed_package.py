"""The package as pip installs it outside the checkout (what deploy/Dockerfile's build stage does, in
`make test`; `make image` builds and runs the image itself): migrations and OpenAPI documents ship as
package data, and the services start from any working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from loadtest.processes import free_port, recreate_database, wait_until
from tests import lanes

ROOT = Path(__file__).resolve().parents[1]


def test_the_installed_package_migrates_and_serves_outside_the_checkout(tmp_path):
    site = tmp_path / "site"
    # Built from a copy: setuptools leaves build/ beside the source, and a build/lib/ copy of the tree in
    # the checkout doubled every grep (issue 21).
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "data", "*.egg-info", "__pycache__", "node_modules"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(source)],
        check=True,
        capture_output=True,
    )
    # An empty working directory (the image's is its data directory): gunicorn's configuration comes from
    # the installed package, not from a deploy/ beside the process.
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    database = lanes.pg("gatehouse_image")
    recreate_database(database)
    deps = [p for p in sys.path if p.endswith("site-packages")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), *deps]),
        "GATEHOUSE_DATABASE_URL": database,
        "GATEHOUSE_REDIS_URL": lanes.redis_url(10),
        "GATEHOUSE_DATA_DIR": str(tmp_path / "data"),
        "GATEHOUSE_LOG_LEVEL": "info",
        "GATEHOUSE_WRITE_WORKERS": "1",
    }
    cli = [sys.executable, "-c", "from api.cli import main; main()"]
    migrated = subprocess.run([*cli, "migrate"], env=env, cwd=workdir, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    assert "0003_downloads" in migrated.stdout + migrated.stderr  # migrations ship as package data
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "write", "--bind", f"127.0.0.1:{port}"], env=env, cwd=workdir, stderr=subprocess.PIPE
    )
    try:

        def up():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=30)
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert "/api/v1/versions/{version_id}/download" in spec["paths"]  # the OpenAPI documents ship too
        imported = subprocess.run(
            [sys.executable, "-c", "import api, store; print(api.__file__, store.__file__)"],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
        ).stdout
        assert str(ROOT) not in imported and str(site) in imported  # not the checkout
    finally:
        proc.terminate()
        # Within gunicorn's graceful timeout (30 s, its default for the write API): it stops in 0.5-0.6 s on
        # an idle machine, and once took more than 10 s while the rest of the suite loaded both cores.
        _, err = proc.communicate(timeout=40)
    # Structured logs: one JSON object per line for each request.
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    served = [e for e in lines if e.get("event") == "request" and e["path"] == "/openapi.json"]
    assert served and served[0]["status"] == 200 and served[0]["level"] == "info" and "timestamp" in served[0]
