"""Reading builds (store/buildinfo.py): real IPA and APK files made by tests/builds.py, Apple's CgBI icons
made viewable, and a corpus of hostile files that must each be refused (InvalidInput, a 400 in every
dialect) within bounded memory."""

from __future__ import annotations

import functools
import io
import random
import struct
import tracemalloc
import zipfile
import zlib

import pytest

from store.buildinfo import read_build
from store.errors import InvalidInput
from tests import builds


def test_an_ipa_says_what_it_is():
    info = read_build(
        io.BytesIO(builds.ipa("2.3.0", "41", "com.example.notes", "Field Notes", "15.0")), "n.ipa"
    )
    assert (info.platform, info.version, info.build, info.identifier, info.name, info.min_os) == (
        "ios",
        "2.3.0",
        "41",
        "com.example.notes",
        "Field Notes",
        "15.0",
    )


def test_an_apk_says_what_it_is():
    info = read_build(io.BytesIO(builds.apk("3.1.0", 310, "com.example.notes", "Field Notes", 24)), "n.apk")
    assert (info.platform, info.version, info.build, info.identifier, info.name, info.min_os) == (
        "android",
        "3.1.0",
        "310",
        "com.example.notes",
        "Field Notes",
        "24",
    )
    assert info.icon_png == builds.png(16, 16)  # the highest density the archive has


def _pixels(data: bytes) -> tuple[int, int, bytes]:
    """Decodes a standard 8-bit RGBA PNG written with filter 0 (as normal_png writes it)."""
    at, idat, header = 8, b"", b""
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        assert kind != b"CgBI"
        at += 12 + length
    width, height = struct.unpack(">II", header[:8])
    raw = zlib.decompress(idat)  # a standard zlib stream: browsers can read it
    rows = b"".join(raw[y * (width * 4 + 1) + 1 : (y + 1) * (width * 4 + 1)] for y in range(height))
    return width, height, rows


def test_an_apple_optimised_icon_becomes_a_png_browsers_show():
    info = read_build(io.BytesIO(builds.ipa()), "n.ipa")
    width, height, rows = _pixels(info.icon_png)
    assert (width, height) == (12, 12)  # the @3x, the largest the plist names
    expected = builds.rgba_pixels(12, 12)
    for n, (r, g, b, a) in enumerate(expected):
        got = tuple(rows[n * 4 : n * 4 + 4])
        if a == 255:
            assert got == (r, g, b, a)
        else:  # premultiplied and back loses the low bits: within one step of the original
            assert got[3] == a and all(abs(x - y) <= 2 for x, y in zip(got[:3], (r, g, b), strict=True))


