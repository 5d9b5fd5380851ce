"""When a build's file arrived (Last-Modified of downloads) and one download event per build and client."""

import datetime

from peewee import CharField, DateTimeField, ForeignKeyField, Model
from playhouse.migrate import migrate


def up(migrator, db):
    class App(Model):
        class Meta:
            database = db
            table_name = "app"

    class Build(Model):
        class Meta:
            database = db
            table_name = "build"

    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class DownloadEvent(Model):
        build = ForeignKeyField(Build, on_delete="CASCADE")
        client = CharField(max_length=128)
        user = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField(default=datetime.datetime.utcnow, index=True)

        class Meta:
            database = db
            table_name = "download_event"
            indexes = ((("build", "client"), True),)

    if "file_uploaded_at" not in {c.name for c in db.get_columns("build")}:
        migrate(migrator.add_column("build", "file_uploaded_at", DateTimeField(null=True)))
    db.create_tables([DownloadEvent], safe=True)
