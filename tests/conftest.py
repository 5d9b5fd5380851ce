"""Real PostgreSQL and Redis: schema built once per run, each test in a rolled-back transaction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import redis
from falcon import testing

from api.dialects.registry import compose_snapshot, part_codecs
from api.read.app import create_read_app
from api.read.cache import SnapshotCache
from api.settings import Settings
from api.write.app import create_write_app
from loadtest.processes import free_port, recreate_database, wait_until
from loadtest.stack import production_stack, up
from store import accounts, catalog, client_tokens
from store.db import db, unit_of_work
from store.migrate import apply_migrations
from store.service import init_db
from tests import lanes
from tests.containers import FIGURES
from worker import context
from worker.main import GatehouseWorker
from worker.queue import make_queue

# This process's lane (tests/lanes.py): its own databases and its own redis-server.
PG_URL = lanes.pg("gatehouse_test")
REDIS_URL = lanes.redis_url(14)


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return Settings(
        database_url=PG_URL,
        redis_url=REDIS_URL,
        data_dir=tmp_path_factory.mktemp("data"),
        queue_name="gatehouse-test",
        # Real argon2id at a test's cost: 64 MiB and three passes cost 120 ms a user, about 100 s of the
        # suite's CPU. Production keeps the defaults; tests/test_contract.py checks them.
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        # Tests read action counts after one flush (0.5 s); the 5 s default is tests/test_capgo.py's
        # test_action_counts_are_sent_once_their_interval_has_passed.
        stats_count_interval=0.5,
    )


@pytest.fixture(scope="session")
def redis_conn(settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


@pytest.fixture(scope="session")
def write_app(settings, redis_conn):
    recreate_database(PG_URL)
    init_db(PG_URL)
    apply_migrations()
    app = create_write_app(settings, redis_conn)
    context.setup(settings, redis_conn, compose_snapshot)
    return app


@pytest.fixture(autouse=True)
def isolation(write_app, redis_conn):
    """Every test runs inside a transaction rolled back at its end, on a flushed Redis database."""
    redis_conn.flushdb()
    db.connect(reuse_if_open=True)
    with db.atomic() as tx:
        yield
        tx.rollback()
    redis_conn.flushdb()


@pytest.fixture
def api(write_app) -> testing.TestClient:
    return testing.TestClient(write_app)


@pytest.fixture
def cache(settings) -> SnapshotCache:
    return SnapshotCache(settings.redis_url, codecs=part_codecs())


@pytest.fixture
def reader(settings, cache) -> testing.TestClient:
    return testing.TestClient(create_read_app(settings, cache))


@pytest.fixture
def sync(settings, redis_conn, cache):
    """Runs queued jobs in-process, then lets the read cache pick up what they published."""

    def run() -> None:
        queue = make_queue(redis_conn, settings.queue_name)
        GatehouseWorker([queue], connection=redis_conn, serializer=queue.serializer).work(
            burst=True, logging_level="WARNING"
        )
        cache.refresh(redis_conn)

    return run


def make_world(role: str = "admin", email: str = "owner@example.com", team_name: str = "Acme"):
    with unit_of_work():
        user = accounts.create_user(email, "correct horse battery", role)
        team = accounts.create_team(user, team_name)
        # Package identifiers are unique across the deployment: each team's app has its own.
        package = "com.example.demo" if team_name == "Acme" else f"com.{team_name.lower()}.demo"
        app = catalog.create_app(user, team.id, "Demo", package)
        _, client_token = client_tokens.create_client_token(user, app, "default")
        token = accounts.issue_user_token(user)
    return SimpleNamespace(
        user=user,
        team=team,
        app=app,
        app_id=app.public_id,
        client_token=client_token,
        token=token,
        auth={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
def world():
    return make_world()


@pytest.fixture
def root():
    """A super_admin of no team."""
    with unit_of_work():
        user = accounts.create_user("root@example.net", "root password", "super_admin")
        token = accounts.issue_user_token(user)
    return SimpleNamespace(user=user, token=token, auth={"Authorization": f"Bearer {token}"})


@pytest.fixture
def other_world():
    return make_world(email="rival@example.org", team_name="Rival")


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible server (moto's standalone server) on loopback for the whole run."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


E2E_DB = lanes.pg("gatehouse_e2e")
E2E_REDIS = lanes.redis_url(13)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stack():
    """The real services (gunicorn read and write, a worker) plus the dev front door, committing for real."""
    with production_stack(
        E2E_DB, E2E_REDIS, "gatehouse-e2e", GATEHOUSE_READ_WORKERS="2", GATEHOUSE_WRITE_WORKERS="1"
    ) as st:
        front_port = free_port()
        st.env = {**st.env, "GATEHOUSE_FRONT_READ": st.read, "GATEHOUSE_FRONT_WRITE": st.write}
        st.spawn(
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.front:from_env",
            "--port",
            str(front_port),
            "--log-level",
            "warning",
        )
        wait_until(lambda: up(f"http://127.0.0.1:{front_port}"), timeout=30)
        clients = SimpleNamespace(
            read=httpx.Client(base_url=st.read),
            front=httpx.Client(base_url=f"http://127.0.0.1:{front_port}"),
            write=httpx.Client(base_url=st.write, headers={"Authorization": f"Bearer {st.admin_token}"}),
            token=st.admin_token,
            redis=redis.Redis.from_url(E2E_REDIS),
            run=st.run,
            env=st.env,
            write_addr=st.write.removeprefix("http://"),
        )
        try:
            yield clients
        finally:
            for client in (clients.read, clients.front, clients.write, clients.redis):
                client.close()


@pytest.fixture
def capgo(api, world):
    """Calls Capgo's public API with world's token as Capgo's scripts send it: the bare key."""

    def call(method: str, path: str, body=None, key=world.token, **params):
        return api.simulate_request(method, path, json=body, headers={"authorization": key}, params=params)

    return call


