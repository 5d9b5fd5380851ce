"""An index of the pinned devices only: a snapshot reads an app's pins, and the device table holds every
device ever seen (millions for a large fleet), of which a few hundred are pinned."""


def up(migrator, db):
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS device_pinned ON device (app_id) "
        "WHERE channel_override_id IS NOT NULL OR bundle_override_id IS NOT NULL"
    )
