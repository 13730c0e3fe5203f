"""``gsotriage batch`` without the CLI: keys, resume, run, stream results, record history."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gsotriage import __version__
from gsotriage.analysis.document import SCHEMA_VERSION
from gsotriage.batch.jsonl import ResultsFile, read_results, repair_tail
from gsotriage.batch.keys import input_key
from gsotriage.batch.progress import Progress
from gsotriage.batch.runner import Outcome, RunnerConfig, Task, run_tasks
from gsotriage.batch.summary import BatchSummary, summarize
from gsotriage.history.store import HistoryDB, HistoryError

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
    """Records ok results into the history database; a failure (locked, ...) is per input, never fatal."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.db: Optional[HistoryDB] = None

    def record(self, document: Dict[str, Any], input_path: str, key: str) -> None:
        if self.db is None:
            self.db = HistoryDB(self.path, busy_timeout=self.busy_timeout)
        self.db.record(document, input_path=input_path, input_key=key)

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


def envelope_line(outcome: Outcome, *, recorded: Optional[bool], record_error: Optional[str]) -> Dict[str, Any]:
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
    if recorded is not None:
        env["recorded"] = recorded
        if record_error:
            env["record_error"] = record_error
    if outcome.document is not None:
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
    out = ResultsFile(opts.output)
    progress.start(len(todo))
    warned_db = set()

    def on_result(outcome: Outcome) -> None:
        recorded: Optional[bool] = None
        record_error: Optional[str] = None
        if recorder is not None and outcome.document is not None:
            try:
                recorder.record(outcome.document, outcome.task.path, outcome.task.key)
                recorded = True
            except HistoryError as exc:
                recorded, record_error = False, str(exc)
                if record_error not in warned_db:
                    warned_db.add(record_error)
                    progress.note(f"{outcome.task.path}: not recorded: {record_error} (the batch goes on)")
        line = envelope_line(outcome, recorded=recorded, record_error=record_error)
        out.write(line)
        done.append(line)
        progress.advance(outcome.failed)

    try:
        run_tasks(todo, opts.runner, on_result)
    finally:
        progress.close()
        out.close()
    return BatchResult(summarize(done, resumed=skipped), ran=len(todo), skipped=skipped)
