"""Distribution: products (apps), their variants and releases (builds of a variant), public page events,
iOS devices bound through the UDID profile, and each team's distribution settings.

A product is an app, so an app made through any API is a product, and a release is a build: UpdateForge's
listing and downloads see releases as release builds of the app. Every function is scoped to the caller's
teams; any other team's id is not found. Functions that remove files return ``FileRef``s to delete after
the commit, so a failed change leaves rows and files as they were.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import peewee as pw

from store import netguard
from store.accounts import get_team, require_writer, visible_team_ids
from store.apple import AppleClient, AppleError
from store.catalog import SLUG_TAKEN, create_app, free_slug, get_app, slugify
from store.db import conflict_on_duplicate, db, tuples, unit_of_work
from store.errors import Conflict, InvalidInput, NotFound
from store.models import (
    App,
    Build,
    DistEvent,
    DistSettings,
    DownloadEvent,
    IosDevice,
    IosDeviceBinding,
    Team,
    User,
    Variant,
    utcnow,
)
from store.outbox import mark_stale
from store.pagination import keyset
from store.secretbox import seal, unseal
from store.versions import parse_key

DIST_PLATFORMS = ("ios", "android", "macos", "windows", "linux")
EVENT_TYPES = ("visit", "click", "download")
STORAGE_TYPES = ("local", "s3")
SEALED = {"s3_access_key": "s3_access_key_sealed", "s3_secret_key": "s3_secret_key_sealed",
          "apple_private_key": "apple_private_key_sealed"}  # fmt: skip
PLAIN_SETTINGS = ("primary_domain", "secondary_domains", "organization", "storage_type", "s3_endpoint",
                  "s3_bucket", "s3_region", "s3_public_url", "apple_key_id", "apple_issuer_id",
                  "apple_team_id", "upload_domain")  # fmt: skip


@dataclass(frozen=True)
class FileRef:
    """A stored file: its key and the backend descriptor of the storage it is on (store/storage.py)."""

    backend: str
    key: str
    team_id: int


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def new_release_id() -> str:
    return _new_id("rel")


def _files(builds) -> list[FileRef]:
    return [FileRef(b.file_backend, b.file_key, b.app.team_id) for b in builds if b.file_key]


# -- teams -------------------------------------------------------------------------------------------


def choose_team(caller: User, team_id: int | None) -> Team:
    """The team named, or the caller's only team; a caller of several teams must name one."""
    if team_id is not None:
        return get_team(caller, team_id)
    teams = list(Team.select().where(Team.id.in_(visible_team_ids(caller))).limit(2))
    if not teams:
        raise NotFound("team not found")
    if len(teams) > 1:
        raise InvalidInput("team_id is required: you belong to several teams")
    return teams[0]


# -- products ----------------------------------------------------------------------------------------


class ProductRow(NamedTuple):
    app: App
    variant_count: int


def list_products(caller: User, query: str | None, limit: int, offset: int) -> tuple[list[ProductRow], int]:
    require_writer(caller)
    q = App.select().where(App.deleted_at.is_null() & App.team.in_(visible_team_ids(caller)))
    if query:
        like = f"%{query}%"
        q = q.where(App.title**like | App.slug**like)
    total = q.count()
    count = Variant.select(pw.fn.COUNT(Variant.id)).where(Variant.app == App.id)
    rows = q.select(App, count.alias("variant_count")).order_by(App.created_at.desc(), App.id.desc())
    return [ProductRow(a, a.variant_count) for a in rows.limit(limit).offset(offset)], total  # type: ignore[attr-defined]  # the aliased count


def _check_slug(slug: str) -> str:
    clean = slugify(slug)
    if not clean:
        raise InvalidInput("invalid slug")
    return clean


def create_product(
    caller: User, team_id: int | None, name: str, slug: str, description: str, published: bool
) -> App:
    """The slug given, or one made from the name; when another product holds it, the next free suffix
    (``-2``, ``-3``...), as the distribution server does (a taken slug answered 409)."""
    team = choose_team(caller, team_id)
    clean = free_slug(_check_slug(slug) if slug else (slugify(name) or "product"))
    return create_app(caller, team.id, name, slug=clean, description=description, published=published)


