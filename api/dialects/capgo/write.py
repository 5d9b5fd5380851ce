"""Capgo's public API on the write API (/channel, /device, /bundle), bundle uploads and signed downloads.

The API key is a Gatehouse admin token, sent in ``authorization`` bare (as Capgo's scripts do) or as
``Bearer <key>``; every app is addressed by its package identifier and scoped to the caller's teams
(another team's identifier is not found). Lists are pages of 50, ``page=0`` first.
"""

from __future__ import annotations

import uuid

import falcon
import orjson
import redis

from api import signing
from api.dialects.capgo import choices, shapes
from api.write.auth import token_caller
from api.write.files import StoredFile, send_file
from api.write.http import int_param, parse_json, send
from api.write.uploads import store_upload
from store import accounts, bundles, channels, devices
from store.catalog import app_by_package
from store.errors import InvalidInput, NotAuthenticated, NotFound
from store.service import unit_of_work
from store.storage import Storage

PAGE = 50
OK = {"status": "ok"}
CHANNEL_FIELDS = {
    "public": "public",
    "disableAutoUpdateUnderNative": "disable_under_native",
    "disableAutoUpdate": "disable_auto_update",
    "ios": "ios",
    "android": "android",
    "allow_device_self_set": "allow_self_set",
    "allow_emulator": "allow_emulator",
    "allow_dev": "allow_dev",
}


def api_caller(req: falcon.Request) -> accounts.User:
    raw = (req.get_header("Authorization") or "").strip()
    scheme, _, rest = raw.partition(" ")
    key = rest.strip() if scheme.lower() == "bearer" else raw
    try:
        return token_caller(req, key or None)
    except NotAuthenticated:
        raise NotAuthenticated("Invalid API key") from None


def _body(req: falcon.Request, limit: int) -> dict:
    """The JSON body; DELETE may send its fields as query parameters instead."""
    if req.method == "DELETE" and not req.content_length:
        return dict(req.params)
    payload = parse_json(req, limit)
    if not isinstance(payload, dict):
        raise InvalidInput("Invalid request body: a JSON object is expected")
    return payload


def _text(body: dict, name: str, required: bool = True, limit: int = 255) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput(f"{name} must be a string of 1 to {limit} characters")
    return value


def _page(req: falcon.Request) -> int:
    return int_param(req, "page", 0, 0, 1_000_000) + 1


def _package(req: falcon.Request) -> str:
    package = req.get_param("app_id")
    if not package:
        raise InvalidInput("app_id is required")
    return package


class Channels:
    def __init__(self, limit: int):
        self.limit = limit

    def on_get(self, req, resp):
        user, package = api_caller(req), _package(req)
        name = req.get_param("channel")
        if name is not None:
            return send(resp, shapes.channel(channels.get_channel(user, package, name), package))
        page = channels.list_channels(user, package, _page(req), PAGE)
        send(resp, [shapes.channel(c, package) for c in page.rows])

    def on_post(self, req, resp):
        user = api_caller(req)
        body = _body(req, self.limit)
        package, name = _text(body, "app_id"), _text(body, "channel", limit=128)
        version = _text(body, "version", required=False, limit=64)
        policy = {}
        for field, store_name in CHANNEL_FIELDS.items():
            if field in body:
                value = body[field]
                kind = str if field == "disableAutoUpdate" else bool
                if not isinstance(value, kind):
                    raise InvalidInput(f"{field} must be a {'string' if kind is str else 'boolean'}")
                policy[store_name] = value
        with unit_of_work():
            channels.put_channel(user, package, name, version, policy)
        send(resp, OK)

    def on_delete(self, req, resp):
        user = api_caller(req)
        body = _body(req, self.limit)
        name, package = _text(body, "channel", limit=128), _text(body, "app_id", required=False)
        with unit_of_work():
            channels.delete_channel(user, package, name)
        send(resp, OK)


class Devices:
    def __init__(self, limit: int, connection: redis.Redis):
        self.limit, self.connection = limit, connection

    def _forget_choice(self, package: str, device_id: str) -> None:
        """An admin's pin or unpin outranks what the device chose itself a moment ago (choices.py)."""
        try:
            choices.forget(self.connection, package, device_id.lower())
        except (redis.RedisError, OSError):
            pass  # the choice expires within choices.TTL; the snapshot already holds the admin's word

    def on_get(self, req, resp):
        user, package = api_caller(req), _package(req)
        device_id = req.get_param("device_id")
        rows = devices.find_devices(
            user, package, device_id.lower() if device_id is not None else None, _page(req), PAGE
        )
        out = [shapes.device(r, package) for r in rows]
        send(resp, out[0] if device_id is not None else out)

    def on_post(self, req, resp):
        user = api_caller(req)
        body = _body(req, self.limit)
        package, device_id = _text(body, "app_id"), _text(body, "device_id", limit=devices.MAX_DEVICE_ID)
        version = _text(body, "version_id", required=False, limit=64)
        channel = _text(body, "channel", required=False, limit=128)
        with unit_of_work():
            devices.link_device(user, package, device_id, channel, version)
        self._forget_choice(package, device_id)
        send(resp, OK)

    def on_delete(self, req, resp):
        user = api_caller(req)
        body = _body(req, self.limit)
        package, device_id = _text(body, "app_id"), _text(body, "device_id", limit=devices.MAX_DEVICE_ID)
        with unit_of_work():
            devices.unlink_device(user, package, device_id)
        self._forget_choice(package, device_id)
        send(resp, OK)


