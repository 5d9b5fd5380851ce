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


def test_load_scale_live_builds_channels_bundles_and_pinned_devices(root, sync, reader):
    from store.bootstrap import load_scale_live
    from store.models import Bundle, Channel, Device
    from worker.jobs import rebuild_all_snapshots

    packages = load_scale_live(root.user, 3, 4, 12, batch=2)
    made = list(App.select().where(App.package_name.in_(packages)))
    app_ids = [a.id for a in made]
    assert len(made) == 3
    assert Channel.select().where(Channel.app.in_(app_ids)).count() == 12
    assert Bundle.select().where(Bundle.app.in_(app_ids)).count() == 12
    assert (
        Device.select().where(Device.app.in_(app_ids) & Device.channel_override.is_null(False)).count() == 12
    )
    rebuild_all_snapshots()
    sync()
    base = {"platform": "android", "version_build": "1.0.0", "version_name": "1.0.0", "is_prod": True}
    first = made[0]
    pinned = Device.select().where(Device.app == first.id).order_by(Device.id).first()
    chosen = Channel.get_by_id(pinned.channel_override_id)
    res = reader.simulate_post(
        "/updates", json=base | {"app_id": first.package_name, "device_id": pinned.device_id}
    )
    assert (
        res.status_code == 200 and res.json["version"] == Bundle.get_by_id(chosen.bundle_id).name != "1.0.0"
    )
    unpinned = base | {
        "app_id": first.package_name,
        "device_id": "00000000-0000-4000-8000-00000000abcd",
        "version_name": "0.9.0",
    }
    res = reader.simulate_post("/updates", json=unpinned)
    assert res.status_code == 200 and res.json["version"] == "1.0.0"  # the public channel's bundle
