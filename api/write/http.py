"""Request and response plumbing shared by every dialect of the write API."""

from __future__ import annotations

from typing import Any, TypeVar

import falcon
import orjson
from pydantic import BaseModel, ValidationError

from store.bounds import has_nul
from store.errors import InvalidInput
from store.pagination import MAX_PER_PAGE

M = TypeVar("M", bound=BaseModel)

# The default of a body field that may be left out but not sent as null (a strict schema refuses null for
# a field typed without ``| None``; null would mean "clear it", which those columns cannot be).
OMITTED: Any = None


def body_stream(req: falcon.Request):
    """The request body as a file: Content-Length bounded, or chunked (gunicorn decodes it and ends it).

    Falcon's bounded stream reads nothing without Content-Length, which made a chunked body (as the
    edge may forward one) look empty.
    """
    if req.content_length is None and "chunked" in (req.get_header("Transfer-Encoding") or "").lower():
        return req.stream
    return req.bounded_stream


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The raw body, refused with 413 past ``limit`` bytes whatever Content-Length claims."""
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(title="request body too large")
    stream, chunks, size = body_stream(req), [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise falcon.HTTPContentTooLarge(title="request body too large")
    return b"".join(chunks)


def parse_json(req: falcon.Request, limit: int):
    data = read_body(req, limit)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidInput("Invalid request body") from None
    if has_nul(payload):
        raise InvalidInput("strings must not contain NUL characters")
    return payload


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return f"unknown field '{loc}'"
    if first["type"] == "missing":
        return f"{loc} is required"
    return f"{loc}: {first['msg']}"


def _integral(value):
    """JSON has one number type: 223.0 is the integer 223 (as JSON Schema's "integer" says), which a
    strict model refused. Floats without a fraction become ints; a float field still takes them."""
    if type(value) is float and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if type(value) is dict:
        return {k: _integral(v) for k, v in value.items()}
    if type(value) is list:
        return [_integral(v) for v in value]
    return value


def parse_model(req: falcon.Request, schema: type[M], limit: int) -> M:
    payload = parse_json(req, limit)
    if not isinstance(payload, dict):
        raise InvalidInput("request body must be a JSON object")
    try:
        return schema.model_validate(_integral(payload))
    except ValidationError as err:
        raise InvalidInput(_describe(err)) from None


MAX_PAGE = 1_000_000


def int_param(req: falcon.Request, name: str, default: int, lowest: int, highest: int) -> int:
    raw = req.get_param(name)
    if raw is None:
        return default
    # Bounded before it reaches SQL: 10**20 overflowed PostgreSQL's bigint (a 500).
    if not (raw.isascii() and raw.lstrip("-").isdigit()) or not lowest <= int(raw) <= highest:
        raise InvalidInput(f"{name} must be an integer from {lowest} to {highest}")
    return int(raw)


def page_params(req: falcon.Request) -> tuple[int, int]:
    return int_param(req, "page", 1, 0, MAX_PAGE), int_param(req, "per_page", 50, 0, MAX_PER_PAGE)


def send(resp: falcon.Response, obj, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(obj)
