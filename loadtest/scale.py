"""The scale run: many apps on one read host, measured (issue: 10,000 apps x 100 rules).

    python -m loadtest.scale            # 10,000 apps x 102 rules, 1,000 live-update apps x 10 channels,
                                        # 100,000 pinned devices (make scale)

Seeds both shapes in bulk into its own PostgreSQL database and Redis database, then, with the processes a
host runs (one worker and one read process per core):
  1. the full rebuild: the workers find the snapshots missing and render every app (the range jobs
     spread over them), timed to the "complete" mark; then Redis is flushed and the heal timed the same way;
  2. Redis memory of the snapshots;
  3. the read service's cold start (start to answering the last app of each kind), and each process's
     resident memory after every app has been asked for;
  4. read throughput at that size next to the Falcon ceilings under the same server config: a hot mix (the
     first 1,000 apps), every app in turn (the hot set turning over) and POST /updates across the
     live-update apps;
  5. change -> visible: 10 changes a second through the write API, each timed from its commit until the
     read service answers it on each of 8 kept-alive connections, while wrk loads the read service.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis
from tqdm import tqdm

from loadtest.bench import print_slowest, settle, wrk
from loadtest.probe import Probe, percentile
from loadtest.processes import free_port, recreate_database, wait_until
from loadtest.services import children
from store.snapshot_format import APP_KEY, COMPLETE_KEY, ETAGS_KEY, HEADS_KEY, PUBLISHED_KEY

PG = os.environ.get(
    "GATEHOUSE_SCALE_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_scale"
)
REDIS = os.environ.get("GATEHOUSE_SCALE_REDIS_URL", "redis://127.0.0.1:6379/4")
ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "api.cli"]
HOT = 1_000  # apps in the hot mix


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6  # kB (KiB) to MB
    return 0.0


def _snapshot_mb(r: redis.Redis) -> float:
    """Bytes Redis spends on the snapshots (documents, heads, ETags), by MEMORY USAGE of each key."""
    keys = [k for k in r.scan_iter(match=APP_KEY + "*", count=5000)] + [HEADS_KEY, ETAGS_KEY]
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(x or 0 for x in pipe.execute()) / 1e6


VERSIONS = '"/v1/versions?app_id=" .. a[1] .. "&app_version=1.0.0&platform=ios&environment=production"'
MAINTENANCE = '"/v1/maintenance?app_id=" .. a[1] .. "&environment=production"'
APP_CONFIG = '"/app-config/public?app_id=" .. a[1]'


def _get_lua(path: Path, apps: list[tuple[str, str]], target: str = VERSIONS) -> str:
    """A wrk script asking each app in turn (``target``: a Lua expression of the app ``a``), with its token."""
    rows = ",\n".join(f'{{"{pid}","{token}"}}' for pid, token in apps)
    path.write_text(
        f"local apps = {{\n{rows}\n}}\nlocal n = 0\n"
        "request = function()\n  n = n + 1\n  local a = apps[(n % #apps) + 1]\n"
        f'  return wrk.format("GET", {target}, {{["x-api-token"] = a[2]}})\nend\n'
    )
    return str(path)


def _device_lua(path: Path, packages: list[str], extra: str = "") -> str:
    """A wrk script sending plugin calls across the live-update apps (10,000 devices, no update due);
    ``extra`` adds fields (the /stats action)."""
    rows = ",\n".join(f'"{p}"' for p in packages)
    path.write_text(
        f"local apps = {{\n{rows}\n}}\nlocal n = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n  n = n + 1\n"
        '  local body = string.format(\'{"app_id":"%s","device_id":"00000000-0000-4000-8000-%012x","platform":"android",'
        '"version_build":"1.0.0","version_name":"1.0.0","plugin_version":"6.3.0","is_emulator":false,'
        f'"is_prod":true{extra}}}\', apps[(n % #apps) + 1], n % 10000)\n'
        "  return wrk.format(nil, nil, nil, body)\nend\n"
    )
    return str(path)


class Host:
    """The processes of one host, started on demand and stopped at the end."""

    def __init__(self, env: dict):
        self.env, self.procs = env, []

    def spawn(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [*args], env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _ok(url: str, **kwargs) -> bool:
    try:
        return httpx.request(url=url, timeout=2, **kwargs).status_code == 200
    except httpx.HTTPError:
        return False


def _baseline_mb(env: dict) -> float:
    """A read process's resident memory holding no app (the Redis database is still empty)."""
    host, port = Host(env), free_port()
    try:
        master = host.spawn(*CLI, "serve", "read", "--bind", f"127.0.0.1:{port}", "--workers", "1")
        wait_until(lambda: _ok(f"http://127.0.0.1:{port}/health", method="GET"), timeout=30)
        time.sleep(1)
        return max(_rss_mb(pid) for pid in children(master.pid))
    finally:
        host.stop()


