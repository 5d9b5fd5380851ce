"""The scale run's bulk seeder builds the same shape the demo does, and every app it makes answers."""

from __future__ import annotations

from store.bootstrap import load_scale
from store.models import App, ClientToken, Environment, MinimumVersionRule, SnapshotOutbox, VersionRule
from tests.helpers import check


def test_load_scale_builds_the_demo_shape_in_bulk(root, sync, reader):
    apps = load_scale(root.user, 5, 3, batch=2)
    ids = [pid for pid, _ in apps]
    made = list(App.select().where(App.public_id.in_(ids)))
    assert len(made) == 5 and len({a.package_name for a in made}) == 5
    app_ids = [a.id for a in made]
    assert Environment.select().where(Environment.app.in_(app_ids)).count() == 15
    assert VersionRule.select().where(VersionRule.app.in_(app_ids)).count() == 5 * 3 * 2 * 3
    assert MinimumVersionRule.select().where(MinimumVersionRule.app.in_(app_ids)).count() == 30
    assert ClientToken.select().where(ClientToken.app.in_(app_ids)).count() == 5
    assert SnapshotOutbox.select().where(SnapshotOutbox.app_id.in_(app_ids)).count() == 5
    from worker.jobs import rebuild_all_snapshots

    rebuild_all_snapshots()
    sync()
    pid, token = apps[-1]
    res = check(
        reader, "/v1/versions", token, app_id=pid, app_version="1.0.1", platform="ios", environment="beta"
    )
    assert res.status_code == 200 and res.json["version"] == "1.0.1"
