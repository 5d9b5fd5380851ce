"""Real IPA and APK files made by the tests, with the standard layouts: an IPA's Payload/<Name>.app with a
binary Info.plist, an icon in Apple's CgBI PNG variant and a code signature directory; an APK's binary XML
AndroidManifest.xml (written here chunk by chunk, as aapt writes it), a launcher icon per density and a v1
signature's META-INF. Nothing is downloaded."""

from __future__ import annotations

import io
import plistlib
import struct
import zipfile
import zlib

PNG = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I4s", len(body), kind) + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def rgba_pixels(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """A gradient with varying alpha: premultiplying and back must be exact where alpha is 255."""
    return [
        ((x * 8) % 256, (y * 8) % 256, 128, 255 if (x + y) % 3 else 128)
        for y in range(height)
        for x in range(width)
    ]


def png(width: int, height: int, cgbi: bool = False) -> bytes:
    """An 8-bit RGBA PNG; ``cgbi``: as Xcode optimises app icons (CgBI chunk first, premultiplied BGRA, raw
    deflate with no zlib header)."""
    pixels = rgba_pixels(width, height)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for r, g, b, a in pixels[y * width : (y + 1) * width]:
            rows += bytes((b * a // 255, g * a // 255, r * a // 255, a)) if cgbi else bytes((r, g, b, a))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    if cgbi:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = deflate.compress(bytes(rows)) + deflate.flush()
        return (
            PNG
            + _chunk(b"CgBI", b"\x50\x00\x20\x06")
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", data)
            + _chunk(b"IEND", b"")
        )
    return PNG + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows))) + _chunk(b"IEND", b"")


def ipa(
    version: str = "2.3.0",
    build: str = "41",
    identifier: str = "com.example.notes",
    name: str = "Field Notes",
    min_os: str = "15.0",
) -> bytes:
    app = f"Payload/{name.replace(' ', '')}.app/"
    plist = {
        "CFBundleShortVersionString": version,
        "CFBundleVersion": build,
        "CFBundleIdentifier": identifier,
        "CFBundleDisplayName": name,
        "CFBundleName": name.replace(" ", ""),
        "MinimumOSVersion": min_os,
        "CFBundleIcons": {"CFBundlePrimaryIcon": {"CFBundleIconFiles": ["AppIcon60x60"]}},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(app + "Info.plist", plistlib.dumps(plist, fmt=plistlib.FMT_BINARY))
        z.writestr(app + "AppIcon60x60@2x.png", png(8, 8, cgbi=True))
        z.writestr(app + "AppIcon60x60@3x.png", png(12, 12, cgbi=True))
        z.writestr(app + name.replace(" ", ""), b"\xcf\xfa\xed\xfe" + b"\0" * 64)  # a Mach-O header's magic
        z.writestr(app + "_CodeSignature/CodeResources", plistlib.dumps({"files": {}}))
        z.writestr(app + "embedded.mobileprovision", b"0\x82")
    return out.getvalue()


# -- Android binary XML ------------------------------------------------------------------------------

ATTRIBUTE_IDS = {
    "versionCode": 0x0101021B,
    "versionName": 0x0101021C,
    "minSdkVersion": 0x0101020C,
    "label": 0x01010001,
    "icon": 0x01010002,
}
NO_INDEX = 0xFFFFFFFF


class _Axml:
    """Android's binary XML: a string pool (attribute names first, mapped to their resource ids), then
    namespace and element chunks."""

    def __init__(self) -> None:
        self.strings = list(ATTRIBUTE_IDS)  # the resource map covers these, in this order
        self.body = b""

    def s(self, text: str) -> int:
        if text not in self.strings:
            self.strings.append(text)
        return self.strings.index(text)

    def _node(self, kind: int, extra: bytes) -> None:
        self.body += struct.pack("<HHIII", kind, 16, 16 + len(extra), 1, NO_INDEX) + extra

    def start_namespace(self, prefix: str, uri: str) -> None:
        self._node(0x0100, struct.pack("<II", self.s(prefix), self.s(uri)))

    def end_namespace(self, prefix: str, uri: str) -> None:
        self._node(0x0101, struct.pack("<II", self.s(prefix), self.s(uri)))

    def start(self, name: str, attributes: list[tuple[str | None, str, object]]) -> None:
        android = self.s("http://schemas.android.com/apk/res/android")
        attrs = b""
        for ns, attr, value in attributes:
            if isinstance(value, int):
                raw, kind, data = NO_INDEX, 0x10, value
            elif isinstance(value, str) and value.startswith("@res:"):
                raw, kind, data = NO_INDEX, 0x01, int(value[5:], 16)
            else:
                raw = data = self.s(str(value))
                kind = 0x03
            attrs += struct.pack("<IIIHBBI", android if ns else NO_INDEX, self.s(attr), raw, 8, 0, kind, data)
        extra = struct.pack("<IIHHHHHH", NO_INDEX, self.s(name), 20, 20, len(attributes), 0, 0, 0) + attrs
        self._node(0x0102, extra)

    def end(self, name: str) -> None:
        self._node(0x0103, struct.pack("<II", NO_INDEX, self.s(name)))

    def bytes(self) -> bytes:
        encoded = [struct.pack("<H", len(t)) + t.encode("utf-16-le") + b"\0\0" for t in self.strings]
        offsets, at = b"", 0
        for e in encoded:
            offsets += struct.pack("<I", at)
            at += len(e)
        data = b"".join(encoded)
        data += b"\0" * (-len(data) % 4)
        start = 28 + len(offsets)
        pool = (
            struct.pack("<HHIIIIII", 0x0001, 28, start + len(data), len(self.strings), 0, 0, start, 0)
            + offsets
            + data
        )
        ids = b"".join(struct.pack("<I", i) for i in ATTRIBUTE_IDS.values())
        resmap = struct.pack("<HHI", 0x0180, 8, 8 + len(ids)) + ids
        content = pool + resmap + self.body
        return struct.pack("<HHI", 0x0003, 8, 8 + len(content)) + content


def manifest(package: str, version: str, code: int, label: str, min_sdk: int) -> bytes:
    x = _Axml()
    uri = "http://schemas.android.com/apk/res/android"
    x.start_namespace("android", uri)
    x.start(
        "manifest", [(None, "package", package), ("a", "versionCode", code), ("a", "versionName", version)]
    )
    x.start("uses-sdk", [("a", "minSdkVersion", min_sdk)])
    x.end("uses-sdk")
    x.start("application", [("a", "label", label), ("a", "icon", "@res:7f0d0000")])
    x.end("application")
    x.end("manifest")
    x.end_namespace("android", uri)
    return x.bytes()


def apk(
    version: str = "3.1.0",
    code: int = 310,
    package: str = "com.example.notes",
    label: str = "Field Notes",
    min_sdk: int = 24,
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("AndroidManifest.xml", manifest(package, version, code, label, min_sdk))
        z.writestr("classes.dex", b"dex\n035\0" + b"\0" * 100)
        z.writestr("resources.arsc", b"\x02\x00\x0c\x00" + b"\0" * 8)
        z.writestr("res/mipmap-mdpi-v4/ic_launcher.png", png(4, 4))
        z.writestr("res/mipmap-xxhdpi-v4/ic_launcher.png", png(16, 16))
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: gatehouse tests\r\n\r\n")
        z.writestr("META-INF/CERT.SF", "Signature-Version: 1.0\r\n\r\n")
        z.writestr("META-INF/CERT.RSA", b"0\x82\x01\x00")
    return out.getvalue()
