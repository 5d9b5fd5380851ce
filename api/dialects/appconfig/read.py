"""GET /app-config/public on the read service: the active configuration from the app's snapshot, or null."""

from __future__ import annotations

import orjson

from api.dialects.appconfig import PUBLIC_PATH, message_and_status, shapes
from api.read.answers import Asked, ClientGet, Decision, Responder
from api.read.cache import SnapshotCache
from store.snapshot_format import etag

NULL = (b"null", etag(b"null"))
_APP_NOT_FOUND = orjson.dumps(message_and_status("App not found", 404))
APP_NOT_FOUND = (_APP_NOT_FOUND, etag(_APP_NOT_FOUND))


class Public(ClientGet):
    """No authentication, as the spec says; the app is ``app_id`` or the deployment's default app."""

    def __init__(self, cache: SnapshotCache, responder: Responder, default_app: str):
        super().__init__()
        self.cache, self.r, self.default_app = cache, responder, default_app
        # Answers shaped once per snapshot document: (public id, document digest) -> (body, ETag).
        self._answers: dict[tuple[str, str], tuple[bytes, str]] = {}

    def decide(self, asked: Asked) -> Decision:
        view = self.cache.state.apps.get(asked.param("app_id") or self.default_app)
        if view is None or view.state in ("app_deleted", "team_deleted"):
            return 404, APP_NOT_FOUND, False
        key = (view.public_id, view.digest)
        answer = self._answers.get(key)
        if answer is None:
            if len(self._answers) >= 4 * max(len(self.cache.state.apps), 1000):
                self._answers.clear()  # bounded: stale digests of changed apps go too
            config = view.part("appconfig")
            body = orjson.dumps(shapes.public(config)) if config else NULL[0]
            answer = self._answers[key] = (body, etag(body))
        return 200, answer, True


def routes(cache: SnapshotCache, settings, metrics) -> list[tuple[str, object]]:
    responder = Responder(settings.cache_max_age, metrics)
    return [(PUBLIC_PATH, Public(cache, responder, settings.appconfig_default_app))]
