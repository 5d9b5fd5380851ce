"""POST /v2/authenticate on the read service: checks and texts in the spec's order, the event in the Redis
stream before the answer, batches applied once by the worker, latest version upsert."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson
import pytest
from falcon import testing

from api.dialects.registry import part_codecs
from api.read.app import create_read_app
from api.read.authentications import AuthRecorder
from api.read.cache import SnapshotCache
from store import accounts, auth_events, catalog, partitions
from store.auth_events import AuthEvent
from store.db import unit_of_work
from store.ingest import apply_authentications, purge_sessions
from store.models import AuthSession, ClientUser, utcnow
from tests.helpers import b64
from worker.authentications import drain

GOOD = {"user_id": "user_12345", "platform": "ios", "app_version": "2.5.0", "environment": "production"}


def post(reader, token, body, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["x-api-token"] = token
    return reader.simulate_post(
        "/v2/authenticate", body=raw if raw is not None else orjson.dumps(body), headers=headers
    )


@pytest.fixture
def auth(reader, world, sync, redis_conn):
    """Posts as world's app and applies what the worker would (in this test's transaction)."""
    sync()

    def call(body=GOOD, token=world.client_token, raw: bytes | None = None):
        res = post(reader, token, body, raw)
        drain(redis_conn)
        return res

    return call


def test_success_echoes_and_stores(auth, world):
    res = auth(token=b64(world.client_token))
    assert res.status_code == 200
    assert res.json == {"success": True, "user_id": "user_12345", "platform": "ios", "app_version": "2.5.0"}
    assert res.headers["content-type"] == "application/json" and res.headers["etag"]
    session = AuthSession.get()
    assert (session.user_id, session.platform, session.app_version, session.environment) == (
        "user_12345",
        "ios",
        "2.5.0",
        "production",
    )
    latest = ClientUser.get()
    assert latest.app_version == "2.5.0" and latest.first_seen_at == latest.last_seen_at


def test_latest_version_per_platform_first_seen_kept(auth):
    auth()
    first = ClientUser.get(ClientUser.platform == "ios").first_seen_at
    auth(GOOD | {"app_version": "2.6.0", "environment": "staging"})
    auth(GOOD | {"platform": "android", "app_version": "1.0.0"})
    ios = ClientUser.get(ClientUser.platform == "ios")
    assert ios.app_version == "2.6.0" and ios.environment == "staging"
    assert ios.first_seen_at == first and ios.last_seen_at >= first
    assert ClientUser.select().count() == 2 and AuthSession.select().count() == 3


def test_environment_is_optional(auth):
    body = {k: v for k, v in GOOD.items() if k != "environment"}
    assert auth(body).status_code == 200
    assert AuthSession.get().environment is None


@pytest.mark.parametrize(
    "body,error",
    [
        (None, "Invalid request body"),
        ({"platform": "ios", "app_version": "1"}, "user_id is required"),
        ({"user_id": "", "platform": "ios", "app_version": "1"}, "user_id is required"),
        ({"user_id": "u"}, "platform is required"),
        ({"user_id": "u", "platform": ""}, "platform is required"),
        ({"user_id": "u", "platform": "ios"}, "app_version is required"),
        ({"user_id": "u", "platform": "web", "app_version": "1"}, "platform must be 'ios' or 'android'"),
        ({"user_id": "u", "platform": "web"}, "app_version is required"),
        ({"user_id": 7, "platform": "ios", "app_version": "1"}, "user_id must be a string"),
        (
            {"user_id": "u", "platform": "ios", "app_version": "1", "environment": 3},
            "environment must be a string",
        ),
        ([1, 2], "Invalid request body"),
    ],
)
def test_validation_texts_in_order(auth, redis_conn, body, error):
    raw = b"{not json" if body is None else None
    res = auth(body, raw=raw)
    assert res.status_code == 400 and res.json == {"error": error}
    assert AuthSession.select().count() == 0 and redis_conn.xlen(auth_events.STREAM) == 0


def test_auth_errors(auth, world, root, sync):
    assert auth(token=None).status_code == 401
    assert auth(token="ghc_nope").json == {"error": "Unauthorized"}
    with unit_of_work():
        accounts.update_team(root.user, world.team.id, {"subscription_status": "expired"})
    sync()
    res = auth()
    assert res.status_code == 402 and res.json == {"error": "Subscription expired"}
    with unit_of_work():
        accounts.delete_team(world.user, world.team.id)
    sync()
    res = auth()
    assert res.status_code == 403 and res.json == {"error": "Forbidden"}
    assert AuthSession.select().count() == 0


def test_deleted_app_is_403(auth, world, sync):
    with unit_of_work():
        catalog.delete_app(world.user, world.app_id)
    sync()
    res = auth()
    assert res.status_code == 403 and res.json == {"error": "Forbidden"}


def test_a_process_without_snapshots_answers_500_failed_to_fetch(settings, world):
    """The spec's 500 for a lookup that could not be made: a read process that holds no snapshots yet.
    Its Redis does not answer: with the suite's, the cache's sync thread (started by the lifespan Falcon's test
    client runs per request) sometimes loaded other tests' snapshots first, and the answer was a 401."""
    nowhere = "redis://127.0.0.1:1/0"
    cold = testing.TestClient(
        create_read_app(
            settings.model_copy(update={"redis_url": nowhere}), SnapshotCache(nowhere, codecs=part_codecs())
        )
    )
    res = post(cold, world.client_token, GOOD)
    assert res.status_code == 500 and res.json == {"error": "Failed to fetch user data"}


