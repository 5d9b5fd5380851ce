"""Daily tables the console's charts read (a page view never scans raw events): distribution events per
release, type and day, and devices seen per channel, bundle and day.

Declared as they were at this migration, not imported: later changes arrive through migrations of their own."""

import peewee as pw


def up(migrator, db):
    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class App(Base):
        pass

    class DistDailyStat(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        day = pw.DateField()
        release_id = pw.IntegerField(default=0)  # 0: events of no release (page visits)
        type = pw.CharField(max_length=16)
        count = pw.BigIntegerField()

        class Meta:
            indexes = ((("app", "day", "release_id", "type"), True),)

    class BundleDailyDevices(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        day = pw.DateField()
        channel = pw.CharField(max_length=128)  # the channel the device gets its updates from, "" for none
        bundle = pw.CharField(max_length=64)  # "" for devices on the app's built-in code
        devices = pw.IntegerField()

        class Meta:
            indexes = ((("app", "day", "channel", "bundle"), True),)

    db.create_tables([DistDailyStat, BundleDailyDevices], safe=True)
