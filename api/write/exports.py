"""CSV exports that stream, for every dialect that exports (the audit log, the distribution's releases,
events and devices): rows are read in keyset batches (store/pagination.py) and written out as they come,
so memory stays flat however many rows there are. Cells a spreadsheet would run as a formula are
neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import falcon

from store.storage import attachment_header

# A leading =, +, -, @ (or a tab or carriage return before one) makes Excel, LibreOffice and Sheets
# evaluate the cell; a leading apostrophe makes them show it as text (OWASP's CSV injection advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FLUSH_BYTES = 64 * 1024


def cell(value) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def stream_csv(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """The header, then the rows, in chunks of about 64 KiB (RFC 4180 quoting, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def send_csv(resp: falcon.Response, name: str, header: list[str], rows: Iterable[list]) -> None:
    """Answers with the rows as a streamed CSV attachment."""
    resp.content_type = "text/csv; charset=utf-8"
    resp.set_header("Content-Disposition", attachment_header(name))
    resp.set_header("Cache-Control", "no-store")
    resp.stream = stream_csv(header, rows)
