"""The fleet's one task, ``gsotriage.analyze``: analyse an input in a child process, record it.

A worker runs tasks in threads (``--concurrency``); each thread keeps one analysis process
from ``gsotriage.batch.runner`` (the same killable, timed, memory-guarded process ``batch``
uses, reused between tasks), so a drgn crash, a timeout or an oversized analysis costs that
task, never the worker. The result is the document ``batch`` writes, recorded in the history
database under the input's resume key by upsert: a task delivered twice (its worker was
killed after recording, before acknowledging) updates the same row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gsotriage import __version__
from gsotriage.batch.keys import input_key
from gsotriage.batch.runner import Outcome, RunnerConfig, Task, WorkerPool, run_tasks
from gsotriage.history import HistoryDB, HistoryError, record_with_retry

from .logs import log_event
from .metrics import WorkerMetrics

__all__ = ["WorkerRuntime", "WorkerSettings", "register_task"]

_POOLS_PER_THREAD = 2  # distinct --debuginfo sets kept warm per thread


@dataclass(frozen=True)
class WorkerSettings:
    db: str
    runner: RunnerConfig  # jobs is 1: one analysis process per thread
    hostname: str
    library_digest: str
    record_patience: float = 60.0  # seconds of retries before the task itself is retried
    record_retries: int = 5  # task retries (the analysis again) before giving up on an input
    connect_timeout: float = 10.0


class WorkerRuntime:
    """Per-process state of a worker: per-thread database connections and analysis processes,
    the builds seen so far, the metrics."""

    def __init__(self, settings: WorkerSettings, metrics: Optional[WorkerMetrics] = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.local = threading.local()
        self.lock = threading.Lock()
        self.pools: List[WorkerPool] = []
        self.dbs: List[HistoryDB] = []
        self.builds: set = set()

    def db(self) -> HistoryDB:
        db = getattr(self.local, "db", None)
        if db is None:
            db = HistoryDB(self.settings.db, connect_timeout=self.settings.connect_timeout)
            self.local.db = db
            with self.lock:
                self.dbs.append(db)
        return db

    def drop_db(self) -> None:
        """Forget this thread's connection (after a failure it may be broken)."""
        db = getattr(self.local, "db", None)
        self.local.db = None
        if db is not None:
            with self.lock:
                if db in self.dbs:
                    self.dbs.remove(db)
            try:
                db.close()
            except Exception:  # noqa: S110 - closing a broken connection may fail; it is dropped either way
                pass

    def _pool(self, debuginfo: Tuple[str, ...]) -> WorkerPool:
        pools: OrderedDict[Tuple[str, ...], WorkerPool] = getattr(self.local, "pools", None) or OrderedDict()
        self.local.pools = pools
        pool = pools.pop(debuginfo, None)
        if pool is None:
            pool = WorkerPool(replace(self.settings.runner, jobs=1, debuginfo=debuginfo))
            with self.lock:
                self.pools.append(pool)
            while len(pools) >= _POOLS_PER_THREAD:
                _, old = pools.popitem(last=False)
                self._close_pool(old)
        pools[debuginfo] = pool
        return pool

    def _close_pool(self, pool: WorkerPool) -> None:
        with self.lock:
            if pool in self.pools:
                self.pools.remove(pool)
        pool.close()

    def analyse(self, path: str, key: str, extra_debuginfo: Sequence[str]) -> Outcome:
        debuginfo = tuple(dict.fromkeys([*self.settings.runner.debuginfo, *extra_debuginfo]))
        pool = self._pool(debuginfo)
        results: List[Outcome] = []
        try:
            run_tasks([Task(0, path, key)], pool.config, results.append, keep=pool)
        except BaseException:
            self.local.pools.pop(debuginfo, None)
            self._close_pool(pool)
            raise
        return results[0]

    def cold(self, build: Optional[str]) -> bool:
        """Whether this dump's build must be loaded from its debug info: no per-build profile for
        it in this worker's profile dirs yet (the analysis loads DWARF, or the dump's BTF, and
        writes one). With profiles turned off: the first time this worker sees the build."""
        if not build:
            return False
        from gsotriage.collect.profile import profile_exists
        from gsotriage.collect.settings import load_settings

        settings = load_settings()
        kind, _, build_id = build.partition(":")
        if settings.profiles and kind == "build":
            return not profile_exists(settings.profile_dirs, build_id)
        with self.lock:
            if build in self.builds:
                return False
            self.builds.add(build)
        return True

    def close(self) -> None:
        with self.lock:
            pools, dbs = list(self.pools), list(self.dbs)
            self.pools.clear()
            self.dbs.clear()
        for pool in pools:
            pool.close()
        for db in dbs:
            try:
                db.close()
            except Exception:  # noqa: S110 - shutting down
                pass


