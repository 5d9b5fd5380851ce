"""What an uploaded build says about itself: platform, version, build number, minimum OS, identifier, display
name and icon, read from an IPA (``Payload/*.app/Info.plist``, binary or XML) or an APK (the binary
``AndroidManifest.xml``, decoded by apkInspector).

Every file is hostile until read: the archive's entries are counted, their names checked (no absolute paths,
no climbing out, no absurd depth), and no entry is inflated past ``MAX_ENTRY_BYTES`` (a zip bomb stops there,
whatever its header claims). Anything unreadable is InvalidInput (a 400 in each dialect's words).
"""

from __future__ import annotations

import io
import plistlib
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO
from xml.etree import ElementTree

from store.errors import InvalidInput

MAX_ENTRIES = 50_000
MAX_DEPTH = 40
MAX_ENTRY_BYTES = 8 * 1024 * 1024  # an Info.plist, a manifest or an icon: none is near this
MAX_ICON_PIXELS = 4096 * 4096
ANDROID = "{http://schemas.android.com/apk/res/android}"


@dataclass
class BuildInfo:
    platform: str  # ios, android
    version: str
    build: str
    identifier: str
    name: str
    min_os: str = ""
    icon_png: bytes | None = field(default=None, repr=False)


def _entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise InvalidInput(f"the archive has more than {MAX_ENTRIES} entries")
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise InvalidInput(f"the archive holds a path outside itself: {name[:100]!r}")
        if len(parts) > MAX_DEPTH:
            raise InvalidInput(f"the archive nests deeper than {MAX_DEPTH} directories")
    return infos


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_ENTRY_BYTES) -> bytes:
    """An entry's bytes, inflating at most ``limit`` whatever its header claims."""
    try:
        with archive.open(info) as f:
            data = f.read(limit + 1)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
        RuntimeError,
        ValueError,
        OSError,
    ) as exc:
        raise InvalidInput(f"{info.filename[:100]} cannot be read: {exc}") from None
    if len(data) > limit:
        raise InvalidInput(f"{info.filename[:100]} inflates past {limit} bytes")
    return data


def read_build(file: BinaryIO, name: str = "") -> BuildInfo:
    """The build's own description; InvalidInput for a file that is not a readable IPA or APK (an AAB is
    refused by name: it is not installable)."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError, struct.error) as exc:
        # NotImplementedError: a directory naming a zip version or method Python does not read (the fuzz
        # test found it); UnicodeDecodeError is a ValueError.
        raise InvalidInput(f"not an IPA or APK (not a readable zip archive: {str(exc)[:200]})") from None
    with archive:
        infos = _entries(archive)
        names = {i.filename: i for i in infos}
        if "AndroidManifest.xml" in names:
            return _apk(archive, names)
        if "base/manifest/AndroidManifest.xml" in names or name.lower().endswith(".aab"):
            raise InvalidInput(
                "an Android App Bundle (.aab) cannot be installed from a link: upload an APK "
                "(bundletool build-apks --mode=universal makes one)"
            )
        plists = [i for i in infos if _is_app_plist(i.filename)]
        if plists:
            return _ipa(archive, names, plists[0])
    raise InvalidInput("not an IPA or APK: no Payload/*.app/Info.plist and no AndroidManifest.xml")


# -- iOS ---------------------------------------------------------------------------------------------


def _is_app_plist(name: str) -> bool:
    parts = name.split("/")
    return (
        len(parts) == 3 and parts[0] == "Payload" and parts[1].endswith(".app") and parts[2] == "Info.plist"
    )


def _text(plist: dict, key: str) -> str:
    value = plist.get(key)
    return value.strip()[:255] if isinstance(value, str) else ""


def _ipa(archive: zipfile.ZipFile, names: dict, info: zipfile.ZipInfo) -> BuildInfo:
    try:
        plist = plistlib.loads(_read(archive, info))
    except (
        plistlib.InvalidFileException,
        ValueError,
        TypeError,
        OverflowError,
        KeyError,
        IndexError,
        struct.error,
        RecursionError,
        ElementTree.ParseError,
    ) as exc:
        raise InvalidInput(f"Info.plist cannot be read: {str(exc)[:200]}") from None
    if not isinstance(plist, dict):
        raise InvalidInput("Info.plist is not a dictionary")
    app_dir = info.filename.rsplit("/", 1)[0] + "/"
    return BuildInfo(
        platform="ios",
        version=_text(plist, "CFBundleShortVersionString"),
        build=_text(plist, "CFBundleVersion"),
        identifier=_text(plist, "CFBundleIdentifier"),
        name=_text(plist, "CFBundleDisplayName") or _text(plist, "CFBundleName"),
        min_os=_text(plist, "MinimumOSVersion"),
        icon_png=_ipa_icon(archive, names, app_dir, plist),
    )


def _icon_names(plist: dict) -> list[str]:
    out: list[str] = []
    for key in ("CFBundleIcons", "CFBundleIcons~ipad"):
        icons = plist.get(key)
        primary = icons.get("CFBundlePrimaryIcon") if isinstance(icons, dict) else None
        files = primary.get("CFBundleIconFiles") if isinstance(primary, dict) else None
        out += [f for f in files if isinstance(f, str)] if isinstance(files, list) else []
    files = plist.get("CFBundleIconFiles")
    out += [f for f in files if isinstance(f, str)] if isinstance(files, list) else []
    return out or ["AppIcon"]


def _ipa_icon(archive: zipfile.ZipFile, names: dict, app_dir: str, plist: dict) -> bytes | None:
    """The largest PNG the plist names (AppIcon60x60@3x.png...), converted from Apple's CgBI when it is one."""
    stems = _icon_names(plist)
    candidates = [
        i
        for path, i in names.items()
        if path.startswith(app_dir)
        and "/" not in path[len(app_dir) :]
        and path.lower().endswith(".png")
        and any(path[len(app_dir) :].startswith(stem) for stem in stems)
    ]
    for info in sorted(candidates, key=lambda i: -i.file_size):
        try:
            return normal_png(_read(archive, info))
        except InvalidInput:
            continue
    return None


