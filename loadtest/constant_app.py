"""The framework ceilings: a Falcon ASGI app answering one constant JSON body; for a POST (the /updates
ceiling) it first reads and parses the request's JSON body, as any device check must."""

import falcon.asgi
import orjson

BODY = b'{"version":"2.5.0","platform":"ios","force_update":false,"update_message":"A new version is available."}'
NO_UPDATE = b'{"error":"no_new_version_available","message":"No new version available"}'


class Constant:
    async def handle(self, req, resp):
        resp.content_type = "application/json"
        if req.method == "POST":
            orjson.loads(await req.stream.read())
            resp.data = NO_UPDATE
            return
        resp.set_header("ETag", '"0123456789abcdef0123456789abcdef"')
        resp.data = BODY


app = falcon.asgi.App()
app.add_sink(Constant().handle, "/")
