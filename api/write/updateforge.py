"""UpdateForge's tester API (/api/v1): email + password login for a JWT, the apps listing."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import falcon
import jwt

from api.write.http import parse_json, send
from store import accounts, builds
from store.errors import InvalidInput, NotAuthenticated
from store.models import User
from store.settings import Settings


def jwt_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept (0600) in the data directory."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = Path(settings.data_dir) / "jwt_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


class Tokens:
    def __init__(self, secret: str, lifetime_days: int):
        self.secret = secret
        self.lifetime = dt.timedelta(days=lifetime_days)

    def issue(self, user: User) -> str:
        now = dt.datetime.now(dt.UTC)
        return jwt.encode({"sub": str(user.id), "iat": now, "exp": now + self.lifetime}, self.secret,
                          algorithm="HS256")

    def user(self, req: falcon.Request) -> User:
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("unauthorized")
        try:
            claims = jwt.decode(token.strip(), self.secret, algorithms=["HS256"], options={"require": ["sub", "iat", "exp"]})
        except jwt.PyJWTError:
            raise NotAuthenticated("unauthorized") from None
        user = User.get_or_none(User.id == int(claims["sub"])) if str(claims["sub"]).isdigit() else None
        # A password change (or removing the user) revokes every token issued before it.
        if user is None or claims["iat"] < int(user.tokens_valid_after.replace(tzinfo=dt.UTC).timestamp()):
            raise NotAuthenticated("unauthorized")
        return user


class Auth:
    def __init__(self, tokens: Tokens, limit: int):
        self.tokens, self.limit = tokens, limit

    def on_post(self, req, resp):
        try:
            body = parse_json(req, self.limit)
        except InvalidInput:
            body = None
        email = body.get("email") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
            raise InvalidInput("email and password are required")
        user = accounts.authenticate_password(email, password)
        send(resp, {"token": self.tokens.issue(user), "userId": str(user.id), "email": user.email})


class Apps:
    def __init__(self, tokens: Tokens):
        self.tokens = tokens

    def on_get(self, req, resp):
        send(resp, builds.teams_with_apps(self.tokens.user(req)))


def routes(settings: Settings) -> list[tuple[str, object]]:
    tokens = Tokens(jwt_secret(settings), settings.jwt_lifetime_days)
    return [("/api/v1/auth", Auth(tokens, settings.max_body_bytes)), ("/api/v1/apps", Apps(tokens))]
