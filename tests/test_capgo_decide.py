"""The /updates decision, branch by branch, in Capgo's documented order (pure: no I/O)."""

from __future__ import annotations

import pytest

from api.dialects.capgo.checks import BadRequest, live_app, parse_check, update_kind, worded
from store.liveupdate import BAD_NATIVE_VERSION, LiveApp, Refusal, decide
from tests.helpers import uid

CHANNEL = {
    "id": 1,
    "bundle": "1.2.0",
    "public": True,
    "disable_auto_update": "none",
    "disable_under_native": True,
    "ios": True,
    "android": True,
    "allow_self_set": False,
    "allow_emulator": True,
    "allow_dev": True,
}
D1, D2 = uid("dev-1"), uid("dev-2")


def bundle(i: int, name: str, **extra) -> dict:
    return {
        "id": i,
        "checksum": "ab" * 32,
        "session_key": None,
        "min_update_version": None,
        "external_url": None,
        "stored": True,
    } | extra


def app(channel: dict | None = None, channels: dict | None = None, pins=None, bundles=None) -> LiveApp:
    return live_app(
        "com.example.app",
        {
            "channels": channels if channels is not None else {"production": CHANNEL | (channel or {})},
            "bundles": bundles
            or {
                "1.0.0": bundle(10, "1.0.0"),
                "1.2.0": bundle(12, "1.2.0"),
                "2.0.0": bundle(20, "2.0.0"),
                "1.1.5": bundle(15, "1.1.5", min_update_version="1.1.0"),
                "1.2.9": bundle(19, "1.2.9"),
            },
            "pins": pins or {},
        },
    )


def check(**fields) -> object:
    body = {
        "app_id": "com.example.app",
        "device_id": D1,
        "platform": "ios",
        "version_build": "1.1.0",
        "version_name": "1.1.0",
        "plugin_version": "6.0.0",
        "is_emulator": False,
        "is_prod": True,
    } | fields
    return parse_check({k: v for k, v in body.items() if v is not ...})


def outcome(live: LiveApp, **fields) -> str:
    device = check(**fields)
    refused, chosen = decide(live, device)
    return worded(refused, device)["error"] if refused else f"update:{chosen.name}"


# (case, channel changes, request changes, expected)
TABLE = [
    ("public channel, older bundle running", {}, {}, "update:1.2.0"),
    ("builtin means the shipped bundle (version_build)", {}, {"version_name": "builtin"}, "update:1.2.0"),
    ("same version", {}, {"version_name": "1.2.0"}, "no_new_version_available"),
    ("platform ios disabled", {"ios": False}, {}, "no_channel"),
    (
        "major blocked",
        {"bundle": "2.0.0", "disable_auto_update": "major"},
        {},
        "disable_auto_update_to_major",
    ),
    ("major allows minor", {"disable_auto_update": "major"}, {}, "update:1.2.0"),
    ("minor blocked", {"disable_auto_update": "minor"}, {}, "disable_auto_update_to_minor"),
    ("minor allows patch", {"bundle": "1.1.5", "disable_auto_update": "minor"}, {}, "update:1.1.5"),
    ("patch blocked across minor", {"disable_auto_update": "patch"}, {}, "disable_auto_update_to_patch"),
    ("patch allowed", {"bundle": "1.1.5", "disable_auto_update": "patch"}, {}, "update:1.1.5"),
    (
        "version_number without minUpdateVersion",
        {"disable_auto_update": "version_number"},
        {},
        "misconfigured_channel",
    ),
    (
        "version_number with minUpdateVersion met",
        {"bundle": "1.1.5", "disable_auto_update": "version_number"},
        {},
        "update:1.1.5",
    ),
    (
        "version_number with minUpdateVersion above the native build",
        {"bundle": "1.1.5", "disable_auto_update": "version_number"},
        {"version_build": "1.0.0", "version_name": "1.0.0"},
        "disable_auto_update_to_metadata",
    ),
    (
        "under native refused",
        {"bundle": "1.0.0"},
        {"version_build": "1.1.0", "version_name": "1.2.0"},
        "disable_auto_update_under_native",
    ),
    (
        "under native allowed when the channel permits",
        {"bundle": "1.0.0", "disable_under_native": False},
        {"version_name": "1.2.0"},
        "update:1.0.0",
    ),
    ("dev build refused", {"allow_dev": False}, {"is_prod": False}, "disable_dev_build"),
    ("dev build allowed", {}, {"is_prod": False}, "update:1.2.0"),
    ("emulator refused", {"allow_emulator": False}, {"is_emulator": True}, "disable_emulator"),
    ("channel without a bundle", {"bundle": None}, {}, "no_bundle"),
    ("no public channel", {"public": False}, {}, "no_channel"),
    (
        # Issue 20, Capgo item 4: the answer reveals nothing about a channel the device may not use.
        "defaultChannel names a private channel",
        {"public": False},
        {"defaultChannel": "production"},
        "no_channel",
    ),
    (
        "defaultChannel on a self-assignable channel",
        {"public": False, "allow_self_set": True},
        {"defaultChannel": "production"},
        "update:1.2.0",
    ),
    ("defaultChannel unknown", {}, {"defaultChannel": "nope"}, "no_channel"),
]


