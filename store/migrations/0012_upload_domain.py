"""A team's upload domain (the distribution server's setting: where its UI sends uploads).

Declared as it was at this migration, not imported: later changes arrive through migrations of their own."""

import peewee as pw
from playhouse.migrate import migrate


def up(migrator, db):
    if "upload_domain" not in {c.name for c in db.get_columns("dist_settings")}:
        migrate(
            migrator.add_column("dist_settings", "upload_domain", pw.CharField(max_length=255, default=""))
        )
