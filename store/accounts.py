"""Teams, users, memberships and admin tokens; who may see and change what."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from store import tokens
from store.db import conflict_on_duplicate
from store.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from store.models import ROLES, SUBSCRIPTION, App, Membership, Team, User, UserToken, utcnow
from store.outbox import mark_stale
from store.pagination import Page, paginate

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("gatehouse-timing-equaliser")


def configure_passwords(time_cost: int, memory_kib: int) -> None:
    """The argon2id cost of new hashes (GATEHOUSE_ARGON2_*). A stored hash names its own parameters, so
    hashes made under other ones still verify; the unknown-email dummy is rehashed to cost the same."""
    global _hasher, _DUMMY_HASH
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash("gatehouse-timing-equaliser")


WRITE_ROLES = ("admin", "super_admin")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise InvalidInput("password must be at least 8 characters")
    return _hasher.hash(password)


def verify_password(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate_password(email: str, password: str) -> User:
    user = User.get_or_none(User.email == email.strip().lower())
    # The hash is checked first, against a dummy for an unknown email, so both cost the same.
    if not verify_password(user, password) or user is None:
        raise NotAuthenticated("invalid credentials")
    return user


# -- users -------------------------------------------------------------------------------------------


def create_user(email: str, password: str, role: str = "member") -> User:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("email is invalid")
    with conflict_on_duplicate("a user with this email already exists"):
        return User.create(email=email, password_hash=hash_password(password), role=role)


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    # To the microsecond: UpdateForge tokens carry their issue time to the microsecond too (a fractional
    # iat), so a token issued in the same second but after the change is valid, one before it is not.
    user.tokens_valid_after = utcnow()
    user.save()
    UserToken.delete().where(UserToken.user == user).execute()


def reset_password(email: str, password: str) -> User:
    """The operator's way back in (`gatehouse reset-password`): no old password needed."""
    user = User.get_or_none(User.email == email.strip().lower())
    if user is None:
        raise NotFound("no such user")
    if len(password) < 8:
        raise InvalidInput("password must be at least 8 characters")
    set_password(user, password)
    return user


def user_by_id(user_id: int) -> User | None:
    return User.get_or_none(User.id == user_id)


def first_super_admin_email() -> str | None:
    user = User.select(User.email).where(User.role == "super_admin").order_by(User.id).first()
    return user.email if user else None


def list_users(caller: User, page: int, per_page: int) -> Page:
    if caller.role == "super_admin":
        q = User.select()
    else:
        team_ids = visible_team_ids(caller)
        q = User.select().join(Membership).where(Membership.team.in_(team_ids)).distinct()
    return paginate(q.order_by(User.id), page, per_page)


def get_user(caller: User, user_id: int) -> User:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound("user not found")
    if caller.role == "super_admin" or user.id == caller.id:
        return user
    shared = Membership.select().where(
        (Membership.user == user) & Membership.team.in_(visible_team_ids(caller))
    )
    if not shared.exists():
        raise NotFound("user not found")
    return user


def update_user(caller: User, user_id: int, fields: dict) -> User:
    user = get_user(caller, user_id)
    if user.id != caller.id and caller.role != "super_admin":
        raise Forbidden("only a super_admin may change another user")
    if "role" in fields:
        if caller.role != "super_admin":
            raise Forbidden("only a super_admin may change roles")
        if fields["role"] not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        user.role = fields["role"]
    if "password" in fields:
        set_password(user, fields["password"])
    user.save()
    return user


def delete_user(caller: User, user_id: int) -> None:
    user = get_user(caller, user_id)
    if caller.role != "super_admin":
        raise Forbidden("only a super_admin may remove users")
    user.delete_instance(recursive=True)


# -- tokens ------------------------------------------------------------------------------------------


def issue_user_token(user: User, name: str = "") -> str:
    raw = tokens.new_token(tokens.USER_PREFIX)
    UserToken.create(user=user, token_hash=tokens.digest(raw), name=name)
    return raw


def user_for_token(raw: str | None) -> User:
    if not raw or not raw.startswith(tokens.USER_PREFIX):
        raise NotAuthenticated("unauthorized")
    row = (
        UserToken.select(UserToken, User).join(User).where(UserToken.token_hash == tokens.digest(raw)).first()
    )
    if row is None or not tokens.same(row.token_hash, tokens.digest(raw)):
        raise NotAuthenticated("unauthorized")
    return row.user


# -- teams -------------------------------------------------------------------------------------------


