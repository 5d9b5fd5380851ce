"""Releases: builds of a product's variant (UpdateForge lists them as release builds of the app), and the date
ranges exports are filtered by."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import NamedTuple

from store.accounts import require_writer
from store.catalog import app_scope
from store.errors import InvalidInput
from store.models import (
    App,
    Build,
    User,
    Variant,
    utcnow,
)
from store.products import FileRef, download_counts, files_of, owned
from store.versions import parse_key

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
    return owned(caller, Build, Build.release_id == release_id, "release")


def delete_release(caller: User, release_id: str) -> list[FileRef]:
    row = release(caller, release_id)
    files = files_of([row])
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
            .where((Build.id > last) & App.deleted_at.is_null() & app_scope(caller))
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