def product(caller: User, product_id: str, write: bool = False) -> App:
    require_writer(caller)
    return get_app(caller, product_id, write=write)


class ProductView(NamedTuple):
    app: App
    variants: list[Variant]
    releases: dict[int, list[Build]]  # variant id -> its releases, newest first


def _releases_of(variants: list[Variant], with_file: bool = False) -> dict[int, list[Build]]:
    out: dict[int, list[Build]] = {v.id: [] for v in variants}
    if variants:
        q = Build.select().where(Build.variant.in_([v.id for v in variants]))
        if with_file:
            q = q.where(Build.file_key.is_null(False))
        for b in q.order_by(Build.created_at.desc(), Build.id.desc()):
            if b.variant_id is not None:  # always: the query names variants
                out[b.variant_id].append(b)
    return out


def _variants_of(app: App, published_only: bool = False) -> list[Variant]:
    q = Variant.select().where(Variant.app == app)
    if published_only:
        q = q.where(Variant.published == True)  # noqa: E712 - peewee expression
    return list(q.order_by(Variant.sort_order, Variant.created_at, Variant.id))


def get_product(caller: User, product_id: str) -> ProductView:
    app = product(caller, product_id)
    variants = _variants_of(app)
    return ProductView(app, variants, _releases_of(variants))


def update_product(caller: User, product_id: str, fields: dict) -> App:
    app = product(caller, product_id, write=True)
    if fields.get("name"):
        app.title = fields["name"]
    if fields.get("description"):
        app.description = fields["description"]
    if fields.get("published") is not None:
        app.published = fields["published"]
    if fields.get("slug"):
        clean = _check_slug(fields["slug"])
        if clean != app.slug and App.select().where((App.slug == clean) & (App.id != app.id)).exists():
            raise Conflict(SLUG_TAKEN)
        app.slug = clean
    app.updated_at = utcnow()
    with conflict_on_duplicate(SLUG_TAKEN):
        app.save()
    return app


def delete_product(caller: User, product_id: str) -> list[FileRef]:
    """Removes the product's variants and every build with its file; the app is gone for every API and
    its slug is free again (its package identifier stays claimed, as for any deleted app)."""
    app = product(caller, product_id, write=True)
    builds = list(Build.select(Build, App).join(App).where(Build.app == app))
    files = _files(builds)
    for b in builds:
        b.delete_instance(recursive=True)
    for v in _variants_of(app):
        v.delete_instance(recursive=True)
    app.deleted_at, app.slug, app.published = utcnow(), None, False
    app.save()
    mark_stale(app.id)
    return files


def set_published(caller: User, product_id: str, published: bool) -> App:
    app = product(caller, product_id, write=True)
    if app.published != published:
        app.published = published
        app.save()
    return app


# -- variants ----------------------------------------------------------------------------------------

VARIANT_TEXT = {"display_name": 255, "identifier": 255, "arch": 32, "installer_type": 32, "min_os": 64}


def _variant_fields(fields: dict, creating: bool) -> dict:
    out = {}
    platform = fields.get("platform")
    if platform or creating:
        if platform not in DIST_PLATFORMS:
            raise InvalidInput(f"platform must be one of {', '.join(DIST_PLATFORMS)}")
        out["platform"] = platform
    for name, limit in VARIANT_TEXT.items():
        value = fields.get(name)
        if value:
            if len(value) > limit:
                raise InvalidInput(f"{name} must be at most {limit} characters")
            out[name] = value
    for name in ("sort_order", "published"):
        if fields.get(name) is not None:
            out[name] = fields[name]
    return out


def _owned(caller: User, model, condition, what: str):
    """A row of ``model`` (joined to its live app) in one of the caller's teams; any other is not found."""
    require_writer(caller)
    row = (
        model.select(model, App)
        .join(App)
        .where(condition & App.deleted_at.is_null() & App.team.in_(visible_team_ids(caller)))
        .first()
    )
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def variant(caller: User, variant_id: str) -> Variant:
    return _owned(caller, Variant, Variant.public_id == variant_id, "variant")


