"""Prometheus metrics for every service, in prometheus-client's multiprocess mode under gunicorn.

The gunicorn configurations call ``api.multiprocess.prepare`` before any worker imports
prometheus_client (the library picks its storage when it is first imported), so each worker
writes its samples to files in ``<metrics dir>/<service>`` and any worker's ``/metrics`` reports
the sum over all of them. Outside gunicorn the process's own registry is served.

Request metrics are labelled by route template (never by raw path, so the label set stays
bounded) and status. State that lives in Redis or the database (queue depth, failed jobs,
outbox backlog, scheduler liveness) is read when the write API is scraped, by ``StateCollector``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from api.multiprocess import ENV

REQUESTS = Counter(
    "gatehouse_requests_total", "HTTP requests answered", ["service", "route", "method", "status"]
)
LATENCY = Histogram(
    "gatehouse_request_seconds",
    "Time from the request reaching the app to its answer",
    ["service", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
SNAPSHOT_GENERATION = Gauge(
    "gatehouse_snapshot_generation",
    "gh:snap:gen as this read process last saw it",
    multiprocess_mode="liveall",
)
SNAPSHOT_SYNCED = Gauge(
    "gatehouse_snapshot_synced_timestamp_seconds",
    "When this read process last confirmed its snapshots current (age = time() - value)",
    multiprocess_mode="liveall",
)
SNAPSHOT_APPS = Gauge(
    "gatehouse_snapshot_apps", "Apps held in this read process", multiprocess_mode="liveall"
)
SNAPSHOT_DECODED = Gauge(
    "gatehouse_snapshot_decoded_bytes",
    "Estimated resident bytes of the answers this read process holds decoded (budget: GATEHOUSE_READ_HOT_MB)",
    multiprocess_mode="liveall",
)
SNAPSHOT_COMPARES = Counter(
    "gatehouse_snapshot_full_compares",
    "Full compares of every app's snapshot tag (a lost change message, or one from an older release); none "
    "while every change arrives by its message.",
)
SNAPSHOT_DECODES = Counter(
    "gatehouse_snapshot_decodes_total",
    "Apps decoded from their compressed document (first use, or again after leaving the hot set)",
)
DROPPED = Counter(
    "gatehouse_dropped_events_total",
    "Work not done at once and left to a fallback: rebuild enqueues (the outbox sweep retries them), "
    "login-limit checks (let through while Redis is down)",
    ["kind"],
)


class RequestMetrics:
    """Counts and times every answer, with label children cached.

    ``batched`` (the read service): counts gather in a plain dict and reach prometheus-client on
    ``flush()``, which the event loop calls every second and before a scrape (same thread, so nothing
    is lost), and only one request in ``sample_every`` is timed. The read service calls this from its
    responders, not from a Falcon middleware: a middleware with both hooks cost its hot path 12 % of
    its throughput (`python -m loadtest.bench`, 32,475 against 28,632 req/s).
    """

    def __init__(self, service: str, batched: bool = False, sample_every: int = 1):
        self.service, self.batched, self.sample_every = service, batched, sample_every
        self._counters: dict[tuple, Counter] = {}
        self._timers: dict[str, Histogram] = {}
        self._pending: dict[tuple, int] = {}
        self._seen = 0

    def observe(self, route: str | None, method: str, status: int, started: float | None) -> None:
        """One answer; ``started`` is the perf_counter() reading when the app took the request."""
        key = (route or "unmatched", method, status)
        if self.batched:
            self._pending[key] = self._pending.get(key, 0) + 1
        else:
            self._counter(key).inc()
        self._seen += 1
        if started is not None and self._seen % self.sample_every == 0:
            timer = self._timers.get(key[0])
            if timer is None:
                timer = self._timers[key[0]] = LATENCY.labels(self.service, key[0])
            timer.observe(time.perf_counter() - started)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for key, n in pending.items():
            self._counter(key).inc(n)

    def _counter(self, key: tuple) -> Counter:
        counter = self._counters.get(key)
        if counter is None:
            route, method, status = key
            counter = self._counters[key] = REQUESTS.labels(self.service, route, method, str(status))
        return counter


class StateCollector:
    """Gauges read at scrape time: ``probes`` maps a metric name to (help text, a function returning a number
    or None when the source is unreachable)."""

    def __init__(self, probes: dict[str, tuple[str, Callable[[], float | None]]]):
        self.probes = probes

    def collect(self):
        for name, (text, probe) in self.probes.items():
            try:
                value = probe()
            except Exception:
                value = None
            if value is not None:
                yield GaugeMetricFamily(name, text, value=value)


def exposition(extra: list | None = None) -> tuple[bytes, str]:
    """The text a scrape gets: every worker's samples (multiprocess mode) or this process's, then ``extra``."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        text = generate_latest(REGISTRY)
    if extra:
        registry = CollectorRegistry(auto_describe=False)
        for collector in extra:
            registry.register(collector)
        text += generate_latest(registry)
    return text, CONTENT_TYPE_LATEST
