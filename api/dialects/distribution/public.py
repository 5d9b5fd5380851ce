"""The distribution server's public side: product pages, the click that leads to a download, downloads
(Range from local disk through sendfile, or a presigned S3 redirect), iOS manifests, UDID capture.

Events: a page view is a ``visit``, a button press a ``click``, and a ``download`` counts once per
(release, client) however many Range requests resume it. Pages carry an ETag and ``Cache-Control:
public, no-cache``: an edge may keep the page and revalidate each view, which reaches Gatehouse (and
counts) but costs a 304 without a body when nothing changed.
"""

from __future__ import annotations

import hashlib
import plistlib
from urllib.parse import quote, urlencode

import falcon
import redis

from api.dialects.base import WriteContext, WriteResource
from api.dialects.distribution import page
from api.etags import etag_listed
from api.metrics import DROPPED
from api.secret_key import secret_key
from api.write.files import StoredFile, send_file
from api.write.http import read_body
from api.write.ratelimit import client_address
from store import ios_devices, product_pages, team_settings, udid
from store.errors import InvalidInput, NotFound, TooManyRequests
from store.service import unit_of_work

MIME = {
    "apk": "application/vnd.android.package-archive",
    "aab": "application/octet-stream",
    "ipa": "application/octet-stream",
    "dmg": "application/x-apple-diskimage",
    "pkg": "application/octet-stream",
    "exe": "application/vnd.microsoft.portable-executable",
    "msi": "application/x-msi",
    "zip": "application/zip",
    "appimage": "application/octet-stream",
    "deb": "application/vnd.debian.binary-package",
    "rpm": "application/x-rpm",
}


def base_url(req: falcon.Request, settings, team_settings) -> str:
    """Where testers reach Gatehouse: the team's primary domain, else GATEHOUSE_PUBLIC_URL, else this request's
    own origin."""
    domain = (team_settings.primary_domain or "").strip().rstrip("/")
    if domain:
        return domain if "://" in domain else f"https://{domain}"
    return (settings.public_url or req.prefix).rstrip("/")


def page_url(base: str, slug: str) -> str:
    return f"{base}/products/{quote(slug)}"


def manifest_url(base: str, release_id: str) -> str:
    return f"{base}/ios/{release_id}/manifest.plist"


def install_url(base: str, release_id: str) -> str:
    return "itms-services://?" + urlencode(
        {"action": "download-manifest", "url": manifest_url(base, release_id)}
    )


def upload_answer(base: str, target, row) -> dict:
    app = target.app
    urls = {"page": page_url(base, app.slug), "download": f"{base}/d/{row.release_id}"}
    if target.platform == "ios":
        urls |= {
            "ios_manifest": manifest_url(base, row.release_id),
            "ios_install": install_url(base, row.release_id),
        }
    return {
        "app": {
            "id": app.public_id,
            "name": app.title,
            "platform": target.platform,
            "bundle_id": target.identifier,
        },
        "release": {"id": row.release_id, "version": row.version, "build": row.build_number},
        "urls": urls,
    }


def _who(req: falcon.Request, ctx: WriteContext) -> tuple[str, str]:
    return client_address(req, ctx.settings.proxies), (req.user_agent or "")[:255]


class ProductPage(WriteResource):
    def on_get(self, req, resp, slug):
        content = product_pages.public_page(slug) if len(slug) <= 128 else None
        if content is None:
            resp.content_type = falcon.MEDIA_HTML
            resp.status, resp.text = falcon.HTTP_404, page.not_found()
            resp.set_header("Cache-Control", "no-store")
            return
        ip, ua = _who(req, self.ctx)
        with unit_of_work():
            product_pages.record_event(content.app.id, "visit", None, None, ip, ua)
        base = base_url(req, self.ctx.settings, content.settings)
        icon = (
            f"/api/files/apps/{content.app.public_id}/{quote(content.app.icon)}" if content.app.icon else None
        )
        outcome = req.get_param("udid")
        body = page.render(content, page_url(base, content.app.slug), icon, outcome).encode()
        tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        resp.set_header("ETag", tag)
        resp.set_header("Cache-Control", "public, no-cache")
        resp.set_header("Vary", "Accept-Encoding")
        if etag_listed(req.get_header("If-None-Match") or "", tag):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.data = body


class Click(WriteResource):
    """A page button: counts a click, then sends the browser to the file (or, on iOS, to the installer)."""

    def on_get(self, req, resp, slug, release_id):
        row = product_pages.public_release(release_id)
        if row is None or row.app.slug != slug:
            raise NotFound("release not found")
        ip, ua = _who(req, self.ctx)
        with unit_of_work():
            product_pages.record_event(row.app_id, "click", row.variant_id, row.id, ip, ua)
        base = base_url(req, self.ctx.settings, team_settings.team_settings(row.app.team_id))
        resp.status = falcon.HTTP_302
        resp.set_header("Cache-Control", "no-store")
        ios = row.variant.platform == "ios" and row.file_name and row.file_name.lower().endswith(".ipa")
        resp.location = install_url(base, release_id) if ios else f"{base}/d/{release_id}"


