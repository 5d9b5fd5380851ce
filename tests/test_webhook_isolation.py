"""Webhook endpoints that never answer must not delay another team's changes (the second hardening round,
item 7). Through the real services: 5 black-hole endpoints of one team, a stream of that team's changes
(5 deliveries each), and another team's changes timed from the write's answer to the read service
serving them, before and with the black holes. `make chaos` runs it ten times longer."""

from __future__ import annotations

import os
import socket
import statistics
import time

import httpx
import pytest

from loadtest.stack import production_stack
from tests import lanes

SCALE = float(os.environ.get("GATEHOUSE_CHAOS_SCALE", "1"))


@pytest.fixture
def black_holes():
    """Listening sockets nobody accepts from: a connection is made, a request sent, no answer ever comes."""
    holes = []
    for _ in range(5):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1024)
        holes.append(s)
    yield [f"http://127.0.0.1:{s.getsockname()[1]}/hook" for s in holes]
    for s in holes:
        s.close()


def propagation(st, admin, app: dict, rule: dict, token: str, n: int, tag: str) -> list[float]:
    """Seconds from each change's answer to the read service serving it."""
    times = []
    with httpx.Client(base_url=st.read, timeout=5) as reader:
        for i in range(n):
            message = f"{tag}-{i}"
            res = admin.patch(
                f"/admin/v1/apps/{app['id']}/versions/{rule['id']}", json={"update_message": message}
            )
            assert res.status_code == 200, res.text
            written = time.monotonic()
            while True:
                got = reader.get(
                    "/v1/versions",
                    headers={"x-api-token": token},
                    params={
                        "app_id": app["id"],
                        "app_version": "1.0.0",
                        "platform": "ios",
                        "environment": "production",
                    },
                )
                if got.status_code == 200 and got.json().get("update_message") == message:
                    break
                assert time.monotonic() - written < 30, "a change never reached the read service"
                time.sleep(0.005)
            times.append(time.monotonic() - written)
    return times


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def test_black_hole_endpoints_do_not_delay_another_teams_changes(black_holes):
    db = lanes.pg("gatehouse_webhooks")
    with production_stack(
        db,
        lanes.redis_url(12),
        "gatehouse-webhooks",
        GATEHOUSE_READ_WORKERS="1",
        GATEHOUSE_WRITE_WORKERS="1",
        GATEHOUSE_WEBHOOK_ALLOW_PRIVATE="true",
        GATEHOUSE_WEBHOOK_TIMEOUT="10",
    ) as st:
        admin = httpx.Client(
            base_url=st.write, headers={"Authorization": f"Bearer {st.admin_token}"}, timeout=10
        )

        def app_with_rule(team_name: str):
            team = admin.post("/admin/v1/teams", json={"name": team_name}).json()
            app = admin.post("/admin/v1/apps", json={"team_id": team["id"], "title": team_name}).json()
            token = admin.post(f"/admin/v1/apps/{app['id']}/tokens", json={"name": "t"}).json()["token"]
            rule = admin.post(
                f"/admin/v1/apps/{app['id']}/versions",
                json={
                    "version": "1.0.0",
                    "platform": "ios",
                    "environment": "production",
                    "update_message": "m",
                },
            ).json()
            return team, app, rule, token

        noisy_team, noisy_app, noisy_rule, _ = app_with_rule("Noisy")
        _, app, rule, token = app_with_rule("Quiet")
        n = int(20 * SCALE)
        before = propagation(st, admin, app, rule, token, n, "before")
        for url in black_holes:
            res = admin.post(
                f"/admin/v1/teams/{noisy_team['id']}/webhooks", json={"url": url, "events": ["*"]}
            )
            assert res.status_code == 201, res.text
        for i in range(int(10 * SCALE)):  # 5 stuck deliveries per change
            admin.patch(
                f"/admin/v1/apps/{noisy_app['id']}/versions/{noisy_rule['id']}",
                json={"update_message": f"n{i}"},
            )
        time.sleep(1.5)  # the deliveries are attempted, and hang
        during = propagation(st, admin, app, rule, token, n, "during")
        print(
            f"another team's change to clients, p99: {p99(before) * 1000:.0f} ms without webhooks, "
            f"{p99(during) * 1000:.0f} ms with 5 black-hole endpoints"
        )
        # Before this fix: 8.6-10.1 s (deliveries held the one job queue for their run budget).
        assert p99(during) < p99(before) + 1.0
