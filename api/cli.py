"""The `gatehouse` admin command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import click
from tqdm import tqdm

from api import remote
from api.settings import Settings


def _settings() -> Settings:
    return Settings.from_env()


def _db(settings: Settings) -> None:
    from store import accounts
    from store.service import init_db

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    init_db(settings.effective_database_url, settings.db_pool_size)
    accounts.configure_passwords(settings.argon2_time_cost, settings.argon2_memory_kib)


def _after_commit(settings: Settings) -> None:
    """CLI writes enqueue rebuilds exactly as the write API does."""
    import redis

    from store.service import set_after_commit
    from worker.queue import after_commit, make_queue

    queue = make_queue(redis.Redis.from_url(settings.redis_url), settings.queue_name)
    set_after_commit(lambda ids: after_commit(queue, ids))


@click.group()
def main() -> None:
    """Gatehouse: a release control plane for mobile apps."""


@main.command()
@click.option(
    "--check",
    is_flag=True,
    help="Apply nothing: list pending migrations and exit 1 if any (for deploy scripts).",
)
@click.option(
    "--wait",
    type=float,
    default=0,
    metavar="SECONDS",
    help="Wait up to this long for the database to answer first (a container started beside it).",
)
def migrate(check: bool, wait: float) -> None:
    """Apply database migrations (idempotent)."""
    from store.migrate import apply_migrations, pending_migrations
    from store.service import drop_dead_connection, is_unavailable, ping

    settings = _settings()
    _db(settings)
    deadline = time.monotonic() + wait
    while True:
        try:
            ping()
            break
        except Exception as exc:
            if not is_unavailable(exc) or time.monotonic() >= deadline:
                raise
            drop_dead_connection()
            time.sleep(0.5)
    if check:
        pending = pending_migrations()
        click.echo(f"pending: {', '.join(pending)}" if pending else "database is up to date")
        sys.exit(1 if pending else 0)
    applied = apply_migrations()
    click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


def _gunicorn(kind: str, settings: Settings, bind: str, workers: int | None = None) -> list[str]:
    # The installed package's configuration, wherever the process starts (the image's working directory is
    # its data directory).
    config = str(resources.files("deploy") / f"gunicorn_{kind}.py")
    # gunicorn's own script beside this interpreter, not `python -m gunicorn`: the binary upgrade (USR2,
    # deploy/README.md "Upgrade") re-executes the master's argv, and under -m that is gunicorn/__main__.py,
    # whose directory (holding gunicorn's `http` package) then shadows the standard library's: the new
    # master could not start.
    script = Path(sys.executable).parent / "gunicorn"
    found = str(script) if script.exists() else shutil.which("gunicorn")
    launcher = [found] if found else [sys.executable, "-m", "gunicorn"]  # no binary upgrade then
    cmd = [*launcher, "-c", config, "--bind", bind]
    if workers:
        cmd += ["--workers", str(workers)]
    return cmd + ["api.asgi:app" if kind == "read" else "api.wsgi:app"]


@main.command()
@click.argument("service", type=click.Choice(["read", "write"]))
@click.option("--bind", default=None, help="host:port (default: GATEHOUSE_HOST and the service's port).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: the deploy config's).")
def serve(service: str, bind: str | None, workers: int | None) -> None:
    """Run the read service or the write API under gunicorn (production configuration)."""
    settings = _settings()
    port = settings.read_port if service == "read" else settings.write_port
    cmd = _gunicorn(service, settings, bind or f"{settings.host}:{port}", workers)
    os.execvp(cmd[0], cmd)


def _role(cmdline: list[str]) -> tuple[str, str | None]:
    """The role of a Gatehouse process from its command line, and the address it serves on, if any."""
    bind = cmdline[cmdline.index("--bind") + 1] if "--bind" in cmdline[:-1] else None
    for arg in cmdline:
        for kind in ("read", "write"):
            if arg.endswith(f"gunicorn_{kind}.py"):
                return kind, bind
    if "worker" in cmdline:
        return "worker", None
    return "unknown", None


@main.command()
@click.option("--url", default=None, help="A /ready URL to ask instead of the container's own service.")
def ready(url: str | None) -> None:
    """Exit 0 when this container's service is ready: the image's HEALTHCHECK.

    The role is the container's first process: the read service's or the write API's /ready on the address
    it was bound to, or, for the worker, Redis answering with a worker's heartbeat in it."""
    import httpx
    import redis

    from worker.heartbeat import live_workers

    settings = _settings()
    role, bind = _role(Path("/proc/1/cmdline").read_bytes().decode().split("\0"))
    if url is None and role in ("read", "write"):
        port = (
            bind.rsplit(":", 1)[-1]
            if bind
            else (settings.read_port if role == "read" else settings.write_port)
        )
        url = f"http://127.0.0.1:{port}/ready"
    try:
        if url is not None:
            answer = httpx.get(url, timeout=3)
            click.echo(f"{url}: {answer.status_code}")
            sys.exit(0 if answer.status_code == 200 else 1)
        if role == "worker":
            workers = live_workers(redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2))
            click.echo(f"live workers: {workers}")
            sys.exit(0 if workers else 1)
    except (httpx.HTTPError, redis.RedisError) as exc:
        click.echo(f"not ready: {exc}", err=True)
        sys.exit(1)
    click.echo("no Gatehouse service is this container's first process; pass --url", err=True)
    sys.exit(2)


