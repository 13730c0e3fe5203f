"""Progress on stderr: a rich bar on a terminal, plain periodic lines otherwise, or nothing."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO

__all__ = ["Progress", "make_progress"]


class Progress:
    """Silent base: the batch calls start/advance/close whatever the display."""

    def start(self, total: int) -> None:
        pass

    def advance(self, failed: bool) -> None:
        pass

    def note(self, msg: str) -> None:
        sys.stderr.write(f"gsotriage: {msg}\n")

    def close(self) -> None:
        pass


class _Plain(Progress):
    def __init__(self, stream: TextIO, every: float) -> None:
        self.stream = stream
        self.every = every
        self.total = self.done = self.failed = 0
        self.t0 = self.last = 0.0

    def start(self, total: int) -> None:
        self.total = total
        self.t0 = self.last = time.monotonic()

    def _line(self) -> str:
        el = time.monotonic() - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = f"{(self.total - self.done) / rate:.0f}s" if rate > 0 else "?"
        return f"gsotriage: batch {self.done}/{self.total} done, {rate:.1f}/s, ETA {eta}, {self.failed} failed\n"

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.stream.write(self._line())
            self.stream.flush()

    def note(self, msg: str) -> None:
        self.stream.write(f"gsotriage: {msg}\n")

    def close(self) -> None:
        if self.total:
            self.stream.write(self._line())
            self.stream.flush()


class _Rich(Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self.console = Console(stderr=True)
        self.bar = RichProgress(
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task: Any = None
        self.failed = 0
        self.t0 = 0.0

    def start(self, total: int) -> None:
        self.t0 = time.monotonic()
        self.bar.start()
        self.task = self.bar.add_task("batch", total=total, failed=0, rate="0.0")

    def advance(self, failed: bool) -> None:
        self.failed += failed
        done = self.bar.tasks[0].completed + 1
        el = max(time.monotonic() - self.t0, 1e-6)
        self.bar.update(self.task, advance=1, failed=self.failed, rate=f"{done / el:.1f}")

    def note(self, msg: str) -> None:
        self.console.print(f"gsotriage: {msg}", markup=False, highlight=False)

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


def make_progress(enabled: bool, *, every: Optional[float] = None) -> Progress:
    if not enabled:
        return Progress()
    if sys.stderr.isatty():
        return _Rich()
    return _Plain(sys.stderr, every if every is not None else 5.0)
