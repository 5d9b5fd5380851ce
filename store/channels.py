"""Update channels of an app: the bundle a channel serves and the policy devices are checked against.

Every change marks the app's snapshot stale: the read service decides device checks from it.
"""

from __future__ import annotations

import peewee as pw

from store.accounts import require_writer
from store.catalog import app_by_package, app_scope
from store.db import conflict_on_duplicate
from store.errors import InvalidInput, NotFound
from store.models import App, Bundle, Channel, User, utcnow
from store.outbox import mark_stale
from store.pagination import Page, paginate
from store.vocabulary import AUTO_UPDATE_LIMITS

POLICY = (
    "public",
    "disable_auto_update",
    "disable_under_native",
    "ios",
    "android",
    "allow_self_set",
    "allow_emulator",
    "allow_dev",
)


def _bundle(app: App, name: str | None) -> Bundle | None:
    if name is None:
        return None
    row = Bundle.get_or_none((Bundle.app == app) & (Bundle.name == name))
    if row is None:
        raise NotFound(f"bundle {name} not found")
    return row


def put_channel(caller: User, package: str, name: str, bundle: str | None, policy: dict) -> Channel:
    """Creates the channel or updates the fields given; unset fields keep their value (or default)."""
    app = app_by_package(caller, package, write=True)
    if not name or len(name) > 128:
        raise InvalidInput("channel must be 1 to 128 characters")
    unknown = set(policy) - set(POLICY)
    if unknown:
        raise InvalidInput(f"unknown channel fields: {', '.join(sorted(unknown))}")
    if policy.get("disable_auto_update", "none") not in AUTO_UPDATE_LIMITS:
        raise InvalidInput(f"disableAutoUpdate must be one of {', '.join(AUTO_UPDATE_LIMITS)}")
    row = Channel.get_or_none((Channel.app == app) & (Channel.name == name))
    if row is None:
        row = Channel(app=app, name=name, created_by=caller)
    if bundle is not None:
        row.bundle = _bundle(app, bundle)
    for key, value in policy.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    with conflict_on_duplicate("a channel of that name was created meanwhile"):
        row.save()
    if row.public:
        _one_default_per_platform(row)
    mark_stale(app.id)
    return row


def _one_default_per_platform(chosen: Channel) -> None:
    """A platform has one default channel: the one made public last takes the platforms it serves."""
    for other in Channel.select().where(
        (Channel.app == chosen.app_id) & (Channel.public == True) & (Channel.id != chosen.id)  # noqa: E712
    ):
        if (other.ios and chosen.ios) or (other.android and chosen.android):
            other.public = False
            other.updated_at = utcnow()
            other.save()


def list_channels(caller: User, package: str, page: int, per_page: int) -> Page:
    app = app_by_package(caller, package)
    q = Channel.select(Channel, Bundle).join(Bundle, pw.JOIN.LEFT_OUTER).where(Channel.app == app)
    return paginate(q.order_by(Channel.id), page, per_page)


def get_channel(caller: User, package: str, name: str) -> Channel:
    app = app_by_package(caller, package)
    row = Channel.get_or_none((Channel.app == app) & (Channel.name == name))
    if row is None:
        raise NotFound("channel not found")
    return row


def delete_channel(caller: User, package: str | None, name: str) -> None:
    """Deletes a channel by name; without an app, the name must be unambiguous among the caller's apps.
    Devices pinned to it fall back to their default channel."""
    if package:
        row = get_channel(caller, package, name)
        app_by_package(caller, package, write=True)
    else:
        rows = list(
            Channel.select()
            .join(App)
            .where((Channel.name == name) & App.deleted_at.is_null() & app_scope(caller))
            .limit(2)
        )
        if not rows:
            raise NotFound("channel not found")
        if len(rows) > 1:
            raise InvalidInput("several of your apps have a channel of that name: send app_id too")
        require_writer(caller)
        row = rows[0]
    row.delete_instance()
    mark_stale(row.app_id)
