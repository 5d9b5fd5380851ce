"""The distribution dialect's routes on the write API, one line each: the admin API (admin.py), the upload
call (upload.py) and the public side (public.py)."""

from __future__ import annotations

from api.dialects.base import WriteContext
from api.dialects.distribution import admin as a
from api.dialects.distribution import public
from api.dialects.distribution.upload import ParseApp, SmartUpload, Upload


def routes(ctx: WriteContext) -> list[tuple[str, object]]:
    limit = ctx.settings.max_body_bytes
    return [
        ("/admin/api/products", a.Products(limit)),
        ("/admin/api/products/{product_id}", a.Product(ctx)),
        ("/admin/api/products/{product_id}/variants", a.Variants(limit)),
        ("/admin/api/variants/{variant_id}", a.Variant(ctx)),
        ("/admin/api/variants/{variant_id}/stats", a.VariantStats()),
        ("/admin/api/releases/{release_id}", a.Release(ctx)),
        ("/admin/api/apps/{app_id}/publish", a.Publish(True)),
        ("/admin/api/apps/{app_id}/unpublish", a.Publish(False)),
        ("/admin/api/events", a.Events()),
        ("/admin/api/ios_devices", a.IosDevices()),
        ("/admin/api/ios_variants", a.IosVariants()),
        ("/admin/api/devices/register-apple", a.RegisterAll(ctx)),
        ("/admin/api/devices/{device_id}/register-apple", a.RegisterDevice(ctx)),
        ("/admin/api/apple/status", a.AppleStatus(ctx)),
        ("/admin/api/apple/devices", a.AppleDevices(ctx)),
        ("/admin/api/settings", a.TeamSettings(ctx)),
        ("/admin/api/upload-config", a.UploadConfig(ctx)),
        ("/admin/exports/releases.csv", a.ReleasesCsv()),
        ("/admin/exports/events.csv", a.EventsCsv()),
        ("/admin/exports/ios_devices.csv", a.IosDevicesCsv()),
        ("/upload", Upload(ctx)),
        ("/smart-upload", SmartUpload(ctx)),
        ("/admin/api/parse-app", ParseApp(ctx)),
        *public.routes(ctx),
    ]
