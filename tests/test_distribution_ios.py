"""iOS testers: UDID capture through the Profile Service payload and its signed callback, and device
registration with Apple, tested against a local server that speaks App Store Connect's devices API and
checks what Apple checks (an ES256 token signed by the team's key, one UDID once)."""

from __future__ import annotations

import datetime as dt
import json
import plistlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from store.models import IosDevice, IosDeviceBinding
from tests.helpers import certificate
from tests.test_distribution import make_product

UDID = "00008030-001A2B3C4D5E6F70"


def device_callback(attrs: dict, key=None, tamper: bool = False) -> bytes:
    """What an iOS device posts: its attributes as a plist, in a PKCS#7 envelope signed by its certificate."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = certificate(
        key, "Apple iPhone Device CA test", now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    )
    content = plistlib.dumps(attrs, fmt=plistlib.FMT_XML)
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [])
    )
    if tamper:  # the plist's UDID changed after signing
        der = der.replace(UDID.encode(), UDID[:-1].encode() + b"1")
    return der


def callback_path(api, vid) -> str:
    profile = api.simulate_get("/udid/profile.mobileconfig", params={"variant": vid})
    assert profile.status_code == 200
    assert profile.headers["content-type"] == "application/x-apple-aspen-config"
    payload = plistlib.loads(profile.content)
    assert payload["PayloadType"] == "Profile Service"
    assert payload["PayloadContent"]["DeviceAttributes"][:1] == ["UDID"]
    url = urlsplit(payload["PayloadContent"]["URL"])
    assert url.path == "/udid/callback"
    return f"{url.path}?{url.query}"


ATTRS = {
    "UDID": UDID,
    "PRODUCT": "iPhone15,2",
    "VERSION": "21A329",
    "SERIAL": "F2LXQ0ABCD",
    "DEVICE_NAME": "Ann",
}


def test_a_device_registers_through_the_profile_and_is_listed(api, world, dist):
    pid, vid = make_product(dist, platform="ios")
    path = callback_path(api, vid)
    res = api.simulate_post(
        path, body=device_callback(ATTRS), headers={"Content-Type": "application/pkcs7-signature"}
    )
    assert res.status_code == 301
    assert res.headers["location"].endswith("/products/myapp?udid=bound")
    assert "This device is registered" in api.simulate_get("/products/myapp", params={"udid": "bound"}).text
    # Posting again (a tester who runs the profile twice) refreshes, never duplicates.
    again = api.simulate_post(path, body=device_callback(ATTRS | {"VERSION": "21B80"}))
    assert again.status_code == 301
    device = IosDevice.get(IosDevice.udid == UDID)
    assert (device.product, device.os_version, device.serial) == ("iPhone15,2", "21B80", "F2LXQ0ABCD")
    assert IosDevice.select().count() == 1 and IosDeviceBinding.select().count() == 1
    listed = dist("GET", "/admin/api/ios_devices", params={"variant_id": vid}).json["data"]["items"]
    assert [(d["udid"], d["model"], d["variants"]) for d in listed] == [(UDID, "iPhone15,2", [vid])]


def test_an_ec_signed_callback_is_accepted_too(api, dist):
    pid, vid = make_product(dist, platform="ios")
    res = api.simulate_post(
        callback_path(api, vid), body=device_callback(ATTRS, key=ec.generate_private_key(ec.SECP256R1()))
    )
    assert res.status_code == 301


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the callback is not a PKCS#7 envelope"),
        (b"not der at all", "the callback is not a PKCS#7 envelope"),
        (plistlib.dumps(ATTRS), "the callback is not a PKCS#7 envelope"),
        ("tampered", "the callback's content does not match its signature"),
        ("no-udid", "the callback carries no valid UDID"),
    ],
)
def test_malformed_or_unsigned_callbacks_store_nothing(api, dist, body, message):
    pid, vid = make_product(dist, platform="ios")
    if body == "tampered":
        body = device_callback(ATTRS, tamper=True)
    elif body == "no-udid":
        body = device_callback({"PRODUCT": "iPhone15,2"})
    res = api.simulate_post(callback_path(api, vid), body=body)
    assert res.status_code == 400 and res.json["ok"] is False
    assert res.json["error"]["message"].startswith(message)
    assert IosDevice.select().count() == 0


def test_an_unsigned_envelope_is_refused(api, dist):
    """A CMS SignedData with no signer (what a forger without a device certificate could make)."""
    from asn1crypto import cms

    pid, vid = make_product(dist, platform="ios")
    content = plistlib.dumps(ATTRS)
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "data", "content": content},
            "signer_infos": [],
        }
    )
    body = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    res = api.simulate_post(callback_path(api, vid), body=body)
    assert (res.status_code, res.json["error"]["message"]) == (400, "the callback is not signed")
    assert IosDevice.select().count() == 0


def test_a_forged_or_expired_callback_link_is_refused(api, dist):
    pid, vid = make_product(dist, platform="ios")
    path = callback_path(api, vid)
    query = parse_qs(urlsplit(path).query)
    forged = f"/udid/callback?variant={vid}&expires={query['expires'][0]}&sig={'0' * 64}"
    expired = f"/udid/callback?variant={vid}&expires=1000&sig={query['sig'][0]}"
    for url in (forged, expired, "/udid/callback"):
        res = api.simulate_post(url, body=device_callback(ATTRS))
        assert res.status_code == 400, url
    assert IosDevice.select().count() == 0
    assert api.simulate_get("/udid/profile.mobileconfig", params={"variant": "var_nope"}).status_code == 404
    _, android = make_product(dist, slug="droid", platform="android")
    assert api.simulate_get("/udid/profile.mobileconfig", params={"variant": android}).status_code == 404


# -- Apple -------------------------------------------------------------------------------------------


class FakeAppStoreConnect:
    """App Store Connect's devices API as documented: ES256 bearer tokens (kid, iss, aud, exp at most 20
    minutes) verified with the team key's public half, POST /v1/devices (409 for a UDID it has),
    GET /v1/devices with limit, filter[udid] and next links."""

    def __init__(self, public_key, key_id: str, issuer: str):
        self.devices: list[dict] = []
        self.refuse: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                try:
                    header = jwt.get_unverified_header(token)
                    claims = jwt.decode(
                        token, public_key, algorithms=["ES256"], audience="appstoreconnect-v1", issuer=issuer
                    )
                    ok = header.get("kid") == key_id and claims["exp"] - claims["iat"] <= 1200
                except jwt.PyJWTError:
                    ok = False
                if not ok:
                    self._send(401, {"errors": [{"status": "401", "code": "NOT_AUTHORIZED",
                                                 "detail": "Provide a properly configured and signed bearer token"}]})  # fmt: skip
                return ok

            def do_GET(self):
                fake.calls.append(("GET", self.path))
                if not self._authorised():
                    return
                url = urlsplit(self.path)
                q = parse_qs(url.query)
                items = fake.devices
                if "filter[udid]" in q:
                    items = [d for d in items if d["attributes"]["udid"] == q["filter[udid]"][0]]
                limit, start = int(q.get("limit", ["20"])[0]), int(q.get("cursor", ["0"])[0])
                page = items[start : start + limit]
                links = {"self": f"http://{self.headers['Host']}{self.path}"}
                if start + limit < len(items):
                    links["next"] = (
                        f"http://{self.headers['Host']}/v1/devices?limit={limit}&cursor={start + limit}"
                    )
                self._send(200, {"data": page, "links": links})

            def do_POST(self):
                fake.calls.append(("POST", self.path))
                if not self._authorised():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                attrs = body["data"]["attributes"]
                if attrs["udid"] in fake.refuse:
                    return self._send(
                        422, {"errors": [{"status": "422", "detail": "An invalid value was provided"}]}
                    )
                if any(d["attributes"]["udid"] == attrs["udid"] for d in fake.devices):
                    return self._send(
                        409, {"errors": [{"status": "409", "detail": "A device with number already exists"}]}
                    )
                device = {"type": "devices", "id": f"APL{len(fake.devices) + 1:04d}",
                          "attributes": {**attrs, "status": "ENABLED", "model": None}}  # fmt: skip
                fake.devices.append(device)
                self._send(201, {"data": device})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def apple_key():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key, pem.decode()


@pytest.fixture
def apple(settings, redis_conn, world, apple_key, monkeypatch):
    """A write API whose Apple base URL is the fake, and world's team configured with the key."""
    from falcon import testing

    from api.write.app import create_write_app

    fake = FakeAppStoreConnect(apple_key[0].public_key(), "KEY1234567", "issuer-uuid")
    client = testing.TestClient(
        create_write_app(settings.model_copy(update={"apple_api_url": fake.url}), redis_conn)
    )

    def call(method, path, body=None, **kw):
        return client.simulate_request(method, path, json=body, headers={"X-Auth-Token": world.token}, **kw)

    fake.call = call
    yield fake
    fake.server.shutdown()
    fake.server.server_close()  # its listening socket too (filterwarnings = error makes a leak fail)


