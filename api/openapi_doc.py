"""Serves a hand-written OpenAPI 3.1 document (YAML in api/openapi/) as JSON."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import orjson
import yaml

DIR = Path(__file__).parent / "openapi"


@cache
def load(name: str) -> dict:
    return yaml.safe_load((DIR / f"{name}.yaml").read_text())


@cache
def as_json(name: str) -> bytes:
    return orjson.dumps(load(name))


def reason(title: str) -> str:
    """Falcon titles read "404 Not Found"; the dialects say "Not Found"."""
    code, _, text = title.partition(" ")
    return text if code.isdigit() and text else title
