"""The live-update part of an app's snapshot document: its channels, bundles and pinned devices, as plain
values the read service decides device checks from (run by the worker)."""

from __future__ import annotations


def part(data) -> dict:
    bundles = {
        b.name: {
            "id": b.id,
            "checksum": b.checksum,
            "session_key": b.session_key,
            "min_update_version": b.min_update_version,
            "external_url": b.external_url,
            "stored": b.file_key is not None,
        }
        for b in data.bundles
    }
    names = {b.id: b.name for b in data.bundles}
    channels = {
        c.name: {
            "id": c.id,
            "bundle": names.get(c.bundle_id),
            "public": c.public,
            "disable_auto_update": c.disable_auto_update,
            "disable_under_native": c.disable_under_native,
            "ios": c.ios,
            "android": c.android,
            "allow_self_set": c.allow_self_set,
            "allow_emulator": c.allow_emulator,
            "allow_dev": c.allow_dev,
        }
        for c in data.channels
    }
    for r in data.rollouts:
        for channel in channels.values():
            if channel["id"] == r.channel_id:
                # Evaluated by the read service against its clock: a step needs no rebuild.
                channel["rollout"] = {
                    "id": r.id,
                    "bundle": r.bundle.name,
                    "steps": r.steps,
                    "held": r.held_share,
                }
    pins = {device: [channel, bundle] for device, channel, bundle in data.pins}
    return {"capgo": {"channels": channels, "bundles": bundles, "pins": pins}}
