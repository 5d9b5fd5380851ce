"""The store's interface to the services and the CLI: connecting, transactions, connection health.

Other packages import this, never store.db or store.models (a ruff rule and a test say so).
"""

from __future__ import annotations

import peewee

from store import audit, changes, webhooks
from store.db import (  # noqa: F401 - re-exported: this module is the store's public face
    db,
    drop_dead_connection,
    is_postgres,
    is_unavailable,
    ping,
    set_after_commit,
    unit_of_work,
)
from store.db import init_db as _connect


def init_db(url: str, pool_size: int = 16) -> peewee.Database:
    """Opens the store: binds the database and subscribes the audit log and webhooks to the models'
    changes (store/changes.py), so no write process can change a watched row unheard."""
    changes.listen(audit.record)
    changes.listen(webhooks.announce)
    return _connect(url, pool_size)


def release_connection() -> None:
    """Hands this thread's connection back to the pool (which replaces it if broken), unless a
    transaction is open. After a failure, so a dead connection is not kept."""
    if not db.in_transaction() and not db.is_closed():
        db.close()
