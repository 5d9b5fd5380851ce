"""The scale run: many apps on one read host, measured (issue: 10,000 apps x 100 rules).

    python -m loadtest.scale --apps 10000 --rules 17

Seeds the demo shape in bulk (apps x 3 environments x 2 platforms x ``--rules`` exact rules, a minimum
rule per scope) into its own PostgreSQL database, renders every snapshot with `gatehouse
rebuild-snapshots`, then starts one read worker and waits until it answers the last app. Prints the
seed time, the full rebuild time, Redis memory, the read worker's resident memory and its cold start.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import httpx
import redis
from tqdm import tqdm

from loadtest.processes import free_port, recreate_database, wait_until
from loadtest.services import children

PG = os.environ.get(
    "GATEHOUSE_SCALE_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_scale"
)
REDIS = os.environ.get("GATEHOUSE_SCALE_REDIS_URL", "redis://127.0.0.1:6379/4")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument(
        "--rules", type=int, default=17, help="Exact rules per platform and environment (x6 per app)."
    )
    args = parser.parse_args()
    env = {
        **os.environ,
        "GATEHOUSE_DATABASE_URL": PG,
        "GATEHOUSE_REDIS_URL": REDIS,
        "GATEHOUSE_LOG_LEVEL": "warning",
    }
    recreate_database(PG)
    r = redis.Redis.from_url(REDIS)
    r.flushdb()
    cli = [sys.executable, "-m", "api.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)

    from store import accounts
    from store.bootstrap import load_scale
    from store.service import init_db, unit_of_work

    init_db(PG)
    with unit_of_work():
        admin = accounts.create_user("scale@example.com", "scale password", "super_admin")
    started = time.monotonic()
    with tqdm(total=args.apps, unit="app", desc="seeding") as bar:
        apps = load_scale(admin, args.apps, args.rules, progress=bar.update)
    seeded = time.monotonic() - started
    before = r.info("memory")["used_memory"]
    started = time.monotonic()
    subprocess.run([*cli, "rebuild-snapshots"], env=env, check=True)
    rebuilt = time.monotonic() - started
    redis_mb = (r.info("memory")["used_memory"] - before) / 1e6

    port = free_port()
    started = time.monotonic()
    read = subprocess.Popen(
        [*cli, "serve", "read", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last_id, last_token = apps[-1]

    def answers_last() -> bool:
        try:
            res = httpx.get(
                f"http://127.0.0.1:{port}/v1/versions",
                headers={"x-api-token": last_token},
                params={
                    "app_id": last_id,
                    "app_version": "1.0.0",
                    "platform": "ios",
                    "environment": "production",
                },
                timeout=2,
            )
        except httpx.HTTPError:
            return False
        return res.status_code == 200

    try:
        wait_until(answers_last, timeout=300, interval=0.05)
        cold = time.monotonic() - started
        time.sleep(2)
        rss = max(_rss_mb(pid) for pid in children(read.pid))
    finally:
        read.terminate()
        read.wait(20)
    rules = args.apps * args.rules * 6
    print(f"\nscale run: {args.apps} apps x {args.rules * 6} rules ({rules} rules)")
    print(f"seed (bulk)              {seeded:8.1f} s")
    print(f"full rebuild (1 process) {rebuilt:8.1f} s  ({rebuilt / args.apps * 1000:.1f} ms per app)")
    print(f"Redis for snapshots      {redis_mb:8.1f} MB ({redis_mb * 1e6 / args.apps / 1024:.1f} KB per app)")
    print(f"read worker cold start   {cold:8.1f} s  (start to answering the last app)")
    print(f"read worker RSS          {rss:8.1f} MB ({rss * 1e6 / rules:.0f} bytes per rule)")


if __name__ == "__main__":
    main()
