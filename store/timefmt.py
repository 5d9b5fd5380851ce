from __future__ import annotations

import datetime as dt


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, as every dialect renders timestamps."""
    if value is None:
        return None
    return (
        value.replace(microsecond=value.microsecond // 1000 * 1000).isoformat(timespec="milliseconds") + "Z"
    )
