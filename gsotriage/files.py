"""File formats recognised by their first bytes: kernel dumps, compressed logs, text.

One table of magic numbers for input detection, batch discovery and the log
reader, so that "what is a gzip file" is answered in one place.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib
from typing import BinaryIO, Callable, List, Optional, Tuple, cast

__all__ = [
    "COMPRESSIONS",
    "ELF_MAGIC",
    "ET_CORE",
    "FLAT_MAGIC",
    "KDUMP_MAGIC",
    "MAX_RATIO",
    "MIN_BUDGET",
    "STREAM_ERRORS",
    "LogReader",
    "compression_of",
    "decompression_budget",
    "looks_like_text",
    "open_log",
    "open_maybe_compressed",
]

ELF_MAGIC = b"\x7fELF"
ET_CORE = 4  # e_type of a core file (an ELF vmcore)
KDUMP_MAGIC = b"KDUMP   "  # diskdump/kdump-compressed header signature
FLAT_MAGIC = b"makedumpfile"  # makedumpfile -F flattened stream

Opener = Callable[[str], BinaryIO]

# (name, magic, opener). Rotated and exported logs often arrive compressed; the
# stdlib decompresses them as a stream.
COMPRESSIONS: Tuple[Tuple[str, bytes, Opener], ...] = (
    ("gzip", b"\x1f\x8b", lambda p: cast(BinaryIO, gzip.open(p, "rb"))),
    ("xz", b"\xfd7zXZ\x00", lambda p: cast(BinaryIO, lzma.open(p, "rb"))),
    ("bzip2", b"BZh", lambda p: cast(BinaryIO, bz2.open(p, "rb"))),
)

# What a corrupt or truncated compressed stream raises while being read (zlib.error
# is no OSError: a gzip stream with a bad back-reference raised it through detection).
STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, ValueError, zlib.error)


def compression_of(head: bytes) -> Optional[Tuple[str, Opener]]:
    """(name, opener) when ``head`` starts with a compression magic."""
    for name, magic, opener in COMPRESSIONS:
        if head.startswith(magic):
            return name, opener
    return None


def open_maybe_compressed(path: str) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing gzip/xz/bzip2 as a stream."""
    with open(path, "rb") as probe:
        head = probe.read(8)
    found = compression_of(head)
    return found[1](path) if found else open(path, "rb")


# A compressed log is read up to MAX_RATIO times its compressed size, and never
# less than MIN_BUDGET: real console logs compress 3-20x (xz on a log of one
# repeated timestamped line: 155x), while a gzip of NULs reaches 1000x and a
# bzip2 or xz bomb far more. Past the budget the rest is not read and the
# report says so (CrashReport.limits): a bomb costs at most this much work.
MAX_RATIO = 200
MIN_BUDGET = 64 << 20
_CHUNK = 1 << 16


def decompression_budget(compressed_size: int) -> int:
    """Decompressed bytes read from a compressed file of ``compressed_size`` bytes."""
    return max(MIN_BUDGET, MAX_RATIO * compressed_size)


class _Bounded(io.RawIOBase):
    """The decompressed bytes of a log, NUL padding dropped, at most ``budget`` of them."""

    def __init__(self, inner: BinaryIO, budget: Optional[int], describe: Callable[[int], str]) -> None:
        super().__init__()
        self.inner = inner
        self.budget = budget
        self.describe = describe
        self.count = 0  # bytes taken from ``inner`` (before NULs are dropped)
        self.limits: List[str] = []

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            want = min(len(b), _CHUNK)  # the reader's buffer: one chunk
            if self.budget is not None:
                if self.count >= self.budget:
                    if not self.limits:
                        self.limits.append(self.describe(self.count))
                    return 0
                want = min(want, self.budget - self.count)
            data = self.inner.read(want)
            if not data:
                return 0
            self.count += len(data)
            # A console captured across a reset or a preallocated log file holds runs of
            # NULs: they are not log text, and a run of them must not become one huge line.
            data = data.translate(None, b"\0")
            if data:
                b[: len(data)] = data
                return len(data)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


class LogReader(io.BufferedReader):
    """A binary stream of a log's text (see :func:`open_log`); ``limits`` lists the bounds it hit."""

    @property
    def limits(self) -> Tuple[str, ...]:
        raw = self.raw
        return tuple(raw.limits) if isinstance(raw, _Bounded) else ()


def open_log(path: str) -> LogReader:
    """Open a text log for reading, plain or gzip/xz/bzip2-compressed, as one bounded stream.

    NUL bytes are dropped (padding, never text). A compressed file is decompressed
    as a stream, at most :func:`decompression_budget` bytes of it: past that, reading
    stops as at the end of the file and ``limits`` says what was cut.
    Corrupt or truncated compressed data raises one of :data:`STREAM_ERRORS` while reading.
    """
    with open(path, "rb") as probe:
        head = probe.read(8)
        size = os.fstat(probe.fileno()).st_size
    found = compression_of(head)
    if found is None:
        return LogReader(_Bounded(open(path, "rb"), None, lambda _n: ""), _CHUNK)
    name, opener = found
    budget = decompression_budget(size)

    def describe(count: int) -> str:
        return (
            f"decompression stopped after {count >> 20} MiB of the {size:,}-byte {name} file {path} "
            f"(at most {MAX_RATIO}x its size, and at least {MIN_BUDGET >> 20} MiB, are read): a decompression "
            "bomb or an unusually repetitive log; what follows was not read"
        )

    return LogReader(_Bounded(opener(path), budget, describe), _CHUNK)


def looks_like_text(head: bytes) -> bool:
    """A kernel log, perhaps with NUL padding (a console captured across a reset,
    a log file preallocated with zeros) or a few binary bytes: mostly printable.

    NULs are ignored rather than taken as proof of binary data: the kernel dump
    formats are recognised by their magic before this is asked.
    """
    body = head.replace(b"\0", b"")
    if not body:
        return not head  # an empty file is text; all NULs is not a log
    printable = sum(1 for b in body if b in (9, 10, 13) or 32 <= b < 127 or b >= 0x80)
    return printable / len(body) > 0.95
