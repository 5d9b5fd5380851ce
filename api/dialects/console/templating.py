"""The console's Jinja2 environment: templates beside this module, every value escaped unless marked safe."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from store import timefmt

TEMPLATES = Path(__file__).parent / "templates"


def _when(value) -> str:
    return timefmt.iso(value) or ""


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # Autoescape everything: every field an admin or a device controls (titles, messages, changelogs,
        # channel names, custom ids) reaches a page through these templates.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    return env


def render(name: str, **context) -> bytes:
    return environment().get_template(name).render(**context).encode()
