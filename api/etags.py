"""If-None-Match matching (RFC 9110 weak comparison), shared by the read service and the write API's files."""

from __future__ import annotations


def etag_listed(header: str, etag: str) -> bool:
    """True when ``header`` (``*`` or a list of tags, weak or strong) names ``etag``."""
    if header.strip() == "*":
        return True
    tag = etag.removeprefix("W/")
    return any(part.strip().removeprefix("W/") == tag for part in header.split(","))
