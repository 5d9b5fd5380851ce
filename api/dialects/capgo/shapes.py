"""Capgo's JSON shapes for channels, devices and bundles (the public API)."""

from __future__ import annotations

from store.timefmt import iso


def _version(bundle) -> dict | None:
    return None if bundle is None else {"id": bundle.id, "name": bundle.name}


def channel(row, package: str) -> dict:
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "name": row.name,
        "app_id": package,
        "version": _version(row.bundle) if row.bundle_id else None,
        "created_by": str(row.created_by_id) if row.created_by_id else None,
        "updated_at": iso(row.updated_at),
        "public": row.public,
        "disableAutoUpdateUnderNative": row.disable_under_native,
        "disableAutoUpdate": row.disable_auto_update,
        "ios": row.ios,
        "android": row.android,
        "allow_device_self_set": row.allow_self_set,
        "allow_emulator": row.allow_emulator,
        "allow_dev": row.allow_dev,
    }


def device(found, package: str) -> dict:
    row = found.device
    return {
        "created_at": iso(row.first_seen_at),
        "updated_at": iso(row.last_seen_at),
        "device_id": row.device_id,
        "custom_id": row.custom_id,
        # The bundle the device runs, by the name it reported (id 0: not a bundle of the app, e.g. builtin).
        "version": {"id": found.bundle_id, "name": row.version_name},
        "app_id": package,
        "platform": row.platform,
        "plugin_version": row.plugin_version,
        "os_version": row.os_version,
        "version_build": row.version_build,
        "is_prod": row.is_prod,
        "is_emulator": row.is_emulator,
        "channel": found.channel,
        "version_override": found.bundle_pin,
    }


def bundle(row, package: str, team_id: int, storage_provider: str) -> dict:
    return {
        "app_id": package,
        "bucket_id": None,
        "checksum": row.checksum,
        "created_at": iso(row.created_at),
        "deleted": False,
        "external_url": row.external_url,
        "id": row.id,
        "minUpdateVersion": row.min_update_version,
        "name": row.name,
        "native_packages": row.native_packages,
        "owner_org": str(team_id),
        "r2_path": row.file_key,
        "session_key": row.session_key,
        "storage_provider": "external" if row.external_url else storage_provider,
        "updated_at": iso(row.updated_at),
        "user_id": str(row.created_by_id) if row.created_by_id else None,
        "size": row.file_size,
    }
