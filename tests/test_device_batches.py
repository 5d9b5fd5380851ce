"""Device batches the database refuses part of: the bad record is set aside, every other record applied,
and nothing is retried forever (the second hardening round, item 1). Real PostgreSQL and Redis."""

from __future__ import annotations

import time

import orjson
import peewee as pw
import pytest

from api.dialects.capgo.checks import _STRINGS
from store import bounds
from store import device_events as events
from store.db import unit_of_work
from store.devices import Batch, apply_batch
from store.models import BundleStat, Device, DeviceOutcome
from tests.helpers import uid
from tests.test_capgo import PKG, device_body, upload
from worker.sightings import FAILURES, REJECTED, REJECTED_COUNT, drain


def sighting(device: str, package: str = PKG, **fields) -> list:
    values = {
        "platform": "ios",
        "plugin_version": "6.2.0",
        "os_version": "17.1",
        "version_build": "1.0.0",
        "version_name": "1.0.0",
        "custom_id": "",
        "is_prod": True,
        "is_emulator": False,
    } | fields
    return [package, device, *values.values(), time.time()]


def test_the_edge_accepts_no_value_a_column_cannot_hold():
    columns = {
        "device_id": Device.device_id,
        "platform": Device.platform,
        "version_build": Device.version_build,
        "version_name": Device.version_name,
        "plugin_version": Device.plugin_version,
        "version_os": Device.os_version,
        "custom_id": Device.custom_id,
    }
    limits = {name: limit for name, _, limit in _STRINGS}
    for name, column in columns.items():
        assert isinstance(column, pw.CharField)
        assert limits[name] <= column.max_length, name
    assert BundleStat.bundle.max_length == bounds.VERSION_NAME == bounds.BUNDLE_NAME


def test_an_over_long_device_field_is_refused_at_the_edge(reader, world, sync):
    sync()
    for path, extra in (("/updates", {}), ("/stats", {"action": "set"})):
        for name in ("version_name", "version_build", "plugin_version", "version_os"):
            res = reader.simulate_post(path, json=device_body(**{name: "1" * 100}) | extra)
            assert res.status_code == 400, (path, name, res.json)
            assert res.json["error"] == "invalid_json_body" and name in res.json["message"]


def test_a_refused_record_is_set_aside_and_the_rest_of_its_batch_applied(api, world, other_world, redis_conn):
    upload(api, world, "1.0.0")
    good = [sighting(f"good-{i:02d}") for i in range(20)]
    good.append(sighting("rival-1", package="com.rival.demo"))
    poisoned = sighting("poisoned", version_name="9" * 100)  # past the edge's check, as an old release could
    minute = int(time.time()) // 60
    actions = [[PKG, minute, "1.0.0", "set", 3], [PKG, minute, "1.0.0", "x" * 40, 1]]
    raw = orjson.dumps({"s": [*good[:10], poisoned, *good[10:]], "a": actions, "c": []})
    drain(redis_conn)  # batches an earlier module's read service left in the stream are not this test's
    Device.delete().execute()
    events_before = redis_conn.xlen(events.STREAM) if redis_conn.exists(events.STREAM) else 0
    redis_conn.xadd(events.STREAM, {"b": raw})
    assert drain(redis_conn) == 1
    recorded = {d.device_id for d in Device.select()}
    assert recorded == {f"good-{i:02d}" for i in range(20)} | {"rival-1"}
    assert {(s.bundle, s.count) for s in BundleStat.select()} == {("1.0.0", 3)}
    kept = redis_conn.xrange(REJECTED)
    assert [f[b"what"] for _, f in kept] == [b"sighting", b"action"]
    assert b"poisoned" in kept[0][1][b"record"] and b"too long" in kept[0][1][b"error"]
    assert int(redis_conn.get(REJECTED_COUNT)) == 2
    # Acknowledged and removed: nothing stays pending to be claimed again.
    assert redis_conn.xlen(events.STREAM) == events_before
    assert redis_conn.xpending(events.STREAM, events.GROUP)["pending"] == 0


def test_an_entry_that_cannot_be_decoded_is_set_aside_not_retried(redis_conn):
    redis_conn.xadd(events.STREAM, {"b": b"{not json"})
    assert drain(redis_conn) == 0
    assert redis_conn.xpending(events.STREAM, events.GROUP)["pending"] == 0
    [(_, fields)] = redis_conn.xrange(REJECTED)
    assert fields[b"what"] == b"entry" and b"cannot decode" in fields[b"error"]
    assert not redis_conn.exists(FAILURES)


