"""The app-config API's JSON: camelCase fields, timestamps with milliseconds and a Z."""

from __future__ import annotations

from store.timefmt import iso


def public(fields: dict) -> dict:
    """The active configuration as GET /app-config/public shows it (from the snapshot's plain fields)."""
    return {
        "minVersion": fields["min_version"],
        "currentVersion": fields["current_version"],
        "releaseNotes": fields["release_notes"],
        "createdAt": fields["created_at"],
        "updatedAt": fields["updated_at"],
    }


def config(row) -> dict:
    """A configuration as the admin routes show it."""
    return {
        "id": row.id,
        "minVersion": row.min_version,
        "currentVersion": row.current_version,
        "releaseNotes": row.release_notes,
        "isActive": row.is_active,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }
