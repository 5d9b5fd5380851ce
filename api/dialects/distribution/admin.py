"""The distribution server's admin API (/admin/api, /admin/exports) on the write API: one resource class per
route family (the table is routes.py).

Every call takes a Gatehouse admin token in ``X-Auth-Token`` and is scoped to the caller's teams; a
product, variant, release or device of another team is not found. A caller in several teams names the
team of a new product (and of the settings it reads or changes) with ``team_id``.
"""

from __future__ import annotations

import falcon

from api.dialects.base import WriteContext, WriteResource
from api.dialects.distribution import shapes
from api.dialects.distribution.auth import caller
from api.dialects.distribution.schemas import (
    ProductIn,
    ProductUpdate,
    RegisterIn,
    SettingsIn,
    VariantIn,
    VariantUpdate,
)
from api.secret_key import secret_key
from api.write.exports import send_csv
from api.write.http import int_param, parse_model, send
from store import accounts, ios_devices, product_pages, products, releases, team_settings
from store.apple import AppleClient, AppleError, Credentials
from store.errors import InvalidInput, Unavailable
from store.service import unit_of_work


def ok(resp: falcon.Response, data, status: str = falcon.HTTP_200) -> None:
    send(resp, {"ok": True, "data": data}, status)


def window(req: falcon.Request, default: int) -> tuple[int, int]:
    return int_param(req, "limit", default, 1, 1000), int_param(req, "offset", 0, 0, 10**9)


def search_param(req: falcon.Request, limit: int) -> str | None:
    """``q``, refused (400) past ``limit`` characters as the document says, not cut."""
    q = req.get_param("q")
    if q is not None and len(q) > limit:
        raise InvalidInput(f"q must be at most {limit} characters")
    return q


def team_param(req: falcon.Request) -> int | None:
    return int_param(req, "team_id", 0, 1, 2**31) if req.get_param("team_id") is not None else None


def secret(ctx: WriteContext) -> bytes:
    """The key the team's secrets (S3 keys, Apple's private key) are sealed with."""
    return secret_key(ctx.settings, ctx.connection)


def delete_files(ctx: WriteContext, files: list[products.FileRef]) -> None:
    """After the commit: a reader never meets a row without its file."""
    for f in files:
        ctx.backends.open(f.backend, f.team_id).delete(f.key)


def apple(ctx: WriteContext, team_id: int | None, user: accounts.User) -> tuple[AppleClient, int]:
    """An App Store Connect client with the team's credentials, and the team's id."""
    row = team_settings.get_settings(user, team_id)
    creds = Credentials(
        row.apple_key_id, row.apple_issuer_id, team_settings.secret(row, "apple_private_key", secret(ctx))
    )
    if not (creds.key_id and creds.issuer_id and creds.private_key):
        raise InvalidInput("Apple Developer API credentials are not configured")
    return AppleClient(ctx.settings.apple_api_url, creds), row.team_id


# -- products and variants ---------------------------------------------------------------------------


def _delete(req: falcon.Request, resp: falcon.Response, ctx: WriteContext, delete, ident: str) -> None:
    """Rows go in one transaction, their files after the commit."""
    user = caller(req)
    with unit_of_work():
        files = delete(user, ident)
    delete_files(ctx, files)
    ok(resp, {"id": ident, "deleted": True})


def _product_with_variants(view: products.ProductView) -> dict:
    builds = [b for rows in view.releases.values() for b in rows]
    counts = products.download_counts(builds)
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
        limit, offset = window(req, 200)
        rows, total = products.list_products(user, (req.get_param("q") or "")[:100] or None, limit, offset)
        ok(resp, {"items": [shapes.product(r.app, r.variant_count) for r in rows], "total": total})

    def on_post(self, req, resp):
        user = caller(req)
        body = parse_model(req, ProductIn, self.limit)
        with unit_of_work():
            app = products.create_product(
                user,
                body.team_id,
                body.name,
                body.slug,
                body.description,
                True if body.published is None else body.published,
            )
        ok(resp, {"product": shapes.product(app)}, falcon.HTTP_201)


