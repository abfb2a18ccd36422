"""Prometheus metrics of the scan pool, in a registry of their own.

The orchestrator calls the ``on_*`` methods as things happen (counters and the dispatch
latency histogram); gauges (queue depth, running jobs, workers by state) are read from
its snapshot when ``/metrics`` is scraped, so they can never drift from the pool.
``NoMetrics`` is the do-nothing stand-in an orchestrator uses when no metrics are served.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from herd.scan.orchestrator.pool import STATES
from herd.scan.orchestrator.snapshot import PoolSnapshot

RESULTS = ("yes", "no", "error", "dead")
REFUSALS = ("busy", "denied", "malformed")

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class NoMetrics:
    """Metrics that go nowhere: the orchestrator's default."""

    def on_acked(self) -> None:
        """A CHECK was stored and acknowledged."""

    def on_refused(self, reason: str) -> None:
        """A CHECK was refused (``busy``, ``denied``, ``malformed``, ...)."""

    def on_dispatched(self, waited_seconds: float) -> None:
        """A job left the queue for a worker after ``waited_seconds`` in it."""

    def on_finished(self, kind: str) -> None:
        """A job ended: ``yes``, ``no``, ``error`` or ``dead``."""


class PoolMetrics(NoMetrics):
    """The pool's counters, histogram and snapshot gauges, rendered for Prometheus."""

    def __init__(
        self,
        snapshot: Callable[[], PoolSnapshot],
        registry: Optional[CollectorRegistry] = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.acked = Counter(
            "herd_scan_checks_acked", "CHECK requests stored and acknowledged.",
            registry=self.registry,
        )
        self.refused = Counter(
            "herd_scan_checks_refused", "CHECK requests refused, by reason.", ["reason"],
            registry=self.registry,
        )
        self.finished = Counter(
            "herd_scan_jobs_finished", "Jobs ended, by result.", ["result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "herd_scan_dispatch_latency_seconds",
            "Seconds a job waited in the queue before it was dispatched to a worker.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for reason in REFUSALS:
            self.refused.labels(reason=reason)
        for result in RESULTS:
            self.finished.labels(result=result)
        self.registry.register(SnapshotCollector(snapshot))

    def on_acked(self) -> None:
        self.acked.inc()

    def on_refused(self, reason: str) -> None:
        self.refused.labels(reason=reason).inc()

    def on_dispatched(self, waited_seconds: float) -> None:
        self.latency.observe(max(0.0, waited_seconds))

    def on_finished(self, kind: str) -> None:
        self.finished.labels(result=kind).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class SnapshotCollector(Collector):
    """Gauges read from the pool's snapshot at scrape time."""

    def __init__(self, snapshot: Callable[[], PoolSnapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        # Registration asks for the names only: no snapshot before the first scrape.
        return self._families()

    def collect(self) -> Iterable[Metric]:
        return self._families(self._snapshot())

    @staticmethod
    def _families(pool: Optional[PoolSnapshot] = None) -> list[Metric]:
        queue = GaugeMetricFamily("herd_scan_queue_depth", "Jobs waiting for a worker.")
        running = GaugeMetricFamily("herd_scan_jobs_running", "Jobs running on workers now.")
        workers = GaugeMetricFamily(
            "herd_scan_workers", "Workers of the pool, by state.", labels=["state"]
        )
        if pool is not None:
            queue.add_metric([], pool.queued)
            running.add_metric([], pool.running)
            states = dict.fromkeys(STATES, 0)  # each exported, even at 0
            for worker in pool.workers:
                states[worker.state] = states.get(worker.state, 0) + 1
            for state, count in states.items():
                workers.add_metric([state], count)
        return [queue, running, workers]
