"""Read-service throughput next to the Falcon ceiling, and write-to-visible propagation.

Run: `make bench` (or `python -m loadtest.bench`; BENCH_ONLY=updates for the /updates section alone,
BENCH_ONLY=propagation for write-to-visible alone, BENCH_ONLY=reads for the client GET rows alone).
Needs wrk, PostgreSQL and Redis.
Each case runs ROUNDS times, interleaved, and the median is reported; each read row's ratio is printed
round by round too, beside the two constant apps' own ratio (the machine's noise).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import redis

from deploy.render_nginx import render
from loadtest.probe import Probe, percentile
from loadtest.processes import drop_database, free_port, wait_until
from loadtest.stack import Stack, production_stack, up
from store.snapshot_format import PUBLISHED_KEY

PG = os.environ.get(
    "GATEHOUSE_BENCH_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/gatehouse_bench"
)
REDIS_URL = os.environ.get("GATEHOUSE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
DURATION = os.environ.get("BENCH_DURATION", "10s")


def wrk(url: str, headers: dict[str, str], script: str | None = None, duration: str | None = None) -> dict:
    cmd = ["wrk", "-t1", "-c64", f"-d{duration or DURATION}", "--latency"]
    if script:
        cmd += ["-s", script]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    generated = re.search(r"generated (\d+)", out)
    return {
        "rps": rps,
        "p50": pct(50),
        "p99": pct(99),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "generated": int(generated.group(1)) if generated else 0,
    }


NGINX_STATIC = """
worker_processes auto;
pid {run}/static.pid;
error_log {run}/static.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path {run}/sb; proxy_temp_path {run}/sp; fastcgi_temp_path {run}/sf;
    uwsgi_temp_path {run}/su; scgi_temp_path {run}/ss;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ root {run}; default_type application/json; try_files /body.json =404; }}
    }}
}}
"""

AUTH_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-token"] = "{token}"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{{"user_id":"user_%d","platform":"ios","app_version":"2.%d.0","environment":"production"}}', n % 50000, n % 7)
  return wrk.format(nil, nil, nil, body)
end
"""


# Device ids are UUIDs, as plugins make them (Capgo's endpoints refuse others); a fleet's first 13
# characters come from its name, so fleets never overlap.
PROBE = "00000000-0000-4000-8000-000000000b0b"


def fleet_tag(name: str) -> str:
    digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    return f"{digest[:8]}-{digest[8:]}"


UPDATES_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
n = 0
request = function()
  n = n + 1
  local body = string.format('{{"app_id":"{package}","device_id":"{prefix}-4000-8000-%012x","platform":"android","version_build":"1.0.0","version_name":"{current}","plugin_version":"6.3.0","is_emulator":false,"is_prod":true}}', n % {modulus})
  return wrk.format(nil, nil, nil, body)
end
threads = {{}}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local sent = 0
  for _, t in ipairs(threads) do sent = sent + t:get("n") end
  io.write(string.format("generated %d\\n", sent))
