"""Delivers webhook events: a signed JSON POST per delivery, retried with exponential backoff.

The signature header is ``X-Gatehouse-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
under the endpoint's secret, so a receiver can check both the body and its freshness. Redirects are not
followed. A destination that is not a public address (store/netguard.py, the check team storage uses too)
is refused unless GATEHOUSE_WEBHOOK_ALLOW_PRIVATE is set; the address is checked when the attempt
connects, and the attempt connects to that address, so a name rebound to a private address is refused.

Deliveries run beside the job queue, never on it: a thread of the worker process (``Deliverer``) hands
them to GATEHOUSE_WEBHOOK_CONCURRENCY daemon threads, at most GATEHOUSE_WEBHOOK_PER_TEAM of one team's
at a time. Endpoints that never answer hold only their team's share of the pool, and snapshot rebuilds,
which have the queue to themselves, reach clients as fast as without webhooks. One worker process at a
time delivers (a lease in Redis), so two workers never send the same delivery twice.
"""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
import time
from collections.abc import Callable

import httpx
import orjson
import redis
import structlog

from store import netguard, webhooks
from store.secretbox import unseal as unseal_secret
from store.service import release_connection, unit_of_work

log = structlog.get_logger("gatehouse.worker.webhooks")

LEASE_KEY = "gh:webhooks:lease"
LEASE_SECONDS = 15
TICK = 0.25


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def attempt(delivery, key: bytes, settings) -> None:
    """One attempt of one delivery, its outcome recorded (in a transaction of its own)."""
    endpoint = delivery.endpoint
    body = orjson.dumps(delivery.payload)
    status, error, final, started = None, None, False, time.perf_counter()
    try:
        url, pin_headers, extensions = netguard.pinned(
            endpoint.url, settings.webhook_allow_private, settings.webhook_timeout
        )
    except netguard.Refused as refused:
        error, final = str(refused), refused.final
    else:
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Gatehouse-Webhooks",
            "X-Gatehouse-Event": delivery.event,
            "X-Gatehouse-Delivery": str(delivery.id),
            "X-Gatehouse-Signature": signature(unseal_secret(key, endpoint.secret_encrypted), stamp, body),
            **pin_headers,
        }
        try:
            with httpx.Client(timeout=settings.webhook_timeout, follow_redirects=False) as client:
                res = client.send(
                    client.build_request("POST", url, content=body, headers=headers, extensions=extensions)
                )
            status = res.status_code
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except Exception as exc:  # noqa: BLE001 - any failure of an attempt is the endpoint's, logged and retried
            error = f"{exc.__class__.__name__}: {exc}"[:300]
    try:
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
    finally:
        release_connection()


def deliver_due(key: bytes, settings, now=None) -> int:
    """Attempts every due delivery once, one after another; returns how many (the CLI's and tests' one-shot)."""
    with unit_of_work():
        due = webhooks.due(now)
    for delivery in due:
        attempt(delivery, key, settings)
    return len(due)


class Deliverer:
    """Keeps due deliveries moving through a bounded pool, a bounded share of it per team."""

    def __init__(self, settings, connection: redis.Redis, key: Callable[[], bytes], name: str):
        self.settings, self.connection, self.key, self.name = settings, connection, key, name
        self.lock = threading.Lock()
        self.in_flight: dict[int, int] = {}  # delivery id -> team id
        self.wake = threading.Event()
        # Daemon threads, not a ThreadPoolExecutor: an executor's threads are joined at exit, and attempts
        # hanging on endpoints held a stopping worker past its grace period. An attempt cut short is not
        # recorded, so the delivery stays due and is sent again (receivers dedupe on X-Gatehouse-Delivery).
        self.work: queue.SimpleQueue = queue.SimpleQueue()
        for n in range(settings.webhook_concurrency):
            threading.Thread(target=self._attempts, name=f"webhook-{n}", daemon=True).start()

    def _attempts(self) -> None:
        while True:
            delivery, team = self.work.get()
            self._run_one(delivery, team)

    def _lease(self) -> bool:
        """Whether this process delivers now: it holds the lease, or took a free one."""
        r = self.connection
        if r.set(LEASE_KEY, self.name, nx=True, ex=LEASE_SECONDS):
            return True
        if r.get(LEASE_KEY) == self.name.encode():
            r.expire(LEASE_KEY, LEASE_SECONDS)
            return True
        return False

    def _run_one(self, delivery, team: int) -> None:
        try:
            attempt(delivery, self.key(), self.settings)
        except Exception:
            log.exception("webhook attempt not recorded; it stays due", delivery=delivery.id)
        finally:
            with self.lock:
                self.in_flight.pop(delivery.id, None)
            self.wake.set()

    def tick(self) -> int:
        """Hands due deliveries to the pool within the bounds; returns how many it started."""
        with self.lock:
            busy = dict(self.in_flight)
        free = self.settings.webhook_concurrency - len(busy)
        if free <= 0:
            return 0
        with unit_of_work():
            due = webhooks.due(limit=200, exclude=list(busy))
        release_connection()
        per_team: dict[int, int] = {}
        for team in busy.values():
            per_team[team] = per_team.get(team, 0) + 1
        started = 0
        for delivery in due:
            team = delivery.endpoint.team_id
            if started >= free:
                break
            if per_team.get(team, 0) >= self.settings.webhook_per_team:
                continue
            per_team[team] = per_team.get(team, 0) + 1
            with self.lock:
                self.in_flight[delivery.id] = team
            self.work.put((delivery, team))
            started += 1
        return started

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self._lease():
                    self.tick()
            except (redis.RedisError, OSError) as exc:
                log.warning("webhook deliveries: Redis unavailable", error=str(exc))
            except Exception:
                release_connection()
                log.exception("webhook deliveries: cannot read due deliveries; retrying")
                stop.wait(1.0)
            self.wake.wait(TICK)
            self.wake.clear()
