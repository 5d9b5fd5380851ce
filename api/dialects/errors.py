"""How a dialect speaks its errors: the status for each domain error kind, and its body shape.

The write API and the read service each have one error handler; it asks the registry which dialect
owns the route that answered (or, for a path no route matched, the path's prefix) and lets that
dialect's ErrorFormat write the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from store import errors as E

DEFAULT_STATUS: dict[type, int] = {
    E.InvalidInput: 400,
    E.NotAuthenticated: 401,
    E.PaymentRequired: 402,
    E.Forbidden: 403,
    E.NotFound: 404,
    E.Conflict: 409,
    E.TooLarge: 413,
    E.TooManyRequests: 429,
    E.Unavailable: 503,
    E.BadGateway: 502,
}


@dataclass(frozen=True)
class ErrorFormat:
    """``body(message, status)`` gives the JSON object; ``status`` overrides the default mapping by kind."""

    body: Callable[[str, int], dict]
    status: dict[type, int] = field(default_factory=dict)
    # The dialect's words for a kind, where its document words a refusal its own way (else the message):
    # fixed, or worded from the request and the route's fields, (error, request, fields) -> words.
    words: dict[type, str | Callable[[E.DomainError, Any, dict], str]] = field(default_factory=dict)
    # A dialect that answers in another medium than JSON (the console's HTML pages) renders its own body.
    content_type: str = "application/json"
    page: Callable[[str, int], bytes] | None = None
    # Headers every error answer of the dialect carries (the console's security headers).
    headers: Mapping[str, str] = field(default_factory=dict)

    def status_for(self, exc: E.DomainError) -> int:
        mapping = DEFAULT_STATUS | self.status
        for kind in type(exc).__mro__:
            if kind in mapping:
                return mapping[kind]
        return 400

    def words_for(self, exc: E.DomainError, req: Any = None, params: dict | None = None) -> str:
        for kind in type(exc).__mro__:
            if kind in self.words:
                words = self.words[kind]
                return words if isinstance(words, str) else words(exc, req, params or {})
        return exc.message

    def render(self, message: str, status: int) -> bytes:
        if self.page is not None:
            return self.page(message, status)
        return orjson.dumps(self.body(message, status))


def error_key(message: str, status: int) -> dict:
    """{"error": "..."}: AppCockpit's, UpdateForge's and Gatehouse's own admin API's shape."""
    return {"error": message}
