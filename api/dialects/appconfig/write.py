"""The app-config admin routes. Checks in order: the token (401), the role (403), the app (404), the body
(400), the configuration (404), the one-active rule (409)."""

from __future__ import annotations

import falcon
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.dialects.appconfig import shapes
from api.write.auth import admin_caller
from api.write.http import OMITTED, parse_json, send
from store import appconfig
from store.errors import Forbidden, InvalidInput, NotFound
from store.service import unit_of_work


class ConfigBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    minVersion: str = Field(OMITTED, min_length=1, max_length=64)  # noqa: N815 - the spec's field names
    currentVersion: str = Field(OMITTED, min_length=1, max_length=64)  # noqa: N815
    releaseNotes: str | None = Field(None, max_length=10_000)  # noqa: N815
    isActive: bool = OMITTED  # noqa: N815

    def fields(self) -> dict:
        names = {
            "minVersion": "min_version",
            "currentVersion": "current_version",
            "releaseNotes": "release_notes",
            "isActive": "is_active",
        }
        return {names[k]: v for k, v in self.model_dump(exclude_unset=True).items()}


class Scope:
    """Who is asking and about which app: the app_id query parameter, else the deployment's default app.
    Refusals are worded by the dialect's table (api/dialects/appconfig/__init__.py)."""

    def __init__(self, default_app: str, limit: int):
        self.default_app, self.limit = default_app, limit

    def app(self, req: falcon.Request):
        user = admin_caller(req)
        if user.role not in ("admin", "super_admin"):
            raise Forbidden("admin role required")
        try:
            return appconfig.app_for(user, req.get_param("app_id") or self.default_app)
        except Forbidden:  # an app of a team the caller only reads is, for this API, no app at all
            raise NotFound("app not found") from None

    def body(self, req: falcon.Request) -> dict:
        payload = parse_json(req, self.limit)
        if not isinstance(payload, dict):
            raise InvalidInput("the body must be a JSON object")
        try:
            return ConfigBody.model_validate(payload).fields()
        except ValidationError:
            raise InvalidInput("the body does not match the configuration's fields") from None


class Configs:
    def __init__(self, scope: Scope):
        self.scope = scope

    def on_get(self, req, resp):
        app = self.scope.app(req)
        send(resp, [shapes.config(row) for row in appconfig.list_configs(app)])

    def on_post(self, req, resp):
        app = self.scope.app(req)
        fields = self.scope.body(req)
        with unit_of_work():
            row = appconfig.create_config(app, fields)
        # 200: the document says "Unless noted, successful responses are 200 OK", and create is not noted.
        send(resp, shapes.config(row))


class Config:
    def __init__(self, scope: Scope):
        self.scope = scope

    def on_get(self, req, resp, config_id):
        app = self.scope.app(req)
        row = appconfig.get_config(app, config_id)
        send(resp, shapes.config(row))

    def on_put(self, req, resp, config_id):
        app = self.scope.app(req)
        fields = self.scope.body(req)
        with unit_of_work():
            row = appconfig.update_config(app, config_id, fields)
        send(resp, shapes.config(row))

    def on_delete(self, req, resp, config_id):
        app = self.scope.app(req)
        with unit_of_work():
            appconfig.delete_config(app, config_id)
        resp.status = falcon.HTTP_204


class Active:
    def __init__(self, scope: Scope):
        self.scope = scope

    def on_put(self, req, resp):
        app = self.scope.app(req)
        fields = self.scope.body(req)
        with unit_of_work():
            row = appconfig.put_active(app, fields)
        send(resp, shapes.config(row))


def routes(settings) -> list[tuple[str, object]]:
    scope = Scope(settings.appconfig_default_app, settings.max_body_bytes)
    return [
        ("/app-config", Configs(scope)),
        ("/app-config/active", Active(scope)),
        ("/app-config/{config_id}", Config(scope)),
    ]