@main.command()
@click.option("--burst", is_flag=True, help="Run queued jobs, then exit.")
def worker(burst: bool) -> None:
    """Run an RQ worker with the periodic schedule."""
    from api.dialects.registry import compose_snapshot
    from api.logging import configure
    from worker.main import run_worker

    settings = _settings()
    configure(settings.log_level, settings.log_json)
    run_worker(settings, compose_snapshot, burst=burst)


@main.command("rebuild-snapshots")
@click.option("--app", "app_ids", multiple=True, help="Public app id (repeatable); default: every app.")
def rebuild_snapshots(app_ids: tuple[str, ...]) -> None:
    """Render snapshots from the database into Redis now (recovery after a Redis loss)."""
    import redis

    from api.dialects.registry import compose_snapshot
    from store import operator, snapshots
    from store.snapshot_format import COMPLETE_KEY

    settings = _settings()
    _db(settings)
    r = redis.Redis.from_url(settings.redis_url)
    ids = _or_exit(lambda: operator.app_ids(list(app_ids))) if app_ids else snapshots.all_app_ids()
    with tqdm(total=len(ids), unit="app", desc="rebuilding") as bar:
        changed = snapshots.rebuild_many(r, ids, compose_snapshot, progress=bar.update)
    if not app_ids:
        r.set(COMPLETE_KEY, 1)  # every app rendered: the worker need not do it again
    click.echo(f"rebuilt {len(ids)} snapshot(s), {changed} changed")


@main.command("drain-events")
@click.option(
    "--wait",
    type=float,
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for entries a running or stopped worker still holds.",
)
def drain_events(wait: float) -> None:
    """Apply every device and authentication event still in Redis's streams, and exit once both are empty
    (exit 1 if they are not within SECONDS): before a backup's dump, with the read services stopped, so the
    dump holds every event a client was answered for (deploy/README.md, "Backup")."""
    import redis

    from store import auth_events, device_events
    from worker import authentications, sightings

    settings = _settings()
    _db(settings)
    r = redis.Redis.from_url(settings.redis_url)
    deadline = time.monotonic() + wait
    applied = 0
    while True:
        # Entries a killed worker held are claimed once idle 5 s; a live worker's are acknowledged by it.
        applied += sightings.drain(r, "drain-events", claim_idle=True)
        applied += authentications.drain(r, "drain-events", claim_idle=True)
        left = {s: r.xlen(s) for s in (device_events.STREAM, auth_events.STREAM)}
        if not any(left.values()):
            break
        if time.monotonic() >= deadline:
            waiting = ", ".join(f"{n} in {s}" for s, n in left.items() if n)
            click.echo(f"entries still waiting after {wait:g} s: {waiting}", err=True)
            sys.exit(1)
        time.sleep(0.5)
    click.echo(f"applied {applied} batch(es); the event streams are empty")


