"""The GitHub Actions workflow the README documents (deploy/github-actions/release.yml), run as GitHub would
run its steps: each `run` step in bash, with the job's environment (an upload key as GATEHOUSE_TOKEN), against
a live Gatehouse. The install step is the one left out: the CLI is installed here already."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import yaml

from loadtest.stack import ROOT
from tests import builds

WORKFLOW = ROOT / "deploy" / "github-actions" / "release.yml"


def test_the_documented_workflow_ships_a_bundle_and_a_build_with_an_upload_key(stack, tmp_path):
    team = stack.write.post("/admin/v1/teams", json={"name": "CI"}).json()["id"]
    app = stack.write.post(
        "/admin/v1/apps", json={"team_id": team, "title": "CI app", "package_name": "com.example.app"}
    ).json()["id"]
    made = stack.write.post(f"/admin/v1/teams/{team}/keys", json={"name": "github", "mode": "upload"})
    assert made.status_code == 201
    key = made.json()["key"]

    (tmp_path / "dist").mkdir()
    with zipfile.ZipFile(tmp_path / "dist" / "bundle.zip", "w") as z:
        z.writestr("index.html", "<!doctype html><title>App</title>")
    (tmp_path / "build").mkdir()
    # A real IPA (tests/builds.py): the admin upload checks its version and identifier against the build's.
    (tmp_path / "build" / "app.ipa").write_bytes(builds.ipa(version="1.4.0", identifier="com.example.app"))

    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["upload"]
    env = {
        **{k: str(v) for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")},
        # What the ${{ }} expressions give on GitHub: the repository's variables and secret, the tag.
        "GATEHOUSE_URL": str(stack.write.base_url),
        "GATEHOUSE_TOKEN": key,
        "APP_ID": app,
        "APP_PACKAGE": job["env"]["APP_PACKAGE"],
        "VERSION": "v1.4.0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # no saved login: the environment is all it has
    }
    outputs = []
    for step in job["steps"]:
        if "run" not in step or "pip install" in step["run"]:
            continue
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (step["name"], done.stdout, done.stderr)
        outputs.append(done.stdout + done.stderr)

    assert (
        "as bundle 1.4.0 of com.example.app" in outputs[0]
        and "channel production now serves it" in outputs[0]
    )
    # The channel the upload created is private: the CLI says devices cannot reach it, and how to open it.
    assert "channel production is private" in outputs[0] and "--public" in outputs[0]
    admin = stack.write
    listed = admin.get(f"/admin/v1/apps/{app}/builds").json()["items"]
    assert [(b["version"], b["build_type"]) for b in listed] == [("1.4.0", "release")]
    channel = httpx.get(
        f"{stack.write.base_url}/channel",
        params={"app_id": "com.example.app", "channel": "production"},
        headers={"authorization": stack.token},
    ).json()
    assert channel["version"]["name"] == "1.4.0"
    # The upload key did not become more: it cannot change a channel's flags on its own.
    refused = httpx.post(
        f"{stack.write.base_url}/channel",
        json={"app_id": "com.example.app", "channel": "production", "public": True},
        headers={"authorization": key},
    )
    assert refused.status_code == 403
    used = admin.get(f"/admin/v1/teams/{team}/keys").json()["items"][0]
    assert used["last_used_at"] is not None


def test_the_cli_covers_keys_channels_devices_and_app_config_from_the_environment(stack, tmp_path):
    team = stack.write.post("/admin/v1/teams", json={"name": "CLI"}).json()["id"]
    app = stack.write.post(
        "/admin/v1/apps", json={"team_id": team, "title": "CLI app", "package_name": "com.example.cli"}
    ).json()["id"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")},
        "GATEHOUSE_URL": str(stack.write.base_url),
        "GATEHOUSE_TOKEN": stack.token,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }

    def gatehouse(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout + done.stderr

    made = gatehouse("key", "create", "--team", str(team), "--name", "ci", "--mode", "upload", "--app", app)
    key_id, raw = made.split()[1], made.split()[3]
    assert raw.startswith("gatehouse_key_") and "shown once" in made
    assert f"{key_id}  gatehouse_key_" in gatehouse("key", "list", "--team", str(team))
    set_private = gatehouse("channel", "set", "--app", "com.example.cli", "--channel", "beta", "--no-android")
    assert "android=False" in set_private and "channel beta is private" in set_private
    opened = gatehouse("channel", "set", "--app", "com.example.cli", "--channel", "beta", "--public")
    assert "public=True" in opened and "private" not in opened
    assert "beta  public" in gatehouse("channel", "list", "--app", "com.example.cli")
    assert "pinned" in gatehouse(
        "device", "pin", "--app", "com.example.cli", "--device", "abc-123", "--channel", "beta"
    )
    assert '"channel": "beta"' in gatehouse(
        "device", "find", "--app", "com.example.cli", "--device", "abc-123"
    )
    assert "unpinned" in gatehouse("device", "unpin", "--app", "com.example.cli", "--device", "abc-123")
    config = gatehouse("app-config", "--app", app, "--min-version", "1.0.0", "--current-version", "1.2.0")
    assert '"currentVersion": "1.2.0"' in config
    assert "revoked" in gatehouse("key", "revoke", "--team", str(team), "--id", key_id)
    gone = httpx.get(f"{stack.write.base_url}/admin/v1/apps", headers={"Authorization": f"Bearer {raw}"})
    assert gone.status_code == 401


def test_uploads_without_a_version_take_the_files_own(stack, tmp_path):
    team = stack.write.post("/admin/v1/teams", json={"name": "Parsed"}).json()["id"]
    app = stack.write.post(
        "/admin/v1/apps", json={"team_id": team, "title": "Parsed", "package_name": "com.example.notes"}
    ).json()["id"]
    dist = httpx.Client(base_url=str(stack.write.base_url), headers={"X-Auth-Token": stack.token})
    variant = dist.post(
        f"/admin/api/products/{app}/variants", json={"platform": "ios", "display_name": "iPhone"}
    ).json()["data"]["variant"]["id"]
    (tmp_path / "app.ipa").write_bytes(builds.ipa(version="5.0.1", build="77"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")},
        "GATEHOUSE_URL": str(stack.write.base_url),
        "GATEHOUSE_TOKEN": stack.token,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    for args in (
        ["release", "upload", "--variant", variant, str(tmp_path / "app.ipa")],
        ["upload", "--app", app, "--build-type", "release", str(tmp_path / "app.ipa")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    releases = dist.get(f"/admin/api/products/{app}").json()["data"]["variants"][0]["releases"]
    assert [(r["version"], r["build"]) for r in releases] == [("5.0.1", 77)]
    builds_listed = stack.write.get(f"/admin/v1/apps/{app}/builds").json()["items"]
    # The admin listing shows the app's builds, the distribution release among them: both read 5.0.1.
    assert [b["version"] for b in builds_listed] == ["5.0.1", "5.0.1"]


def test_a_file_larger_than_its_content_length_is_refused_and_nothing_is_stored(stack):
    """The server reads Content-Length bytes and no more: the multipart form is cut short, so 400 in the
    distribution's format, and no release."""
    import socket

    team = stack.write.post("/admin/v1/teams", json={"name": "Short"}).json()["id"]
    app = stack.write.post("/admin/v1/apps", json={"team_id": team, "title": "Short"}).json()["id"]
    dist = httpx.Client(base_url=str(stack.write.base_url), headers={"X-Auth-Token": stack.token})
    variant = dist.post(f"/admin/api/products/{app}/variants", json={"platform": "android"}).json()["data"][
        "variant"
    ]["id"]
    boundary = "short-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="variant_id"\r\n\r\n{variant}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="app_file"; filename="a.apk"\r\n\r\n'
        ).encode()
        + builds.apk()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host, port = stack.write_addr.split(":")
    head = (
        f"POST /smart-upload HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {stack.token}\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body) - 700}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status == 400, answer[:300]
    assert b'"ok":false' in answer
    releases = dist.get(f"/admin/api/products/{app}").json()["data"]["variants"][0]["releases"]
    assert releases == []
