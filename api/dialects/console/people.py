"""Teams, users and memberships, and the audit log: who may do what, and who did what."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from api.dialects.console.forms import integer, text
from api.dialects.console.pages import PER_PAGE, Resource, number, page, see_other
from api.write.exports import send_csv
from store import accounts, audit_log, timefmt
from store.service import unit_of_work

AUDIT_COLUMNS = [
    "id",
    "at",
    "team_id",
    "user_email",
    "token_hint",
    "address",
    "resource",
    "resource_id",
    "action",
    "changes",
]


def _audit_filters(req) -> dict:
    def instant(name):
        raw = (req.get_param(name) or "").strip()
        return timefmt.parse_instant(raw, name) if raw else None

    return {
        "resource": (req.get_param("resource") or "").strip()[:64] or None,
        "actor": (req.get_param("actor") or "").strip()[:320] or None,
        "since": instant("since"),
        "until": instant("until"),
    }


class Audit(Resource):
    """The audit log, newest first, filtered by resource, actor and period; ``?format=csv`` exports every
    matching entry (streamed, formulas neutralised)."""

    def on_get(self, req, resp):
        visitor = self.visitor(req)
        filters = _audit_filters(req)
        if req.get_param("format") == "csv":
            rows = (
                [e.id, timefmt.iso(e.at), e.team_id, e.user_email, e.token_hint, e.address, e.resource,
                 e.resource_id, e.action, json.dumps(e.changes, sort_keys=True)]
                for e in audit_log.all_entries(visitor.user, **filters)
            )  # fmt: skip
            send_csv(resp, "audit.csv", AUDIT_COLUMNS, rows)
            return
        result = audit_log.list_entries(
            visitor.user, **filters, page=number(req, "page", 1, 100_000), per_page=PER_PAGE
        )
        kept = {k: req.get_param(k) or "" for k in ("resource", "actor", "since", "until")}
        page(
            resp,
            "audit.html",
            visitor,
            result=result,
            kept=kept,
            query=urlencode({k: v for k, v in kept.items() if v}),
        )


class Teams(Resource):
    """The visitor's teams with their members; a super_admin creates teams, an admin adds members."""

    def on_get(self, req, resp):
        visitor = self.visitor(req)
        teams = accounts.list_teams(visitor.user, number(req, "page", 1, 100_000), PER_PAGE)
        members = {t.id: accounts.list_members(visitor.user, t.id, 1, 100).rows for t in teams.rows}
        page(resp, "teams.html", visitor, result=teams, members=members)

    def on_post(self, req, resp):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        with unit_of_work():
            if form.get("action") == "add_member":
                accounts.add_member(
                    visitor.user,
                    integer(form, "team_id", 1, 10**17),
                    text(form, "email", limit=320),
                    form.get("password") or None,
                    text(form, "role", required=False, limit=16) or None,
                )
            elif form.get("action") == "remove_member":
                accounts.remove_member(
                    visitor.user, integer(form, "team_id", 1, 10**17), integer(form, "user_id", 1, 10**17)
                )
            else:
                accounts.require_super_admin(visitor.user)
                accounts.create_team(visitor.user, text(form, "name", limit=200))
        raise see_other("/console/teams")


class Users(Resource):
    """Every user, for a super_admin: roles are set here."""

    def on_get(self, req, resp):
        visitor = self.visitor(req)
        result = accounts.list_users(visitor.user, number(req, "page", 1, 100_000), PER_PAGE)
        page(resp, "users.html", visitor, result=result)

    def on_post(self, req, resp):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        with unit_of_work():
            accounts.update_user(
                visitor.user, integer(form, "user_id", 1, 10**17), {"role": text(form, "role", limit=16)}
            )
        raise see_other("/console/users")
