"""The single front door of `gatehouse dev`: routes by path like the production edge proxy.

Client checks go to the read service, everything else to the write API.
"""

from __future__ import annotations

import httpx

from api.dialects.registry import is_read_path

_HOP = {
    "date",
    "server",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "te",
    "trailer",
}


def create_front(read_url: str, write_url: str):
    client = httpx.AsyncClient(timeout=60)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        base = read_url if is_read_path(scope["path"]) else write_url
        url = (
            base
            + scope["raw_path"].decode()
            + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
        )
        headers = [
            (k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() not in _HOP | {"host"}
        ]

        async def body():
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
                yield message.get("body", b"")

        request = client.build_request(
            scope["method"],
            url,
            headers=headers,
            content=body() if scope["method"] not in ("GET", "HEAD") else None,
        )
        upstream = await client.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status_code,
                    "headers": [
                        (k.encode(), v.encode()) for k, v in upstream.headers.items() if k.lower() not in _HOP
                    ],
                }
            )
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await upstream.aclose()

    return app


def from_env():
    import os

    return create_front(os.environ["GATEHOUSE_FRONT_READ"], os.environ["GATEHOUSE_FRONT_WRITE"])
