"""Applies migrations with peewee's migration runner; safe to run any number of times."""

from __future__ import annotations

from pathlib import Path

from playhouse.migrations import Runner

from store.db import db

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def apply_migrations() -> list[str]:
    runner = Runner(db.obj, directory=str(MIGRATIONS_DIR))
    return runner.up() or []
