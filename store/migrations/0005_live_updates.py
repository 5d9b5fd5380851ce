"""Live updates (the Capgo API): bundles, channels, devices, per-day bundle actions, and a deployment-wide
unique package identifier (device calls carry no credentials, so the identifier alone names the app).

The tables are declared here as they were at this migration, not imported: later changes to the models
arrive through migrations of their own."""

import datetime

import peewee as pw


def up(migrator, db):
    duplicates = db.execute_sql(
        "SELECT package_name FROM app WHERE package_name <> '' GROUP BY package_name HAVING COUNT(*) > 1"
    ).fetchall()
    if duplicates:
        # Never pick a winner silently: an operator decides which app keeps the identifier.
        names = ", ".join(sorted(r[0] for r in duplicates))
        raise RuntimeError(f"package identifiers used by more than one app; rename all but one: {names}")
    db.execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS app_package_name_unique ON app (package_name) "
        "WHERE package_name <> ''"
    )
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
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        name = pw.CharField(max_length=64)
        checksum = pw.CharField(max_length=64, null=True)
        file_key = pw.CharField(max_length=255, null=True)
        file_size = pw.BigIntegerField(null=True)
        external_url = pw.CharField(max_length=2048, null=True)
        min_update_version = pw.CharField(max_length=64, null=True)
        native_packages = pw.TextField(null=True)
        session_key = pw.CharField(max_length=512, null=True)
        created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = pw.DateTimeField(default=now)
        updated_at = pw.DateTimeField(default=now)

        class Meta:
            indexes = ((("app", "name"), True),)

    class Channel(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        name = pw.CharField(max_length=128)
        bundle = pw.ForeignKeyField(Bundle, null=True, on_delete="RESTRICT")
        public = pw.BooleanField(default=False)
        disable_auto_update = pw.CharField(max_length=16, default="major")
        disable_under_native = pw.BooleanField(default=True)
        ios = pw.BooleanField(default=True)
        android = pw.BooleanField(default=True)
        allow_self_set = pw.BooleanField(default=False)
        allow_emulator = pw.BooleanField(default=True)
        allow_dev = pw.BooleanField(default=True)
        created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = pw.DateTimeField(default=now)
        updated_at = pw.DateTimeField(default=now)

        class Meta:
            indexes = ((("app", "name"), True),)

    class Device(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        device_id = pw.CharField(max_length=64)
        custom_id = pw.CharField(max_length=255, default="")
        platform = pw.CharField(max_length=16, null=True)
        plugin_version = pw.CharField(max_length=64, default="")
        os_version = pw.CharField(max_length=64, null=True)
        version_build = pw.CharField(max_length=64, default="")
        version_name = pw.CharField(max_length=64, default="")
        is_prod = pw.BooleanField(default=True)
        is_emulator = pw.BooleanField(default=False)
        channel_override = pw.ForeignKeyField(Channel, null=True, on_delete="SET NULL")
        bundle_override = pw.ForeignKeyField(Bundle, null=True, on_delete="SET NULL")
        first_seen_at = pw.DateTimeField(default=now)
        last_seen_at = pw.DateTimeField(default=now, index=True)

        class Meta:
            indexes = ((("app", "device_id"), True),)

    class BundleStat(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        day = pw.DateField()
        bundle = pw.CharField(max_length=64)
        action = pw.CharField(max_length=32)
        count = pw.BigIntegerField(default=0)

        class Meta:
            indexes = ((("app", "day", "bundle", "action"), True),)

    class AppliedBatch(Base):
        entry_id = pw.CharField(max_length=64, primary_key=True)
        applied_at = pw.DateTimeField(default=now, index=True)

    db.create_tables([Bundle, Channel, Device, BundleStat, AppliedBatch], safe=True)
    # Overrides are read by every snapshot rebuild of the app; few devices have one.
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS device_pinned ON device (app_id) "
        "WHERE channel_override_id IS NOT NULL OR bundle_override_id IS NOT NULL"
    )