@pytest.mark.parametrize(("case", "channel", "request_fields", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_decision_table(case, channel, request_fields, expected):
    assert outcome(app(channel), **request_fields) == expected


def test_platform_flag_on_a_channel_reached_by_default_channel():
    """Naming a channel that does not serve the device's platform answers no_channel, as Capgo does (it
    answered disabled_platform_<platform> with the channel's version)."""
    live = app({"ios": False})
    assert outcome(live, defaultChannel="production") == "no_channel"
    assert outcome(live, platform="android", defaultChannel="production") == "update:1.2.0"
    live = app({"android": False})
    assert outcome(live, platform="android", defaultChannel="production") == "no_channel"


def test_a_device_pin_wins_over_default_channel_and_public():
    beta = CHANNEL | {"id": 2, "bundle": "1.2.9", "public": False}
    live = app(channels={"production": CHANNEL, "beta": beta}, pins={D1: ["beta", None]})
    # A private channel is fine through a pin (an admin's or the device's own choice).
    assert outcome(live, defaultChannel="production") == "update:1.2.9"
    assert outcome(live, device_id=D2) == "update:1.2.0"


def test_a_bundle_pin_skips_the_channel_rules():
    live = app({"disable_auto_update": "major", "allow_dev": False}, pins={D1: [None, "2.0.0"]})
    assert outcome(live, is_prod=False) == "update:2.0.0"
    assert outcome(live, device_id=D2, is_prod=False) == "disable_dev_build"


def test_a_bundle_neither_stored_nor_external_is_no_bundle():
    live = app(bundles={"1.2.0": bundle(12, "1.2.0", stored=False)})
    assert outcome(live) == "no_bundle"
    live = app(bundles={"1.2.0": bundle(12, "1.2.0", stored=False, external_url="https://cdn/x.zip")})
    assert outcome(live) == "update:1.2.0"


def test_the_public_channel_is_chosen_per_platform():
    ios = CHANNEL | {"id": 1, "android": False, "bundle": "1.2.0"}
    android = CHANNEL | {"id": 2, "ios": False, "bundle": "1.2.9"}
    live = app(channels={"ios-prod": ios, "android-prod": android})
    assert outcome(live) == "update:1.2.0"
    assert outcome(live, platform="android") == "update:1.2.9"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "invalid_json_body"),
        ({"device_id": "d", "platform": "ios", "version_build": "1.0"}, "missing_info"),
        (
            {"app_id": "a", "device_id": "x" * 65, "platform": "ios", "version_build": "1"},
            "invalid_json_body",
        ),
        ({"app_id": "a", "device_id": D1, "platform": "web", "version_build": "1"}, "invalid_platform"),
        ({"app_id": "a", "device_id": "d", "platform": "ios", "version_build": "1"}, "invalid_json_body"),
        ({"app_id": "a", "device_id": D1, "platform": "ios", "version_build": "abc"}, "semver_error"),
        ({"app_id": "a", "device_id": D1, "platform": "ios", "version_build": "1.2.3.4"}, "semver_error"),
        ({"app_id": "a", "device_id": "d", "platform": "ios", "version_build": 1}, "invalid_json_body"),
        (
            {"app_id": "a", "device_id": D1, "platform": "ios", "version_build": "1", "is_prod": "yes"},
            "invalid_json_body",
        ),
    ],
)
def test_bad_bodies_name_the_problem(body, code):
    with pytest.raises(BadRequest) as err:
        parse_check(body)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("no_new_version_available", "up_to_date"),
        ("already_on_builtin", "up_to_date"),
        ("disabled_platform_ios", "blocked"),
        ("disable_auto_update_to_major", "blocked"),
        ("disable_auto_update_under_native", "blocked"),
        ("disable_dev_build", "blocked"),
        ("disable_emulator", "blocked"),
        ("cannot_update_via_private_channel", "blocked"),
        ("no_channel", "failed"),
        ("no_bundle", "failed"),
        ("app_not_found", "failed"),
        ("misconfigured_channel", "failed"),
    ],
)
def test_every_refused_update_says_its_kind_as_capgo_labels_it(code, kind):
    """Issue 20, Capgo item 5: refusals carry `kind` (up_to_date, blocked, failed) as Capgo's server's do."""
    assert update_kind(code) == kind


def worded_outcome(live: LiveApp, **fields) -> dict:
    device = check(**fields)
    refused, _ = decide(live, device)
    return worded(refused, device)


def test_refusals_are_worded_whole_as_capgo_answers_them():
    """The decision moved to the domain (store/liveupdate.py) and answers reasons; Capgo's words, `major`
    and the refused move are the dialect's, body for body as before the move."""
    moves = {"version": "2.0.0", "old": "1.1.0"}
    assert (
        worded_outcome(app({"bundle": "2.0.0", "disable_auto_update": "major"}))
        == {
            "error": "disable_auto_update_to_major",
            "message": "Cannot upgrade major version",
            "major": True,
        }
        | moves
    )
    assert worded_outcome(app({"bundle": "1.0.0"}), version_name="1.2.0") == {
        "error": "disable_auto_update_under_native",
        "message": "Cannot revert under native version",
        "version": "1.0.0",
        "old": "1.2.0",
    }
    assert worded_outcome(app({"disable_auto_update": "version_number"})) == {
        "error": "misconfigured_channel",
        "message": "Channel production is misconfigured",
        "version": "1.2.0",
        "old": "1.1.0",
    }
    android_only = CHANNEL | {"ios": False, "public": False}
    pinned = app(channels={"production": CHANNEL, "droid": android_only}, pins={D1: ["droid", None]})
    assert worded_outcome(pinned) == {
        "error": "disabled_platform_ios",
        "message": "Cannot update, ios it's disabled",
        "version": "1.2.0",
        "old": "1.1.0",
    }
    assert worded_outcome(app(), version_name="1.2.0") == {
        "error": "no_new_version_available",
        "message": "No new version available",
    }
    device = check()
    assert worded(Refusal(BAD_NATIVE_VERSION), device)["error"] == "semver_error"
