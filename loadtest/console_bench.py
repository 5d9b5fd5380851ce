"""The console's pages at size: each page's server time with 10,000 apps, 1,000,000 sign-ins (auth events)
and 100,000 devices (issue 22: p95 <= 150 ms for every page).

    python -m loadtest.console_bench      # part of make bench

Seeds its own PostgreSQL database: the admin, a team and the measured app through the CLI, the rest in bulk
(COPY): 10,000 apps with two environments each, 1,000,000 sign-ins of 100,000 users over 90 days, their
one-row-per-user table, 100,000 devices, bundles with their /stats counts, a distribution variant with
releases and 100,000 page events, and 5,000 audit entries; then `gatehouse aggregate-stats --days 90` writes
the daily tables as the worker does. Rules, a rollout and a webhook go through the console's own forms.
Each page is then asked for 40 times (after 5 untimed) in-process, through the whole write app (middleware,
session, CSRF, store, templates), so what is timed is the server's work alone.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import statistics
import subprocess
import sys
import time
from urllib.parse import urlencode

import psycopg
import redis
from falcon import testing

from loadtest.processes import drop_database, recreate_database

PG = os.environ.get(
    "GATEHOUSE_CONSOLE_BENCH_DATABASE_URL",
    "postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_console_bench",
)
REDIS = os.environ.get("GATEHOUSE_CONSOLE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
CLI = [sys.executable, "-m", "api.cli"]
APPS, SIGN_INS, USERS, DEVICES, EVENTS, AUDIT = 10_000, 1_000_000, 100_000, 100_000, 100_000, 5_000
VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0", "2.0.1", "2.1.0", "2.2.0"]
BUNDLES = [f"3.{n}.0" for n in range(10)]
TARGET_MS = 150.0
EMAIL, PASSWORD = "bench@example.com", "bench password"


def _cli(*args: str) -> str:
    env = {**os.environ, "GATEHOUSE_DATABASE_URL": PG, "GATEHOUSE_REDIS_URL": REDIS}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, check=True).stdout


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows) -> None:
    with conn.cursor().copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def seed() -> tuple[str, int]:
    """The data set; returns the measured app's id and the team's."""
    recreate_database(PG)
    redis.Redis.from_url(REDIS).flushdb()
    _cli("migrate")
    _cli("create-user", "--email", EMAIL, "--password", PASSWORD, "--role", "super_admin")
    team = int(_cli("create-team", "--name", "Bench", "--owner", EMAIL).split()[-1])
    app_id = re.search(
        r"app (app_\w+)",
        _cli(
            "create-app", "--team", str(team), "--title", "Measured", "--package-name", "com.bench.measured"
        ),
    ).group(1)
    rng = random.Random(22)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with psycopg.connect(PG, autocommit=True) as conn:
        hot = conn.execute("SELECT id FROM app WHERE public_id = %s", (app_id,)).fetchone()[0]
        _copy(
            conn,
            "app",
            [
                "public_id",
                "team_id",
                "title",
                "package_name",
                "slug",
                "description",
                "published",
                "created_at",
            ],
            (
                (
                    f"app_bench{n:06d}",
                    team,
                    f"Bench app {n}",
                    f"com.bench.app{n}",
                    f"bench-app-{n}",
                    "",
                    False,
                    now,
                )
                for n in range(APPS - 1)
            ),
        )
        conn.execute(
            "INSERT INTO environment (app_id, alias, created_at) SELECT id, e, now() FROM app, "
            "(VALUES ('production'), ('staging')) AS v(e) WHERE public_id LIKE 'app_bench%'"
        )
        start = now - dt.timedelta(days=90)
        print(f"seeding {SIGN_INS:,} sign-ins ...", flush=True)
        _copy(
            conn,
            "auth_session",
            ["app_id", "user_id", "platform", "app_version", "environment", "created_at"],
            (
                (
                    hot,
                    f"u{u}",
                    "ios" if u % 2 else "android",
                    VERSIONS[min(int(i * len(VERSIONS) / SIGN_INS + rng.random() * 2), 7)],
                    "production",
                    start + dt.timedelta(seconds=i * 90 * 86400 / SIGN_INS),
                )
                for i, u in enumerate(rng.randrange(USERS) for _ in range(SIGN_INS))
            ),
        )
        _copy(
            conn,
            "client_user",
            ["app_id", "user_id", "platform", "app_version", "environment", "first_seen_at", "last_seen_at"],
            (
                (
                    hot,
                    f"u{u}",
                    "ios" if u % 2 else "android",
                    rng.choice(VERSIONS),
                    "production",
                    start,
                    now - dt.timedelta(days=rng.random() * 40),
                )
                for u in range(USERS)
            ),
        )
        for n, name in enumerate(BUNDLES):
            conn.execute(
                "INSERT INTO bundle (app_id, name, external_url, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
                (hot, name, f"https://cdn.example/{name}.zip", start + dt.timedelta(days=n * 9), now),
            )
        _copy(
            conn,
            "device",
            [
                "app_id",
                "device_id",
                "custom_id",
                "platform",
                "plugin_version",
                "version_build",
                "version_name",
                "is_prod",
                "is_emulator",
                "first_seen_at",
                "last_seen_at",
            ],
            (
                (
                    hot,
                    f"{n:08x}-bench-device",
                    f"customer-{n}",
                    "ios" if n % 2 else "android",
                    "7.0.0",
                    rng.choice(["1.0", "1.1", "2.0"]),
                    rng.choice(BUNDLES[-3:]),
                    True,
                    False,
                    start,
                    now - dt.timedelta(hours=rng.random() * 20),
                )
                for n in range(DEVICES)
            ),
        )
        _copy(
            conn,
            "bundle_stat",
            ["app_id", "day", "bundle", "action", "count"],
            (
                (hot, (start + dt.timedelta(days=d)).date(), b, a, rng.randrange(10, 5000))
                for d in range(90)
                for b in BUNDLES
                for a in ("set", "download_fail", "set_fail")
            ),
        )
        conn.execute(
            "INSERT INTO variant (public_id, app_id, platform, display_name, identifier, arch, installer_type, min_os, sort_order, published, created_at, updated_at) "
            "VALUES ('var_bench', %s, 'android', 'Measured', 'com.bench.measured', '', '', '', 0, true, %s, %s)",
            (hot, now, now),
        )
        variant = conn.execute("SELECT id FROM variant WHERE public_id = 'var_bench'").fetchone()[0]
        releases = []
        for n in range(10):
            releases.append(
                conn.execute(
                    "INSERT INTO build (app_id, build_type, version, name, public, created_at, variant_id, release_id, build_number, changelog, min_os, channel, file_backend, file_name, file_size) "
                    "VALUES (%s, 'release', %s, '', true, %s, %s, %s, %s, 'Fixes.', '', '', '', 'm.apk', 1000) RETURNING id",
                    (hot, f"1.{n}.0", start + dt.timedelta(days=n * 9), variant, f"rel_bench{n}", n),
                ).fetchone()[0]
            )
        _copy(
            conn,
            "dist_event",
            ["app_id", "variant_id", "release_id", "type", "ip", "ua", "created_at"],
            (
                (
                    hot,
                    variant,
                    rng.choice(releases),
                    rng.choice(["visit", "click", "download"]),
                    "203.0.113.7",
                    "bench",
                    start + dt.timedelta(seconds=i * 90 * 86400 / EVENTS),
                )
                for i in range(EVENTS)
            ),
        )
        _copy(
            conn,
            "audit_entry",
            [
                "at",
                "team_id",
                "user_id",
                "user_email",
                "token_hint",
                "resource",
                "resource_id",
                "action",
                "changes",
            ],
            (
                (
                    now - dt.timedelta(minutes=i),
                    team,
                    1,
                    EMAIL,
                    "console",
                    "version_rule",
                    str(i),
                    "update",
                    '{"update_message": ["a", "b"]}',
                )
                for i in range(AUDIT)
            ),
        )
        conn.execute("ANALYZE")
    print("aggregating the daily tables ...", flush=True)
    _cli("aggregate-stats", "--days", "90")
    return app_id, team


def measure(app_id: str, team: int) -> list[tuple[str, float, float]]:
    from api.logging import configure
    from api.settings import Settings
    from api.write.app import create_write_app

    configure("warning")  # a log line per timed request would be timed too
    settings = Settings(database_url=PG, redis_url=REDIS, queue_name="gatehouse-console-bench")
    client = testing.TestClient(create_write_app(settings))
    form = client.simulate_get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    login = client.simulate_post(
        "/console/login",
        body=urlencode({"csrf": token, "email": EMAIL, "password": PASSWORD}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"gh_login={token}"},
    )
    cookie = {"Cookie": f"gh_session={login.cookies['gh_session'].value}"}
    csrf = re.search(
        r'name="csrf" value="([^"]+)"', client.simulate_get("/console/apps", headers=cookie).text
    ).group(1)
    app = f"/console/apps/{app_id}"

    def post(path: str, fields: dict) -> None:
        answer = client.simulate_post(
            path,
            body=urlencode({"csrf": csrf} | fields),
            headers=cookie | {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code in (201, 303), (path, answer.status_code, answer.text[:300])

    for platform in ("ios", "android"):
        post(
            f"{app}/minimum-rules",
            {"environment": "production", "platform": platform, "minimum_version": "2.0.0"},
        )
        post(
            f"{app}/rules",
            {"environment": "production", "platform": platform, "version": "1.0.0", "force_update": "on"},
        )
    post(
        f"{app}/channels",
        {
            "name": "production",
            "bundle": BUNDLES[-2],
            "public": "on",
            "ios": "on",
            "android": "on",
            "disable_auto_update": "major",
        },
    )
    post(
        f"{app}/rollouts/production",
        {
            "bundle": BUNDLES[-1],
            "after_0": "0",
            "percent_0": "10",
            "after_1": "24",
            "percent_1": "100",
            "threshold": "5",
            "min_samples": "50",
            "window_minutes": "60",
        },
    )
    post(f"/console/teams/{team}/webhooks", {"url": "https://hooks.example.com/bench", "all": "on"})
    pages = {
        "apps list": "/console/apps",
        "apps, page 150 of 200": "/console/apps?page=150",
        "apps search": "/console/apps?q=app%209999",
        "app page (90-day charts)": f"{app}?days=90",
        "impact preview (JSON)": f"{app}/impact?minimum=2.1.0&format=json",
        "adoption CSV (90 days)": f"{app}/adoption.csv?days=90",
        "live updates (90 days)": f"{app}/live?days=90",
        "device search": f"{app}/live?device=customer-4242",
        "rollout": f"{app}/rollouts/production",
        "distribution (90 days)": f"{app}/distribution?days=90",
        "audit log": "/console/audit",
        "teams": "/console/teams",
        "users": "/console/users",
        "webhooks": f"/console/teams/{team}/webhooks",
    }
    rows = []
    for name, path in pages.items():
        for _ in range(5):
            first = client.simulate_get(path, headers=cookie)
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
        times = []
        for _ in range(40):
            started = time.perf_counter()
            client.simulate_get(path, headers=cookie)
            times.append((time.perf_counter() - started) * 1000)
        rows.append((name, statistics.median(times), statistics.quantiles(times, n=20)[18]))
    return rows


def main() -> None:
    started = time.monotonic()
    app_id, team = seed()
    print(
        f"seeded in {time.monotonic() - started:.0f} s: {APPS:,} apps, {SIGN_INS:,} sign-ins, {DEVICES:,} devices"
    )
    rows = measure(app_id, team)
    print(f"\nConsole pages, server time per page (ms), target p95 <= {TARGET_MS:.0f} ms")
    print(f"{'page':<28}{'p50':>8}{'p95':>8}{'p95/target':>12}")
    for name, p50, p95 in rows:
        print(f"{name:<28}{p50:>8.1f}{p95:>8.1f}{p95 / TARGET_MS:>11.2f}x")
    worst = max(p95 for _, _, p95 in rows)
    print(f"worst p95 {worst:.1f} ms: {'meets' if worst <= TARGET_MS else 'MISSES'} the target")
    drop_database(PG)


if __name__ == "__main__":
    main()
