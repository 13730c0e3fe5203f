"""Reading one line of an open call trace into the event being built.

A trace is a run of frame lines, stack-context markers (``<IRQ>``, ``</TASK>``,
4.x ``<EOI>``) and the odd in-trace line (a wrapped decoded location, an
interrupted context's registers, powerpc's ``--- interrupt:``). Markers are read
in a loop, never by recursion, and nest at most ``MAX_CONTEXTS`` deep.

Lines other CPUs or subsystems print into a trace (netfilter LOG lines, another
task's messages) are tolerated: the trace ends only when no frame follows within
``MAX_TRACE_GAP`` lines, and whether it was whole is decided at the first such
line. A line that belongs to a report's structure (``Code:``, ``---[ end trace``,
a new headline...) ends it at once. A reporter's elision (``...``) makes it
incomplete.
"""

from __future__ import annotations

import re
from typing import Callable, List

from gsotriage.kernel.symbols import base_name
from gsotriage.model import Frame, StackContext

from .event import MAX_CONTEXTS, MAX_FRAMES, EventBuilder
from .frames import match_frame, match_marker, match_pc_line
from .headlines import INFO, Headline, match_headline, match_panic
from .registers import match_registers

__all__ = ["CODE_LINE", "MAX_TRACE_GAP", "close_trace", "end_trace", "interrupting", "read_trace_line", "trace_gap"]

MAX_TRACE_GAP = 8  # foreign lines tolerated between two frames of one trace

CODE_LINE = re.compile(r"^Code: ")
_WRAPPED_SOURCE = re.compile(r"^(?:[\w./+-]+\.[chS]:\d+(?: \(discriminator \d+\))?\s*)+\)?$")
# Lines a trace may hold that are not frames: powerpc exception frames, s390's
# last breaking event.
_IN_TRACE = re.compile(r"^(?:--- interrupt: [0-9a-f]+ at |Last Breaking-Event-Address:)")
# A reporter's elision inside a quoted trace: frames are missing there.
_ELISION = re.compile(r"^(?:\.{3,}|\u2026|\[\.\.\.\]|<snip(?:ped)?>|\[snip(?:ped)?\]|\(snip(?:ped)?\))$")
# Lines that end a trace for certain: no frame of it follows them.
_TERMINATOR = re.compile(r"^(?:-+\[ end trace|Modules linked in:|Kernel panic - not syncing)")
_ENDS_TRACE = re.compile(
    r"^(?:-+\[ (?:end trace|cut here)|Modules linked in:|Kernel panic - not syncing|CPU: \d+ (?:UID: \d+ )?PID: "
    r"|NMI backtrace for cpu|Sending NMI from CPU|Hardware name:|Code: |---\[ end Kernel panic"
    r"|(?:Call Trace|Call trace|Backtrace)\s*:"
    # A sanitizer report's other stacks: where the object was allocated or freed (KASAN,
    # KFENCE), where an uninit value came from (KMSAN), the other access of a race (KCSAN).
    # They are not calls of the crashing path: the trace of the crash ends at their header.
    r"|(?:Allocated|Freed) by task \d+:|(?:allocated|freed) by task \d+ on cpu \d+"
    r"|(?:Second to )?[Ll]ast (?:potentially related work creation|call_rcu\(\)):"
    r"|Uninit was (?:created|stored to memory) at:|Local variable .* created at:"
    r"|The buggy address belongs to|Memory state around the buggy address:"
    r"|(?:read|write)(?:-write)?(?: \(marked\))? to 0x[0-9a-f]+ of \d+ bytes by (?:task \d+|interrupt) on cpu \d+:)"
)

Limit = Callable[[str], None]


def interrupting(headline: Headline) -> bool:
    """Whether the headline starts a report even in the middle of a call trace
    (an oom-killer invocation or a netdev refcount wait from another CPU does not)."""
    return not (headline.quiet or headline.klass == INFO)


def _interrupts(line: str) -> bool:
    hm = match_headline(line)
    return hm is not None and interrupting(hm[0])


