"""Delivers webhook events: a signed JSON POST per delivery, retried with exponential backoff.

The signature header is ``X-Gatehouse-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
under the endpoint's secret, so a receiver can check both the body and its freshness. Redirects are not
followed; a destination resolving to a loopback, private, link-local or reserved address is refused
unless GATEHOUSE_WEBHOOK_ALLOW_PRIVATE is set; every attempt (its name lookup included) has a timeout, so
a slow endpoint holds the worker for at most that long, and one run of the job for at most RUN_BUDGET.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

import httpx
import orjson

from store import webhooks
from store.secretbox import unseal as unseal_secret
from store.service import unit_of_work


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def refused_destination(url: str, allow_private: bool, timeout: float = 5.0) -> tuple[str, bool] | None:
    """Why a URL may not be called now, and whether that is final (a private address) or may pass later
    (a name that does not resolve yet); None when it may be called. The name lookup is bounded: a resolver
    that hangs must not hold the worker longer than an endpoint may."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "not a valid URL", True
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL", True
    if allow_private:
        return None
    try:
        infos = _resolver.submit(socket.getaddrinfo, parts.hostname, port).result(timeout=timeout)
    except FutureTimeout:
        return f"cannot resolve {parts.hostname} within {timeout:g} s", False
    except (OSError, ValueError, UnicodeError) as exc:
        return f"cannot resolve {parts.hostname}: {exc}", False
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
            return (
                f"{parts.hostname} resolves to {ip}, a private address (GATEHOUSE_WEBHOOK_ALLOW_PRIVATE)",
                True,
            )
    return None


# One run of the job attempts deliveries for at most this long; the rest wait for the next run (a second
# later), so other jobs (snapshot rebuilds) never queue behind a batch of slow endpoints.
RUN_BUDGET = 10.0


def deliver_due(key: bytes, settings, now=None) -> int:
    """Attempts due deliveries once each (within RUN_BUDGET seconds); returns how many were attempted."""
    attempted = 0
    deadline = time.monotonic() + RUN_BUDGET
    for delivery in webhooks.due(now):
        if time.monotonic() > deadline:
            break
        endpoint = delivery.endpoint
        body = orjson.dumps(delivery.payload)
        refused = refused_destination(endpoint.url, settings.webhook_allow_private, settings.webhook_timeout)
        status, started = None, time.perf_counter()
        error, final = refused if refused is not None else (None, False)
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
            except Exception as exc:  # noqa: BLE001 - any failure of an attempt is the endpoint's, logged and retried
                error = f"{exc.__class__.__name__}: {exc}"[:300]
        with unit_of_work():
            webhooks.record_attempt(
                delivery,
                status,
                (time.perf_counter() - started) * 1000,
                error,
                final,
                settings.webhook_max_attempts,
                settings.webhook_backoff_seconds,
                settings.webhook_backoff_cap,
            )
        attempted += 1
    return attempted
