"""Raw event tables partitioned by month on PostgreSQL: a month's rows are dropped as one table, never
deleted row by row (an app with 10 million daily launches writes 3.65 billion session rows a year).

Partitions are named ``<table>_yYYYYmMM`` and hold [first of the month, first of the next). A DEFAULT
partition takes rows no month holds (a clock far off); months ahead are made by the daily purge, so the
default stays empty in practice. SQLite tables are not partitioned: their purge deletes rows.
"""

from __future__ import annotations

import datetime as dt

from store.db import db, is_postgres

MONTHLY = ("auth_session",)  # partitioned by month on created_at
MONTHS_AHEAD = 2


def month_of(day: dt.date | dt.datetime) -> dt.date:
    return dt.date(day.year, day.month, 1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition(table: str, month: dt.date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def ensure_months(table: str, first: dt.date, last: dt.date, database=None) -> list[str]:
    """Makes the month partitions of ``table`` from ``first``'s month to ``last``'s; returns those made."""
    database = database or db
    made, month = [], month_of(first)
    while month <= month_of(last):
        name = partition(table, month)
        exists = database.execute_sql("SELECT to_regclass(%s::text)", (name,)).fetchone()[0]
        if exists is None:
            # DDL takes no bound parameters; both bounds are dates this function made.
            database.execute_sql(
                f'CREATE TABLE "{name}" PARTITION OF "{table}" '
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
            )
            made.append(name)
        month = next_month(month)
    return made


def months(table: str) -> list[tuple[dt.date, str]]:
    """The month partitions of ``table``, oldest first (the DEFAULT partition is not one)."""
    rows = db.execute_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
        (table,),
    ).fetchall()
    found = []
    for (name,) in rows:
        suffix = name.removeprefix(f"{table}_y")
        if suffix != name and len(suffix) == 7 and suffix[4] == "m" and suffix.replace("m", "").isdigit():
            found.append((dt.date(int(suffix[:4]), int(suffix[5:]), 1), name))
    return sorted(found)


def drop_months_before(table: str, cutoff: dt.datetime) -> list[str]:
    """Drops every month partition whose rows are all older than ``cutoff``; rows of the default partition
    older than it are deleted (it holds only rows no month took). Returns the partitions dropped."""
    dropped = []
    for month, name in months(table):
        if next_month(month) <= cutoff.date():
            db.execute_sql(f'DROP TABLE "{name}"')
            dropped.append(name)
    db.execute_sql(f'DELETE FROM "{table}_default" WHERE created_at < %s', (cutoff,))
    return dropped


def keep_ahead(today: dt.date) -> list[str]:
    """Makes this month's and the next MONTHS_AHEAD months' partitions of every monthly table."""
    if not is_postgres():
        return []
    last = today
    for _ in range(MONTHS_AHEAD):
        last = next_month(month_of(last))
    return [name for table in MONTHLY for name in ensure_months(table, today, last)]
