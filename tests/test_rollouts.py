"""Staged rollouts on live-update channels: sticky, monotonic membership; steps evaluated by the read
service against its clock (no rebuild); the admin API; auto-pause and rollback from the plugin's stats;
promotion at 100 %. Over HTTP against real PostgreSQL and Redis."""

from __future__ import annotations

import hashlib
import time

import pytest

from store.models import BundleStat, DeviceOutcome
from store.ramps import bucket
from tests.helpers import uid
from tests.test_capgo import PKG, device_body, upload
from worker.jobs import check_rollouts
from worker.sightings import drain

IDS = [f"device-{i:06d}" for i in range(100_000)]


@pytest.mark.parametrize("percent", [1, 5, 10, 25, 50, 90])
def test_the_hash_spreads_devices_evenly(percent):
    inside = sum(bucket(7, d) < percent * 100 for d in IDS)
    assert abs(inside / len(IDS) * 100 - percent) <= 0.5, inside


def test_a_devices_place_never_changes_across_releases():
    """Places written down from the first release's formula (blake2b of "rollout:device", 8 bytes, mod
    10,000): a release that computed them differently would move devices in and out of live rollouts."""
    assert bucket(7, "00000000-0000-4000-8000-000000000001") == 3282
    assert bucket(3, "device-a") == 3530
    assert bucket(12345, "Ω-unicode") == 3247


def test_membership_is_sticky_and_only_grows_when_widening():
    at_10 = {d for d in IDS[:20_000] if bucket(3, d) < 1000}
    at_50 = {d for d in IDS[:20_000] if bucket(3, d) < 5000}
    assert at_10 <= at_50 and len(at_50) > 4 * len(at_10)
    assert at_10 == {d for d in IDS[:20_000] if bucket(3, d) < 1000}  # the same answer every time
    # Another rollout places devices independently.
    other = {d for d in IDS[:20_000] if bucket(4, d) < 1000}
    assert len(at_10 & other) < len(at_10) / 5


@pytest.fixture
def live(api, world, capgo, sync):
    """world's app with 1.0.0 on the public production channel and 1.1.0 uploaded."""
    upload(api, world, "1.0.0", channel="production")
    capgo("POST", "/channel", {"app_id": PKG, "channel": "production", "public": True})
    upload(api, world, "1.1.0")
    sync()

    def rollout(method: str, suffix: str = "", body=None):
        path = f"/admin/v1/apps/{world.app_id}/channels/production/rollout{suffix}"
        return api.simulate_request(method, path, json=body, headers=world.auth)

    return rollout


def devices_on(reader, version: str, n: int = 2000) -> int:
    return sum(
        reader.simulate_post(
            "/updates", json=device_body(device_id=uid(f"fleet-{i}"), version_name="1.0.0")
        ).json.get("version")
        == version
        for i in range(n)
    )


def test_steps_take_effect_at_their_time_without_a_rebuild(live, reader, sync, cache):
    res = live(
        "PUT",
        body={
            "bundle": "1.1.0",
            "steps": [
                {"percent": 0, "at": "now"},
                {"percent": 50, "at": "+1h"},
                {"percent": 100, "at": "+2h"},
            ],
        },
    )
    assert res.status_code == 201, res.json
    assert res.json["share_percent"] == 0 and res.json["next_step"]["percent"] == 50
    sync()
    devices = reader.app.direct[("POST", "/updates")][0].__self__.d
    state = cache.state
    start = time.time()
    devices.clock = lambda: start + 60
    assert devices_on(reader, "1.1.0") == 0
    devices.clock = lambda: start + 3600 + 60
    half = devices_on(reader, "1.1.0")
    assert 850 <= half <= 1150, half
    devices.clock = lambda: start + 2 * 3600 + 60
    assert devices_on(reader, "1.1.0") == 2000
    assert cache.state is state  # no snapshot was reloaded: the read service evaluated the steps itself


def test_admin_api_pause_resume_promote_abort(live, api, world, reader, sync, capgo):
    body = {"bundle": "1.1.0", "steps": [{"percent": 10, "at": "now"}, {"percent": 100, "at": "+3d"}]}
    assert live("PUT", body=body).status_code == 201
    again = live("PUT", body=body)
    assert again.status_code == 409 and "in progress" in again.json["error"]
    status = live("GET").json
    assert status["state"] == "running" and status["share_percent"] == 10 and status["bundle"] == "1.1.0"
    assert status["next_step"]["percent"] == 100
    paused = live("POST", "/pause").json
    assert (
        paused["state"] == "paused"
        and paused["share_percent"] == 10
        and paused["reason"] == "paused by an admin"
    )
    assert live("POST", "/resume").json["state"] == "running"
    assert live("POST", "/sideways").status_code == 404
    promoted = live("POST", "/promote").json
    assert promoted["state"] == "promoted" and promoted["share_percent"] == 100
    assert capgo("GET", "/channel", app_id=PKG, channel="production").json["version"]["name"] == "1.1.0"
    sync()
    assert devices_on(reader, "1.1.0", 50) == 50
    assert live("DELETE").status_code == 404  # nothing in progress any more
    bad = live(
        "PUT", body={"bundle": "1.1.0", "steps": [{"percent": 50, "at": "now"}, {"percent": 10, "at": "+1h"}]}
    )
    assert bad.status_code == 400  # the channel serves 1.1.0 already; and shares must not fall


