"""Serving stored files over HTTP: validators, conditional requests and single byte ranges (RFC 9110).

Local files go out through the WSGI server's file wrapper, which gunicorn turns into
sendfile(2) at the range's offset: the bytes never pass through Python. S3 files are
either a presigned redirect (S3 then answers the Range itself) or proxied in chunks.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import falcon

from api.etags import etag_listed
from store.storage import Backends, Storage, attachment_header

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    etag: str  # strong, quoted
    modified: dt.datetime | None  # naive UTC, whole seconds
    content_type: str = "application/octet-stream"
    download_name: str | None = None  # set: Content-Disposition: attachment


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """One satisfiable (first, last) pair; None to send the whole file; "unsatisfiable" for 416.

    A malformed header and a request for several ranges are answered with the whole file,
    as RFC 9110 allows: a client asking for several ranges still gets every byte it wants.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.match(spec)
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else int(last)
    if last != "" and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


def _http_date(value: str | None) -> dt.datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    if parsed is None:
        return None
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def not_modified(req: falcon.Request, f: StoredFile) -> bool:
    """If-None-Match (weak comparison) wins over If-Modified-Since, as RFC 9110 orders them."""
    inm = req.get_header("If-None-Match")
    if inm is not None:
        return etag_listed(inm, f.etag)
    since = _http_date(req.get_header("If-Modified-Since"))
    return since is not None and f.modified is not None and f.modified <= since


def range_applies(req: falcon.Request, f: StoredFile) -> bool:
    """If-Range: the range holds only if the client's copy is still the current one (strong comparison)."""
    validator = req.get_header("If-Range")
    if validator is None:
        return True
    validator = validator.strip()
    if validator.startswith('"') or validator.startswith("W/"):
        return not validator.startswith("W/") and validator == f.etag
    return f.modified is not None and _http_date(validator) == f.modified


class _Window:
    """A file read only between two offsets; gunicorn sends it with sendfile at the current offset."""

    def __init__(self, path: str, start: int, length: int):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by the WSGI server through close()
        self._file.seek(start)
        self._left = length

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._file.read(size) if size > 0 else b""
        self._left -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


def send_file(
    req: falcon.Request,
    resp: falcon.Response,
    storage: Storage,
    f: StoredFile,
    redirect_seconds: int | None = None,
) -> bool:
    """Answers with the file or the part asked for; True when bytes of the file are (to be) sent.

    ``redirect_seconds`` set: a backend that can presign (S3) answers with a redirect valid that long.
    """
    resp.set_header("Accept-Ranges", "bytes")
    resp.set_header("ETag", f.etag)
    resp.set_header("X-Content-Type-Options", "nosniff")
    if f.modified is not None:
        resp.set_header("Last-Modified", format_datetime(f.modified.replace(tzinfo=dt.UTC), usegmt=True))
    if f.download_name is not None:
        resp.set_header("Content-Disposition", attachment_header(f.download_name))
    if not_modified(req, f):
        resp.status = falcon.HTTP_304
        return False
    if redirect_seconds:
        url = storage.presigned_url(f.key, f.download_name or os.path.basename(f.key), redirect_seconds)
        if url is not None:
            # The object store answers Range and conditionals itself; the redirect is not cacheable.
            resp.status = falcon.HTTP_302
            resp.set_header("Location", url)
            resp.set_header("Cache-Control", "no-store")
            return req.method == "GET"
    wanted = parse_range(req.get_header("Range"), f.size) if range_applies(req, f) else None
    if isinstance(wanted, str):  # "unsatisfiable"
        resp.status = falcon.HTTP_416
        resp.set_header("Content-Range", f"bytes */{f.size}")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"error":"range not satisfiable"}'
        return False
    start, end = wanted if wanted else (0, f.size - 1)
    length = end - start + 1
    if wanted:
        resp.status = falcon.HTTP_206
        resp.set_header("Content-Range", f"bytes {start}-{end}/{f.size}")
    resp.content_type = f.content_type
    resp.content_length = length
    if req.method == "HEAD" or length == 0:
        return req.method != "HEAD"
    path = storage.local_path(f.key)
    # Falcon sends any object with read() (a file window, with sendfile) or an iterable of bytes.
    body: Any = _Window(str(path), start, length) if path is not None else storage.read(f.key, start, end)
    resp.stream = body
    return True


def file_backends(settings, storage: Storage, connection) -> Backends:
    """Every backend a stored file may be on: the deployment's storage, local disk, or a team's own S3
    bucket (its distribution settings), with the team's keys unsealed when the bucket is opened."""
    from api.secret_key import secret_key
    from store import team_settings

    def credentials(team_id: int) -> tuple[str, str]:
        key = secret_key(settings, connection)
        row = team_settings.team_settings(team_id)
        return team_settings.secret(row, "s3_access_key", key), team_settings.secret(
            row, "s3_secret_key", key
        )

    return Backends(
        storage, settings.data_dir, credentials, settings.s3_path_style, settings.storage_allow_private
    )
