"""AppCockpit client checks over HTTP: every row of the spec's tables and behaviour bullets."""

from __future__ import annotations

import hashlib

import pytest

from api.dialects.registry import part_codecs
from store import accounts, catalog, client_tokens, maintenance, rules
from store.db import unit_of_work
from tests.helpers import b64, check

VERSION_PATHS = ["/versions", "/v1/versions", "/v2/versions"]
MAINTENANCE_PATHS = ["/maintenance", "/v1/maintenance", "/v2/maintenance"]


def q(world, **over):
    params = {"app_id": world.app_id, "app_version": "2.5.0", "platform": "ios", "environment": "production"}
    params.update(over)
    return params


def add_rule(world, **fields):
    base = {"version": "2.5.0", "platform": "ios", "environment": "production", "update_message": "Update!"}
    with unit_of_work():
        return rules.create_version_rule(world.user, world.app_id, base | fields)


def add_minimum(world, **fields):
    base = {
        "minimum_version": "2.0.0",
        "platform": "ios",
        "environment": "production",
        "force_update": True,
        "update_message": "Too old",
    }
    with unit_of_work():
        return rules.create_minimum_rule(world.user, world.app_id, base | fields)


def test_health_needs_no_token(reader):
    res = reader.simulate_get("/health")
    assert res.status_code == 200 and res.content == b""


@pytest.mark.parametrize("path", VERSION_PATHS)
def test_exact_match_v1_shape(reader, world, sync, path):
    add_rule(world, force_update=True, update_messages={"en": "Update!", "de": "Aktualisieren!"})
    sync()
    res = check(reader, path, b64(world.client_token), **q(world))
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/json"
    if path == "/v2/versions":
        assert res.json == {
            "version": "2.5.0",
            "platform": "ios",
            "force_update": True,
            "default_update_message": "Update!",
            "update_messages": {"de": "Aktualisieren!", "en": "Update!"},
        }
    else:
        assert res.json == {
            "version": "2.5.0",
            "platform": "ios",
            "force_update": True,
            "update_message": "Update!",
        }
    assert res.headers["etag"] == '"' + hashlib.md5(res.content).hexdigest() + '"'


def test_v2_without_localized_messages_is_null(reader, world, sync):
    add_rule(world, update_message=None)
    sync()
    res = check(reader, "/v2/versions", world.client_token, **q(world))
    assert res.json["default_update_message"] is None and res.json["update_messages"] is None


def test_raw_and_base64_tokens_both_work(reader, world, sync):
    add_rule(world)
    sync()
    assert check(reader, "/v1/versions", world.client_token, **q(world)).status_code == 200
    assert check(reader, "/v1/versions", b64(world.client_token), **q(world)).status_code == 200


def test_disabled_exact_rule_is_ignored(reader, world, sync):
    add_rule(world, status=False)
    sync()
    res = check(reader, "/v1/versions", world.client_token, **q(world))
    assert res.status_code == 404 and res.json == {"error": "Version not found"}


@pytest.mark.parametrize("client", ["2.5", "v2.5.0", "2.5.0"])
def test_equivalent_version_spellings_match(reader, world, sync, client):
    add_rule(world)
    sync()
    res = check(reader, "/v1/versions", world.client_token, **q(world, app_version=client))
    assert res.status_code == 200 and res.json["version"] == "2.5.0"


def test_exact_match_is_scoped_to_platform_and_environment(reader, world, sync):
    add_rule(world)
    sync()
    for over in ({"platform": "android"}, {"environment": "staging"}):
        assert check(reader, "/v1/versions", world.client_token, **q(world, **over)).status_code == 404


@pytest.mark.parametrize(
    "client,expected",
    [("1.9.9", 200), ("2.0.0-beta.1", 200), ("2.0.0", 404), ("2.1", 404), ("10.0", 404), ("1.10.0", 200)],
)
def test_minimum_rule_only_when_client_is_older(reader, world, sync, client, expected):
    add_minimum(world)
    sync()
    res = check(reader, "/v1/versions", world.client_token, **q(world, app_version=client))
    assert res.status_code == expected
    if expected == 200:
        assert res.json == {
            "version": "2.0.0",
            "platform": "ios",
            "force_update": True,
            "update_message": "Too old",
        }
    else:
        assert res.json == {"error": "Version not found"}