def test_an_app_bundle_is_refused_with_what_to_upload_instead():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("base/manifest/AndroidManifest.xml", b"\x0a\x05proto")
    with pytest.raises(InvalidInput, match="bundletool"):
        read_build(io.BytesIO(out.getvalue()), "app.aab")


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in entries.items():
            z.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def _bomb(claimed: int = 10) -> bytes:
    """A zip whose one entry inflates to 200 MB of zeros (about 200 KB deflated) and claims ``claimed``."""
    deflate, crc, block = zlib.compressobj(9, zlib.DEFLATED, -15), 0, b"\0" * 1_048_576
    parts = []
    for _ in range(200):
        parts.append(deflate.compress(block))
        crc = zlib.crc32(block, crc)
    body = b"".join(parts) + deflate.flush()
    name = b"Payload/Bomb.app/Info.plist"
    local = (
        struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), claimed, len(name), 0) + name
    )
    fields = (0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(body), claimed, len(name), 0, 0, 0, 0, 0, 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", *fields) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    return local + body + central + end


@functools.cache  # a second to make (the bombs compress 200 MB): once per process, not once per case
def corpus() -> dict[str, bytes]:
    """Hostile files, made here: each must be refused."""
    plist_garbage = b"bplist00" + bytes(random.Random(1).randrange(256) for _ in range(300))
    deep = "/".join(["d"] * 1000) + "/x"
    return {
        "zip bomb claiming 10 bytes": _bomb(),
        "zip bomb declaring its 200 MB": _bomb(200 * 1_048_576),
        "climbs out": _zip({"Payload/A.app/../../../etc/passwd": b"x", "Payload/A.app/Info.plist": b"x"}),
        "absolute path": _zip({"/Payload/A.app/Info.plist": b"x"}),
        "malformed plist": _zip({"Payload/A.app/Info.plist": plist_garbage}),
        "xml plist bomb": _zip(
            {
                "Payload/A.app/Info.plist": b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa">]><plist><dict><key>k</key><string>&a;</string></dict></plist>'
            }
        ),
        "plist not a dict": _zip(
            {"Payload/A.app/Info.plist": b'<?xml version="1.0"?><plist><array/></plist>'}
        ),
        "malformed binary xml": _zip(
            {"AndroidManifest.xml": b"\x03\x00\x08\x00\xff\xff\xff\x7f" + b"\x01" * 64}
        ),
        "text manifest": _zip({"AndroidManifest.xml": b"<manifest package='x'/>"}),
        "1000 nested directories": _zip({deep: b"x"}),
        "not a zip": b"MZ" + b"\0" * 100,
        "empty": b"",
        "truncated": builds.apk()[:300],
        "cut before its directory ends": _zip({"AndroidManifest.xml": b"\0" * 10}, zipfile.ZIP_STORED)[:-22],
    }


@pytest.mark.parametrize("name", list(corpus()))
def test_a_hostile_file_is_refused(name):
    with pytest.raises(InvalidInput):
        read_build(io.BytesIO(corpus()[name]), "x.ipa")


def test_the_corpus_and_a_fuzzed_thousand_stay_within_bounded_memory(capsys):
    """Every file of the corpus, and 1,000 valid IPAs and APKs with bytes flipped at random, are read or
    refused (InvalidInput, nothing else); the peak of Python's allocations is printed and bounded."""
    rng = random.Random(23)
    files = list(corpus().values())
    for original in (builds.ipa(), builds.apk()):
        for _ in range(500):
            data = bytearray(original)
            for _ in range(rng.randrange(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            files.append(bytes(data))
    tracemalloc.start()
    read, refused = 0, 0
    try:
        for data in files:
            try:
                read_build(io.BytesIO(data), "x")
                read += 1
            except InvalidInput:
                refused += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with capsys.disabled():
        print(
            f"\nbuild reading: {len(files)} files, {read} read, {refused} refused, peak {peak / 1e6:.1f} MB"
        )
    assert read + refused == len(files) and refused >= len(corpus())
    assert peak < 64e6  # the 200 MB bomb is stopped at 8 MB inflated


def test_the_admin_artifact_upload_refuses_a_file_that_is_another_version_or_app(api, world):
    from store.models import Build

    def upload(version: str, data: bytes, name: str = "app.ipa"):
        made = api.simulate_post(
            f"/admin/v1/apps/{world.app_id}/builds",
            json={"build_type": "release", "version": version},
            headers=world.auth,
        )
        assert made.status_code == 201, made.text
        return made.json["id"], api.simulate_put(
            f"/admin/v1/apps/{world.app_id}/builds/{made.json['id']}/artifact",
            params={"filename": name},
            body=data,
            headers=world.auth | {"Content-Type": "application/octet-stream"},
        )

    build_id, wrong_version = upload("2.0.0", builds.ipa(version="2.3.0", identifier="com.example.demo"))
    assert (
        wrong_version.status_code == 400
        and "the file is version 2.3.0; this build is 2.0.0" in wrong_version.json["error"]
    )
    assert Build.get_by_id(build_id).file_key is None  # nothing half-written
    _, wrong_app = upload("2.3.0", builds.ipa(version="2.3.0", identifier="com.other.app"))
    assert wrong_app.status_code == 400 and "this app is com.example.demo" in wrong_app.json["error"]
    build_id, right = upload("2.3.1", builds.ipa(version="2.3.1", identifier="com.example.demo"))
    assert right.status_code == 200 and Build.get_by_id(build_id).file_name == "app.ipa"
    # Its icon became the app's: UpdateForge's listing links it, and it is a PNG browsers show.
    token = api.simulate_post(
        "/api/v1/auth", json={"email": "owner@example.com", "password": "correct horse battery"}
    ).json["token"]
    listing = api.simulate_get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"}).text
    assert f"/api/files/apps/{world.app_id}/icon.png" in listing
    icon = api.simulate_get(f"/api/files/apps/{world.app_id}/icon.png")
    assert icon.status_code == 200 and icon.content.startswith(b"\x89PNG") and b"CgBI" not in icon.content
    _, other_file = upload("9.9.9", b"any bytes", "notes.txt")  # not a build that names itself: as before
    assert other_file.status_code == 200
    _, opaque = upload("9.9.8", b"not a zip", "legacy.apk")  # no archive at all: kept opaque, as before
    assert opaque.status_code == 200
    build_id, bomb = upload("9.9.7", _bomb(200 * 1_048_576), "bomb.ipa")  # a hostile archive: refused
    assert bomb.status_code == 400 and "inflates past 8388608 bytes" in bomb.json["error"]
    assert Build.get_by_id(build_id).file_key is None
