"""The client GETs answered straight from ASGI send what Falcon sent, byte for byte.

Every request of the answer table goes to two read apps over one snapshot cache: one that takes the direct
path (the default) and one with it off (``direct=False``: Falcon's request and response objects, as before).
Each ASGI event is compared: status, every header in its order (Content-Length included), body; HEAD and
other methods, trailing slashes, repeated headers and parameters, a query string that is not UTF-8.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from api.dialects.appcockpit import READ_PATHS
from api.dialects.appconfig import PUBLIC_PATH
from api.read.app import create_read_app
from store import accounts, catalog, maintenance, rules
from store.db import unit_of_work
from tests.helpers import b64

# Every client GET: AppCockpit's checks and app-config's public read.
PATHS = [*(path for path in READ_PATHS if path != "/v2/authenticate"), PUBLIC_PATH]


def call(app, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]]) -> list[dict]:
    """One request through the ASGI app; the events it sent."""
    sent: list[dict] = []
    received = False

    async def receive():
        nonlocal received
        if received:
            await asyncio.sleep(3600)
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(event):
        sent.append(event)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"read.test"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    # Falcon ends a bodiless answer with {"type": "http.response.body"}: the same as an empty body.
    return [e | {"body": e.get("body", b"")} if e["type"] == "http.response.body" else e for e in sent]


@pytest.fixture
def table(world, other_world, root, api, sync):
    """An app with exact and minimum rules, maintenance and app-config; another whose team expired, and a
    deleted one: every answer the client GETs give."""
    with unit_of_work():
        for version, force in (("2.5.0", False), ("1.0.0+7", True)):
            rules.create_version_rule(
                world.user,
                world.app_id,
                {"version": version, "platform": "ios", "environment": "production", "force_update": force},
            )
        rules.create_minimum_rule(
            world.user,
            world.app_id,
            {
                "minimum_version": "2.0.0",
                "platform": "android",
                "environment": "production",
                "force_update": True,
            },
        )
        maintenance.set_maintenance(
            world.user, world.app_id, "staging", {"active": True, "title": "Down", "description": "Back soon"}
        )
        accounts.update_team(root.user, other_world.team.id, {"subscription_status": "expired"})
    assert (
        api.simulate_post(
            "/app-config",
            params={"app_id": world.app_id},
            json={"minVersion": "1.0.0", "currentVersion": "1.2.0"},
            headers=world.auth,
        ).status_code
        == 200
    )
    deleted = None
    with unit_of_work():
        app = catalog.create_app(world.user, world.team.id, "Gone", "com.example.gone")
        from store import client_tokens

        _, deleted = client_tokens.create_client_token(world.user, app, "default")
        catalog.delete_app(world.user, app.public_id)
    sync()
    return world, other_world, deleted


def requests(world, other_world, deleted_token):
    good = {"app_id": world.app_id, "app_version": "2.5.0", "platform": "ios", "environment": "production"}
    queries = [
        good,
        good | {"app_version": "1.0.0 7"},  # the SDK's unencoded "+"
        good | {"app_version": "9.9.9"},  # the usual answer: 404
        good | {"app_version": "1.5", "platform": "android"},  # under the minimum
        good | {"app_version": "not a version"},
        good | {"app_id": "someone-else"},
        good | {"environment": "staging"},
        {k: v for k, v in good.items() if k != "app_version"},
        {k: v for k, v in good.items() if k != "platform"},
        {"app_id": world.app_id, "environment": "production"},
        {},
    ]
    encoded = [b"&".join(f"{k}={v}".replace(" ", "+").encode() for k, v in q.items()) for q in queries]
    encoded += [
        encoded[0] + b"&app_version=9.9.9",  # repeated: the last one counts
        encoded[0] + b"&platform=",  # a blank value
        encoded[0].replace(b"2.5.0", b"2%2E5%2E0"),
        encoded[0] + b"&x=%ff\xff",  # not UTF-8: left to Falcon
    ]
    tokens = [
        [],
        [(b"x-api-token", b"")],
        [(b"x-api-token", b"ghc_unknown")],
        [(b"x-api-token", world.client_token.encode())],
        [(b"x-api-token", b64(world.client_token).encode())],
        [(b"x-api-token", world.client_token.encode()), (b"x-api-token", b"again")],
        [(b"x-api-token", other_world.client_token.encode())],
        [(b"x-api-token", deleted_token.encode())],
    ]
    validators = [[], [(b"if-none-match", b"*")], [(b"if-none-match", b'"nope", W/"other"')]]
    for path, query, token, validator in itertools.product(PATHS, encoded, tokens, validators):
        yield "GET", path, query, token + validator
    for path in PATHS:
        yield "GET", path + "/", encoded[0], tokens[3]
        for method in ("HEAD", "POST", "OPTIONS", "DELETE"):
            yield method, path, encoded[0], tokens[3]


def test_every_client_get_sends_the_same_bytes_both_ways(settings, cache, table):
    world, other_world, deleted = table
    direct, falcon_only = create_read_app(settings, cache), create_read_app(settings, cache, direct=False)
    assert direct.direct and not falcon_only.direct
    compared, statuses = 0, set()
    for method, path, query, headers in requests(world, other_world, deleted):
        expected = call(falcon_only, method, path, query, headers)
        got = call(direct, method, path, query, headers)
        assert got == expected, (method, path, query, headers)
        status = expected[0]["status"]
        statuses.add(status)
        compared += 1
        if status in (200, 404) and method == "GET" and not path.endswith("/"):
            # Revalidating with the answer's own ETag, alone and in a list, gives the same 304 both ways.
            tag = dict(expected[0]["headers"])[b"etag"]
            for inm in (tag, b'"x", ' + tag, b"W/" + tag):
                again = [*headers, (b"if-none-match", inm)]
                assert call(direct, method, path, query, again) == call(
                    falcon_only, method, path, query, again
                )
                compared += 1
    # The table reaches every answer the client GETs give (and Falcon's own 405).
    assert {200, 304, 400, 401, 402, 403, 404, 405} <= statuses | {304}, statuses
    assert compared > 2_000


def test_a_direct_answer_is_counted_under_its_route(settings, cache, table):
    """The direct path counts its answers under the route template, trailing slash or not, as Falcon did."""
    world, _, _ = table
    app = create_read_app(settings, cache)
    query = f"app_id={world.app_id}&app_version=9.9.9&platform=ios&environment=production".encode()
    line = 'gatehouse_requests_total{method="GET",route="/v1/versions",service="read",status="404"}'

    def counted() -> float:
        text = call(app, "GET", "/metrics", b"", [])[1]["body"].decode()
        found = [row.rsplit(" ", 1)[1] for row in text.splitlines() if row.startswith(line)]
        return float(found[0]) if found else 0.0

    before = counted()
    for path in ("/v1/versions", "/v1/versions/") * 4:
        assert (
            call(app, "GET", path, query, [(b"x-api-token", world.client_token.encode())])[0]["status"] == 404
        )
    assert counted() == before + 8


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/versions", {"error": "Bad Request"}),
        ("/app-config/public", {"message": "Bad Request", "statusCode": 400}),
        ("/updates", {"error": "Bad Request", "status": "KO", "code": "invalid_body"}),
    ],
)
def test_a_query_string_that_is_not_utf8_is_a_400_in_the_dialects_words(settings, cache, path, body):
    """Raw bytes no URL may hold unescaped made Falcon raise while it built the request: a 500."""
    import orjson

    sent = call(create_read_app(settings, cache), "GET", path, b"app_id=\xff\xfe", [])
    assert sent[0]["status"] == 400
    assert orjson.loads(sent[1]["body"]) == body
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"


def test_remembered_answers_follow_the_snapshots_and_bogus_requests_are_not_kept(
    settings, cache, table, sync
):
    """The direct path remembers a request shape's answer while the snapshots it came from are current: a
    change answers at once, and requests with unknown tokens or over-long queries leave nothing behind."""
    world, _, _ = table
    app = create_read_app(settings, cache)
    versions = app.direct[("GET", "/v1/versions")][0].__self__
    query = f"app_id={world.app_id}&app_version=2.5.0&platform=ios&environment=production".encode()
    token = [(b"x-api-token", world.client_token.encode())]
    first = call(app, "GET", "/v1/versions", query, token)
    assert call(app, "GET", "/v1/versions", query, token) == first and len(versions._memo) == 1
    with unit_of_work():
        listed = rules.list_version_rules(world.user, world.app_id, {}, 1, 50).rows
        rule = next(r for r in listed if r.version == "2.5.0")
        rules.update_version_rule(world.user, world.app_id, rule.id, {"update_message": "Changed"})
    sync()
    changed = call(app, "GET", "/v1/versions", query, token)
    assert b"Changed" in changed[1]["body"] and changed != first
    for n in range(100):
        call(app, "GET", "/v1/versions", query, [(b"x-api-token", f"ghc_bogus{n}".encode())])
        call(app, "GET", "/v1/versions", query + b"&pad=" + b"x" * 300, token)
    assert len(versions._memo) == 1


def test_remembered_answers_stay_within_their_bound_keeping_the_newest(settings, cache, table, monkeypatch):
    from api.read import answers

    monkeypatch.setattr(answers, "MEMO_MAX", 20)
    world, _, _ = table
    app = create_read_app(settings, cache)
    versions = app.direct[("GET", "/v1/versions")][0].__self__
    token = [(b"x-api-token", world.client_token.encode())]
    for n in range(45):
        query = f"app_id={world.app_id}&app_version=3.0.{n}&platform=ios&environment=production".encode()
        assert call(app, "GET", "/v1/versions", query, token)[0]["status"] == 404
        assert len(versions._memo) <= 20
    assert (query, world.client_token) in versions._memo and len(versions._memo) >= 18