end
"""


def nginx_bin() -> str:
    import shutil

    return shutil.which("nginx") or "/usr/sbin/nginx"


def main() -> None:
    with (
        production_stack(PG, REDIS_URL, "gatehouse-bench") as stack,
        tempfile.TemporaryDirectory(prefix="gatehouse-bench-") as tmp,
    ):
        run_dir = Path(tmp)
        run_dir.chmod(0o777)  # nginx workers run unprivileged
        measure(stack, run_dir)
    drop_database(PG)


def measure(stack: Stack, run_dir: Path) -> None:
    read, wp = stack.read, stack.write.rsplit(":", 1)[1]
    cp, sp, ep, np_, ap = free_port(), free_port(), free_port(), free_port(), free_port()
    (run_dir / "static.conf").write_text(NGINX_STATIC.format(run=run_dir, port=sp))
    (run_dir / "edge.conf").write_text(
        render(
            LISTEN=f"127.0.0.1:{ep}",
            READ_UPSTREAM=read.removeprefix("http://"),
            WRITE_UPSTREAM=f"127.0.0.1:{wp}",
            RUN_DIR=str(run_dir),
        )
    )
    for port, ceiling_app in ((cp, "loadtest.constant_app:app"), (ap, "loadtest.constant_app:raw_app")):
        bind = f"127.0.0.1:{port}"
        stack.spawn(
            sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn_read.py", "--bind", bind, ceiling_app
        )
    stack.spawn(nginx_bin(), "-c", str(run_dir / "static.conf"), "-g", "daemon off;")
    stack.spawn(nginx_bin(), "-c", str(run_dir / "edge.conf"), "-g", "daemon off;")
    stack.spawn(
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        "gthread",
        "--workers",
        "2",
        "--threads",
        "8",
        "--bind",
        f"127.0.0.1:{np_}",
        "loadtest.naive_app:app",
    )
    ceiling, edge, raw = f"http://127.0.0.1:{cp}", f"http://127.0.0.1:{ep}", f"http://127.0.0.1:{ap}"
    write = httpx.Client(base_url=stack.write, headers={"Authorization": f"Bearer {stack.admin_token}"})
    wait_until(lambda: up(ceiling) and up(edge) and up(raw), timeout=30)
    if os.environ.get("BENCH_ONLY") == "updates":  # the Capgo device check alone (a shorter run)
        return measure_updates(stack, run_dir, ceiling, raw, f"http://127.0.0.1:{np_}", write)
    team = write.post("/admin/v1/teams", json={"name": "Bench"}).json()
    app_id = write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Bench"}).json()["id"]
    token = write.post(f"/admin/v1/apps/{app_id}/tokens", json={}).json()["token"]
    for i in range(200):
        write.post(
            f"/admin/v1/apps/{app_id}/versions",
            json={
                "version": f"2.{i // 10}.{i % 10}",
                "platform": "ios",
                "environment": "production",
                "update_message": "A new version is available.",
            },
        )
    write.post(
        "/app-config",
        params={"app_id": app_id},
        json={
            "minVersion": "2.0.0",
            "currentVersion": "2.9.9",
            "releaseNotes": "Bug fixes and performance improvements",
        },
    )
    h = {"x-api-token": token}
    q = f"app_id={app_id}&platform=ios&environment=production&app_version="
    wait_until(lambda: httpx.get(f"{read}/v1/versions?{q}2.5.0", headers=h).status_code == 200)
    ok = httpx.get(f"{read}/v1/versions?{q}2.5.0", headers=h)
    etag = ok.headers["etag"]
    (run_dir / "body.json").write_bytes(ok.content)
    naive = f"http://127.0.0.1:{np_}/v1/versions?{q}2.5.0"

    def naive_up() -> bool:
        try:
            return httpx.get(naive, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(naive_up, timeout=30)  # started with the others, but nothing waited for it until here
    assert httpx.get(naive).json() == ok.json(), "the naive design must give the same answer"
    cases = {
        "nginx static file (same body)": (f"http://127.0.0.1:{sp}/body.json", {}),
        "falcon ceiling (constant)": (f"{ceiling}/v1/versions", {}),
        "ASGI ceiling (constant, no framework)": (f"{raw}/v1/versions", {}),
        "naive: 1 Postgres query/request": (naive, {}),
        "edge nginx -> read /v1/versions 200": (f"{edge}/v1/versions?{q}2.5.0", h),
        "read /v1/versions 200": (f"{read}/v1/versions?{q}2.5.0", h),
        "read /v1/versions 404": (f"{read}/v1/versions?{q}9.9.9", h),
        "read /v1/versions 304": (f"{read}/v1/versions?{q}2.5.0", h | {"If-None-Match": etag}),
        "read /v1/maintenance": (f"{read}/v1/maintenance?app_id={app_id}&environment=production", h),
        "read /app-config/public": (f"{read}/app-config/public?app_id={app_id}", {}),
    }
    if os.environ.get("BENCH_ONLY") == "propagation":
        return measure_propagation(write, read, app_id, q, h, token)
    results: dict[str, list[dict]] = {name: [] for name in cases}
    names = list(cases)
    for round_no in range(ROUNDS):
        # Each round starts one case later, so no case always runs first (or last, after the others).
        for name in names[round_no % len(names) :] + names[: round_no % len(names)]:
            url, headers = cases[name]
            results[name].append(wrk(url, headers))
    print(
        f"\nwrk -t1 -c64 -d{DURATION}, median of {ROUNDS} interleaved runs, read service "
        f"under deploy/gunicorn_read.py ({os.cpu_count()} cores)"
    )
    print(f"{'case':34} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx/3xx':>12}")
    medians = {}
    for name, runs in results.items():
        m = {k: statistics.median(x[k] for x in runs) for k in ("rps", "p50", "p99", "non2xx")}
        medians[name] = m
        print(f"{name:34} {m['rps']:>10.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['non2xx']:>12.0f}")
    rps = {name: m["rps"] for name, m in medians.items()}
    ceiling_rps, raw_rps, static_rps, naive_rps = (
        rps["falcon ceiling (constant)"],
        rps["ASGI ceiling (constant, no framework)"],
        rps["nginx static file (same body)"],
        rps["naive: 1 Postgres query/request"],
    )
    print()
    for name in [n for n in cases if n.startswith("read ")]:
        print(
            f"{name}: {rps[name] / ceiling_rps:.2f} x falcon ceiling (target >= 1.0), "
            f"{rps[name] / raw_rps:.2f} x ASGI ceiling, "
            f"{rps[name] / static_rps:.2f} x nginx static (>= 0.4), {rps[name] / naive_rps:.1f} x naive (>= 10); "
            f"per round {per_round(results, name, 'falcon ceiling (constant)')}"
        )
    print(
        "the two constant apps per round (ASGI ceiling / falcon ceiling), this machine's noise: "
        + per_round(results, "ASGI ceiling (constant, no framework)", "falcon ceiling (constant)")
    )
    edge_name = "edge nginx -> read /v1/versions 200"
    print(f"{edge_name}: {rps[edge_name] / static_rps:.2f} x nginx static (target >= 0.8)")
    if os.environ.get("BENCH_ONLY") == "reads":  # the client GET rows alone
        return

    # Ingestion: POST /v2/authenticate on the read service, the worker applying the batches beside it.
    (run_dir / "auth.lua").write_text(AUTH_LUA.format(token=token))
    sessions_before = _sessions_stored(app_id)
    ingest = [wrk(f"{read}/v2/authenticate", {}, str(run_dir / "auth.lua")) for _ in range(ROUNDS)]
    answered = sum(x["requests"] - x["non2xx"] for x in ingest)
    load_end = time.monotonic()
    stored = 0
    while time.monotonic() < load_end + 60:
        stored = _sessions_stored(app_id) - sessions_before
        if stored >= answered:
            break
        time.sleep(0.2)
    m = statistics.median(x["rps"] for x in ingest)
    print(
        f"\ningestion POST /v2/authenticate: {m:.0f} events/s (median of {ROUNDS}; target >= 10000), "
        f"p99 {statistics.median(x['p99'] for x in ingest):.1f} ms, non-2xx {sum(x['non2xx'] for x in ingest)}; "
        f"{answered} answered 200, {stored} stored {time.monotonic() - load_end:.1f} s after the load, "
        f"lost {max(0, answered - stored)} (stored beyond the answered: {max(0, stored - answered)}, at most "
        f"the 64 requests per run in flight when wrk stopped; exact counts are the fault suite's)"
    )

    settle(vacuum_limit=120)
    measure_propagation(write, read, app_id, q, h, token)
    settle(vacuum_limit=120)
    measure_updates(stack, run_dir, ceiling, raw, f"http://127.0.0.1:{np_}", write)


def measure_propagation(write: httpx.Client, read: str, app_id: str, q: str, h: dict, token: str) -> None:
    """Write-to-visible, under read load: each change is timed from the rule's ``updated_at`` (stamped in
    the transaction, just before its commit) and, more strictly, from the PATCH being sent, until every
    one of a probe's 8 kept-alive connections answers the new body. The target is on the first: issue 24
    asks for a change's way from its commit to the clients."""
    background = subprocess.Popen(
        ["wrk", "-t1", "-c64", "-d600s", "-H", f"x-api-token: {token}", f"{read}/v1/versions?{q}9.9.9"],
        stdout=subprocess.DEVNULL,
    )
    rule = write.get(f"/admin/v1/apps/{app_id}/versions", params={"per_page": 1}).json()["items"][0]
    rq = f"/v1/versions?{q}{rule['version']}"
    from_commit, from_request = [], []
    stages: dict[str, list[float]] = {
        "request -> commit (PATCH's own work)": [],
        "commit -> PATCH answered (enqueue)": [],
        "to publish (job wake, render, publish)": [],
        "to visible (pub/sub, reload, answer)": [],
    }
    published = redis.Redis.from_url(REDIS_URL)
    probe = Probe(read)

    def shown(text: str) -> bool:
        return all(orjson.loads(body).get("update_message") == text for _, body in probe.ask(rq, headers=h))

    # 300 changes (about 15 s): over 100 the nearest-rank p99 is the second-slowest change.
    spans: list[tuple[float, ...]] = []
    for i in range(int(os.environ.get("BENCH_PROPAGATION_SAMPLES", 300))):
        text = f"message {i}"
        w0 = time.time()
        res = write.patch(f"/admin/v1/apps/{app_id}/versions/{rule['id']}", json={"update_message": text})
        w1 = time.time()
        wait_until(lambda text=text: shown(text), interval=0.001)
        w2 = time.time()
        committed = dt.datetime.fromisoformat(res.json()["updated_at"]).timestamp()
        from_commit.append((w2 - committed) * 1000)
        from_request.append((w2 - w0) * 1000)
        # The worker stamps each publish (gh:snap:published): with the commit stamp, the stages of one change.
        at = float(published.hget(PUBLISHED_KEY, app_id) or w1)
        spans.append(tuple(1000 * x for x in (committed - w0, w1 - committed, at - w1, w2 - at)))
        for name, ms in zip(stages, spans[-1], strict=True):
            stages[name].append(ms)
    probe.close()
    background.terminate()
    background.wait()
    p = percentile
    print(
        f"\nchange -> visible over {len(from_commit)} admin writes under read load (until the read service "
        f"answers the new body on each of 8 kept-alive connections):\n"
        f"  from its commit: p50 {p(from_commit, 0.5):.1f} ms, p99 {p(from_commit, 0.99):.1f} ms, "
        f"max {max(from_commit):.1f} ms (target p99 <= 100)\n"
        f"  from the PATCH sent: p50 {p(from_request, 0.5):.1f} ms, p99 {p(from_request, 0.99):.1f} ms, "
        f"max {max(from_request):.1f} ms"
    )
    for name, values in stages.items():
        print(f"  {name:40} p50 {p(values, 0.5):>6.1f} ms  p99 {p(values, 0.99):>6.1f} ms")
    print_slowest(from_commit, spans, list(stages))


