"""The read service's gunicorn worker: uvicorn with httptools and uvloop, and a bounded request head.

uvicorn's httptools protocol buffers a request head of any size (a 16 MiB header was accepted),
so one client could hold memory in every connection it opens. This protocol counts the bytes of
each head as they arrive and refuses one past ``HEAD_LIMIT`` with 431 before buffering more, and
one whose header fields (names and values) pass ``HEADER_LIMIT`` with 431 before the app sees it.

A stopping worker drains its kept-alive connections instead of closing them at once (uvicorn's way): a
client may be sending its next request on one just then, and would see the connection closed without an
answer (one poller in tests/test_upgrade.py did, once per upgrade). Each stays open ``DRAIN_SECONDS`` at
most; a request arriving meanwhile is answered with ``Connection: close`` (RFC 9112 section 9.6), as
gunicorn 27's gthread worker does for the write API.

An answer the app has whole (every client call answered straight from ASGI) leaves in one write: ASGI sends
the head and the body as two events, and uvicorn wrote each at once, so every answer cost two send()
calls and two TCP segments, a third of a read process's time under load (py-spy). The protocol puts
``send_whole`` in each request's scope; ``respond`` uses it where it is there and sends the two events
elsewhere (another server, the tests' ASGI calls).
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string
from uvicorn_worker import UvicornWorker

from api.read.respond import WHOLE, Headers

HEAD_LIMIT = 16 * 1024
HEADER_LIMIT = 8192  # header names and values, as documented in api/openapi/read.yaml
# Well inside gunicorn's graceful_timeout (deploy/gunicorn_read.py), which ends a stopping worker.
DRAIN_SECONDS = 2.0


async def send_whole(send, status: int, headers: Headers, body: bytes) -> None:
    """uvicorn's ``send`` of http.response.start, then of the whole http.response.body, with one write: the
    same checks, the same bytes, and the same end of the response (keep-alive, the next pipelined request).
    ``send`` is the request's own (its cycle's bound method); one another layer wrapped is called twice."""
    cycle = getattr(send, "__self__", None)
    if not isinstance(cycle, RequestResponseCycle) or cycle.response_started or status not in STATUS_LINE:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if cycle.flow.write_paused and not cycle.disconnected:
        await cycle.flow.drain()
    if cycle.disconnected:
        return
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    if cycle.access_log:
        cycle.access_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            get_client_addr(cycle.scope),
            cycle.scope["method"],
            get_path_with_query_string(cycle.scope),
            cycle.scope["http_version"],
            status,
        )
    content = [STATUS_LINE[status]]
    has_connection_close = False
    for name, value in (*cycle.default_headers, *headers):
        if HEADER_RE.search(name):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(value):
            raise RuntimeError("Invalid HTTP header value.")
        name = name.lower()
        if name == b"content-length" and cycle.chunked_encoding is None:
            cycle.expected_content_length = int(value.decode())
            cycle.chunked_encoding = False
        elif name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
            cycle.keep_alive = False
            has_connection_close = True
        elif name == b"transfer-encoding":
            raise RuntimeError("A whole answer has a Content-Length, never chunks.")
        content.extend((name, b": ", value, b"\r\n"))
    if not cycle.keep_alive and not has_connection_close:
        content.append(b"connection: close\r\n")
    head = cycle.scope["method"] == "HEAD"
    if cycle.chunked_encoding is None and not head and status not in (204, 304):
        raise RuntimeError("A whole answer has a Content-Length.")
    content.append(b"\r\n")
    if head:
        cycle.expected_content_length = 0
    elif len(body) != cycle.expected_content_length:
        raise RuntimeError("Response content does not match its Content-Length")
    else:
        cycle.expected_content_length = 0
        content.append(body)
    cycle.transport.write(b"".join(content))
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _head_bytes = 0
    _header_bytes = 0
    _in_head = True
    _refused = False
    _draining = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # whatever else arrives before the close
        if self._in_head:
            # Only the head counts: a chunk may carry the body after it (a /stats batch of a few hundred
            # KiB arrived with its head in one read and was refused as a 431).
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > HEAD_LIMIT:
                self._refuse()
                return
        super().data_received(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._header_bytes > HEADER_LIMIT:
            self._refuse()
            return
        super().on_headers_complete()
        # The function, not one bound to this request's cycle: the scope holding the cycle that holds the
        # scope left every request's objects to the cyclic garbage collector (5-6 us an answer, measured).
        scope: dict = self.scope  # type: ignore[assignment]
        scope[WHOLE] = send_whole
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with "Connection: close", then closed

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head, self._head_bytes, self._header_bytes = True, 0, 0

    def shutdown(self) -> None:
        """The server stops: a request in flight ends the connection once answered; an idle one lingers."""
        self._draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        else:
            self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        # else: the request it is answering has keep_alive False, so the connection closes after it

    def _refuse(self) -> None:
        body = orjson.dumps({"error": "Request Header Fields Too Large"})
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()
        self._refused = True


class ReadWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "auto", "http": BoundedHttpToolsProtocol}
