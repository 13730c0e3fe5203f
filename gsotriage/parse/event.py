"""A mutable event (one oops, BUG, WARN, lockup, ...) while the scanner builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from gsotriage.model import Frame, PanicKind, StackContext

__all__ = ["MAX_FRAMES", "EventBuilder", "SkbBuilder"]

MAX_FRAMES = 256  # a longer "trace" is a broken log; keeps memory bounded


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
