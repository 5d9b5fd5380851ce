from __future__ import annotations

from collections.abc import Callable

MAX_PER_PAGE = 200


def paginate(query, page: int, per_page: int, render: Callable) -> dict:
    page = max(1, page)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    total = query.count()
    rows = query.paginate(page, per_page)
    return {"items": [render(r) for r in rows], "page": page, "per_page": per_page, "total": total}
