"""Asks the read service one question over several kept-alive connections at once.

The propagation measurements poll until a change shows. They used to open an httpx client per change,
inside the timed span: under read load building its TLS context took 50-80 ms, most of what was printed
as "to visible". A probe's connections are opened before the clock starts, and each round asks on all
of them at once: the read service's ``reuse_port`` spreads connections over its worker processes, so a
change counts as visible once every connection (and so, with eight, almost surely every process) answers
it.
"""

from __future__ import annotations

import http.client
import math
from urllib.parse import urlencode, urlsplit


class Probe:
    def __init__(self, base: str, connections: int = 8, timeout: float = 5.0):
        parts = urlsplit(base)
        self._conns = [
            http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
            for _ in range(connections)
        ]
        for conn in self._conns:
            conn.connect()

    def ask(
        self, path: str, params: dict | None = None, headers: dict | None = None
    ) -> list[tuple[int, bytes]]:
        """Every connection's answer (status, body) to one GET, sent on all before any is read."""
        target = f"{path}?{urlencode(params)}" if params else path
        for conn in self._conns:
            conn.request("GET", target, headers=headers or {})
        answers = []
        for conn in self._conns:
            res = conn.getresponse()
            answers.append((res.status, res.read()))
        return answers

    def close(self) -> None:
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (the smallest value at least ``q`` of the values are at or below): the
    figures used ``int(q * n)`` as an index, which for 100 samples made "p99" the maximum."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
