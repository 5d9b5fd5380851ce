"""The framework ceiling: a Falcon ASGI app answering one constant JSON body."""

import falcon.asgi

BODY = b'{"version":"2.5.0","platform":"ios","force_update":false,"update_message":"A new version is available."}'


class Constant:
    async def on_get(self, req, resp):
        resp.content_type = "application/json"
        resp.set_header("ETag", '"0123456789abcdef0123456789abcdef"')
        resp.data = BODY


app = falcon.asgi.App()
app.add_sink(Constant().on_get, "/")
