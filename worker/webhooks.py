"""Delivers webhook events: a signed JSON POST per delivery, retried with exponential backoff.

The signature header is ``X-Gatehouse-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
under the endpoint's secret, so a receiver can check both the body and its freshness. Redirects are not
followed; a destination resolving to a loopback, private, link-local or reserved address is refused
unless GATEHOUSE_WEBHOOK_ALLOW_PRIVATE is set; every attempt has a timeout, so a slow endpoint holds the
worker for at most that long.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import httpx
import orjson

from store import webhooks
from store.secretbox import unseal as unseal_secret
from store.service import unit_of_work


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def refused_destination(url: str, allow_private: bool) -> str | None:
    """Why a URL may not be called, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        return f"cannot resolve {parts.hostname}: {exc}"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_multicast
            or ip.is_unspecified
        ):
            return f"{parts.hostname} resolves to {ip}, a private address (GATEHOUSE_WEBHOOK_ALLOW_PRIVATE)"
    return None


def deliver_due(key: bytes, settings, now=None) -> int:
    """Attempts every due delivery once; returns how many were attempted."""
    attempted = 0
    for delivery in webhooks.due(now):
        endpoint = delivery.endpoint
        body = orjson.dumps(delivery.payload)
        refused = refused_destination(endpoint.url, settings.webhook_allow_private)
        status, error, started = None, refused, time.perf_counter()
        if refused is None:
            stamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Gatehouse-Webhooks",
                "X-Gatehouse-Event": delivery.event,
                "X-Gatehouse-Delivery": str(delivery.id),
                "X-Gatehouse-Signature": signature(
                    unseal_secret(key, endpoint.secret_encrypted), stamp, body
                ),
            }
            try:
                res = httpx.post(
                    endpoint.url,
                    content=body,
                    headers=headers,
                    timeout=settings.webhook_timeout,
                    follow_redirects=False,
                )
                status = res.status_code
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{exc.__class__.__name__}: {exc}"[:300]
        with unit_of_work():
            webhooks.record_attempt(
                delivery,
                status,
                (time.perf_counter() - started) * 1000,
                error,
                refused is not None,
                settings.webhook_max_attempts,
                settings.webhook_backoff_seconds,
                settings.webhook_backoff_cap,
            )
        attempted += 1
    return attempted