def create_variant(caller: User, product_id: str, fields: dict) -> Variant:
    app = product(caller, product_id, write=True)
    values = _variant_fields(fields, creating=True)
    # Only the platform is required, as the server's UI sends it ("optional, auto-detected on upload"): an
    # empty name is the product's, an empty identifier stays empty until it is set.
    values.setdefault("display_name", app.title)
    values.setdefault("identifier", "")
    return Variant.create(public_id=_new_id("var"), app=app, **values)


def update_variant(caller: User, variant_id: str, fields: dict) -> Variant:
    row = variant(caller, variant_id)
    for name, value in _variant_fields(fields, creating=False).items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    row.save()
    return row


def delete_variant(caller: User, variant_id: str) -> list[FileRef]:
    row = variant(caller, variant_id)
    builds = list(Build.select(Build, App).join(App).where(Build.variant == row))
    files = _files(builds)
    for b in builds:
        b.delete_instance(recursive=True)
    row.delete_instance(recursive=True)
    return files


def variant_releases(caller: User, variant_id: str) -> tuple[Variant, list[Build]]:
    row = variant(caller, variant_id)
    return row, _releases_of([row])[row.id]


def download_counts(builds: list[Build]) -> dict[int, int]:
    if not builds:
        return {}
    q = (
        DownloadEvent.select(DownloadEvent.build, pw.fn.COUNT(DownloadEvent.id))
        .where(DownloadEvent.build.in_([b.id for b in builds]))
        .group_by(DownloadEvent.build)
    )
    return dict(tuples(q))


# -- releases ----------------------------------------------------------------------------------------


class ReleaseInput(NamedTuple):
    version: str
    build_number: int | None
    changelog: str
    min_os: str
    channel: str


def create_release(
    target: Variant,
    release_id: str,
    values: ReleaseInput,
    file_key: str,
    file_name: str,
    size: int,
    sha256: str,
    backend: str,
) -> Build:
    parse_key(values.version)
    return Build.create(
        app=target.app_id,
        build_type="release",
        version=values.version,
        name=values.channel or "",
        public=False,
        variant=target,
        release_id=release_id,
        build_number=values.build_number,
        changelog=values.changelog,
        min_os=values.min_os or target.min_os,
        channel=values.channel,
        file_key=file_key,
        file_name=file_name,
        file_size=size,
        file_sha256=sha256,
        file_uploaded_at=utcnow().replace(microsecond=0),
        file_backend=backend,
    )


def release(caller: User, release_id: str) -> Build:
    return _owned(caller, Build, Build.release_id == release_id, "release")


def delete_release(caller: User, release_id: str) -> list[FileRef]:
    row = release(caller, release_id)
    files = _files([row])
    row.delete_instance(recursive=True)
    return files


class Filters(NamedTuple):
    """What the admin UI's lists and exports filter on: a variant, and days (``to`` counts to its end)."""

    variant_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None  # exclusive: the day after ``to``

    @classmethod
    def of(cls, variant_id: str | None, start: str | None, end: str | None) -> Filters:
        return cls(variant_id or None, _day(start, "from"), _day(end, "to", next_day=True))

    def on(self, q, created):
        if self.since is not None:
            q = q.where(created >= self.since)
        if self.until is not None:
            q = q.where(created < self.until)
        return q


NO_FILTERS = Filters()


def _day(text: str | None, name: str, next_day: bool = False) -> dt.datetime | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a day such as 2026-01-31") from None
    return dt.datetime.combine(day + dt.timedelta(days=1 if next_day else 0), dt.time())


def all_releases(
    caller: User, filters: Filters = NO_FILTERS, batch: int = 2000
) -> Iterator[tuple[Build, Variant, App]]:
    """Every release of the caller's teams, oldest first, read in keyset batches (constant memory). The
    caller is checked now, before a response starts, not when the rows are first read."""
    require_writer(caller)
    return _releases_after(caller, filters, batch)


