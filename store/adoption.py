"""Who runs which version: daily adoption from the pre-aggregated table, and the users a minimum version
would send to the update screen. Reads aggregates and the one-row-per-user table only, never raw sessions."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import peewee as pw

from store.catalog import get_app
from store.db import tuples
from store.errors import InvalidVersion
from store.models import ClientUser, DailyStat, MinimumVersionRule, User, utcnow
from store.versions import parse_key


@dataclass
class Adoption:
    days: list[dt.date]
    # version -> users per day (aligned with days), newest versions first
    versions: dict[str, list[int]]
    # "platform/environment >= minimum" -> share of that day's users below the minimum (0..1), per day
    below_minimum: dict[str, list[float]]


def _key(version: str):
    try:
        return parse_key(version)
    except InvalidVersion:  # a version clients sent that no longer parses sorts first
        return None


def _below(version: str, minimum: str) -> bool:
    have, need = _key(version), _key(minimum)
    return have is not None and need is not None and have < need


def version_adoption(caller: User, app_id: str, since: dt.date, until: dt.date) -> Adoption:
    app = get_app(caller, app_id)
    rows = tuples(
        DailyStat.select(
            DailyStat.day, DailyStat.platform, DailyStat.environment, DailyStat.app_version, DailyStat.users
        ).where((DailyStat.app == app) & DailyStat.day.between(since, until))
    )
    days = [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    versions: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(days))
    per_scope: list[tuple] = []
    for day, platform, environment, version, users in rows:
        i = index[day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))]
        versions[version][i] += users
        totals[(platform, environment)][i] += users
        per_scope.append((i, platform, environment, version, users))
    below: dict[str, list[float]] = {}
    for rule in MinimumVersionRule.select(MinimumVersionRule, MinimumVersionRule.environment).where(
        MinimumVersionRule.app == app
    ):
        scope = (rule.platform, rule.environment.alias)
        counts = [0] * len(days)
        for i, platform, environment, version, users in per_scope:
            if (platform, environment) == scope and _below(version, rule.minimum_version):
                counts[i] += users
        total = totals.get(scope, [0] * len(days))
        below[f"{scope[0]}/{scope[1]} below {rule.minimum_version}"] = [
            (c / t if t else 0.0) for c, t in zip(counts, total, strict=True)
        ]
    ordered = dict(
        sorted(versions.items(), key=lambda kv: (_key(kv[0]) is not None, _key(kv[0]) or ()), reverse=True)
    )
    return Adoption(days, ordered, below)


@dataclass
class Impact:
    platform: str
    environment: str
    active: int
    below: int


def minimum_impact(caller: User, app_id: str, minimum: str, days: int = 30) -> list[Impact]:
    """Per platform and environment: users seen in the last ``days`` days, and how many of them run a version
    below ``minimum`` (they would see the update screen). One grouped read of the one-row-per-user table."""
    app = get_app(caller, app_id)
    parse_key(minimum)  # InvalidInput for a version that does not parse
    since = utcnow() - dt.timedelta(days=days)
    rows = tuples(
        ClientUser.select(
            ClientUser.platform, ClientUser.environment, ClientUser.app_version, pw.fn.COUNT(ClientUser.id)
        )
        .where((ClientUser.app == app) & (ClientUser.last_seen_at >= since))
        .group_by(ClientUser.platform, ClientUser.environment, ClientUser.app_version)
    )
    out: dict[tuple[str, str], Impact] = {}
    for platform, environment, version, users in rows:
        scope = (platform, environment or "")
        item = out.setdefault(scope, Impact(platform, environment or "", 0, 0))
        item.active += users
        if _below(version, minimum):
            item.below += users
    return sorted(out.values(), key=lambda i: (i.platform, i.environment))
