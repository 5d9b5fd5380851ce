"""Gatehouse's own admin API (/admin/v1): route table, Bearer auth, {"error": ...} bodies.

Each route family is one resource built from the store functions it calls, so
the behaviour lives in store/ and this module only parses and serialises.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import tempfile
import time
import uuid

import falcon

from api.dialects.admin import adapters as A
from api.dialects.admin import schemas as S
from api.dialects.admin import shapes
from api.dialects.admin.adapters import paged
from api.secret_key import secret_key
from api.settings import Settings
from api.write import crud
from api.write.auth import admin_caller
from api.write.exports import send_csv
from api.write.http import page_params, parse_model, send
from api.write.ratelimit import LoginLimiter
from api.write.uploads import adopt_icon, store_upload
from store import (
    accounts,
    api_keys,
    audit_log,
    buildinfo,
    builds,
    catalog,
    client_tokens,
    environments,
    rollouts,
    rules,
    stats,
    timefmt,
    webhooks,
)
from store.errors import InvalidInput
from store.service import unit_of_work
from store.storage import Storage

caller = admin_caller
# The shared CRUD resources, with this dialect's authentication and list shape.
Collection = functools.partial(crud.Collection, caller=caller, page=shapes.page)
Item = functools.partial(crud.Item, caller=caller)


def _build(build) -> dict:
    return shapes.build(build, builds.download_count(build))


class Artifact:
    """PUT streams the request body into storage; the build points at it only once it is whole."""

    def __init__(self, storage: Storage, max_bytes: int):
        self.storage, self.max_bytes = storage, max_bytes

    def on_put(self, req, resp, app_id, build_id):
        user = caller(req)
        build = builds.get_build(user, app_id, build_id, write=True)
        file_name = (req.get_param("filename") or "").strip()
        if not file_name or "/" in file_name or "\\" in file_name or len(file_name) > 255:
            raise InvalidInput("filename is required (a plain file name, at most 255 characters)")

        read: list = []

        def attach(stored):
            if file_name.lower().endswith((".ipa", ".apk")):
                info = _read_stored(self.storage, stored.key, file_name)
                if info is not None:
                    builds.check_artifact(build, info)
                    read.append(info)
            return builds.attach_file(build, stored.key, file_name, stored.size, stored.sha256)

        store_upload(
            req, self.storage, f"builds/{build.app_id}/{build.id}/{uuid.uuid4().hex}", self.max_bytes, attach
        )
        if read:
            adopt_icon(self.storage, build.app, read[0].icon_png)
        send(resp, _build(build))


def _read_stored(storage: Storage, key: str, name: str):
    """What a stored IPA or APK says about itself, read from a temporary copy (the zip needs seeking); None
    for a file that is no zip archive at all (kept opaque, as before builds were read), 400 for a zip that
    cannot be read."""
    with tempfile.TemporaryFile() as copy:
        for chunk in storage.read(key):
            copy.write(chunk)
        copy.seek(0)
        if copy.read(2) != b"PK":
            return None
        copy.seek(0)
        return buildinfo.read_build(copy, name)


class BuildItem:
    """GET, PATCH (name, public) and DELETE of one version; its file goes once the row is gone."""

    def __init__(self, storage: Storage, limit: int):
        self.storage, self.limit = storage, limit

    def on_get(self, req, resp, app_id, build_id):
        send(resp, _build(builds.get_build(caller(req), app_id, build_id)))

    def on_patch(self, req, resp, app_id, build_id):
        user = caller(req)
        body = parse_model(req, S.BuildUpdate, self.limit)
        with unit_of_work():
            build = builds.update_build(user, app_id, build_id, S.fields(body))
        send(resp, _build(build))

    def on_delete(self, req, resp, app_id, build_id):
        user = caller(req)
        with unit_of_work():
            key = builds.delete_build(user, app_id, build_id)
        if key:
            self.storage.delete(key)
        resp.status = falcon.HTTP_204


class AppIcon:
    """PUT ?filename=icon.png uploads the app's public icon (served under /api/files/apps/...); DELETE drops it."""

    def __init__(self, storage: Storage, max_bytes: int):
        self.storage, self.max_bytes = storage, max_bytes

    def on_put(self, req, resp, app_id):
        user = caller(req)
        app = catalog.get_app(user, app_id, write=True)
        file_name = (req.get_param("filename") or "").strip()
        catalog.icon_type(file_name)
        store_upload(
            req,
            self.storage,
            catalog.icon_key(app, file_name),
            self.max_bytes,
            lambda s: catalog.set_icon(app, file_name),
        )
        send(resp, shapes.app(app))

    def on_delete(self, req, resp, app_id):
        user = caller(req)
        with unit_of_work():
            key = catalog.clear_icon(user, app_id)
        if key:
            self.storage.delete(key)
        resp.status = falcon.HTTP_204


