"""Webhooks: a team's endpoints, the events its changes announce, and their deliveries.

A change to a watched record (store/vocabulary.py's WEBHOOK_RESOURCES) writes one delivery row per
subscribed endpoint in the change's own transaction (an outbox): an event without its change, or a
change without its event, cannot exist. The worker delivers them (worker/webhooks.py) and records
every attempt here.
"""

from __future__ import annotations

import datetime as dt
import secrets

from store.accounts import get_team
from store.changes import Change
from store.errors import InvalidInput, NotFound
from store.models import Team, User, WebhookDelivery, WebhookEndpoint, utcnow
from store.pagination import Page, paginate
from store.secretbox import seal

EVENTS = (
    "bundle.uploaded",
    "bundle.deleted",
    "channel.changed",
    "rollout.started",
    "rollout.stepped",
    "rollout.paused",
    "rollout.resumed",
    "rollout.promoted",
    "rollout.aborted",
    "version_rule.changed",
    "maintenance.changed",
    "build.uploaded",
    "release.uploaded",
    "product.published",
)
_ROLLOUT_STATES = {"paused": "rollout.paused", "running": "rollout.resumed", "promoted": "rollout.promoted",
                   "aborted": "rollout.aborted"}  # fmt: skip


def event_for(resource: str, action: str, diff: dict) -> str | None:
    """The event a change announces, if any."""
    if resource == "bundle":
        return {"create": "bundle.uploaded", "delete": "bundle.deleted"}.get(action)
    if resource == "channel":
        return "channel.changed"
    if resource == "rollout":
        if action == "create":
            return "rollout.started"
        return _ROLLOUT_STATES.get((diff.get("state") or [None, None])[1])
    if resource in ("version_rule", "minimum_version_rule"):
        return "version_rule.changed"
    if resource == "maintenance":
        return "maintenance.changed"
    if resource == "build" and "file_key" in diff and diff["file_key"][1] is not None:
        # A build of a distribution variant is a release.
        return (
            "release.uploaded" if (diff.get("variant") or [None, None])[1] is not None else "build.uploaded"
        )
    if resource == "app" and (diff.get("published") or [None, None])[1] is True:
        return "product.published"
    return None


def announce(change: Change) -> None:
    """A listener of store/changes.py: every change of a watched record (in its transaction)."""
    if change.team_id is None:
        return
    event = event_for(change.resource, change.action, change.diff)
    if event is not None:
        data = {
            "resource": change.resource,
            "id": str(change.resource_id),
            "action": change.action,
            "changes": change.diff,
        }
        emit(change.team_id, event, data)


def emit(team_id: int, event: str, data: dict) -> int:
    """One delivery per active endpoint of the team subscribed to ``event``; how many."""
    n = 0
    for endpoint in WebhookEndpoint.select().where(
        (WebhookEndpoint.team == team_id) & WebhookEndpoint.active
    ):
        if "*" in endpoint.events or event in endpoint.events:
            payload = {
                "event": event,
                "team_id": team_id,
                "occurred_at": utcnow().isoformat() + "Z",
                "data": data,
            }
            WebhookDelivery.create(endpoint=endpoint, event=event, payload=payload)
            n += 1
    return n


def create_endpoint(
    caller: User, team_id: int, url: str, events: list[str], key: bytes
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once; kept encrypted)."""
    team = get_team(caller, team_id, write=True)
    if not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise InvalidInput("url must be an http(s) URL")
    unknown = [e for e in events if e != "*" and e not in EVENTS]
    if unknown or not events:
        raise InvalidInput(f"events must be '*' or some of: {', '.join(EVENTS)}")
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = WebhookEndpoint.create(
        team=team, url=url, events=sorted(set(events)), secret_encrypted=seal(key, secret)
    )
    return row, secret


def list_endpoints(caller: User, team_id: int, page: int, per_page: int) -> Page:
    team = get_team(caller, team_id)
    return paginate(
        WebhookEndpoint.select().where(WebhookEndpoint.team == team).order_by(WebhookEndpoint.id),
        page,
        per_page,
    )


def get_endpoint(caller: User, team_id: int, webhook_id: int, write: bool = False) -> WebhookEndpoint:
    team: Team = get_team(caller, team_id, write=write)
    row = WebhookEndpoint.get_or_none((WebhookEndpoint.id == webhook_id) & (WebhookEndpoint.team == team))
    if row is None:
        raise NotFound("webhook not found")
    return row


def delete_endpoint(caller: User, team_id: int, webhook_id: int) -> None:
    get_endpoint(caller, team_id, webhook_id, write=True).delete_instance(recursive=True)


def list_deliveries(caller: User, team_id: int, webhook_id: int, page: int, per_page: int) -> Page:
    endpoint = get_endpoint(caller, team_id, webhook_id)
    q = (
        WebhookDelivery.select()
        .where(WebhookDelivery.endpoint == endpoint)
        .order_by(WebhookDelivery.id.desc())
    )
    return paginate(q, page, per_page)


def redeliver(caller: User, team_id: int, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    """The same event again, as a new delivery (the old one keeps its log)."""
    endpoint = get_endpoint(caller, team_id, webhook_id, write=True)
    old = WebhookDelivery.get_or_none(
        (WebhookDelivery.id == delivery_id) & (WebhookDelivery.endpoint == endpoint)
    )
    if old is None:
        raise NotFound("delivery not found")
    return WebhookDelivery.create(endpoint=endpoint, event=old.event, payload=old.payload)


# -- the worker's side ---------------------------------------------------------------------------------


def due(
    now: dt.datetime | None = None, limit: int = 50, exclude: list[int] | None = None
) -> list[WebhookDelivery]:
    """Pending deliveries whose attempt is due, oldest first; ``exclude``: ids being attempted now."""
    now = now or utcnow()
    q = (
        WebhookDelivery.select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint)
        .where((WebhookDelivery.state == "pending") & (WebhookDelivery.next_attempt_at <= now))
    )
    if exclude:
        q = q.where(WebhookDelivery.id.not_in(exclude))
    return list(q.order_by(WebhookDelivery.next_attempt_at).limit(limit))


def record_attempt(
    delivery: WebhookDelivery,
    status: int | None,
    ms: float,
    error: str | None,
    final: bool,
    max_attempts: int,
    backoff: float,
    cap: float,
) -> None:
    """An attempt's outcome: delivered on 2xx; else retried after backoff * 2^(n-1) (at most ``cap``) until
    ``max_attempts``, or at once given up when ``final`` (a destination that may not be called)."""
    now = utcnow()
    delivery.attempts += 1
    delivery.log = [
        *delivery.log,
        {"at": now.isoformat() + "Z", "status": status, "ms": round(ms, 1), "error": error},
    ]
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.delivered_at = "delivered", now
    elif final or delivery.attempts >= max_attempts:
        delivery.state = "failed"
    else:
        delivery.next_attempt_at = now + dt.timedelta(
            seconds=min(backoff * 2 ** (delivery.attempts - 1), cap)
        )
    delivery.save()
