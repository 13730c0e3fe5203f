"""``gsotriage submit`` without the CLI: route each input to its queue, enqueue, optionally wait.

Inputs are paths on storage the workers share (absolute paths are sent). Each is routed by
its kernel build (:mod:`routing`) and sent as one ``gsotriage.analyze`` message. ``wait``
follows the task results (the result backend) until every input is analysed and recorded,
showing progress like ``batch``; with a database, the rows are then counted to confirm it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from gsotriage.batch.progress import Progress
from gsotriage.batch.summary import BatchSummary, summarize
from gsotriage.history import HistoryError

from .app import TASK_NAME, make_app
from .config import PRIORITY_NORMAL, PRIORITY_URGENT, FleetConfig
from .routing import Route, route_input
from .worker import FleetError, check_broker, open_database

__all__ = ["SubmitOptions", "SubmitReport", "Submitted", "enqueue", "submit", "wait_for"]

_POLL = 0.5


@dataclass(frozen=True)
class SubmitOptions:
    fleet: FleetConfig
    db: Optional[str] = None
    wait: bool = False
    urgent: bool = False
    debuginfo: Tuple[str, ...] = ()
    content_hash: bool = False
    wait_timeout: Optional[float] = None
    broker_wait: float = 10.0


@dataclass(frozen=True)
class Submitted:
    path: str
    task_id: str
    route: Route


@dataclass(frozen=True)
class SubmitReport:
    submitted: Tuple[Submitted, ...]
    results: Tuple[Dict[str, Any], ...]  # with wait: one per input, the task's result
    summary: Optional[BatchSummary]
    unconfirmed: int = 0  # ok results whose row the database does not have

    @property
    def failed(self) -> bool:
        return bool(self.summary and (self.summary.failures or self.summary.not_recorded)) or self.unconfirmed > 0


def enqueue(app: Any, paths: Sequence[str], opts: SubmitOptions) -> List[Submitted]:
    """Route and send one message per input."""
    priority = (PRIORITY_URGENT if opts.urgent else PRIORITY_NORMAL)[opts.fleet.kind]
    out: List[Submitted] = []
    with app.producer_or_acquire() as producer:
        for path in paths:
            full = os.path.abspath(path)
            route = route_input(full, opts.fleet.shards)
            kwargs = {
                "debuginfo": [os.path.abspath(d) for d in opts.debuginfo],
                "content_hash": opts.content_hash,
                "submitted_at": time.time(),
                "build": route.build,
            }
            result = app.send_task(
                TASK_NAME,
                args=(full,),
                kwargs=kwargs,
                queue=route.queue,
                routing_key=route.queue,
                priority=priority,
                producer=producer,
            )
            out.append(Submitted(full, result.id, route))
    return out


def _failure(meta: Mapping[str, Any], path: str) -> Dict[str, Any]:
    """A task that raised (it could not record within its retries, or was revoked)."""
    exc = meta.get("result")
    if isinstance(exc, BaseException):
        text = f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, dict):
        text = f"{exc.get('exc_type', 'error')}: {exc.get('exc_message', '')}"
    else:
        text = str(exc)
    status = "not-recorded" if "HistoryError" in text else "internal-error"
    return {"input": path, "key": None, "status": status, "error": text, "recorded": False}


def wait_for(
    app: Any,
    submitted: Sequence[Submitted],
    progress: Progress,
    *,
    timeout: Optional[float] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> List[Dict[str, Any]]:
    """The result of every task, in completion order. A result backend that goes away (a broker
    restart) is waited for; ``timeout`` bounds the whole wait (FleetError when it passes)."""
    pending: Dict[str, str] = {s.task_id: s.path for s in submitted}
    results: List[Dict[str, Any]] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    outage_noted = False
    progress.start(len(pending))
    try:
        while pending:
            if deadline is not None and time.monotonic() > deadline:
                raise FleetError(f"{len(pending)} input(s) still unfinished after {timeout:g}s", code=1)
            try:
                for task_id, meta in _finished(app, list(pending), sleep):
                    path = pending.pop(task_id, None)
                    if path is None:
                        continue
                    value = meta.get("result")
                    result: Dict[str, Any] = (
                        value if meta.get("status") == "SUCCESS" and isinstance(value, dict) else _failure(meta, path)
                    )
                    results.append(result)
                    progress.advance(result.get("status") != "ok" or not result.get("recorded"))
                outage_noted = False
            except Exception as exc:  # a TimeoutError of this round, or the backend restarting
                if type(exc).__name__ != "TimeoutError":
                    if not outage_noted:
                        progress.note(f"result backend unavailable ({' '.join(str(exc).split())}); still waiting")
                        outage_noted = True
                    sleep(1.0)
    finally:
        progress.close()
    return results


def _finished(app: Any, task_ids: List[str], sleep: Callable[[float], None]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(task id, result meta) of the finished tasks among ``task_ids``, for about 5 seconds:
    key-value backends (Redis) answer many ids at once; the RPC backend (RabbitMQ) through each
    result (it drains the submitter's reply queue)."""
    backend = app.backend
    if hasattr(backend, "get_many"):
        yield from backend.get_many(task_ids, timeout=5.0, interval=_POLL, no_ack=True)
        return
    deadline = time.monotonic() + 5.0
    left = list(task_ids)
    while left and time.monotonic() < deadline:
        for task_id in list(left):
            result = app.AsyncResult(task_id)
            if result.ready():
                left.remove(task_id)
                yield task_id, {"status": result.state, "result": result.result}
        sleep(_POLL)


def _as_line(result: Mapping[str, Any]) -> Dict[str, Any]:
    """A task result shaped like a batch result line, for the batch summary."""
    status = result.get("status", "internal-error")
    if status == "ok" and not result.get("recorded"):
        status = "not-recorded"
    return {
        "batch": {
            "input": result.get("input"),
            "key": result.get("key"),
            "status": status,
            "error": result.get("error"),
        },
        "summary": {"root_cause": result.get("root_cause"), "specific": result.get("specific")},
        "report": {"kernel": {"release": result.get("kernel_release")}, "bucket": result.get("bucket")},
    }


def submit(paths: Sequence[str], opts: SubmitOptions, progress: Progress) -> SubmitReport:
    """Check the broker (and database), enqueue every input, and with ``wait`` follow them."""
    if opts.db:
        open_database(opts.db, wait=opts.broker_wait).close()
    app = make_app(opts.fleet)
    check_broker(app, opts.broker_wait)
    sent = enqueue(app, paths, opts)
    if not opts.wait:
        return SubmitReport(tuple(sent), (), None)
    results = wait_for(app, sent, progress, timeout=opts.wait_timeout)
    unconfirmed = 0
    if opts.db:
        keys = [r["key"] for r in results if r.get("status") == "ok" and r.get("recorded") and r.get("key")]
        try:
            db = open_database(opts.db, wait=opts.broker_wait)
            try:
                unconfirmed = len(set(keys) - db.existing_keys(keys))
            finally:
                db.close()
        except (HistoryError, FleetError) as exc:
            progress.note(f"could not confirm the rows: {exc}")
    summary = summarize([_as_line(r) for r in results])
    return SubmitReport(tuple(sent), tuple(results), summary, unconfirmed)
