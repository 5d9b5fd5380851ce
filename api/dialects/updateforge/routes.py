"""UpdateForge's tester API (/api/v1): login for a JWT, the apps listing, downloads, public icons."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import falcon
import jwt

from api.dialects.updateforge import shapes
from api.settings import Settings
from api.write.auth import bearer_token
from api.write.files import StoredFile, send_file
from api.write.http import parse_json, send
from api.write.ratelimit import LoginLimiter
from store import accounts, builds, catalog
from store.accounts import User
from store.errors import InvalidInput, NotAuthenticated, NotFound
from store.service import unit_of_work
from store.storage import Backends, Storage


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
        # iat is a NumericDate, which RFC 7519 allows fractional: revocation compares it to the microsecond.
        iat = dt.datetime.now(dt.UTC).timestamp()
        return jwt.encode(
            {"sub": str(user.id), "iat": iat, "exp": iat + self.lifetime.total_seconds()},
            self.secret,
            algorithm="HS256",
        )

    def user(self, req: falcon.Request) -> User:
        token = bearer_token(req)
        if token is None:
            raise NotAuthenticated("unauthorized")
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=["HS256"], options={"require": ["sub", "iat", "exp"]}
            )
        except jwt.PyJWTError:
            raise NotAuthenticated("unauthorized") from None
        sub = str(claims["sub"])
        user = accounts.user_by_id(int(sub)) if sub.isascii() and sub.isdigit() and len(sub) < 19 else None
        # A password change (or removing the user) revokes every token issued before it.
        if user is None or claims["iat"] < user.tokens_valid_after.replace(tzinfo=dt.UTC).timestamp():
            raise NotAuthenticated("unauthorized")
        return user


class Auth:
    def __init__(self, tokens: Tokens, limit: int, limiter: LoginLimiter):
        self.tokens, self.limit, self.limiter = tokens, limit, limiter

    def on_post(self, req, resp):
        try:
            body = parse_json(req, self.limit)
        except InvalidInput:
            body = None
        email = body.get("email") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
            raise InvalidInput("email and password are required")
        user = self.limiter.attempt(req, email, lambda: accounts.authenticate_password(email, password))
        send(resp, {"token": self.tokens.issue(user), "userId": str(user.id), "email": user.email})


class Apps:
    def __init__(self, tokens: Tokens):
        self.tokens = tokens

    def on_get(self, req, resp):
        send(resp, shapes.apps(builds.teams_with_apps(self.tokens.user(req))))


class Download:
    """A version's artifact, resumable; each (version, user) is one download event however many requests."""

    def __init__(self, tokens: Tokens, backends: Backends, redirect_seconds: int | None):
        self.tokens, self.backends, self.redirect_seconds = tokens, backends, redirect_seconds

    def on_get(self, req, resp, version_id):
        user = self.tokens.user(req)
        build = builds.downloadable_build(user, version_id)  # refusals in the spec's words: __init__.py
        stored = StoredFile(
            build.file_key,
            build.file_size,
            f'"{build.file_sha256}"',
            build.file_uploaded_at,
            download_name=build.file_name,
        )
        # A release uploaded through the distribution API may be on its team's own bucket.
        storage = self.backends.open(build.file_backend, build.app.team_id)
        if send_file(req, resp, storage, stored, self.redirect_seconds):
            with unit_of_work():
                builds.record_download(build, f"user:{user.id}", user)

    on_head = on_get


class Icon:
    """Public: an app's current icon only; any other name under the app answers 404."""

    def __init__(self, storage: Storage):
        self.storage = storage

    def on_get(self, req, resp, app_id, filename):
        key, content_type = catalog.public_icon(app_id, filename)
        info = self.storage.stat(key)
        if info is None:
            raise NotFound("file not found")
        resp.set_header("Cache-Control", "public, max-age=300")
        send_file(req, resp, self.storage, StoredFile(key, info.size, info.etag, info.modified, content_type))

    on_head = on_get


def routes(
    settings: Settings, storage: Storage, limiter: LoginLimiter, backends: Backends
) -> list[tuple[str, object]]:
    tokens = Tokens(jwt_secret(settings), settings.jwt_lifetime_days)
    redirect = settings.s3_presign_seconds if settings.s3_downloads == "redirect" else None
    return [
        ("/api/v1/auth", Auth(tokens, settings.max_body_bytes, limiter)),
        ("/api/v1/apps", Apps(tokens)),
        ("/api/v1/versions/{version_id}/download", Download(tokens, backends, redirect)),
        ("/api/files/apps/{app_id}/{filename}", Icon(storage)),
    ]
