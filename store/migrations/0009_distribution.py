"""Distribution (the distribution server's API): an app is a product (slug, description, published), its
variants (one per platform build line), releases as builds of a variant (with build number, changelog and
the storage backend their file is on), page events, iOS devices captured by UDID and their bindings to
variants, and each team's distribution settings (secrets sealed).

Builds of a variant are many per version (build numbers, several variants), so the unique version index
now covers the builds without a variant only.

Declared as they were at this migration, not imported: later changes arrive through migrations of their own."""

import datetime

import peewee as pw
from playhouse.migrate import migrate


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Team(Base):
        pass

    class App(Base):
        pass

    class Build(Base):
        pass

    class Variant(Base):
        public_id = pw.CharField(max_length=32, unique=True)
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        platform = pw.CharField(max_length=16)
        display_name = pw.CharField(max_length=255)
        identifier = pw.CharField(max_length=255)
        arch = pw.CharField(max_length=32, default="")
        installer_type = pw.CharField(max_length=32, default="")
        min_os = pw.CharField(max_length=64, default="")
        sort_order = pw.IntegerField(default=0)
        published = pw.BooleanField(default=True)
        created_at = pw.DateTimeField(default=now)
        updated_at = pw.DateTimeField(default=now)

    class DistEvent(Base):
        app = pw.ForeignKeyField(App, on_delete="CASCADE")
        variant = pw.ForeignKeyField(Variant, null=True, on_delete="CASCADE")
        release = pw.ForeignKeyField(Build, null=True, on_delete="CASCADE")
        type = pw.CharField(max_length=16)
        ip = pw.CharField(max_length=64, default="")
        ua = pw.CharField(max_length=255, default="")
        created_at = pw.DateTimeField(default=now, index=True)

        class Meta:
            indexes = ((("app", "id"), False), (("type", "id"), False))

    class IosDevice(Base):
        team = pw.ForeignKeyField(Team, on_delete="CASCADE")
        public_id = pw.CharField(max_length=32, unique=True)
        udid = pw.CharField(max_length=128)
        product = pw.CharField(max_length=64, default="")
        os_version = pw.CharField(max_length=64, default="")
        serial = pw.CharField(max_length=64, default="")
        device_name = pw.CharField(max_length=128, default="")
        last_ip = pw.CharField(max_length=64, default="")
        created_at = pw.DateTimeField(default=now)
        verified_at = pw.DateTimeField(default=now)
        apple_registered = pw.BooleanField(default=False)
        apple_registered_at = pw.DateTimeField(null=True)
        apple_device_id = pw.CharField(max_length=64, default="")
        apple_error = pw.TextField(default="")

        class Meta:
            indexes = ((("team", "udid"), True),)

    class IosDeviceBinding(Base):
        device = pw.ForeignKeyField(IosDevice, on_delete="CASCADE")
        variant = pw.ForeignKeyField(Variant, on_delete="CASCADE")
        created_at = pw.DateTimeField(default=now)

        class Meta:
            indexes = ((("device", "variant"), True),)

    class DistSettings(Base):
        team = pw.ForeignKeyField(Team, on_delete="CASCADE", unique=True)
        primary_domain = pw.CharField(max_length=255, default="")
        secondary_domains = pw.TextField(default="[]")
        organization = pw.CharField(max_length=255, default="")
        storage_type = pw.CharField(max_length=16, default="local")
        s3_endpoint = pw.CharField(max_length=255, default="")
        s3_bucket = pw.CharField(max_length=255, default="")
        s3_region = pw.CharField(max_length=64, default="")
        s3_public_url = pw.CharField(max_length=255, default="")
        s3_access_key_sealed = pw.TextField(null=True)
        s3_secret_key_sealed = pw.TextField(null=True)
        apple_key_id = pw.CharField(max_length=64, default="")
        apple_issuer_id = pw.CharField(max_length=64, default="")
        apple_team_id = pw.CharField(max_length=32, default="")
        apple_private_key_sealed = pw.TextField(null=True)
        updated_at = pw.DateTimeField(default=now)

    # The first migration creates ``app`` from the live model, so a new database has these columns already.
    have = {c.name for c in db.get_columns("app")}
    app_columns = {
        "slug": pw.CharField(max_length=128, null=True),
        "description": pw.TextField(default=""),
        "published": pw.BooleanField(default=False),
        "updated_at": pw.DateTimeField(null=True),
    }
    migrate(*(migrator.add_column("app", n, f) for n, f in app_columns.items() if n not in have))
    # Apps made before products existed take their public id as slug (unique already).
    db.execute_sql("UPDATE app SET slug = public_id WHERE slug IS NULL")
    db.execute_sql("CREATE UNIQUE INDEX IF NOT EXISTS app_slug_unique ON app (slug)")
    db.create_tables([Variant], safe=True)
    have = {c.name for c in db.get_columns("build")}
    build_columns = {
        "variant_id": pw.ForeignKeyField(Variant, null=True, on_delete="CASCADE", field=Variant.id),
        "release_id": pw.CharField(max_length=32, null=True),
        "build_number": pw.BigIntegerField(null=True),
        "changelog": pw.TextField(default=""),
        "min_os": pw.CharField(max_length=64, default=""),
        "channel": pw.CharField(max_length=64, default=""),
        "file_backend": pw.CharField(max_length=512, default=""),
    }
    migrate(*(migrator.add_column("build", n, f) for n, f in build_columns.items() if n not in have))
    db.execute_sql("DROP INDEX IF EXISTS build_app_id_build_type_version")
    db.execute_sql("CREATE UNIQUE INDEX IF NOT EXISTS build_release_id_unique ON build (release_id)")
    db.execute_sql("CREATE INDEX IF NOT EXISTS build_variant_id ON build (variant_id)")
    db.execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS build_app_type_version_unique ON build (app_id, build_type, version) "
        "WHERE variant_id IS NULL"
    )
    db.create_tables([DistEvent, IosDevice, IosDeviceBinding, DistSettings], safe=True)
