"""Gatehouse's OpenAPI 3.1 documents, one per service, served as JSON at /openapi.json.

Each service's document is its own part (api/openapi/<service>.yaml: info, shared components, the
service routes) joined with every dialect's operations on that service (api/dialects/<name>/openapi.yaml),
in the registry's order.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import orjson
import yaml

DIR = Path(__file__).parent / "openapi"
DIALECTS_DIR = Path(__file__).parent / "dialects"


@cache
def load(name: str) -> dict:
    from api.dialects.registry import DIALECTS

    doc = yaml.safe_load((DIR / f"{name}.yaml").read_text())
    for dialect in DIALECTS:
        part = DIALECTS_DIR / dialect.name / "openapi.yaml"
        if part.exists():
            service = yaml.safe_load(part.read_text()).get(name) or {}
            doc["paths"] |= service.get("paths", {})
            # A dialect may keep its own schemas in its room; names must not collide.
            for kind, items in (service.get("components") or {}).items():
                doc.setdefault("components", {}).setdefault(kind, {}).update(items)
    return doc


@cache
def as_json(name: str) -> bytes:
    return orjson.dumps(load(name))


def reason(title: str) -> str:
    """Falcon titles read "404 Not Found"; the dialects say "Not Found"."""
    code, _, text = title.partition(" ")
    return text if code.isdigit() and text else title
