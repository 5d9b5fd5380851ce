"""Rollout health from devices, not from anonymous counts: the bundle /updates last offered each device,
and one outcome row per device, bundle and kind (store/rollouts.py counts them).

Declared as they were at this migration, not imported: later changes arrive through migrations of their own."""

import peewee as pw
from playhouse.migrate import migrate


def up(migrator, db):
    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class App(Base):
        pass

    class DeviceOutcome(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        bundle = pw.CharField(max_length=64)
        device_id = pw.CharField(max_length=64)
        kind = pw.CharField(max_length=8)
        source = pw.CharField(max_length=64)
        minute = pw.BigIntegerField()

        class Meta:
            indexes = ((("app", "bundle", "device_id", "kind"), True), (("app", "bundle", "minute"), False))

    if "offered_bundle" not in {c.name for c in db.get_columns("device")}:
        migrate(migrator.add_column("device", "offered_bundle", pw.CharField(max_length=64, null=True)))
    db.create_tables([DeviceOutcome], safe=True)
