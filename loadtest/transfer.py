"""Artifact transfer figures: a large file uploaded and downloaded through the write API, per backend.

Prints, for one file (200 MiB by default), median of --runs: upload and download MiB/s through the
production write API (gunicorn) with local storage, with S3 (moto's server on loopback) downloads
redirected and proxied, next to `cp` of the same file (with and without fsync, since an upload is
fsynced) and nginx serving it; and the write API worker's peak RSS during each upload (VmHWM,
reset before every upload through /proc/<pid>/clear_refs). Also the login time for a wrong
password against an unknown email, which must not tell them apart. curl is the client throughout.

    python -m loadtest.transfer [--mib 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from loadtest.bench import nginx_bin
from loadtest.processes import free_port, wait_until
from loadtest.stack import ADMIN_EMAIL, production_stack

PG = os.environ.get(
    "GATEHOUSE_BENCH_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_bench"
)
REDIS_URL = os.environ.get("GATEHOUSE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
MIB = 1024 * 1024


def curl(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return time.perf_counter() - started, out


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS


def rate(size: int, seconds: float) -> float:
    return size / MIB / seconds


def measure_backend(label: str, env: dict, payload: Path, runs: int, redirect: bool) -> dict:
    size = payload.stat().st_size
    with production_stack(PG, REDIS_URL, "gatehouse-transfer", GATEHOUSE_WRITE_WORKERS="1", **env) as stack:
        write = httpx.Client(base_url=stack.write, headers={"Authorization": f"Bearer {stack.admin_token}"})
        team = write.post("/admin/v1/teams", json={"name": "Transfer"}).json()
        app_id = write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Transfer"}).json()["id"]
        jwt = httpx.post(
            f"{stack.write}/api/v1/auth", json={"email": ADMIN_EMAIL, "password": "load password"}
        ).json()
        write_master = stack.procs[1].pid  # production_stack spawns read, write, worker in this order
        workers = children(write_master)
        up, down, peak = [], [], []
        for i in range(runs):
            build = write.post(
                f"/admin/v1/apps/{app_id}/builds", json={"build_type": "release", "version": f"1.0.{i}"}
            )
            url = (
                f"{stack.write}/admin/v1/apps/{app_id}/builds/{build.json()['id']}/artifact?filename=app.apk"
            )
            reset_peak(workers)
            seconds, status = curl(
                "-X",
                "PUT",
                "-T",
                str(payload),
                "-H",
                f"Authorization: Bearer {stack.admin_token}",
                "-H",
                "Content-Type: application/octet-stream",
                url,
            )
            assert status == "200", status
            peak.append(max(kib(pid, "VmHWM") for pid in workers))
            up.append(rate(size, seconds))
            dl = f"{stack.write}/api/v1/versions/{build.json()['id']}/download"
            seconds, status = curl(
                *(["-L"] if redirect else []), "-H", f"Authorization: Bearer {jwt['token']}", dl
            )
            assert status == "200", status
            down.append(rate(size, seconds))
        idle = max(kib(pid, "VmRSS") for pid in workers)
        timing = {}
        for name, email, password in (
            ("wrong password", ADMIN_EMAIL, "wrong"),
            ("unknown email", "nobody@example.com", "wrong"),
        ):
            samples = []
            for n in range(9):  # below the failed-login limit
                started = time.perf_counter()
                httpx.post(
                    f"{stack.write}/api/v1/auth",
                    json={"email": email, "password": password},
                    headers={"X-Forwarded-For": f"10.9.{n}.1"},
                )
                samples.append((time.perf_counter() - started) * 1000)
            timing[name] = statistics.median(samples)
    return {
        "label": label,
        "up": statistics.median(up),
        "down": statistics.median(down),
        "peak_mib": max(peak) / 1024,
        "idle_mib": idle / 1024,
        "timing": timing,
    }


def baseline(payload: Path, scratch: Path, runs: int) -> dict:
    size = payload.stat().st_size
    cp, cp_sync, nginx = [], [], []
    for _ in range(runs):
        target = scratch / "copy.bin"
        started = time.perf_counter()
        shutil.copyfile(payload, target)
        cp.append(rate(size, time.perf_counter() - started))
        target.unlink()
        started = time.perf_counter()
        subprocess.run(["cp", str(payload), str(target)], check=True)
        with open(target, "rb") as f:
            os.fsync(f.fileno())
        cp_sync.append(rate(size, time.perf_counter() - started))
        target.unlink()
    port = free_port()
    conf = scratch / "nginx.conf"
    conf.write_text(f"""worker_processes 1; pid {scratch}/nginx.pid; error_log {scratch}/error.log warn;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; client_body_temp_path {scratch}/body; proxy_temp_path {scratch}/proxy;
  fastcgi_temp_path {scratch}/fastcgi; uwsgi_temp_path {scratch}/uwsgi; scgi_temp_path {scratch}/scgi;
  server {{ listen 127.0.0.1:{port}; root {payload.parent}; }} }}
