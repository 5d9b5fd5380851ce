"""The device check (POST /updates), decided from an app's snapshot in memory, in Capgo's documented order.

Pure functions over plain values: no I/O, so the read service answers from memory and the decision table
is tested branch by branch (tests/test_capgo_decide.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from store import bounds
from store.errors import InvalidVersion
from store.ramps import bucket, share_at
from store.versions import parse_key

MAX_DEVICE_ID = bounds.DEVICE_ID
MAX_FIELD = 128  # the longest version coerce() reads
_COERCE = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", re.ASCII)


# Memoised: a fleet reports few distinct versions, and packaging's parser costs ~8 us a call (the update
# path parsed two versions per request). Bounded, as the strings come from devices.
@lru_cache(maxsize=4096)
def coerce(text: str) -> tuple[int, int, int] | None:
    """Major, minor and patch of a version the way node-semver's coerce reads it ("1.2" -> 1.2.0)."""
    m = _COERCE.search(text or "") if isinstance(text, str) and len(text) <= MAX_FIELD else None
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)


@lru_cache(maxsize=4096)
def _order(name: str) -> tuple:
    """Full ordering of a bundle name (pre-releases before releases); coerced when it does not parse."""
    try:
        return parse_key(name)
    except InvalidVersion:
        parts = coerce(name) or (0, 0, 0)
        return parse_key("{}.{}.{}".format(*parts))


@dataclass(frozen=True, slots=True)
class Policy:
    id: int
    name: str
    bundle: str | None
    public: bool
    disable_auto_update: str
    disable_under_native: bool
    ios: bool
    android: bool
    allow_self_set: bool
    allow_emulator: bool
    allow_dev: bool
    # A live rollout: {"id", "bundle", "steps": [[epoch, basis points], ...], "held": basis points or None}
    rollout: dict | None = None

    def serves(self, platform: str) -> bool:
        return getattr(self, platform, True) if platform in ("ios", "android") else True


@dataclass(frozen=True, slots=True)
class BundleInfo:
    id: int
    name: str
    checksum: str | None
    session_key: str | None
    min_update_version: str | None
    external_url: str | None
    stored: bool


@dataclass
class LiveApp:
    """An app's live-update view, built once per snapshot document."""

    package: str
    channels: dict[str, Policy] = field(default_factory=dict)
    bundles: dict[str, BundleInfo] = field(default_factory=dict)
    pins: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # platform -> its default (public) channel
    defaults: dict[str, Policy] = field(default_factory=dict)
    # The channel rules' verdicts: they depend on the channel, the bundle and the device's versions and
    # flags, never on its id, so a fleet shares a few (rebuilt with the snapshot, bounded).
    verdicts: dict[tuple, dict | None] = field(default_factory=dict)

    @classmethod
    def from_part(cls, package: str, part: dict | None) -> LiveApp:
        part = part or {}
        app = cls(package=package)
        for name, c in sorted((part.get("channels") or {}).items(), key=lambda kv: kv[1]["id"]):
            app.channels[name] = Policy(name=name, **c)
        for name, b in (part.get("bundles") or {}).items():
            app.bundles[name] = BundleInfo(name=name, **b)
        app.pins = {d: (c, b) for d, (c, b) in (part.get("pins") or {}).items()}
        for platform in ("ios", "android", "electron"):
            for policy in app.channels.values():
                if policy.public and policy.serves(platform):
                    app.defaults[platform] = policy
                    break
        return app

    def channel_for(
        self, device_id: str, platform: str, default_channel: str | None, pin: tuple | None = None
    ) -> tuple[Policy | None, str]:
        """The channel a device follows and why: "pin" (an admin's or its own choice), "default_channel"
        (the app's configuration names one), "public" (the app's default for the platform). ``pin`` is the
        device's (channel, bundle) when known better than the snapshot (its own choice, not yet in it)."""
        pinned = (self.pins.get(device_id, _NO_PIN) if pin is None else pin)[0]
        if pinned is not None and pinned in self.channels:
            return self.channels[pinned], "pin"
        if default_channel:
            return self.channels.get(default_channel), "default_channel"
        return self.defaults.get(platform), "public"


class Check(NamedTuple):
    """A parsed /updates (or /stats, /channel_self) body (a tuple: built on every request, and a frozen
    dataclass's constructor cost a microsecond more)."""

    app_id: str
    device_id: str
    platform: str
    version_build: str
    version_name: str
    plugin_version: str
    version_os: str | None
    custom_id: str
    is_emulator: bool
    is_prod: bool
    default_channel: str | None