def configure(apple, pem, key_id="KEY1234567"):
    res = apple.call(
        "PUT",
        "/admin/api/settings",
        {"apple_key_id": key_id, "apple_issuer_id": "issuer-uuid", "apple_private_key": pem},
    )
    assert res.status_code == 200 and res.json["data"]["apple_private_key"] == "********"


def bind(world, dist, udids):
    from store import ios_devices
    from store.db import unit_of_work
    from store.models import Variant

    pid, vid = make_product(dist, platform="ios")
    with unit_of_work():
        variant = Variant.get(Variant.public_id == vid)
        return [
            ios_devices.bind_device(
                variant, ios_devices.Capture(u, "iPhone15,2", "17.0", "S", ""), "::1"
            ).public_id
            for u in udids
        ]


def test_apple_status_reports_configuration_and_validity(apple, apple_key):
    # connected and message are what the distribution server's UI reads (issue 20: its status line was blank).
    assert apple.call("GET", "/admin/api/apple/status").json["data"] == {
        "configured": False,
        "connected": False,
        "valid": False,
        "message": "Apple API credentials not configured",
    }
    configure(apple, apple_key[1])
    assert apple.call("GET", "/admin/api/apple/status").json["data"] == {
        "configured": True,
        "connected": True,
        "valid": True,
        "message": "Connected successfully",
    }
    # A key Apple does not know: the fake refuses the token, as Apple does.
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    configure(apple, other.decode())
    status = apple.call("GET", "/admin/api/apple/status").json["data"]
    assert status["valid"] is False and "signed bearer token" in status["error"]
    assert status["connected"] is False and status["message"].startswith("Connection test failed: ")