def test_semver_forms_packaging_rejects_compare(reader, world, sync):
    add_minimum(world, minimum_version="2.5.0-beta.1.hotfix")
    sync()
    assert (
        check(reader, "/v1/versions", world.client_token, **q(world, app_version="2.5.0-beta.1")).status_code
        == 200
    )
    assert (
        check(reader, "/v1/versions", world.client_token, **q(world, app_version="2.5.0")).status_code == 404
    )


def test_exact_match_wins_over_minimum(reader, world, sync):
    add_minimum(world, minimum_version="3.0.0")
    add_rule(world, version="2.5.0", update_message="exact")
    sync()
    res = check(reader, "/v1/versions", world.client_token, **q(world))
    assert res.json["update_message"] == "exact"


def test_minimum_v2_messages(reader, world, sync):
    add_minimum(world, update_messages={"en": "Too old", "fr": "Trop vieux"})
    sync()
    res = check(reader, "/v2/versions", world.client_token, **q(world, app_version="1.0"))
    assert res.json["update_messages"] == {"en": "Too old", "fr": "Trop vieux"}
    assert res.json["default_update_message"] == "Too old"


@pytest.mark.parametrize("path", VERSION_PATHS)
@pytest.mark.parametrize("missing", ["app_id", "app_version", "platform", "environment"])
def test_versions_required_parameters(reader, world, sync, path, missing):
    sync()
    res = check(reader, path, world.client_token, **q(world, **{missing: None}))
    assert res.status_code == 400 and res.json == {"error": f"{missing} is required"}


def test_parameters_are_checked_in_the_documented_order(reader, world, sync):
    sync()
    res = check(reader, "/v1/versions", world.client_token, environment="production")
    assert res.json == {"error": "app_id is required"}


def test_unparseable_version_is_400(reader, world, sync):
    sync()
    res = check(reader, "/v1/versions", world.client_token, **q(world, app_version="banana"))
    assert res.status_code == 400 and "app_version" in res.json["error"]


@pytest.mark.parametrize("path", VERSION_PATHS + MAINTENANCE_PATHS)
def test_app_id_mismatch_is_403(reader, world, sync, path):
    sync()
    res = check(reader, path, world.client_token, **q(world, app_id="app_someoneelse"))
    assert res.status_code == 403 and res.json == {"error": "Forbidden"}


@pytest.mark.parametrize("path", VERSION_PATHS + MAINTENANCE_PATHS)
@pytest.mark.parametrize("token", [None, "", "ghc_unknown", "bm90IGEgdG9rZW4=", "%%%"])
def test_missing_or_invalid_token_is_401(reader, world, sync, path, token):
    sync()
    res = check(reader, path, token, **q(world))
    assert res.status_code == 401 and res.json == {"error": "Unauthorized"}
    assert res.headers["cache-control"] == "no-store"


def test_expired_subscription_is_402(reader, world, sync, root):
    with unit_of_work():
        accounts.update_team(root.user, world.team.id, {"subscription_status": "expired"})
    sync()
    for path in ("/v1/versions", "/v1/maintenance"):
        res = check(reader, path, world.client_token, **q(world))
        assert res.status_code == 402 and res.json == {"error": "Subscription expired"}


def test_deleted_team_is_403(reader, world, sync):
    with unit_of_work():
        accounts.delete_team(world.user, world.team.id)
    sync()
    for path in ("/v2/versions", "/v2/maintenance"):
        res = check(reader, path, world.client_token, **q(world))
        assert res.status_code == 403 and res.json == {"error": "Forbidden"}


def test_deleted_app_maintenance_is_404_app_not_found(reader, world, sync):
    add_rule(world)
    with unit_of_work():
        catalog.delete_app(world.user, world.app_id)
    sync()
    res = check(reader, "/v1/maintenance", world.client_token, app_id=world.app_id, environment="production")
    assert res.status_code == 404 and res.json == {"error": "App not found"}
    res = check(reader, "/v1/versions", world.client_token, **q(world))
    assert res.status_code == 404 and res.json == {"error": "Version not found"}


