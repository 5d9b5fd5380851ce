"""POST /v2/authenticate: checks and texts in the spec's order, one transaction, latest version upsert."""

from __future__ import annotations

import datetime as dt
import time

import orjson
import pytest

from loadtest.processes import wait_until
from store import accounts, catalog, client_tokens
from store.db import db, unit_of_work
from store.ingest import purge_sessions
from store.models import AuthSession, ClientUser
from tests.helpers import b64

GOOD = {"user_id": "user_12345", "platform": "ios", "app_version": "2.5.0", "environment": "production"}


def post(api, token, body, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["x-api-token"] = token
    return api.simulate_post(
        "/v2/authenticate", body=raw if raw is not None else orjson.dumps(body), headers=headers
    )


def test_success_echoes_and_stores(api, world):
    res = post(api, b64(world.client_token), GOOD)
    assert res.status_code == 200
    assert res.json == {"success": True, "user_id": "user_12345", "platform": "ios", "app_version": "2.5.0"}
    session = AuthSession.get()
    assert (session.user_id, session.platform, session.app_version, session.environment) == (
        "user_12345",
        "ios",
        "2.5.0",
        "production",
    )
    latest = ClientUser.get()
    assert latest.app_version == "2.5.0" and latest.first_seen_at == latest.last_seen_at


def test_latest_version_per_platform_first_seen_kept(api, world):
    post(api, world.client_token, GOOD)
    first = ClientUser.get(ClientUser.platform == "ios").first_seen_at
    post(api, world.client_token, GOOD | {"app_version": "2.6.0", "environment": "staging"})
    post(api, world.client_token, GOOD | {"platform": "android", "app_version": "1.0.0"})
    ios = ClientUser.get(ClientUser.platform == "ios")
    assert ios.app_version == "2.6.0" and ios.environment == "staging"
    assert ios.first_seen_at == first and ios.last_seen_at >= first
    assert ClientUser.select().count() == 2 and AuthSession.select().count() == 3


def test_environment_is_optional(api, world):
    body = {k: v for k, v in GOOD.items() if k != "environment"}
    assert post(api, world.client_token, body).status_code == 200
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
        ([1, 2], "Invalid request body"),
    ],
)
def test_validation_texts_in_order(api, world, body, error):
    raw = b"{not json" if body is None else None
    res = post(api, world.client_token, body, raw)
    assert res.status_code == 400 and res.json == {"error": error}
    assert AuthSession.select().count() == 0


def test_auth_errors(api, world, root):
    assert post(api, None, GOOD).status_code == 401
    assert post(api, "ghc_nope", GOOD).json == {"error": "Unauthorized"}
    with unit_of_work():
        accounts.update_team(root.user, world.team.id, {"subscription_status": "expired"})
    assert post(api, world.client_token, GOOD).status_code == 402
    with unit_of_work():
        accounts.delete_team(world.user, world.team.id)
    res = post(api, world.client_token, GOOD)
    assert res.status_code == 403 and res.json == {"error": "Forbidden"}


def test_deleted_app_is_403(api, world):
    with unit_of_work():
        catalog.delete_app(world.user, world.app_id)
    assert post(api, world.client_token, GOOD).status_code == 403


def test_write_failure_is_500_with_the_spec_text(api, world):
    # A constraint the database enforces makes the write fail after every check passed. (The row
    # counts after a failure are checked in tests/test_faults.py, where PostgreSQL really goes away.)
    with db.atomic() as savepoint:
        db.execute_sql("ALTER TABLE auth_session ADD CONSTRAINT refuse_boom CHECK (user_id <> 'boom')")
        res = post(api, world.client_token, GOOD | {"user_id": "boom"})
        savepoint.rollback()
    assert res.status_code == 500 and res.json == {"error": "Failed to update user version data"}


def test_nul_in_a_field_is_400_and_nothing_written(api, world):
    res = post(api, world.client_token, GOOD | {"environment": "prod\x00"})
    assert res.status_code == 400 and res.json == {"error": "strings must not contain NUL characters"}
    assert AuthSession.select().count() == 0 and ClientUser.select().count() == 0


def test_oversized_fields_are_400(api, world):
    res = post(api, world.client_token, GOOD | {"user_id": "u" * 300})
    assert res.status_code == 400 and res.json == {"error": "user_id must be at most 255 characters"}


def test_purge_keeps_365_days(world):
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=366)
    AuthSession.create(app=world.app, user_id="a", platform="ios", app_version="1", created_at=old)
    AuthSession.create(app=world.app, user_id="b", platform="ios", app_version="1")
    assert purge_sessions(365) == 1
    assert [s.user_id for s in AuthSession.select()] == ["b"]


def test_read_failure_is_500_failed_to_fetch(api, world):
    # DDL is transactional in PostgreSQL: the test's rollback restores the table.
    from store.db import db

    db.execute_sql("ALTER TABLE client_token RENAME TO client_token_away")
    res = post(api, world.client_token, GOOD)
    assert res.status_code == 500 and res.json == {"error": "Failed to fetch user data"}


def test_a_cached_token_is_refused_within_the_recheck_time_once_revoked(api, world, redis_conn):
    assert post(api, world.client_token, GOOD).status_code == 200  # now cached in this process
    token_id = client_tokens.list_client_tokens(world.user, world.app_id, 1, 50).rows[0].id
    with unit_of_work():
        client_tokens.delete_client_token(world.user, world.app_id, token_id)
    started = time.monotonic()
    wait_until(lambda: post(api, world.client_token, GOOD).status_code == 401, timeout=2, interval=0.005)
    assert time.monotonic() - started < 1  # 50 ms recheck; the bound here leaves room for a loaded machine
    assert post(api, world.client_token, GOOD).json == {"error": "Unauthorized"}
    assert redis_conn.get("gh:write:gen") is not None


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda w, root: accounts.update_team(root.user, w.team.id, {"subscription_status": "expired"}), 402),
        (lambda w, root: catalog.delete_app(w.user, w.app_id), 403),
    ],
)
def test_a_cached_token_sees_team_and_app_changes(api, world, root, change, status):
    assert post(api, world.client_token, GOOD).status_code == 200
    with unit_of_work():
        change(world, root)
    wait_until(lambda: post(api, world.client_token, GOOD).status_code == status, timeout=2, interval=0.005)


def test_without_redis_every_request_is_looked_up(world, settings, redis_conn):
    import redis
    from falcon import testing

    from api.write.app import create_write_app

    down = redis.Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        api = testing.TestClient(create_write_app(settings, down))
        assert post(api, world.client_token, GOOD).status_code == 200
        with unit_of_work():  # the rebuild cannot be enqueued either; the outbox sweep will heal it
            catalog.delete_app(world.user, world.app_id)
        assert post(api, world.client_token, GOOD).status_code == 403
    finally:
        create_write_app(settings, redis_conn)  # the after-commit hook is process-wide: put the real one back


def test_a_generation_never_repeats_after_redis_lost_its_keys(redis_conn):
    """The write generation was a counter: after a Redis restart or flush it began again at 1, equal to what
    a process had cached, and a token's app deleted after the flush kept answering 200 for max_age (the
    suite caught it once users were created fast enough to start the next test within the recheck)."""
    import time

    from api.write.tokencache import ClientTokenCache
    from worker.queue import announce_write

    cache = ClientTokenCache(redis_conn, recheck=0.01)
    announce_write(redis_conn)
    assert cache.app_id("digest", lambda d: 1) == 1
    redis_conn.flushdb()
    announce_write(redis_conn)  # a change after the flush
    time.sleep(0.02)
    assert cache.app_id("digest", lambda d: 2) == 2
