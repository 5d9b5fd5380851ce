"""Compares gunicorn worker classes for both services on this machine (wrk, interleaved, medians).

Read service: uvicorn's worker with httptools (UvicornWorker) against h11 (UvicornH11Worker).
Write API: gthread (8 threads) against sync, on an admin list (GET /admin/v1/apps).
Run: `python -m loadtest.compare_workers`.
"""

from __future__ import annotations

import os
import statistics
import sys

import httpx

from loadtest.bench import PG, REDIS_URL, ROUNDS, wrk
from loadtest.processes import free_port, wait_until
from loadtest.stack import production_stack, up


def main() -> None:
    with production_stack(PG, REDIS_URL, "gatehouse-compare") as stack:
        w = httpx.Client(base_url=stack.write, headers={"Authorization": f"Bearer {stack.admin_token}"})
        team = w.post("/admin/v1/teams", json={"name": "Compare"}).json()
        app_id = w.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Compare"}).json()["id"]
        token = w.post(f"/admin/v1/apps/{app_id}/tokens", json={}).json()["token"]
        query = f"/v1/versions?app_id={app_id}&app_version=9.9.9&platform=ios&environment=production"
        servers = {}
        for label, args, app in [
            ("read: UvicornWorker (httptools)", ["-c", "deploy/gunicorn_read.py"], "api.asgi:app"),
            (
                "read: UvicornH11Worker (h11)",
                ["-c", "deploy/gunicorn_read.py", "-k", "uvicorn_worker.UvicornH11Worker"],
                "api.asgi:app",
            ),
            ("write: gthread x8 threads", ["-c", "deploy/gunicorn_write.py"], "api.wsgi:app"),
            ("write: sync", ["-c", "deploy/gunicorn_write.py", "-k", "sync"], "api.wsgi:app"),
        ]:
            port = free_port()
            stack.spawn(sys.executable, "-m", "gunicorn", *args, "--bind", f"127.0.0.1:{port}", app)
            servers[label] = f"http://127.0.0.1:{port}"
        wait_until(lambda: all(up(u) for u in servers.values()), timeout=30)
        wait_until(
            lambda: (
                httpx.get(
                    servers["read: UvicornWorker (httptools)"] + query, headers={"x-api-token": token}
                ).status_code
                == 404
            )
        )
        runs: dict[str, list[float]] = {k: [] for k in servers}
        for _ in range(ROUNDS):
            for label, url in servers.items():
                if label.startswith("read"):
                    runs[label].append(wrk(url + query, {"x-api-token": token})["rps"])
                else:
                    admin = {"Authorization": f"Bearer {stack.admin_token}"}
                    runs[label].append(wrk(url + "/admin/v1/apps?per_page=1", admin)["rps"])
        print(
            f"\ngunicorn worker classes, {os.cpu_count()} cores, median req/s of {ROUNDS} interleaved wrk runs"
        )
        for label, values in runs.items():
            print(
                f"{label:36} {statistics.median(values):>9.0f}   runs: {', '.join(f'{v:.0f}' for v in values)}"
            )


if __name__ == "__main__":
    main()
