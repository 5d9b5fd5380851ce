"""The device body parser's quick path (api/dialects/capgo/checks.py: parse_check) against the field-by-field
one it falls back to: for every body, the same Check, or the same error code and message."""

from __future__ import annotations

import random

import pytest

from api.dialects.capgo.checks import BadRequest, _parse_every_field, parse_check
from store import bounds

UUID = "0f0e0d0c-0b0a-4908-8706-050403020100"
# Each field's variants: absent (...), empty, None, well-formed, too long, a NUL, the wrong type.
VARIANTS = {
    "app_id": [..., "", None, "com.example.app", "a" * bounds.PACKAGE_NAME, "a" * (bounds.PACKAGE_NAME + 1),
               "com.ex\x00", 7],
    "device_id": [..., "", None, UUID, UUID.upper(), UUID[:-1], UUID + "0", "not-a-uuid", UUID.replace("0", "\x00", 1),
                  ["x"]],
    "platform": [..., "", None, "ios", "android", "electron", "windows", "IOS", 3, ["ios"]],
    "version_build": [..., "", None, "1.0.0", "builtin", "1.2", "v1.2.3", "1.0.0-beta.1+7", "01.0.0", "1.0.0.0",
                      "9" * (bounds.VERSION_BUILD + 1), "1\x00", 1.0],
    "version_name": [..., "", None, "builtin", "1.1.0", "x" * (bounds.VERSION_NAME + 1), "a\x00", {}],
    "plugin_version": [..., "", None, "6.3.0", "p" * (bounds.PLUGIN_VERSION + 1), False],
    "version_os": [..., "", None, "17.1", "o" * (bounds.OS_VERSION + 1)],
    "custom_id": [..., "", None, " someone ", "c" * (bounds.CUSTOM_ID + 1), 12],
    "defaultChannel": [..., "", None, "beta", "b" * (bounds.CHANNEL_NAME + 1)],
    "is_emulator": [..., None, True, False, "true", 0],
    "is_prod": [..., None, True, False, "false", 1],
}  # fmt: skip


def outcome(parse, body, need_versions: bool):
    try:
        return parse(body, need_versions)
    except BadRequest as bad:
        return ("refused", bad.code, bad.message)


def bodies(count: int, seed: int):
    rng = random.Random(seed)
    well_formed = {name: values[3] for name, values in VARIANTS.items()}
    yield well_formed
    # One field changed at a time, then any mixture.
    for name, values in VARIANTS.items():
        for value in values:
            yield {**well_formed, name: value}
    for _ in range(count):  # mostly well-formed, so that many are accepted and compared whole
        yield {
            name: values[3] if rng.random() < 0.8 else rng.choice(values) for name, values in VARIANTS.items()
        }


@pytest.mark.parametrize("need_versions", [True, False])
def test_the_quick_path_answers_every_body_as_the_field_by_field_one(need_versions):
    taken = 0
    for raw in bodies(20_000, seed=24 + need_versions):
        body = {k: v for k, v in raw.items() if v is not ...}
        quick, full = (
            outcome(parse_check, body, need_versions),
            outcome(_parse_every_field, body, need_versions),
        )
        assert quick == full, body
        assert type(quick) is type(full)
        taken += quick[0] != "refused"
    assert taken > 2_000  # the corpus reaches the accepted bodies too, not only refusals


@pytest.mark.parametrize("body", [None, [], "x", 3, [{"app_id": "a"}]])
def test_what_is_not_an_object_is_refused_alike(body):
    assert outcome(parse_check, body, True) == outcome(_parse_every_field, body, True)
    assert outcome(parse_check, body, True)[:2] == ("refused", "invalid_json_body")
