"""POST /upload (fenfa's upload call): a multipart form whose file streams into the team's storage."""

from __future__ import annotations

import base64
import tempfile
from typing import BinaryIO, NamedTuple

import falcon

from api.dialects.base import WriteResource
from api.dialects.distribution import public
from api.dialects.distribution.admin import ok
from api.dialects.distribution.auth import caller
from api.write.uploads import adopt_icon, stream_form
from store import buildinfo, products, releases, team_settings
from store.errors import InvalidInput, TooLarge
from store.service import unit_of_work
from store.storage import Storage, Stored

_TEXT_FIELDS = {
    "variant_id": 32,
    "version": 64,
    "build": 18,  # digits: every 18-digit number fits the 64-bit column (the document says so too)
    "channel": 64,
    "min_os": 64,
    "changelog": 20_000,
}


class Saved(NamedTuple):
    """The release file as stored, before its row exists."""

    target: products.Variant
    backend: str
    storage: Storage
    name: str
    stored: Stored


class Upload(WriteResource):
    """POST /upload (multipart): variant_id, app_file, version, build, channel, min_os, changelog. The file
    streams into the team's storage as it arrives (Falcon's multipart parser reads parts from the socket);
    ``variant_id`` comes before ``app_file`` in the form, or in the query string."""

    # Whether the file is read first (SmartUpload): its fields fill what the form leaves out.
    reads_build = False

    def on_post(self, req, resp):
        user = caller(req)
        limit = self.ctx.settings.upload_max_bytes
        release_id = products.new_release_id()
        opened: list[tuple[BinaryIO, buildinfo.BuildInfo | None]] = []

        def save(fields: dict[str, str], name: str, stream: BinaryIO) -> Saved:
            if not fields["variant_id"]:
                raise InvalidInput("variant_id is required, before app_file")
            target = products.variant(user, fields["variant_id"])
            if self.reads_build:
                spooled = _spool(stream, limit)
                opened.append((spooled, _checked_build(target, spooled, name)))
                stream = spooled
            backend = team_settings.upload_backend(team_settings.team_settings(target.app.team_id))
            storage = self.ctx.backends.open(backend, target.app.team_id)
            key = f"dist/{target.app.public_id}/{target.public_id}/{release_id}/{name}"
            return Saved(target, backend, storage, name, storage.save(key, stream, limit))

        def discard(saved: Saved) -> None:
            saved.storage.delete(saved.stored.key)

        try:
            form = stream_form(
                req,
                limit,
                _TEXT_FIELDS,
                "app_file",
                save,
                discard,
                {"variant_id": req.get_param("variant_id") or ""},
            )
        finally:
            for spooled, _ in opened:
                spooled.close()
        saved, fields = form.saved, form.fields
        info = opened[0][1] if opened else None
        try:
            build = fields.get("build") or (info.build if info else "")
            if build and not (build.isascii() and build.isdigit() and len(build) <= 18):
                raise InvalidInput("build must be a non-negative integer of at most 18 digits")
            values = releases.ReleaseInput(
                fields.get("version") or (info.version if info else "") or "0.0.0",
                int(build) if build else None,
                fields.get("changelog", ""),
                fields.get("min_os") or (info.min_os if info else ""),
                fields.get("channel", ""),
            )
            f = saved.stored
            with unit_of_work():
                if info and info.identifier and not saved.target.identifier:
                    products.update_variant(user, saved.target.public_id, {"identifier": info.identifier})
                row = releases.create_release(
                    saved.target, release_id, values, f.key, saved.name, f.size, f.sha256, saved.backend
                )
        except BaseException:
            discard(saved)
            raise
        if info is not None:
            adopt_icon(self.ctx.storage, saved.target.app, info.icon_png)
        base = public.base_url(req, self.ctx.settings, team_settings.team_settings(saved.target.app.team_id))
        ok(resp, public.upload_answer(base, saved.target, row), falcon.HTTP_201)


def _checked_build(target: products.Variant, spooled: BinaryIO, name: str) -> buildinfo.BuildInfo | None:
    """What an iOS or Android build says about itself, refused when it is another platform's or another
    identifier's than the variant's; None for a desktop variant's file, stored as it is (as fenfa does)."""
    if target.platform not in ("ios", "android"):
        return None
    info = buildinfo.read_build(spooled, name)
    spooled.seek(0)
    if info.platform != target.platform:
        raise InvalidInput(f"this is an {info.platform} build; the variant is for {target.platform}")
    if target.identifier and info.identifier and info.identifier != target.identifier:
        raise InvalidInput(
            f"the build's identifier {info.identifier} is not the variant's {target.identifier}"
        )
    return info


def _spool(stream: BinaryIO, limit: int) -> BinaryIO:
    """The file part copied into a temporary file (read more than once: parsed, then stored), at most
    ``limit`` bytes; the file is gone once closed."""
    spooled = tempfile.TemporaryFile()
    size = 0
    while chunk := stream.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            spooled.close()
            raise TooLarge(f"upload larger than {limit} bytes")
        spooled.write(chunk)
    spooled.seek(0)
    return spooled


def parsed_answer(info: buildinfo.BuildInfo, name: str, size: int) -> dict:
    """fenfa's parse-app answer: its field names per platform, the icon as a data URL."""
    icon = (
        {"icon_base64": "data:image/png;base64," + base64.b64encode(info.icon_png).decode()}
        if info.icon_png
        else {}
    )
    common = {"platform": info.platform, "app_name": info.name, "file_size": size, "file_name": name}
    if info.platform == "ios":
        return (
            common
            | {
                "bundle_id": info.identifier,
                "version": info.version,
                "build": info.build,
                "min_os": f"iOS {info.min_os}",
            }
            | icon
        )
    code = int(info.build) if info.build.isascii() and info.build.isdigit() else 0
    sdk = {"min_sdk": f"Android {info.min_os}"} if info.min_os else {}
    return (
        common
        | {"package_name": info.identifier, "version_name": info.version, "version_code": code}
        | sdk
        | icon
    )


class ParseApp(WriteResource):
    """POST /admin/api/parse-app (multipart ``app_file``): what the build says about itself, as fenfa's admin
    UI reads it before its Smart Upload. Nothing is stored."""

    def on_post(self, req, resp):
        caller(req)
        spooled: list[tuple[BinaryIO, str]] = []

        def save(fields: dict[str, str], name: str, stream: BinaryIO):
            spooled.append((_spool(stream, self.ctx.settings.upload_max_bytes), name))
            return spooled[-1]

        form = stream_form(
            req, self.ctx.settings.upload_max_bytes, {}, "app_file", save, lambda s: s[0].close()
        )
        file, name = form.saved
        with file:
            size = file.seek(0, 2)
            file.seek(0)
            info = buildinfo.read_build(file, name)
        ok(resp, parsed_answer(info, name, size))


class SmartUpload(Upload):
    """POST /smart-upload (multipart: ``variant_id`` before ``app_file``; ``version``, ``build``, ``channel``,
    ``changelog`` override what the file says): the build is read, its identifier checked against the
    variant's (an empty one is filled from this first upload), then stored as a release, as /upload does."""

    reads_build = True
