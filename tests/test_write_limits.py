"""The write API's threads against slow and refused uploads, through real gunicorn (the second hardening
round, items 10 and 11): a stalled body answers 408 within GATEHOUSE_BODY_READ_TIMEOUT and frees its
thread, one address cannot hold more than its share of uploads, and an answer given before its body was
read says ``Connection: close`` and closes, so a keep-alive client never loses its next request."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from loadtest.stack import production_stack
from tests import lanes


@pytest.fixture(scope="module")
def write_api():
    with production_stack(
        lanes.pg("gatehouse_limits"),
        lanes.redis_url(3),
        "gatehouse-limits",
        GATEHOUSE_READ_WORKERS="1",
        GATEHOUSE_WRITE_WORKERS="1",
        GATEHOUSE_WRITE_THREADS="6",
        GATEHOUSE_BODY_READ_TIMEOUT="2",
        GATEHOUSE_UPLOADS_PER_ADDRESS="2",
        GATEHOUSE_MAX_BODY_BYTES="65536",
        GATEHOUSE_ICON_MAX_BYTES="200000",
    ) as st:
        admin = httpx.Client(
            base_url=st.write, headers={"Authorization": f"Bearer {st.admin_token}"}, timeout=10
        )
        team = admin.post("/admin/v1/teams", json={"name": "Limits"}).json()
        app = admin.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Limits"}).json()
        host, port = st.write.removeprefix("http://").split(":")
        st.addr = (host, int(port))
        st.app_id = app["id"]
        yield st


def open_upload(st, length: int, sent: bytes = b"x" * 10) -> socket.socket:
    """An icon upload that announces ``length`` bytes and sends ``sent``, then stalls."""
    s = socket.create_connection(st.addr, timeout=15)
    head = (
        f"PUT /admin/v1/apps/{st.app_id}/icon?filename=icon.png HTTP/1.1\r\n"
        f"Host: {st.addr[0]}\r\nAuthorization: Bearer {st.admin_token}\r\n"
        f"Content-Type: image/png\r\nContent-Length: {length}\r\n\r\n"
    )
    s.sendall(head.encode() + sent)
    return s


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, rest


def closed(s: socket.socket) -> bool:
    s.settimeout(2)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_a_stalled_upload_answers_408_and_frees_its_thread(write_api):
    started = time.monotonic()
    s = open_upload(write_api, 100_000)
    status, headers, body = read_response(s)
    waited = time.monotonic() - started
    assert status == 408 and b"not received in time" in body
    assert headers["connection"] == "close" and closed(s)
    s.close()
    assert waited < 10, waited  # GATEHOUSE_BODY_READ_TIMEOUT is 2 s here; the thread was held 70 s and more
    print(f"a stalled upload was answered 408 after {waited:.1f} s")


def test_one_address_holds_at_most_its_share_of_upload_threads(write_api):
    stalled = [open_upload(write_api, 100_000) for _ in range(2)]
    time.sleep(0.3)
    try:
        third = open_upload(write_api, 100_000)
        status, headers, body = read_response(third)
        assert status == 429 and headers["retry-after"] == "5" and headers["connection"] == "close"
        third.close()
        # Every other request is still answered at once.
        assert httpx.get(f"{write_api.write}/health", timeout=2).status_code == 200
    finally:
        for s in stalled:
            s.close()
        # The server's threads notice at their read timeout (2 s here), then free the address's slots.
        time.sleep(2.5)


@pytest.mark.parametrize(
    "request_head",
    [
        # 413: the body is larger than the JSON bound; it is not read.
        "POST /admin/v1/teams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n",
        # 411: an upload without Content-Length.
        "PUT /admin/v1/apps/{app}/icon?filename=i.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
    ids=["413", "411"],
)
def test_an_answer_before_the_body_says_close(write_api, request_head):
    s = socket.create_connection(write_api.addr, timeout=10)
    s.sendall(request_head.format(app=write_api.app_id, token=write_api.admin_token).encode())
    status, headers, _ = read_response(s)
    assert status in (411, 413)
    assert headers.get("connection") == "close"
    assert closed(s)
    s.close()
    # A well-formed request on a new connection keeps the connection open as usual.
    with httpx.Client(base_url=write_api.write) as c:
        assert c.get("/health").headers.get("connection", "keep-alive") == "keep-alive"