def test_register_one_device_and_a_duplicate_counts_as_registered(apple, apple_key, world, dist):
    configure(apple, apple_key[1])
    (device,) = bind(world, dist, [UDID])
    res = apple.call("POST", f"/admin/api/devices/{device}/register-apple")
    assert res.status_code == 200, res.text
    assert res.json["data"] == {
        "id": device,
        "udid": UDID,
        "status": "registered",
        "apple_device_id": "APL0001",
    }
    row = IosDevice.get(IosDevice.public_id == device)
    assert row.apple_registered and row.apple_device_id == "APL0001"
    # Apple already holds it (registered elsewhere): 409, then found by UDID.
    row.apple_registered = False
    row.save()
    again = apple.call("POST", f"/admin/api/devices/{device}/register-apple").json["data"]
    assert (again["status"], again["apple_device_id"]) == ("already_registered", "APL0001")
    assert len(apple.devices) == 1
    assert apple.call("POST", "/admin/api/devices/dev_nope/register-apple").status_code == 404


def test_batch_registration_registers_only_the_chosen_devices(apple, apple_key, world, dist, other_world):
    """Issue 19 item 4 and issue 20 item 6: it registered every unregistered device of the team."""
    configure(apple, apple_key[1])
    udids = [f"00008030-00000000000000{i:02d}" for i in range(5)]
    ids = bind(world, dist, udids)
    apple.refuse.add(udids[1])
    missing = apple.call("POST", "/admin/api/devices/register-apple", {})
    assert missing.status_code == 400 and IosDevice.select().where(IosDevice.apple_registered).count() == 0
    res = apple.call(
        "POST", "/admin/api/devices/register-apple", {"device_ids": ids[:3] + ["dev_nope"]}
    ).json["data"]
    assert [(r["device_id"], r["success"]) for r in res["results"]] == [
        (ids[0], True),
        (ids[1], False),
        (ids[2], True),
        ("dev_nope", False),
    ]
    assert [r["status"] for r in res["results"]] == ["registered", "failed", "registered", "failed"]
    assert (res["success_count"], res["fail_count"]) == (2, 2)
    assert res["results"][1]["error"] == "An invalid value was provided"
    assert res["results"][3]["error"] == "Device not found"
    rows = {d.public_id: d for d in IosDevice.select()}
    # The two devices nobody chose stay unregistered, and Apple never saw them.
    assert [rows[i].apple_registered for i in ids] == [True, False, True, False, False]
    assert {d["attributes"]["udid"] for d in apple.devices} == {udids[0], udids[2]}
    assert rows[ids[1]].apple_error == "An invalid value was provided"
    # Once Apple accepts it, choosing it again registers it; a registered one counts as a success.
    apple.refuse.clear()
    second = apple.call("POST", "/admin/api/devices/register-apple", {"device_ids": [ids[1], ids[0]]}).json[
        "data"
    ]
    assert [(r["status"], r["success"]) for r in second["results"]] == [
        ("registered", True),
        ("already_registered", True),
    ]


