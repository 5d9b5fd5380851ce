"""The one domain model behind every API Gatehouse speaks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import orjson
import peewee as pw

from store import bounds, changes
from store.db import db
from store.vocabulary import (  # noqa: F401 - models' vocabularies
    BUILD_TYPES,
    PLATFORMS,
    ROLES,
    SUBSCRIPTION,
    WEBHOOK_RESOURCES,
)


def utcnow() -> dt.datetime:
    """Naive UTC: both backends store timestamps without a zone."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JSONField(pw.TextField):
    """JSON kept as text so SQLite and Postgres store it the same way."""

    def db_value(self, value):
        return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

    def python_value(self, value):
        return None if value is None else orjson.loads(value)


class BaseModel(pw.Model):
    """Rows of watched models emit every change (store/changes.py): the audit log and webhooks listen."""

    # What peewee adds when a model names no primary key, said here so it is typed; a model naming its own
    # (AppConfig, AppliedBatch) replaces it.
    id = pw.AutoField()
    # Peewee's own, which its stubs leave out: the primary key's value and the expression matching it.
    _pk: Any
    _pk_expr: Callable[[], Any]

    audited = True

    class Meta:
        database = db
        legacy_table_names = False

    def _audit_team(self) -> int | None:
        """The team whose records these are: its own id, its ``team``, or its ``app``'s team."""
        if isinstance(self, Team):
            return self.id
        fields = self._meta.fields
        if "team" in fields and self.__data__.get("team") is not None:
            return self.__data__["team"]
        if "app" in fields and self.__data__.get("app") is not None:
            return App.select(App.team).where(App.id == self.__data__["app"]).scalar()
        return None

    def _watched(self) -> bool:
        """Audited (an admin request is acting) or announced to webhooks (whoever changes it)."""
        return self.audited and (changes.current() is not None or self._meta.table_name in WEBHOOK_RESOURCES)

    def _changed(self, action: str, diff: dict) -> None:
        changes.emit(changes.Change(self._meta.table_name, self._pk, action, self._audit_team(), diff))

    def save(self, force_insert: bool = False, only=None):
        if not self._watched():
            return super().save(force_insert=force_insert, only=only)
        creating = force_insert or self._pk is None
        before = None if creating else type(self).get_or_none(self._pk_expr())
        result = super().save(force_insert=force_insert, only=only)
        diff = changes.diff(None if before is None else before.__data__, self.__data__)
        if diff:
            self._changed("create" if creating else "update", diff)
        return result

    def delete_instance(self, recursive: bool = False, delete_nullable: bool = False):
        if self._watched():
            self._changed("delete", changes.diff(self.__data__, None))
        return super().delete_instance(recursive=recursive, delete_nullable=delete_nullable)


class Team(BaseModel):
    name = pw.CharField(max_length=200)
    subscription_status = pw.CharField(max_length=16, default="active")
    deleted_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow, index=True)


class User(BaseModel):
    email = pw.CharField(max_length=320, unique=True)
    password_hash = pw.CharField(max_length=255)
    role = pw.CharField(max_length=16, default="member")
    # Tokens issued before this instant are refused: changing a password revokes them.
    tokens_valid_after = pw.DateTimeField(default=utcnow)
    created_at = pw.DateTimeField(default=utcnow)


class Membership(BaseModel):
    team = pw.ForeignKeyField(Team, backref="memberships", on_delete="CASCADE")
    team_id: int  # peewee's accessor of the column, typed
    user = pw.ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    user_id: int  # peewee's accessor of the column, typed
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("team", "user"), True),)


class UserToken(BaseModel):
    user = pw.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    user_id: int  # peewee's accessor of the column, typed
    token_hash = pw.CharField(max_length=64, unique=True)
    name = pw.CharField(max_length=200, default="")
    created_at = pw.DateTimeField(default=utcnow)


class App(BaseModel):
    public_id = pw.CharField(max_length=64, unique=True)
    team = pw.ForeignKeyField(Team, backref="apps", on_delete="CASCADE")
    team_id: int  # peewee's accessor of the column, typed
    title = pw.CharField(max_length=200)
    package_name = pw.CharField(max_length=bounds.PACKAGE_NAME, default="")
    icon = pw.CharField(max_length=255, null=True)
    # The distribution server's product: the public page's address, its text, and whether it is shown.
    slug = pw.CharField(max_length=128, null=True)  # unique: app_slug_unique (migration 0009)
    description = pw.TextField(default="")
    published = pw.BooleanField(default=False)
    updated_at = pw.DateTimeField(null=True)
    deleted_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow, index=True)


