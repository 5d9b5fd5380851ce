"""An answer sent whole (api/read/respond.py) leaves in one write, with the bytes ASGI's two events give.

A uvicorn server with the read service's protocol runs in a thread here; its app answers /whole through
``respond`` (one write) and /events with the two ASGI events, the same status, headers and body. Raw
sockets compare what arrives: kept-alive and pipelined requests, HEAD, a 304 without a body, a client's
``Connection: close``. A counting transport shows how many writes each answer cost.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

from api.read.respond import WHOLE, respond
from api.read.server import BoundedHttpToolsProtocol
from loadtest.processes import free_port

WRITES: list[int] = []


class _Counting:
    """The connection's transport, counting writes (uvloop's transport takes no new attributes)."""

    def __init__(self, transport):
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES[-1] += 1
        self._transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CountingProtocol(BoundedHttpToolsProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(_Counting(transport))  # type: ignore[arg-type]


def _answer(query: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    if query == b"304":
        return 304, [(b"etag", b'"abc"'), (b"cache-control", b"max-age=60")], b""
    body = b'{"version":"1.2.3","url":"https://example.test/b.zip"}'
    return 200, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], body


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    status, headers, body = _answer(scope["query_string"])
    WRITES.append(0)
    if scope["path"] == "/whole":
        assert WHOLE in scope
        await respond(scope, send, status, headers, body)
    else:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port():
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CountingProtocol, lifespan="off", date_header=False,
        log_level="warning", access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(10)


def exchange(port: int, data: bytes, answers: int) -> bytes:
    """Sends ``data`` and reads until ``answers`` answers (or the close) have arrived; a HEAD's has no body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        got = b""
        while got.count(b"HTTP/1.1 ") < answers or not _complete(got, answers, data.startswith(b"HEAD")):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def _complete(got: bytes, answers: int, head_request: bool) -> bool:
    rest = got
    for _ in range(answers):
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        if b" 304 " in head.split(b"\r\n")[0] or head_request:
            length = 0
        if len(rest) < length:
            return False
        rest = rest[length:]
    return True


REQUESTS = {
    "kept alive, twice": (b"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n" * 2, 2),
    "pipelined with a body": (
        b"POST {p} HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}GET {p} HTTP/1.1\r\nHost: t\r\n\r\n",
        2,
    ),
    "HEAD": (b"HEAD {p} HTTP/1.1\r\nHost: t\r\n\r\n", 1),
    "304 without a body": (b"GET {p}?304 HTTP/1.1\r\nHost: t\r\n\r\n", 1),
    "the client closes": (b"GET {p} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 1),
    "HTTP/1.0": (b"GET {p} HTTP/1.0\r\n\r\n", 1),
}


@pytest.mark.parametrize("case", list(REQUESTS))
def test_a_whole_answer_sends_the_bytes_of_the_two_events(port, case):
    template, answers = REQUESTS[case]
    whole = exchange(port, template.replace(b"{p}", b"/whole"), answers)
    events = exchange(port, template.replace(b"{p}", b"/events"), answers)
    assert whole == events
    assert whole.count(b"HTTP/1.1 ") == answers
    if case == "HEAD":
        assert whole.endswith(b"content-length: 54\r\n\r\n")
    if case in ("the client closes", "HTTP/1.0"):
        assert b"connection: close\r\n" in whole


def test_a_whole_answer_costs_one_write_and_the_two_events_two(port):
    WRITES.clear()
    exchange(port, b"GET /whole HTTP/1.1\r\nHost: t\r\n\r\n", 1)
    exchange(port, b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n", 1)
    assert WRITES == [1, 2]


def test_without_the_server_s_extension_respond_sends_the_two_events():
    sent: list[dict] = []

    async def send(event):
        sent.append(event)

    asyncio.run(respond({"type": "http"}, send, 200, [(b"content-length", b"2")], b"{}"))
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]},
        {"type": "http.response.body", "body": b"{}"},
    ]
