"""Capgo's side of a device check: its bodies parsed and bounded, its snapshot part read into the domain's
live-update view, and the domain's refusals worded as Capgo's server words them.

The decision itself is the domain's (store/liveupdate.py).
"""

from __future__ import annotations

import functools
import re

from store import bounds
from store import liveupdate as lu
from store.liveupdate import BundleInfo, Check, LiveApp, Policy, Refusal

MAX_DEVICE_ID = bounds.DEVICE_ID


def live_app(package: str, part: dict | None) -> LiveApp:
    """The domain's live-update view of an app, from Capgo's snapshot part (capgo/snapshot.py)."""
    part = part or {}
    app = LiveApp(package=package)
    for name, c in sorted((part.get("channels") or {}).items(), key=lambda kv: kv[1]["id"]):
        app.channels[name] = Policy(name=name, **c)
    for name, b in (part.get("bundles") or {}).items():
        app.bundles[name] = BundleInfo(name=name, **b)
    app.pins = {d: (c, b) for d, (c, b) in (part.get("pins") or {}).items()}
    for platform in lu.PLATFORMS:
        for policy in app.channels.values():
            if policy.public and policy.serves(platform):
                app.defaults[platform] = policy
                break
    app.watched = frozenset(p.rollout["bundle"] for p in app.channels.values() if p.rollout)
    return app


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


@functools.lru_cache(maxsize=10_000)
def is_native_version(text: str) -> bool:
    """Memoised: a fleet reports few native versions. Bounded, as the strings come from devices."""
    return _NATIVE.fullmatch(text) is not None


_PLATFORMS = frozenset(("ios", "android", "electron"))


def _flag(body: dict, name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if value is not True and value is not False:
        raise BadRequest("invalid_json_body", f"{name} must be a boolean")
    return value


_OPTIONAL = tuple(zip(("version_name", "plugin_version", "version_os", "custom_id", "defaultChannel"),
                      (limit for _, _, limit in _STRINGS[4:]), strict=True))  # fmt: skip
_new_check = tuple.__new__  # Check's own constructor is a Python function: half a microsecond a call


def parse_check(body, need_versions: bool = True) -> Check:
    """A device's body as a Check, or BadRequest naming the first field that is wrong.

    Every device check and event passes here (tens of thousands a second): a body whose fields are all
    well-formed is taken in one pass of cheap tests; anything else (a missing, empty or bad field) goes
    to ``_parse_every_field``, which finds the error to report. Both give the same Check for a body the
    first accepts (tests/test_capgo_checks.py compares them)."""
    if type(body) is dict:
        get = body.get
        app_id, device_id, platform, build = (
            get("app_id"),
            get("device_id"),
            get("platform"),
            get("version_build"),
        )
        emulator, prod = get("is_emulator"), get("is_prod")
        if (
            type(app_id) is str and 0 < len(app_id) <= bounds.PACKAGE_NAME and "\x00" not in app_id
            and type(device_id) is str and len(device_id) == 36 and _DEVICE_ID.fullmatch(device_id) is not None
            and type(platform) is str and platform in _PLATFORMS
            and type(build) is str and 0 < len(build) <= bounds.VERSION_BUILD and is_native_version(build)
            and (emulator is None or emulator is True or emulator is False)
            and (prod is None or prod is True or prod is False)
        ):  # fmt: skip
            optional = []
            for field, limit in _OPTIONAL:
                value = get(field)
                if value is not None and (type(value) is not str or len(value) > limit or "\x00" in value):
                    return _parse_every_field(body, need_versions)
                optional.append(value or None)
            name, plugin, os_version, custom_id, default = optional
            return _new_check(
                Check,
                (
                    app_id,
                    device_id.lower(),
                    platform,
                    build,
                    build if name is None or name == "builtin" else name,
                    plugin or "",
                    os_version,
                    (custom_id or "").strip(),
                    emulator is True,
                    prod is not False,
                    default,
                ),
            )
    return _parse_every_field(body, need_versions)


def _parse_every_field(body, need_versions: bool) -> Check:
    """The whole check, field by field: the first bad field names the error."""
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
    if (
        device_id is None or _DEVICE_ID.fullmatch(device_id) is None
    ):  # never None: device_id is always required
        raise BadRequest("invalid_json_body", "device_id must be a UUID")
    version_build = version_build or ""
    if version_build and not is_native_version(version_build):
        raise BadRequest("semver_error", semver_error(version_build)["message"])
    return Check(
        app_id or "",
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


def semver_error(version: str) -> dict:
    return refusal(
        "semver_error",
        f"Native version: {version} doesn't follow semver convention, please follow "
        "https://semver.org to allow Capgo compare version number",
    )


# The domain's reasons in Capgo's words: (error, message, major) for a refused move.
_MOVES = {
    lu.ABOVE_MAJOR: ("disable_auto_update_to_major", "Cannot upgrade major version", True),
    lu.ABOVE_MINOR: ("disable_auto_update_to_minor", "Cannot upgrade minor version", True),
    lu.NOT_A_PATCH: ("disable_auto_update_to_patch", "Cannot upgrade patch version", True),
    lu.BELOW_MIN_UPDATE_VERSION: (
        "disable_auto_update_to_metadata",
        "Cannot upgrade version, min update version > current version",
        True,
    ),
    lu.UNDER_NATIVE: ("disable_auto_update_under_native", "Cannot revert under native version", False),
    lu.DEV_BUILD: ("disable_dev_build", "Cannot update, dev build is disabled", False),
    lu.EMULATOR: ("disable_emulator", "Cannot update, emulator is disabled", False),
}
_PLAIN = {
    lu.NO_CHANNEL: refusal("no_channel", "no default channel or override"),
    lu.NO_BUNDLE: refusal("no_bundle", "Cannot get bundle"),
    lu.UP_TO_DATE: refusal("no_new_version_available", "No new version available"),
}


def worded(refused: Refusal, check: Check) -> dict:
    """A refused update as Capgo answers it (its `error`, `message`, and the move it refused)."""
    reason = refused.reason
    if reason in _PLAIN:
        return dict(_PLAIN[reason])
    if reason == lu.BAD_NATIVE_VERSION:
        return semver_error(check.version_build)
    moves = {"version": refused.version, "old": refused.old}
    if reason == lu.PLATFORM_DISABLED:
        which = "ios it's" if check.platform == "ios" else "android is"
        return refusal(f"disabled_platform_{check.platform}", f"Cannot update, {which} disabled", **moves)
    if reason == lu.NO_MIN_UPDATE_VERSION:
        return refusal("misconfigured_channel", f"Channel {refused.channel} is misconfigured", **moves)
    error, message, major = _MOVES[reason]
    return refusal(error, message, major=True, **moves) if major else refusal(error, message, **moves)
