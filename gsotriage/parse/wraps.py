"""Lines a mailer, a web page or printk itself broke in two.

A mail client wraps a long console line at ~72 columns; the rest arrives on
the next line without the printk stamp (``> [ 1100.8][ C3] CPU: 3 PID: 0 Comm:
swapper/3 Tainted:`` / ``> G  W  OE  6.6.17-android15 #1``). A printk with a
newline inside (a task name holding one) prints two lines with the same stamp
and caller. Such a pair is joined, but only when the first line is a known
shape cut short (a header without its headline, a ``CPU:`` line without its
release) and the joined line reads as the complete shape.
"""

from __future__ import annotations

from typing import Optional

from .headlines import HEADER_KEYWORDS, match_headline
from .kernel_info import match_cpu_line
from .normalize import Normalized

__all__ = ["join_wrapped", "wrap_candidate"]


def _has_header(text: str) -> bool:
    return any(header in text for header in HEADER_KEYWORDS)


def _short_cpu_line(text: str) -> bool:
    if not text.startswith("CPU: "):
        return False
    cpu = match_cpu_line(text)
    return cpu is not None and cpu.release is None


def wrap_candidate(part: Normalized) -> bool:
    """Whether the next line might complete this one."""
    text = part.text
    if not text or len(text) < 12:
        return False
    return _short_cpu_line(text) or (_has_header(text) and match_headline(text) is None)


def join_wrapped(first: Normalized, second: Normalized) -> Optional[Normalized]:
    """The line ``first`` and ``second`` make when ``second`` continues it, else None."""
    if not second.text:
        return None
    wrapped = "timestamps" in first.tags and "timestamps" not in second.tags
    same_printk = first.stamp is not None and first.stamp == second.stamp and first.caller == second.caller
    if not (wrapped or same_printk):
        return None
    joined = first.text + " " + second.text
    if _short_cpu_line(first.text):
        cpu = match_cpu_line(joined)
        better = cpu is not None and cpu.release is not None
    else:
        # The headline must start in the first line, and the second must not be one of its own.
        hm = match_headline(joined)
        better = hm is not None and hm[1].start() < len(first.text) and match_headline(second.text) is None
    return Normalized(joined, first.tags, first.caller, first.stamp) if better else None
