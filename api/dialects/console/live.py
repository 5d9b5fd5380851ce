"""Live updates: channels with every flag Capgo has, bundles (uploaded with a progress bar), devices and
their pins, and rollouts with a ramp editor, their controls and a live chart of their failure rate."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import falcon
import orjson

from api.dialects.console import auth, charts
from api.dialects.console.apps import PERIODS, period
from api.dialects.console.forms import flag, integer, text
from api.dialects.console.pages import Resource, page, see_other, uploaded
from api.write.exports import send_csv
from api.write.uploads import stream_form
from store import bundles, catalog, channels, devices, fleet_stats, rollouts
from store.errors import InvalidInput, NotFound
from store.ramps import share_at
from store.service import unit_of_work
from store.vocabulary import AUTO_UPDATE_LIMITS

CHANNEL_FLAGS = (
    "public",
    "ios",
    "android",
    "disable_under_native",
    "allow_self_set",
    "allow_emulator",
    "allow_dev",
)
ACTIONS = {
    "pause": rollouts.pause_rollout,
    "resume": rollouts.resume_rollout,
    "promote": rollouts.promote_rollout,
    "abort": rollouts.abort_rollout,
}
MAX_STEPS = 20
# Channels past these have their figures in the CSV: a page keeps a bounded number of charts.
MAX_CHANNEL_CHARTS = 6


class Live(Resource):
    """GET the app's live-update page: channels, bundles, devices (search by device id or custom id)."""

    def on_get(self, req, resp, app_id):
        visitor = self.visitor(req)
        app = catalog.get_app(visitor.user, app_id)
        package = app.package_name
        found, searched = None, (req.get_param("device") or "").strip()[:128]
        if searched and package:
            by_id = devices.find_devices(visitor.user, package, None, 1, 20, custom_id=searched)
            try:
                by_id = devices.find_devices(visitor.user, package, searched.lower(), 1, 1) + by_id
            except NotFound:
                pass
            found = by_id
        rows = channels.list_channels(visitor.user, package, 1, 100).rows if package else []
        live = {}
        for ch in rows:
            try:
                live[ch.name] = rollouts.get_rollout(visitor.user, app_id, ch.name)
            except NotFound:
                pass
        days = period(req, resp)
        until = dt.date.today()
        adoption, health = fleet_stats.bundle_adoption(
            visitor.user, app_id, until - dt.timedelta(days=days - 1), until
        )
        if req.get_param("format") == "csv":
            data = (
                [day.isoformat(), channel, name, counts[i]]
                for channel, series in adoption.items()
                for i, day in enumerate(series.days)
                for name, counts in series.series.items()
                if counts[i]
            )
            send_csv(resp, f"bundle-adoption-{app_id}.csv", ["day", "channel", "bundle", "devices"], data)
            return
        charts_by_channel = [
            charts.stacked(
                f"Devices per bundle per day on {channel}",
                [d.strftime("%m-%d") for d in series.days],
                series.series,
            )
            for channel, series in list(adoption.items())[:MAX_CHANNEL_CHARTS]
        ]
        page(
            resp,
            "live.html",
            visitor,
            app=app,
            channels=rows,
            rollouts=live,
            bundles=bundles.list_bundles(visitor.user, package, 1, 100).rows if package else [],
            recent=devices.find_devices(visitor.user, package, None, 1, 20) if package else [],
            found=found,
            searched=searched,
            flags=CHANNEL_FLAGS,
            auto_update=AUTO_UPDATE_LIMITS,
            days=days,
            periods=PERIODS,
            adoption_svgs=charts_by_channel,
            health=health,
        )


class Channels(Resource):
    """POST creates or updates a channel: its bundle and every flag (unchecked boxes are off)."""

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        app = catalog.get_app(visitor.user, app_id, write=True)
        policy: dict = {name: flag(form, name) for name in CHANNEL_FLAGS}
        policy["disable_auto_update"] = text(form, "disable_auto_update", limit=16)
        with unit_of_work():
            channels.put_channel(
                visitor.user,
                app.package_name,
                text(form, "name", limit=128),
                text(form, "bundle", required=False, limit=128) or None,
                policy,
            )
        raise see_other(f"/console/apps/{app_id}/live#channels")


class BundleUpload(Resource):
    """POST a multipart form (csrf and name before the file): the zip streams into storage, then the bundle
    row points at it. The page's script sends the same form with a progress bar."""

    def __init__(self, console, max_bytes: int) -> None:
        super().__init__(console)
        self.max_bytes = max_bytes

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        app = catalog.get_app(visitor.user, app_id, write=True)
        storage = self.console.storage

        def save(fields: dict[str, str], _name: str, stream):
            auth.check_csrf(fields, visitor.csrf)
            name = fields.get("name", "")
            bundles.check_new(visitor.user, app.package_name, name, None)
            return storage.save(f"bundles/{app.id}/{name}-{uuid.uuid4().hex}.zip", stream, self.max_bytes)

        form = stream_form(
            req, self.max_bytes, {"csrf": 128, "name": 128}, "bundle", save, lambda s: storage.delete(s.key)
        )
        stored = form.saved
        try:
            with unit_of_work():
                bundles.create_bundle(
                    visitor.user,
                    app,
                    form.fields["name"],
                    file_key=stored.key,
                    size=stored.size,
                    checksum=stored.sha256,
                )
        except BaseException:
            storage.delete(stored.key)
            raise
        uploaded(
            req,
            resp,
            {"name": form.fields["name"], "size": stored.size},
            f"/console/apps/{app_id}/live#bundles",
        )


