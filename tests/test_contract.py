"""The OpenAPI documents, route parity, the read service's import boundary, settings, migrations."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from falcon import inspect
from openapi_spec_validator import validate

from api import openapi_doc
from api.read.app import create_read_app
from api.settings import Settings
from store.migrate import apply_migrations

ROOT = Path(__file__).resolve().parents[1]


def routed(app) -> set[str]:
    return {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in inspect.inspect_routes(app)}


@pytest.mark.parametrize("name", ["read", "write"])
def test_openapi_documents_are_valid_and_served(name, api, reader):
    validate(openapi_doc.load(name))
    client = reader if name == "read" else api
    assert client.simulate_get("/openapi.json").json == openapi_doc.load(name)


def test_every_route_is_documented_and_every_path_routed(write_app, settings):
    assert routed(write_app) == set(openapi_doc.load("write")["paths"])
    assert routed(create_read_app(settings)) == set(openapi_doc.load("read")["paths"])


def test_documented_methods_exist(write_app):
    spec = openapi_doc.load("write")["paths"]
    for route in inspect.inspect_routes(write_app):
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        implemented = {m.method.lower() for m in route.methods if m.internal is False}
        documented = set(spec[path]) - {"parameters"}
        # Equal, not just covered: Allow headers once advertised methods the routes refused.
        assert documented == implemented, (path, documented ^ implemented)


def test_read_service_never_imports_the_orm():
    code = (
        "import sys, api.asgi; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('peewee', 'playhouse', 'psycopg') "
        "or m in ('store.models', 'store.db', 'store.snapshots', 'store.catalog')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"GATEHOUSE_{n.upper()}" for n in Settings.model_fields if f"GATEHOUSE_{n.upper()}" not in readme
    ]
    assert missing == []


def test_migrations_are_idempotent(write_app):
    assert apply_migrations() == []


def test_only_store_imports_peewee_its_models_and_its_database_handle():
    offenders = [
        str(p.relative_to(ROOT))
        for top in ("api", "worker", "loadtest", "deploy")
        for p in (ROOT / top).rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(peewee|playhouse|store\.models|store\.db)\b", p.read_text(), re.M)
    ]
    assert offenders == []


def test_the_worker_the_store_and_the_read_cache_import_no_dialect():
    """None speaks a product's language: the worker gets the snapshot composer handed in (worker/context.py)
    and decodes device batches with store/device_events.py; the read cache holds each dialect's part through
    the codec the registry hands it (api/read/parts.py). Function-local imports count too."""
    files = [*(ROOT / "worker").rglob("*.py"), *(ROOT / "store").rglob("*.py")]
    files += [ROOT / "api/read/cache.py", ROOT / "api/read/parts.py"]
    offenders = [
        str(p.relative_to(ROOT))
        for p in files
        if re.search(r"^\s*(import|from)\s+api\.dialects\b", p.read_text(), re.M)
    ]
    assert offenders == []


def _store_imports() -> tuple[dict[str, set[str]], list[str]]:
    """Each store module's imports of other store modules, and the imports made inside a function."""
    modules = {p.stem: p for p in (ROOT / "store").glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    local = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top = set(id(node) for node in tree.body)
        graph[name] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "store":
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("store."):
                targets = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("store.")]
            else:
                continue
            targets = [t for t in targets if t in modules and t != name]
            graph[name].update(targets)
            if targets and id(node) not in top:
                local.append(f"store/{name}.py:{node.lineno}")
    return graph, local


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_store_has_no_import_cycle_and_no_import_inside_a_function():
    """Issue 21: models ↔ audit ↔ webhooks ↔ accounts ↔ outbox and catalog ↔ environments were cycles,
    hidden by function-local imports. The models now emit changes that listeners subscribe to
    (store/changes.py), and catalog creates an app's first environments itself."""
    graph, local = _store_imports()
    assert _cycles(graph) == []
    assert local == []
    assert "models" not in graph["changes"] and "changes" in graph["models"]


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_typo_in_the_storage_backend_fails_at_start():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="storage_backend"):
        Settings(storage_backend="S3 ")
    assert Settings(storage_backend="s3").storage_backend == "s3"


