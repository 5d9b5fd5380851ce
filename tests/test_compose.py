"""deploy/compose.yaml brought up with podman-compose (`make image`), as deploy/README.md's "Install" does
where no registry is reachable: every image made locally (deploy/podman.py), compose's own network, and
each dialect's client call through the edge's published port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from deploy.podman import APP, BASE, EDGE, POSTGRES, REDIS, build_all, podman, podman_env
from loadtest.processes import free_port, wait_until
from tests.containers import Services, report, wait_answering
from tests.worlds import answers, check_every_dialect, seed, wait_for_offer

pytestmark = pytest.mark.image
ROOT = Path(__file__).resolve().parents[1]
ROLES = ("postgres", "redis", "worker", "read", "write", "edge")


@pytest.fixture(scope="module")
def compose():
    build_all(services=True)
    project, port = f"ghcompose{uuid.uuid4().hex[:6]}", free_port()
    env = podman_env() | {
        "GATEHOUSE_IMAGE": APP,
        "GATEHOUSE_EDGE_IMAGE": EDGE,
        "GATEHOUSE_POSTGRES_IMAGE": POSTGRES,
        "GATEHOUSE_REDIS_IMAGE": REDIS,
        "GATEHOUSE_BASE_IMAGE": BASE,
        "GATEHOUSE_EDGE_PORT": str(port),
    }
    command = [sys.executable, "-m", "podman_compose", "-p", project, "-f", str(ROOT / "deploy/compose.yaml")]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300)

    started = time.monotonic()
    up = run("up", "--detach")
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield project, f"http://127.0.0.1:{port}", started
    finally:
        for role in ROLES:  # pytest shows what a test printed only when it failed
            logs = podman("logs", f"{project}_{role}_1", check=False)
            print(f"--- {role}\n{(logs.stdout + logs.stderr)[-2000:]}")
        down = run("down", "--volumes")
        assert down.returncode == 0, down.stderr[-3000:]
        assert podman("volume", "ls", "--quiet", "--filter", f"name={project}").stdout.strip() == ""


def test_compose_comes_up_and_answers_every_dialect_through_the_edge(compose):
    project, edge, started = compose
    wait_answering(f"{edge}/health", timeout=90)  # the read service, through the edge
    report(f"compose up to first answer through the edge: {time.monotonic() - started:.1f} s")

    def exec_in_worker(*cmd: str) -> subprocess.CompletedProcess:
        return podman("exec", f"{project}_worker_1", *cmd, check=False)

    wait_until(lambda: exec_in_worker("gatehouse", "migrate", "--check").returncode == 0, timeout=60)
    made = exec_in_worker(
        "gatehouse", "create-user", "--email", "load@example.com", "--password", "load password",
        "--role", "super_admin",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = exec_in_worker("gatehouse", "create-token", "--email", "load@example.com").stdout.strip()
    # Every container's health check passes (no systemd here to time them: run on demand).
    for role in ROLES:
        name = f"{project}_{role}_1"
        wait_until(
            lambda name=name: podman("healthcheck", "run", name, check=False).returncode == 0, timeout=30
        )

    services = Services(edge, token, started)
    world = seed(services, product=True)
    wait_for_offer(services)
    check_every_dialect(answers(services, world))
    # The uploads are on the write API's volume, not in its container's layer.
    stored = podman("exec", f"{project}_write_1", "sh", "-c", "find /var/lib/gatehouse -type f | wc -l")
    volume = podman("volume", "inspect", "--format", "{{.Mountpoint}}", f"{project}_artifacts").stdout.strip()
    assert int(stored.stdout) >= 3 and sum(1 for p in Path(volume).rglob("*") if p.is_file()) >= 3
    assert os.path.isdir(volume)