def client_standing(app: App, team: Team) -> str:
    """What clients of an app are told about it: active, expired, team_deleted or app_deleted.

    The read service gets it through the snapshot, /v2/authenticate from here, so both agree.
    """
    if team.deleted_at is not None:
        return "team_deleted"
    if app.deleted_at is not None:
        return "app_deleted"
    if team.subscription_status != "active":
        return "expired"
    return "active"


class Environment(BaseModel):
    app = pw.ForeignKeyField(App, backref="environments", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    alias = pw.CharField(max_length=64)  # type: ignore[assignment]  # a column, over Model.alias()
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "alias"), True),)


class ClientToken(BaseModel):
    app = pw.ForeignKeyField(App, backref="client_tokens", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    token_hash = pw.CharField(max_length=64, unique=True)
    name = pw.CharField(max_length=200, default="")
    hint = pw.CharField(max_length=16)
    created_at = pw.DateTimeField(default=utcnow)


class VersionRule(BaseModel):
    app = pw.ForeignKeyField(App, backref="version_rules", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    environment = pw.ForeignKeyField(Environment, backref="version_rules", on_delete="CASCADE")
    environment_id: int  # peewee's accessor of the column, typed
    platform = pw.CharField(max_length=16)
    version = pw.CharField(max_length=64)
    version_key = pw.CharField(max_length=128)
    enabled = pw.BooleanField(default=True)
    force_update = pw.BooleanField(default=False)
    update_message = pw.TextField(null=True)
    messages = JSONField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("environment", "platform", "version_key"), True),)


class MinimumVersionRule(BaseModel):
    app = pw.ForeignKeyField(App, backref="minimum_rules", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    environment = pw.ForeignKeyField(Environment, backref="minimum_rules", on_delete="CASCADE")
    environment_id: int  # peewee's accessor of the column, typed
    platform = pw.CharField(max_length=16)
    minimum_version = pw.CharField(max_length=64)
    force_update = pw.BooleanField(default=False)
    update_message = pw.TextField(null=True)
    messages = JSONField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("environment", "platform"), True),)