def test_revoked_client_token_is_401(reader, world, sync):
    sync()
    tok = client_tokens.list_client_tokens(world.user, world.app_id, 1, 50).rows[0]
    with unit_of_work():
        client_tokens.delete_client_token(world.user, world.app_id, tok.id)
    sync()
    assert check(reader, "/v1/maintenance", world.client_token, **q(world)).status_code == 401


@pytest.mark.parametrize("path", MAINTENANCE_PATHS)
def test_maintenance_inactive_by_default(reader, world, sync, path):
    sync()
    res = check(reader, path, world.client_token, app_id=world.app_id, environment="production")
    assert res.status_code == 200
    assert res.json == {"active": False, "title": None, "description": None, "links": []}


def test_maintenance_active_with_ordered_links(reader, world, sync):
    links = [
        {"title": "Status Page", "url": "https://status.example.com"},
        {"title": "Blog", "url": "https://b.example"},
    ]
    with unit_of_work():
        maintenance.set_maintenance(
            world.user,
            world.app_id,
            "production",
            {"active": True, "title": "Scheduled Maintenance", "description": "Back soon", "links": links},
        )
    sync()
    res = check(reader, "/v2/maintenance", world.client_token, app_id=world.app_id, environment="production")
    assert res.json == {
        "active": True,
        "title": "Scheduled Maintenance",
        "description": "Back soon",
        "links": links,
    }
    staging = check(reader, "/v2/maintenance", world.client_token, app_id=world.app_id, environment="staging")
    assert staging.json["active"] is False


@pytest.mark.parametrize("missing", ["app_id", "environment"])
def test_maintenance_required_parameters(reader, world, sync, missing):
    sync()
    params = {"app_id": world.app_id, "environment": "production", missing: None}
    res = check(reader, "/v1/maintenance", world.client_token, **params)
    assert res.status_code == 400 and res.json == {"error": f"{missing} is required"}


def test_if_none_match_gets_304_without_body(reader, world, sync):
    add_rule(world)
    sync()
    first = check(reader, "/v1/versions", world.client_token, **q(world))
    again = check(
        reader, "/v1/versions", world.client_token, {"If-None-Match": first.headers["etag"]}, **q(world)
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    weak = check(
        reader,
        "/v1/versions",
        world.client_token,
        {"If-None-Match": 'W/"x", W/' + first.headers["etag"]},
        **q(world),
    )
    assert weak.status_code == 304
    other = check(reader, "/v1/versions", world.client_token, {"If-None-Match": '"nope"'}, **q(world))
    assert other.status_code == 200


def test_404_answer_is_cacheable_and_revalidates(reader, world, sync):
    sync()
    first = check(reader, "/v1/versions", world.client_token, **q(world))
    assert first.status_code == 404
    assert "s-maxage=5" in first.headers["cache-control"] and first.headers["vary"] == "x-api-token"
    again = check(
        reader, "/v1/versions", world.client_token, {"If-None-Match": first.headers["etag"]}, **q(world)
    )
    assert again.status_code == 304


def test_changed_rule_changes_etag_unchanged_keeps_it(reader, world, sync, redis_conn):
    rule = add_rule(world)
    sync()
    before = check(reader, "/v1/versions", world.client_token, **q(world))
    with unit_of_work():
        rules.update_version_rule(world.user, world.app_id, rule.id, {"update_message": "New text"})
    sync()
    after = check(reader, "/v1/versions", world.client_token, **q(world))
    assert after.json["update_message"] == "New text" and after.headers["etag"] != before.headers["etag"]
    with unit_of_work():
        rules.update_version_rule(world.user, world.app_id, rule.id, {"force_update": False})
    sync()
    same = check(reader, "/v1/versions", world.client_token, **q(world))
    assert same.headers["etag"] == after.headers["etag"]


def test_serves_last_snapshot_when_redis_loses_it(reader, world, sync, redis_conn, cache):
    add_rule(world)
    sync()
    redis_conn.flushdb()
    cache.refresh(redis_conn)
    assert check(reader, "/v1/versions", world.client_token, **q(world)).status_code == 200


def test_unknown_route_and_method_use_the_error_format(reader):
    res = reader.simulate_get("/v3/versions")
    assert res.status_code == 404 and res.json == {"error": "Not Found"}
    assert res.headers["etag"] == '"' + hashlib.md5(res.content).hexdigest() + '"'
    res = reader.simulate_post("/v1/versions")
    assert res.status_code == 405 and res.json == {"error": "Method Not Allowed"}


def test_keeps_serving_while_redis_is_unreachable(settings, world, sync, cache, redis_conn):
    """The sync thread loses Redis: requests are still answered from memory."""
    import asyncio

    from falcon import testing

    from api.read.app import create_read_app
    from api.read.cache import SnapshotCache

    add_rule(world)
    sync()
    offline = SnapshotCache("redis://127.0.0.1:1/0", poll_interval=0.05, codecs=part_codecs())
    offline.state = cache.state
    offline.start()

    async def serve() -> None:
        # One lifespan for every request, as in a server process: the test client's per-request lifespan
        # stopped the sync thread after the first request, and the check below raced its exit.
        async with testing.ASGIConductor(create_read_app(settings, offline)) as conductor:
            for _ in range(3):
                res = await conductor.simulate_get(
                    "/v1/versions", headers={"x-api-token": world.client_token}, params=q(world)
                )
                assert res.status_code == 200 and res.json["version"] == "2.5.0"
            await asyncio.sleep(1.5)  # the thread has failed to connect and tried again
            assert offline._thread.is_alive() and not offline.redis_ok

    try:
        asyncio.run(serve())
    finally:
        offline.stop()


def test_sync_thread_follows_pubsub(settings, world, sync, redis_conn):
    """The real background thread picks up a published change without being told."""
    import time

    from api.read.cache import SnapshotCache

    sync()
    live = SnapshotCache(settings.redis_url, poll_interval=0.05, codecs=part_codecs())
    live.start()
    try:
        assert live.loaded.wait(5)
        add_rule(world, version="7.0.0")
        sync()  # the worker publishes; the thread must load it on its own
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
            "7~1" in k for k in live.state.apps[world.app_id].part("appcockpit").exact
        ):
            time.sleep(0.01)
        assert "ios|production|7~1" in live.state.apps[world.app_id].part("appcockpit").exact
    finally:
        live.stop()


