"""Text to the lines the scanner must see, in linear time and bounded memory.

- A line longer than ``MAX_LINE`` characters is cut: its first ``MAX_LINE``
  characters are read and the cut is reported (a 100 MB line costs 1 MiB of
  memory, not 100 MB).
- While the scanner is idle (no report being read), a line can only matter if
  it holds one of ``KEYWORDS``: every headline header, trace start, PC and
  register line, kernel identity line, skb_dump() line and crash(8) output
  shape. Runs of other lines are skipped by one regex search over the text,
  in C, and only counted, so a 300 MB journal with a few oopses is read at
  the speed of that search.
"""

from __future__ import annotations

import re
from typing import Iterable, Protocol

from .crash_sys import SYS_KEYS
from .headlines import HEADER_KEYWORDS

__all__ = ["KEYWORDS", "MAX_LINE", "LineSink", "feed_chunks", "feed_lines"]

MAX_LINE = 4096

_WORDS = (
    *HEADER_KEYWORDS,
    "Kernel panic",
    # traces, stack markers, PC lines
    "Call Trace",
    "Call trace",
    "Backtrace",
    "Stack trace",
    "badaddr:",
    "RIP:",
    "IP:",
    "pc :",
    "PC is at",
    "NIP",
    "epc",
    "Krnl PSW",
    "end trace",
    # kernel identity
    "Linux version",
    "Hardware name:",
    "Tainted: [",
    "Modules linked in:",
    # skb_dump() and the old bad-offload line
    "skb len=",
    "skb fraglist:",
    "mac=(",
    "shinfo(",
    "csum(",
    "hash(",
    "priority=",
    "dev name=",
    ": caps=(",
    # crash(8)
    "crash",
    "PID: ",
    "[exception RIP:",
    "--- <",
    *(key + ": " for key in SYS_KEYS),
)
KEYWORDS = re.compile(
    "|".join(re.escape(w) for w in sorted(set(_WORDS), key=len, reverse=True))
    # "CPU: 0 PID: 1", "CPU: 0 UID: 0 PID: 1"
    + r"|CPU: \d+ (?:UID: \d+ )?PID:"
    # register dumps: "RAX: ...", "x29: ...", "sp : ...", "pstate: ..."
    + r"|\b(?:R[A-Z0-9]{1,2}|E?FLAGS|RFLAGS|ORIG_RAX|[CDEFGS]S|CR\d|DR\d|PKRU|KNLGS|x\d{1,2}|sp|lr|pstate)\s*:"
    # a release in a report's prose ("Kernel version: 4.18.0-553.el8")
    + r"|(?i:kernel(?: version| release)?\s*[:=]\s*\d+\.\d+\.\d)"
    # crash(8) bt frames and struct printouts
    + r"|#\d+ \[|(?:struct|union) \w+ .*\{|\$\d+ = \{"
)


class LineSink(Protocol):
    """What the line feeders drive (the scanner's dispatcher)."""

    @property
    def idle(self) -> bool: ...

    def feed(self, n: int, line: str) -> None: ...

    def limit(self, sentence: str) -> None: ...


def _cut(n: int, length: int) -> str:
    return f"line {n} is {length} characters long: only its first {MAX_LINE} were read"


def feed_lines(lines: Iterable[str], sink: LineSink) -> int:
    """Feed an iterable of lines (newlines stripped by the caller or not); -> lines seen."""
    n = 0
    search = KEYWORDS.search
    for raw in lines:
        n += 1
        line = raw.rstrip("\r\n")
        if len(line) > MAX_LINE:
            sink.limit(_cut(n, len(line)))
            line = line[:MAX_LINE]
        if sink.idle and not search(line):
            continue
        sink.feed(n, line)
    return n


def feed_chunks(chunks: Iterable[str], sink: LineSink) -> int:
    """Feed text that arrives in pieces (newline-normalised: only ``\\n``); -> lines seen.

    Memory is bounded by one chunk plus ``MAX_LINE``, whatever the line lengths.
    """
    n = 0
    search = KEYWORDS.search
    carry = ""  # the start of a line whose end has not arrived
    carry_len = 0  # its full length, when it was cut
    for chunk in chunks:
        if not chunk:
            continue
        if carry_len:
            # Inside an overlong line: drop text up to its end.
            nl = chunk.find("\n")
            if nl < 0:
                carry_len += len(chunk)
                continue
            carry_len += nl
            n += 1
            sink.limit(_cut(n, carry_len))
            sink.feed(n, carry)
            carry, carry_len = "", 0
            chunk = chunk[nl + 1 :]
        text = carry + chunk if carry else chunk
        carry = ""
        pos = 0
        end = len(text)
        while pos < end:
            if sink.idle:
                m = search(text, pos)
                if m is None:
                    last = text.rfind("\n", pos)
                    if last < 0:
                        break
                    n += text.count("\n", pos, last + 1)
                    pos = last + 1
                    break
                start = text.rfind("\n", pos, m.start()) + 1
                if start > pos:
                    n += text.count("\n", pos, start)
                    pos = start
            nl = text.find("\n", pos)
            if nl < 0:
                break
            n += 1
            if nl - pos > MAX_LINE:
                sink.limit(_cut(n, nl - pos))
                sink.feed(n, text[pos : pos + MAX_LINE])
            else:
                sink.feed(n, text[pos:nl])
            pos = nl + 1
        rest = end - pos
        if rest > MAX_LINE:
            carry, carry_len = text[pos : pos + MAX_LINE], rest
        elif rest:
            carry = text[pos:]
    if carry_len:
        n += 1
        sink.limit(_cut(n, carry_len))
        sink.feed(n, carry)
    elif carry:
        n += 1
        if not sink.idle or search(carry):
            sink.feed(n, carry)
    return n