def test_with_redis_down_events_are_held_up_to_the_bound_then_500(settings, world, cache, sync, redis_conn):
    """Redis down: a process keeps events in memory up to GATEHOUSE_AUTH_BUFFER_EVENTS and answers 200; past
    that nothing can be kept and the spec's 500 says so. Held events go out once Redis answers."""
    sync()
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0", "auth_buffer_events": 2})
    reader = testing.TestClient(create_read_app(down, cache))
    assert [post(reader, world.client_token, GOOD).status_code for _ in range(3)] == [200, 200, 500]
    res = post(reader, world.client_token, GOOD)
    assert res.json == {"error": "Failed to update user version data"}
    recorder = reader.app.direct[("POST", "/v2/authenticate")][0].__self__.recorder
    assert recorder.in_memory == 2 and redis_conn.xlen(auth_events.STREAM) == 0
    recorder.redis_url = settings.redis_url  # Redis is back

    async def keep() -> None:
        recorder._down_until = 0.0
        recorder._redis = None
        await recorder._keep_once()

    asyncio.run(keep())
    assert drain(redis_conn) == 2 and AuthSession.select().count() == 2


def test_nul_in_a_field_is_400_and_nothing_written(auth):
    res = auth(GOOD | {"environment": "prod\x00"})
    assert res.status_code == 400 and res.json == {"error": "strings must not contain NUL characters"}
    assert AuthSession.select().count() == 0 and ClientUser.select().count() == 0


def test_oversized_fields_and_bodies_are_refused(auth, settings):
    res = auth(GOOD | {"user_id": "u" * 300})
    assert res.status_code == 400 and res.json == {"error": "user_id must be at most 255 characters"}
    res = auth(raw=b'{"user_id": "' + b"u" * settings.max_body_bytes + b'"}')
    assert res.status_code == 413 and res.json == {"error": "request body too large"}


