"""Staged rollouts: a channel's second bundle for a growing share of its devices, on a schedule.

The schedule lives in the snapshot and the read service evaluates it against its clock, so a step
takes effect at its time with no write and no rebuild. A worker job watches each live rollout's
failure rate over a sliding window (the plugin's failure actions against its ``set``) and pauses it,
or rolls it back to 0 %, past the threshold; a rollout that has served 100 % for a whole window without
tripping is promoted (its bundle becomes the channel's), so the check watches the last step too.
"""

from __future__ import annotations

import datetime as dt
import time

import peewee as pw

from store import webhooks
from store.catalog import get_app
from store.db import conflict_on_duplicate, tuples
from store.errors import Conflict, InvalidInput, NotFound
from store.models import Bundle, Channel, Device, DeviceOutcome, Rollout, User, utcnow
from store.outbox import mark_stale
from store.ramps import FULL, share_at
from store.timefmt import LATEST_EPOCH, epoch

LIVE = ("running", "paused")


def _channel(caller: User, app_id: str, channel: str, write: bool) -> Channel:
    app = get_app(caller, app_id, write=write)
    row = Channel.get_or_none((Channel.app == app) & (Channel.name == channel))
    if row is None:
        raise NotFound("channel not found")
    return row


def _live(channel: Channel) -> Rollout:
    row = Rollout.get_or_none((Rollout.channel == channel) & Rollout.state.in_(LIVE))
    if row is None:
        raise NotFound("no rollout in progress on this channel")
    return row


def start_rollout(
    caller: User,
    app_id: str,
    channel: str,
    bundle: str,
    steps: list[tuple[float, int]],
    on_failure: str = "pause",
    threshold_bp: int = 500,
    min_samples: int = 50,
    window_seconds: int = 3600,
) -> Rollout:
    ch = _channel(caller, app_id, channel, write=True)
    target = Bundle.get_or_none((Bundle.app == ch.app_id) & (Bundle.name == bundle))
    if target is None:
        raise NotFound(f"bundle {bundle} not found")
    if target.id == ch.bundle_id:
        raise InvalidInput("the channel already serves this bundle")
    if not steps:
        raise InvalidInput("a rollout needs at least one step")
    ordered = sorted((float(at), int(bp)) for at, bp in steps)
    if any(not 0 <= at < LATEST_EPOCH for at, _ in ordered):
        raise InvalidInput(
            "step times must be between 1970 and the year 9999 (an earlier instant is in effect at once)"
        )
    shares = [bp for _, bp in ordered]
    if any(not 0 <= bp <= FULL for bp in shares) or shares != sorted(shares):
        raise InvalidInput("shares must be from 0 to 100 % and never fall from one step to the next")
    if on_failure not in ("pause", "rollback"):
        raise InvalidInput("on_failure must be pause or rollback")
    if not (0 < threshold_bp <= FULL and min_samples >= 1 and 60 <= window_seconds <= 7 * 86_400):
        raise InvalidInput("threshold 0-100 %, min_samples >= 1, window from 60 s to 7 days")
    if Rollout.select().where((Rollout.channel == ch) & Rollout.state.in_(LIVE)).exists():
        raise Conflict("a rollout is already in progress on this channel")
    with conflict_on_duplicate("a rollout is already in progress on this channel"):
        row = Rollout.create(
            app=ch.app_id,
            channel=ch,
            bundle=target,
            steps=[list(s) for s in ordered],
            on_failure=on_failure,
            threshold_bp=threshold_bp,
            min_samples=min_samples,
            window_seconds=window_seconds,
            created_by=caller,
        )
    mark_stale(ch.app_id)
    return row


def get_rollout(caller: User, app_id: str, channel: str) -> Rollout:
    """The live rollout, else the channel's most recent one."""
    ch = _channel(caller, app_id, channel, write=False)
    row = Rollout.select().where(Rollout.channel == ch).order_by(Rollout.id.desc()).first()
    if row is None:
        raise NotFound("this channel has no rollout")
    return row


def _set(row: Rollout, **fields) -> Rollout:
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    row.save()
    mark_stale(row.app_id)
    return row


def pause_rollout(caller: User, app_id: str, channel: str, reason: str = "paused by an admin") -> Rollout:
    row = _live(_channel(caller, app_id, channel, write=True))
    if row.state == "paused":
        return row
    return _set(row, state="paused", held_share=share_at(row.steps, None, time.time()), reason=reason)


def resume_rollout(caller: User, app_id: str, channel: str) -> Rollout:
    """Back on the schedule: the share is again the one its steps give now."""
    row = _live(_channel(caller, app_id, channel, write=True))
    return _set(row, state="running", held_share=None, reason=None)


def abort_rollout(caller: User, app_id: str, channel: str) -> Rollout:
    """Every device back on the channel's bundle."""
    row = _live(_channel(caller, app_id, channel, write=True))
    return _set(row, state="aborted", held_share=0, reason="aborted by an admin")


def _promote(row: Rollout, reason: str) -> Rollout:
    channel = Channel.get_by_id(row.channel_id)
    channel.bundle_id, channel.updated_at = row.bundle_id, utcnow()
    channel.save()
    return _set(row, state="promoted", held_share=FULL, reason=reason)


def promote_rollout(caller: User, app_id: str, channel: str) -> Rollout:
    """The rollout's bundle becomes the channel's, for every device."""
    return _promote(_live(_channel(caller, app_id, channel, write=True)), "promoted by an admin")


