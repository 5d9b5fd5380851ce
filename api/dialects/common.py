"""Shapes more than one dialect shows on purpose, kept neutral so no dialect imports another."""

from __future__ import annotations


def build_summary(b) -> dict:
    """A build as testers see it through UpdateForge; the admin API shows the same fields under the same names,
    so scripts can share them."""
    return {
        "id": str(b.id),
        "version": b.version,
        "name": b.name or "",
        "public": b.public,
        "hasFile": b.file_key is not None,
        "created": b.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
