"""A published product's public side: its page, its releases' downloads, and what visitors did there
(visits, clicks, downloads) as an admin reads it back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import peewee as pw

from store.accounts import require_writer
from store.catalog import app_scope
from store.db import db
from store.errors import InvalidInput
from store.models import (
    App,
    Build,
    DistEvent,
    DistSettings,
    DownloadEvent,
    User,
    Variant,
)
from store.pagination import keyset
from store.products import releases_of, variants_of
from store.releases import NO_FILTERS, Filters
from store.team_settings import team_settings

EVENT_TYPES = ("visit", "click", "download")


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
    variants = variants_of(app, published_only=True)
    return PublicPage(app, variants, releases_of(variants, with_file=True), team_settings(app.team_id))


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
    caller: User,
    kind: str | None,
    variant_id: str | None,
    release_id: str | None,
    days: Filters = NO_FILTERS,
    product_id: str | None = None,
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
        .where(app_scope(caller) & App.deleted_at.is_null())
    )
    if kind is not None:
        q = q.where(DistEvent.type == kind)
    if variant_id is not None:
        q = q.where(Variant.public_id == variant_id)
    if release_id is not None:
        q = q.where(Build.release_id == release_id)
    if product_id is not None:
        # By the app's own id, resolved first: joined through its public id, PostgreSQL guessed a handful
        # of an app's events and sorted them all (250 ms a page at 100,000); by the id it reads the newest
        # off (app_id, id). An unknown or foreign product matches no event, as before.
        app = App.get_or_none((App.public_id == product_id) & App.deleted_at.is_null())
        q = q.where(DistEvent.app == (app.id if app else None))
    return days.on(q, DistEvent.created_at)


def list_events(
    caller: User,
    kind: str | None,
    variant_id: str | None,
    release_id: str | None,
    limit: int,
    offset: int,
    days: Filters = NO_FILTERS,
    product_id: str | None = None,
) -> tuple[list, int]:
    q = _event_query(caller, kind, variant_id, release_id, days, product_id)
    total = q.count()
    return list(q.order_by(DistEvent.id.desc()).limit(limit).offset(offset).dicts()), total


def iter_events(caller: User, filters: Filters = NO_FILTERS, batch: int = 5000) -> Iterator[dict]:
    """Every event of the caller's teams, oldest first, in keyset batches: constant memory however many.
    The caller is checked now (building the query), before a response starts."""
    q = _event_query(caller, None, filters.variant_id, None, filters)
    return keyset(q, DistEvent.id, batch, dicts=True)
