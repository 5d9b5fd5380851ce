"""An N+1 guard on the lists (issue 21 item 7): a page of ten rows costs the same number of SQL statements
as a page of two. Shapes read through relations (``row.app.public_id``), and one lazy relation in a
shape is a query a row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from store.db import db
from tests.test_capgo import PKG, upload


@contextmanager
def counted() -> Iterator[list[int]]:
    """Counts the statements the database runs inside the block."""
    real = db.obj.execute_sql
    count = [0]

    def execute_sql(sql, params=None, *args, **kwargs):
        count[0] += 1
        return real(sql, params, *args, **kwargs)

    db.obj.execute_sql = execute_sql
    try:
        yield count
    finally:
        del db.obj.execute_sql  # the class's method again


def statements(call: Callable[[], object]) -> int:
    with counted() as count:
        res = call()
    assert res.status_code == 200, res.text
    return count[0]


def _apps(api, world, n):
    for i in range(n):
        res = api.simulate_post(
            "/admin/v1/apps", json={"team_id": world.team.id, "title": f"App {i}"}, headers=world.auth
        )
        assert res.status_code == 201, res.text


def _rules(api, world, n):
    for i in range(n):
        res = api.simulate_post(
            f"/admin/v1/apps/{world.app_id}/versions",
            json={"version": f"1.{i}.{n}", "platform": "ios", "environment": "production"},
            headers=world.auth,
        )
        assert res.status_code == 201, res.text


def _builds(api, world, n):
    for i in range(n):
        res = api.simulate_post(
            f"/admin/v1/apps/{world.app_id}/builds",
            json={"build_type": "release", "version": f"2.{i}.{n}"},
            headers=world.auth,
        )
        assert res.status_code == 201, res.text


def _bundles(api, world, n):
    for i in range(n):
        assert upload(api, world, f"3.{i}.{n}", channel=f"ch-{i}-{n}").status_code == 201


def _products(api, world, n):
    for i in range(n):
        res = api.simulate_post(
            "/admin/api/products",
            json={"name": f"P {i}", "slug": f"p-{i}-{n}"},
            headers={"X-Auth-Token": world.token},
        )
        assert res.status_code == 201, res.text


def _webhooks(api, world, n):
    for i in range(n):
        res = api.simulate_post(
            f"/admin/v1/teams/{world.team.id}/webhooks",
            json={"url": f"https://hooks.example.com/{i}-{n}", "events": ["channel.changed"]},
            headers=world.auth,
        )
        assert res.status_code == 201, res.text


LISTS = [
    ("apps", _apps, lambda w: ("/admin/v1/apps", {}, w.auth)),
    ("rules", _rules, lambda w: (f"/admin/v1/apps/{w.app_id}/versions", {}, w.auth)),
    ("builds", _builds, lambda w: (f"/admin/v1/apps/{w.app_id}/builds", {}, w.auth)),
    ("audit", _apps, lambda w: ("/admin/v1/audit", {}, w.auth)),
    ("webhooks", _webhooks, lambda w: (f"/admin/v1/teams/{w.team.id}/webhooks", {}, w.auth)),
    ("capgo channels", _bundles, lambda w: ("/channel", {"app_id": PKG}, {"authorization": w.token})),
    ("capgo bundles", _bundles, lambda w: ("/bundle", {"app_id": PKG}, {"authorization": w.token})),
    ("fenfa products", _products, lambda w: ("/admin/api/products", {}, {"X-Auth-Token": w.token})),
]


@pytest.mark.parametrize(("name", "make", "where"), LISTS, ids=[n for n, _, _ in LISTS])
def test_a_page_costs_the_same_statements_whatever_its_rows(api, world, name, make, where):
    path, params, headers = where(world)
    make(api, world, 2)
    few = statements(lambda: api.simulate_get(path, params=params, headers=headers))
    make(api, world, 8)
    many = statements(lambda: api.simulate_get(path, params=params, headers=headers))
    assert 0 < many == few, f"{name}: {few} statements for a page of 2+, {many} for 10+"


def test_the_counter_sees_a_query_a_row(world):
    """The guard's own check: a shape that reads a relation row by row is counted a statement a row."""
    from store.models import App

    with counted() as count:
        titles = [a.team.name for a in App.select()]  # one query, then one per app for its team
    assert titles and count[0] == 1 + len(titles)
