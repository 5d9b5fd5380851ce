"""A rollout's schedule and membership, shared by the worker and the read service (no ORM here).

Steps are [[epoch seconds, basis points], ...], both non-decreasing. A device's bucket is a stable hash
of the rollout and device ids, so membership is sticky, and a device below a share stays below every
larger share: widening from 10 % to 50 % keeps every device that already had the bundle.
"""

from __future__ import annotations

import hashlib

FULL = 10_000  # basis points


def share_at(steps: list, held: int | None, now: float) -> int:
    """The share (basis points) in effect at ``now``: the held one, else the last step already due."""
    if held is not None:
        return held
    share = 0
    for at, bp in steps:
        if at > now:
            break
        share = bp
    return share


def next_step(steps: list, now: float) -> tuple[float, int] | None:
    return next(((at, bp) for at, bp in steps if at > now), None)


def bucket(rollout_id: int, device_id: str) -> int:
    """A device's place in a rollout, 0 to 9999."""
    digest = hashlib.blake2b(f"{rollout_id}:{device_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % FULL
