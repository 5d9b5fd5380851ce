from __future__ import annotations

import base64


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def check(reader, path: str, token: str | None, headers: dict | None = None, **params):
    h = dict(headers or {})
    if token is not None:
        h["x-api-token"] = token
    return reader.simulate_get(path, params={k: v for k, v in params.items() if v is not None}, headers=h)
