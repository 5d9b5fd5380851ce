"""The distribution server's admin API (/admin/api, /admin/exports) and upload call, on the write API.

Every call takes a Gatehouse admin token in ``X-Auth-Token`` and is scoped to the caller's teams; a
product, variant, release or device of another team is not found. A caller in several teams names the
team of a new product (and of the settings it reads or changes) with ``team_id``.
"""

from __future__ import annotations

import re
from typing import Annotated

import falcon
import redis
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.dialects.distribution import public, shapes
from api.secret_key import secret_key
from api.write.auth import act_as
from api.write.exports import send_csv
from api.write.http import OMITTED, int_param, parse_model, send
from store import accounts
from store import distribution as dist
from store.apple import AppleClient, AppleError, Credentials
from store.errors import InvalidInput, NotAuthenticated, TooLarge, Unavailable
from store.service import unit_of_work
from store.storage import Backends

Text = Annotated[str, StringConstraints(max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class ProductIn(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    slug: Annotated[str, StringConstraints(max_length=100)] = ""
    description: LongText = ""
    # Left out: None (not validated); an explicit null is refused, as the document allows only booleans.
    published: bool = OMITTED
    team_id: Annotated[int, Field(ge=1, le=2**31)] | None = None


class ProductUpdate(_Body):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    slug: Annotated[str, StringConstraints(max_length=100)] = ""
    description: LongText = ""
    published: bool = OMITTED  # see ProductIn


class VariantUpdate(_Body):
    platform: Annotated[str, StringConstraints(max_length=16)] = ""
    display_name: Text = ""
    identifier: Text = ""
    arch: Annotated[str, StringConstraints(max_length=32)] = ""
    installer_type: Annotated[str, StringConstraints(max_length=32)] = ""
    min_os: Annotated[str, StringConstraints(max_length=64)] = ""
    sort_order: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    published: bool = OMITTED  # see ProductIn


class VariantIn(VariantUpdate):
    platform: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class SettingsIn(_Body):
    # Unknown fields are refused: a misspelt setting was dropped with a 200 (issue 20).
    model_config = ConfigDict(extra="forbid", strict=True)

    team_id: Annotated[int, Field(ge=1, le=2**31)] | None = None
    upload_domain: Text | None = None
    primary_domain: Text | None = None
    secondary_domains: Annotated[list[Text], Field(max_length=20)] | None = None
    organization: Text | None = None
    storage_type: Annotated[str, StringConstraints(max_length=16)] | None = None
    s3_endpoint: Text | None = None
    s3_bucket: Text | None = None
    s3_region: Annotated[str, StringConstraints(max_length=64)] | None = None
    s3_public_url: Text | None = None
    s3_access_key: Text | None = None
    s3_secret_key: Text | None = None
    apple_key_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    apple_issuer_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    apple_team_id: Annotated[str, StringConstraints(max_length=32)] | None = None
    apple_private_key: Annotated[str, StringConstraints(max_length=10_000)] | None = None


def caller(req: falcon.Request) -> accounts.User:
    """The admin whose Gatehouse token is in X-Auth-Token."""
    token = (req.get_header("X-Auth-Token") or "").strip()
    try:
        return act_as(req, accounts.user_for_token(token or None), token)
    except NotAuthenticated:
        raise NotAuthenticated("invalid or missing X-Auth-Token") from None


def ok(resp: falcon.Response, data, status: str = falcon.HTTP_200) -> None:
    send(resp, {"ok": True, "data": data}, status)


def _window(req: falcon.Request, default: int) -> tuple[int, int]:
    return int_param(req, "limit", default, 1, 1000), int_param(req, "offset", 0, 0, 10**9)


def _team_param(req: falcon.Request) -> int | None:
    return int_param(req, "team_id", 0, 1, 2**31) if req.get_param("team_id") is not None else None


class Env:
    """What the resources share: settings, the storage backends, Redis (for the secret key)."""

    def __init__(self, settings, connection: redis.Redis, backends: Backends):
        self.settings, self.connection, self.backends = settings, connection, backends

    def key(self) -> bytes:
        return secret_key(self.settings, self.connection)

    def delete_files(self, files: list[dist.FileRef]) -> None:
        """After the commit: a reader never meets a row without its file."""
        for f in files:
            self.backends.open(f.backend, f.team_id).delete(f.key)

    def apple(self, team_id: int | None, user: accounts.User) -> tuple[AppleClient, int]:
        row = dist.get_settings(user, team_id)
        creds = Credentials(
            row.apple_key_id, row.apple_issuer_id, dist.secret(row, "apple_private_key", self.key())
        )
        if not (creds.key_id and creds.issuer_id and creds.private_key):
            raise InvalidInput("Apple Developer API credentials are not configured")
        return AppleClient(self.settings.apple_api_url, creds), row.team_id


# -- products and variants ---------------------------------------------------------------------------


def _delete(req: falcon.Request, resp: falcon.Response, env: Env, delete, ident: str) -> None:
    """Rows go in one transaction, their files after the commit."""
    user = caller(req)
    with unit_of_work():
        files = delete(user, ident)
    env.delete_files(files)
    ok(resp, {"id": ident, "deleted": True})


def _product_with_variants(view: dist.ProductView) -> dict:
    builds = [b for rows in view.releases.values() for b in rows]
    counts = dist.download_counts(builds)
    variants = []
    for v in view.variants:
        item = shapes.variant(v, view.app.public_id)
        item["releases"] = [shapes.release(b, counts.get(b.id, 0)) for b in view.releases[v.id]]
        variants.append(item)
    return {"product": shapes.product(view.app), "variants": variants}


class Products:
    def __init__(self, limit: int):
        self.limit = limit

    def on_get(self, req, resp):
        user = caller(req)
        limit, offset = _window(req, 200)
        rows, total = dist.list_products(user, (req.get_param("q") or "")[:100] or None, limit, offset)
        ok(resp, {"items": [shapes.product(r.app, r.variant_count) for r in rows], "total": total})

    def on_post(self, req, resp):
        user = caller(req)
        body = parse_model(req, ProductIn, self.limit)
        with unit_of_work():
            app = dist.create_product(
                user,
                body.team_id,
                body.name,
                body.slug,
                body.description,
                True if body.published is None else body.published,
            )
        ok(resp, {"product": shapes.product(app)}, falcon.HTTP_201)


class Product:
    def __init__(self, env: Env):
        self.env = env

    def on_get(self, req, resp, product_id):
        ok(resp, _product_with_variants(dist.get_product(caller(req), product_id)))

    def on_put(self, req, resp, product_id):
        user = caller(req)
        body = parse_model(req, ProductUpdate, self.env.settings.max_body_bytes)
        with unit_of_work():
            app = dist.update_product(user, product_id, body.model_dump())
        ok(resp, {"product": shapes.product(app)})

    def on_delete(self, req, resp, product_id):
        _delete(req, resp, self.env, dist.delete_product, product_id)


class Variants:
    def __init__(self, limit: int):
        self.limit = limit

    def on_post(self, req, resp, product_id):
        user = caller(req)
        body = parse_model(req, VariantIn, self.limit)
        with unit_of_work():
            row = dist.create_variant(user, product_id, body.model_dump())
        ok(resp, {"variant": shapes.variant(row, product_id)}, falcon.HTTP_201)


class Variant:
    def __init__(self, env: Env):
        self.env = env

    def on_put(self, req, resp, variant_id):
        user = caller(req)
        body = parse_model(req, VariantUpdate, self.env.settings.max_body_bytes)
        with unit_of_work():
            row = dist.update_variant(user, variant_id, body.model_dump())
        ok(resp, {"variant": shapes.variant(row, row.app.public_id)})

    def on_delete(self, req, resp, variant_id):
        _delete(req, resp, self.env, dist.delete_variant, variant_id)


class VariantStats:
    def on_get(self, req, resp, variant_id):
        row, releases = dist.variant_releases(caller(req), variant_id)
        counts = dist.download_counts(releases)
        app = row.app
        ok(
            resp,
            {
                "product": {"id": app.public_id, "slug": app.slug, "name": app.title},
                "variant": shapes.variant(row, app.public_id),
                "releases": [shapes.release(b, counts.get(b.id, 0)) for b in releases],
                "total_downloads": sum(counts.values()),
            },
        )


class Release:
    def __init__(self, env: Env):
        self.env = env

    def on_delete(self, req, resp, release_id):
        _delete(req, resp, self.env, dist.delete_release, release_id)


class Publish:
    def __init__(self, published: bool):
        self.published = published

    def on_put(self, req, resp, app_id):
        user = caller(req)
        with unit_of_work():
            app = dist.set_published(user, app_id, self.published)
        ok(resp, {"id": app.public_id, "published": app.published})


# -- events, devices, Apple --------------------------------------------------------------------------


class Events:
    def on_get(self, req, resp):
        user = caller(req)
        limit, offset = _window(req, 50)
        rows, total = dist.list_events(
            user,
            req.get_param("type"),
            req.get_param("variant_id"),
            req.get_param("release_id"),
            limit,
            offset,
            dist.Filters.of(None, req.get_param("from"), req.get_param("to")),
        )
        ok(resp, {"items": [shapes.event(r) for r in rows], "total": total, "limit": limit, "offset": offset})


class IosDevices:
    def on_get(self, req, resp):
        user = caller(req)
        limit, offset = _window(req, 100)
        rows, total = dist.list_ios_devices(
            user,
            req.get_param("variant_id"),
            limit,
            offset,
            req.get_param("q"),
            dist.Filters.of(None, req.get_param("from"), req.get_param("to")),
        )
        bound = dist.device_variants(rows)
        ok(resp, {"items": [shapes.ios_device(d, bound[d.id]) for d in rows], "total": total})


class IosVariants:
    """GET /admin/api/ios_variants: the team's iOS variants with their product's name (the UI's filter)."""

    def on_get(self, req, resp):
        ok(resp, {"items": [shapes.ios_variant(v) for v in dist.ios_variants(caller(req))]})


def _register(client: AppleClient, device) -> dict:
    """One device with Apple, committed on its own: what happened to it, and nothing else touched."""
    name = (device.device_name or f"{device.product or 'iOS device'} {device.udid[-6:]}")[:50]
    try:
        try:
            apple_id, status = client.register(device.udid, name), "registered"
        except AppleError as exc:
            found = client.find(device.udid) if exc.status == 409 else None
            if found is None:
                raise
            apple_id, status = found, "already_registered"
    except AppleError as exc:
        with unit_of_work():
            dist.mark_failed(device, exc.detail)
        return {"id": device.public_id, "udid": device.udid, "status": "failed", "error": exc.detail}
    with unit_of_work():
        dist.mark_registered(device, apple_id)
    return {"id": device.public_id, "udid": device.udid, "status": status, "apple_device_id": apple_id}


class RegisterDevice:
    def __init__(self, env: Env):
        self.env = env

    def on_post(self, req, resp, device_id):
        user = caller(req)
        device = dist.ios_device(user, device_id)
        client, _ = self.env.apple(device.team_id, user)
        try:
            result = _register(client, device)
        finally:
            client.close()
        if result["status"] == "failed":
            raise Unavailable(f"Apple refused the device: {result['error']}")
        ok(resp, result)


class RegisterIn(_Body):
    device_ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
        Field(min_length=1, max_length=100),
    ]


class RegisterAll:
    """POST {"device_ids": [...]}: registers the devices an admin chose, and only those (Apple allows 100
    devices of each type per membership year; registering every captured device spent slots nobody chose).
    Each device's outcome is reported and committed on its own, as the distribution server answers it."""

    def __init__(self, env: Env):
        self.env = env

    def on_post(self, req, resp):
        user = caller(req)
        body = parse_model(req, RegisterIn, self.env.settings.max_body_bytes)
        client, team_id = self.env.apple(_team_param(req), user)
        chosen = dist.team_devices(team_id, body.device_ids)
        results = []
        try:
            for device_id in dict.fromkeys(body.device_ids):
                device = chosen.get(device_id)
                if device is None:
                    result = {"device_id": device_id, "status": "failed", "error": "Device not found"}
                elif device.apple_registered:
                    result = {"device_id": device_id, "id": device_id, "udid": device.udid,
                              "status": "already_registered", "apple_device_id": device.apple_device_id}  # fmt: skip
                else:
                    result = {"device_id": device_id, **_register(client, device)}
                result["success"] = result["status"] != "failed"
                result["message" if result["success"] else "error"] = (
                    result.get("error")
                    or (
                        "Registered successfully"
                        if result["status"] == "registered"
                        else "Already registered"
                    )  # fmt: skip
                )
                results.append(result)
        finally:
            client.close()
        failed = sum(not r["success"] for r in results)
        ok(resp, {"results": results, "success_count": len(results) - failed, "fail_count": failed,
                  "registered": len(results) - failed, "failed": failed})  # fmt: skip


class AppleStatus:
    """{"configured", "connected", "message"}, which the distribution server's UI reads for its status line
    and its connection test (``valid`` and ``error`` stay for earlier clients)."""

    def __init__(self, env: Env):
        self.env = env

    def on_get(self, req, resp):
        user = caller(req)
        try:
            client, _ = self.env.apple(_team_param(req), user)
        except InvalidInput:
            return ok(resp, {"configured": False, "connected": False, "valid": False,
                             "message": "Apple API credentials not configured"})  # fmt: skip
        try:
            client.find("0" * 25)  # the cheapest authenticated call there is
            ok(
                resp,
                {"configured": True, "connected": True, "valid": True, "message": "Connected successfully"},
            )
        except AppleError as exc:
            ok(resp, {"configured": True, "connected": False, "valid": False, "error": exc.detail,
                      "message": f"Connection test failed: {exc.detail}"})  # fmt: skip
        finally:
            client.close()


class AppleDevices:
    def __init__(self, env: Env):
        self.env = env

    def on_get(self, req, resp):
        user = caller(req)
        client, _ = self.env.apple(_team_param(req), user)
        try:
            items = list(client.devices())
        except AppleError as exc:
            raise Unavailable(f"Apple's API answered: {exc.detail}") from None
        finally:
            client.close()
        ok(resp, {"items": items, "total": len(items)})


# -- settings ----------------------------------------------------------------------------------------


class TeamSettings:
    """A team's distribution settings (api/settings.Settings is the deployment's)."""

    def __init__(self, env: Env):
        self.env = env

    def _shape(self, row) -> dict:
        access = dist.secret(row, "s3_access_key", self.env.key())
        return shapes.settings(row, access[-4:] if len(access) >= 12 else "")

    def on_get(self, req, resp):
        # Unsaved settings show the defaults: the team's name, and where this request reached Gatehouse.
        default = (self.env.settings.public_url or req.prefix).rstrip("/")
        ok(resp, self._shape(dist.get_settings(caller(req), _team_param(req), default)))

    def on_put(self, req, resp):
        user = caller(req)
        body = parse_model(req, SettingsIn, self.env.settings.max_body_bytes)
        fields = body.model_dump(exclude_unset=True, exclude={"team_id"})
        fields = {k: v for k, v in fields.items() if v is not None}
        with unit_of_work():
            # Saved defaults name GATEHOUSE_PUBLIC_URL only: a script's request may come in on an internal address.
            row = dist.update_settings(
                user,
                body.team_id,
                fields,
                self.env.key(),
                self.env.settings.storage_allow_private,
                self.env.settings.public_url.rstrip("/"),
            )
        ok(resp, self._shape(row))


class UploadConfig:
    def __init__(self, env: Env):
        self.env = env

    def on_get(self, req, resp):
        row = dist.get_settings(caller(req), _team_param(req))
        ok(
            resp,
            {
                "storage_type": row.storage_type,
                "max_upload_bytes": self.env.settings.upload_max_bytes,
                "upload_url": "/upload",
                "fields": ["variant_id", "app_file", "version", "build", "channel", "min_os", "changelog"],
                "s3_bucket": row.s3_bucket if row.storage_type == "s3" else "",
                "s3_configured": shapes.s3_configured(row),
                "upload_domain": row.upload_domain,
            },
        )


# -- exports -----------------------------------------------------------------------------------------


def _filters(req) -> dist.Filters:
    """variant_id, from and to of an export (they were ignored: a filtered export had every row)."""
    return dist.Filters.of(req.get_param("variant_id"), req.get_param("from"), req.get_param("to"))


class ReleasesCsv:
    HEADER = ["release_id", "product_id", "product_slug", "product_name", "variant_id", "platform",
              "identifier", "version", "build", "channel", "min_os", "file_name", "size_bytes", "sha256",
              "download_count", "created_at"]  # fmt: skip

    def on_get(self, req, resp):
        user = caller(req)
        rows = (
            [
                b.release_id,
                a.public_id,
                a.slug,
                a.title,
                v.public_id,
                v.platform,
                v.identifier,
                b.version,
                b.build_number,
                b.channel,
                b.min_os,
                b.file_name,
                b.file_size,
                b.file_sha256,
                b.downloads,
                shapes.ts(b.created_at),
            ]  # fmt: skip
            for b, v, a in dist.all_releases(user, _filters(req))
        )
        send_csv(resp, "releases.csv", self.HEADER, rows)


class EventsCsv:
    HEADER = ["id", "ts", "type", "app_id", "variant_id", "release_id", "ip", "ua"]

    def on_get(self, req, resp):
        user = caller(req)
        rows = (
            [
                e["id"],
                shapes.ts(e["created_at"]),
                e["type"],
                e["product_id"],
                e["variant_id"],
                e["release_id"],
                e["ip"],
                e["ua"],
            ]  # fmt: skip
            for e in dist.iter_events(user, _filters(req))
        )
        send_csv(resp, "events.csv", self.HEADER, rows)


class IosDevicesCsv:
    HEADER = ["id", "udid", "device_name", "model", "os_version", "serial", "apple_registered",
              "apple_device_id", "created_at", "verified_at"]  # fmt: skip

    def on_get(self, req, resp):
        user = caller(req)
        rows = (
            [
                d.public_id,
                d.udid,
                d.device_name,
                d.product,
                d.os_version,
                d.serial,
                "true" if d.apple_registered else "false",
                d.apple_device_id,
                shapes.ts(d.created_at),
                shapes.ts(d.verified_at),
            ]  # fmt: skip
            for d in dist.iter_ios_devices(user, _filters(req))
        )
        send_csv(resp, "ios_devices.csv", self.HEADER, rows)


# -- upload ------------------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_TEXT_FIELDS = {
    "variant_id": 32,
    "version": 64,
    "build": 18,  # digits: every 18-digit number fits the 64-bit column (the document says so too)
    "channel": 64,
    "min_os": 64,
    "changelog": 20_000,
}


def safe_file_name(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = _UNSAFE_NAME.sub("_", base).strip("._")[:120]
    return clean or "app.bin"


class Upload:
    """POST /upload (multipart): variant_id, app_file, version, build, channel, min_os, changelog. The file
    streams into the team's storage as it arrives (Falcon's multipart parser reads parts from the socket);
    ``variant_id`` comes before ``app_file`` in the form, or in the query string."""

    def __init__(self, env: Env):
        self.env = env

    def on_post(self, req, resp):
        user = caller(req)
        if not (req.content_type or "").lower().startswith("multipart/form-data"):
            raise falcon.HTTPUnsupportedMediaType(description="the upload must be multipart/form-data")
        if req.content_length is None:
            raise falcon.HTTPLengthRequired(description="Content-Length is required")
        limit = self.env.settings.upload_max_bytes
        if req.content_length > limit + 1024 * 1024:
            raise TooLarge(f"upload larger than {limit} bytes")
        fields = {"variant_id": req.get_param("variant_id") or ""}
        release_id, stored, target, storage, name = dist.new_release_id(), None, None, None, ""
        try:
            for part in req.get_media():
                if part.name == "app_file":
                    if stored is not None:
                        raise InvalidInput("only one app_file may be sent")
                    if not fields["variant_id"]:
                        raise InvalidInput("variant_id is required, before app_file")
                    target = dist.variant(user, fields["variant_id"])
                    backend = dist.upload_backend(dist.team_settings(target.app.team_id))
                    storage = self.env.backends.open(backend, target.app.team_id)
                    name = safe_file_name(part.filename)
                    key = f"dist/{target.app.public_id}/{target.public_id}/{release_id}/{name}"
                    stored = (backend, storage.save(key, part.stream, limit))
                elif part.name in _TEXT_FIELDS:
                    value = part.get_text() or ""
                    if len(value) > _TEXT_FIELDS[part.name] or "\x00" in value:
                        raise InvalidInput(f"{part.name} is too long or holds NUL characters")
                    fields[part.name] = value.strip()
            if stored is None:
                raise InvalidInput("app_file is required")
            build = fields.get("build") or ""
            if build and not (build.isascii() and build.isdigit()):
                raise InvalidInput("build must be a non-negative integer of at most 18 digits")
            values = dist.ReleaseInput(
                fields.get("version") or "0.0.0",
                int(build) if build else None,
                fields.get("changelog", ""),
                fields.get("min_os", ""),
                fields.get("channel", ""),
            )
            backend, saved = stored
            with unit_of_work():
                row = dist.create_release(
                    target, release_id, values, saved.key, name, saved.size, saved.sha256, backend
                )
        except BaseException:
            if stored is not None:
                storage.delete(stored[1].key)
            raise
        base = public.base_url(req, self.env.settings, dist.team_settings(target.app.team_id))
        ok(resp, public.upload_answer(base, target, row), falcon.HTTP_201)


def routes(settings, connection: redis.Redis, backends: Backends) -> list[tuple[str, object]]:
    env, limit = Env(settings, connection, backends), settings.max_body_bytes
    return [
        ("/admin/api/products", Products(limit)),
        ("/admin/api/products/{product_id}", Product(env)),
        ("/admin/api/products/{product_id}/variants", Variants(limit)),
        ("/admin/api/variants/{variant_id}", Variant(env)),
        ("/admin/api/variants/{variant_id}/stats", VariantStats()),
        ("/admin/api/releases/{release_id}", Release(env)),
        ("/admin/api/apps/{app_id}/publish", Publish(True)),
        ("/admin/api/apps/{app_id}/unpublish", Publish(False)),
        ("/admin/api/events", Events()),
        ("/admin/api/ios_devices", IosDevices()),
        ("/admin/api/ios_variants", IosVariants()),
        ("/admin/api/devices/register-apple", RegisterAll(env)),
        ("/admin/api/devices/{device_id}/register-apple", RegisterDevice(env)),
        ("/admin/api/apple/status", AppleStatus(env)),
        ("/admin/api/apple/devices", AppleDevices(env)),
        ("/admin/api/settings", TeamSettings(env)),
        ("/admin/api/upload-config", UploadConfig(env)),
        ("/admin/exports/releases.csv", ReleasesCsv()),
        ("/admin/exports/events.csv", EventsCsv()),
        ("/admin/exports/ios_devices.csv", IosDevicesCsv()),
        ("/upload", Upload(env)),
        *public.routes(env),
    ]
