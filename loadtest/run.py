"""Headless locust run against a locally started production-style stack.

`python -m loadtest.run [--users 50 --duration 30s --apps 10 --rules 50]` seeds the data set through
the write API, runs the `mobile` and `admin` scenarios, writes loadtest/results/summary.txt
(req/s, failures, p50/p95/p99 per endpoint) and exits non-zero on any wrong answer.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx

from loadtest.seed import seed
from loadtest.stack import ROOT, production_stack

RESULTS = ROOT / "loadtest" / "results"


@click.command()
@click.option("--users", default=50, show_default=True)
@click.option("--duration", default="30s", show_default=True)
@click.option("--apps", default=10, show_default=True)
@click.option("--rules", default=50, show_default=True, help="Exact rules per platform and environment.")
def main(users: int, duration: str, apps: int, rules: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    db = os.environ.get(
        "GATEHOUSE_LOAD_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_load"
    )
    redis_url = os.environ.get("GATEHOUSE_LOAD_REDIS_URL", "redis://127.0.0.1:6379/11")
    with production_stack(db, redis_url, "gatehouse-load") as stack:
        data = seed(stack.write, stack.admin_token, apps, rules, RESULTS / "seed.json")
        last = data["apps"][-1]
        probe = {"app_id": last["app_id"], "environment": "staging"}
        deadline = time.monotonic() + 30
        while (
            httpx.get(f"{stack.read}/v1/maintenance", params=probe, headers={"x-api-token": last["token"]})
            .json()
            .get("active")
            is not True
        ):
            if time.monotonic() > deadline:
                raise click.ClickException("the read service never served the seed")
            time.sleep(0.2)
        env = {
            **os.environ,
            "GATEHOUSE_SEED": str(RESULTS / "seed.json"),
            "GATEHOUSE_WRITE_URL": stack.write,
            "GATEHOUSE_ADMIN_TOKEN": stack.admin_token,
        }
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "loadtest/locustfile.py",
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            duration,
            "--host",
            stack.read,
            "--csv",
            str(RESULTS / "locust"),
            "--only-summary",
            "--stop-timeout",
            "5",
        ]
        code = subprocess.run(cmd, env=env, cwd=ROOT).returncode
    summary = summarize(RESULTS / "locust_stats.csv")
    (RESULTS / "summary.txt").write_text(summary)
    click.echo(summary)
    failures = sum(
        int(r["Failure Count"])
        for r in csv.DictReader(open(RESULTS / "locust_stats.csv"))
        if r["Name"] != "Aggregated"
    )
    if failures or code not in (0, 1):
        raise SystemExit(f"{failures} wrong answers or failures (locust exit {code})")


def summarize(path: Path) -> str:
    rows = list(csv.DictReader(open(path)))
    lines = [
        f"{'endpoint':34} {'req/s':>8} {'requests':>9} {'failures':>9} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)"
    ]
    for r in rows:
        lines.append(
            f"{(r['Type'] + ' ' + r['Name'])[:34]:34} {float(r['Requests/s']):>8.0f} "
            f"{r['Request Count']:>9} {r['Failure Count']:>9} {r['50%']:>6} {r['95%']:>6} {r['99%']:>6}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
