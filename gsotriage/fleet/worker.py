"""``gsotriage worker`` without the CLI: check the database and the broker, then run Celery.

Start-up is fail-fast and says why in one line: the history database is opened (and
migrated, safely when many workers start at once) within ``db_wait`` seconds, the broker is
reached within ``broker_wait`` seconds, else :class:`FleetError` with exit code 3. Once up, a
worker rides out broker restarts (Celery reconnects) and database outages (tasks retry).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from gsotriage.batch.runner import RunnerConfig
from gsotriage.errors import FleetExit
from gsotriage.history import HistoryDB, HistoryError

from .app import make_app
from .config import FleetConfig, redact
from .logs import configure_json_logging, log_event
from .metrics import WorkerMetrics
from .routing import all_queues, parse_queues
from .tasks import WorkerRuntime, WorkerSettings, register_task

__all__ = ["FleetError", "WorkerOptions", "check_broker", "open_database", "run_worker"]


class FleetError(Exception):
    """A fleet command cannot go on; the message is one line, ``code`` the exit code."""

    def __init__(self, message: str, code: int = FleetExit.UNAVAILABLE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WorkerOptions:
    fleet: FleetConfig
    db: str
    concurrency: int = 1
    queues: Tuple[str, ...] = ()  # empty: every queue (general and all shards)
    memory_limit_mb: Optional[int] = None
    sig_paths: Tuple[str, ...] = ()
    debuginfo: Tuple[str, ...] = ()
    library_digest: str = ""
    name: Optional[str] = None
    metrics_port: Optional[int] = None
    metrics_addr: str = "0.0.0.0"  # noqa: S104 - scraped by Prometheus
    db_wait: float = 10.0
    broker_wait: float = 10.0
    log_level: str = "info"


def open_database(target: str, wait: float, connect_timeout: float = 10.0) -> HistoryDB:
    """Open and migrate the history database, retrying an unreachable one for ``wait`` seconds."""
    deadline = time.monotonic() + wait
    delay = 0.5
    while True:
        try:
            return HistoryDB(target, connect_timeout=min(connect_timeout, max(2.0, wait)))
        except HistoryError as exc:
            if not exc.transient or time.monotonic() + delay > deadline:
                raise FleetError(str(exc)) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def check_broker(app: Any, wait: float) -> None:
    """Connect to the broker once, retrying for ``wait`` seconds; FleetError when it stays unreachable."""
    conn = app.connection_for_write()
    try:
        conn.ensure_connection(max_retries=max(1, int(wait // 2)), interval_start=1, interval_step=1, timeout=wait)
    except Exception as exc:  # kombu.exceptions.OperationalError and transport errors
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise FleetError(f"broker {redact(app.conf.broker_url)} unreachable: {text}") from None
    finally:
        conn.release()


def worker_queues(opts: WorkerOptions) -> List[str]:
    return parse_queues(opts.queues, opts.fleet.shards) if opts.queues else all_queues(opts.fleet.shards)


def run_worker(opts: WorkerOptions) -> int:
    """Run until stopped (SIGTERM/SIGINT: warm shutdown); returns Celery's exit code."""
    configure_json_logging(opts.log_level)
    queues = worker_queues(opts)
    db = open_database(opts.db, opts.db_wait)
    location = db.location
    db.close()
    app = make_app(opts.fleet)
    check_broker(app, opts.broker_wait)
    hostname = opts.name or f"gsotriage-{os.getpid()}@{socket.gethostname()}"
    metrics = WorkerMetrics()
    if opts.metrics_port is not None:
        metrics.serve(opts.metrics_port, opts.metrics_addr)
    runner = RunnerConfig(
        jobs=1,
        timeout=opts.fleet.task_timeout,
        memory_limit_mb=opts.memory_limit_mb,
        sig_paths=opts.sig_paths,
        debuginfo=opts.debuginfo,
    )
    runtime = WorkerRuntime(
        WorkerSettings(db=opts.db, runner=runner, hostname=hostname, library_digest=opts.library_digest), metrics
    )
    register_task(app, runtime)
    log_event(
        "worker starting",
        worker=hostname,
        broker=redact(opts.fleet.broker),
        db=location,
        queues=queues,
        concurrency=opts.concurrency,
        timeout=opts.fleet.task_timeout,
        metrics_port=opts.metrics_port,
    )
    worker = app.Worker(
        quiet=True,  # no banner: the start is the JSON line above
        hostname=hostname,
        pool_cls="threads",
        concurrency=opts.concurrency,
        queues=queues,
        loglevel=opts.log_level.upper(),
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        optimization="fair",
    )
    try:
        worker.start()
    finally:
        runtime.close()
        log_event("worker stopped", worker=hostname)
    return int(worker.exitcode or 0)
