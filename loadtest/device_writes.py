"""What PostgreSQL spends storing a new device, and how much of it any other statement or schema could save.

The all-new /updates row of `make bench` is held under its target by PostgreSQL's share of the same two
cores: every answer to a device never seen is a row the worker inserts. This measures that cost alone,
in one backend, on a scratch database migrated as a deployment's is: the worker's statement
(store/devices.py, one JSON document a batch of 5,500 rows, as a busy flush sends them), then the same
rows stored by the cheaper statements there are (MERGE, a plain INSERT that cannot update a device seen
before), on the table as migrated and on copies of it without the parts a new device pays for and rarely
uses (the pins' foreign keys, checked for every row although a new device's pins are NULL; the id key).
Each figure is the median of interleaved rounds of 22,000 new devices, on tables that start with 110,000
and keep growing.

Run: `python -m loadtest.device_writes` (GATEHOUSE_BENCH_PG names the server, as for `make bench`).
"""

from __future__ import annotations

import os
import re
import secrets
import statistics
import subprocess
import sys
import time

import orjson
import psycopg

from loadtest.bench import PG
from loadtest.processes import drop_database, recreate_database
from store.devices import _UPSERT_PG as UPSERT  # the worker's own statement, measured as it runs

BATCH = 5_500
ROUNDS = 15
PER_ROUND = 4 * BATCH
RATE = 22_000  # new devices a second: the all-new row of make bench on these two cores

# The same rows and the same result for devices seen before, as one MERGE: its join to the device table is
# planned (a prepared statement's generic plan, made while the table was small, hashed the whole table
# later: 15 us a device became 46 in three runs), so it is measured unprepared, planned for each batch.
MERGE = """
MERGE INTO device AS d
USING (SELECT a.value::int AS app_id, e->>1 AS device_id, e->>2 AS platform, e->>3 AS plugin_version,
              e->>4 AS os_version, e->>5 AS version_build, e->>6 AS version_name, e->>7 AS custom_id,
              (e->>8)::bool AS is_prod, (e->>9)::bool AS is_emulator,
              to_timestamp((e->>10)::float8) AT TIME ZONE 'UTC' AS seen, e->>11 AS offered
       FROM jsonb_array_elements(%s::jsonb) AS e JOIN jsonb_each_text(%s::jsonb) AS a ON a.key = e->>0) AS s
ON d.app_id = s.app_id AND d.device_id = s.device_id
WHEN MATCHED THEN UPDATE SET platform = s.platform, plugin_version = s.plugin_version,
    os_version = s.os_version, version_build = s.version_build, version_name = s.version_name,
    custom_id = s.custom_id, is_prod = s.is_prod, is_emulator = s.is_emulator,
    last_seen_at = GREATEST(d.last_seen_at, s.seen), offered_bundle = COALESCE(s.offered, d.offered_bundle)
WHEN NOT MATCHED THEN INSERT (app_id, device_id, platform, plugin_version, os_version, version_build,
    version_name, custom_id, is_prod, is_emulator, first_seen_at, last_seen_at, offered_bundle)
    VALUES (s.app_id, s.device_id, s.platform, s.plugin_version, s.os_version, s.version_build,
    s.version_name, s.custom_id, s.is_prod, s.is_emulator, s.seen, s.seen, s.offered)
"""
STATEMENTS = {
    "the worker's upsert (INSERT .. ON CONFLICT)": UPSERT,
    "MERGE (planned per batch)": MERGE,
    "plain INSERT (no update of a known device)": UPSERT.split("ON CONFLICT")[0],
}
# Copies of the device table beside it, measured in the same rounds (the machine's speed drifts by a fifth
# within minutes, so one table after the other measured the drift): CREATE TABLE .. LIKE copies the
# indexes and defaults but no foreign key.
TABLES = {
    "device": ("as migrated", []),
    "device_no_fk": (
        "without the pins' foreign keys",
        ["CREATE TABLE device_no_fk (LIKE device INCLUDING ALL)"],
    ),
    "device_no_pk": (
        "and without the id primary key",
        [
            "CREATE TABLE device_no_pk (LIKE device INCLUDING ALL)",
            "ALTER TABLE device_no_pk DROP CONSTRAINT device_no_pk_pkey",
            "ALTER TABLE device_no_pk ALTER COLUMN id DROP DEFAULT, ALTER COLUMN id DROP NOT NULL",
        ],
    ),
}
APPS = orjson.dumps({"com.bench.writes": 1}).decode()


