"""POST /upload (fenfa's upload call): a multipart form whose file streams into the team's storage."""

from __future__ import annotations

from typing import BinaryIO, NamedTuple

import falcon

from api.dialects.base import WriteResource
from api.dialects.distribution import public
from api.dialects.distribution.admin import ok
from api.dialects.distribution.auth import caller
from api.write.uploads import stream_form
from store import products, releases, team_settings
from store.errors import InvalidInput
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

    def on_post(self, req, resp):
        user = caller(req)
        limit = self.ctx.settings.upload_max_bytes
        release_id = products.new_release_id()

        def save(fields: dict[str, str], name: str, stream: BinaryIO) -> Saved:
            if not fields["variant_id"]:
                raise InvalidInput("variant_id is required, before app_file")
            target = products.variant(user, fields["variant_id"])
            backend = team_settings.upload_backend(team_settings.team_settings(target.app.team_id))
            storage = self.ctx.backends.open(backend, target.app.team_id)
            key = f"dist/{target.app.public_id}/{target.public_id}/{release_id}/{name}"
            return Saved(target, backend, storage, name, storage.save(key, stream, limit))

        def discard(saved: Saved) -> None:
            saved.storage.delete(saved.stored.key)

        form = stream_form(
            req,
            limit,
            _TEXT_FIELDS,
            "app_file",
            save,
            discard,
            {"variant_id": req.get_param("variant_id") or ""},
        )
        saved, fields = form.saved, form.fields
        try:
            build = fields.get("build") or ""
            if build and not (build.isascii() and build.isdigit()):
                raise InvalidInput("build must be a non-negative integer of at most 18 digits")
            values = releases.ReleaseInput(
                fields.get("version") or "0.0.0",
                int(build) if build else None,
                fields.get("changelog", ""),
                fields.get("min_os", ""),
                fields.get("channel", ""),
            )
            f = saved.stored
            with unit_of_work():
                row = releases.create_release(
                    saved.target, release_id, values, f.key, saved.name, f.size, f.sha256, saved.backend
                )
        except BaseException:
            discard(saved)
            raise
        base = public.base_url(req, self.ctx.settings, team_settings.team_settings(saved.target.app.team_id))
        ok(resp, public.upload_answer(base, saved.target, row), falcon.HTTP_201)
