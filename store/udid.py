"""UDID capture: the Profile Service payload a tester installs, and the signed plist the device posts back.

The device answers the profile by POSTing a PKCS#7 (CMS SignedData) envelope around a plist of the
attributes asked for. It is signed by the device's own certificate, carried in the envelope: the check
here is that the envelope is well formed, signed, and that the signature over its content verifies
with that certificate, so a truncated, altered or unsigned body is refused and stores nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import plistlib
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from store.ios_devices import Capture

ATTRIBUTES = ["UDID", "IMEI", "ICCID", "VERSION", "PRODUCT", "SERIAL", "DEVICE_NAME"]
LINK_SECONDS = 3600
MAX_CALLBACK_BYTES = 256 * 1024
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class BadCallback(ValueError):
    pass


def _mac(key: bytes, variant_id: str, expires: int) -> str:
    return hmac.new(key, f"udid|{variant_id}|{expires}".encode(), hashlib.sha256).hexdigest()


def callback_query(key: bytes, variant_id: str, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + LINK_SECONDS
    return urlencode({"variant": variant_id, "expires": expires, "sig": _mac(key, variant_id, expires)})


def callback_valid(key: bytes, variant_id: str, expires: str, sig: str, now: float | None = None) -> bool:
    if not (expires.isascii() and expires.isdigit() and len(expires) < 12):
        return False
    if int(expires) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(_mac(key, variant_id, int(expires)), sig)


def profile(callback_url: str, organization: str, product_name: str, variant_id: str) -> bytes:
    """The unsigned .mobileconfig asking the device for its attributes (iOS shows it as not verified)."""
    payload = {
        "PayloadContent": {
            "URL": callback_url,
            "DeviceAttributes": ATTRIBUTES,
            "Challenge": variant_id,
        },
        "PayloadOrganization": organization or "Gatehouse",
        "PayloadDisplayName": f"{product_name}: register this device",
        "PayloadDescription": "Shares this device's identifier (UDID) so a test build can be made for it.",
        "PayloadVersion": 1,
        "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadIdentifier": f"gatehouse.udid.{variant_id}",
        "PayloadType": "Profile Service",
    }
    return plistlib.dumps(payload, fmt=plistlib.FMT_XML)


def _verify(signed: cms.SignedData, content: bytes) -> None:
    signers = signed["signer_infos"]
    certs = [c.chosen for c in signed["certificates"] or [] if c.name == "certificate"]
    if len(signers) == 0 or not certs:
        raise BadCallback("the callback is not signed")
    signer = signers[0]
    sid = signer["sid"].chosen
    cert_der = None
    for cert in certs:
        if isinstance(sid, cms.IssuerAndSerialNumber):
            if cert.serial_number == sid["serial_number"].native and cert.issuer == sid["issuer"]:
                cert_der = cert.dump()
        elif cert.key_identifier == sid.native:
            cert_der = cert.dump()
    if cert_der is None:
        raise BadCallback("the callback's signer certificate is missing")
    algo = signer["digest_algorithm"]["algorithm"].native
    if algo not in _HASHES:
        raise BadCallback(f"unsupported digest {algo}")
    digest = _HASHES[algo]
    attrs = signer["signed_attrs"]
    if attrs:
        given = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
        h = hashlib.new(algo, content).digest()
        if given is None or not hmac.compare_digest(given, h):
            raise BadCallback("the callback's content does not match its signature")
        to_verify = attrs.untag().dump()  # signed over as a SET, not with the [0] tag (RFC 5652 5.4)
    else:
        to_verify = content
    key = x509.load_der_x509_certificate(cert_der).public_key()
    signature = signer["signature"].native
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, to_verify, padding.PKCS1v15(), digest())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, to_verify, ec.ECDSA(digest()))
        else:
            raise BadCallback("unsupported signing key")
    except InvalidSignature:
        raise BadCallback("the callback's signature does not verify") from None


def parse_callback(body: bytes) -> Capture:
    """The device's attributes from its signed callback; BadCallback for anything else."""
    try:
        info = cms.ContentInfo.load(body, strict=True)
        if info["content_type"].native != "signed_data":
            raise BadCallback("the callback is not signed")
        signed = info["content"]
        content = signed["encap_content_info"]["content"]
        if content is None:
            raise BadCallback("the callback carries no content")
        data = content.native
        _verify(signed, data)
    except BadCallback:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted DER: whatever the parsers raise is a bad envelope
        # Bit-flipped envelopes raised past the narrower list (cryptography's UnsupportedAlgorithm, an
        # IndexError in asn1crypto) and answered 500.
        raise BadCallback(f"the callback is not a PKCS#7 envelope: {type(exc).__name__}") from None
    try:
        attrs = plistlib.loads(data)
    except Exception:
        raise BadCallback("the callback's content is not a property list") from None
    if not isinstance(attrs, dict):
        raise BadCallback("the callback's content is not a property list")
    udid = attrs.get("UDID")
    if (
        not isinstance(udid, str)
        or not 20 <= len(udid) <= 64
        or not all(c.isalnum() or c == "-" for c in udid)
    ):
        raise BadCallback("the callback carries no valid UDID")

    def text(name: str, limit: int = 64) -> str:
        value = attrs.get(name)
        return value[:limit] if isinstance(value, str) else ""

    return Capture(udid, text("PRODUCT"), text("VERSION"), text("SERIAL"), text("DEVICE_NAME", 128))