def batch() -> str:
    """5,500 devices never seen, as the read service sends them: one run of ids under a new prefix."""
    prefix = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}"
    now = time.time()
    rows = [
        ("com.bench.writes", f"{prefix}-4000-8000-{n:012x}", "android", "6.3.0", None, "1.0.0", "1.1.0", "",
         True, False, now, None)
        for n in range(BATCH)
    ]  # fmt: skip
    return orjson.dumps(rows).decode()


def into(table: str, statement: str) -> str:
    """The statement writing ``table`` instead of device (its name, not device_id's)."""
    return re.sub(r"\bdevice\b(?=[ .(])", table, statement)


def store(conn: psycopg.Connection, statement: str) -> float:
    """Seconds a device, over PER_ROUND devices, each batch its own transaction (as the worker commits)."""
    spent = 0.0
    for _ in range(PER_ROUND // BATCH):
        doc = batch()
        started = time.perf_counter()
        conn.execute(statement, (doc, APPS), prepare=False)
        conn.commit()
        spent += time.perf_counter() - started
    return spent / PER_ROUND


def breakdown(conn: psycopg.Connection) -> dict[str, float]:
    """The worker's statement by plan node (EXPLAIN ANALYZE, median of five batches), us a device."""
    parts: dict[str, list[float]] = {"reading": [], "inserting": [], "pin checks": []}
    for _ in range(5):
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN ANALYZE " + UPSERT, (batch(), APPS)))
        conn.commit()
        source = float(re.search(r"Hash Join .*?actual time=[\d.]+\.\.([\d.]+)", plan).group(1))
        insert = float(re.search(r"Insert on device .*?actual time=[\d.]+\.\.([\d.]+)", plan).group(1))
        checks = sum(float(t) for t in re.findall(r"Trigger for constraint device_\w+: time=([\d.]+)", plan))
        for name, ms in (("reading", source), ("inserting", insert - source), ("pin checks", checks)):
            parts[name].append(ms * 1000 / BATCH)
    return {name: statistics.median(v) for name, v in parts.items()}


def main() -> None:
    url = PG.rsplit("/", 1)[0] + "/gatehouse_device_writes"
    recreate_database(url)
    env = {**os.environ, "GATEHOUSE_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, check=True, capture_output=True)
    try:
        with psycopg.connect(url) as conn:
            conn.execute(
                "INSERT INTO team (id, name, subscription_status, created_at) VALUES (1, 'w', 'active', now())"
            )
            conn.execute(
                "INSERT INTO app (id, public_id, team_id, title, package_name, description, published, "
                "created_at) VALUES (1, 'writes', 1, 'w', 'com.bench.writes', '', false, now())"
            )
            conn.commit()
            for _, changes in TABLES.values():
                for change in changes:
                    conn.execute(change)
            conn.commit()
            for table in TABLES:  # each table already holds 110,000 devices
                for _ in range(5):
                    store(conn, into(table, UPSERT))
            parts = breakdown(conn)
            print(
                f"the worker's statement, by plan node (us a new device): reading the rows (JSON, app, "
                f"expressions) {parts['reading']:.1f}, inserting (heap, 3 indexes, WAL, ON CONFLICT) "
                f"{parts['inserting']:.1f}, the pins' foreign-key checks {parts['pin checks']:.1f}"
            )
            spent: dict[tuple[str, str], list[float]] = {}
            for _ in range(ROUNDS):
                for table in TABLES:
                    for name, statement in STATEMENTS.items():
                        spent.setdefault((table, name), []).append(store(conn, into(table, statement)))
            base = statistics.median(spent["device", next(iter(STATEMENTS))]) * 1e6
            print(f"\n{'table':32} {'statement':45} {'us/device':>9} {'x upsert':>8} {'cores at 22k/s':>14}")
            for (table, name), runs in spent.items():
                us = statistics.median(runs) * 1e6
                print(
                    f"{TABLES[table][0]:32} {name:45} {us:>9.1f} {us / base:>8.2f} {us * RATE / 1e6:>14.2f}"
                )
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
