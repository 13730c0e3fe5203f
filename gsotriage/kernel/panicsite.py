"""Where a crash happened when there was no exception.

An oops names its crash site (the RIP of the faulting instruction). A panic
called directly (sysrq 'c' on 6.x, the hung-task and lockup watchdogs, OOM,
panic_on_warn paths that call panic() from C) has no exception frame: its crash
site is the function that called panic(). Both the text parsers and the drgn
collector use this rule, so a console log and a vmcore of the same crash name
the same site and the same frames below it.
"""

from __future__ import annotations

from typing import Optional, Sequence

from gsotriage.kernel.symbols import base_name

__all__ = ["PANIC_CALLS", "panic_caller_index"]

# Functions that panic the kernel on behalf of their caller.
PANIC_CALLS = frozenset({"panic", "nmi_panic", "vpanic", "__panic"})

# Only the top of the stack is searched: panic() below that is some other story.
_SEARCH_DEPTH = 16


def panic_caller_index(functions: Sequence[str]) -> Optional[int]:
    """Index of the function that called panic(), given the stack from the top
    (callee first) with '?' frames already removed; None if panic() is not near
    the top or nothing called it."""
    last = None
    for i, name in enumerate(functions[:_SEARCH_DEPTH]):
        if base_name(name) in PANIC_CALLS:
            last = i
    if last is None or last + 1 >= len(functions):
        return None
    return last + 1
