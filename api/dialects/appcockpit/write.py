"""AppCockpit's write endpoint: POST /v2/authenticate, with the spec's checks and texts in order."""

from __future__ import annotations

import falcon

from api.write.http import parse_json, send
from api.write.tokencache import ClientTokenCache
from store import ingest
from store.errors import DomainError, Forbidden, InvalidInput, NotAuthenticated, PaymentRequired, Unavailable
from store.tokens import client_token_digest

_LIMITS = {"user_id": 255, "app_version": 64, "environment": 64}


def _required(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise InvalidInput(f"{name} is required")
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


_WORDS = {NotAuthenticated: "Unauthorized", PaymentRequired: "Subscription expired", Forbidden: "Forbidden"}


class Authenticate:
    def __init__(self, limit: int, tokens: ClientTokenCache):
        self.limit, self.tokens = limit, tokens

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            app_id = self.tokens.app_id(
                client_token_digest(req.get_header("x-api-token")),
                lambda digest: ingest.app_for_client_token(digest).id,
            )
        except ingest.StorageReadError:
            raise Unavailable("Failed to fetch user data") from None
        except DomainError as exc:  # AppCockpit's words for its 401, 402 and 403
            raise type(exc)(_WORDS.get(type(exc), exc.message)) from None
        body = parse_json(req, self.limit)
        if not isinstance(body, dict):
            raise InvalidInput("Invalid request body")
        user_id = _required(body, "user_id")
        platform = _required(body, "platform")
        app_version = _required(body, "app_version")
        if platform not in ("ios", "android"):
            raise InvalidInput("platform must be 'ios' or 'android'")
        environment = body.get("environment")
        if environment == "":
            environment = None
        if environment is not None and not isinstance(environment, str):
            raise InvalidInput("environment must be a string")
        for name, value in (("user_id", user_id), ("app_version", app_version), ("environment", environment)):
            if value is not None and len(value) > _LIMITS[name]:
                raise InvalidInput(f"{name} must be at most {_LIMITS[name]} characters")
        try:  # atomic on its own; nothing clients read from snapshots changes, so no unit of work
            ingest.record_authentication(app_id, user_id, platform, app_version, environment)
        except ingest.StorageWriteError:
            raise Unavailable("Failed to update user version data") from None
        send(resp, {"success": True, "user_id": user_id, "platform": platform, "app_version": app_version})


def routes(limit: int, tokens: ClientTokenCache) -> list[tuple[str, object]]:
    return [("/v2/authenticate", Authenticate(limit, tokens))]
