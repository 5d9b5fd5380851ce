"""Streamed uploads into storage, for every dialect that takes files (builds, icons; bundles and releases next)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import BinaryIO, cast

import falcon

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
