"""The distribution server's JSON shapes (its field names), from store rows."""

from __future__ import annotations

import datetime as dt


def ts(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC, as the server's Go encoder writes times."""
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def product(app, variant_count: int | None = None) -> dict:
    out = {
        "id": app.public_id,
        "slug": app.slug,
        "name": app.title,
        "description": app.description,
        "published": app.published,
        "team_id": app.team_id,
        "created_at": ts(app.created_at),
        "updated_at": ts(app.updated_at or app.created_at),
    }
    if variant_count is not None:
        out["variant_count"] = variant_count
    return out


def variant(v, product_id: str) -> dict:
    return {
        "id": v.public_id,
        "product_id": product_id,
        "platform": v.platform,
        "identifier": v.identifier,
        "display_name": v.display_name,
        "arch": v.arch,
        "installer_type": v.installer_type,
        "min_os": v.min_os,
        "published": v.published,
        "sort_order": v.sort_order,
        "created_at": ts(v.created_at),
        "updated_at": ts(v.updated_at),
    }


def release(b, downloads: int = 0) -> dict:
    return {
        "id": b.release_id,
        "version": b.version,
        "build": b.build_number,
        "created_at": ts(b.created_at),
        "download_count": downloads,
        "channel": b.channel,
        "min_os": b.min_os,
        "changelog": b.changelog,
        "file_name": b.file_name,
        "file_ext": ext(b.file_name),
        "size_bytes": b.file_size,
        "sha256": b.file_sha256,
    }


def ext(name: str | None) -> str:
    return name.rsplit(".", 1)[1].lower() if name and "." in name else ""


def event(row: dict) -> dict:
    return {
        "id": row["id"],
        "ts": ts(row["created_at"]),
        "type": row["type"],
        "app_id": row["product_id"],
        "variant_id": row["variant_id"],
        "release_id": row["release_id"],
        "ip": row["ip"],
        "ua": row["ua"],
    }


def ios_variant(v) -> dict:
    return {
        "id": v.public_id,
        "identifier": v.identifier,
        "display_name": v.display_name,
        "product_id": v.app.public_id,
        "product_name": v.app.title,
    }


def ios_device(d, variants: list[str]) -> dict:
    return {
        "id": d.public_id,
        "udid": d.udid,
        "device_name": d.device_name,
        "model": d.product,
        "os_version": d.os_version,
        "serial": d.serial,
        "created_at": ts(d.created_at),
        "verified_at": ts(d.verified_at),
        "apple_registered": d.apple_registered,
        "apple_registered_at": ts(d.apple_registered_at),
        "apple_device_id": d.apple_device_id,
        "apple_error": d.apple_error,
        # Anyone can sign a callback envelope: a captured device is unconfirmed until an admin registers it.
        "confirmed": d.apple_registered,
        "status": "registered" if d.apple_registered else "unconfirmed",
        "variants": variants,
    }


def _mask(present: bool, hint: str = "") -> str:
    return ("********" + hint) if present else ""


def settings(row, access_key_hint: str) -> dict:
    """Secrets never leave: set ones show as masked, with the access key's last four characters."""
    return {
        "team_id": row.team_id,
        "primary_domain": row.primary_domain,
        "secondary_domains": row.secondary_domains,
        "organization": row.organization,
        "storage_type": row.storage_type,
        "s3_endpoint": row.s3_endpoint,
        "s3_bucket": row.s3_bucket,
        "s3_region": row.s3_region,
        "s3_public_url": row.s3_public_url,
        "s3_access_key": _mask(row.s3_access_key_sealed is not None, access_key_hint),
        "s3_secret_key": _mask(row.s3_secret_key_sealed is not None),
        "apple_key_id": row.apple_key_id,
        "apple_issuer_id": row.apple_issuer_id,
        "apple_team_id": row.apple_team_id,
        "apple_private_key": _mask(row.apple_private_key_sealed is not None),
        "apple_configured": bool(row.apple_key_id and row.apple_issuer_id and row.apple_private_key_sealed),
        "s3_configured": s3_configured(row),
        "upload_domain": row.upload_domain,
        "updated_at": ts(row.updated_at),
    }


def s3_configured(row) -> bool:
    """Whether the team's uploads go to an S3 bucket of its own (storage s3 with a bucket named)."""
    return row.storage_type == "s3" and bool(row.s3_bucket)
