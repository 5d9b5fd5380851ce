"""A team's webhooks: endpoints (the signing secret shown once), their deliveries, and redelivery."""

from __future__ import annotations

import abc

from api.dialects.console.forms import flag, integer, text
from api.dialects.console.pages import PER_PAGE, Resource, number, page, see_other
from api.secret_key import secret_key
from store import accounts, api_keys, catalog, timefmt, webhooks
from store.service import unit_of_work


class _TeamPage(Resource, abc.ABC):
    """A team's page that shows a secret once, on the answer to the POST that made it."""

    @abc.abstractmethod
    def _render(self, req, resp, visitor, team_id, status: int = 200, shown: str | None = None) -> None:
        """Each page renders its own template, with ``shown`` (the secret) on a create's answer only."""

    def on_get(self, req, resp, team_id):
        self._render(req, resp, self.visitor(req), team_id)

    def writer(self, req, team_id):
        """The visitor and the form of a POST, once the visitor may write to the team (another team: 404
        before any field is read)."""
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        accounts.get_team(visitor.user, team_id, write=True)
        return visitor, form


class Webhooks(_TeamPage):
    """GET the team's endpoints; POST creates one and shows its signing secret on this answer only."""

    def _render(self, req, resp, visitor, team_id, status: int = 200, shown: str | None = None) -> None:
        team = accounts.get_team(visitor.user, team_id)
        result = webhooks.list_endpoints(visitor.user, team_id, number(req, "page", 1, 100_000), PER_PAGE)
        page(
            resp,
            "webhooks.html",
            visitor,
            status,
            team=team,
            result=result,
            events=webhooks.EVENTS,
            secret=shown,
        )

    def on_post(self, req, resp, team_id):
        visitor, form = self.writer(req, team_id)
        chosen = ["*"] if "all" in form else [e for e in webhooks.EVENTS if e in form]
        key = secret_key(self.console.settings, self.console.connection)
        with unit_of_work():
            _, secret = webhooks.create_endpoint(
                visitor.user, team_id, text(form, "url", limit=2048), chosen, key
            )
        self._render(req, resp, visitor, team_id, 201, secret)


class Deliveries(Resource):
    """GET one endpoint's deliveries, newest first, with each attempt's log; POST deletes the endpoint."""

    def on_get(self, req, resp, team_id, webhook_id):
        visitor = self.visitor(req)
        team = accounts.get_team(visitor.user, team_id)
        endpoint = webhooks.get_endpoint(visitor.user, team_id, webhook_id)
        result = webhooks.list_deliveries(
            visitor.user, team_id, webhook_id, number(req, "page", 1, 100_000), PER_PAGE
        )
        page(resp, "deliveries.html", visitor, team=team, endpoint=endpoint, result=result)

    def on_post(self, req, resp, team_id, webhook_id):
        visitor = self.visitor(req)
        self.form(req, visitor)
        with unit_of_work():
            webhooks.delete_endpoint(visitor.user, team_id, webhook_id)
        raise see_other(f"/console/teams/{team_id}/webhooks")


class Redeliver(Resource):
    def on_post(self, req, resp, team_id, webhook_id, delivery_id):
        visitor = self.visitor(req)
        self.form(req, visitor)
        with unit_of_work():
            webhooks.redeliver(visitor.user, team_id, webhook_id, delivery_id)
        raise see_other(f"/console/teams/{team_id}/webhooks/{webhook_id}")


class Keys(_TeamPage):
    """GET a team's API keys; POST creates one (shown on this answer only) or, with ``revoke``, revokes one."""

    def _render(self, req, resp, visitor, team_id, status: int = 200, shown: str | None = None) -> None:
        team = accounts.get_team(visitor.user, team_id)
        result = api_keys.list_keys(visitor.user, team_id, number(req, "page", 1, 100_000), PER_PAGE)
        apps = catalog.list_apps(visitor.user, team_id, 1, 200).rows
        page(
            resp,
            "keys.html",
            visitor,
            status,
            team=team,
            result=result,
            apps=apps,
            modes=api_keys.MODES,
            raw=shown,
        )

    def on_post(self, req, resp, team_id):
        visitor, form = self.writer(req, team_id)
        if form.get("revoke"):
            with unit_of_work():
                api_keys.revoke_key(visitor.user, team_id, integer(form, "revoke", 1, 10**17))
            raise see_other(f"/console/teams/{team_id}/keys")
        chosen = [a for a in form.get("apps", "").split(",") if a.strip()] or None
        expires = (form.get("expires") or "").strip()
        with unit_of_work():
            _, raw = api_keys.create_key(
                visitor.user,
                team_id,
                text(form, "name", limit=200),
                text(form, "mode", limit=8),
                [a.strip() for a in chosen] if chosen else None,
                timefmt.parse_instant(expires, "expires") if expires else None,
                flag(form, "team_key"),
            )
        self._render(req, resp, visitor, team_id, 201, raw)
