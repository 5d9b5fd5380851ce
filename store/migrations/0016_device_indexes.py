"""Fewer indexes on the device table, which takes a row for every device ever seen: each new device wrote
six index entries, and each fleet refresh (its last-seen time moving) all of them again.

- ``device_app_id`` goes: the unique (app_id, device_id) index serves every lookup by app.
- ``device_last_seen_at`` becomes (app_id, last_seen_at): both queries that read it (an app's devices,
  most recently seen first; a rollout's devices seen since its start) name the app.
- The pin columns' indexes (there for ON DELETE SET NULL when a channel or bundle goes) keep only the
  pinned rows: almost every device is pinned to nothing.

Created before the old ones are dropped, so the previous release's queries are served throughout (nothing
here contracts the schema). On PostgreSQL CREATE INDEX holds off writes to the table while it builds; the
worker's device batches wait in their stream meanwhile, and no client answer reads this table."""


def up(migrator, db):
    for statement in (
        "CREATE INDEX IF NOT EXISTS device_app_id_last_seen_at ON device (app_id, last_seen_at)",
        "CREATE INDEX IF NOT EXISTS device_pinned_channel ON device (channel_override_id) "
        "WHERE channel_override_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS device_pinned_bundle ON device (bundle_override_id) "
        "WHERE bundle_override_id IS NOT NULL",
        "DROP INDEX IF EXISTS device_app_id",
        "DROP INDEX IF EXISTS device_last_seen_at",
        "DROP INDEX IF EXISTS device_channel_override_id",
        "DROP INDEX IF EXISTS device_bundle_override_id",
    ):
        db.execute_sql(statement)
