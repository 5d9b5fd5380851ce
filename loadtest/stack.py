"""Starts a production-style stack for load runs: gunicorn read service and write API, a worker."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis

from loadtest.processes import free_port, recreate_database, wait_until

ROOT = Path(__file__).resolve().parents[1]


ADMIN_EMAIL = "load@example.com"


@dataclass
class Stack:
    env: dict
    read: str
    write: str
    admin_token: str
    procs: list = field(default_factory=list)
    worker: subprocess.Popen | None = None

    def run(self, *args: str) -> str:
        """Runs a `gatehouse` CLI command against this stack and returns its output."""
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def spawn(self, *cmd: str) -> subprocess.Popen:
        proc = subprocess.Popen(list(cmd), env=self.env, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def start_worker(self) -> subprocess.Popen:
        self.worker = self.spawn(sys.executable, "-m", "api.cli", "worker")
        return self.worker

    def kill_worker(self) -> None:
        """SIGKILL, as the OOM killer or a lost host would: no cleanup runs."""
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(10)


def up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# A migrated database per PostgreSQL server and process, holding the admin and its token: each stack's
# database is a copy of it (CREATE DATABASE ... TEMPLATE copies files), made once by the same commands a
# stack ran every time (`migrate`, `create-user`, `create-token`: three interpreter starts, every migration
# and an argon2id hash). Migrating from empty is tested on its own (tests/test_first_run.py, test_embedded).
_templates: dict[str, tuple[str, str]] = {}  # server URL -> (template database, admin token)


def _fresh_database(database_url: str, env: dict) -> str:
    """Recreates ``database_url`` as a copy of this process's migrated template; returns the admin token."""
    base, _, name = database_url.rpartition("/")
    if base not in _templates:
        template = f"gatehouse_template_{os.getpid()}_{len(_templates)}"
        recreate_database(f"{base}/{template}")
        made = Stack({**env, "GATEHOUSE_DATABASE_URL": f"{base}/{template}"}, "", "", "")
        made.run("migrate")
        made.run(
            "create-user", "--email", ADMIN_EMAIL, "--password", "load password", "--role", "super_admin"
        )
        _templates[base] = (template, made.run("create-token", "--email", ADMIN_EMAIL).strip())
        atexit.register(_drop, base, template)
    template, token = _templates[base]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return token


def _drop(base: str, template: str) -> None:
    try:
        with psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    except psycopg.Error:
        pass  # a server a fault test stopped: its data directory goes with it


@contextmanager
def production_stack(
    database_url: str, redis_url: str, name: str, restored_token: str | None = None, **extra_env: str
) -> Iterator[Stack]:
    """A fresh database (a copy of a migrated one, above), a flushed Redis database, an empty data directory,
    the three services on free ports. ``restored_token``: the database is one restored from a backup, used
    as it is, and this is its admin's token.
    The data directory is a new one each time: two stacks of the same name (parallel test lanes) must not
    share files, metrics or uploads."""
    data_dir = tempfile.mkdtemp(prefix=f"{name}-")
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        **os.environ,
        "GATEHOUSE_DATABASE_URL": database_url,
        "GATEHOUSE_REDIS_URL": redis_url,
        "GATEHOUSE_QUEUE_NAME": name,
        "GATEHOUSE_LOG_LEVEL": "warning",
        "GATEHOUSE_DATA_DIR": data_dir,
        **extra_env,
    }
    cli = [sys.executable, "-m", "api.cli"]
    rp, wp = free_port(), free_port()
    stack = Stack(env, f"http://127.0.0.1:{rp}", f"http://127.0.0.1:{wp}", "")
    if restored_token is not None:
        stack.admin_token = restored_token
    elif database_url.startswith("sqlite"):
        stack.run("migrate")
        stack.run(
            "create-user", "--email", ADMIN_EMAIL, "--password", "load password", "--role", "super_admin"
        )
        stack.admin_token = stack.run("create-token", "--email", ADMIN_EMAIL).strip()
    else:
        stack.admin_token = _fresh_database(database_url, env)
    stack.spawn(*cli, "serve", "read", "--bind", f"127.0.0.1:{rp}")
    stack.spawn(*cli, "serve", "write", "--bind", f"127.0.0.1:{wp}")
    stack.start_worker()
    try:
        wait_until(lambda: up(stack.read) and up(stack.write), timeout=30)
        yield stack
    finally:
        for proc in stack.procs:
            proc.terminate()
        for proc in stack.procs:
            proc.wait(10)
        shutil.rmtree(data_dir, ignore_errors=True)
