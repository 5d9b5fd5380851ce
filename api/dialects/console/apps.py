"""The apps list and an app's page: environments, client tokens, version rules, maintenance, adoption."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from urllib.parse import quote

import falcon
import orjson

from api.dialects.console import auth, charts
from api.dialects.console.forms import flag, integer, messages, text
from api.dialects.console.pages import PER_PAGE, Resource, number, page, see_other, uploaded
from api.write.exports import send_csv
from api.write.uploads import stream_form
from store import (
    accounts,
    adoption,
    appconfig,
    builds,
    catalog,
    client_tokens,
    environments,
    maintenance,
    outbox,
    rules,
)
from store.errors import InvalidInput
from store.service import unit_of_work
from store.snapshot_format import PUBLISHED_KEY
from store.vocabulary import BUILD_TYPES

PERIODS = (7, 30, 90)
PERIOD_COOKIE = "gh_period"


def period(req: falcon.Request, resp: falcon.Response | None = None) -> int:
    """The chart period the user chose (kept in a cookie), 30 days by default."""
    chosen = req.get_param("days")
    if chosen in {str(p) for p in PERIODS}:
        if resp is not None:
            resp.set_cookie(
                PERIOD_COOKIE,
                chosen,
                max_age=365 * 86400,
                path="/console",
                http_only=True,
                same_site="Lax",
                secure=req.scheme == "https",
            )
        return int(chosen)
    kept = req.get_cookie_values(PERIOD_COOKIE)
    return int(kept[0]) if kept and kept[0] in {str(p) for p in PERIODS} else 30


class Apps(Resource):
    """GET lists the visitor's apps (search, pages of 50); POST creates one in a team the visitor writes in."""

    def on_get(self, req, resp):
        visitor = self.visitor(req)
        search = (req.get_param("q") or "").strip()[:200]
        result = catalog.list_apps(visitor.user, None, number(req, "page", 1, 100_000), PER_PAGE, search)
        teams = accounts.list_teams(visitor.user, 1, 200).rows if visitor.writes else []
        page(resp, "apps.html", visitor, result=result, search=search, teams=teams, query=quote(search))

    def on_post(self, req, resp):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        team_id = integer(form, "team_id", 1, 10**17)
        with unit_of_work():
            app = catalog.create_app(
                visitor.user,
                team_id,
                text(form, "title", limit=200),
                package_name=text(form, "package_name", required=False, limit=255),
            )
        raise see_other(f"/console/apps/{app.public_id}")


def _serving(console, app) -> dict:
    """Whether the read service serves the app's last change yet, and since when."""
    pending = bool(outbox.current_seqs([app.id]))
    published = console.connection.hget(PUBLISHED_KEY, app.public_id)
    since = dt.datetime.fromtimestamp(float(published), dt.UTC) if published else None
    return {"pending": pending, "since": since.isoformat(timespec="seconds") if since else None}


class AppView(Resource):
    """Renders an app's page (GET here, and the answer that shows a new token once)."""

    def render(self, req, resp, visitor, app_id: str, status: int = 200, **extra) -> None:
        app = catalog.get_app(visitor.user, app_id)
        days = period(req, resp)
        until = dt.date.today()
        chart = adoption.version_adoption(visitor.user, app_id, until - dt.timedelta(days=days - 1), until)
        page(
            resp,
            "app.html",
            visitor,
            status,
            app=app,
            environments=environments.list_environments(visitor.user, app_id, 1, 100).rows,
            tokens=client_tokens.list_client_tokens(visitor.user, app_id, 1, 100).rows,
            rules=rules.list_version_rules(visitor.user, app_id, {}, 1, 100).rows,
            minimum_rules=rules.list_minimum_rules(visitor.user, app_id, 1, 100).rows,
            maintenance=maintenance.list_maintenance(visitor.user, app_id),
            serving=_serving(self.console, app),
            days=days,
            periods=PERIODS,
            adoption_svg=charts.adoption(chart),
            below_svg=charts.below_minimum(chart),
            builds=builds.list_builds(visitor.user, app_id, 1, 100).rows,
            build_types=BUILD_TYPES,
            config=appconfig.active_config(app.id) if visitor.writes else None,
            **({"new_token": None} | extra),
        )


class AppPage(AppView):
    def on_get(self, req, resp, app_id):
        self.render(req, resp, self.visitor(req), app_id)


class Tokens(AppView):
    """POST creates a client token and shows it on this answer only (it is stored as a digest)."""

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        catalog.get_app(visitor.user, app_id, write=True)  # another team's app: 404 before any field
        with unit_of_work():
            _, raw = client_tokens.create_client_token(visitor.user, app_id, text(form, "name", False, 200))
        self.render(req, resp, visitor, app_id, 201, new_token=raw)


class Environments(Resource):
    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        catalog.get_app(visitor.user, app_id, write=True)  # another team's app: 404 before any field
        with unit_of_work():
            environments.create_environment(visitor.user, app_id, text(form, "alias", limit=64))
        raise see_other(f"/console/apps/{app_id}#environments")


def _rule_fields(form: dict[str, str], version_field: str) -> dict:
    fields: dict = {
        "environment": text(form, "environment", limit=64),
        "platform": text(form, "platform", limit=16),
        version_field: text(form, version_field, limit=64),
        "force_update": flag(form, "force_update"),
        "update_message": text(form, "update_message", required=False) or None,
        "update_messages": messages(form) or None,
    }
    return fields