def _releases_after(caller: User, filters: Filters, batch: int) -> Iterator[tuple[Build, Variant, App]]:
    last = 0
    while True:
        q = (
            Build.select(Build, Variant, App)
            .join(Variant, on=(Build.variant == Variant.id))
            .switch(Build)
            .join(App)
            .where((Build.id > last) & App.deleted_at.is_null() & App.team.in_(visible_team_ids(caller)))
        )
        if filters.variant_id is not None:
            q = q.where(Variant.public_id == filters.variant_id)
        rows = list(filters.on(q, Build.created_at).order_by(Build.id).limit(batch))
        if not rows:
            return
        counts = download_counts(rows)
        for b in rows:
            b.downloads = counts.get(b.id, 0)
            yield b, b.variant, b.app
        last = rows[-1].id


# -- the public side ---------------------------------------------------------------------------------


class PublicPage(NamedTuple):
    app: App
    variants: list[Variant]
    releases: dict[int, list[Build]]
    settings: DistSettings


def public_page(slug: str) -> PublicPage | None:
    """A published product's page content; None for an unknown, unpublished or deleted one."""
    app = App.get_or_none((App.slug == slug) & App.published & App.deleted_at.is_null())
    if app is None:
        return None
    variants = _variants_of(app, published_only=True)
    return PublicPage(app, variants, _releases_of(variants, with_file=True), team_settings(app.team_id))


def public_release(release_id: str) -> Build | None:
    """A release with a file, of a published variant of a published product."""
    return (
        Build.select(Build, Variant, App)
        .join(Variant, on=(Build.variant == Variant.id))
        .switch(Build)
        .join(App)
        .where(
            (Build.release_id == release_id)
            & Build.file_key.is_null(False)
            & App.published
            & App.deleted_at.is_null()
            & Variant.published
        )
        .first()
    )


def public_variant(variant_id: str) -> Variant | None:
    return (
        Variant.select(Variant, App)
        .join(App)
        .where((Variant.public_id == variant_id) & App.deleted_at.is_null())
        .first()
    )


def record_event(app_id: int, kind: str, variant_id: int | None, release_id: int | None, ip: str, ua: str):
    DistEvent.create(app=app_id, type=kind, variant=variant_id, release=release_id, ip=ip[:64], ua=ua[:255])


def record_download(build: Build, client: str, ip: str, ua: str) -> bool:
    """Counts a download once per (release, client): True for the first request of that client."""
    query = DownloadEvent.insert(build=build, client=client[:128]).on_conflict_ignore()
    first = db.execute(query).rowcount == 1
    if first:
        record_event(build.app_id, "download", build.variant_id, build.id, ip, ua)
    return first


# -- events ------------------------------------------------------------------------------------------


def _event_query(
    caller: User, kind: str | None, variant_id: str | None, release_id: str | None, days: Filters = NO_FILTERS
):
    require_writer(caller)
    if kind is not None and kind not in EVENT_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(EVENT_TYPES)}")
    q = (
        DistEvent.select(
            DistEvent.id,
            DistEvent.type,
            DistEvent.ip,
            DistEvent.ua,
            DistEvent.created_at,
            App.public_id.alias("product_id"),
            Variant.public_id.alias("variant_id"),
            Build.release_id.alias("release_id"),
        )
        .join(App)
        .switch(DistEvent)
        .join(Variant, pw.JOIN.LEFT_OUTER)
        .switch(DistEvent)
        .join(Build, pw.JOIN.LEFT_OUTER)
        .where(App.team.in_(visible_team_ids(caller)) & App.deleted_at.is_null())
    )
    if kind is not None:
        q = q.where(DistEvent.type == kind)
    if variant_id is not None:
        q = q.where(Variant.public_id == variant_id)
    if release_id is not None:
        q = q.where(Build.release_id == release_id)
    return days.on(q, DistEvent.created_at)


def list_events(
    caller: User,
    kind: str | None,
    variant_id: str | None,
    release_id: str | None,
    limit: int,
    offset: int,
    days: Filters = NO_FILTERS,
) -> tuple[list, int]:
    q = _event_query(caller, kind, variant_id, release_id, days)
    total = q.count()
    return list(q.order_by(DistEvent.id.desc()).limit(limit).offset(offset).dicts()), total


