"""Distribution: an app's variants and releases, release uploads with a progress bar, the public page with
its QR code, the events, and downloads per release per day. Admin-only, as the distribution API is."""

from __future__ import annotations

import datetime as dt
from typing import BinaryIO, NamedTuple
from urllib.parse import quote

import falcon
import segno
from markupsafe import Markup

from api.dialects.console import auth, charts
from api.dialects.console.apps import period
from api.dialects.console.forms import flag, text
from api.dialects.console.pages import Resource, page, see_other, uploaded
from api.write.exports import send_csv
from api.write.uploads import stream_form
from store import fleet_stats, product_pages, products, releases, team_settings
from store.errors import InvalidInput
from store.service import unit_of_work
from store.storage import Storage, Stored

RELEASE_FIELDS = {"csrf": 128, "variant_id": 32, "version": 64, "build": 18, "changelog": 20_000}


def public_url(req: falcon.Request, settings, app) -> str:
    """The product page's address, as the distribution server links it: the team's primary domain, else
    GATEHOUSE_PUBLIC_URL, else this request's origin."""
    domain = (team_settings.team_settings(app.team_id).primary_domain or "").strip().rstrip("/")
    if domain:
        origin = domain if "://" in domain else f"https://{domain}"
    else:
        origin = (settings.public_url or req.prefix).rstrip("/")
    return f"{origin}/products/{quote(app.slug or '')}"


def qr_svg(url: str) -> Markup:
    """The page's address as a QR code, inline SVG (no script, no image request)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=4, title=f"QR code of {url}", omitsize=False))


class Distribution(Resource):
    """GET the app's distribution page."""

    def on_get(self, req, resp, app_id):
        visitor = self.visitor(req)
        view = products.get_product(visitor.user, app_id)
        days = period(req, resp)
        until = dt.date.today()
        series = fleet_stats.downloads(visitor.user, app_id, until - dt.timedelta(days=days - 1), until)
        if req.get_param("format") == "csv":
            rows = (
                [day.isoformat(), name, counts[i]]
                for i, day in enumerate(series.days)
                for name, counts in series.series.items()
                if counts[i]
            )
            send_csv(resp, f"downloads-{app_id}.csv", ["day", "release", "downloads"], rows)
            return
        events, total = product_pages.list_events(visitor.user, None, None, None, 50, 0, product_id=app_id)
        counts = fleet_stats.download_totals(view.app.id)
        url = public_url(req, self.console.settings, view.app)
        page(
            resp,
            "distribution.html",
            visitor,
            app=view.app,
            variants=view.variants,
            releases=view.releases,
            counts=counts,
            public_url=url,
            qr=qr_svg(url),
            events=events,
            event_total=total,
            platforms=products.DIST_PLATFORMS,
            days=days,
            periods=(7, 30, 90),
            downloads_svg=charts.stacked(
                "Downloads per release per day", [d.strftime("%m-%d") for d in series.days], series.series
            ),
        )


class Variants(Resource):
    """POST adds a variant (a platform's build line)."""

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        products.product(visitor.user, app_id, write=True)
        with unit_of_work():
            products.create_variant(
                visitor.user,
                app_id,
                {
                    "platform": text(form, "platform", limit=16),
                    "display_name": text(form, "display_name", required=False, limit=255),
                    "identifier": text(form, "identifier", required=False, limit=255),
                },
            )
        raise see_other(f"/console/apps/{app_id}/distribution")


class Publish(Resource):
    """POST sets whether the product page is public."""

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        form = self.form(req, visitor)
        with unit_of_work():
            products.set_published(visitor.user, app_id, flag(form, "published"))
        raise see_other(f"/console/apps/{app_id}/distribution")


class _Saved(NamedTuple):
    target: products.Variant
    backend: str
    storage: Storage
    name: str
    stored: Stored


class ReleaseUpload(Resource):
    """POST a multipart form (csrf, variant_id, version, build, changelog before the file ``app_file``): the
    file streams into the team's storage, then the release row points at it."""

    def __init__(self, console, max_bytes: int) -> None:
        super().__init__(console)
        self.max_bytes = max_bytes

    def on_post(self, req, resp, app_id):
        visitor = self.visitor(req)
        products.product(visitor.user, app_id, write=True)
        release_id = products.new_release_id()

        def save(fields: dict[str, str], name: str, stream: BinaryIO) -> _Saved:
            auth.check_csrf(fields, visitor.csrf)
            target = products.variant(visitor.user, fields.get("variant_id", ""))
            if target.app.public_id != app_id:
                raise InvalidInput("that variant belongs to another product")
            backend = team_settings.upload_backend(team_settings.team_settings(target.app.team_id))
            storage = self.console.backends.open(backend, target.app.team_id)
            key = f"dist/{target.app.public_id}/{target.public_id}/{release_id}/{name}"
            return _Saved(target, backend, storage, name, storage.save(key, stream, self.max_bytes))

        def discard(saved: _Saved) -> None:
            saved.storage.delete(saved.stored.key)

        form = stream_form(req, self.max_bytes, RELEASE_FIELDS, "app_file", save, discard)
        saved, fields = form.saved, form.fields
        try:
            build = fields.get("build") or ""
            if build and not (build.isascii() and build.isdigit()):
                raise InvalidInput("build must be a whole number of at most 18 digits")
            values = releases.ReleaseInput(
                fields.get("version") or "0.0.0",
                int(build) if build else None,
                fields.get("changelog", ""),
                "",
                "",
            )
            f = saved.stored
            with unit_of_work():
                releases.create_release(
                    saved.target, release_id, values, f.key, saved.name, f.size, f.sha256, saved.backend
                )
        except BaseException:
            discard(saved)
            raise
        uploaded(req, resp, {"release_id": release_id}, f"/console/apps/{app_id}/distribution")
