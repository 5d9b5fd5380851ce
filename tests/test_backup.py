"""Backup and restore as deploy/README.md walks an operator through it: `pg_dump` of the database and a copy
of the artifact storage; restored into an empty database and storage with a new, empty Redis, then
`gatehouse rebuild-snapshots`: every client answer is the one given before (bodies and ETags), and every
artifact and bundle downloads with the same SHA-256 (tests/worlds.py)."""

from __future__ import annotations

import shutil
import subprocess

from loadtest.processes import recreate_database, wait_until
from loadtest.stack import production_stack
from tests import lanes
from tests.worlds import answers, seed, wait_for_offer

SECRET = {"GATEHOUSE_SECRET_KEY": "backup-test-secret-key-0123456789abcdef"}


def test_a_restore_gives_back_every_answer_and_every_download(tmp_path):
    source, target = lanes.pg("gatehouse_backup_source"), lanes.pg("gatehouse_backup_target")
    dump, storage = tmp_path / "gatehouse.dump", tmp_path / "storage"
    with production_stack(source, lanes.redis_url(2), "gatehouse-backup", **SECRET) as st:
        world = seed(st)
        wait_for_offer(st)
        before = answers(st, world)
        # The backup, as deploy/README.md gives it: the database, then the artifact storage.
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
