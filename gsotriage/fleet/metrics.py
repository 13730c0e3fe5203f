"""Prometheus metrics of a fleet worker (``--metrics-port``), with prometheus-client.

All tasks run in the worker's one process (threads), so one registry serves them all.

- ``gsotriage_tasks_total{status}``: finished tasks by outcome (the batch statuses, plus
  ``not-recorded`` when the history database could not take an analysed input in time);
- ``gsotriage_analysis_seconds{kind}``: wall time of one analysis (``dump`` or ``text``);
- ``gsotriage_verdicts_total{root_cause}``: analysed inputs by the root cause named
  (``unknown`` when nothing specific);
- ``gsotriage_queue_latency_seconds{queue}``: from ``submit`` to the start of the analysis;
- ``gsotriage_build_loads_total``: dumps whose build had no per-build profile in this
  worker's profile dirs (``GSOTRIAGE_PROFILE_DIR``), so the analysis loaded its DWARF (or the
  dump's BTF) and wrote one; later dumps of the build load no DWARF. The number shard routing
  keeps low. With profiles off: the builds this worker had not seen before;
- ``gsotriage_record_seconds``: time to write one row (retries included).
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["WorkerMetrics"]

_LATENCY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_ANALYSIS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)


class WorkerMetrics:
    """The worker's metrics, in their own registry (served by :meth:`serve`)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.tasks = Counter("gsotriage_tasks", "Finished tasks by status.", ["status"], registry=self.registry)
        self.analysis = Histogram(
            "gsotriage_analysis_seconds",
            "Wall time of one analysis.",
            ["kind"],
            buckets=_ANALYSIS_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "gsotriage_verdicts", "Analysed inputs by root cause.", ["root_cause"], registry=self.registry
        )
        self.latency = Histogram(
            "gsotriage_queue_latency_seconds",
            "Seconds from submit to the start of the analysis.",
            ["queue"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.build_loads = Counter(
            "gsotriage_build_loads",
            "Dumps whose build had no per-build profile here: a debug-info load.",
            registry=self.registry,
        )
        self.record = Histogram("gsotriage_record_seconds", "Seconds to record one row.", registry=self.registry)

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:  # noqa: S104 - a metrics endpoint is meant to be scraped
        from prometheus_client import start_http_server

        return start_http_server(port, addr=addr, registry=self.registry)

    def finished(self, status: str, *, kind: str, seconds: float, root_cause: Optional[str]) -> None:
        self.tasks.labels(status=status).inc()
        self.analysis.labels(kind=kind).observe(seconds)
        if status in ("ok", "not-recorded"):
            self.verdicts.labels(root_cause=root_cause or "unknown").inc()

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")