def test_purge_drops_whole_months_past_the_retention(world):
    """PostgreSQL: a month's partition goes once all its rows are past the retention (no row-by-row
    DELETE); the month holding the cutoff stays whole; the next months' partitions are made."""
    now = utcnow()
    cutoff = now - dt.timedelta(days=365)
    old = now - dt.timedelta(days=400)
    edge = dt.datetime.combine(partitions.month_of(cutoff), dt.time())  # past the cutoff, in its month
    partitions.ensure_months("auth_session", old, now)
    for user, at in (("old", old), ("edge", edge), ("new", now)):
        AuthSession.create(app=world.app, user_id=user, platform="ios", app_version="1", created_at=at)
    dropped = purge_sessions(365)["dropped"]
    assert partitions.partition("auth_session", partitions.month_of(old)) in dropped
    assert partitions.partition("auth_session", partitions.month_of(edge)) not in dropped
    assert sorted(s.user_id for s in AuthSession.select()) == ["edge", "new"]
    ahead = partitions.next_month(partitions.next_month(partitions.month_of(now)))
    assert partitions.partition("auth_session", ahead) in {
        name for _, name in partitions.months("auth_session")
    }
    in_default = dt.datetime(1990, 1, 1)  # no month holds it: the default partition, deleted when past
    AuthSession.create(
        app=world.app, user_id="ancient", platform="ios", app_version="1", created_at=in_default
    )
    purge_sessions(365)
    assert sorted(s.user_id for s in AuthSession.select()) == ["edge", "new"]


def test_a_batch_delivered_twice_counts_once_and_an_older_one_never_wins(world):
    now = dt.datetime.now(dt.UTC).timestamp()
    newer = [AuthEvent(world.app_id, "u1", "ios", "3.0.0", None, now)]
    older = [AuthEvent(world.app_id, "u1", "ios", "2.0.0", "staging", now - 60)]
    with unit_of_work():
        assert apply_authentications([("batch-a", newer), ("batch-a", newer)]) == 1  # twice in one read
        assert apply_authentications([("batch-a", newer)]) == 0
        assert apply_authentications([("batch-b", older)]) == 1  # re-sent late, after a newer one
    assert AuthSession.select().count() == 2
    user = ClientUser.get()
    assert (user.app_version, user.environment) == ("3.0.0", None)


def test_a_batch_redis_lost_is_sent_again_and_counted_once(settings, world, redis_conn):
    """Redis lost the stream (a SIGKILL without persistence), or lost only the worker's confirmation: the
    read process sends the batch again under its own id after the resend time, and it counts once."""
    recorder = AuthRecorder(settings.redis_url, resend_after=0.2)

    async def scenario() -> None:
        assert await recorder.record(AuthEvent(world.app_id, "lost", "ios", "1.0.0", None, 1.0))
        redis_conn.delete(auth_events.STREAM)  # the stream went with Redis
        await asyncio.sleep(0.6)
        await recorder._keep_once()  # not applied: sent again
        assert redis_conn.xlen(auth_events.STREAM) == 1
        drain(redis_conn)
        assert await recorder.record(AuthEvent(world.app_id, "kept", "ios", "1.0.0", None, 2.0))
        drain(redis_conn)  # applied; then the confirmations are lost
        redis_conn.delete(auth_events.APPLIED)
        await asyncio.sleep(0.6)
        await recorder._keep_once()
        drain(redis_conn)  # both batches again: nothing new
        await asyncio.sleep(0.6)
        await recorder._keep_once()

    asyncio.run(scenario())
    assert sorted(s.user_id for s in AuthSession.select()) == ["kept", "lost"]
    assert recorder.in_memory == 0


