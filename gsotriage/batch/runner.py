"""Run analyses in parallel worker processes, each task under a timeout and a memory guard.

Workers are long-lived (the signature library loads once per worker), but any of them can be
killed: a task past its deadline, or a worker whose RSS passes the limit, is SIGKILLed and
replaced. A worker that dies on its own (a signal, an exit) costs only the task it held. Results
come back to the parent through :func:`run_tasks`' callback in completion order.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from gsotriage.batch import worker

__all__ = ["FAILED_STATUSES", "STATUSES", "Outcome", "RunnerConfig", "Task", "WorkerPool", "run_tasks"]

STATUSES = ("ok", "input-error", "timeout", "oom", "crashed", "internal-error")
FAILED_STATUSES = frozenset(STATUSES) - {"ok"}
_POLL = 0.2  # seconds between memory checks
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Task:
    index: int
    path: str
    key: str = ""
    vmlinux: Optional[str] = None


@dataclass(frozen=True)
class Outcome:
    task: Task
    status: str
    seconds: float
    worker_pid: Optional[int]
    document: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    signal: Optional[int] = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES


@dataclass(frozen=True)
class RunnerConfig:
    jobs: int = 1
    timeout: float = 300.0
    memory_limit_mb: Optional[int] = None
    sig_paths: Tuple[str, ...] = ()
    debuginfo: Tuple[str, ...] = ()
    vmlinux: Optional[str] = None  # default for tasks without their own
    # "module:function" of the analysis each worker runs; None: worker.ANALYZER.
    analyzer: Optional[str] = None


@dataclass
class _Worker:
    proc: Any  # multiprocessing.context.SpawnProcess
    conn: Connection
    ready: bool = False
    task: Optional[Task] = None
    started: float = 0.0
    pid: Optional[int] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class _Pool:
    def __init__(self, config: RunnerConfig, emit: Callable[[Outcome], None]) -> None:
        self.config = config
        self.emit = emit
        self.ctx = multiprocessing.get_context("spawn")
        self.workers: List[_Worker] = []

    def spawn(self) -> None:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=worker.worker_main,
            args=(
                child,
                list(self.config.sig_paths),
                list(self.config.debuginfo),
                self.config.analyzer or worker.ANALYZER,
            ),
            daemon=True,
        )
        proc.start()
        child.close()
        self.workers.append(_Worker(proc, parent, pid=proc.pid))

    def kill(self, w: _Worker) -> None:
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(5)
        w.conn.close()
        self.workers.remove(w)

    def finish(self, w: _Worker, status: str, error: Optional[str], sig: Optional[int] = None) -> None:
        assert w.task is not None
        task, w.task = w.task, None
        self.emit(Outcome(task, status, time.monotonic() - w.started, w.pid, error=error, signal=sig))

    def assign(self, w: _Worker, task: Task) -> None:
        w.task = task
        w.started = time.monotonic()
        w.conn.send((task.index, task.path, task.vmlinux or self.config.vmlinux))

    def receive(self, w: _Worker, refill: Callable[[_Worker], None]) -> Optional[Outcome]:
        """The worker's next message: None for "ready", else its result (not yet emitted).

        Only the pipe's errors (EOFError, OSError) come out of here: writing the result is the
        caller's, so a full disk while writing is never taken for a dead worker.
        """
        msg = w.conn.recv()
        if msg[0] == "ready":
            w.ready = True
            return None
        index, status, doc, error, seconds = msg
        task, w.task = w.task, None
        assert task is not None and task.index == index
        refill(w)  # the worker starts its next input while we write this result
        return Outcome(task, status, seconds, w.pid, document=doc, error=error)

    def on_death(self, w: _Worker) -> None:
        code = w.proc.exitcode
        if w.task is not None:
            if code is not None and code < 0:
                hint = " (possibly the kernel OOM killer)" if -code == signal.SIGKILL else ""
                self.finish(w, "crashed", f"worker killed by {_signal_name(-code)}{hint}", -code)
            else:
                self.finish(w, "crashed", f"worker exited with status {code}")
        elif not w.ready:
            raise RuntimeError(f"a worker process failed to start (exit status {code})")
        self.kill(w)

    def shutdown(self) -> None:
        for w in list(self.workers):
            try:
                if w.proc.is_alive() and w.ready and w.task is None:
                    w.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 2
        for w in list(self.workers):
            w.proc.join(max(0.0, deadline - time.monotonic()))
            self.kill(w)


class WorkerPool:
    """Worker processes kept from one :func:`run_tasks` call to the next, for a caller that gets
    its inputs one at a time (a fleet worker's task): the signature library loads once, not
    once per input. The guards are the same: a timed-out or oversized worker is killed and
    replaced. Not thread-safe: one pool per thread."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.pool = _Pool(config, lambda outcome: None)

    def close(self) -> None:
        self.pool.shutdown()


def run_tasks(
    tasks: Sequence[Task],
    config: RunnerConfig,
    on_result: Callable[[Outcome], None],
    *,
    keep: Optional[WorkerPool] = None,
) -> None:
    """Analyse every task; ``on_result`` is called in the parent once per task, as each finishes.
    With ``keep``, its worker processes are used and left running (``keep.config`` applies)."""
    pending: Deque[Task] = deque(tasks)
    if keep is not None:
        pool, config = keep.pool, keep.config
        pool.emit = on_result
    else:
        pool = _Pool(config, on_result)
    limit = config.memory_limit_mb

    def refill(w: _Worker) -> None:
        if w.ready and w.task is None and pending and w.proc.is_alive():
            pool.assign(w, pending.popleft())

    try:
        while pending or any(w.task is not None for w in pool.workers):
            while len(pool.workers) < min(config.jobs, len(pending) + sum(w.task is not None for w in pool.workers)):
                pool.spawn()
            for w in pool.workers:
                refill(w)
            now = time.monotonic()
            busy = [w for w in pool.workers if w.task is not None]
            wait_for = min([w.started + config.timeout - now for w in busy] + [_POLL if limit else 1.0])
            handles: Dict[Any, _Worker] = {}
            for w in pool.workers:
                handles[w.conn] = w
                handles[w.proc.sentinel] = w
            for h in wait(list(handles), timeout=max(0.0, wait_for)):
                w = handles[h]
                if w not in pool.workers:
                    continue
                if h is w.conn:
                    try:
                        outcome = pool.receive(w, refill)
                    except (EOFError, OSError):
                        w.proc.join(5)
                    else:
                        if outcome is not None:
                            on_result(outcome)
                        continue
                if not w.proc.is_alive():
                    while w.conn.poll():  # a result sent just before dying still counts
                        try:
                            outcome = pool.receive(w, refill)
                        except (EOFError, OSError):
                            break
                        if outcome is not None:
                            on_result(outcome)
                    pool.on_death(w)
            now = time.monotonic()
            for w in list(pool.workers):
                if w.task is None:
                    continue
                if now - w.started >= config.timeout:
                    pool.finish(w, "timeout", f"no result within {config.timeout:g}s; worker killed")
                    pool.kill(w)
                elif limit and _rss_mb(w.proc.pid) > limit:
                    pool.finish(w, "oom", f"worker memory passed {limit} MB; worker killed")
                    pool.kill(w)
    finally:
        if keep is None:
            pool.shutdown()
