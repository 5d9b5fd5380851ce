"""UpdateForge's JSON: string ids, camelCase, whole-second timestamps."""

from __future__ import annotations

from api.dialects.common import build_summary
from store.vocabulary import BUILD_TYPES

build = build_summary


def apps(teams) -> dict:
    """GET /api/v1/apps from the store's (team, [AppBuilds]) pairs."""
    out = []
    for team, team_apps in teams:
        entries = []
        for entry in team_apps:
            app = entry.app
            shaped = {
                "id": app.public_id,
                "title": app.title,
                "packageName": app.package_name,
                "icon": f"/api/files/apps/{app.public_id}/{app.icon}" if app.icon else None,
            }
            for build_type in BUILD_TYPES:
                current, pending = entry.latest[build_type]
                shaped[build_type] = {
                    "current": build(current) if current else None,
                    "pending": build(pending) if pending else None,
                }
            entries.append(shaped)
        out.append({"id": str(team.id), "name": team.name, "apps": entries})
    return {"teams": out}
