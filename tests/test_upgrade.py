"""A rolling upgrade under load, as deploy/README.md's "Upgrade" runs it.

The previous release (the newest in CHANGELOG.md: its tag, or the commit its heading names where a clone
has no tags) is unpacked beside the checkout, and `current` points at it, as a deploy directory's symlink
does. Its processes run from `current`: the read service and the write API under gunicorn, and the worker.
With clients polling every hot path, devices and users recording, and an admin writing:
1. the new release's migrations are applied while the old code runs on them (expand, then contract: the
   running release must keep working on the new schema);
2. `current` is pointed at the checkout, and each gunicorn master gets USR2 (it starts a new master from
   `current` on the same sockets), then TERM once the new one serves (the old workers finish what they hold);
3. the worker gets TERM (it finishes its job and exits), and the new release's worker starts.
Counted: failed client checks, write-API 5xx other than the documented 503, writes, events and sightings
lost or stored twice, jobs failed or applied twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis

from loadtest.processes import free_port, recreate_database, wait_until
from loadtest.stack import ADMIN_EMAIL
from tests import lanes
from tests.worlds import DEVICE, PKG, seed, wait_for_offer

ROOT = Path(__file__).resolve().parents[1]
RELEASE = re.compile(r"^## (\d+\.\d+\.\d+) \([^,]+, commit ([0-9a-f]{7,40})\)", re.M)


def previous_release() -> tuple[str, str]:
    """The newest released version in CHANGELOG.md and its commit (the tag's, where this clone has it)."""
    version, commit = RELEASE.search((ROOT / "CHANGELOG.md").read_text()).groups()
    tagged = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"v{version}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return version, tagged.stdout.strip() if tagged.returncode == 0 else commit


# A migration the running release could not keep working on: it removes, renames or narrows what the old code
# reads and writes, or makes a column required that the old code's inserts leave out. Such a "contract" step
# ships in a release after the one whose code stopped using what it changes, and names that release in a
# module-level CONTRACTS = "x.y.z" (deploy/README.md, "Upgrade").
CONTRACTING = re.compile(
    r"\b(drop_column|rename_column|drop_table|rename_table|add_not_null|alter_column_type)\b"
    r"|\b(DROP\s+(COLUMN|TABLE)|RENAME|SET\s+NOT\s+NULL|ALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE)\b",
    re.I,
)
CONTRACTS = re.compile(r"^CONTRACTS\s*=\s*[\"'](\d+\.\d+\.\d+)[\"']", re.M)


def contracting(source: str) -> list[str]:
    """The statements of a migration that the previous release's code might not survive."""
    return [m.group(0) for m in CONTRACTING.finditer(source)]


def new_migrations(commit: str) -> list[Path]:
    """The checkout's migrations the release at ``commit`` does not have."""
    released = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", commit, "store/migrations/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(
        p
        for p in (ROOT / "store" / "migrations").glob("[0-9]*.py")
        if str(p.relative_to(ROOT)) not in released
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split("."))


def test_each_new_migration_only_expands_or_names_the_release_it_contracts_after():
    """Expand, then contract: the previous release keeps running on the new schema while its processes are
    replaced (the rolling test below runs it on them under load). A migration that contracts must name a
    release already out, whose code no longer uses what it removes."""
    version, commit = previous_release()
    for migration in new_migrations(commit):
        source = migration.read_text()
        if found := contracting(source):
            named = CONTRACTS.search(source)
            assert named, f"{migration.name} contracts ({', '.join(found)}) without naming CONTRACTS"
            assert _version(named.group(1)) <= _version(version), (
                f"{migration.name}: {named.group(1)} is not out"
            )
    # The check bites: 0015 renamed auth_session under 0.1.0's own code (it shipped with it); 0014 only adds.
    migrations = ROOT / "store" / "migrations"
    assert "RENAME" in contracting((migrations / "0015_monthly_sessions.py").read_text())
    assert contracting((migrations / "0014_api_keys.py").read_text()) == []


def unpack(commit: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


@dataclass
class Deployment:
    """Processes started from the ``current`` symlink, as an operator's deploy directory runs them."""

    current: Path
    env: dict
    procs: list = field(default_factory=list)

    def _env(self) -> dict:
        # gunicorn re-executes itself on USR2 from $PWD when it names the working directory: the symlink,
        # so the new master starts in whatever `current` points at then.
        return {**self.env, "PWD": str(self.current), "PYTHONPATH": str(self.current)}

    def cli(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            cwd=self.current,
            env=self._env(),
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def serve(self, kind: str, port: int, pidfile: Path) -> subprocess.Popen:
        """`gatehouse serve`, as the image and the systemd units run it, with a pid file for the upgrade
        (gunicorn reads extra arguments from GUNICORN_CMD_ARGS)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", kind, "--bind", f"127.0.0.1:{port}"],
            cwd=self.current,
            env=self._env() | {"GUNICORN_CMD_ARGS": f"--pid {pidfile}"},
        )
        self.procs.append(proc)
        return proc

    def worker(self) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker"], cwd=self.current, env=self._env()
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for pid in [p.pid for p in self.procs] + _pids_in(self.env["GATEHOUSE_DATA_DIR"]):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _pids_in(data_dir: str) -> list[int]:
    """The masters the USR2s started (children of the test's, so not in its list): from their pid files."""
    pids = []
    for pidfile in Path(data_dir).glob("*.pid"):
        try:
            pids.append(int(pidfile.read_text().strip()))
        except (ValueError, OSError):
            pass
    return pids


def cwd_of(pid: int) -> Path:
    return Path(os.readlink(f"/proc/{pid}/cwd"))


def upgrade_master(pidfile: Path, timeout: float = 30) -> tuple[int, int]:
    """gunicorn's binary upgrade: USR2 starts a new master (and its workers) on the same sockets, writing its
    pid beside the old one's (`read.pid.2`); once its workers answer, TERM stops the old master gracefully,
    and the new one takes the pid file. The old and new masters' pids."""
    old = int(pidfile.read_text())
    os.kill(old, signal.SIGUSR2)
    beside = pidfile.with_name(pidfile.name + ".2")
    new = wait_until(lambda: beside.exists() and int(beside.read_text() or 0), timeout=timeout)
    # Its workers booted: the new master has children, and each has imported the app (a second of margin).
    wait_until(lambda: _children(new) >= 1, timeout=timeout, interval=0.1)
    time.sleep(2)
    os.kill(old, signal.SIGTERM)
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() == str(new), timeout=timeout)
    return old, new


def _children(pid: int) -> int:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return len(found)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


@dataclass
class Load:
    """Clients, devices, users and an admin, each in a thread, until stopped; what each was told."""

    read: str
    write: str
    world: dict
    admin_token: str
    stop: threading.Event = field(default_factory=threading.Event)
    checks: int = 0
    failures: list = field(default_factory=list)
    devices: list = field(default_factory=list)
    users: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    refused_503: int = 0
    phase: str = "old release"  # the upgrade's step while a failure happened, for its report
    write_5xx: list = field(default_factory=list)

    def _checked(self, path: str, answer, ok: bool) -> bool:
        """Counts a client check; a failed one is kept with the upgrade's step it happened in."""
        self.checks += 1
        if not ok:
            self.failures.append((self.phase, path, answer))
        return ok

    def _poll(self) -> None:
        h = {"x-api-token": self.world["token"]}
        calls = [
            ("/v1/versions", {"app_id": self.world["app"], "app_version": "2.5.0", "platform": "ios",
                              "environment": "production"}),
            ("/v2/maintenance", {"app_id": self.world["app"], "environment": "production"}),
            ("/app-config/public", {"app_id": self.world["app"]}),
        ]  # fmt: skip
        with httpx.Client(base_url=self.read, timeout=10) as c:
            while not self.stop.is_set():
                for path, params in calls:
                    try:
                        status = c.get(path, params=params, headers=h).status_code
                    except httpx.HTTPError as exc:
                        status = repr(exc)
                    self._checked(path, status, status == 200)

    def _devices(self) -> None:
        with httpx.Client(base_url=self.read, timeout=10) as c:
            while not self.stop.is_set():
                device = str(uuid.uuid4())
                asked = {"app_id": PKG, "device_id": device, "platform": "android", "version_build": "1.0.0"}
                try:
                    res = c.post("/updates", json=asked)
                    answer = (res.status_code, res.json().get("version"))
                except (httpx.HTTPError, ValueError) as exc:
                    answer = (repr(exc), None)
                if self._checked("/updates", answer, answer == (200, "1.1.0")):
                    self.devices.append(device)

    def _users(self) -> None:
        h = {"x-api-token": self.world["token"]}
        with httpx.Client(base_url=self.read, timeout=10) as c:
            n = 0
            while not self.stop.is_set():
                user, n = f"upgrade-user-{n}", n + 1
                body = {
                    "user_id": user,
                    "platform": "ios",
                    "app_version": "2.5.0",
                    "environment": "production",
                }
                try:
                    status = c.post("/v2/authenticate", json=body, headers=h).status_code
                except httpx.HTTPError as exc:
                    status = repr(exc)
                if self._checked("/v2/authenticate", status, status == 200):
                    self.users.append(user)

    def _admin(self) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        with httpx.Client(base_url=self.write, headers=headers, timeout=10) as c:
            n = 0
            while not self.stop.is_set():
                version = f"3.{n}.0"
                rule = {"version": version, "platform": "android", "environment": "production",
                        "update_message": f"m{n}"}  # fmt: skip
                try:
                    status = c.post(f"/admin/v1/apps/{self.world['app']}/versions", json=rule).status_code
                except httpx.HTTPError as exc:
                    status = repr(exc)
                if status == 201:
                    self.rules.append(version)
                    n += 1
                elif status == 503:
                    self.refused_503 += 1  # documented: the admin retries the same write
                else:
                    self.write_5xx.append((version, status))
                    n += 1  # the outcome is unknown: never reuse its version
                time.sleep(0.05)

    def __enter__(self) -> Load:
        targets = [self._poll, self._poll, self._devices, self._users, self._admin]
        self.threads = [threading.Thread(target=t) for t in targets]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_a_rolling_upgrade_under_load_loses_nothing(tmp_path):
    version, commit = previous_release()
    old_tree = unpack(commit, tmp_path / f"gatehouse-{version}")
    current = tmp_path / "current"
    current.symlink_to(old_tree)
    database, redis_url = lanes.pg("gatehouse_upgrade"), lanes.redis_url(11)
    recreate_database(database)
    redis.Redis.from_url(redis_url).flushdb()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "GATEHOUSE_DATABASE_URL": database,
        "GATEHOUSE_REDIS_URL": redis_url,
        "GATEHOUSE_QUEUE_NAME": "gatehouse-upgrade",
        "GATEHOUSE_DATA_DIR": str(data_dir),
        "GATEHOUSE_LOG_LEVEL": "warning",
        "GATEHOUSE_READ_WORKERS": "2",
        "GATEHOUSE_WRITE_WORKERS": "1",
        "GATEHOUSE_SECRET_KEY": "upgrade-test-secret-key-0123456789abcdef",
    }
    env.pop("PYTHONPATH", None)
    deploy = Deployment(current, env)
    data_dir.mkdir()
    deploy.cli("migrate")
    deploy.cli("create-user", "--email", ADMIN_EMAIL, "--password", "load password", "--role", "super_admin")
    token = deploy.cli("create-token", "--email", ADMIN_EMAIL).strip()
    read_port, write_port = free_port(), free_port()
    read_pid, write_pid = data_dir / "read.pid", data_dir / "write.pid"
    try:
        deploy.serve("read", read_port, read_pid)
        deploy.serve("write", write_port, write_pid)
        old_worker = deploy.worker()
        read, write = f"http://127.0.0.1:{read_port}", f"http://127.0.0.1:{write_port}"
        wait_until(lambda: _up(read) and _up(write), timeout=30)
        old_read, old_write = int(read_pid.read_text()), int(write_pid.read_text())
        assert cwd_of(old_read) == old_tree and cwd_of(old_worker.pid) == old_tree
        st = type("Stack", (), {"read": read, "write": write, "admin_token": token})
        world = seed(st)
        wait_for_offer(st)

        with Load(read, write, world, token) as load:
            time.sleep(2)
            current.unlink()
            current.symlink_to(ROOT)  # the new release, as a deploy directory's switch does
            # 1. The new migrations, with the old release still serving and writing on them.
            load.phase = "migrations"
            migrated = deploy.cli("migrate")
            time.sleep(2)
            # 2. The read service, then the write API: a new master each, then the old one stopped.
            load.phase = "read service"
            replaced_read = upgrade_master(read_pid)
            load.phase = "write API"
            replaced_write = upgrade_master(write_pid)
            load.phase = "worker"
            # 3. The worker drains its job and exits on TERM; the new release's starts.
            old_worker.send_signal(signal.SIGTERM)
            assert old_worker.wait(30) == 0
            new_worker = deploy.worker()
            load.phase = "new release"
            time.sleep(3)
        checks = load.checks
        assert replaced_read[0] == old_read and replaced_write[0] == old_write
        wait_until(lambda: gone(old_read) and gone(old_write), timeout=20, interval=0.1)
        for pid in (replaced_read[1], replaced_write[1], new_worker.pid):
            assert cwd_of(pid) == ROOT  # the new release's code serves now

        assert load.failures == [], load.failures[:20]
        assert load.write_5xx == []
        assert load.devices and load.users and len(load.rules) > 10

        def stored(sql: str, *args) -> list:
            with psycopg.connect(database) as conn:
                return sorted(r[0] for r in conn.execute(sql, args))

        rules_sql = "SELECT version FROM version_rule WHERE platform = 'android' AND version LIKE '3.%%'"
        # Every write the admin was told succeeded is stored once, and clients see it (its job ran).
        assert stored(rules_sql) == sorted(load.rules)
        last = load.rules[-1]
        params = {
            "app_id": world["app"],
            "app_version": last,
            "platform": "android",
            "environment": "production",
        }
        wait_until(
            lambda: httpx.get(f"{read}/v1/versions", params=params, headers={"x-api-token": world["token"]})
            .json().get("update_message") == f"m{load.rules.index(last)}",
            timeout=10,
        )  # fmt: skip
        audited = (
            "SELECT v.version FROM audit_entry a JOIN version_rule v ON a.resource_id = v.id::text "
            "WHERE a.resource = 'version_rule' AND a.action = 'create' AND v.version LIKE '3.%%'"
        )
        assert stored(audited) == sorted(load.rules)  # one audit entry per write, none twice
        # Every sighting and authentication event a client was answered for is stored, none twice.
        answered = sorted([*load.devices, DEVICE])  # and the one the seed's offer was asked for
        wait_until(
            lambda: len(stored("SELECT device_id FROM device")) >= len(answered), timeout=20, interval=0.2
        )
        assert stored("SELECT device_id FROM device") == answered
        wait_until(
            lambda: (
                len(stored("SELECT user_id FROM auth_session WHERE user_id LIKE 'upgrade-user-%%'"))
                >= len(load.users)
            ),
            timeout=20,
            interval=0.2,
        )
        time.sleep(0.5)  # a duplicate would come with the last batches
        assert stored("SELECT user_id FROM auth_session WHERE user_id LIKE 'upgrade-user-%%'") == sorted(
            load.users
        )
        # No job failed on either release.
        failed = redis.Redis.from_url(redis_url).zcard("rq:failed:gatehouse-upgrade")
        assert failed == 0
        print(
            f"\nupgrade {version} ({commit[:7]}) -> checkout under load: {checks} client checks, 0 failed; "
            f"{len(load.rules)} admin writes, {load.refused_503} 503s, 0 other 5xx; {len(load.devices)} "
            f"sightings and {len(load.users)} authentications stored once each; new migrations: {', '.join(p.name for p in new_migrations(commit)) or 'none'} ({migrated.strip()})",
            file=sys.stderr,
        )
    finally:
        deploy.stop()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
