"""`gatehouse login` and `gatehouse upload` end to end, against the real gunicorn write API."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loadtest.stack import ADMIN_EMAIL
from tests.helpers import CuttingProxy


@pytest.fixture(scope="module")
def cli(stack, tmp_path_factory):
    config = tmp_path_factory.mktemp("config")
    env = {**stack.env, "XDG_CONFIG_HOME": str(config), "GATEHOUSE_PASSWORD": "load password"}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(
            [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True
        )
        if check and res.returncode != 0:
            raise AssertionError(res.stdout + res.stderr)
        return res

    run.config = config
    team = stack.write.post("/admin/v1/teams", json={"name": "CLI"}).json()
    run.app_id = stack.write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "CLI app"}).json()[
        "id"
    ]
    return run


def test_login_keeps_the_token_readable_by_the_user_only(cli, stack):
    bad = cli(
        "login",
        "--server",
        str(stack.write.base_url),
        "--email",
        ADMIN_EMAIL,
        "--password",
        "nope",
        check=False,
    )
    assert bad.returncode == 1 and "login failed (401: invalid credentials)" in bad.stderr
    out = cli("login", "--server", str(stack.write.base_url), "--email", ADMIN_EMAIL).stdout
    path = cli.config / "gatehouse" / "credentials.json"
    assert f"token saved in {path}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = __import__("json").loads(path.read_text())["token"]
    assert (
        httpx.get(f"{stack.write.base_url}/admin/v1/me", headers={"Authorization": f"Bearer {token}"}).json()[
            "email"
        ]
        == ADMIN_EMAIL
    )


def _tester_download(stack, version_id: str) -> bytes:
    token = httpx.post(
        f"{stack.write.base_url}/api/v1/auth", json={"email": ADMIN_EMAIL, "password": "load password"}
    ).json()["token"]
    res = httpx.get(
        f"{stack.write.base_url}/api/v1/versions/{version_id}/download",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert res.status_code == 200
    return res.content


def test_upload_with_progress_then_download_through_sendfile(cli, stack, tmp_path):
    cli("login", "--server", str(stack.write.base_url), "--email", ADMIN_EMAIL)
    data = os.urandom(3 * 1024 * 1024 + 17)
    apk = tmp_path / "CLI app 1.2.0.apk"
    apk.write_bytes(data)
    res = cli(
        "upload",
        "--app",
        cli.app_id,
        "--build-type",
        "release",
        "--version",
        "1.2.0",
        "--name",
        "January",
        str(apk),
    )
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in res.stdout
    assert "3.00M/3.00M" in res.stderr and "B/s" in res.stderr  # tqdm: bytes, rate
    version_id = res.stdout.split("version id ")[1].split(")")[0]
    assert _tester_download(stack, version_id) == data
    token = httpx.post(
        f"{stack.write.base_url}/api/v1/auth", json={"email": ADMIN_EMAIL, "password": "load password"}
    ).json()["token"]
    part = httpx.get(
        f"{stack.write.base_url}/api/v1/versions/{version_id}/download",
        headers={"Authorization": f"Bearer {token}", "Range": "bytes=1048570-1048599"},
    )
    assert part.status_code == 206 and part.content == data[1048570:1048600]  # sendfile at an offset, bounded
    again = cli("upload", "--app", cli.app_id, "--build-type", "release", "--version", "1.2.0", str(apk))
    assert "already has this file; nothing to do" in again.stdout
    other = tmp_path / "other.apk"
    other.write_bytes(b"other bytes")
    refused = cli(
        "upload",
        "--app",
        cli.app_id,
        "--build-type",
        "release",
        "--version",
        "1.2.0",
        str(other),
        check=False,
    )
    assert refused.returncode == 1 and "pass --replace" in refused.stderr
    bad_type = cli(
        "upload", "--app", cli.app_id, "--build-type", "beta", "--version", "1", str(other), check=False
    )
    assert bad_type.returncode == 2


def test_an_interrupted_upload_is_retried_cleanly(cli, stack, tmp_path):
    cli("login", "--server", str(stack.write.base_url), "--email", ADMIN_EMAIL)
    host, port = stack.write_addr.split(":")
    # One kept-alive connection carries the version's creation and then the artifact, cut after 1 MiB.
    proxy = CuttingProxy((host, int(port)), after=1024 * 1024, cuts=1)
    data = os.urandom(4 * 1024 * 1024)
    apk = tmp_path / "flaky.apk"
    apk.write_bytes(data)
    try:
        res = cli(
            "upload",
            "--app",
            cli.app_id,
            "--build-type",
            "debug",
            "--version",
            "2.0.0",
            "--server",
            f"http://127.0.0.1:{proxy.port}",
            str(apk),
        )
    finally:
        proxy.close()
    assert "connection lost" in res.stderr and "retrying (1/3)" in res.stderr, res.stdout + res.stderr
    version_id = res.stdout.split("version id ")[1].split(")")[0]
    assert _tester_download(stack, version_id) == data
    artifacts = Path(stack.env["GATEHOUSE_DATA_DIR"]) / "artifacts" / "builds"
    stored = [p for p in artifacts.rglob("*") if p.is_file() and p.parent.name == version_id]
    assert len(stored) == 1  # nothing left of the cut attempts


def test_chunked_upload_without_length_is_refused(cli, stack):
    version = stack.write.post(
        f"/admin/v1/apps/{cli.app_id}/builds", json={"build_type": "profile", "version": "9.9.9"}
    ).json()
    res = stack.write.put(
        f"/admin/v1/apps/{cli.app_id}/builds/{version['id']}/artifact",
        params={"filename": "a.apk"},
        content=iter([b"abc", b"def"]),
    )
    assert (res.status_code, res.json()) == (411, {"error": "Content-Length is required"})


def test_a_client_that_goes_away_mid_upload_leaves_no_file_and_no_artifact(cli, stack):
    import socket

    from loadtest.processes import wait_until

    version = stack.write.post(
        f"/admin/v1/apps/{cli.app_id}/builds", json={"build_type": "profile", "version": "7.0.0"}
    ).json()
    host, port = stack.write_addr.split(":")
    head = (
        f"PUT /admin/v1/apps/{cli.app_id}/builds/{version['id']}/artifact?filename=a.apk HTTP/1.1\r\n"
        f"Host: {stack.write_addr}\r\nAuthorization: Bearer {stack.token}\r\n"
        f"Content-Length: {4 * 1024 * 1024}\r\n\r\n"
    ).encode()
    build_dir = Path(stack.env["GATEHOUSE_DATA_DIR"]) / "artifacts" / "builds"

    def left_behind():
        return [p for p in build_dir.rglob("*") if p.is_file() and p.parent.name == version["id"]]

    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + b"x" * (1024 * 1024))  # a quarter of the promised body
        wait_until(left_behind, timeout=10)  # the server is writing it into a temporary file
        assert (
            stack.write.get(f"/admin/v1/apps/{cli.app_id}/builds/{version['id']}").json()["hasFile"] is False
        )
    # The client is gone: the server drops the partial file, and the version still has none.
    wait_until(lambda: not left_behind(), timeout=10)
    after = stack.write.get(f"/admin/v1/apps/{cli.app_id}/builds/{version['id']}").json()
    assert (after["hasFile"], after["size"], after["sha256"]) == (False, None, None)