class Login:
    def __init__(self, limit: int, limiter: LoginLimiter):
        self.limit, self.limiter = limit, limiter

    def on_post(self, req, resp):
        body = parse_model(req, S.Login, self.limit)
        user = self.limiter.attempt(
            req, body.email, lambda: accounts.authenticate_password(body.email, body.password)
        )
        with unit_of_work():
            token = accounts.issue_user_token(user, "login")
        send(resp, {"token": token, "user": shapes.user(user)})


_WHEN = re.compile(r"^\+(\d{1,7})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def when(text: str, now: float) -> float:
    """A step's time: "now", "+<n>s|m|h|d" from now, or an ISO 8601 instant (UTC when no zone is given)."""
    text = text.strip()
    if text == "now":
        return now
    m = _WHEN.match(text)
    if m:
        return now + int(m.group(1)) * _UNITS[m.group(2)]
    # An instant before 1970 is simply past: in effect at once. One past the calendar is refused by the
    # rollout itself (store/rollouts.py).
    return max(
        0.0,
        timefmt.epoch(timefmt.parse_instant(text, f"step time {text!r} (now, +30m, +1h, +3d or ISO 8601)")),
    )


class RolloutItem:
    """GET the channel's rollout (share in effect now, next step), PUT starts one, DELETE aborts it."""

    def __init__(self, limit: int):
        self.limit = limit

    def on_get(self, req, resp, app_id, channel):
        send(resp, shapes.rollout(rollouts.get_rollout(caller(req), app_id, channel), time.time()))

    def on_put(self, req, resp, app_id, channel):
        user = caller(req)
        body = parse_model(req, S.RolloutStart, self.limit)
        now = time.time()
        steps = [(when(s.at, now), round(s.percent * 100)) for s in body.steps]
        with unit_of_work():
            row = rollouts.start_rollout(
                user,
                app_id,
                channel,
                body.bundle,
                steps,
                body.on_failure,
                round(body.failure_threshold_percent * 100),
                body.min_samples,
                body.window_seconds,
            )
        send(resp, shapes.rollout(row, now), falcon.HTTP_201)

    def on_delete(self, req, resp, app_id, channel):
        with unit_of_work():
            row = rollouts.abort_rollout(caller(req), app_id, channel)
        send(resp, shapes.rollout(row, time.time()))


class RolloutAction:
    """POST .../rollout/pause, /resume, /promote."""

    ACTIONS = {
        "pause": rollouts.pause_rollout,
        "resume": rollouts.resume_rollout,
        "promote": rollouts.promote_rollout,
    }

    def on_post(self, req, resp, app_id, channel, action):
        step = self.ACTIONS.get(action)
        if step is None:
            raise falcon.HTTPNotFound(description="unknown rollout action: use pause, resume or promote")
        user = caller(req)
        with unit_of_work():
            row = step(user, app_id, channel)
        send(resp, shapes.rollout(row, time.time()))


class Audit:
    """GET /admin/v1/audit (a page, newest first) and /admin/v1/audit.csv (every matching entry):
    filters resource, actor (email or user id), since and until (ISO 8601, UTC)."""

    COLUMNS = ("id", "at", "team_id", "user_id", "user_email", "token_hint", "address", "request_id",
               "resource", "resource_id", "action", "changes")  # fmt: skip

    def __init__(self, csv: bool = False):
        self.csv = csv

    @staticmethod
    def _filters(req) -> dict:
        def instant(name):
            raw = req.get_param(name)
            return timefmt.parse_instant(raw, name) if raw else None

        return {
            "resource": req.get_param("resource"),
            "actor": req.get_param("actor"),
            "since": instant("since"),
            "until": instant("until"),
        }

    def on_get(self, req, resp):
        user, filters = caller(req), self._filters(req)
        if not self.csv:
            page = audit_log.list_entries(
                user, **filters, page=page_params(req)[0], per_page=page_params(req)[1]
            )
            return send(resp, shapes.page(page, shapes.audit_entry))
        rows = (
            [e.id, shapes.audit_entry(e)["at"], e.team_id, e.user_id, e.user_email, e.token_hint, e.address,
             e.request_id, e.resource, e.resource_id, e.action, json.dumps(e.changes, sort_keys=True)]
            for e in audit_log.all_entries(user, **filters)
        )  # fmt: skip
        send_csv(resp, "audit.csv", list(self.COLUMNS), rows)


class Webhooks:
    """GET a team's endpoints (no secrets), POST one: its signing secret is in this answer only."""

    def __init__(self, settings: Settings, connection, limit: int):
        self.settings, self.connection, self.limit = settings, connection, limit

    def on_get(self, req, resp, team_id):
        page = webhooks.list_endpoints(caller(req), team_id, *page_params(req))
        send(resp, shapes.page(page, shapes.webhook))

    def on_post(self, req, resp, team_id):
        user = caller(req)
        body = parse_model(req, S.WebhookCreate, self.limit)
        key = secret_key(self.settings, self.connection)
        with unit_of_work():
            row, secret = webhooks.create_endpoint(user, team_id, body.url, body.events, key)
        send(resp, shapes.webhook(row) | {"secret": secret}, falcon.HTTP_201)


class WebhookItem:
    def on_get(self, req, resp, team_id, webhook_id):
        send(resp, shapes.webhook(webhooks.get_endpoint(caller(req), team_id, webhook_id)))

    def on_delete(self, req, resp, team_id, webhook_id):
        user = caller(req)
        with unit_of_work():
            webhooks.delete_endpoint(user, team_id, webhook_id)
        resp.status = falcon.HTTP_204


class Redeliver:
    def on_post(self, req, resp, team_id, webhook_id, delivery_id):
        user = caller(req)
        with unit_of_work():
            row = webhooks.redeliver(user, team_id, webhook_id, delivery_id)
        send(resp, shapes.delivery(row), falcon.HTTP_201)


class Keys:
    """GET a team's API keys (no secrets), POST one: the key is in this answer only. A key cannot do either."""

    def __init__(self, limit: int):
        self.limit = limit

    def on_get(self, req, resp, team_id):
        page = api_keys.list_keys(caller(req), team_id, *page_params(req))
        send(resp, shapes.page(page, shapes.api_key))

    def on_post(self, req, resp, team_id):
        user = caller(req)
        body = parse_model(req, S.KeyCreate, self.limit)
        expires = timefmt.parse_instant(body.expires_at, "expires_at") if body.expires_at else None
        with unit_of_work():
            row, raw = api_keys.create_key(
                user, team_id, body.name, body.mode, body.apps, expires, body.team_key
            )
        send(resp, shapes.api_key(row, raw), falcon.HTTP_201)


class KeyItem:
    def on_delete(self, req, resp, team_id, key_id):
        user = caller(req)
        with unit_of_work():
            api_keys.revoke_key(user, team_id, key_id)
        resp.status = falcon.HTTP_204


class Me:
    def on_get(self, req, resp):
        send(resp, shapes.user(caller(req)))


class Stats:
    def on_get(self, req, resp, app_id):
        def day(name):
            raw = req.get_param(name)
            try:
                return dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                raise InvalidInput(f"{name} must be a date such as 2026-01-31") from None

        send(
            resp,
            {
                "items": [
                    shapes.daily_stat(s) for s in stats.app_stats(caller(req), app_id, day("from"), day("to"))
                ]
            },
        )


def routes(
    settings: Settings, storage: Storage, limiter: LoginLimiter, connection=None
) -> list[tuple[str, object]]:
    """The admin API's route table: one route a line, store calls adapted by name (adapters.py)."""
    apps, teams, limit = "/admin/v1/apps/{app_id}", "/admin/v1/teams/{team_id:int}", settings.max_body_bytes
    return [
        ("/admin/v1/login", Login(limit, limiter)),
        ("/admin/v1/me", Me()),
        ("/admin/v1/users", Collection(paged(accounts.list_users), A.create_user, S.UserCreate, shapes.user, limit)),
        ("/admin/v1/users/{user_id:int}", Item(accounts.get_user, shapes.user, accounts.update_user, S.UserUpdate, accounts.delete_user, limit=limit)),
        ("/admin/v1/teams", Collection(paged(accounts.list_teams), A.create_team, S.TeamCreate, shapes.team, limit)),
        (teams, Item(accounts.get_team, shapes.team, accounts.update_team, S.TeamUpdate, accounts.delete_team, limit=limit)),
        (teams + "/members", Collection(paged(accounts.list_members), A.add_member, S.MemberAdd, shapes.user, limit)),
        (teams + "/members/{user_id:int}", Item(accounts.get_member, shapes.user, delete_fn=accounts.remove_member, limit=limit)),
        ("/admin/v1/apps", Collection(A.list_apps, A.create_app, S.AppCreate, shapes.app, limit)),
        (apps, Item(catalog.get_app, shapes.app, catalog.update_app, S.AppUpdate, catalog.delete_app, limit=limit)),
        (apps + "/environments", Collection(paged(environments.list_environments), A.create_environment, S.EnvironmentBody, shapes.environment, limit)),
        (apps + "/environments/{env_id:int}", Item(environments.get_environment, shapes.environment, A.update_environment, S.EnvironmentBody, environments.delete_environment, limit=limit)),
        (apps + "/tokens", Collection(paged(client_tokens.list_client_tokens), A.create_client_token, S.TokenCreate, shapes.client_token, limit, render_created=shapes.created_client_token)),
        (apps + "/tokens/{token_id:int}", Item(client_tokens.get_client_token, shapes.client_token, delete_fn=client_tokens.delete_client_token, limit=limit)),
        (apps + "/versions", Collection(A.list_version_rules, A.create_version_rule, S.VersionRuleCreate, shapes.version_rule, limit)),
        (apps + "/versions/{rule_id:int}", Item(rules.get_version_rule, shapes.version_rule, rules.update_version_rule, S.VersionRuleUpdate, rules.delete_version_rule, limit=limit)),
        (apps + "/minimum-versions", Collection(paged(rules.list_minimum_rules), A.create_minimum_rule, S.MinimumRuleCreate, shapes.minimum_rule, limit)),
        (apps + "/minimum-versions/{rule_id:int}", Item(rules.get_minimum_rule, shapes.minimum_rule, rules.update_minimum_rule, S.MinimumRuleUpdate, rules.delete_minimum_rule, limit=limit)),
        (apps + "/maintenance", Collection(A.list_maintenance, render=shapes.maintenance)),
        (apps + "/maintenance/{environment}", Item(A.get_maintenance, shapes.maintenance, A.set_maintenance, S.MaintenanceBody, A.clear_maintenance, update_method="PUT", limit=limit)),
        (apps + "/sessions", Collection(A.list_sessions, render=shapes.session)),
        (apps + "/users", Collection(A.list_client_users, render=shapes.client_user)),
        (apps + "/stats", Stats()),
        (apps + "/builds", Collection(paged(builds.list_builds), A.create_build, S.BuildCreate, _build, limit)),
        (apps + "/builds/{build_id:int}", BuildItem(storage, limit)),
        (apps + "/builds/{build_id:int}/artifact", Artifact(storage, settings.upload_max_bytes)),
        (apps + "/icon", AppIcon(storage, settings.icon_max_bytes)),
        (apps + "/channels/{channel}/rollout", RolloutItem(limit)),
        (apps + "/channels/{channel}/rollout/{action}", RolloutAction()),
        ("/admin/v1/audit", Audit()),
        ("/admin/v1/audit.csv", Audit(csv=True)),
        (teams + "/webhooks", Webhooks(settings, connection, limit)),
        (teams + "/webhooks/{webhook_id:int}", WebhookItem()),
        (teams + "/webhooks/{webhook_id:int}/deliveries", Collection(paged(webhooks.list_deliveries), render=shapes.delivery)),
        (teams + "/webhooks/{webhook_id:int}/deliveries/{delivery_id:int}/redeliver", Redeliver()),
        (teams + "/keys", Keys(limit)),
        (teams + "/keys/{key_id:int}", KeyItem()),
    ]  # fmt: skip
