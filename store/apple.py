"""App Store Connect's devices API: ES256 JWTs signed with a team's API key (key id in the header, issuer
in the claims), POST /v1/devices to register a UDID, GET /v1/devices with cursor paging."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt

from store.errors import Unavailable

AUDIENCE = "appstoreconnect-v1"
TOKEN_SECONDS = 1200  # Apple refuses tokens that live longer than 20 minutes


class AppleError(Unavailable):
    """Apple's API refused or failed a call: the dialects answer it as an upstream outage (Unavailable)."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"Apple's API answered: {detail}")
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Credentials:
    key_id: str
    issuer_id: str
    private_key: str  # PEM, PKCS#8 (the .p8 file Apple hands out)


def token(creds: Credentials, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return jwt.encode(
        {"iss": creds.issuer_id, "iat": issued, "exp": issued + TOKEN_SECONDS, "aud": AUDIENCE},
        creds.private_key,
        algorithm="ES256",
        headers={"kid": creds.key_id, "typ": "JWT"},
    )


def _detail(resp: httpx.Response) -> str:
    try:
        errors = resp.json().get("errors") or []
        return (
            "; ".join(e.get("detail") or e.get("title") or e.get("code") or "" for e in errors) or resp.text
        )
    except ValueError:
        return resp.text[:300]


class AppleClient:
    def __init__(self, base_url: str, creds: Credentials, timeout: float = 15.0):
        self.creds = creds
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            headers = {"Authorization": f"Bearer {token(self.creds)}"}
        except (ValueError, TypeError, jwt.PyJWTError) as exc:  # a malformed private key
            raise AppleError(0, f"the Apple private key cannot sign: {exc}") from None
        try:
            resp = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise AppleError(0, f"Apple's API is unreachable: {exc}") from None
        if resp.status_code >= 400:
            raise AppleError(resp.status_code, _detail(resp))
        return resp

    def register(self, udid: str, name: str, platform: str = "IOS") -> str:
        """Registers a device; returns Apple's id for it."""
        body = {"data": {"type": "devices", "attributes": {"name": name, "platform": platform, "udid": udid}}}
        return self._call("POST", "/v1/devices", json=body).json()["data"]["id"]

    def find(self, udid: str) -> str | None:
        data = self._call("GET", "/v1/devices", params={"filter[udid]": udid, "limit": 1}).json()["data"]
        return data[0]["id"] if data else None

    def devices(self, page_size: int = 200) -> Iterator[dict]:
        path: str | None = "/v1/devices"
        params: dict[str, int] | None = {"limit": page_size}
        while path:
            page = self._call("GET", path, params=params).json()
            for item in page.get("data", []):
                yield {"id": item["id"], **item.get("attributes", {})}
            following = (page.get("links") or {}).get("next")
            # The next link is absolute; only its path and query are followed, on the configured host.
            path, params = (httpx.URL(following).raw_path.decode(), None) if following else (None, None)
