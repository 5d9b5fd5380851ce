"""Staged rollouts on live-update channels, and plugin actions per minute (their health window).

Declared as they were at this migration, not imported: later changes arrive through migrations of their own."""

import datetime

import peewee as pw


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class App(Base):
        pass

    class User(Base):
        pass

    class Bundle(Base):
        pass

    class Channel(Base):
        pass

    class BundleMinuteStat(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        minute = pw.BigIntegerField()
        bundle = pw.CharField(max_length=64)
        action = pw.CharField(max_length=32)
        count = pw.BigIntegerField(default=0)

        class Meta:
            indexes = ((("app", "bundle", "minute", "action"), True),)

    class Rollout(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        channel = pw.ForeignKeyField(Channel, on_delete="CASCADE")
        bundle = pw.ForeignKeyField(Bundle, on_delete="RESTRICT")
        steps = pw.TextField()
        state = pw.CharField(max_length=16, default="running")
        on_failure = pw.CharField(max_length=16, default="pause")
        threshold_bp = pw.IntegerField(default=500)
        min_samples = pw.IntegerField(default=50)
        window_seconds = pw.IntegerField(default=3600)
        held_share = pw.IntegerField(null=True)
        reason = pw.TextField(null=True)
        created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = pw.DateTimeField(default=now)
        updated_at = pw.DateTimeField(default=now)

    db.create_tables([BundleMinuteStat, Rollout], safe=True)
    # One live rollout per channel, whatever two concurrent writers do.
    db.execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS rollout_one_live ON rollout (channel_id) "
        "WHERE state IN ('running', 'paused')"
    )
