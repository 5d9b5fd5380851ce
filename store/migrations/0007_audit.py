"""The audit log: one row per record an admin request changed.

Declared as it was at this migration, not imported: later changes arrive through migrations of their own."""

import datetime

import peewee as pw


def up(migrator, db):
    class AuditEntry(pw.Model):
        at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        team_id = pw.IntegerField(null=True, index=True)
        user_id = pw.IntegerField(null=True)
        user_email = pw.CharField(max_length=320)
        token_hint = pw.CharField(max_length=16)
        address = pw.CharField(max_length=64, null=True)
        request_id = pw.CharField(max_length=64, null=True)
        resource = pw.CharField(max_length=64)
        resource_id = pw.CharField(max_length=64)
        action = pw.CharField(max_length=16)
        changes = pw.TextField()

        class Meta:
            database = db
            table_name = "audit_entry"

    db.create_tables([AuditEntry], safe=True)
