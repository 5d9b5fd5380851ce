"""The dialect registry: every list of routes derives from it, and each dialect answers errors in its own shape."""

from __future__ import annotations

import re

import pytest
from falcon import inspect

from api.dialects.registry import DIALECTS, SERVICE_PATHS, read_paths, read_paths_regex
from api.read.app import create_read_app
from deploy.render_nginx import render


def paths(app) -> set[str]:
    return {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in inspect.inspect_routes(app)}


def test_the_read_service_front_door_and_edge_route_the_registrys_read_paths(settings, write_app):
    dialect_paths = {p for d in DIALECTS for p in d.read_paths}
    assert paths(create_read_app(settings)) == dialect_paths | set(SERVICE_PATHS)
    from api.dialects.registry import is_read_path

    assert all(is_read_path(p) and is_read_path(p + "/") for p in read_paths())
    location = re.search(r"location ~ (\S+) \{\n\s+proxy_pass http://read_service;", render()).group(1)
    assert location == read_paths_regex()
    edge = re.compile(location)
    assert all(edge.match(p) for p in dialect_paths)
    assert not any(edge.match(p) for p in paths(write_app)), "a write route would be sent to the read service"


# One bad request per dialect and service, and Falcon's own 404 and 405 under each dialect's prefix.
CASES = [
    ("appcockpit", "read", "GET", "/v1/versions", {}, 401, {"error": "Unauthorized"}),
    ("appcockpit", "read", "GET", "/v1/nothing", {}, 404, {"error": "Not Found"}),
    ("appcockpit", "read", "POST", "/v1/versions", {}, 405, {"error": "Method Not Allowed"}),
    (
        "appcockpit",
        "read",
        "POST",
        "/v2/authenticate",
        {"x-api-token": "ghc_nope"},
        401,
        {"error": "Unauthorized"},
    ),
    ("appcockpit", "read", "GET", "/v2/authenticate", {}, 405, {"error": "Method Not Allowed"}),
    ("admin", "write", "GET", "/admin/v1/me", {}, 401, {"error": "unauthorized"}),
    ("admin", "write", "GET", "/admin/v1/nothing", {}, 404, {"error": "Not Found"}),
    ("admin", "write", "DELETE", "/admin/v1/login", {}, 405, {"error": "Method Not Allowed"}),
    ("updateforge", "write", "GET", "/api/v1/apps", {}, 401, {"error": "unauthorized"}),
    ("updateforge", "write", "GET", "/api/files/apps/x/y/z", {}, 404, {"error": "file not found"}),
    ("updateforge", "write", "DELETE", "/api/v1/apps", {}, 405, {"error": "Method Not Allowed"}),
    ("appconfig", "write", "GET", "/app-config", {}, 401, {"message": "Unauthorized", "statusCode": 401}),
    (
        "appconfig",
        "write",
        "PATCH",
        "/app-config/active",
        {},
        405,
        {"message": "Method Not Allowed", "statusCode": 405},
    ),
    ("appconfig", "write", "GET", "/app-config/x/y", {}, 404, {"message": "Not Found", "statusCode": 404}),
    (
        "capgo",
        "write",
        "GET",
        "/channel",
        {"authorization": "nope"},
        401,
        {"error": "Invalid API key", "status": "KO", "code": "invalid_apikey"},
    ),
    (
        "capgo",
        "write",
        "PUT",
        "/bundle",
        {},
        405,
        {"error": "Method Not Allowed", "status": "KO", "code": "method_not_allowed"},
    ),
    (
        "capgo",
        "read",
        "GET",
        "/updates",
        {},
        405,
        {"error": "Method Not Allowed", "status": "KO", "code": "method_not_allowed"},
    ),
    (
        "distribution",
        "write",
        "GET",
        "/admin/api/products",
        {},
        401,
        {"ok": False, "error": {"code": "UNAUTHORIZED", "message": "invalid or missing X-Auth-Token"}},
    ),
    (
        "distribution",
        "write",
        "GET",
        "/admin/api/no-such-thing",
        {},
        404,
        {"ok": False, "error": {"code": "NOT_FOUND", "message": "Not Found"}},
    ),
    (
        "appconfig",
        "read",
        "GET",
        "/app-config/public",
        {},
        404,
        {"message": "App not found", "statusCode": 404},
    ),
    (
        "appconfig",
        "read",
        "POST",
        "/app-config/public",
        {},
        405,
        {"message": "Method Not Allowed", "statusCode": 405},
    ),
]


