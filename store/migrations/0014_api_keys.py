"""Scoped API keys (store/api_keys.py).

Declared as they were at this migration, not imported: later changes arrive through migrations of their own."""

import peewee as pw


def up(migrator, db):
    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Team(Base):
        pass

    class User(Base):
        pass

    class ApiKey(Base):
        team = pw.ForeignKeyField(Team, on_delete="CASCADE")
        user = pw.ForeignKeyField(User, on_delete="CASCADE")
        created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", column_name="created_by_id")
        name = pw.CharField(max_length=200)
        mode = pw.CharField(max_length=8)
        apps = pw.TextField(null=True)
        team_key = pw.BooleanField(default=False)
        key_hash = pw.CharField(max_length=64, unique=True)
        hint = pw.CharField(max_length=32)
        expires_at = pw.DateTimeField(null=True)
        last_used_at = pw.DateTimeField(null=True)
        last_used_from = pw.CharField(max_length=64, null=True)
        created_at = pw.DateTimeField()

    db.create_tables([ApiKey], safe=True)
