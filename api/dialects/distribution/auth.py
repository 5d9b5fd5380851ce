"""Who calls the distribution admin API: a Gatehouse admin token in ``X-Auth-Token``, as fenfa's UI sends it."""

from __future__ import annotations

import falcon

from api.write.auth import token_caller
from store import accounts
from store.errors import NotAuthenticated


def caller(req: falcon.Request) -> accounts.User:
    """The admin whose Gatehouse token is in X-Auth-Token."""
    token = (req.get_header("X-Auth-Token") or "").strip()
    try:
        # An upload key is fenfa's upload token: good for uploads alone.
        return token_caller(req, token or None, upload_only=True)
    except NotAuthenticated:
        raise NotAuthenticated("invalid or missing X-Auth-Token") from None