class RuleForm(Resource):
    """POST adds a version rule through its store function: an exact one (``/v1/versions`` answers it once
    the snapshot is rebuilt) or a minimum version."""

    def __init__(self, console, create: Callable, version_field: str, anchor: str) -> None:
        super().__init__(console)
        self.create, self.version_field, self.anchor = create, version_field, anchor

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        catalog.get_app(visitor.user, app_id, write=True)  # another team's app: 404 before any field
        with unit_of_work():
            self.create(visitor.user, app_id, _rule_fields(form, self.version_field))
        raise see_other(f"/console/apps/{app_id}#{self.anchor}")


class Removal(Resource):
    """POST removes one row of an app (a rule, a token) through its store function."""

    def __init__(self, console, remove: Callable, anchor: str) -> None:
        super().__init__(console)
        self.remove, self.anchor = remove, anchor

    def on_post(self, req, resp, app_id, row_id):
        visitor = self.visitor(req)
        self.form(req, visitor)
        with unit_of_work():
            self.remove(visitor.user, app_id, row_id)
        raise see_other(f"/console/apps/{app_id}#{self.anchor}")


class Maintenance(Resource):
    """GET asks for confirmation (the form says what clients will see); POST switches it."""

    def on_get(self, req, resp, app_id, alias):
        visitor = self.visitor(req)
        app = catalog.get_app(visitor.user, app_id)
        state = maintenance.get_maintenance(visitor.user, app_id, alias)
        page(resp, "maintenance.html", visitor, app=app, state=state)

    def on_post(self, req, resp, app_id, alias):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        catalog.get_app(visitor.user, app_id, write=True)  # another team's app: 404 before any field
        active = form.get("active") == "on"
        fields: dict = {"active": active}
        if active:
            fields["title"] = text(form, "title", required=False, limit=200) or None
            fields["description"] = text(form, "description", required=False) or None
        with unit_of_work():
            maintenance.set_maintenance(visitor.user, app_id, alias, fields)
        raise see_other(f"/console/apps/{app_id}#maintenance")


class Serving(Resource):
    """JSON for the page's script: is the last change served yet (polled after a switch)."""

    def on_get(self, req, resp, app_id):
        visitor = self.visitor(req)
        app = catalog.get_app(visitor.user, app_id)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps(_serving(self.console, app))
        resp.set_header("Cache-Control", "no-store")


class Impact(Resource):
    """How many users of the last 30 days a minimum version would send to the update screen, per platform
    and environment: a page without JavaScript, JSON for the rule editor's live preview."""

    def on_get(self, req, resp, app_id):
        visitor = self.visitor(req)
        minimum = (req.get_param("minimum") or "").strip()
        if not minimum:
            raise InvalidInput("minimum is required")
        rows = adoption.minimum_impact(visitor.user, app_id, minimum)
        if req.get_param("format") == "json":
            resp.content_type = falcon.MEDIA_JSON
            resp.data = orjson.dumps(
                [
                    {
                        "platform": r.platform,
                        "environment": r.environment,
                        "active": r.active,
                        "below": r.below,
                    }
                    for r in rows
                ]
            )
            resp.set_header("Cache-Control", "no-store")
            return
        app = catalog.get_app(visitor.user, app_id)
        page(resp, "impact.html", visitor, app=app, minimum=minimum, rows=rows)


class AdoptionCsv(Resource):
    """The adoption chart's data: one row per day and version."""

    def on_get(self, req, resp, app_id):
        visitor = self.visitor(req)
        days = period(req)
        until = dt.date.today()
        data = adoption.version_adoption(visitor.user, app_id, until - dt.timedelta(days=days - 1), until)
        rows = (
            [day.isoformat(), version, users[i]]
            for i, day in enumerate(data.days)
            for version, users in data.versions.items()
            if users[i]
        )
        send_csv(resp, f"adoption-{app_id}.csv", ["day", "app_version", "users"], rows)


class Builds(Resource):
    """POST a multipart form (csrf, build_type, version, name, public before the file ``artifact``): the
    version is created and its file streamed into storage in one go; a failed upload leaves neither."""

    def __init__(self, console, max_bytes: int) -> None:
        super().__init__(console)
        self.max_bytes = max_bytes

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        catalog.get_app(visitor.user, app_id, write=True)
        storage = self.console.storage
        fields_seen: dict[str, str] = {}

        def save(fields: dict[str, str], name: str, stream):
            auth.check_csrf(fields, visitor.csrf)
            fields_seen.update(fields, file_name=name)
            key = f"builds/{app_id}/{uuid.uuid4().hex}"
            return storage.save(key, stream, self.max_bytes)

        form = stream_form(
            req,
            self.max_bytes,
            {"csrf": 128, "build_type": 16, "version": 64, "name": 200, "public": 8},
            "artifact",
            save,
            lambda s: storage.delete(s.key),
        )
        stored = form.saved
        try:
            with unit_of_work():
                build = builds.create_build(
                    visitor.user,
                    app_id,
                    form.fields.get("build_type", ""),
                    form.fields.get("version", ""),
                    form.fields.get("name", ""),
                    flag(form.fields, "public"),
                )
                builds.attach_file(build, stored.key, fields_seen["file_name"], stored.size, stored.sha256)
        except BaseException:
            storage.delete(stored.key)
            raise
        uploaded(req, resp, {"id": build.id, "size": stored.size}, f"/console/apps/{app_id}#builds")


class AppConfigForm(Resource):
    """POST sets the app's active configuration (the app-config API's public answer)."""

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        app = appconfig.app_for(visitor.user, app_id)
        with unit_of_work():
            appconfig.put_active(
                app,
                {
                    "min_version": text(form, "min_version", limit=64),
                    "current_version": text(form, "current_version", limit=64),
                    "release_notes": text(form, "release_notes", required=False, limit=20_000) or None,
                },
            )
        raise see_other(f"/console/apps/{app_id}#app-config")