class Product(WriteResource):
    def on_get(self, req, resp, product_id):
        ok(resp, _product_with_variants(products.get_product(caller(req), product_id)))

    def on_put(self, req, resp, product_id):
        user = caller(req)
        body = parse_model(req, ProductUpdate, self.ctx.settings.max_body_bytes)
        with unit_of_work():
            app = products.update_product(user, product_id, body.model_dump())
        ok(resp, {"product": shapes.product(app)})

    def on_delete(self, req, resp, product_id):
        _delete(req, resp, self.ctx, products.delete_product, product_id)


class Variants:
    def __init__(self, limit: int):
        self.limit = limit

    def on_post(self, req, resp, product_id):
        user = caller(req)
        body = parse_model(req, VariantIn, self.limit)
        with unit_of_work():
            row = products.create_variant(user, product_id, body.model_dump())
        ok(resp, {"variant": shapes.variant(row, product_id)}, falcon.HTTP_201)


class Variant(WriteResource):
    def on_put(self, req, resp, variant_id):
        user = caller(req)
        body = parse_model(req, VariantUpdate, self.ctx.settings.max_body_bytes)
        with unit_of_work():
            row = products.update_variant(user, variant_id, body.model_dump())
        ok(resp, {"variant": shapes.variant(row, row.app.public_id)})

    def on_delete(self, req, resp, variant_id):
        _delete(req, resp, self.ctx, products.delete_variant, variant_id)


class VariantStats:
    def on_get(self, req, resp, variant_id):
        row, rows = products.variant_releases(caller(req), variant_id)
        counts = products.download_counts(rows)
        app = row.app
        ok(
            resp,
            {
                "product": {"id": app.public_id, "slug": app.slug, "name": app.title},
                "variant": shapes.variant(row, app.public_id),
                "releases": [shapes.release(b, counts.get(b.id, 0)) for b in rows],
                "total_downloads": sum(counts.values()),
            },
        )


class Release(WriteResource):
    def on_delete(self, req, resp, release_id):
        _delete(req, resp, self.ctx, releases.delete_release, release_id)


class Publish:
    def __init__(self, published: bool):
        self.published = published

    def on_put(self, req, resp, app_id):
        user = caller(req)
        with unit_of_work():
            app = products.set_published(user, app_id, self.published)
        ok(resp, {"id": app.public_id, "published": app.published})


# -- events, devices, Apple --------------------------------------------------------------------------


class Events:
    def on_get(self, req, resp):
        user = caller(req)
        limit, offset = window(req, 50)
        rows, total = product_pages.list_events(
            user,
            req.get_param("type"),
            req.get_param("variant_id"),
            req.get_param("release_id"),
            limit,
            offset,
            releases.Filters.of(None, req.get_param("from"), req.get_param("to")),
        )
        ok(resp, {"items": [shapes.event(r) for r in rows], "total": total, "limit": limit, "offset": offset})


class IosDevices:
    def on_get(self, req, resp):
        user = caller(req)
        limit, offset = window(req, 100)
        rows, total = ios_devices.list_ios_devices(
            user,
            req.get_param("variant_id"),
            limit,
            offset,
            search_param(req, 200),
            releases.Filters.of(None, req.get_param("from"), req.get_param("to")),
        )
        bound = ios_devices.device_variants(rows)
        ok(resp, {"items": [shapes.ios_device(d, bound[d.id]) for d in rows], "total": total})


class IosVariants:
    """GET /admin/api/ios_variants: the team's iOS variants with their product's name (the UI's filter)."""

    def on_get(self, req, resp):
        ok(resp, {"items": [shapes.ios_variant(v) for v in ios_devices.ios_variants(caller(req))]})


def _register(client: AppleClient, device) -> dict:
    """One device with Apple, as the distribution server reports it."""
    outcome = ios_devices.register_with_apple(client, device)
    if outcome.status == "failed":
        return {"id": device.public_id, "udid": device.udid, "status": "failed", "error": outcome.error}
    return {
        "id": device.public_id,
        "udid": device.udid,
        "status": outcome.status,
        "apple_device_id": outcome.apple_device_id,
    }


