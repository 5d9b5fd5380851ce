"""An app's distribution events, newest first, read off one index: (app_id, id) replaces (app_id).

The console's distribution page lists a product's latest events by descending id. With only
(app_id) indexed, PostgreSQL fetched every event of the app and sorted them (about 250 ms a page for
100,000 events); off (app_id, id) it reads the newest 50 and stops. The new index serves every lookup the
old one did (its first column), so the old one goes once the new one exists.

Created before the old one is dropped, so the previous release's queries are served throughout (nothing
here contracts the schema)."""


def up(migrator, db):
    for statement in (
        "CREATE INDEX IF NOT EXISTS dist_event_app_id_id ON dist_event (app_id, id)",
        "DROP INDEX IF EXISTS dist_event_app_id",
    ):
        db.execute_sql(statement)
