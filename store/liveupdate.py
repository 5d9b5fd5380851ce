"""The live-update decision: which bundle a device checking in gets, or why it gets none.

Pure functions over plain values (no I/O, no product's words), so the read service decides from memory
and the table is tested branch by branch (tests/test_capgo_decide.py). A refusal is a ``Refusal``: the
rule that held the device back, which a dialect words as its clients expect.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from store.errors import InvalidVersion
from store.ramps import bucket, share_at
from store.versions import parse_key

MAX_FIELD = 128  # the longest version coerce() reads
_COERCE = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", re.ASCII)
NO_PIN: tuple[str | None, str | None] = (None, None)
PLATFORMS = ("ios", "android", "electron")


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
    verdicts: dict[tuple, Refusal | None] = field(default_factory=dict)
    # The bundles of the app's live rollouts: the only ones whose devices' outcomes are kept (a rollout's
    # health is all that reads them).
    watched: frozenset[str] = frozenset()

    def channel_for(
        self, device_id: str, platform: str, default_channel: str | None, pin: tuple | None = None
    ) -> tuple[Policy | None, str]:
        """The channel a device follows and why: "pin" (an admin's or its own choice), "default_channel"
        (the app's configuration names one), "public" (the app's default for the platform). ``pin`` is the
        device's (channel, bundle) when known better than the snapshot (its own choice, not yet in it)."""
        pinned = (self.pins.get(device_id, NO_PIN) if pin is None else pin)[0]
        if pinned is not None and pinned in self.channels:
            return self.channels[pinned], "pin"
        if default_channel:
            return self.channels.get(default_channel), "default_channel"
        return self.defaults.get(platform), "public"


class Check(NamedTuple):
    """What a device says when it checks in (a tuple: built on every request, and a frozen dataclass's
    constructor cost a microsecond more)."""

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


class Refusal(NamedTuple):
    """Why a device gets no bundle: ``reason`` names the rule; where a channel's rule refused, ``version``
    and ``old`` are the move it refused (the bundle offered, the bundle running) and ``channel`` the channel."""

    reason: str
    version: str | None = None
    old: str | None = None
    channel: str | None = None


# Reasons. Up to date: nothing newer. Held back: a channel rule refuses the move. Failed: the app's
# configuration or the device's report cannot give an answer.
BAD_NATIVE_VERSION = "bad_native_version"
NO_CHANNEL = "no_channel"
NO_BUNDLE = "no_bundle"
UP_TO_DATE = "up_to_date"
PLATFORM_DISABLED = "platform_disabled"
ABOVE_MAJOR = "above_major"
ABOVE_MINOR = "above_minor"
NOT_A_PATCH = "not_a_patch"
NO_MIN_UPDATE_VERSION = "no_min_update_version"
BELOW_MIN_UPDATE_VERSION = "below_min_update_version"
UNDER_NATIVE = "under_native"
DEV_BUILD = "dev_build"
EMULATOR = "emulator"


# The refusals that name no move, made once: a NamedTuple's constructor is a Python function, and "up to
# date" is the answer most checks get.
_REFUSED = {reason: Refusal(reason) for reason in (BAD_NATIVE_VERSION, NO_CHANNEL, NO_BUNDLE, UP_TO_DATE)}


def in_rollout(rollout: dict, device_id: str, now: float | None = None) -> bool:
    """Whether a device gets a rollout's bundle now (store/ramps.py: sticky, monotonic membership)."""
    share = share_at(rollout["steps"], rollout["held"], time.time() if now is None else now)
    return share > 0 and bucket(rollout["id"], device_id) < share


def decide(
    app: LiveApp, check: Check, now: float | None = None, pin: tuple | None = None
) -> tuple[Refusal | None, BundleInfo | None]:
    """(refusal, None) or (None, the bundle to send); ``now`` (epoch seconds) for a rollout's steps; ``pin``
    the device's (channel, bundle) when known better than the snapshot."""
    native = coerce(check.version_build)
    if native is None:
        return _REFUSED[BAD_NATIVE_VERSION], None
    if pin is None:
        pin = app.pins.get(check.device_id, NO_PIN)
    pinned_bundle = pin[1]
    channel, reason = app.channel_for(check.device_id, check.platform, check.default_channel, pin)
    if reason == "default_channel" and channel is not None and not _may_name(channel, check.platform):
        # Naming a channel the device may not use reveals nothing about it.
        channel = None
    if channel is None and pinned_bundle is None:
        return _REFUSED[NO_CHANNEL], None
    # A pinned bundle skips the channel: its bundle, its rollout and its rules.
    follows = channel if pinned_bundle is None else None
    name = pinned_bundle if follows is None else follows.bundle
    if (
        follows is not None
        and follows.rollout is not None
        and in_rollout(follows.rollout, check.device_id, now)
    ):
        name = follows.rollout["bundle"]
    bundle = app.bundles.get(name) if name is not None else None
    if bundle is None:
        return _REFUSED[NO_BUNDLE], None
    if check.version_name == bundle.name:
        return _REFUSED[UP_TO_DATE], None
    if follows is not None:
        key = (
            follows.name,
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
            refused = verdicts[key] = _policy(follows, reason, check, native, bundle)
        if refused is not None:
            return refused, None
    if not bundle.stored and not bundle.external_url:
        return _REFUSED[NO_BUNDLE], None
    return None, bundle


def _may_name(channel: Policy, platform: str) -> bool:
    """Whether a device may follow this channel by naming it (defaultChannel): a public or self-assignable
    channel that serves its platform."""
    return (channel.public or channel.allow_self_set) and (
        platform not in ("ios", "android") or channel.serves(platform)
    )


def _policy(channel: Policy, reason: str, check: Check, native: tuple, bundle: BundleInfo) -> Refusal | None:
    """The channel's rules, in the order the live-update plugins' users know; a device pinned to a bundle
    skips them."""
    move = bundle.name, check.version_name, channel.name
    if check.platform in ("ios", "android") and not channel.serves(check.platform):
        return Refusal(PLATFORM_DISABLED, *move)
    target = coerce(bundle.name) or (0, 0, 0)
    limit = channel.disable_auto_update
    if limit == "major" and target[0] > native[0]:
        return Refusal(ABOVE_MAJOR, *move)
    if limit == "minor" and target[:2] > native[:2]:
        return Refusal(ABOVE_MINOR, *move)
    if limit == "patch" and not (target[:2] == native[:2] and target[2] > native[2]):
        return Refusal(NOT_A_PATCH, *move)
    if limit == "version_number":
        if bundle.min_update_version is None:
            return Refusal(NO_MIN_UPDATE_VERSION, *move)
        if _order(bundle.min_update_version) > _order("{}.{}.{}".format(*native)):
            return Refusal(BELOW_MIN_UPDATE_VERSION, *move)
    if channel.disable_under_native and _order(bundle.name) < _order("{}.{}.{}".format(*native)):
        return Refusal(UNDER_NATIVE, *move)
    if not channel.allow_dev and not check.is_prod:
        return Refusal(DEV_BUILD, *move)
    if not channel.allow_emulator and check.is_emulator:
        return Refusal(EMULATOR, *move)
    return None
