"""Applies migrations with peewee's migration runner; safe to run any number of times."""

from __future__ import annotations

from pathlib import Path

from playhouse.migrations import Runner

from store.db import db

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def apply_migrations() -> list[str]:
    runner = Runner(db.obj, directory=str(MIGRATIONS_DIR))
    return runner.up() or []


def pending_migrations() -> list[str]:
    """The migrations not applied yet, in order (the History table is made if missing, nothing else)."""
    runner = Runner(db.obj, directory=str(MIGRATIONS_DIR))
    return [m.name for m in runner.status() if m.applied is None and m.path is not None]
