"""The console's stylesheet and script: two files from this room, cached by their content's digest."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import falcon

STATIC = Path(__file__).parent / "static"
TYPES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


@cache
def _file(name: str) -> tuple[bytes, str]:
    data = (STATIC / name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class Static:
    def on_get(self, req, resp, name):
        if name not in TYPES:
            raise falcon.HTTPNotFound(description="no such file")
        data, tag = _file(name)
        resp.content_type = TYPES[name]
        resp.set_header("ETag", tag)
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Content-Type-Options", "nosniff")
        if req.get_header("If-None-Match") == tag:
            resp.status = falcon.HTTP_304
            return
        resp.data = data