@main.command("aggregate-stats")
@click.option(
    "--days", default=2, show_default=True, type=click.IntRange(1, 3660), help="Days back from today."
)
def aggregate_stats(days: int) -> None:
    """Recompute the daily tables the console's charts read (sign-ins per version, distribution events per
    release) for the last DAYS days, and today's devices per bundle: after an import or a restore, as the
    worker does for today and yesterday."""
    import datetime as dt

    from store import fleet_stats, stats

    _db(_settings())
    today = dt.datetime.now(dt.UTC).date()
    rows = 0
    for n in tqdm(range(days - 1, -1, -1), unit="day", desc="aggregating"):
        day = today - dt.timedelta(days=n)
        rows += stats.aggregate_day(day) + fleet_stats.aggregate_dist_day(day)
    rows += fleet_stats.record_bundle_devices(today)
    click.echo(f"aggregated {days} day(s): {rows} daily row(s)")


def _or_exit(step):
    """Runs a store step; a domain error ends the command with its message."""
    from store.errors import DomainError

    try:
        return step()
    except DomainError as exc:
        raise click.ClickException(exc.message) from None


def _super_admin():
    from store import operator

    return _or_exit(operator.first_super_admin)


@main.command("create-team")
@click.option("--name", required=True)
@click.option("--owner", "owner_email", default=None, help="Email of a user to add as member.")
def create_team(name: str, owner_email: str | None) -> None:
    from store import accounts, operator
    from store.service import unit_of_work

    settings = _settings()
    _db(settings)
    with unit_of_work():
        team = accounts.create_team(_super_admin(), name)
        if owner_email:
            operator.add_to_team(team.id, _or_exit(lambda: operator.user(owner_email)))
    click.echo(f"team {team.id}")


@main.command("create-user")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=click.Choice(["member", "admin", "super_admin"]), default="member")
@click.option("--team", "team_id", type=int, default=None, help="Add the user to this team.")
def create_user(email: str, password: str, role: str, team_id: int | None) -> None:
    from store import accounts, operator
    from store.service import unit_of_work

    settings = _settings()
    _db(settings)

    def create():
        with unit_of_work():
            created = accounts.create_user(email, password, role)
            if team_id is not None:
                operator.add_to_team(team_id, created)
        return created

    user = _or_exit(create)
    click.echo(f"user {user.id} {user.email} ({user.role})")


@main.command("create-app")
@click.option("--team", "team_id", type=int, required=True)
@click.option("--title", required=True)
@click.option("--package-name", default="")
def create_app(team_id: int, title: str, package_name: str) -> None:
    from store import catalog, client_tokens
    from store.service import unit_of_work

    settings = _settings()
    _db(settings)
    _after_commit(settings)
    with unit_of_work():
        app = catalog.create_app(_super_admin(), team_id, title, package_name)
        _, raw = client_tokens.create_client_token(None, app, "default")
    click.echo(f"app {app.public_id}\nclient token (shown once): {raw}")


@main.command("create-token")
@click.option("--email", default=None, help="Issue an admin token for this user.")
@click.option("--app", "app_id", default=None, help="Issue a client token for this app instead.")
@click.option("--name", default="cli")
def create_token(email: str | None, app_id: str | None, name: str) -> None:
    """Issue an admin (Bearer) token or an app's client (x-api-token) token; shown once."""
    from store import accounts, client_tokens, operator
    from store.service import unit_of_work

    settings = _settings()
    _db(settings)
    _after_commit(settings)
    with unit_of_work():
        if app_id:
            _, raw = client_tokens.create_client_token(None, _or_exit(lambda: operator.app(app_id)), name)
        elif email:
            raw = accounts.issue_user_token(_or_exit(lambda: operator.user(email)), name)
        else:
            raise click.ClickException("give --email or --app")
    click.echo(raw)


@main.command()
@click.option("--apps", default=5, show_default=True)
@click.option("--rules", default=20, show_default=True, help="Exact rules per platform and environment.")
def demo(apps: int, rules: int) -> None:
    """Load a demo data set (apps, rules, minimums, maintenance) and print its client tokens."""
    from store.bootstrap import load_demo

    settings = _settings()
    _db(settings)
    _after_commit(settings)
    with tqdm(total=apps, unit="app", desc="demo") as bar:
        out = load_demo(_super_admin(), apps, rules, progress=bar.update)
    for row in out:
        click.echo(f"{row['app_id']}  {row['client_token']}")


