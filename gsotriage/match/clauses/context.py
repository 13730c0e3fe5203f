"""What every clause of one evaluation needs, computed once per report.

``stack`` is the crash stack (site first, ``?`` frames and the panic machinery
dropped); ``changes`` maps each skb field that the kernel rewrote on its way to
the crash site to the rewrite (gsotriage.kernel.skbstate), ``implied`` holds
the GSO flags the path itself proves the skb had at entry, and ``entry`` the
entry values of rewritten fields that the dump holds elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Tuple

from gsotriage.kernel.skbstate import StateChange, crash_stack, rewrites
from gsotriage.model import CrashReport

__all__ = ["EvalContext", "crash_stack"]


@dataclass(frozen=True)
class EvalContext:
    report: CrashReport
    stack: List[Tuple[str, Optional[str]]]
    changes: Mapping[str, StateChange] = field(default_factory=dict)
    implied: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    # Rewritten fields whose entry value the dump still holds: path -> (value, how it was recovered).
    entry: Mapping[str, Tuple[Any, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, report: CrashReport) -> EvalContext:
        rw = rewrites(report)
        return cls(report, crash_stack(report), rw.changes, rw.implied, rw.entry)
