"""AppCockpit's client checks (/versions, /maintenance): x-api-token auth, {"error": ...} bodies.

Every answer, errors included, is bytes and an ETag computed before the request
arrives: the worker renders the rule answers, this module the fixed errors.
"""

from __future__ import annotations

import time
from time import perf_counter
from typing import Any

import orjson

from api.dialects.appcockpit.parts import NO_ANSWERS
from api.dialects.appcockpit.snapshot import INACTIVE_MAINTENANCE
from api.metrics import RequestMetrics
from api.read.answers import Asked, ClientGet, Decision, Responder, ScopeAsked
from api.read.authentications import AuthRecorder
from api.read.cache import AppView, SnapshotCache
from api.read.respond import respond
from store.auth_events import AuthEvent
from store.bounds import has_nul
from store.errors import InvalidVersion
from store.snapshot_format import body, etag
from store.versions import canonical_key, from_query, parse_key


def _answer(obj) -> tuple[bytes, str]:
    data = body(obj)
    return data, etag(data)


def _error(text: str) -> tuple[bytes, str]:
    return _answer({"error": text})


UNAUTHORIZED = _error("Unauthorized")
PAYMENT_REQUIRED = _error("Subscription expired")
FORBIDDEN = _error("Forbidden")
VERSION_NOT_FOUND = _error("Version not found")
APP_NOT_FOUND = _error("App not found")
INVALID_VERSION = _error("app_version is not a valid version (expected e.g. 2.5.0)")
REQUIRED = {
    name: _error(f"{name} is required") for name in ("app_id", "app_version", "platform", "environment")
}
INACTIVE = _answer(INACTIVE_MAINTENANCE)


_PARSED: dict[str, tuple | None] = {}
_PARSED_MAX = 50_000
_PARSED_LONGEST = 64  # longer strings are parsed every time, so the memo stays under a few MB


def _parse(text: str) -> tuple | None:
    """(ordering key, canonical form) of a client version, memoised: a fleet sends few distinct strings."""
    try:
        return _PARSED[text]
    except KeyError:
        pass
    try:
        key = parse_key(text)
        parsed = (key, canonical_key(key))
    except InvalidVersion:
        parsed = None
    if len(text) <= _PARSED_LONGEST:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[text] = parsed
    return parsed


class _Check(ClientGet):
    """Shared steps of every check: the token's app, its standing, and the query parameters."""

    keyed_by = "x-api-token"

    def __init__(self, cache: SnapshotCache, responder: Responder):
        super().__init__()
        self.cache = cache
        self.r = responder

    def asked_for(self, asked: Asked, names: tuple[str, ...]) -> tuple[AppView, list[str]]:
        """The token's app and the named parameters, in the spec's order of refusals (_Refusal): the token,
        the team's standing, each parameter, then the app the token belongs to."""
        view = self.cache.app_for_header(asked.header("x-api-token"))
        if view is None:
            raise _Refusal(401, UNAUTHORIZED)
        if view.state == "team_deleted":
            raise _Refusal(403, FORBIDDEN)
        if view.state == "expired":
            raise _Refusal(402, PAYMENT_REQUIRED)
        values = []
        for name in names:
            value = asked.param(name)
            if value is None:
                raise _Refusal(400, REQUIRED[name])
            values.append(value)
        if values[0] != view.public_id:
            raise _Refusal(403, FORBIDDEN)
        return view, values


class _Refusal(Exception):
    def __init__(self, status: int, answer: tuple[bytes, str]):
        self.decision: Decision = (status, answer, False)


class Versions(_Check):
    def __init__(self, cache: SnapshotCache, responder: Responder, v2: bool):
        super().__init__(cache, responder)
        self.slot = 2 if v2 else 0

    def decide(self, asked: Asked) -> Decision:
        try:
            view, (_, app_version, platform, environment) = self.asked_for(
                asked, ("app_id", "app_version", "platform", "environment")
            )
        except _Refusal as refusal:
            return refusal.decision
        # The AppCockpit SDK builds its query string without encoding: "1.0.0+7" arrives as "1.0.0 7".
        parsed = _parse(from_query(app_version))
        if parsed is None:
            return 400, INVALID_VERSION, False
        key, canonical = parsed
        scope = f"{platform}|{environment}"
        # Any: its tuples hold the v1 answer at 0 and v2's at 2, picked by self.slot, which mypy cannot follow.
        answers: Any = view.part("appcockpit") or NO_ANSWERS
        exact = answers.exact.get(f"{scope}|{canonical}")
        if exact is not None:
            return 200, (exact[self.slot], exact[self.slot + 1]), True
        minimum = answers.minimum.get(scope)
        if minimum is not None and key < minimum[0]:
            return 200, (minimum[self.slot + 1], minimum[self.slot + 2]), True
        return 404, VERSION_NOT_FOUND, True


