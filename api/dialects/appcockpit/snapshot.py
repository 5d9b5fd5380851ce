"""AppCockpit's part of an app's snapshot document: every answer's bytes and ETag, rendered once here
(in the worker) so the read service sends them untouched. No ORM: it reads store.snapshots.AppData."""

from __future__ import annotations

from typing import Any

from store.snapshot_format import rendered

INACTIVE_MAINTENANCE: dict[str, Any] = {"active": False, "title": None, "description": None, "links": []}


def _v1(version: str, platform: str, rule) -> dict:
    return {
        "version": version,
        "platform": platform,
        "force_update": rule.force_update,
        "update_message": rule.update_message,
    }


def _v2(version: str, platform: str, rule) -> dict:
    return {
        "version": version,
        "platform": platform,
        "force_update": rule.force_update,
        "default_update_message": rule.update_message,
        "update_messages": dict(sorted(rule.messages.items())) if rule.messages else None,
    }


def part(data) -> dict:
    """{"exact": ..., "minimum": ..., "maintenance": ...} as api/read/cache.py's AppView reads them."""
    exact = {
        f"{r.platform}|{r.environment}|{r.version_key}": [
            *rendered(_v1(r.version, r.platform, r)),
            *rendered(_v2(r.version, r.platform, r)),
        ]
        for r in data.rules
    }
    minimum = {
        f"{m.platform}|{m.environment}": [
            m.minimum_version,
            *rendered(_v1(m.minimum_version, m.platform, m)),
            *rendered(_v2(m.minimum_version, m.platform, m)),
        ]
        for m in data.minimums
    }
    maintenance = {}
    for alias, row in data.maintenance:
        obj = (
            INACTIVE_MAINTENANCE
            if row is None
            else {
                "active": True,
                "title": row.title,
                "description": row.description,
                "links": row.links or [],
            }
        )
        maintenance[alias] = list(rendered(obj))
    return {"exact": exact, "minimum": minimum, "maintenance": maintenance}