""")
    proc = subprocess.Popen([nginx_bin(), "-c", str(conf), "-g", "daemon off;"])
    try:
        wait_until(
            lambda: (
                subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"]).returncode == 0
            ),
            timeout=10,
        )
        for _ in range(runs):
            seconds, status = curl(f"http://127.0.0.1:{port}/{payload.name}")
            assert status == "200", status
            nginx.append(rate(size, seconds))
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "cp": statistics.median(cp),
        "cp_sync": statistics.median(cp_sync),
        "nginx": statistics.median(nginx),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gatehouse-transfer-", dir="/tmp") as tmp:
        scratch = Path(tmp)
        scratch.chmod(0o777)  # nginx workers run unprivileged
        payload = scratch / "app.apk"
        with open(payload, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(MIB))
        payload.chmod(0o644)
        base = baseline(payload, scratch, args.runs)
        moto_port = free_port()
        moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{moto_port}"
        try:
            wait_until(
                lambda: subprocess.run(["curl", "-s", "-o", "/dev/null", endpoint]).returncode == 0,
                timeout=30,
            )
            httpx.put(f"{endpoint}/transfer")
            s3 = {
                "GATEHOUSE_STORAGE_BACKEND": "s3",
                "GATEHOUSE_S3_ENDPOINT_URL": endpoint,
                "GATEHOUSE_S3_BUCKET": "transfer",
                "GATEHOUSE_S3_ACCESS_KEY_ID": "test",
                "GATEHOUSE_S3_SECRET_ACCESS_KEY": "test",
                "GATEHOUSE_S3_PATH_STYLE": "true",
                "GATEHOUSE_FORWARDED_FOR_HOPS": "1",
            }
            results = [
                measure_backend(
                    "local disk", {"GATEHOUSE_FORWARDED_FOR_HOPS": "1"}, payload, args.runs, False
                ),
                measure_backend(
                    "S3 (moto), downloads redirected",
                    s3 | {"GATEHOUSE_S3_DOWNLOADS": "redirect"},
                    payload,
                    args.runs,
                    True,
                ),
                measure_backend(
                    "S3 (moto), downloads proxied",
                    s3 | {"GATEHOUSE_S3_DOWNLOADS": "proxy"},
                    payload,
                    args.runs,
                    False,
                ),
            ]
        finally:
            moto.terminate()
            moto.wait(10)
    print(f"\nArtifact transfer, {args.mib} MiB, median of {args.runs} (curl as the client, 2 cores shared)")
    print(f"{'case':<40}{'upload MiB/s':>14}{'download MiB/s':>16}{'worker peak RSS':>17}")
    print(f"{'cp (page cache)':<40}{base['cp']:>14.0f}")
    print(f"{'cp + fsync':<40}{base['cp_sync']:>14.0f}")
    print(f"{'nginx static (sendfile)':<40}{'':>14}{base['nginx']:>16.0f}")
    for r in results:
        print(f"{'write API, ' + r['label']:<40}{r['up']:>14.0f}{r['down']:>16.0f}{r['peak_mib']:>13.0f} MiB")
    local = results[0]
    print(
        f"\nwrite API local: upload {local['up'] / base['cp_sync']:.2f} x cp+fsync, "
        f"download {local['down'] / base['nginx']:.2f} x nginx; worker RSS idle {local['idle_mib']:.0f} MiB"
    )
    for r in results:
        t = r["timing"]
        print(
            f"login 401 ({r['label']}): wrong password {t['wrong password']:.0f} ms, "
            f"unknown email {t['unknown email']:.0f} ms"
        )


if __name__ == "__main__":
    main()