def window_counts(row: Rollout, now: float, per_source: int = 5) -> tuple[int, int]:
    """(failing devices, devices that applied it) of the rollout's bundle over its window.

    /stats carries no credentials, so what counts is bounded (README: "Rollout health"): only devices
    Gatehouse offered this bundle (store/devices.py keeps no other outcome), each device once, and at most
    ``per_source`` devices of each kind from one address (an IPv6 /64)."""
    since = int(now - row.window_seconds) // 60
    q = tuples(
        DeviceOutcome.select(DeviceOutcome.kind, DeviceOutcome.source, pw.fn.COUNT(DeviceOutcome.id))
        .where(
            (DeviceOutcome.app == row.app_id)
            & (DeviceOutcome.bundle == row.bundle.name)
            & (DeviceOutcome.minute >= since)
        )
        .group_by(DeviceOutcome.kind, DeviceOutcome.source)
    )
    counts = {"failure": 0, "success": 0}
    for kind, _, n in q:
        counts[kind] = counts.get(kind, 0) + min(int(n), per_source)
    return counts["failure"], counts["success"]


def evaluate_rollouts(
    now: float | None = None, since: float | None = None, per_source: int = 5, min_devices: int = 10
) -> list[tuple[int, str]]:
    """Pauses (or rolls back) unhealthy live rollouts and promotes finished ones; returns what it did.
    With ``since`` (the previous check), a step that fell due in between is announced to webhooks.
    A rate is judged only over at least max(the rollout's min_samples, ``min_devices``) distinct devices."""
    now = time.time() if now is None else now
    done = []
    running = Rollout.select(Rollout, Bundle).join(Bundle).where(Rollout.state == "running")
    for row in running:
        if since is not None:
            for at, bp in row.steps:
                if since < at <= now:
                    team = row.app.team_id
                    webhooks.emit(
                        team,
                        "rollout.stepped",
                        {"resource": "rollout", "id": str(row.id), "share_percent": bp / 100},
                    )
        failures, sets = window_counts(row, now, per_source)
        samples = failures + sets
        if samples >= max(row.min_samples, min_devices) and failures * FULL >= row.threshold_bp * samples:
            rate = failures * 100 / samples
            reason = (
                f"failure rate {rate:.1f} % over the last {row.window_seconds} s "
                f"({failures} failing devices, {sets} devices updated) reached {row.threshold_bp / 100:g} %"
            )
            held = 0 if row.on_failure == "rollback" else share_at(row.steps, None, now)
            _set(row, state="paused", held_share=held, reason=reason)
            done.append((row.id, "rolled back" if row.on_failure == "rollback" else "paused"))
        elif share_at(row.steps, None, now) >= FULL and _full_since(row.steps) + row.window_seconds <= now:
            # A whole window at 100 % without tripping: the bundle becomes the channel's.
            _promote(row, "a full window at 100 % without failures past the threshold")
            done.append((row.id, "promoted"))
    return done


def _full_since(steps: list) -> float:
    return next(at for at, bp in steps if bp >= FULL)


def live_rollouts(app_ids: list[int]) -> list[Rollout]:
    """The running and paused rollouts of these apps, bundle joined."""
    return list(
        Rollout.select(Rollout, Bundle).join(Bundle).where(Rollout.app.in_(app_ids) & Rollout.state.in_(LIVE))
    )


def health_series(row: Rollout, now: float, buckets: int = 48) -> tuple[list[float], list[float | None]]:
    """The rollout's failure rate over time, for its chart: ``buckets`` equal spans from its start to now,
    each the share of failing devices among those that reported (None where none did). Read from the
    per-minute outcome rows, one grouped query."""
    start = int(epoch(row.created_at))
    # A young rollout gets fewer spans (a minute each at least), so no span lies in the future.
    buckets = min(buckets, max(1, (int(now) - start) // 60))
    span = max((int(now) - start) // buckets, 60)
    first = start // 60
    rows = tuples(
        DeviceOutcome.select(DeviceOutcome.kind, DeviceOutcome.minute, pw.fn.COUNT(DeviceOutcome.id))
        .where(
            (DeviceOutcome.app == row.app_id)
            & (DeviceOutcome.bundle == row.bundle.name)
            & (DeviceOutcome.minute >= first)
        )
        .group_by(DeviceOutcome.kind, DeviceOutcome.minute)
    )
    failing, total = [0] * buckets, [0] * buckets
    for kind, minute, n in rows:
        i = min(max((int(minute) * 60 - start) // span, 0), buckets - 1)
        total[i] += int(n)
        if kind == "failure":
            failing[i] += int(n)
    times = [float(start + span * (i + 1)) for i in range(buckets)]
    return times, [(f / t if t else None) for f, t in zip(failing, total, strict=True)]


def eligible_devices(caller: User, app_id: str, channel: str, days: int = 30) -> list[tuple[str, int]]:
    """Devices seen in the last ``days`` days that a rollout on ``channel`` would reach, per native version:
    those pinned to it, and, where it is a default channel, unpinned devices of the platforms it serves."""
    ch = _channel(caller, app_id, channel, write=False)
    since = utcnow() - dt.timedelta(days=days)
    reach = Device.channel_override == ch
    if ch.public:
        platforms = [p for p, on in (("ios", ch.ios), ("android", ch.android)) if on]
        reach = reach | (Device.channel_override.is_null() & Device.platform.in_(platforms))
    rows = tuples(
        Device.select(Device.version_build, pw.fn.COUNT(Device.id))
        .where((Device.app == ch.app_id) & (Device.last_seen_at >= since) & reach)
        .group_by(Device.version_build)
        .order_by(pw.fn.COUNT(Device.id).desc())
        .limit(50)
    )
    return [(version or "(unknown)", int(n)) for version, n in rows]
