"""Streamed uploads into storage, for every dialect that takes files: a raw body (builds, icons, bundles) or
one file of a multipart form (the distribution server's releases)."""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import falcon

from store import catalog
from store.errors import InvalidInput, TooLarge
from store.service import unit_of_work
from store.storage import Storage, Stored


def store_upload(
    req: falcon.Request, storage: Storage, key: str, max_bytes: int, attach: Callable[[Stored], str | None]
) -> None:
    """Streams the body into storage, then points the record at it in one transaction.

    The file is complete before any row refers to it; a failed commit deletes it, and the file it
    replaced is deleted only after the commit, so a reader never meets a row without its file. A file
    already at ``key`` (the same icon name uploaded again) is never touched by a failed upload: the new
    one is written beside it and moved into place after the commit.
    """
    if req.content_length is None:
        raise falcon.HTTPLengthRequired(description="Content-Length is required")
    if req.content_length > max_bytes:
        raise TooLarge(f"upload larger than {max_bytes} bytes")
    if req.content_length == 0:
        raise InvalidInput("the upload is empty: send the file as the request body")
    staged = storage.exists(key)
    written = f"{key}.upload-{secrets.token_hex(8)}" if staged else key
    stored = storage.save(written, cast(BinaryIO, req.bounded_stream), max_bytes)  # reads as a binary file
    try:
        if stored.size != req.content_length:  # the client went away; the server saw a short body
            raise InvalidInput(f"upload incomplete: received {stored.size} of {req.content_length} bytes")
        with unit_of_work():
            replaced = attach(Stored(key, stored.size, stored.sha256))
    except BaseException:
        storage.delete(written)
        raise
    if staged:
        storage.move(written, key)
    if replaced and replaced != key:
        storage.delete(replaced)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str | None, default: str = "app.bin") -> str:
    """A client's file name reduced to a safe last path segment (letters, digits, '.', '_', '-')."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = _UNSAFE_NAME.sub("_", base).strip("._")[:120]
    return clean or default


@dataclass
class Form:
    """A multipart form read by ``stream_form``: its text fields, and what ``save`` made of its file."""

    fields: dict[str, str]
    saved: Any = None


def stream_form(
    req: falcon.Request,
    max_bytes: int,
    text_limits: dict[str, int],
    file_field: str,
    save: Callable[[dict[str, str], str, BinaryIO], Any],
    discard: Callable[[Any], None],
    fields: dict[str, str] | None = None,
) -> Form:
    """Reads a multipart/form-data upload as it arrives (Falcon's parser reads parts from the socket): each
    text field bounded by ``text_limits`` (others are skipped), and one file handed to ``save(fields read
    so far, its safe name, its stream)``, which streams it into storage. Whatever fails after the file was
    saved hands it to ``discard``; a second file, or none, is refused."""
    if not (req.content_type or "").lower().startswith("multipart/form-data"):
        raise falcon.HTTPUnsupportedMediaType(description="the upload must be multipart/form-data")
    if req.content_length is None:
        raise falcon.HTTPLengthRequired(description="Content-Length is required")
    if req.content_length > max_bytes + 1024 * 1024:  # the file and its form's other fields
        raise TooLarge(f"upload larger than {max_bytes} bytes")
    form = Form(dict(fields or {}))
    try:
        for part in req.get_media():
            if part.name == file_field:
                if form.saved is not None:
                    raise InvalidInput(f"only one {file_field} may be sent")
                form.saved = save(form.fields, safe_file_name(part.filename), part.stream)
            elif part.name in text_limits:
                value = part.get_text() or ""
                if len(value) > text_limits[part.name] or "\x00" in value:
                    raise InvalidInput(f"{part.name} is too long or holds NUL characters")
                form.fields[part.name] = value.strip()
        if form.saved is None:
            raise InvalidInput(f"{file_field} is required")
    except BaseException:
        if form.saved is not None:
            discard(form.saved)
        raise
    return form


def adopt_icon(storage: Storage, app, png: bytes | None) -> None:
    """The app's icon (UpdateForge's listing, the public page) from the first build that carries one: an icon
    the app already has, uploaded or read, is kept."""
    if not png or app.icon:
        return
    storage.save(catalog.icon_key(app, "icon.png"), io.BytesIO(png), len(png))
    with unit_of_work():
        catalog.set_icon(app, "icon.png")