@main.command()
def dev() -> None:
    """Run everything locally: Redis, migrations, read service, write API, worker, one front port."""
    from api.services import ensure_redis
    from store.bootstrap import first_run, is_empty
    from store.migrate import apply_migrations

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    redis_url, redis_how = ensure_redis(settings.redis_url, settings.data_dir)
    os.environ["GATEHOUSE_REDIS_URL"] = redis_url
    os.environ.setdefault("GATEHOUSE_LOG_JSON", "false")
    settings = _settings()
    _db(settings)
    apply_migrations()
    _after_commit(settings)
    creds = first_run() if is_empty() else None
    # The app-config API speaks of one app: on this machine, the first app unless one is configured.
    from store import operator

    os.environ.setdefault("GATEHOUSE_APPCONFIG_DEFAULT_APP", operator.first_app_public_id() or "")

    host = settings.host
    # The services sit behind the front door below, one trusted hop: the client address is its
    # X-Forwarded-For entry (rate limits, audit, rollout health), not the door's.
    os.environ.setdefault("GATEHOUSE_FORWARDED_FOR_HOPS", "1")
    procs = [
        subprocess.Popen(_gunicorn("read", settings, f"{host}:{settings.read_port}", 1)),
        subprocess.Popen(_gunicorn("write", settings, f"{host}:{settings.write_port}", 1)),
        subprocess.Popen([sys.executable, "-m", "api.cli", "worker"]),
    ]
    os.environ["GATEHOUSE_FRONT_READ"] = f"http://{host}:{settings.read_port}"
    os.environ["GATEHOUSE_FRONT_WRITE"] = f"http://{host}:{settings.write_port}"
    procs.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api.front:from_env",
                "--host",
                host,
                "--port",
                str(settings.port),
                "--log-level",
                "warning",
            ]
        )
    )
    base = f"http://{host}:{settings.port}"
    me = _command_path()
    click.echo(f"\nGatehouse is running at {base}  (read service and write API on one port)")
    click.echo(f"  database:     {settings.effective_database_url}")
    click.echo(
        f"  app-config:   {base}/app-config/public answers for {os.environ['GATEHOUSE_APPCONFIG_DEFAULT_APP']}"
    )
    click.echo(
        f"  redis:        {redis_url} ({redis_how}); Gatehouse's keys start with gh: and its job queue's with rq:,"
        " so set GATEHOUSE_REDIS_URL to another database to keep them apart from other data"
    )
    if creds:
        click.echo(f"  console:      {base}/console/  (sign in as the admin below)")
        click.echo(f"  admin:        {creds['email']} / {creds['password']}")
        click.echo(f"  admin token:  {creds['admin_token']}   (Authorization: Bearer ...)")
        click.echo(f"  app id:       {creds['app_id']}")
        click.echo(f"  client token: {creds['client_token']}   (x-api-token)")
        click.echo(
            f"  try: curl -H 'x-api-token: {creds['client_token']}' "
            f"'{base}/v1/maintenance?app_id={creds['app_id']}&environment=production'"
        )
    else:
        admin = _first_super_admin_email() or "you@example.com"
        click.echo(f"  console:      {base}/console/  (sign in as {admin})")
        click.echo("  existing database: the first run printed the admin's password; it is not kept in clear")
        click.echo(f"  admin token:  {me} create-token --email {admin}")
        click.echo(f"  lost password: {me} reset-password --email {admin}")

    def stop(*_):
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    stop()


def _command_path() -> str:
    """How to run this command from the current directory, as a user can paste it."""
    found = shutil.which("gatehouse")
    if found:
        return "gatehouse"
    path = Path(sys.executable).parent / "gatehouse"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _first_super_admin_email() -> str | None:
    from store.accounts import first_super_admin_email

    return first_super_admin_email()


@main.command("reset-password")
@click.option("--email", required=True)
@click.option("--password", default=None, help="The new password (default: a generated one, printed once).")
def reset_password(email: str, password: str | None) -> None:
    """Set a user's password (a lost admin password); revokes the user's tokens."""
    import secrets

    from store import accounts
    from store.errors import DomainError
    from store.service import unit_of_work

    settings = _settings()
    _db(settings)
    password = password or secrets.token_urlsafe(12)
    try:
        with unit_of_work():
            accounts.reset_password(email, password)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"password of {email.lower()} set to: {password}")


main.add_command(remote.login)
main.add_command(remote.upload)
main.add_command(remote.bundle)
main.add_command(remote.release)
main.add_command(remote.rollout)
main.add_command(remote.key)
main.add_command(remote.channel)
main.add_command(remote.device)
main.add_command(remote.app_config)


if __name__ == "__main__":
    main()
