"""The read service's bounds, on the real gunicorn worker: header sizes and what unknown tokens cost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from loadtest.processes import free_port, wait_until
from loadtest.services import children, rss_bytes
from loadtest.stack import ROOT, up
from tests import lanes

# Each request carries a different bogus token of about 1 KiB.
WRK_SCRIPT = textwrap.dedent("""
    local pad = string.rep("x", 1000)
    local n = 0
    request = function()
      n = n + 1
      return wrk.format("GET", "/v1/versions?app_id=a&app_version=1.0.0&platform=ios&environment=production",
                        {["x-api-token"] = string.format("ghc_%d_%d_", math.random(1, 1e9), n) .. pad})
    end
    done = function(summary, latency, requests)
      io.write(string.format("requests=%d\\n", summary.requests))
    end
""")


def start_read_service(home, port: int) -> subprocess.Popen:
    """A read service with one worker under gunicorn, as deployed; it logs to ``home``/gunicorn.log."""
    env = {
        "GATEHOUSE_REDIS_URL": lanes.redis_url(8),
        "GATEHOUSE_LOG_LEVEL": "warning",
        "GATEHOUSE_READ_WORKERS": "1",
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
    }
    with open(home / "gunicorn.log", "w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "deploy/gunicorn_read.py",
                "--bind",
                f"127.0.0.1:{port}",
                "api.asgi:app",
            ],
            cwd=ROOT,
            env=env,
            stderr=log,
        )


@pytest.fixture(scope="module")
def read_service(tmp_path_factory):
    port = free_port()
    home = tmp_path_factory.mktemp("home")
    proc = start_read_service(home, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: up(url) and children(proc.pid), timeout=30)
        yield url, port, children(proc.pid)[0], tmp_path_factory.mktemp("wrk"), home / "gunicorn.log"
    finally:
        proc.terminate()
        proc.wait(10)


def raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(head)
        except OSError:
            pass  # the server may close before it has read everything
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_headers_past_8_kib_are_431(read_service):
    _, port, _, _, _ = read_service
    path = b"GET /v1/versions?app_id=a HTTP/1.1\r\nHost: x\r\n"
    ok = raw_request(port, path + b"x-api-token: " + b"t" * 7000 + b"\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 401")
    big = raw_request(port, path + b"x-api-token: " + b"t" * 9000 + b"\r\nConnection: close\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431") and big.endswith(b'{"error":"Request Header Fields Too Large"}')
    # Far past the limit the connection is refused before the head is buffered (16 MiB was accepted).
    huge = raw_request(port, path + b"x-api-token: " + b"t" * (4 * 1024 * 1024) + b"\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 431")


def test_bogus_tokens_retain_no_memory(read_service):
    url, _, worker, tmp, _ = read_service
    script = tmp / "tokens.lua"
    script.write_text(WRK_SCRIPT)
    # Warm up on one repeated request, so what follows measures only what distinct tokens retain.
    warm = subprocess.run(
        ["wrk", "-t1", "-c32", "-d1s", "-H", "x-api-token: ghc_same", url + "/v1/versions"],
        capture_output=True,
        text=True,
    )
    assert warm.returncode == 0, warm.stderr
    before = rss_bytes(worker)
    seconds = 4 * float(os.environ.get("GATEHOUSE_CHAOS_SCALE", "1"))
    sent = 0
    # Until 20,000 distinct tokens went in: on a machine busy with another test lane one run sent 15,535.
    for _ in range(10):
        res = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{seconds:g}s", "-s", str(script), url], capture_output=True, text=True
        )
        sent += int(res.stdout.split("requests=")[1].split()[0])
        if sent >= 20_000:
            break
    growth = rss_bytes(worker) - before
    print(
        f"\n{sent} bogus 1 KiB tokens: read worker RSS grew {growth / 2**20:.1f} MiB (limit 20)",
        file=sys.stderr,
    )
    assert sent >= 20_000 and growth < 20 * 2**20


def test_the_master_says_where_it_listens(read_service):
    """gunicorn's own line reads "Listening at:  (pid)" under reuse_port; the config adds the address."""
    _, port, _, _, log = read_service
    text = log.read_text()
    assert f"Listening at: 127.0.0.1:{port} (each worker binds it with SO_REUSEPORT)" in text
    # No control socket at gunicorn's one default path, which the read and write masters both claimed.
    assert not (log.parent / ".gunicorn").exists() and "control" not in text.lower()


def test_a_big_body_arriving_with_its_head_is_not_a_431(read_service):
    """A /stats batch of a few hundred KiB sent with its head in one write was refused as 431: the head
    limit counted the body's bytes."""
    import orjson

    from api.read.server import HEAD_LIMIT

    _, port, *_ = read_service
    event = {"app_id": "com.nobody.app", "device_id": "d" * 40, "action": "set"}
    body = orjson.dumps([event] * 1000)
    assert len(body) > 4 * HEAD_LIMIT
    head = f"POST /stats HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode() + body)
        answer = s.recv(65536).split(b"\r\n", 1)[0]
    assert answer.startswith(b"HTTP/1.1 200"), answer


def test_a_stopping_worker_answers_what_arrives_on_a_kept_connection(tmp_path):
    """A worker stopping (a deploy's graceful reload) keeps its kept-alive connections open a moment and
    answers a request arriving on one with "Connection: close". uvicorn closed them at once, and a client
    sending its next request just then saw the connection closed without an answer (tests/test_upgrade.py
    counted one per upgrade)."""
    port = free_port()
    proc = start_read_service(tmp_path, port)
    try:
        wait_until(lambda: up(f"http://127.0.0.1:{port}") and children(proc.pid), timeout=30)
        worker = children(proc.pid)[0]
        request = b"GET /health HTTP/1.1\r\nHost: read.test\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(request)
            first = s.recv(65536)
            assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower()
            os.kill(worker, signal.SIGTERM)
            time.sleep(0.5)  # stopping: its listener is closed, its connections not yet
            s.sendall(request)
            second = b""
            while chunk := s.recv(65536):
                second += chunk
        assert second.startswith(b"HTTP/1.1 200"), second
        assert b"connection: close" in second.lower()
    finally:
        proc.terminate()
        proc.wait(10)