def test_changes_that_arrive_by_message_cost_no_full_compare(settings, world, sync, redis_conn):
    """Each change message names its generation: a read process that saw them all compares nothing; a
    generation it never heard of (a lost message) or an older release's bare message makes it compare
    every app's tag once, and nothing is missed."""
    import time

    from api.metrics import SNAPSHOT_COMPARES
    from api.read.cache import SnapshotCache
    from store.snapshot_format import CHANNEL, GEN_KEY
    from store.versions import canonical

    def visible(version: str) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if (
                f"ios|production|{canonical(version)}"
                in live.state.apps[world.app_id].part("appcockpit").exact
            ):
                return True
            time.sleep(0.01)
        return False

    sync()
    live = SnapshotCache(settings.redis_url, poll_interval=0.05, codecs=part_codecs())
    live.start()
    try:
        assert live.loaded.wait(5)
        before = SNAPSHOT_COMPARES._value.get()
        for n in range(3):
            add_rule(world, version=f"7.{n}.0")
            sync()
            assert visible(f"7.{n}.0")
        time.sleep(0.3)  # idle polls: the generation is the one the messages named
        assert SNAPSHOT_COMPARES._value.get() == before
        redis_conn.incr(GEN_KEY)  # a change whose message was lost
        add_rule(world, version="8.0.0")
        sync()
        assert visible("8.0.0")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and SNAPSHOT_COMPARES._value.get() == before:
            time.sleep(0.01)
        assert SNAPSHOT_COMPARES._value.get() == before + 1
        redis_conn.publish(CHANNEL, world.app_id)  # an older release's message: no generation
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and SNAPSHOT_COMPARES._value.get() == before + 1:
            redis_conn.incr(GEN_KEY)  # and what it announced moved the generation
            time.sleep(0.05)
        assert SNAPSHOT_COMPARES._value.get() >= before + 2
    finally:
        live.stop()


