"""The database handle, initialised by the app factories, and the unit of work.

``unit_of_work()`` wraps one write in a transaction and, once the outermost one
has committed, hands the ids of apps whose snapshot went stale to the
after-commit hook (the RQ enqueue). Jobs are sent only after commit, so a
worker never renders data that may still roll back.
"""

from __future__ import annotations

import contextvars
import logging
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase

from store.errors import Conflict

log = logging.getLogger(__name__)

db = peewee.DatabaseProxy()

_stale: contextvars.ContextVar[set[int] | None] = contextvars.ContextVar("gatehouse_stale", default=None)
_after_commit: list[Callable[[set[int]], None]] = []


def _server_hung_up(conn) -> bool:
    """True when PostgreSQL has closed an idle connection (a restart, a terminated backend).

    The server says so before it goes (an error message, then EOF), so the socket of an idle
    connection turns readable: one poll(2), no round trip. Without this each request thread
    answered its first request after a PostgreSQL restart with a 500.
    """
    try:
        fd = conn.pgconn.socket
    except Exception:  # psycopg raises once the connection is closed
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class PostgresPool(PooledPostgresqlDatabase):
    """peewee's pool, which also discards connections the server has hung up on when it hands one out."""

    def _is_closed(self, conn) -> bool:
        return super()._is_closed(conn) or _server_hung_up(conn)


def make_database(url: str, pool_size: int = 16) -> peewee.Database:
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql"):
        return PostgresPool(
            parsed.path.lstrip("/"),
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password) if parsed.password else None,
            max_connections=pool_size,
            stale_timeout=300,
            timeout=10,
            autoconnect=True,
        )
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ":memory:"
        return peewee.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 10000,
                "synchronous": "normal",
            },
            check_same_thread=False,
            # Every transaction takes the write lock when it begins: a deferred one that reads and then
            # writes fails at once with "database is locked" when another writer holds the lock,
            # whatever the busy timeout, since waiting could deadlock. Writers now queue on the timeout.
            lock_type="IMMEDIATE",
        )
    raise ValueError(f"unsupported database URL scheme: {parsed.scheme!r}")


def init_db(url: str, pool_size: int = 16) -> peewee.Database:
    """Binds the models to ``url``; a second app built for the same database shares the first one's pool."""
    if db.obj is not None and getattr(db.obj, "gatehouse_url", None) == (url, pool_size):
        return db.obj
    database = make_database(url, pool_size)
    database.gatehouse_url = (url, pool_size)  # type: ignore[attr-defined]  # which settings it was made with
    db.initialize(database)
    return database


def tuples(query: Any) -> list[tuple[Any, ...]]:
    """A select's rows as plain tuples, typed as such (peewee's stubs type every row as a model instance)."""
    return list(query.tuples())


def dicts(query: Any) -> list[dict[str, Any]]:
    """A select's rows as dicts, typed as such."""
    return list(query.dicts())


def drop_dead_connection() -> None:
    """Closes this thread's kept connection if the server hung up on it, so the next query opens a new one."""
    database = db.obj
    if not isinstance(database, PostgresPool) or database.is_closed() or database.in_transaction():
        return
    if _server_hung_up(database.connection()):
        log.info("database connection closed by the server; opening a new one")
        database.manual_close()


def is_unavailable(exc: BaseException) -> bool:
    """True for the errors of a database that cannot be reached (as opposed to a bad statement)."""
    return isinstance(exc, (peewee.OperationalError, peewee.InterfaceError))


def ping() -> None:
    """One round trip; raises when the database cannot be reached (readiness)."""
    db.execute_sql("SELECT 1")


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


def set_after_commit(hook: Callable[[set[int]], None] | None) -> None:
    """Register the one hook that receives stale app ids after a commit."""
    _after_commit.clear()
    if hook is not None:
        _after_commit.append(hook)


def mark_stale_in_uow(app_id: int) -> None:
    pending = _stale.get()
    if pending is not None:
        pending.add(app_id)


@contextmanager
def unit_of_work() -> Iterator[None]:
    outer = _stale.get() is None
    token = _stale.set(set()) if outer else None
    try:
        with db.atomic():
            yield
        if outer:
            stale = _stale.get() or set()
            if stale:
                for hook in _after_commit:
                    try:
                        hook(stale)
                    except Exception:  # the outbox sweep heals a lost enqueue
                        log.exception("after-commit hook failed; outbox sweep will retry")
    finally:
        if token is not None:
            _stale.reset(token)


@contextmanager
def conflict_on_duplicate(message: str) -> Iterator[None]:
    """A savepoint around a write whose unique index may refuse it: the refusal becomes Conflict(message)
    and leaves the surrounding transaction usable."""
    try:
        with db.atomic():
            yield
    except peewee.IntegrityError:
        raise Conflict(message) from None
