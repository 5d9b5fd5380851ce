"""Answers whose head and body are known, sent in one write where the server can (api/read/server.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

WHOLE = "gatehouse.send_whole"  # the scope's key of the server's ``send_whole(send, status, headers, body)``

Headers = Sequence[tuple[bytes, bytes]]


async def respond(
    scope: dict, send: Callable[[dict], Awaitable[None]], status: int, headers: Headers, body: bytes
) -> None:
    """Sends an answer whose head and body are known: in one write where the server offers it (the read
    worker's ``send_whole``, api/read/server.py), else as ASGI's two events. The bytes on the wire are the same."""
    whole = scope.get(WHOLE)
    if whole is not None:
        await whole(send, status, headers, body)
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
