"""Products and their variants: a product is an app (made through any API), a variant one platform's line of
its releases. Every function is scoped to the caller's teams; any other team's id is not found. Functions
that remove files return ``FileRef``s to delete after the commit, so a failed change leaves rows and
files as they were."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import NamedTuple

import peewee as pw

from store.accounts import get_team, require_writer, visible_team_ids
from store.catalog import SLUG_TAKEN, app_scope, create_app, free_slug, get_app, slugify
from store.db import conflict_on_duplicate, tuples
from store.errors import Conflict, InvalidInput, NotFound
from store.models import (
    App,
    Build,
    DownloadEvent,
    Team,
    User,
    Variant,
    utcnow,
)
from store.outbox import mark_stale

DIST_PLATFORMS = ("ios", "android", "macos", "windows", "linux")


@dataclass(frozen=True)
class FileRef:
    """A stored file: its key and the backend descriptor of the storage it is on (store/storage.py)."""

    backend: str
    key: str
    team_id: int


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def new_release_id() -> str:
    return new_id("rel")


def files_of(builds) -> list[FileRef]:
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
    q = App.select().where(App.deleted_at.is_null() & app_scope(caller))
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


def releases_of(variants: list[Variant], with_file: bool = False) -> dict[int, list[Build]]:
    out: dict[int, list[Build]] = {v.id: [] for v in variants}
    if variants:
        q = Build.select().where(Build.variant.in_([v.id for v in variants]))
        if with_file:
            q = q.where(Build.file_key.is_null(False))
        for b in q.order_by(Build.created_at.desc(), Build.id.desc()):
            if b.variant_id is not None:  # always: the query names variants
                out[b.variant_id].append(b)
    return out


def variants_of(app: App, published_only: bool = False) -> list[Variant]:
    q = Variant.select().where(Variant.app == app)
    if published_only:
        q = q.where(Variant.published == True)  # noqa: E712 - peewee expression
    return list(q.order_by(Variant.sort_order, Variant.created_at, Variant.id))


def get_product(caller: User, product_id: str) -> ProductView:
    app = product(caller, product_id)
    variants = variants_of(app)
    return ProductView(app, variants, releases_of(variants))


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
    files = files_of(builds)
    for b in builds:
        b.delete_instance(recursive=True)
    for v in variants_of(app):
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


def owned(caller: User, model, condition, what: str):
    """A row of ``model`` (joined to its live app) in one of the caller's teams; any other is not found."""
    require_writer(caller)
    row = (
        model.select(model, App)
        .join(App)
        .where(condition & App.deleted_at.is_null() & app_scope(caller))
        .first()
    )
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def variant(caller: User, variant_id: str) -> Variant:
    return owned(caller, Variant, Variant.public_id == variant_id, "variant")


def create_variant(caller: User, product_id: str, fields: dict) -> Variant:
    app = product(caller, product_id, write=True)
    values = _variant_fields(fields, creating=True)
    # Only the platform is required, as the server's UI sends it ("optional, auto-detected on upload"): an
    # empty name is the product's, an empty identifier stays empty until it is set.
    values.setdefault("display_name", app.title)
    values.setdefault("identifier", "")
    return Variant.create(public_id=new_id("var"), app=app, **values)


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
    files = files_of(builds)
    for b in builds:
        b.delete_instance(recursive=True)
    row.delete_instance(recursive=True)
    return files


def variant_releases(caller: User, variant_id: str) -> tuple[Variant, list[Build]]:
    row = variant(caller, variant_id)
    return row, releases_of([row])[row.id]


def download_counts(builds: list[Build]) -> dict[int, int]:
    if not builds:
        return {}
    q = (
        DownloadEvent.select(DownloadEvent.build, pw.fn.COUNT(DownloadEvent.id))
        .where(DownloadEvent.build.in_([b.id for b in builds]))
        .group_by(DownloadEvent.build)
    )
    return dict(tuples(q))
