"""The figures the benchmarks print: percentiles by nearest rank, the slowest changes with their stages, and
the statements loadtest/device_writes.py measures beside the worker's."""

from __future__ import annotations

import time

import orjson

from loadtest import device_writes
from loadtest.bench import print_slowest
from loadtest.probe import percentile
from store.db import db


def test_p99_of_a_hundred_changes_is_the_second_slowest_not_the_slowest():
    changes = [float(ms) for ms in range(1, 101)]
    assert percentile(changes, 0.99) == 99.0
    assert percentile(changes, 0.5) == 50.0
    assert percentile(changes, 1.0) == 100.0
    assert percentile(list(range(1, 301)), 0.99) == 297  # the fourth-slowest of 300
    assert percentile([7.0], 0.99) == 7.0


def test_no_samples_give_no_figure():
    assert percentile([], 0.99) != percentile([], 0.99)  # NaN: printed as nan, never as a figure


def test_the_slowest_changes_are_printed_with_their_stages(capsys):
    totals = [40.0, 310.0, 45.0, 120.0]
    spans = [
        (1.0, 2.0, 20.0, 17.0),
        (1.0, 280.0, 15.0, 14.0),
        (1.0, 3.0, 21.0, 20.0),
        (2.0, 3.0, 100.0, 15.0),
    ]
    print_slowest(totals, spans, ["commit -> answered (enqueue)", "to publish (job)"] + ["a", "b"], n=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "  slow change #1: 310.0 ms (commit -> answered 1.0, to publish 280.0, a 15.0, b 14.0)",
        "  slow change #3: 120.0 ms (commit -> answered 2.0, to publish 3.0, a 100.0, b 15.0)",
    ]


def test_the_statements_measured_beside_the_worker_s_store_what_it_stores(world):
    """loadtest/device_writes.py compares the worker's statement with MERGE on copies of the device table:
    the comparison holds only if MERGE stores the same rows, for devices new and seen before."""
    db.execute_sql("CREATE TEMPORARY TABLE device_copy (LIKE device INCLUDING ALL)")
    apps = orjson.dumps({world.app.package_name: world.app.id}).decode()
    now = time.time()

    def rows(seen: float, offered: str | None, name: str) -> str:
        return orjson.dumps(
            [[world.app.package_name, f"dev-{i}", "ios", "6.3.0", None, "1.0.0", name, "", True, False, seen, offered]
             for i in range(3)]
        ).decode()  # fmt: skip

    batches = [rows(now, "1.1.0", "1.0.0"), rows(now - 60, None, "1.1.0")]  # new, then seen again
    for table, statement in (("device", device_writes.UPSERT), ("device_copy", device_writes.MERGE)):
        for doc in batches:
            db.execute_sql(device_writes.into(table, statement), (doc, apps))
    columns = "device_id, version_name, offered_bundle, first_seen_at, last_seen_at"
    stored = [
        db.execute_sql(f"SELECT {columns} FROM {t} ORDER BY device_id").fetchall()
        for t in ("device", "device_copy")
    ]
    assert stored[0] == stored[1]
    assert [r[:3] for r in stored[0]] == [(f"dev-{i}", "1.1.0", "1.1.0") for i in range(3)]
    assert all(first == last for *_, first, last in stored[0])  # the later sighting is the older one


def test_the_measured_statements_write_the_table_named_and_keep_device_id():
    renamed = device_writes.into("device_no_fk", device_writes.UPSERT)
    assert "INSERT INTO device_no_fk (app_id, device_id," in renamed
    assert "GREATEST(device_no_fk.last_seen_at," in renamed and " device " not in renamed
