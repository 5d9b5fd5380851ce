"""Apps, the aggregate everything clients see hangs from: scope checks, the app's life, its icon.

Every function that changes what clients see marks the app's snapshot stale in
the same transaction (``mark_stale``).
"""

from __future__ import annotations

import re
import secrets

from store.accounts import get_team, require_writer, visible_team_ids
from store.db import conflict_on_duplicate
from store.errors import Conflict, InvalidInput, NotFound
from store.models import (
    App,
    Environment,
    User,
    utcnow,
)
from store.outbox import mark_stale
from store.pagination import Page, paginate

# -- apps --------------------------------------------------------------------------------------------


def new_public_id() -> str:
    return "app_" + secrets.token_hex(8)


def app_scope(caller: User):
    """The apps the caller may reach: those of its teams, or an app-limited API key's own apps."""
    scope = getattr(caller, "key_scope", None)  # store/api_keys.py
    if scope is not None and scope.app_ids is not None:
        return (App.team == scope.team_id) & App.public_id.in_(list(scope.app_ids))
    return App.team.in_(visible_team_ids(caller))


def get_app(caller: User, app_id: str, write: bool = False) -> App:
    app = App.get_or_none((App.public_id == app_id) & App.deleted_at.is_null() & app_scope(caller))
    if app is None:
        raise NotFound("app not found")
    if write:
        require_writer(caller)
    return app


def app_row(model, what: str, caller: User, app_id: str, row_id: int, write: bool = False):
    """A row of ``model`` that belongs to one of the caller's apps; any other id is "<what> not found"."""
    app = get_app(caller, app_id, write=write)
    row = model.get_or_none((model.id == row_id) & (model.app == app))
    if row is None:
        raise NotFound(f"{what} not found")
    return row


# A reverse-domain identifier (com.example.app), as the stores and Capgo's plugin use it.
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$", re.ASCII)
PACKAGE_TAKEN = "this package identifier belongs to another app"


def _claim_package(package_name: str, app: App | None = None) -> str:
    """Checks an identifier an app is about to take. It is unique across the deployment (device calls carry
    no credentials, so it alone names the app) and is never moved: whoever holds it, a deleted app
    included, the claim is refused, and the unique index decides a race."""
    package_name = package_name.strip()
    if not package_name:
        return ""
    if len(package_name) > 255 or not _PACKAGE.match(package_name):
        raise InvalidInput("package_name must be a reverse-domain identifier such as com.example.app")
    holder = App.get_or_none(App.package_name == package_name)
    if holder is not None and (app is None or holder.id != app.id):
        raise Conflict(PACKAGE_TAKEN)
    return package_name


def app_by_package(caller: User, package_name: str, write: bool = False) -> App:
    """A live app of the caller's teams by its package identifier; any other identifier is not found."""
    app = App.get_or_none(
        (App.package_name == package_name)
        & (App.package_name != "")
        & App.deleted_at.is_null()
        & app_scope(caller)
    )
    if app is None:
        raise NotFound("app not found")
    if write:
        require_writer(caller)
    return app


def list_apps(caller: User, team_id: int | None, page: int, per_page: int, search: str = "") -> Page:
    """The caller's live apps, oldest first; ``search`` matches a title or package name anywhere, or an
    app id exactly."""
    q = App.select().where(App.deleted_at.is_null() & app_scope(caller))
    if team_id is not None:
        q = q.where(App.team == get_team(caller, team_id))
    if search:
        q = q.where(
            App.title.contains(search) | App.package_name.contains(search) | (App.public_id == search)
        )
    return paginate(q.order_by(App.created_at, App.id), page, per_page)


_SLUG_DROP = re.compile(r"[^\w\s-]+")
_SLUG_DASH = re.compile(r"[\s_-]+")
SLUG_TAKEN = "slug already exists"


def slugify(text: str) -> str:
    """Lower case letters and digits in dash-separated words, at most 100 characters."""
    return _SLUG_DASH.sub("-", _SLUG_DROP.sub("", text.strip().lower())).strip("-")[:100].strip("-")


def free_slug(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``...: the first no app holds (the unique index decides a race)."""
    base = base or "product"
    taken = {row.slug for row in App.select(App.slug).where(App.slug.startswith(base))}
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def environment_alias(alias: str) -> str:
    """``alias`` when it can name an environment; InvalidInput otherwise."""
    if not _ALIAS.match(alias or ""):
        raise InvalidInput("alias must be 1-64 letters, digits, '.', '_' or '-'")
    return alias


def add_environment(app: App, alias: str) -> Environment:
    """One more environment of ``app`` (an app is created with its environments; store/environments.py
    manages them after)."""
    environment_alias(alias)
    with conflict_on_duplicate(f"environment {alias!r} already exists"):
        return Environment.create(app=app, alias=alias)


def create_app(
    caller: User,
    team_id: int,
    title: str,
    package_name: str = "",
    environments: list[str] | None = None,
    slug: str | None = None,
    description: str = "",
    published: bool = False,
) -> App:
    """An app, which is also a product: ``slug`` given is taken as it is (a conflict when held), else one is
    made from the title."""
    team = get_team(caller, team_id, write=True)
    package_name = _claim_package(package_name)
    with conflict_on_duplicate(SLUG_TAKEN if slug else PACKAGE_TAKEN):
        app = App.create(
            public_id=new_public_id(),
            team=team,
            title=title,
            package_name=package_name,
            slug=slug or free_slug(slugify(title)),
            description=description,
            published=published,
        )
    for alias in environments if environments is not None else ["production", "staging"]:
        add_environment(app, alias)
    mark_stale(app.id)
    return app


def update_app(caller: User, app_id: str, fields: dict) -> App:
    app = get_app(caller, app_id, write=True)
    if "title" in fields:
        app.title = fields["title"]
    if "package_name" in fields and fields["package_name"] != app.package_name:
        app.package_name = _claim_package(fields["package_name"], app)
        # The snapshot carries the identifier: device calls find the app by it.
        mark_stale(app.id)
    with conflict_on_duplicate(PACKAGE_TAKEN):
        app.save()
    return app


def delete_app(caller: User, app_id: str) -> None:
    app = get_app(caller, app_id, write=True)
    app.deleted_at = utcnow()
    app.save()
    mark_stale(app.id)


# -- icons -------------------------------------------------------------------------------------------

# Served publicly from our own origin, so only raster image types (no SVG, no HTML) and plain names.
ICON_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}
_ICON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def icon_key(app: App, filename: str) -> str:
    return f"icons/{app.id}/{filename}"


def icon_type(filename: str) -> str:
    kind = ICON_TYPES.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
    if not _ICON_NAME.match(filename) or kind is None:
        raise InvalidInput(f"filename must be a plain name ending in .{', .'.join(ICON_TYPES)}")
    return kind


def set_icon(app: App, filename: str) -> str | None:
    """Points the app at its new icon; returns the storage key of the one it replaced, if it is another file."""
    old = app.icon
    app.icon = filename
    app.save()
    return icon_key(app, old) if old and old != filename else None


def clear_icon(caller: User, app_id: str) -> str | None:
    app = get_app(caller, app_id, write=True)
    old, app.icon = app.icon, None
    app.save()
    return icon_key(app, old) if old else None


def public_icon(app_id: str, filename: str) -> tuple[str, str]:
    """The storage key and type of an app's current icon; any other name is not found, whatever it holds."""
    app = App.get_or_none((App.public_id == app_id) & App.deleted_at.is_null())
    if app is None or not app.icon or app.icon != filename:
        raise NotFound("file not found")
    return icon_key(app, filename), icon_type(filename)