def test_snapshot_documents_are_stored_compressed_and_plain_ones_still_load(world, sync, redis_conn):
    import orjson

    from api.read.cache import AppView, HotSet
    from store.snapshot_format import app_key, decode_document

    add_rule(world)
    sync()
    raw = redis_conn.get(app_key(world.app_id))
    doc = decode_document(raw)
    plain = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    assert raw[:1] != b"{" and len(raw) < len(plain) and doc["app_id"] == world.app_id
    # A document written before compression (plain JSON) is read the same way.
    hot = HotSet(None, part_codecs())
    answers = [AppView.from_document(d, hot).part("appcockpit").exact for d in (plain, raw)]
    assert answers[0] == answers[1] and answers[0]


def test_a_read_process_keeps_only_its_hot_apps_decoded_and_answers_every_app(
    settings, root, sync, redis_conn
):
    """Ten apps of 12 rules each under a budget of 6 KB: a few are decoded at a time, and every app still
    answers its own rules, however often the set turns over; answers identical across apps are held once
    (and leave the shared table with the last app holding them); a changed hot app is decoded by the sync
    thread, not by the request that next asks."""
    from falcon import testing

    from api.read.app import create_read_app
    from api.read.cache import SnapshotCache
    from store.bootstrap import load_scale
    from worker.jobs import rebuild_all_snapshots

    apps = load_scale(root.user, 10, 1, batch=10)
    rebuild_all_snapshots()
    sync()
    small = SnapshotCache(settings.redis_url, hot_bytes=6_000, codecs=part_codecs())
    small.refresh(redis_conn)
    assert small.hot.weight == 0  # indexed from the documents' heads: nothing decoded yet
    reader = testing.TestClient(create_read_app(settings, small))
    from api.metrics import SNAPSHOT_DECODES

    def decodes() -> float:
        return next(x.value for x in SNAPSHOT_DECODES.collect()[0].samples if x.name.endswith("_total"))

    before = decodes()
    for turn in range(2):
        for pid, token in apps:
            for version, status in (("1.0.0", 200), ("1.0.1", 200), ("9.9.9", 404)):
                # A cache-buster per turn, as clients add them: the read process remembers answers per
                # request shape, and the second turn must reach the hot set again.
                res = check(reader, "/v1/versions", token, app_id=pid, app_version=version,
                            platform="android", environment="staging", _=str(turn))  # fmt: skip
                assert res.status_code == status, (pid, version, res.text)
                if status == 200:
                    assert res.json["platform"] == "android"
            assert 1 <= len(small.hot) < len(apps) and (small.hot.weight <= 6_000 or len(small.hot) == 1)
    decoded = [pid for pid, _ in apps if small.state.apps[pid].hot]
    assert 1 <= len(decoded) < len(apps) and len(decoded) == len(small.hot)
    assert decodes() - before > len(apps)  # the set turned over: some apps were decoded twice
    # Every app has the same rules (one version, two platforms): two exact answers, two minimum ones.
    shared = small.hot.codec("appcockpit").shared
    assert len(shared.exact) == 2 and len(shared.minimum) == 2
    # The same rule in two apps (the scale seed repeats its versions and messages): one body in memory.
    a, b = (small.state.apps[pid] for pid, _ in apps[:2])
    key = "android|staging|1~1"
    ea, eb = a.part("appcockpit").exact, b.part("appcockpit").exact
    assert ea[key][0] == eb[key][0] and ea[key][0] is eb[key][0]
    # A rule added to an app that is hot: the refresh decodes its new document before swapping it in.
    hot_pid = next(pid for pid, _ in apps if small.state.apps[pid].hot)
    from store import rules
    from store.db import unit_of_work

    with unit_of_work():
        rules.create_version_rule(root.user, hot_pid, {"version": "4.0.0", "platform": "ios",
                                                       "environment": "production"})  # fmt: skip
    sync()
    small.refresh(redis_conn)
    view = small.state.apps[hot_pid]
    assert view.hot and "ios|production|4~1" in view._parts.by_name["appcockpit"].exact
    # Evicting every app empties the shared table: it keeps no answer alive on its own.
    for pid, _ in apps:
        small.hot.drop(small.state.apps[pid])
    assert small.hot.weight == 0 and shared.exact == {} and shared.minimum == {}