def iter_events(caller: User, filters: Filters = NO_FILTERS, batch: int = 5000) -> Iterator[dict]:
    """Every event of the caller's teams, oldest first, in keyset batches: constant memory however many.
    The caller is checked now (building the query), before a response starts."""
    q = _event_query(caller, None, filters.variant_id, None, filters)
    return keyset(q, DistEvent.id, batch, dicts=True)


# -- iOS devices -------------------------------------------------------------------------------------


class Capture(NamedTuple):
    udid: str
    product: str
    os_version: str
    serial: str
    device_name: str


def bind_device(target: Variant, capture: Capture, ip: str) -> IosDevice:
    """Stores (or refreshes) the device in the variant's team and binds it to the variant."""
    team_id = target.app.team_id
    device = IosDevice.get_or_none((IosDevice.team == team_id) & (IosDevice.udid == capture.udid))
    now = utcnow()
    if device is None:
        with conflict_on_duplicate("device already bound"):
            device = IosDevice.create(team=team_id, public_id=_new_id("dev"), udid=capture.udid)
    device.product, device.os_version, device.serial = capture.product, capture.os_version, capture.serial
    device.device_name = capture.device_name or device.device_name
    device.last_ip, device.verified_at = ip[:64], now
    device.save()
    IosDeviceBinding.insert(device=device, variant=target, created_at=now).on_conflict_ignore().execute()
    return device


def _device_query(
    caller: User, variant_id: str | None, search: str | None = None, days: Filters = NO_FILTERS
):
    require_writer(caller)
    q = days.on(IosDevice.select().where(IosDevice.team.in_(visible_team_ids(caller))), IosDevice.created_at)
    if search:
        like = f"%{search}%"
        q = q.where(
            IosDevice.udid.ilike(like)
            | IosDevice.device_name.ilike(like)
            | IosDevice.product.ilike(like)
            | IosDevice.os_version.ilike(like)
        )
    if variant_id is not None:
        bound = (
            IosDeviceBinding.select(IosDeviceBinding.device)
            .join(Variant)
            .where(Variant.public_id == variant_id)
        )
        q = q.where(IosDevice.id.in_(bound))
    return q


def list_ios_devices(
    caller: User,
    variant_id: str | None,
    limit: int,
    offset: int,
    search: str | None = None,
    days: Filters = NO_FILTERS,
) -> tuple[list, int]:
    q = _device_query(caller, variant_id, search, days)
    return list(
        q.order_by(IosDevice.created_at.desc(), IosDevice.id.desc()).limit(limit).offset(offset)
    ), q.count()


def iter_ios_devices(caller: User, filters: Filters = NO_FILTERS, batch: int = 2000) -> Iterator[IosDevice]:
    """Every iOS device of the caller's teams in keyset batches; the caller is checked now."""
    return keyset(_device_query(caller, filters.variant_id, None, filters), IosDevice.id, batch)