def _summary(document: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if document is None:
        return {}
    summary = document.get("summary") or {}
    report = document.get("report") or {}
    return {
        "root_cause": summary.get("root_cause"),
        "specific": summary.get("specific"),
        "status_of_verdict": summary.get("status"),
        "bucket": report.get("bucket"),
        "kernel_release": (report.get("kernel") or {}).get("release"),
    }


def run_analysis_task(
    runtime: WorkerRuntime,
    request: Any,
    path: str,
    *,
    debuginfo: Sequence[str] = (),
    content_hash: bool = False,
    submitted_at: Optional[float] = None,
    build: Optional[str] = None,
) -> Dict[str, Any]:
    """The task body (without Celery's ``self``): analyse, record, report. Raises HistoryError
    when the row could not be written within ``record_patience`` (the caller retries the task)."""
    settings = runtime.settings
    delivery = getattr(request, "delivery_info", None) or {}
    queue = str(delivery.get("routing_key") or "?")
    started = time.time()
    if runtime.metrics is not None and submitted_at and not getattr(request, "retries", 0):
        runtime.metrics.latency.labels(queue=queue).observe(max(0.0, started - submitted_at))
    redelivered = bool(delivery.get("redelivered"))
    log_event("analysing", input=path, queue=queue, worker=settings.hostname, build=build, redelivered=redelivered)
    cold = runtime.cold(build)
    if cold and runtime.metrics is not None:
        runtime.metrics.build_loads.inc()
    key = input_key(path, tool_version=__version__, library_digest=settings.library_digest, content_hash=content_hash)
    outcome = runtime.analyse(path, key, debuginfo)
    result: Dict[str, Any] = {
        "input": path,
        "key": key,
        "status": outcome.status,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 3),
        "queue": queue,
        "worker": settings.hostname,
        "build": build,
        "recorded": False,
        **_summary(outcome.document),
    }
    kind = "dump" if build else "text"
    if outcome.document is not None:
        t0 = time.monotonic()

        def retrying(exc: HistoryError, delay: float) -> None:
            log_event("history database unavailable; retrying", level=logging.WARNING, input=path,
                      error=str(exc), retry_in=round(delay, 2))  # fmt: skip

        try:
            record_with_retry(
                runtime.db(),
                outcome.document,
                input_path=path,
                input_key=key,
                origin=f"fleet:{queue}:{settings.hostname}",
                patience=settings.record_patience,
                on_retry=retrying,
            )
        except HistoryError as exc:
            runtime.drop_db()
            if runtime.metrics is not None:
                runtime.metrics.finished("not-recorded", kind=kind, seconds=outcome.seconds, root_cause=None)
            log_event("not recorded", level=logging.WARNING, **result, error=str(exc))
            raise
        result["recorded"] = True
        if runtime.metrics is not None:
            runtime.metrics.record.observe(time.monotonic() - t0)
    if runtime.metrics is not None:
        runtime.metrics.finished(
            outcome.status, kind=kind, seconds=outcome.seconds, root_cause=result.get("root_cause")
        )
    log_event("analysed", **result, cold_build=cold, redelivered=redelivered)
    return result


def register_task(app: Any, runtime: WorkerRuntime) -> Any:
    """Register ``gsotriage.analyze`` on ``app``, bound to this process's ``runtime``."""
    settings = runtime.settings

    @app.task(name="gsotriage.analyze", bind=True, acks_late=True, reject_on_worker_lost=True)
    def analyze(self: Any, path: str, **kwargs: Any) -> Dict[str, Any]:
        try:
            return run_analysis_task(runtime, self.request, path, **kwargs)
        except HistoryError as exc:
            # The database stayed unwritable for record_patience: put the task back (analysed again
            # later), up to record_retries times; then it fails, and submit --wait says so.
            countdown = min(60, 5 * 2 ** int(self.request.retries or 0))
            raise self.retry(exc=exc, countdown=countdown, max_retries=settings.record_retries) from None

    return analyze