# -- PNG: Apple's CgBI variant -----------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIGNATURE):
        raise InvalidInput("not a PNG")
    out, at = [], len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if len(body) != length:
            raise InvalidInput("a PNG chunk is cut short")
        out.append((kind, body))
        at += 12 + length
        if kind == b"IEND":
            break
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I4s", len(body), kind) + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def normal_png(data: bytes) -> bytes:
    """A PNG browsers can show. Apple's optimised icons (a CgBI chunk first) hold raw deflate without a zlib
    header and premultiplied BGRA: those are inflated (bounded), put back in RGBA order, un-premultiplied
    and written as a standard PNG; any other PNG is returned as it is."""
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"CgBI":
        return data
    header = next((body for kind, body in chunks if kind == b"IHDR"), None)
    if header is None or len(header) != 13:
        raise InvalidInput("the icon has no image header")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour != 6 or interlace != 0 or not 0 < width * height <= MAX_ICON_PIXELS:
        raise InvalidInput("the icon is not an 8-bit RGBA image of a sane size")
    raw = b"".join(body for kind, body in chunks if kind == b"IDAT")
    row = width * 4 + 1
    inflater = zlib.decompressobj(-15)
    try:
        pixels = inflater.decompress(raw, row * height + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the icon's pixels cannot be read: {exc}") from None
    if len(pixels) != row * height:
        raise InvalidInput("the icon's pixels do not fill the image")
    out = bytearray()
    previous = bytearray(width * 4)
    for y in range(height):
        kind, line = pixels[y * row], bytearray(pixels[y * row + 1 : (y + 1) * row])
        _unfilter(kind, line, previous)
        previous = line
        for x in range(0, len(line), 4):
            b, g, r, a = line[x : x + 4]
            if a:
                r, g, b = (min(255, c * 255 // a) for c in (r, g, b))
            line[x : x + 4] = bytes((r, g, b, a))
        out += b"\x00" + line
    rest = [_chunk(kind, body) for kind, body in chunks if kind not in (b"CgBI", b"IHDR", b"IDAT", b"IEND")]
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + b"".join(rest)
        + _chunk(b"IDAT", zlib.compress(bytes(out)))
        + _chunk(b"IEND", b"")
    )


def _unfilter(kind: int, line: bytearray, previous: bytearray) -> None:
    """PNG's per-row filters, undone in place (4 bytes a pixel)."""
    for i in range(len(line)):
        left = line[i - 4] if i >= 4 else 0
        up = previous[i]
        corner = previous[i - 4] if i >= 4 else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        elif kind != 0:
            raise InvalidInput("the icon uses an unknown row filter")


# -- Android -----------------------------------------------------------------------------------------


def _apk(archive: zipfile.ZipFile, names: dict) -> BuildInfo:
    from apkInspector.axml import get_manifest  # the binary XML decoder, loaded on use

    raw = _read(archive, names["AndroidManifest.xml"])
    try:
        text = get_manifest(io.BytesIO(raw))
        root = ElementTree.fromstring(text)
    except Exception as exc:  # noqa: BLE001 - a decoder meeting hostile bytes may raise anything
        raise InvalidInput(f"AndroidManifest.xml cannot be read: {str(exc)[:200]}") from None
    if root.tag != "manifest":
        raise InvalidInput("AndroidManifest.xml has no manifest element")
    sdk = root.find("uses-sdk")
    app = root.find("application")
    label = (app.get(ANDROID + "label") or "") if app is not None else ""
    icon_ref = (app.get(ANDROID + "icon") or "") if app is not None else ""
    return BuildInfo(
        platform="android",
        version=(root.get(ANDROID + "versionName") or "")[:64],
        build=(root.get(ANDROID + "versionCode") or "")[:18],
        identifier=(root.get("package") or "")[:255],
        name="" if label.startswith("@") else label[:255],  # a resource reference needs resources.arsc
        min_os=(sdk.get(ANDROID + "minSdkVersion") or "") if sdk is not None else "",
        icon_png=_apk_icon(archive, names, icon_ref),
    )


DENSITIES = ("xxxhdpi", "xxhdpi", "xhdpi", "hdpi", "mdpi")


def _apk_icon(archive: zipfile.ZipFile, names: dict, ref: str) -> bytes | None:
    """The launcher icon PNG: the manifest's ``@mipmap/name`` (or ``@drawable/name``) at the highest density
    the archive has (a compiled adaptive icon is XML, not an image: then none)."""
    stem = ref.rsplit("/", 1)[-1] if ref.startswith("@") and "/" in ref else "ic_launcher"
    for density in DENSITIES:
        for kind in ("mipmap", "drawable"):
            for path in (f"res/{kind}-{density}-v4/{stem}.png", f"res/{kind}-{density}/{stem}.png"):
                if path in names:
                    data = _read(archive, names[path])
                    return data if data.startswith(PNG_SIGNATURE) else None
    return None