def visible_team_ids(caller: User):
    """Subquery of the ids of live teams the caller may see. An API key sees its team, or, when it is
    limited to some apps, no team as a whole (its apps are reached by id: store/catalog.py app_scope)."""
    q = Team.select(Team.id).where(Team.deleted_at.is_null())
    scope = getattr(caller, "key_scope", None)  # store/api_keys.py
    if scope is not None:
        return q.where((Team.id == scope.team_id) & (scope.app_ids is None))
    if caller.role != "super_admin":
        q = q.join(Membership).where(Membership.user == caller)
    return q


def require_writer(caller: User) -> None:
    if caller.role not in WRITE_ROLES:
        raise Forbidden("admin role required")


def get_team(caller: User, team_id: int, write: bool = False) -> Team:
    team = Team.get_or_none((Team.id == team_id) & Team.id.in_(visible_team_ids(caller)))
    if team is None:
        raise NotFound("team not found")
    if write:
        require_writer(caller)
    return team


def create_team(caller: User, name: str, subscription_status: str = "active") -> Team:
    require_writer(caller)
    if subscription_status not in SUBSCRIPTION:
        raise InvalidInput("subscription_status must be 'active' or 'expired'")
    team = Team.create(name=name, subscription_status=subscription_status)
    Membership.create(team=team, user=caller)
    return team


def list_teams(caller: User, page: int, per_page: int) -> Page:
    q = Team.select().where(Team.id.in_(visible_team_ids(caller))).order_by(Team.created_at, Team.id)
    return paginate(q, page, per_page)


def _stale_team_apps(team: Team) -> None:
    for app in App.select(App.id).where(App.team == team):
        mark_stale(app.id)


def update_team(caller: User, team_id: int, fields: dict) -> Team:
    team = get_team(caller, team_id, write=True)
    if "name" in fields:
        team.name = fields["name"]
    if "subscription_status" in fields:
        if fields["subscription_status"] not in SUBSCRIPTION:
            raise InvalidInput("subscription_status must be 'active' or 'expired'")
        # Billing state is the operator's: a team admin could otherwise revive an expired team.
        if fields["subscription_status"] != team.subscription_status:
            require_super_admin(caller)
        if fields["subscription_status"] != team.subscription_status:
            team.subscription_status = fields["subscription_status"]
            _stale_team_apps(team)
    team.save()
    return team


def delete_team(caller: User, team_id: int) -> None:
    """Soft delete: clients of its apps get 403 from then on."""
    team = get_team(caller, team_id, write=True)
    team.deleted_at = utcnow()
    team.save()
    _stale_team_apps(team)


# -- memberships -------------------------------------------------------------------------------------


def list_members(caller: User, team_id: int, page: int, per_page: int) -> Page:
    team = get_team(caller, team_id)
    q = User.select().join(Membership).where(Membership.team == team).order_by(Membership.id)
    return paginate(q, page, per_page)


def add_member(caller: User, team_id: int, email: str, password: str | None, role: str | None) -> User:
    """Super_admin only: a team admin adding by email could take in anyone's account and, from the
    answers, learn which emails have one. Refused before any lookup, so every email answers alike."""
    team = get_team(caller, team_id, write=True)
    require_super_admin(caller)
    if role is not None and role not in ROLES:
        # Checked whether or not the user exists (an existing user's role is kept, but a bad one was
        # accepted silently).
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    user = User.get_or_none(User.email == email.strip().lower())
    if user is None:
        if not password:
            # No user has this email yet: 409, as an unknown environment (the request is well formed; the
            # deployment's state refuses it), with the way to create one.
            raise Conflict("no user with this email; send a password to create one")
        if role == "super_admin" and caller.role != "super_admin":
            raise Forbidden("only a super_admin may grant super_admin")
        user = create_user(email, password, role or "member")
    with conflict_on_duplicate("user is already a member of this team"):
        Membership.create(team=team, user=user)
    return user


def remove_member(caller: User, team_id: int, user_id: int) -> None:
    team = get_team(caller, team_id, write=True)
    row = Membership.get_or_none((Membership.team == team) & (Membership.user == user_id))
    if row is None:
        raise NotFound("member not found")
    row.delete_instance()


def require_super_admin(caller: User) -> None:
    if caller.role != "super_admin":
        raise Forbidden("super_admin role required")


def get_member(caller: User, team_id: int, user_id: int) -> User:
    team = get_team(caller, team_id)
    user = (
        User.select().join(Membership).where((Membership.team == team) & (Membership.user == user_id)).first()
    )
    if user is None:
        raise NotFound("member not found")
    return user