def test_request_schemas_in_the_document_match_what_the_server_enforces():
    """Every bound and type the write API's body schemas enforce is in its OpenAPI document."""
    from api.dialects.admin import schemas

    documented = openapi_doc.load("write")["components"]["schemas"]
    drift = []
    for name in dir(schemas):
        model = getattr(schemas, name)
        if not (isinstance(model, type) and issubclass(model, schemas.Body)) or model is schemas.Body:
            continue
        for field, enforced in model.model_json_schema()["properties"].items():
            doc = documented[name]["properties"][field]
            for key in ("minLength", "maxLength", "maxItems"):
                # A nullable field keeps its bounds in the non-null branch of anyOf.
                bound = enforced.get(key, next((b[key] for b in enforced.get("anyOf", []) if key in b), None))
                if bound != doc.get(key):
                    drift.append((name, field, key, bound, doc.get(key)))
            types = enforced.get("type") or [s.get("type") for s in enforced.get("anyOf", [])]
            if "type" in doc and all(types) and doc["type"] != types:
                drift.append((name, field, "type", types, doc["type"]))
    assert drift == []


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("s3_checksums", "always"),
        ("log_level", "verbose"),
        ("s3_downloads", "stream"),
        ("storage_backend", "disk"),
    ],
)
def test_an_enumerated_setting_with_a_bad_value_stops_start_up(name, bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=name):
        Settings(**{name: bad})


def test_every_write_api_operation_documents_its_400():
    """The write API refuses a NUL character anywhere in a request with 400 (api/write/app.py), so every
    operation it serves can answer 400; schemathesis found the distribution's public GETs without it."""
    missing = [
        f"{method.upper()} {path}"
        for path, ops in openapi_doc.load("write")["paths"].items()
        for method, op in ops.items()
        if method in ("get", "head", "post", "put", "patch", "delete")
        and "400" not in op.get("responses", {})
    ]
    assert missing == []


def test_the_documents_version_pattern_is_what_the_server_parses():
    """schemathesis sent app_versions the documents allowed and the server refused (400). The documents
    now carry store.versions.VERSION_PATTERN, which accepts exactly what parse_key does."""
    import random
    import re

    from api import openapi_doc
    from store.errors import InvalidVersion
    from store.versions import VERSION_PATTERN, VERSION_QUERY_PATTERN, from_query, parse_key

    read = openapi_doc.load("read")
    assert read["components"]["parameters"]["AppVersion"]["schema"]["pattern"] == VERSION_QUERY_PATTERN
    write = openapi_doc.load("write")["components"]["schemas"]
    assert write["VersionRuleCreate"]["properties"]["version"]["pattern"] == VERSION_PATTERN
    rx, rng = re.compile(VERSION_PATTERN), random.Random(5)
    alphabet = "0123456789.-+_!abcdeprvABCDEPRV "
    for sample in [
        *("1.0", "v2.5.0", "1.0a1", "1!2.0.post3.dev4", "2.5.0-beta.1.hotfix", "1.0+7", "1..0")
    ] + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(50_000)]:
        try:
            parse_key(sample)
            accepted = True
        except InvalidVersion:
            accepted = False
        assert accepted == (bool(rx.match(sample)) and len(sample.strip()) <= 64), sample
    # In a query string a space stands for "+": the read document's pattern says so, as from_query reads it.
    query = re.compile(VERSION_QUERY_PATTERN)
    for sample in ["1.0.0 7", "2.5.0-beta.1 build.5", " 1.0 7 ", "1.0  7", "1 0"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(20_000)
    ]:
        try:
            parse_key(from_query(sample))
            accepted = True
        except InvalidVersion:
            accepted = False
        assert accepted == (bool(query.match(sample)) and len(sample.strip()) <= 64), sample


def test_passwords_are_hashed_at_the_recommended_cost_by_default():
    """The suite hashes at a test's cost (tests/conftest.py); a deployment keeps argon2id's recommendation."""
    from argon2 import PasswordHasher

    from store import accounts

    assert (Settings().argon2_time_cost, Settings().argon2_memory_kib) == (3, 65536)
    recommended = PasswordHasher()
    assert (recommended.time_cost, recommended.memory_cost) == (3, 65536)
    stored = accounts.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
