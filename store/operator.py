"""What the operator's CLI does with no caller to scope it: lookups by public id or email."""

from __future__ import annotations

from store.errors import NotFound
from store.models import App, Membership, User


def app_ids(public_ids: list[str]) -> list[int]:
    """Internal ids of these apps; NotFound if any is unknown."""
    ids = [a.id for a in App.select(App.id).where(App.public_id.in_(public_ids))]
    if len(ids) != len(set(public_ids)):
        raise NotFound("unknown app id")
    return ids


def app(app_id: str) -> App:
    found = App.get_or_none(App.public_id == app_id)
    if found is None:
        raise NotFound("no such app")
    return found


def user(email: str) -> User:
    found = User.get_or_none(User.email == email.strip().lower())
    if found is None:
        raise NotFound("no such user")
    return found


def first_super_admin() -> User:
    found = User.select().where(User.role == "super_admin").order_by(User.id).first()
    if found is None:
        raise NotFound("no super_admin exists: run `gatehouse create-user --role super_admin` first")
    return found


def add_to_team(team_id: int, member: User) -> None:
    Membership.get_or_create(team=team_id, user=member)


def first_app_public_id() -> str | None:
    """The oldest live app: `gatehouse dev` makes it the app-config API's default app."""
    found = App.select(App.public_id).where(App.deleted_at.is_null()).order_by(App.id).first()
    return found.public_id if found else None
