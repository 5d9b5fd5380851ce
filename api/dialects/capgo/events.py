"""What the read service hands the worker about devices, through one Redis stream (no ORM here).

An entry is one batch: the latest sighting of each device seen since the last flush, plugin actions
counted per (app, minute, bundle, action), and devices' own channel choices in the order they were made.
The worker applies each entry once (store.devices.apply_batch) and acknowledges it after the commit.
"""

from __future__ import annotations

import orjson

STREAM = "gh:capgo:events"
GROUP = "gatehouse"
# The stream is trimmed to about this many entries: a backlog past it (the worker down for long) loses
# the oldest batches, which the read service counts as dropped rather than grow Redis without bound.
STREAM_MAX = 100_000

# A sighting: package, device_id, platform, plugin_version, os_version, version_build, version_name,
# custom_id, is_prod, is_emulator, seen at (epoch seconds), the bundle /updates offered it (or None)
Sighting = tuple
# An outcome: package, device_id, bundle, "failure" or "success", source address, minute (epoch s // 60)
Outcome = tuple


def encode(
    sightings: list[Sighting],
    actions: dict[tuple, int],
    choices: list[tuple],
    outcomes: list[Outcome] = (),
) -> bytes:
    doc = {"s": sightings, "a": [[*k, n] for k, n in actions.items()], "c": choices}
    if outcomes:
        doc["o"] = list(outcomes)
    return orjson.dumps(doc)


def decode(raw: bytes) -> tuple[list, dict, list, list]:
    doc = orjson.loads(raw)
    actions: dict[tuple, int] = {}
    for package, minute, bundle, action, n in doc.get("a", []):
        key = (package, int(minute), bundle, action)
        actions[key] = actions.get(key, 0) + int(n)
    return doc.get("s", []), actions, doc.get("c", []), doc.get("o", [])
