"""Web bundles of an app (live updates): uploaded into storage or served from elsewhere.

A bundle a channel serves cannot be deleted; its file goes only after the deleting transaction commits
(the caller deletes the keys this module returns).
"""

from __future__ import annotations

from store.catalog import app_by_package
from store.channels import put_channel
from store.db import conflict_on_duplicate, tuples
from store.errors import Conflict, InvalidInput, NotFound
from store.models import App, Bundle, Channel, Device, User
from store.outbox import mark_stale
from store.pagination import Page, paginate
from store.versions import parse_key

NAME_TAKEN = "a bundle of that version already exists"


def check_new(caller: User, package: str, name: str, external_url: str | None) -> App:
    """The checks an upload passes before its bytes are streamed: the app, the name, the URL."""
    app = app_by_package(caller, package, write=True)
    parse_key(name)
    if external_url is not None and not external_url.startswith(("https://", "http://")):
        raise InvalidInput("external_url must be an http(s) URL")
    if Bundle.select().where((Bundle.app == app) & (Bundle.name == name)).exists():
        raise Conflict(NAME_TAKEN)
    return app


def create_bundle(
    caller: User,
    app: App,
    name: str,
    *,
    file_key: str | None = None,
    size: int | None = None,
    checksum: str | None = None,
    external_url: str | None = None,
    min_update_version: str | None = None,
    native_packages: list | None = None,
    channel: str | None = None,
) -> Bundle:
    if (file_key is None) == (external_url is None):
        raise InvalidInput("a bundle has either an uploaded file or an external_url")
    if min_update_version is not None:
        parse_key(min_update_version)
    with conflict_on_duplicate(NAME_TAKEN):
        row = Bundle.create(
            app=app,
            name=name,
            file_key=file_key,
            file_size=size,
            checksum=checksum,
            external_url=external_url,
            min_update_version=min_update_version,
            native_packages=native_packages,
            created_by=caller,
        )
    if channel is not None:
        put_channel(caller, app.package_name, channel, name, {})
    mark_stale(app.id)
    return row


def list_bundles(caller: User, package: str, page: int, per_page: int) -> Page:
    app = app_by_package(caller, package)
    return paginate(Bundle.select().where(Bundle.app == app).order_by(Bundle.id), page, per_page)


def delete_bundles(caller: User, package: str, name: str | None) -> list[str]:
    """Deletes one bundle (or, without a name, every bundle of the app) unless a channel serves one of them;
    devices pinned to a deleted bundle follow their channel again. Returns the files to remove after commit."""
    app = app_by_package(caller, package, write=True)
    q = Bundle.select().where(Bundle.app == app)
    if name is not None:
        q = q.where(Bundle.name == name)
    rows = list(q)
    if name is not None and not rows:
        raise NotFound("bundle not found")
    ids = [b.id for b in rows]
    serving = tuples(Channel.select(Channel.name).where(Channel.bundle.in_(ids)).order_by(Channel.name))
    if serving:
        names = ", ".join(n for (n,) in serving)
        raise Conflict(f"bundle is used by channel(s) {names}: point them at another bundle first")
    Device.update(bundle_override=None).where(Device.bundle_override.in_(ids)).execute()
    for bundle in rows:
        bundle.delete_instance()  # one at a time: each deletion is audited
    mark_stale(app.id)
    return [b.file_key for b in rows if b.file_key]


def stored_bundle(bundle_id: int) -> Bundle:
    """A bundle with an uploaded file, for a signed download link (the link, not a caller, authorises)."""
    row = Bundle.get_or_none(Bundle.id == bundle_id)
    if row is None or row.file_key is None:
        raise NotFound("bundle not found")
    return row