class RegisterDevice(WriteResource):
    def on_post(self, req, resp, device_id):
        user = caller(req)
        device = ios_devices.ios_device(user, device_id)
        client, _ = apple(self.ctx, device.team_id, user)
        try:
            result = _register(client, device)
        finally:
            client.close()
        if result["status"] == "failed":
            raise Unavailable(f"Apple refused the device: {result['error']}")
        ok(resp, result)


class RegisterAll(WriteResource):
    """POST {"device_ids": [...]}: registers the devices an admin chose, and only those (Apple allows 100
    devices of each type per membership year; registering every captured device spent slots nobody chose).
    Each device's outcome is reported and committed on its own, as the distribution server answers it."""

    def on_post(self, req, resp):
        user = caller(req)
        body = parse_model(req, RegisterIn, self.ctx.settings.max_body_bytes)
        client, team_id = apple(self.ctx, team_param(req), user)
        chosen = ios_devices.team_devices(team_id, body.device_ids)
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


class AppleStatus(WriteResource):
    """{"configured", "connected", "message"}, which the distribution server's UI reads for its status line
    and its connection test (``valid`` and ``error`` stay for earlier clients)."""

    def on_get(self, req, resp):
        user = caller(req)
        team = team_param(req)  # a malformed team_id is the caller's error (400), not "not configured"
        try:
            client, _ = apple(self.ctx, team, user)
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


class AppleDevices(WriteResource):
    def on_get(self, req, resp):
        user = caller(req)
        client, _ = apple(self.ctx, team_param(req), user)
        try:
            items = list(client.devices())  # AppleError is Unavailable: a 503 in the server's envelope
        finally:
            client.close()
        ok(resp, {"items": items, "total": len(items)})


# -- settings ----------------------------------------------------------------------------------------


class TeamSettings(WriteResource):
    """A team's distribution settings (api/settings.Settings is the deployment's)."""

    def _shape(self, row) -> dict:
        access = team_settings.secret(row, "s3_access_key", secret(self.ctx))
        return shapes.settings(row, access[-4:] if len(access) >= 12 else "")

    def on_get(self, req, resp):
        # Unsaved settings show the defaults: the team's name, and where this request reached Gatehouse.
        default = (self.ctx.settings.public_url or req.prefix).rstrip("/")
        ok(resp, self._shape(team_settings.get_settings(caller(req), team_param(req), default)))

    def on_put(self, req, resp):
        user = caller(req)
        body = parse_model(req, SettingsIn, self.ctx.settings.max_body_bytes)
        fields = body.model_dump(exclude_unset=True, exclude={"team_id"})
        fields = {k: v for k, v in fields.items() if v is not None}
        with unit_of_work():
            # Saved defaults name GATEHOUSE_PUBLIC_URL only: a script's request may come in on an internal address.
            row = team_settings.update_settings(
                user,
                body.team_id,
                fields,
                secret(self.ctx),
                self.ctx.settings.storage_allow_private,
                self.ctx.settings.public_url.rstrip("/"),
            )
        ok(resp, self._shape(row))


class UploadConfig(WriteResource):
    def on_get(self, req, resp):
        row = team_settings.get_settings(caller(req), team_param(req))
        ok(
            resp,
            {
                "storage_type": row.storage_type,
                "max_upload_bytes": self.ctx.settings.upload_max_bytes,
                "upload_url": "/upload",
                "fields": ["variant_id", "app_file", "version", "build", "channel", "min_os", "changelog"],
                "s3_bucket": row.s3_bucket if row.storage_type == "s3" else "",
                "s3_configured": shapes.s3_configured(row),
                "upload_domain": row.upload_domain,
            },
        )


# -- exports -----------------------------------------------------------------------------------------


def _filters(req) -> releases.Filters:
    """variant_id, from and to of an export (they were ignored: a filtered export had every row)."""
    return releases.Filters.of(req.get_param("variant_id"), req.get_param("from"), req.get_param("to"))


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
            for b, v, a in releases.all_releases(user, _filters(req))
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
            for e in product_pages.iter_events(user, _filters(req))
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
            for d in ios_devices.iter_ios_devices(user, _filters(req))
        )
        send_csv(resp, "ios_devices.csv", self.HEADER, rows)
