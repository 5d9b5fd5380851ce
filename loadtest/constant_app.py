"""The framework ceilings: a Falcon ASGI app answering one constant JSON body; for a POST (the /updates
ceiling) it first reads and parses the request's JSON body, as any device check must. ``raw_app`` gives the
same answers with no framework at all: the ceiling of what any Python ASGI app can do under the same server.
"""

import falcon.asgi
import orjson

BODY = b'{"version":"2.5.0","platform":"ios","force_update":false,"update_message":"A new version is available."}'
NO_UPDATE = b'{"error":"no_new_version_available","message":"No new version available"}'
ETAG = '"0123456789abcdef0123456789abcdef"'


class Constant:
    async def handle(self, req, resp):
        resp.content_type = "application/json"
        if req.method == "POST":
            orjson.loads(await req.stream.read())
            resp.data = NO_UPDATE
            return
        resp.set_header("ETag", ETAG)
        resp.data = BODY


app = falcon.asgi.App()
app.add_sink(Constant().handle, "/")

_GET_HEADERS = [
    (b"content-type", b"application/json"),
    (b"etag", ETAG.encode()),
    (b"content-length", str(len(BODY)).encode()),
]
_POST_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(NO_UPDATE)).encode())]


async def raw_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["method"] == "POST":
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        orjson.loads(b"".join(chunks))
        await send({"type": "http.response.start", "status": 200, "headers": _POST_HEADERS})
        await send({"type": "http.response.body", "body": NO_UPDATE})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _GET_HEADERS})
    await send({"type": "http.response.body", "body": BODY})
