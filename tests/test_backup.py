"""Backup and restore as deploy/README.md walks an operator through it: the events still in Redis's streams
applied (`gatehouse drain-events`, here with the worker stopped so that only it can), `pg_dump` of the
database and a copy of the artifact storage; restored into an empty database and storage with a new, empty
Redis, then `gatehouse rebuild-snapshots`: every client answer is the one given before (bodies and ETags),
every artifact and bundle downloads with the same SHA-256 (tests/worlds.py), and every device and sign-in
a client was answered for is in the restored database."""

from __future__ import annotations

import shutil
import signal
import subprocess
import uuid

import httpx
import psycopg
import redis

from loadtest.processes import recreate_database, wait_until
from loadtest.stack import production_stack
from store import auth_events, device_events
from tests import lanes
from tests.worlds import PKG, answers, seed, wait_for_offer

SECRET = {"GATEHOUSE_SECRET_KEY": "backup-test-secret-key-0123456789abcdef"}


def test_a_restore_gives_back_every_answer_and_every_download(tmp_path):
    source, target = lanes.pg("gatehouse_backup_source"), lanes.pg("gatehouse_backup_target")
    dump, storage = tmp_path / "gatehouse.dump", tmp_path / "storage"
    with production_stack(source, lanes.redis_url(2), "gatehouse-backup", **SECRET) as st:
        world = seed(st)
        wait_for_offer(st)
        before = answers(st, world)
        # Events a client was answered for that only Redis holds: the worker is stopped, so only the
        # backup's first step can apply them.
        st.worker.send_signal(signal.SIGTERM)
        assert st.worker.wait(15) == 0
        devices, users = [str(uuid.uuid4()) for _ in range(3)], [f"backup-user-{i}" for i in range(3)]
        for device in devices:
            asked = {"app_id": PKG, "device_id": device, "platform": "android", "version_build": "1.0.0"}
            assert httpx.post(f"{st.read}/updates", json=asked).status_code == 200
        for user in users:
            body = {"user_id": user, "platform": "ios", "app_version": "2.5.0", "environment": "production"}
            res = httpx.post(f"{st.read}/v2/authenticate", json=body, headers={"x-api-token": world["token"]})
            assert res.status_code == 200
        r = redis.Redis.from_url(st.env["GATEHOUSE_REDIS_URL"])
        wait_until(lambda: r.xlen(device_events.STREAM) and r.xlen(auth_events.STREAM), timeout=10)
        # The backup, as deploy/README.md gives it: the events applied, the database, the artifact storage.
        assert st.run("drain-events").endswith("the event streams are empty\n")
        assert r.xlen(device_events.STREAM) == r.xlen(auth_events.STREAM) == 0
        subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", source], check=True)
        shutil.copytree(st.env["GATEHOUSE_DATA_DIR"], storage)
        token = st.admin_token
    assert before["artifact"][0] == 200 and before["updates"][3] == 200
    assert (
        before[("/v1/versions", "ios", "2.5.0")][0] == 200 and before[("maintenance", "production")][0] == 200
    )

    recreate_database(target)
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={target}", str(dump)], check=True)
    with production_stack(
        target, lanes.redis_url(4), "gatehouse-restored", restored_token=token,
        GATEHOUSE_DATA_DIR=str(storage), **SECRET,
    ) as st:  # fmt: skip
        st.run("migrate")  # a dump of an older release is brought up to date (here: nothing to do)
        st.run("rebuild-snapshots")
        wait_until(lambda: answers(st, world) == before, timeout=15, interval=0.2)
        after = answers(st, world)
    assert after == before
    with psycopg.connect(target) as conn:
        stored = {row[0] for row in conn.execute("SELECT device_id FROM device")}
        signed_in = {row[0] for row in conn.execute("SELECT user_id FROM auth_session")}
    assert set(devices) <= stored and set(users) <= signed_in