def test_apple_device_list_follows_every_page(apple, apple_key):
    configure(apple, apple_key[1])
    for i in range(450):
        apple.devices.append({"type": "devices", "id": f"X{i}", "attributes": {"udid": f"U{i}", "name": "n",
                                                                             "platform": "IOS", "status": "ENABLED"}})  # fmt: skip
    res = apple.call("GET", "/admin/api/apple/devices").json["data"]
    assert res["total"] == 450 and res["items"][449] == {
        "id": "X449",
        "udid": "U449",
        "name": "n",
        "platform": "IOS",
        "status": "ENABLED",
    }
    assert sum(1 for m, p in apple.calls if p.startswith("/v1/devices?limit=200")) == 3


def test_without_credentials_registration_is_refused_clearly(apple, world, dist):
    (device,) = bind(world, dist, [UDID])
    res = apple.call("POST", f"/admin/api/devices/{device}/register-apple")
    assert res.json == {
        "ok": False,
        "error": {"code": "BAD_REQUEST", "message": "Apple Developer API credentials are not configured"},
    }
    assert apple.calls == []


def test_bit_flipped_envelopes_answer_400_and_store_nothing(api, dist):
    """Item 12 of the second hardening round: 2 of 300 bit-flipped envelopes answered 500."""
    import random

    pid, vid = make_product(dist, platform="ios")
    path = callback_path(api, vid)
    good = device_callback(ATTRS)
    rng = random.Random(7)
    statuses = set()
    for _ in range(300):
        body = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        res = api.simulate_post(path, body=bytes(body))
        statuses.add(res.status_code)
        assert res.status_code in (301, 400, 429), (res.status_code, res.text)
    assert 400 in statuses


def test_a_link_and_an_address_register_a_bounded_number_of_devices(api, dist):
    """Item 4: 200 self-signed envelopes stored 200 devices; now one address stops at its bound."""
    pid, vid = make_product(dist, platform="ios")
    path = callback_path(api, vid)
    key = ec.generate_private_key(ec.SECP256R1())
    answers = [
        api.simulate_post(
            path, body=device_callback(ATTRS | {"UDID": f"00008030-{i:016X}"}, key=key)
        ).status_code
        for i in range(15)
    ]
    assert answers == [301] * 10 + [429] * 5
    assert IosDevice.select().count() == 10
    # Captured devices are listed as unconfirmed until an admin registers one.
    listed = dist("GET", "/admin/api/ios_devices").json["data"]["items"]
    assert {(d["status"], d["confirmed"]) for d in listed} == {("unconfirmed", False)}
    # Another address, the same link: the link's own bound (20 attempts, the 5 refused ones included)
    # stops it.
    more = [
        api.simulate_post(
            path,
            body=device_callback(ATTRS | {"UDID": f"00008031-{i:016X}"}, key=key),
            remote_addr=f"10.0.0.{i}",
        ).status_code
        for i in range(12)
    ]
    assert more == [301] * 5 + [429] * 7
