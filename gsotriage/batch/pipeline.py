"""``gsotriage batch`` without the CLI: keys, resume, run, stream results, record history."""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from gsotriage import __version__
from gsotriage.analysis.document import SCHEMA_VERSION
from gsotriage.batch.jsonl import ResultsFile, read_results, repair_tail
from gsotriage.batch.keys import input_key
from gsotriage.batch.progress import Progress
from gsotriage.batch.runner import Outcome, RunnerConfig, Task, run_tasks
from gsotriage.batch.summary import BatchSummary, summarize
from gsotriage.history import Backoff, HistoryDB, HistoryError

__all__ = ["RETRY_CLASSES", "BatchOptions", "BatchResult", "Recorder", "envelope_line", "is_degraded", "run_batch"]

# Failures that may pass on a second try are run again by --resume; the others are final.
RETRY_ON_RESUME = frozenset({"timeout", "oom", "crashed", "internal-error"})
# What --retry adds to them: results that hit a bound (decompression cap, time or line
# budget, a dump read without its debug info...), and inputs that could not be read.
RETRY_CLASSES = ("degraded", "input-error")


@dataclass(frozen=True)
class BatchOptions:
    output: str
    runner: RunnerConfig
    library_digest: str
    resume: bool = False
    content_hash: bool = False
    retry: Tuple[str, ...] = ()  # of RETRY_CLASSES, with resume


@dataclass(frozen=True)
class BatchResult:
    summary: BatchSummary
    ran: int  # inputs analysed in this run
    skipped: int  # inputs taken from the existing results (--resume)


class Recorder:
    """Records ok results in the history database, each after its result line is written.

    Rows are keyed by the input's resume key and upserted, so re-running or resuming a batch
    never duplicates them. A transient failure (database locked, connection lost) keeps the
    record pending: it is tried again with backoff as later results arrive, and at the end for
    up to ``patience`` seconds (:meth:`finish`); whatever is still unrecorded is reported, and
    ``batch --resume`` records what the database lacks.
    """

    def __init__(
        self,
        target: str,
        busy_timeout: float,
        *,
        patience: Optional[float] = None,
        origin: str = "batch",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self.busy_timeout = busy_timeout
        self.patience = max(10.0, 3 * busy_timeout) if patience is None else patience
        self.origin = origin
        self.clock = clock
        self.sleep = sleep
        self.db: Optional[HistoryDB] = None
        self.pending: Deque[Tuple[Dict[str, Any], str, str]] = deque()
        self.failed: List[Tuple[str, str]] = []  # (input, error): permanent failures
        self.recorded = 0
        self.last_error: Optional[str] = None
        self.next_try = 0.0
        self.delays = Backoff().delays()

    @property
    def location(self) -> str:
        return self.db.location if self.db is not None else self.target

    def _open(self) -> HistoryDB:
        if self.db is None:
            self.db = HistoryDB(self.target, busy_timeout=self.busy_timeout)
        return self.db

    def offer(self, document: Dict[str, Any], input_path: str, key: str) -> None:
        """Queue one record and write what is queued, unless backing off after a transient failure."""
        self.pending.append((document, input_path, key))
        if self.clock() >= self.next_try:
            self.drain()

    def drain(self) -> bool:
        """Write the queued records in order; False when a transient failure stopped it."""
        while self.pending:
            document, input_path, key = self.pending[0]
            try:
                self._open().record(document, input_path=input_path, input_key=key, origin=self.origin)
            except HistoryError as exc:
                self.last_error = str(exc)
                if exc.transient:
                    self.next_try = self.clock() + next(self.delays)
                    return False
                self.failed.append((input_path, str(exc)))
            else:
                self.recorded += 1
                self.delays = Backoff().delays()
            self.pending.popleft()
        return True

    def missing(self, keys: Sequence[str]) -> Set[str]:
        """The keys the database has no row for (all of them when it cannot be read now)."""
        try:
            return set(keys) - self._open().existing_keys(keys)
        except HistoryError as exc:
            self.last_error = str(exc)
            return set(keys)

    def finish(self) -> List[Tuple[str, str]]:
        """Try what is still queued, with backoff, for up to ``patience`` seconds; returns the
        (input, error) pairs that could not be recorded."""
        deadline = self.clock() + self.patience
        while self.pending and not self.drain():
            wait = max(0.0, self.next_try - self.clock())
            if self.clock() + wait > deadline:
                break
            self.sleep(wait)
        left = [(path, self.last_error or "not recorded") for _, path, _ in self.pending]
        return self.failed + left

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def is_degraded(document: Mapping[str, Any]) -> bool:
    """An analysis that ran into a bound (``report.limits``) or read less than the input
    offered (``input.degraded``): its verdict stands on partial evidence."""
    report = document.get("report") or {}
    return bool(report.get("limits")) or bool((document.get("input") or {}).get("degraded"))


def _redo(line: Mapping[str, Any], retry: Sequence[str]) -> bool:
    env = line.get("batch") or {}
    status = env.get("status")
    if status in RETRY_ON_RESUME:
        return True
    if status == "input-error":
        return "input-error" in retry
    return "degraded" in retry and bool(env.get("degraded"))


def envelope_line(outcome: Outcome) -> Dict[str, Any]:
    env: Dict[str, Any] = {
        "input": outcome.task.path,
        "key": outcome.task.key,
        "status": outcome.status,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 3),
        "worker_pid": outcome.worker_pid,
    }
    if outcome.signal is not None:
        env["signal"] = outcome.signal
    if outcome.document is not None:
        env["degraded"] = is_degraded(outcome.document)
        return {"batch": env, **outcome.document}
    return {"batch": env, "schema_version": SCHEMA_VERSION, "tool": {"name": "gsotriage", "version": __version__}}