class BadRequest(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# (field, required on /updates, longest): the strings of a device body, checked in one pass against the
# columns that keep them (store/bounds.py), so nothing the edge accepts can fail the worker's batch.
_STRINGS = (
    ("app_id", True, bounds.PACKAGE_NAME),
    ("device_id", True, bounds.DEVICE_ID),
    ("platform", True, bounds.PLATFORM),
    ("version_build", True, bounds.VERSION_BUILD),
    ("version_name", False, bounds.VERSION_NAME),
    ("plugin_version", False, bounds.PLUGIN_VERSION),
    ("version_os", False, bounds.OS_VERSION),
    ("custom_id", False, bounds.CUSTOM_ID),
    ("defaultChannel", False, bounds.CHANNEL_NAME),
)
_ALWAYS = ("app_id", "device_id")
_NO_PIN = (None, None)
# Capgo's server takes a device id only as a UUID (case-insensitive, kept lowercase): every plugin
# release makes one, and a free-form id let one client invent any number of devices.
_DEVICE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.I)
# A native version as Capgo reads it: "builtin" and "unknown" (0.0.0), one to three numbers ("1" and "1.2"
# are padded), or three with a pre-release and build (semver); anything else is its 400 semver_error.
# The Capgo OpenAPI document states the same pattern for version_build.
NATIVE_VERSION = (
    r"builtin|unknown|v?(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*)){0,2}"
    r"|v?(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*)){2}(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_NATIVE = re.compile(NATIVE_VERSION, re.ASCII)


def is_native_version(text: str) -> bool:
    return _NATIVE.fullmatch(text) is not None


_PLATFORMS = frozenset(("ios", "android", "electron"))


def _flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if value is not True and value is not False:
        raise BadRequest("invalid_json_body", f"{name} must be a boolean")
    return value


def parse_check(body, need_versions: bool = True) -> Check:
    if type(body) is not dict:
        raise BadRequest("invalid_json_body", "Invalid JSON body")
    values = []
    get = body.get
    for name, required, limit in _STRINGS:
        value = get(name)
        if value is None or value == "":
            if (required and need_versions) or name in _ALWAYS:
                raise BadRequest("missing_info", f"Cannot find {name}")
            value = None
        elif type(value) is not str or len(value) > limit or "\x00" in value:
            raise BadRequest("invalid_json_body", f"{name} must be a string of at most {limit} characters")
        values.append(value)
    app_id, device_id, platform, version_build, version_name, plugin, os_version, custom_id, default = values
    if platform is not None and platform not in _PLATFORMS:
        raise BadRequest("invalid_platform", "platform must be ios, android or electron")
    if _DEVICE_ID.fullmatch(device_id) is None:
        raise BadRequest("invalid_json_body", "device_id must be a UUID")
    version_build = version_build or ""
    if version_build and not is_native_version(version_build):
        raise BadRequest(
            "semver_error",
            f"Native version: {version_build} doesn't follow semver convention, please follow "
            "https://semver.org to allow Capgo compare version number",
        )
    return Check(
        app_id,
        device_id.lower(),
        platform or "",
        version_build,
        version_build if version_name is None or version_name == "builtin" else version_name,
        plugin or "",
        os_version,
        (custom_id or "").strip(),  # as Capgo's server keeps it
        _flag(body, "is_emulator", False),
        _flag(body, "is_prod", True),
        default,
    )


# What a refused /updates means to the plugin, as Capgo's server labels it (`kind`): nothing newer, a rule
# holds the device back, or the check itself failed.
_UP_TO_DATE = frozenset(("no_new_version_available", "already_on_builtin"))
_BLOCKED_PREFIXES = ("disabled_platform_", "disable_auto_update_")
_BLOCKED = frozenset(
    (
        "cannot_update_via_private_channel",
        "disable_prod_build",
        "disable_dev_build",
        "disable_device",
        "disable_emulator",
        "key_id_mismatch",
    )
)


def update_kind(code: str) -> str:
    if code in _UP_TO_DATE:
        return "up_to_date"
    if code in _BLOCKED or code.startswith(_BLOCKED_PREFIXES):
        return "blocked"
    return "failed"


def refusal(code: str, message: str, **extra) -> dict:
    return {"error": code, "message": message} | extra


def in_rollout(rollout: dict, device_id: str, now: float | None = None) -> bool:
    """Whether a device gets a rollout's bundle now (store/ramps.py: sticky, monotonic membership)."""
    share = share_at(rollout["steps"], rollout["held"], time.time() if now is None else now)
    return share > 0 and bucket(rollout["id"], device_id) < share


def decide(
    app: LiveApp, check: Check, now: float | None = None, pin: tuple | None = None
) -> tuple[dict | None, BundleInfo | None]:
    """(refusal, None) or (None, the bundle to send); ``now`` (epoch seconds) for a rollout's steps; ``pin``
    the device's (channel, bundle) when known better than the snapshot."""
    native = coerce(check.version_build)
    if native is None:
        return refusal(
            "semver_error",
            f"Native version: {check.version_build} doesn't follow semver convention, please follow "
            "https://semver.org to allow Capgo compare version number",
        ), None
    if pin is None:
        pin = app.pins.get(check.device_id, _NO_PIN)
    pinned_bundle = pin[1]
    channel, reason = app.channel_for(check.device_id, check.platform, check.default_channel, pin)
    if reason == "default_channel" and channel is not None and not _may_name(channel, check.platform):
        # As Capgo answers: naming a channel the device may not use reveals nothing about it.
        channel = None
    if channel is None and pinned_bundle is None:
        return refusal("no_channel", "no default channel or override"), None
    name = pinned_bundle if pinned_bundle is not None else channel.bundle
    if (
        pinned_bundle is None
        and channel.rollout is not None
        and in_rollout(channel.rollout, check.device_id, now)
    ):
        name = channel.rollout["bundle"]
    bundle = app.bundles.get(name) if name is not None else None
    if bundle is None:
        return refusal("no_bundle", "Cannot get bundle"), None
    if check.version_name == bundle.name:
        return refusal("no_new_version_available", "No new version available"), None
    if pinned_bundle is None:
        key = (
            channel.name,
            reason,
            check.platform,
            check.version_build,
            check.version_name,
            check.is_prod,
            check.is_emulator,
            bundle.name,
        )
        verdicts = app.verdicts
        try:
            refused = verdicts[key]
        except KeyError:
            if len(verdicts) >= 10_000:
                verdicts.clear()
            refused = verdicts[key] = _policy(channel, reason, check, native, bundle)
        if refused is not None:
            return refused, None
    if not bundle.stored and not bundle.external_url:
        return refusal("no_bundle", "Cannot get bundle"), None
    return None, bundle


def _may_name(channel: Policy, platform: str) -> bool:
    """Whether a device may follow this channel by naming it (defaultChannel): a public or self-assignable
    channel that serves its platform."""
    return (channel.public or channel.allow_self_set) and (
        platform not in ("ios", "android") or channel.serves(platform)
    )


def _policy(channel: Policy, reason: str, check: Check, native: tuple, bundle: BundleInfo) -> dict | None:
    """The channel's rules, in Capgo's order; a device pinned to a bundle skips them."""
    moves = {"version": bundle.name, "old": check.version_name}
    if check.platform in ("ios", "android") and not channel.serves(check.platform):
        which = "ios it's" if check.platform == "ios" else "android is"
        return refusal(f"disabled_platform_{check.platform}", f"Cannot update, {which} disabled", **moves)
    target = coerce(bundle.name) or (0, 0, 0)
    limit = channel.disable_auto_update
    if limit == "major" and target[0] > native[0]:
        return refusal("disable_auto_update_to_major", "Cannot upgrade major version", major=True, **moves)
    if limit == "minor" and target[:2] > native[:2]:
        return refusal("disable_auto_update_to_minor", "Cannot upgrade minor version", major=True, **moves)
    if limit == "patch" and not (target[:2] == native[:2] and target[2] > native[2]):
        return refusal("disable_auto_update_to_patch", "Cannot upgrade patch version", major=True, **moves)
    if limit == "version_number":
        if bundle.min_update_version is None:
            return refusal("misconfigured_channel", f"Channel {channel.name} is misconfigured", **moves)
        if _order(bundle.min_update_version) > _order("{}.{}.{}".format(*native)):
            return refusal(
                "disable_auto_update_to_metadata",
                "Cannot upgrade version, min update version > current version",
                major=True,
                **moves,
            )
    if channel.disable_under_native and _order(bundle.name) < _order("{}.{}.{}".format(*native)):
        return refusal("disable_auto_update_under_native", "Cannot revert under native version", **moves)
    if not channel.allow_dev and not check.is_prod:
        return refusal("disable_dev_build", "Cannot update, dev build is disabled", **moves)
    if not channel.allow_emulator and check.is_emulator:
        return refusal("disable_emulator", "Cannot update, emulator is disabled", **moves)
    return None
