"""Request bodies on the write API's threads: a read timeout, a bound on concurrent uploads per address,
and an honest ``Connection`` header when a body is left unread.

A gthread worker has a few threads; a client that opens an upload and stops sending held one until the
socket died (70 s and more), so a handful of slow clients could take them all. Each request with a body
reads it under ``GATEHOUSE_BODY_READ_TIMEOUT`` (seconds without a byte; then 408 and the connection
closes), and one address may hold at most ``GATEHOUSE_UPLOADS_PER_ADDRESS`` uploads (bodies past
``max_body_bytes``) at once per process (429 past it); uploads of all addresses together leave two
threads free for everything else.

A request answered before its body was read (411, 413, any refusal of an upload) leaves bytes on the
connection that are not the next request: gunicorn then said ``Connection: keep-alive`` and closed the
socket, and a keep-alive client lost its next request. Such an answer now says ``close`` and closes:
gunicorn's own request object is marked through its ``pre_request`` hook (deploy/gunicorn_write.py).
The close lingers (reads and drops what the client still sends, at most LINGER seconds, so the answer
is not cut off by a reset) in the request's own thread (``Lingering``): gunicorn's linger runs on the
worker's main loop, where a client that neither sends nor closes stalled every connection for 2 s.
"""

from __future__ import annotations

import socket
import threading
import time

import falcon

from store.errors import TooManyRequests

_current = threading.local()


LINGER = 1.0
LINGER_BYTES = 65_536


def pre_request(worker, req) -> None:
    """gunicorn's hook: remembers the request this thread serves, so the app can ask it to close."""
    _current.req = req
    _current.closing = False


def force_close() -> None:
    """Makes the server answer ``Connection: close`` and close the connection after this response."""
    req = getattr(_current, "req", None)
    if req is not None:
        req.must_close = True
        _current.closing = True


def linger(sock: socket.socket) -> None:
    """Half-closes, drops what the client still sends for at most LINGER seconds, then stops reading, so
    the server's own close returns at once."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline, drained = time.monotonic() + LINGER, 0
        while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            data = sock.recv(4096)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


class Lingering:
    """WSGI wrapper: after a response that closes its connection is written, lingers in this thread."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        sock = environ.get("gunicorn.socket")
        if not getattr(_current, "closing", False) or not isinstance(sock, socket.socket):
            return result
        return _Closing(result, sock)


class _Closing:
    def __init__(self, result, sock: socket.socket):
        self.result, self.sock = result, sock

    def __iter__(self):
        return iter(self.result)

    def close(self) -> None:
        # gunicorn calls this once the whole response is written.
        try:
            if hasattr(self.result, "close"):
                self.result.close()
        finally:
            _current.closing = False
            linger(self.sock)


def has_body(req: falcon.Request) -> bool:
    return bool(req.content_length) or "chunked" in (req.get_header("Transfer-Encoding") or "").lower()


def unread(req: falcon.Request) -> bool:
    """Whether bytes of the body may still be on the connection."""
    if req.content_length:
        return not req.bounded_stream.eof
    return has_body(req)


class Uploads:
    """Concurrent uploads of this process, per address, bounded."""

    def __init__(self, per_address: int, total: int):
        self.per_address, self.total = per_address, max(total, 1)
        self.lock = threading.Lock()
        self.by_address: dict[str, int] = {}

    def enter(self, address: str) -> None:
        with self.lock:
            held = self.by_address.get(address, 0)
            if held >= self.per_address or sum(self.by_address.values()) >= self.total:
                raise TooManyRequests("too many uploads in progress; retry when one has finished", 5)
            self.by_address[address] = held + 1

    def leave(self, address: str) -> None:
        with self.lock:
            left = self.by_address.get(address, 1) - 1
            if left > 0:
                self.by_address[address] = left
            else:
                self.by_address.pop(address, None)


def set_read_timeout(req: falcon.Request, seconds: float | None) -> None:
    """The socket's timeout while this request's body is read (None: blocking again, as gunicorn keeps it)."""
    sock = req.env.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.settimeout(seconds)
        except OSError:
            pass
