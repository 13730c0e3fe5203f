"""A mutable event (one oops, BUG, WARN, lockup, ...) while the scanner builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from gsotriage.model import Frame, PanicKind, StackContext

from .guilty import StackRule

__all__ = ["MAX_CONTEXTS", "MAX_FRAMES", "MAX_REPORT_LINES", "EventBuilder", "SkbBuilder"]

MAX_FRAMES = 256  # a longer "trace" is a broken log; keeps memory bounded
MAX_CONTEXTS = 16  # nested <IRQ>/<NMI>/... markers; deeper is a broken log
MAX_REPORT_LINES = 1500  # lines of one report kept to choose its guilty frame


@dataclass
class SkbBuilder:
    origin: str
    line: int
    fields: Dict[str, Any] = field(default_factory=dict)
    closed: bool = False  # a "skb fraglist:" member follows: stop merging

    def add(self, fields: Dict[str, Any]) -> None:
        if self.closed:
            return
        for key, value in fields.items():
            self.fields.setdefault(key, value)


@dataclass
class EventBuilder:
    title: str
    headline: str  # name of the headline rule that started it
    kind: Optional[PanicKind]
    klass: str
    line: int
    is_warn: bool = False
    last_line: int = 0
    fault_address: Optional[int] = None
    bug_file: Optional[str] = None
    bug_line: Optional[int] = None
    function: Optional[str] = None
    # Inlined at the site, innermost first (sanitizer headlines name each with "[inline]").
    inlined: List[str] = field(default_factory=list)
    offset: Optional[int] = None
    size: Optional[int] = None
    module: Optional[str] = None
    cpu: Optional[int] = None
    pid: Optional[int] = None
    comm: Optional[str] = None
    panic_message: Optional[str] = None
    taint: Optional[str] = None
    release: Optional[str] = None
    version: Optional[str] = None
    hardware: Optional[str] = None
    arch: Optional[str] = None
    registers: Dict[str, int] = field(default_factory=dict)
    frames: List[Frame] = field(default_factory=list)
    # none -> open -> closed. A second "Call Trace:" of the same event (NMI
    # backtraces, the panic's own dump_stack) is ignored.
    trace: str = "none"
    frames_complete: bool = False
    frames_truncated: bool = False
    headerless_trace: bool = False  # frames followed the headline without "Call Trace:" (a quoted excerpt)
    contexts: List[StackContext] = field(default_factory=list)
    modules: Optional[List[str]] = None
    oot_modules: Optional[List[str]] = None
    closed: bool = False  # "---[ end trace": later RIP/register repeats are the same event
    skbs: List[SkbBuilder] = field(default_factory=list)
    # Who printed the headline ("T123", "C3"): lines other callers print are not this report's.
    caller: Optional[str] = None
    nmi_traceback: bool = False  # "Sending NMI from CPU": other CPUs' lines belong to the report
    touched: int = 0  # last line that added to the event
    # Lines that are not trace lines inside an open trace (other CPUs, netfilter
    # logs): the trace ends only when no frame follows within a few lines.
    trace_gap: int = 0
    gap_complete: bool = False  # whether the trace was whole, had it ended at the first gap line
    elided: bool = False  # a reporter's "..." inside the trace: frames are missing
    quoted: bool = False  # the event's lines were quoted (mail, ticket): an excerpt someone reported
    # The report's lines, from the headline on, for its guilty frame.
    report: List[str] = field(default_factory=list)
    report_done: bool = False
    report_cut: bool = False
    rule: Optional[StackRule] = None
    guilty: Optional[str] = None

    def record(self, line: str, min_lines: int = 22) -> None:
        """Keep a line of the report (bounded); the panic() that follows a long
        enough report and the reports it induces are not part of it (syzkaller)."""
        if self.report_done:
            return
        if len(self.report) >= MAX_REPORT_LINES:
            self.report_done = self.report_cut = True
            return
        if "Disabling lock debugging due to kernel taint" in line:
            return
        if line.endswith(" (unreliable)"):
            return  # powerpc's questionable frames
        if (
            self.report
            and len(self.report) > min_lines
            and (
                "Kernel panic - not syncing" in line or "WARNING: possible circular locking dependency detected" in line
            )
        ):
            self.report_done = True
            return
        self.report.append(line)

    def fill(self, **values: Any) -> None:
        """First value wins: repeated blocks never overwrite what was read first."""
        for key, value in values.items():
            if value is not None and getattr(self, key) is None:
                setattr(self, key, value)

    @property
    def fresh(self) -> bool:
        """Just started: a continuation headline still belongs to it."""
        return self.trace == "none" and not self.closed and self.last_line - self.line < 60

    @property
    def context(self) -> StackContext:
        return self.contexts[-1] if self.contexts else StackContext.TASK