def _complete(r: redis.Redis, total: int) -> bool:
    return bool(r.exists(COMPLETE_KEY)) and r.hlen(ETAGS_KEY) >= total


def main() -> None:  # noqa: PLR0915 - one run, read top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument(
        "--rules", type=int, default=17, help="Exact rules per platform and environment (x6 per app)."
    )
    parser.add_argument(
        "--unique", action="store_true", help="No two apps share an answer (each message names its app)."
    )
    parser.add_argument("--live-apps", type=int, default=1_000)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--overrides", type=int, default=100_000)
    parser.add_argument("--duration", default="10s", help="Each wrk run.")
    parser.add_argument("--change-seconds", type=int, default=20, help="How long 10 changes/s arrive.")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    env = {
        **os.environ,
        "GATEHOUSE_DATABASE_URL": PG,
        "GATEHOUSE_REDIS_URL": REDIS,
        "GATEHOUSE_QUEUE_NAME": "gatehouse-scale",
        "GATEHOUSE_LOG_LEVEL": "warning",
        "GATEHOUSE_DATA_DIR": "/tmp/gatehouse-scale",
    }
    recreate_database(PG)
    r = redis.Redis.from_url(REDIS)
    r.flushdb()
    subprocess.run([*CLI, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*CLI, "create-user", "--email", "scale@example.com", "--password", "scale password", "--role",
         "super_admin"], env=env, check=True, capture_output=True,
    )  # fmt: skip
    admin_token = subprocess.run(
        [*CLI, "create-token", "--email", "scale@example.com"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()

    from store import operator
    from store.bootstrap import load_scale, load_scale_live
    from store.service import init_db

    init_db(PG)
    admin = operator.first_super_admin()
    baseline = _baseline_mb(env)
    started = time.monotonic()
    with tqdm(total=args.apps + args.live_apps, unit="app", desc="seeding") as bar:
        apps = load_scale(admin, args.apps, args.rules, progress=bar.update, unique=args.unique)
        packages = load_scale_live(admin, args.live_apps, args.channels, args.overrides, progress=bar.update)
    seeded = time.monotonic() - started
    total = args.apps + args.live_apps
    host = Host(env)
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-scale-"))
    try:
        # 1. The full rebuild, by the workers of a host, then the heal of a flush.
        started = time.monotonic()
        for _ in range(cores):
            host.spawn(*CLI, "worker")
        wait_until(lambda: _complete(r, total), timeout=600, interval=0.1)
        rebuilt = time.monotonic() - started
        snapshot_mb = _snapshot_mb(r)
        r.flushdb()
        started = time.monotonic()
        wait_until(lambda: _complete(r, total), timeout=600, interval=0.1)
        healed = time.monotonic() - started

        # 3. The read service: cold start, then every app asked for once.
        port, wport = free_port(), free_port()
        read = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        master = host.spawn(*CLI, "serve", "read", "--bind", f"127.0.0.1:{port}", "--workers", str(cores))
        last_id, last_token = apps[-1]
        last_check = {
            "app_id": last_id,
            "app_version": "1.0.0",
            "platform": "ios",
            "environment": "production",
        }
        device = {"app_id": packages[-1], "device_id": "00000000-0000-4000-8000-0000000b0b0b", "platform": "android", "version_build": "1.0.0",
                  "version_name": "0.9.0", "is_prod": True}  # fmt: skip
        wait_until(
            lambda: (
                _ok(
                    f"{read}/v1/versions",
                    method="GET",
                    params=last_check,
                    headers={"x-api-token": last_token},
                )
                and _ok(f"{read}/updates", method="POST", json=device)
            ),
            timeout=120,
            interval=0.02,
        )
        cold = time.monotonic() - started
        rss_idle = [_rss_mb(pid) for pid in children(master.pid)]
        every = _get_lua(tmp / "every.lua", apps)
        hot = _get_lua(tmp / "hot.lua", apps[:HOT])
        maintenance = _get_lua(tmp / "maintenance.lua", apps[:HOT], MAINTENANCE)
        app_config = _get_lua(tmp / "app-config.lua", apps[:HOT], APP_CONFIG)
        updates = _device_lua(tmp / "updates.lua", packages)
        stats = _device_lua(tmp / "stats.lua", packages, ',"action":"set"')
        wrk(
            f"{read}/v1/versions", {}, every, duration=f"{max(3, total // 4000)}s"
        )  # every app, at least once
        wrk(f"{read}/updates", {}, updates, duration="3s")
        rss_full = [_rss_mb(pid) for pid in children(master.pid)]

        # 4. Throughput at this size next to the ceilings (same gunicorn config, same number of processes).
        cport = free_port()
        ceiling = f"http://127.0.0.1:{cport}"
        host.spawn(sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn_read.py", "--bind",
                   f"127.0.0.1:{cport}", "--workers", str(cores), "loadtest.constant_app:app")  # fmt: skip
        wait_until(lambda: _ok(f"{ceiling}/health", method="GET"), timeout=30)
        one = "/v1/versions?" + "&".join(f"{k}={v}" for k, v in last_check.items())
        rows = {
            "falcon ceiling GET, one URL (as make bench)": (f"{ceiling}{one}", None),
            "GET /v1/versions, one app (as make bench)": (f"{read}{one}", None),
            "falcon ceiling GET (constant)": (f"{ceiling}/v1/versions", hot),
            f"GET /v1/versions, hot mix ({HOT} apps)": (f"{read}/v1/versions", hot),
            f"GET /v1/versions, every app in turn ({args.apps})": (f"{read}/v1/versions", every),
            "POST ceiling (parse JSON, constant)": (f"{ceiling}/updates", updates),
            f"POST /updates across {args.live_apps} live apps": (f"{read}/updates", updates),
            f"GET /v1/maintenance, hot mix ({HOT} apps)": (f"{read}/v1/maintenance", maintenance),
            f"GET /app-config/public, hot mix ({HOT} apps)": (f"{read}/app-config/public", app_config),
            f"POST /stats across {args.live_apps} live apps": (f"{read}/stats", stats),
        }
        if os.environ.get("SCALE_ONLY") == "propagation":  # section 5 alone (a shorter run)
            rows = {}
        elif os.environ.get("SCALE_ROWS"):  # these throughput rows alone ("|"-separated parts of their names)
            rows = {
                n: row for n, row in rows.items() if any(k in n for k in os.environ["SCALE_ROWS"].split("|"))
            }
        results: dict[str, list[dict]] = {name: [] for name in rows}
        # As make bench does: each run waits for an idle machine (the device calls leave the worker a backlog
        # of sightings to apply), and each round starts one row further on.
        names = list(rows)
        for round_no in range(3):
            for name in names[round_no:] + names[:round_no]:
                url, script = rows[name]
                settle()
                headers = {} if script else {"x-api-token": last_token}
                results[name].append(wrk(url, headers, script))
        rps = {name: statistics.median(x["rps"] for x in runs) for name, runs in results.items()}
        non2xx = {name: sum(x["non2xx"] for x in runs) for name, runs in results.items()}

        # 5. Change -> visible under read load: 10 changes a second through the write API.
        host.spawn(*CLI, "serve", "write", "--bind", f"127.0.0.1:{wport}")
        write = f"http://127.0.0.1:{wport}"
        wait_until(lambda: _ok(f"{write}/health", method="GET"), timeout=30)
        # As before every throughput row: the rows just run leave the worker a backlog of sightings (and
        # PostgreSQL its autovacuum), and the changes were timed through it.
        settle()
        load = subprocess.Popen(
            ["wrk", "-t1", "-c32", f"-d{args.change_seconds + 5}s", "-s", hot, f"{read}/v1/versions"],
            stdout=subprocess.DEVNULL,
        )
        latencies, stages, failed = _propagation(write, read, admin_token, apps, args.change_seconds, r)
        load.wait()
    finally:
        host.stop()
    p = lambda q: percentile(latencies, q) * 1000  # noqa: E731
    rules = args.apps * args.rules * 6
    print(f"\nscale run: {args.apps} apps x {args.rules * 6} rules ({rules} rules), {args.live_apps} live-update apps x "
          f"{args.channels} channels, {args.overrides} pinned devices; {cores} cores, {cores} worker and "
          f"{cores} read processes")  # fmt: skip
    print(f"seed (bulk)                        {seeded:8.1f} s    (target <= 60)")
    print(f"full rebuild ({cores} worker processes) {rebuilt:8.1f} s    (target <= 60; {rebuilt / total * 1000:.1f} ms per app)")  # fmt: skip
    print(f"heal after FLUSHDB                 {healed:8.1f} s    (target <= 60)")
    print(f"Redis for snapshots                {snapshot_mb:8.1f} MB   (target <= 100; {snapshot_mb * 1e6 / total / 1024:.1f} KB per app)")  # fmt: skip
    print(f"read cold start                    {cold:8.1f} s    (target <= 5; start to answering the last app of each kind)")  # fmt: skip
    print(f"read process RSS, idle             {' / '.join(f'{x:.0f}' for x in rss_idle)} MB")
    print(
        f"read process RSS, every app asked  {' / '.join(f'{x:.0f}' for x in rss_full)} MB (target <= 300 each)"
    )
    all_rules = rules + args.live_apps * args.channels
    print(f"per 1,000 rules: Redis {snapshot_mb * 1e6 / all_rules:.0f} KB, read process "
          f"{(max(rss_full) - baseline) * 1e6 / all_rules:.0f} KB over its {baseline:.0f} MB baseline (no app); "
          f"{'no answer shared between apps' if args.unique else 'answers shared between apps'}")  # fmt: skip
    print(f"\nthroughput, wrk -t1 -c64 -d{args.duration}, median of 3")
    for name, value in rps.items():
        print(f"  {name:48} {value:>9.0f} req/s  non-2xx {non2xx[name]}")
    ceiling_get = rps.get("falcon ceiling GET (constant)")
    ceiling_post = rps.get("POST ceiling (parse JSON, constant)")
    for name, value in rps.items():
        if "ceiling" not in name:
            base = ceiling_post if "POST" in name else ceiling_get
            if "one app" in name:
                base = rps.get("falcon ceiling GET, one URL (as make bench)")
            if base:  # SCALE_ROWS may leave its ceiling out
                print(f"  {name}: {value / base:.2f} x its ceiling")
    print(f"\nchange -> visible (from the commit), 10 changes/s for {args.change_seconds} s under read load: {len(latencies)} changes, "
          f"p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {p(1.0):.0f} ms, not visible within 10 s: {failed} "
          "(target p99 <= 100 ms, issue 24)")  # fmt: skip
    for name, values in stages.items():
        print(
            f"  {name:40} p50 {percentile(values, 0.5) * 1000:>6.1f} ms  p99 {percentile(values, 0.99) * 1000:>6.1f} ms"
        )
    spans = [tuple(1000 * x for x in change) for change in zip(*stages.values(), strict=True)]
    print_slowest([1000 * x for x in latencies], spans, list(stages))


def _propagation(
    write: str, read: str, token: str, apps: list[tuple[str, str]], seconds: int, r: redis.Redis
) -> tuple[list[float], dict[str, list[float]], int]:
    """Adds an exact rule to a random app ten times a second; each is polled on the read service until all
    8 connections of a probe (opened before the write) answer it, and timed from the rule's ``created_at``,
    stamped in the transaction just before its commit. Returns the latencies, their stages (from the
    worker's publish stamp) and how many never showed."""
    latencies: list[float] = []
    stages: dict[str, list[float]] = {
        "commit -> write answered (enqueue)": [],
        "to publish (job wake, render, publish)": [],
        "to visible (pub/sub, reload, answer)": [],
    }
    failed = [0]
    lock = threading.Lock()
    client = httpx.Client(base_url=write, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def change(n: int) -> None:
        pid, app_token = random.choice(apps)
        version = f"7.{n}.0"
        params = {"app_id": pid, "app_version": version, "platform": "ios", "environment": "production"}
        with Probe(read) as probe:
            res = client.post(f"/admin/v1/apps/{pid}/versions",
                              json={"version": version, "platform": "ios", "environment": "production",
                                    "update_message": f"change {n}"})  # fmt: skip
            res.raise_for_status()
            answered = time.time()
            committed = dt.datetime.fromisoformat(res.json()["created_at"]).timestamp()
            while time.time() - committed < 10:
                answers = probe.ask("/v1/versions", params, {"x-api-token": app_token})
                if all(status == 200 for status, _ in answers):
                    seen = time.time()
                    at = float(r.hget(PUBLISHED_KEY, pid) or answered)  # a later change may restamp it
                    with lock:
                        latencies.append(seen - committed)
                        for name, span in zip(
                            stages, (answered - committed, at - answered, seen - at), strict=True
                        ):
                            stages[name].append(span)
                    return
                time.sleep(0.001)
        with lock:
            failed[0] += 1

    with ThreadPoolExecutor(64) as pool:
        started = time.monotonic()
        futures = []
        for n in range(seconds * 10):
            delay = started + n / 10 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(change, n))
        for future in futures:
            future.result()  # a change that raised is an error of the run, not a change left uncounted
    client.close()
    return latencies, stages, failed[0]


if __name__ == "__main__":
    main()