class Bundles:
    def __init__(self, limit: int, storage: Storage, provider: str):
        self.limit, self.storage, self.provider = limit, storage, provider

    def on_get(self, req, resp):
        user, package = api_caller(req), _package(req)
        app = app_by_package(user, package)
        page = bundles.list_bundles(user, package, _page(req), PAGE)
        send(resp, [shapes.bundle(b, package, app.team_id, self.provider) for b in page.rows])

    def on_delete(self, req, resp):
        user = api_caller(req)
        body = _body(req, self.limit)
        package, version = _text(body, "app_id"), _text(body, "version", required=False, limit=64)
        with unit_of_work():
            keys = bundles.delete_bundles(user, package, version)
        for key in keys:  # after the commit: a reader never meets a bundle without its file
            self.storage.delete(key)
        send(resp, OK)


class Upload:
    """POST /bundle/upload?app_id=&version=[&channel=&minUpdateVersion=&native_packages=&external_url=]
    streams a zip into storage (size and SHA-256 computed on the way); with external_url, no body."""

    def __init__(self, storage: Storage, max_bytes: int, provider: str):
        self.storage, self.max_bytes, self.provider = storage, max_bytes, provider

    def on_post(self, req, resp):
        user = api_caller(req)
        package = _package(req)
        name = (req.get_param("version") or "").strip()
        if not name or len(name) > 64:
            raise InvalidInput("version is required")
        external = req.get_param("external_url")
        if external is not None and (
            len(external) > 2048 or not external.startswith(("https://", "http://"))
        ):
            raise InvalidInput("external_url must be an http(s) URL of at most 2048 characters")
        channel = req.get_param("channel")
        native = req.get_param("native_packages")
        try:
            native_packages = orjson.loads(native) if native else None
        except orjson.JSONDecodeError:
            raise InvalidInput("native_packages must be a JSON array") from None
        if native_packages is not None and not isinstance(native_packages, list):
            raise InvalidInput("native_packages must be a JSON array")
        options = {
            "external_url": external,
            "min_update_version": req.get_param("minUpdateVersion"),
            "native_packages": native_packages,
            "channel": channel,
        }
        app = bundles.check_new(user, package, name, external)
        created = []
        if external:
            if req.content_length:
                raise InvalidInput("a bundle with external_url has no body")
            with unit_of_work():
                created.append(bundles.create_bundle(user, app, name, **options))
        else:
            key = f"bundles/{app.id}/{name}-{uuid.uuid4().hex}.zip"
            store_upload(
                req,
                self.storage,
                key,
                self.max_bytes,
                lambda s: created.append(
                    bundles.create_bundle(
                        user, app, name, file_key=s.key, size=s.size, checksum=s.sha256, **options
                    )
                ),
            )
        send(resp, shapes.bundle(created[0], package, app.team_id, self.provider), falcon.HTTP_201)


class Download:
    """GET|HEAD /capgo/bundles/{bundle_id}/{file_name}?expires=&signature= : the link /updates gave a device;
    Range and conditional requests as for every file, or a presigned redirect when storage is S3."""

    def __init__(self, storage: Storage, settings, connection: redis.Redis, redirect: int | None):
        self.storage, self.settings, self.connection, self.redirect = storage, settings, connection, redirect
        self._secret: bytes | None = None

    def _valid(self, bundle_id: int, expires: str, given: str) -> bool:
        if self._secret is None:
            self._secret = signing.shared_secret(self.connection, self.settings.bundle_url_secret)
        if signing.valid(self._secret, bundle_id, expires, given):
            return True
        # The generated key may have been replaced (Redis lost it): read it once more before refusing.
        fresh = signing.shared_secret(self.connection, self.settings.bundle_url_secret)
        if fresh != self._secret:
            self._secret = fresh
            return signing.valid(fresh, bundle_id, expires, given)
        return False

    def on_get(self, req, resp, bundle_id, file_name):
        if not self._valid(bundle_id, req.get_param("expires") or "", req.get_param("signature") or ""):
            raise NotFound("bundle not found")  # an expired or forged link looks like no bundle at all
        row = bundles.stored_bundle(bundle_id)
        info = self.storage.stat(row.file_key)
        if info is None:
            raise NotFound("bundle not found")
        stored = StoredFile(
            row.file_key, info.size, info.etag, info.modified, "application/zip", f"{row.name}.zip"
        )
        send_file(req, resp, self.storage, stored, self.redirect)

    on_head = on_get


def routes(settings, storage: Storage, connection: redis.Redis) -> list[tuple[str, object]]:
    limit = settings.max_body_bytes
    provider = settings.storage_backend
    redirect = settings.s3_presign_seconds if settings.s3_downloads == "redirect" else None
    chans, devs, buns = Channels(limit), Devices(limit, connection), Bundles(limit, storage, provider)
    return [
        ("/channel", chans),
        ("/device", devs),
        ("/bundle", buns),
        ("/bundle/upload", Upload(storage, settings.upload_max_bytes, provider)),
        ("/capgo/bundles/{bundle_id:int}/{file_name}", Download(storage, settings, connection, redirect)),
    ]