def _steps(form: dict[str, str], now: float) -> list[tuple[float, int]]:
    """The ramp editor's rows: ``after_N`` hours from now and ``percent_N``; empty rows are skipped."""
    steps = []
    for n in range(MAX_STEPS):
        hours, percent = form.get(f"after_{n}", "").strip(), form.get(f"percent_{n}", "").strip()
        if not hours and not percent:
            continue
        try:
            after, share = float(hours or "0"), float(percent)
        except ValueError:
            raise InvalidInput("each step needs hours from now and a percentage") from None
        if not (0 <= after <= 24 * 365 and 0 <= share <= 100):
            raise InvalidInput("a step is 0 to 8760 hours from now and 0 to 100 %")
        steps.append((now + after * 3600, round(share * 100)))
    if not steps:
        raise InvalidInput("a rollout needs at least one step")
    return steps


class Rollout(Resource):
    """GET a channel's rollout page: its state, steps and failure chart, or the ramp editor to start one with
    the devices it would reach; POST starts one."""

    def on_get(self, req, resp, app_id, channel):
        visitor = self.visitor(req)
        app = catalog.get_app(visitor.user, app_id)
        try:
            row = rollouts.get_rollout(visitor.user, app_id, channel)
        except NotFound:
            row = None
        now = time.time()
        chart = None
        if row is not None:
            times, rates = rollouts.health_series(row, now)
            if req.get_param("format") == "csv":
                data = (
                    [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), r]
                    for t, r in zip(times, rates, strict=True)
                )
                send_csv(resp, f"rollout-{channel}.csv", ["until", "failure_rate"], data)
                return
            labels = [time.strftime("%H:%M", time.gmtime(t)) for t in times]
            threshold = row.threshold_bp / 10_000
            chart = charts.lines(
                "Failure rate against the auto-pause threshold",
                labels,
                {
                    "failure rate": [r or 0.0 for r in rates],
                    f"threshold {threshold:.0%}": [threshold] * len(rates),
                },
                max(max((r or 0.0 for r in rates), default=0.0), threshold) * 1.2 or 1.0,
                lambda v: f"{v:.0%}",
            )
        page(
            resp,
            "rollout.html",
            visitor,
            app=app,
            channel=channel,
            row=row,
            live=row is not None and row.state in rollouts.LIVE,
            share=(share_at(row.steps, row.held_share, now) / 100) if row else 0,
            steps=[
                (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at)), bp / 100, at <= now)
                for at, bp in (row.steps if row else [])
            ],
            chart=chart,
            eligible=rollouts.eligible_devices(visitor.user, app_id, channel),
            bundles=bundles.list_bundles(visitor.user, app.package_name, 1, 100).rows
            if app.package_name
            else [],
        )

    def on_post(self, req, resp, app_id, channel):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        catalog.get_app(visitor.user, app_id, write=True)  # another team's app: 404 before any field
        steps = _steps(form, time.time())
        with unit_of_work():
            rollouts.start_rollout(
                visitor.user,
                app_id,
                channel,
                text(form, "bundle", limit=128),
                steps,
                on_failure="rollback" if form.get("on_failure") == "rollback" else "pause",
                threshold_bp=integer(form, "threshold", 1, 100) * 100,
                min_samples=integer(form, "min_samples", 1, 1_000_000),
                window_seconds=integer(form, "window_minutes", 1, 7 * 24 * 60) * 60,
            )
        raise see_other(f"/console/apps/{app_id}/rollouts/{channel}")


class RolloutAction(Resource):
    """POST pause, resume, promote or abort."""

    def on_post(self, req, resp, app_id, channel, action):
        visitor = self.visitor(req)
        self.form(req, visitor)
        act = ACTIONS.get(action)
        if act is None:
            raise falcon.HTTPNotFound(description="no such action")
        with unit_of_work():
            act(visitor.user, app_id, channel)
        raise see_other(f"/console/apps/{app_id}/rollouts/{channel}")


class RolloutHealth(Resource):
    """JSON for the page's live chart: the current share, state and failure rates."""

    def on_get(self, req, resp, app_id, channel):
        visitor = self.visitor(req)
        row = rollouts.get_rollout(visitor.user, app_id, channel)
        now = time.time()
        failures, sets = rollouts.window_counts(row, now)
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "no-store")
        resp.data = orjson.dumps(
            {
                "state": row.state,
                "share_percent": share_at(row.steps, row.held_share, now) / 100,
                "failing_devices": failures,
                "updated_devices": sets,
                "threshold_percent": row.threshold_bp / 100,
                "reason": row.reason,
            }
        )