def run_batch(
    inputs: Sequence[str], opts: BatchOptions, progress: Progress, recorder: Optional[Recorder] = None
) -> BatchResult:
    keyed = [
        Task(
            i,
            p,
            input_key(p, tool_version=__version__, library_digest=opts.library_digest, content_hash=opts.content_hash),
        )
        for i, p in enumerate(inputs)
    ]
    previous: Dict[str, Dict[str, Any]] = {}
    # Only a regular file is read back: -o /dev/full or a FIFO is written to, never read.
    if opts.output != "-" and os.path.isfile(opts.output):
        log = read_results(opts.output)
        if log.torn:
            progress.note(f"{opts.output}: {log.torn}")
        if log.bad_lines:
            progress.note(f"{opts.output}: {log.bad_lines} unparseable line(s) ignored")
        removed = repair_tail(opts.output)
        if removed and not log.torn:
            progress.note(f"{opts.output}: cut {removed} bytes of an incomplete last line")
        if opts.resume:
            for line in log.lines:
                env = line.get("batch") or {}
                if env.get("key"):
                    previous[env["key"]] = line  # the last line for a key wins
    done: List[Dict[str, Any]] = []
    todo: List[Task] = []
    for t in keyed:
        prev = previous.get(t.key)
        if prev is not None and not _redo(prev, opts.retry):
            done.append(prev)
        else:
            todo.append(t)
    skipped = len(done)
    if opts.resume:
        progress.note(f"resume: {skipped} input(s) already done, {len(todo)} to analyse")
    if recorder is not None and done:
        _record_again(done, recorder, progress)
    out = ResultsFile(opts.output)
    progress.start(len(todo))
    unrecorded: List[Tuple[str, str]] = []

    def on_result(outcome: Outcome) -> None:
        # The result line first: a kill between the two writes leaves a line the database
        # lacks, which --resume records; never a row without its line.
        line = envelope_line(outcome)
        out.write(line)
        done.append(line)
        if recorder is not None and outcome.document is not None:
            recorder.offer(outcome.document, outcome.task.path, outcome.task.key)
        progress.advance(outcome.failed)

    try:
        run_tasks(todo, opts.runner, on_result)
        if recorder is not None:
            unrecorded = recorder.finish()
    finally:
        progress.close()
        out.close()
    if unrecorded and recorder is not None:
        progress.note(
            f"{len(unrecorded)} result(s) not recorded in the history database {recorder.location}: "
            f"{unrecorded[-1][1]}; their result lines are written: rerun with --resume to record them"
        )
    summary = dataclasses.replace(summarize(done, resumed=skipped), not_recorded=len(unrecorded))
    return BatchResult(summary, ran=len(todo), skipped=skipped)


def _record_again(done: Sequence[Dict[str, Any]], recorder: Recorder, progress: Progress) -> None:
    """--resume: record the earlier ok results the database lacks (a kill between the result line
    and its row, or a database that was locked)."""
    earlier: Dict[str, Dict[str, Any]] = {}
    for line in done:
        env = line.get("batch") or {}
        if env.get("status") == "ok" and env.get("key"):
            earlier[str(env["key"])] = line
    missing = recorder.missing(list(earlier))
    if not missing:
        return
    progress.note(f"resume: recording {len(missing)} earlier result(s) the history database lacks")
    for key in sorted(missing):
        line = earlier[key]
        document = {k: v for k, v in line.items() if k != "batch"}
        recorder.offer(document, str(line["batch"].get("input")), key)
