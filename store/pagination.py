"""Pages of rows: the store returns rows and counts; each dialect shapes them."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Page:
    rows: list
    page: int
    per_page: int
    total: int


def paginate(query, page: int, per_page: int) -> Page:
    page = max(1, page)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    return Page(list(query.paginate(page, per_page)), page, per_page, query.count())
