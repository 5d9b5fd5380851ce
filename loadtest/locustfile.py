"""Locust scenarios: `mobile` polls like a fleet, `capgo` checks for live bundles like Capgo's updater
plugin, `admin` changes rules while they do.

Every answer is checked against what the seed set up (loadtest/seed.py); a wrong answer is a
failure. GATEHOUSE_SEED names the seed file; the host is the read service or the edge, and
GATEHOUSE_WRITE_URL the write API.
"""

from __future__ import annotations

import json
import os
import random
import time

import httpx
from locust import HttpUser, between, task

from loadtest.seed import ENVIRONMENTS, LIVE_BUNDLE, PLATFORMS, rule_version
from store.versions import parse_key

SEED = json.loads(open(os.environ.get("GATEHOUSE_SEED", "loadtest/results/seed.json")).read())
WRITE_URL = os.environ.get("GATEHOUSE_WRITE_URL", "http://127.0.0.1:8002")
ADMIN_TOKEN = os.environ.get("GATEHOUSE_ADMIN_TOKEN", "")
ADMIN_APP = SEED["apps"][0]  # the admin scenario edits only this app; mobile users check the others


def expected_version(app: dict, platform: str, env: str, version: str) -> tuple[int, dict]:
    rules = {rule_version(i + 10) for i in range(app["rules"])}
    if version in rules:
        return 200, {
            "version": version,
            "platform": platform,
            "force_update": False,
            "update_message": f"update {version}",
        }
    if parse_key(version) < parse_key(SEED["minimum"]):
        return 200, {
            "version": SEED["minimum"],
            "platform": platform,
            "force_update": True,
            "update_message": "unsupported",
        }
    return 404, {"error": "Version not found"}


class Mobile(HttpUser):
    wait_time = between(0.0, 0.05)

    def on_start(self):
        self.apps = SEED["apps"][1:] or SEED["apps"]
        self.etags: dict[str, str] = {}

    def _pick(self):
        app = random.choice(self.apps)
        roll = random.random()
        if roll < 0.25:
            version = rule_version(random.randrange(10, 10 + app["rules"]))  # a version with a rule
        elif roll < 0.30:
            version = f"1.0.{random.randrange(0, 5)}"  # below the minimum
        else:
            version = f"9.{random.randrange(0, 50)}.{random.randrange(0, 10)}"  # most launches: no rule
        return app, random.choice(PLATFORMS), random.choice(ENVIRONMENTS), version

    def _check(self, path: str, name: str, app: dict, params: dict, want_status: int, want_body: dict):
        key = path + json.dumps(params, sort_keys=True)
        headers = {"x-api-token": app["token"]}
        if key in self.etags and random.random() < 0.5:
            headers["If-None-Match"] = self.etags[key]
        with self.client.get(path, params=params, headers=headers, name=name, catch_response=True) as res:
            if res.status_code == 304:
                res.success() if "If-None-Match" in headers else res.failure("304 without If-None-Match")
                return
            if res.status_code != want_status or res.json() != want_body:
                res.failure(f"wrong answer {res.status_code} {res.text[:200]} != {want_status} {want_body}")
                return
            self.etags[key] = res.headers.get("etag", "")
            res.success()

    @task(40)
    def versions_v1(self):
        app, platform, env, version = self._pick()
        status, body = expected_version(app, platform, env, version)
        self._check(
            "/v1/versions",
            "/v1/versions",
            app,
            {"app_id": app["app_id"], "app_version": version, "platform": platform, "environment": env},
            status,
            body,
        )

    @task(30)
    def versions_v2(self):
        app, platform, env, version = self._pick()
        status, body = expected_version(app, platform, env, version)
        if status == 200:
            message = body.pop("update_message")
            body["default_update_message"] = message
            body["update_messages"] = {"en": message} if message != "unsupported" else None
        self._check(
            "/v2/versions",
            "/v2/versions",
            app,
            {"app_id": app["app_id"], "app_version": version, "platform": platform, "environment": env},
            status,
            body,
        )

    @task(20)
    def maintenance(self):
        app, _, env, _ = self._pick()
        active = env == "staging"
        body = (
            {
                "active": True,
                "title": "Maintenance",
                "description": None,
                "links": [{"title": "Status", "url": "https://s"}],
            }
            if active
            else {"active": False, "title": None, "description": None, "links": []}
        )
        self._check(
            "/v1/maintenance",
            "/v1/maintenance",
            app,
            {"app_id": app["app_id"], "environment": env},
            200,
            body,
        )

    @task(3)
    def authenticate(self):
        app, platform, env, version = self._pick()
        with self.client.post(
            "/v2/authenticate",  # the read service (the host), as every client call
            name="/v2/authenticate",
            catch_response=True,
            headers={"x-api-token": app["token"]},
            json={
                "user_id": f"u{random.randrange(100000)}",
                "platform": platform,
                "app_version": version,
                "environment": env,
            },
        ) as res:
            if res.status_code != 200 or res.json().get("success") is not True:
                res.failure(f"wrong answer {res.status_code} {res.text[:200]}")