@pytest.fixture
def dist(api, world):
    """Calls the distribution server's admin API with world's admin token in X-Auth-Token."""

    def call(method: str, path: str, body=None, token=world.token, **kw):
        headers = {"X-Auth-Token": token} | kw.pop("headers", {})
        return api.simulate_request(method, path, json=body, headers=headers, **kw)

    return call


# Modules that start servers or long runs of their own: outside `make check`'s fast lane.
SLOW_MODULES = frozenset(
    {
        "test_backup",
        "test_deployment",
        "test_edge_tls",
        "test_embedded",
        "test_first_run",
        "test_installed_package",
        "test_read_limits",
        "test_schemathesis",
        "test_upgrade",
        "test_webhook_isolation",
        "test_worker_queue",
        "test_write_limits",
    }
)


# The longest modules start first, longest first (their seconds in one `make test`, summed from
# `--durations=0`): parallel lanes take whole modules in collection order (`--no-loadscope-reorder`: xdist
# would otherwise start the modules with the most tests first, and schemathesis's two tests last), and a
# long one begun last would keep its lane busy after the others finished.
LONGEST_FIRST = (
    "test_schemathesis",  # 57
    "test_console_browser",  # 46
    "test_capgo_stack",  # 32
    "test_faults",  # 29
    "test_ci_workflow",  # 26
    "test_backup",  # 25
    "test_upgrade",  # 25
    "test_deployment",  # 20
    "test_webhook_isolation",  # 18
    "test_write_limits",  # 18
    "test_installed_package",  # 18
    "test_first_run",  # 17
    "test_distribution_browser",  # 16
    "test_edge_tls",  # 16
    "test_distribution",  # 15
    "test_end_to_end",  # 14
    "test_cli_upload",  # 14
    "test_worker_queue",  # 14
    "test_capgo",  # 12
    "test_embedded",  # 10
    "test_rollouts",  # 10
)


def pytest_collection_modifyitems(items) -> None:
    """Lanes: `make check` runs what needs neither real service processes, a browser, the fault suite nor
    the slow modules; `make test` runs everything."""

    def order(item) -> int:
        name = item.module.__name__.rsplit(".", 1)[-1]
        if name in LONGEST_FIRST:
            return LONGEST_FIRST.index(name)
        return len(LONGEST_FIRST) + (0 if name in SLOW_MODULES or "stack" in item.fixturenames else 1)

    items.sort(key=order)
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "stack" in names:
            item.add_marker(pytest.mark.stack)
        if "browser" in names:
            item.add_marker(pytest.mark.browser)
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter) -> None:
    """The figures the image tests measured (`make image`): sizes, build and start times."""
    if FIGURES:
        terminalreporter.section("image figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
