"""`make run` as a new user meets it: `gatehouse dev` twice on the embedded defaults, its advice followed as printed."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys

import httpx

from loadtest.processes import free_port, wait_until
from loadtest.stack import ROOT
from tests import lanes

REDIS = lanes.redis_url(6)


def run_dev(env: dict, while_up=None) -> tuple[str, str]:
    """Starts `gatehouse dev`, waits for it to answer, hands what it printed so far to ``while_up``, stops it
    with Ctrl-C's signal; returns what it printed and what the app-config API's public route answered through
    the front door."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "dev"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{env['GATEHOUSE_PORT']}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/admin/v1/me", timeout=1).status_code == 401
        except httpx.HTTPError:
            return False

    def public() -> str | None:
        res = httpx.get(f"{base}/app-config/public", timeout=2)
        return res.text if res.status_code == 200 else None

    banner = ""
    try:
        wait_until(up, timeout=60, interval=0.2)
        answer = wait_until(public, timeout=20, interval=0.2)
        while while_up is not None and "client token:" not in banner and "lost password:" not in banner:
            banner += proc.stdout.readline()  # type: ignore[union-attr]
        if while_up is not None:
            while_up(banner)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    return banner + out, answer


def sign_in_as_printed(banner: str) -> None:
    """The console at the printed address, with the printed credentials: the apps page lists the printed app."""
    console = re.search(r"console:\s+(\S+)", banner).group(1)
    email, password = re.search(r"admin:\s+(\S+) / (\S+)", banner).groups()
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        first = client.get(console)
        assert first.status_code == 303 and "/console/login" in first.headers["location"]
        form = client.get(httpx.URL(console).join(first.headers["location"]))
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        signed = client.post(
            httpx.URL(console).join("/console/login"),
            data={"csrf": token, "email": email, "password": password},
        )
        assert signed.status_code == 303, signed.text
        apps = client.get(httpx.URL(console).join(signed.headers["location"]))
        app_id = re.search(r"app id:\s+(app_\w+)", banner).group(1)
        assert apps.status_code == 200 and app_id in apps.text


def test_first_and_second_run_say_what_to_run(tmp_path):
    env = {
        **os.environ,
        "GATEHOUSE_DATA_DIR": str(tmp_path / "data"),
        "GATEHOUSE_DATABASE_URL": "",
        "GATEHOUSE_REDIS_URL": REDIS,
        "GATEHOUSE_QUEUE_NAME": "gatehouse-first-run",
        "GATEHOUSE_PORT": str(free_port()),
        "GATEHOUSE_READ_PORT": str(free_port()),
        "GATEHOUSE_WRITE_PORT": str(free_port()),
        "GATEHOUSE_METRICS_DIR": str(tmp_path / "metrics"),
    }
    first, public = run_dev(env, sign_in_as_printed)
    assert public == "null"  # the spec's request, unchanged, answers for the demo app (no config yet)
    password = re.search(r"admin:\s+admin@localhost / (\S+)", first).group(1)
    assert f"redis:        {REDIS} (already running)" in first and "gh:" in first
    # The app-config API's default app is the demo app, so the spec's requests work unchanged.
    app_id = re.search(r"app id:\s+(app_\w+)", first).group(1)
    assert f"/app-config/public answers for {app_id}" in first

    second, _ = run_dev(env)
    assert password not in second
    assert re.search(r"console:\s+http://127\.0\.0\.1:\d+/console/  \(sign in as admin@localhost\)", second)
    token_cmd = re.search(r"admin token:\s+(.+create-token --email admin@localhost)$", second, re.M).group(1)
    reset_cmd = re.search(
        r"lost password:\s+(.+reset-password --email admin@localhost)$", second, re.M
    ).group(1)
    # Runnable as printed, from the directory `make run` runs in.
    token = subprocess.run(
        shlex.split(token_cmd), env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert token.stdout.strip().startswith("ghu_")
    reset = subprocess.run(
        shlex.split(reset_cmd), env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    new_password = re.search(r"set to: (\S+)$", reset.stdout.strip()).group(1)
    assert new_password != password
