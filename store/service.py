"""The store's interface to the services and the CLI: connecting, transactions, connection health.

Other packages import this, never store.db or store.models (a ruff rule and a test say so).
"""

from __future__ import annotations

from store.db import (  # noqa: F401 - re-exported: this module is the store's public face
    db,
    drop_dead_connection,
    init_db,
    is_postgres,
    is_unavailable,
    ping,
    set_after_commit,
    unit_of_work,
)


def release_connection() -> None:
    """Hands this thread's connection back to the pool (which replaces it if broken), unless a
    transaction is open. After a failure, so a dead connection is not kept."""
    if not db.in_transaction() and not db.is_closed():
        db.close()
