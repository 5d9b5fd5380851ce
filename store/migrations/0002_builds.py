"""Build versions of an app (UpdateForge's versions, later the distribution server's releases)."""

import datetime

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model


def up(migrator, db):
    class App(Model):
        class Meta:
            database = db
            table_name = "app"

    class Build(Model):
        app = ForeignKeyField(App, on_delete="CASCADE")
        build_type = CharField(max_length=16)
        version = CharField(max_length=64)
        name = CharField(max_length=200, default="")
        public = BooleanField(default=False)
        file_key = CharField(max_length=255, null=True)
        file_name = CharField(max_length=255, null=True)
        file_size = IntegerField(null=True)
        file_sha256 = CharField(max_length=64, null=True)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            table_name = "build"
            indexes = ((("app", "build_type", "version"), True),)

    db.create_tables([Build], safe=True)
