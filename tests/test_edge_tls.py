"""The edge terminating TLS (issue 20): real nginx with a self-signed certificate in front of the real
services. Every URL Gatehouse builds is https on the edge's host (bundle links, upload answers, the iOS
manifest and its install link, the product page and its QR code, the UDID profile's callback); plain HTTP
redirects; and the scheme a client claims is believed only from the trusted proxies."""

from __future__ import annotations

import datetime
import io
import ipaddress
import plistlib
import ssl
import subprocess
import zipfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.render_nginx import render
from loadtest.processes import free_port, wait_until
from loadtest.stack import production_stack
from tests import lanes
from tests.helpers import certificate
from tests.test_deployment import NGINX
from tests.test_distribution_browser import ARTIFACTS, browser  # noqa: F401 - the Chromium fixture

TLS_DB = lanes.pg("gatehouse_tls")
TLS_REDIS = lanes.redis_url(5)
PKG = "com.example.tls"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = certificate(
        key,
        "127.0.0.1",
        now - datetime.timedelta(minutes=5),
        now + datetime.timedelta(days=1),
        [
            (x509.SubjectAlternativeName(names), False),
            (x509.BasicConstraints(ca=True, path_length=None), True),
        ],
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for path in (cert_path, key_path):
        path.chmod(0o644)  # nginx reads them as root before dropping privileges; the directory is private
    return cert_path, key_path


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("edge")
    run_dir.chmod(0o777)  # nginx workers drop to an unprivileged user when started as root
    cert, key = self_signed(run_dir)
    with production_stack(
        TLS_DB,
        TLS_REDIS,
        "gatehouse-tls",
        GATEHOUSE_FORWARDED_FOR_HOPS="1",
        GATEHOUSE_READ_WORKERS="1",
        GATEHOUSE_WRITE_WORKERS="1",
    ) as st:
        plain, secure = free_port(), free_port()
        conf = run_dir / "nginx.conf"
        conf.write_text(
            render(
                LISTEN=f"127.0.0.1:{plain}",
                TLS_LISTEN=f"127.0.0.1:{secure}",
                TLS_CERT=str(cert),
                TLS_KEY=str(key),
                READ_UPSTREAM=st.read.removeprefix("http://"),
                WRITE_UPSTREAM=st.write.removeprefix("http://"),
                RUN_DIR=str(run_dir),
                CACHE_SECONDS="1",
            )
        )
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"])
        base = f"https://127.0.0.1:{secure}"
        client = httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=str(cert)))
        try:
            wait_until(lambda: _up(client), timeout=30)
            yield SimpleNamespace(
                base=base,
                plain=f"http://127.0.0.1:{plain}",
                https=client,
                token=st.admin_token,
                write_direct=st.write,
                auth={"Authorization": f"Bearer {st.admin_token}"},
            )
        finally:
            client.close()
            nginx.terminate()
            nginx.wait(10)


def test_plain_http_redirects_to_https_keeping_the_method(edge):
    port = urlsplit(edge.base).port
    got = httpx.get(edge.plain + "/products/x?from=qr")
    assert got.status_code == 301
    assert got.headers["location"] == f"https://127.0.0.1:{port}/products/x?from=qr"
    posted = httpx.post(edge.plain + "/updates", json={})
    assert posted.status_code == 308 and posted.headers["location"] == f"https://127.0.0.1:{port}/updates"


def _bundle_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.html", "<p>tls</p>")
    return buf.getvalue()