class Download(WriteResource):
    def on_get(self, req, resp, release_id):
        row = product_pages.public_release(release_id)
        if row is None:
            raise NotFound("release not found")
        storage = self.ctx.backends.open(row.file_backend, row.app.team_id)
        info = storage.stat(row.file_key)
        if info is None:
            raise NotFound("release file not found")
        kind = MIME.get(row.file_name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
        f = StoredFile(row.file_key, info.size, info.etag, info.modified, kind, row.file_name)
        settings = self.ctx.settings
        # GATEHOUSE_S3_DOWNLOADS=proxy streams through the write API here too (the presigned redirect
        # was taken whatever it said).
        redirect = settings.s3_presign_seconds if settings.s3_downloads == "redirect" else None
        sending = send_file(req, resp, storage, f, redirect)
        if req.method == "GET" and (sending or resp.status_code == 302):
            ip, ua = _who(req, self.ctx)
            client = hashlib.sha256(f"{ip}|{ua}".encode()).hexdigest()[:32]
            with unit_of_work():
                product_pages.record_download(row, client, ip, ua)

    on_head = on_get


class Manifest(WriteResource):
    def on_get(self, req, resp, release_id):
        row = product_pages.public_release(release_id)
        if row is None or row.variant.platform != "ios":
            raise NotFound("release not found")
        base = base_url(req, self.ctx.settings, team_settings.team_settings(row.app.team_id))
        doc = {
            "items": [
                {
                    "assets": [{"kind": "software-package", "url": f"{base}/d/{release_id}"}],
                    "metadata": {
                        "bundle-identifier": row.variant.identifier,
                        "bundle-version": row.version,
                        "kind": "software",
                        "title": row.app.title,
                    },
                }
            ]
        }
        resp.content_type = "application/xml"
        resp.set_header("Cache-Control", "no-cache")
        resp.data = plistlib.dumps(doc, fmt=plistlib.FMT_XML)


class UdidProfile(WriteResource):
    def on_get(self, req, resp):
        variant_id = req.get_param("variant") or ""
        target = product_pages.public_variant(variant_id) if len(variant_id) <= 32 else None
        if target is None or target.platform != "ios" or not target.app.published:
            raise NotFound("variant not found")
        settings = team_settings.team_settings(target.app.team_id)
        base = base_url(req, self.ctx.settings, settings)
        callback = f"{base}/udid/callback?{udid.callback_query(secret_key(self.ctx.settings, self.ctx.connection), target.public_id)}"
        resp.content_type = "application/x-apple-aspen-config"
        resp.set_header("Content-Disposition", 'attachment; filename="udid.mobileconfig"')
        resp.set_header("Cache-Control", "no-store")
        resp.data = udid.profile(callback, settings.organization, target.app.title, target.public_id)


class UdidCallback(WriteResource):
    """The device posts its signed attributes here; the tester is sent back to the page (301, as iOS
    expects) with the outcome.

    The envelope proves only that its sender holds some key: anyone can sign one, so a link and an address
    register a bounded number of devices (GATEHOUSE_UDID_PER_LINK over the link's life,
    GATEHOUSE_UDID_PER_ADDRESS an hour; 429 past either), captured devices are listed as unconfirmed,
    and none is registered with Apple unless an admin chooses it."""

    def _within_bounds(self, variant_id: str, expires: str, ip: str) -> None:
        settings, r = self.ctx.settings, self.ctx.connection
        link = f"gh:udid:link:{variant_id}:{expires}"
        address = f"gh:udid:addr:{ip}"
        try:
            n_link, _, n_addr, _ = (
                r.pipeline(transaction=False)
                .incr(link)
                .expire(link, 3 * 86_400, nx=True)
                .incr(address)
                .expire(address, 3600, nx=True)
                .execute()
            )
        except redis.RedisError:
            DROPPED.labels("udid_limit").inc()
            return  # let through while Redis is down, as the login limit does
        if n_link > settings.udid_per_link or n_addr > settings.udid_per_address:
            raise TooManyRequests("too many devices registered through this link or address; try later", 3600)

    def on_post(self, req, resp):
        variant_id = req.get_param("variant") or ""
        if not udid.callback_valid(
            secret_key(self.ctx.settings, self.ctx.connection),
            variant_id,
            req.get_param("expires") or "",
            req.get_param("sig") or "",
        ):
            raise InvalidInput("the registration link is invalid or has expired; open the profile again")
        target = product_pages.public_variant(variant_id)
        if target is None:
            raise NotFound("variant not found")
        try:
            capture = udid.parse_callback(read_body(req, udid.MAX_CALLBACK_BYTES))
        except udid.BadCallback as exc:
            raise InvalidInput(str(exc)) from None
        ip, _ = _who(req, self.ctx)
        self._within_bounds(variant_id, req.get_param("expires") or "", ip)
        with unit_of_work():
            ios_devices.bind_device(target, capture, ip)
        base = base_url(req, self.ctx.settings, team_settings.team_settings(target.app.team_id))
        resp.status = falcon.HTTP_301
        resp.location = f"{page_url(base, target.app.slug)}?udid=bound"


class Healthz:
    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_JSON
        resp.data = b'{"ok":true}'


def routes(ctx: WriteContext) -> list[tuple[str, object]]:
    return [
        ("/products/{slug}", ProductPage(ctx)),
        ("/products/{slug}/get/{release_id}", Click(ctx)),
        ("/d/{release_id}", Download(ctx)),
        ("/ios/{release_id}/manifest.plist", Manifest(ctx)),
        ("/udid/profile.mobileconfig", UdidProfile(ctx)),
        ("/udid/callback", UdidCallback(ctx)),
        ("/healthz", Healthz()),
    ]
