from __future__ import annotations

import datetime as dt


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, as every dialect renders timestamps."""
    if value is None:
        return None
    return (
        value.replace(microsecond=value.microsecond // 1000 * 1000).isoformat(timespec="milliseconds") + "Z"
    )


# Instants clients may name: a datetime holds years 1 to 9999, and a zone offset at either end overflows it,
# which answered 500 (audit filters, rollout steps past the year 9999).
EARLIEST = dt.datetime(1970, 1, 1)
LATEST = dt.datetime(9999, 1, 1)


def parse_instant(text: str, name: str) -> dt.datetime:
    """An ISO 8601 instant (UTC when no zone is given) as naive UTC, from 1970 to the year 9999; else
    InvalidInput naming ``name``."""
    from store.errors import InvalidInput

    try:
        at = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if at.tzinfo is not None:
            at = at.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{name} must be an ISO 8601 instant such as 2026-11-23T09:00:00Z") from None
    if not EARLIEST <= at < LATEST:
        raise InvalidInput(f"{name} must be between 1970 and the year 9999")
    return at


def epoch(at: dt.datetime) -> float:
    """Seconds since 1970 of a naive UTC datetime."""
    return at.replace(tzinfo=dt.UTC).timestamp()


LATEST_EPOCH = epoch(LATEST)
