"""Pages of rows: the store returns rows and counts; each dialect shapes them."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from store.errors import InvalidInput

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Page:
    rows: list
    page: int
    per_page: int
    total: int | None  # None: not counted (a keyset page of a table too large to count per request)
    # Lists that page by key (raw events): where the next page starts, None after the last one.
    next_cursor: str | None = None
    cursored: bool = False


def clamp(per_page: int) -> int:
    return max(1, min(per_page, MAX_PER_PAGE))


def cursor(*values) -> str:
    """An opaque cursor for the row a keyset page ended on."""
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def from_cursor(text: str, size: int) -> list:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidInput("cursor is not valid")
    return values


def paginate(query, page: int, per_page: int) -> Page:
    page = max(1, page)
    per_page = clamp(per_page)
    return Page(list(query.paginate(page, per_page)), page, per_page, query.count())


def keyset(
    q, key, batch: int = 2000, dicts: bool = False, newest_first: bool = False, limit: int | None = None
) -> Iterator:
    """Every row of ``q`` in batches of ``batch`` keyed on ``key`` (an id): constant memory however many
    rows an export reads, where one query's cursor held them all. The caller builds ``q`` (and its
    checks run) before the first row is asked for."""
    last, left = None, limit
    while left is None or left > 0:
        page = q.order_by(key.desc() if newest_first else key)
        if last is not None:
            page = page.where(key < last if newest_first else key > last)
        size = batch if left is None else min(batch, left)
        rows = list(page.limit(size).dicts() if dicts else page.limit(size))
        if not rows:
            return
        yield from rows
        last = rows[-1]["id"] if dicts else rows[-1].id
        if left is not None:
            left -= len(rows)