class Capgo(HttpUser):
    """Capacitor apps at launch: POST /updates (on the bundle, or on the shipped one), and /stats."""

    wait_time = between(0.0, 0.05)

    def on_start(self):
        self.apps = SEED["apps"][1:] or SEED["apps"]
        self.device = f"10c05700-0000-4000-8000-{random.getrandbits(48):012x}"  # a UUID, as plugins send

    def _body(self, app: dict, current: str) -> dict:
        return {
            "app_id": app["package"],
            "device_id": self.device,
            "platform": random.choice(PLATFORMS),
            "version_build": "1.0.0",
            "version_name": current,
            "plugin_version": "6.3.0",
            "is_emulator": False,
            "is_prod": True,
        }

    @task(10)
    def updates(self):
        app = random.choice(self.apps)
        on_bundle = random.random() < 0.7
        body = self._body(app, LIVE_BUNDLE if on_bundle else "builtin")
        with self.client.post("/updates", json=body, name="/updates", catch_response=True) as res:
            answer = res.json() if res.status_code == 200 else {}
            if on_bundle and answer != {
                "error": "no_new_version_available",
                "message": "No new version available",
            }:
                res.failure(f"wrong answer {res.status_code} {res.text[:200]}")
            elif not on_bundle and (
                answer.get("version") != LIVE_BUNDLE or "/capgo/bundles/" not in answer.get("url", "")
            ):
                res.failure(f"wrong answer {res.status_code} {res.text[:200]}")
            else:
                res.success()

    @task(2)
    def stats(self):
        body = self._body(random.choice(self.apps), LIVE_BUNDLE) | {"action": "set"}
        with self.client.post("/stats", json=body, name="/stats", catch_response=True) as res:
            if res.status_code != 200 or res.json() != {"status": "ok"}:
                res.failure(f"wrong answer {res.status_code} {res.text[:200]}")


class Admin(HttpUser):
    """Changes a rule's message and checks the read side serves it within one second."""

    wait_time = between(1, 2)
    fixed_count = 1

    @task
    def change_rule(self):
        app = ADMIN_APP
        key = random.choice(list(app["rule_ids"]))
        platform, env, version = key.split("|")
        text = f"changed {time.time_ns()}"
        started = time.perf_counter()
        with httpx.Client(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
            res = c.patch(
                f"{WRITE_URL}/admin/v1/apps/{app['app_id']}/versions/{app['rule_ids'][key]}",
                json={"update_message": text},
            )
        if res.status_code != 200:
            self.environment.events.request.fire(
                request_type="ADMIN",
                name="rule change",
                response_time=0,
                response_length=0,
                exception=Exception(res.text),
            )
            return
        params = {"app_id": app["app_id"], "app_version": version, "platform": platform, "environment": env}
        seen = False
        while time.perf_counter() - started < 1.0:
            r = self.client.get(
                "/v1/versions",
                params=params,
                headers={"x-api-token": app["token"]},
                name="/v1/versions (admin poll)",
            )
            if r.status_code == 200 and r.json().get("update_message") == text:
                seen = True
                break
            time.sleep(0.01)
        elapsed = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(
            request_type="ADMIN",
            name="change visible",
            response_time=elapsed,
            response_length=0,
            exception=None if seen else Exception("change not visible within 1 s"),
        )