def test_sync_thread_reads_only_the_named_app_and_catches_a_lost_message(settings, world, sync, redis_conn):
    """A change message makes the thread read that app alone; a change whose message was lost (published
    while the thread was between subscriptions, say) is found by the full compare within seconds."""
    import time

    from api.read.cache import SnapshotCache
    from store.snapshot_format import APP_KEY, ETAGS_KEY, GEN_KEY, HEADS_KEY

    sync()
    live = SnapshotCache(settings.redis_url, poll_interval=0.05, codecs=part_codecs())
    calls: list = []
    refresh = live.refresh
    live.refresh = lambda r, only=None: calls.append(only) or refresh(r, only)
    live.start()
    try:
        assert live.loaded.wait(5)
        add_rule(world, version="7.0.0")
        sync()
        deadline = time.monotonic() + 5
        while (
            time.monotonic() < deadline
            and "ios|production|7~1" not in live.state.apps[world.app_id].part("appcockpit").exact
        ):
            time.sleep(0.01)
        assert "ios|production|7~1" in live.state.apps[world.app_id].part("appcockpit").exact
        assert {world.app_id} in calls  # the message's app, read alone
        # The next change reaches Redis without its message: the document, its ETag, the generation.
        add_rule(world, version="8.0.0")
        from api.dialects.registry import compose_snapshot
        from store import snapshots
        from store.snapshot_format import encode_head, etag

        data = snapshots.app_data(world.app.id)
        doc = compose_snapshot(data)
        redis_conn.set(APP_KEY + world.app_id, doc)
        redis_conn.hset(ETAGS_KEY, world.app_id, etag(doc))
        redis_conn.hset(HEADS_KEY, world.app_id, encode_head(data.state, data.package, data.tokens))
        redis_conn.incr(GEN_KEY)
        started = time.monotonic()
        while (
            time.monotonic() - started < 5
            and "ios|production|8~1" not in live.state.apps[world.app_id].part("appcockpit").exact
        ):
            time.sleep(0.01)
        assert "ios|production|8~1" in live.state.apps[world.app_id].part("appcockpit").exact
    finally:
        live.stop()


def test_if_none_match_star_never_turns_a_404_into_304(reader, world, sync):
    """schemathesis: an unknown platform with "If-None-Match: *" answered 304, as if a version existed.
    "*" matches a current representation only (RFC 9110 13.1.2); a 404 has none."""
    add_rule(world)
    sync()
    star = {"If-None-Match": "*"}
    assert check(reader, "/v1/versions", world.client_token, star, **q(world)).status_code == 304
    missing = check(reader, "/v1/versions", world.client_token, star, **q(world, platform="h"))
    assert missing.status_code == 404 and missing.json == {"error": "Version not found"}


def test_a_space_in_app_version_is_the_plus_an_sdk_did_not_encode(reader, world, sync):
    """Issue 20: the AppCockpit SDK builds its query string without encoding, so app_version=1.0.0+7
    arrives as "1.0.0 7" and got a 400: a forced update was never shown to Flutter apps (+build versions)."""
    add_rule(world, version="1.0.0+7", force_update=True)
    sync()
    res = check(reader, "/v1/versions", world.client_token, **q(world, app_version="1.0.0 7"))
    assert res.status_code == 200 and res.json["force_update"] is True, res.json


def test_a_read_process_takes_requests_once_its_snapshots_are_in_memory(settings, world, sync):
    """Its lifespan startup completes after the first load: a worker started under load (a deploy's new
    master) answered its first requests from an empty cache, 404 and 401 for apps that exist."""
    import asyncio

    from api.read.app import create_read_app
    from api.read.cache import SnapshotCache

    sync()  # the world's snapshot is in Redis
    cache = SnapshotCache(settings.redis_url, codecs=part_codecs())
    app = create_read_app(settings, cache)

    async def start_then_look() -> bool:
        messages = asyncio.Queue()
        await messages.put({"type": "lifespan.startup"})
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, messages.get, send))
        while not sent:
            await asyncio.sleep(0)
        loaded = world.app_id in cache.state.apps  # at once: the process takes requests from here on
        await messages.put({"type": "lifespan.shutdown"})
        await task
        assert sent[0]["type"] == "lifespan.startup.complete"
        return loaded

    assert asyncio.run(start_then_look())