@pytest.mark.parametrize(
    "rows", [[["com.x", "d"]], [{"package": "com.x"}], {"0": ["com.x"]}, [[*"abcdefghijklm"]]]
)
def test_an_entry_whose_sightings_are_not_rows_of_their_fields_is_set_aside(redis_conn, rows):
    """The worker hands sightings to PostgreSQL as the stream holds them (lists of 11 or 12 fields): an entry
    holding anything else is refused whole when decoded, as before, never half-applied."""
    drain(redis_conn)
    redis_conn.delete(REJECTED)
    redis_conn.xadd(events.STREAM, {"b": orjson.dumps({"s": rows, "a": [], "c": []})})
    assert drain(redis_conn) == 0
    [(_, fields)] = redis_conn.xrange(REJECTED)
    assert fields[b"what"] == b"entry" and b"cannot decode" in fields[b"error"]
    assert redis_conn.xpending(events.STREAM, events.GROUP)["pending"] == 0


def test_a_batch_holding_only_a_failure_report_is_counted(api, world, redis_conn):
    """A flush can fall between a /stats call's action and its outcome, so a batch may hold a device's
    failure report and nothing else (its sighting unchanged, so not sent again). The worker looked up apps
    only by sightings, actions and choices: such a batch found none, and the failure never reached the
    rollout's health (tests/test_rollouts.py lost one of six failing devices that way)."""
    upload(api, world, "1.1.0")
    drain(redis_conn)
    device, minute = "00000000-0000-0000-0000-0000000000f1", int(time.time()) // 60
    offered = events.encode([sighting(device, version_name="1.0.0") + ["1.1.0"]], {}, [])
    failed = events.encode([], {}, [], [(PKG, device, "1.1.0", "failure", "10.0.0.1", minute)])
    redis_conn.xadd(events.STREAM, {"b": offered})
    redis_conn.xadd(events.STREAM, {"b": failed})
    assert drain(redis_conn) == 2
    got = [
        (o.device_id, o.bundle, o.kind)
        for o in DeviceOutcome.select().where(DeviceOutcome.device_id == device)
    ]
    assert got == [(device, "1.1.0", "failure")]


def test_a_new_device_costs_three_index_entries():
    """Migration 0016: of the device table's indexes, only the primary key, (app, device) and (app, last
    seen) take every row; the pin columns' indexes take pinned devices only (the worker's upsert of a new
    device wrote six entries before)."""
    from store.db import db

    rows = db.execute_sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'device'").fetchall()
    every_row = {name for name, definition in rows if " WHERE " not in definition}
    assert every_row == {"device_pkey", "device_app_id_device_id", "device_app_id_last_seen_at"}
    partial = {name: definition.split(" WHERE ")[1] for name, definition in rows if " WHERE " in definition}
    assert partial == {
        "device_pinned": "((channel_override_id IS NOT NULL) OR (bundle_override_id IS NOT NULL))",
        "device_pinned_channel": "(channel_override_id IS NOT NULL)",
        "device_pinned_bundle": "(bundle_override_id IS NOT NULL)",
    }


def test_a_new_device_is_checked_against_no_foreign_key_but_only_known_apps_are_stored(
    api, world, redis_conn
):
    """Migration 0017: the device table keeps its pin columns' keys and loses the one to app, whose check
    ran for every new device; a batch naming an app that does not exist still stores nothing for it."""
    from store.db import db

    keys = db.execute_sql(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'device'::regclass AND contype = 'f'"
    ).fetchall()
    assert {k for (k,) in keys} == {"device_channel_override_id_fkey", "device_bundle_override_id_fkey"}
    stranger, known = uid("stranger"), uid("known")
    batch = Batch(
        entry_id="no-such-app-1",
        sightings=[
            [
                "com.nobody.here",
                stranger,
                "ios",
                "6.0.0",
                "17",
                "1.0.0",
                "1.0.0",
                "",
                True,
                False,
                1.7e9,
                None,
            ],
            [PKG, known, "ios", "6.0.0", "17", "1.0.0", "1.0.0", "", True, False, 1.7e9, None],
        ],
        actions={},
    )
    with unit_of_work():
        apply_batch(batch)
    stored = {d.device_id for d in Device.select().where(Device.device_id.in_([stranger, known]))}
    assert stored == {known}
