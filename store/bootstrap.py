"""First-run setup and the demo data set."""

from __future__ import annotations

import random
import secrets

import peewee as pw

from store import accounts, catalog, client_tokens, tokens
from store.db import db, is_postgres, unit_of_work
from store.models import (
    App,
    Bundle,
    Channel,
    ClientToken,
    Device,
    Environment,
    Maintenance,
    MinimumVersionRule,
    SnapshotOutbox,
    User,
    VersionRule,
)
from store.outbox import mark_stale
from store.versions import canonical


def is_empty() -> bool:
    return not User.select().exists()


def first_run(email: str = "admin@localhost") -> dict:
    """Creates a super_admin, a team and an app with a client token; returns their credentials."""
    password = secrets.token_urlsafe(12)
    with unit_of_work():
        user = accounts.create_user(email, password, "super_admin")
        team = accounts.create_team(user, "My team")
        app = catalog.create_app(user, team.id, "My app", "com.example.app")
        _, client_token = client_tokens.create_client_token(user, app, "default")
        admin_token = accounts.issue_user_token(user, "first-run")
    return {
        "email": email,
        "password": password,
        "admin_token": admin_token,
        "app_id": app.public_id,
        "client_token": client_token,
    }


def load_demo(
    caller: User, apps: int = 5, rules_per_scope: int = 20, seed: int = 7, progress=None
) -> list[dict]:
    """A realistic fleet: apps x 2 platforms x 3 environments, exact rules, minimums, maintenance."""
    rnd = random.Random(seed)
    out = []
    with unit_of_work():
        team = accounts.create_team(caller, f"Demo team {secrets.token_hex(2)}")
    for i in range(apps):
        with unit_of_work():
            app = catalog.create_app(
                caller,
                team.id,
                f"Demo app {i + 1}",
                f"com.demo.t{team.id}.app{i + 1}",  # identifiers are unique deployment-wide
                ["production", "staging", "beta"],
            )
            _, token = client_tokens.create_client_token(caller, app, "demo")
            envs = list(Environment.select().where(Environment.app == app))
            rows = []
            for env in envs:
                for platform in ("ios", "android"):
                    for n in range(rules_per_scope):
                        version = f"{1 + n // 10}.{n % 10}.{rnd.randint(0, 3)}"
                        rows.append(
                            {
                                "app": app.id,
                                "environment": env.id,
                                "platform": platform,
                                "version": version,
                                "version_key": canonical(version),
                                "enabled": rnd.random() > 0.1,
                                "force_update": rnd.random() < 0.2,
                                "update_message": f"Please update to {version}",
                                "messages": {
                                    "en": f"Please update to {version}",
                                    "de": f"Bitte auf {version} aktualisieren",
                                },
                            }
                        )
                    MinimumVersionRule.create(
                        app=app,
                        environment=env,
                        platform=platform,
                        minimum_version="1.2.0",
                        force_update=True,
                        update_message="This version is no longer supported",
                    )
            # One rule per (environment, platform, version): the first drawn wins.
            first: dict[tuple, dict] = {}
            for r in rows:
                first.setdefault((r["environment"], r["platform"], r["version_key"]), r)
            unique = list(first.values())
            for j in range(0, len(unique), 200):
                VersionRule.insert_many(unique[j : j + 200]).execute()
            Maintenance.create(
                app=app,
                environment=envs[1],
                active=True,
                title="Scheduled maintenance",
                description="Back soon",
                links=[{"title": "Status", "url": "https://status.example.com"}],
            )
            mark_stale(app.id)
        out.append({"app_id": app.public_id, "client_token": token})
        if progress:
            progress(1)
    return out


def all_apps() -> list[App]:
    return list(App.select().order_by(App.id))


SCALE_ENVIRONMENTS = ("production", "staging", "beta")