def test_abort_sends_every_device_back(live, reader, sync):
    live("PUT", body={"bundle": "1.1.0", "steps": [{"percent": 100, "at": "now"}]})
    sync()
    assert devices_on(reader, "1.1.0", 50) == 50
    assert live("DELETE").json["state"] == "aborted"
    sync()
    assert devices_on(reader, "1.1.0", 50) == 0


def address(device: str) -> str:
    """A distinct address per device: a real fleet calls from many."""
    n = int(hashlib.sha256(device.encode()).hexdigest()[:6], 16)
    return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"


def offered(reader, n: int, prefix: str, version: str = "1.1.0") -> list[str]:
    """``n`` devices whose /updates answer offered ``version`` (the rollout places each by its id)."""
    out, i = [], 0
    while len(out) < n:
        device = uid(f"{prefix}-{i}")
        i += 1
        got = reader.simulate_post("/updates", json=device_body(device_id=device, version_name="1.0.0"))
        if got.json.get("version") == version:
            out.append(device)
    return out


def stats(reader, action: str, devices: list[str], version: str = "1.1.0", remote_addr=None) -> None:
    for device in devices:
        body = device_body(device_id=device, version_name=version) | {"action": action}
        res = reader.simulate_post("/stats", json=body, remote_addr=remote_addr or address(device))
        assert res.json == {"status": "ok"}


@pytest.mark.parametrize("on_failure", ["pause", "rollback"])
def test_a_failing_rollout_pauses_itself(live, reader, sync, redis_conn, on_failure):
    body = {
        "bundle": "1.1.0",
        "steps": [{"percent": 50, "at": "now"}, {"percent": 100, "at": "+1d"}],
        "on_failure": on_failure,
        "failure_threshold_percent": 20,
        "min_samples": 20,
    }
    live("PUT", body=body)
    sync()
    before = devices_on(reader, "1.1.0", 400)
    fleet = offered(reader, 21, "fleet")
    stats(reader, "set", fleet[:15])
    stats(reader, "update_fail", fleet[15:17])
    stats(reader, "set", fleet[17:], version="1.0.0")  # another bundle's health does not count
    time.sleep(0.7)
    drain(redis_conn)
    assert check_rollouts() == 0  # 2 failing devices of 17: under the threshold (and the sample)
    stats(reader, "download_fail", fleet[17:20])
    stats(reader, "checksum_fail", fleet[20:])
    time.sleep(0.7)
    drain(redis_conn)
    assert check_rollouts() == 1  # 6 failing devices of 21: 28.6 % >= 20 %
    sync()
    status = live("GET").json
    assert status["state"] == "paused" and "failure rate 28.6 %" in status["reason"]
    after = devices_on(reader, "1.1.0", 400)
    if on_failure == "rollback":
        assert status["share_percent"] == 0 and after == 0
    else:
        assert status["share_percent"] == 50 and after == before


def test_a_rollout_is_promoted_after_a_whole_window_at_100_percent(live, reader, sync, capgo):
    import datetime as dt

    body = {"bundle": "1.1.0", "steps": [{"percent": 100, "at": "now"}], "window_seconds": 60}
    live("PUT", body=body)
    assert check_rollouts() == 0  # at 100 % just now: the health check still watches it
    live("DELETE")
    two_minutes_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)).isoformat()
    live("PUT", body=body | {"steps": [{"percent": 100, "at": two_minutes_ago}]})
    assert check_rollouts() == 1
    assert live("GET").json["state"] == "promoted"
    assert capgo("GET", "/channel", app_id=PKG, channel="production").json["version"]["name"] == "1.1.0"


def test_outcomes_are_kept_only_for_the_bundles_of_live_rollouts(live, reader, sync, redis_conn):
    """A device's outcome row is what a rollout's health reads, and nothing else does: reports of a bundle
    no live rollout ships are counted per action (the bundle's stats) but leave no row per device."""
    plain = [uid(f"plain-{i}") for i in range(3)]
    for device in plain:
        got = reader.simulate_post("/updates", json=device_body(device_id=device, version_name="0.9.0"))
        assert got.json.get("version") == "1.0.0", (
            got.json
        )  # offered the channel's bundle: before, its outcomes were kept
    stats(reader, "set", plain[:2], version="1.0.0")
    stats(reader, "update_fail", plain[2:], version="1.0.0")
    live(
        "PUT",
        body={"bundle": "1.1.0", "steps": [{"percent": 50, "at": "now"}, {"percent": 100, "at": "+1d"}]},
    )
    sync()
    watched = offered(reader, 2, "watched")
    stats(reader, "set", watched)
    time.sleep(0.7)  # the read process's flush
    drain(redis_conn)
    kept = {(o.device_id, o.bundle, o.kind) for o in DeviceOutcome.select()}
    assert kept == {(d, "1.1.0", "success") for d in watched}
    counted = {(s.bundle, s.action): s.count for s in BundleStat.select()}
    assert counted == {("1.0.0", "set"): 2, ("1.0.0", "update_fail"): 1, ("1.1.0", "set"): 2}
