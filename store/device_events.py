"""What the read service hands the worker about devices, through one Redis stream: the records and their
one codec (no ORM here, so the read service may import it; no product's words, so the worker may).

An entry is one batch: the latest sighting of each device seen since the last flush, actions counted
per (app, minute, bundle, action), devices' own channel choices in the order they were made, and what
devices reported of a bundle (outcomes). The worker applies each entry once (store.devices.apply_batch)
and acknowledges it after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

STREAM = "gh:capgo:events"  # the key of the deployments that run today: kept, so no backlog is orphaned
GROUP = "gatehouse"
# The stream is trimmed to about this many entries: a backlog past it (the worker down for long) loses
# the oldest batches, which the read service counts as dropped rather than grow Redis without bound.
STREAM_MAX = 100_000


class Sighting(NamedTuple):
    """A device as its latest call described it; the fields from ``platform`` to ``is_emulator`` are the
    device row's columns of the same names (store.devices.SIGHTING_FIELDS)."""

    package: str
    device_id: str
    platform: str | None
    plugin_version: str
    os_version: str | None
    version_build: str
    version_name: str
    custom_id: str
    is_prod: bool
    is_emulator: bool
    seen_at: float  # epoch seconds
    offered_bundle: str | None  # the bundle an update check offered it (a rollout counts only those)


class Outcome(NamedTuple):
    """A device's report of a bundle: one per device, bundle and kind in a batch."""

    package: str
    device_id: str
    bundle: str
    kind: str  # "failure" or "success"
    source: str  # the address it came from (an IPv6 /64)
    minute: int  # epoch seconds // 60


class Choice(NamedTuple):
    """A device's own channel choice, applied in the order made."""

    kind: str  # "set" or "unset"
    package: str
    device_id: str
    channel: str | None


class Entry(NamedTuple):
    # As the stream holds them: each a list of Sighting's fields (11 from a read service older than the
    # offered bundle). Making each a Sighting was 38 % of the worker's time under new devices (py-spy), and
    # PostgreSQL takes them as they are (store.devices); ``as_sighting`` names one where a field is read.
    sightings: list[list]
    actions: dict[tuple[str, int, str, str], int]  # (package, minute, bundle, action) -> count
    choices: list[Choice]
    outcomes: list[Outcome]


def encode(
    sightings: Sequence[Sighting] | Sequence[tuple],
    actions: dict[tuple, int],
    choices: Sequence[Choice] | Sequence[tuple],
    outcomes: Sequence[Outcome] | Sequence[tuple] = (),
) -> bytes:
    doc: dict[str, Any] = {"s": sightings, "a": [[*k, n] for k, n in actions.items()], "c": choices}
    if outcomes:
        doc["o"] = list(outcomes)
    return orjson.dumps(doc, default=tuple)  # the records are NamedTuples, which orjson leaves to default


def as_sighting(row: Sequence) -> Sighting:
    """A sighting row as a record (a read service older than the offered bundle wrote 11 fields)."""
    if type(row) is Sighting:
        return row
    return Sighting._make(row) if len(row) == 12 else Sighting._make([*row[:11], None])


def decode(raw: bytes) -> Entry:
    """The records of an entry (sightings as lists of their fields, the others named); ValueError (or
    TypeError) for one that is not such an entry."""
    doc = orjson.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("a device batch is a JSON object")
    sightings = doc.get("s", [])
    if type(sightings) is not list or not all(type(r) is list and 11 <= len(r) <= 12 for r in sightings):
        raise ValueError("a sighting is a list of 11 or 12 fields")
    actions: dict[tuple[str, int, str, str], int] = {}
    for package, minute, bundle, action, n in doc.get("a", []):
        key = (package, int(minute), bundle, action)
        actions[key] = actions.get(key, 0) + int(n)
    return Entry(
        sightings=sightings,
        actions=actions,
        choices=[Choice(*c) for c in doc.get("c", [])],
        outcomes=[Outcome(*o) for o in doc.get("o", [])],
    )