class Maintenance(BaseModel):
    app = pw.ForeignKeyField(App, backref="maintenance", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    environment = pw.ForeignKeyField(Environment, backref="maintenance", on_delete="CASCADE", unique=True)
    environment_id: int  # peewee's accessor of the column, typed
    active = pw.BooleanField(default=False)
    title = pw.TextField(null=True)
    description = pw.TextField(null=True)
    links = JSONField(default=list)
    updated_at = pw.DateTimeField(default=utcnow)


class AuthSession(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    # Partitioned by month on PostgreSQL (store/partitions.py): the key is (id, created_at) there.
    id = pw.BigAutoField()
    app = pw.ForeignKeyField(App, backref="sessions", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    user_id = pw.CharField(max_length=255)
    platform = pw.CharField(max_length=16)
    app_version = pw.CharField(max_length=64)
    environment = pw.CharField(max_length=64, null=True)
    created_at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("app", "created_at"), False), (("app", "id"), False))


class ClientUser(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    """Latest version per (app, user, platform), upserted by every authentication."""

    app = pw.ForeignKeyField(App, backref="client_users", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    user_id = pw.CharField(max_length=255)
    platform = pw.CharField(max_length=16)
    app_version = pw.CharField(max_length=64)
    environment = pw.CharField(max_length=64, null=True)
    first_seen_at = pw.DateTimeField()
    last_seen_at = pw.DateTimeField()

    class Meta:
        indexes = ((("app", "user_id", "platform"), True), (("app", "last_seen_at", "id"), False))


class SnapshotOutbox(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    """Apps whose snapshot is stale; written in the same transaction as the change."""

    app_id = pw.IntegerField(unique=True)
    seq = pw.IntegerField(default=1)
    requested_at = pw.DateTimeField(default=utcnow)


class DailyStat(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    day = pw.DateField()
    app = pw.ForeignKeyField(App, backref="daily_stats", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    platform = pw.CharField(max_length=16)
    environment = pw.CharField(max_length=64)
    app_version = pw.CharField(max_length=64)
    sessions = pw.IntegerField()
    users = pw.IntegerField()

    class Meta:
        indexes = ((("app", "day", "platform", "environment", "app_version"), True),)


class Variant(BaseModel):
    """One build line of a product for a platform (the distribution server's variant); its builds are
    the product's releases for that platform."""

    public_id = pw.CharField(max_length=32, unique=True)
    app = pw.ForeignKeyField(App, backref="variants", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    platform = pw.CharField(max_length=16)
    display_name = pw.CharField(max_length=255)
    identifier = pw.CharField(max_length=255)
    arch = pw.CharField(max_length=32, default="")
    installer_type = pw.CharField(max_length=32, default="")
    min_os = pw.CharField(max_length=64, default="")
    sort_order = pw.IntegerField(default=0)
    published = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class Build(BaseModel):
    """A build version of an app; it has a file once its artifact is uploaded. A build of a variant is a
    release: many per version (build numbers), named by ``release_id``. Versions of builds without a
    variant are unique per build type (a partial index, migration 0009)."""

    app = pw.ForeignKeyField(App, backref="builds", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    build_type = pw.CharField(max_length=16)
    version = pw.CharField(max_length=64)
    name = pw.CharField(max_length=200, default="")
    public = pw.BooleanField(default=False)
    file_key = pw.CharField(max_length=255, null=True)
    file_name = pw.CharField(max_length=255, null=True)
    file_size = pw.IntegerField(null=True)
    file_sha256 = pw.CharField(max_length=64, null=True)
    file_uploaded_at = pw.DateTimeField(null=True)
    # Where the file is: "" the deployment's storage, else a backend descriptor (store/storage.py Backends).
    file_backend = pw.CharField(max_length=512, default="")
    variant = pw.ForeignKeyField(Variant, backref="releases", null=True, on_delete="CASCADE")
    variant_id: int | None  # peewee's accessor of the column, typed
    release_id = pw.CharField(max_length=32, null=True, unique=True)
    build_number = pw.BigIntegerField(null=True)
    changelog = pw.TextField(default="")
    min_os = pw.CharField(max_length=64, default="")
    channel = pw.CharField(max_length=64, default="")
    created_at = pw.DateTimeField(default=utcnow)


class DownloadEvent(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    """One row per build and client: a download resumed through many Range requests counts once."""

    build = pw.ForeignKeyField(Build, backref="download_events", on_delete="CASCADE")
    build_id: int  # peewee's accessor of the column, typed
    client = pw.CharField(max_length=128)
    user = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    user_id: int | None  # peewee's accessor of the column, typed
    created_at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("build", "client"), True),)


class AppConfig(BaseModel):
    """An app's published configuration (the app-config API): at most one active per app, which the
    database enforces with a partial unique index (migration 0004), so two concurrent writers cannot
    both win."""

    id = pw.CharField(max_length=36, primary_key=True)  # type: ignore[assignment]  # a UUID, over the AutoField
    app = pw.ForeignKeyField(App, backref="configs", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    min_version = pw.CharField(max_length=64)
    current_version = pw.CharField(max_length=64)
    release_notes = pw.TextField(null=True)
    is_active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "app_config"


# The tables of migration 0001; later tables arrive through their own migrations.
ALL_MODELS = [
    Team,
    User,
    Membership,
    UserToken,
    App,
    Environment,
    ClientToken,
    VersionRule,
    MinimumVersionRule,
    Maintenance,
    AuthSession,
    ClientUser,
    SnapshotOutbox,
    DailyStat,
]


# -- live updates (Capgo's channels, bundles and devices) ------------------------------------------------


class Bundle(BaseModel):
    """A web bundle of an app, stored by upload (file_key) or served from elsewhere (external_url)."""

    app = pw.ForeignKeyField(App, backref="bundles", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    name = pw.CharField(max_length=bounds.BUNDLE_NAME)
    checksum = pw.CharField(max_length=64, null=True)  # SHA-256 of the zip, hex
    file_key = pw.CharField(max_length=255, null=True)
    file_size = pw.BigIntegerField(null=True)
    external_url = pw.CharField(max_length=2048, null=True)
    min_update_version = pw.CharField(max_length=64, null=True)
    native_packages = JSONField(null=True)
    session_key = pw.CharField(max_length=512, null=True)
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_by_id: int | None  # peewee's accessor of the column, typed
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "name"), True),)


class Channel(BaseModel):
    """An update channel: the bundle it serves and the policy devices are checked against."""

    app = pw.ForeignKeyField(App, backref="channels", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    name = pw.CharField(max_length=bounds.CHANNEL_NAME)
    bundle = pw.ForeignKeyField(Bundle, null=True, on_delete="RESTRICT")
    bundle_id: int | None  # peewee's accessor of the column, typed
    public = pw.BooleanField(default=False)  # the default channel of the platforms it serves
    disable_auto_update = pw.CharField(max_length=16, default="major")
    disable_under_native = pw.BooleanField(default=True)
    ios = pw.BooleanField(default=True)
    android = pw.BooleanField(default=True)
    allow_self_set = pw.BooleanField(default=False)
    allow_emulator = pw.BooleanField(default=True)
    allow_dev = pw.BooleanField(default=True)
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_by_id: int | None  # peewee's accessor of the column, typed
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("app", "name"), True),)


class Device(BaseModel):
    """A device as last seen by the live-update endpoints, and the channel or bundle it is pinned to."""

    # The indexes are migration 0016's: (app, device_id) serves lookups by app; the pin columns are indexed
    # where set; the last-seen time with its app.
    # On PostgreSQL without its constraint (migration 0017: its check cost 29 % of each new device's insert);
    # apps are never deleted, and the worker resolves every batch's apps in its transaction.
    app = pw.ForeignKeyField(App, backref="devices", on_delete="CASCADE", index=False)
    app_id: int  # peewee's accessor of the column, typed
    device_id = pw.CharField(max_length=bounds.DEVICE_ID)
    custom_id = pw.CharField(max_length=bounds.CUSTOM_ID, default="")
    platform = pw.CharField(max_length=bounds.PLATFORM, null=True)
    plugin_version = pw.CharField(max_length=bounds.PLUGIN_VERSION, default="")
    os_version = pw.CharField(max_length=bounds.OS_VERSION, null=True)
    version_build = pw.CharField(max_length=bounds.VERSION_BUILD, default="")
    version_name = pw.CharField(max_length=bounds.VERSION_NAME, default="")  # the bundle it runs
    is_prod = pw.BooleanField(default=True)
    is_emulator = pw.BooleanField(default=False)
    channel_override = pw.ForeignKeyField(Channel, null=True, on_delete="SET NULL", index=False)
    channel_override_id: int | None  # peewee's accessor of the column, typed
    bundle_override = pw.ForeignKeyField(Bundle, null=True, on_delete="SET NULL", index=False)
    bundle_override_id: int | None  # peewee's accessor of the column, typed
    first_seen_at = pw.DateTimeField(default=utcnow)
    last_seen_at = pw.DateTimeField(default=utcnow)
    # The last bundle /updates offered it: only a device offered a bundle may report that bundle's outcome.
    offered_bundle = pw.CharField(max_length=bounds.BUNDLE_NAME, null=True)

    class Meta:
        indexes = ((("app", "device_id"), True), (("app", "last_seen_at"), False))


class DeviceOutcome(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    """What a device last reported of a bundle it was offered: a failure (update_fail, download_fail,
    checksum_fail, set_fail) or a success (set), from which address (a /64 for IPv6), in which minute.
    One row per device, bundle and kind, so a rollout's health counts each device once per window."""

    app = pw.ForeignKeyField(App, on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    bundle = pw.CharField(max_length=bounds.BUNDLE_NAME)
    device_id = pw.CharField(max_length=bounds.DEVICE_ID)
    kind = pw.CharField(max_length=8)  # failure, success
    source = pw.CharField(max_length=64)
    minute = pw.BigIntegerField()  # epoch seconds // 60

    class Meta:
        indexes = ((("app", "bundle", "device_id", "kind"), True), (("app", "bundle", "minute"), False))


class BundleStat(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    """Plugin actions (set, set_fail, download_fail, ...) counted per bundle name, action and day."""

    app = pw.ForeignKeyField(App, backref="bundle_stats", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    day = pw.DateField()
    bundle = pw.CharField(max_length=bounds.BUNDLE_NAME)
    action = pw.CharField(max_length=bounds.ACTION)
    count = pw.BigIntegerField(default=0)

    class Meta:
        indexes = ((("app", "day", "bundle", "action"), True),)


class AppliedBatch(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    """Stream entries already applied: delivery is at least once, counting must be exactly once."""

    entry_id = pw.CharField(max_length=64, primary_key=True)
    applied_at = pw.DateTimeField(default=utcnow, index=True)


class BundleMinuteStat(BaseModel):
    audited = False  # events and bookkeeping, not admin changes
    """Plugin actions per bundle, action and minute: the sliding window a rollout's health is read from."""

    app = pw.ForeignKeyField(App, backref="bundle_minute_stats", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    minute = pw.BigIntegerField()  # epoch seconds // 60
    bundle = pw.CharField(max_length=bounds.BUNDLE_NAME)
    action = pw.CharField(max_length=bounds.ACTION)
    count = pw.BigIntegerField(default=0)

    class Meta:
        indexes = ((("app", "bundle", "minute", "action"), True),)


class Rollout(BaseModel):
    """A second bundle on a channel for a growing share of its devices, on a schedule of steps.

    ``steps`` is [[epoch seconds, basis points], ...], both non-decreasing: the read service evaluates it
    against its clock, so a step needs no write. Paused, the share stays at ``held_share`` (0 when the
    rollout was rolled back)."""

    app = pw.ForeignKeyField(App, backref="rollouts", on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    channel = pw.ForeignKeyField(Channel, backref="rollouts", on_delete="CASCADE")
    channel_id: int  # peewee's accessor of the column, typed
    bundle = pw.ForeignKeyField(Bundle, backref="rollouts", on_delete="RESTRICT")
    bundle_id: int  # peewee's accessor of the column, typed
    steps = JSONField()
    state = pw.CharField(max_length=16, default="running")  # running, paused, promoted, aborted
    on_failure = pw.CharField(max_length=16, default="pause")  # pause, rollback
    threshold_bp = pw.IntegerField(default=500)  # failure rate that pauses it, in basis points
    min_samples = pw.IntegerField(default=50)
    window_seconds = pw.IntegerField(default=3600)
    held_share = pw.IntegerField(null=True)
    reason = pw.TextField(null=True)
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_by_id: int | None  # peewee's accessor of the column, typed
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class AuditEntry(BaseModel):
    """One changed record of an admin request: who (user, token), what (resource, id, action, fields
    before and after, secrets masked), when, from where (address, request id)."""

    audited = False
    at = pw.DateTimeField(default=utcnow, index=True)
    team_id = pw.IntegerField(null=True, index=True)  # whose records: scopes who may read the entry
    user_id = pw.IntegerField(null=True)
    user_email = pw.CharField(max_length=320)  # kept when the user is deleted
    token_hint = pw.CharField(max_length=16)
    address = pw.CharField(max_length=64, null=True)
    request_id = pw.CharField(max_length=64, null=True)
    resource = pw.CharField(max_length=64)
    resource_id = pw.CharField(max_length=64)
    action = pw.CharField(max_length=16)
    changes = JSONField()


class WebhookEndpoint(BaseModel):
    """A team's receiver of events; its signing secret is kept encrypted (store/secretbox.py)."""

    team = pw.ForeignKeyField(Team, backref="webhooks", on_delete="CASCADE")
    team_id: int  # peewee's accessor of the column, typed
    url = pw.CharField(max_length=2048)
    events = JSONField()  # event types, or ["*"]
    secret_encrypted = pw.TextField()
    active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField(default=utcnow)


class WebhookDelivery(BaseModel):
    """One event for one endpoint, written in the change's transaction; delivered by the worker."""

    audited = False
    endpoint = pw.ForeignKeyField(WebhookEndpoint, backref="deliveries", on_delete="CASCADE")
    endpoint_id: int  # peewee's accessor of the column, typed
    event = pw.CharField(max_length=64)
    payload = JSONField()
    state = pw.CharField(max_length=16, default="pending")  # pending, delivered, failed
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow, index=True)
    log = JSONField(default=list)  # [{"at", "status", "ms", "error"}] per attempt
    created_at = pw.DateTimeField(default=utcnow)
    delivered_at = pw.DateTimeField(null=True)


class DistEvent(BaseModel):
    """A product page's visit, a download button's click, or a release's download (once per client)."""

    audited = False  # events, not admin changes
    app = pw.ForeignKeyField(App, backref="dist_events", on_delete="CASCADE", index=False)
    app_id: int  # peewee's accessor of the column, typed
    variant = pw.ForeignKeyField(Variant, null=True, on_delete="CASCADE")
    variant_id: int | None  # peewee's accessor of the column, typed
    release = pw.ForeignKeyField(Build, null=True, on_delete="CASCADE")
    release_id: int | None  # peewee's accessor of the column, typed
    type = pw.CharField(max_length=16)  # visit, click, download
    ip = pw.CharField(max_length=64, default="")
    ua = pw.CharField(max_length=255, default="")
    created_at = pw.DateTimeField(default=utcnow, index=True)

    class Meta:
        # Migration 0018's: an app's events, newest first, off one index (its first column serves the key).
        indexes = ((("app", "id"), False),)


class IosDevice(BaseModel):
    """An iOS device a tester bound through the UDID profile, and its registration with Apple."""

    team = pw.ForeignKeyField(Team, backref="ios_devices", on_delete="CASCADE")
    team_id: int  # peewee's accessor of the column, typed
    public_id = pw.CharField(max_length=32, unique=True)
    udid = pw.CharField(max_length=128)
    product = pw.CharField(max_length=64, default="")  # the model identifier, e.g. iPhone15,2
    os_version = pw.CharField(max_length=64, default="")
    serial = pw.CharField(max_length=64, default="")
    device_name = pw.CharField(max_length=128, default="")
    last_ip = pw.CharField(max_length=64, default="")
    created_at = pw.DateTimeField(default=utcnow)
    verified_at = pw.DateTimeField(default=utcnow)
    apple_registered = pw.BooleanField(default=False)
    apple_registered_at = pw.DateTimeField(null=True)
    apple_device_id = pw.CharField(max_length=64, default="")
    apple_error = pw.TextField(default="")

    class Meta:
        indexes = ((("team", "udid"), True),)


class IosDeviceBinding(BaseModel):
    audited = False  # a tester's own action, not an admin change
    device = pw.ForeignKeyField(IosDevice, backref="bindings", on_delete="CASCADE")
    device_id: int  # peewee's accessor of the column, typed
    variant = pw.ForeignKeyField(Variant, backref="device_bindings", on_delete="CASCADE")
    variant_id: int  # peewee's accessor of the column, typed
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("device", "variant"), True),)


class DistSettings(BaseModel):
    """A team's distribution settings; the S3 keys and Apple's private key are sealed (store/secretbox.py)."""

    team = pw.ForeignKeyField(Team, backref="dist_settings", on_delete="CASCADE", unique=True)
    team_id: int  # peewee's accessor of the column, typed
    primary_domain = pw.CharField(max_length=255, default="")
    secondary_domains = JSONField(default=list)
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
    upload_domain = pw.CharField(max_length=255, default="")  # where the UI sends uploads (fenfa's setting)
    updated_at = pw.DateTimeField(default=utcnow)


class DistDailyStat(BaseModel):
    """Distribution events (visit, click, download) per app, release and day: the downloads chart's rows,
    aggregated by a worker job (store/fleet_stats.py)."""

    audited = False
    app = pw.ForeignKeyField(App, on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    day = pw.DateField()
    release_id = pw.IntegerField(default=0)  # 0: events of no release (page visits)
    type = pw.CharField(max_length=16)
    count = pw.BigIntegerField()

    class Meta:
        indexes = ((("app", "day", "release_id", "type"), True),)


class BundleDailyDevices(BaseModel):
    """Devices seen on a day, per channel they update from and bundle they reported running: the bundle
    adoption charts' rows."""

    audited = False
    app = pw.ForeignKeyField(App, on_delete="CASCADE")
    app_id: int  # peewee's accessor of the column, typed
    day = pw.DateField()
    channel = pw.CharField(max_length=bounds.CHANNEL_NAME)  # "" for a device no channel serves
    bundle = pw.CharField(max_length=bounds.BUNDLE_NAME)  # "" for devices on the app's built-in code
    devices = pw.IntegerField()

    class Meta:
        indexes = ((("app", "day", "channel", "bundle"), True),)


class ApiKey(BaseModel):
    """A team's scoped key for scripts and CI (store/api_keys.py): a mode, optionally some apps, an optional
    expiry; it acts as its user (deleted with them), or as the team's own key user when it is a team key."""

    team = pw.ForeignKeyField(Team, on_delete="CASCADE")
    team_id: int  # peewee's accessor of the column, typed
    user = pw.ForeignKeyField(User, on_delete="CASCADE")  # who it acts as
    user_id: int  # peewee's accessor of the column, typed
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", column_name="created_by_id")
    created_by_id: int | None  # peewee's accessor of the column, typed
    name = pw.CharField(max_length=200)
    mode = pw.CharField(max_length=8)  # read, upload, write, all
    apps = JSONField(null=True)  # public app ids it is limited to, or None for every app of the team
    team_key = pw.BooleanField(default=False)
    key_hash = pw.CharField(max_length=64, unique=True)
    hint = pw.CharField(max_length=32)
    expires_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)
    last_used_from = pw.CharField(max_length=64, null=True)
    created_at = pw.DateTimeField(default=utcnow)
