"""The admin API's JSON for each record the store returns."""

from __future__ import annotations

import datetime as dt

from api.dialects.common import build_summary
from store.ramps import next_step, share_at
from store.timefmt import LATEST_EPOCH, iso


def page(result, shape) -> dict:
    """A store Page as the admin API lists: items, page, per_page, total; a list that pages by key (raw
    events) adds next_cursor (null after the last page), and its keyset pages (?after=) have a null total."""
    shaped = {
        "items": [shape(r) for r in result.rows],
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
    }
    if result.cursored:
        shaped["next_cursor"] = result.next_cursor
    return shaped


def user(u) -> dict:
    return {"id": u.id, "email": u.email, "role": u.role, "created_at": iso(u.created_at)}


def team(t) -> dict:
    return {
        "id": t.id,
        "name": t.name,
        "subscription_status": t.subscription_status,
        "created_at": iso(t.created_at),
    }


def app(a) -> dict:
    return {
        "id": a.public_id,
        "team_id": a.team_id,
        "title": a.title,
        "package_name": a.package_name,
        "icon": a.icon,
        "created_at": iso(a.created_at),
    }


def environment(e) -> dict:
    return {"id": e.id, "alias": e.alias, "created_at": iso(e.created_at)}


def client_token(tok, raw: str | None = None) -> dict:
    """A client token; ``raw`` only in the answer that creates it (shown once)."""
    out = {"id": tok.id, "name": tok.name, "hint": tok.hint, "created_at": iso(tok.created_at)}
    if raw is not None:
        out["token"] = raw
    return out


def created_client_token(pair) -> dict:
    return client_token(*pair)


def version_rule(r) -> dict:
    return {
        "id": r.id,
        "version": r.version,
        "platform": r.platform,
        "environment": r.environment.alias,
        "status": r.enabled,
        "force_update": r.force_update,
        "update_message": r.update_message,
        "update_messages": r.messages,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


def minimum_rule(r) -> dict:
    return {
        "id": r.id,
        "minimum_version": r.minimum_version,
        "platform": r.platform,
        "environment": r.environment.alias,
        "force_update": r.force_update,
        "update_message": r.update_message,
        "update_messages": r.messages,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


def maintenance(state) -> dict:
    row = state.row
    return {
        "environment": state.environment,
        "active": bool(row and row.active),
        "title": row.title if row else None,
        "description": row.description if row else None,
        "links": (row.links or []) if row else [],
        "updated_at": iso(row.updated_at) if row else None,
    }


def session(s) -> dict:
    return {
        "id": s.id,
        "user_id": s.user_id,
        "platform": s.platform,
        "app_version": s.app_version,
        "environment": s.environment,
        "created_at": iso(s.created_at),
    }


def client_user(u) -> dict:
    return {
        "user_id": u.user_id,
        "platform": u.platform,
        "app_version": u.app_version,
        "environment": u.environment,
        "first_seen_at": iso(u.first_seen_at),
        "last_seen_at": iso(u.last_seen_at),
    }


def daily_stat(s) -> dict:
    return {
        "day": s.day.isoformat(),
        "platform": s.platform,
        "environment": s.environment or None,
        "app_version": s.app_version,
        "sessions": s.sessions,
        "users": s.users,
    }


def build(b, downloads: int) -> dict:
    """A build as admins see it: the tester's fields (api/dialects/common.py), its file and its downloads."""
    return build_summary(b) | {
        "build_type": b.build_type,
        "fileName": b.file_name,
        "size": b.file_size,
        "sha256": b.file_sha256,
        "downloads": downloads,
    }


def audit_entry(e) -> dict:
    return {
        "id": e.id,
        "at": iso(e.at),
        "team_id": e.team_id,
        "user": {"id": e.user_id, "email": e.user_email},
        "token_hint": e.token_hint,
        "address": e.address,
        "request_id": e.request_id,
        "resource": e.resource,
        "resource_id": e.resource_id,
        "action": e.action,
        "changes": e.changes,
    }


def rollout(r, now: float) -> dict:
    live = r.state in ("running", "paused")
    upcoming = next_step(r.steps, now) if r.state == "running" else None
    return {
        "id": r.id,
        "channel": r.channel.name,
        "bundle": r.bundle.name,
        "state": r.state,
        "share_percent": share_at(r.steps, r.held_share, now) / 100 if live else r.held_share / 100,
        "next_step": None if upcoming is None else {"at": _epoch(upcoming[0]), "percent": upcoming[1] / 100},
        "steps": [{"at": _epoch(at), "percent": bp / 100} for at, bp in r.steps],
        "on_failure": r.on_failure,
        "failure_threshold_percent": r.threshold_bp / 100,
        "min_samples": r.min_samples,
        "window_seconds": r.window_seconds,
        "reason": r.reason,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


def _epoch(at: float) -> str | None:
    # Clamped: a step stored before the bounds were checked must not make every read of it fail.
    at = min(max(at, 0.0), LATEST_EPOCH - 1)
    return iso(dt.datetime.fromtimestamp(at, dt.UTC).replace(tzinfo=None))


def webhook(w) -> dict:
    return {"id": w.id, "team_id": w.team_id, "url": w.url, "events": w.events, "active": w.active,
            "created_at": iso(w.created_at)}  # fmt: skip


def delivery(d) -> dict:
    return {
        "id": d.id,
        "event": d.event,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at) if d.state == "pending" else None,
        "delivered_at": iso(d.delivered_at),
        "log": d.log,
        "payload": d.payload,
        "created_at": iso(d.created_at),
    }


def api_key(k, raw: str | None = None) -> dict:
    """A scoped API key; ``raw`` only in the answer that creates it (shown once)."""
    out = {
        "id": k.id,
        "team_id": k.team_id,
        "name": k.name,
        "mode": k.mode,
        "apps": k.apps,
        "team_key": k.team_key,
        "hint": k.hint,
        "expires_at": iso(k.expires_at),
        "last_used_at": iso(k.last_used_at),
        "last_used_from": k.last_used_from,
        "created_at": iso(k.created_at),
    }
    if raw is not None:
        out["key"] = raw
    return out