def _bulk(model, rows: list[dict]) -> None:
    """Many rows at once, the model's defaults filled in: COPY on PostgreSQL (peewee's multi-row INSERT spent
    most of its time building SQL: 50 apps/s at 102 rules each), insert_many elsewhere. The rows skip the
    models' hooks: seeding is no admin change and announces nothing."""
    if not rows:
        return
    if not is_postgres():
        for i in range(0, len(rows), 500):
            model.insert_many(rows[i : i + 500]).execute()
        return
    fields = [f for f in model._meta.sorted_fields if not isinstance(f, pw.AutoField)]
    defaults = {f.name: f.default() if callable(f.default) else f.default for f in fields}
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    with db.connection().cursor() as cur:
        with cur.copy(f'COPY "{model._meta.table_name}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([f.db_value(row.get(f.name, defaults[f.name])) for f in fields])


def load_scale(
    caller: User, apps: int, rules_per_scope: int, batch: int = 250, progress=None, unique: bool = False
) -> list[tuple[str, str]]:
    """The demo shape at scale, in bulk: ``batch`` apps per transaction, every table filled with multi-row
    inserts (one transaction per app took 116 s for 5,000 apps). Returns (app id, client token) pairs.
    Versions are distinct per scope (1.0.0, 1.0.1, ...), so no rule is dropped as a duplicate. Every app has
    the same versions and messages, as many apps of one publisher do; ``unique`` puts the app's number in
    each message, so no two apps share an answer (the worst case for the read service's memory)."""
    with unit_of_work():
        team = accounts.create_team(caller, f"Scale team {secrets.token_hex(2)}")
    versions = [f"{1 + n // 100}.{(n // 10) % 10}.{n % 10}" for n in range(rules_per_scope)]
    keys = [canonical(v) for v in versions]
    out: list[tuple[str, str]] = []
    for start in range(0, apps, batch):
        count = min(batch, apps - start)
        with unit_of_work():
            ids = [catalog.new_public_id() for _ in range(count)]
            _bulk(
                App,
                [
                    {
                        "public_id": pid,
                        "team": team.id,
                        "title": f"Scale app {start + i + 1}",
                        "slug": pid,
                        "package_name": f"com.scale.t{team.id}.app{start + i + 1}",
                    }  # fmt: skip
                    for i, pid in enumerate(ids)
                ],
            )
            by_public = {
                a.public_id: a.id for a in App.select(App.id, App.public_id).where(App.public_id.in_(ids))
            }
            app_ids = [by_public[pid] for pid in ids]
            _bulk(Environment, [{"app": a, "alias": alias} for a in app_ids for alias in SCALE_ENVIRONMENTS])
            envs = list(
                Environment.select(Environment.id, Environment.app).where(Environment.app.in_(app_ids))
            )
            raws = [tokens.new_token(tokens.CLIENT_PREFIX) for _ in app_ids]
            _bulk(
                ClientToken,
                [
                    {"app": a, "token_hash": tokens.digest(raw), "name": "scale", "hint": raw[:8] + "…"}
                    for a, raw in zip(app_ids, raws, strict=True)
                ],  # fmt: skip
            )
            rules, minimums = [], []
            for env in envs:
                for platform in ("ios", "android"):
                    for version, key in zip(versions, keys, strict=True):
                        rules.append({"app": env.app_id, "environment": env.id, "platform": platform,
                                      "version": version, "version_key": key, "force_update": key.endswith("5"),
                                      "update_message": f"Please update to {version}"
                                      + (f" (app {env.app_id})" if unique else "")})  # fmt: skip
                    minimums.append({"app": env.app_id, "environment": env.id, "platform": platform,
                                     "minimum_version": "1.0.2", "force_update": True,
                                     "update_message": "This version is no longer supported"
                                     + (f" (app {env.app_id})" if unique else "")})  # fmt: skip
            _bulk(VersionRule, rules)
            _bulk(MinimumVersionRule, minimums)
            SnapshotOutbox.insert_many([{"app_id": a} for a in app_ids]).on_conflict_ignore().execute()
        out += list(zip(ids, raws, strict=True))
        if progress:
            progress(count)
    _analyze()
    return out


def _analyze() -> None:
    """Planner statistics for what a bulk load wrote: autovacuum had not analysed a million rules minutes
    later, and a one-app rebuild hashed every environment (7 ms a query instead of 0.1 ms)."""
    db.execute_sql("ANALYZE")


def load_scale_live(
    caller: User, apps: int, channels: int, overrides: int, batch: int = 100, progress=None
) -> list[str]:
    """Live-update apps at scale, in bulk: each with ``channels`` channels (the first public), a bundle per
    channel, and ``overrides`` devices in all pinned to a channel (spread evenly). Returns the packages."""
    with unit_of_work():
        team = accounts.create_team(caller, f"Scale live team {secrets.token_hex(2)}")
    per_app = overrides // apps if apps else 0
    out: list[str] = []
    for start in range(0, apps, batch):
        count = min(batch, apps - start)
        with unit_of_work():
            ids = [catalog.new_public_id() for _ in range(count)]
            packages = [f"com.scale.live.t{team.id}.app{start + i + 1}" for i in range(count)]
            _bulk(App, [{"public_id": pid, "team": team.id, "title": f"Live app {start + i + 1}", "slug": pid,
                         "package_name": packages[i]} for i, pid in enumerate(ids)])  # fmt: skip
            app_ids = [a.id for a in App.select(App.id).where(App.public_id.in_(ids)).order_by(App.id)]
            _bulk(Bundle, [{"app": a, "name": f"1.{n}.0", "checksum": secrets.token_hex(32),
                            "external_url": f"https://cdn.example.com/{a}/1.{n}.0.zip"}
                           for a in app_ids for n in range(channels)])  # fmt: skip
            bundles = {
                (b.app_id, b.name): b.id
                for b in Bundle.select(Bundle.id, Bundle.app, Bundle.name).where(Bundle.app.in_(app_ids))
            }
            _bulk(Channel, [{"app": a, "name": "production" if n == 0 else f"channel-{n}",
                             "bundle": bundles[(a, f"1.{n}.0")], "public": n == 0,
                             "allow_self_set": n > 0} for a in app_ids for n in range(channels)])  # fmt: skip
            by_app: dict[int, list[int]] = {}
            for c in (
                Channel.select(Channel.id, Channel.app).where(Channel.app.in_(app_ids)).order_by(Channel.id)
            ):
                by_app.setdefault(c.app_id, []).append(c.id)
            _bulk(Device, [{"app": a, "device_id": f"{a:08x}-0000-4000-8000-{d:012x}", "platform": "android",
                            "channel_override": by_app[a][1 + d % (channels - 1)] if channels > 1 else by_app[a][0]}
                           for a in app_ids for d in range(per_app)])  # fmt: skip
            SnapshotOutbox.insert_many([{"app_id": a} for a in app_ids]).on_conflict_ignore().execute()
        out += packages
        if progress:
            progress(count)
    _analyze()
    return out
