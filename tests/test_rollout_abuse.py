"""What anonymous /stats can do to a rollout and to the stats tables (the second hardening round, items 2
and 3): floods from one address, from made-up device ids and from devices that were offered the bundle
leave a rollout running, while a failing fleet still trips it; made-up bundle names add no rows.
Over the read service's HTTP interface and a real worker batch, against real PostgreSQL and Redis.
`make chaos` runs the floods ten times larger (GATEHOUSE_CHAOS_SCALE)."""

from __future__ import annotations

import os
import time

import pytest

from store.models import BundleMinuteStat, BundleStat, DeviceOutcome
from tests.helpers import uid
from tests.test_capgo import device_body
from tests.test_rollouts import live, offered, stats  # noqa: F401 - the rollout fixture
from worker.jobs import check_rollouts
from worker.sightings import drain

SCALE = float(os.environ.get("GATEHOUSE_CHAOS_SCALE", "1"))
FLOOD = int(60 * SCALE)
RULES = {
    "bundle": "1.1.0",
    "steps": [{"percent": 50, "at": "now"}, {"percent": 100, "at": "+1d"}],
    "on_failure": "rollback",
    "failure_threshold_percent": 20,
    "min_samples": 10,
}


def settle(redis_conn) -> None:
    time.sleep(0.7)  # the recorder flushes every half second
    drain(redis_conn)


@pytest.fixture
def running(live, sync):  # noqa: F811
    assert live("PUT", body=RULES).status_code == 201
    sync()
    return live


def test_made_up_devices_from_one_address_count_for_nothing(running, reader, redis_conn):
    flood = [uid(f"made-up-{i}") for i in range(FLOOD)]
    stats(reader, "update_fail", flood, remote_addr="203.0.113.9")
    settle(redis_conn)
    assert DeviceOutcome.select().count() == 0
    assert check_rollouts() == 0 and running("GET").json["state"] == "running"
    print(f"{FLOOD} update_fail from made-up ids at one address: 0 counted, rollout running")


def test_made_up_devices_from_many_addresses_count_for_nothing(running, reader, redis_conn):
    stats(reader, "update_fail", [uid(f"botnet-{i}") for i in range(FLOOD)])  # an address each
    settle(redis_conn)
    assert DeviceOutcome.select().count() == 0
    assert check_rollouts() == 0 and running("GET").json["state"] == "running"


def test_offered_devices_from_one_address_are_bounded(running, reader, redis_conn):
    # The attacker first makes each id ask /updates until the rollout offers it the bundle.
    flood = offered(reader, FLOOD, "attacker")
    stats(reader, "update_fail", flood, remote_addr="203.0.113.9")
    settle(redis_conn)
    assert DeviceOutcome.select().count() == FLOOD  # kept, but one address adds at most 5
    assert check_rollouts() == 0 and running("GET").json["state"] == "running"
    print(f"{FLOOD} update_fail from offered ids at one address: 5 counted, rollout running")


def test_one_device_counts_once_however_often_it_reports(running, reader, redis_conn):
    [device] = offered(reader, 1, "loud")
    for _ in range(FLOOD):
        stats(reader, "update_fail", [device])
    settle(redis_conn)
    assert DeviceOutcome.select().count() == 1
    assert check_rollouts() == 0 and running("GET").json["state"] == "running"


def test_a_failing_fleet_still_trips_the_rollout(running, reader, redis_conn, sync):
    # A flood first, then the fleet: the flood neither trips it nor masks the fleet.
    stats(reader, "set", [uid(f"made-up-{i}") for i in range(FLOOD)], remote_addr="203.0.113.9")
    fleet = offered(reader, 30, "fleet")
    stats(reader, "set", fleet[:20])
    stats(reader, "update_fail", fleet[20:])
    settle(redis_conn)
    assert check_rollouts() == 1
    print("30 offered devices at 30 addresses, 10 failing: rollout rolled back")
    status = running("GET").json
    assert status["state"] == "paused" and status["share_percent"] == 0  # rolled back
    assert "10 failing devices, 20 devices updated" in status["reason"]


def test_made_up_bundle_names_add_no_stats_rows(api, world, reader, redis_conn, sync):
    from tests.test_capgo import upload

    upload(api, world, "1.0.0")
    sync()
    for i in range(int(200 * SCALE)):
        body = device_body(device_id=uid(f"d-{i}"), version_name=f"9.9.{i}") | {"action": "set"}
        assert reader.simulate_post("/stats", json=body).status_code == 200
    reader.simulate_post("/stats", json=device_body(version_name="1.0.0") | {"action": "set"})
    settle(redis_conn)
    assert [(s.bundle, s.count) for s in BundleStat.select()] == [("1.0.0", 1)]
    assert [(s.bundle, s.count) for s in BundleMinuteStat.select()] == [("1.0.0", 1)]
