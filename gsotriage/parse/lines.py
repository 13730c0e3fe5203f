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
from typing import Any, Iterable, Protocol

from .crash_sys import SYS_KEYS
from .headlines import HEADER_KEYWORDS

__all__ = ["FAST_SKIP", "KEYWORDS", "MAX_LINE", "LineSink", "feed_chunks", "feed_lines"]

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
    "IP: ",
    "pc :",
    "PC is at",
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
    "csum(0x",
    "hash(0x",
    "priority=0x",
    "dev name=",
    ": caps=(",
    # crash(8)
    "[exception RIP:",
    "--- <",
)
_KEYWORDS_PATTERN = (
    "|".join(re.escape(w) for w in sorted(set(_WORDS), key=len, reverse=True))
    # "CPU: 0 PID: 1", "CPU: 0 UID: 0 PID: 1"
    + r"|CPU: \d+ (?:UID: \d+ )?PID:"
    # register dumps: "RAX: ...", "x29: ...", "sp : ...", "pstate: ..."
    + r"|\b(?:R[A-Z0-9]{1,2}|E?FLAGS|RFLAGS|ORIG_RAX|[CDEFGS]S|CR\d|DR\d|PKRU|KNLGS|x\d{1,2}|sp|lr|pstate)\s*:"
    # a release in a report's prose ("Kernel version: 4.18.0-553.el8")
    + r"|(?i:kernel(?: version| release)?\s*[:=]\s*\d+\.\d+\.\d)"
    # powerpc, riscv/mips PC lines
    + r"|NIP[: ]|epc\s*:"
    # a symbolised frame ("func+0x1f/0x40"): a mail may quote the frames before the headline
    + r"|\+0x[0-9a-f]+/0x[0-9a-f]+"
    # crash(8): prompts, bt headers and frames, sys lines, struct printouts
    + r"|crash\d*>|PID: \d+\s+TASK:|#\d+ \[|(?:struct|union) \w+ .*\{|\$\d+ = \{"
    + r"|(?m:^\s{0,16}(?:"
    + "|".join(re.escape(k) for k in SYS_KEYS)
    + r"): )"
)
KEYWORDS = re.compile(_KEYWORDS_PATTERN)
# The same over raw bytes, where skipping happens: RE2 (a DFA, hundreds of MiB/s on
# this alternation) when installed, else Python's re (correct, some MiB/s).
try:
    import re2 as _re2

    _KEYWORDS_BYTES: Any = _re2.compile(_KEYWORDS_PATTERN.encode())
    FAST_SKIP = True
except Exception:  # pragma: no cover - google-re2 missing or unusable
    _KEYWORDS_BYTES = re.compile(_KEYWORDS_PATTERN.encode())
    FAST_SKIP = False


class LineSink(Protocol):
    """What the line feeders drive (the scanner's dispatcher)."""

    @property
    def idle(self) -> bool: ...

    def feed(self, n: int, line: str) -> None: ...

    def limit(self, sentence: str) -> None: ...


def _cut(n: int, length: int) -> str:
    return f"line {n} is {length} bytes long: only its first {MAX_LINE} were read"


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


def feed_chunks(chunks: Iterable[bytes], sink: LineSink) -> int:
    """Feed text that arrives in pieces of UTF-8 bytes (only ``\\n`` as line end); -> lines seen.

    Lines are decoded only when fed (bad bytes become U+FFFD). Memory is bounded
    by one chunk plus ``MAX_LINE``, whatever the line lengths.
    """
    n = 0
    search = _KEYWORDS_BYTES.search
    carry = b""  # the start of a line whose end has not arrived
    carry_len = 0  # its full length, when it was cut
    for chunk in chunks:
        if not chunk:
            continue
        if carry_len:
            # Inside an overlong line: drop text up to its end.
            nl = chunk.find(b"\n")
            if nl < 0:
                carry_len += len(chunk)
                continue
            carry_len += nl
            n += 1
            sink.limit(_cut(n, carry_len))
            sink.feed(n, _decode(carry))
            carry, carry_len = b"", 0
            chunk = chunk[nl + 1 :]
        data = carry + chunk if carry else chunk
        carry = b""
        pos = 0
        end = len(data)
        while pos < end:
            if sink.idle:
                m = search(data, pos)
                if m is None:
                    last = data.rfind(b"\n", pos)
                    if last < 0:
                        break
                    n += data.count(b"\n", pos, last + 1)
                    pos = last + 1
                    break
                start = data.rfind(b"\n", pos, m.start()) + 1
                if start > pos:
                    n += data.count(b"\n", pos, start)
                    pos = start
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            n += 1
            if nl - pos > MAX_LINE:
                sink.limit(_cut(n, nl - pos))
                sink.feed(n, _decode(data[pos : pos + MAX_LINE]))
            else:
                sink.feed(n, _decode(data[pos:nl]))
            pos = nl + 1
        rest = end - pos
        if rest > MAX_LINE:
            carry, carry_len = data[pos : pos + MAX_LINE], rest
        elif rest:
            carry = data[pos:]
    if carry_len:
        n += 1
        sink.limit(_cut(n, carry_len))
        sink.feed(n, _decode(carry))
    elif carry:
        n += 1
        if not sink.idle or search(carry):
            sink.feed(n, _decode(carry))
    return n


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
