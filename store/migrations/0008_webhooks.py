"""Webhook endpoints per team and their deliveries (an outbox written in each change's transaction).

Declared as they were at this migration, not imported: later changes arrive through migrations of their own."""

import datetime

import peewee as pw


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Team(Base):
        pass

    class WebhookEndpoint(Base):
        team = pw.ForeignKeyField(Team, on_delete="CASCADE")
        url = pw.CharField(max_length=2048)
        events = pw.TextField()
        secret_encrypted = pw.TextField()
        active = pw.BooleanField(default=True)
        created_at = pw.DateTimeField(default=now)

    class WebhookDelivery(Base):
        endpoint = pw.ForeignKeyField(WebhookEndpoint, on_delete="CASCADE")
        event = pw.CharField(max_length=64)
        payload = pw.TextField()
        state = pw.CharField(max_length=16, default="pending")
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(default=now, index=True)
        log = pw.TextField(default="[]")
        created_at = pw.DateTimeField(default=now)
        delivered_at = pw.DateTimeField(null=True)

    db.create_tables([WebhookEndpoint, WebhookDelivery], safe=True)
