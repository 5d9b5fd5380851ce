"""The single front door of `gatehouse dev`: routes by path like the production edge proxy.

Client checks go to the read service, everything else to the write API. It forwards what the edge
forwards: the Host the user typed (every URL Gatehouse builds, bundle links, upload answers, product
pages and their QR codes, is built from it; dropped, they named the services' internal ports), and
X-Forwarded-For and X-Forwarded-Proto (`gatehouse dev` trusts one hop, GATEHOUSE_FORWARDED_FOR_HOPS=1).
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
# Set here from the request this door received (a client's own values would otherwise pass as the edge's).
_FORWARDED = {"host", "x-forwarded-for", "x-forwarded-proto"}


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
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in _HOP | _FORWARDED
        ]
        given = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        peer = str(tuple(scope.get("client") or ("unknown", 0))[0])
        chain = given.get("x-forwarded-for")
        headers += [
            ("X-Forwarded-For", f"{chain}, {peer}" if chain else peer),
            ("X-Forwarded-Proto", scope.get("scheme", "http")),
        ]
        if "host" in given:
            headers.append(("Host", given["host"]))

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