def device_variants(devices: list[IosDevice]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {d.id: [] for d in devices}
    if devices:
        q = (
            IosDeviceBinding.select(IosDeviceBinding.device, Variant.public_id)
            .join(Variant)
            .where(IosDeviceBinding.device.in_([d.id for d in devices]))
            .order_by(IosDeviceBinding.id)
        )
        for row in q:
            out[row.device_id].append(row.variant.public_id)
    return out


def ios_device(caller: User, device_id: str) -> IosDevice:
    require_writer(caller)
    row = IosDevice.get_or_none(
        (IosDevice.public_id == device_id) & IosDevice.team.in_(visible_team_ids(caller))
    )
    if row is None:
        raise NotFound("device not found")
    return row


def ios_variants(caller: User) -> list[Variant]:
    """The iOS variants of the caller's teams, oldest first, their products joined (the devices page's
    filter)."""
    require_writer(caller)
    return list(
        Variant.select(Variant, App)
        .join(App)
        .where(
            (Variant.platform == "ios") & App.team.in_(visible_team_ids(caller)) & App.deleted_at.is_null()
        )
        .order_by(Variant.created_at, Variant.id)
    )


def team_devices(team: Team, device_ids: list[str]) -> dict[str, IosDevice]:
    """The team's devices among ``device_ids``, by public id (another team's ids are simply absent)."""
    return {
        d.public_id: d
        for d in IosDevice.select().where((IosDevice.team == team) & IosDevice.public_id.in_(device_ids))
    }


def mark_registered(device: IosDevice, apple_device_id: str) -> None:
    device.apple_registered, device.apple_registered_at = True, utcnow()
    device.apple_device_id, device.apple_error = apple_device_id, ""
    device.save()


def mark_failed(device: IosDevice, error: str) -> None:
    device.apple_error = error[:1000]
    device.save()


class Registration(NamedTuple):
    """What registering a device with Apple came to: registered, already_registered or failed."""

    status: str
    apple_device_id: str | None = None
    error: str | None = None


def register_with_apple(client: AppleClient, device: IosDevice) -> Registration:
    """One device registered with Apple (one Apple already has counts as registered), and the outcome
    committed on its own, so one refusal touches nothing else."""
    name = (device.device_name or f"{device.product or 'iOS device'} {device.udid[-6:]}")[:50]
    try:
        try:
            apple_id, status = client.register(device.udid, name), "registered"
        except AppleError as exc:
            found = client.find(device.udid) if exc.status == 409 else None
            if found is None:
                raise
            apple_id, status = found, "already_registered"
    except AppleError as exc:
        with unit_of_work():
            mark_failed(device, exc.detail)
        return Registration("failed", error=exc.detail)
    with unit_of_work():
        mark_registered(device, apple_id)
    return Registration(status, apple_id)


# -- settings ----------------------------------------------------------------------------------------


def team_settings(team_id: int) -> DistSettings:
    """The team's settings row, or the defaults (unsaved) when it never set any."""
    return DistSettings.get_or_none(DistSettings.team == team_id) or DistSettings(team=team_id)


def _settings_or_defaults(team: Team, default_domain: str) -> DistSettings:
    """A team that never saved settings starts from its name as the organization and ``default_domain``
    (where testers reach the deployment) as the primary domain, so pages and links work at once."""
    return DistSettings.get_or_none(DistSettings.team == team.id) or DistSettings(
        team=team.id, organization=team.name[:255], primary_domain=default_domain[:255]
    )


def get_settings(caller: User, team_id: int | None, default_domain: str = "") -> DistSettings:
    require_writer(caller)
    return _settings_or_defaults(choose_team(caller, team_id), default_domain)


def update_settings(
    caller: User,
    team_id: int | None,
    fields: dict,
    key: bytes,
    allow_private: bool = False,
    default_domain: str = "",
) -> DistSettings:
    """Applies the fields given; a secret given as "" is cleared, one left out is kept. An S3 endpoint must
    be an http(s) URL of a public address unless ``allow_private`` (the operator's setting): the write API
    would otherwise call into the deployment's own network on the team's behalf."""
    require_writer(caller)
    row = _settings_or_defaults(choose_team(caller, team_id), default_domain)
    if "storage_type" in fields and fields["storage_type"] not in STORAGE_TYPES:
        raise InvalidInput("storage_type must be local or s3")
    if fields.get("s3_endpoint"):
        try:
            netguard.check_url(fields["s3_endpoint"], allow_private)
        except netguard.Refused as refused:
            raise InvalidInput(f"s3_endpoint: {refused}") from None
    for name in PLAIN_SETTINGS:
        if name in fields:
            setattr(row, name, fields[name])
    for name, column in SEALED.items():
        if name in fields:
            setattr(row, column, seal(key, fields[name]) if fields[name] else None)
    if row.storage_type == "s3" and not row.s3_bucket:
        raise InvalidInput("s3_bucket is required when storage_type is s3")
    row.updated_at = utcnow()
    row.save()
    return row


def secret(row: DistSettings, name: str, key: bytes) -> str:
    """A sealed setting in the clear, for the services that use it ("" when unset)."""
    sealed = getattr(row, SEALED[name])
    return unseal(key, sealed) if sealed else ""


def upload_backend(row: DistSettings) -> str:
    """The backend descriptor new uploads of the team go to: its S3 bucket, or the deployment's storage."""
    if row.storage_type == "s3":
        return f"s3|{row.s3_endpoint}|{row.s3_region}|{row.s3_bucket}"
    return "local"