@pytest.mark.parametrize(
    ("dialect", "service", "method", "path", "headers", "status", "body"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES],
)
def test_each_dialect_answers_errors_in_its_shape(
    api, reader, sync, dialect, service, method, path, headers, status, body
):
    sync()  # a read process that holds its snapshots (one that holds none answers some calls 500)
    client = reader if service == "read" else api
    res = client.simulate_request(method, path, headers=headers)
    assert (res.status_code, res.json) == (status, body)
    assert res.headers["content-type"] == "application/json" and res.headers["etag"]


def test_every_dialect_is_covered_by_the_error_shape_test():
    assert {c[0] for c in CASES} | {"console"} == {d.name for d in DIALECTS}


def test_the_console_answers_errors_as_html_pages(api):
    """The console's error shape: an HTML page with the message, and the console's security headers."""
    res = api.simulate_get("/console/no-such-page")
    assert res.status_code == 404 and res.headers["content-type"] == "text/html; charset=utf-8"
    assert (
        "<h1>Not found</h1>" in res.text
        and "frame-ancestors 'none'" in res.headers["content-security-policy"]
    )
    posted = api.simulate_post("/console/login", body="email=a", headers={"Content-Type": "text/plain"})
    assert posted.status_code == 400 and "application/x-www-form-urlencoded" in posted.text


def test_the_console_document_lists_exactly_its_routes(settings, redis_conn):
    import re

    import yaml

    from api.dialects.base import WriteContext
    from api.dialects.console import routes
    from api.openapi_doc import DIALECTS_DIR

    documented = set(
        yaml.safe_load((DIALECTS_DIR / "console" / "openapi.yaml").read_text())["write"]["paths"]
    )
    context = WriteContext(
        settings=settings, storage=None, limiter=None, connection=redis_conn, backends=None
    )
    routed = {re.sub(r"{(\w+):\w+}", r"{\1}", path) for path, _ in routes.routes(context)}
    assert documented == routed


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_each_dialect_documents_only_its_own_paths(dialect):
    """api/dialects/<name>/openapi.yaml holds the dialect's operations; the service documents join them."""
    import yaml

    from api.dialects.registry import READ_DEFAULT, WRITE_DEFAULT, dialect_for_path
    from api.openapi_doc import DIALECTS_DIR

    part = yaml.safe_load((DIALECTS_DIR / dialect.name / "openapi.yaml").read_text())
    for service, default in (("read", READ_DEFAULT), ("write", WRITE_DEFAULT)):
        for path in (part.get(service) or {}).get("paths", {}):
            assert dialect_for_path(path, default) is dialect, (service, path)
    if dialect.read_paths:
        assert set(part["read"]["paths"]) == set(dialect.read_paths)


def test_a_dialect_words_a_refusal_by_its_kind_not_by_its_message():
    """Issue 21 item 6: UpdateForge matched the store's message strings in its responder; its error table now
    words the kinds (a subclass takes its parent's words unless it has its own)."""
    from api.dialects.updateforge import DIALECT
    from store.errors import BuildOfAnotherTeam, NoBuildFile, NoSuchBuild, NotFound

    errors = DIALECT.errors
    assert errors.words_for(NoSuchBuild("no such build")) == "version not found"
    assert errors.words_for(BuildOfAnotherTeam("the build's app belongs to another team")) == "forbidden"
    assert errors.words_for(NoBuildFile("the build has no file")) == "no file attached"
    assert errors.words_for(NotFound("no such build")) == "no such build"  # a message alone words nothing
    assert [errors.status_for(e("x")) for e in (NoSuchBuild, BuildOfAnotherTeam, NoBuildFile)] == [
        404,
        403,
        404,
    ]
