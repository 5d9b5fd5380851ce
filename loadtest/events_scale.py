"""Event storage at scale: 10 million authentication events in the monthly partitions (issue 24).

    python -m loadtest.events_scale [--events 10000000] [--users 1000000]   (part of `make bench`)

Starts a stack on its own database, loads the events in bulk (INSERT ... SELECT over generate_series,
spread evenly over the last 12 months, one app, `--users` distinct users) and prints:
  1. table and index size per million events (every partition), and per million users;
  2. the admin API's session and user lists through the write API: p95 of keyset pages (?after=) walked
     from the newest, and of the first numbered page (which counts);
  3. the console's adoption chart query (a quarter of daily rows from `daily_stat`), p95, and one day's
     aggregation from the raw events (the worker's job);
  4. the purge: dropping the oldest month's partition, against a DELETE of the same rows (rolled back).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import httpx
import psycopg

from loadtest.bench import PG, REDIS_URL
from loadtest.processes import drop_database
from loadtest.stack import production_stack
from store.partitions import month_of, next_month, partition

DB = PG.rsplit("/", 1)[0] + "/gatehouse_events_scale"


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parser.parse_args()
    with production_stack(DB, REDIS_URL, "gatehouse-events-scale") as stack:
        admin = httpx.Client(
            base_url=stack.write, headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=60
        )
        team = admin.post("/admin/v1/teams", json={"name": "Events"}).json()
        public = admin.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Events"}).json()["id"]
        with psycopg.connect(DB, autocommit=True) as conn:
            measure(conn, admin, public, args.events, args.users)
    drop_database(DB)


def measure(conn: psycopg.Connection, admin: httpx.Client, public: str, events: int, users: int) -> None:
    app = conn.execute("SELECT id FROM app WHERE public_id = %s", (public,)).fetchone()[0]
    today = dt.datetime.now(dt.UTC).date()
    first = month_of(today - dt.timedelta(days=365))
    month = first
    while month <= today:
        name = partition("auth_session", month)
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF auth_session '
            f"FOR VALUES FROM ('{month}') TO ('{next_month(month)}')"
        )
        month = next_month(month)
    t0 = time.perf_counter()
    conn.execute(
        "INSERT INTO auth_session (app_id, user_id, platform, app_version, environment, created_at) "
        "SELECT %(app)s, 'user-' || (g %% %(users)s), CASE WHEN g %% 3 = 0 THEN 'android' ELSE 'ios' END, "
        "'2.' || (g %% 12) || '.0', 'production', "
        "now() AT TIME ZONE 'UTC' - ((%(events)s - g)::float8 / %(events)s) * interval '365 days' "
        "FROM generate_series(1, %(events)s) g",
        {"app": app, "users": users, "events": events},
    )
    conn.execute(
        "INSERT INTO client_user (app_id, user_id, platform, app_version, environment, first_seen_at, "
        "last_seen_at) SELECT %(app)s, 'user-' || g, 'ios', '2.' || (g %% 12) || '.0', 'production', "
        "now() AT TIME ZONE 'UTC' - interval '365 days', "
        "now() AT TIME ZONE 'UTC' - (g::float8 / %(users)s) * interval '30 days' "
        "FROM generate_series(1, %(users)s) g",
        {"app": app, "users": users},
    )
    conn.execute("ANALYZE auth_session")
    conn.execute("ANALYZE client_user")
    loaded = time.perf_counter() - t0
    sessions = conn.execute(
        "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'auth_session'"
    ).fetchone()[0]
    heap = conn.execute(
        "SELECT sum(pg_relation_size(c.oid))::bigint FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'auth_session'"
    ).fetchone()[0]
    user_bytes = conn.execute("SELECT pg_total_relation_size('client_user')").fetchone()[0]
    print(f"\nevent storage: {events:,} sessions over 12 months, {users:,} users, loaded in {loaded:.0f} s")
    print(
        f"  auth_session: {sessions / 2**20 / (events / 1e6):.0f} MiB per million events "
        f"({heap / 2**20 / (events / 1e6):.0f} MiB rows, {(sessions - heap) / 2**20 / (events / 1e6):.0f} MiB "
        f"indexes); client_user: {user_bytes / 2**20 / (users / 1e6):.0f} MiB per million users"
    )

    # 2. the admin lists, through the write API
    for route in ("sessions", "users"):
        keyset, after = [], ""
        for _ in range(100):
            t0 = time.perf_counter()
            res = admin.get(f"/admin/v1/apps/{public}/{route}", params={"after": after, "per_page": 50})
            keyset.append((time.perf_counter() - t0) * 1000)
            res.raise_for_status()
            after = res.json()["next_cursor"]
        url = f"/admin/v1/apps/{public}/{route}"
        numbered = [
            timed(lambda url=url: admin.get(url, params={"per_page": 50}).raise_for_status())
            for _ in range(5)
        ]
        print(
            f"  admin {route} list: keyset pages (?after=) p95 {p95(keyset):.1f} ms over 100 pages walked from "
            f"the newest; first numbered page (counts every row) p95 {p95(numbered):.0f} ms"
        )

    # 3. the console's adoption chart reads daily rows; the worker's job makes them from the raw events
    days = [today - dt.timedelta(days=n) for n in range(1, 91)]
    aggregate = timed(
        lambda: conn.execute(
            "INSERT INTO daily_stat (day, app_id, platform, environment, app_version, sessions, users) "
            "SELECT created_at::date, app_id, platform, coalesce(environment, ''), app_version, count(*), "
            "count(DISTINCT user_id) FROM auth_session WHERE created_at >= %s GROUP BY 1, 2, 3, 4, 5",
            (min(days),),
        )
    )
    one_day = timed(
        lambda: conn.execute(
            "SELECT app_id, platform, environment, app_version, count(id), count(DISTINCT user_id) "
            "FROM auth_session WHERE created_at >= %s AND created_at < %s GROUP BY 1, 2, 3, 4",
            (days[0], days[0] + dt.timedelta(days=1)),
        ).fetchall()
    )
    chart = [
        timed(
            lambda: conn.execute(
                "SELECT day, platform, environment, app_version, users FROM daily_stat "
                "WHERE app_id = %s AND day BETWEEN %s AND %s",
                (app, min(days), max(days)),
            ).fetchall()
        )
        for _ in range(50)
    ]
    print(
        f"  adoption chart (90 days of daily rows): p95 {p95(chart):.2f} ms; one day's aggregation from the "
        f"raw events (the worker's job) {one_day:.0f} ms ({aggregate / 1000:.1f} s for the 90 days at once)"
    )

    # 4. the purge: a month dropped, against deleting the same rows
    oldest = partition("auth_session", first)
    rows = conn.execute(f'SELECT count(*) FROM "{oldest}"').fetchone()[0]
    with conn.transaction(force_rollback=True):
        delete = timed(
            lambda: conn.execute(
                "DELETE FROM auth_session WHERE created_at >= %s AND created_at < %s",
                (first, next_month(first)),
            )
        )
    drop = timed(lambda: conn.execute(f'DROP TABLE "{oldest}"'))
    print(
        f"  purge of the oldest month ({rows:,} rows): DROP of its partition {drop:.0f} ms, a DELETE of the same "
        f"rows {delete:.0f} ms ({delete / max(drop, 0.001):.0f} x)"
    )


if __name__ == "__main__":
    main()
