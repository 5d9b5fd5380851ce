"""The headers every console answer carries, pages and errors alike (read-only: shared by every answer)."""

from collections.abc import Mapping
from types import MappingProxyType

# No inline script may run: the console's script is one file from this origin. Inline SVG charts draw with
# presentation attributes, which style-src does not govern.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Content-Security-Policy": CSP,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
)
