"""Request and response plumbing shared by every dialect of the write API."""

from __future__ import annotations

from typing import TypeVar

import falcon
import orjson
from pydantic import BaseModel, ValidationError

from store.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The raw body, refused with 413 past ``limit`` bytes whatever Content-Length claims."""
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(title="request body too large")
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise falcon.HTTPContentTooLarge(title="request body too large")
    return data


def parse_json(req: falcon.Request, limit: int):
    data = read_body(req, limit)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidInput("Invalid request body") from None


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return f"unknown field '{loc}'"
    if first["type"] == "missing":
        return f"{loc} is required"
    return f"{loc}: {first['msg']}"


def parse_model(req: falcon.Request, schema: type[M], limit: int) -> M:
    payload = parse_json(req, limit)
    if not isinstance(payload, dict):
        raise InvalidInput("request body must be a JSON object")
    try:
        return schema.model_validate(payload)
    except ValidationError as err:
        raise InvalidInput(_describe(err)) from None


def int_param(req: falcon.Request, name: str, default: int) -> int:
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None


def page_params(req: falcon.Request) -> tuple[int, int]:
    return int_param(req, "page", 1), int_param(req, "per_page", 50)


def send(resp: falcon.Response, obj, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(obj)
