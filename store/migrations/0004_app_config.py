"""App configurations (the app-config API), at most one active per app: a partial unique index."""

import datetime

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, Model, TextField


def up(migrator, db):
    class App(Model):
        class Meta:
            database = db
            table_name = "app"

    class AppConfig(Model):
        id = CharField(max_length=36, primary_key=True)
        app = ForeignKeyField(App, on_delete="CASCADE")
        min_version = CharField(max_length=64)
        current_version = CharField(max_length=64)
        release_notes = TextField(null=True)
        is_active = BooleanField(default=True)
        created_at = DateTimeField(default=datetime.datetime.utcnow)
        updated_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            table_name = "app_config"

    db.create_tables([AppConfig], safe=True)
    # Both PostgreSQL and SQLite take a partial index; "WHERE is_active" reads the same in both.
    db.execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS app_config_one_active ON app_config (app_id) WHERE is_active"
    )
