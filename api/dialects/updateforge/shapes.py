"""UpdateForge's JSON: string ids, camelCase, whole-second timestamps."""

from __future__ import annotations

from store.vocabulary import BUILD_TYPES


def build(b) -> dict:
    return {
        "id": str(b.id),
        "version": b.version,
        "name": b.name or "",
        "public": b.public,
        "hasFile": b.file_key is not None,
        "created": b.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


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
