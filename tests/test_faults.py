"""The fault suite: real processes killed and restarted, then every answer checked.

One stack (gunicorn read service and write API, a worker) runs over a private PostgreSQL and a
private Redis that these tests kill and restart; the shared servers are never touched. The short
versions run here; `make chaos` (python -m loadtest.chaos) runs longer ones and prints figures.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from types import SimpleNamespace

import httpx
import psycopg
import pytest

from loadtest.processes import wait_until
from loadtest.services import PrivatePostgres, PrivateRedis, children
from loadtest.stack import production_stack

pytestmark = pytest.mark.faults

# `make chaos` sets GATEHOUSE_CHAOS_SCALE (10 there) to run every fault for longer, with more kills.
SCALE = float(os.environ.get("GATEHOUSE_CHAOS_SCALE", "1"))


@pytest.fixture(scope="module")
def services():
    pg, rd = PrivatePostgres(), PrivateRedis()
    pg.start()
    rd.start()
    try:
        yield SimpleNamespace(pg=pg, redis=rd)
    finally:
        pg.close()
        rd.close()


@pytest.fixture(scope="module")
def fault_stack(services):
    with production_stack(
        services.pg.url("gatehouse_faults"),
        services.redis.url(),
        "gatehouse-faults",
        GATEHOUSE_READ_WORKERS="1",
        GATEHOUSE_WRITE_WORKERS="1",
        GATEHOUSE_OUTBOX_SWEEP_INTERVAL="1",
        GATEHOUSE_OUTBOX_GRACE_SECONDS="1",
        # A batch of authentication events Redis lost is sent again after 2 s (10 by default).
        GATEHOUSE_AUTH_RESEND_SECONDS="2",
    ) as st:
        admin = httpx.Client(
            base_url=st.write, headers={"Authorization": f"Bearer {st.admin_token}"}, timeout=10
        )
        st.admin = admin
        st.team_id = admin.post("/admin/v1/teams", json={"name": "Faults"}).json()["id"]
        yield st


def new_app(st, title: str, rules: int = 1) -> SimpleNamespace:
    app = st.admin.post("/admin/v1/apps", json={"team_id": st.team_id, "title": title}).json()
    token = st.admin.post(f"/admin/v1/apps/{app['id']}/tokens", json={"name": "t"}).json()["token"]
    rule_ids = []
    for n in range(rules):
        res = st.admin.post(
            f"/admin/v1/apps/{app['id']}/versions",
            json={
                "version": f"1.{n}.0",
                "platform": "ios",
                "environment": "production",
                "update_message": "m0",
            },
        )
        assert res.status_code == 201, res.text
        rule_ids.append(res.json()["id"])
    return SimpleNamespace(id=app["id"], token=token, rules=rule_ids)


def served_message(st, app, n: int = 0) -> str | None:
    res = httpx.get(
        f"{st.read}/v1/versions",
        headers={"x-api-token": app.token},
        timeout=5,
        params={"app_id": app.id, "app_version": f"1.{n}.0", "platform": "ios", "environment": "production"},
    )
    return res.json().get("update_message") if res.status_code == 200 else None


def stored_message(st, app, n: int = 0) -> str:
    return st.admin.get(f"/admin/v1/apps/{app.id}/versions/{app.rules[n]}").json()["update_message"]


def all_served(st, apps) -> bool:
    return all(
        served_message(st, a, n) == stored_message(st, a, n) for a in apps for n in range(len(a.rules))
    )


def read_until(st, app, stop: threading.Event, errors: list[str]) -> None:
    """A client polling its version check until ``stop``; every answer but the 200 is an error."""
    with httpx.Client(base_url=st.read, timeout=5) as c:
        while not stop.is_set():
            res = c.get(
                "/v1/versions",
                headers={"x-api-token": app.token},
                params={
                    "app_id": app.id,
                    "app_version": "1.0.0",
                    "platform": "ios",
                    "environment": "production",
                },
            )
            if res.status_code != 200:
                errors.append(f"{res.status_code} {res.text}")


def test_worker_killed_mid_rebuild_heals_within_10_s_of_its_restart(fault_stack):
    st = fault_stack
    apps = [new_app(st, f"kill-{i}", rules=3) for i in range(4)]
    wait_until(lambda: all_served(st, apps), timeout=15)
    assert children(st.worker.pid) == []  # no scheduler process to leave orphaned
    stop, changes = threading.Event(), [0]

    def change() -> None:
        with httpx.Client(base_url=st.write, headers=st.admin.headers, timeout=10) as c:
            while not stop.is_set():
                app = apps[changes[0] % len(apps)]
                rule = app.rules[changes[0] % len(app.rules)]
                assert (
                    c.patch(
                        f"/admin/v1/apps/{app.id}/versions/{rule}", json={"update_message": f"m{changes[0]}"}
                    ).status_code
                    == 200
                )
                changes[0] += 1

    writers = [threading.Thread(target=change) for _ in range(2)]
    for w in writers:
        w.start()
    try:
        for _ in range(int(4 * SCALE)):
            time.sleep(0.6)
            st.kill_worker()
            time.sleep(0.3)
            st.start_worker()
    finally:
        stop.set()
        for w in writers:
            w.join()
    st.kill_worker()
    st.start_worker()
    restarted = time.monotonic()
    wait_until(lambda: all_served(st, apps), timeout=10, interval=0.2)
    print(
        f"\n{changes[0]} changes, {int(4 * SCALE) + 1} worker SIGKILLs; every answer right {time.monotonic() - restarted:.2f} s "
        "after the last restart (target 10 s)",
        file=sys.stderr,
    )


def test_redis_killed_under_ingestion_and_reads(fault_stack, services):
    st = fault_stack
    app = new_app(st, "redis")
    wait_until(lambda: served_message(st, app) == "m0", timeout=15)
    stop = threading.Event()
    accepted: list[str] = []
    failures: list[int] = []
    read_errors: list[str] = []

    def ingest(k: int) -> None:
        with httpx.Client(base_url=st.read, timeout=10) as c:
            n = 0
            while not stop.is_set():
                user = f"u{k}-{n}"
                n += 1
                res = c.post(
                    "/v2/authenticate",
                    headers={"x-api-token": app.token},
                    json={"user_id": user, "platform": "ios", "app_version": "1.0.0"},
                )
                (accepted.append(user) if res.status_code == 200 else failures.append(res.status_code))

    threads = [threading.Thread(target=ingest, args=(k,)) for k in range(3)] + [
        threading.Thread(target=read_until, args=(st, app, stop, read_errors))
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0 * SCALE)
        services.redis.kill()
        time.sleep(0.5)
        # A change made while Redis is down commits; its enqueue fails and its outbox row waits.
        assert (
            st.admin.patch(
                f"/admin/v1/apps/{app.id}/versions/{app.rules[0]}", json={"update_message": "while-down"}
            ).status_code
            == 200
        )
        time.sleep(1.0 * SCALE)
        services.redis.start()
        back = time.monotonic()
        wait_until(lambda: served_message(st, app) == "while-down", timeout=5, interval=0.05)
        visible = time.monotonic() - back
        time.sleep(0.5 * SCALE)
    finally:
        stop.set()
        for t in threads:
            t.join()

    def ours() -> list[str]:
        with psycopg.connect(services.pg.url("gatehouse_faults")) as conn:
            return [r[0] for r in conn.execute("SELECT user_id FROM auth_session WHERE user_id LIKE 'u%'")]

    assert failures == [] and read_errors == []
    # What the stream held when Redis died is sent again by the read process (after 2 s here): every event a
    # client was told was recorded is stored, and none twice.
    wait_until(lambda: len(ours()) >= len(accepted), timeout=20, interval=0.2)
    time.sleep(0.5)  # a duplicate would come with the last batches
    assert sorted(ours()) == sorted(accepted)  # nothing lost, nothing written twice
    print(
        f"\nRedis SIGKILLed: {len(accepted)} events, 0 lost, 0 duplicated; change made while down visible "
        f"{visible:.2f} s after Redis was back (target 5 s)",
        file=sys.stderr,
    )


def test_the_worker_survives_redis_killed_while_it_finishes_jobs(fault_stack, services):
    """Redis SIGKILLed again and again while the worker runs a stream of rebuilds: RQ's loop quits when
    Redis vanishes while a job is being finished; the worker process starts it again and the last change
    is visible within seconds of Redis being back."""
    st = fault_stack
    app = new_app(st, "churn")
    stop = threading.Event()

    def churn() -> None:
        n = 0
        with httpx.Client(base_url=st.write, headers=st.admin.headers, timeout=10) as c:
            while not stop.is_set():
                n += 1
                try:
                    c.patch(
                        f"/admin/v1/apps/{app.id}/versions/{app.rules[0]}", json={"update_message": f"c{n}"}
                    )
                except httpx.HTTPError:
                    pass

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(int(8 * SCALE)):
            time.sleep(0.3)
            services.redis.kill()
            time.sleep(0.2)
            services.redis.start()
            assert st.worker.poll() is None, "the worker process exited"
    finally:
        stop.set()
        thread.join()
    back = time.monotonic()
    assert (
        st.admin.patch(
            f"/admin/v1/apps/{app.id}/versions/{app.rules[0]}", json={"update_message": "final"}
        ).status_code
        == 200
    )
    wait_until(lambda: served_message(st, app) == "final", timeout=10, interval=0.05)
    assert st.worker.poll() is None
    print(
        f"\nworker alive after 8 Redis kills; last change visible {time.monotonic() - back:.2f} s later",
        file=sys.stderr,
    )


def test_postgres_restarted_under_reads_and_writes(fault_stack, services):
    st = fault_stack
    app = new_app(st, "pg")
    wait_until(lambda: served_message(st, app) == "m0", timeout=15)
    stop = threading.Event()
    writes: list[tuple[float, int, str]] = []
    read_errors: list[str] = []

    def write(k: int) -> None:
        with httpx.Client(base_url=st.write, headers=st.admin.headers, timeout=10) as c:
            n = 0
            while not stop.is_set():
                n += 1
                sent = time.monotonic()
                res = c.patch(
                    f"/admin/v1/apps/{app.id}/versions/{app.rules[0]}", json={"update_message": f"w{k}-{n}"}
                )
                writes.append((sent, res.status_code, res.text))
                time.sleep(0.01)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)] + [
        threading.Thread(target=read_until, args=(st, app, stop, read_errors))
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0 * SCALE)
        services.pg.stop("fast")
        # Authentication needs no database to answer: the event waits in the stream for the worker.
        down = httpx.post(
            f"{st.read}/v2/authenticate",
            headers={"x-api-token": app.token},
            json={"user_id": "while-pg-down", "platform": "ios", "app_version": "1.0.0"},
        )
        time.sleep(0.5 * SCALE)
        services.pg.start()
        back = time.monotonic()
        time.sleep(1.5 * SCALE)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert down.status_code == 200, down.text

    def stored_while_down() -> bool:
        with psycopg.connect(services.pg.url("gatehouse_faults")) as conn:
            return (
                conn.execute("SELECT count(*) FROM auth_session WHERE user_id = 'while-pg-down'").fetchone()[
                    0
                ]
                == 1
            )

    wait_until(stored_while_down, timeout=15, interval=0.2)
    assert read_errors == []
    during = {status for sent, status, _ in writes if sent < back}
    after = [(status, text) for sent, status, text in writes if sent >= back]
    assert during <= {200, 503}
    assert after and all(status == 200 for status, _ in after), after[:5]
    # The worker carried on too: the last write reaches the read service.
    wait_until(lambda: served_message(st, app) == stored_message(st, app), timeout=10)
    print(
        f"\nPostgreSQL restarted: {len(writes)} writes ({sum(s == 503 for _, s, _ in writes)} answered 503 while "
        f"it was down), {len(after)} after it was back, all 200; 0 read errors",
        file=sys.stderr,
    )
