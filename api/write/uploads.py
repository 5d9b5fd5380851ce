"""Streamed uploads into storage, for every dialect that takes files (builds, icons; bundles and releases next)."""

from __future__ import annotations

from collections.abc import Callable

import falcon

from store.errors import InvalidInput, TooLarge
from store.service import unit_of_work
from store.storage import Storage, Stored


def store_upload(
    req: falcon.Request, storage: Storage, key: str, max_bytes: int, attach: Callable[[Stored], str | None]
) -> None:
    """Streams the body into storage, then points the record at it in one transaction.

    The file is complete before any row refers to it; a failed commit deletes it, and the file it
    replaced is deleted only after the commit, so a reader never meets a row without its file.
    """
    if req.content_length is None:
        raise falcon.HTTPLengthRequired(description="Content-Length is required")
    if req.content_length > max_bytes:
        raise TooLarge(f"upload larger than {max_bytes} bytes")
    stored = storage.save(key, req.bounded_stream, max_bytes)
    try:
        if stored.size != req.content_length:  # the client went away; the server saw a short body
            raise InvalidInput(f"upload incomplete: received {stored.size} of {req.content_length} bytes")
        with unit_of_work():
            replaced = attach(stored)
    except BaseException:
        storage.delete(stored.key)
        raise
    if replaced and replaced != stored.key:
        storage.delete(replaced)
