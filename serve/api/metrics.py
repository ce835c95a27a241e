"""Prometheus metrics of one service instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("streetwatch.metrics")

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class _CasesByStatus(Collector):
    """Reads the case counts from the store at scrape time (never stale, no bookkeeping on writes)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("streetwatch_cases", "Cases in the store by status.", labels=["status"])
        try:
            counts = self._counts()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the store is down
            log.warning("cases by status unavailable", exc_info=True)
            counts = {}
        for status, count in sorted(counts.items()):
            family.add_metric([str(status)], float(count))
        yield family


class ServiceMetrics:
    """The counters, histograms and gauges the service updates."""

    def __init__(self, queue_depth: Callable[[], float], case_counts: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, resident memory, open fds
        self.frames = Counter(
            "streetwatch_frames",
            "Live frames received, by transport and outcome (processed, duplicate, refused_*, error_*).",
            ["transport", "outcome"],
            registry=self.registry,
        )
        self.frame_latency = Histogram(
            "streetwatch_frame_latency_seconds",
            "Time from receiving a live frame to its answer (processed frames only).",
            ["transport"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "streetwatch_detector_batch_size",
            "Frames per detector call.",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
            registry=self.registry,
        )
        self.detector_frames = Counter(
            "streetwatch_detector_frames",
            "Frames run through the detector (live and jobs).",
            registry=self.registry,
        )
        self.detector_busy = Counter(
            "streetwatch_detector_busy_seconds",
            "Time spent inside detector batch calls; frames/busy = the detector's own batch throughput.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "streetwatch_detector_queue_depth", "Frames waiting for the detector.", registry=self.registry
        )
        self.queue_depth.set_function(queue_depth)
        self.jobs = Counter(
            "streetwatch_jobs", "Batch jobs finished, by outcome.", ["outcome"], registry=self.registry
        )
        self.registry.register(_CasesByStatus(case_counts))

    def observe_batch(self, frames: int, seconds: float) -> None:
        self.batch_size.observe(frames)
        self.detector_frames.inc(frames)
        self.detector_busy.inc(seconds)