@pytest.mark.parametrize("route", ["sessions", "users"])
def test_the_admin_lists_page_by_key_without_counting(api, world, route):
    """?after= pages by key: no count (total null), the same cost on any page; each page's next_cursor
    leads to the next, and the pages hold every row once, newest first."""
    start = utcnow() - dt.timedelta(hours=1)
    for n in range(7):
        at = start + dt.timedelta(minutes=n)
        AuthSession.create(app=world.app, user_id=f"u{n}", platform="ios", app_version="1", created_at=at)
        ClientUser.create(
            app=world.app, user_id=f"u{n}", platform="ios", app_version="1", first_seen_at=at, last_seen_at=at
        )
    url = f"/admin/v1/apps/{world.app_id}/{route}"
    seen, after = [], ""
    while after is not None:
        res = api.simulate_get(url, params={"after": after, "per_page": 3}, headers=world.auth)
        assert res.status_code == 200 and res.json["total"] is None
        seen += [item["user_id"] for item in res.json["items"]]
        after = res.json["next_cursor"]
    assert seen == [f"u{n}" for n in reversed(range(7))]
    numbered = api.simulate_get(url, params={"per_page": 3}, headers=world.auth).json
    assert numbered["total"] == 7 and numbered["next_cursor"]
    res = api.simulate_get(url, params={"after": "not-a-cursor"}, headers=world.auth)
    assert res.status_code == 400 and res.json == {"error": "cursor is not valid"}


def test_the_monthly_migration_keeps_every_session_and_its_ids(tmp_path):
    """0015 on a database holding sessions (as an upgraded deployment has them): every row lands in its
    month's partition, ids go on from where they were, and a new row finds its partition."""
    import shutil

    from playhouse.db_url import connect
    from playhouse.migrations import Runner

    from loadtest.processes import recreate_database
    from store.migrate import MIGRATIONS_DIR
    from tests import lanes

    url = lanes.pg("gatehouse_monthly")
    recreate_database(url)
    database = connect(url.replace("postgresql://", "postgres://"))
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("00*.py")):
        if path.name < "0015":
            shutil.copy(path, before / path.name)
    try:
        Runner(database, directory=str(before)).up()
        database.execute_sql(
            "INSERT INTO team (name, subscription_status, created_at) VALUES ('T', 'active', now());"
            "INSERT INTO app (team_id, title, description, package_name, published, public_id, created_at) "
            "VALUES (1, 'A', '', 'com.example.m', false, 'app_m', now())"
        )
        for days in (70, 40, 1):
            database.execute_sql(
                "INSERT INTO auth_session (app_id, user_id, platform, app_version, created_at) "
                "VALUES (1, %s, 'ios', '1', now() - make_interval(days => %s))",
                (f"d{days}", days),
            )
        Runner(database, directory=str(MIGRATIONS_DIR)).up()
        rows = database.execute_sql(
            "SELECT id, user_id, tableoid::regclass::text FROM auth_session ORDER BY id"
        )
        rows = rows.fetchall()
        assert [r[1] for r in rows] == ["d70", "d40", "d1"] and [r[0] for r in rows] == [1, 2, 3]
        assert all(r[2].startswith("auth_session_y") for r in rows)
        database.execute_sql(
            "INSERT INTO auth_session (app_id, user_id, platform, app_version, created_at) "
            "VALUES (1, 'after', 'ios', '1', now())"
        )
        assert database.execute_sql("SELECT max(id) FROM auth_session").fetchone()[0] == 4
    finally:
        database.close()


def test_a_stopping_process_sends_what_it_holds_or_counts_it_lost(settings, world, redis_conn):
    """At shutdown the recorder tries once more to send the events it held while Redis was down; what it
    still cannot send is counted in gatehouse_dropped_events_total{kind="authentication"} and logged."""
    from api.metrics import DROPPED

    def dropped() -> float:
        return DROPPED.labels("authentication")._value.get()

    async def hold_then_stop(url_at_stop: str) -> None:
        recorder = AuthRecorder("redis://127.0.0.1:1/0")
        assert await recorder.record(AuthEvent(world.app_id, "held", "ios", "1.0.0", None, 1.0))
        recorder.redis_url, recorder._redis = url_at_stop, None
        await recorder.close()

    before = dropped()
    asyncio.run(hold_then_stop("redis://127.0.0.1:1/0"))  # still down: lost, and counted
    assert dropped() == before + 1 and redis_conn.xlen(auth_events.STREAM) == 0
    asyncio.run(hold_then_stop(settings.redis_url))  # back: sent at the stop
    assert dropped() == before + 1 and redis_conn.xlen(auth_events.STREAM) == 1