def test_every_url_gatehouse_builds_is_https_on_the_edges_host(edge, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    https, base = edge.https, edge.base
    team = https.post("/admin/v1/teams", json={"name": "TLS"}, headers=edge.auth).json()["id"]
    app = https.post(
        "/admin/v1/apps", json={"team_id": team, "title": "TLS", "package_name": PKG}, headers=edge.auth
    )
    assert app.status_code == 201, app.text
    capgo = {"authorization": edge.token}

    # Capgo: the bundle link a device is offered, and the download through it.
    data = _bundle_zip()
    up = https.post(
        "/bundle/upload",
        params={"app_id": PKG, "version": "1.1.0", "channel": "production"},
        content=data,
        headers=capgo | {"Content-Type": "application/octet-stream"},
    )
    assert up.status_code == 201, up.text
    https.post("/channel", json={"app_id": PKG, "channel": "production", "public": True}, headers=capgo)
    device = {
        "app_id": PKG,
        "device_id": "5c1b7d53-7f3c-4a0e-9a56-9f1f2b0c6d11",
        "platform": "android",
        "version_build": "1.0.0",
        "version_name": "builtin",
        "plugin_version": "7.0.0",
        "is_emulator": False,
        "is_prod": True,
    }
    wait_until(lambda: https.post("/updates", json=device).json().get("version") == "1.1.0", timeout=10)
    link = https.post("/updates", json=device).json()["url"]
    assert link.startswith(f"{base}/capgo/bundles/"), link
    assert https.get(link).content == data

    # Distribution: the upload answer, the manifest, the install link, the page, its QR code, the profile.
    dist = {"X-Auth-Token": edge.token}
    product = https.post(
        "/admin/api/products", json={"name": "Secure", "slug": "secure", "team_id": team}, headers=dist
    ).json()["data"]["product"]
    variant = https.post(
        f"/admin/api/products/{product['id']}/variants",
        json={"platform": "ios", "display_name": "Secure", "identifier": "com.example.secure"},
        headers=dist,
    ).json()["data"]["variant"]
    answer = https.post(
        "/upload",
        data={"variant_id": variant["id"], "version": "2.0.0", "build": "9"},
        files={"app_file": ("secure.ipa", b"PK\x03\x04IPA" * 100, "application/octet-stream")},
        headers=dist,
    )
    assert answer.status_code == 201, answer.text
    urls = answer.json()["data"]["urls"]
    release = answer.json()["data"]["release"]["id"]
    assert urls["page"] == f"{base}/products/secure"
    assert urls["download"] == f"{base}/d/{release}"
    assert urls["ios_manifest"] == f"{base}/ios/{release}/manifest.plist"
    install = urlsplit(urls["ios_install"])
    assert install.scheme == "itms-services" and parse_qs(install.query)["url"] == [urls["ios_manifest"]]
    manifest = plistlib.loads(https.get(urls["ios_manifest"]).content)["items"][0]
    assert manifest["assets"][0]["url"] == f"{base}/d/{release}"
    assert https.get(urls["download"]).content == b"PK\x03\x04IPA" * 100
    clicked = https.get(f"/products/secure/get/{release}")
    assert clicked.headers["location"] == urls["ios_install"]

    profile = plistlib.loads(
        https.get("/udid/profile.mobileconfig", params={"variant": variant["id"]}).content
    )
    assert profile["PayloadContent"]["URL"].startswith(f"{base}/udid/callback?")

    browser.execute_cdp_cmd("Security.setIgnoreCertificateErrors", {"ignore": True})
    browser.get(urls["page"])
    assert browser.find_element(By.TAG_NAME, "h1").text == "Secure"
    assert urls["page"] in browser.page_source
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    qr = ARTIFACTS / "product-page-qr-tls.png"
    qr.write_bytes(browser.find_element(By.CSS_SELECTOR, ".qr svg").screenshot_as_png)
    decoded = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(qr)], capture_output=True, text=True, check=True
    )
    assert decoded.stdout.strip() == urls["page"]


def test_a_scheme_claimed_by_a_client_is_not_believed(edge):
    """Behind the edge the scheme is the edge's: a client's own X-Forwarded-Proto is replaced, and a peer that is
    not a trusted proxy is not believed (here: a write API trusting only 192.0.2.1)."""
    page = edge.https.get("/products/secure", headers={"X-Forwarded-Proto": "http"})
    assert f"{edge.base}/products/secure" in page.text
    with production_stack(
        lanes.pg("gatehouse_tls_direct"),
        lanes.redis_url(1),
        "gatehouse-tls-direct",
        GATEHOUSE_FORWARDED_FOR_HOPS="1",
        GATEHOUSE_TRUSTED_PROXIES="192.0.2.1",
        GATEHOUSE_READ_WORKERS="1",
        GATEHOUSE_WRITE_WORKERS="1",
    ) as st:
        dist = httpx.Client(base_url=st.write, headers={"X-Auth-Token": st.admin_token})
        team = dist.post(
            "/admin/v1/teams", json={"name": "Direct"}, headers={"Authorization": f"Bearer {st.admin_token}"}
        ).json()["id"]
        assert (
            dist.post("/admin/api/products", json={"name": "D", "slug": "d", "team_id": team}).status_code
            == 201
        )
        spoofed = dist.get("/products/d", headers={"X-Forwarded-Proto": "https"})
        assert f"{st.write}/products/d" in spoofed.text
        assert f"https://{st.write.removeprefix('http://')}" not in spoofed.text


@pytest.mark.parametrize(
    ("peer", "forwarded", "hops", "client"),
    [
        ("127.0.0.1", "203.0.113.7", 1, "203.0.113.7"),  # the edge's word for it
        ("127.0.0.1", "198.51.100.1, 203.0.113.7", 1, "203.0.113.7"),  # a client's own entry is skipped
        ("127.0.0.1", "198.51.100.1, 203.0.113.7, 10.0.0.5", 2, "203.0.113.7"),  # two proxies
        ("198.51.100.9", "203.0.113.7", 1, "198.51.100.9"),  # not a trusted proxy: its header is its own text
        ("127.0.0.1", "203.0.113.7", 0, "127.0.0.1"),  # no hops configured: nothing forwarded is believed
        ("127.0.0.1", "", 1, "127.0.0.1"),
        ("10.1.2.3", "203.0.113.7", 1, "203.0.113.7"),  # a trusted network
        ("unknown", "203.0.113.7", 1, "unknown"),
    ],
)
def test_the_client_address_is_forwarded_only_by_a_trusted_proxy(peer, forwarded, hops, client):
    from api.forwarding import Proxies

    assert Proxies(hops, "127.0.0.1, ::1, 10.0.0.0/8, not-an-address").client(peer, forwarded) == client
