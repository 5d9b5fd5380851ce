"""Webhooks against a local receiver that checks signatures and fails on purpose: the outbox written in
the change's transaction, signed deliveries, retries with backoff, the delivery log, redelivery, refused
private destinations, unfollowed redirects, timeouts, secrets encrypted at rest."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from api.secret_key import secret_key
from store import rollouts
from store.db import unit_of_work
from store.models import AuditEntry, WebhookDelivery, WebhookEndpoint
from store.secretbox import unseal
from tests.test_capgo import PKG, upload
from worker.webhooks import deliver_due


class Receiver:
    """Answers each POST with the next planned status (then 200), after an optional delay."""

    def __init__(self, statuses=(), delay: float = 0.0):
        self.statuses, self.delay, self.got = list(statuses), delay, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = []

    def make(*statuses, delay: float = 0.0) -> Receiver:
        made.append(Receiver(statuses, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def loopback(settings):
    return settings.model_copy(update={"webhook_allow_private": True, "webhook_backoff_seconds": 2.0})


def subscribe(api, world, url: str, events=("*",)) -> dict:
    res = api.simulate_post(
        f"/admin/v1/teams/{world.team.id}/webhooks",
        json={"url": url, "events": list(events)},
        headers=world.auth,
    )
    assert res.status_code == 201, res.json
    return res.json


def later(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)


def verify(secret: str, headers: dict, body: bytes) -> bool:
    fields = dict(part.split("=", 1) for part in headers["X-Gatehouse-Signature"].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 60


def test_signed_delivery_retried_with_backoff_then_logged(api, world, capgo, receiver, loopback, redis_conn):
    hook = receiver(500, 503)
    endpoint = subscribe(api, world, hook.url, ["channel.changed"])
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    # Encrypted at rest, never returned again, masked in the audit log.
    row = WebhookEndpoint.get_by_id(endpoint["id"])
    assert secret not in row.secret_encrypted
    assert unseal(secret_key(loopback, redis_conn), row.secret_encrypted) == secret
    listed = api.simulate_get(f"/admin/v1/teams/{world.team.id}/webhooks", headers=world.auth)
    assert secret not in listed.text and listed.json["items"][0]["url"] == hook.url
    assert AuditEntry.get(AuditEntry.resource == "webhook_endpoint").changes["secret_encrypted"] == [
        None,
        "***",
    ]

    upload(api, world, "1.0.0")  # bundle.uploaded: not subscribed
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "version": "1.0.0"})
    (delivery,) = WebhookDelivery.select()
    assert delivery.event == "channel.changed" and delivery.state == "pending"

    key = secret_key(loopback, redis_conn)

    def delay_after_last_attempt() -> float:
        d = WebhookDelivery.get_by_id(delivery.id)
        return (d.next_attempt_at - dt.datetime.fromisoformat(d.log[-1]["at"].rstrip("Z"))).total_seconds()

    assert deliver_due(key, loopback) == 1
    assert deliver_due(key, loopback) == 0  # backing off: not due yet
    assert abs(delay_after_last_attempt() - 2.0) < 0.2
    assert deliver_due(key, loopback, now=later(1)) == 1
    assert abs(delay_after_last_attempt() - 4.0) < 0.2  # doubled
    assert deliver_due(key, loopback, now=later(10)) == 1
    headers, body = hook.got[-1]
    assert verify(secret, headers, body) and headers["X-Gatehouse-Event"] == "channel.changed"
    payload = orjson.loads(body)
    assert payload["event"] == "channel.changed" and payload["data"]["changes"]["name"] == [
        None,
        "production",
    ]
    assert [verify(secret, h, b) for h, b in hook.got] == [True, True, True]
    log = api.simulate_get(
        f"/admin/v1/teams/{world.team.id}/webhooks/{endpoint['id']}/deliveries", headers=world.auth
    ).json["items"][0]
    assert log["state"] == "delivered" and log["attempts"] == 3
    assert [a["status"] for a in log["log"]] == [500, 503, 200] and all(a["ms"] >= 0 for a in log["log"])
    again = api.simulate_post(
        f"/admin/v1/teams/{world.team.id}/webhooks/{endpoint['id']}/deliveries/{log['id']}/redeliver",
        headers=world.auth,
    )
    assert again.status_code == 201 and again.json["state"] == "pending"
    assert deliver_due(key, loopback) == 1 and len(hook.got) == 4


def test_a_refused_change_writes_no_event(api, world, capgo, receiver):
    subscribe(api, world, receiver().url)
    res = capgo("POST", "/channel", {"app_id": PKG, "channel": "beta", "version": "9.9.9"})
    assert res.status_code == 404 and WebhookDelivery.select().count() == 0


def test_private_destinations_are_refused_unless_allowed(api, world, capgo, receiver, settings, redis_conn):
    hook = receiver()
    subscribe(api, world, hook.url)
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production"})
    strict = settings.model_copy(update={"webhook_allow_private": False})
    assert deliver_due(secret_key(strict, redis_conn), strict) == 1
    (delivery,) = WebhookDelivery.select()
    assert delivery.state == "failed" and "private address" in delivery.log[0]["error"] and hook.got == []
    # A name that does not resolve (yet) is retried, not given up.
    WebhookEndpoint.update(url="http://hooks.gatehouse-test.invalid/h").execute()
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "allow_dev": False})
    deliver_due(secret_key(strict, redis_conn), strict)
    retried = WebhookDelivery.select().where(WebhookDelivery.state != "failed").get()
    assert retried.state == "pending" and "cannot resolve" in retried.log[0]["error"]


def test_redirects_are_not_followed_and_slow_endpoints_time_out(
    api, world, capgo, receiver, loopback, redis_conn
):
    key = secret_key(loopback, redis_conn)
    redirecting = receiver(302)
    subscribe(api, world, redirecting.url)
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production"})
    deliver_due(key, loopback)
    (delivery,) = WebhookDelivery.select()
    assert delivery.state == "pending" and delivery.log[0]["status"] == 302 and len(redirecting.got) == 1
    WebhookDelivery.delete().execute()
    slow = receiver(delay=2.0)
    WebhookEndpoint.update(url=slow.url).execute()
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "allow_dev": False})
    quick = loopback.model_copy(update={"webhook_timeout": 0.3})
    started = time.monotonic()
    deliver_due(key, quick)
    assert time.monotonic() - started < 1.5  # one attempt waited 0.3 s, not the endpoint's 2 s
    (delivery,) = WebhookDelivery.select()
    assert delivery.state == "pending" and "Timeout" in delivery.log[0]["error"]


def test_rollout_events_come_from_admins_and_from_the_worker(api, world, capgo, receiver, sync):
    hook = receiver()
    subscribe(api, world, hook.url, ["rollout.started", "rollout.paused", "rollout.stepped"])
    upload(api, world, "1.0.0", channel="production")
    upload(api, world, "1.1.0")
    api.simulate_put(
        f"/admin/v1/apps/{world.app_id}/channels/production/rollout",
        json={"bundle": "1.1.0", "steps": [{"percent": 10}, {"percent": 50, "at": "+1h"}]},
        headers=world.auth,
    )
    now = time.time()
    with unit_of_work():
        rollouts.evaluate_rollouts(now + 3600 + 5, since=now + 3600 - 5)  # the 50 % step fell due
    with unit_of_work():
        rollouts.pause_rollout(world.user, world.app_id, "production", "a test")
    assert [d.event for d in WebhookDelivery.select().order_by(WebhookDelivery.id)] == [
        "rollout.started",
        "rollout.stepped",
        "rollout.paused",
    ]
