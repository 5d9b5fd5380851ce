"""Scoped API keys for scripts and CI: a team's, with a mode (read < upload < write < all), optionally limited
to some of its apps, optionally expiring; shown once, stored as a SHA-256 digest, prefixed so secret scanners
find a leaked one (``gatehouse_key_``).

A key acts as a user: its creator (and is deleted with them), or, for a team key, a user of its own that
belongs to the team alone and has no password. The store's scoping then narrows that user to the key's team
and apps (``scope_of``), and the route's needed mode is checked against the key's. A key cannot manage keys.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from store import tokens
from store.accounts import get_team, hash_password, require_writer
from store.db import conflict_on_duplicate, tuples
from store.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from store.models import ApiKey, App, Membership, User, utcnow
from store.pagination import Page, paginate

MODES = ("read", "upload", "write", "all")
RANK = {mode: n for n, mode in enumerate(MODES)}
MAX_APPS = 100
# How often a key's last use is written: a CI job polling every second must not write every second.
USE_RECORD_INTERVAL = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class KeyScope:
    """What a key narrows its user to."""

    key_id: int
    team_id: int
    app_ids: tuple[str, ...] | None  # public ids, or None for every app of the team
    mode: str


def scope_of(caller: User) -> KeyScope | None:
    return getattr(caller, "key_scope", None)


def _refuse_keys(caller: User) -> None:
    if scope_of(caller) is not None:
        raise Forbidden("an API key cannot manage API keys: sign in as a user")


def create_key(
    caller: User,
    team_id: int,
    name: str,
    mode: str,
    app_ids: list[str] | None = None,
    expires_at: dt.datetime | None = None,
    team_key: bool = False,
) -> tuple[ApiKey, str]:
    """A new key and its raw value (returned once)."""
    _refuse_keys(caller)
    team = get_team(caller, team_id, write=True)
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1 to 200 characters")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future")
    if app_ids is not None:
        if not app_ids or len(app_ids) > MAX_APPS:
            raise InvalidInput(f"apps must name 1 to {MAX_APPS} apps, or be left out for every app")
        found = {
            a
            for (a,) in tuples(
                App.select(App.public_id).where(
                    App.public_id.in_(app_ids) & (App.team == team) & App.deleted_at.is_null()
                )
            )
        }
        if set(app_ids) - found:
            raise NotFound("app not found")  # another team's app is not found, as everywhere
        app_ids = sorted(found)
    owner = caller
    if team_key:
        # The team's own key user: a member of this team alone, no usable password, an admin there.
        owner = User.create(
            email=f"key-{secrets.token_hex(8)}@keys.gatehouse.invalid",
            password_hash=hash_password(secrets.token_urlsafe(32)),
            role="admin",
        )
        Membership.create(team=team, user=owner)
    raw = tokens.new_token(tokens.KEY_PREFIX)
    with conflict_on_duplicate("key collision, try again"):
        row = ApiKey.create(
            team=team,
            user=owner,
            created_by=caller,
            name=name,
            mode=mode,
            apps=app_ids,
            team_key=team_key,
            key_hash=tokens.digest(raw),
            hint=raw[: len(tokens.KEY_PREFIX) + 4] + "…",
            expires_at=expires_at,
        )
    return row, raw


def list_keys(caller: User, team_id: int, page: int, per_page: int) -> Page:
    _refuse_keys(caller)
    team = get_team(caller, team_id)
    require_writer(caller)
    return paginate(ApiKey.select().where(ApiKey.team == team).order_by(ApiKey.id), page, per_page)


def revoke_key(caller: User, team_id: int, key_id: int) -> None:
    _refuse_keys(caller)
    team = get_team(caller, team_id, write=True)
    row = ApiKey.get_or_none((ApiKey.id == key_id) & (ApiKey.team == team))
    if row is None:
        raise NotFound("key not found")
    row.delete_instance()
    if row.team_key:
        User.delete().where(User.id == row.user_id).execute()  # its own user goes with it


def caller_for_key(raw: str, needed: str, address: str | None, upload_only: bool = False) -> User:
    """The user a key acts as, narrowed to the key's team and apps; NotAuthenticated for an unknown, revoked
    or expired key, Forbidden when the route needs more than the key's mode (or, ``upload_only``, when an
    upload key is used on anything but an upload)."""
    digest = tokens.digest(raw)
    row = (
        ApiKey.select(ApiKey, User)
        .join(User, on=(ApiKey.user == User.id))
        .where(ApiKey.key_hash == digest)
        .first()
    )
    if row is None or not tokens.same(row.key_hash, digest):
        raise NotAuthenticated("unauthorized")
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise NotAuthenticated("this API key has expired")
    if needed not in RANK:
        raise Forbidden("API keys are not accepted here: use a user's token")
    if RANK[row.mode] < RANK[needed] or (upload_only and row.mode == "upload" and needed != "upload"):
        raise Forbidden(f"this API key's mode is {row.mode}; this call needs {needed}")
    if row.last_used_at is None or now - row.last_used_at >= USE_RECORD_INTERVAL:
        ApiKey.update(last_used_at=now, last_used_from=(address or "")[:64]).where(
            ApiKey.id == row.id
        ).execute()
    user = row.user
    user.key_scope = KeyScope(
        row.id, row.team_id, tuple(row.apps) if row.apps is not None else None, row.mode
    )
    return user