class Maintenance(_Check):
    def decide(self, asked: Asked) -> Decision:
        try:
            view, (_, environment) = self.asked_for(asked, ("app_id", "environment"))
        except _Refusal as refusal:
            return refusal.decision
        if view.state == "app_deleted":
            return 404, APP_NOT_FOUND, False
        return 200, (view.part("appcockpit") or NO_ANSWERS).maintenance.get(environment, INACTIVE), True


def routes(cache: SnapshotCache, settings, metrics: RequestMetrics) -> list[tuple[str, object]]:
    responder = Responder(settings.cache_max_age, metrics, vary="x-api-token")
    v1, v2 = Versions(cache, responder, v2=False), Versions(cache, responder, v2=True)
    maintenance = Maintenance(cache, responder)
    recorder = AuthRecorder(settings.redis_url, settings.auth_buffer_events, settings.auth_resend_seconds)
    return [
        ("/versions", v1),
        ("/v1/versions", v1),
        ("/v2/versions", v2),
        ("/maintenance", maintenance),
        ("/v1/maintenance", maintenance),
        ("/v2/maintenance", maintenance),
        ("/v2/authenticate", Authenticate(cache, recorder, settings.max_body_bytes, metrics)),
    ]


_LIMITS = {"user_id": 255, "app_version": 64, "environment": 64}
_JSON = (b"content-type", b"application/json")


class Refused(Exception):
    def __init__(self, status: int, text: str):
        self.status, self.text = status, text


def _required(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise Refused(400, f"{name} is required")
    if not isinstance(value, str):
        raise Refused(400, f"{name} must be a string")
    return value


class Authenticate:
    """POST /v2/authenticate straight from ASGI: the token's app from the snapshots, the spec's checks and
    texts in its order, and the event handed to the recorder (api/read/authentications.py), which answers
    once the event is in the Redis stream. 500 "Failed to fetch user data" while this process holds no
    snapshots yet; 500 "Failed to update user version data" when the event cannot be kept."""

    def __init__(self, cache: SnapshotCache, recorder: AuthRecorder, limit: int, metrics: RequestMetrics):
        self.cache, self.recorder, self.limit, self.metrics = cache, recorder, limit, metrics
        self.asgi = {"POST": self.post}

    async def shutdown(self) -> None:
        """The process stops: what the recorder still holds gets one last try (api/read/app.py's Lifespan)."""
        await self.recorder.close()

    async def post(self, scope: dict, receive, send, route: str) -> bool:
        started = perf_counter()
        try:
            status, answer = 200, await self.record(ScopeAsked(scope), receive)
        except Refused as refused:
            status, answer = refused.status, {"error": refused.text}
        data = orjson.dumps(answer)
        headers = [_JSON, (b"etag", etag(data).encode()), (b"content-length", str(len(data)).encode())]
        await respond(scope, send, status, headers, data)
        self.metrics.observe(route, "POST", status, started)
        return True

    async def record(self, asked: ScopeAsked, receive) -> dict:
        if not self.cache.loaded.is_set():
            raise Refused(500, "Failed to fetch user data")
        view = self.cache.app_for_header(asked.header("x-api-token"))
        if view is None:
            raise Refused(401, "Unauthorized")
        if view.state in ("team_deleted", "app_deleted"):
            raise Refused(403, "Forbidden")
        if view.state == "expired":
            raise Refused(402, "Subscription expired")
        body = await self.body(asked, receive)
        user_id = _required(body, "user_id")
        platform = _required(body, "platform")
        app_version = _required(body, "app_version")
        if platform not in ("ios", "android"):
            raise Refused(400, "platform must be 'ios' or 'android'")
        environment = body.get("environment")
        if environment == "":
            environment = None
        if environment is not None and not isinstance(environment, str):
            raise Refused(400, "environment must be a string")
        for name, value in (("user_id", user_id), ("app_version", app_version), ("environment", environment)):
            if value is not None and len(value) > _LIMITS[name]:
                raise Refused(400, f"{name} must be at most {_LIMITS[name]} characters")
        event = AuthEvent(view.public_id, user_id, platform, app_version, environment, time.time())
        if not await self.recorder.record(event):
            raise Refused(500, "Failed to update user version data")
        return {"success": True, "user_id": user_id, "platform": platform, "app_version": app_version}

    async def body(self, asked: ScopeAsked, receive) -> dict:
        declared = asked.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise Refused(413, "request body too large")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise Refused(400, "Invalid request body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise Refused(413, "request body too large")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        try:
            payload = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise Refused(400, "Invalid request body") from None
        if has_nul(payload):
            raise Refused(400, "strings must not contain NUL characters")
        if not isinstance(payload, dict):
            raise Refused(400, "Invalid request body")
        return payload