def print_slowest(totals: list[float], spans: list[tuple[float, ...]], names: list[str], n: int = 3) -> None:
    """The slowest changes with their stages: a tail is one or two changes, and where they spent their time
    tells which stage to look at (a stage's p99 alone may come from another change)."""
    for i in sorted(range(len(totals)), key=totals.__getitem__)[-n:][::-1]:
        parts = ", ".join(f"{name.split(' (')[0]} {ms:.1f}" for name, ms in zip(names, spans[i], strict=True))
        print(f"  slow change #{i}: {totals[i]:.1f} ms ({parts})")


def _cpu_idle(seconds: float = 0.5) -> float:
    """The machine's idle share over ``seconds`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)

    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / max(total1 - total0, 1)


def per_round(results: dict[str, list[dict]], name: str, ceiling: str) -> str:
    """A row's ratio to the ceiling measured in the same round, round by round. The printed ratio is of
    the medians; these show how far a round strays, and the two constant apps' own ratio shows how much of
    that is the machine (between rounds of one run it moved by a third on some machines)."""
    return " / ".join(
        f"{row['rps'] / base['rps']:.2f}" for row, base in zip(results[name], results[ceiling], strict=True)
    )


def settle(limit: float = 15.0, vacuum_limit: float = 0.0) -> None:
    """Waits until the machine is idle again (PostgreSQL's autovacuum and checkpoints after a write-heavy
    case, the worker's backlog), so a case does not pay for the one before it: without this the
    /updates rows moved by a third from one run to the next. ``vacuum_limit``: first wait up to this long
    for PostgreSQL's autovacuum workers to finish (after the ingestion case's half a million sessions they
    ran through the propagation and /updates sections of a full run, and the naive row fell by half)."""
    deadline = time.monotonic() + vacuum_limit
    while time.monotonic() < deadline and _autovacuums() > 0:
        time.sleep(0.5)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and _cpu_idle() < 0.85:
        pass


def _autovacuums() -> int:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        ).fetchone()
    return int(row[0]) if row else 0


def _sessions_stored(app_id: str) -> int:
    import psycopg

    with psycopg.connect(PG) as conn:
        return conn.execute(
            "SELECT count(*) FROM auth_session s JOIN app a ON a.id = s.app_id WHERE a.public_id = %s",
            (app_id,),
        ).fetchone()[0]


def _devices_stored(*packages: str) -> int:
    import psycopg

    with psycopg.connect(PG) as conn:
        return conn.execute(
            "SELECT count(*) FROM device d JOIN app a ON a.id = d.app_id WHERE a.package_name = ANY(%s)",
            (list(packages),),
        ).fetchone()[0]


def measure_updates(
    stack: Stack, run_dir: Path, ceiling: str, raw: str, naive: str, write: httpx.Client
) -> None:
    """POST /updates (Capgo's device check) next to the POST ceiling and the naive one-query design, with
    device recording on: the fleets' devices and every new one are counted in the database after the load."""
    read, package = stack.read, "com.bench.live"
    team = write.post("/admin/v1/teams", json={"name": "Bench live"}).json()
    write.post("/admin/v1/apps", json={"team_id": team["id"], "title": "Live", "package_name": package})
    key = {"authorization": stack.admin_token}
    write.post(
        "/bundle/upload",
        params={"app_id": package, "version": "1.1.0", "channel": "production"},
        content=b"PK\x05\x06" + b"\x00" * 18,
        headers=key,
    )
    write.post("/channel", json={"app_id": package, "channel": "production", "public": True}, headers=key)
    # The same app shape with a staged rollout in force: half the devices on 1.2.0, by their hash.
    rolled = "com.bench.rollout"
    app = write.post(
        "/admin/v1/apps", json={"team_id": team["id"], "title": "Rollout", "package_name": rolled}
    )
    for version, channel in (("1.1.0", "production"), ("1.2.0", None)):
        write.post(
            "/bundle/upload",
            params={"app_id": rolled, "version": version} | ({"channel": channel} if channel else {}),
            content=b"PK\x05\x06" + b"\x00" * 18,
            headers=key,
        )
    write.post("/channel", json={"app_id": rolled, "channel": "production", "public": True}, headers=key)
    write.put(
        f"/admin/v1/apps/{app.json()['id']}/channels/production/rollout",
        json={"bundle": "1.2.0", "steps": [{"percent": 50, "at": "now"}, {"percent": 100, "at": "+7d"}]},
    ).raise_for_status()
    probe = {"app_id": package, "device_id": PROBE, "platform": "android", "version_build": "1.0.0"}
    wait_until(lambda: httpx.post(f"{read}/updates", json=probe).json().get("version") == "1.1.0")
    rolled_probe = probe | {"app_id": rolled, "version_name": "1.1.0"}
    wait_until(
        lambda: (
            sum(
                httpx.post(
                    f"{read}/updates", json=rolled_probe | {"device_id": f"00000000-0000-4000-8000-{i:012x}"}
                )
                .json()
                .get("version")
                == "1.2.0"
                for i in range(40)
            )
            > 0
        )
    )

    def naive_answer() -> dict | None:
        try:
            return httpx.post(f"{naive}/updates", json=probe, timeout=2).json()
        except httpx.HTTPError:
            return None

    wait_until(lambda: naive_answer() is not None, timeout=30)
    assert naive_answer()["version"] == "1.1.0", "the naive design must give the same answer"
    scripts = {}
    counter = iter(range(10**6))

    def script(current: str, modulus: int, app: str = package, prefix: str | None = None) -> str:
        path = run_dir / f"updates-{next(counter)}.lua"
        body = UPDATES_LUA.format(
            package=app, prefix=fleet_tag(prefix or path.stem), current=current, modulus=modulus
        )
        path.write_text(body)
        scripts[path.stem] = current
        return str(path)

    every_new = 2**31  # every request a device never seen before: recording's worst case
    fleet = 10_000  # a fleet: 10,000 devices, each launching again and again
    cases = {
        "POST ceiling (parse JSON, constant)": (f"{ceiling}/updates", "1.1.0", fleet),
        "POST ASGI ceiling (no framework)": (f"{raw}/updates", "1.1.0", fleet),
        "naive /updates: 1 query/request": (f"{naive}/updates", "1.1.0", fleet),
        "read /updates no update, fleet": (f"{read}/updates", "1.1.0", fleet),
        "read /updates update, fleet": (f"{read}/updates", "1.0.0", fleet),
        "read /updates no update, all new": (f"{read}/updates", "1.1.0", every_new),
        "read /updates fleet, rollout 50 % in force": (f"{read}/updates", "1.1.0", fleet, rolled),
    }
    # Each fleet row has its own 10,000 devices, the same in every round, and they have launched before
    # the rows are measured (a fleet in production is mostly devices seen before): the warm-up records
    # them, so the rows measure the steady state. The all-new row measures every device's first call.
    fleets = {
        name: f"fleet{i}" for i, name in enumerate(cases) if name.startswith("read ") and "fleet" in name
    }
    for name, prefix in fleets.items():
        url, current, modulus, *app = cases[name]
        wrk(url, {}, script(current, modulus, *app, prefix=prefix), duration="3s")
    settle()
    results: dict[str, list[dict]] = {name: [] for name in cases}
    names = list(cases)
    for round_no in range(ROUNDS):
        for name in names[round_no % len(names) :] + names[: round_no % len(names)]:
            url, current, modulus, *app = cases[name]
            settle()
            results[name].append(wrk(url, {}, script(current, modulus, *app, prefix=fleets.get(name))))
    load_end = time.monotonic()
    print(f"\nPOST /updates, wrk -t1 -c64 -d{DURATION}, median of {ROUNDS} interleaved runs")
    print(f"{'case':40} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    rps = {}
    for name, runs in results.items():
        m = {k: statistics.median(x[k] for x in runs) for k in ("rps", "p50", "p99", "non2xx")}
        rps[name] = m["rps"]
        print(f"{name:40} {m['rps']:>10.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['non2xx']:>8.0f}")
    post_ceiling, post_raw, naive_rps = (
        rps["POST ceiling (parse JSON, constant)"],
        rps["POST ASGI ceiling (no framework)"],
        rps["naive /updates: 1 query/request"],
    )
    for name in [n for n in names if n.startswith("read ")]:
        target = 0.8 if "all new" in name else 0.9
        print(
            f"{name}: {rps[name] / post_ceiling:.2f} x POST ceiling (target >= {target}), "
            f"{rps[name] / post_raw:.2f} x ASGI ceiling, {rps[name] / naive_rps:.1f} x naive (>= 10); "
            f"per round {per_round(results, name, 'POST ceiling (parse JSON, constant)')}"
        )
    print(
        "the two constant apps per round (ASGI ceiling / POST ceiling), this machine's noise: "
        + per_round(results, "POST ASGI ceiling (no framework)", "POST ceiling (parse JSON, constant)")
    )
    # Distinct device ids answered: each fleet's 10,000 (all called in the warm-up), and every id of an
    # all-new run (each run has its own prefix, so their ids never overlap).
    distinct = len(fleets) * fleet + sum(
        min(x["requests"], cases[n][2])
        for n in names
        if n.startswith("read ") and n not in fleets
        for x in results[n]
    )
    generated = sum(x["generated"] for n in names if n.startswith("read ") for x in results[n])
    probes = 1 + 40  # the probe, and the rollout app's probes
    expected_min = distinct + probes
    stored = 0
    deadline = load_end + 30
    while time.monotonic() < deadline:
        stored = _devices_stored(package, rolled)
        if stored >= expected_min:
            break
        time.sleep(0.1)
    visible = time.monotonic() - load_end
    print(
        f"device sightings: {distinct} distinct device ids answered ({generated} requests sent by wrk), "
        f"{stored - probes} devices stored; lost {max(0, expected_min - stored)}; all answered ones visible "
        f"{visible:.2f} s after the load stopped (target: 0 lost, <= 5 s)"
    )


if __name__ == "__main__":
    main()
