"""Named adapters between the admin API's route table (routes.py) and the store: each takes what the CRUD
resources hand it (the caller, the parsed body or the request, the path's ids by name) and calls one store
function. Nothing here decides anything; the store does."""

from __future__ import annotations

import falcon

from api.dialects.admin import schemas as S
from api.write.http import page_params
from store import accounts, builds, catalog, client_tokens, environments, ingest, maintenance, rules
from store.errors import InvalidInput


def paged(fn):
    """A store list function (caller, ids by name, page, per_page) as the Collection calls it."""
    return lambda user, req, **ids: fn(
        user, **ids, **dict(zip(("page", "per_page"), page_params(req), strict=True))
    )


def team_filter(req: falcon.Request) -> int | None:
    raw = req.get_param("team_id")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("team_id must be an integer") from None


# -- users and teams ---------------------------------------------------------------------------------
def create_user(user, body):
    accounts.require_super_admin(user)
    return accounts.create_user(body.email, body.password, body.role)


def create_team(user, body):
    return accounts.create_team(user, body.name, body.subscription_status)


def add_member(user, body, team_id):
    return accounts.add_member(user, team_id, body.email, body.password, body.role)


# -- apps, environments, tokens ----------------------------------------------------------------------
def list_apps(user, req):
    return catalog.list_apps(user, team_filter(req), *page_params(req))


def create_app(user, body):
    return catalog.create_app(user, body.team_id, body.title, body.package_name, body.environments)


def create_environment(user, body, app_id):
    return environments.create_environment(user, app_id, body.alias)


def update_environment(user, fields, app_id, env_id):
    return environments.update_environment(user, app_id, env_id, fields["alias"])


def create_client_token(user, body, app_id):
    return client_tokens.create_client_token(user, app_id, body.name)


# -- rules and maintenance ---------------------------------------------------------------------------
def list_version_rules(user, req, app_id):
    wanted = {"platform": req.get_param("platform"), "environment": req.get_param("environment")}
    return rules.list_version_rules(user, app_id, wanted, *page_params(req))


def create_version_rule(user, body, app_id):
    return rules.create_version_rule(
        user, app_id, S.fields(body) | body.model_dump(include={"status", "force_update"})
    )


def create_minimum_rule(user, body, app_id):
    return rules.create_minimum_rule(user, app_id, S.fields(body) | body.model_dump(include={"force_update"}))


def list_maintenance(user, req, app_id):
    return maintenance.list_maintenance(user, app_id)


def get_maintenance(user, app_id, environment):
    return maintenance.get_maintenance(user, app_id, environment)


def set_maintenance(user, fields, app_id, environment):
    return maintenance.set_maintenance(user, app_id, environment, fields | {"links": fields.get("links", [])})


def clear_maintenance(user, app_id, environment):
    return maintenance.clear_maintenance(user, app_id, environment)


# -- sessions and builds -----------------------------------------------------------------------------
def list_sessions(user, req, app_id):
    # ?after= (blank: the first page) pages by key; without it, by page number, counted.
    after = req.get_param("after")
    return ingest.list_sessions(user, app_id, req.get_param("user_id"), *page_params(req), after=after)


def list_client_users(user, req, app_id):
    return ingest.list_client_users(user, app_id, *page_params(req), after=req.get_param("after"))


def create_build(user, body, app_id):
    return builds.create_build(user, app_id, body.build_type, body.version, body.name, body.public)
