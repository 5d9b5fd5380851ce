"""schemathesis over every OpenAPI document Gatehouse serves, against the real services, with valid credentials.

Bounded in time (GATEHOUSE_SCHEMATHESIS_SECONDS per document, 40 by default; the two documents run side by side),
with every check schemathesis has:
schema-valid data must be accepted and schema-violating data refused, besides any server error, status code,
header or body the document does not allow fails the test; the output names the case and how to replay it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loadtest.processes import wait_until
from loadtest.stack import production_stack
from tests import lanes

HERE = Path(__file__).parent / "schemathesis"
SECONDS = os.environ.get("GATEHOUSE_SCHEMATHESIS_SECONDS", "40")
CHECKS_OVERRIDE = os.environ.get("GATEHOUSE_SCHEMATHESIS_CHECKS")


@pytest.fixture(scope="module")
def seeded():
    db = lanes.pg("gatehouse_schemathesis")
    with production_stack(
        db,
        lanes.redis_url(7),
        "gatehouse-schemathesis",
        GATEHOUSE_READ_WORKERS="1",
        GATEHOUSE_WRITE_WORKERS="1",
        GATEHOUSE_LOGIN_MAX_FAILURES="1000000",
    ) as st:
        admin = httpx.Client(base_url=st.write, headers={"Authorization": f"Bearer {st.admin_token}"})
        team = admin.post("/admin/v1/teams", json={"name": "Schemathesis"}).json()
        app = admin.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Fuzzed"}).json()
        client = admin.post(f"/admin/v1/apps/{app['id']}/tokens", json={"name": "st"}).json()["token"]
        rule = admin.post(
            f"/admin/v1/apps/{app['id']}/versions",
            json={"version": "1.0.0", "platform": "ios", "environment": "production"},
        ).json()
        build = admin.post(
            f"/admin/v1/apps/{app['id']}/builds", json={"build_type": "release", "version": "1.0.0"}
        ).json()
        admin.put(
            f"/admin/v1/apps/{app['id']}/builds/{build['id']}/artifact",
            params={"filename": "a.apk"},
            content=b"0123456789",
        )
        env = {
            **os.environ,
            "GH_ST_TOKEN": st.admin_token,
            "GH_ST_APP": app["id"],
            "GH_ST_TEAM": str(team["id"]),
            "GH_ST_BUILD": str(build["id"]),
            "GH_ST_RULE": str(rule["id"]),
            "GH_ST_CLIENT": client,
        }
        wait_until(
            lambda: (
                httpx.get(
                    f"{st.read}/v1/maintenance",
                    headers={"x-api-token": client},
                    params={"app_id": app["id"], "environment": "production"},
                ).status_code
                == 200
            ),
            timeout=15,
        )
        yield st, env


def start_schemathesis(config: str, url: str, env: dict, log: Path, *extra: str) -> subprocess.Popen:
    """One schemathesis run in the background, its output to ``log`` (a pipe would fill and stall it)."""
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(HERE / config),
        "run",
        url,
        "--max-time",
        SECONDS,
        # Every check schemathesis has, unless GATEHOUSE_SCHEMATHESIS_CHECKS narrows them; the configuration
        # files turn single checks off for single operations, with the reason.
        *(["--checks", CHECKS_OVERRIDE] if CHECKS_OVERRIDE else []),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        "1",
        "--suppress-health-check",
        "all",
        "--workers",
        "1",
        *extra,
    ]
    with log.open("w") as out:  # the child holds its own descriptor; the test's is closed at once
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def runs(seeded, tmp_path_factory):
    """Both documents are fuzzed at once, each for its own time budget against its own service: the two
    runs wait on the services more than they compute, so side by side they take the wall time of one."""
    st, env = seeded
    logs = tmp_path_factory.mktemp("schemathesis")
    # The caller deleting itself or changing its own password (which revokes its tokens) would end the run.
    procs = {
        "write": start_schemathesis(
            "write.toml",
            f"{st.write}/openapi.json",
            env,
            logs / "write.log",
            "--exclude-path-regex",
            r"^/admin/v1/users/\{user_id\}$",
        ),
        "read": start_schemathesis("read.toml", f"{st.read}/openapi.json", env, logs / "read.log"),
    }
    yield procs, logs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def finished(runs: tuple[dict[str, subprocess.Popen], Path], name: str) -> tuple[int, str]:
    procs, logs = runs
    code = procs[name].wait(timeout=int(SECONDS) * 4 + 60)
    out = (logs / f"{name}.log").read_text()
    Path(f"/tmp/schemathesis-{name}.log").write_text(out)
    print(out[-6000:], file=sys.stderr)
    return code, out


def test_write_api_document(runs):
    code, out = finished(runs, "write")
    assert code == 0, out[-20000:]


def test_read_service_document(runs):
    code, out = finished(runs, "read")
    assert code == 0, out[-20000:]
