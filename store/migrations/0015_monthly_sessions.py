"""auth_session partitioned by month on PostgreSQL (store/partitions.py), its id a bigint (3.65 billion
rows a year for an app with 10 million daily launches passes an integer's 2.1 billion). Both backends get
the indexes the keyset pages of the admin lists read: sessions by (app, id), users by (app, last seen, id).

The rows are copied into the partitioned table in this migration: run it in a maintenance window on a large
table (it holds a lock on auth_session while it copies)."""

import datetime as dt

import peewee as pw

from store.partitions import ensure_months, month_of, next_month


def up(migrator, db):
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS client_user_app_seen ON client_user (app_id, last_seen_at, id)"
    )
    if not isinstance(db, pw.PostgresqlDatabase):
        db.execute_sql("CREATE INDEX IF NOT EXISTS auth_session_app_key ON auth_session (app_id, id)")
        return
    if db.execute_sql("SELECT to_regclass('auth_session_default')").fetchone()[0] is not None:
        return  # applied
    for sql in (
        "ALTER TABLE auth_session RENAME TO auth_session_unpartitioned",
        "ALTER TABLE auth_session_unpartitioned RENAME CONSTRAINT auth_session_pkey TO auth_session_unpartitioned_pkey",
        "ALTER TABLE auth_session_unpartitioned RENAME CONSTRAINT auth_session_app_id_fkey "
        "TO auth_session_unpartitioned_app_id_fkey",
        "ALTER SEQUENCE auth_session_id_seq AS bigint",
        "CREATE TABLE auth_session (LIKE auth_session_unpartitioned INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (created_at)",
        "ALTER TABLE auth_session ALTER COLUMN id TYPE bigint",
        "ALTER TABLE auth_session ADD PRIMARY KEY (id, created_at)",
        "ALTER TABLE auth_session ADD CONSTRAINT auth_session_app_id_fkey FOREIGN KEY (app_id) "
        "REFERENCES app (id) ON DELETE CASCADE",
        "CREATE INDEX auth_session_app_time ON auth_session (app_id, created_at)",
        "CREATE INDEX auth_session_app_key ON auth_session (app_id, id)",
        "CREATE INDEX auth_session_time ON auth_session (created_at)",
        "CREATE TABLE auth_session_default PARTITION OF auth_session DEFAULT",
    ):
        db.execute_sql(sql)
    oldest = db.execute_sql("SELECT min(created_at) FROM auth_session_unpartitioned").fetchone()[0]
    today = dt.datetime.now(dt.UTC).date()
    last = next_month(next_month(month_of(today)))
    ensure_months("auth_session", oldest or today, last, database=db)
    db.execute_sql("INSERT INTO auth_session SELECT * FROM auth_session_unpartitioned")
    db.execute_sql("ALTER SEQUENCE auth_session_id_seq OWNED BY auth_session.id")
    db.execute_sql("DROP TABLE auth_session_unpartitioned")