def read_trace_line(ev: EventBuilder, n: int, line: str, limit: Limit) -> bool:
    """Consume a line of an open call trace; False when the line is not one
    (the trace then ends, at once or after ``MAX_TRACE_GAP`` such lines)."""
    if not line:
        return trace_gap(ev, line, blank=True)
    rest = line
    # Markers ("<IRQ>", "</IRQ>", "<EOI>"...) may share a line with each other or a frame.
    while rest:
        marker = match_marker(rest)
        if marker is None:
            break
        action, context, after = marker
        ev.trace_gap = 0
        ev.touched = n
        if action == "close":
            if ev.contexts:
                ev.contexts.pop()
            if context is StackContext.TASK:
                end_trace(ev, complete=True)
                return True
        elif action == "reset":
            ev.contexts = []
        elif len(ev.contexts) < MAX_CONTEXTS:
            ev.contexts.append(context)
        else:
            limit(f"more than {MAX_CONTEXTS} nested stack-context markers: the deeper ones were ignored")
        rest = after.strip()
    if not rest:
        return True
    frame = match_frame(rest, ev.context)
    if frame is not None:
        ev.trace_gap = 0
        ev.touched = n
        if len(ev.frames) < MAX_FRAMES:
            ev.frames.append(frame)
        elif not ev.frames_truncated:
            ev.frames_truncated = True
            limit(f"a call trace longer than {MAX_FRAMES} frames: the frames after them were not read")
        return True
    # A decoded "(file:line file:line)" location that a mailer wrapped onto its own line;
    # pt_regs of an interrupted context printed inside the trace (user RIP, idle RIP).
    if (
        _WRAPPED_SOURCE.match(rest)
        or _IN_TRACE.match(rest)
        or CODE_LINE.match(rest)
        or match_pc_line(rest)
        or match_registers(rest)
        or rest.startswith("RIP: ")
    ):
        return True
    if _ELISION.match(rest):
        ev.elided = True
        return True
    return trace_gap(ev, rest, blank=False)


def trace_gap(ev: EventBuilder, line: str, blank: bool) -> bool:
    """A line inside an open trace that is not part of it; True when it is swallowed."""
    if not blank and (_ENDS_TRACE.match(line) or _interrupts(line) or match_panic(line)):
        end_trace(ev, complete=not ev.contexts or bool(_TERMINATOR.match(line)))
        return False
    if ev.trace_gap == 0:
        # Had the trace ended here, was it whole? (inside <TASK>, a blank line is noise).
        ev.gap_complete = not ev.contexts or bool(_TERMINATOR.match(line))
    ev.trace_gap += 1
    if ev.trace_gap > MAX_TRACE_GAP or (blank and not ev.contexts and ev.trace_gap > 1):
        end_trace(ev, complete=ev.gap_complete)
        return False
    return blank  # a blank line is swallowed; other lines still get their own reading


def end_trace(ev: EventBuilder, complete: bool) -> None:
    ev.trace = "closed"
    ev.frames_complete = complete and not ev.elided
    ev.trace_gap = 0


def close_trace(ev: EventBuilder | None, line: str) -> None:
    """A headline or panic line ends the trace it interrupts."""
    if ev is not None and ev.trace == "open":
        complete = ev.gap_complete if ev.trace_gap else not ev.contexts or bool(_TERMINATOR.match(line))
        end_trace(ev, complete=complete)


_MAX_LOOSE_FRAMES = 64


class LooseFrames:
    """Frames quoted with no report around them: a mail may quote the stack above the
    headline. The last such run is kept (bounded) until the fatal report, if it has no
    frames of its own and its crash site is the run's first frame, claims it."""

    def __init__(self) -> None:
        self.frames: List[Frame] = []
        self.line = 0

    def add(self, n: int, line: str) -> None:
        frame = match_frame(line, StackContext.TASK)
        if frame is None:
            return
        if n - self.line > 2:
            self.frames = []
        self.line = n
        if len(self.frames) < _MAX_LOOSE_FRAMES:
            self.frames.append(frame)

    def claim(self, fatal: EventBuilder) -> None:
        if fatal.frames or not self.frames or fatal.function is None:
            return
        if base_name(self.frames[0].function) != base_name(fatal.function):
            return
        fatal.frames.extend(self.frames[1:])
        fatal.headerless_trace = True
        fatal.trace = "closed"
