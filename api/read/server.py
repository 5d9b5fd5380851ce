"""The read service's gunicorn worker: uvicorn with httptools and uvloop, and a bounded request head.

uvicorn's httptools protocol buffers a request head of any size (a 16 MiB header was accepted),
so one client could hold memory in every connection it opens. This protocol counts the bytes of
each head as they arrive and refuses one past ``HEAD_LIMIT`` with 431 before buffering more, and
one whose header fields (names and values) pass ``HEADER_LIMIT`` with 431 before the app sees it.
"""

from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

HEAD_LIMIT = 16 * 1024
HEADER_LIMIT = 8192  # header names and values, as documented in api/openapi/read.yaml


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _head_bytes = 0
    _header_bytes = 0
    _in_head = True
    _refused = False

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

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head, self._head_bytes, self._header_bytes = True, 0, 0

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
