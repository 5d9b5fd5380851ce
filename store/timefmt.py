from __future__ import annotations

import datetime as dt

from store.errors import InvalidInput


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, as every dialect renders timestamps."""
    if value is None:
        return None
    return (
        value.replace(microsecond=value.microsecond // 1000 * 1000).isoformat(timespec="milliseconds") + "Z"
    )


# A datetime holds years 1 to 9999, and a zone offset at either end overflowed it, which answered 500
# (audit filters, rollout steps past the year 9999). Steps must come before LATEST.
LATEST = dt.datetime(9999, 1, 1)


def parse_instant(text: str, name: str) -> dt.datetime:
    """An ISO 8601 instant (UTC when no zone is given) as naive UTC; InvalidInput naming ``name`` when it
    is not one. An instant whose zone offset carries it past either end of the calendar is clamped to
    that end (a filter "until 9999-12-31T23:59:59-14:00" means "until the end")."""
    text = text.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 instant such as 2026-11-23T09:00:00Z") from None
    if at.tzinfo is None:
        return at
    try:
        return at.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        return dt.datetime.max if at.year > 1 else dt.datetime.min


def epoch(at: dt.datetime) -> float:
    """Seconds since 1970 of a naive UTC datetime (negative before)."""
    return (at - dt.datetime(1970, 1, 1)).total_seconds()


LATEST_EPOCH = epoch(LATEST)
