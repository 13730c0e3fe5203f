"""What every clause of one evaluation needs, computed once per report.

``stack`` is the crash stack (site first, ``?`` frames and the panic machinery
dropped); ``changes`` maps each skb field that the kernel rewrote on its way to
the crash site to the rewrite (gsotriage.kernel.skbstate), and ``implied``
holds the GSO flags the path itself proves the skb had at entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from gsotriage.kernel.skbstate import (
    StateChange,
    affected_fields,
    changes_for,
    list_segmented,
    path_flags,
    reset_by_path,
)
from gsotriage.model import CrashReport

__all__ = ["EvalContext", "crash_stack"]


def crash_stack(report: CrashReport) -> List[Tuple[str, Optional[str]]]:
    """Function names from the crash site down, ``?`` frames and the panic machinery dropped.

    The exception function heads the list; it is not repeated when the trace
    lists it too.
    """
    out: List[Tuple[str, Optional[str]]] = []
    if report.panic.function:
        out.append((report.panic.function, report.panic.module))
    for frame in report.frames:
        if frame.questionable or frame.context.value == "exception":
            continue
        if out and frame.function == out[-1][0] and len(out) == 1:
            continue
        out.append((frame.function, frame.module))
    return out


def _site(report: CrashReport) -> List[str]:
    """The exception function and what is inlined at it (from the collector's
    DWARF, or the ``[inline]`` frames a symbolised trace lists right above it)."""
    site = [report.panic.function] if report.panic.function else []
    site += list(report.panic.inlined)
    for frame in report.frames:
        if not frame.inline or frame.questionable:
            break
        site.append(frame.function)
    return site


def _imply(implied: Dict[str, Tuple[str, ...]], more: Mapping[str, Tuple[str, ...]]) -> None:
    """Add the entry flags ``more`` proves to ``implied`` (field path -> flags), keeping order."""
    for path, flags in more.items():
        implied[path] = tuple(dict.fromkeys([*implied.get(path, ()), *flags]))


@dataclass(frozen=True)
class EvalContext:
    report: CrashReport
    stack: List[Tuple[str, Optional[str]]]
    changes: Mapping[str, StateChange] = field(default_factory=dict)
    implied: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, report: CrashReport) -> EvalContext:
        stack = crash_stack(report)
        # Only a report that holds skb values can have them rewritten.
        if not report.skbs:
            return cls(report, stack)
        callers = [name for name, _ in stack[1:]] if report.panic.function else [name for name, _ in stack]
        site = _site(report)
        found = changes_for(site, callers)
        implied: Dict[str, Tuple[str, ...]] = {}
        for change in found:
            _imply(implied, change.implies_flags)
        proven, facts, seen = path_flags(site, callers)
        if proven:
            _imply(implied, {"shinfo.gso_type": proven})
        changes = dict(affected_fields(found))
        if proven and "shinfo.gso_type" not in changes and report.skbs[0].shinfo.gso_type == 0:
            # The path tested flags the crash-time gso_type lacks, and it is all zero:
            # skb_gso_reset()'s shape, a rewrite the table above did not name (an inlined
            # fix-up unseen without DWARF, ...). A non-zero gso_type lacking them is no known
            # rewrite: it stays observed, and contradicts what needs the flags.
            change = reset_by_path(proven, facts, seen)
            listed = list_segmented(proven, report.skbs[0].users)
            if listed is not None:
                change = listed
                _imply(implied, listed.implies_flags)
            for f in change.fields:
                changes.setdefault(f, change)
        return cls(report, stack, changes, implied)
